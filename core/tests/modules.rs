//! Modules loaded from their real `.so` files (built by `cargo build
//! --workspace`, which `make test` runs first) and used through the cfg.

mod common;

use std::path::PathBuf;

use sipr_core::cfg::{load_str, CoreInfo, Ctx, FnRegistry, ProcState, Program, PvRegistry, Recorder};
use sipr_core::module::ModuleSet;
use sipr_core::sip::SipMsg;

/// target/<profile>/ (the test binary is in target/<profile>/deps).
fn module_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(
        dir.join("libsl.so").exists(),
        "modules not built in {}: run `cargo build --workspace` first (make test does)",
        dir.display()
    );
    dir
}

fn compile_with_modules(cfg: &str) -> Result<(Program, ModuleSet), String> {
    // the server's pool (htable, $shv and the counters live in it)
    sipr_core::shm::install(sipr_mem::ShmPool::create_mb(16).unwrap());
    let mut set = ModuleSet::new(&[module_dir()]);
    let prog = load_str(cfg, "mod.cfg", FnRegistry::core(), PvRegistry::core(), &mut set).map_err(|e| e.to_string())?;
    set.init_all().map_err(|e| e.to_string())?;
    Ok((prog, set))
}

struct Sent {
    out: Recorder,
    retcode: i64,
    logs: Vec<String>,
}

fn run_on(prog: &Program, msg: &[u8]) -> Sent {
    common::capture_logs();
    let msg = SipMsg::parse(msg).unwrap();
    let core = CoreInfo {
        listen: prog.core.listen.clone(),
        aliases: prog.core.aliases.clone(),
        server_header: Some(sipr_core::server_signature().to_string()),
        secret: 0,
        ..Default::default()
    };
    let mut proc = ProcState::default();
    let mut out = Recorder::default();
    let arena = sipr_core::cfg::MsgArena::new();
    let retcode = {
        let mut ctx = Ctx::new(&msg, common::rcv(), &core, &mut proc, &mut out).with_arena(&arena);
        prog.run(prog.request_route.unwrap(), &mut ctx).retcode
    };
    Sent { out, retcode, logs: common::logs() }
}

const OPTIONS: &[u8] = b"OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKopt1;rport\r\n\
Max-Forwards: 0\r\n\
From: <sip:ping@10.0.0.5>;tag=p1\r\n\
To: <sip:127.0.0.1:5060>\r\n\
Call-ID: opt-1@10.0.0.5\r\n\
CSeq: 10 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn sl_replies_to_the_source_with_a_stable_to_tag() {
    let (prog, _set) = compile_with_modules(
        "loadmodule \"sl.so\"\nrequest_route {\n  if (method == \"OPTIONS\") { sl_send_reply(\"200\", \"Keepalive\"); exit; }\n  sl_send_reply(\"404\", \"Not here\");\n}\n",
    )
    .unwrap();
    let a = run_on(&prog, OPTIONS);
    assert_eq!(a.out.sent.len(), 1);
    let r = &a.out.sent[0];
    assert!(r.to_source);
    let text = String::from_utf8_lossy(&r.data).into_owned();
    assert!(text.starts_with("SIP/2.0 200 Keepalive\r\n"), "{text}");
    // rport asked for: rport and received filled in (RFC 3581 §4)
    assert!(
        text.contains("Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKopt1;rport=5062;received=10.0.0.5\r\n"),
        "{text}"
    );
    assert!(text.contains("To: <sip:127.0.0.1:5060>;tag="), "{text}");
    assert!(text.contains("Server: sipr ("), "{text}");
    let reply = SipMsg::parse(&r.data).expect("the reply parses");
    assert_eq!(reply.status(), Some(200));
    // the same request again gets the same To-tag
    let b = run_on(&prog, OPTIONS);
    let tag = |d: &[u8]| SipMsg::parse(d).unwrap().to().unwrap().tag(d).map(<[u8]>::to_vec);
    assert_eq!(tag(&r.data), tag(&b.out.sent[0].data));
    // ACKs are never answered
    let ack = String::from_utf8_lossy(OPTIONS).replace("OPTIONS", "ACK");
    let c = run_on(&prog, ack.as_bytes());
    assert!(c.out.sent.is_empty());
    assert!(c.logs.iter().any(|l| l.contains("won't send a reply for ACK")), "{:?}", c.logs);
}

#[test]
fn maxfwd_decrements_caps_and_refuses_zero() {
    let (prog, _set) = compile_with_modules(
        "loadmodule \"sl\"\nloadmodule \"maxfwd\"\nmodparam(\"maxfwd\", \"max_limit\", 16)\n\
         request_route {\n  if (!mf_process_maxfwd_header(\"10\")) { sl_send_reply(\"483\", \"Too Many Hops\"); exit; }\n\
           if (is_maxfwd_lt(\"80\")) { forward(\"10.1.1.1\", 5060); }\n}\n",
    )
    .unwrap();
    // Max-Forwards: 0 → 483
    let a = run_on(&prog, OPTIONS);
    assert!(String::from_utf8_lossy(&a.out.sent[0].data).starts_with("SIP/2.0 483 Too Many Hops"));
    // 70 → 69, capped to max_limit 16
    let b = run_on(&prog, common::INVITE);
    assert_eq!(b.out.sent.len(), 1, "{:?}", b.logs);
    let fwd = String::from_utf8_lossy(&b.out.sent[0].data).into_owned();
    assert!(fwd.contains("Max-Forwards: 16\r\n"), "{fwd}");
    // absent → added with the given value
    let no_mf = String::from_utf8_lossy(common::INVITE).replace("Max-Forwards: 70\r\n", "");
    let c = run_on(&prog, no_mf.as_bytes());
    let fwd = String::from_utf8_lossy(&c.out.sent[0].data).into_owned();
    assert!(fwd.contains("Max-Forwards: 10\r\n"), "{fwd}");
}

