//! A readable dump of a parsed message (every header parsed with its typed
//! parser), for `sipr --parse FILE` — operators debugging captures — and
//! for tests.

use std::fmt::Write as _;

use super::error::{ParseError, ParseErrorKind};
use super::hdr::{
    parse_number, parse_tokens, AuthParams, CSeq, Contact, ContentType, Event, HeaderError, NameAddr, SipDate, Via,
};
use super::headers::HeaderKind;
use super::message::{FirstLine, SipMsg, Span};
use super::scan::Param;
use super::uri::Uri;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn params(buf: &[u8], ps: impl IntoIterator<Item = Param>) -> String {
    let items: Vec<String> = ps
        .into_iter()
        .map(|p| match p.value {
            Some(v) => format!("{}={}", text(p.name.get(buf)), text(v.get(buf))),
            None => text(p.name.get(buf)),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn uri(buf: &[u8], u: &Uri) -> String {
    let mut s = format!("{:?}", u.scheme).to_lowercase();
    if let Some(user) = u.user {
        let _ = write!(s, " user={}", text(user.get(buf)));
    }
    if let Some(p) = u.password {
        let _ = write!(s, " password={}", text(p.get(buf)));
    }
    if u.host.len > 0 {
        let _ = write!(s, " host={} ({:?})", text(u.host.get(buf)), u.host_kind);
    }
    if let Some(p) = u.port {
        let _ = write!(s, " port={p}");
    }
    if !u.params.is_empty() {
        let _ = write!(s, " params={}", params(buf, u.params.iter(buf)));
    }
    if let Some(h) = u.headers {
        let _ = write!(s, " headers={}", text(h.get(buf)));
    }
    s
}

fn name_addr(buf: &[u8], n: &NameAddr) -> String {
    let mut s = String::new();
    if let Some(d) = n.display {
        let _ = write!(s, "display={} ", text(d.get(buf)));
    }
    let _ = write!(s, "uri=<{}>", uri(buf, &n.uri));
    if !n.params.is_empty() {
        let _ = write!(s, " params={}", params(buf, n.params.iter(buf)));
    }
    s
}

/// One line per parsed element of the header's value; `Err` with the
/// header's error when it does not parse.
fn describe_value(msg: &SipMsg<'_>, kind: HeaderKind, value: Span) -> Result<Vec<String>, HeaderError> {
    let buf = msg.buf();
    let e = |e: HeaderError| e;
    Ok(match kind {
        HeaderKind::Via => Via::parse_list(buf, value)
            .map_err(e)?
            .iter()
            .map(|v| {
                format!(
                    "via: {} {} host={} port={} params={}",
                    text(v.protocol.get(buf)),
                    text(v.transport.get(buf)),
                    text(v.host.get(buf)),
                    v.port.map_or("-".into(), |p| p.to_string()),
                    params(buf, v.params.iter(buf))
                )
            })
            .collect(),
        HeaderKind::From | HeaderKind::To => {
            vec![format!("name-addr: {}", name_addr(buf, &NameAddr::parse_single(buf, value).map_err(e)?))]
        }
        HeaderKind::Contact => match Contact::parse(buf, value).map_err(e)? {
            Contact::Star => vec!["contact: *".into()],
            Contact::List(l) => l.iter().map(|n| format!("contact: {}", name_addr(buf, n))).collect(),
        },
        HeaderKind::Route
        | HeaderKind::RecordRoute
        | HeaderKind::Path
        | HeaderKind::ReferTo
        | HeaderKind::ReferredBy => NameAddr::parse_list(buf, value)
            .map_err(e)?
            .iter()
            .map(|n| format!("name-addr: {}", name_addr(buf, n)))
            .collect(),
        HeaderKind::CSeq => {
            let c = CSeq::parse(buf, value).map_err(e)?;
            vec![format!("cseq: {} {}", c.seq, text(c.method.get(buf)))]
        }
        HeaderKind::MaxForwards | HeaderKind::Expires | HeaderKind::MinExpires | HeaderKind::ContentLength => {
            vec![format!("number: {}", parse_number(buf, value, kind).map_err(e)?)]
        }
        HeaderKind::ContentType => {
            let t = ContentType::parse(buf, value).map_err(e)?;
            vec![format!(
                "type: {}/{} params={}",
                text(t.mtype.get(buf)),
                text(t.subtype.get(buf)),
                params(buf, t.params.iter(buf))
            )]
        }
        HeaderKind::Supported
        | HeaderKind::Require
        | HeaderKind::ProxyRequire
        | HeaderKind::Unsupported
        | HeaderKind::Allow
        | HeaderKind::AllowEvents => {
            let t: Vec<String> = parse_tokens(buf, value).map_err(e)?.iter().map(|s| text(s.get(buf))).collect();
            vec![format!("tokens: {}", t.join(" "))]
        }
        HeaderKind::Event => {
            let ev = Event::parse(buf, value).map_err(e)?;
            vec![format!("event: {} params={}", text(ev.package.get(buf)), params(buf, ev.params.iter(buf)))]
        }
        HeaderKind::Authorization
        | HeaderKind::ProxyAuthorization
        | HeaderKind::WwwAuthenticate
        | HeaderKind::ProxyAuthenticate => {
            let a = AuthParams::parse(buf, value).map_err(e)?;
            vec![format!("auth: {} {}", text(a.scheme.get(buf)), params(buf, a.params.iter().copied()))]
        }
        HeaderKind::Date => {
            let d = SipDate::parse(buf, value).map_err(e)?;
            vec![format!(
                "date: {:04}-{:02}-{:02} {:02}:{:02}:{:02} GMT",
                d.year, d.month, d.day, d.hour, d.minute, d.second
            )]
        }
        _ => Vec::new(),
    })
}

/// The dump. `Err` holds the dump so far and the first error found by the
/// typed parsers or [`SipMsg::validate_basic`].
pub fn describe(msg: &SipMsg<'_>) -> Result<String, (String, ParseError)> {
    let buf = msg.buf();
    let mut out = String::new();
    match msg.first_line() {
        FirstLine::Request { method, method_span, uri: u } => {
            let _ = writeln!(out, "request: {} {} ({:?})", text(method_span.get(buf)), text(u.get(buf)), method);
            match msg.ruri() {
                Ok(r) => {
                    let _ = writeln!(out, "  ruri: {}", uri(buf, r));
                }
                Err(e) => return Err((out, e)),
            }
        }
        FirstLine::Reply { code, reason } => {
            let _ = writeln!(out, "reply: {code} {}", text(reason.get(buf)));
        }
    }
    let mut first_err = None;
    for h in msg.headers() {
        let _ = writeln!(out, "header {}: {}", text(h.name.get(buf)), text(h.value.get(buf)));
        match describe_value(msg, h.kind, h.value) {
            Ok(lines) => lines.iter().for_each(|l| {
                let _ = writeln!(out, "  {l}");
            }),
            Err(err) => {
                let _ = writeln!(out, "  error: {}", err.what());
                if first_err.is_none() {
                    first_err = Some(ParseError::in_header(
                        ParseErrorKind::BadHeader(err),
                        h.value.off as usize,
                        h.name.get(buf),
                    ));
                }
            }
        }
    }
    let _ = writeln!(out, "body: {} bytes", msg.body().len());
    if let Err(e) = msg.validate_basic() {
        return Err((out, e));
    }
    match first_err {
        Some(e) => Err((out, e)),
        None => Ok(out),
    }
}
