//! Test registrations for the cfg language: an `xlog` that records what
//! it prints, and stub modules standing in for the real ones (which come
//! with the module issue) so that real-world cfgs compile.

#![allow(dead_code)]

use std::cell::RefCell;
use std::net::SocketAddr;

use sipr_core::cfg::{
    CoreInfo, Ctx, FnDef, FnRegistry, ModValue, ModuleLoader, Names, Outcome, Param, ParamKind as K, ProcState,
    Program, PvArg, PvClass, PvRef, PvRegistry, Recorder, RouteMask, Value,
};
use sipr_core::net::{Proto, RecvInfo};
use sipr_core::sip::SipMsg;

thread_local! {
    static OUT: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Takes what `xlog` printed so far.
pub fn take_output() -> Vec<String> {
    OUT.with(|o| std::mem::take(&mut *o.borrow_mut()))
}

fn record(ctx: &mut Ctx<'_>, p: &Param) {
    let t = String::from_utf8_lossy(&p.text(ctx)).into_owned();
    OUT.with(|o| o.borrow_mut().push(t.trim_end_matches('\n').to_string()));
}
fn xlog1(ctx: &mut Ctx<'_>, p: &[Param]) -> i32 {
    record(ctx, &p[0]);
    1
}
fn xlog2(ctx: &mut Ctx<'_>, p: &[Param]) -> i32 {
    record(ctx, &p[1]);
    1
}
/// Returns its argument as the return code (tests of return-code rules).
fn ret(ctx: &mut Ctx<'_>, p: &[Param]) -> i32 {
    p[0].int(ctx) as i32
}
/// A simple is_method (the real one comes with textops).
fn is_method(ctx: &mut Ctx<'_>, p: &[Param]) -> i32 {
    let m = ctx.msg.buf().split(|c| *c == b' ').next().unwrap_or(b"").to_vec();
    let want = p[0].text(ctx);
    if want.split(|c| *c == b'|').any(|w| w.eq_ignore_ascii_case(&m)) {
        1
    } else {
        -1
    }
}
fn stub_true(_: &mut Ctx<'_>, _: &[Param]) -> i32 {
    1
}

const ANY: RouteMask = RouteMask::ANY;

/// Core functions plus the test ones.
pub fn test_fns() -> FnRegistry {
    let mut r = FnRegistry::core();
    for f in [
        FnDef { name: "xlog", params: &[K::Fmt], routes: ANY, call: xlog1, fixup: None },
        FnDef { name: "xlog", params: &[K::Str, K::Fmt], routes: ANY, call: xlog2, fixup: None },
        FnDef { name: "ret", params: &[K::IntOrPv], routes: ANY, call: ret, fixup: None },
        FnDef { name: "is_method", params: &[K::Str], routes: ANY, call: is_method, fixup: None },
    ] {
        r.register(f).unwrap();
    }
    r
}

fn sht_fixup(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    match inner {
        Some(s) if s.contains("=>") => Ok(PvArg::Text(s.as_bytes().into())),
        _ => Err("needs table=>key".into()),
    }
}
fn any_fixup(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    Ok(PvArg::Text(inner.unwrap_or("").as_bytes().into()))
}
fn get_null<'c>(_: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Null
}
fn set_ok(_: &mut Ctx<'_>, _: &PvRef, _: &Value<'_>) -> Result<(), String> {
    Ok(())
}
static SHT: PvClass = PvClass { name: "sht", fixup: sht_fixup, get: get_null, set: Some(set_ok) };
static T_BRANCH_IDX: PvClass = PvClass { name: "T_branch_idx", fixup: any_fixup, get: get_null, set: None };
static HU: PvClass = PvClass { name: "hu", fixup: any_fixup, get: get_null, set: None };