#[test]
fn xlog_formats_through_the_core_logger() {
    let (prog, _set) = compile_with_modules(
        "loadmodule \"xlog\"\nrequest_route {\n  xlog(\"L_INFO\", \"$rm from $fu ($si:$sp) [$avp(none)]\\n\");\n  xerr(\"bad $ci\");\n  xlogl(\"L_WARN\", \"here\");\n}\n",
    )
    .unwrap();
    let r = run_on(&prog, common::INVITE);
    let logs = r.logs.join("\n");
    assert!(logs.contains("INFO: <script>: INVITE from sip:alice@a.example (10.0.0.5:5062) [<null>]"), "{logs}");
    assert!(logs.contains("ERROR: <script>: bad c1@10.0.0.5"), "{logs}");
    assert!(logs.contains("WARN: <script>: [5] here"), "{logs}");
}

#[test]
fn loadmodule_forms_and_errors() {
    let dir = module_dir();
    // name, name.so, absolute path; mpath
    let abs = dir.join("libxlog.so");
    let cfg = format!(
        "loadmodule \"sl\"\nloadmodule \"maxfwd.so\"\nloadmodule \"{}\"\nrequest_route {{ exit; }}\n",
        abs.display()
    );
    let (_, set) = compile_with_modules(&cfg).unwrap();
    assert_eq!(set.names(), vec!["sl", "maxfwd", "xlog"]);
    let mut set = ModuleSet::new(&[]);
    let cfg = format!("mpath=\"{}\"\nloadmodule \"sl.so\"\nrequest_route {{ exit; }}\n", dir.display());
    load_str(&cfg, "m.cfg", FnRegistry::core(), PvRegistry::core(), &mut set).unwrap();

    let e = compile_with_modules("loadmodule \"nosuchmod.so\"\n").unwrap_err();
    assert!(e.contains("mod.cfg:1:1: module 'nosuchmod.so' not found (tried "), "{e}");
    assert!(e.contains("nosuchmod.so"), "{e}");
    let e = compile_with_modules("loadmodule \"sl\"\nloadmodule \"sl.so\"\n").unwrap_err();
    assert!(e.contains("mod.cfg:2:1: module 'sl' is loaded twice"), "{e}");
    let e = compile_with_modules("loadmodule \"maxfwd\"\nmodparam(\"maxfwd\", \"nope\", 1)\n").unwrap_err();
    assert!(e.contains("mod.cfg:2:1: modparam(\"maxfwd\", \"nope\"): module 'maxfwd' has no parameter 'nope'"), "{e}");
    let e = compile_with_modules("loadmodule \"maxfwd\"\nmodparam(\"maxfwd\", \"max_limit\", \"x\")\n").unwrap_err();
    assert!(e.contains("takes a number, not \"x\""), "{e}");
    let e = compile_with_modules("loadmodule \"maxfwd\"\nmodparam(\"maxfwd\", \"max_limit\", 999)\n").unwrap_err();
    assert!(e.contains("max_limit must be 1..256"), "{e}");
    let e = compile_with_modules("modparam(\"sl\", \"x\", 1)\n").unwrap_err();
    assert!(e.contains("module 'sl' is not loaded"), "{e}");
    // a shared library that is not a sipr module
    let libc = ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    if let Some(libm) = libc {
        let e = compile_with_modules(&format!("loadmodule \"{libm}\"\n")).unwrap_err();
        assert!(e.contains("is not a sipr module (no sipr_module_header/sipr_module_init)"), "{e}");
    }
    // a module function where it may not be used
    let e =
        compile_with_modules("loadmodule \"sl\"\nonreply_route[R] { sl_send_reply(\"200\", \"OK\"); }\n").unwrap_err();
    assert!(e.contains("mod.cfg:2:20: function 'sl_send_reply' cannot be used in onreply_route"), "{e}");
}

#[test]
fn a_module_from_another_build_is_refused() {
    let e = compile_with_modules("loadmodule \"test_foreign\"\n").unwrap_err();
    assert!(e.contains("was built by another build of sipr (module build 0123456789abcdef, this sipr build "), "{e}");
    assert!(e.contains(sipr_core::module::abi::BUILD_ID), "{e}");
}

#[test]
fn a_panicking_module_does_not_take_the_process_down() {
    let (prog, _set) = compile_with_modules(
        "loadmodule \"test_faulty\"\nrequest_route {\n  if (!panic_now()) { $var(a) = 1; }\n  if (!fail_now()) { $var(b) = 2; }\n  return $var(a) + $var(b);\n}\n",
    )
    .unwrap();
    // twice: the process and the module survive the first panic
    for _ in 0..2 {
        let r = run_on(&prog, common::INVITE);
        assert_eq!(r.retcode, 3, "both calls returned -1");
        let logs = r.logs.join("\n");
        assert!(
            logs.contains(
                "panic_now(): panicked (test_faulty: panic_now() was called); the call failed, the process goes on"
            ),
            "{logs}"
        );
        assert!(logs.contains("fail_now(): test_faulty: fail_now() always fails"), "{logs}");
    }
    let e = compile_with_modules("loadmodule \"test_faulty\"\nmodparam(\"test_faulty\", \"boom\", 1)\n").unwrap_err();
    assert!(e.contains("boom panicked: test_faulty: the boom parameter explodes"), "{e}");
}

