//! The sipr module SDK. A module is a `cdylib` crate whose lib is named
//! after the module (`sl` → `libsl.so`, installed as `sl.so`) and that
//! declares its exports with [`module!`]:
//!
//! ```ignore
//! use sipr_sdk::prelude::*;
//!
//! fn is_maxfwd_lt(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
//!     let limit = p[0].int(ctx);
//!     Ok(if max_forwards(ctx)? < limit { 1 } else { -1 })
//! }
//!
//! sipr_sdk::module! {
//!     name: "maxfwd",
//!     // (name, parameter kinds, route types, function[, startup check])
//!     functions: [("is_maxfwd_lt", [IntOrPv], RouteMask::ANY, is_maxfwd_lt, check_max)],
//!     params: [("max_limit", Int, set_max_limit)],
//! }
//! ```
//!
//! The macro generates the C entry point, the `#[repr(C)]` header with
//! this build's id, and a wrapper around every function, parameter setter
//! and hook that catches panics inside the module (a panic never unwinds
//! into the core: the call logs it and returns -1). Logging with the `log`
//! macros reaches the core's logger through the table it handed over.
//! Module code needs no `unsafe`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

pub use sipr_core::blocklist::reason as blocklist_reason;
pub use sipr_core::cfg::{
    build_request, forward_reply_upstream, rebuild_uri, uri_destination, Avp, Branch, ConnFlags, CoreInfo, Ctx, Dest,
    FnDef, Format, ModValue, Names, NextHop, Outbound, Outcome, Param, ParamKind, ProcState, PvArg, PvClass, PvIndex,
    PvRef, PvRegistry, Recorder, RouteMask, RouteType, Stored, UriPart, Value, Xavp,
};
pub use sipr_core::module::abi::{ApiDef, CoreApi, ModParamDef, ModParamKind, ModuleDef, ModuleHeader, ProcDef};
pub use sipr_core::rpc::{text_param, RpcDef, RpcError, RpcValue};
pub use sipr_core::{hash, net, sip, txn};

/// The server's name and version, as its Server header says it
/// (`sipr (0.1.0 (x86_64/linux))`).
pub fn server_signature() -> &'static str {
    sipr_core::server_signature()
}
pub use sipr_mem as mem;
pub use sipr_mem::{Cancelled, KvValue, ShmKvTable, ShmPool, TableFull, TimerId};

/// The server's shared-memory pool (through the core's table: this
/// module's own copy of sipr-mem has no pool), or `None` before the
/// server made one.
pub fn shm_pool() -> Option<&'static ShmPool> {
    let core = CORE.get()?;
    let p = (core.shm_pool)();
    // SAFETY: the core returns null or a pointer to its pool, leaked for
    // the life of the process (sipr_core::shm::install); the build id
    // check guarantees `ShmPool` has the same layout here as in the core.
    unsafe { p.as_ref() }
}

/// What module code imports.
pub mod prelude {
    pub use super::{FnResult, ModError};
    pub use log::{debug, error, info, warn};
    pub use sipr_core::cfg::{Ctx, Dest, ModValue, Param, RouteMask, Value};
}

/// An error a module function returns; logged with the function's name,
/// and the call returns -1 to the script (Kamailio's error code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModError(pub String);

impl std::fmt::Display for ModError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModError {}

impl From<String> for ModError {
    fn from(s: String) -> Self {
        ModError(s)
    }
}

impl From<&str> for ModError {
    fn from(s: &str) -> Self {
        ModError(s.to_string())
    }
}

impl From<sip::ParseError> for ModError {
    fn from(e: sip::ParseError) -> Self {
        ModError(e.to_string())
    }
}

impl From<sip::UriError> for ModError {
    fn from(e: sip::UriError) -> Self {
        ModError(format!("invalid URI: {e}"))
    }
}

impl From<sip::BuildError> for ModError {
    fn from(e: sip::BuildError) -> Self {
        ModError(e.to_string())
    }
}

/// A script function's result: the return code (> 0 true, < 0 false, 0
/// stops the script) or an error.
pub type FnResult = Result<i32, ModError>;

/// The core's table, set when the core calls the entry point.
static CORE: OnceLock<&'static CoreApi> = OnceLock::new();

/// The module's `log` logger: forwards to the core's.
struct Forward;

impl log::Log for Forward {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        CORE.get().is_some_and(|c| (m.level() as u32) <= (c.max_level)())
    }

    fn log(&self, r: &log::Record<'_>) {
        let Some(core) = CORE.get() else { return };
        if (r.level() as u32) > (core.max_level)() {
            return;
        }
        let msg = r.args().to_string();
        let target = r.target();
        (core.log)(r.level() as u32, target.as_ptr(), target.len(), msg.as_ptr(), msg.len());
    }

    fn flush(&self) {}
}

static FORWARD: Forward = Forward;

/// The entry point's body (the [`module!`] macro calls it): keeps the
/// core's table and routes logging to it; 0 when done.
///
/// Not `unsafe` so that module code needs none: its only caller is the
/// generated `extern "C"` entry point, and that one's only caller is the
/// core's loader, which passes its `static` table.
#[doc(hidden)]
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn init(core: *const CoreApi) -> i32 {
    let ok = catch_unwind(|| {
        if core.is_null() {
            return false;
        }
        // SAFETY: the core passes a pointer to its `static CORE_API`, which
        // lives as long as the process; ABI version and build id are checked
        // by the core against our header before anything else is used, and
        // the first field read here (abi_version) is #[repr(C)].
        let table: &'static CoreApi = unsafe { &*core };
        if table.abi_version != sipr_core::module::abi::ABI_VERSION {
            return false;
        }
        let _ = CORE.set(table);
        if log::set_logger(&FORWARD).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
        true
    });
    match ok {
        Ok(true) => 0,
        _ => -1,
    }
}

/// Runs a script function, turning errors and panics into -1 with a log
/// line naming the function.
#[doc(hidden)]
pub fn guard(name: &str, f: impl FnOnce() -> FnResult) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            log::error!("{name}(): {e}");
            -1
        }
        Err(p) => {
            log::error!("{name}(): panicked ({}); the call failed, the process goes on", panic_text(&p));
            -1
        }
    }
}

#[doc(hidden)]
pub use sipr_core::guard::{guard_hook, guard_unit, guard_value, panic_text};

/// Runs the body of a function an API offers other modules: a panic
/// comes back to the caller as an error (see `ApiDef`).
pub use sipr_core::guard::guard_call as guard_api;

/// Runs an RPC command, turning a panic into a 500.
#[doc(hidden)]
pub fn guard_rpc(name: &str, f: impl FnOnce() -> Result<RpcValue, RpcError>) -> Result<RpcValue, RpcError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            log::error!("RPC {name}: panicked ({})", panic_text(&p));
            Err(RpcError::new(500, "internal error"))
        }
    }
}

