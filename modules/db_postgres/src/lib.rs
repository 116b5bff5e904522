//! db_postgres: the PostgreSQL backend of the DB API (Kamailio's
//! db_postgres), for several sipr boxes that share one domain's
//! subscribers and registrations.
//!
//! `postgres://USER:PASSWORD@HOST[:PORT]/DATABASE` names the server, as
//! Kamailio reads it (`postgresql://` and `pgsql://` too). Each process
//! opens its own connection (`child_init` of the module that uses it).
//!
//! The client is synchronous and starts no thread: the wire protocol is
//! the rust-postgres project's codec (`postgres-protocol`: messages,
//! MD5 and SCRAM-SHA-256 authentication) over a blocking `TcpStream`.
//! Statements use the extended protocol with every parameter and column
//! in text form; each SQL text is prepared once per connection (a named
//! statement) and reused.
//!
//! A slow server never holds a SIP worker past a bounded time:
//! `sipr_sdk::db::QUERY_TIMEOUT` (2 s), or the `timeout` parameter when
//! set. The session's `statement_timeout` is that long (the server cancels
//! the statement: a timeout error), and the socket's read and write
//! timeouts are one second longer (a server that stops answering: a
//! timeout error, and the connection is dropped, so the next statement
//! reconnects). A connection the server closed or reset is opened again
//! and the statement run again, `retries` times, as Kamailio's.
//!
//! Parameters (Kamailio's): `retries` (2), `timeout` (seconds; 0: sipr's
//! 2 s bound, never unbounded), `tcp_keepalive` (idle seconds before TCP
//! keepalives; 0: off), `lockset` (Kamailio's lock set for REPLACE; sipr's
//! REPLACE is one `INSERT ... ON CONFLICT` statement, atomic in the
//! server, so it takes any size and needs none), `bytea_output_escape`
//! (1: the session's `bytea_output` is `escape`, 0: `hex`; both read back
//! as the same bytes), `con_param` (`key=value;...` libpq keywords:
//! `connect_timeout`, `application_name`, `tcp_user_timeout`,
//! `keepalives_idle`, `options` is refused, `sslmode` only `disable`,
//! `allow` or `prefer`: sipr speaks to PostgreSQL without TLS).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::backend::{DataRowBody, ErrorResponseBody, Message, RowDescriptionBody};
use postgres_protocol::message::frontend;
use postgres_protocol::{IsNull, Oid};
use sipr_sdk::db::{DbBackend, DbConnection, DbError, DbValue, Placeholder, Rows, Statement, QUERY_TIMEOUT};
use sipr_sdk::{guard_api, modparam, ModValue};

/// How many prepared statements one connection keeps (the modules use a
/// few dozen distinct statements; raw queries beyond the cap run unnamed).
const STATEMENT_CACHE: usize = 256;

/// `retries`: reconnections (and runs again) after a lost connection.
static RETRIES: AtomicI64 = AtomicI64::new(2);
/// `timeout`: seconds a statement may take (0: `QUERY_TIMEOUT`).
static TIMEOUT: AtomicI64 = AtomicI64::new(0);
/// `tcp_keepalive`: idle seconds before keepalive probes (0: off).
static TCP_KEEPALIVE: AtomicI64 = AtomicI64::new(0);
/// `bytea_output_escape`.
static BYTEA_ESCAPE: AtomicI64 = AtomicI64::new(1);
/// `con_param`, read.
static CON_PARAM: Mutex<ConParam> = Mutex::new(ConParam {
    connect_timeout: None,
    application_name: None,
    tcp_user_timeout_ms: None,
    keepalives_idle: None,
});

/// The libpq connection keywords of `con_param` sipr acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConParam {
    connect_timeout: Option<u64>,
    application_name: Option<String>,
    tcp_user_timeout_ms: Option<u64>,
    keepalives_idle: Option<u64>,
}