#[test]
fn textops_reads_and_changes_the_message() {
    let (prog, _set) = compile_with_modules(
        r#"loadmodule "textops"
loadmodule "textopsx"
loadmodule "xlog"
request_route {
    if (is_method("INVITE|REGISTER") && is_method("invite") && !is_method("FOO")) xlog("L_INFO", "method ok\n");
    if (has_body() && has_body("application/sdp") && !has_body("text/plain")) xlog("L_INFO", "body ok\n");
    if (is_present_hf("X-Custom") && is_present_hf("v") && !is_present_hf("X-Nope")) xlog("L_INFO", "hf ok\n");
    if (search("^CSeq: 7 INVITE") && !search("nothere")) xlog("L_INFO", "search ok\n");
    remove_hf("X-Custom"); $var(removed) = $rc;
    append_hf("X-Last: $rU\r\n");
    insert_hf("X-First: 1\r\n");
    append_hf("X-After-To: 1\r\n", "To");
    subst('/c1@10\.0\.0\.5/c2@h/g');
    subst_user('/^bob$/robert/');
    replace("TestUA", "OtherUA");
    msg_apply_changes();
    xlog("L_INFO", "removed=$var(removed) ru=$ru\n");
    forward("10.1.1.1", 5060);
}
"#,
    )
    .unwrap();
    let r = run_on(&prog, common::INVITE);
    let logs = r.logs.join("\n");
    for want in ["method ok", "body ok", "hf ok", "search ok", "removed=2 ru=sip:robert@example.com:5070;transport=udp"]
    {
        assert!(logs.contains(want), "{want} missing in\n{logs}");
    }
    let fwd = String::from_utf8_lossy(&r.out.sent[0].data).into_owned();
    let parsed = SipMsg::parse(fwd.as_bytes()).expect("forwarded request parses");
    assert!(parsed.validate_basic().is_ok());
    assert!(fwd.starts_with("INVITE sip:robert@example.com:5070;transport=udp SIP/2.0\r\n"), "{fwd}");
    assert!(!fwd.contains("X-Custom"), "{fwd}");
    assert!(fwd.contains("\r\nX-First: 1\r\n"), "{fwd}");
    assert!(fwd.contains("To: <sip:bob@example.com>\r\nX-After-To: 1\r\n"), "{fwd}");
    assert!(fwd.contains("X-Last: bob\r\n\r\nv=0"), "{fwd}");
    assert!(fwd.contains("Call-ID: c2@h\r\n"), "{fwd}");
    assert!(fwd.contains("User-Agent: OtherUA/1.0\r\n"), "{fwd}");
    let first = fwd.find("X-First").unwrap();
    assert!(first < fwd.find("Via: SIP/2.0/UDP 10.0.0.5").unwrap(), "{fwd}");
}

#[test]
fn msg_apply_changes_shows_the_changes_to_later_reads() {
    // the expected lines are what Kamailio 5.6.3 printed for this route
    // (test/kamailio-route.py)
    let (prog, _set) = compile_with_modules(
        r#"loadmodule "textops"
loadmodule "textopsx"
loadmodule "xlog"
request_route {
    if (msg_apply_changes()) { xlog("L_INFO", "empty: yes\n"); } else { xlog("L_INFO", "empty: no\n"); }
    append_hf("X-A: 1\r\n");
    if (is_present_hf("X-A")) { xlog("L_INFO", "before: present\n"); } else { xlog("L_INFO", "before: absent\n"); }
    if (msg_apply_changes()) { xlog("L_INFO", "apply: yes\n"); } else { xlog("L_INFO", "apply: no\n"); }
    if (is_present_hf("X-A")) { xlog("L_INFO", "after: present $hdr(X-A)\n"); } else { xlog("L_INFO", "after: absent\n"); }
    remove_hf("X-A");
    msg_apply_changes();
    if (is_present_hf("X-A")) { xlog("L_INFO", "removed: still\n"); } else { xlog("L_INFO", "removed: gone\n"); }
    append_hf("X-B: 2\r\n");
    msg_apply_changes();
    forward("10.1.1.1", 5060);
}
"#,
    )
    .unwrap();
    let r = run_on(&prog, common::INVITE);
    let logs = r.logs.join("\n");
    let mut at = 0;
    for want in ["empty: yes", "before: absent", "apply: yes", "after: present 1", "removed: gone"] {
        let i = logs[at..].find(want).unwrap_or_else(|| panic!("{want} missing (in order) in\n{logs}"));
        at += i + want.len();
    }
    // what was applied goes out once, not twice
    let fwd = String::from_utf8_lossy(&r.out.sent[0].data).into_owned();
    assert_eq!(fwd.matches("X-B: 2\r\n").count(), 1, "{fwd}");
    assert!(!fwd.contains("X-A"), "{fwd}");
    assert!(SipMsg::parse(fwd.as_bytes()).unwrap().validate_basic().is_ok());
}

