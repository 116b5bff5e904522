//! htable: shared hash tables (Kamailio's htable module), in shm so that
//! every worker sees the same data.
//!
//! * `modparam("htable", "htable", "name=>size=8;autoexpire=300;initval=0;")`
//!   declares a table: 2^size buckets, items expiring `autoexpire` seconds
//!   after they were last set (0 = never), `initval` read for absent keys
//!   (otherwise `$null`); `dbtable=NAME` loads it from that database
//!   table at start-up (`db_url`), `dbmode=1` writes it back at shutdown
//!   ([`db`]). The `dmqreplicate` attribute, `enable_dmq` and the
//!   several-column loads (`cols`) are refused at start-up.
//! * `$sht(name=>key)` read/write (`$null` removes); the key may hold PVs
//!   (`$sht(ipban=>$si)`). `$shtex(name=>key)`: seconds until the item
//!   expires (write: set them). `$shtinc(name=>key)` / `$shtdec(...)`:
//!   atomic add, returns the new value. `$shtcn(name=>regex)` /
//!   `$shtcv(name=>regex)`: items whose name / value matches.
//! * `sht_rm(name, key)`, `sht_rm_name_re("name=>regex")`,
//!   `sht_rm_value_re("name=>regex")`, `sht_rm_name(name, op, val)` /
//!   `sht_rm_value(...)` (`re`, `sw`), `sht_match_name` / `sht_has_name` /
//!   `sht_match_str_value` / `sht_has_str_value` (`eq`, `ne`, `re`, `sw`),
//!   `sht_setxs` / `sht_setxi` (with an expiry, kept only by tables with
//!   `autoexpire`, as Kamailio), `sht_reset(name)`, `sht_lock("name=>key")`,
//!   `sht_unlock("name=>key")`.
//!
//! RPC commands: `htable.get`, `htable.delete`, `htable.sets`,
//! `htable.seti`, `htable.dump`, `htable.flush`, `htable.listTables`,
//! `htable.stats`, `htable.setex`, `htable.setxs`, `htable.setxi`, with
//! Kamailio's answers and messages; `htable.reload` and `htable.store`
//! read and write a table's database table.
//! Expired items are dropped when read, and swept every `timer_interval`
//! seconds (default 20) by the timer process.

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use std::sync::{Mutex, OnceLock};

mod db;

use sipr_sdk::prelude::*;
use sipr_sdk::{Format, KvValue, Names, PvArg, PvRef, PvRegistry, RpcError, RpcValue, ShmKvTable};

/// A table as declared by modparam.
#[derive(Debug, Clone)]
struct Def {
    name: String,
    size: u32,
    autoexpire: u64,
    initval: Option<i64>,
    /// Whether an update restarts the item's expiry (Kamailio's default).
    updateexpire: bool,
    /// `dbtable`: the database table it is loaded from.
    dbtable: Option<String>,
    /// `dbmode`: 1 writes it back to `dbtable` at shutdown.
    dbmode: u8,
}

/// Declarations, collected by modparam before mod_init.
static DEFS: Mutex<Vec<Def>> = Mutex::new(Vec::new());

/// The tables in shm, created in mod_init (before the fork), in
/// declaration order.
static TABLES: OnceLock<Vec<(Def, ShmKvTable<'static>)>> = OnceLock::new();

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn parse_def(spec: &str) -> Result<Def, String> {
    let (name, attrs) = spec.split_once("=>").ok_or("expected name=>attr=value;...")?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
        return Err(format!("bad table name '{name}'"));
    }
    let mut def = Def {
        name: name.to_string(),
        size: 4,
        autoexpire: 0,
        initval: None,
        updateexpire: true,
        dbtable: None,
        dbmode: 0,
    };
    for attr in attrs.split(';').map(str::trim).filter(|a| !a.is_empty()) {
        let (k, v) = attr.split_once('=').ok_or_else(|| format!("attribute '{attr}' has no value"))?;
        let num = || v.trim().parse::<i64>().map_err(|_| format!("attribute {k}: '{v}' is not a number"));
        match k.trim() {
            "size" => {
                def.size = u32::try_from(num()?).ok().filter(|s| (1..=31).contains(s)).ok_or("size must be 1..31")?
            }
            "autoexpire" => def.autoexpire = u64::try_from(num()?).map_err(|_| "autoexpire must be >= 0")?,
            "initval" => def.initval = Some(num()?),
            "updateexpire" => def.updateexpire = num()? != 0,
            "dbtable" => def.dbtable = Some(v.trim().to_string()).filter(|t| !t.is_empty()),
            "dbmode" => def.dbmode = u8::try_from(num()?).ok().filter(|m| *m <= 1).ok_or("dbmode must be 0 or 1")?,
            // refused rather than ignored: nobody must believe the table
            // is replicated, or loaded from several columns
            "dmqreplicate" => {
                return Err("the table attribute 'dmqreplicate' is not supported by sipr (no DMQ replication)".into())
            }
            "cols" => {
                return Err(
                    "the table attribute 'cols' (items from several columns) is not supported by sipr yet".into()
                )
            }
            // only meaningful with cols
            "colnull" | "coldelim" | "colcount" => {}
            other => return Err(format!("unknown attribute '{other}'")),
        }
    }
    Ok(def)
}