/// Reads `key=value;key=value`.
fn con_param_of(spec: &str) -> Result<ConParam, String> {
    let mut p =
        ConParam { connect_timeout: None, application_name: None, tcp_user_timeout_ms: None, keepalives_idle: None };
    for item in spec.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let (k, v) = item.split_once('=').ok_or_else(|| format!("con_param: '{item}' is not key=value"))?;
        let (k, v) = (k.trim(), v.trim());
        let num = || v.parse::<u64>().map_err(|_| format!("con_param: {k} takes a number, not '{v}'"));
        match k {
            "connect_timeout" => p.connect_timeout = Some(num()?),
            "application_name" => p.application_name = Some(v.to_string()),
            "tcp_user_timeout" => p.tcp_user_timeout_ms = Some(num()?),
            "keepalives_idle" => p.keepalives_idle = Some(num()?),
            "sslmode" if ["disable", "allow", "prefer"].contains(&v) => {}
            "sslmode" => return Err(format!("con_param: sslmode={v} is not supported (sipr connects without TLS)")),
            _ => return Err(format!("con_param: '{k}' is not supported by sipr's db_postgres")),
        }
    }
    Ok(p)
}

/// How long a statement may take.
fn query_timeout() -> Duration {
    match TIMEOUT.load(Relaxed) {
        t if t > 0 => Duration::from_secs(t as u64),
        _ => QUERY_TIMEOUT,
    }
}

/// The parts of a `postgres://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    user: String,
    password: Option<String>,
    host: String,
    port: u16,
    database: String,
}

/// Reads `scheme://[user[:password]@]host[:port]/database`.
fn target_of(url: &str) -> Result<Target, DbError> {
    let bad = || DbError::BadUrl(url.to_string());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    if !["postgres", "postgresql", "pgsql"].iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return Err(bad());
    }
    let (authority, database) = rest.split_once('/').ok_or_else(bad)?;
    let (credentials, hostport) = match authority.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, authority),
    };
    let (user, password) = match credentials {
        Some(c) => match c.split_once(':') {
            Some((u, p)) => (u.to_string(), Some(p.to_string())),
            None => (c.to_string(), None),
        },
        None => (String::new(), None),
    };
    // [v6]:port, host:port, host
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(bad)?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| bad())?,
        None => 5432,
    };
    if host.is_empty() || database.is_empty() || user.is_empty() {
        return Err(bad());
    }
    Ok(Target { user, password, host: host.to_string(), port, database: database.to_string() })
}

/// A failure of the server, read from its ErrorResponse.
#[derive(Debug)]
struct ServerError {
    code: String,
    message: String,
}

impl ServerError {
    fn read(body: &ErrorResponseBody) -> ServerError {
        let mut e = ServerError { code: String::new(), message: String::new() };
        let mut fields = body.fields();
        while let Ok(Some(f)) = fields.next() {
            match f.type_() {
                b'C' => e.code = String::from_utf8_lossy(f.value_bytes()).into_owned(),
                b'M' => e.message = String::from_utf8_lossy(f.value_bytes()).into_owned(),
                _ => {}
            }
        }
        e
    }

    /// The DB API's error for it, by SQLSTATE class.
    fn into_db_error(self) -> DbError {
        let text = format!("{} ({})", self.message, self.code);
        match self.code.as_str() {
            "42P01" => DbError::MissingTable(text),
            "57014" => DbError::Timeout(text),
            c if c.starts_with("23") => DbError::Constraint(text),
            // admin shutdown, crash shutdown, cannot connect now, connection exceptions
            c if c.starts_with("08") || c.starts_with("57P") => DbError::Lost(text),
            _ => DbError::Query(text),
        }
    }
}

/// One process's connection.
struct Postgres {
    stream: TcpStream,
    /// Bytes read and not yet parsed.
    input: BytesMut,
    /// The messages of the next round trip.
    output: BytesMut,
    /// SQL text → its prepared statement's name.
    statements: HashMap<String, String>,
    /// Prepared statements to close on the next round trip.
    to_close: Vec<String>,
    /// Why the connection can no longer be used (an I/O failure or a
    /// timeout left the protocol in an unknown state).
    broken: Option<String>,
    /// `host:port/database`, for messages.
    name: String,
    /// Where it connects to (to connect again).
    url: String,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres").field("server", &self.name).finish()
    }
}

/// An I/O failure: a timeout, or the connection lost.
fn io_error(e: &io::Error) -> DbError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            DbError::Timeout(format!("no answer from the server: {e}"))
        }
        _ => DbError::Lost(e.to_string()),
    }
}

