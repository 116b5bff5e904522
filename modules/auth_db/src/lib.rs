//! auth_db: digest authentication against the subscriber table
//! (Kamailio's auth_db), through auth's API.
//!
//! * `www_authorize(realm, table)` / `www_authenticate(realm, table[,
//!   method])`, `proxy_authorize(realm, table)` /
//!   `proxy_authenticate(realm, table)`, `auth_check(realm, table, flags)`
//!   (401 for REGISTER, 407 otherwise; flags 1: the credentials' user must
//!   be the To user for REGISTER, the From user otherwise), and
//!   `is_subscriber(uri, table, flags)`.
//! * The HA1 comes from `password_column` (`ha1`), or `password_column_2`
//!   (`ha1b`) when the username carries a domain; with `calculate_ha1` the
//!   column holds the plain password. `use_domain` matches the domain
//!   too. The table's version is checked at start-up (subscriber: 7).
//! * Return codes are Kamailio's: 1 authenticated, -1 error, -2 wrong
//!   password, -3 unknown user, -4 stale nonce, -5 no credentials, -8 user
//!   mismatch.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use sipr_sdk::auth_api::{AuthApi, AuthResult, CredHeader, AUTH_API_VERSION};
use sipr_sdk::db::{Cond, Db, DbValue};
use sipr_sdk::prelude::*;
use sipr_sdk::{ModValue, Param, RouteMask};

static AUTH: OnceLock<&'static AuthApi> = OnceLock::new();
static DB_URL: Mutex<String> = Mutex::new(String::new());
static USER_COLUMN: Mutex<String> = Mutex::new(String::new());
static DOMAIN_COLUMN: Mutex<String> = Mutex::new(String::new());
static PASSWORD_COLUMN: Mutex<String> = Mutex::new(String::new());
static PASSWORD_COLUMN_2: Mutex<String> = Mutex::new(String::new());
static CALCULATE_HA1: AtomicBool = AtomicBool::new(false);
static USE_DOMAIN: AtomicBool = AtomicBool::new(false);
static VERSION_TABLE: AtomicBool = AtomicBool::new(true);
/// Tables named by the functions (checked at start-up).
static TABLES: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// This process's connection.
static CONN: sipr_sdk::db::ProcessDb = sipr_sdk::db::ProcessDb::new();

/// The subscriber table's version (Kamailio 5.6's).
const SUBSCRIBER_VERSION: i64 = 7;

fn text(m: &Mutex<String>, default: &str) -> String {
    let v = m.lock().map(|s| s.clone()).unwrap_or_default();
    if v.is_empty() {
        default.to_string()
    } else {
        v
    }
}

fn url() -> String {
    text(&DB_URL, "")
}

fn auth() -> Result<&'static AuthApi, ModError> {
    AUTH.get().copied().ok_or_else(|| ModError("auth_db needs auth (loadmodule \"auth.so\" first)".into()))
}

fn with_db<R>(f: impl FnOnce(&mut Db) -> Result<R, sipr_sdk::db::DbError>) -> Result<R, String> {
    CONN.with(&url(), f).map_err(|e| e.to_string())
}

/// The stored HA1 of a user (`None`: no such user).
/// `load_credentials`: (AVP spec, column) pairs as given; the AVP ids
/// are made in mod_init.
static LOAD_CREDENTIALS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
/// `force_generate_avps`: the credentials' AVPs even when the password
/// was wrong (the user was found).
static FORCE_GENERATE_AVPS: AtomicBool = AtomicBool::new(false);
/// (AVP id, column) of `load_credentials`.
static CREDENTIAL_AVPS: std::sync::OnceLock<Vec<(u32, String)>> = std::sync::OnceLock::new();

/// What the subscriber row gives: the HA1, and the `load_credentials`
/// columns' values for their AVPs.
type Found = (String, Vec<(u32, DbValue)>);

