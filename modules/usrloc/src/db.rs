//! usrloc's database side: the `location` table (Kamailio's columns,
//! version 9), written through (db_mode 1), back (2) or used as the
//! table itself (3), and read at start-up (1, 2).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use sipr_sdk::db::{Cond, Db, DbError, DbOp, DbValue, Rows};
use sipr_sdk::usrloc_api::{UContact, Q_UNSPECIFIED};
use sipr_sdk::ModValue;

use crate::{record, Domain};

/// `db_url`.
static DB_URL: Mutex<String> = Mutex::new(String::new());
/// The `location` table's version sipr reads (Kamailio 5.6's).
const TABLE_VERSION: i64 = 9;

/// The columns, in the order rows are read and written.
const COLUMNS: [&str; 21] = [
    "ruid",
    "username",
    "domain",
    "contact",
    "received",
    "path",
    "expires",
    "q",
    "callid",
    "cseq",
    "last_modified",
    "flags",
    "cflags",
    "user_agent",
    "socket",
    "methods",
    "instance",
    "reg_id",
    "server_id",
    "connection_id",
    "keepalive",
];

pub fn set_db_url(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, &DB_URL)
}

fn url() -> Option<String> {
    DB_URL.lock().ok().map(|u| u.clone()).filter(|u| !u.is_empty())
}

/// mod_init with a db_mode: db_url is set and its backend loaded.
pub fn check_url() -> Result<(), String> {
    let u = url().ok_or("usrloc: a db_mode other than 0 needs db_url")?;
    sipr_sdk::db::backend(&u).map(|_| ()).map_err(|e| format!("usrloc: {e}"))
}

/// This process's connection (opened on first use, after the fork).
static CONN: sipr_sdk::db::ProcessDb = sipr_sdk::db::ProcessDb::new();

fn with_db<R>(f: impl FnOnce(&mut Db) -> Result<R, DbError>) -> Result<R, DbError> {
    CONN.with(&url().unwrap_or_default(), f)
}

/// `user` and `domain` of an AoR (the domain only with use_domain).
fn split(aor: &str) -> (String, Option<String>) {
    match aor.split_once('@') {
        Some((u, d)) if crate::use_domain() => (u.to_string(), Some(d.to_string())),
        _ => (aor.to_string(), None),
    }
}

fn opt(s: &Option<String>) -> DbValue {
    s.clone().map_or(DbValue::Null, DbValue::Str)
}

/// A contact as a row of `location`.
fn row(aor: &str, c: &UContact) -> Vec<DbValue> {
    let (user, domain) = split(aor);
    vec![
        DbValue::Str(c.ruid.clone()),
        DbValue::Str(user),
        domain.map_or(DbValue::Null, DbValue::Str),
        DbValue::Str(c.contact.clone()),
        opt(&c.received),
        opt(&c.path),
        DbValue::DateTime(if c.expires == 0 { 0 } else { c.expires }),
        DbValue::Double(if c.q == Q_UNSPECIFIED { -1.0 } else { f64::from(c.q) / 1000.0 }),
        DbValue::Str(c.callid.clone()),
        DbValue::Int(i64::from(c.cseq)),
        DbValue::DateTime(c.last_modified),
        DbValue::Int(i64::from(c.flags)),
        DbValue::Int(i64::from(c.cflags)),
        DbValue::Str(c.user_agent.clone()),
        opt(&c.socket),
        c.methods.map_or(DbValue::Null, |m| DbValue::Int(i64::from(m))),
        opt(&c.instance),
        DbValue::Int(i64::from(c.reg_id)),
        DbValue::Int(i64::from(c.server_id)),
        DbValue::Int(i64::from(c.connection_id)),
        DbValue::Int(i64::from(c.keepalive)),
    ]
}

