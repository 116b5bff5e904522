//! `monitor`: a live view of the server, redrawn every second — uptime,
//! requests and replies per second, transactions, registrations, shared
//! memory and the modules holding most of it, and each process's CPU
//! load. Everything comes over RPC; the per-process load from the
//! kernel's schedstat of each pid the server lists (same host only).

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::Value;

use crate::Ctx;

/// `mod.stats all shm`'s answer as (module, bytes, blocks).
pub fn shm_by_module(v: &Value) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    let Some(items) = v.as_array() else { return out };
    let mut name = None;
    for it in items {
        match it {
            Value::String(s) => {
                if let Some(m) = s.strip_prefix("Module: ") {
                    name = Some(m.to_string());
                }
            }
            Value::Object(o) => {
                if let Some(n) = name.take() {
                    let get = |k: &str| o.get(k).and_then(Value::as_u64).unwrap_or(0);
                    out.push((n, get("Total"), get("Blocks")));
                }
            }
            _ => {}
        }
    }
    out
}

/// `group:name = value` lines as a map.
fn stats_map(v: &Value) -> HashMap<String, u64> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(|l| l.split_once(" = "))
                .filter_map(|(n, x)| Some((n.to_string(), x.trim().parse().ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn cpu_ns(pid: i64) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?.split_whitespace().next()?.parse().ok()
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// One screen.
struct Sample {
    at: Instant,
    stats: HashMap<String, u64>,
    cpu: HashMap<i64, u64>,
}

/// Runs the view until Ctrl-C, or `count` screens.
pub fn run(ctx: &Ctx, count: Option<u64>) -> Result<()> {
    let mut prev: Option<Sample> = None;
    let mut shown = 0u64;
    let stdout = std::io::stdout();
    loop {
        let uptime = ctx.rpc("core.uptime", &[])?;
        let stats = stats_map(&ctx.rpc("stats.get_statistics", &[Value::from("all")])?);
        let shm = ctx.rpc("core.shmmem", &[])?;
        let by_module = ctx
            .rpc("mod.stats", &[Value::from("all"), Value::from("shm")])
            .map(|v| shm_by_module(&v))
            .unwrap_or_default();
        let procs = ctx.rpc("core.psx", &[])?;
        let now = Instant::now();
        let procs: Vec<(i64, String)> = procs
            .as_array()
            .map(|a| a.iter().filter_map(|p| Some((p["PID"].as_i64()?, p["DSC"].as_str()?.to_string()))).collect())
            .unwrap_or_default();
        let cpu: HashMap<i64, u64> = procs.iter().filter_map(|(pid, _)| Some((*pid, cpu_ns(*pid)?))).collect();
        let get = |k: &str| stats.get(k).copied().unwrap_or(0);
        let rate = |k: &str| -> String {
            match &prev {
                Some(p) => {
                    let secs = now.duration_since(p.at).as_secs_f64().max(0.001);
                    let d = get(k).saturating_sub(p.stats.get(k).copied().unwrap_or(0));
                    format!("{:.0}/s", d as f64 / secs)
                }
                None => "-".into(),
            }
        };
        let mut screen = String::from("\x1b[H\x1b[2J");
        screen.push_str(&format!(
            "sipr monitor   up {}s   (refresh 1s, Ctrl-C to quit)\n\n",
            uptime.get("uptime").and_then(Value::as_i64).unwrap_or(0)
        ));
        screen.push_str(&format!(
            "requests  {:>10} total  {:>8}      replies  {:>10} total  {:>8}\n",
            get("core:rcv_requests"),
            rate("core:rcv_requests"),
            get("core:rcv_replies"),
            rate("core:rcv_replies")
        ));
        screen.push_str(&format!(
            "transactions  active {}  in use {}  UAS {}  UAC {}\n",
            get("tmx:active_transactions"),
            get("tmx:inuse_transactions"),
            get("tmx:UAS_transactions"),
            get("tmx:UAC_transactions")
        ));
        screen.push_str(&format!(
            "registrations  users {}  contacts {}  accepted {}\n",
            get("usrloc:registered_users"),
            get("usrloc:location_contacts"),
            get("registrar:accepted_regs")
        ));
        let used = shm.get("real_used").and_then(Value::as_u64).unwrap_or(0);
        let total = shm.get("total").and_then(Value::as_u64).unwrap_or(0);
        screen.push_str(&format!(
            "shm  {} of {} ({:.1}%)\n",
            human_bytes(used),
            human_bytes(total),
            if total > 0 { used as f64 * 100.0 / total as f64 } else { 0.0 }
        ));
        let mut top = by_module;
        top.sort_by_key(|t| std::cmp::Reverse(t.1));
        for (m, b, k) in top.iter().take(5).filter(|t| t.1 > 0) {
            screen.push_str(&format!("     {m:<12} {:>10}  {k} blocks\n", human_bytes(*b)));
        }
        screen.push_str("\nprocess load\n");
        for (pid, desc) in &procs {
            let load = match (&prev, cpu.get(pid)) {
                (Some(p), Some(now_ns)) => {
                    let secs = now.duration_since(p.at).as_secs_f64().max(0.001);
                    let d = now_ns.saturating_sub(p.cpu.get(pid).copied().unwrap_or(*now_ns));
                    format!("{:5.1}%", d as f64 / 1e9 / secs * 100.0)
                }
                (None, Some(_)) => "    -".into(),
                (_, None) => "  n/a".into(),
            };
            screen.push_str(&format!("  {pid:>7}  {load}  {desc}\n"));
        }
        {
            let mut out = stdout.lock();
            out.write_all(screen.as_bytes())?;
            out.flush()?;
        }
        prev = Some(Sample { at: now, stats, cpu });
        shown += 1;
        if count.is_some_and(|c| shown >= c) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mod_stats_reading() {
        let v = serde_json::json!(["Module: core", {"Blocks": 3, "Total": 100}, "", "Module: tm", {"Blocks": 1, "Total": 5}, ""]);
        assert_eq!(shm_by_module(&v), vec![("core".to_string(), 100, 3), ("tm".to_string(), 5, 1)]);
        assert_eq!(human_bytes(2048), "2.0 KiB");
    }
}
