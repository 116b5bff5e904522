//! The database siprctl edits: SQLite (`sqlite:///path` or a path) or
//! PostgreSQL (`postgres://user:password@host:port/db`), with Kamailio's
//! tables and `version` table, created from sipr's schema files (the same
//! files `make install` puts in share/sipr/db).

use anyhow::{anyhow, bail, Context, Result};

/// A value of a row, as printed.
pub type Row = Vec<String>;

/// The schema files, per dialect, in the order they are run (`version`
/// first): (name, SQLite text, PostgreSQL text).
pub const SCHEMA: &[(&str, &str, &str)] = &[
    ("standard", include_str!("../../db/sqlite/standard.sql"), include_str!("../../db/postgres/standard.sql")),
    ("auth_db", include_str!("../../db/sqlite/auth_db.sql"), include_str!("../../db/postgres/auth_db.sql")),
    ("usrloc", include_str!("../../db/sqlite/usrloc.sql"), include_str!("../../db/postgres/usrloc.sql")),
    ("htable", include_str!("../../db/sqlite/htable.sql"), include_str!("../../db/postgres/htable.sql")),
    ("domain", include_str!("../../db/sqlite/domain.sql"), include_str!("../../db/postgres/domain.sql")),
    ("permissions", include_str!("../../db/sqlite/permissions.sql"), include_str!("../../db/postgres/permissions.sql")),
    ("dispatcher", include_str!("../../db/sqlite/dispatcher.sql"), include_str!("../../db/postgres/dispatcher.sql")),
];

/// A parameter of a statement.
#[derive(Debug, Clone)]
pub enum Param {
    /// Text.
    Text(String),
    /// A number.
    Int(i64),
}

/// A connection.
pub enum Db {
    /// SQLite.
    Sqlite(rusqlite::Connection, String),
    /// PostgreSQL.
    Postgres(Box<postgres::Client>, String),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// Where a URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An SQLite file.
    Sqlite(String),
    /// A PostgreSQL URL.
    Postgres(String),
}

/// Reads a database URL: `sqlite:////abs/path.db` (the server's way:
/// an empty host, then the path), `postgres://...`, or a plain file path
/// (SQLite).
pub fn target(url: &str) -> Result<Target> {
    if url.get(..9).is_some_and(|s| s.eq_ignore_ascii_case("sqlite://")) {
        let p = sipr_sdk::db::sqlite_path(url).map_err(|_| anyhow!("{url}: no file (sqlite:////path/to/file.db)"))?;
        return Ok(Target::Sqlite(p.to_string()));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres(url.to_string()));
    }
    if url.contains("://") {
        bail!("{url}: siprctl speaks sqlite:///FILE and postgres://USER:PASSWORD@HOST:PORT/DB");
    }
    Ok(Target::Sqlite(url.to_string()))
}

/// The PostgreSQL client's connection string for a URL (percent-escapes
/// are not needed for sipr's deployments; a password may hold ':').
fn pg_config(url: &str) -> Result<(postgres::Config, String)> {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    let (auth, hostpart) = rest.rsplit_once('@').map_or(("", rest), |(a, h)| (a, h));
    let (hostport, db) = hostpart.split_once('/').ok_or_else(|| anyhow!("{url}: no database name"))?;
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().with_context(|| format!("{url}: bad port"))?),
        None => (hostport, 5432),
    };
    let mut c = postgres::Config::new();
    c.host(host).port(port).dbname(db).connect_timeout(std::time::Duration::from_secs(5));
    if !auth.is_empty() {
        let (user, pw) = auth.split_once(':').unwrap_or((auth, ""));
        c.user(user);
        if !pw.is_empty() {
            c.password(pw);
        }
    }
    Ok((c, db.to_string()))
}

