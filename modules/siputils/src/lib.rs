//! siputils: SIP helpers (Kamailio's siputils module).
//!
//! `has_totag()`, `is_request()`, `is_reply()`, `is_first_hop()`,
//! `is_uri_user_e164(uri)`, `is_user(name)`, `uri_param(name[, value])`,
//! `add_uri_param(param)`, `tel2sip(uri, host, result_pv)`, `cmp_uri(a,
//! b)`, `options_reply()` (its Accept, Accept-Encoding, Accept-Language and
//! Supported from `options_accept`, `options_accept_encoding`,
//! `options_accept_language`, `options_support`, Kamailio's defaults).
//! Each is compared with Kamailio on the bed (`test/diff/cases/modules.cases`).

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use std::borrow::Cow;

use sipr_sdk::prelude::*;
use sipr_sdk::sip::{Method, Span, Uri};

fn rc(b: bool) -> FnResult {
    Ok(if b { 1 } else { -1 })
}

fn parse_uri(text: &[u8]) -> Result<Uri, ModError> {
    Uri::parse(text, Span::from_range(0, text.len())).map_err(|e| ModError(format!("invalid URI: {e}")))
}

fn has_totag(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let buf = ctx.msg.buf();
    rc(ctx.msg.to().is_ok_and(|t| t.tag(buf).is_some_and(|t| !t.is_empty())))
}

fn is_request(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    rc(ctx.msg.is_request())
}

fn is_reply(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    rc(!ctx.msg.is_request())
}

/// A request with one Via came straight from the UA (a reply: two).
fn is_first_hop(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let n = ctx.msg.vias()?.len();
    rc(if ctx.msg.is_request() { n == 1 } else { n == 2 })
}

/// `+` and 2 to 15 digits (E.164).
fn e164(user: &[u8]) -> bool {
    user.first() == Some(&b'+') && (3..=16).contains(&user.len()) && user[1..].iter().all(u8::is_ascii_digit)
}

fn is_uri_user_e164(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let text = p[0].text(ctx).into_owned();
    let uri = parse_uri(&text)?;
    rc(uri.user.is_some_and(|u| e164(u.get(&text))))
}

/// `is_user(name)`: whether the *authorized* credentials' user is `name`.
/// Kamailio reads only credentials the auth module has verified; without
/// auth (sipr's comes with issue 17) none are, so the answer is -1 however
/// the Authorization header reads — as Kamailio's without auth.
fn is_user(_: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    Ok(-1)
}

fn ruri_param<'c>(ctx: &'c Ctx<'_>, name: &str) -> Option<Option<&'c [u8]>> {
    let (uri, buf) = ctx.ruri_parsed()?;
    uri.params.get(buf, name).map(|p| p.value.map(|v| v.get(buf)))
}

/// `uri_param(name)`: the Request-URI has that parameter *without* a
/// value (Kamailio's reading: `;lr` matches `uri_param("lr")`,
/// `;transport=tcp` does not match `uri_param("transport")`).
fn uri_param1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    rc(matches!(ruri_param(ctx, &name), Some(None)))
}

fn uri_param2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    let value = p[1].text(ctx).into_owned();
    rc(ruri_param(ctx, &name).flatten().is_some_and(|v| v == &value[..]))
}

fn add_uri_param(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let param = p[0].text(ctx).into_owned();
    let Some(cur) = ctx.ruri().map(<[u8]>::to_vec) else { return Ok(-1) };
    let uri = parse_uri(&cur)?;
    // before any ?headers
    let at = uri.headers.map_or(cur.len(), |h| h.off as usize - 1);
    let mut new = cur[..at].to_vec();
    new.push(b';');
    new.extend_from_slice(&param);
    new.extend_from_slice(&cur[at..]);
    ctx.set_new_uri(Some(new));
    Ok(1)
}

/// tel:+1234;isub=5 → sip:+1234;isub=5@host;user=phone (RFC 3261 §19.1.6).
fn tel2sip(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let uri = p[0].text(ctx).into_owned();
    let host = p[1].text(ctx).into_owned();
    let Param::Pv(res) = &p[2] else { return Err("tel2sip needs a writable PV".into()) };
    if uri.len() < 4 || !uri[..4].eq_ignore_ascii_case(b"tel:") {
        // not a tel URI: nothing to do (Kamailio returns 1)
        return Ok(1);
    }
    let number = &uri[4..];
    let (num, params) = match number.iter().position(|c| *c == b';') {
        Some(i) => (&number[..i], &number[i..]),
        None => (number, &b""[..]),
    };
    let host = host.strip_prefix(b"sip:").unwrap_or(&host);
    let mut out = b"sip:".to_vec();
    out.extend(num.iter().filter(|c| !matches!(c, b'-' | b'.' | b'(' | b')')));
    out.extend_from_slice(params);
    out.push(b'@');
    out.extend_from_slice(host);
    out.extend_from_slice(b";user=phone");
    res.assign(ctx, &Value::str(&out)).map_err(ModError)?;
    Ok(1)
}

