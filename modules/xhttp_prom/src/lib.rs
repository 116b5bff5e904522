//! xhttp_prom: the server's statistics in Prometheus' text format, served
//! over xhttp, as Kamailio's xhttp_prom: in `event_route[xhttp:request]`,
//! `if (prom_check_uri()) prom_dispatch();`. `xhttp_prom_stats` picks the
//! statistics (`all`, `group:` or one name; none by default; a second
//! modparam replaces the first, as in Kamailio; a name that is no
//! statistic makes the answer a 500), `xhttp_prom_beginning` (default
//! `kamailio_`, "" for none) starts every metric name, `xhttp_prom_path`
//! (sipr's; default `/metrics`) is the path `prom_check_uri()` matches. A
//! statistic `group:name` is the metric `PREFIXgroup_name` (characters
//! Prometheus does not allow in a name become `_`), with its value and the
//! time in milliseconds, as Kamailio's lines.
//!
//! User-defined metrics (`prom_counter`, `prom_gauge`, `prom_histogram`,
//! up to three labels each) are listed first, as Kamailio's: their series
//! are created on first use by `prom_counter_inc`, `prom_gauge_set`,
//! `prom_histogram_observe`, the resets or the `xhttp_prom.*` commands,
//! kept in shm ([`metrics`]) and dropped after `xhttp_prom_timeout`
//! minutes without an update (default 60, 0: never).
//!
//! sipr adds, after the statistics: each module's shared memory
//! (`PREFIXshm_module_bytes{module="tm"}`, `PREFIXshm_module_blocks`) and
//! each process's CPU time (`PREFIXprocess_cpu_seconds{pid, rank, desc}`,
//! from the kernel's schedstat) — what an operator watches per module and
//! per process.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::sync::Mutex;

use sipr_sdk::prelude::*;
use sipr_sdk::{RpcError, RpcValue};

mod metrics;
use metrics::{Decl, Metrics, Update};

struct Settings {
    /// `xhttp_prom_stats`: one selection (a later modparam replaces it,
    /// as in Kamailio).
    stats: Option<String>,
    /// `xhttp_prom_beginning`; None: Kamailio's `kamailio_`.
    prefix: Option<String>,
    path: String,
    /// `xhttp_prom_timeout`, minutes.
    timeout_min: u64,
    /// The declared metrics, in order.
    decls: Vec<Decl>,
}

static SETTINGS: Mutex<Settings> =
    Mutex::new(Settings { stats: None, prefix: None, path: String::new(), timeout_min: 60, decls: Vec::new() });

/// The user-defined metrics (mod_init, before the fork).
static METRICS: std::sync::OnceLock<Metrics> = std::sync::OnceLock::new();

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
        return Err(format!("xhttp_prom_beginning {p}: letters, digits, '_' and ':' only"));
    }
    with(|st| st.prefix = Some(p))
}

fn set_timeout(v: &ModValue) -> Result<(), String> {
    let t = sipr_sdk::modparam::int(v)?;
    let t = u64::try_from(t).map_err(|_| format!("xhttp_prom_timeout {t}: minutes, 0 or more"))?;
    with(|st| st.timeout_min = t)
}

/// `xhttp_prom_buf_size`: Kamailio's bound on the reply text; sipr builds
/// the text to its size, so any value works (a negative one is refused).
fn set_buf_size(v: &ModValue) -> Result<(), String> {
    let n = sipr_sdk::modparam::int(v)?;
    if n < 0 {
        return Err(format!("xhttp_prom_buf_size {n}: bytes, 0 or more"));
    }
    Ok(())
}

fn declare(kind: &str, v: &ModValue) -> Result<(), String> {
    let d = metrics::parse_decl(kind, &sipr_sdk::modparam::str(v)?)?;
    let mut st = SETTINGS.lock().map_err(|_| "xhttp_prom settings poisoned")?;
    if st.decls.iter().any(|x| x.name == d.name) {
        return Err(format!("prom_{kind} {}: a metric of that name is already declared", d.name));
    }
    st.decls.push(d);
    Ok(())
}

fn set_counter(v: &ModValue) -> Result<(), String> {
    declare("counter", v)
}

fn set_gauge(v: &ModValue) -> Result<(), String> {
    declare("gauge", v)
}

fn set_histogram(v: &ModValue) -> Result<(), String> {
    declare("histogram", v)
}