fn connect(url: &str) -> Result<Box<dyn DbConnection>, DbError> {
    let pg = guard_api("db_postgres.connect", || open(url)).map_err(DbError::Panicked)??;
    Ok(Box::new(pg))
}

/// A new connection to `url`, ready for statements.
fn open(url: &str) -> Result<Postgres, DbError> {
    let t = target_of(url)?;
    let con = CON_PARAM.lock().map(|c| c.clone()).map_err(|_| DbError::Connect("poisoned".into()))?;
    let name = format!("{}:{}/{}", t.host, t.port, t.database);
    let connect_timeout = con.connect_timeout.filter(|s| *s > 0).map(Duration::from_secs).unwrap_or_else(query_timeout);
    let addrs: Vec<SocketAddr> =
        (t.host.as_str(), t.port).to_socket_addrs().map_err(|e| DbError::Connect(format!("{name}: {e}")))?.collect();
    let mut last = format!("{name}: no address");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, connect_timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("{name} ({a}): {e}"),
        }
    }
    let stream = stream.ok_or(DbError::Connect(last))?;
    let io_timeout = Some(query_timeout() + Duration::from_secs(1));
    let setup = stream
        .set_read_timeout(io_timeout)
        .and_then(|_| stream.set_write_timeout(io_timeout))
        .and_then(|_| stream.set_nodelay(true))
        .and_then(|_| socket_options(&stream, &con));
    setup.map_err(|e| DbError::Connect(format!("{name}: {e}")))?;
    let mut pg = Postgres {
        stream,
        input: BytesMut::with_capacity(8192),
        output: BytesMut::with_capacity(1024),
        statements: HashMap::new(),
        to_close: Vec::new(),
        broken: None,
        name,
        url: url.to_string(),
    };
    pg.startup(&t, &con).map_err(|e| match e {
        DbError::Connect(m) => DbError::Connect(format!("{}: {m}", pg.name)),
        e => DbError::Connect(format!("{}: {e}", pg.name)),
    })?;
    log::debug!("db_postgres: connected to {}", pg.name);
    Ok(pg)
}

/// TCP keepalive (`tcp_keepalive`, `keepalives_idle`) and user timeout
/// (`tcp_user_timeout`).
fn socket_options(stream: &TcpStream, con: &ConParam) -> io::Result<()> {
    let sock = socket2::SockRef::from(stream);
    let idle = con.keepalives_idle.or(match TCP_KEEPALIVE.load(Relaxed) {
        s if s > 0 => Some(s as u64),
        _ => None,
    });
    if let Some(idle) = idle {
        sock.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(Duration::from_secs(idle)))?;
    }
    if let Some(ms) = con.tcp_user_timeout_ms.filter(|ms| *ms > 0) {
        sock.set_tcp_user_timeout(Some(Duration::from_millis(ms)))?;
    }
    Ok(())
}

impl Postgres {
    /// Sends what is in `output`.
    fn send(&mut self) -> Result<(), DbError> {
        let r = self.stream.write_all(&self.output);
        self.output.clear();
        r.map_err(|e| self.fail(io_error(&e)))
    }

    /// Marks the connection unusable, returning the error.
    fn fail(&mut self, e: DbError) -> DbError {
        self.broken = Some(e.to_string());
        e
    }

