//! auth: digest authentication (Kamailio's auth): challenges, nonces and
//! the response check that auth_db (and `pv_*_authenticate`) use.
//!
//! * Nonces are stateless: the time they were made and the time they
//!   expire (`nonce_expire`, 300 s), signed with an MD5 over the server's
//!   `secret` (random per start unless set, made before the fork so every
//!   worker checks every nonce). An expired nonce makes the result -4; a
//!   challenge says `stale=true` when the script asks (flag 16), as in
//!   Kamailio 5.6.
//! * Replay protection (`nonce_count`, `one_time_nonce`): arrays in shm
//!   indexed by a number each nonce carries ([`replay`]).
//! * Digest as RFC 2617 and RFC 8760: MD5 (default) or SHA-256
//!   (`algorithm`), without qop or with `qop=auth` / `auth-int`.
//! * Functions: `www_challenge`, `proxy_challenge`, `auth_challenge`
//!   (flags: 1 qop=auth, 2 qop=auth-int, 4 no 500 on failure, 16
//!   stale=true), `consume_credentials`, `has_credentials`,
//!   `pv_www_authenticate`, `pv_proxy_authenticate`, `pv_auth_check`.
//!   Return codes are Kamailio's (`sipr_sdk::auth_api::AuthResult`).

#![forbid(unsafe_code)]

mod digest;
mod replay;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use sipr_sdk::auth_api::{AuthApi, AuthResult, CredHeader, Credentials, AUTH_API_VERSION};
use sipr_sdk::prelude::*;
use sipr_sdk::sip::{AuthParams, HeaderKind};
use sipr_sdk::{guard_api, ModValue, Param, RouteMask};

/// `secret` as set; a random one is made in mod_init when empty.
static SECRET_PARAM: Mutex<String> = Mutex::new(String::new());
/// The secret every process signs and checks nonces with.
static SECRET: OnceLock<Vec<u8>> = OnceLock::new();
/// `nonce_expire`, s.
static NONCE_EXPIRE: AtomicU64 = AtomicU64::new(300);
/// `qop`: "", "auth" or "auth-int" (checked; Kamailio 5.6's challenge
/// functions take their qop from their flags, measured, and so do
/// sipr's).
static QOP: Mutex<String> = Mutex::new(String::new());
/// `algorithm`: "" (MD5) or "SHA-256".
static ALGORITHM: Mutex<String> = Mutex::new(String::new());
/// `force_stateless_reply`.
static STATELESS: AtomicBool = AtomicBool::new(false);
/// `nonce_count`, `one_time_nonce`.
static NONCE_COUNT: AtomicBool = AtomicBool::new(false);
static ONE_TIME_NONCE: AtomicBool = AtomicBool::new(false);
/// `nc_array_size` / `nc_array_order`, `otn_in_flight_no` /
/// `otn_in_flight_order` (nonces, powers of two; Kamailio's 1M default).
static NC_ARRAY_SIZE: AtomicU64 = AtomicU64::new(1 << 20);
static OTN_IN_FLIGHT: AtomicU64 = AtomicU64::new(1 << 20);
/// The replay-protection arrays (when either check is on).
static REPLAY: OnceLock<replay::Replay> = OnceLock::new();

/// Per-message marks.
mod key {
    /// The authorized credentials header (index + 1), for
    /// consume_credentials.
    pub const AUTHORIZED: &str = "auth.authorized";
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn secret() -> &'static [u8] {
    SECRET.get().map_or(&b"sipr"[..], Vec::as_slice)
}

fn text(m: &Mutex<String>) -> String {
    m.lock().map(|s| s.clone()).unwrap_or_default()
}

fn hdr_kind(h: CredHeader) -> HeaderKind {
    match h {
        CredHeader::Www => HeaderKind::Authorization,
        CredHeader::Proxy => HeaderKind::ProxyAuthorization,
    }
}

