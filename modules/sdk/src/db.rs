//! The generic database interface (Kamailio's DB API, `db_bind_mod` and
//! `db_func_t`): what usrloc, auth_db, htable and the other table users
//! call, whatever the backend.
//!
//! A backend is a module (`db_sqlite`, `db_postgres`) that exports a
//! [`DbBackend`] API named after itself; a URL picks it by its scheme, as
//! Kamailio's `db_url` does (`sqlite:///...` → db_sqlite, `postgres://...`
//! → db_postgres). The statements are built here, once for every backend
//! ([`Statement`]): a backend only runs SQL text with bound parameters and
//! hands rows back. Connections are per process: a module binds the
//! backend in `mod_init` (so a missing backend module is a start-up error)
//! and opens its [`Db`] in `child_init` — never before the fork, and no
//! thread is started.
//!
//! [`Db`] keeps its connection: a failed statement whose error says the
//! connection was lost reopens it (with a log line) and runs once more.
//! Every backend bounds how long one statement may take
//! ([`QUERY_TIMEOUT`]), so a slow database never holds a SIP worker past
//! that.

use std::fmt;
use std::time::Duration;

/// How long one statement may run (SQLite: waiting for a lock;
/// PostgreSQL: `statement_timeout`) before it fails with
/// [`DbError::Timeout`].
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// A value in a column, as Kamailio's `db_val_t` types them.
#[derive(Debug, Clone, PartialEq)]
pub enum DbValue {
    /// NULL.
    Null,
    /// An integer (Kamailio's INT, BIGINT, UINT, BITMAP).
    Int(i64),
    /// A floating-point number.
    Double(f64),
    /// Text (STRING, STR).
    Str(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// A date and time, as Unix seconds (DATETIME columns).
    DateTime(i64),
}

impl DbValue {
    /// The value as an integer (numeric text parsed; NULL is `None`).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            DbValue::Int(i) | DbValue::DateTime(i) => Some(*i),
            DbValue::Double(d) => Some(*d as i64),
            DbValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as text (numbers printed; NULL is `None`).
    pub fn as_text(&self) -> Option<String> {
        match self {
            DbValue::Str(s) => Some(s.clone()),
            DbValue::Int(i) | DbValue::DateTime(i) => Some(i.to_string()),
            DbValue::Double(d) => Some(d.to_string()),
            DbValue::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
            DbValue::Null => None,
        }
    }

    /// Whether the value is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, DbValue::Null)
    }
}

/// A comparison in a WHERE clause (Kamailio's `db_op_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbOp {
    /// `=` (Kamailio's default).
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `>`.
    Gt,
    /// `<=`.
    Le,
    /// `>=`.
    Ge,
    /// `LIKE`.
    Like,
}

impl DbOp {
    fn sql(self) -> &'static str {
        match self {
            DbOp::Eq => "=",
            DbOp::Ne => "!=",
            DbOp::Lt => "<",
            DbOp::Gt => ">",
            DbOp::Le => "<=",
            DbOp::Ge => ">=",
            DbOp::Like => "LIKE",
        }
    }
}

/// One condition: `column op value` (conditions are ANDed).
#[derive(Debug, Clone, PartialEq)]
pub struct Cond<'a> {
    /// Column.
    pub column: &'a str,
    /// Comparison.
    pub op: DbOp,
    /// Value.
    pub value: DbValue,
}

impl<'a> Cond<'a> {
    /// `column = value`.
    pub fn eq(column: &'a str, value: DbValue) -> Self {
        Cond { column, op: DbOp::Eq, value }
    }

    /// `column op value`.
    pub fn new(column: &'a str, op: DbOp, value: DbValue) -> Self {
        Cond { column, op, value }
    }
}

/// Rows a query returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// The rows, each with a value per column.
    pub rows: Vec<Vec<DbValue>>,
}

impl Rows {
    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.eq_ignore_ascii_case(name))
    }
}

