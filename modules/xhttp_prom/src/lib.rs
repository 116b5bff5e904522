//! xhttp_prom: the server's statistics in Prometheus' text format, served
//! over xhttp, as Kamailio's xhttp_prom: in `event_route[xhttp:request]`,
//! `if (prom_check_uri()) prom_dispatch();`. `xhttp_prom_stats` picks the
//! statistics (`all`, `group:` or one name; none by default; a second
//! modparam replaces the first, as in Kamailio; a name that is no
//! statistic makes the answer a 500), `xhttp_prom_prefix` (default `kamailio_`) starts every
//! metric name, `xhttp_prom_path` (default `/metrics`) is the path
//! `prom_check_uri()` matches. A statistic `group:name` is the metric
//! `PREFIXgroup_name` (characters Prometheus does not allow in a name
//! become `_`), with its value and the time in milliseconds, as
//! Kamailio's lines.
//!
//! sipr adds, after the statistics: each module's shared memory
//! (`PREFIXshm_module_bytes{module="tm"}`, `PREFIXshm_module_blocks`) and
//! each process's CPU time (`PREFIXprocess_cpu_seconds{pid, rank, desc}`,
//! from the kernel's schedstat) — what an operator watches per module and
//! per process. Kamailio's user-defined metrics (prom_counter_inc, ...)
//! are not served yet: the text says so as Kamailio's does when it has
//! none.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::sync::Mutex;

use sipr_sdk::prelude::*;

struct Settings {
    /// `xhttp_prom_stats`: one selection (a later modparam replaces it,
    /// as in Kamailio).
    stats: Option<String>,
    prefix: String,
    path: String,
}

static SETTINGS: Mutex<Settings> = Mutex::new(Settings { stats: None, prefix: String::new(), path: String::new() });

fn with(f: impl FnOnce(&mut Settings)) -> Result<(), String> {
    f(&mut *SETTINGS.lock().map_err(|_| "xhttp_prom settings poisoned")?);
    Ok(())
}

fn set_stats(v: &ModValue) -> Result<(), String> {
    let s = sipr_sdk::modparam::str(v)?.trim().to_string();
    with(|st| st.stats = (!s.is_empty()).then_some(s))
}

fn set_prefix(v: &ModValue) -> Result<(), String> {
    let p = sipr_sdk::modparam::str(v)?;
    if !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return Err(format!("xhttp_prom_prefix {p}: letters, digits, '_' and ':' only"));
    }
    with(|st| st.prefix = p)
}

fn set_path(v: &ModValue) -> Result<(), String> {
    let p = sipr_sdk::modparam::str(v)?;
    if !p.starts_with('/') {
        return Err(format!("xhttp_prom_path {p}: a path starts with /"));
    }
    with(|st| st.path = p)
}

fn settings() -> (Option<String>, String, String) {
    SETTINGS.lock().map_or_else(
        |_| (None, "kamailio_".into(), "/metrics".into()),
        |s| {
            let prefix = if s.prefix.is_empty() { "kamailio_".to_string() } else { s.prefix.clone() };
            let path = if s.path.is_empty() { "/metrics".to_string() } else { s.path.clone() };
            (s.stats.clone(), prefix, path)
        },
    )
}