impl Db {
    /// Opens the database at `url`; `create` makes an SQLite file or a
    /// PostgreSQL database that does not exist yet (`db create`).
    pub fn open(url: &str, create: bool) -> Result<Db> {
        match target(url)? {
            Target::Sqlite(path) => {
                if !create && !std::path::Path::new(&path).exists() {
                    bail!("the database {path} does not exist: create it with `siprctl db create`");
                }
                if let Some(dir) = std::path::Path::new(&path).parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                }
                let c = rusqlite::Connection::open(&path).with_context(|| format!("cannot open {path}"))?;
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                Ok(Db::Sqlite(c, path))
            }
            Target::Postgres(url) => {
                let (cfg, name) = pg_config(&url)?;
                match cfg.connect(postgres::NoTls) {
                    Ok(c) => Ok(Db::Postgres(Box::new(c), url)),
                    Err(e) if create && e.code() == Some(&postgres::error::SqlState::INVALID_CATALOG_NAME) => {
                        // the database is missing: made on the server's
                        // maintenance database, as kamdbctl does
                        let mut admin_cfg = cfg.clone();
                        admin_cfg.dbname("postgres");
                        let mut admin = admin_cfg.connect(postgres::NoTls).context("cannot reach PostgreSQL")?;
                        admin
                            .batch_execute(&format!("CREATE DATABASE \"{}\"", name.replace('"', "")))
                            .with_context(|| format!("cannot create database {name}"))?;
                        Ok(Db::Postgres(Box::new(cfg.connect(postgres::NoTls)?), url))
                    }
                    Err(e) if e.code() == Some(&postgres::error::SqlState::INVALID_CATALOG_NAME) => {
                        bail!("the database {name} does not exist: create it with `siprctl db create`")
                    }
                    Err(e) => Err(anyhow!(e)).with_context(|| format!("cannot connect to {}", hide_password(&url))),
                }
            }
        }
    }

    /// What it is, for messages (no password).
    pub fn describe(&self) -> &str {
        match self {
            Db::Sqlite(_, p) => p,
            Db::Postgres(_, u) => u.split('@').next_back().unwrap_or(u),
        }
    }

    fn is_pg(&self) -> bool {
        matches!(self, Db::Postgres(..))
    }

    /// Runs a statement (`?` placeholders); the rows it changed.
    pub fn execute(&mut self, q: &str, params: &[Param]) -> Result<u64> {
        match self {
            Db::Sqlite(c, _) => Ok(c.execute(q, sqlite_params(params).as_slice())? as u64),
            Db::Postgres(c, _) => {
                let sql = inline(q, params);
                let mut changed = 0;
                for m in c.simple_query(&sql)? {
                    if let postgres::SimpleQueryMessage::CommandComplete(n) = m {
                        changed += n;
                    }
                }
                Ok(changed)
            }
        }
    }

    /// Runs a query (`?` placeholders); its column names and rows, every
    /// value as text (NULL as "").
    pub fn query(&mut self, q: &str, params: &[Param]) -> Result<(Vec<String>, Vec<Row>)> {
        match self {
            Db::Sqlite(c, _) => {
                let mut st = c.prepare(q)?;
                let cols: Vec<String> = st.column_names().iter().map(|s| s.to_string()).collect();
                let n = cols.len();
                let rows = st
                    .query_map(sqlite_params(params).as_slice(), |r| {
                        (0..n)
                            .map(|i| {
                                Ok(match r.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => String::new(),
                                    rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                                    rusqlite::types::ValueRef::Real(f) => f.to_string(),
                                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                                        String::from_utf8_lossy(t).into_owned()
                                    }
                                })
                            })
                            .collect::<rusqlite::Result<Row>>()
                    })?
                    .collect::<rusqlite::Result<Vec<Row>>>()?;
                Ok((cols, rows))
            }
            Db::Postgres(c, _) => {
                // the simple protocol: every value comes as text, whatever
                // its column's type
                let mut cols = Vec::new();
                let mut rows = Vec::new();
                for m in c.simple_query(&inline(q, params))? {
                    match m {
                        postgres::SimpleQueryMessage::RowDescription(d) => {
                            cols = d.iter().map(|c| c.name().to_string()).collect();
                        }
                        postgres::SimpleQueryMessage::Row(r) => {
                            if cols.is_empty() {
                                cols = r.columns().iter().map(|c| c.name().to_string()).collect();
                            }
                            rows.push((0..r.len()).map(|i| r.get(i).unwrap_or("").to_string()).collect());
                        }
                        _ => {}
                    }
                }
                Ok((cols, rows))
            }
        }
    }

    /// Runs a script of statements (a schema file).
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        match self {
            Db::Sqlite(c, _) => Ok(c.execute_batch(sql)?),
            Db::Postgres(c, _) => Ok(c.batch_execute(sql)?),
        }
    }

    /// Whether table `name` exists.
    pub fn has_table(&mut self, name: &str) -> Result<bool> {
        let q = if self.is_pg() {
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
        } else {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?"
        };
        Ok(!self.query(q, &[Param::Text(name.to_string())])?.1.is_empty())
    }

    /// The schema file text of `entry` for this backend.
    pub fn schema_text(&self, entry: &(&'static str, &'static str, &'static str)) -> &'static str {
        if self.is_pg() {
            entry.2
        } else {
            entry.1
        }
    }
}

fn sqlite_params(params: &[Param]) -> Vec<&dyn rusqlite::ToSql> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(s) => s as &dyn rusqlite::ToSql,
            Param::Int(i) => i as &dyn rusqlite::ToSql,
        })
        .collect()
}