/// Stub modules: module name → (function, parameter kinds, route mask).
type Stub = (&'static str, &'static [K], RouteMask);
const REQ_FAIL: RouteMask = RouteMask::REQUEST_LIKE;
static STUBS: &[(&str, &[Stub])] = &[
    ("xlog", &[("xdbg", &[K::Fmt], ANY), ("xinfo", &[K::Fmt], ANY), ("xerr", &[K::Fmt], ANY)]),
    (
        "textops",
        &[("remove_hf", &[K::Fmt], ANY), ("append_hf", &[K::Fmt], ANY), ("starts_with", &[K::Fmt, K::Fmt], ANY)],
    ),
    ("textopsx", &[("msg_apply_changes", &[], ANY)]),
    (
        "tm",
        &[
            ("t_check_trans", &[], ANY),
            ("t_precheck_trans", &[], ANY),
            ("t_is_set", &[K::Str], ANY),
            ("t_on_branch", &[K::BranchRoute], ANY),
            ("t_on_reply", &[K::OnReplyRoute], ANY),
            ("t_on_failure", &[K::FailureRoute], ANY),
            ("t_relay", &[], REQ_FAIL),
            ("t_newtran", &[], ANY),
            ("t_release", &[], ANY),
            ("t_is_canceled", &[], ANY),
            ("t_check_status", &[K::Regex], ANY),
            ("t_reply", &[K::Fmt, K::Fmt], ANY),
            ("t_is_branch_route", &[], ANY),
        ],
    ),
    (
        "sl",
        &[
            ("sl_send_reply", &[K::Fmt, K::Fmt], REQ_FAIL),
            ("sl_reply_error", &[], REQ_FAIL),
            ("send_reply", &[K::Fmt, K::Fmt], ANY),
        ],
    ),
    (
        "rr",
        &[
            ("record_route", &[], ANY),
            ("loose_route", &[], ANY),
            ("check_route_param", &[K::Fmt], ANY),
            ("add_rr_param", &[K::Fmt], ANY),
        ],
    ),
    ("maxfwd", &[("mf_process_maxfwd_header", &[K::IntOrPv], ANY)]),
    ("sanity", &[("sanity_check", &[K::IntOrPv, K::IntOrPv], ANY)]),
    (
        "siputils",
        &[("has_totag", &[], ANY), ("is_first_hop", &[], ANY), ("is_request", &[], ANY), ("is_reply", &[], ANY)],
    ),
    ("registrar", &[("save", &[K::Str], ANY), ("lookup", &[K::Str], ANY)]),
    ("pike", &[("pike_check_req", &[], ANY)]),
    ("speeddial", &[("sd_lookup", &[K::Str], ANY)]),
    ("alias_db", &[("alias_db_lookup", &[K::Str], ANY)]),
    ("presence", &[("handle_publish", &[], ANY), ("handle_subscribe", &[], ANY)]),
    ("permissions", &[("allow_source_address", &[], ANY)]),
    ("auth_db", &[("auth_check", &[K::Fmt, K::Str, K::IntOrPv], ANY)]),
    ("auth", &[("auth_challenge", &[K::Fmt, K::IntOrPv], ANY), ("consume_credentials", &[], ANY)]),
    (
        "nathelper",
        &[
            ("nat_uac_test", &[K::IntOrPv], ANY),
            ("fix_nated_register", &[], ANY),
            ("set_contact_alias", &[], ANY),
            ("handle_ruri_alias", &[], ANY),
        ],
    ),
    ("rtpengine", &[("rtpengine_manage", &[K::Fmt], ANY)]),
    ("rtpproxy", &[("rtpproxy_manage", &[K::Fmt], ANY)]),
    ("xhttp", &[("xhttp_reply", &[K::Fmt, K::Fmt, K::Fmt, K::Fmt], ANY)]),
    ("jsonrpcs", &[("jsonrpc_dispatch", &[], ANY)]),
];

/// A loader whose modules are the stubs above (any other module loads
/// with no functions).
#[derive(Debug, Default)]
pub struct StubLoader {
    pub loaded: Vec<String>,
    pub modparams: Vec<(String, String, ModValue)>,
}

impl ModuleLoader for StubLoader {
    fn load(&mut self, path: &str, _: Option<&str>, fns: &mut FnRegistry, pvs: &mut PvRegistry) -> Result<(), String> {
        let name = path.rsplit('/').next().unwrap_or(path).trim_end_matches(".so").to_string();
        if name == "nonexistent" {
            return Err(format!("could not open module '{path}'"));
        }
        if let Some((_, fs)) = STUBS.iter().find(|(m, _)| *m == name) {
            for (fname, params, routes) in fs.iter() {
                fns.register(FnDef { name: fname, params, routes: *routes, call: stub_true, fixup: None })?;
            }
        }
        match name.as_str() {
            "htable" => pvs.register(&SHT)?,
            "tmx" => pvs.register(&T_BRANCH_IDX)?,
            "xhttp" => pvs.register(&HU)?,
            _ => {}
        }
        self.loaded.push(name);
        Ok(())
    }

