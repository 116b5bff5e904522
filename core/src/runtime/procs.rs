//! The process table: every process of the server with its rank and
//! description ("udp receiver child=0 sock=127.0.0.1:5060"), in shm so
//! that any process (the RPC one) can list it — `core.ps`.

use std::sync::OnceLock;

use sipr_mem::{KvValue, ShmKvTable};

use crate::rpc::{RpcError, RpcValue};

static TABLE: OnceLock<ShmKvTable<'static>> = OnceLock::new();

/// Creates the table (main process, before the fork).
pub fn init() -> Result<(), String> {
    let pool = crate::shm::pool().ok_or("no shared memory pool")?;
    let t = ShmKvTable::new_in(pool, 64, 8, "processes").ok_or("no shared memory for the process table")?;
    let _ = TABLE.set(t);
    Ok(())
}

/// Records process `pid`.
pub fn add(pid: i32, rank: i32, desc: &str) {
    if let Some(t) = TABLE.get() {
        let v = format!("{rank}\t{desc}");
        if t.set(&pid.to_be_bytes(), KvValue::Str(v.as_bytes()), 0).is_err() {
            log::warn!("process table full: {pid} not listed");
        }
    }
}

/// Forgets process `pid` (it ended).
pub fn remove(pid: i32) {
    if let Some(t) = TABLE.get() {
        t.remove(&pid.to_be_bytes());
    }
}

/// Every process: (pid, rank, description), by rank.
pub fn list() -> Vec<(i32, i32, String)> {
    let mut out = Vec::new();
    if let Some(t) = TABLE.get() {
        t.for_each(0, |k, v, _| {
            let (Ok(pid), KvValue::Str(s)) = (<[u8; 4]>::try_from(k), v) else { return };
            let s = String::from_utf8_lossy(s);
            let (rank, desc) = s.split_once('\t').unwrap_or(("0", &s));
            out.push((i32::from_be_bytes(pid), rank.parse().unwrap_or(0), desc.to_string()));
        });
    }
    out.sort_by_key(|(_, r, _)| *r);
    out
}

/// `core.ps`: Kamailio's shape, a flat list: pid, description, pid, ...
pub fn rpc_ps(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(RpcValue::Array(
        list().into_iter().flat_map(|(pid, _, desc)| [RpcValue::Int(pid as i64), RpcValue::Str(desc)]).collect(),
    ))
}

/// `core.psx`: Kamailio's shape, a list of {IDX, PID, DSC}.
pub fn rpc_psx(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(RpcValue::Array(
        list()
            .into_iter()
            .enumerate()
            .map(|(i, (pid, _, desc))| {
                RpcValue::Struct(vec![
                    ("IDX".into(), RpcValue::Int(i as i64)),
                    ("PID".into(), RpcValue::Int(pid as i64)),
                    ("DSC".into(), RpcValue::Str(desc)),
                ])
            })
            .collect(),
    ))
}
