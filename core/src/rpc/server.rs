//! The core's RPC commands about the server itself (`core.uptime`,
//! `core.info`, `core.sockets_list`, ...), in Kamailio's shapes — the
//! member names and types its `kamcmd` output and JSON replies have, as
//! Kamailio 5.6 answers them. What they report is fixed at start-up
//! ([`publish`], main process, before the fork), except the live figures
//! they read from the tables (TCP connections).

use std::sync::OnceLock;

use super::{RpcDef, RpcError, RpcValue};
use crate::net::Proto;

/// What the server is, as the commands report it.
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    /// When the server started (seconds since the epoch).
    pub started: i64,
    /// The pid of the main process (`core.kill` signals it).
    pub main_pid: i32,
    /// Bound listen sockets: protocol, address, port.
    pub sockets: Vec<(Proto, String, u16)>,
    /// `alias=` entries: host and port (0: any).
    pub aliases: Vec<(String, u16)>,
    /// Loaded modules, in load order.
    pub modules: Vec<String>,
    /// The preprocessor's defines.
    pub defines: Vec<String>,
    /// TCP readers and the connection limit.
    pub tcp_readers: u32,
    /// `tcp_max_connections`.
    pub tcp_max_connections: u32,
    /// The TCP settings in effect, as `core.tcp_options` names them.
    pub tcp_options: Vec<(&'static str, i64)>,
    /// `udp4_raw`, `udp4_raw_mtu`, `udp4_raw_ttl` (the system's when -1).
    pub udp4_raw: [i64; 3],
}

static FACTS: OnceLock<ServerFacts> = OnceLock::new();

/// Records the facts (main process, before the fork).
pub fn publish(facts: ServerFacts) {
    let _ = FACTS.set(facts);
}

/// The loaded modules, in load order.
pub fn module_names() -> Vec<String> {
    FACTS.get().map(|f| f.modules.clone()).unwrap_or_default()
}

fn facts() -> Result<&'static ServerFacts, RpcError> {
    FACTS.get().ok_or_else(|| RpcError::new(500, "the server is not started"))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn s(v: impl Into<String>) -> RpcValue {
    RpcValue::Str(v.into())
}

/// What sipr is built with, in the words of Kamailio's `core.flags`: the
/// features an operator's scripts and monitoring test for.
pub const FLAGS: &str =
    "USE_TCP, USE_SCTP, DISABLE_NAGLE, SHM_MMAP, USE_FUTEX, USE_DNS_FAILOVER, USE_NAPTR, USE_DST_BLOCKLIST";

fn uptime(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let f = facts()?;
    let now = now();
    Ok(RpcValue::Struct(vec![
        ("now".into(), s(crate::cfg::timefmt::ctime(now))),
        ("up_since".into(), s(crate::cfg::timefmt::ctime(f.started))),
        ("uptime".into(), RpcValue::Int(now - f.started)),
    ]))
}

fn info(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(RpcValue::Struct(vec![
        ("version".into(), s(format!("sipr {}", crate::VERSION))),
        ("id".into(), s(option_env!("SIPR_GIT_ID").unwrap_or("unknown"))),
        ("compiler".into(), s(option_env!("SIPR_RUSTC").unwrap_or("rustc"))),
        ("compiled".into(), s("")),
        ("flags".into(), s(FLAGS)),
    ]))
}

/// `core.runinfo`: what runs, since when (Kamailio's members; the name
/// and version are sipr's).
fn runinfo(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let f = facts()?;
    let now = now();
    let up = (now - f.started).max(0);
    Ok(RpcValue::Struct(vec![
        ("name".into(), s("sipr")),
        ("version".into(), s(crate::VERSION)),
        ("sourceid".into(), s(option_env!("SIPR_GIT_ID").unwrap_or("unknown"))),
        ("compiler".into(), s(option_env!("SIPR_RUSTC").unwrap_or("rustc"))),
        ("compiled".into(), s("")),
        ("time_now".into(), s(crate::cfg::timefmt::ctime(now))),
        ("time_started".into(), s(crate::cfg::timefmt::ctime(f.started))),
        ("uptime_secs".into(), RpcValue::Int(up)),
        ("utime_days".into(), s(format!("{}d {}h {}m {}s", up / 86400, up % 86400 / 3600, up % 3600 / 60, up % 60))),
    ]))
}

/// `core.arg`: the command line the server was started with.
fn arg(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(RpcValue::Array(std::env::args().map(s).collect()))
}

/// `core.pwd`: the working directory (a list of one, as Kamailio's).
fn pwd(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let dir = std::env::current_dir().map_err(|e| RpcError::new(500, format!("getcwd failed: {e}")))?;
    Ok(RpcValue::Array(vec![s(dir.to_string_lossy())]))
}