/// Rows of `location` as (AoR, contact).
fn contacts_of(rows: &Rows) -> Vec<(String, UContact)> {
    let col = |name: &str| rows.column(name);
    let idx: Vec<Option<usize>> = COLUMNS.iter().map(|c| col(c)).collect();
    let mut out = Vec::with_capacity(rows.rows.len());
    for r in &rows.rows {
        let v = |i: usize| idx[i].and_then(|j| r.get(j)).cloned().unwrap_or(DbValue::Null);
        let text = |i: usize| v(i).as_text().unwrap_or_default();
        let opt_text = |i: usize| v(i).as_text().filter(|s| !s.is_empty());
        let int = |i: usize| v(i).as_int().unwrap_or(0);
        let user = text(1);
        let aor = match opt_text(2) {
            Some(d) if crate::use_domain() => format!("{user}@{d}"),
            _ => user,
        };
        let q = match v(7) {
            DbValue::Double(d) if d < 0.0 => Q_UNSPECIFIED,
            DbValue::Double(d) => (d * 1000.0).round() as i32,
            other => other.as_int().map_or(Q_UNSPECIFIED, |i| (i * 1000) as i32),
        };
        let expires = v(6).as_unix_time().unwrap_or(0);
        out.push((
            aor,
            UContact {
                ruid: text(0),
                contact: text(3),
                received: opt_text(4),
                path: opt_text(5),
                expires,
                q,
                callid: text(8),
                cseq: int(9) as u32,
                last_modified: v(10).as_unix_time().unwrap_or(0),
                flags: int(11) as u32,
                cflags: int(12) as u32,
                user_agent: text(13),
                socket: opt_text(14),
                methods: v(15).as_int().map(|m| m as u32),
                instance: opt_text(16),
                reg_id: int(17) as u32,
                server_id: int(18) as i32,
                connection_id: idx[19].map_or(-1, |_| int(19) as i32),
                keepalive: int(20) as u32,
            },
        ));
    }
    out
}

fn aor_conds(aor: &str) -> (String, Option<String>) {
    split(aor)
}

/// db_mode 3: the contacts of `aor`, read from the database.
pub fn read_aor(d: &Domain, aor: &str) -> Result<Vec<UContact>, DbError> {
    let (user, domain) = aor_conds(aor);
    let mut conds = vec![Cond::eq("username", DbValue::Str(user))];
    if let Some(dom) = domain {
        conds.push(Cond::eq("domain", DbValue::Str(dom)));
    }
    with_db(|db| db.query(&d.name, &conds, &COLUMNS, None))
        .map(|r| contacts_of(&r).into_iter().map(|(_, c)| c).collect())
}

/// db_mode 3: the AoR and contact whose ruid is `ruid`.
pub fn read_ruid(d: &Domain, ruid: &str) -> Result<Option<(String, UContact)>, DbError> {
    with_db(|db| db.query(&d.name, &[Cond::eq("ruid", DbValue::Str(ruid.to_string()))], &COLUMNS, None))
        .map(|r| contacts_of(&r).into_iter().next())
}

/// Writes the change of one record: new contacts inserted, changed ones
/// updated, gone ones deleted (by ruid).
pub fn write_diff(d: &Domain, aor: &str, before: &[UContact], after: &[UContact]) -> Result<(), DbError> {
    with_db(|db| {
        for c in after {
            match before.iter().find(|b| b.ruid == c.ruid) {
                Some(b) if b == c => {}
                Some(_) => {
                    let values = row(aor, c);
                    db.update(&d.name, &[Cond::eq("ruid", DbValue::Str(c.ruid.clone()))], &COLUMNS[1..], &values[1..])?;
                }
                None => {
                    db.insert(&d.name, &COLUMNS, &row(aor, c))?;
                }
            }
        }
        for b in before.iter().filter(|b| !after.iter().any(|c| c.ruid == b.ruid)) {
            db.delete(&d.name, &[Cond::eq("ruid", DbValue::Str(b.ruid.clone()))])?;
        }
        Ok(())
    })
}

/// db_mode 3's timer: expired rows removed.
pub fn delete_expired(d: &Domain, now: i64) -> Result<u64, DbError> {
    with_db(|db| {
        db.delete(
            &d.name,
            &[
                Cond::new("expires", DbOp::Lt, DbValue::DateTime(now)),
                Cond::new("expires", DbOp::Gt, DbValue::DateTime(0)),
            ],
        )
    })
}