fn mod_init() -> Result<(), String> {
    let (decls, timeout_min) = {
        let st = SETTINGS.lock().map_err(|_| "xhttp_prom settings poisoned")?;
        (st.decls.clone(), st.timeout_min)
    };
    let pool = sipr_sdk::shm_pool().ok_or("no shared memory pool")?;
    let table = sipr_sdk::ShmKvTable::new_in(pool, 256, 64, "xhttp_prom").ok_or("no shared memory for the metrics")?;
    let _ = METRICS.set(Metrics::new(decls, table, timeout_min.saturating_mul(60)));
    Ok(())
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
            let prefix = s.prefix.clone().unwrap_or_else(|| "kamailio_".to_string());
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

/// A label value, escaped as the text format wants (Kamailio writes user
/// metrics' label values raw, which a scraper cannot read with a quote).
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
    let mut out = user_metrics(&prefix, ts);
    out.push('\n');
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

/// The user-defined metrics' section, as Kamailio heads it.
fn user_metrics(prefix: &str, ts: u128) -> String {
    match METRICS.get().filter(|m| !m.is_empty()) {
        None => "# NO User defined metrics\n".to_string(),
        Some(m) => format!("# User defined metrics\n{}", m.listing(prefix, ts)),
    }
}

/// Runs an update from the script: 1, or -1 with the reason logged.
fn script_update(name: &str, labels: &[String], update: Update) -> FnResult {
    let Some(m) = METRICS.get() else { return Ok(-1) };
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    match m.update(name, &labels, update) {
        Ok(()) => Ok(1),
        Err(e) => {
            log::error!("xhttp_prom: {e}");
            Ok(-1)
        }
    }
}

/// The function's parameters from `first` on, as text (label values).
fn texts(ctx: &mut Ctx<'_>, p: &[Param], first: usize) -> Vec<String> {
    p[first..].iter().map(|x| String::from_utf8_lossy(&x.text(ctx)).into_owned()).collect()
}

/// A number as Kamailio reads one from text (strtod: what does not read
/// as one is 0).
fn float(s: &str) -> f64 {
    s.trim().parse::<f64>().ok().filter(|f| f.is_finite()).unwrap_or(0.0)
}

fn prom_counter_reset(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let t = texts(ctx, p, 0);
    script_update(&t[0], &t[1..], Update::Reset)
}

fn prom_gauge_reset(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    prom_counter_reset(ctx, p)
}

fn prom_counter_inc(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let t = texts(ctx, p, 0);
    match t[1].trim().parse::<u64>() {
        Ok(n) => script_update(&t[0], &t[2..], Update::Add(n)),
        Err(_) => {
            log::error!("xhttp_prom: prom_counter_inc({}): invalid number {}: a whole number of 0 or more", t[0], t[1]);
            Ok(-1)
        }
    }
}

fn prom_gauge_set(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let t = texts(ctx, p, 0);
    script_update(&t[0], &t[2..], Update::Set(float(&t[1])))
}

fn prom_histogram_observe(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let t = texts(ctx, p, 0);
    script_update(&t[0], &t[2..], Update::Observe(float(&t[1])))
}

/// An update from an RPC: its name (`what` names it when missing), the
/// number after it when `numbered`, the label values after those.
struct RpcArgs {
    name: String,
    number: Option<RpcValue>,
    labels: Vec<String>,
}

fn rpc_args(p: &[RpcValue], what: &str, numbered: bool) -> Result<RpcArgs, RpcError> {
    let name = p
        .first()
        .and_then(RpcValue::as_text)
        .ok_or_else(|| RpcError::new(400, format!("required {what} identifier")))?;
    let number = if numbered {
        Some(p.get(1).cloned().ok_or_else(|| RpcError::new(400, "required number argument"))?)
    } else {
        None
    };
    let labels = p[if numbered { 2 } else { 1 }..].iter().filter_map(RpcValue::as_text).collect();
    Ok(RpcArgs { name, number, labels })
}

/// Kamailio's wording of a failed RPC update: `NAME` or `NAME (l0, l1)`.
fn series_name(a: &RpcArgs) -> String {
    if a.labels.is_empty() {
        a.name.clone()
    } else {
        format!("{} ({})", a.name, a.labels.join(", "))
    }
}

fn rpc_update(a: &RpcArgs, update: Update, failed: impl FnOnce() -> String) -> Result<RpcValue, RpcError> {
    let m = METRICS.get().ok_or_else(|| RpcError::new(500, "xhttp_prom is not initialised"))?;
    let labels: Vec<&str> = a.labels.iter().map(String::as_str).collect();
    m.update(&a.name, &labels, update).map(|()| RpcValue::Null).map_err(|e| {
        log::error!("xhttp_prom: {e}");
        RpcError::new(500, failed())
    })
}

/// The RPC's number as a float (a number, or text that reads as one).
fn rpc_float(v: &Option<RpcValue>) -> Result<f64, RpcError> {
    v.as_ref()
        .and_then(RpcValue::as_text)
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite())
        .ok_or_else(|| RpcError::new(400, "required number argument"))
}

fn rpc_counter_reset(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let a = rpc_args(p, "counter", false)?;
    rpc_update(&a, Update::Reset, || format!("Failed to reset counter: {}", series_name(&a)))
}