    /// The next message from the server.
    fn receive(&mut self) -> Result<Message, DbError> {
        loop {
            match Message::parse(&mut self.input) {
                Ok(Some(m)) => return Ok(m),
                Ok(None) => {}
                Err(e) => return Err(self.fail(DbError::Lost(format!("bad message from the server: {e}")))),
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(self.fail(DbError::Lost("the server closed the connection".into()))),
                Ok(n) => self.input.put_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(io_error(&e))),
            }
        }
    }

    /// Startup and authentication, up to the first ReadyForQuery.
    fn startup(&mut self, t: &Target, con: &ConParam) -> Result<(), DbError> {
        let timeout_ms = query_timeout().as_millis().to_string();
        let bytea = if BYTEA_ESCAPE.load(Relaxed) != 0 { "escape" } else { "hex" };
        let params = [
            ("user", t.user.as_str()),
            ("database", t.database.as_str()),
            ("application_name", con.application_name.as_deref().unwrap_or("sipr")),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO"),
            ("bytea_output", bytea),
            ("statement_timeout", timeout_ms.as_str()),
        ];
        frontend::startup_message(params.iter().copied(), &mut self.output)
            .map_err(|e| DbError::Connect(e.to_string()))?;
        self.send()?;
        let password = || {
            t.password
                .as_deref()
                .ok_or_else(|| DbError::Connect("the server asks for a password; the URL has none".into()))
        };
        let mut scram: Option<ScramSha256> = None;
        loop {
            match self.receive()? {
                Message::AuthenticationOk | Message::ParameterStatus(_) | Message::BackendKeyData(_) => {}
                Message::NoticeResponse(_) => {}
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(password()?.as_bytes(), &mut self.output)
                        .map_err(|e| DbError::Connect(e.to_string()))?;
                    self.send()?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = md5_hash(t.user.as_bytes(), password()?.as_bytes(), body.salt());
                    frontend::password_message(hash.as_bytes(), &mut self.output)
                        .map_err(|e| DbError::Connect(e.to_string()))?;
                    self.send()?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut offered = body.mechanisms();
                    let mut scram_offered = false;
                    while let Ok(Some(m)) = offered.next() {
                        scram_offered |= m == SCRAM_SHA_256;
                    }
                    if !scram_offered {
                        return Err(DbError::Connect(
                            "the server offers no SASL mechanism sipr knows (SCRAM-SHA-256)".into(),
                        ));
                    }
                    let s = ScramSha256::new(password()?.as_bytes(), ChannelBinding::unsupported());
                    frontend::sasl_initial_response(SCRAM_SHA_256, s.message(), &mut self.output)
                        .map_err(|e| DbError::Connect(e.to_string()))?;
                    scram = Some(s);
                    self.send()?;
                }
                Message::AuthenticationSaslContinue(body) => {
                    let s =
                        scram.as_mut().ok_or_else(|| DbError::Connect("SCRAM continuation without a start".into()))?;
                    s.update(body.data()).map_err(|e| DbError::Connect(format!("SCRAM: {e}")))?;
                    frontend::sasl_response(s.message(), &mut self.output)
                        .map_err(|e| DbError::Connect(e.to_string()))?;
                    self.send()?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let s = scram.as_mut().ok_or_else(|| DbError::Connect("SCRAM end without a start".into()))?;
                    s.finish(body.data()).map_err(|e| DbError::Connect(format!("SCRAM: the server's proof: {e}")))?;
                }
                Message::ErrorResponse(body) => {
                    let e = ServerError::read(&body);
                    return Err(DbError::Connect(format!("{} ({})", e.message, e.code)));
                }
                Message::ReadyForQuery(_) => return Ok(()),
                _ => return Err(DbError::Connect("unexpected message during start-up".into())),
            }
        }
    }

    /// [`Postgres::run`], and on a lost connection a new connection and a
    /// run again, `retries` times (Kamailio's db_postgres).
    fn run_with_retries(&mut self, st: &Statement) -> Result<(Rows, u64), DbError> {
        let mut left = RETRIES.load(Relaxed).max(0);
        loop {
            match self.run(st) {
                Err(DbError::Lost(why)) if left > 0 => {
                    left -= 1;
                    log::warn!("db_postgres: {}: connection lost ({why}); reconnecting", self.name);
                    match open(&self.url) {
                        Ok(fresh) => *self = fresh,
                        Err(e) if left == 0 => return Err(e),
                        Err(_) => {}
                    }
                }
                r => return r,
            }
        }
    }

    /// Runs one statement (Parse if new, Bind, Describe, Execute, Sync) and
    /// reads its answer up to ReadyForQuery.
    fn run(&mut self, st: &Statement) -> Result<(Rows, u64), DbError> {
        if let Some(why) = &self.broken {
            return Err(DbError::Lost(why.clone()));
        }
        let map = |e: io::Error| DbError::Query(e.to_string());
        for name in std::mem::take(&mut self.to_close) {
            frontend::close(b'S', &name, &mut self.output).map_err(map)?;
        }
        let (name, new) = match self.statements.get(&st.sql) {
            Some(n) => (n.clone(), false),
            None if self.statements.len() < STATEMENT_CACHE => (format!("s{}", self.statements.len()), true),
            None => (String::new(), true),
        };
        if new {
            frontend::parse(&name, &st.sql, std::iter::empty(), &mut self.output).map_err(map)?;
        }
        let bound = frontend::bind(
            "",
            &name,
            std::iter::empty(),
            st.params.iter(),
            text_param,
            std::iter::empty(),
            &mut self.output,
        );
        if bound.is_err() {
            self.output.clear();
            return Err(DbError::Query("a parameter cannot be sent".into()));
        }
        frontend::describe(b'P', "", &mut self.output).map_err(map)?;
        frontend::execute("", 0, &mut self.output).map_err(map)?;
        frontend::sync(&mut self.output);
        self.send()?;

        let mut rows = Rows { columns: Vec::new(), rows: Vec::new() };
        let mut types: Vec<Oid> = Vec::new();
        let mut changed = 0u64;
        let mut error: Option<ServerError> = None;
        let mut parsed = false;
        loop {
            match self.receive()? {
                Message::ParseComplete => parsed = true,
                Message::RowDescription(body) => (rows.columns, types) = describe(&body).map_err(|e| self.fail(e))?,
                Message::DataRow(body) => rows.rows.push(row(&body, &types).map_err(|e| self.fail(e))?),
                Message::CommandComplete(body) => {
                    // "INSERT 0 n", "UPDATE n", "DELETE n", "SELECT n"
                    changed = body.tag().ok().and_then(|t| t.rsplit(' ').next()?.parse().ok()).unwrap_or(0);
                }
                Message::ErrorResponse(body) => error = Some(ServerError::read(&body)),
                Message::ReadyForQuery(_) => break,
                // BindComplete, NoData, EmptyQueryResponse, CloseComplete, notices
                _ => {}
            }
        }
        if new && parsed && !name.is_empty() {
            self.statements.insert(st.sql.clone(), name.clone());
        }
        match error {
            None => Ok((rows, changed)),
            Some(e) => {
                // a cached plan may be stale (a table made again): prepare anew next time
                if !new && self.statements.remove(&st.sql).is_some() {
                    self.to_close.push(name);
                }
                Err(e.into_db_error())
            }
        }
    }
}