fn set_htable(v: &ModValue) -> Result<(), String> {
    let ModValue::Str(spec) = v else { return Err("htable takes a string".into()) };
    let def = parse_def(spec)?;
    let mut defs = DEFS.lock().map_err(|_| "lock poisoned")?;
    if defs.iter().any(|d| d.name == def.name) {
        return Err(format!("table '{}' declared twice", def.name));
    }
    defs.push(def);
    Ok(())
}

/// Parameters that change nothing in sipr (`timer_procs`: expiry runs
/// in the timer process).
fn accept(_: &ModValue) -> Result<(), String> {
    Ok(())
}

fn set_key_name_column(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, &db::KEY_NAME_COLUMN)
}
fn set_key_type_column(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, &db::KEY_TYPE_COLUMN)
}
fn set_value_type_column(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, &db::VALUE_TYPE_COLUMN)
}
fn set_key_value_column(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, &db::KEY_VALUE_COLUMN)
}
fn set_expires_column(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, &db::EXPIRES_COLUMN)
}
fn set_array_size_suffix(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, &db::ARRAY_SIZE_SUFFIX)
}

fn set_enable_dmq(v: &ModValue) -> Result<(), String> {
    match v {
        ModValue::Int(0) => Ok(()),
        _ => Err("enable_dmq is not supported by sipr yet (no DMQ replication)".into()),
    }
}

fn mod_init() -> Result<(), String> {
    let defs = DEFS.lock().map_err(|_| "lock poisoned")?.clone();
    db::check(&defs)?;
    if defs.is_empty() {
        let _ = TABLES.set(Vec::new());
        return Ok(());
    }
    let pool = sipr_sdk::shm_pool().ok_or("no shared memory pool")?;
    let mut tables = Vec::new();
    for d in defs {
        let buckets = 1usize << d.size;
        let t = ShmKvTable::new_in(pool, buckets, buckets.min(256), &d.name)
            .ok_or_else(|| format!("no shared memory for table '{}'", d.name))?;
        tables.push((d, t));
    }
    let sweep = tables.iter().any(|(d, _)| d.autoexpire > 0);
    let _ = TABLES.set(tables);
    db::load_all(TABLES.get().map(Vec::as_slice).unwrap_or(&[]))?;
    if sweep {
        let secs = TIMER_INTERVAL.load(std::sync::atomic::Ordering::Relaxed).max(1);
        sipr_sdk::register_timer("htable expiry", secs * 1000, true, sweep_expired)?;
    }
    Ok(())
}

/// `timer_interval` (seconds, default 20 as Kamailio): how often expired
/// items are swept.
static TIMER_INTERVAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(20);

fn set_timer_interval(v: &ModValue) -> Result<(), String> {
    match v {
        ModValue::Int(i) if *i > 0 => {
            TIMER_INTERVAL.store(*i as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        other => Err(format!("timer_interval must be a positive number of seconds, not {other:?}")),
    }
}

/// Drops expired items from every table (the timer process).
fn sweep_expired() {
    let n = now();
    for (d, t) in TABLES.get().map(Vec::as_slice).unwrap_or(&[]) {
        if d.autoexpire > 0 {
            let gone = t.retain(n, |_, _| true);
            if gone > 0 {
                log::debug!("htable {}: {gone} expired items swept", d.name);
            }
        }
    }
}

/// The index of a declared table (at startup: declarations are complete).
fn table_index(name: &str) -> Result<u32, String> {
    let defs = DEFS.lock().map_err(|_| "lock poisoned")?;
    defs.iter().position(|d| d.name == name.trim()).map(|i| i as u32).ok_or_else(|| format!("no htable named '{name}'"))
}

fn table(i: u32) -> Result<&'static (Def, ShmKvTable<'static>), ModError> {
    TABLES.get().and_then(|t| t.get(i as usize)).ok_or_else(|| "htable not initialised".into())
}

/// `name=>key` with PVs allowed in the key.
fn keyed_fixup(inner: Option<&str>, reg: &PvRegistry, names: &mut Names) -> Result<PvArg, String> {
    let inner = inner.ok_or("needs (table=>key)")?;
    let (t, key) = inner.split_once("=>").ok_or("needs (table=>key)")?;
    let fmt = Format::parse(key.as_bytes(), reg, names)?;
    Ok(PvArg::Keyed(table_index(t)?, Box::new(fmt)))
}

fn keyed(pv: &PvRef, ctx: &Ctx<'_>) -> Option<(&'static (Def, ShmKvTable<'static>), Vec<u8>)> {
    let PvArg::Keyed(i, fmt) = &pv.arg else { return None };
    let t = table(*i).ok()?;
    Some((t, fmt.eval(ctx).into_owned()))
}

fn get_sht<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let Some(((def, t), key)) = keyed(pv, ctx) else { return Value::Null };
    let v = t.get(&key, now(), |v, _| match v {
        KvValue::Int(i) => Value::Int(i),
        KvValue::Str(s) => Value::string(s.to_vec()),
    });
    v.unwrap_or(match def.initval {
        Some(i) => Value::Int(i),
        None => Value::Null,
    })
}

/// When an item given `secs` of life expires: only tables with
/// `autoexpire` track expiry at all (Kamailio: `$shtex` and `sht_setx*`
/// on another table change nothing, `$shtex` reads 0).
fn expiry_in(def: &Def, secs: u64) -> u64 {
    if def.autoexpire > 0 && secs > 0 {
        now() + secs
    } else {
        0
    }
}

fn expiry(def: &Def) -> u64 {
    if def.autoexpire > 0 {
        now() + def.autoexpire
    } else {
        0
    }
}

/// The expiry of an item being set: restarted, or (updateexpire=0) the
/// one a live item already has.
fn update_expiry(def: &Def, t: &ShmKvTable<'_>, key: &[u8]) -> u64 {
    if !def.updateexpire {
        if let Some(exp) = t.get(key, now(), |_, exp| exp) {
            return exp;
        }
    }
    expiry(def)
}

fn set_sht(ctx: &mut Ctx<'_>, pv: &PvRef, v: &Value<'_>) -> Result<(), String> {
    let ((def, t), key) = keyed(pv, ctx).ok_or("htable not initialised")?;
    let r = match v {
        Value::Null => {
            t.remove(&key);
            Ok(())
        }
        Value::Int(i) => t.set(&key, KvValue::Int(*i), update_expiry(def, t, &key)),
        Value::Str(s) => t.set(&key, KvValue::Str(s), update_expiry(def, t, &key)),
    };
    r.map_err(|e| format!("htable '{}': {e}", def.name))
}

fn get_shtex<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let Some(((_, t), key)) = keyed(pv, ctx) else { return Value::Null };
    let n = now();
    t.get(&key, n, |_, exp| Value::Int(if exp == 0 { 0 } else { exp.saturating_sub(n) as i64 })).unwrap_or(Value::Null)
}

