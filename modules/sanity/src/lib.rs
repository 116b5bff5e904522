//! sanity: sanity checks on received messages (Kamailio's sanity module).
//!
//! `sanity_check([msg_checks [, uri_checks]])` runs the checks selected by
//! the bits of `msg_checks` (default: the `default_checks` parameter, 3047)
//! and, for bit 1024, the URI checks selected by `uri_checks` (default
//! `uri_checks`, 7). Kamailio's bits:
//!
//! | bit | check | reply |
//! |---|---|---|
//! | 1 | Request-URI SIP version | 505 Version Not Supported |
//! | 2 | Request-URI scheme (sip, sips, tel) | 416 Unsupported URI Scheme in Request URI |
//! | 4 | required headers (To, From, CSeq, Call-ID, Via) | 400 Missing Required Header in Request |
//! | 8, 16 | Via version / protocol (not implemented in Kamailio either) | – |
//! | 32 | CSeq method = request method | 400 CSeq method does not match request method |
//! | 64 | CSeq number valid | 400 CSeq number is illegal |
//! | 128 | Content-Length = body length (bytes of a datagram beyond it are discarded, RFC 3261 §18.3) | 400 Content-Length mis-match |
//! | 256 | Expires is a number | 400 Expires value is illegal |
//! | 512 | Proxy-Require items supported (`proxy_require`) | 420 Bad Proxy Require Extension + Unsupported |
//! | 1024 | URIs parse (uri_checks: 1 R-URI — a SIP one without headers, 2 From, 4 To, 8 Contact) | 400 Bad Request URI / Invalid From Header / Bad To URI / Bad Contact URI |
//! | 2048 | digest credentials complete (another scheme: fails, no reply) | 400 Bad Auth Credentials |
//! | 4096 | one tag at most in To / From | 400 Many To Tag Params / Many From Tag Params |
//! | 8192 | Authorization header parses | 400 Bad Auth Header |
//! | 16384 | first Via parses | 400 Bad Via1 Header |
//!
//! A failed check on a request is answered (unless `noreply` is set);
//! replies are never answered. Returns 1 when every check passes; on a
//! failure -1, or 0 (the script stops) when `autodrop` is 1 (the default,
//! as Kamailio).

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::RwLock;

use sipr_sdk::prelude::*;
use sipr_sdk::sip::{AuthParams, Contact, HeaderKind, Method, Scheme};

static DEFAULT_CHECKS: AtomicI64 = AtomicI64::new(3047);
static URI_CHECKS: AtomicI64 = AtomicI64::new(7);
static AUTODROP: AtomicBool = AtomicBool::new(true);
static NOREPLY: AtomicBool = AtomicBool::new(false);
static PROXY_REQUIRE: RwLock<Vec<String>> = RwLock::new(Vec::new());

fn int_param(v: &ModValue) -> Result<i64, String> {
    match v {
        ModValue::Int(i) if *i >= 0 => Ok(*i),
        other => Err(format!("expected a non-negative number, not {other:?}")),
    }
}
fn set_default_checks(v: &ModValue) -> Result<(), String> {
    DEFAULT_CHECKS.store(int_param(v)?, Ordering::Relaxed);
    Ok(())
}
fn set_uri_checks(v: &ModValue) -> Result<(), String> {
    URI_CHECKS.store(int_param(v)?, Ordering::Relaxed);
    Ok(())
}
fn set_autodrop(v: &ModValue) -> Result<(), String> {
    AUTODROP.store(int_param(v)? != 0, Ordering::Relaxed);
    Ok(())
}
fn set_noreply(v: &ModValue) -> Result<(), String> {
    NOREPLY.store(int_param(v)? != 0, Ordering::Relaxed);
    Ok(())
}
fn set_proxy_require(v: &ModValue) -> Result<(), String> {
    let ModValue::Str(s) = v else { return Err("proxy_require is a comma-separated list".into()) };
    let list = s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
    *PROXY_REQUIRE.write().map_err(|_| "lock poisoned")? = list;
    Ok(())
}

/// A failed check: the reply it calls for (code 0: none), and extra
/// header lines.
struct Failure {
    code: u16,
    reason: &'static str,
    extra: Vec<u8>,
}

fn fail(code: u16, reason: &'static str) -> Result<(), Failure> {
    Err(Failure { code, reason, extra: Vec::new() })
}