fn rpc_counter_inc(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let a = rpc_args(p, "counter", true)?;
    let n =
        a.number.as_ref().and_then(RpcValue::as_int).ok_or_else(|| RpcError::new(400, "required number argument"))?;
    let n = u64::try_from(n).map_err(|_| RpcError::new(400, "Number must be greater or equal to zero"))?;
    rpc_update(&a, Update::Add(n), || format!("Failed to add {n} to counter: {}", series_name(&a)))
}

fn rpc_gauge_reset(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let a = rpc_args(p, "gauge", false)?;
    rpc_update(&a, Update::Reset, || format!("Failed to reset gauge: {}", series_name(&a)))
}

fn rpc_gauge_set(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let a = rpc_args(p, "gauge", true)?;
    let v = rpc_float(&a.number)?;
    rpc_update(&a, Update::Set(v), || format!("Failed to assign {v:.6} gauge: {}", series_name(&a)))
}

fn rpc_histogram_observe(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let a = rpc_args(p, "histogram", true)?;
    let v = rpc_float(&a.number)?;
    rpc_update(&a, Update::Observe(v), || format!("Failed to observe {v:.6} in histogram: {}", series_name(&a)))
}

fn rpc_metric_list_print(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let (_, prefix, _) = settings();
    Ok(RpcValue::Str(user_metrics(&prefix, now_ms())))
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
        ("prom_counter_reset", [Fmt], RouteMask::ANY, prom_counter_reset),
        ("prom_counter_reset", [Fmt, Fmt], RouteMask::ANY, prom_counter_reset),
        ("prom_counter_reset", [Fmt, Fmt, Fmt], RouteMask::ANY, prom_counter_reset),
        ("prom_counter_reset", [Fmt, Fmt, Fmt, Fmt], RouteMask::ANY, prom_counter_reset),
        ("prom_gauge_reset", [Fmt], RouteMask::ANY, prom_gauge_reset),
        ("prom_gauge_reset", [Fmt, Fmt], RouteMask::ANY, prom_gauge_reset),
        ("prom_gauge_reset", [Fmt, Fmt, Fmt], RouteMask::ANY, prom_gauge_reset),
        ("prom_gauge_reset", [Fmt, Fmt, Fmt, Fmt], RouteMask::ANY, prom_gauge_reset),
        ("prom_counter_inc", [Fmt, Fmt], RouteMask::ANY, prom_counter_inc),
        ("prom_counter_inc", [Fmt, Fmt, Fmt], RouteMask::ANY, prom_counter_inc),
        ("prom_counter_inc", [Fmt, Fmt, Fmt, Fmt], RouteMask::ANY, prom_counter_inc),
        ("prom_counter_inc", [Fmt, Fmt, Fmt, Fmt, Fmt], RouteMask::ANY, prom_counter_inc),
        ("prom_gauge_set", [Fmt, Fmt], RouteMask::ANY, prom_gauge_set),
        ("prom_gauge_set", [Fmt, Fmt, Fmt], RouteMask::ANY, prom_gauge_set),
        ("prom_gauge_set", [Fmt, Fmt, Fmt, Fmt], RouteMask::ANY, prom_gauge_set),
        ("prom_gauge_set", [Fmt, Fmt, Fmt, Fmt, Fmt], RouteMask::ANY, prom_gauge_set),
        ("prom_histogram_observe", [Fmt, Fmt], RouteMask::ANY, prom_histogram_observe),
        ("prom_histogram_observe", [Fmt, Fmt, Fmt], RouteMask::ANY, prom_histogram_observe),
        ("prom_histogram_observe", [Fmt, Fmt, Fmt, Fmt], RouteMask::ANY, prom_histogram_observe),
        ("prom_histogram_observe", [Fmt, Fmt, Fmt, Fmt, Fmt], RouteMask::ANY, prom_histogram_observe),
    ],
    params: [
        ("xhttp_prom_stats", Str, set_stats),
        ("xhttp_prom_beginning", Str, set_prefix),
        ("xhttp_prom_path", Str, set_path),
        ("xhttp_prom_timeout", Int, set_timeout),
        ("xhttp_prom_buf_size", Int, set_buf_size),
        ("prom_counter", Str, set_counter),
        ("prom_gauge", Str, set_gauge),
        ("prom_histogram", Str, set_histogram),
    ],
    rpcs: [
        ("xhttp_prom.counter_reset", "Reset a counter based on its identifier", rpc_counter_reset),
        ("xhttp_prom.counter_inc", "Add a number (greater or equal to zero) to a counter based on its identifier", rpc_counter_inc),
        ("xhttp_prom.gauge_reset", "Reset a gauge based on its identifier", rpc_gauge_reset),
        ("xhttp_prom.gauge_set", "Set a gauge to a number based on its identifier", rpc_gauge_set),
        ("xhttp_prom.histogram_observe", "Observe a number in a histogram", rpc_histogram_observe),
        ("xhttp_prom.metric_list_print", "Print a list showing all user defined metrics", rpc_metric_list_print),
    ],
    init: mod_init,
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
