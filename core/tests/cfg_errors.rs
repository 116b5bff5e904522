//! Bad cfgs: every error names file:line:column and what was expected.
//! Positions were checked against `kamailio -c` where Kamailio reports
//! one (it points at the same token).

mod common;

fn err(text: &str) -> String {
    match common::compile(text) {
        Ok(_) => panic!("compiled but should not:\n{text}"),
        Err(e) => e,
    }
}

#[track_caller]
fn expect(text: &str, want: &str) {
    let e = err(text);
    assert!(e.contains(want), "error for\n{text}\nwas\n{e}\nwanted\n{want}");
}

#[test]
fn syntax_errors() {
    expect("request_route {\n  xlog(\"a\")\n}\n", "test.cfg:3:1: expected ';' after xlog(...), found '}'");
    expect("request_route {\n  if $rU == 1 { exit; }\n}\n", "test.cfg:2:6: expected '(' after if, found '$rU'");
    expect("request_route {\n  exit;\n", "test.cfg:3:1: expected '}', found end of file (unclosed block)");
    expect("request_route {\n  $var(x) = ;\n}\n", "test.cfg:2:13: expected an expression, found ';'");
    expect("request_route {\n  $var(x) = \"abc;\n}\n", "test.cfg:2:13: unterminated string");
    expect("failure_route { exit; }\n", "test.cfg:1:1: failure_route needs a name: failure_route[NAME]");
    expect("children 4\n", "test.cfg:1:10: expected '=' after 'children'");
    expect(
        "modparam(\"tm\", \"fr_timer\" 5)\n",
        "test.cfg:1:27: expected ',' after the parameter name, found number 5",
    );
    expect(
        "request_route {\n  switch ($rU) { exit; }\n}\n",
        "test.cfg:2:18: expected 'case' or 'default', found 'exit'",
    );
    expect("request_route {\n  else { exit; }\n}\n", "test.cfg:2:3: 'else' without 'if'");
    expect("route[X] {\n  route(\n}\n", "test.cfg:3:1: expected a route name, found '}'");
    expect("request_route { $var(x) = 1.5; }\n", "test.cfg:1:27: bad number or address '1.5'");
}

#[test]
fn name_errors() {
    expect("request_route {\n  nofunc(1);\n}\n", "test.cfg:2:3: unknown function 'nofunc' (is its module loaded?)");
    expect(
        "request_route {\n  xlog(\"a\", \"b\", \"c\");\n}\n",
        "test.cfg:2:3: function 'xlog' takes 1 or 2 parameter(s), 3 given",
    );
    expect("request_route {\n  route(MISSING);\n}\n", "test.cfg:2:3: route[MISSING] is not defined");
    expect("request_route {\n  $nopv = 1;\n}\n", "test.cfg:2:3: unknown pseudo-variable '$nopv'");
    expect("request_route {\n  $rm = 1;\n}\n", "test.cfg:2:3: $rm is read-only");
    expect("request_route {\n  setflag(NOFLAG);\n}\n", "test.cfg:2:11: setflag(): unknown flag 'NOFLAG'");
    expect("request_route {\n  setflag(32);\n}\n", "test.cfg:2:11: setflag(): flag 32 out of range 0..31");
    expect(
        "request_route {\n  if ($rU == FOO) exit;\n}\n",
        "test.cfg:2:14: unknown name 'FOO' in expression (a missing #!define?)",
    );
    expect("request_route {\n  xlog(\"$(ru{s.nope})\");\n}\n", "unknown transformation 's.nope'");
    expect("request_route {\n  if ($rU =~ \"(\") exit;\n}\n", "test.cfg:2:14: bad regular expression");
    expect("route[A] { exit; }\nroute[A] { exit; }\n", "test.cfg:2:1: route 'A' defined more than once");
    expect("flags A: 1, B: 1\n", "test.cfg:1:13: flag B: bit 1 already used by A");
    expect("loadmodule \"nonexistent.so\"\n", "test.cfg:1:1: could not open module 'nonexistent.so'");
    expect(
        "modparam(\"notloaded\", \"p\", 1)\n",
        "test.cfg:1:1: modparam(\"notloaded\", \"p\"): module 'notloaded' not loaded",
    );
}

#[test]
fn type_and_parameter_errors() {
    // Kamailio refuses these at startup too ("type mismatch")
    expect(
        "request_route {\n  $var(x) = 3 + \"5\";\n}\n",
        "test.cfg:2:17: bad expression: type mismatch: str instead of int",
    );
    expect(
        "request_route {\n  if ($var(x) > \"abb\") exit;\n}\n",
        "test.cfg:2:17: bad expression: type mismatch: str instead of int",
    );
    expect("children=abc\n", "test.cfg:1:10: expected a number, found 'abc'");
    expect("childrn=4\n", "test.cfg:1:1: unknown core parameter 'childrn'");
    expect("log_facility=LOG_NOPE\n", "test.cfg:1:14: unknown log facility 'LOG_NOPE'");
    expect("listen=udp:1.2.3.4:notaport\n", "test.cfg:1:8: bad port 'notaport'");
    expect(
        "request_route {\n  forward(\"h\", \"x\");\n}\n",
        "test.cfg:2:16: forward(): expected a number or a pseudo-variable",
    );
    // a function used where it is not allowed
    expect(
        "loadmodule \"sl\"\nonreply_route[R] {\n  sl_send_reply(\"200\", \"OK\");\n}\n",
        "test.cfg:3:3: function 'sl_send_reply' cannot be used in onreply_route",
    );
    // ... also through a route[X] called from there
    expect(
        "loadmodule \"sl\"\nroute[X] {\n  sl_send_reply(\"200\", \"OK\");\n}\nonreply_route[R] { route(X); }\n",
        "test.cfg:3:3: function 'sl_send_reply' cannot be used in onreply_route",
    );
}

#[test]
fn errors_inside_includes_name_the_included_file() {
    let dir = std::env::temp_dir().join(format!("sipr-cfgerr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("inc.cfg"), "route[INC] {\n  bad bad;\n}\n").unwrap();
    let main = dir.join("main.cfg");
    std::fs::write(&main, "#!KAMAILIO\ninclude_file \"inc.cfg\"\nrequest_route { route(INC); }\n").unwrap();
    let mut loader = common::StubLoader::default();
    let e = sipr_core::cfg::load(&main, Default::default(), common::test_fns(), Default::default(), &mut loader)
        .unwrap_err()
        .to_string();
    assert!(e.contains("inc.cfg:2:7: expected ';' after bad(...), found 'bad'"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let e = err("request_route {\n  f1();\n  f2();\n  route(X);\n}\n");
    assert_eq!(e.lines().count(), 3, "{e}");
}