/// Why a database operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbError {
    /// The URL does not read as `scheme://...`.
    BadUrl(String),
    /// No loaded module serves the URL's scheme (which module to load).
    NoBackend(String),
    /// The database cannot be opened or reached.
    Connect(String),
    /// The connection was lost (the statement may be run again on a new
    /// one).
    Lost(String),
    /// The statement took longer than [`QUERY_TIMEOUT`].
    Timeout(String),
    /// The table does not exist.
    MissingTable(String),
    /// A constraint was violated (a duplicate key ...).
    Constraint(String),
    /// The table's row in the `version` table is not the one the module
    /// reads.
    Version {
        /// Table.
        table: String,
        /// What the version table says (`None`: no row).
        found: Option<i64>,
        /// What the module needs.
        want: i64,
    },
    /// Any other failure of the statement.
    Query(String),
    /// The backend module panicked (caught at the module boundary).
    Panicked(String),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::BadUrl(u) => write!(f, "bad database URL '{u}' (scheme://...)"),
            DbError::NoBackend(s) => {
                write!(f, "no database module for '{s}://' URLs (loadmodule \"db_{s}.so\")")
            }
            DbError::Connect(e) => write!(f, "cannot open the database: {e}"),
            DbError::Lost(e) => write!(f, "database connection lost: {e}"),
            DbError::Timeout(e) => write!(f, "database statement timed out ({} s): {e}", QUERY_TIMEOUT.as_secs()),
            DbError::MissingTable(t) => write!(f, "no such table: {t}"),
            DbError::Constraint(e) => write!(f, "constraint violated: {e}"),
            DbError::Version { table, found: Some(v), want } => {
                write!(f, "table {table} has version {v} in the version table, this module needs {want}")
            }
            DbError::Version { table, found: None, want } => {
                write!(f, "table {table} has no row in the version table (version {want} needed)")
            }
            DbError::Query(e) => write!(f, "database error: {e}"),
            DbError::Panicked(e) => write!(f, "database module panicked: {e}"),
        }
    }
}

impl std::error::Error for DbError {}

/// How a backend writes the `n`th bound parameter (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// `?1`, `?2` ... (SQLite).
    QuestionNumbered,
    /// `$1`, `$2` ... (PostgreSQL).
    DollarNumbered,
}

/// A statement ready for a backend: SQL text and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL.
    pub sql: String,
    /// The values of its placeholders, in order.
    pub params: Vec<DbValue>,
}

/// A connection of a backend: runs statements.
pub trait DbConnection: Send + fmt::Debug {
    /// How its SQL writes placeholders.
    fn placeholder(&self) -> Placeholder;
    /// Runs a statement that returns rows.
    fn fetch(&mut self, st: &Statement) -> Result<Rows, DbError>;
    /// Runs a statement that changes rows; how many it changed.
    fn execute(&mut self, st: &Statement) -> Result<u64, DbError>;
    /// The id of the last row inserted on this connection (an
    /// auto-increment `id` column).
    fn last_inserted_id(&mut self) -> Result<i64, DbError>;
}

/// What a backend module exports (as an API named after the module).
#[derive(Debug)]
pub struct DbBackend {
    /// The URL scheme it serves (`sqlite`, `postgres`).
    pub scheme: &'static str,
    /// Opens a connection for `url` (inside the backend's panic guard).
    pub connect: fn(url: &str) -> Result<Box<dyn DbConnection>, DbError>,
}

/// The version [`DbBackend`] has.
pub const DB_API_VERSION: u32 = 1;

/// The URL's scheme, lower case.
pub fn scheme_of(url: &str) -> Result<String, DbError> {
    match url.split_once("://") {
        Some((s, _)) if !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric()) => Ok(s.to_ascii_lowercase()),
        _ => Err(DbError::BadUrl(url.to_string())),
    }
}

/// The module name serving a scheme (`postgresql` and `pgsql` are
/// Kamailio's other spellings of `postgres`).
fn module_of(scheme: &str) -> String {
    match scheme {
        "postgresql" | "pgsql" => "db_postgres".to_string(),
        s => format!("db_{s}"),
    }
}

/// Finds the backend for `url` among the loaded modules (`mod_init`).
pub fn backend(url: &str) -> Result<&'static DbBackend, DbError> {
    let scheme = scheme_of(url)?;
    crate::bind_api::<DbBackend>(&module_of(&scheme), DB_API_VERSION).map_err(|_| DbError::NoBackend(scheme))
}

