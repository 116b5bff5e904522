//! Runtime-changeable parameters (Kamailio's cfg framework, what
//! `cfg.get` / `cfg.set` reach): each variable is a number in shm, so a
//! change made by the RPC process is what every process reads next. The
//! core's own (`core:debug`) are applied by each process at its next
//! message ([`refresh`], one atomic load when nothing changed); a module's
//! (`tm:fr_timer`) are read where they are used.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::rpc::{RpcDef, RpcError, RpcValue};

/// One variable.
#[derive(Debug)]
struct Var {
    group: String,
    name: String,
    help: String,
    /// `cfg.get` may read it (Kamailio refuses some, tm's timers).
    readable: bool,
    min: i64,
    max: i64,
    /// The value (an i64's bits) in shm.
    value: &'static AtomicU64,
}

static VARS: Mutex<Vec<Var>> = Mutex::new(Vec::new());
/// Bumped by every change, in shm.
static GENERATION: OnceLock<&'static AtomicU64> = OnceLock::new();
/// What this process last applied.
static SEEN: AtomicU64 = AtomicU64::new(0);
/// The core's `debug`.
static DEBUG: OnceLock<&'static AtomicU64> = OnceLock::new();

fn shm_word() -> Result<&'static AtomicU64, String> {
    match crate::shm::pool() {
        Some(pool) => pool.alloc_counter().ok_or_else(|| "no shared memory for a cfg variable".to_string()),
        None => Ok(Box::leak(Box::new(AtomicU64::new(0)))),
    }
}

/// What a module declares of a variable.
#[derive(Debug, Clone, Copy)]
pub struct VarDef<'a> {
    /// Group (the module's name, or `core`).
    pub group: &'a str,
    /// Name.
    pub name: &'a str,
    /// `cfg.help`'s text.
    pub help: &'a str,
    /// The value it starts with (the cfg's).
    pub initial: i64,
    /// Bounds `cfg.set` keeps it in.
    pub min: i64,
    /// See `min`.
    pub max: i64,
    /// Whether `cfg.get` reads it.
    pub readable: bool,
}