    fn modparam(&mut self, module: &str, param: &str, value: &ModValue) -> Result<(), String> {
        let known = module.split('|').all(|m| self.loaded.iter().any(|l| l == m));
        if !known {
            return Err(format!("module '{module}' not loaded"));
        }
        self.modparams.push((module.into(), param.into(), value.clone()));
        Ok(())
    }
}

pub const INVITE: &[u8] = b"INVITE sip:bob@example.com:5070;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKabc;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice A\" <sip:alice@a.example>;tag=1928\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: c1@10.0.0.5\r\n\
CSeq: 7 INVITE\r\n\
Contact: <sip:alice@10.0.0.5:5062>\r\n\
User-Agent: TestUA/1.0\r\n\
X-Custom: one\r\n\
X-Custom: two\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

/// The receive info tests use: 10.0.0.5:5062 → 127.0.0.1:5060 over UDP.
pub fn rcv() -> RecvInfo {
    RecvInfo {
        src: "10.0.0.5:5062".parse::<SocketAddr>().unwrap(),
        dst: "127.0.0.1:5060".parse::<SocketAddr>().unwrap(),
        proto: Proto::Udp,
    }
}

/// Compiles cfg text with the test registrations.
pub fn compile(text: &str) -> Result<Program, String> {
    let mut loader = StubLoader::default();
    sipr_core::cfg::load_str(text, "test.cfg", test_fns(), PvRegistry::core(), &mut loader).map_err(|e| e.to_string())
}

/// The result of running a cfg's request_route on a message.
pub struct Run {
    pub outcome: Outcome,
    pub out: Vec<String>,
    pub new_uri: Option<String>,
    pub dst_uri: Option<String>,
    pub flags: u64,
    pub sent: Vec<sipr_core::cfg::Outgoing>,
}

/// Runs the request_route of `prog` on `msg`.
pub fn run_with(prog: &Program, msg: &[u8], proc: &mut ProcState) -> Run {
    let msg = SipMsg::parse(msg).expect("test message parses");
    let core = CoreInfo {
        listen: prog.core.listen.clone(),
        aliases: prog.core.aliases.clone(),
        server_header: Some(sipr_core::server_signature().to_string()),
        secret: 0,
        ..Default::default()
    };
    let mut rec = Recorder::default();
    take_output();
    let (outcome, new_uri, dst_uri, flags) = {
        let mut ctx = Ctx::new(&msg, rcv(), &core, proc, &mut rec);
        let route = prog.request_route.expect("a request_route");
        let o = prog.run(route, &mut ctx);
        let s = |v: &Option<Vec<u8>>| v.as_ref().map(|u| String::from_utf8_lossy(u).into_owned());
        (o, s(&ctx.new_uri().map(<[u8]>::to_vec)), s(&ctx.dst_uri), ctx.flags)
    };
    Run { outcome, out: take_output(), new_uri, dst_uri, flags, sent: rec.sent }
}

/// Compiles `text` and runs it on the test INVITE.
pub fn run(text: &str) -> Run {
    let prog = compile(text).unwrap_or_else(|e| panic!("cfg does not compile:\n{e}\n--\n{text}"));
    let mut proc = ProcState::default();
    run_with(&prog, INVITE, &mut proc)
}

/// The xlog lines of running `body` as the request_route.
pub fn out(body: &str) -> Vec<String> {
    run(&format!("request_route {{\n{body}\n}}\n")).out
}

thread_local! {
    static LOGS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

struct ThreadLogger;

impl log::Log for ThreadLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        LOGS.with(|l| l.borrow_mut().push(format!("{}: {}", r.level(), r.args())));
    }
    fn flush(&self) {}
}

/// Starts recording this thread's log lines (and forgets earlier ones).
pub fn capture_logs() {
    static LOGGER: ThreadLogger = ThreadLogger;
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Debug);
    LOGS.with(|l| l.borrow_mut().clear());
}

/// The log lines recorded on this thread since `capture_logs`.
pub fn logs() -> Vec<String> {
    LOGS.with(|l| l.borrow().clone())
}