#[test]
fn textops_reply_headers_and_body() {
    let (prog, _set) = compile_with_modules(
        r#"loadmodule "textops"
loadmodule "sl"
request_route {
    append_to_reply("Contact: <sip:x@y>\r\n");
    set_reply_body("hello", "text/plain");
    sl_send_reply("302", "Moved");
}
"#,
    )
    .unwrap();
    let r = run_on(&prog, OPTIONS);
    let text = String::from_utf8_lossy(&r.out.sent[0].data).into_owned();
    assert!(text.starts_with("SIP/2.0 302 Moved\r\n"), "{text}");
    assert!(text.contains("Contact: <sip:x@y>\r\nContent-Type: text/plain\r\n"), "{text}");
    assert!(text.ends_with("Content-Length: 5\r\n\r\nhello"), "{text}");
}

#[test]
fn siputils_helpers() {
    let (prog, _set) = compile_with_modules(
        r#"loadmodule "siputils"
loadmodule "xlog"
request_route {
    if (!has_totag() && is_request() && !is_reply() && is_first_hop()) xlog("L_INFO", "a ok\n");
    if (is_uri_user_e164("sip:+4930123@h") && !is_uri_user_e164("$ru")) xlog("L_INFO", "e164 ok\n");
    # one argument: a parameter without a value (Kamailio's; bed modules:uri_param.present)
    if (!uri_param("transport") && uri_param("transport", "udp") && !uri_param("transport", "tcp")) xlog("L_INFO", "param ok\n");
    add_uri_param("foo=bar");
    tel2sip("tel:+1-234-5;isub=7", "sip:gw.example", "$var(t)");
    if (cmp_uri("sip:a@h;transport=udp", "sip:a@H;transport=UDP") && !cmp_uri("sip:a@h", "sip:b@h")) xlog("L_INFO", "cmp ok\n");
    xlog("L_INFO", "ru=$ru t=$var(t)\n");
}
"#,
    )
    .unwrap();
    let r = run_on(&prog, common::INVITE);
    let logs = r.logs.join("\n");
    for want in [
        "a ok",
        "e164 ok",
        "param ok",
        "cmp ok",
        "ru=sip:bob@example.com:5070;transport=udp;foo=bar t=sip:+12345;isub=7@gw.example;user=phone",
    ] {
        assert!(logs.contains(want), "{want} missing in\n{logs}");
    }
    // options_reply answers OPTIONS to the server itself
    let (prog, _set) = compile_with_modules("loadmodule \"siputils\"\nrequest_route { options_reply(); }\n").unwrap();
    let r = run_on(&prog, OPTIONS);
    let text = String::from_utf8_lossy(&r.out.sent[0].data).into_owned();
    // Kamailio's headers, no Allow (measured on the bed: modules:options_reply)
    assert!(text.starts_with("SIP/2.0 200 OK\r\n") && text.contains("Accept: */*\r\n"), "{text}");
    assert!(!text.contains("Allow:"), "{text}");
}

#[test]
fn sanity_checks_answer_as_kamailio() {
    // 18407 = the stock cfg's 17895 plus 512 (Proxy-Require)
    let cfg = |autodrop: i64| {
        format!(
            "loadmodule \"sanity\"\nloadmodule \"xlog\"\nmodparam(\"sanity\", \"autodrop\", {autodrop})\n\
             request_route {{\n  if (sanity_check(\"18407\", \"7\")) {{ xlog(\"L_INFO\", \"sane\\n\"); }} else {{ xlog(\"L_INFO\", \"insane\\n\"); }}\n}}\n"
        )
    };
    let (prog, _set) = compile_with_modules(&cfg(0)).unwrap();
    let inv = String::from_utf8_lossy(common::INVITE).into_owned();
    let r = run_on(&prog, inv.as_bytes());
    assert!(r.out.sent.is_empty());
    assert!(r.logs.iter().any(|l| l.contains("<script>: sane")), "{:?}", r.logs);
    let cases: [(String, &str); 4] = [
        (
            inv.replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nExpires: soon\r\n"),
            "SIP/2.0 400 Expires value is illegal",
        ),
        (inv.replace("CSeq: 7 INVITE", "CSeq: 7 BYE"), "SIP/2.0 400 CSeq method does not match request method"),
        (
            inv.replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nProxy-Require: foo\r\n"),
            // Kamailio 5.6.3's reason, measured on the bed (sanity:proxy_require.unknown)
            "SIP/2.0 420 Bad Proxy Require Extension",
        ),
        (
            inv.replace("INVITE sip:bob@example.com:5070;transport=udp", "INVITE http://example.com/"),
            "SIP/2.0 416 Unsupported URI Scheme in Request URI",
        ),
    ];
    for (msg, want) in &cases {
        let r = run_on(&prog, msg.as_bytes());
        assert_eq!(r.out.sent.len(), 1, "no reply for {want}: {:?}", r.logs);
        let text = String::from_utf8_lossy(&r.out.sent[0].data).into_owned();
        assert!(text.starts_with(want), "wanted {want}, got\n{text}");
        assert!(r.logs.iter().any(|l| l.contains("<script>: insane")), "{:?}", r.logs);
    }
    let r = run_on(&prog, cases[2].0.as_bytes());
    assert!(String::from_utf8_lossy(&r.out.sent[0].data).contains("Unsupported: foo\r\n"));
    // autodrop (the default): the script stops after the reply
    let (prog, _set) = compile_with_modules(&cfg(1)).unwrap();
    let r = run_on(&prog, cases[0].0.as_bytes());
    assert_eq!(r.out.sent.len(), 1);
    assert!(!r.logs.iter().any(|l| l.contains("sane")), "{:?}", r.logs);
    // extra bytes after Content-Length in a datagram are not a mismatch (RFC 3261 §18.3)
    let r = run_on(&prog, inv.replace("Content-Length: 4", "Content-Length: 2").as_bytes());
    assert!(r.out.sent.is_empty(), "{:?}", r.logs);
    assert!(r.logs.iter().any(|l| l.contains("<script>: sane")), "{:?}", r.logs);
}