/// The credentials for `realm` in the request's headers of that kind.
fn find_credentials(ctx: &Ctx<'_>, realm: &str, h: CredHeader) -> Option<Result<Credentials, AuthResult>> {
    let buf = ctx.msg.buf();
    for (i, hdr) in ctx.msg.headers().iter().enumerate() {
        if hdr.kind != hdr_kind(h) {
            continue;
        }
        let Ok(p) = AuthParams::parse(buf, hdr.value) else {
            // a malformed header: Kamailio answers the request as an error
            return Some(Err(AuthResult::Error));
        };
        if !p.is_digest(buf) {
            continue;
        }
        let get = |n: &str| p.get(buf, n).map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default();
        if get("realm") != realm {
            continue;
        }
        let username = get("username");
        let (user, domain) = match username.split_once('@') {
            Some((u, d)) => (u.to_string(), d.to_string()),
            None => (username.clone(), realm.to_string()),
        };
        let c = Credentials {
            user,
            domain,
            username,
            realm: realm.to_string(),
            nonce: get("nonce"),
            uri: get("uri"),
            response: get("response"),
            algorithm: get("algorithm"),
            qop: get("qop"),
            nc: get("nc"),
            cnonce: get("cnonce"),
            header: i,
        };
        if c.username.is_empty() || c.nonce.is_empty() || c.response.is_empty() || c.uri.is_empty() {
            return Some(Err(AuthResult::Error));
        }
        return Some(Ok(c));
    }
    None
}

fn pre_auth(ctx: &mut Ctx<'_>, realm: &str, h: CredHeader) -> sipr_sdk::auth_api::PreAuth {
    guard_api("auth.pre_auth", || {
        let c = match find_credentials(ctx, realm, h) {
            None => return Ok(Err(AuthResult::NoCredentials)),
            Some(Err(r)) => return Ok(Err(r)),
            Some(Ok(c)) => c,
        };
        match digest::check_nonce(&c.nonce, secret(), now()) {
            digest::NonceCheck::Good => Ok(Ok(c)),
            digest::NonceCheck::Expired => Ok(Err(AuthResult::StaleNonce)),
            digest::NonceCheck::Invalid => Ok(Err(AuthResult::Error)),
        }
    })?
}

fn check_response(ctx: &Ctx<'_>, c: &Credentials, ha1: &str, method: &[u8]) -> Result<bool, String> {
    guard_api("auth.check_response", || digest::response_matches(c, ha1, method, ctx.msg.body()))
}

fn post_auth(ctx: &mut Ctx<'_>, c: &Credentials, _ha1: &str) -> Result<AuthResult, String> {
    guard_api("auth.post_auth", || {
        // replays are refused only after the password was right (a wrong
        // answer uses nothing up), as Kamailio
        if let (Some(r), Some(nid)) = (REPLAY.get(), digest::nonce_id(&c.nonce, secret())) {
            let nc = if c.qop.is_empty() { "" } else { c.nc.as_str() };
            if let replay::Verdict::Refused(why) = r.check(nid, nc) {
                return why;
            }
        }
        ctx.set_module_int(key::AUTHORIZED, c.header as i64 + 1);
        AuthResult::Authenticated
    })
}

fn calc_ha1(user: &str, realm: &str, password: &str, algorithm: &str) -> String {
    digest::ha1(algorithm, user, realm, password)
}

/// The API auth_db binds.
pub static AUTH_API: AuthApi = AuthApi { pre_auth, check_response, post_auth, calc_ha1 };

/// The challenge header for `realm` (`WWW-Authenticate` or
/// `Proxy-Authenticate`).
fn challenge_header(ctx: &Ctx<'_>, realm: &str, flags: i64, h: CredHeader) -> String {
    let name = match h {
        CredHeader::Www => "WWW-Authenticate",
        CredHeader::Proxy => "Proxy-Authenticate",
    };
    let nid = REPLAY.get().map(replay::Replay::issue);
    let nonce = digest::make_nonce(secret(), now(), NONCE_EXPIRE.load(Ordering::Relaxed), nid);
    let mut out = format!("{name}: Digest realm=\"{realm}\", nonce=\"{nonce}\"");
    // as Kamailio 5.6 (measured on the bed): qop and stale come from the
    // flags only — the qop parameter and an expired nonce do not add them
    let _ = ctx;
    if flags & 2 != 0 {
        out.push_str(", qop=\"auth-int\"");
    } else if flags & 1 != 0 {
        out.push_str(", qop=\"auth\"");
    }
    if flags & 16 != 0 {
        out.push_str(", stale=true");
    }
    let alg = text(&ALGORITHM);
    if !alg.is_empty() {
        out.push_str(&format!(", algorithm={alg}"));
    }
    out.push_str("\r\n");
    out
}

