//! htable's database side (Kamailio's `db_url`, the `dbtable` and
//! `dbmode` table attributes, `htable.reload`, `htable.store`).
//!
//! A table with `dbtable=NAME` is filled from that database table at
//! start-up, by a loader process the main process forks before the
//! workers (the main process never holds a connection across the fork):
//! each row is `key_name`, `key_type` (0 a plain key; 1 an array item,
//! stored as `name[0]`, `name[1]`, ... with the count under
//! `name::size`), `value_type` (0 a string, 1 an integer), `key_value`
//! and, with `db_expires=1` for a table with `autoexpire`, `expires`
//! (absolute Unix seconds; 0: the table's own `autoexpire`). `dbmode=1` writes the table back when the
//! server stops; `htable.store` does it on demand and `htable.reload`
//! reads it again.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Mutex;

use sipr_sdk::db::{Db, DbError, DbValue};
use sipr_sdk::{KvValue, ModValue, ShmKvTable};

use crate::Def;

/// `db_url`.
pub static DB_URL: Mutex<String> = Mutex::new(String::new());
/// `key_name_column` ... `expires_column`, `array_size_suffix`.
pub static KEY_NAME_COLUMN: Mutex<String> = Mutex::new(String::new());
pub static KEY_TYPE_COLUMN: Mutex<String> = Mutex::new(String::new());
pub static VALUE_TYPE_COLUMN: Mutex<String> = Mutex::new(String::new());
pub static KEY_VALUE_COLUMN: Mutex<String> = Mutex::new(String::new());
pub static EXPIRES_COLUMN: Mutex<String> = Mutex::new(String::new());
pub static ARRAY_SIZE_SUFFIX: Mutex<String> = Mutex::new(String::new());
/// `db_expires`.
pub static DB_EXPIRES: AtomicBool = AtomicBool::new(false);
/// `fetch_rows` (accepted: sipr reads a table in one query).
pub static FETCH_ROWS: AtomicI64 = AtomicI64::new(100);

/// The version of the `htable` table sipr reads (Kamailio's).
const TABLE_VERSION: i64 = 2;

fn text(slot: &Mutex<String>, default: &str) -> String {
    let v = slot.lock().map(|s| s.clone()).unwrap_or_default();
    if v.is_empty() {
        default.to_string()
    } else {
        v
    }
}

/// The column names: key name, key type, value type, value, expires.
fn columns() -> [String; 5] {
    [
        text(&KEY_NAME_COLUMN, "key_name"),
        text(&KEY_TYPE_COLUMN, "key_type"),
        text(&VALUE_TYPE_COLUMN, "value_type"),
        text(&KEY_VALUE_COLUMN, "key_value"),
        text(&EXPIRES_COLUMN, "expires"),
    ]
}

/// The configured `db_url`, if any.
pub fn url() -> Option<String> {
    DB_URL.lock().ok().map(|u| u.clone()).filter(|u| !u.is_empty())
}

pub fn set_db_url(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, &DB_URL)
}

pub fn set_db_expires(v: &ModValue) -> Result<(), String> {
    DB_EXPIRES.store(sipr_sdk::modparam::int(v)? != 0, Ordering::Relaxed);
    Ok(())
}

pub fn set_fetch_rows(v: &ModValue) -> Result<(), String> {
    FETCH_ROWS.store(sipr_sdk::modparam::int(v)?, Ordering::Relaxed);
    Ok(())
}