/// A parameter in text form.
fn text_param(v: &DbValue, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
    match v {
        DbValue::Null => return Ok(IsNull::Yes),
        DbValue::Int(i) => out.put_slice(i.to_string().as_bytes()),
        DbValue::Double(d) => out.put_slice(d.to_string().as_bytes()),
        DbValue::Str(s) => out.put_slice(s.as_bytes()),
        DbValue::Blob(b) => {
            out.put_slice(b"\\x");
            for byte in b {
                out.put_slice(format!("{byte:02x}").as_bytes());
            }
        }
        DbValue::DateTime(t) => out.put_slice(sipr_sdk::db::format_datetime(*t).as_bytes()),
    }
    Ok(IsNull::No)
}

/// Column names and types of a RowDescription.
fn describe(body: &RowDescriptionBody) -> Result<(Vec<String>, Vec<Oid>), DbError> {
    let mut names = Vec::new();
    let mut types = Vec::new();
    let mut fields = body.fields();
    while let Some(f) = fields.next().map_err(|e| DbError::Lost(format!("bad row description: {e}")))? {
        names.push(f.name().to_string());
        types.push(f.type_oid());
    }
    Ok((names, types))
}

// The type OIDs read as other than text (pg_type.h).
const BOOL: Oid = 16;
const BYTEA: Oid = 17;
const INT8: Oid = 20;
const INT2: Oid = 21;
const INT4: Oid = 23;
const OID: Oid = 26;
const FLOAT4: Oid = 700;
const FLOAT8: Oid = 701;
const TIMESTAMP: Oid = 1114;
const TIMESTAMPTZ: Oid = 1184;
const NUMERIC: Oid = 1700;