/// db_mode 2: the records marked dirty written (each AoR's rows made
/// what the table holds); a failure marks it again, so the next flush
/// retries and nothing is lost.
pub fn flush_dirty(d: &Domain) {
    let (Some(t), Some(dirty)) = (&d.table, &d.dirty) else { return };
    let mut aors = Vec::new();
    dirty.for_each(0, |k, _, _| aors.push(k.to_vec()));
    // a transaction per batch: one commit (one fsync with SQLite) for many
    // AoRs; a batch that fails is rolled back and all of it stays marked,
    // to be written at the next flush
    for batch in aors.chunks(FLUSH_BATCH) {
        let in_transaction = with_db(Db::begin).is_ok();
        let mut failed = None;
        for key in batch {
            dirty.remove(key);
            let aor = String::from_utf8_lossy(key).into_owned();
            t.hold(key);
            let now_contacts: Vec<UContact> = t.get(key, 0, |v, _| crate::stored(v)).unwrap_or_default();
            let r = read_aor(d, &aor).and_then(|in_db| write_diff(d, &aor, &in_db, &now_contacts));
            t.release(key);
            if let Err(e) = r {
                failed = Some(format!("{aor}: {e}"));
                break;
            }
        }
        let ended = match (&failed, in_transaction) {
            (None, true) => with_db(Db::commit).map_err(|e| e.to_string()),
            (Some(e), true) => {
                let _ = with_db(Db::rollback);
                Err(e.clone())
            }
            (Some(e), false) => Err(e.clone()),
            (None, false) => Ok(()),
        };
        if let Err(e) = ended {
            log::error!(
                "usrloc: {}: writing {} AoRs to the database failed (retried at the next flush): {e}",
                d.name,
                batch.len()
            );
            for key in batch {
                let _ = dirty.set(key, sipr_sdk::KvValue::Int(1), 0);
            }
        }
    }
}

/// AoRs written per transaction by the write-back.
const FLUSH_BATCH: usize = 500;

/// db_mode 1 and 2: every domain's contacts loaded into shm before the
/// workers start (a loader process; the table must have Kamailio's
/// version).
pub fn preload(domains: &'static [Domain]) -> Result<(), String> {
    let Some(url) = url() else { return Ok(()) };
    sipr_sdk::in_child_process("usrloc: loading the contacts from the database", || {
        let mut db = Db::new(&url).map_err(|e| e.to_string())?;
        let now = crate::now();
        for d in domains {
            db.check_version(&d.name, TABLE_VERSION).map_err(|e| format!("usrloc: {e}"))?;
            let rows = db.query(&d.name, &[], &COLUMNS, None).map_err(|e| format!("usrloc: {}: {e}", d.name))?;
            let Some(t) = &d.table else { continue };
            let mut records: Vec<(String, Vec<UContact>)> = Vec::new();
            let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
            let mut seen = HashSet::new();
            for (aor, c) in contacts_of(&rows) {
                if c.expired(now) || !seen.insert(c.ruid.clone()) {
                    continue;
                }
                match index.get(&aor) {
                    Some(&i) => records[i].1.push(c),
                    None => {
                        index.insert(aor.clone(), records.len());
                        records.push((aor, vec![c]));
                    }
                }
            }
            let mut n = 0u64;
            for (aor, cs) in &records {
                t.set(aor.as_bytes(), sipr_sdk::KvValue::Str(&record::encode(cs)), 0)
                    .map_err(|_| format!("usrloc: {}: shared memory full while loading", d.name))?;
                n += cs.len() as u64;
            }
            d.users.fetch_add(records.len() as u64, Ordering::Relaxed);
            d.contacts.fetch_add(n, Ordering::Relaxed);
            if let Some(r) = crate::registered_users() {
                r.fetch_add(records.len() as u64, Ordering::Relaxed);
            }
            log::info!("usrloc: {}: {n} contacts of {} AoRs loaded", d.name, records.len());
        }
        Ok(())
    })
}

/// What `ul.db_*` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Distinct AoRs with an unexpired contact.
    Users,
    /// Unexpired contacts.
    Contacts,
    /// Expired contacts.
    Expired,
}

/// A count over a location table in the database.
pub fn count(table: &str, what: Count, now: i64) -> Result<usize, DbError> {
    let op = if what == Count::Expired { DbOp::Le } else { DbOp::Gt };
    let rows = with_db(|db| {
        db.query(table, &[Cond::new("expires", op, DbValue::DateTime(now))], &["username", "domain"], None)
    })?;
    Ok(match what {
        Count::Users => rows
            .rows
            .iter()
            .map(|r| (r.first().and_then(DbValue::as_text), r.get(1).and_then(DbValue::as_text)))
            .collect::<HashSet<_>>()
            .len(),
        _ => rows.rows.len(),
    })
}