#[test]
fn pv_kex_corex_functions() {
    let (prog, _set) = compile_with_modules(
        r#"loadmodule "pv"
loadmodule "kex"
loadmodule "corex"
loadmodule "xlog"
modparam("pv", "shvset", "started=i:1")
request_route {
    $shv(seen) = $shv(seen) + 1;
    xlog("L_INFO", "shv [$shv(started)] [$shv(nope)] [$shv(seen)]\n");
    $avp(a) = 5; $var(s) = "x";
    if (pv_isset("$avp(a)") && is_int("$avp(a)") && typeof("$var(s)", "str") && not_empty("$var(s)")) xlog("L_INFO", "pv ok\n");
    pv_unset("$avp(a)");
    if (!pv_isset("$avp(a)")) xlog("L_INFO", "unset ok\n");
    pv_printf("$var(p)", "$rU@$rd");
    km_append_branch("sip:other@h.example");
    xlog("L_INFO", "p=$var(p) br=$br\n");
    send_data("sip:10.3.3.3:5099;transport=tcp", "ping");
}
"#,
    )
    .unwrap();
    let r = run_on(&prog, common::INVITE);
    let logs = r.logs.join("\n");
    for want in ["pv ok", "unset ok", "p=bob@example.com br=sip:other@h.example", "shv [1] [0] ["] {
        assert!(logs.contains(want), "{want} missing in\n{logs}");
    }
    let s = &r.out.sent[0];
    assert_eq!((s.host.as_slice(), s.port, s.data.as_slice()), (&b"10.3.3.3"[..], Some(5099), &b"ping"[..]));
    assert_eq!(s.proto, Some(sipr_core::net::Proto::Tcp));
}

/// Loads the real module when there is one, else the test stub (until
/// every module the stock cfg names exists).
struct Hybrid {
    real: ModuleSet,
    stub: common::StubLoader,
    real_names: Vec<String>,
}

impl sipr_core::cfg::ModuleLoader for Hybrid {
    fn load(
        &mut self,
        path: &str,
        mpath: Option<&str>,
        fns: &mut FnRegistry,
        pvs: &mut PvRegistry,
    ) -> Result<(), String> {
        match self.real.load_module(path, mpath, fns, pvs) {
            Ok(name) => {
                self.real_names.push(name.to_string());
                Ok(())
            }
            Err(sipr_core::module::LoadError::NotFound { .. }) => self.stub.load(path, mpath, fns, pvs),
            Err(e) => Err(e.to_string()),
        }
    }
    fn modparam(&mut self, module: &str, param: &str, value: &sipr_core::cfg::ModValue) -> Result<(), String> {
        if module.split('|').all(|m| self.real_names.iter().any(|r| r == m)) {
            self.real.set_param(module, param, value).map_err(|e| e.to_string())
        } else {
            self.stub.modparam(module, param, value)
        }
    }
}

#[test]
fn stock_kamailio_cfg_answers_keepalives_with_the_real_modules() {
    let stock = std::path::Path::new("/etc/kamailio/kamailio.cfg");
    if !stock.exists() {
        panic!("{} not installed (make test installs it: apt-get install kamailio)", stock.display());
    }
    let mut loader = Hybrid { real: ModuleSet::new(&[module_dir()]), stub: Default::default(), real_names: Vec::new() };
    let prog = sipr_core::cfg::load(stock, Default::default(), FnRegistry::core(), PvRegistry::core(), &mut loader)
        .unwrap_or_else(|e| panic!("{e}"));
    for m in ["sl", "maxfwd", "xlog", "textops", "textopsx", "siputils", "sanity", "pv", "kex", "corex"] {
        assert!(loader.real_names.iter().any(|r| r == m), "{m} not loaded for real: {:?}", loader.real_names);
    }
    loader.real.init_all().unwrap();
    let core = CoreInfo {
        listen: vec![sipr_core::cfg::ListenAddr {
            proto: sipr_core::net::Proto::Udp,
            host: "127.0.0.1".into(),
            port: 5060,
            advertise: None,
        }],
        ..Default::default()
    };
    let run = |msg: &[u8]| {
        let msg = SipMsg::parse(msg).unwrap();
        let mut proc = ProcState::default();
        let mut out = Recorder::default();
        {
            let mut ctx = Ctx::new(&msg, common::rcv(), &core, &mut proc, &mut out);
            prog.run(prog.request_route.unwrap(), &mut ctx);
        }
        out.sent
    };
    // route[REQINIT]: an OPTIONS keepalive to the server itself gets 200
    let keepalive = String::from_utf8_lossy(OPTIONS).replace("Max-Forwards: 0", "Max-Forwards: 70");
    let sent = run(keepalive.as_bytes());
    assert_eq!(sent.len(), 1);
    assert!(String::from_utf8_lossy(&sent[0].data).starts_with("SIP/2.0 200 Keepalive\r\n"));
    // ... and Max-Forwards 0 gets 483 from mf_process_maxfwd_header("10")
    let sent = run(OPTIONS);
    assert!(String::from_utf8_lossy(&sent[0].data).starts_with("SIP/2.0 483 Too Many Hops\r\n"));
    // ... and a malformed request is refused by sanity_check("17895", "7")
    let bad = keepalive.replace("OPTIONS sip:127.0.0.1:5060", "MESSAGE sip:bob@127.0.0.1:5060");
    let sent = run(bad.as_bytes());
    assert!(String::from_utf8_lossy(&sent[0].data).starts_with("SIP/2.0 400 CSeq method does not match request method"));
}

