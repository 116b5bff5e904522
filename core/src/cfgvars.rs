//! Runtime-changeable parameters (Kamailio's cfg framework, what
//! `cfg.get` / `cfg.set` reach): each variable is a number in shm, so a
//! change made by the RPC process is what every process reads next. The
//! core's own (`core:debug`) are applied by each process at its next
//! message ([`refresh`], one atomic load when nothing changed); a module's
//! (`tm:fr_timer`) are read where they are used. The cfg's own custom
//! parameters (`group.name = value desc "..."`) are variables too, numbers
//! or strings (strings in a shm table), as in Kamailio.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use sipr_mem::{KvValue, ShmKvTable};

use crate::rpc::{RpcDef, RpcError, RpcValue};

/// A variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CfgValue {
    /// A number.
    Int(i64),
    /// A string.
    Str(String),
}

impl CfgValue {
    fn rpc(&self) -> RpcValue {
        match self {
            CfgValue::Int(i) => RpcValue::Int(*i),
            CfgValue::Str(s) => RpcValue::Str(s.clone()),
        }
    }
}

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
    /// The value it started with (`cfg.reset`).
    initial: CfgValue,
    /// A number's value (an i64's bits) in shm; a string's changes count
    /// here (its text is in [`STRINGS`]).
    value: &'static AtomicU64,
}

impl Var {
    fn is_str(&self) -> bool {
        matches!(self.initial, CfgValue::Str(_))
    }

    fn key(&self) -> Vec<u8> {
        [self.group.as_bytes(), b"\0", self.name.as_bytes()].concat()
    }

    /// Its value now, as every process reads it.
    fn current(&self) -> CfgValue {
        if !self.is_str() {
            return CfgValue::Int(self.value.load(Ordering::Relaxed) as i64);
        }
        let text = STRINGS.get().and_then(|t| {
            t.get(&self.key(), 0, |v, _| match v {
                KvValue::Str(b) => String::from_utf8_lossy(b).into_owned(),
                KvValue::Int(i) => i.to_string(),
            })
        });
        CfgValue::Str(text.unwrap_or_default())
    }

    /// `value` in this variable's type, within its bounds (Kamailio takes
    /// a number for a string variable as its text, measured).
    fn accepts(&self, value: &CfgValue) -> Option<CfgValue> {
        if self.is_str() {
            return Some(CfgValue::Str(match value {
                CfgValue::Int(i) => i.to_string(),
                CfgValue::Str(s) => s.clone(),
            }));
        }
        match value {
            CfgValue::Int(i) => Some(*i),
            CfgValue::Str(s) => s.trim().parse().ok(),
        }
        .filter(|i| (self.min..=self.max).contains(i))
        .map(CfgValue::Int)
    }