fn set_shtex(ctx: &mut Ctx<'_>, pv: &PvRef, v: &Value<'_>) -> Result<(), String> {
    let ((def, t), key) = keyed(pv, ctx).ok_or("htable not initialised")?;
    let exp = expiry_in(def, v.to_int().max(0) as u64);
    let cur: Option<Result<i64, Vec<u8>>> = t.get(&key, now(), |v, _| match v {
        KvValue::Int(i) => Ok(i),
        KvValue::Str(s) => Err(s.to_vec()),
    });
    let r = match cur {
        Some(Ok(i)) => t.set(&key, KvValue::Int(i), exp),
        Some(Err(s)) => t.set(&key, KvValue::Str(&s), exp),
        None => return Ok(()),
    };
    r.map_err(|e| format!("htable '{}': {e}", def.name))
}

fn add<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef, delta: i64) -> Value<'c> {
    let Some(((def, t), key)) = keyed(pv, ctx) else { return Value::Null };
    match t.add(&key, delta, def.initval.unwrap_or(0), expiry(def), now()) {
        Ok(Some(v)) => Value::Int(v),
        Ok(None) => Value::Null,
        Err(e) => {
            log::error!("htable '{}': {e}", def.name);
            Value::Null
        }
    }
}

fn get_shtinc<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    add(ctx, pv, 1)
}

fn get_shtdec<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    add(ctx, pv, -1)
}

fn count<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef, by_value: bool) -> Value<'c> {
    let Some(((_, t), re)) = keyed(pv, ctx) else { return Value::Null };
    let Ok(re) = sipr_sdk::compile_regex(&re) else { return Value::Null };
    let mut n = 0i64;
    t.for_each(now(), |k, v, _| {
        let hit = if by_value {
            match v {
                KvValue::Str(s) => re.is_match(s),
                KvValue::Int(i) => re.is_match(i.to_string().as_bytes()),
            }
        } else {
            re.is_match(k)
        };
        n += i64::from(hit);
    });
    Value::Int(n)
}

fn get_shtcn<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    count(ctx, pv, false)
}

fn get_shtcv<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    count(ctx, pv, true)
}

/// `"name=>rest"` of the function parameters.
fn split_param(ctx: &Ctx<'_>, p: &Param) -> Result<(u32, Vec<u8>), ModError> {
    let t = p.text(ctx).into_owned();
    let pos = t.windows(2).position(|w| w == b"=>").ok_or("expected table=>value")?;
    let name = String::from_utf8_lossy(&t[..pos]).into_owned();
    Ok((table_index(&name)?, t[pos + 2..].to_vec()))
}

fn named(ctx: &Ctx<'_>, p: &Param) -> Result<u32, ModError> {
    Ok(table_index(&String::from_utf8_lossy(&p.text(ctx)))?)
}

fn sht_rm(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let i = named(ctx, &p[0])?;
    let key = p[1].text(ctx).into_owned();
    Ok(if table(i)?.1.remove(&key) { 1 } else { -1 })
}

fn rm_re(ctx: &mut Ctx<'_>, p: &[Param], by_value: bool) -> FnResult {
    let (i, re) = split_param(ctx, &p[0])?;
    let re = sipr_sdk::compile_regex(&re).map_err(ModError)?;
    table(i)?.1.retain(now(), |k, v| {
        !(if by_value {
            match v {
                KvValue::Str(s) => re.is_match(s),
                KvValue::Int(n) => re.is_match(n.to_string().as_bytes()),
            }
        } else {
            re.is_match(k)
        })
    });
    Ok(1)
}

fn sht_rm_name_re(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    rm_re(ctx, p, false)
}

fn sht_rm_value_re(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    rm_re(ctx, p, true)
}