#[test]
fn htable_in_shm() {
    let (prog, set) = compile_with_modules(
        r#"loadmodule "htable"
loadmodule "xlog"
modparam("htable", "htable", "t=>size=4;")
modparam("htable", "htable", "ipban=>size=8;autoexpire=300;")
modparam("htable", "htable", "cnt=>size=2;initval=10;")
request_route {
    $sht(t=>a) = 1; $sht(t=>s) = "str"; $sht(ipban=>$si) = 1;
    xlog("L_INFO", "1 [$sht(t=>a)] [$sht(t=>s)] [$sht(t=>none)] [$sht(cnt=>none)] [$sht(ipban=>$si)]\n");
    if ($sht(ipban=>$si) != $null && $shtex(ipban=>$si) > 290) xlog("L_INFO", "2 banned, expires\n");
    xlog("L_INFO", "3 [$shtinc(cnt=>x)] [$shtinc(cnt=>x)] [$shtdec(t=>a)] [$shtcn(t=>^[as]$)]\n");
    sht_lock("t=>a"); $sht(t=>a) = 7; sht_unlock("t=>a");
    sht_rm("t", "s");
    xlog("L_INFO", "4 [$sht(t=>a)] [$sht(t=>s)]\n");
    $sht(t=>k1) = 1; $sht(t=>k2) = 2; sht_rm_name_re("t=>^k");
    xlog("L_INFO", "5 [$sht(t=>k1)] [$shtcn(t=>.)]\n");
    $sht(t=>a) = $null;
    sht_reset("cnt");
    xlog("L_INFO", "6 [$sht(t=>a)] [$sht(cnt=>x)]\n");
}
"#,
    )
    .unwrap();
    let r = run_on(&prog, common::INVITE);
    let logs = r.logs.join("\n");
    for want in [
        "1 [1] [str] [<null>] [10] [1]",
        "2 banned, expires",
        "3 [11] [12] [0] [2]",
        "4 [7] [<null>]",
        "5 [<null>] [1]",
        "6 [<null>] [10]",
    ] {
        assert!(logs.contains(want), "{want} missing in\n{logs}");
    }
    // the RPC commands see what the script wrote
    use sipr_core::rpc::RpcValue as V;
    let s = |x: &str| V::Str(x.to_string());
    let got = set.rpc("htable.get", &[s("t"), s("a")]);
    assert!(got.is_err(), "t=>a was removed: {got:?}");
    set.rpc("htable.seti", &[s("t"), s("n"), V::Int(42)]).unwrap();
    set.rpc("htable.sets", &[s("t"), s("m"), s("hello")]).unwrap();
    let got = set.rpc("htable.get", &[s("t"), s("n")]).unwrap();
    assert_eq!(got.member("item").and_then(|i| i.member("value")), Some(&V::Int(42)));
    // the dump lists buckets, each with its items (Kamailio's layout)
    let V::Array(buckets) = set.rpc("htable.dump", &[s("t")]).unwrap() else { panic!("dump is a list") };
    let items: Vec<&V> = buckets
        .iter()
        .filter_map(|b| match b.member("slot") {
            Some(V::Array(items)) => Some(items),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(items.iter().any(|i| i.member("name") == Some(&s("m")) && i.member("value") == Some(&s("hello"))));
    let r2 = run_on(&prog, common::INVITE);
    assert!(r2.logs.iter().any(|l| l.contains("1 [1] [str]")), "{:?}", r2.logs);
    assert_eq!(set.rpc("htable.get", &[s("nope"), s("a")]).unwrap_err().code, 500);
    assert_eq!(set.rpc("htable.nothing", &[]).unwrap_err().message, "command not found");
    assert!(set.rpc_commands().iter().any(|(n, _)| *n == "htable.dump"));
    let e = compile_with_modules("loadmodule \"htable\"\nmodparam(\"htable\", \"htable\", \"bad\")\n").unwrap_err();
    assert!(e.contains("expected name=>attr=value"), "{e}");
    let e = compile_with_modules("loadmodule \"htable\"\nrequest_route { $sht(nope=>x) = 1; }\n").unwrap_err();
    assert!(e.contains("no htable named 'nope'"), "{e}");
}

#[test]
fn child_init_failures_name_the_module() {
    let (_, set) = compile_with_modules("loadmodule \"test_faulty\"\nloadmodule \"sl\"\n").unwrap();
    assert!(set.child_init_all(sipr_core::module::abi::rank::SIP_WORKER_1).is_ok());
    let e = set.child_init_all(99).unwrap_err();
    assert!(matches!(&e, sipr_core::module::LoadError::ChildInit { rank: 99, .. }), "{e:?}");
    assert_eq!(e.to_string(), "module 'test_faulty' child_init(99) failed: rank 99 is refused");
    let e = set.child_init_all(98).unwrap_err().to_string();
    assert!(e.contains("child_init panicked: rank 98 panics"), "{e}");
}

#[test]
fn more_textops_and_sl_functions() {
    let (prog, mut set) = compile_with_modules(
        r#"loadmodule "textops"
loadmodule "textopsx"
loadmodule "siputils"
loadmodule "sl"
loadmodule "xlog"
request_route {
    if (remove_hf_re("^x-cust") == 2) xlog("L_INFO", "re removed 2\n");
    if (search_append("User-Agent: [^\r]*", " (via sipr)")) xlog("L_INFO", "appended\n");
    if (!is_privacy("id")) xlog("L_INFO", "no privacy\n");
    if (is_user("alice")) xlog("L_INFO", "wrong\n"); else xlog("L_INFO", "no credentials\n");
    set_body("hello", "text/plain");
    forward("10.1.1.1", 5060);
    sl_send_reply("404", "Not here");
}
"#,
    )
    .unwrap();
    let r = run_on(&prog, common::INVITE);
    let logs = r.logs.join("\n");
    for want in ["re removed 2", "appended", "no privacy", "no credentials"] {
        assert!(logs.contains(want), "{want} missing in\n{logs}");
    }
    let fwd = String::from_utf8_lossy(&r.out.sent[0].data).into_owned();
    assert!(fwd.contains("User-Agent: TestUA/1.0 (via sipr)\r\n"), "{fwd}");
    assert!(fwd.contains("Content-Type: text/plain\r\n"), "{fwd}");
    assert!(fwd.ends_with("Content-Length: 5\r\n\r\nhello"), "{fwd}");
    assert!(SipMsg::parse(fwd.as_bytes()).is_ok());
    assert!(String::from_utf8_lossy(&r.out.sent[1].data).starts_with("SIP/2.0 404 Not here\r\n"));
    // sl counted it
    let stats = set.rpc("sl.stats", &[]).unwrap();
    // a code with a counter of its own is counted there, not in its class (Kamailio's)
    assert!(stats.member("404_replies").and_then(|v| v.as_int()).is_some_and(|n| n >= 1), "{stats:?}");
    // the same counters through stats.get_statistics (kex's, as in Kamailio)
    assert!(set.rpc("stats.get_statistics", &[]).is_err(), "stats.* without kex");
    set.load_module("kex", None, &mut sipr_core::cfg::FnRegistry::core(), &mut sipr_core::cfg::PvRegistry::core())
        .unwrap();
    let all = set.rpc("stats.get_statistics", &[sipr_core::rpc::RpcValue::Str("sl:".into())]).unwrap();
    let sipr_core::rpc::RpcValue::Array(lines) = all else { panic!("a list") };
    assert!(lines.iter().any(|l| l.as_text().is_some_and(|t| t.starts_with("sl:4xx_replies = "))), "{lines:?}");

    // sl_forward_reply / change_reply_status / remove_body on a reply
    let (prog, _set) = compile_with_modules(
        "loadmodule \"sl\"\nloadmodule \"textopsx\"\nreply_route { change_reply_status(\"202\", \"Taken\"); remove_body(); sl_forward_reply(); }\nrequest_route { exit; }\n",
    )
    .unwrap();
    let reply = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsl1\r\nVia: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKabc;received=10.0.0.9;rport=5099\r\nFrom: <sip:a@a>;tag=1\r\nTo: <sip:b@b>;tag=2\r\nCall-ID: r1\r\nCSeq: 1 INVITE\r\nContent-Length: 3\r\n\r\nabc";
    let msg = SipMsg::parse(reply).unwrap();
    let core = CoreInfo::default();
    let mut proc = ProcState::default();
    let mut out = Recorder::default();
    {
        let mut ctx = Ctx::new(&msg, common::rcv(), &core, &mut proc, &mut out);
        prog.run(prog.reply_route.unwrap(), &mut ctx);
    }
    let sent = &out.sent[0];
    assert_eq!((sent.host.as_slice(), sent.port), (&b"10.0.0.9"[..], Some(5099)), "received and rport honoured");
    let text = String::from_utf8_lossy(&sent.data).into_owned();
    assert!(text.starts_with("SIP/2.0 202 Taken\r\nVia: SIP/2.0/UDP 10.0.0.5:5062;"), "{text}");
    assert!(text.ends_with("Content-Length: 0\r\n\r\n"), "{text}");
}

#[test]
fn modules_bind_each_others_api_by_name_and_version() {
    let (_, set) = compile_with_modules("loadmodule \"test_faulty\"\n").unwrap();
    let sipr_core::rpc::RpcValue::Array(got) = set.rpc("test_faulty.bound", &[]).unwrap() else { panic!("a list") };
    let got: Vec<String> = got.iter().filter_map(|v| v.as_text()).collect();
    assert_eq!(
        got,
        vec![
            "double(21)=Ok(42)".to_string(),
            // a panic in the exporter's function comes back as an error
            "double(13)=Err(\"example.double panicked: example.double does not like 13\")".to_string(),
            "API 'example' has version 1, version 2 wanted".to_string(),
            "no loaded module offers the API 'nope'".to_string(),
            "API 'example' is not of the expected type".to_string(),
        ]
    );
}

#[test]
fn modules_declare_extra_processes() {
    let (_, set) = compile_with_modules("loadmodule \"test_faulty\"\nloadmodule \"sl\"\n").unwrap();
    let procs = set.extra_processes();
    assert_eq!(procs.len(), 1);
    let (module, p) = procs[0];
    assert_eq!((module, p.desc, (p.count)()), ("test_faulty", "test_faulty worker", 2));
    // the body runs (the runtime forks for it); its panic stays inside
    common::capture_logs();
    (p.run)(1);
    assert!(common::logs().iter().any(|l| l.contains("test_faulty worker panicked: test_faulty process 1 gives up")));
}

#[test]
fn core_ps_lists_the_process_table() {
    let (_, set) = compile_with_modules("loadmodule \"sl\"\n").unwrap();
    sipr_core::runtime::procs::init().unwrap();
    sipr_core::runtime::procs::add(4242, 1, "udp receiver child=0 sock=127.0.0.1:5060");
    sipr_core::runtime::procs::add(4241, 0, "main process - attendant");
    // core.psx: {IDX, PID, DSC} structs; core.ps: pid, description, ... (as Kamailio)
    let sipr_core::rpc::RpcValue::Array(ps) = set.rpc("core.psx", &[]).unwrap() else { panic!("a list") };
    let dsc: Vec<String> = ps.iter().filter_map(|p| p.member("DSC").and_then(|d| d.as_text())).collect();
    let sipr_core::rpc::RpcValue::Array(flat) = set.rpc("core.ps", &[]).unwrap() else { panic!("a list") };
    let flat_dsc: Vec<String> = flat.iter().skip(1).step_by(2).filter_map(|d| d.as_text()).collect();
    assert_eq!(flat_dsc, dsc);
    assert!(flat.iter().step_by(2).all(|p| matches!(p, sipr_core::rpc::RpcValue::Int(_))));
    assert!(dsc.iter().any(|d| d == "main process - attendant"), "{dsc:?}");
    assert!(dsc.iter().any(|d| d == "udp receiver child=0 sock=127.0.0.1:5060"), "{dsc:?}");
    sipr_core::runtime::procs::remove(4242);
    assert!(!sipr_core::runtime::procs::list().iter().any(|(p, _, _)| *p == 4242));
    assert!(set.rpc("core.version", &[]).unwrap().as_text().unwrap().starts_with("sipr ("));
}

#[test]
fn module_fixups_check_constant_parameters_at_startup() {
    let e =
        compile_with_modules("loadmodule \"sl\"\nrequest_route {\n  sl_send_reply(\"99\", \"x\");\n}\n").unwrap_err();
    assert!(e.contains("mod.cfg:3:3: sl_send_reply(): invalid reply code 99"), "{e}");
    let e = compile_with_modules("loadmodule \"maxfwd\"\nrequest_route {\n  mf_process_maxfwd_header(\"300\");\n}\n")
        .unwrap_err();
    assert!(e.contains("mod.cfg:3:3: mf_process_maxfwd_header(): invalid max value 300 (1..255)"), "{e}");
    // a PV is checked per call instead
    assert!(compile_with_modules("loadmodule \"sl\"\nrequest_route { sl_send_reply(\"$var(c)\", \"x\"); }\n").is_ok());
}

/// A PV of the core side whose getter panics: a module's copy of the core
/// reads it (textops evaluates its parameter), and the panic raised in
/// this binary's code must be caught here, not unwind into the module.
fn panicking_get<'c>(_: &'c Ctx<'_>, _: &'c sipr_core::cfg::PvRef) -> sipr_core::cfg::Value<'c> {
    panic!("a core getter gives up");
}

