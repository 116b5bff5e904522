//! db_sqlite: the SQLite backend of the DB API (Kamailio's db_sqlite),
//! through rusqlite and Debian's libsqlite3. The embedded default: no
//! server to run, one file that Kamailio's own db_sqlite reads and writes
//! as well (same tables, same text form of DATETIME columns).
//!
//! `sqlite:///PATH` names the file: `sqlite:////var/lib/sipr/sipr.db` is
//! /var/lib/sipr/sipr.db, as Kamailio reads it (the part after `//` is an
//! empty host, then the path). Each process opens its own connection
//! (`child_init` of the module that uses it); statements are prepared once
//! per connection and cached; a statement waits at most
//! `sipr_sdk::db::QUERY_TIMEOUT` for another process's write lock, then
//! fails with a timeout.
//!
//! Parameters (Kamailio's, per database file, each may be given several
//! times): `db_set_readonly` (`PATH`: opened read-only) and
//! `db_set_journal_mode` (`PATH=MODE;`: a journal mode PRAGMA, e.g. WAL,
//! which lets readers go on while one process writes). As Kamailio's, a
//! file that does not exist is created (a module then finds no tables and
//! says so).

use std::sync::Mutex;

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use sipr_sdk::db::{DbBackend, DbConnection, DbError, DbValue, Placeholder, Rows, Statement, DB_API_VERSION};
use sipr_sdk::{guard_api, ModValue};

/// `db_set_readonly`: files opened read-only.
static READONLY: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// `db_set_journal_mode`: (file, mode).
static JOURNAL_MODES: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

use sipr_sdk::db::sqlite_path as path_of;

/// One process's connection.
struct Sqlite {
    conn: Connection,
    path: String,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite").field("path", &self.path).finish()
    }
}

fn connect(url: &str) -> Result<Box<dyn DbConnection>, DbError> {
    guard_api("db_sqlite.connect", || connect_unguarded(url)).map_err(DbError::Panicked)?
}

fn connect_unguarded(url: &str) -> Result<Box<dyn DbConnection>, DbError> {
    let path = path_of(url)?;
    let readonly = READONLY.lock().map(|r| r.iter().any(|p| p == path)).unwrap_or(false);
    let flags = if readonly {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    };
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| DbError::Connect(format!("{path}: {e}")))?;
    conn.busy_timeout(sipr_sdk::db::QUERY_TIMEOUT).map_err(|e| DbError::Connect(format!("{path}: {e}")))?;
    conn.set_prepared_statement_cache_capacity(64);
    let mode = JOURNAL_MODES.lock().ok().and_then(|m| m.iter().find(|(p, _)| p == path).map(|(_, m)| m.clone()));
    if let Some(mode) = mode {
        conn.pragma_update(None, "journal_mode", &mode)
            .map_err(|e| DbError::Connect(format!("{path}: journal_mode={mode}: {e}")))?;
    }
    log::debug!("db_sqlite: {path} opened");
    Ok(Box::new(Sqlite { conn, path: path.to_string() }))
}

/// A rusqlite error as the DB API's.
fn error(e: rusqlite::Error) -> DbError {
    let text = e.to_string();
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::ConstraintViolation => DbError::Constraint(text),
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => DbError::Timeout(text),
            ErrorCode::CannotOpen | ErrorCode::NotADatabase | ErrorCode::ReadOnly => DbError::Connect(text),
            _ if text.contains("no such table") => DbError::MissingTable(text),
            _ => DbError::Query(text),
        },
        _ if text.contains("no such table") => DbError::MissingTable(text),
        _ => DbError::Query(text),
    }
}

fn bind(v: &DbValue) -> SqlValue {
    match v {
        DbValue::Null => SqlValue::Null,
        DbValue::Int(i) => SqlValue::Integer(*i),
        DbValue::Double(d) => SqlValue::Real(*d),
        DbValue::Str(s) => SqlValue::Text(s.clone()),
        DbValue::Blob(b) => SqlValue::Blob(b.clone()),
        // Kamailio's db_sqlite keeps DATETIME as text
        DbValue::DateTime(t) => SqlValue::Text(sipr_sdk::db::format_datetime(*t)),
    }
}

fn value(v: ValueRef<'_>) -> DbValue {
    match v {
        ValueRef::Null => DbValue::Null,
        ValueRef::Integer(i) => DbValue::Int(i),
        ValueRef::Real(d) => DbValue::Double(d),
        ValueRef::Text(t) => DbValue::Str(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => DbValue::Blob(b.to_vec()),
    }
}

impl Sqlite {
    fn fetch_unguarded(&mut self, st: &Statement) -> Result<Rows, DbError> {
        let mut stmt = self.conn.prepare_cached(&st.sql).map_err(error)?;
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let params: Vec<SqlValue> = st.params.iter().map(bind).collect();
        let mut q = stmt.query(rusqlite::params_from_iter(params.iter())).map_err(error)?;
        let mut rows = Vec::new();
        while let Some(r) = q.next().map_err(error)? {
            let mut row = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                row.push(value(r.get_ref(i).map_err(error)?));
            }
            rows.push(row);
        }
        Ok(Rows { columns, rows })
    }

    fn execute_unguarded(&mut self, st: &Statement) -> Result<u64, DbError> {
        let mut stmt = self.conn.prepare_cached(&st.sql).map_err(error)?;
        let params: Vec<SqlValue> = st.params.iter().map(bind).collect();
        stmt.execute(rusqlite::params_from_iter(params.iter())).map(|n| n as u64).map_err(error)
    }
}