/// `core.printi`: the parameters back as numbers (one that is not: 0).
fn printi(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(RpcValue::Array(p.iter().map(|v| RpcValue::Int(v.as_int().unwrap_or(0))).collect()))
}

/// `core.prints`: the parameters back as strings.
fn prints(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    echo(p)
}

/// `core.tcp_options`: the TCP settings in effect.
fn tcp_options(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(RpcValue::Struct(facts()?.tcp_options.iter().map(|(n, v)| (n.to_string(), RpcValue::Int(*v))).collect()))
}

/// `core.udp4_raw_info`: the raw-socket UDP settings (sipr sends through
/// ordinary sockets: `udp4_raw` is 0).
fn udp4_raw_info(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let [raw, mtu, ttl] = facts()?.udp4_raw;
    Ok(RpcValue::Struct(vec![
        ("udp4_raw".into(), RpcValue::Int(raw)),
        ("udp4_raw_mtu".into(), RpcValue::Int(mtu)),
        ("udp4_raw_ttl".into(), RpcValue::Int(ttl)),
    ]))
}

/// `corex.list_sockets`: the listen sockets, in corex's shape.
fn corex_list_sockets(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(RpcValue::Array(
        facts()?
            .sockets
            .iter()
            .map(|(proto, addr, port)| {
                RpcValue::Struct(vec![
                    ("PROTO".into(), s(proto_name(*proto))),
                    ("NAME".into(), s(addr.clone())),
                    ("ADDRLIST".into(), RpcValue::Struct(vec![("ADDR".into(), s(addr.clone()))])),
                    ("PORT".into(), s(port.to_string())),
                    ("MCAST".into(), s("no")),
                    ("MHOMED".into(), s("no")),
                    ("VIRTUAL".into(), s("no")),
                    ("SOCKNAME".into(), s("-")),
                    ("ADVERTISE".into(), s("-")),
                ])
            })
            .collect(),
    ))
}

/// `corex.list_aliases`: the host aliases, in corex's shape (a port of
/// 0: any).
fn corex_list_aliases(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(RpcValue::Array(
        facts()?
            .aliases
            .iter()
            .map(|(host, port)| {
                RpcValue::Struct(vec![
                    ("PROTO".into(), s("*")),
                    ("ADDR".into(), s(host.clone())),
                    ("PORT".into(), RpcValue::Int(i64::from(*port))),
                ])
            })
            .collect(),
    ))
}

/// `corex.debug [level]`: the global log level, or a new one for every
/// process (as `cfg.set core debug`, without its bounds: corex has none).
fn corex_debug(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let old = crate::cfgvars::debug_level();
    let Some(new) = p.first() else {
        return Ok(RpcValue::Struct(vec![("debug".into(), RpcValue::Int(old))]));
    };
    let new = new.as_int().unwrap_or(0);
    crate::cfgvars::set_debug_level(new);
    Ok(RpcValue::Struct(vec![("old".into(), RpcValue::Int(old)), ("new".into(), RpcValue::Int(new))]))
}

fn flags(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(s(FLAGS))
}

fn proto_name(p: Proto) -> String {
    p.to_string().to_ascii_lowercase()
}

fn sockets_list(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(RpcValue::Members(
        facts()?
            .sockets
            .iter()
            .map(|(proto, addr, port)| {
                (
                    "socket".to_string(),
                    RpcValue::Struct(vec![
                        ("proto".into(), s(proto_name(*proto))),
                        ("address".into(), s(addr.clone())),
                        // Kamailio adds the address as a number when it
                        // has no auto aliases, which sipr never has
                        ("ipaddress".into(), s(addr.clone())),
                        // a string here, a number in aliases_list: Kamailio's types
                        ("port".into(), s(port.to_string())),
                        ("mcast".into(), s("no")),
                        ("mhomed".into(), s("no")),
                        ("virtual".into(), s("no")),
                    ]),
                )
            })
            .collect(),
    ))
}

fn aliases_list(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let aliases = facts()?
        .aliases
        .iter()
        .map(|(host, port)| {
            (
                "alias".to_string(),
                RpcValue::Struct(vec![
                    ("proto".into(), s("*")),
                    ("address".into(), s(host.clone())),
                    ("port".into(), RpcValue::Int(i64::from(*port))),
                ]),
            )
        })
        .collect();
    Ok(RpcValue::Struct(vec![("myself_callbacks".into(), s("no")), ("aliases".into(), RpcValue::Members(aliases))]))
}

fn modules(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    // the last loaded first, as Kamailio lists them
    Ok(RpcValue::Array(facts()?.modules.iter().rev().map(|m| s(m.clone())).collect()))
}

fn ppdefines(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(RpcValue::Array(facts()?.defines.iter().map(|d| s(d.clone())).collect()))
}