fn run_checks(ctx: &Ctx<'_>, msg_checks: i64, uri_checks: i64) -> Result<(), Failure> {
    let msg = ctx.msg;
    let buf = msg.buf();
    let req = msg.is_request();
    let on = |bit: i64| msg_checks & bit != 0;
    if req && on(2) {
        // the parser already refused anything but SIP/2.0 (bit 1)
        if let Ok(u) = msg.ruri() {
            if u.scheme == Scheme::Other {
                return fail(416, "Unsupported URI Scheme in Request URI");
            }
        }
    }
    if on(4) {
        let has = |k| msg.header(k).is_some();
        if !(has(HeaderKind::To)
            && has(HeaderKind::From)
            && has(HeaderKind::CSeq)
            && has(HeaderKind::CallId)
            && has(HeaderKind::Via))
        {
            return fail(400, "Missing Required Header in Request");
        }
    }
    if on(64) && msg.header(HeaderKind::CSeq).is_some() && msg.cseq().is_err() {
        return fail(400, "CSeq number is illegal");
    }
    if req && on(32) {
        if let (Ok(cseq), Some(sipr_sdk::sip::FirstLine::Request { method_span, .. })) =
            (msg.cseq(), Some(msg.first_line()).filter(|_| req))
        {
            let m = method_span.get(buf);
            let cm = cseq.method.get(buf);
            // an ACK/CANCEL carries the INVITE's number, not its method name
            if m != cm && !(msg.method() == Some(Method::Ack) && cm == b"ACK") {
                return fail(400, "CSeq method does not match request method");
            }
        }
    }
    if on(128) {
        // RFC 3261 §18.3: bytes of a datagram beyond Content-Length are
        // discarded, not an error (RFC 4475 dblreq); a body shorter than
        // Content-Length is refused by the message layer already
        if let Some(cl) = msg.content_length() {
            if cl != msg.body().len() {
                return fail(400, "Content-Length mis-match");
            }
        }
    }
    if on(256) && msg.header(HeaderKind::Expires).is_some() && msg.expires().is_err() {
        return fail(400, "Expires value is illegal");
    }
    if req && on(512) {
        let supported = PROXY_REQUIRE.read().map(|l| l.clone()).unwrap_or_default();
        let mut unsupported = Vec::new();
        for h in msg.headers().iter().filter(|h| h.kind == HeaderKind::ProxyRequire) {
            for item in h.value.get(buf).split(|c| *c == b',') {
                let item = String::from_utf8_lossy(item.trim_ascii()).into_owned();
                if !item.is_empty() && !supported.iter().any(|s| s.eq_ignore_ascii_case(&item)) {
                    unsupported.push(item);
                }
            }
        }
        if !unsupported.is_empty() {
            let extra = format!("Unsupported: {}\r\n", unsupported.join(", ")).into_bytes();
            return Err(Failure { code: 420, reason: "Bad Proxy Require Extension", extra });
        }
    }
    if on(1024) {
        if req && uri_checks & 1 != 0 {
            // a headers part (`?h=v`) is not allowed in a SIP Request-URI
            // (RFC 3261 §19.1.5, RFC 4475 §3.1.2.11); Kamailio's parser
            // takes it — a deliberate difference (test/diff/deliberate)
            let headers =
                |u: &sipr_sdk::sip::Uri| u.headers.is_some() && matches!(u.scheme, Scheme::Sip | Scheme::Sips);
            if msg.ruri().map_or(true, headers) {
                return fail(400, "Bad Request URI");
            }
        }
        if uri_checks & 2 != 0 && msg.header(HeaderKind::From).is_some() && msg.from().is_err() {
            return fail(400, "Invalid From Header");
        }
        if uri_checks & 4 != 0 && msg.header(HeaderKind::To).is_some() && msg.to().is_err() {
            return fail(400, "Bad To URI");
        }
        if uri_checks & 8 != 0 && msg.contact().is_err() {
            return fail(400, "Bad Contact URI");
        }
        if uri_checks & 8 != 0 {
            if let Ok(Some(Contact::List(list))) = msg.contact() {
                if list.is_empty() {
                    return fail(400, "Bad Contact URI");
                }
            }
        }
    }
    if req && (on(2048) || on(8192)) {
        for h in msg
            .headers()
            .iter()
            .filter(|h| matches!(h.kind, HeaderKind::Authorization | HeaderKind::ProxyAuthorization))
        {
            let Ok(a) = AuthParams::parse(buf, h.value) else {
                return fail(400, if on(8192) { "Bad Auth Header" } else { "Bad Auth Credentials" });
            };
            if on(2048) && !a.is_digest(buf) {
                // Kamailio: another scheme fails the digest check without
                // a reply
                return fail(0, "not a digest scheme");
            }
            if on(2048) && ["username", "realm", "nonce", "uri", "response"].iter().any(|p| a.get(buf, p).is_none()) {
                return fail(400, "Bad Auth Credentials");
            }
        }
    }
    if on(4096) {
        for (kind, reason) in [(HeaderKind::To, "Many To Tag Params"), (HeaderKind::From, "Many From Tag Params")] {
            let Some(h) = msg.header(kind) else { continue };
            let tags = h.value.get(buf).windows(5).filter(|w| w.eq_ignore_ascii_case(b";tag=")).count();
            if tags > 1 {
                return fail(400, reason);
            }
        }
    }
    if on(16384) && msg.via1().is_err() {
        return fail(400, "Bad Via1 Header");
    }
    Ok(())
}