fn cmp_uri(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let a = p[0].text(ctx).into_owned();
    let b = p[1].text(ctx).into_owned();
    let (ua, ub) = (parse_uri(&a)?, parse_uri(&b)?);
    rc(ua.equals(&a, &ub, &b))
}

/// 200 to an OPTIONS for the server itself (no user in the R-URI).
fn options_reply(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    if ctx.msg.method() != Some(Method::Options) {
        return Err("options_reply() answers OPTIONS only".into());
    }
    if ctx.ruri_parsed().is_some_and(|(u, _)| u.user.is_some()) {
        return Ok(-1);
    }
    let o = OPTIONS.read().map_err(|_| "siputils settings poisoned")?;
    let extra = format!(
        "Accept: {}\r\nAccept-Encoding: {}\r\nAccept-Language: {}\r\nSupported: {}\r\n",
        o.accept, o.accept_encoding, o.accept_language, o.support
    );
    drop(o);
    match sipr_sdk::reply::send(ctx, 200, "OK", extra.as_bytes(), b"")? {
        sipr_sdk::reply::Sent::Yes => Ok(1),
        sipr_sdk::reply::Sent::AckNotAnswered => Ok(-1),
    }
}

/// `options_reply`'s header values (module parameters).
struct OptionsHeaders {
    accept: Cow<'static, str>,
    accept_encoding: Cow<'static, str>,
    accept_language: Cow<'static, str>,
    support: Cow<'static, str>,
}

/// Kamailio's defaults until a parameter says otherwise.
static OPTIONS: std::sync::RwLock<OptionsHeaders> = std::sync::RwLock::new(OptionsHeaders {
    accept: Cow::Borrowed("*/*"),
    accept_encoding: Cow::Borrowed(""),
    accept_language: Cow::Borrowed("en"),
    support: Cow::Borrowed(""),
});

fn set_option(v: &ModValue, f: fn(&mut OptionsHeaders, Cow<'static, str>)) -> Result<(), String> {
    let ModValue::Str(s) = v else { return Err("takes a string".into()) };
    let mut o = OPTIONS.write().map_err(|_| "siputils settings poisoned")?;
    f(&mut o, Cow::Owned(s.clone()));
    Ok(())
}
fn set_options_accept(v: &ModValue) -> Result<(), String> {
    set_option(v, |o, s| o.accept = s)
}
fn set_options_accept_encoding(v: &ModValue) -> Result<(), String> {
    set_option(v, |o, s| o.accept_encoding = s)
}
fn set_options_accept_language(v: &ModValue) -> Result<(), String> {
    set_option(v, |o, s| o.accept_language = s)
}
fn set_options_support(v: &ModValue) -> Result<(), String> {
    set_option(v, |o, s| o.support = s)
}

const ANY: RouteMask = RouteMask::ANY;
const REQ: RouteMask = RouteMask::REQUEST_LIKE;

sipr_sdk::module! {
    name: "siputils",
    functions: [
        ("has_totag", [], ANY, has_totag),
        ("is_request", [], ANY, is_request),
        ("is_reply", [], ANY, is_reply),
        ("is_first_hop", [], ANY, is_first_hop),
        ("is_uri_user_e164", [Fmt], ANY, is_uri_user_e164),
        ("is_user", [Fmt], ANY, is_user),
        ("uri_param", [Fmt], REQ, uri_param1),
        ("uri_param", [Fmt, Fmt], REQ, uri_param2),
        ("add_uri_param", [Fmt], REQ, add_uri_param),
        ("tel2sip", [Fmt, Fmt, WritablePv], ANY, tel2sip),
        ("cmp_uri", [Fmt, Fmt], ANY, cmp_uri),
        ("options_reply", [], REQ, options_reply),
    ],
    params: [
        ("options_accept", Str, set_options_accept),
        ("options_accept_encoding", Str, set_options_accept_encoding),
        ("options_accept_language", Str, set_options_accept_language),
        ("options_support", Str, set_options_support),
    ],
}
