//! siputils: SIP helpers (Kamailio's siputils module).
//!
//! `has_totag()`, `is_request()`, `is_reply()`, `is_first_hop()`,
//! `is_uri_user_e164(uri)`, `is_user(name)`, `uri_param(name[, value])`,
//! `add_uri_param(param)`, `uri_param_any(name)`, `get_uri_param(name,
//! var)`, `uri_param_rm(name)`, `tel2sip(uri, host, result_pv)`,
//! `cmp_uri(a, b)`, `cmp_aor(a, b)`, `cmp_hdr_name(a, b)`,
//! `is_e164(pv)`, `is_uri(pv)`, `is_tel_number(v)`, `is_numeric(v)`,
//! `is_alphanum(v)`, `is_alphanumex(v, extra)`, `set_uri_user(uri_pv,
//! user_pv)`, `set_uri_host(uri_pv, host_pv)`, `is_gruu([uri])`,
//! `is_supported(option)`, `hdr_date_check(seconds)`, `options_reply()` (its Accept, Accept-Encoding, Accept-Language and
//! Supported from `options_accept`, `options_accept_encoding`,
//! `options_accept_language`, `options_support`, Kamailio's defaults).
//! Each is compared with Kamailio on the bed (`test/diff/cases/modules.cases`,
//! `siputils.cases`), return codes included.

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use std::borrow::Cow;

use sipr_sdk::prelude::*;
use sipr_sdk::sip::{HeaderKind, Method, Span, Uri};

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

/// `uri_param_any(name)`: the Request-URI has the parameter, with a
/// value or without (the name compared without case).
fn uri_param_any(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    rc(ruri_param(ctx, &name).is_some())
}

/// `get_uri_param(name, var)`: the parameter's value (empty when it has
/// none) into `var`; -1 when absent. Kamailio compares the name *with*
/// case here, unlike uri_param_any.
fn get_uri_param(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = p[0].text(ctx).into_owned();
    let Param::Pv(var) = &p[1] else { return Err("get_uri_param needs a writable PV".into()) };
    let found = ctx.ruri_parsed().and_then(|(uri, buf)| {
        uri.params
            .iter(buf)
            .find(|q| q.name.get(buf) == &name[..])
            .map(|q| q.value.map_or(Vec::new(), |v| v.get(buf).to_vec()))
    });
    let Some(value) = found else { return Ok(-1) };
    var.assign(ctx, &Value::str(&value)).map_err(ModError)?;
    Ok(1)
}

/// `uri_param_rm(name)`: removes every parameter of that name (without
/// case) from the Request-URI; 1 whether or not there was one.
fn uri_param_rm(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    let Some((uri, buf)) = ctx.ruri_parsed() else { return Ok(-1) };
    if uri.params.get(buf, &name).is_none() {
        return Ok(1);
    }
    // each parameter is `;name[=value]`: cut those named, keep the rest
    // the spans index `buf`, which may be the whole message
    let (mut at, stop) = (uri.whole.off as usize, uri.whole.end());
    let mut out = Vec::with_capacity(stop - at);
    for q in uri.params.iter(buf) {
        if q.is(buf, &name) {
            let start = buf[..q.name.off as usize].iter().rposition(|c| *c == b';').unwrap_or(q.name.off as usize);
            let end = q.value.map_or(q.name.end(), |v| v.end());
            out.extend_from_slice(&buf[at..start]);
            at = end;
        }
    }
    out.extend_from_slice(&buf[at..stop]);
    ctx.set_new_uri(Some(out));
    Ok(1)
}

/// `is_e164(pv)`: `+` and 2 to 15 digits.
fn is_e164(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    rc(e164(&p[0].text(ctx)))
}

/// `is_uri(pv)`: the value parses as a URI (sip, sips, tel...).
fn is_uri(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let text = p[0].text(ctx);
    rc(!text.is_empty() && parse_uri(&text).is_ok())
}