/// Per-message keys: the checks of a failed `sanity_check`, which
/// `sanity_reply` runs again to find the reply (the message it reads is
/// the received one, so the same check fails the same way).
const FAILED_CHECKS: &str = "sanity.failed_checks";
const FAILED_URI_CHECKS: &str = "sanity.failed_uri_checks";

fn check(ctx: &mut Ctx<'_>, msg_checks: i64, uri_checks: i64) -> FnResult {
    let Err(f) = run_checks(ctx, msg_checks, uri_checks) else { return Ok(1) };
    debug!("sanity_check failed: {} {}", f.code, f.reason);
    ctx.set_module_int(FAILED_CHECKS, msg_checks);
    ctx.set_module_int(FAILED_URI_CHECKS, uri_checks);
    if !NOREPLY.load(Ordering::Relaxed) {
        send_failure(ctx, &f);
    }
    Ok(if AUTODROP.load(Ordering::Relaxed) { 0 } else { -1 })
}

fn send_failure(ctx: &mut Ctx<'_>, f: &Failure) {
    if ctx.msg.is_request() && f.code != 0 {
        if let Err(e) = sipr_sdk::reply::send_counted(ctx, f.code, f.reason, &f.extra, b"") {
            warn!("sanity: cannot reply {} {}: {e}", f.code, f.reason);
        }
    }
}

/// `sanity_reply()`: the reply of the last failed `sanity_check` of this
/// message (with `noreply=1`, the script sends it when it wants); without
/// a failed check, Kamailio's generic "500 Server Sanity Failure".
fn sanity_reply(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let failed = match (ctx.module_int(FAILED_CHECKS), ctx.module_int(FAILED_URI_CHECKS)) {
        (Some(m), Some(u)) => run_checks(ctx, m, u).err(),
        _ => None,
    };
    let f = failed.unwrap_or(Failure { code: 500, reason: "Server Sanity Failure", extra: Vec::new() });
    send_failure(ctx, &f);
    Ok(1)
}

fn sanity_check0(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    check(ctx, DEFAULT_CHECKS.load(Ordering::Relaxed), URI_CHECKS.load(Ordering::Relaxed))
}
fn sanity_check1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let m = p[0].int(ctx);
    check(ctx, m, URI_CHECKS.load(Ordering::Relaxed))
}
fn sanity_check2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let m = p[0].int(ctx);
    let u = p[1].int(ctx);
    check(ctx, m, u)
}

sipr_sdk::module! {
    name: "sanity",
    functions: [
        ("sanity_check", [], RouteMask::ANY, sanity_check0),
        ("sanity_check", [IntOrPv], RouteMask::ANY, sanity_check1),
        ("sanity_check", [IntOrPv, IntOrPv], RouteMask::ANY, sanity_check2),
        ("sanity_reply", [], RouteMask::ANY, sanity_reply),
    ],
    params: [
        ("default_checks", Int, set_default_checks),
        ("uri_checks", Int, set_uri_checks),
        ("autodrop", Int, set_autodrop),
        ("noreply", Int, set_noreply),
        ("proxy_require", Str, set_proxy_require),
    ],
}