/// The value an item shows to the matching functions: an int as its text.
fn value_text(v: KvValue<'_>) -> Vec<u8> {
    match v {
        KvValue::Str(s) => s.to_vec(),
        KvValue::Int(n) => n.to_string().into_bytes(),
    }
}

/// A matcher for `op` (`eq`, `ne`, `re`, `sw`; `allowed` lists the ones
/// the function takes) against `val`.
/// A test of a name or value against the function's operand.
type Matcher = Box<dyn Fn(&[u8]) -> bool>;

fn matcher(op: &[u8], val: Vec<u8>, allowed: &[&[u8]]) -> Result<Matcher, ModError> {
    if !allowed.contains(&op) {
        return Err(format!("unknown operator '{}'", String::from_utf8_lossy(op)).into());
    }
    Ok(match op {
        b"eq" => Box::new(move |x: &[u8]| x == val.as_slice()),
        b"ne" => Box::new(move |x: &[u8]| x != val.as_slice()),
        b"sw" => Box::new(move |x: &[u8]| x.starts_with(&val)),
        _ => {
            let re = sipr_sdk::compile_regex(&val).map_err(ModError)?;
            Box::new(move |x: &[u8]| re.is_match(x))
        }
    })
}

/// `sht_rm_name(table, op, val)` / `sht_rm_value(...)`: removes the items
/// whose name (value) matches (`re`, `sw`).
fn rm_matching(ctx: &mut Ctx<'_>, p: &[Param], by_value: bool) -> FnResult {
    let i = named(ctx, &p[0])?;
    let (op, val) = (p[1].text(ctx).into_owned(), p[2].text(ctx).into_owned());
    let hit = matcher(&op, val, &[b"re", b"sw"])?;
    table(i)?.1.retain(now(), |k, v| !(if by_value { hit(&value_text(v)) } else { hit(k) }));
    Ok(1)
}

fn sht_rm_name(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    rm_matching(ctx, p, false)
}

fn sht_rm_value(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    rm_matching(ctx, p, true)
}

/// `sht_match_name(table, op, val)` (and `sht_has_name`) /
/// `sht_match_str_value` (`sht_has_str_value`): 1 when an item's name
/// (string value) matches (`eq`, `ne`, `re`, `sw`), else -1.
fn match_any(ctx: &mut Ctx<'_>, p: &[Param], by_value: bool) -> FnResult {
    let i = named(ctx, &p[0])?;
    let (op, val) = (p[1].text(ctx).into_owned(), p[2].text(ctx).into_owned());
    let hit = matcher(&op, val, &[b"eq", b"ne", b"re", b"sw"])?;
    let mut found = false;
    table(i)?.1.for_each(now(), |k, v, _| {
        found |= if by_value { matches!(v, KvValue::Str(s) if hit(s)) } else { hit(k) };
    });
    Ok(if found { 1 } else { -1 })
}

fn sht_match_name(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    match_any(ctx, p, false)
}

fn sht_match_str_value(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    match_any(ctx, p, true)
}

/// `sht_setxs(table, name, text, expires)` / `sht_setxi(table, name, int,
/// expires)`: sets the item with its own expiry in seconds (0: none).
fn setx(ctx: &mut Ctx<'_>, p: &[Param], int: bool) -> FnResult {
    let i = named(ctx, &p[0])?;
    let key = p[1].text(ctx).into_owned();
    let (def, t) = table(i)?;
    let exp = expiry_in(def, p[3].int(ctx).max(0) as u64);
    let r = if int {
        t.set(&key, KvValue::Int(p[2].int(ctx)), exp)
    } else {
        let v = p[2].text(ctx).into_owned();
        t.set(&key, KvValue::Str(&v), exp)
    };
    r.map_err(|e| ModError(format!("htable '{}': {e}", def.name)))?;
    Ok(1)
}

fn sht_setxs(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    setx(ctx, p, false)
}

fn sht_setxi(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    setx(ctx, p, true)
}

fn sht_reset(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let i = named(ctx, &p[0])?;
    table(i)?.1.retain(0, |_, _| false);
    Ok(1)
}

fn sht_lock(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (i, key) = split_param(ctx, &p[0])?;
    table(i)?.1.hold(&key);
    Ok(1)
}

fn sht_unlock(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (i, key) = split_param(ctx, &p[0])?;
    Ok(if table(i)?.1.release(&key) { 1 } else { -1 })
}

// ---------------------------------------------------------------------
// Iterators: sht_iterator_start/next/end/rm/sets/seti/setex with
// $shtitkey / $shtitval. An iterator walks the keys the table held when it
// started (the items themselves are read when the script asks, so a value
// another process changed meanwhile is the new one); Kamailio allows four
// at a time.

/// One iterator: its table, the keys left, the current key.
#[derive(Debug)]
struct Iter {
    table: u32,
    keys: std::vec::IntoIter<Vec<u8>>,
    current: Option<Vec<u8>>,
}

const MAX_ITERATORS: usize = 4;

/// This process's iterators by name.
static ITERATORS: Mutex<Vec<(String, Iter)>> = Mutex::new(Vec::new());

fn with_iter<R>(name: &str, f: impl FnOnce(&mut Iter) -> R) -> Result<R, ModError> {
    let mut its = ITERATORS.lock().map_err(|_| "htable iterators poisoned")?;
    let it = its.iter_mut().find(|(n, _)| n == name).ok_or_else(|| format!("no iterator named '{name}'"))?;
    Ok(f(&mut it.1))
}