/// Declares a module: its name, script functions, parameters and hooks.
/// See the crate documentation.
#[macro_export]
macro_rules! module {
    (
        name: $name:literal,
        functions: [ $( ($fname:literal, [$($kind:ident),* $(,)?], $routes:expr, $f:path $(, $fix:path)?) ),* $(,)? ],
        params: [ $( ($pname:literal, $pkind:ident, $pset:path) ),* $(,)? ]
        $(, pvs: [ $($pv:expr),* $(,)? ] )?
        $(, rpcs: [ $( ($rname:literal, $rdoc:literal, $rf:path) ),* $(,)? ] )?
        $(, apis: [ $( ($aname:literal, $aversion:expr, $api:path) ),* $(,)? ] )?
        $(, procs: [ $( ($pdesc:literal, $pcount:expr, $prun:path) ),* $(,)? ] )?
        $(, init: $init:path )?
        $(, child_init: $child:path )?
        $(, destroy: $destroy:path )?
        $(, response: $response:path )?
        $(, post_script: $post:path )?
        $(, pre_script: $pre:path )?
        $(, build_id: $bid:expr )?
        $(,)?
    ) => {
        static __SIPR_FUNCTIONS: &[$crate::FnDef] = &[ $(
            $crate::FnDef {
                name: $fname,
                params: &[ $( $crate::ParamKind::$kind ),* ],
                routes: $routes,
                call: {
                    fn __call(ctx: &mut $crate::Ctx<'_>, p: &[$crate::Param]) -> i32 {
                        $crate::guard($fname, || $f(ctx, p))
                    }
                    __call
                },
                fixup: $crate::__fn_fixup!($fname $(, $fix)?),
            }
        ),* ];
        static __SIPR_PARAMS: &[$crate::ModParamDef] = &[ $(
            $crate::ModParamDef {
                name: $pname,
                kind: $crate::ModParamKind::$pkind,
                set: {
                    fn __set(v: &$crate::ModValue) -> ::std::result::Result<(), ::std::string::String> {
                        $crate::guard_hook($pname, || $pset(v))
                    }
                    __set
                },
            }
        ),* ];
        static __SIPR_DEF: $crate::ModuleDef = $crate::ModuleDef {
            name: $name,
            functions: __SIPR_FUNCTIONS,
            params: __SIPR_PARAMS,
            pvs: &[ $( $($pv),* )? ],
            rpcs: &[ $( $(
                $crate::RpcDef {
                    name: $rname,
                    doc: $rdoc,
                    call: {
                        fn __rpc(p: &[$crate::RpcValue]) -> ::std::result::Result<$crate::RpcValue, $crate::RpcError> {
                            $crate::guard_rpc($rname, || $rf(p))
                        }
                        __rpc
                    },
                }
            ),* )? ],
            apis: &[ $( $( $crate::ApiDef { name: $aname, version: $aversion, api: &$api } ),* )? ],
            procs: &[ $( $(
                $crate::ProcDef {
                    desc: $pdesc,
                    count: {
                        fn __count() -> u32 {
                            $crate::guard_hook($pdesc, || Ok::<u32, String>($pcount)).unwrap_or(0)
                        }
                        __count
                    },
                    run: {
                        fn __proc(i: u32) {
                            $crate::guard_unit($pdesc, || $prun(i))
                        }
                        __proc
                    },
                }
            ),* )? ],
            init: $crate::__hook_init!($($init)?),
            child_init: $crate::__hook_child!($($child)?),
            destroy: $crate::__hook_destroy!($($destroy)?),
            response: $crate::__hook_ctx_bool!("reply hook", false; $($response)?),
            post_script: $crate::__hook_post_script!($($post)?),
            pre_script: $crate::__hook_ctx_bool!("pre-script hook", true; $($pre)?),
        };
        /// What the loader reads and checks before any code of the module
        /// runs (version, features, build id).
        #[no_mangle]
        pub static sipr_module_header: $crate::ModuleHeader = $crate::__header!(&__SIPR_DEF $(, $bid)?);
        /// The module's entry point, called once by the core's loader after
        /// the header passed its checks.
        #[no_mangle]
        pub extern "C" fn sipr_module_init(core: *const $crate::CoreApi) -> i32 {
            $crate::init(core)
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __fn_fixup {
    ($fname:literal) => {
        None
    };
    ($fname:literal, $fix:path) => {
        Some({
            fn __fixup(p: &mut [$crate::Param]) -> ::std::result::Result<(), ::std::string::String> {
                $crate::guard_hook($fname, || $fix(p))
            }
            __fixup
        })
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __header {
    ($def:expr) => {
        $crate::ModuleHeader::new($def)
    };
    ($def:expr, $bid:expr) => {
        $crate::ModuleHeader::with_build_id($def, $bid)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hook_init {
    () => {
        None
    };
    ($f:path) => {
        Some({
            fn __init() -> ::std::result::Result<(), ::std::string::String> {
                $crate::guard_hook("mod_init", $f)
            }
            __init
        })
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hook_child {
    () => {
        None
    };
    ($f:path) => {
        Some({
            fn __child(rank: i32) -> ::std::result::Result<(), ::std::string::String> {
                $crate::guard_hook("child_init", || $f(rank))
            }
            __child
        })
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hook_destroy {
    () => {
        None
    };
    ($f:path) => {
        Some({
            fn __destroy() {
                $crate::guard_unit("destroy", $f)
            }
            __destroy
        })
    };
}

/// A hook that looks at the message and answers a bool (the reply hook,
/// the pre-script hook), its panics caught: a panicking hook answers
/// `$fallback` (the reply left to the core; the request going on to the
/// script).
#[doc(hidden)]
#[macro_export]
macro_rules! __hook_ctx_bool {
    ($what:literal, $fallback:expr;) => {
        None
    };
    ($what:literal, $fallback:expr; $f:path) => {
        Some({
            fn __hook(ctx: &mut $crate::Ctx<'_>) -> bool {
                ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $f(ctx))).unwrap_or_else(|p| {
                    ::log::error!("{} panicked: {}", $what, $crate::panic_text(&p));
                    $fallback
                })
            }
            __hook
        })
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hook_post_script {
    () => {
        None
    };
    ($f:path) => {
        Some({
            fn __post(ctx: &mut $crate::Ctx<'_>) {
                if let Err(p) = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $f(ctx))) {
                    ::log::error!("post-script hook panicked: {}", $crate::panic_text(&p));
                }
            }
            __post
        })
    };
}

/// Runs route `idx` (a fixed-up route parameter) of the script on the
/// message of `ctx`: how it ended, or `None` when this process runs no
/// script (the route runs in the core binary's interpreter).
pub fn run_route(ctx: &mut Ctx<'_>, idx: usize) -> Option<sipr_core::cfg::Outcome> {
    let core = CORE.get()?;
    let mut out = sipr_core::cfg::Outcome { retcode: 0, exited: false, dropped: false };
    let p = (ctx as *mut Ctx<'_>).cast::<std::ffi::c_void>();
    ((core.run_route)(idx, p, &mut out) == 0).then_some(out)
}

/// The index of `event_route[name]` for [`run_route`], when the script
/// has one (in a forked process).
pub fn event_route(name: &str) -> Option<usize> {
    let core = CORE.get()?;
    usize::try_from((core.event_route)(name.as_ptr(), name.len())).ok()
}

/// Runs `event_route[name]` on the core's faked request in a process that
/// is not handling a message (a timer): `prepare` first sets what the
/// route will read. Whether the script has that route.
pub fn run_event_route(name: &str, prepare: impl FnOnce(&mut Ctx<'_>)) -> bool {
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    let rcv = net::RecvInfo { src: local, dst: local, proto: net::Proto::Udp };
    run_event_route_on(name, sipr_core::cfg::FAKED_REQUEST, rcv, prepare, |_| ()).is_some()
}

/// Runs `event_route[name]` on message `msg` (a request the SIP parser
/// reads; xhttp's HTTP request with a SIP first line) received as `rcv`:
/// `prepare` sets the context up before, `after` reads it after (what
/// the route left: a reply to send). `None` when the cfg has no such
/// route or the message does not parse.
pub fn run_event_route_on<R>(
    name: &str,
    msg: &[u8],
    rcv: net::RecvInfo,
    prepare: impl FnOnce(&mut Ctx<'_>),
    after: impl FnOnce(&Ctx<'_>) -> R,
) -> Option<R> {
    thread_local! {
        /// The script variables of routes run this way in this process.
        static EVENT_PROC: std::cell::RefCell<ProcState> = std::cell::RefCell::new(ProcState::default());
    }
    let (Some(idx), Some(core)) = (event_route(name), core_info()) else { return None };
    let Ok(msg) = sip::SipMsg::parse(msg) else { return None };
    EVENT_PROC.with(|p| {
        let Ok(mut proc) = p.try_borrow_mut() else { return None };
        let mut out = ProcessOut;
        let mut ctx = Ctx::new(&msg, rcv, core, &mut proc, &mut out);
        ctx.faked = true;
        ctx.route_type = sipr_core::cfg::RouteType::Event;
        prepare(&mut ctx);
        run_route(&mut ctx, idx);
        Some(after(&ctx))
    })
}

/// The id of the AVP a parameter names: `$avp(x)`, `$avp(s:x)`,
/// `$avp(i:N)` or the bare name (mod_init, main process): the script's own
/// id when it uses that AVP.
pub fn avp_id(spec: &str) -> Result<u32, String> {
    let spec = spec.trim();
    let name = match spec.strip_prefix("$avp(").and_then(|r| r.strip_suffix(')')) {
        Some(inner) => inner.trim(),
        None if spec.starts_with('$') => return Err(format!("'{spec}' is not an AVP ($avp(name))")),
        None => spec,
    };
    if name.is_empty() {
        return Err("an empty AVP name".into());
    }
    if let Some(n) = name.strip_prefix("i:") {
        n.parse::<u32>().map_err(|_| format!("bad integer AVP name '{name}'"))?;
    }
    let core = CORE.get().ok_or("not loaded by sipr")?;
    u32::try_from((core.avp_id)(name.as_ptr(), name.len())).map_err(|_| format!("AVP '{name}' cannot be named now"))
}

/// The server's facts (listen sockets, aliases, Server header), in a
/// forked process.
pub fn core_info() -> Option<&'static sipr_core::cfg::CoreInfo> {
    let core = CORE.get()?;
    // SAFETY: null or the core's CoreInfo, leaked before the fork: valid
    // for the life of the process; same build, same layout.
    unsafe { (core.core_info)().as_ref() }
}

/// Sending outside the handling of a message (tm's timers), through the
/// process's own sockets and resolver: an [`Outbound`](sipr_core::cfg::Outbound)
/// for a context a module builds itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessOut;

impl sipr_core::cfg::Outbound for ProcessOut {
    fn send(&mut self, dest: Dest<'_>, data: &[u8]) -> Result<(), String> {
        let core = CORE.get().ok_or("not loaded by sipr")?;
        let d = (&dest as *const Dest<'_>).cast::<std::ffi::c_void>();
        match (core.send)(d, data.as_ptr(), data.len()) {
            0 => Ok(()),
            _ => Err(format!("cannot send to {dest:?}")),
        }
    }

    fn transport_for(&mut self, host: &[u8], port: Option<u16>) -> net::Proto {
        self.resolve(host, port, None).map_or(net::Proto::Udp, |(_, p)| p)
    }

    fn resolve(
        &mut self,
        host: &[u8],
        port: Option<u16>,
        proto: Option<net::Proto>,
    ) -> Result<(std::net::SocketAddr, net::Proto), String> {
        self.resolve_nth(host, port, proto, 0)
    }

    fn resolve_nth(
        &mut self,
        host: &[u8],
        port: Option<u16>,
        proto: Option<net::Proto>,
        nth: usize,
    ) -> Result<(std::net::SocketAddr, net::Proto), String> {
        let core = CORE.get().ok_or("not loaded by sipr")?;
        let fixed = (port, proto);
        let mut out = (std::net::SocketAddr::from(([0, 0, 0, 0], 0)), net::Proto::Udp);
        match (core.resolve)(host.as_ptr(), host.len(), &fixed, nth, &mut out) {
            0 => Ok(out),
            _ if nth > 0 => Err(format!("{} has no target {nth}", String::from_utf8_lossy(host))),
            _ => Err(format!("cannot resolve {}", String::from_utf8_lossy(host))),
        }
    }
}

/// The destination blocklist (core `dst_blocklist`, with
/// `use_dst_blocklist` on): the reason bits `to` over `proto` is listed
/// for (`sipr_core::blocklist::reason`), or `None`.
pub fn blocklisted(proto: net::Proto, to: std::net::SocketAddr) -> Option<u8> {
    let core = CORE.get()?;
    match (core.blocklist)(0, proto, &to, 0, 0) {
        0 => None,
        f => Some(f as u8),
    }
}

/// Blocklists `to` over `proto` for `reasons`, for `expire` (`None`: the
/// core's `dst_blocklist_expire`); nothing when `use_dst_blocklist` is
/// off. Whether it is listed.
pub fn blocklist(
    proto: net::Proto,
    to: std::net::SocketAddr,
    reasons: u8,
    expire: Option<std::time::Duration>,
) -> bool {
    let Some(core) = CORE.get() else { return false };
    let secs = expire.map_or(-1, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    (core.blocklist)(1, proto, &to, reasons, secs) == 1
}

/// The statistics counter `group:name` (Kamailio's counters), shared by
/// every process: register in `mod_init`, add with `fetch_add`.
pub fn counter(group: &str, name: &str) -> Result<&'static std::sync::atomic::AtomicU64, String> {
    counter_with_help(group, name, "")
}

/// [`counter`] with the description `cnt.help` gives.
pub fn counter_with_help(group: &str, name: &str, help: &str) -> Result<&'static std::sync::atomic::AtomicU64, String> {
    register_counter(group, name, help, true)
}

/// A statistic the reset commands (`stats.reset_statistics`,
/// `stats.clear_statistics`) leave as it is, as Kamailio keeps those it
/// computes or registers with STAT_NO_RESET: a gauge, a parameter's
/// value, a figure Kamailio derives from per-process tallies.
pub fn counter_no_reset(group: &str, name: &str) -> Result<&'static std::sync::atomic::AtomicU64, String> {
    register_counter(group, name, "", false)
}

fn register_counter(
    group: &str,
    name: &str,
    help: &str,
    resettable: bool,
) -> Result<&'static std::sync::atomic::AtomicU64, String> {
    let core = CORE.get().ok_or("not loaded by sipr")?;
    let p = (core.counter)(
        group.as_ptr(),
        group.len(),
        name.as_ptr(),
        name.len(),
        help.as_ptr(),
        help.len(),
        i32::from(resettable),
    );
    // SAFETY: null or an AtomicU64 in the shm pool (or leaked), never
    // freed: valid for the life of the process.
    unsafe { p.as_ref() }.ok_or_else(|| format!("cannot register counter {group}:{name}"))
}

/// A runtime-changeable number of a module (Kamailio's cfg variables:
/// `cfg.get registrar max_expires`, `cfg.set`): the module parameter's
/// value until [`CfgNum::register`] (in `mod_init`) moves it to shm,
/// where a `cfg.set` from the RPC process reaches every process.
#[derive(Debug)]
pub struct CfgNum {
    local: std::sync::atomic::AtomicI64,
    shared: std::sync::OnceLock<&'static std::sync::atomic::AtomicU64>,
}

impl CfgNum {
    /// Bounds for a variable that takes any C int.
    pub const ANY_INT: (i64, i64) = sipr_core::cfgvars::ANY_INT;
    /// Bounds for an on/off variable.
    pub const FLAG: (i64, i64) = sipr_core::cfgvars::FLAG;

    /// A variable starting at `v`.
    pub const fn new(v: i64) -> Self {
        CfgNum { local: std::sync::atomic::AtomicI64::new(v), shared: std::sync::OnceLock::new() }
    }

    /// The value now.
    pub fn get(&self) -> i64 {
        match self.shared.get() {
            // the shm word holds the i64's bits
            Some(w) => w.load(std::sync::atomic::Ordering::Relaxed) as i64,
            None => self.local.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Whether the value is not 0 (a flag).
    pub fn is_on(&self) -> bool {
        self.get() != 0
    }

    /// Sets the value (a module parameter; after registration, every
    /// process sees it).
    pub fn set(&self, v: i64) {
        self.local.store(v, std::sync::atomic::Ordering::Relaxed);
        if let Some(w) = self.shared.get() {
            w.store(v as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Publishes the variable as `group:name` (main process, in
    /// `mod_init`, once its parameter is set); `cfg.set` keeps it within
    /// `min..=max` (Kamailio's bounds for it).
    pub fn register(
        &self,
        group: &str,
        name: &str,
        help: &str,
        readable: bool,
        min: i64,
        max: i64,
    ) -> Result<(), String> {
        let core = CORE.get().ok_or("not loaded by sipr")?;
        let initial = self.local.load(std::sync::atomic::Ordering::Relaxed);
        let def = sipr_core::module::abi::CfgVarDef::of(group, name, help, initial, (min, max), readable);
        let p = (core.cfg_var)(&def);
        // SAFETY: null or an AtomicU64 in the shm pool, never freed.
        let w = unsafe { p.as_ref() }.ok_or_else(|| format!("cannot register cfg variable {group}:{name}"))?;
        let _ = self.shared.set(w);
        Ok(())
    }
}

/// A runtime-changeable text of a module (Kamailio's string cfg
/// variables: `cfg.sets registrar realm_pref sip.`): the module
/// parameter's value until [`CfgStr::register`] (in `mod_init`) moves it
/// to the core's shm table. Each process keeps a copy and refreshes it
/// when the variable's change counter moves (one atomic load per use).
#[derive(Debug)]
pub struct CfgStr {
    local: std::sync::Mutex<String>,
    shared: std::sync::OnceLock<SharedText>,
}

#[derive(Debug)]
struct SharedText {
    group: String,
    name: String,
    changes: &'static std::sync::atomic::AtomicU64,
    /// This process's copy: (the change count it was read at + 1, text);
    /// 0 is "never read".
    copy: std::sync::Mutex<(u64, String)>,
}

impl CfgStr {
    /// A variable starting empty (its default comes from `set` or the
    /// module parameter).
    pub const fn new() -> Self {
        CfgStr { local: std::sync::Mutex::new(String::new()), shared: std::sync::OnceLock::new() }
    }

    /// Sets the value before registration (a module parameter).
    pub fn set(&self, v: &str) {
        if let Ok(mut l) = self.local.lock() {
            *l = v.to_string();
        }
    }

    /// Calls `f` with the value now.
    pub fn with<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        let Some(sh) = self.shared.get() else {
            let l = self.local.lock().map(|l| l.clone()).unwrap_or_default();
            return f(&l);
        };
        let now = sh.changes.load(std::sync::atomic::Ordering::Acquire) + 1;
        // a panic inside `f` cannot leave the copy half-written: it is
        // replaced whole before `f` runs
        let mut copy = sh.copy.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if copy.0 != now {
            copy.1 = read_cfg_text(&sh.group, &sh.name).unwrap_or_default();
            copy.0 = now;
        }
        f(&copy.1)
    }

    /// The value now, as an owned string.
    pub fn get(&self) -> String {
        self.with(str::to_string)
    }

    /// Publishes the variable as `group:name` (main process, in
    /// `mod_init`, once its parameter is set).
    pub fn register(&self, group: &str, name: &str, help: &str) -> Result<(), String> {
        let core = CORE.get().ok_or("not loaded by sipr")?;
        let initial = self.local.lock().map(|l| l.clone()).unwrap_or_default();
        let def = sipr_core::module::abi::CfgVarDef::of(group, name, help, 0, (0, 0), true);
        let p = (core.cfg_str_var)(&def, initial.as_ptr(), initial.len());
        // SAFETY: null or an AtomicU64 in the shm pool, never freed.
        let w = unsafe { p.as_ref() }.ok_or_else(|| format!("cannot register cfg variable {group}:{name}"))?;
        let _ = self.shared.set(SharedText {
            group: group.to_string(),
            name: name.to_string(),
            changes: w,
            copy: std::sync::Mutex::new((0, String::new())),
        });
        Ok(())
    }
}

impl Default for CfgStr {
    fn default() -> Self {
        CfgStr::new()
    }
}

/// The text of the cfg variable `group:name` as every process sees it.
fn read_cfg_text(group: &str, name: &str) -> Option<String> {
    let core = CORE.get()?;
    let mut bytes: Vec<u8> = Vec::new();
    let rc = (core.cfg_str_read)(
        group.as_ptr(),
        group.len(),
        name.as_ptr(),
        name.len(),
        collect_reply,
        (&mut bytes as *mut Vec<u8>).cast::<std::ffi::c_void>(),
    );
    (rc == 0).then(|| String::from_utf8_lossy(&bytes).into_owned())
}

/// A [`CfgNum`] that is never negative (tm's timers, in milliseconds):
/// reads and writes as the `AtomicU32` it replaces.
#[derive(Debug)]
pub struct CfgInt(CfgNum);

impl CfgInt {
    /// A variable starting at `v`.
    pub const fn new(v: u32) -> Self {
        CfgInt(CfgNum::new(v as i64))
    }

    /// The value now.
    pub fn load(&self, _order: std::sync::atomic::Ordering) -> u32 {
        self.0.get() as u32
    }

    /// Sets the value.
    pub fn store(&self, v: u32, _order: std::sync::atomic::Ordering) {
        self.0.set(i64::from(v));
    }

    /// Publishes the variable as `group:name` (0..=u32::MAX).
    pub fn register(&self, group: &str, name: &str, help: &str, readable: bool) -> Result<(), String> {
        self.0.register(group, name, help, readable, 0, i64::from(u32::MAX))
    }
}

/// Every statistic of the server: (group, name, value), sorted.
pub fn statistics() -> Vec<(String, String, u64)> {
    let Some(core) = CORE.get() else { return Vec::new() };
    let mut text: Vec<u8> = Vec::new();
    (core.stats_dump)(collect_reply, (&mut text as *mut Vec<u8>).cast::<std::ffi::c_void>());
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.to_string(), f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect()
}

/// The channel on which the TCP readers hand HTTP connections to the
/// xhttp process (the bytes read, the connection's descriptor attached:
/// receive with [`recv_with_fd`]); `None` when the server has none.
pub fn http_channel() -> Option<std::os::unix::net::UnixDatagram> {
    let core = CORE.get()?;
    let fd = (core.http_channel)();
    if fd < 0 {
        return None;
    }
    // SAFETY: the core returns a descriptor it keeps open for the life of
    // the process; it is only borrowed here, to be duplicated.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    borrowed.try_clone_to_owned().ok().map(std::os::unix::net::UnixDatagram::from)
}

/// A timer callback of this module, with its name.
type ModuleTimer = (String, fn());

/// Timer callbacks this module registered (run through [`timer_tick`]).
static TIMERS: std::sync::Mutex<Vec<ModuleTimer>> = std::sync::Mutex::new(Vec::new());

/// The callback the core's timer process calls: runs this module's timer
/// `i` inside a panic guard.
extern "C" fn timer_tick(i: usize) {
    // nothing may unwind out of an extern "C" function: guard all of it
    let _ = catch_unwind(|| {
        let t = TIMERS.lock().ok().and_then(|t| t.get(i).cloned());
        if let Some((name, f)) = t {
            guard_unit(&name, f);
        }
    });
}

/// Registers a timer (call from `mod_init`): `f` runs in the timer
/// process every `ms` milliseconds when `periodic`, else once after
/// `ms`.
pub fn register_timer(name: &str, ms: u64, periodic: bool, f: fn()) -> Result<(), String> {
    let core = CORE.get().ok_or("not loaded by sipr")?;
    let i = {
        let mut t = TIMERS.lock().map_err(|_| "timer list poisoned")?;
        t.push((name.to_string(), f));
        t.len() - 1
    };
    match (core.timer)(name.as_ptr(), name.len(), ms, u8::from(periodic), timer_tick, i) {
        0 => Ok(()),
        _ => Err(format!("cannot register timer {name}")),
    }
}

/// A shm wheel timer's handler: gets the `arg` it was armed with, returns
/// the milliseconds until it should run again (0: never).
pub type WheelHandler = fn(arg: u64) -> u64;

/// What the core's timer process calls for this module's wheel timers:
/// runs the module's handler inside a panic guard (a panicking handler
/// is logged and not re-armed).
extern "C" fn wheel_trampoline(data: usize, arg: u64) -> u64 {
    // SAFETY: `data` was made from a WheelHandler of this module in
    // arm_timer; the module is loaded before the fork and never unloaded,
    // so the address is the same function in the timer process.
    let f = unsafe { std::mem::transmute::<usize, WheelHandler>(data) };
    catch_unwind(AssertUnwindSafe(|| f(arg))).unwrap_or_else(|p| {
        log::error!("timer handler panicked: {}", panic_text(&p));
        0
    })
}

/// Arms a timer on the core's shm wheel, from any process at any time
/// (tm's retransmissions): `f(arg)` runs in the timer process after
/// `after`, then again after the delay it returns until that is 0.
pub fn arm_timer(after: std::time::Duration, f: WheelHandler, arg: u64) -> Result<TimerId, String> {
    arm_wheel(after, f, arg, false)
}

/// As [`arm_timer`], but each run is handed to one of the `async_workers`
/// processes (in the timer process when there are none): for handlers
/// that may take long.
pub fn arm_timer_in_worker(after: std::time::Duration, f: WheelHandler, arg: u64) -> Result<TimerId, String> {
    arm_wheel(after, f, arg, true)
}

fn arm_wheel(after: std::time::Duration, f: WheelHandler, arg: u64, in_worker: bool) -> Result<TimerId, String> {
    let core = CORE.get().ok_or("not loaded by sipr")?;
    let mut id = std::mem::MaybeUninit::<TimerId>::uninit();
    let ms = after.as_millis().min(u64::MAX as u128) as u64;
    match (core.timer_arm)(ms, wheel_trampoline, f as usize, arg, u8::from(in_worker), id.as_mut_ptr()) {
        // SAFETY: on success the core wrote the id.
        0 => Ok(unsafe { id.assume_init() }),
        _ => Err("cannot arm a timer (shared memory full?)".into()),
    }
}

/// Cancels a timer armed with [`arm_timer`], from any process.
pub fn cancel_timer(id: TimerId) -> Cancelled {
    match CORE.get().map(|core| (core.timer_cancel)(id)) {
        Some(1) => Cancelled::Yes,
        Some(2) => Cancelled::WhileRunning,
        _ => Cancelled::Stale,
    }
}

extern "C" fn collect_reply(ctx: *mut std::ffi::c_void, data: *const u8, len: usize) {
    // SAFETY: `ctx` is the Vec the caller passed (rpc_exec, statistics,
    // cfg texts), alive for the call; the core passes a live byte range.
    unsafe { (*ctx.cast::<Vec<u8>>()).extend_from_slice(std::slice::from_raw_parts(data, len)) };
}

/// Runs one JSON-RPC request against the server's RPC commands (any
/// process): the reply text, or `None` when the bytes are not a JSON
/// request (no answer is due, as Kamailio).
pub fn rpc_exec(request: &[u8]) -> Option<Vec<u8>> {
    rpc_exec_as(RpcCodec::Json, request)
}

/// Runs one binrpc packet (as [`binrpc::framing`] delimited it) against
/// the server's RPC commands: the reply packet (a request that cannot be
/// read gets Kamailio's 400 reply).
pub fn rpc_exec_binrpc(packet: &[u8]) -> Option<Vec<u8>> {
    rpc_exec_as(RpcCodec::Binrpc, packet)
}

fn rpc_exec_as(codec: RpcCodec, request: &[u8]) -> Option<Vec<u8>> {
    let core = CORE.get()?;
    let mut reply: Vec<u8> = Vec::new();
    let ctx = (&mut reply as *mut Vec<u8>).cast::<std::ffi::c_void>();
    match (core.rpc_exec)(codec as u32, request.as_ptr(), request.len(), collect_reply, ctx) {
        0 => Some(reply),
        _ => None,
    }
}

/// The cfg's `run_dir` (where control sockets and FIFOs go).
pub fn run_dir() -> std::path::PathBuf {
    let Some(core) = CORE.get() else { return "/run/sipr".into() };
    let mut len = 0usize;
    let p = (core.run_dir)(&mut len);
    // SAFETY: the core returns a pointer to its own UTF-8 string of `len`
    // bytes, alive for the process.
    let s = unsafe { std::slice::from_raw_parts(p, len) };
    std::path::PathBuf::from(String::from_utf8_lossy(s).into_owned())
}

pub use sipr_core::module::abi::RpcCodec;
pub use sipr_core::rpc::binrpc;
pub use sipr_core::rpc::json as jsonrpc;
pub use sipr_locking::net::recv_with_fd;
pub use sipr_locking::process::{chown_to, make_fifo, open_write_nonblocking};

/// The `debug` level in effect in this process, in Kamailio's numbers
/// (L_NOTICE 1, L_INFO 2, L_DBG 3), for a module that logs at those.
pub fn debug_level() -> i32 {
    CORE.get().map_or(2, |core| (core.debug_level)())
}

/// Gives this process a `debug` level of its own (kex's `setdebug`), or
/// (`None`) back to the server's (`resetdebug`).
pub fn set_process_debug(level: Option<i32>) {
    if let Some(core) = CORE.get() {
        (core.set_process_debug)(level.unwrap_or(0), u8::from(level.is_none()));
    }
}

/// Binds to another module's API (as Kamailio's `load_tm_api`): call it
/// from `mod_init`, when every module is loaded. The error says whether
/// the API is missing, of another version, or of another type.
pub fn bind_api<T: std::any::Any>(name: &str, version: u32) -> Result<&'static T, String> {
    let core = CORE.get().ok_or("not loaded by sipr")?;
    let p = (core.find_api)(name.as_ptr(), name.len());
    // SAFETY: the core returns null or a pointer to an ApiDef in a loaded
    // module's statics (modules are never unloaded); same build id, so the
    // layout is ours.
    let def: &'static ApiDef =
        unsafe { p.as_ref() }.ok_or_else(|| format!("no loaded module offers the API '{name}'"))?;
    if def.version != version {
        return Err(format!("API '{name}' has version {}, version {version} wanted", def.version));
    }
    def.api.downcast_ref::<T>().ok_or_else(|| format!("API '{name}' is not of the expected type"))
}

pub mod auth_api;
pub mod control;
pub mod db;
pub mod usrloc_api;

/// Runs `f` in a short-lived child of the main process and waits for it:
/// for `mod_init` work that needs a database connection, which the main
/// process must not hold across the fork (loading a table into shm, which
/// the parent and its workers then share). The child's error is logged
/// there; the parent gets an error naming `what`.
pub fn in_child_process<F: FnOnce() -> Result<(), String>>(what: &str, f: F) -> Result<(), String> {
    extern "C" fn trampoline<F: FnOnce() -> Result<(), String>>(arg: *mut std::ffi::c_void) -> i32 {
        // SAFETY: `arg` is the `Option<F>` below, alive and not otherwise
        // used while the core runs this (in the forked child).
        let slot = unsafe { &mut *arg.cast::<Option<F>>() };
        let Some(f) = slot.take() else { return 1 };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => {
                log::error!("{e}");
                1
            }
            Err(p) => {
                log::error!("panicked: {}", panic_text(&p));
                101
            }
        }
    }
    let core = CORE.get().ok_or("not loaded by sipr")?;
    let mut slot: Option<F> = Some(f);
    match (core.run_in_child)(trampoline::<F>, (&mut slot as *mut Option<F>).cast()) {
        0 => Ok(()),
        code => Err(format!("{what} failed (its loader process ended with {code}; the log says why)")),
    }
}

/// Reading `modparam` values the way every module does.
pub mod modparam {
    use super::ModValue;

    /// The value as a number (a string of digits is one too, as Kamailio
    /// reads `modparam("m", "p", "5")`).
    pub fn int(v: &ModValue) -> Result<i64, String> {
        match v {
            ModValue::Int(i) => Ok(*i),
            ModValue::Str(s) => s.trim().parse().map_err(|_| format!("not a number: {s}")),
        }
    }

    /// The value as a string.
    pub fn str(v: &ModValue) -> Result<String, String> {
        match v {
            ModValue::Str(s) => Ok(s.clone()),
            ModValue::Int(_) => Err("a string is expected".into()),
        }
    }

    /// Stores a string parameter in `slot`.
    pub fn store_str(v: &ModValue, slot: &std::sync::Mutex<String>) -> Result<(), String> {
        *slot.lock().map_err(|_| "poisoned")? = str(v)?;
        Ok(())
    }

    /// A parameter whose Kamailio default is what the sipr module does:
    /// taken with that value, refused (with the reason) with any other,
    /// never ignored.
    pub fn default_only(module: &str, name: &str, v: &ModValue, default: i64) -> Result<(), String> {
        match int(v)? {
            n if n == default => Ok(()),
            n => Err(format!(
                "{name} {n} is not supported: sipr's {module} does what {name} {default} (Kamailio's default) asks"
            )),
        }
    }
}

/// What xhttp and the modules that answer HTTP requests (jsonrpcs'
/// `jsonrpc_dispatch`, xhttp_prom's `prom_dispatch`) share about the
/// request in hand: its URL and the reply the script chose, kept in the
/// message context of `event_route[xhttp:request]`.
pub mod xhttp {
    use super::Ctx;

    const URL: &str = "xhttp.url";
    const CODE: &str = "xhttp.reply.code";
    const REASON: &str = "xhttp.reply.reason";
    const CTYPE: &str = "xhttp.reply.ctype";
    const BODY: &str = "xhttp.reply.body";

    /// The reply chosen for an HTTP request.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Reply {
        /// Status code.
        pub code: u16,
        /// Reason phrase.
        pub reason: Vec<u8>,
        /// Content-Type.
        pub ctype: Vec<u8>,
        /// Body.
        pub body: Vec<u8>,
    }

    /// Records the request's URL (xhttp, before the route runs).
    pub fn set_url(ctx: &mut Ctx<'_>, url: &[u8]) {
        ctx.set_module_bytes(URL, Some(url));
    }

    /// The URL of the HTTP request being handled (`$hu`), when there is
    /// one.
    pub fn url<'c>(ctx: &'c Ctx<'_>) -> Option<&'c [u8]> {
        ctx.module_bytes(URL)
    }

    /// Its path: the URL without `?query`.
    pub fn path<'c>(ctx: &'c Ctx<'_>) -> Option<&'c [u8]> {
        url(ctx).map(|u| u.split(|b| *b == b'?').next().unwrap_or(u))
    }

    /// Sets the reply (once per request, as Kamailio: a second one is an
    /// error).
    pub fn reply(ctx: &mut Ctx<'_>, code: u16, reason: &[u8], ctype: &[u8], body: &[u8]) -> Result<(), String> {
        if url(ctx).is_none() {
            return Err("not an HTTP request (event_route[xhttp:request] only)".into());
        }
        if ctx.module_int(CODE).is_some() {
            return Err("the HTTP request was already answered".into());
        }
        ctx.set_module_int(CODE, i64::from(code));
        ctx.set_module_bytes(REASON, Some(reason));
        ctx.set_module_bytes(CTYPE, Some(ctype));
        ctx.set_module_bytes(BODY, Some(body));
        Ok(())
    }

    /// The reply the route chose, if any.
    pub fn chosen(ctx: &Ctx<'_>) -> Option<Reply> {
        let code = u16::try_from(ctx.module_int(CODE)?).ok()?;
        let get = |k| ctx.module_bytes(k).unwrap_or_default().to_vec();
        Some(Reply { code, reason: get(REASON), ctype: get(CTYPE), body: get(BODY) })
    }
}

/// sl's API: the statistics of stateless replies, which every module's
/// stateless reply feeds ([`reply::send_counted`]), as Kamailio's modules
/// reply through sl.
pub mod sl_api {
    use super::{reply::Sent, ModError};

    /// The version [`SlApi`] has.
    pub const SL_API_VERSION: u32 = 1;

    /// What sl offers.
    #[derive(Debug)]
    pub struct SlApi {
        /// Counts a stateless reply with this code and outcome.
        pub count: fn(code: u16, outcome: &Result<Sent, ModError>),
    }
}

/// tm's API (Kamailio's `load_tm_api`): what tmx, and later registrar,
/// dialog and acc, call. Bind with `bind_api::<TmApi>("tm", TM_API_VERSION)`
/// in `mod_init`. Each function runs inside tm's panic guard.
pub mod tm_api {
    use super::Ctx;

    /// The version [`TmApi`] has.
    pub const TM_API_VERSION: u32 = 1;

    /// Which branches `cancel_branches` cancels.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Which {
        /// Every pending branch.
        All,
        /// Every pending branch but the current one.
        Others,
        /// The current branch.
        This,
    }

    /// A transaction's name: its hash index and label.
    pub type TxId = (u32, u32);
    /// A status code and its reason phrase.
    pub type Status = (u16, Vec<u8>);
    /// What `reply_callid` does: (context, Call-ID, CSeq number, code,
    /// reason) → replied.
    pub type ReplyCallid = fn(&mut Ctx<'_>, &[u8], &[u8], u16, &str) -> Result<bool, String>;

    /// tm's functions for other modules.
    #[derive(Debug)]
    pub struct TmApi {
        /// `t_relay()` on the request of `ctx`.
        pub relay: fn(&mut Ctx<'_>) -> Result<i32, String>,
        /// `t_reply(code, reason)`: `false` when a final reply had gone.
        pub reply: fn(&mut Ctx<'_>, u16, &str) -> Result<bool, String>,
        /// The transaction of the message of `ctx` (index, label).
        pub current: fn(&Ctx<'_>) -> Result<Option<TxId>, String>,
        /// Whether a transaction exists for the request of `ctx` (it is
        /// a retransmission).
        pub exists: fn(&Ctx<'_>) -> Result<bool, String>,
        /// The branch the route runs for (reply, branch and failure routes).
        pub branch: fn(&Ctx<'_>) -> Result<Option<u32>, String>,
        /// How many branches the transaction of `ctx` has.
        pub branches: fn(&Ctx<'_>) -> Result<Option<u32>, String>,
        /// The status that concerns the route: the reply's in a reply
        /// route, the winning branch's in a failure route, the last sent
        /// upstream elsewhere; code and reason.
        pub status: fn(&Ctx<'_>) -> Result<Option<Status>, String>,
        /// The transaction's request, as the script left it at relay time.
        pub request: fn(&Ctx<'_>) -> Result<Option<Vec<u8>>, String>,
        /// The reply of the branch the route runs for (relayed form).
        pub branch_reply: fn(&Ctx<'_>) -> Result<Option<Vec<u8>>, String>,
        /// Cancels branches of the transaction; how many.
        pub cancel_branches: fn(&mut Ctx<'_>, Which) -> Result<u32, String>,
        /// Stores the message flags of `ctx` in its transaction.
        pub flush_flags: fn(&Ctx<'_>) -> Result<bool, String>,
        /// Replies to the first transaction with this Call-ID and CSeq
        /// number; `false` when there is none.
        pub reply_callid: ReplyCallid,
        /// Transactions in the table.
        pub count: fn() -> Result<usize, String>,
    }
}

/// Types for the loader tests (an API one test module offers).
#[doc(hidden)]
pub mod testing {
    /// An API with one function.
    #[derive(Debug)]
    pub struct ExampleApi {
        /// Doubles (inside the exporter's `guard_api`: a panic comes back
        /// as an error).
        pub double: fn(i64) -> Result<i64, String>,
    }
}

/// Compiles a regex given at run time as Kamailio's modules do
/// (extended, ignoring case, `^`/`$` at line ends).
pub fn compile_regex(re: &[u8]) -> Result<regex_type::Regex, String> {
    sipr_core::cfg::compile_param_regex(re)
}

#[doc(hidden)]
pub mod regex_type {
    pub use sipr_core::cfg::ParamRegex as Regex;
}

/// Local replies, shared by every module that answers statelessly (sl,
/// siputils' `options_reply`, ...): one place for RFC 3261 §8.2.6.
pub mod reply {
    use super::{Ctx, Dest, ModError};
    use sipr_core::sip::{local_reply, local_to_tag, Method, ReplyOpts, Source};

    /// The local reply [`send`] sends: Vias with received/rport, From,
    /// To tagged, Call-ID, CSeq, the script's `append_to_reply` headers
    /// and body, `extra` and `body`.
    pub fn build(ctx: &Ctx<'_>, code: u16, reason: &str, extra: &[u8], body: &[u8]) -> Result<Vec<u8>, ModError> {
        build_tagged(ctx, code, reason, extra, body, false)
    }

    /// [`build`] for a transaction's own reply (tm keeps it): its To-tag
    /// is of another family than the stateless replies' (as Kamailio's tm
    /// and sl tags), so that sl's ACK filter takes only the ACKs to
    /// stateless replies and tm sees its own.
    pub fn build_in_transaction(
        ctx: &Ctx<'_>,
        code: u16,
        reason: &str,
        extra: &[u8],
        body: &[u8],
    ) -> Result<Vec<u8>, ModError> {
        build_tagged(ctx, code, reason, extra, body, true)
    }

    /// The To-tag a stateless reply to `msg` has (what an ACK to it
    /// carries).
    pub fn stateless_to_tag(ctx: &Ctx<'_>, msg: &sipr_core::sip::SipMsg<'_>) -> Option<String> {
        local_to_tag(&tag_key(ctx, false), msg).ok().map(|t| t.as_str().to_string())
    }

    /// The key of a local To-tag: the server's secret, another one for
    /// a transaction's replies.
    fn tag_key(ctx: &Ctx<'_>, in_transaction: bool) -> Vec<u8> {
        let mut key = ctx.core.secret.to_be_bytes().to_vec();
        if in_transaction {
            key.extend_from_slice(b"tm");
        }
        key
    }

    fn build_tagged(
        ctx: &Ctx<'_>,
        code: u16,
        reason: &str,
        extra: &[u8],
        body: &[u8],
        in_transaction: bool,
    ) -> Result<Vec<u8>, ModError> {
        if !ctx.msg.is_request() {
            return Err("a reply can only be sent to a request".into());
        }
        if !(100..=699).contains(&code) {
            return Err(format!("invalid reply code {code}").into());
        }
        // a 100 carries no To tag (local_reply leaves it out): not made
        let tag = if code > 100 { Some(local_to_tag(&tag_key(ctx, in_transaction), ctx.msg)?) } else { None };
        // the script's append_to_reply headers, then the caller's
        let headers: std::borrow::Cow<'_, [u8]> = if extra.is_empty() {
            std::borrow::Cow::Borrowed(&ctx.reply_headers)
        } else {
            std::borrow::Cow::Owned([&ctx.reply_headers[..], extra].concat())
        };
        let body = if body.is_empty() { &ctx.reply_body[..] } else { body };
        Ok(local_reply(
            ctx.msg,
            code,
            reason,
            &ReplyOpts {
                to_tag: tag.as_ref().map(|t| t.as_str()),
                source: Some(Source { ip: ctx.rcv.src.ip(), port: ctx.rcv.src.port(), force_rport: ctx.force_rport }),
                server: ctx.core.server_header.as_deref(),
                extra_headers: &headers,
                body,
            },
        )?)
    }

    /// What [`send`] did.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Sent {
        /// Sent.
        Yes,
        /// The request is an ACK: never answered (Kamailio's rule).
        AckNotAnswered,
    }

    /// [`send`], counted in sl's statistics when sl is loaded: how a
    /// module replies statelessly (Kamailio's modules reply through sl's
    /// API, which counts every reply in `sl:`).
    pub fn send_counted(
        ctx: &mut Ctx<'_>,
        code: u16,
        reason: &str,
        extra: &[u8],
        body: &[u8],
    ) -> Result<Sent, ModError> {
        static SL: std::sync::OnceLock<Option<&'static crate::sl_api::SlApi>> = std::sync::OnceLock::new();
        let sent = send(ctx, code, reason, extra, body);
        let sl = *SL.get_or_init(|| crate::bind_api::<crate::sl_api::SlApi>("sl", crate::sl_api::SL_API_VERSION).ok());
        if let Some(sl) = sl {
            (sl.count)(code, &sent);
        }
        sent
    }

    /// Replies as Kamailio's sl `freply` does for registrar and auth:
    /// statefully through tm when the request has a transaction, else
    /// with [`send_counted`]. Whether a reply went out.
    pub fn send_auto(ctx: &mut Ctx<'_>, code: u16, reason: &str) -> Result<bool, ModError> {
        static TM: std::sync::OnceLock<Option<&'static crate::tm_api::TmApi>> = std::sync::OnceLock::new();
        let tm = *TM.get_or_init(|| crate::bind_api::<crate::tm_api::TmApi>("tm", crate::tm_api::TM_API_VERSION).ok());
        if let Some(tm) = tm {
            if (tm.current)(ctx)?.is_some() {
                return Ok((tm.reply)(ctx, code, reason)?);
            }
        }
        Ok(send_counted(ctx, code, reason, b"", b"")? == Sent::Yes)
    }

    /// Sends a local reply to the request in `ctx`, to its source: Vias
    /// (received/rport filled in), From, To (tagged when it had none, the
    /// tag a function of the request and the server's secret, so a
    /// retransmission gets the same), Call-ID, CSeq, the script's
    /// `append_to_reply` headers and `set_reply_body` body, then `extra`
    /// headers and `body` (when non-empty, replacing the script's).
    pub fn send(ctx: &mut Ctx<'_>, code: u16, reason: &str, extra: &[u8], body: &[u8]) -> Result<Sent, ModError> {
        if ctx.msg.method() == Some(Method::Ack) {
            return Ok(Sent::AckNotAnswered);
        }
        let data = build(ctx, code, reason, extra, body)?;
        ctx.out
            .send(Dest::Source { symmetric: ctx.force_rport, conn: ctx.send_flags.reply() }, &data)
            .map_err(|e| ModError(format!("cannot send the reply: {e}")))?;
        Ok(Sent::Yes)
    }
}

/// A pseudo-variable class for [`module!`]'s `pvs: [...]`, with its
/// fixup, getter and (optional) setter wrapped so that a panic stays in
/// the module: `sipr_sdk::pv_class!("sht", fixup, get, set)` (the core's
/// `guarded_pv_class!`, expanded in the module).
pub use sipr_core::guarded_pv_class as pv_class;
