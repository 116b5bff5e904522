//! The cfg preprocessor against the behaviour measured on Kamailio 5.6.3.

use std::path::{Path, PathBuf};

use sipr_core::cfg::{preprocess, preprocess_str, Defines, PreprocessError};

fn pp(text: &str) -> Result<String, PreprocessError> {
    preprocess_str(text, Path::new("test.cfg"), Defines::new()).map(|p| p.text)
}

/// Lines of the output that are not empty.
fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

#[test]
fn defines_conditionals_and_synonyms() {
    let out = pp("#!KAMAILIO\n\
                  #!define FOO 10\n\
                  #!trydef FOO 20\n\
                  !!define ALT 1\n\
                  #!ifdef ALT\n\
                  #!ifndef NOPE\n\
                  a = FOO;\n\
                  #!else\n\
                  a = wrong;\n\
                  #!endif\n\
                  #!else\n\
                  a = wrong2;\n\
                  #!endif\n\
                  #!redefine FOO 30\n\
                  b = FOO + FOOBAR;\n\
                  #!undef FOO\n\
                  c = FOO;\n")
    .unwrap();
    assert_eq!(lines(&out), ["a = 10;", "b = 30 + FOOBAR;", "c = FOO;"]);
}

#[test]
fn defines_stay_out_of_strings_comments_and_pv_names() {
    let out = pp("#!define FOO 10\n\
                  x(\"FOO\", 'FOO', FOO); # FOO\n\
                  $var(FOO) = $avp(FOO) + FOO; // FOO\n\
                  /* FOO\n\
                  FOO */ y = FOO;\n")
    .unwrap();
    assert_eq!(
        lines(&out),
        ["x(\"FOO\", 'FOO', 10); # FOO", "$var(FOO) = $avp(FOO) + 10; // FOO", "/* FOO", "FOO */ y = 10;"]
    );
}

#[test]
fn continued_values_nested_defines_and_substdef() {
    let out = pp("#!define LONGV abc \\\n\
                  def\n\
                  #!define A B\n\
                  #!define B 7\n\
                  #!substdef \"/SUBX/replaced/\"\n\
                  v = \"LONGV\" + LONGV;\n\
                  w = A;\n\
                  s = \"in SUBX string\" + SUBX;\n")
    .unwrap();
    assert_eq!(lines(&out), ["v = \"LONGV\" + abc def;", "w = 7;", "s = \"in replaced string\" + replaced;"]);
}

#[test]
fn output_lines_map_back_to_the_source() {
    let p = preprocess_str("#!define X 1\n\n#!ifdef X\ny = X;\n#!endif\n", Path::new("m.cfg"), Defines::new()).unwrap();
    let n = p.text.lines().position(|l| l.contains("y = 1")).unwrap() as u32 + 1;
    assert_eq!(p.loc(n, 3).to_string(), "m.cfg:4:3");
}

#[test]
fn command_line_defines() {
    let d = Defines::from_args(["WITH_AUTH", "LISTEN=udp:127.0.0.1:5070"]);
    let out = preprocess_str("#!ifdef WITH_AUTH\nl = LISTEN;\n#!endif\n", Path::new("t.cfg"), d).unwrap();
    assert_eq!(lines(&out.text), ["l = udp:127.0.0.1:5070;"]);
    assert_eq!(out.defines.get("WITH_AUTH"), Some(""));
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sipr-pp-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(d.join("sub")).unwrap();
    d
}