fn sht_iterator_start(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    let t = named(ctx, &p[1])?;
    let mut keys = Vec::new();
    table(t)?.1.for_each(now(), |k, _, _| keys.push(k.to_vec()));
    let mut its = ITERATORS.lock().map_err(|_| "htable iterators poisoned")?;
    its.retain(|(n, _)| n != &name);
    if its.len() >= MAX_ITERATORS {
        return Err(format!("too many htable iterators (Kamailio's limit, {MAX_ITERATORS})").into());
    }
    its.push((name, Iter { table: t, keys: keys.into_iter(), current: None }));
    Ok(1)
}

fn sht_iterator_end(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    ITERATORS.lock().map_err(|_| "htable iterators poisoned")?.retain(|(n, _)| n != &name);
    Ok(1)
}

/// Moves to the next key that still has a live item; false at the end.
fn advance(it: &mut Iter) -> bool {
    let Ok((_, t)) = table(it.table) else { return false };
    for k in it.keys.by_ref() {
        if t.get(&k, now(), |_, _| ()).is_some() {
            it.current = Some(k);
            return true;
        }
    }
    it.current = None;
    false
}

fn sht_iterator_next(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    Ok(if with_iter(&name, advance)? { 1 } else { -1 })
}

/// Removes the current item and moves on: 1 when there is a next item,
/// -2 at the end (Kamailio's codes).
fn sht_iterator_rm(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    with_iter(&name, |it| {
        let Some(k) = it.current.take() else { return -1 };
        if let Ok((_, t)) = table(it.table) {
            t.remove(&k);
        }
        if advance(it) {
            1
        } else {
            -2
        }
    })
}

/// Sets the current item's value (or, `None`, its expiry in seconds).
fn iter_set(ctx: &mut Ctx<'_>, p: &[Param], how: IterSet) -> FnResult {
    let name = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    let value: Result<i64, Vec<u8>> = match how {
        IterSet::Str => Err(p[1].text(ctx).into_owned()),
        IterSet::Int | IterSet::Expire => Ok(p[1].int(ctx)),
    };
    let r = with_iter(&name, |it| {
        let (Some(k), Ok((def, t))) = (it.current.clone(), table(it.table)) else { return Ok(-1) };
        let r = match (how, &value) {
            (IterSet::Str, Err(s)) => t.set(&k, KvValue::Str(s), update_expiry(def, t, &k)),
            (IterSet::Int, Ok(i)) => t.set(&k, KvValue::Int(*i), update_expiry(def, t, &k)),
            (IterSet::Expire, Ok(secs)) => {
                let exp = expiry_in(def, (*secs).max(0) as u64);
                let cur: Option<Result<i64, Vec<u8>>> = t.get(&k, now(), |v, _| match v {
                    KvValue::Int(i) => Ok(i),
                    KvValue::Str(s) => Err(s.to_vec()),
                });
                match cur {
                    Some(Ok(i)) => t.set(&k, KvValue::Int(i), exp),
                    Some(Err(s)) => t.set(&k, KvValue::Str(&s), exp),
                    None => return Ok(-1),
                }
            }
            _ => return Ok(-1),
        };
        r.map(|()| 1).map_err(|e| ModError(format!("htable '{}': {e}", def.name)))
    })?;
    r
}

#[derive(Debug, Clone, Copy)]
enum IterSet {
    Str,
    Int,
    Expire,
}

fn sht_iterator_sets(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    iter_set(ctx, p, IterSet::Str)
}

fn sht_iterator_seti(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    iter_set(ctx, p, IterSet::Int)
}

fn sht_iterator_setex(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    iter_set(ctx, p, IterSet::Expire)
}

fn iter_fixup(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    match inner.map(str::trim) {
        Some(n) if !n.is_empty() => Ok(PvArg::Text(n.as_bytes().into())),
        _ => Err("needs an iterator name".into()),
    }
}

fn get_shtitkey<'c>(_: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let PvArg::Text(n) = &pv.arg else { return Value::Null };
    with_iter(&String::from_utf8_lossy(n), |it| it.current.clone()).ok().flatten().map_or(Value::Null, Value::string)
}

fn get_shtitval<'c>(_: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let PvArg::Text(n) = &pv.arg else { return Value::Null };
    let got = with_iter(&String::from_utf8_lossy(n), |it| {
        let k = it.current.clone()?;
        let (_, t) = table(it.table).ok()?;
        t.get(&k, now(), |v, _| match v {
            KvValue::Int(i) => Value::Int(i),
            KvValue::Str(s) => Value::string(s.to_vec()),
        })
    });
    got.ok().flatten().unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------
// RPC commands (Kamailio's htable.*)

/// Kamailio's answer when a command lacks parameters: what it needs.
fn need(params: &[RpcValue], n: usize, what: &str) -> Result<(), RpcError> {
    if params.len() < n {
        return Err(RpcError::new(500, format!("Not enough parameters ({what})")));
    }
    Ok(())
}

fn rpc_table(params: &[RpcValue]) -> Result<&'static (Def, ShmKvTable<'static>), RpcError> {
    let name = params.first().and_then(RpcValue::as_text).ok_or_else(|| RpcError::new(500, "No htable name given"))?;
    let i = table_index(&name).map_err(|_| RpcError::new(500, "No such htable"))?;
    table(i).map_err(|e| RpcError::new(500, e.0))
}

