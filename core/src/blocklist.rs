//! The destination blocklist (Kamailio's core `dst_blocklist`): next hops
//! that recently failed — a send error, a TCP connect that failed, a
//! transaction timeout, a 503 — are refused for a while without trying
//! them, so that one dead far end does not cost every call its timeout.
//!
//! One table in shm, made by the main process before the fork
//! (`dst_blocklist_init`, on by default) so that every process sees what
//! any other found. It is consulted and filled only when
//! `use_dst_blocklist` is on (off by default, as Kamailio): by the core's
//! stateless forwarding and its TCP connects, and by tm through the core
//! API. An entry is a transport, an address and a port, with the reasons
//! it was added ([`reason`], Kamailio's `BLST_*` bits) and when it
//! expires (`dst_blocklist_expire`, 60 s; kept in Unix milliseconds in
//! the table's expiry field). Expired entries are skipped at once
//! and swept every `dst_blocklist_gc_interval` by the timer process; the
//! table holds at most `dst_blocklist_mem` KB of entries.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sipr_mem::{KvValue, ShmKvTable};

use crate::net::Proto;
use crate::rpc::{RpcError, RpcValue};

/// Why an entry is there: Kamailio's `BLST_*` flag bits, as
/// `dst_blocklist.view` shows them.
pub mod reason {
    /// The address is IPv6 (Kamailio keeps this among the flags).
    pub const IPV6: u8 = 1;
    /// Sending failed.
    pub const ERR_SEND: u8 = 2;
    /// A TCP/TLS connect failed.
    pub const ERR_CONNECT: u8 = 4;
    /// An ICMP error came back.
    pub const ICMP: u8 = 8;
    /// A transaction to it timed out (tm, `blst_methods_add`).
    pub const TIMEOUT: u8 = 16;
    /// It answered 503 (tm, `blst_503`).
    pub const E503: u8 = 32;
    /// Administratively prohibited.
    pub const ADM_PROHIBITED: u8 = 64;
    /// Never expires and survives `dst_blocklist.delete_all`.
    pub const PERMANENT: u8 = 128;
}

/// Kamailio's defaults: 60 s, 250 KB, a sweep every 60 s.
const DEFAULT_EXPIRE_S: u32 = 60;
const DEFAULT_MEM_KB: usize = 250;
const DEFAULT_GC_S: u64 = 60;
/// What one entry costs in the pool (header, key, the allocator's own):
/// the unit of `dst_blocklist_mem`.
const ENTRY_BYTES: usize = 96;

struct Blocklist {
    table: ShmKvTable<'static>,
    max_entries: usize,
}

static TABLE: OnceLock<Blocklist> = OnceLock::new();
/// `use_dst_blocklist` and `dst_blocklist_expire` (s): the cfg variables
/// words in shm, set by [`init`].
static ENABLED: OnceLock<&'static AtomicU64> = OnceLock::new();
static EXPIRE_S: OnceLock<&'static AtomicU64> = OnceLock::new();
/// Adds refused because the table was at `dst_blocklist_mem`.
static FULL_DROPS: AtomicUsize = AtomicUsize::new(0);

/// Makes the table (main process, after the pool, before the fork) from
/// the cfg's `dst_blocklist_*` / `use_dst_blocklist` parameters, and
/// registers its sweep with the timer process.
pub fn init(core: &crate::cfg::CoreParams) -> Result<(), String> {
    let int = |a: &str, b: &str| core.other_int(a).or_else(|| core.other_int(b));
    let on = |a: &str, b: &str| int(a, b).map(|v| v != 0);
    if !on("dst_blocklist_init", "dst_blacklist_init").unwrap_or(true) {
        if on("use_dst_blocklist", "use_dst_blacklist").unwrap_or(false) {
            // Kamailio's own refusal
            return Err("dst blocklist is turned off by dst_blocklist_init=0, it cannot be enabled".into());
        }
        return Ok(());
    }
    let pool = crate::shm::pool().ok_or("the destination blocklist needs the shared-memory pool")?;
    let mem_kb = core.other_int("dst_blocklist_mem").map_or(DEFAULT_MEM_KB, |k| k.max(1) as usize);
    let table = ShmKvTable::new_in(pool, 1024, 64, "dst_blocklist")
        .ok_or("shared memory full: no room for the destination blocklist")?;
    let _ = TABLE.set(Blocklist { table, max_entries: (mem_kb * 1024 / ENTRY_BYTES).max(1) });
    let expire =
        core.other_int("dst_blocklist_expire").map_or(i64::from(DEFAULT_EXPIRE_S), |e| e.clamp(0, u32::MAX as i64));
    let enabled = on("use_dst_blocklist", "use_dst_blacklist").unwrap_or(false);
    // Kamailio's cfg variables (help texts and bounds measured): cfg.set
    // reaches every process
    let w = crate::cfgvars::register(crate::cfgvars::VarDef {
        group: "core",
        name: "use_dst_blocklist",
        help: "enable/disable destination blocklisting",
        initial: i64::from(enabled),
        min: crate::cfgvars::FLAG.0,
        max: crate::cfgvars::FLAG.1,
        readable: false,
    })?;
    let _ = ENABLED.set(w);
    let w = crate::cfgvars::register(crate::cfgvars::VarDef {
        group: "core",
        name: "dst_blocklist_expire",
        help: "how much time (in s) a blocklisted destination is kept in the list",
        initial: expire,
        min: crate::cfgvars::ANY_INT.0,
        max: crate::cfgvars::ANY_INT.1,
        readable: true,
    })?;
    let _ = EXPIRE_S.set(w);
    let gc = core.other_int("dst_blocklist_gc_interval").map_or(DEFAULT_GC_S, |s| s.max(1) as u64);
    crate::timer::register("dst_blocklist_gc", Duration::from_secs(gc), true, sweep_timer, 0)
}

