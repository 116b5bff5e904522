//! The module ABI: what crosses between the core and a module's cdylib.

use crate::cfg::{Ctx, Dest, FnDef, ModValue, PvClass};

/// Bumped whenever the shape of [`CoreApi`] or [`ModuleHeader`] changes.
pub const ABI_VERSION: u32 = 21;

/// Where the core hands bytes back during a call: `sink(ctx, bytes, len)`
/// (the range is live for the call only).
pub type ByteSink = extern "C" fn(ctx: *mut std::ffi::c_void, data: *const u8, len: usize);

/// This build's id (see build.rs): a module must carry the same one.
pub const BUILD_ID: &str = env!("SIPR_BUILD_ID");

/// The cargo features of the crates both sides link (sipr-mem's, shifted
/// by nothing; others would take the next bits): part of the identity the
/// loader checks, since a feature can change a shared type's layout.
pub const FEATURES: u32 = sipr_mem::FEATURES;

/// The data symbol every module exports: its [`ModuleHeader`], read and
/// checked by the loader before any code of the module runs.
pub const HEADER_SYMBOL: &str = "sipr_module_header";

/// The function symbol every module exports: run once the header passed,
/// it takes the core's service table; 0 means the module is ready.
pub const INIT_SYMBOL: &str = "sipr_module_init";

/// The module's entry point ([`INIT_SYMBOL`]).
pub type InitFn = unsafe extern "C" fn(core: *const CoreApi) -> i32;

/// Log levels across the boundary (`log::Level` as a number).
pub type LogLevel = u32;