/// Registers a variable (main process, before the fork): its value's
/// shm word. Registering a name again returns the same word.
pub fn register(def: VarDef<'_>) -> Result<&'static AtomicU64, String> {
    if GENERATION.get().is_none() {
        let _ = GENERATION.set(shm_word()?);
    }
    let mut vars = VARS.lock().map_err(|_| "cfg variables poisoned")?;
    if let Some(v) = vars.iter().find(|v| v.group == def.group && v.name == def.name) {
        return Ok(v.value);
    }
    let value = shm_word()?;
    value.store(def.initial as u64, Ordering::Relaxed);
    vars.push(Var {
        group: def.group.to_string(),
        name: def.name.to_string(),
        help: def.help.to_string(),
        readable: def.readable,
        min: def.min,
        max: def.max,
        value,
    });
    Ok(value)
}

/// Registers the core's variables (main process, before the fork).
pub fn init_core(debug: i32) -> Result<(), String> {
    let d = register(VarDef {
        group: "core",
        name: "debug",
        help: "debug level",
        initial: i64::from(debug),
        min: -5,
        max: 5,
        readable: true,
    })?;
    let _ = DEBUG.set(d);
    SEEN.store(GENERATION.get().map_or(0, |g| g.load(Ordering::Relaxed)), Ordering::Relaxed);
    Ok(())
}

/// Applies what changed since this process last looked (the core's
/// variables): called before each message and timer round.
pub fn refresh() {
    let Some(g) = GENERATION.get() else { return };
    let now = g.load(Ordering::Acquire);
    if now == SEEN.load(Ordering::Relaxed) {
        return;
    }
    SEEN.store(now, Ordering::Relaxed);
    if let Some(d) = DEBUG.get() {
        crate::runtime::log::set_debug(d.load(Ordering::Relaxed) as i64 as i32);
    }
}

/// Sets `group:name` (from any process): `Err` with Kamailio's message
/// when there is no such variable or the value is out of its bounds.
pub fn set(group: &str, name: &str, value: i64) -> Result<(), RpcError> {
    let vars = VARS.lock().map_err(|_| RpcError::new(500, "cfg variables poisoned"))?;
    let v = vars
        .iter()
        .find(|v| v.group == group && v.name == name)
        .ok_or_else(|| RpcError::new(400, "Failed to set the variable"))?;
    if value < v.min || value > v.max {
        return Err(RpcError::new(400, "Failed to set the variable"));
    }
    v.value.store(value as u64, Ordering::Relaxed);
    if let Some(g) = GENERATION.get() {
        g.fetch_add(1, Ordering::Release);
    }
    // the process that made the change sees it at once
    refresh();
    Ok(())
}

/// The global log level (core `debug`) as every process has it.
pub fn debug_level() -> i64 {
    DEBUG.get().map_or(0, |d| d.load(Ordering::Relaxed) as i64)
}

/// Sets the global log level for every process, unbounded (corex.debug).
pub fn set_debug_level(level: i64) {
    match DEBUG.get() {
        Some(d) => {
            d.store(level as u64, Ordering::Relaxed);
            if let Some(g) = GENERATION.get() {
                g.fetch_add(1, Ordering::Release);
            }
            refresh();
        }
        None => crate::runtime::log::set_debug(level as i32),
    }
}

fn rpc_get(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let group = crate::rpc::text_param(p, 0, "group name")?;
    let vars = VARS.lock().map_err(|_| RpcError::new(500, "cfg variables poisoned"))?;
    let Some(name) = p.get(1).and_then(RpcValue::as_text) else {
        // the whole group's readable variables
        let members: Vec<(String, RpcValue)> = vars
            .iter()
            .filter(|v| v.group == group && v.readable)
            .map(|v| (v.name.clone(), RpcValue::Int(v.value.load(Ordering::Relaxed) as i64)))
            .collect();
        if members.is_empty() {
            return Err(RpcError::new(400, "Failed to get the variable"));
        }
        return Ok(RpcValue::Struct(members));
    };
    let v = vars
        .iter()
        .find(|v| v.group == group && v.name == name)
        .ok_or_else(|| RpcError::new(400, "Failed to get the variable"))?;
    if !v.readable {
        return Err(RpcError::new(400, "Variable exists, but it is not readable via RPC interface"));
    }
    Ok(RpcValue::Int(v.value.load(Ordering::Relaxed) as i64))
}

fn rpc_set(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let group = crate::rpc::text_param(p, 0, "group name")?;
    let name = crate::rpc::text_param(p, 1, "variable name")?;
    let value = match p.get(2) {
        Some(RpcValue::Int(i)) => *i,
        Some(RpcValue::Str(s)) => s.trim().parse().map_err(|_| RpcError::new(400, "Failed to set the variable"))?,
        _ => return Err(RpcError::new(400, "Failed to set the variable")),
    };
    set(&group, &name, value)?;
    Ok(RpcValue::Null)
}

fn rpc_list(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let vars = VARS.lock().map_err(|_| RpcError::new(500, "cfg variables poisoned"))?;
    // the groups last registered first, each in its own order, as Kamailio
    let mut groups: Vec<&str> = Vec::new();
    for v in vars.iter() {
        if !groups.contains(&v.group.as_str()) {
            groups.push(&v.group);
        }
    }
    let out = groups
        .iter()
        .rev()
        .flat_map(|g| vars.iter().filter(move |v| v.group == *g))
        .map(|v| RpcValue::Str(format!("{}: {}", v.group, v.name)))
        .collect();
    Ok(RpcValue::Array(out))
}

fn rpc_help(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let group = crate::rpc::text_param(p, 0, "group name")?;
    let name = crate::rpc::text_param(p, 1, "variable name")?;
    let vars = VARS.lock().map_err(|_| RpcError::new(500, "cfg variables poisoned"))?;
    let v = vars
        .iter()
        .find(|v| v.group == group && v.name == name)
        .ok_or_else(|| RpcError::new(400, "Failed to get the variable description"))?;
    Ok(RpcValue::Array(vec![RpcValue::Str(v.help.clone()), RpcValue::Str("(parameter type is integer)".into())]))
}

/// cfg_rpc's commands (Kamailio's names and help texts): published when
/// the cfg loads the cfg_rpc module, as in Kamailio.
pub static RPCS: &[RpcDef] = &[
    RpcDef { name: "cfg.get", doc: "Get the value of a configuration variable", call: rpc_get },
    RpcDef {
        name: "cfg.set",
        doc: "Set the value of a configuration variable and commit the change immediately",
        call: rpc_set,
    },
    RpcDef {
        name: "cfg.seti",
        doc: "Set the value of a configuration variable and commit the change immediately",
        call: rpc_set,
    },
    RpcDef {
        name: "cfg.set_now_int",
        doc: "Set the value of a configuration variable and commit the change immediately",
        call: rpc_set,
    },
    RpcDef { name: "cfg.list", doc: "List the configuration variables", call: rpc_list },
    RpcDef { name: "cfg.help", doc: "Print the description of a configuration variable", call: rpc_help },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_and_bounds() {
        let w = register(VarDef {
            group: "t",
            name: "x",
            help: "a test variable",
            initial: 5,
            min: 0,
            max: 10,
            readable: true,
        })
        .unwrap();
        assert_eq!(rpc_get(&[RpcValue::Str("t".into()), RpcValue::Str("x".into())]), Ok(RpcValue::Int(5)));
        set("t", "x", 7).unwrap();
        assert_eq!(w.load(Ordering::Relaxed), 7);
        assert_eq!(set("t", "x", 11).unwrap_err().code, 400);
        assert_eq!(set("t", "nope", 1).unwrap_err().message, "Failed to set the variable");
        let r = rpc_set(&[RpcValue::Str("t".into()), RpcValue::Str("x".into()), RpcValue::Str("abc".into())]);
        assert_eq!(r.unwrap_err().code, 400);
        register(VarDef { group: "t", name: "hidden", help: "", initial: 1, min: 0, max: 1, readable: false }).unwrap();
        let e = rpc_get(&[RpcValue::Str("t".into()), RpcValue::Str("hidden".into())]).unwrap_err();
        assert_eq!(e.message, "Variable exists, but it is not readable via RPC interface");
        let list = rpc_list(&[]).unwrap();
        assert!(matches!(list, RpcValue::Array(ref l) if l.contains(&RpcValue::Str("t: x".into()))));
        let help = rpc_help(&[RpcValue::Str("t".into()), RpcValue::Str("x".into())]).unwrap();
        assert_eq!(
            help,
            RpcValue::Array(vec![
                RpcValue::Str("a test variable".into()),
                RpcValue::Str("(parameter type is integer)".into())
            ])
        );
    }
}