fn no_arg_fixup(
    _: Option<&str>,
    _: &PvRegistry,
    _: &mut sipr_core::cfg::Names,
) -> Result<sipr_core::cfg::PvArg, String> {
    Ok(sipr_core::cfg::PvArg::None)
}

static PANICKING_PV: sipr_core::cfg::PvClass = sipr_core::guarded_pv_class!("testpanic", no_arg_fixup, panicking_get);

#[test]
fn a_panic_in_core_code_called_by_a_module_is_contained() {
    sipr_core::shm::install(sipr_mem::ShmPool::create_mb(16).unwrap());
    let mut set = ModuleSet::new(&[module_dir()]);
    let mut pvs = PvRegistry::core();
    pvs.register(&PANICKING_PV).unwrap();
    let cfg = "loadmodule \"sl\"\nloadmodule \"textops\"\nrequest_route {\n  append_to_reply(\"X-P: $testpanic\\r\\n\");\n  sl_send_reply(\"200\", \"still here\");\n}\n";
    let prog = load_str(cfg, "mod.cfg", FnRegistry::core(), pvs, &mut set).unwrap();
    set.init_all().unwrap();
    let r = run_on(&prog, OPTIONS);
    assert_eq!(r.out.sent.len(), 1, "{:?}", r.logs);
    let text = String::from_utf8_lossy(&r.out.sent[0].data).into_owned();
    assert!(text.starts_with("SIP/2.0 200 still here") && text.contains("X-P: <null>\r\n"), "{text}");
    assert!(r.logs.iter().any(|l| l.contains("$testpanic: panicked (a core getter gives up)")), "{:?}", r.logs);
}