/// Start-up (mod_init): the backend must be loaded, and tables with
/// `dbtable` need `db_url`.
pub fn check(defs: &[Def]) -> Result<(), String> {
    let with_db: Vec<&Def> = defs.iter().filter(|d| d.dbtable.is_some()).collect();
    match url() {
        None if !with_db.is_empty() => {
            Err(format!("htable '{}' has a dbtable but the module has no db_url", with_db[0].name))
        }
        None => Ok(()),
        Some(u) => sipr_sdk::db::backend(&u).map(|_| ()).map_err(|e| e.to_string()),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// An item read from a database table: key, value (an integer or text),
/// expiry (Unix seconds, 0: never).
pub type Item = (String, Result<i64, String>, u64);

/// The items of `def`'s database table (array items numbered, their
/// counts added, expired rows left out).
pub fn read(db: &mut Db, def: &Def) -> Result<Vec<Item>, DbError> {
    let Some(dbtable) = def.dbtable.as_deref() else { return Ok(Vec::new()) };
    if dbtable == "htable" {
        db.check_version(dbtable, TABLE_VERSION)?;
    }
    let cols = columns();
    // as Kamailio: the expires column counts only for a table that expires
    // its items (autoexpire)
    let with_expires = DB_EXPIRES.load(Ordering::Relaxed) && def.autoexpire > 0;
    let wanted: Vec<&str> = cols.iter().take(if with_expires { 5 } else { 4 }).map(String::as_str).collect();
    let rows = db.query(dbtable, &[], &wanted, None)?;
    let suffix = text(&ARRAY_SIZE_SUFFIX, "::size");
    let now = now();
    let mut arrays: Vec<(String, i64)> = Vec::new();
    let mut items = Vec::with_capacity(rows.rows.len());
    for row in &rows.rows {
        let Some(name) = row.first().and_then(DbValue::as_text) else { continue };
        let key_type = row.get(1).and_then(DbValue::as_int).unwrap_or(0);
        let value_type = row.get(2).and_then(DbValue::as_int).unwrap_or(0);
        let raw = row.get(3).and_then(DbValue::as_text).unwrap_or_default();
        let expires = if with_expires { row.get(4).and_then(DbValue::as_int).unwrap_or(0) } else { 0 };
        if expires > 0 && expires < now {
            continue;
        }
        let key = if key_type == 1 {
            let i = match arrays.iter_mut().find(|(a, _)| *a == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count - 1
                }
                None => {
                    arrays.push((name.clone(), 1));
                    0
                }
            };
            format!("{name}[{i}]")
        } else {
            name
        };
        let value = if value_type == 1 { Ok(raw.trim().parse().unwrap_or(0)) } else { Err(raw) };
        let until = if expires > 0 {
            expires as u64
        } else if def.autoexpire > 0 {
            now as u64 + def.autoexpire
        } else {
            0
        };
        items.push((key, value, until));
    }
    items.extend(arrays.into_iter().map(|(name, count)| (format!("{name}{suffix}"), Ok(count), 0)));
    Ok(items)
}

/// Sets `items` in `t`; how many.
pub fn fill(def: &Def, t: &ShmKvTable<'static>, items: &[Item]) -> Result<usize, DbError> {
    for (n, (key, value, until)) in items.iter().enumerate() {
        let v = match value {
            Ok(i) => KvValue::Int(*i),
            Err(s) => KvValue::Str(s.as_bytes()),
        };
        if t.set(key.as_bytes(), v, *until).is_err() {
            return Err(DbError::Query(format!("htable {}: shared memory full after {n} items", def.name)));
        }
    }
    Ok(items.len())
}

/// Fills `t` from its database table; how many items.
pub fn load(db: &mut Db, def: &Def, t: &ShmKvTable<'static>) -> Result<usize, DbError> {
    let items = read(db, def)?;
    fill(def, t, &items)
}

/// Writes `t` into its database table (what was there is replaced); how
/// many items.
pub fn store(db: &mut Db, def: &Def, t: &ShmKvTable<'static>) -> Result<usize, DbError> {
    let Some(dbtable) = def.dbtable.as_deref() else { return Ok(0) };
    let cols = columns();
    let with_expires = DB_EXPIRES.load(Ordering::Relaxed);
    let mut items: Vec<(String, DbValue, i64, i64)> = Vec::new();
    t.for_each(now() as u64, |k, v, exp| {
        let (value, vtype) = match v {
            KvValue::Int(i) => (DbValue::Str(i.to_string()), 1),
            KvValue::Str(s) => (DbValue::Str(String::from_utf8_lossy(s).into_owned()), 0),
        };
        items.push((String::from_utf8_lossy(k).into_owned(), value, vtype, exp as i64));
    });
    db.delete(dbtable, &[])?;
    let names: Vec<&str> = cols.iter().take(if with_expires { 5 } else { 4 }).map(String::as_str).collect();
    for (key, value, vtype, exp) in &items {
        let mut values = vec![DbValue::Str(key.clone()), DbValue::Int(0), DbValue::Int(*vtype), value.clone()];
        if with_expires {
            values.push(DbValue::Int(*exp));
        }
        db.insert(dbtable, &names, &values)?;
    }
    Ok(items.len())
}

/// Loads every table that has a `dbtable` (mod_init, in a loader process:
/// the shm tables are the parent's).
pub fn load_all(tables: &'static [(Def, ShmKvTable<'static>)]) -> Result<(), String> {
    let Some(url) = url() else { return Ok(()) };
    if !tables.iter().any(|(d, _)| d.dbtable.is_some()) {
        return Ok(());
    }
    sipr_sdk::in_child_process("htable: loading the tables from the database", || {
        let mut db = Db::new(&url).map_err(|e| e.to_string())?;
        for (d, t) in tables.iter().filter(|(d, _)| d.dbtable.is_some()) {
            let n = load(&mut db, d, t).map_err(|e| format!("htable {}: {e}", d.name))?;
            log::info!("htable {}: {n} items loaded from {}", d.name, sipr_sdk::db::redact(&url));
        }
        Ok(())
    })
}

/// One connection per process for the RPC commands and the write-back
/// at shutdown.
static CONN: sipr_sdk::db::ProcessDb = sipr_sdk::db::ProcessDb::new();

/// Runs `f` on this process's connection.
pub fn with_db<R>(f: impl FnOnce(&mut Db) -> Result<R, DbError>) -> Result<R, DbError> {
    CONN.with(&url().unwrap_or_default(), f)
}

/// `dbmode=1`: the tables are written back when the server stops.
pub fn store_at_exit(tables: &'static [(Def, ShmKvTable<'static>)]) {
    for (d, t) in tables.iter().filter(|(d, _)| d.dbmode == 1) {
        match with_db(|db| store(db, d, t)) {
            Ok(n) => log::info!("htable {}: {n} items written to the database", d.name),
            Err(e) => log::error!("htable {}: not written to the database: {e}", d.name),
        }
    }
}