/// The character-class checks (is_numeric, is_tel_number, is_alphanum,
/// is_alphanumex): -2 for an empty value, then Kamailio's code for a
/// character outside the class (-2 for the number checks, -3 for the
/// alphanumeric ones).
fn class_check(text: &[u8], bad_code: i32, ok: impl Fn(usize, u8) -> bool) -> FnResult {
    if text.is_empty() {
        return Ok(-2);
    }
    Ok(if text.iter().enumerate().all(|(i, c)| ok(i, *c)) { 1 } else { bad_code })
}

fn is_numeric(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    class_check(&p[0].text(ctx), -2, |_, c| c.is_ascii_digit())
}

/// One optional leading `+`, then at least one digit.
fn is_tel_number(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let text = p[0].text(ctx);
    if text.as_ref() == b"+" {
        return Ok(-2);
    }
    class_check(&text, -2, |i, c| c.is_ascii_digit() || (i == 0 && c == b'+'))
}

fn is_alphanum(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    class_check(&p[0].text(ctx), -3, |_, c| c.is_ascii_alphanumeric())
}

fn is_alphanumex(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let extra = p[1].text(ctx).into_owned();
    class_check(&p[0].text(ctx), -3, |_, c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

/// `cmp_aor(a, b)`: the same address of record: the user byte for byte,
/// the host without case, the port (5060 when not written); scheme and
/// parameters do not count. -2 when either is not a URI.
fn cmp_aor(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let a = p[0].text(ctx).into_owned();
    let b = p[1].text(ctx).into_owned();
    let (Ok(ua), Ok(ub)) = (parse_uri(&a), parse_uri(&b)) else { return Ok(-2) };
    let user = |u: &Uri, t: &[u8]| u.user.map(|s| s.get(t).to_vec());
    let same = user(&ua, &a) == user(&ub, &b)
        && ua.host.get(&a).eq_ignore_ascii_case(ub.host.get(&b))
        && ua.port.unwrap_or(5060) == ub.port.unwrap_or(5060);
    rc(same)
}

/// `cmp_hdr_name(a, b)`: the same header, compact forms and case aside.
fn cmp_hdr_name(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let a = p[0].text(ctx).into_owned();
    let b = p[1].text(ctx).into_owned();
    let (ka, kb) = (HeaderKind::from_name(a.trim_ascii()), HeaderKind::from_name(b.trim_ascii()));
    rc(if ka == HeaderKind::Other || kb == HeaderKind::Other {
        ka == kb && a.trim_ascii().eq_ignore_ascii_case(b.trim_ascii())
    } else {
        ka == kb
    })
}

/// `set_uri_user(uri_pv, user_pv)` / `set_uri_host(uri_pv, host_pv)`:
/// the URI in the variable with that part replaced (an empty user
/// removes `user@`, a URI without one gains it).
fn set_uri_part(ctx: &mut Ctx<'_>, p: &[Param], part: sipr_sdk::UriPart) -> FnResult {
    let Param::Pv(var) = &p[0] else { return Err("needs a writable PV".into()) };
    let text = p[0].text(ctx).into_owned();
    let new = p[1].text(ctx).into_owned();
    let Ok(uri) = parse_uri(&text) else { return Ok(-1) };
    let out = sipr_sdk::rebuild_uri(&text, &uri, part, Some(&new));
    var.assign(ctx, &Value::str(&out)).map_err(ModError)?;
    Ok(1)
}

fn set_uri_user(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    set_uri_part(ctx, p, sipr_sdk::UriPart::User)
}

fn set_uri_host(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    set_uri_part(ctx, p, sipr_sdk::UriPart::Host)
}

/// `is_gruu([uri])` (default the Request-URI): 1 a public GRUU (`gr=`
/// with a value), 2 a temporary one (`gr` alone), -1 none (RFC 5627).
fn is_gruu_of(text: &[u8]) -> FnResult {
    let Ok(uri) = parse_uri(text) else { return Ok(-1) };
    Ok(match uri.params.get(text, "gr") {
        Some(q) if q.value.is_some() => 1,
        Some(_) => 2,
        None => -1,
    })
}

fn is_gruu0(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let Some(ruri) = ctx.ruri().map(<[u8]>::to_vec) else { return Ok(-1) };
    is_gruu_of(&ruri)
}

fn is_gruu1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    is_gruu_of(&p[0].text(ctx))
}

/// The option tags is_supported knows (Kamailio's list); another name is
/// refused at start-up.
const SUPPORTED_OPTIONS: [&str; 6] = ["path", "100rel", "timer", "eventlist", "gruu", "outbound"];

fn supported_option_fixup(p: &mut [Param]) -> Result<(), String> {
    let Some(Param::Str(name)) = p.first() else { return Ok(()) };
    let n = String::from_utf8_lossy(name).to_ascii_lowercase();
    if !SUPPORTED_OPTIONS.contains(&n.as_str()) {
        return Err(format!("unknown option <{n}> (known: {})", SUPPORTED_OPTIONS.join(", ")));
    }
    p[0] = Param::Str(n.into_bytes().into());
    Ok(())
}

/// `is_supported(option)`: the option tag is in a Supported header (`k`
/// included).
fn is_supported(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let want = p[0].text(ctx).into_owned();
    let buf = ctx.msg.buf();
    let mut found = false;
    for h in ctx.msg.headers().iter().filter(|h| h.kind == HeaderKind::Supported) {
        // a header that is not a token list holds no option
        let _ = sipr_sdk::sip::visit_tokens(buf, h.value, |t| found |= t.get(buf).eq_ignore_ascii_case(&want));
    }
    rc(found)
}

/// `hdr_date_check(tdiff)`: the Date header is no more than `tdiff`
/// seconds old: -1 without a Date that parses, -4 when older.
fn hdr_date_check(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let tdiff = p[0].int(ctx);
    let buf = ctx.msg.buf();
    let Some(h) = ctx.msg.headers().iter().find(|h| h.kind == HeaderKind::Date) else { return Ok(-1) };
    let Ok(date) = sipr_sdk::sip::SipDate::parse(buf, h.value) else { return Ok(-1) };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    Ok(if date.to_unix() + tdiff >= now { 1 } else { -4 })
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
    match sipr_sdk::reply::send_counted(ctx, 200, "OK", extra.as_bytes(), b"")? {
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
        ("uri_param_any", [Fmt], REQ, uri_param_any),
        ("get_uri_param", [Fmt, WritablePv], REQ, get_uri_param),
        ("uri_param_rm", [Fmt], REQ, uri_param_rm),
        ("is_e164", [Pv], ANY, is_e164),
        ("is_uri", [Pv], ANY, is_uri),
        ("is_tel_number", [Fmt], ANY, is_tel_number),
        ("is_numeric", [Fmt], ANY, is_numeric),
        ("is_alphanum", [Fmt], ANY, is_alphanum),
        ("is_alphanumex", [Fmt, Fmt], ANY, is_alphanumex),
        ("cmp_aor", [Fmt, Fmt], ANY, cmp_aor),
        ("cmp_hdr_name", [Fmt, Fmt], ANY, cmp_hdr_name),
        ("set_uri_user", [WritablePv, Pv], ANY, set_uri_user),
        ("set_uri_host", [WritablePv, Pv], ANY, set_uri_host),
        ("is_gruu", [], ANY, is_gruu0),
        ("is_gruu", [Fmt], ANY, is_gruu1),
        ("is_supported", [Str], ANY, is_supported, supported_option_fixup),
        ("hdr_date_check", [IntOrPv], ANY, hdr_date_check),
    ],
    params: [
        ("options_accept", Str, set_options_accept),
        ("options_accept_encoding", Str, set_options_accept_encoding),
        ("options_accept_language", Str, set_options_accept_language),
        ("options_support", Str, set_options_support),
    ],
}