fn stored_ha1(
    table: &str,
    user: &str,
    domain: &str,
    realm: &str,
    algorithm: &str,
    with_domain_in_name: bool,
) -> Result<Option<Found>, String> {
    let column = if with_domain_in_name && !CALCULATE_HA1.load(Ordering::Relaxed) {
        text(&PASSWORD_COLUMN_2, "ha1b")
    } else {
        text(&PASSWORD_COLUMN, "ha1")
    };
    let user_col = text(&USER_COLUMN, "username");
    let domain_col = text(&DOMAIN_COLUMN, "domain");
    let mut conds = vec![Cond::eq(&user_col, DbValue::Str(user.to_string()))];
    if USE_DOMAIN.load(Ordering::Relaxed) {
        conds.push(Cond::eq(&domain_col, DbValue::Str(domain.to_string())));
    }
    let extra: &[(u32, String)] = CREDENTIAL_AVPS.get().map_or(&[], Vec::as_slice);
    let mut columns: Vec<&str> = vec![&column];
    columns.extend(extra.iter().map(|(_, c)| c.as_str()));
    let rows = with_db(|db| db.query(table, &conds, &columns, None))?;
    let Some(row) = rows.rows.first() else { return Ok(None) };
    let Some(v) = row.first().and_then(DbValue::as_text) else { return Ok(None) };
    let loaded = extra.iter().zip(row.iter().skip(1)).map(|((id, _), v)| (*id, v.clone())).collect();
    let ha1 = if CALCULATE_HA1.load(Ordering::Relaxed) {
        (auth().map_err(|e| e.0)?.calc_ha1)(user, realm, &v, algorithm)
    } else {
        v
    };
    Ok(Some((ha1, loaded)))
}

/// The `load_credentials` AVPs of an authenticated request.
fn add_credential_avps(ctx: &mut Ctx<'_>, loaded: &[(u32, DbValue)]) {
    for (id, v) in loaded {
        match v {
            DbValue::Int(i) | DbValue::DateTime(i) => ctx.add_avp(*id, &Value::Int(*i)),
            DbValue::Null => {}
            other => {
                let t = other.as_text().unwrap_or_default();
                ctx.add_avp(*id, &Value::str(t.as_bytes()));
            }
        }
    }
}

/// The digest check against `table`.
fn authorize(ctx: &mut Ctx<'_>, realm: &str, table: &str, h: CredHeader, method: Option<Vec<u8>>) -> FnResult {
    let api = auth()?;
    let c = match (api.pre_auth)(ctx, realm, h)? {
        Ok(c) => c,
        Err(r) => return Ok(r as i32),
    };
    let (ha1, loaded) = match stored_ha1(table, &c.user, &c.domain, realm, &c.algorithm, c.username.contains('@')) {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(AuthResult::UserUnknown as i32),
        Err(e) => {
            log::error!("auth_db: {table}: {e}");
            return Ok(AuthResult::Error as i32);
        }
    };
    let method = method.unwrap_or_else(|| {
        ctx.msg.buf()[..ctx.msg.first_line_end()].split(|c| *c == b' ').next().unwrap_or_default().to_vec()
    });
    let force = FORCE_GENERATE_AVPS.load(Ordering::Relaxed);
    if !(api.check_response)(ctx, &c, &ha1, &method)? {
        if force {
            add_credential_avps(ctx, &loaded);
        }
        return Ok(AuthResult::InvalidPassword as i32);
    }
    let rc = (api.post_auth)(ctx, &c, &ha1)?;
    if rc == AuthResult::Authenticated || force {
        add_credential_avps(ctx, &loaded);
    }
    Ok(rc as i32)
}

fn realm_table(ctx: &Ctx<'_>, p: &[Param]) -> (String, String) {
    (String::from_utf8_lossy(&p[0].text(ctx)).into_owned(), String::from_utf8_lossy(&p[1].text(ctx)).into_owned())
}

fn www_authorize(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (realm, table) = realm_table(ctx, p);
    authorize(ctx, &realm, &table, CredHeader::Www, None)
}
fn www_authenticate(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (realm, table) = realm_table(ctx, p);
    let method = p.get(2).map(|m| m.text(ctx).into_owned());
    authorize(ctx, &realm, &table, CredHeader::Www, method)
}
fn proxy_authorize(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (realm, table) = realm_table(ctx, p);
    authorize(ctx, &realm, &table, CredHeader::Proxy, None)
}

/// REGISTER is checked against Authorization, the rest against
/// Proxy-Authorization.
fn header_for(ctx: &Ctx<'_>) -> CredHeader {
    if ctx.msg.method() == Some(sipr_sdk::sip::Method::Register) {
        CredHeader::Www
    } else {
        CredHeader::Proxy
    }
}