/// Services the core offers a module: process-global state reaches the
/// module only through here. A `static` in the core, so it outlives every
/// module.
#[repr(C)]
#[derive(Debug)]
pub struct CoreApi {
    /// [`ABI_VERSION`] of the core.
    pub abi_version: u32,
    /// Length of the build id text.
    pub build_id_len: usize,
    /// The core's build id text.
    pub build_id: *const u8,
    /// Logs a line through the core's logger: level (1 = error .. 5 =
    /// trace), target and message as UTF-8 byte ranges.
    pub log: extern "C" fn(level: LogLevel, target: *const u8, target_len: usize, msg: *const u8, msg_len: usize),
    /// The most verbose level the core logs (0 = off .. 5 = trace).
    pub max_level: extern "C" fn() -> LogLevel,
    /// Gives the calling process a `debug` level of its own (kex's
    /// `setdebug`), or (`reset` non-zero) back to the global one.
    pub set_process_debug: extern "C" fn(level: i32, reset: u8),
    /// The `debug` level in effect in the calling process (Kamailio's
    /// numbers: L_NOTICE 1, L_INFO 2, L_DBG 3).
    pub debug_level: extern "C" fn() -> i32,
    /// The server's shared-memory pool (`sipr_mem::ShmPool`, readable
    /// because the build id matched), or null before it exists.
    pub shm_pool: extern "C" fn() -> *const sipr_mem::ShmPool,
    /// Finds a loaded module's API by name (UTF-8 range): the
    /// [`ApiDef`], or null when no loaded module offers it.
    pub find_api: extern "C" fn(name: *const u8, name_len: usize) -> *const ApiDef,
    /// Registers (or finds) the statistics counter `group:name` with its
    /// description for `cnt.help` (UTF-8 ranges; an empty description:
    /// the default); a shm atomic every process shares, or null.
    /// `resettable` 0: the reset commands leave it (Kamailio's
    /// STAT_NO_RESET and computed statistics).
    pub counter: extern "C" fn(
        group: *const u8,
        group_len: usize,
        name: *const u8,
        name_len: usize,
        help: *const u8,
        help_len: usize,
        resettable: i32,
    ) -> *const std::sync::atomic::AtomicU64,
    /// The descriptor on which the xhttp process receives the HTTP
    /// connections the TCP readers hand over (each datagram: the bytes
    /// read, with the connection's descriptor attached), or -1 when the
    /// server has no such channel. Borrowed: the SDK duplicates it.
    pub http_channel: extern "C" fn() -> i32,
    /// Every statistic, as lines `group\tname\tvalue\n` handed to
    /// `sink(ctx, bytes, len)` (once, during the call).
    pub stats_dump: extern "C" fn(sink: ByteSink, ctx: *mut std::ffi::c_void),
    /// Registers a runtime-changeable variable (`cfg.get` / `cfg.set`;
    /// main process, before the fork): its value's shm word (an i64's
    /// bits) every process reads, or null.
    pub cfg_var: extern "C" fn(def: *const CfgVarDef) -> *const std::sync::atomic::AtomicU64,
    /// Registers a runtime-changeable text variable (main process, before
    /// the fork; `def`'s numbers unused) starting at `initial` (a UTF-8
    /// range): a shm word every change bumps, or null.
    pub cfg_str_var: extern "C" fn(
        def: *const CfgVarDef,
        initial: *const u8,
        initial_len: usize,
    ) -> *const std::sync::atomic::AtomicU64,
    /// The current text of the variable `group:name` (UTF-8 ranges),
    /// handed to `sink(ctx, bytes, len)` once during the call; 0 when it
    /// exists, -1 when not.
    pub cfg_str_read: extern "C" fn(
        group: *const u8,
        group_len: usize,
        name: *const u8,
        name_len: usize,
        sink: ByteSink,
        ctx: *mut std::ffi::c_void,
    ) -> i32,
    /// Registers a timer run by the timer process (before the fork):
    /// name (UTF-8 range), interval in ms, periodic (1) or once (0), the
    /// callback and its argument. 0 on success.
    pub timer: extern "C" fn(
        name: *const u8,
        name_len: usize,
        ms: u64,
        periodic: u8,
        cb: crate::timer::TimerFn,
        arg: usize,
    ) -> i32,
    /// Arms a timer on the shm wheel (any process, any time): after `ms`
    /// the timer process calls `handler(data, arg)` — or hands the call to
    /// an async worker when `in_worker` is 1 —, again after what it
    /// returns until that is 0. Writes the timer's id to `out`; 0 on
    /// success, -1 when the pool is full or there is no wheel.
    pub timer_arm: extern "C" fn(
        ms: u64,
        handler: sipr_mem::TimerHandler,
        data: usize,
        arg: u64,
        in_worker: u8,
        out: *mut sipr_mem::TimerId,
    ) -> i32,
    /// Cancels a wheel timer: 1 cancelled, 2 its handler is running now
    /// (it will not run again), 0 stale (already done or cancelled).
    pub timer_cancel: extern "C" fn(id: sipr_mem::TimerId) -> i32,
    /// Runs one request in the encoding `codec` names (a [`RpcCodec`]:
    /// JSON-RPC text or one binrpc packet) against the server's RPC
    /// commands and hands the reply bytes to `sink(ctx, bytes, len)`
    /// (called at most once, during the call). 0 when answered, -1 when
    /// the bytes are not a JSON request (no answer is due; a binrpc
    /// packet is always answered).
    pub rpc_exec:
        extern "C" fn(codec: u32, req: *const u8, len: usize, sink: ByteSink, ctx: *mut std::ffi::c_void) -> i32,
    /// The cfg's `run_dir` (UTF-8; its length written to `len`).
    pub run_dir: extern "C" fn(len: *mut usize) -> *const u8,
    /// Runs route `idx` of the script on the message of `ctx` (a
    /// `*mut Ctx`), writing how it ended to `out`: 0, or -1 when this
    /// process runs no script.
    pub run_route: extern "C" fn(idx: usize, ctx: *mut std::ffi::c_void, out: *mut crate::cfg::Outcome) -> i32,
    /// Sends `data` to `dest` (a `*const Dest`: a host or an address)
    /// from this process, outside the handling of a message (tm's
    /// timers): 0 sent, -1 not (the reason logged at debug level).
    pub send: extern "C" fn(dest: *const std::ffi::c_void, data: *const u8, len: usize) -> i32,
    /// Resolves a next hop as RFC 3263 (host as a UTF-8 range; `fixed`
    /// points at the port and protocol, `None` when not fixed), writing
    /// target number `nth` (0: the first choice; then the next SRV
    /// target or address, for DNS failover) to `out`: 0, or -1 when
    /// there is no such target.
    pub resolve: extern "C" fn(
        host: *const u8,
        len: usize,
        fixed: *const (Option<u16>, Option<crate::net::Proto>),
        nth: usize,
        out: *mut (std::net::SocketAddr, crate::net::Proto),
    ) -> i32,
    /// The destination blocklist ([`crate::blocklist`]): with `add` 0,
    /// whether `to` (a `*const SocketAddr`) over `proto` is listed — its
    /// reason bits, 0 when not or when `use_dst_blocklist` is off; with
    /// `add` 1, lists it for `reasons` and `expire_s` seconds (< 0:
    /// `dst_blocklist_expire`) — 1 when listed.
    pub blocklist: extern "C" fn(
        add: u8,
        proto: crate::net::Proto,
        to: *const std::net::SocketAddr,
        reasons: u8,
        expire_s: i64,
    ) -> i32,
    /// Runs `cb(arg)` in a short-lived child of the main process and waits
    /// for it (main process, before the workers are forked): work that
    /// needs a connection the main process must not hold across the fork,
    /// such as loading a table from a database into shm. The child's exit
    /// code (`cb`'s return value; 101 when it panicked), or -1 when it
    /// could not run.
    pub run_in_child: extern "C" fn(cb: extern "C" fn(*mut std::ffi::c_void) -> i32, arg: *mut std::ffi::c_void) -> i32,
    /// The server's facts (listen sockets, aliases, Server header), or
    /// null before the fork.
    pub core_info: extern "C" fn() -> *const crate::cfg::CoreInfo,
    /// The index of `event_route[NAME]` (a UTF-8 range) for run_route, or
    /// -1 when the script has none.
    pub event_route: extern "C" fn(name: *const u8, len: usize) -> i64,
    /// The id of AVP `NAME` (a UTF-8 range: `x`, `s:x` or `i:N`, as in
    /// `$avp(...)`), the same as the script's for a name it uses; made in
    /// the main process (mod_init: a parameter that names an AVP), -1
    /// before the cfg compiled or after the fork.
    pub avp_id: extern "C" fn(name: *const u8, len: usize) -> i64,
}

