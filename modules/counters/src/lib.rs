//! counters: Kamailio's counters module — the `cnt.*` RPC commands over
//! the server's counters (`cnt.get GROUP [NAME]`, `cnt.reset GROUP NAME`,
//! `cnt.grp_get_all GROUP`, `cnt.grps_list`, `cnt.var_list GROUP`; the
//! core serves them once this module is loaded, as the statistics they
//! read are the core's) and counters of the script's own: `modparam(
//! "counters", "script_counter", "[group.]name[( |:)description]")` declares one in
//! group "script" (or the `script_cnt_grp_name` one; `group.name` in a
//! group of its own; the description is what `cnt.help` says),
//! `cnt_inc("[group.]name")`, `cnt_add(..., n)` and `cnt_reset(...)`
//! change it.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sipr_sdk::prelude::*;

/// A declared script counter: `[group.]name[( |:)description]`.
#[derive(Debug, Clone, PartialEq)]
struct Declared {
    /// None: the `script_cnt_grp_name` group.
    group: Option<String>,
    name: String,
    description: String,
}

/// Kamailio's description of a script counter declared without one.
const DEFAULT_DESCRIPTION: &str = "custom script counter.";

/// Declared script counters (registered in mod_init).
static DECLARED: Mutex<Vec<Declared>> = Mutex::new(Vec::new());
/// `script_cnt_grp_name`: the group of those declared without one
/// (Kamailio's default "script").
static GROUP: Mutex<String> = Mutex::new(String::new());

fn set_group(v: &ModValue) -> Result<(), String> {
    let g = sipr_sdk::modparam::str(v)?;
    if g.is_empty() || !g.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("script_cnt_grp_name {g}: letters, digits and '_'"));
    }
    *GROUP.lock().map_err(|_| "counters poisoned")? = g;
    Ok(())
}

/// The registered ones: group, name and shm counter.
static COUNTERS: std::sync::OnceLock<Registered> = std::sync::OnceLock::new();

struct Registered {
    default_group: String,
    counters: Vec<(String, String, &'static AtomicU64)>,
}

/// Reads `[group.]name[( |:)description]`.
fn parse_declaration(spec: &str) -> Result<Declared, String> {
    let spec = spec.trim();
    let (id, description) = match spec.find([' ', '\t', ':']) {
        Some(i) => (&spec[..i], spec[i + 1..].trim()),
        None => (spec, ""),
    };
    let (group, name) = match id.split_once('.') {
        Some((g, n)) => (Some(g), n),
        None => (None, id),
    };
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid(name) || group.is_some_and(|g| !valid(g)) {
        return Err(format!(
            "script_counter \"{spec}\": [group.]name[( |:)description], names of letters, digits and '_'"
        ));
    }
    Ok(Declared {
        group: group.map(str::to_string),
        name: name.to_string(),
        description: if description.is_empty() { DEFAULT_DESCRIPTION.to_string() } else { description.to_string() },
    })
}

fn set_script_counter(v: &ModValue) -> Result<(), String> {
    let d = parse_declaration(&sipr_sdk::modparam::str(v)?)?;
    DECLARED.lock().map_err(|_| "counters poisoned")?.push(d);
    Ok(())
}

fn mod_init() -> Result<(), String> {
    let declared = DECLARED.lock().map_err(|_| "counters poisoned")?.clone();
    let group = GROUP.lock().map_err(|_| "counters poisoned")?.clone();
    let default_group = if group.is_empty() { "script".to_string() } else { group };
    let mut counters = Vec::with_capacity(declared.len());
    for d in declared {
        let g = d.group.unwrap_or_else(|| default_group.clone());
        let c = sipr_sdk::counter_with_help(&g, &d.name, &d.description)?;
        counters.push((g, d.name, c));
    }
    let _ = COUNTERS.set(Registered { default_group, counters });
    Ok(())
}

/// The declared script counter a parameter names, `[group.]name` (an
/// undeclared one is an error, logged).
fn declared(ctx: &mut Ctx<'_>, p: &[Param]) -> Option<&'static AtomicU64> {
    let reg = COUNTERS.get()?;
    let spec = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    let (group, name) = spec.split_once('.').unwrap_or((reg.default_group.as_str(), spec.as_str()));
    let c = reg.counters.iter().find(|(g, n, _)| g == group && n == name).map(|(_, _, c)| *c);
    if c.is_none() {
        log::error!("counters: {spec} is not declared (modparam(\"counters\", \"script_counter\", \"{spec}\"))");
    }
    c
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_as_kamailio_documents_them() {
        let d = |s| parse_declaration(s).unwrap();
        assert_eq!(d("foo"), Declared { group: None, name: "foo".into(), description: DEFAULT_DESCRIPTION.into() });
        assert_eq!(d("test.bar").group.as_deref(), Some("test"));
        assert_eq!(d("test.bar").name, "bar");
        assert_eq!(d("baz example counter").description, "example counter");
        let x = d("test.x:another example");
        assert_eq!(
            (x.group.as_deref(), x.name.as_str(), x.description.as_str()),
            (Some("test"), "x", "another example")
        );
        assert_eq!(d("out.reqs  forwarded requests").description, "forwarded requests");
        assert!(parse_declaration("").is_err());
        assert!(parse_declaration("a.b.c").is_err());
        assert!(parse_declaration(".x").is_err());
        assert!(parse_declaration("bad-name").is_err());
    }
}