/// A quoted identifier (table or column): double quotes, as SQL writes
/// them (both backends read it; a name like `user` stays a name).
fn ident(out: &mut String, name: &str) {
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

fn placeholder(out: &mut String, style: Placeholder, n: usize) {
    out.push(match style {
        Placeholder::QuestionNumbered => '?',
        Placeholder::DollarNumbered => '$',
    });
    out.push_str(&n.to_string());
}

fn where_clause(out: &mut String, style: Placeholder, conds: &[Cond<'_>], params: &mut Vec<DbValue>) {
    for (i, c) in conds.iter().enumerate() {
        out.push_str(if i == 0 { " WHERE " } else { " AND " });
        ident(out, c.column);
        if c.value.is_null() && matches!(c.op, DbOp::Eq | DbOp::Ne) {
            // NULL compares with IS
            out.push_str(if c.op == DbOp::Eq { " IS NULL" } else { " IS NOT NULL" });
            continue;
        }
        out.push(' ');
        out.push_str(c.op.sql());
        out.push(' ');
        params.push(c.value.clone());
        placeholder(out, style, params.len());
    }
}

/// The statements every backend runs, built once (Kamailio's
/// `db_do_query` & co.).
pub mod sql {
    use super::*;

    /// `SELECT columns FROM table WHERE conds [ORDER BY order]` (every
    /// column when `columns` is empty).
    pub fn select(
        style: Placeholder,
        table: &str,
        conds: &[Cond<'_>],
        columns: &[&str],
        order: Option<&str>,
    ) -> Statement {
        let mut s = String::from("SELECT ");
        if columns.is_empty() {
            s.push('*');
        }
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            ident(&mut s, c);
        }
        s.push_str(" FROM ");
        ident(&mut s, table);
        let mut params = Vec::new();
        where_clause(&mut s, style, conds, &mut params);
        if let Some(o) = order {
            s.push_str(" ORDER BY ");
            ident(&mut s, o);
        }
        Statement { sql: s, params }
    }

    /// `INSERT INTO table (columns) VALUES (...)`, or `REPLACE` /
    /// `INSERT ... ON CONFLICT` when `replace` (each backend's own form:
    /// PostgreSQL needs the unique key's columns, `key`).
    pub fn insert(
        style: Placeholder,
        table: &str,
        columns: &[&str],
        values: &[DbValue],
        replace: Option<&[&str]>,
    ) -> Statement {
        let mut s = String::from(match (replace, style) {
            (Some(_), Placeholder::QuestionNumbered) => "INSERT OR REPLACE INTO ",
            _ => "INSERT INTO ",
        });
        ident(&mut s, table);
        s.push_str(" (");
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            ident(&mut s, c);
        }
        s.push_str(") VALUES (");
        for i in 0..values.len() {
            if i > 0 {
                s.push_str(", ");
            }
            placeholder(&mut s, style, i + 1);
        }
        s.push(')');
        if let (Some(key), Placeholder::DollarNumbered) = (replace, style) {
            s.push_str(" ON CONFLICT (");
            for (i, k) in key.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                ident(&mut s, k);
            }
            s.push_str(") DO UPDATE SET ");
            let mut first = true;
            for c in columns.iter().filter(|c| !key.contains(c)) {
                if !first {
                    s.push_str(", ");
                }
                first = false;
                ident(&mut s, c);
                s.push_str(" = EXCLUDED.");
                ident(&mut s, c);
            }
            if first {
                // every column is part of the key: nothing to update
                s.truncate(s.len() - " DO UPDATE SET ".len());
                s.push_str(" DO NOTHING");
            }
        }
        Statement { sql: s, params: values.to_vec() }
    }

    /// `UPDATE table SET columns = values WHERE conds`.
    pub fn update(
        style: Placeholder,
        table: &str,
        conds: &[Cond<'_>],
        columns: &[&str],
        values: &[DbValue],
    ) -> Statement {
        let mut s = String::from("UPDATE ");
        ident(&mut s, table);
        s.push_str(" SET ");
        let mut params: Vec<DbValue> = Vec::with_capacity(values.len() + conds.len());
        for (i, (c, v)) in columns.iter().zip(values).enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            ident(&mut s, c);
            s.push_str(" = ");
            params.push(v.clone());
            placeholder(&mut s, style, params.len());
        }
        where_clause(&mut s, style, conds, &mut params);
        Statement { sql: s, params }
    }

    /// `DELETE FROM table WHERE conds` (every row without conditions).
    pub fn delete(style: Placeholder, table: &str, conds: &[Cond<'_>]) -> Statement {
        let mut s = String::from("DELETE FROM ");
        ident(&mut s, table);
        let mut params = Vec::new();
        where_clause(&mut s, style, conds, &mut params);
        Statement { sql: s, params }
    }
}

/// A module's database: its URL, the backend, and this process's
/// connection (opened on first use, reopened when lost).
#[derive(Debug)]
pub struct Db {
    url: String,
    backend: &'static DbBackend,
    conn: Option<Box<dyn DbConnection>>,
}

impl Db {
    /// A database for `url` (the connection is opened on first use, in
    /// the process that uses it).
    pub fn new(url: &str) -> Result<Db, DbError> {
        Ok(Db { url: url.to_string(), backend: backend(url)?, conn: None })
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Opens the connection now (`child_init`).
    pub fn open(&mut self) -> Result<(), DbError> {
        self.conn()?;
        Ok(())
    }

    fn conn(&mut self) -> Result<&mut Box<dyn DbConnection>, DbError> {
        if self.conn.is_none() {
            self.conn = Some((self.backend.connect)(&self.url)?);
        }
        self.conn.as_mut().ok_or_else(|| DbError::Connect(self.url.clone()))
    }

    fn style(&mut self) -> Result<Placeholder, DbError> {
        Ok(self.conn()?.placeholder())
    }

    /// Runs `f` on the connection; a lost connection is reopened once
    /// (logged) and `f` runs again.
    fn with_conn<R>(&mut self, mut f: impl FnMut(&mut dyn DbConnection) -> Result<R, DbError>) -> Result<R, DbError> {
        match f(self.conn()?.as_mut()) {
            Err(DbError::Lost(e)) => {
                log::warn!("database {}: connection lost ({e}); reconnecting", redact(&self.url));
                self.conn = None;
                f(self.conn()?.as_mut())
            }
            r => r,
        }
    }

    /// Rows of `table` matching `conds` (ANDed), `columns` of them (all
    /// when empty), ordered by `order`.
    pub fn query(
        &mut self,
        table: &str,
        conds: &[Cond<'_>],
        columns: &[&str],
        order: Option<&str>,
    ) -> Result<Rows, DbError> {
        let st = sql::select(self.style()?, table, conds, columns, order);
        self.with_conn(|c| c.fetch(&st))
    }

    /// Inserts a row.
    pub fn insert(&mut self, table: &str, columns: &[&str], values: &[DbValue]) -> Result<u64, DbError> {
        let st = sql::insert(self.style()?, table, columns, values, None);
        self.with_conn(|c| c.execute(&st))
    }

    /// Inserts a row, or replaces the one with the same unique `key`.
    pub fn replace(&mut self, table: &str, columns: &[&str], values: &[DbValue], key: &[&str]) -> Result<u64, DbError> {
        let st = sql::insert(self.style()?, table, columns, values, Some(key));
        self.with_conn(|c| c.execute(&st))
    }

    /// Sets `columns` to `values` in the rows matching `conds`; how many.
    pub fn update(
        &mut self,
        table: &str,
        conds: &[Cond<'_>],
        columns: &[&str],
        values: &[DbValue],
    ) -> Result<u64, DbError> {
        let st = sql::update(self.style()?, table, conds, columns, values);
        self.with_conn(|c| c.execute(&st))
    }

    /// Deletes the rows matching `conds`; how many.
    pub fn delete(&mut self, table: &str, conds: &[Cond<'_>]) -> Result<u64, DbError> {
        let st = sql::delete(self.style()?, table, conds);
        self.with_conn(|c| c.execute(&st))
    }

    /// Runs SQL text as it is (Kamailio's `raw_query`): its rows (none
    /// for a statement that returns none).
    pub fn raw_query(&mut self, sql: &str) -> Result<Rows, DbError> {
        let st = Statement { sql: sql.to_string(), params: Vec::new() };
        self.with_conn(|c| c.fetch(&st))
    }

    /// Starts a transaction (`BEGIN`): the statements up to [`Db::commit`]
    /// or [`Db::rollback`] take effect together.
    pub fn begin(&mut self) -> Result<(), DbError> {
        self.raw_query("BEGIN").map(|_| ())
    }

    /// Ends a transaction, keeping its changes.
    pub fn commit(&mut self) -> Result<(), DbError> {
        self.raw_query("COMMIT").map(|_| ())
    }

    /// Ends a transaction, dropping its changes.
    pub fn rollback(&mut self) -> Result<(), DbError> {
        self.raw_query("ROLLBACK").map(|_| ())
    }

    /// The id of the last row this process inserted.
    pub fn last_inserted_id(&mut self) -> Result<i64, DbError> {
        self.conn()?.last_inserted_id()
    }

    /// `table`'s version in the `version` table (`None`: no row).
    pub fn table_version(&mut self, table: &str) -> Result<Option<i64>, DbError> {
        let rows = self.query(
            "version",
            &[Cond::eq("table_name", DbValue::Str(table.to_string()))],
            &["table_version"],
            None,
        )?;
        Ok(rows.rows.first().and_then(|r| r.first()).and_then(DbValue::as_int))
    }

    /// Checks that `table` has version `want` (Kamailio's
    /// `db_check_table_version`): a clear error otherwise.
    pub fn check_version(&mut self, table: &str, want: i64) -> Result<(), DbError> {
        match self.table_version(table)? {
            Some(v) if v == want => Ok(()),
            found => Err(DbError::Version { table: table.to_string(), found, want }),
        }
    }
}

/// The file a `sqlite://` URL names, as Kamailio's db_sqlite reads it:
/// the part after `//` is an empty host, then the path, so
/// `sqlite:////var/lib/sipr/sipr.db` is /var/lib/sipr/sipr.db and
/// `sqlite:///sipr.db` a path relative to the working directory.
pub fn sqlite_path(url: &str) -> Result<&str, DbError> {
    let rest = url
        .get(..9)
        .filter(|s| s.eq_ignore_ascii_case("sqlite://"))
        .map(|_| &url[9..])
        .ok_or_else(|| DbError::BadUrl(url.to_string()))?;
    let path = rest.strip_prefix('/').unwrap_or(rest);
    if path.is_empty() {
        return Err(DbError::BadUrl(url.to_string()));
    }
    Ok(path)
}

/// A DATETIME value as Kamailio writes it in text columns:
/// `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_datetime(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = crate::sip::civil(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Reads a DATETIME text (`YYYY-MM-DD HH:MM:SS`, optionally with a
/// fraction or a `T`), as Unix seconds (UTC).
pub fn parse_datetime(text: &str) -> Option<i64> {
    let t = text.trim();
    let num = |a: usize, b: usize| t.get(a..b)?.parse::<i64>().ok();
    if t.len() < 19 || t.as_bytes()[4] != b'-' || t.as_bytes()[7] != b'-' {
        return None;
    }
    let (y, mo, d, h, mi, s) = (num(0, 4)?, num(5, 7)?, num(8, 10)?, num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(crate::sip::days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + s)
}

impl DbValue {
    /// The value as Unix seconds: a DATETIME, an integer, or a DATETIME
    /// text (how SQLite keeps Kamailio's DATETIME columns).
    pub fn as_unix_time(&self) -> Option<i64> {
        match self {
            DbValue::DateTime(t) | DbValue::Int(t) => Some(*t),
            DbValue::Str(s) => parse_datetime(s).or_else(|| s.trim().parse().ok()),
            _ => None,
        }
    }
}

/// A module's database connection in this process: one `static` per
/// module, opened on first use (after the fork, in the process that uses
/// it) and kept.
#[derive(Debug)]
pub struct ProcessDb(std::sync::Mutex<Option<Db>>);

impl ProcessDb {
    /// No connection yet.
    pub const fn new() -> Self {
        ProcessDb(std::sync::Mutex::new(None))
    }

    /// Runs `f` on this process's connection to `url`.
    pub fn with<R>(&self, url: &str, f: impl FnOnce(&mut Db) -> Result<R, DbError>) -> Result<R, DbError> {
        if url.is_empty() {
            return Err(DbError::Connect("no db_url".into()));
        }
        let mut conn = self.0.lock().map_err(|_| DbError::Query("connection lock poisoned".into()))?;
        if conn.as_ref().is_none_or(|db| db.url() != url) {
            *conn = Some(Db::new(url)?);
        }
        match conn.as_mut() {
            Some(db) => f(db),
            None => Err(DbError::Connect(url.to_string())),
        }
    }
}

impl Default for ProcessDb {
    fn default() -> Self {
        Self::new()
    }
}

/// A URL without its password, for log lines.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let auth = &url[s + 3..at];
            match auth.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements() {
        let st = sql::select(
            Placeholder::QuestionNumbered,
            "location",
            &[Cond::eq("username", DbValue::Str("alice".into())), Cond::new("expires", DbOp::Gt, DbValue::Int(5))],
            &["contact", "q"],
            Some("q"),
        );
        assert_eq!(
            st.sql,
            r#"SELECT "contact", "q" FROM "location" WHERE "username" = ?1 AND "expires" > ?2 ORDER BY "q""#
        );
        assert_eq!(st.params.len(), 2);
        let st = sql::update(
            Placeholder::DollarNumbered,
            "location",
            &[Cond::eq("ruid", DbValue::Str("r".into())), Cond::eq("domain", DbValue::Null)],
            &["expires"],
            &[DbValue::Int(1)],
        );
        assert_eq!(st.sql, r#"UPDATE "location" SET "expires" = $1 WHERE "ruid" = $2 AND "domain" IS NULL"#);
        assert_eq!(st.params, vec![DbValue::Int(1), DbValue::Str("r".into())]);
        let st = sql::insert(
            Placeholder::DollarNumbered,
            "htable",
            &["key_name", "key_value"],
            &[DbValue::Str("k".into()), DbValue::Str("v".into())],
            Some(&["key_name"]),
        );
        assert_eq!(
            st.sql,
            r#"INSERT INTO "htable" ("key_name", "key_value") VALUES ($1, $2) ON CONFLICT ("key_name") DO UPDATE SET "key_value" = EXCLUDED."key_value""#
        );
        let st = sql::insert(Placeholder::QuestionNumbered, "t", &["a"], &[DbValue::Int(1)], Some(&["a"]));
        assert_eq!(st.sql, r#"INSERT OR REPLACE INTO "t" ("a") VALUES (?1)"#);
        assert_eq!(sql::delete(Placeholder::QuestionNumbered, "a\"b", &[]).sql, r#"DELETE FROM "a""b""#);
    }

    #[test]
    fn datetimes() {
        assert_eq!(format_datetime(0), "1970-01-01 00:00:00");
        // Kamailio's default expires of a location row
        let t = parse_datetime("2030-05-28 21:32:15").unwrap();
        assert_eq!(t, 1_906_234_335);
        assert_eq!(format_datetime(t), "2030-05-28 21:32:15");
        assert_eq!(format_datetime(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(parse_datetime("2000-02-29 00:00:00"), Some(951_782_400));
        assert_eq!(parse_datetime("2000-13-01 00:00:00"), None);
        assert_eq!(parse_datetime("yesterday"), None);
        assert_eq!(DbValue::Str("2030-05-28 21:32:15.5".into()).as_unix_time(), Some(1_906_234_335));
    }

    #[test]
    fn urls() {
        assert_eq!(scheme_of("sqlite:////var/lib/sipr/sipr.db").unwrap(), "sqlite");
        assert_eq!(scheme_of("POSTGRES://u:p@h/db").unwrap(), "postgres");
        assert!(scheme_of("/var/lib/x.db").is_err());
        assert_eq!(module_of("pgsql"), "db_postgres");
        assert_eq!(redact("postgres://kamailio:secret@127.0.0.1/kam"), "postgres://kamailio:***@127.0.0.1/kam");
        assert_eq!(redact("sqlite:////tmp/a.db"), "sqlite:////tmp/a.db");
    }
}