/// The cfg's AVP names (the compiled program's), which module parameters
/// that name AVPs extend in mod_init.
static AVP_NAMES: std::sync::Mutex<Option<crate::cfg::Names>> = std::sync::Mutex::new(None);

/// Hands the compiled cfg's names to `avp_id` (before mod_init).
pub fn set_avp_names(names: crate::cfg::Names) {
    if let Ok(mut n) = AVP_NAMES.lock() {
        *n = Some(names);
    }
}

extern "C" fn core_avp_id(name: *const u8, len: usize) -> i64 {
    crate::guard::contained("core.avp_id", -1, || {
        // SAFETY: the SDK passes a live byte range for this call.
        let name = unsafe { std::slice::from_raw_parts(name, len) };
        let Ok(name) = std::str::from_utf8(name) else { return -1 };
        let Ok(mut names) = AVP_NAMES.lock() else { return -1 };
        names.as_mut().map_or(-1, |n| i64::from(n.avp_id(name)))
    })
}

// SAFETY: the table is immutable after construction and its pointers
// (the build id text) point to 'static data; sharing it is safe.
unsafe impl Sync for CoreApi {}

/// What a module shows the core before anything of it runs: a `static`
/// exported as [`HEADER_SYMBOL`]. `#[repr(C)]`, and its first fields never
/// move, so that the version, build id and features can be checked
/// whatever build made the module.
#[repr(C)]
#[derive(Debug)]
pub struct ModuleHeader {
    /// The module's [`ABI_VERSION`].
    pub abi_version: u32,
    /// The module's [`FEATURES`].
    pub features: u32,
    /// Length of the module's build id text.
    pub build_id_len: usize,
    /// The build id of the core the module was built against.
    pub build_id: *const u8,
    /// The module's definition; read only after the checks pass.
    pub def: *const ModuleDef,
}

// SAFETY: a header is a static of the module pointing to static data
// (the build id text and the module definition), never mutated.
unsafe impl Sync for ModuleHeader {}

impl ModuleHeader {
    /// A header for `def`, stamped with this build's id (the SDK's macro
    /// builds one in each module).
    pub const fn new(def: &'static ModuleDef) -> Self {
        Self::with_build_id(def, BUILD_ID)
    }

    /// A header claiming another build id (tests of the refusal).
    #[doc(hidden)]
    pub const fn with_build_id(def: &'static ModuleDef, build_id: &'static str) -> Self {
        ModuleHeader {
            abi_version: ABI_VERSION,
            features: FEATURES,
            build_id_len: build_id.len(),
            build_id: build_id.as_ptr(),
            def,
        }
    }
}

/// Process ranks passed to `child_init`, as Kamailio's: the main process,
/// the timer, the RPC process, the TCP main process, SIP workers from 1.
pub mod rank {
    /// The main (attendant) process, before the fork.
    pub const MAIN: i32 = 0;
    /// The timer process.
    pub const TIMER: i32 = -1;
    /// The RPC (control) process.
    pub const RPC: i32 = -2;
    /// The TCP main process.
    pub const TCP_MAIN: i32 = -4;
    /// The first SIP worker; workers are numbered from here.
    pub const SIP_WORKER_1: i32 = 1;
}