/// A name Prometheus takes: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn metric_name(prefix: &str, group: &str, name: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + group.len() + name.len() + 1);
    out.push_str(prefix);
    for c in group.chars().chain(std::iter::once('_')).chain(name.chars()) {
        out.push(if c.is_ascii_alphanumeric() || c == '_' || c == ':' { c } else { '_' });
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A label value, escaped as the text format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn wanted(sel: &str, group: &str, name: &str) -> bool {
    sel == "all" || sel.strip_suffix(':').is_some_and(|g| g == group) || sel == name
}

fn now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// The processes: (pid, rank index, description), from `core.psx`.
fn processes() -> Vec<(i64, i64, String)> {
    let Some(reply) = sipr_sdk::rpc_exec(br#"{"jsonrpc":"2.0","method":"core.psx","id":1}"#) else { return Vec::new() };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&reply) else { return Vec::new() };
    v["result"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p["PID"].as_i64()?, p["IDX"].as_i64()?, p["DSC"].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// A process's CPU time in seconds (the first field of schedstat is
/// nanoseconds on the CPU).
fn cpu_seconds(pid: i64) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// The whole text; `None` when the statistic chosen does not exist
/// (Kamailio answers 500 then).
fn exposition() -> Option<String> {
    let (sel, prefix, _) = settings();
    let ts = now_ms();
    let mut out = String::from("# NO User defined metrics\n\n");
    match sel.as_deref() {
        None => out.push_str("# NO Kamailio internal statistics\n"),
        Some(sel) => {
            // Kamailio's heading for each kind of selection
            if sel == "all" {
                out.push_str("# Kamailio whole internal statistics\n");
            } else if sel.ends_with(':') {
                let _ = writeln!(out, "# Kamailio statistics for group: {sel}");
            } else {
                let _ = writeln!(out, "# Kamailio statistics for: {sel}");
            }
            let mut found = false;
            for (g, n, v) in sipr_sdk::statistics() {
                if wanted(sel, &g, &n) {
                    found = true;
                    let _ = writeln!(out, "{} {v} {ts}", metric_name(&prefix, &g, &n));
                }
            }
            if !found && !sel.ends_with(':') {
                log::error!("xhttp_prom: statistic not found: {sel}");
                return None;
            }
        }
    }
    if let Some(pool) = sipr_sdk::shm_pool() {
        out.push_str("\n# sipr: shared memory held by each module\n");
        let usage = pool.usage_by_owner();
        for (owner, bytes, _) in &usage {
            let _ = writeln!(out, "{prefix}shm_module_bytes{{module=\"{}\"}} {bytes} {ts}", label(owner));
        }
        for (owner, _, blocks) in &usage {
            let _ = writeln!(out, "{prefix}shm_module_blocks{{module=\"{}\"}} {blocks} {ts}", label(owner));
        }
    }
    out.push_str("\n# sipr: CPU time of each process\n");
    for (pid, idx, desc) in processes() {
        if let Some(secs) = cpu_seconds(pid) {
            let _ = writeln!(
                out,
                "{prefix}process_cpu_seconds{{pid=\"{pid}\",idx=\"{idx}\",desc=\"{}\"}} {secs:.3} {ts}",
                label(&desc)
            );
        }
    }
    Some(out)
}

/// `prom_check_uri()`: 1 when the HTTP request's URL is the metrics path
/// (the whole URL, as Kamailio: `/metrics?x` is not it).
fn prom_check_uri(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let (_, _, path) = settings();
    Ok(if sipr_sdk::xhttp::url(ctx) == Some(path.as_bytes()) { 1 } else { -1 })
}

/// `prom_dispatch()`: answers with the metrics.
fn prom_dispatch(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    const CTYPE: &[u8] = b"text/plain; version=0.0.4";
    let sent = match exposition() {
        Some(text) => sipr_sdk::xhttp::reply(ctx, 200, b"OK", CTYPE, text.as_bytes()),
        None => sipr_sdk::xhttp::reply(ctx, 500, b"Internal Server Error", CTYPE, b"Internal Server Error"),
    };
    match sent {
        Ok(()) => Ok(1),
        Err(e) => {
            log::error!("prom_dispatch: {e}");
            Ok(-1)
        }
    }
}

sipr_sdk::module! {
    name: "xhttp_prom",
    functions: [
        ("prom_check_uri", [], RouteMask::ANY, prom_check_uri),
        ("prom_dispatch", [], RouteMask::ANY, prom_dispatch),
    ],
    params: [
        ("xhttp_prom_stats", Str, set_stats),
        ("xhttp_prom_prefix", Str, set_prefix),
        ("xhttp_prom_path", Str, set_path),
    ],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prometheus_safe() {
        assert_eq!(metric_name("kamailio_", "core", "rcv_requests"), "kamailio_core_rcv_requests");
        assert_eq!(metric_name("kamailio_", "sl", "1xx_replies"), "kamailio_sl_1xx_replies");
        assert_eq!(metric_name("", "my-group", "a.b c"), "my_group_a_b_c");
        assert_eq!(metric_name("", "1x", "y"), "_1x_y");
        assert_eq!(label("a\"b\\c"), "a\\\"b\\\\c");
    }

    #[test]
    fn statistics_are_chosen_as_kamailio_chooses() {
        assert!(wanted("core:", "core", "rcv_requests"));
        assert!(!wanted("core:", "sl", "sent_replies"));
        assert!(wanted("registered_users", "usrloc", "registered_users"));
        assert!(wanted("all", "sl", "sent_replies"));
    }
}