fn challenge(ctx: &mut Ctx<'_>, realm: &str, flags: i64, h: CredHeader) -> FnResult {
    let (code, reason) = match h {
        CredHeader::Www => (401, "Unauthorized"),
        CredHeader::Proxy => (407, "Proxy Authentication Required"),
    };
    let hdr = challenge_header(ctx, realm, flags, h);
    ctx.reply_headers.extend_from_slice(hdr.as_bytes());
    let sent = if STATELESS.load(Ordering::Relaxed) {
        sipr_sdk::reply::send_counted(ctx, code, reason, b"", b"").map(|s| s == sipr_sdk::reply::Sent::Yes)
    } else {
        sipr_sdk::reply::send_auto(ctx, code, reason)
    };
    match sent {
        Ok(_) => Ok(1),
        Err(e) => {
            log::error!("auth: cannot send the {code}: {e}");
            if flags & 4 == 0 {
                let _ = sipr_sdk::reply::send_auto(ctx, 500, "Internal Server Error");
            }
            Ok(-1)
        }
    }
}

fn realm_flags(ctx: &Ctx<'_>, p: &[Param]) -> (String, i64) {
    let realm = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    (realm, p[1].int(ctx))
}

fn www_challenge(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (realm, flags) = realm_flags(ctx, p);
    challenge(ctx, &realm, flags, CredHeader::Www)
}
fn proxy_challenge(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (realm, flags) = realm_flags(ctx, p);
    challenge(ctx, &realm, flags, CredHeader::Proxy)
}
fn auth_challenge(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (realm, flags) = realm_flags(ctx, p);
    challenge(ctx, &realm, flags, header_for(ctx))
}

/// REGISTER is challenged with 401, the rest with 407 (auth_challenge,
/// auth_check).
pub fn header_for(ctx: &Ctx<'_>) -> CredHeader {
    if ctx.msg.method() == Some(sipr_sdk::sip::Method::Register) {
        CredHeader::Www
    } else {
        CredHeader::Proxy
    }
}

/// `auth_get_www_authenticate(realm, flags, pvdest)`: the challenge
/// header www_challenge would send, into a variable.
fn auth_get_www_authenticate(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (realm, flags) = realm_flags(ctx, p);
    let Param::Pv(dest) = &p[2] else { return Err("auth_get_www_authenticate needs a writable PV".into()) };
    let hdr = challenge_header(ctx, &realm, flags, CredHeader::Www);
    dest.assign(ctx, &Value::str(hdr.as_bytes())).map_err(ModError)?;
    Ok(1)
}

fn consume_credentials(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let Some(i) = ctx.module_int(key::AUTHORIZED) else { return Ok(-1) };
    let Some(h) = ctx.msg.headers().get(i as usize - 1).copied() else { return Ok(-1) };
    ctx.lumps.delete(h.line.off as usize, h.line.len as usize);
    Ok(1)
}

fn has_credentials(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let realm = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    let found =
        [CredHeader::Www, CredHeader::Proxy].iter().any(|h| matches!(find_credentials(ctx, &realm, *h), Some(Ok(_))));
    Ok(if found { 1 } else { -1 })
}

/// `pv_*_authenticate`: the password (or HA1 with flag 1) given by the
/// script.
fn pv_authenticate(ctx: &mut Ctx<'_>, p: &[Param], h: CredHeader) -> FnResult {
    let realm = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    let passwd = String::from_utf8_lossy(&p[1].text(ctx)).into_owned();
    let flags = p[2].int(ctx);
    let method = match p.get(3) {
        Some(m) => m.text(ctx).into_owned(),
        None => ctx.msg.buf()[..ctx.msg.first_line_end()].split(|c| *c == b' ').next().unwrap_or_default().to_vec(),
    };
    let c = match pre_auth(ctx, &realm, h)? {
        Ok(c) => c,
        Err(r) => return Ok(r as i32),
    };
    let ha1 = if flags & 1 != 0 { passwd } else { calc_ha1(&c.user, &c.realm, &passwd, &c.algorithm) };
    if !check_response(ctx, &c, &ha1, &method)? {
        return Ok(AuthResult::InvalidPassword as i32);
    }
    Ok(post_auth(ctx, &c, &ha1)? as i32)
}

fn pv_www_authenticate(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    pv_authenticate(ctx, p, CredHeader::Www)
}
fn pv_proxy_authenticate(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    pv_authenticate(ctx, p, CredHeader::Proxy)
}