/// An API a module offers to others: found by name, checked by version,
/// then downcast to the concrete type (a type from a crate both modules
/// depend on, built once in the same build). Its functions are called
/// from the binding module's code: each returns `Result` and runs its
/// body inside the exporter's `sipr_sdk::guard_api`, since only the
/// exporter's std can catch a panic raised there.
pub struct ApiDef {
    /// Name (`tm`, `usrloc`, ...).
    pub name: &'static str,
    /// Version: a binder asking for another one is refused.
    pub version: u32,
    /// The API: a static of the exporting module.
    pub api: &'static (dyn std::any::Any + Send + Sync),
}

impl std::fmt::Debug for ApiDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiDef").field("name", &self.name).field("version", &self.version).finish_non_exhaustive()
    }
}

/// An extra process a module asks for.
#[derive(Debug, Clone, Copy)]
pub struct ProcDef {
    /// Description, as `core.ps` shows it.
    pub desc: &'static str,
    /// How many: asked after mod_init, when the module's parameters say
    /// (jsonrpcs runs its FIFO process only with the FIFO transport); a
    /// panic counts as none.
    pub count: fn() -> u32,
    /// The process body, given its index (0..count); it returns when the
    /// process should exit.
    pub run: fn(u32),
}

/// A `modparam` a module accepts.
#[derive(Debug, Clone, Copy)]
pub struct ModParamDef {
    /// Parameter name.
    pub name: &'static str,
    /// What it takes.
    pub kind: ModParamKind,
    /// Stores the value (in the module's own statics; called before the
    /// fork, so every process sees it). The error says why it is refused.
    pub set: fn(&ModValue) -> Result<(), String>,
}

/// The type of a module parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModParamKind {
    /// A number (Kamailio's INT_PARAM).
    Int,
    /// A string (STR_PARAM).
    Str,
    /// Either (`PARAM_USE_FUNC` parameters that take both).
    Any,
}

/// A module's reply hook (Kamailio's `response_f`): called for every
/// reply after the core's `reply_route`; `true` when the module took the
/// reply (tm matched it to a transaction), so the core does not forward it
/// statelessly.
pub type ResponseHook = fn(&mut Ctx<'_>) -> bool;

/// A module's hook before the request route (see
/// [`ModuleDef::pre_script`]): `false` drops the request.
pub type PreScriptHook = fn(&mut Ctx<'_>) -> bool;

/// A module's hook after the request route (see [`ModuleDef::post_script`]).
pub type PostScriptHook = fn(&mut Ctx<'_>);

/// A module's exports, as Rust types (read after the header checks).
#[derive(Debug)]
pub struct ModuleDef {
    /// Module name (`sl`, `tm`, ...), as in `modparam("sl", ...)`.
    pub name: &'static str,
    /// Script functions.
    pub functions: &'static [FnDef],
    /// `modparam` parameters.
    pub params: &'static [ModParamDef],
    /// Pseudo-variable classes.
    pub pvs: &'static [PvClass],
    /// RPC commands.
    pub rpcs: &'static [crate::rpc::RpcDef],
    /// APIs other modules bind to by name (as Kamailio's `load_tm_api`).
    pub apis: &'static [ApiDef],
    /// Extra processes the module wants forked (Kamailio's
    /// `register_procs` + a process function), started by the runtime.
    pub procs: &'static [ProcDef],
    /// `mod_init`: after every modparam, before the fork.
    pub init: Option<fn() -> Result<(), String>>,
    /// `child_init(rank)`: in each process after the fork.
    pub child_init: Option<fn(i32) -> Result<(), String>>,
    /// `destroy`: at shutdown, in the main process.
    pub destroy: Option<fn()>,
    /// The reply hook, if the module has one.
    pub response: Option<ResponseHook>,
    /// Called after the request route ran on a request (Kamailio's
    /// post-script callbacks: tm ends what the script left unfinished).
    pub post_script: Option<PostScriptHook>,
    /// Called on a request before the request route (Kamailio's
    /// pre-script callbacks: sl absorbs the ACKs to its own replies);
    /// `false`: the request goes no further, no route runs.
    pub pre_script: Option<PreScriptHook>,
}

/// The core's log function, exported to modules.
extern "C" fn core_log(level: LogLevel, target: *const u8, target_len: usize, msg: *const u8, msg_len: usize) {
    // a logger that panics cannot log that it did: dropped silently
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the SDK passes pointers to live UTF-8 byte ranges of the
        // given lengths for the duration of this call (a &str it holds).
        let (target, msg) =
            unsafe { (std::slice::from_raw_parts(target, target_len), std::slice::from_raw_parts(msg, msg_len)) };
        let level = match level {
            1 => log::Level::Error,
            2 => log::Level::Warn,
            3 => log::Level::Info,
            4 => log::Level::Debug,
            _ => log::Level::Trace,
        };
        let target = String::from_utf8_lossy(target);
        log::log!(target: &target, level, "{}", String::from_utf8_lossy(msg));
    }));
}

