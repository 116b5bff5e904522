//! Statistics counters (Kamailio's counters: `sl:1xx_replies`,
//! `core:rcv_requests`, ...): named `group:name` atomics in shm, so every
//! process adds to the same number. Registered before the fork (in
//! `mod_init`); read by `stats.get_statistics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::rpc::{RpcError, RpcValue};

struct Entry {
    group: String,
    name: String,
    value: &'static AtomicU64,
}

static COUNTERS: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// The counter `group:name`, created on first registration (in the shm
/// pool when there is one; before the server has a pool — tools, tests —
/// a process-local one).
pub fn register(group: &str, name: &str) -> Result<&'static AtomicU64, String> {
    let mut all = COUNTERS.lock().map_err(|_| "counters lock poisoned")?;
    if let Some(e) = all.iter().find(|e| e.group == group && e.name == name) {
        return Ok(e.value);
    }
    let value: &'static AtomicU64 = match crate::shm::pool() {
        Some(pool) => pool.alloc_counter().ok_or("no shared memory for a counter")?,
        None => Box::leak(Box::new(AtomicU64::new(0))),
    };
    all.push(Entry { group: group.to_string(), name: name.to_string(), value });
    Ok(value)
}

/// Every counter: (group, name, value).
pub fn snapshot() -> Vec<(String, String, u64)> {
    COUNTERS
        .lock()
        .map(|all| all.iter().map(|e| (e.group.clone(), e.name.clone(), e.value.load(Ordering::Relaxed))).collect())
        .unwrap_or_default()
}

/// `stats.get_statistics [all | group: | group:name]...`: Kamailio's
/// shape, a list of `group:name = value` strings.
pub fn rpc_get_statistics(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let wanted: Vec<String> = params.iter().filter_map(RpcValue::as_text).collect();
    let wanted = if wanted.is_empty() { vec!["all".to_string()] } else { wanted };
    let out: Vec<RpcValue> = snapshot()
        .into_iter()
        .filter(|(g, n, _)| {
            wanted.iter().any(|w| {
                w == "all" || w.strip_suffix(':').is_some_and(|wg| wg == g) || *w == format!("{g}:{n}") || w == n
            })
        })
        .map(|(g, n, v)| RpcValue::Str(format!("{g}:{n} = {v}")))
        .collect();
    // nothing matching is an empty list, as Kamailio answers
    Ok(RpcValue::Array(out))
}

/// `stats.reset_statistics group:name...`.
pub fn rpc_reset_statistics(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let all = COUNTERS.lock().map_err(|_| RpcError::new(500, "counters lock poisoned"))?;
    for p in params.iter().filter_map(RpcValue::as_text) {
        for e in all.iter().filter(|e| p == "all" || format!("{}:{}", e.group, e.name) == p) {
            e.value.store(0, Ordering::Relaxed);
        }
    }
    Ok(RpcValue::Null)
}

/// Every RPC command of the core (modules add theirs): [`CORE_RPCS`] and
/// the destination blocklist's.
pub fn core_rpcs() -> impl Iterator<Item = &'static crate::rpc::RpcDef> {
    CORE_RPCS.iter().chain(crate::blocklist::RPCS)
}

/// The core's own RPC commands (modules add theirs): statistics,
/// `core.ps`, `core.version`.
pub static CORE_RPCS: &[crate::rpc::RpcDef] = &[
    crate::rpc::RpcDef { name: "stats.get_statistics", doc: "get core and modules stats", call: rpc_get_statistics },
    crate::rpc::RpcDef {
        name: "stats.reset_statistics",
        doc: "reset core and modules stats (silent operation)",
        call: rpc_reset_statistics,
    },
    crate::rpc::RpcDef {
        name: "core.ps",
        doc: "Returns the description of running processes.",
        call: crate::runtime::procs::rpc_ps,
    },
    crate::rpc::RpcDef {
        name: "core.psx",
        doc: "Returns the detailed description of running processes.",
        call: crate::runtime::procs::rpc_psx,
    },
    crate::rpc::RpcDef { name: "core.version", doc: "Returns the version string of the server.", call: rpc_version },
    crate::rpc::RpcDef {
        name: "core.shmmem",
        doc: "Returns shared memory info. It has an optional parameter that specifies the measuring unit: b - bytes (default), k or kb, m or mb, g or gb. Note: when using something different from bytes, the value is truncated.",
        call: rpc_shmmem,
    },
    crate::rpc::RpcDef {
        name: "core.tcp_list",
        doc: "Returns tcp connections details.",
        call: crate::runtime::tcp::table::rpc_tcp_list,
    },
];

/// `core.shmmem [unit]`: the pool's figures, as Kamailio's.
fn rpc_shmmem(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let shift = match p.first().and_then(RpcValue::as_text).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("b") => 0,
        Some("k" | "kb") => 10,
        Some("m" | "mb") => 20,
        Some("g" | "gb") => 30,
        Some(_) => return Err(RpcError::new(500, "Bad param: b|k|m|g")),
    };
    let pool = crate::shm::pool().ok_or_else(|| RpcError::new(500, "no shared memory"))?;
    let st = pool.stats();
    let v = |n: u64| RpcValue::Int((n >> shift) as i64);
    Ok(RpcValue::Struct(vec![
        ("total".into(), v(st.total)),
        ("free".into(), v(st.free)),
        ("used".into(), v(st.used)),
        ("real_used".into(), v(st.real_used)),
        ("max_used".into(), v(st.max_used)),
        ("fragments".into(), RpcValue::Int(st.fragments as i64)),
    ]))
}

fn rpc_version(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(RpcValue::Str(crate::server_signature().to_string()))
}