/// Whether `use_dst_blocklist` is on (and the table exists).
pub fn enabled() -> bool {
    ENABLED.get().is_some_and(|w| w.load(Ordering::Relaxed) != 0) && TABLE.get().is_some()
}

/// The table's clock: Unix milliseconds (its expiry times are in them).
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The key of a destination: transport, port, address bytes.
fn key(proto: Proto, to: SocketAddr) -> ([u8; 19], usize) {
    let mut k = [0u8; 19];
    k[0] = proto as u8;
    k[1..3].copy_from_slice(&to.port().to_be_bytes());
    let n = match to.ip() {
        IpAddr::V4(a) => {
            k[3..7].copy_from_slice(&a.octets());
            7
        }
        IpAddr::V6(a) => {
            k[3..19].copy_from_slice(&a.octets());
            19
        }
    };
    (k, n)
}

fn from_key(k: &[u8]) -> Option<(Proto, SocketAddr)> {
    let proto = *Proto::ALL.get(usize::from(*k.first()?))?;
    let port = u16::from_be_bytes([*k.get(1)?, *k.get(2)?]);
    let ip = match k.len() {
        7 => IpAddr::from(<[u8; 4]>::try_from(&k[3..7]).ok()?),
        19 => IpAddr::from(<[u8; 16]>::try_from(&k[3..19]).ok()?),
        _ => return None,
    };
    Some((proto, SocketAddr::new(ip, port)))
}

/// The flags an entry's value holds.
fn flags_of(v: KvValue<'_>) -> u8 {
    match v {
        KvValue::Int(f) => f as u8,
        KvValue::Str(_) => 0,
    }
}

/// Whether `to` over `proto` is blocklisted (with `use_dst_blocklist`
/// on): its [`reason`] bits, or `None`.
pub fn check(proto: Proto, to: SocketAddr) -> Option<u8> {
    if !enabled() {
        return None;
    }
    let t = TABLE.get()?;
    let (k, n) = key(proto, to);
    t.table.get(&k[..n], now_ms(), |v, _| flags_of(v))
}

/// Blocklists `to` over `proto` for `reasons` (with `use_dst_blocklist`
/// on), for `expire` or `dst_blocklist_expire`; an entry already there
/// gains the reasons and keeps the later expiry. Whether it is listed now.
pub fn add(proto: Proto, to: SocketAddr, reasons: u8, expire: Option<Duration>) -> bool {
    if !enabled() {
        return false;
    }
    add_entry(proto, to, reasons, expire)
}

fn add_entry(proto: Proto, to: SocketAddr, reasons: u8, expire: Option<Duration>) -> bool {
    let Some(t) = TABLE.get() else { return false };
    let (k, n) = key(proto, to);
    let now = now_ms();
    let mut flags = reasons | if to.is_ipv6() { reason::IPV6 } else { 0 };
    let default =
        EXPIRE_S.get().map_or(u64::from(DEFAULT_EXPIRE_S), |w| (w.load(Ordering::Relaxed) as i64).max(0) as u64);
    let secs = expire.map_or(default, |d| d.as_secs());
    let mut expires = if flags & reason::PERMANENT != 0 { 0 } else { now + secs.max(1) * 1000 };
    match t.table.get(&k[..n], now, |v, e| (flags_of(v), e)) {
        Some((f, e)) => {
            flags |= f;
            expires = if flags & reason::PERMANENT != 0 || e == 0 { 0 } else { expires.max(e) };
        }
        None if t.table.len() >= t.max_entries => {
            // the sweep may make room; a full table is a log line, and the
            // destination is simply not listed
            t.table.retain(now, |_, _| true);
            if t.table.len() >= t.max_entries {
                if FULL_DROPS.fetch_add(1, Ordering::Relaxed) == 0 {
                    log::warn!("dst_blocklist: full (dst_blocklist_mem): {to} ({proto}) not added");
                }
                return false;
            }
        }
        None => {}
    }
    if t.table.set(&k[..n], KvValue::Int(i64::from(flags)), expires).is_err() {
        log::error!("dst_blocklist: shared memory full: {to} ({proto}) not added");
        return false;
    }
    log::debug!("dst_blocklist: {to} ({proto}) blocklisted, reasons {flags}");
    true
}