extern "C" fn core_set_process_debug(level: i32, reset: u8) {
    crate::runtime::log::set_local_debug((reset == 0).then_some(level));
}

extern "C" fn core_debug_level() -> i32 {
    crate::runtime::log::effective_debug()
}

extern "C" fn core_max_level() -> LogLevel {
    log::max_level() as LogLevel
}

extern "C" fn core_shm_pool() -> *const sipr_mem::ShmPool {
    crate::guard::contained("core.shm_pool", std::ptr::null(), || {
        crate::shm::pool().map_or(std::ptr::null(), |p| p as *const _)
    })
}

extern "C" fn core_find_api(name: *const u8, name_len: usize) -> *const ApiDef {
    crate::guard::contained("core.find_api", std::ptr::null(), || {
        // SAFETY: the SDK passes a live UTF-8 byte range for this call.
        let name = unsafe { std::slice::from_raw_parts(name, name_len) };
        super::loader::find_api(name).map_or(std::ptr::null(), |a| a as *const ApiDef)
    })
}

/// A runtime variable as a module declares it ([`CoreApi::cfg_var`]):
/// UTF-8 ranges and numbers, valid for the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CfgVarDef {
    /// Group (the module's name).
    pub group: *const u8,
    /// Its length.
    pub group_len: usize,
    /// Name.
    pub name: *const u8,
    /// Its length.
    pub name_len: usize,
    /// `cfg.help`'s text.
    pub help: *const u8,
    /// Its length.
    pub help_len: usize,
    /// The value it starts with.
    pub initial: i64,
    /// Lowest value `cfg.set` takes.
    pub min: i64,
    /// Highest value `cfg.set` takes.
    pub max: i64,
    /// 1 when `cfg.get` may read it.
    pub readable: u8,
}

impl CfgVarDef {
    /// The declaration of `group:name` (the ranges borrowed for the call
    /// it is passed to).
    pub fn of(group: &str, name: &str, help: &str, initial: i64, bounds: (i64, i64), readable: bool) -> CfgVarDef {
        CfgVarDef {
            group: group.as_ptr(),
            group_len: group.len(),
            name: name.as_ptr(),
            name_len: name.len(),
            help: help.as_ptr(),
            help_len: help.len(),
            initial,
            min: bounds.0,
            max: bounds.1,
            readable: u8::from(readable),
        }
    }
}

/// A declaration's group, name and help as text (`None`: not UTF-8).
///
/// # Safety
/// `def` points to a live [`CfgVarDef`] whose ranges are live for the call.
unsafe fn def_texts<'a>(def: *const CfgVarDef) -> Option<(&'a CfgVarDef, &'a str, &'a str, &'a str)> {
    // SAFETY: the caller's contract.
    let (d, group, name, help) = unsafe {
        let d = &*def;
        (
            d,
            std::slice::from_raw_parts(d.group, d.group_len),
            std::slice::from_raw_parts(d.name, d.name_len),
            std::slice::from_raw_parts(d.help, d.help_len),
        )
    };
    Some((d, std::str::from_utf8(group).ok()?, std::str::from_utf8(name).ok()?, std::str::from_utf8(help).ok()?))
}

/// A registration's word for the module, or null (logged).
fn registered(
    group: &str,
    name: &str,
    r: Result<&'static std::sync::atomic::AtomicU64, String>,
) -> *const std::sync::atomic::AtomicU64 {
    match r {
        Ok(w) => w as *const _,
        Err(e) => {
            log::error!("cfg variable {group}:{name}: {e}");
            std::ptr::null()
        }
    }
}