fn auth_check(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (realm, table) = realm_table(ctx, p);
    let flags = p[2].int(ctx);
    let h = header_for(ctx);
    let rc = authorize(ctx, &realm, &table, h, None)?;
    if rc == 1 && flags & 1 != 0 && !credentials_user_matches(ctx, h) {
        return Ok(AuthResult::UserMismatch as i32);
    }
    Ok(rc)
}

/// Whether the credentials' user is the To (REGISTER) or From user.
fn credentials_user_matches(ctx: &Ctx<'_>, h: CredHeader) -> bool {
    let buf = ctx.msg.buf();
    let kind = match h {
        CredHeader::Www => sipr_sdk::sip::HeaderKind::Authorization,
        CredHeader::Proxy => sipr_sdk::sip::HeaderKind::ProxyAuthorization,
    };
    let Some(hdr) = ctx.msg.headers().iter().find(|x| x.kind == kind) else { return false };
    let Ok(p) = sipr_sdk::sip::AuthParams::parse(buf, hdr.value) else { return false };
    let username = p.get(buf, "username").unwrap_or_default();
    let user = username.split(|c| *c == b'@').next().unwrap_or_default();
    let party = match h {
        CredHeader::Www => ctx.msg.to(),
        CredHeader::Proxy => ctx.msg.from(),
    };
    party.ok().and_then(|na| na.uri.user.map(|u| u.get(buf).to_vec())).as_deref() == Some(user)
}

/// `is_subscriber(uri, table, flags)`: 1 when the URI's user (and, with
/// flag 1, its domain) is in the table, -2 when not; without flag 2 the
/// credentials of `load_credentials` are to be loaded, and with none
/// configured (all sipr takes) Kamailio answers -1, as here.
fn is_subscriber(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let uri = p[0].text(ctx).into_owned();
    let table = String::from_utf8_lossy(&p[1].text(ctx)).into_owned();
    let flags = p[2].int(ctx);
    if flags & 2 == 0 {
        return Ok(-1);
    }
    let Ok(u) = sipr_sdk::sip::Uri::parse(&uri, sipr_sdk::sip::Span::from_range(0, uri.len())) else { return Ok(-1) };
    let user = String::from_utf8_lossy(u.user.map_or(&b""[..], |s| s.get(&uri))).into_owned();
    let domain = String::from_utf8_lossy(u.host.get(&uri)).into_owned();
    let user_col = text(&USER_COLUMN, "username");
    let domain_col = text(&DOMAIN_COLUMN, "domain");
    let mut conds = vec![Cond::eq(&user_col, DbValue::Str(user))];
    if flags & 1 != 0 {
        conds.push(Cond::eq(&domain_col, DbValue::Str(domain)));
    }
    match with_db(|db| db.query(&table, &conds, &[&user_col], None)) {
        Ok(r) if !r.rows.is_empty() => Ok(1),
        Ok(_) => Ok(-2),
        Err(e) => {
            log::error!("auth_db: is_subscriber: {e}");
            Ok(-1)
        }
    }
}

/// Records a constant table name for the start-up version check.
fn table_fixup(p: &mut [Param]) -> Result<(), String> {
    if let Some(Param::Str(t)) = p.get(1) {
        let t = String::from_utf8_lossy(t).into_owned();
        let mut tables = TABLES.lock().map_err(|_| "poisoned")?;
        if !tables.contains(&t) {
            tables.push(t);
        }
    }
    Ok(())
}