/// A key parameter: text as given (a number is printed).
fn rpc_key(params: &[RpcValue], n: usize) -> String {
    params.get(n).and_then(RpcValue::as_text).unwrap_or_default()
}

/// An integer parameter as Kamailio's JSON-RPC reads one: a JSON string
/// where a number is expected reads as 0.
fn rpc_int(params: &[RpcValue], n: usize) -> i64 {
    match params.get(n) {
        Some(RpcValue::Int(i)) => *i,
        _ => 0,
    }
}

fn kv_rpc(v: KvValue<'_>) -> (RpcValue, &'static str) {
    match v {
        KvValue::Int(i) => (RpcValue::Int(i), "int"),
        KvValue::Str(s) => (RpcValue::Str(String::from_utf8_lossy(s).into_owned()), "str"),
    }
}

/// An item's expiry as htable.get shows it: "NEVER", or the time.
fn rpc_expire(expires: u64) -> RpcValue {
    RpcValue::Str(if expires == 0 { "NEVER".into() } else { sipr_sdk::sip::SipDate::from_unix(expires).to_iso_text() })
}

/// Kamailio's item flags: 2 marks a string value (its AVP_VAL_STR).
fn rpc_flags(v: &KvValue<'_>) -> i64 {
    match v {
        KvValue::Str(_) => 2,
        KvValue::Int(_) => 0,
    }
}

fn rpc_get(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    need(params, 2, "htable name and key name")?;
    let (_, t) = rpc_table(params)?;
    let key = rpc_key(params, 1);
    let item = t
        .get(key.as_bytes(), now(), |v, exp| {
            RpcValue::Struct(vec![
                ("name".into(), RpcValue::Str(key.clone())),
                ("value".into(), kv_rpc(v).0),
                ("flags".into(), RpcValue::Int(rpc_flags(&v))),
                ("expire".into(), rpc_expire(exp)),
            ])
        })
        .ok_or_else(|| RpcError::new(500, "Key name doesn't exist in htable."))?;
    Ok(RpcValue::Struct(vec![("item".into(), item)]))
}

fn rpc_delete(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    // Kamailio's text, its missing parenthesis included
    if params.len() < 2 {
        return Err(RpcError::new(500, "Not enough parameters (htable name & key name"));
    }
    let (_, t) = rpc_table(params)?;
    if !t.remove(rpc_key(params, 1).as_bytes()) {
        return Err(RpcError::new(404, "Key not found in htable."));
    }
    Ok(RpcValue::Str("Ok. Key deleted.".into()))
}

/// htable.sets / seti / setxs / setxi: `expire` in seconds from now for
/// the x variants (kept only by tables with autoexpire, as in the script).
fn rpc_store(params: &[RpcValue], int: bool, with_expire: bool) -> Result<RpcValue, RpcError> {
    if with_expire {
        need(params, 4, "htable name, key name, value and expire")?;
    } else {
        need(params, 3, "htable name, key name and value")?;
    }
    let (def, t) = rpc_table(params)?;
    let key = rpc_key(params, 1);
    let exp = if with_expire {
        expiry_in(def, rpc_int(params, 3).max(0) as u64)
    } else {
        update_expiry(def, t, key.as_bytes())
    };
    let r = if int {
        t.set(key.as_bytes(), KvValue::Int(rpc_int(params, 2)), exp)
    } else {
        let s = params.get(2).and_then(RpcValue::as_text).unwrap_or_default();
        t.set(key.as_bytes(), KvValue::Str(s.as_bytes()), exp)
    };
    r.map_err(|e| RpcError::new(500, e.to_string()))?;
    Ok(RpcValue::Str("Ok. Key set to new value.".into()))
}

fn rpc_sets(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    rpc_store(params, false, false)
}

fn rpc_seti(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    rpc_store(params, true, false)
}

fn rpc_setxs(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    rpc_store(params, false, true)
}

fn rpc_setxi(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    rpc_store(params, true, true)
}

fn rpc_setex(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    need(params, 3, "htable name, item name and expire")?;
    let (def, t) = rpc_table(params)?;
    let key = rpc_key(params, 1);
    let exp = expiry_in(def, rpc_int(params, 2).max(0) as u64);
    let cur: Option<Result<i64, Vec<u8>>> = t.get(key.as_bytes(), now(), |v, _| match v {
        KvValue::Int(i) => Ok(i),
        KvValue::Str(s) => Err(s.to_vec()),
    });
    let r = match cur {
        Some(Ok(i)) => t.set(key.as_bytes(), KvValue::Int(i), exp),
        Some(Err(s)) => t.set(key.as_bytes(), KvValue::Str(&s), exp),
        None => return Err(RpcError::new(500, "Failed to update the item")),
    };
    r.map_err(|e| RpcError::new(500, e.to_string()))?;
    Ok(RpcValue::Str("Ok".into()))
}