extern "C" fn core_stats_dump(sink: ByteSink, ctx: *mut std::ffi::c_void) {
    crate::guard::contained("core.stats_dump", (), || {
        let mut text = String::new();
        for (g, n, v) in crate::stats::snapshot() {
            text.push_str(&format!("{g}\t{n}\t{v}\n"));
        }
        sink(ctx, text.as_ptr(), text.len());
    })
}

extern "C" fn core_http_channel() -> i32 {
    use std::os::fd::AsRawFd;
    crate::runtime::tcp::http::receiver().map_or(-1, |r| r.as_raw_fd())
}

extern "C" fn core_cfg_var(def: *const CfgVarDef) -> *const std::sync::atomic::AtomicU64 {
    crate::guard::contained("core.cfg_var", std::ptr::null(), || {
        // SAFETY: the SDK passes a live CfgVarDef whose ranges are live
        // for this call.
        let Some((d, group, name, help)) = (unsafe { def_texts(def) }) else { return std::ptr::null() };
        let def = crate::cfgvars::VarDef {
            group,
            name,
            help,
            initial: d.initial,
            min: d.min,
            max: d.max,
            readable: d.readable != 0,
        };
        registered(group, name, crate::cfgvars::register(def))
    })
}

extern "C" fn core_cfg_str_var(
    def: *const CfgVarDef,
    initial: *const u8,
    initial_len: usize,
) -> *const std::sync::atomic::AtomicU64 {
    crate::guard::contained("core.cfg_str_var", std::ptr::null(), || {
        // SAFETY: the SDK passes a live CfgVarDef and initial range whose
        // bytes are live for this call.
        let (texts, initial) = unsafe { (def_texts(def), std::slice::from_raw_parts(initial, initial_len)) };
        let (Some((_, group, name, help)), Ok(initial)) = (texts, std::str::from_utf8(initial)) else {
            return std::ptr::null();
        };
        registered(group, name, crate::cfgvars::register_str(group, name, help, initial))
    })
}

extern "C" fn core_cfg_str_read(
    group: *const u8,
    group_len: usize,
    name: *const u8,
    name_len: usize,
    sink: ByteSink,
    ctx: *mut std::ffi::c_void,
) -> i32 {
    crate::guard::contained("core.cfg_str_read", -1, || {
        // SAFETY: the SDK passes live UTF-8 ranges for this call.
        let (group, name) =
            unsafe { (std::slice::from_raw_parts(group, group_len), std::slice::from_raw_parts(name, name_len)) };
        let (Ok(group), Ok(name)) = (std::str::from_utf8(group), std::str::from_utf8(name)) else { return -1 };
        match crate::cfgvars::get(group, name) {
            Some(crate::cfgvars::CfgValue::Str(t)) => {
                sink(ctx, t.as_ptr(), t.len());
                0
            }
            Some(crate::cfgvars::CfgValue::Int(i)) => {
                let t = i.to_string();
                sink(ctx, t.as_ptr(), t.len());
                0
            }
            None => -1,
        }
    })
}

extern "C" fn core_counter(
    group: *const u8,
    group_len: usize,
    name: *const u8,
    name_len: usize,
    help: *const u8,
    help_len: usize,
    resettable: i32,
) -> *const std::sync::atomic::AtomicU64 {
    crate::guard::contained("core.counter", std::ptr::null(), || {
        // SAFETY: the SDK passes live UTF-8 byte ranges for this call.
        let (group, name, help) = unsafe {
            (
                std::slice::from_raw_parts(group, group_len),
                std::slice::from_raw_parts(name, name_len),
                std::slice::from_raw_parts(help, help_len),
            )
        };
        let (Ok(group), Ok(name), Ok(help)) =
            (std::str::from_utf8(group), std::str::from_utf8(name), std::str::from_utf8(help))
        else {
            return std::ptr::null();
        };
        crate::stats::register_kind(group, name, help, resettable != 0).map_or(std::ptr::null(), |c| c as *const _)
    })
}

extern "C" fn core_timer(
    name: *const u8,
    name_len: usize,
    ms: u64,
    periodic: u8,
    cb: crate::timer::TimerFn,
    arg: usize,
) -> i32 {
    crate::guard::contained("core.timer", -1, || {
        // SAFETY: the SDK passes a live UTF-8 byte range for this call.
        let name = unsafe { std::slice::from_raw_parts(name, name_len) };
        let name = String::from_utf8_lossy(name);
        match crate::timer::register(&name, std::time::Duration::from_millis(ms), periodic != 0, cb, arg) {
            Ok(()) => 0,
            Err(e) => {
                log::error!("{e}");
                -1
            }
        }
    })
}