/// A value in text form, typed by its column.
fn value(ty: Oid, text: &[u8]) -> DbValue {
    let s = String::from_utf8_lossy(text);
    match ty {
        INT2 | INT4 | INT8 | OID => s.parse().map(DbValue::Int).unwrap_or_else(|_| DbValue::Str(s.into_owned())),
        FLOAT4 | FLOAT8 | NUMERIC => s.parse().map(DbValue::Double).unwrap_or_else(|_| DbValue::Str(s.into_owned())),
        BOOL => DbValue::Int(i64::from(s == "t")),
        TIMESTAMP | TIMESTAMPTZ => match sipr_sdk::db::parse_datetime(&s) {
            Some(t) => DbValue::DateTime(t),
            None => DbValue::Str(s.into_owned()),
        },
        BYTEA => DbValue::Blob(match s.strip_prefix("\\x") {
            Some(hex) => unhex(hex).unwrap_or_else(|| text.to_vec()),
            None => unescape_bytea(text),
        }),
        _ => DbValue::Str(s.into_owned()),
    }
}

/// bytea's escape output: `\\` is a backslash, `\NNN` an octal byte.
fn unescape_bytea(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match (text[i], text.get(i + 1)) {
            (b'\\', Some(b'\\')) => {
                out.push(b'\\');
                i += 2;
            }
            (b'\\', Some(_)) if i + 3 < text.len() && text[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) => {
                let v = text[i + 1..i + 4].iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                out.push(v as u8);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

fn row(body: &DataRowBody, types: &[Oid]) -> Result<Vec<DbValue>, DbError> {
    let buf = body.buffer();
    let mut out = Vec::with_capacity(types.len());
    let mut ranges = body.ranges();
    let mut i = 0;
    while let Some(r) = ranges.next().map_err(|e| DbError::Lost(format!("bad data row: {e}")))? {
        out.push(match r {
            None => DbValue::Null,
            Some(r) => value(types.get(i).copied().unwrap_or(0), &buf[r]),
        });
        i += 1;
    }
    Ok(out)
}

impl DbConnection for Postgres {
    fn placeholder(&self) -> Placeholder {
        Placeholder::DollarNumbered
    }

    fn fetch(&mut self, st: &Statement) -> Result<Rows, DbError> {
        guard_api("db_postgres.fetch", || self.run_with_retries(st).map(|(rows, _)| rows)).map_err(DbError::Panicked)?
    }

    fn execute(&mut self, st: &Statement) -> Result<u64, DbError> {
        guard_api("db_postgres.execute", || self.run_with_retries(st).map(|(_, n)| n)).map_err(DbError::Panicked)?
    }

    fn last_inserted_id(&mut self) -> Result<i64, DbError> {
        let st = Statement { sql: "SELECT lastval()".into(), params: Vec::new() };
        let rows = self.fetch(&st)?;
        rows.rows.first().and_then(|r| r.first()).and_then(DbValue::as_int).ok_or(DbError::Query("no id".into()))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.broken.is_none() {
            // a polite goodbye; a failure here changes nothing
            frontend::terminate(&mut self.output);
            let _ = self.stream.write_all(&self.output);
        }
    }
}

/// The backend other modules bind (`sipr_sdk::db::backend`).
pub static BACKEND: DbBackend = DbBackend { scheme: "postgres", connect };

/// A number parameter in `min..=max`, stored.
fn set_number(v: &ModValue, name: &str, min: i64, max: i64, slot: &AtomicI64) -> Result<(), String> {
    match modparam::int(v)? {
        n if (min..=max).contains(&n) => {
            slot.store(n, Relaxed);
            Ok(())
        }
        n => Err(format!("{name} must be {min}..{max}, not {n}")),
    }
}

fn set_retries(v: &ModValue) -> Result<(), String> {
    set_number(v, "retries", 0, 100, &RETRIES)
}

fn set_timeout(v: &ModValue) -> Result<(), String> {
    set_number(v, "timeout", 0, 3600, &TIMEOUT)
}

fn set_tcp_keepalive(v: &ModValue) -> Result<(), String> {
    set_number(v, "tcp_keepalive", 0, 86_400, &TCP_KEEPALIVE)
}

fn set_bytea_output_escape(v: &ModValue) -> Result<(), String> {
    set_number(v, "bytea_output_escape", 0, 1, &BYTEA_ESCAPE)
}

/// Kamailio sizes a lock set for its emulated REPLACE with it; sipr's
/// REPLACE is one atomic statement: any valid size is taken, none is made.
fn set_lockset(v: &ModValue) -> Result<(), String> {
    match modparam::int(v)? {
        0..=16 => Ok(()),
        n => Err(format!("lockset must be 0..16 (a power of two), not {n}")),
    }
}

fn set_con_param(v: &ModValue) -> Result<(), String> {
    let p = con_param_of(&modparam::str(v)?)?;
    *CON_PARAM.lock().map_err(|_| "poisoned")? = p;
    Ok(())
}

sipr_sdk::module! {
    name: "db_postgres",
    functions: [],
    params: [
        ("retries", Any, set_retries),
        ("timeout", Any, set_timeout),
        ("tcp_keepalive", Any, set_tcp_keepalive),
        ("lockset", Any, set_lockset),
        ("bytea_output_escape", Any, set_bytea_output_escape),
        ("con_param", Str, set_con_param),
    ],
    apis: [("db_postgres", sipr_sdk::db::DB_API_VERSION, BACKEND)],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_read_as_kamailio_reads_them() {
        let t = target_of("postgres://kamailio:kamailiorw@127.0.0.1:25432/kamailio").unwrap();
        assert_eq!(
            t,
            Target {
                user: "kamailio".into(),
                password: Some("kamailiorw".into()),
                host: "127.0.0.1".into(),
                port: 25432,
                database: "kamailio".into()
            }
        );
        let t = target_of("pgsql://u@localhost/db").unwrap();
        assert_eq!((t.port, t.password, t.host.as_str()), (5432, None, "localhost"));
        assert_eq!(target_of("postgres://u:p@[::1]:6000/d").unwrap().host, "::1");
        for bad in ["postgres://", "postgres://u:p@h:x/db", "postgres://u:p@h", "sqlite:////x.db", "postgres://h/db"] {
            assert!(matches!(target_of(bad), Err(DbError::BadUrl(_))), "{bad}");
        }
        // nothing listens: a connect error, not a hang or a panic
        assert!(matches!(connect("postgres://u:p@127.0.0.1:1/d"), Err(DbError::Connect(_))));
    }

    #[test]
    fn values_typed_by_column() {
        assert_eq!(value(INT4, b"42"), DbValue::Int(42));
        assert_eq!(value(FLOAT4, b"0.5"), DbValue::Double(0.5));
        assert_eq!(value(TIMESTAMP, b"2030-05-28 21:32:15"), DbValue::DateTime(1_906_234_335));
        assert_eq!(value(BOOL, b"t"), DbValue::Int(1));
        assert_eq!(value(25, b"text"), DbValue::Str("text".into()));
        let mut out = BytesMut::new();
        assert!(matches!(text_param(&DbValue::Blob(vec![1, 171]), &mut out), Ok(IsNull::No)));
        assert_eq!(&out[..], b"\\x01ab");
        assert!(matches!(text_param(&DbValue::Null, &mut out), Ok(IsNull::Yes)));
    }

    #[test]
    fn con_param_keywords() {
        let p =
            con_param_of("connect_timeout=15;tcp_user_timeout=5000; application_name=edge1;sslmode=disable").unwrap();
        assert_eq!(p.connect_timeout, Some(15));
        assert_eq!(p.tcp_user_timeout_ms, Some(5000));
        assert_eq!(p.application_name.as_deref(), Some("edge1"));
        assert!(con_param_of("sslmode=require").unwrap_err().contains("TLS"));
        assert!(con_param_of("host=elsewhere").is_err());
        assert!(con_param_of("connect_timeout=soon").is_err());
    }

    #[test]
    fn bytea_in_both_output_forms() {
        assert_eq!(value(BYTEA, b"\\x00ff"), DbValue::Blob(vec![0, 255]));
        assert_eq!(value(BYTEA, b"a\\000\\\\\\377"), DbValue::Blob(vec![b'a', 0, b'\\', 255]));
    }

    #[test]
    fn server_errors_by_sqlstate() {
        let e = |code: &str| ServerError { code: code.into(), message: "m".into() }.into_db_error();
        assert!(matches!(e("42P01"), DbError::MissingTable(_)));
        assert!(matches!(e("23505"), DbError::Constraint(_)));
        assert!(matches!(e("57014"), DbError::Timeout(_)));
        assert!(matches!(e("57P01"), DbError::Lost(_)));
        assert!(matches!(e("42601"), DbError::Query(_)));
    }
}