    /// Stores `value` (of its type): every process reads it next.
    fn store(&self, value: &CfgValue) -> Result<(), RpcError> {
        match value {
            CfgValue::Int(i) => self.value.store(*i as u64, Ordering::Relaxed),
            CfgValue::Str(s) => {
                let t = STRINGS.get().ok_or_else(|| RpcError::new(500, "no shared memory for cfg strings"))?;
                t.set(&self.key(), KvValue::Str(s.as_bytes()), 0)
                    .map_err(|_| RpcError::new(500, "shared memory full: the variable keeps its value"))?;
                self.value.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

/// The string variables' texts, in shm (made with the first one).
static STRINGS: OnceLock<ShmKvTable<'static>> = OnceLock::new();

/// A change prepared by `cfg.set_delayed*`: group, name, value. Kept by
/// the process that serves the RPC connection, as Kamailio keeps them in
/// its RPC process's cfg context, until `cfg.commit` or `cfg.rollback`.
static PENDING: Mutex<Vec<(String, String, CfgValue)>> = Mutex::new(Vec::new());

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

/// Bounds of a variable that takes any C int (Kamailio's int variables
/// without a range, measured).
pub const ANY_INT: (i64, i64) = (i32::MIN as i64, i32::MAX as i64);
/// Bounds of an on/off variable.
pub const FLAG: (i64, i64) = (0, 1);

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
    add(def, CfgValue::Int(def.initial))
}

/// Adds a variable starting at `initial` (its word is made here; a name
/// registered again keeps the first one's): its word.
fn add(def: VarDef<'_>, initial: CfgValue) -> Result<&'static AtomicU64, String> {
    if GENERATION.get().is_none() {
        let _ = GENERATION.set(shm_word()?);
    }
    let mut vars = VARS.lock().map_err(|_| "cfg variables poisoned")?;
    if let Some(v) = vars.iter().find(|v| v.group == def.group && v.name == def.name) {
        return Ok(v.value);
    }
    let var = Var {
        group: def.group.to_string(),
        name: def.name.to_string(),
        help: def.help.to_string(),
        readable: def.readable,
        min: def.min,
        max: def.max,
        initial,
        value: shm_word()?,
    };
    var.store(&var.initial).map_err(|e| e.message)?;
    let value = var.value;
    vars.push(var);
    Ok(value)
}

/// Registers a string variable (main process, before the fork, after the
/// shm pool exists): a custom cfg parameter with a text value.
/// Returns the variable's change counter (bumped by each change), in shm.
pub fn register_str(group: &str, name: &str, help: &str, initial: &str) -> Result<&'static AtomicU64, String> {
    if STRINGS.get().is_none() {
        let pool = crate::shm::pool().ok_or("no shared memory pool for cfg strings")?;
        let t = ShmKvTable::new_in(pool, 16, 4, "cfg strings").ok_or("no shared memory for cfg strings")?;
        let _ = STRINGS.set(t);
    }
    let def = VarDef { group, name, help, initial: 0, min: 0, max: 0, readable: true };
    add(def, CfgValue::Str(initial.to_string()))
}

/// Registers the cfg's custom parameters (`group.name = value desc
/// "..."`): numbers and strings `cfg.set` changes for every process.
pub fn register_custom(params: &[crate::cfg::CustomParam]) -> Result<(), String> {
    use crate::cfg::ast::ParamValue;
    for p in params {
        let Some((group, name)) = p.name.split_once('.') else { continue };
        let help = p.desc.as_deref().unwrap_or("");
        match &p.value {
            ParamValue::Int(i) => {
                register(VarDef { group, name, help, initial: *i, min: i64::MIN, max: i64::MAX, readable: true })?;
            }
            ParamValue::Bool(b) => {
                let initial = i64::from(*b);
                register(VarDef { group, name, help, initial, min: i64::MIN, max: i64::MAX, readable: true })?;
            }
            ParamValue::Str(t) | ParamValue::Ident(t) | ParamValue::Raw(t) => {
                register_str(group, name, help, t)?;
            }
        }
    }
    Ok(())
}

/// The value of `group.name` now (a custom parameter read by the script:
/// `$sel(cfg_get.group.name)`, `$ccp(group.name)`).
pub fn get(group: &str, name: &str) -> Option<CfgValue> {
    VARS.lock().ok()?.iter().find(|v| v.group == group && v.name == name).map(Var::current)
}

/// Registers the core's variables (main process, before the fork).
pub fn init_core(debug: i32) -> Result<(), String> {
    let d = register(VarDef {
        group: "core",
        name: "debug",
        help: "debug level",
        initial: i64::from(debug),
        // any number, as Kamailio takes (9 and -9 included, measured)
        min: i64::from(i32::MIN),
        max: i64::from(i32::MAX),
        readable: true,
    })?;
    let _ = DEBUG.set(d);
    SEEN.store(GENERATION.get().map_or(0, |g| g.load(Ordering::Relaxed)), Ordering::Relaxed);
    Ok(())
}

/// The core's variables the script engine and the receive path read at
/// each use (after [`init_core_script`]; before it, the cfg's values).
static MAX_WHILE_LOOPS: OnceLock<&'static AtomicU64> = OnceLock::new();
static FORCE_RPORT: OnceLock<&'static AtomicU64> = OnceLock::new();

/// Registers the core's `max_while_loops` and `force_rport` (main
/// process, before the fork), with Kamailio's help texts and bounds
/// (measured: `force_rport` 0..1, `max_while_loops` any number).
pub fn init_core_script(max_while_loops: u32, force_rport: bool) -> Result<(), String> {
    let w = register(VarDef {
        group: "core",
        name: "max_while_loops",
        help: "maximum iterations allowed for a while loop",
        initial: i64::from(max_while_loops),
        min: ANY_INT.0,
        max: ANY_INT.1,
        readable: true,
    })?;
    let _ = MAX_WHILE_LOOPS.set(w);
    let w = register(VarDef {
        group: "core",
        name: "force_rport",
        help: "force rport for all the received messages",
        initial: i64::from(force_rport),
        min: FLAG.0,
        max: FLAG.1,
        readable: true,
    })?;
    let _ = FORCE_RPORT.set(w);
    Ok(())
}

/// `max_while_loops` now (`cfg`: the cfg's, until registered); 0: no
/// limit.
pub fn max_while_loops(cfg: u32) -> u32 {
    MAX_WHILE_LOOPS.get().map_or(cfg, |w| u32::try_from(w.load(Ordering::Relaxed) as i64).unwrap_or(0))
}

/// `force_rport` now (`cfg`: the cfg's, until registered).
pub fn force_rport(cfg: bool) -> bool {
    FORCE_RPORT.get().map_or(cfg, |w| w.load(Ordering::Relaxed) != 0)
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

/// The variable `group:name` when it exists and takes `value`, with the
/// value in its type: `Err` with Kamailio's message when not.
fn check<'v>(vars: &'v [Var], group: &str, name: &str, value: &CfgValue) -> Result<(&'v Var, CfgValue), RpcError> {
    if group.contains('[') {
        return Err(RpcError::new(400, "sipr has no cfg group instances (group[id])"));
    }
    vars.iter()
        .find(|v| v.group == group && v.name == name)
        .and_then(|v| Some((v, v.accepts(value)?)))
        .ok_or_else(|| RpcError::new(400, "Failed to set the variable"))
}

/// Sets the number `group:name` (from any process): `Err` with Kamailio's
/// message when there is no such variable or the value is out of its
/// bounds.
pub fn set(group: &str, name: &str, value: i64) -> Result<(), RpcError> {
    set_value(group, name, &CfgValue::Int(value))
}

/// Sets `group:name` to a number or a text (from any process).
pub fn set_value(group: &str, name: &str, value: &CfgValue) -> Result<(), RpcError> {
    let vars = VARS.lock().map_err(|_| RpcError::new(500, "cfg variables poisoned"))?;
    let (v, value) = check(&vars, group, name, value)?;
    v.store(&value)?;
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
            .map(|v| (v.name.clone(), v.current().rpc()))
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
    Ok(v.current().rpc())
}

/// The group, variable and value of a `cfg.set*` / `cfg.set_delayed*`:
/// a number or a text (`string_only`: text, as the `*_string` commands
/// take; a number there is the type error Kamailio's reader gives); the
/// variable's type decides what it becomes ([`Var::accepts`]).
fn change_params(p: &[RpcValue], string_only: bool) -> Result<(String, String, CfgValue), RpcError> {
    let group = crate::rpc::text_param(p, 0, "group name")?;
    let name = crate::rpc::text_param(p, 1, "variable name")?;
    let value = match p.get(2) {
        Some(RpcValue::Int(_)) if string_only => {
            return Err(RpcError::new(400, "error at parameter 2: expected string type but record doesn't match type"))
        }
        Some(RpcValue::Int(i)) => CfgValue::Int(*i),
        Some(RpcValue::Str(s)) => CfgValue::Str(s.clone()),
        None => return Err(RpcError::missing(2, "value")),
        _ => return Err(RpcError::new(400, "Failed to set the variable")),
    };
    Ok((group, name, value))
}

fn rpc_set(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let (group, name, value) = change_params(p, false)?;
    set_value(&group, &name, &value)?;
    Ok(RpcValue::Null)
}

/// `cfg.sets` / `cfg.set_now_string`: the value given as text.
fn rpc_set_string(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let (group, name, value) = change_params(p, true)?;
    set_value(&group, &name, &value)?;
    Ok(RpcValue::Null)
}

fn prepare(p: &[RpcValue], string_only: bool) -> Result<RpcValue, RpcError> {
    let (group, name, value) = change_params(p, string_only)?;
    let vars = VARS.lock().map_err(|_| RpcError::new(500, "cfg variables poisoned"))?;
    let (_, value) = check(&vars, &group, &name, &value)?;
    PENDING.lock().map_err(|_| RpcError::new(500, "cfg changes poisoned"))?.push((group, name, value));
    Ok(RpcValue::Null)
}

/// `cfg.set_delayed` / `cfg.set_delayed_int`: a change kept for
/// `cfg.commit`.
fn rpc_set_delayed(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    prepare(p, false)
}

fn rpc_set_delayed_string(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    prepare(p, true)
}

/// `cfg.commit`: the prepared changes, in order (the last of a variable
/// wins), reaching every process.
fn rpc_commit(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let changes = std::mem::take(&mut *PENDING.lock().map_err(|_| RpcError::new(500, "cfg changes poisoned"))?);
    for (group, name, value) in changes {
        set_value(&group, &name, &value)?;
    }
    Ok(RpcValue::Null)
}

/// `cfg.rollback`: the prepared changes dropped.
fn rpc_rollback(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    PENDING.lock().map_err(|_| RpcError::new(500, "cfg changes poisoned"))?.clear();
    Ok(RpcValue::Null)
}

/// `cfg.diff`: each prepared change with the value it replaces.
fn rpc_diff(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let pending = PENDING.lock().map_err(|_| RpcError::new(500, "cfg changes poisoned"))?;
    let vars = VARS.lock().map_err(|_| RpcError::new(500, "cfg variables poisoned"))?;
    let out = pending
        .iter()
        .map(|(group, name, value)| {
            let old = vars
                .iter()
                .find(|v| &v.group == group && &v.name == name)
                .map_or(RpcValue::Int(0), |v| v.current().rpc());
            RpcValue::Struct(vec![
                ("group name".into(), RpcValue::Str(group.clone())),
                ("variable name".into(), RpcValue::Str(name.clone())),
                ("old value".into(), old),
                ("new value".into(), value.rpc()),
            ])
        })
        .collect();
    Ok(RpcValue::Array(out))
}

/// `cfg.del_delayed group[id] name`: group instances' values; sipr has no
/// group instances (a plain group gets Kamailio's syntax error).
fn rpc_del_delayed(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let group = crate::rpc::text_param(p, 0, "group name")?;
    if !group.ends_with(']') {
        return Err(RpcError::new(400, "Wrong group syntax. Use \"group[id]\""));
    }
    Err(RpcError::new(400, "sipr has no cfg group instances (group[id])"))
}

/// `cfg.reset group`: every variable of the group back to the value it
/// started with, at once (an unknown group: nothing to do).
fn rpc_reset(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let group = crate::rpc::text_param(p, 0, "group name")?;
    let initial: Vec<(String, CfgValue)> = VARS
        .lock()
        .map_err(|_| RpcError::new(500, "cfg variables poisoned"))?
        .iter()
        .filter(|v| v.group == group)
        .map(|v| (v.name.clone(), v.initial.clone()))
        .collect();
    for (name, value) in initial {
        set_value(&group, &name, &value)?;
    }
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
    let kind =
        RpcValue::Str(if v.is_str() { "(parameter type is string)" } else { "(parameter type is integer)" }.into());
    // a variable without a description: Kamailio adds a null string
    // (kamcmd: `<null string>`), left out here
    if v.help.is_empty() {
        return Ok(kind);
    }
    // over JSON only the type line (measured, as Kamailio's jsonrpcs
    // keeps the last value added)
    Ok(RpcValue::Added(vec![RpcValue::Str(v.help.clone()), kind]))
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
    RpcDef {
        name: "cfg.sets",
        doc: "Set the value of a configuration variable and commit the change immediately",
        call: rpc_set_string,
    },
    RpcDef {
        name: "cfg.set_now_string",
        doc: "Set the value of a configuration variable and commit the change immediately",
        call: rpc_set_string,
    },
    RpcDef {
        name: "cfg.set_delayed",
        doc: "Prepare the change of a configuration variable, but does not commit the new value yet",
        call: rpc_set_delayed,
    },
    RpcDef {
        name: "cfg.set_delayed_int",
        doc: "Prepare the change of a configuration variable, but does not commit the new value yet",
        call: rpc_set_delayed,
    },
    RpcDef {
        name: "cfg.set_delayed_string",
        doc: "Prepare the change of a configuration variable, but does not commit the new value yet",
        call: rpc_set_delayed_string,
    },
    RpcDef { name: "cfg.commit", doc: "Commit the previously prepared configuration changes", call: rpc_commit },
    RpcDef { name: "cfg.rollback", doc: "Drop the prepared configuration changes", call: rpc_rollback },
    RpcDef {
        name: "cfg.diff",
        doc: "List the pending configuration changes that have not been committed yet",
        call: rpc_diff,
    },
    RpcDef {
        name: "cfg.del_delayed",
        doc: "Prepare the deletion of the value of a configuration variable from a group instance, but does not commit the change yet",
        call: rpc_del_delayed,
    },
    RpcDef {
        name: "cfg.reset",
        doc: "Reset all the values of a configuration group and commit the change immediately",
        call: rpc_reset,
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
            RpcValue::Added(vec![
                RpcValue::Str("a test variable".into()),
                RpcValue::Str("(parameter type is integer)".into())
            ])
        );
        // over JSON the last value added only, as Kamailio's jsonrpcs
        let mut json = String::new();
        crate::rpc::json::write_rpc(&help, &mut json);
        assert_eq!(json, "\"(parameter type is integer)\"");
    }

    #[test]
    fn delayed_changes_commit_in_order_or_roll_back() {
        let w =
            register(VarDef { group: "d", name: "y", help: "", initial: 1, min: 0, max: 10, readable: true }).unwrap();
        let p = |v: RpcValue| vec![RpcValue::Str("d".into()), RpcValue::Str("y".into()), v];
        rpc_set_delayed(&p(RpcValue::Int(4))).unwrap();
        rpc_set_delayed_string(&p(RpcValue::Str("6".into()))).unwrap();
        assert_eq!(rpc_set_delayed(&p(RpcValue::Int(11))).unwrap_err().message, "Failed to set the variable");
        assert_eq!(rpc_set_delayed_string(&p(RpcValue::Int(6))).unwrap_err().code, 400);
        let RpcValue::Array(diff) = rpc_diff(&[]).unwrap() else { panic!("diff is a list") };
        assert_eq!(diff.len(), 2);
        assert_eq!(diff[1].member("old value"), Some(&RpcValue::Int(1)));
        assert_eq!(diff[1].member("new value"), Some(&RpcValue::Int(6)));
        assert_eq!(w.load(Ordering::Relaxed), 1, "nothing applied before the commit");
        rpc_commit(&[]).unwrap();
        assert_eq!(w.load(Ordering::Relaxed), 6, "the last change wins");
        rpc_set_delayed(&p(RpcValue::Int(2))).unwrap();
        rpc_rollback(&[]).unwrap();
        assert_eq!(rpc_diff(&[]).unwrap(), RpcValue::Array(Vec::new()));
        assert_eq!(w.load(Ordering::Relaxed), 6);
        rpc_reset(&[RpcValue::Str("d".into())]).unwrap();
        assert_eq!(w.load(Ordering::Relaxed), 1, "reset to the start-up value");
        let e = rpc_del_delayed(&[RpcValue::Str("d".into()), RpcValue::Str("y".into())]).unwrap_err();
        assert_eq!(e.message, "Wrong group syntax. Use \"group[id]\"");
    }
}