/// Removes every entry but the permanent ones; how many went.
pub fn delete_all() -> usize {
    TABLE.get().map_or(0, |t| t.table.retain(now_ms(), |_, v| flags_of(v) & reason::PERMANENT != 0))
}

extern "C" fn sweep_timer(_: usize) {
    if let Some(t) = TABLE.get() {
        let gone = t.table.retain(now_ms(), |_, _| true);
        if gone > 0 {
            log::debug!("dst_blocklist: {gone} expired entries removed");
        }
    }
}

/// One entry, as `dst_blocklist.view` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Transport.
    pub proto: Proto,
    /// Address and port.
    pub to: SocketAddr,
    /// [`reason`] bits.
    pub flags: u8,
    /// Whole seconds left (`None`: permanent).
    pub expires_in: Option<u64>,
}

/// The live entries.
pub fn entries() -> Vec<Entry> {
    let mut out = Vec::new();
    if let Some(t) = TABLE.get() {
        let now = now_ms();
        t.table.for_each(now, |k, v, e| {
            if let Some((proto, to)) = from_key(k) {
                let expires_in = (e != 0).then(|| e.saturating_sub(now) / 1000);
                out.push(Entry { proto, to, flags: flags_of(v), expires_in });
            }
        });
    }
    out
}

/// The table, for the RPC commands: Kamailio refuses them while
/// `use_dst_blocklist` is off.
fn table_or_error() -> Result<&'static Blocklist, RpcError> {
    TABLE.get().filter(|_| enabled()).ok_or_else(|| RpcError::new(500, "dst blocklist support disabled"))
}

/// `dst_blocklist.view`: the entries as Kamailio prints them, five text
/// pieces each (its five `rpl_printf` calls; kamcmd shows one per line).
fn rpc_view(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    table_or_error()?;
    let mut lines = Vec::new();
    for e in entries() {
        lines.push(format!("{{\n    protocol: {}", e.proto.name()));
        lines.push(format!("    ip: {}", e.to.ip()));
        lines.push(format!("    port: {}", e.to.port()));
        // Kamailio prints a permanent entry's expiry as 0
        lines.push(format!("    expires in (s): {}", e.expires_in.unwrap_or(0)));
        lines.push(format!("    flags: {}\n}}", e.flags));
    }
    Ok(if lines.is_empty() { RpcValue::Null } else { RpcValue::Array(lines.into_iter().map(RpcValue::Str).collect()) })
}

/// `dst_blocklist.delete_all`.
fn rpc_delete_all(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    table_or_error()?;
    delete_all();
    Ok(RpcValue::Null)
}

/// `dst_blocklist.add ip port proto flags`: Kamailio's parameters
/// (proto as its number: 1 udp, 2 tcp, 3 tls, 4 sctp; the flags are the
/// [`reason`] bits); the entry lasts `dst_blocklist_expire`. As in
/// Kamailio, missing parameters add nothing and are no error.
fn rpc_add(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    table_or_error()?;
    let (Some(ip), Some(port), Some(proto), Some(flags)) = (
        p.first().and_then(RpcValue::as_text),
        p.get(1).and_then(RpcValue::as_int),
        p.get(2).and_then(RpcValue::as_int),
        p.get(3).and_then(RpcValue::as_int),
    ) else {
        return Ok(RpcValue::Null);
    };
    let proto = match proto {
        1 => Proto::Udp,
        2 => Proto::Tcp,
        3 => Proto::Tls,
        4 => Proto::Sctp,
        _ => return Err(RpcError::new(400, "Unknown protocol")),
    };
    let ip: IpAddr = ip.parse().map_err(|_| RpcError::new(400, "Malformed ip address"))?;
    let to = SocketAddr::new(ip, port as u16);
    if !add_entry(proto, to, flags as u8, None) {
        return Err(RpcError::new(500, "Failed to add the entry to the blocklist"));
    }
    Ok(RpcValue::Null)
}

/// The blocklist's RPC commands (Kamailio's names and help texts).
pub static RPCS: &[crate::rpc::RpcDef] = &[
    crate::rpc::RpcDef {
        name: "dst_blocklist.view",
        doc: "dst blocklist dump in human-readable format.",
        call: rpc_view,
    },
    crate::rpc::RpcDef {
        name: "dst_blocklist.delete_all",
        doc: "Deletes all the entries from the dst blocklist except the permanent ones.",
        call: rpc_delete_all,
    },
    crate::rpc::RpcDef { name: "dst_blocklist.add", doc: "Adds a new entry to the dst blocklist.", call: rpc_add },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for (p, a) in [(Proto::Udp, "127.0.0.1:5060"), (Proto::Tcp, "[::1]:5061"), (Proto::Sctp, "10.1.2.3:1")] {
            let to: SocketAddr = a.parse().unwrap();
            let (k, n) = key(p, to);
            assert_eq!(from_key(&k[..n]), Some((p, to)));
        }
        assert_eq!(from_key(b"\x00\x13"), None);
    }
}