/// The table by bucket, as Kamailio lists it: the non-empty buckets, each
/// with its number, its item count and its items.
fn rpc_dump(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let (_, t) = rpc_table(params)?;
    let mut buckets: Vec<(usize, Vec<RpcValue>)> = Vec::new();
    t.for_each_in_buckets(now(), |b, k, v, _| {
        let (value, ty) = kv_rpc(v);
        let item = RpcValue::Struct(vec![
            ("name".into(), RpcValue::Str(String::from_utf8_lossy(k).into_owned())),
            ("value".into(), value),
            ("type".into(), RpcValue::Str(ty.into())),
        ]);
        match buckets.last_mut() {
            Some((last, items)) if *last == b => items.push(item),
            _ => buckets.push((b, vec![item])),
        }
    });
    Ok(RpcValue::Array(
        buckets
            .into_iter()
            .map(|(b, items)| {
                RpcValue::Struct(vec![
                    ("entry".into(), RpcValue::Int(b as i64)),
                    ("size".into(), RpcValue::Int(items.len() as i64)),
                    ("slot".into(), RpcValue::Array(items)),
                ])
            })
            .collect(),
    ))
}

fn rpc_flush(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let (_, t) = rpc_table(params)?;
    t.retain(0, |_, _| false);
    Ok(RpcValue::Str("Ok. Htable flushed.".into()))
}

/// The tables, newest declaration first (Kamailio's order).
fn tables_listed() -> impl Iterator<Item = &'static (Def, ShmKvTable<'static>)> {
    TABLES.get().map(Vec::as_slice).unwrap_or(&[]).iter().rev()
}

/// Kamailio's answer when the cfg declares no table.
fn any_tables() -> Result<(), RpcError> {
    if TABLES.get().is_none_or(Vec::is_empty) {
        return Err(RpcError::new(500, "No htables"));
    }
    Ok(())
}

fn rpc_list_tables(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    any_tables()?;
    Ok(RpcValue::Array(
        tables_listed()
            .map(|(d, _)| {
                RpcValue::Struct(vec![
                    ("name".into(), RpcValue::Str(d.name.clone())),
                    ("dbtable".into(), RpcValue::Str(d.dbtable.clone().unwrap_or_default())),
                    ("dbmode".into(), RpcValue::Int(i64::from(d.dbmode))),
                    ("expire".into(), RpcValue::Int(d.autoexpire as i64)),
                    ("updateexpire".into(), RpcValue::Int(i64::from(d.updateexpire))),
                    ("size".into(), RpcValue::Int(1 << d.size)),
                    ("dmqreplicate".into(), RpcValue::Int(0)),
                ])
            })
            .collect(),
    ))
}

fn rpc_stats(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    any_tables()?;
    Ok(RpcValue::Array(
        tables_listed()
            .map(|(d, t)| {
                let mut per_bucket = vec![0i64; t.buckets()];
                t.for_each_in_buckets(now(), |b, _, _, _| per_bucket[b] += 1);
                RpcValue::Struct(vec![
                    ("name".into(), RpcValue::Str(d.name.clone())),
                    ("slots".into(), RpcValue::Int(per_bucket.len() as i64)),
                    ("all".into(), RpcValue::Int(per_bucket.iter().sum())),
                    ("min".into(), RpcValue::Int(per_bucket.iter().copied().min().unwrap_or(0))),
                    ("max".into(), RpcValue::Int(per_bucket.iter().copied().max().unwrap_or(0))),
                ])
            })
            .collect(),
    ))
}

/// The table an htable.reload / htable.store names, which must have a
/// database table (Kamailio's answers otherwise).
fn rpc_db_table(params: &[RpcValue]) -> Result<&'static (Def, ShmKvTable<'static>), RpcError> {
    if db::url().is_none() {
        return Err(RpcError::new(500, "No htable db_url"));
    }
    let t = rpc_table(params)?;
    if t.0.dbtable.is_none() {
        return Err(RpcError::new(500, "No database htable"));
    }
    Ok(t)
}

/// `htable.reload NAME`: the table read again from its database table
/// (read first: a database that fails leaves the table as it was).
fn rpc_reload(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let (d, t) = rpc_db_table(params)?;
    let failed = |e: sipr_sdk::db::DbError| RpcError::new(500, format!("Htable reload failed: {e}"));
    let items = db::with_db(|db| db::read(db, d)).map_err(failed)?;
    t.retain(0, |_, _| false);
    db::fill(d, t, &items).map_err(failed)?;
    Ok(RpcValue::Str("Ok. Htable reloaded.".into()))
}

/// `htable.store NAME`: the table written to its database table.
fn rpc_store_db(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let (d, t) = rpc_db_table(params)?;
    db::with_db(|db| db::store(db, d, t)).map_err(|e| RpcError::new(500, format!("Htable store failed: {e}")))?;
    Ok(RpcValue::Str("Ok. Htable successfully stored to DB.".into()))
}

/// `dbmode=1`: written back when the server stops.
fn destroy() {
    db::store_at_exit(TABLES.get().map(Vec::as_slice).unwrap_or(&[]));
}