fn mod_init() -> Result<(), String> {
    let mut avps = Vec::new();
    for (spec, column) in LOAD_CREDENTIALS.lock().map_err(|_| "poisoned")?.iter() {
        avps.push((sipr_sdk::avp_id(spec).map_err(|e| format!("load_credentials: {e}"))?, column.clone()));
    }
    let _ = CREDENTIAL_AVPS.set(avps);
    let api =
        sipr_sdk::bind_api::<AuthApi>("auth", AUTH_API_VERSION).map_err(|e| format!("auth_db needs auth: {e}"))?;
    let _ = AUTH.set(api);
    let url = url();
    if url.is_empty() {
        return Err("auth_db: db_url is not set".into());
    }
    sipr_sdk::db::backend(&url).map_err(|e| format!("auth_db: {e}"))?;
    let tables = TABLES.lock().map_err(|_| "poisoned")?.clone();
    if VERSION_TABLE.load(Ordering::Relaxed) && !tables.is_empty() {
        sipr_sdk::in_child_process("auth_db: checking the table versions", || {
            let mut db = Db::new(&url).map_err(|e| format!("auth_db: {e}"))?;
            for t in &tables {
                db.check_version(t, SUBSCRIBER_VERSION).map_err(|e| format!("auth_db: {e}"))?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn store(v: &ModValue, m: &Mutex<String>) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, m)
}
fn set_db_url(v: &ModValue) -> Result<(), String> {
    store(v, &DB_URL)
}
fn set_user_column(v: &ModValue) -> Result<(), String> {
    store(v, &USER_COLUMN)
}
fn set_domain_column(v: &ModValue) -> Result<(), String> {
    store(v, &DOMAIN_COLUMN)
}
fn set_password_column(v: &ModValue) -> Result<(), String> {
    store(v, &PASSWORD_COLUMN)
}
fn set_password_column_2(v: &ModValue) -> Result<(), String> {
    store(v, &PASSWORD_COLUMN_2)
}
fn set_calculate_ha1(v: &ModValue) -> Result<(), String> {
    CALCULATE_HA1.store(sipr_sdk::modparam::int(v)? != 0, Ordering::Relaxed);
    Ok(())
}
fn set_use_domain(v: &ModValue) -> Result<(), String> {
    USE_DOMAIN.store(sipr_sdk::modparam::int(v)? != 0, Ordering::Relaxed);
    Ok(())
}
/// `credential (';' credential)*`, a credential `$avp(NAME)=column` or
/// `column` (the AVP named as the column).
fn set_load_credentials(v: &ModValue) -> Result<(), String> {
    let mut out = Vec::new();
    for item in sipr_sdk::modparam::str(v)?.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let (avp, column) = match item.split_once('=') {
            Some((a, c)) => (a.trim().to_string(), c.trim().to_string()),
            None => (item.to_string(), item.to_string()),
        };
        if column.is_empty() || !column.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("load_credentials: '{item}' has no column name"));
        }
        out.push((avp, column));
    }
    *LOAD_CREDENTIALS.lock().map_err(|_| "poisoned")? = out;
    Ok(())
}
fn set_force_generate_avps(v: &ModValue) -> Result<(), String> {
    FORCE_GENERATE_AVPS.store(sipr_sdk::modparam::int(v)? != 0, Ordering::Relaxed);
    Ok(())
}
fn set_version_table(v: &ModValue) -> Result<(), String> {
    VERSION_TABLE.store(sipr_sdk::modparam::int(v)? != 0, Ordering::Relaxed);
    Ok(())
}

const REQ: RouteMask = RouteMask::REQUEST;

sipr_sdk::module! {
    name: "auth_db",
    functions: [
        ("www_authorize", [Fmt, Str], REQ, www_authorize, table_fixup),
        ("www_authenticate", [Fmt, Str], REQ, www_authenticate, table_fixup),
        ("www_authenticate", [Fmt, Str, Fmt], REQ, www_authenticate, table_fixup),
        ("proxy_authorize", [Fmt, Str], REQ, proxy_authorize, table_fixup),
        ("proxy_authenticate", [Fmt, Str], REQ, proxy_authorize, table_fixup),
        ("auth_check", [Fmt, Str, IntOrPv], REQ, auth_check, table_fixup),
        ("is_subscriber", [Fmt, Str, IntOrPv], RouteMask::ANY, is_subscriber, table_fixup),
    ],
    params: [
        ("db_url", Str, set_db_url),
        ("user_column", Str, set_user_column),
        ("domain_column", Str, set_domain_column),
        ("password_column", Str, set_password_column),
        ("password_column_2", Str, set_password_column_2),
        ("calculate_ha1", Any, set_calculate_ha1),
        ("use_domain", Any, set_use_domain),
        ("version_table", Any, set_version_table),
        ("load_credentials", Str, set_load_credentials),
        ("force_generate_avps", Any, set_force_generate_avps),
    ],
    init: mod_init,
}
