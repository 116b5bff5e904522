//! counters: Kamailio's counters module — the `cnt.*` RPC commands over
//! the server's counters (`cnt.get GROUP [NAME]`, `cnt.reset GROUP NAME`,
//! `cnt.grp_get_all GROUP`, `cnt.grps_list`, `cnt.var_list GROUP`; the
//! core serves them once this module is loaded, as the statistics they
//! read are the core's) and counters of the script's own: `modparam(
//! "counters", "script_counter", "name [description]")` declares one in
//! group "script", `cnt_inc("name")`, `cnt_add("name", n)` and
//! `cnt_reset("name")` change it.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sipr_sdk::prelude::*;

/// Declared script counters (names; registered in mod_init).
static DECLARED: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// `script_cnt_grp_name`: their group (Kamailio's default "script").
static GROUP: Mutex<String> = Mutex::new(String::new());

fn set_group(v: &ModValue) -> Result<(), String> {
    let g = sipr_sdk::modparam::str(v)?;
    if g.is_empty() || !g.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("script_cnt_grp_name {g}: letters, digits and '_'"));
    }
    *GROUP.lock().map_err(|_| "counters poisoned")? = g;
    Ok(())
}
/// The registered ones: name and shm counter.
static COUNTERS: std::sync::OnceLock<Vec<(String, &'static AtomicU64)>> = std::sync::OnceLock::new();

fn set_script_counter(v: &ModValue) -> Result<(), String> {
    let spec = sipr_sdk::modparam::str(v)?;
    let name = spec.split_whitespace().next().ok_or("script_counter: a counter name is needed")?;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
        return Err(format!("script_counter {name}: letters, digits, '_' and '.' only"));
    }
    DECLARED.lock().map_err(|_| "counters poisoned")?.push(name.to_string());
    Ok(())
}

fn mod_init() -> Result<(), String> {
    let names = DECLARED.lock().map_err(|_| "counters poisoned")?.clone();
    let group = GROUP.lock().map_err(|_| "counters poisoned")?.clone();
    let group = if group.is_empty() { "script".to_string() } else { group };
    let mut regs = Vec::with_capacity(names.len());
    for n in names {
        let c = sipr_sdk::counter(&group, &n)?;
        regs.push((n, c));
    }
    let _ = COUNTERS.set(regs);
    Ok(())
}

/// The declared script counter a parameter names (an undeclared one is
/// an error, logged).
fn declared(ctx: &mut Ctx<'_>, p: &[Param]) -> Option<&'static AtomicU64> {
    let name = name_of(ctx, p);
    let c = COUNTERS.get()?.iter().find(|(n, _)| *n == name).map(|(_, c)| *c);
    if c.is_none() {
        log::error!("counters: {name} is not declared (modparam(\"counters\", \"script_counter\", \"{name}\"))");
    }
    c
}

/// The counter a parameter names (`name` or `script.name`).
fn name_of(ctx: &mut Ctx<'_>, p: &[Param]) -> String {
    let n = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    n.strip_prefix("script.").map(str::to_string).unwrap_or(n)
}

fn cnt_inc(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Some(c) = declared(ctx, p) else { return Ok(-1) };
    c.fetch_add(1, Ordering::Relaxed);
    Ok(1)
}

fn cnt_add(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Some(c) = declared(ctx, p) else { return Ok(-1) };
    let n = p[1].int(ctx);
    if n >= 0 {
        c.fetch_add(n as u64, Ordering::Relaxed);
    } else {
        c.fetch_sub(n.unsigned_abs(), Ordering::Relaxed);
    }
    Ok(1)
}

fn cnt_reset(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Some(c) = declared(ctx, p) else { return Ok(-1) };
    c.store(0, Ordering::Relaxed);
    Ok(1)
}

sipr_sdk::module! {
    name: "counters",
    functions: [
        ("cnt_inc", [Fmt], RouteMask::ANY, cnt_inc),
        ("cnt_add", [Fmt, IntOrPv], RouteMask::ANY, cnt_add),
        ("cnt_reset", [Fmt], RouteMask::ANY, cnt_reset),
    ],
    params: [
        ("script_counter", Str, set_script_counter),
        ("script_cnt_grp_name", Str, set_group),
    ],
    init: mod_init,
}