fn tcp_info(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let f = facts()?;
    let opened = crate::runtime::tcp::table::get().map_or(0, |t| t.len());
    Ok(RpcValue::Struct(vec![
        ("readers".into(), RpcValue::Int(i64::from(f.tcp_readers))),
        ("max_connections".into(), RpcValue::Int(i64::from(f.tcp_max_connections))),
        // no TLS in sipr: none allowed, none open
        ("max_tls_connections".into(), RpcValue::Int(0)),
        ("opened_connections".into(), RpcValue::Int(opened as i64)),
        ("opened_tls_connections".into(), RpcValue::Int(0)),
        ("write_queued_bytes".into(), RpcValue::Int(0)),
    ]))
}

/// `core.echo`: the parameters back, as text (Kamailio reads each as a
/// string).
fn echo(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(RpcValue::Array(p.iter().map(|v| s(v.as_text().unwrap_or_default())).collect()))
}

/// `core.kill [signal]`: the signal (SIGTERM by default) to the main
/// process, which stops the server as on a SIGTERM from the shell. Sent
/// by the timer process a moment later, so that this reply reaches the
/// client before the control processes stop (kamcmd waits for it; sent at
/// once, the race lost about one time in eight, measured).
fn kill(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let sig = match p.first() {
        None => 15,
        Some(v) => {
            v.as_int().filter(|n| (0..=64).contains(n)).ok_or_else(|| RpcError::new(400, "bad signal number"))?
        }
    };
    let main = facts()?.main_pid;
    if sig != 0 {
        let armed = crate::timer::arm(std::time::Duration::from_millis(200), kill_later, main as usize, sig as u64);
        if armed.is_err() {
            sipr_locking::process::kill(main, sig as i32)
                .map_err(|e| RpcError::new(500, format!("kill failed: {e}")))?;
        }
        log::info!("core.kill: signal {sig} to the main process");
    }
    Ok(RpcValue::Null)
}

extern "C" fn kill_later(pid: usize, sig: u64) -> u64 {
    if let Err(e) = sipr_locking::process::kill(pid as i32, sig as i32) {
        log::error!("core.kill: signal {sig} to {pid}: {e}");
    }
    0
}

fn method_signature(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    // Kamailio has no signatures to give either
    Err(RpcError::new(500, "Not Implemented Yet"))
}

/// The commands of this module; help texts are Kamailio's.
pub static RPCS: &[RpcDef] = &[
    RpcDef { name: "core.uptime", doc: "Returns uptime of SIP server.", call: uptime },
    RpcDef {
        name: "core.info",
        doc: "Verbose info, including version number, compile flags, compiler,repository hash a.s.o.",
        call: info,
    },
    RpcDef { name: "core.flags", doc: "Returns the compile flags.", call: flags },
    RpcDef { name: "core.sockets_list", doc: "List local SIP server listen sockets", call: sockets_list },
    RpcDef { name: "core.aliases_list", doc: "List local SIP server host aliases", call: aliases_list },
    RpcDef { name: "core.modules", doc: "List loaded modules", call: modules },
    RpcDef { name: "core.ppdefines", doc: "List preprocessor defines", call: ppdefines },
    RpcDef { name: "core.tcp_info", doc: "Returns tcp related info.", call: tcp_info },
    RpcDef { name: "core.echo", doc: "Returns back its parameters.", call: echo },
    RpcDef { name: "core.kill", doc: "Sends the given signal to server.", call: kill },
    RpcDef { name: "system.methodSignature", doc: "Returns signature of given method.", call: method_signature },
    RpcDef { name: "core.arg", doc: "Returns the list of command line arguments used on startup.", call: arg },
    RpcDef { name: "core.pwd", doc: "Returns the working directory of server.", call: pwd },
    RpcDef { name: "core.runinfo", doc: "Runtime info - binary name, version, uptime, ...", call: runinfo },
    RpcDef { name: "core.printi", doc: "Returns the integers given as parameters.", call: printi },
    RpcDef { name: "core.prints", doc: "Returns the strings given as parameters.", call: prints },
    RpcDef { name: "core.tcp_options", doc: "Returns active tcp options.", call: tcp_options },
    RpcDef { name: "core.udp4_raw_info", doc: "Returns udp4_raw related info.", call: udp4_raw_info },
];

/// corex's commands that report the core's state: published when the
/// cfg loads corex, as in Kamailio (the module serves its others).
pub static COREX_RPCS: &[RpcDef] = &[
    RpcDef { name: "corex.list_sockets", doc: "List listening sockets", call: corex_list_sockets },
    RpcDef { name: "corex.list_aliases", doc: "List socket aliases", call: corex_list_aliases },
    RpcDef { name: "corex.debug", doc: "Control the global level of debug", call: corex_debug },
    // Kamailio 5.6.3's help text for it is shm_summary's (measured)
    RpcDef {
        name: "corex.pkg_summary",
        doc: "Trigger shm summary dump to syslog",
        call: crate::runtime::pkg::rpc_corex_pkg_summary,
    },
];