/// `pv_auth_check(realm, passwd, flags, checks)`: 401 for REGISTER, 407
/// otherwise; checks 1: the credentials' user must be the To (REGISTER)
/// or From user (-8).
fn pv_auth_check(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let h = header_for(ctx);
    let rc = pv_authenticate(ctx, &p[..3], h)?;
    if rc == 1 && p[3].int(ctx) & 1 != 0 && !user_matches(ctx, h) {
        return Ok(AuthResult::UserMismatch as i32);
    }
    Ok(rc)
}

/// Whether the authorized credentials' user is the To (REGISTER) or From
/// user.
pub fn user_matches(ctx: &Ctx<'_>, h: CredHeader) -> bool {
    let Some(i) = ctx.module_int(key::AUTHORIZED) else { return false };
    let buf = ctx.msg.buf();
    let Some(hdr) = ctx.msg.headers().get(i as usize - 1) else { return false };
    let Ok(p) = AuthParams::parse(buf, hdr.value) else { return false };
    let username = p.get(buf, "username").unwrap_or_default();
    let user = username.split(|c| *c == b'@').next().unwrap_or_default();
    let party = match h {
        CredHeader::Www => ctx.msg.to(),
        CredHeader::Proxy => ctx.msg.from(),
    };
    let Ok(na) = party else { return false };
    na.uri.user.map(|u| u.get(buf)) == Some(user)
}

fn mod_init() -> Result<(), String> {
    let s = text(&SECRET_PARAM);
    let secret = if s.is_empty() {
        let mut b = [0u8; 16];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
            .map_err(|e| format!("auth: no random secret: {e}"))?;
        b.to_vec()
    } else {
        s.into_bytes()
    };
    let _ = SECRET.set(secret);
    let nc = if NONCE_COUNT.load(Ordering::Relaxed) { NC_ARRAY_SIZE.load(Ordering::Relaxed) as u32 } else { 0 };
    let otn = if ONE_TIME_NONCE.load(Ordering::Relaxed) { OTN_IN_FLIGHT.load(Ordering::Relaxed) as u32 } else { 0 };
    if nc > 0 || otn > 0 {
        let pool = sipr_sdk::shm_pool().ok_or("auth: no shared memory pool")?;
        let r = replay::Replay::new(pool, nc, otn).ok_or("auth: no shared memory for the nonce arrays")?;
        let _ = REPLAY.set(r);
    }
    Ok(())
}