impl DbConnection for Sqlite {
    fn placeholder(&self) -> Placeholder {
        Placeholder::QuestionNumbered
    }

    fn fetch(&mut self, st: &Statement) -> Result<Rows, DbError> {
        guard_api("db_sqlite.fetch", || self.fetch_unguarded(st)).map_err(DbError::Panicked)?
    }

    fn execute(&mut self, st: &Statement) -> Result<u64, DbError> {
        guard_api("db_sqlite.execute", || self.execute_unguarded(st)).map_err(DbError::Panicked)?
    }

    fn last_inserted_id(&mut self) -> Result<i64, DbError> {
        Ok(self.conn.last_insert_rowid())
    }
}

/// The backend other modules bind (`sipr_sdk::db::backend`).
pub static BACKEND: DbBackend = DbBackend { scheme: "sqlite", connect };

fn set_readonly(v: &ModValue) -> Result<(), String> {
    let path = sipr_sdk::modparam::str(v)?;
    READONLY.lock().map_err(|_| "poisoned")?.push(path.trim().to_string());
    Ok(())
}

/// `PATH=MODE;`.
fn set_journal_mode(v: &ModValue) -> Result<(), String> {
    let spec = sipr_sdk::modparam::str(v)?;
    let (path, mode) =
        spec.trim().trim_end_matches(';').split_once('=').ok_or("db_set_journal_mode takes PATH=MODE;")?;
    let known = ["DELETE", "TRUNCATE", "PERSIST", "MEMORY", "WAL", "OFF"];
    if !known.iter().any(|k| k.eq_ignore_ascii_case(mode.trim())) {
        return Err(format!("journal mode must be one of {}, not '{mode}'", known.join(", ")));
    }
    JOURNAL_MODES.lock().map_err(|_| "poisoned")?.push((path.trim().to_string(), mode.trim().to_ascii_uppercase()));
    Ok(())
}

sipr_sdk::module! {
    name: "db_sqlite",
    functions: [],
    params: [
        ("db_set_readonly", Str, set_readonly),
        ("db_set_journal_mode", Str, set_journal_mode),
    ],
    apis: [("db_sqlite", DB_API_VERSION, BACKEND)],
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipr_sdk::db::{sql, Cond, DbOp};

    fn temp_db() -> (String, Box<dyn DbConnection>) {
        let path = std::env::temp_dir().join(format!(
            "sipr-dbsqlite-{}-{:?}.db",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&path);
        Connection::open(&path).unwrap();
        let url = format!("sqlite:///{}", path.display());
        (path.display().to_string(), connect(&url).unwrap())
    }

    #[test]
    fn urls_name_files_as_kamailio_reads_them() {
        assert_eq!(path_of("sqlite:////var/lib/sipr/sipr.db").unwrap(), "/var/lib/sipr/sipr.db");
        assert_eq!(path_of("sqlite:///rel.db").unwrap(), "rel.db");
        assert!(path_of("sqlite://").is_err());
        assert!(path_of("postgres://x").is_err());
        // a directory that does not exist: no file can be made there
        assert!(matches!(connect("sqlite:////nonexistent/dir/x.db"), Err(DbError::Connect(_))));
    }

    #[test]
    fn statements_round_trip() {
        let (path, mut c) = temp_db();
        let p = c.placeholder();
        let raw = |sql: &str| Statement { sql: sql.into(), params: vec![] };
        c.execute(&raw("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(64) UNIQUE, n INT, at DATETIME, d REAL)")).unwrap();
        let cols = ["name", "n", "at", "d"];
        let vals = [DbValue::Str("a".into()), DbValue::Int(7), DbValue::DateTime(1_906_234_335), DbValue::Null];
        assert_eq!(c.execute(&sql::insert(p, "t", &cols, &vals, None)).unwrap(), 1);
        assert_eq!(c.last_inserted_id().unwrap(), 1);
        // a duplicate unique key is a constraint error; replace takes it
        assert!(matches!(c.execute(&sql::insert(p, "t", &cols, &vals, None)), Err(DbError::Constraint(_))));
        assert_eq!(c.execute(&sql::insert(p, "t", &cols, &vals, Some(&["name"]))).unwrap(), 1);
        let rows = c
            .fetch(&sql::select(p, "t", &[Cond::eq("name", DbValue::Str("a".into()))], &["n", "at", "d"], None))
            .unwrap();
        assert_eq!(rows.rows.len(), 1);
        assert_eq!(rows.rows[0][0], DbValue::Int(7));
        assert_eq!(rows.rows[0][1], DbValue::Str("2030-05-28 21:32:15".into()));
        assert_eq!(rows.rows[0][1].as_unix_time(), Some(1_906_234_335));
        assert!(rows.rows[0][2].is_null());
        let n = c
            .execute(&sql::update(p, "t", &[Cond::new("n", DbOp::Ge, DbValue::Int(7))], &["n"], &[DbValue::Int(8)]))
            .unwrap();
        assert_eq!(n, 1);
        assert!(matches!(c.fetch(&sql::select(p, "nosuch", &[], &[], None)), Err(DbError::MissingTable(_))));
        assert_eq!(c.execute(&sql::delete(p, "t", &[])).unwrap(), 1);
        let _ = std::fs::remove_file(path);
    }
}