extern "C" fn core_timer_arm(
    ms: u64,
    handler: sipr_mem::TimerHandler,
    data: usize,
    arg: u64,
    in_worker: u8,
    out: *mut sipr_mem::TimerId,
) -> i32 {
    crate::guard::contained("core.timer_arm", -1, || {
        let after = std::time::Duration::from_millis(ms);
        let armed = if in_worker != 0 {
            crate::timer::arm_in_worker(after, handler, data, arg)
        } else {
            crate::timer::arm(after, handler, data, arg)
        };
        match armed {
            Ok(id) => {
                // SAFETY: the SDK passes a pointer to a live TimerId slot.
                if let Some(o) = unsafe { out.as_mut() } {
                    *o = id;
                }
                0
            }
            Err(e) => {
                log::error!("timer: {e}");
                -1
            }
        }
    })
}

extern "C" fn core_timer_cancel(id: sipr_mem::TimerId) -> i32 {
    crate::guard::contained("core.timer_cancel", 0, || match crate::timer::cancel(id) {
        sipr_mem::Cancelled::Yes => 1,
        sipr_mem::Cancelled::WhileRunning => 2,
        sipr_mem::Cancelled::Stale => 0,
    })
}

/// The encodings of [`CoreApi::rpc_exec`].
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcCodec {
    /// JSON-RPC 2.0 text (jsonrpcs).
    Json = 0,
    /// One binrpc packet (ctl, kamcmd).
    Binrpc = 1,
}

extern "C" fn core_rpc_exec(codec: u32, req: *const u8, len: usize, sink: ByteSink, ctx: *mut std::ffi::c_void) -> i32 {
    crate::guard::contained("core.rpc_exec", -1, || {
        // SAFETY: the SDK passes a live byte range for this call.
        let req = unsafe { std::slice::from_raw_parts(req, len) };
        let reply = if codec == RpcCodec::Binrpc as u32 {
            Some(crate::rpc::binrpc::answer(req, crate::rpc::call_binrpc))
        } else {
            crate::rpc::json::answer_bytes(req, crate::rpc::call)
        };
        match reply {
            Some(reply) => {
                sink(ctx, reply.as_ptr(), reply.len());
                0
            }
            None => -1,
        }
    })
}

/// `run_dir`, set once before the modules' processes start.
static RUN_DIR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Records the cfg's `run_dir` for modules (main process, before
/// `mod_init`).
pub fn set_run_dir(dir: &str) {
    let _ = RUN_DIR.set(dir.to_string());
}

extern "C" fn core_run_dir(len: *mut usize) -> *const u8 {
    let d = RUN_DIR.get().map_or("/run/sipr", String::as_str);
    // SAFETY: the SDK passes a pointer to a live usize.
    if let Some(l) = unsafe { len.as_mut() } {
        *l = d.len();
    }
    d.as_ptr()
}