#[test]
fn includes_resolve_beside_the_including_file() {
    let d = tmpdir("inc");
    std::fs::write(
        d.join("main.cfg"),
        "a = 1;\n#!include_file \"sub/part.cfg\"\nimport_file \"missing.cfg\"\nc = 3;\n",
    )
    .unwrap();
    std::fs::write(d.join("sub/part.cfg"), "b = X;\ninclude_file \"leaf.cfg\"\n").unwrap();
    std::fs::write(d.join("sub/leaf.cfg"), "#!define X 2\nleaf = X;\n").unwrap();
    let p = preprocess(&d.join("main.cfg"), Defines::new()).unwrap();
    assert_eq!(lines(&p.text), ["a = 1;", "b = X;", "leaf = 2;", "c = 3;"]);
    let leaf_line = p.text.lines().position(|l| l.contains("leaf = 2")).unwrap() as u32 + 1;
    assert!(p.loc(leaf_line, 1).to_string().ends_with("sub/leaf.cfg:2:1"), "{}", p.loc(leaf_line, 1));

    std::fs::write(d.join("bad.cfg"), "x;\n  #!include_file \"nope.cfg\"\n").unwrap();
    let e = preprocess(&d.join("bad.cfg"), Defines::new()).unwrap_err().to_string();
    assert!(e.contains("bad.cfg:2:3") && e.contains("nope.cfg"), "{e}");

    std::fs::write(d.join("loop.cfg"), "include_file \"loop.cfg\"\n").unwrap();
    let e = preprocess(&d.join("loop.cfg"), Defines::new()).unwrap_err();
    assert!(matches!(e, PreprocessError::IncludeTooDeep { .. }), "{e}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn errors_name_file_line_column() {
    let e = pp("x;\n#!ifdef A\ny;\n").unwrap_err().to_string();
    assert_eq!(e, "test.cfg:2:1: #!ifdef / #!ifndef never closed by #!endif");
    let e = pp("#!endif\n").unwrap_err().to_string();
    assert!(e.starts_with("test.cfg:1:1: #!endif without"), "{e}");
    let e = pp("#!ifdef A\n#!else\n#!else\n#!endif\n").unwrap_err().to_string();
    assert!(e.starts_with("test.cfg:3:1: second #!else"), "{e}");
    let e = pp("  #!frobnicate X\n").unwrap_err().to_string();
    assert_eq!(e, "test.cfg:1:3: unknown preprocessor directive '#!frobnicate'");
    let e = pp("#!define\n").unwrap_err().to_string();
    assert!(e.contains("test.cfg:1:1"), "{e}");
    let e = pp("#!subst \"/(unclosed/x/\"\n").unwrap_err().to_string();
    assert!(e.starts_with("test.cfg:1:1: bad substitution"), "{e}");
    let e = pp("a /* open\nb\n").unwrap_err().to_string();
    assert_eq!(e, "test.cfg:1:3: unterminated /* comment");
    let e = preprocess(Path::new("/nonexistent/sipr.cfg"), Defines::new()).unwrap_err().to_string();
    assert!(e.contains("cannot read /nonexistent/sipr.cfg"), "{e}");
}

#[test]
fn debian_kamailio_cfg_preprocesses() {
    let stock = Path::new("/etc/kamailio/kamailio.cfg");
    if !stock.exists() {
        panic!("{} not installed (make test installs it: apt-get install kamailio)", stock.display());
    }
    for defs in [vec![], vec!["WITH_AUTH", "WITH_MYSQL", "WITH_NAT", "WITH_DEBUG"]] {
        let p = preprocess(stock, Defines::from_args(defs.iter().copied())).unwrap();
        assert!(p.text.contains("request_route"), "routing survives");
        assert!(!p.text.contains("FLT_ACC"), "flag names expanded");
    }
    let plain = preprocess(stock, Defines::new()).unwrap();
    assert!(plain.text.contains("debug=2"), "DBGLEVEL expands to 2 without WITH_DEBUG");
    let debug = preprocess(stock, Defines::from_args(["WITH_DEBUG"])).unwrap();
    assert!(debug.text.contains("debug=3"));
}

#[test]
fn sipr_default_cfg_preprocesses() {
    let p = preprocess(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/sipr.cfg"), Defines::new()).unwrap();
    assert!(p.text.contains("listen=127.0.0.1:5060"));
    assert!(p.text.contains("children=4"));
}

#[test]
fn cyclic_defines_stop() {
    let out = pp("#!define A B\n#!define B A\nx = A;\n").unwrap();
    let x = lines(&out).pop().unwrap();
    assert!(x == "x = A;" || x == "x = B;", "{x}");
}

#[test]
fn includes_of_devices_are_refused() {
    let e = sipr_core::cfg::preprocess_str(
        "include_file \"/dev/zero\"\n",
        std::path::Path::new("x.cfg"),
        Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("/dev/zero") && e.contains("not a regular file"), "{e}");
}

#[test]
fn self_referencing_and_fanning_defines_stay_bounded() {
    // a define is not expanded inside itself (as in C)
    let out = pp("#!define N N+1\nx = N;\n").unwrap();
    assert_eq!(lines(&out).pop().unwrap(), "x = N+1;");
    // 16 defines each using the next 4 times would be 4^16 words: bounded
    let mut text = String::new();
    for i in 0..16 {
        text.push_str(&format!("#!define D{i} D{n} D{n} D{n} D{n}\n", n = i + 1));
    }
    text.push_str("x = D0;\n");
    let out = pp(&text).unwrap();
    assert!(out.len() < 4 << 20, "{} bytes", out.len());
}
