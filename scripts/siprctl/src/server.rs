//! `start`, `stop`, `restart`: the server as a daemon, found by its
//! pidfile (PID_FILE, default /run/sipr/sipr.pid), as kamctl does.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::Ctx;

fn pid_file(ctx: &Ctx) -> PathBuf {
    ctx.config.get("PID_FILE").map_or_else(|| PathBuf::from("/run/sipr/sipr.pid"), PathBuf::from)
}

/// The pid in the pidfile, when that process runs.
fn running(ctx: &Ctx) -> Option<i32> {
    let text = std::fs::read_to_string(pid_file(ctx)).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    std::path::Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// `start`: SIPR_BIN (default `sipr`) with the cfg, the pidfile and
/// SIPR_ARGS (extra options, as `-L DIR -m 64`), waiting for its pid.
pub fn start(ctx: &Ctx) -> Result<()> {
    if let Some(pid) = running(ctx) {
        bail!("sipr runs already (pid {pid}, {})", pid_file(ctx).display());
    }
    let bin = ctx.config.get("SIPR_BIN").unwrap_or_else(|| "sipr".into());
    let cfg = ctx.server_cfg();
    let pidfile = pid_file(ctx);
    if let Some(dir) = pidfile.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut cmd = Command::new(&bin);
    cmd.arg("-f").arg(&cfg).arg("-P").arg(&pidfile);
    if let Some(extra) = ctx.config.get("SIPR_ARGS") {
        cmd.args(extra.split_whitespace());
    }
    let status = cmd.status().with_context(|| format!("cannot run {bin} (set SIPR_BIN in the settings)"))?;
    if !status.success() {
        bail!("{bin} -f {} did not start ({status}): see its log (syslog)", cfg.display());
    }
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Some(pid) = running(ctx) {
            if ctx.fmt == crate::output::Format::Human {
                crate::output::outln!("sipr started, pid {pid}");
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("sipr did not write its pidfile {} within 10 s", pidfile.display())
}

/// `stop`: SIGTERM to the pid in the pidfile, waiting for the end.
pub fn stop(ctx: &Ctx) -> Result<()> {
    let Some(pid) = running(ctx) else {
        bail!("sipr does not run (no live pid in {})", pid_file(ctx).display());
    };
    sipr_locking::process::kill(pid, 15).with_context(|| format!("cannot signal pid {pid}"))?;
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(pid_file(ctx));
            if ctx.fmt == crate::output::Format::Human {
                crate::output::outln!("sipr stopped (pid {pid})");
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("pid {pid} still runs 15 s after SIGTERM")
}
