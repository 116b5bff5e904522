//! Each process's private memory, for `pkg.stats` and `pkg.info`
//! (Kamailio's names). Kamailio gives every process a fixed pkg pool and
//! reports its allocator's figures; sipr's processes allocate from the
//! process heap (mimalloc when installed, glibc's malloc otherwise), with
//! no fixed pool. The figures are the kernel's for the process
//! (`/proc/PID/status`), read by the process serving the command:
//! `used` / `real_used` are its private resident memory (RssAnon: heap,
//! stacks — the shm pool is a shared mapping and not in it), `total_size`
//! its private data address space (VmData), `free` the difference. A
//! leak shows as `used` growing, as in Kamailio.

use crate::rpc::{RpcError, RpcValue};

/// A process's private memory, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Private {
    resident: u64,
    reserved: u64,
}

/// Reads `/proc/PID/status`'s RssAnon and VmData (zero when the process
/// is gone).
fn private_of(pid: i32) -> Private {
    std::fs::read_to_string(format!("/proc/{pid}/status")).map(|s| parse_status(&s)).unwrap_or_default()
}

/// The two figures of a `/proc/PID/status` text (its sizes are in kB).
fn parse_status(text: &str) -> Private {
    let kb = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |v| v * 1024)
    };
    Private { resident: kb("RssAnon:"), reserved: kb("VmData:") }
}

/// The processes in Kamailio's index order: the main process first
/// (index 0), then the others by rank.
fn processes() -> Vec<(i32, i32, String)> {
    let mut procs = super::procs::list();
    procs.sort_by_key(|(_, rank, _)| *rank != 0);
    procs
}

/// One process's entry, in Kamailio's shape.
fn entry(index: usize, pid: i32, rank: i32, desc: String) -> RpcValue {
    let m = if pid > 0 { private_of(pid) } else { Private::default() };
    let int = |v: u64| RpcValue::Int(i64::try_from(v).unwrap_or(i64::MAX));
    RpcValue::Struct(vec![
        ("entry".into(), RpcValue::Int(index as i64)),
        ("pid".into(), RpcValue::Int(i64::from(pid))),
        ("rank".into(), RpcValue::Int(i64::from(rank))),
        ("used".into(), int(m.resident)),
        ("free".into(), int(m.reserved.saturating_sub(m.resident))),
        ("real_used".into(), int(m.resident)),
        ("total_size".into(), int(m.reserved)),
        ("total_frags".into(), RpcValue::Int(0)),
        ("desc".into(), RpcValue::Str(desc)),
    ])
}

/// `pkg.stats [index N | pid P | rank R]`: every process's private
/// memory, or the one the filter names (Kamailio's filters and errors,
/// measured; an index past the last process is an empty entry, as
/// Kamailio answers).
pub fn rpc_pkg_stats(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let procs = processes();
    let Some(filter) = p.first().and_then(RpcValue::as_text) else {
        return Ok(RpcValue::Array(
            procs.into_iter().enumerate().map(|(i, (pid, rank, desc))| entry(i, pid, rank, desc)).collect(),
        ));
    };
    if !matches!(filter.as_str(), "index" | "pid" | "rank") {
        return Err(RpcError::new(500, "Invalid filter type"));
    }
    let more = || RpcError::new(500, "One more parameter expected");
    let value = p.get(1).and_then(|v| v.as_int().or_else(|| v.as_text()?.parse().ok())).ok_or_else(more)?;
    let found = procs.into_iter().enumerate().find(|(i, (pid, rank, _))| match filter.as_str() {
        "index" => *i as i64 == value,
        "pid" => i64::from(*pid) == value,
        _ => i64::from(*rank) == value,
    });
    match (found, filter.as_str()) {
        (Some((i, (pid, rank, desc))), _) => Ok(entry(i, pid, rank, desc)),
        (None, "index") => Ok(entry(usize::try_from(value).unwrap_or(0), 0, -128, String::new())),
        (None, "pid") => Err(RpcError::new(500, "No such pid")),
        (None, _) => Err(more()),
    }
}

/// `corex.pkg_summary pid|idx VALUE`: the private memory of the process
/// selected, to the log (Kamailio's process dumps its allocator's
/// fragments the next time it works, and only in a memory-debug build;
/// sipr logs the kernel's figures at once). Kamailio's answers: nothing;
/// an index past the last process and an unknown selector are errors
/// (measured), a pid that is no process is not.
pub fn rpc_corex_pkg_summary(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let (Some(selector), Some(value)) = (
        p.first().and_then(RpcValue::as_text),
        p.get(1).and_then(|v| v.as_int().or_else(|| v.as_text()?.parse().ok())),
    ) else {
        return Err(RpcError::new(400, "Selector and value not provided"));
    };
    let procs = processes();
    let chosen = match selector.as_str() {
        "pid" => procs.into_iter().find(|(pid, _, _)| i64::from(*pid) == value),
        "idx" => Some(
            usize::try_from(value)
                .ok()
                .and_then(|i| procs.into_iter().nth(i))
                .ok_or_else(|| RpcError::new(500, "Index value out of range"))?,
        ),
        _ => return Err(RpcError::new(500, "Unsupported selector type")),
    };
    if let Some((pid, rank, desc)) = chosen {
        let m = private_of(pid);
        log::info!(
            "pkg summary of process {pid} (rank {rank}, {desc}): {} bytes private resident (RssAnon), {} bytes private address space (VmData)",
            m.resident,
            m.reserved
        );
    }
    Ok(RpcValue::Null)
}

/// `pkg.info`: the allocator, and the pool size (0: sipr's processes
/// have no fixed pool).
pub fn rpc_pkg_info(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let name = if cfg!(sipr_mimalloc) { "mimalloc" } else { "glibc malloc" };
    Ok(RpcValue::Struct(vec![("name".into(), RpcValue::Str(name.into())), ("size".into(), RpcValue::Int(0))]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_figures() {
        let text = "Name:\tsipr\nVmData:\t   12345 kB\nRssAnon:\t    2048 kB\nRssFile:\t 100 kB\n";
        assert_eq!(parse_status(text), Private { resident: 2048 * 1024, reserved: 12345 * 1024 });
        assert_eq!(parse_status(""), Private::default());
    }

    #[test]
    fn this_process_has_private_memory() {
        let m = private_of(std::process::id() as i32);
        assert!(m.resident > 0 && m.reserved >= m.resident, "{m:?}");
    }
}