fn set_secret(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, &SECRET_PARAM)
}
fn set_nonce_expire(v: &ModValue) -> Result<(), String> {
    let n = sipr_sdk::modparam::int(v)?;
    NONCE_EXPIRE.store(u64::try_from(n).ok().filter(|n| *n > 0).ok_or("nonce_expire must be > 0")?, Ordering::Relaxed);
    Ok(())
}
fn set_qop(v: &ModValue) -> Result<(), String> {
    let q = sipr_sdk::modparam::str(v)?;
    if !["", "auth", "auth-int"].contains(&q.as_str()) {
        return Err(format!("qop must be \"auth\", \"auth-int\" or \"\", not \"{q}\""));
    }
    *QOP.lock().map_err(|_| "poisoned")? = q;
    Ok(())
}
fn set_algorithm(v: &ModValue) -> Result<(), String> {
    let a = sipr_sdk::modparam::str(v)?;
    if !["", "MD5", "SHA-256"].contains(&a.as_str()) {
        return Err(format!("algorithm must be \"MD5\" or \"SHA-256\", not \"{a}\""));
    }
    *ALGORITHM.lock().map_err(|_| "poisoned")? = a;
    Ok(())
}
fn set_force_stateless_reply(v: &ModValue) -> Result<(), String> {
    STATELESS.store(sipr_sdk::modparam::int(v)? != 0, Ordering::Relaxed);
    Ok(())
}
/// Authentication-Info is not added yet: only the default is taken.
fn set_add_authinfo_hdr(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("auth", "add_authinfo_hdr", v, 0)
}
fn set_nonce_count(v: &ModValue) -> Result<(), String> {
    NONCE_COUNT.store(sipr_sdk::modparam::int(v)? != 0, Ordering::Relaxed);
    Ok(())
}
fn set_one_time_nonce(v: &ModValue) -> Result<(), String> {
    ONE_TIME_NONCE.store(sipr_sdk::modparam::int(v)? != 0, Ordering::Relaxed);
    Ok(())
}
/// A size in nonces, rounded down to a power of two as Kamailio does
/// (at least 64, at most 2^30).
fn set_pow2_size(v: &ModValue, name: &str, slot: &AtomicU64) -> Result<(), String> {
    let n = sipr_sdk::modparam::int(v)?;
    if !(64..=1 << 30).contains(&n) {
        return Err(format!("{name} must be 64..2^30, not {n}"));
    }
    slot.store(1u64 << (63 - (n as u64).leading_zeros()), Ordering::Relaxed);
    Ok(())
}
/// A size given as its power of two.
fn set_pow2_order(v: &ModValue, name: &str, slot: &AtomicU64) -> Result<(), String> {
    let k = sipr_sdk::modparam::int(v)?;
    if !(6..=30).contains(&k) {
        return Err(format!("{name} must be 6..30, not {k}"));
    }
    slot.store(1u64 << k, Ordering::Relaxed);
    Ok(())
}
fn set_nc_array_size(v: &ModValue) -> Result<(), String> {
    set_pow2_size(v, "nc_array_size", &NC_ARRAY_SIZE)
}
fn set_nc_array_order(v: &ModValue) -> Result<(), String> {
    set_pow2_order(v, "nc_array_order", &NC_ARRAY_SIZE)
}
fn set_otn_in_flight_no(v: &ModValue) -> Result<(), String> {
    set_pow2_size(v, "otn_in_flight_no", &OTN_IN_FLIGHT)
}
fn set_otn_in_flight_order(v: &ModValue) -> Result<(), String> {
    set_pow2_order(v, "otn_in_flight_order", &OTN_IN_FLIGHT)
}
/// Kamailio's partitions of the arrays (1..64, a power of two): checked;
/// sipr's lock-free arrays need no partitions (the `replay` module).
fn set_nid_pool_no(v: &ModValue) -> Result<(), String> {
    match sipr_sdk::modparam::int(v)? {
        n @ 1..=64 => {
            if n & (n - 1) != 0 {
                log::warn!("auth: nid_pool_no {n} is not a power of two (Kamailio rounds it down)");
            }
            Ok(())
        }
        n => Err(format!("nid_pool_no must be 1..64, not {n}")),
    }
}
fn set_auth_checks(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("auth", "auth_checks_*", v, 0)
}

const REQ: RouteMask = RouteMask::REQUEST;

sipr_sdk::module! {
    name: "auth",
    functions: [
        ("www_challenge", [Fmt, IntOrPv], REQ, www_challenge),
        ("proxy_challenge", [Fmt, IntOrPv], REQ, proxy_challenge),
        ("auth_challenge", [Fmt, IntOrPv], REQ, auth_challenge),
        ("auth_get_www_authenticate", [Fmt, IntOrPv, WritablePv], RouteMask::ANY, auth_get_www_authenticate),
        ("consume_credentials", [], REQ, consume_credentials),
        ("has_credentials", [Fmt], REQ, has_credentials),
        ("pv_www_authenticate", [Fmt, Fmt, IntOrPv], REQ, pv_www_authenticate),
        ("pv_www_authenticate", [Fmt, Fmt, IntOrPv, Fmt], REQ, pv_www_authenticate),
        ("pv_proxy_authenticate", [Fmt, Fmt, IntOrPv], REQ, pv_proxy_authenticate),
        ("pv_auth_check", [Fmt, Fmt, IntOrPv, IntOrPv], REQ, pv_auth_check),
    ],
    params: [
        ("secret", Str, set_secret),
        ("nonce_expire", Any, set_nonce_expire),
        ("qop", Str, set_qop),
        ("algorithm", Str, set_algorithm),
        ("force_stateless_reply", Any, set_force_stateless_reply),
        ("add_authinfo_hdr", Any, set_add_authinfo_hdr),
        ("nonce_count", Any, set_nonce_count),
        ("one_time_nonce", Any, set_one_time_nonce),
        ("nid_pool_no", Any, set_nid_pool_no),
        ("nc_array_size", Any, set_nc_array_size),
        ("nc_array_order", Any, set_nc_array_order),
        ("otn_in_flight_no", Any, set_otn_in_flight_no),
        ("otn_in_flight_order", Any, set_otn_in_flight_order),
        ("auth_checks_register", Any, set_auth_checks),
        ("auth_checks_no_dlg", Any, set_auth_checks),
        ("auth_checks_in_dlg", Any, set_auth_checks),
    ],
    apis: [("auth", AUTH_API_VERSION, AUTH_API)],
    init: mod_init,
}