sipr_sdk::module! {
    name: "htable",
    functions: [
        ("sht_rm", [Fmt, Fmt], RouteMask::ANY, sht_rm),
        ("sht_rm_name_re", [Fmt], RouteMask::ANY, sht_rm_name_re),
        ("sht_rm_value_re", [Fmt], RouteMask::ANY, sht_rm_value_re),
        ("sht_reset", [Fmt], RouteMask::ANY, sht_reset),
        ("sht_rm_name", [Fmt, Fmt, Fmt], RouteMask::ANY, sht_rm_name),
        ("sht_rm_value", [Fmt, Fmt, Fmt], RouteMask::ANY, sht_rm_value),
        ("sht_match_name", [Fmt, Fmt, Fmt], RouteMask::ANY, sht_match_name),
        ("sht_has_name", [Fmt, Fmt, Fmt], RouteMask::ANY, sht_match_name),
        ("sht_match_str_value", [Fmt, Fmt, Fmt], RouteMask::ANY, sht_match_str_value),
        ("sht_has_str_value", [Fmt, Fmt, Fmt], RouteMask::ANY, sht_match_str_value),
        ("sht_setxs", [Fmt, Fmt, Fmt, IntOrPv], RouteMask::ANY, sht_setxs),
        ("sht_setxi", [Fmt, Fmt, IntOrPv, IntOrPv], RouteMask::ANY, sht_setxi),
        ("sht_iterator_start", [Fmt, Fmt], RouteMask::ANY, sht_iterator_start),
        ("sht_iterator_end", [Fmt], RouteMask::ANY, sht_iterator_end),
        ("sht_iterator_next", [Fmt], RouteMask::ANY, sht_iterator_next),
        ("sht_iterator_rm", [Fmt], RouteMask::ANY, sht_iterator_rm),
        ("sht_iterator_sets", [Fmt, Fmt], RouteMask::ANY, sht_iterator_sets),
        ("sht_iterator_seti", [Fmt, IntOrPv], RouteMask::ANY, sht_iterator_seti),
        ("sht_iterator_setex", [Fmt, IntOrPv], RouteMask::ANY, sht_iterator_setex),
        ("sht_lock", [Fmt], RouteMask::ANY, sht_lock),
        ("sht_unlock", [Fmt], RouteMask::ANY, sht_unlock),
    ],
    params: [
        ("htable", Str, set_htable),
        ("db_url", Str, db::set_db_url),
        ("key_name_column", Str, set_key_name_column),
        ("key_type_column", Str, set_key_type_column),
        ("value_type_column", Str, set_value_type_column),
        ("key_value_column", Str, set_key_value_column),
        ("expires_column", Str, set_expires_column),
        ("array_size_suffix", Str, set_array_size_suffix),
        ("fetch_rows", Any, db::set_fetch_rows),
        ("timer_interval", Int, set_timer_interval),
        ("timer_procs", Any, accept),
        ("db_expires", Any, db::set_db_expires),
        ("enable_dmq", Int, set_enable_dmq),
    ],
    pvs: [
        sipr_sdk::pv_class!("sht", keyed_fixup, get_sht, set_sht),
        sipr_sdk::pv_class!("shtex", keyed_fixup, get_shtex, set_shtex),
        sipr_sdk::pv_class!("shtinc", keyed_fixup, get_shtinc),
        sipr_sdk::pv_class!("shtdec", keyed_fixup, get_shtdec),
        sipr_sdk::pv_class!("shtcn", keyed_fixup, get_shtcn),
        sipr_sdk::pv_class!("shtcv", keyed_fixup, get_shtcv),
        sipr_sdk::pv_class!("shtitkey", iter_fixup, get_shtitkey),
        sipr_sdk::pv_class!("shtitval", iter_fixup, get_shtitval),
    ],
    rpcs: [
        ("htable.get", "Get one key from a hash table.", rpc_get),
        ("htable.delete", "Delete one key from a hash table.", rpc_delete),
        ("htable.sets", "Set one key in a hash table to a string value.", rpc_sets),
        ("htable.seti", "Set one key in a hash table to an integer value.", rpc_seti),
        ("htable.setex", "Set expire in a hash table for the item referenced by key.", rpc_setex),
        ("htable.setxs", "Set one key in a hash table to a string value and its expire value.", rpc_setxs),
        ("htable.setxi", "Set one key in a hash table to an integer value and its expire value.", rpc_setxi),
        ("htable.dump", "Dump the contents of hash table.", rpc_dump),
        ("htable.flush", "Flush hash table.", rpc_flush),
        ("htable.listTables", "List all htables.", rpc_list_tables),
        ("htable.stats", "Statistics about htables.", rpc_stats),
        ("htable.reload", "Reload hash table from database.", rpc_reload),
        ("htable.store", "Store hash table to database.", rpc_store_db),
    ],
    init: mod_init,
    destroy: destroy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_definitions() {
        let d = parse_def("ipban=>size=8;autoexpire=300;initval=0;").unwrap();
        assert_eq!((d.name.as_str(), d.size, d.autoexpire, d.initval), ("ipban", 8, 300, Some(0)));
        assert_eq!(parse_def("t=>").unwrap().size, 4);
        assert!(parse_def("t=>size=40;").is_err());
        assert!(parse_def("bad name=>size=4;").is_err());
        assert!(parse_def("t=>frob=1;").unwrap_err().contains("unknown attribute"));
        let d = parse_def("t=>dbtable=htable;dbmode=1;").unwrap();
        assert_eq!((d.dbtable.as_deref(), d.dbmode), (Some("htable"), 1));
        assert!(parse_def("t=>dbmode=2;").is_err());
        // what sipr does not do is refused, never ignored
        assert!(parse_def("t=>cols='a,b';").unwrap_err().contains("not supported"));
        assert!(parse_def("t=>dmqreplicate=1;").unwrap_err().contains("not supported"));
    }
}