extern "C" fn core_run_route(idx: usize, ctx: *mut std::ffi::c_void, out: *mut crate::cfg::Outcome) -> i32 {
    crate::guard::contained("core.run_route", -1, || {
        let Some(net) = crate::runtime::current_net() else { return -1 };
        // SAFETY: the SDK passes a `&mut Ctx` of the calling module, live
        // and unaliased for this call; the build id check guarantees
        // `Ctx` has the core's layout.
        let ctx = unsafe { &mut *ctx.cast::<Ctx<'_>>() };
        let outcome = net.prog.run(idx, ctx);
        // SAFETY: the SDK passes a pointer to a live Outcome slot.
        if let Some(o) = unsafe { out.as_mut() } {
            *o = outcome;
        }
        0
    })
}

extern "C" fn core_send(dest: *const std::ffi::c_void, data: *const u8, len: usize) -> i32 {
    crate::guard::contained("core.send", -1, || {
        let Some(net) = crate::runtime::current_net() else { return -1 };
        // SAFETY: the SDK passes a `&Dest` and a byte range, both live for
        // this call; same build, same layout.
        let (dest, data) = unsafe { (*dest.cast::<Dest<'_>>(), std::slice::from_raw_parts(data, len)) };
        match net.send_detached(dest, data) {
            Ok(()) => 0,
            Err(e) => {
                log::debug!("send: {e}");
                -1
            }
        }
    })
}

extern "C" fn core_resolve(
    host: *const u8,
    len: usize,
    fixed: *const (Option<u16>, Option<crate::net::Proto>),
    nth: usize,
    out: *mut (std::net::SocketAddr, crate::net::Proto),
) -> i32 {
    crate::guard::contained("core.resolve", -1, || {
        let Some(net) = crate::runtime::current_net() else { return -1 };
        // SAFETY: the SDK passes a live byte range and a live pair for
        // this call.
        let (host, (port, proto)) = unsafe { (std::slice::from_raw_parts(host, len), *fixed) };
        match net.resolve_nth(host, port, proto, nth) {
            Ok(r) => {
                // SAFETY: the SDK passes a pointer to a live slot.
                if let Some(o) = unsafe { out.as_mut() } {
                    *o = r;
                }
                0
            }
            Err(e) => {
                log::debug!("resolve {}: {e}", String::from_utf8_lossy(host));
                -1
            }
        }
    })
}

extern "C" fn core_info() -> *const crate::cfg::CoreInfo {
    crate::runtime::current_net().map_or(std::ptr::null(), |n| n.info as *const _)
}

extern "C" fn core_event_route(name: *const u8, len: usize) -> i64 {
    crate::guard::contained("core.event_route", -1, || {
        let Some(net) = crate::runtime::current_net() else { return -1 };
        // SAFETY: the SDK passes a live byte range for this call.
        let name = unsafe { std::slice::from_raw_parts(name, len) };
        let Ok(name) = std::str::from_utf8(name) else { return -1 };
        net.prog.event_route(name).map_or(-1, |i| i as i64)
    })
}

extern "C" fn core_blocklist(
    add: u8,
    proto: crate::net::Proto,
    to: *const std::net::SocketAddr,
    reasons: u8,
    expire_s: i64,
) -> i32 {
    crate::guard::contained("core.blocklist", 0, || {
        // SAFETY: the SDK passes a pointer to a live address for this call.
        let Some(to) = (unsafe { to.as_ref() }).copied() else { return 0 };
        if add == 0 {
            return crate::blocklist::check(proto, to).map_or(0, i32::from);
        }
        let expire = u64::try_from(expire_s).ok().map(std::time::Duration::from_secs);
        i32::from(crate::blocklist::add(proto, to, reasons, expire))
    })
}

extern "C" fn core_run_in_child(cb: extern "C" fn(*mut std::ffi::c_void) -> i32, arg: *mut std::ffi::c_void) -> i32 {
    use sipr_locking::process::{self, ExitStatus};
    crate::guard::contained("core.run_in_child", -1, || {
        if crate::runtime::current_net().is_some() {
            log::error!("run_in_child: only the main process runs it, before the fork");
            return -1;
        }
        // SAFETY: the main process calls this from mod_init, before any
        // worker is forked, when it has no other thread (sipr starts none
        // before the last fork); the child only runs `cb` and _exits.
        let pid = match unsafe { process::fork_child(|| cb(arg)) } {
            Ok(pid) => pid,
            Err(e) => {
                log::error!("run_in_child: fork: {e}");
                return -1;
            }
        };
        match process::wait_pid(pid) {
            Ok(ExitStatus::Exited(code)) => code,
            Ok(ExitStatus::Signaled(sig)) => {
                log::error!("run_in_child: the child was killed by signal {sig}");
                -1
            }
            Err(e) => {
                log::error!("run_in_child: wait: {e}");
                -1
            }
        }
    })
}

/// The table handed to every module.
pub static CORE_API: CoreApi = CoreApi {
    abi_version: ABI_VERSION,
    build_id_len: BUILD_ID.len(),
    build_id: BUILD_ID.as_ptr(),
    log: core_log,
    max_level: core_max_level,
    set_process_debug: core_set_process_debug,
    debug_level: core_debug_level,
    shm_pool: core_shm_pool,
    find_api: core_find_api,
    counter: core_counter,
    cfg_var: core_cfg_var,
    cfg_str_var: core_cfg_str_var,
    cfg_str_read: core_cfg_str_read,
    http_channel: core_http_channel,
    stats_dump: core_stats_dump,
    timer: core_timer,
    timer_arm: core_timer_arm,
    timer_cancel: core_timer_cancel,
    rpc_exec: core_rpc_exec,
    run_dir: core_run_dir,
    run_route: core_run_route,
    send: core_send,
    resolve: core_resolve,
    blocklist: core_blocklist,
    run_in_child: core_run_in_child,
    core_info,
    event_route: core_event_route,
    avp_id: core_avp_id,
};