/// SQL with its `?` placeholders replaced by literals (PostgreSQL's simple
/// protocol, whose text values fit every column type): text quoted with
/// its quotes doubled (standard_conforming_strings, on by default since
/// PostgreSQL 9.1), numbers as they are.
fn inline(q: &str, params: &[Param]) -> String {
    let mut out = String::with_capacity(q.len() + 16 * params.len());
    let mut it = params.iter();
    for c in q.chars() {
        if c != '?' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some(Param::Text(s)) => {
                out.push('\'');
                out.push_str(&s.replace('\'', "''"));
                out.push('\'');
            }
            Some(Param::Int(i)) => out.push_str(&i.to_string()),
            None => out.push_str("NULL"),
        }
    }
    out
}

/// A URL with its password replaced, for messages.
pub fn hide_password(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, rest)), Some(_)) => {
            let (auth, host) = rest.rsplit_once('@').unwrap_or(("", rest));
            let user = auth.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(inline("SELECT ? , ?, ?", &[Param::Text("o'k".into()), Param::Int(-3)]), "SELECT 'o''k' , -3, NULL");
    }

    #[test]
    fn urls() {
        assert_eq!(target("sqlite:////var/lib/sipr/sipr.db").unwrap(), Target::Sqlite("/var/lib/sipr/sipr.db".into()));
        assert_eq!(target("sqlite:///rel.db").unwrap(), Target::Sqlite("rel.db".into()));
        assert_eq!(target("/tmp/x.db").unwrap(), Target::Sqlite("/tmp/x.db".into()));
        assert!(matches!(target("postgres://u:p@127.0.0.1:5432/sipr").unwrap(), Target::Postgres(_)));
        assert!(target("mysql://x/y").is_err());
        assert_eq!(hide_password("postgres://u:secret@h:5/d"), "postgres://u:***@h:5/d");
        let (_, db) = pg_config("postgres://u:p:q@127.0.0.1:25432/sipr").unwrap();
        assert_eq!(db, "sipr");
    }

    #[test]
    fn sqlite_round_trip() {
        let dir = std::env::temp_dir().join(format!("siprctl-db-{}", std::process::id()));
        let path = dir.join("t.db");
        let mut db = Db::open(path.to_str().unwrap(), true).unwrap();
        for e in SCHEMA {
            let t = db.schema_text(e);
            db.batch(t).unwrap();
        }
        assert!(db.has_table("subscriber").unwrap() && db.has_table("dispatcher").unwrap());
        db.execute(
            "INSERT INTO domain (domain, did) VALUES (?, ?)",
            &[Param::Text("a.example".into()), Param::Text("d1".into())],
        )
        .unwrap();
        let (cols, rows) = db.query("SELECT domain, did FROM domain WHERE id > ?", &[Param::Int(0)]).unwrap();
        assert_eq!(cols, vec!["domain", "did"]);
        assert_eq!(rows, vec![vec!["a.example".to_string(), "d1".to_string()]]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
