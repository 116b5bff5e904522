//! textops: operations on the message text (Kamailio's textops module).
//! Changes are lumps on the original buffer, applied when the message is
//! sent (Kamailio's model); functions that read the message see the
//! received text.
//!
//! `is_method`, `has_body([type])`, `is_present_hf`, `append_hf(txt[,
//! hdr])`, `insert_hf(txt[, hdr])`, `remove_hf(name)`, `remove_hf_re(re)`,
//! `search(re)`, `search_append(re, txt)`, `replace(re, txt)`,
//! `subst('/re/repl/flags')`, `subst_uri(...)`, `subst_user(...)`,
//! `append_to_reply(txt)`, `is_privacy(value)`, `set_body(txt, type)`,
//! `set_reply_body(txt, type)`.

use sipr_sdk::prelude::*;
use sipr_sdk::sip::{HeaderKind, Method, Span, Uri};

fn bool_rc(b: bool) -> i32 {
    if b {
        1
    } else {
        -1
    }
}

fn is_method(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Some(m) = ctx.msg.method_text() else { return Ok(-1) };
    let list = p[0].text(ctx);
    // known methods compare ignoring case (as Kamailio's method ids), others exactly
    let known = !matches!(Method::from_token(&m.to_ascii_uppercase()), Method::Other);
    let hit =
        list.split(|c| *c == b'|')
            .map(|t| t.trim_ascii())
            .any(|t| if known { t.eq_ignore_ascii_case(m) } else { t == m });
    Ok(bool_rc(hit))
}

fn has_body0(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    Ok(bool_rc(!ctx.msg.body().is_empty()))
}

fn has_body1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    if ctx.msg.body().is_empty() {
        return Ok(-1);
    }
    let want = p[0].text(ctx).to_ascii_lowercase();
    let Some(ct) = ctx.msg.header_value(HeaderKind::ContentType) else { return Ok(-1) };
    let ct = ct.split(|c| *c == b';').next().unwrap_or(b"").trim_ascii().to_ascii_lowercase();
    Ok(bool_rc(ct == want))
}

/// Headers whose name matches (compact forms included).
fn headers_named<'a>(ctx: &Ctx<'a>, name: &[u8]) -> Vec<sipr_sdk::sip::Header> {
    let kind = HeaderKind::from_name(name);
    let buf = ctx.msg.buf();
    ctx.msg
        .headers()
        .iter()
        .filter(|h| {
            if kind == HeaderKind::Other {
                h.kind == HeaderKind::Other && h.name.get(buf).eq_ignore_ascii_case(name)
            } else {
                h.kind == kind
            }
        })
        .copied()
        .collect()
}

fn is_present_hf(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = p[0].text(ctx).into_owned();
    Ok(bool_rc(!headers_named(ctx, &name).is_empty()))
}

/// The header text to add, CRLF-terminated as Kamailio expects the
/// script to write it (it is added as given).
fn hf_text(ctx: &Ctx<'_>, p: &Param) -> Vec<u8> {
    p.text(ctx).into_owned()
}

fn append_hf1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let text = hf_text(ctx, &p[0]);
    let at = ctx.msg.headers_end();
    ctx.lumps.insert(at, &text);
    Ok(1)
}

fn append_hf2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let text = hf_text(ctx, &p[0]);
    let name = p[1].text(ctx).into_owned();
    match headers_named(ctx, &name).first() {
        Some(h) => {
            ctx.lumps.insert(h.line.end(), &text);
            Ok(1)
        }
        None => Ok(-1),
    }
}

fn insert_hf1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let text = hf_text(ctx, &p[0]);
    let at = ctx.msg.first_line_end();
    ctx.lumps.insert(at, &text);
    Ok(1)
}

fn insert_hf2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let text = hf_text(ctx, &p[0]);
    let name = p[1].text(ctx).into_owned();
    match headers_named(ctx, &name).first() {
        Some(h) => {
            ctx.lumps.insert(h.line.off as usize, &text);
            Ok(1)
        }
        None => Ok(-1),
    }
}

/// Removes header lines; the number removed, or -1 when none.
fn remove_lines(ctx: &mut Ctx<'_>, lines: Vec<Span>) -> FnResult {
    if lines.is_empty() {
        return Ok(-1);
    }
    let n = lines.len() as i32;
    for l in lines {
        ctx.lumps.delete(l.off as usize, l.len as usize);
    }
    Ok(n)
}

fn remove_hf(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = p[0].text(ctx).into_owned();
    let lines = headers_named(ctx, &name).iter().map(|h| h.line).collect();
    remove_lines(ctx, lines)
}

fn remove_hf_re(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Param::Regex(re) = &p[0] else { return Err("remove_hf_re needs a regex".into()) };
    let buf = ctx.msg.buf();
    let lines = ctx.msg.headers().iter().filter(|h| re.is_match(h.name.get(buf))).map(|h| h.line).collect();
    remove_lines(ctx, lines)
}

fn search(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Param::Regex(re) = &p[0] else { return Err("search needs a regex".into()) };
    Ok(bool_rc(re.is_match(ctx.msg.buf())))
}

fn search_append(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Param::Regex(re) = &p[0] else { return Err("search_append needs a regex".into()) };
    let Some(m) = re.find(ctx.msg.buf()) else { return Ok(-1) };
    let text = p[1].text(ctx).into_owned();
    ctx.lumps.insert(m.end(), &text);
    Ok(1)
}

fn replace(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Param::Regex(re) = &p[0] else { return Err("replace needs a regex".into()) };
    let Some(m) = re.find(ctx.msg.buf()) else { return Ok(-1) };
    let (s, e) = (m.start(), m.end());
    let text = p[1].text(ctx).into_owned();
    ctx.lumps.replace(s, e - s, &text);
    Ok(1)
}

fn subst(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Param::Subst(x) = &p[0] else { return Err("subst needs /re/repl/flags".into()) };
    let matches = x.matches(ctx.msg.buf());
    if matches.is_empty() {
        return Ok(-1);
    }
    let n = matches.len() as i32;
    for (s, e, text) in matches {
        ctx.lumps.replace(s, e - s, &text);
    }
    Ok(n)
}

fn subst_uri(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Param::Subst(x) = &p[0] else { return Err("subst_uri needs /re/repl/flags".into()) };
    let Some(cur) = ctx.ruri().map(<[u8]>::to_vec) else { return Ok(-1) };
    match x.apply(&cur) {
        Some(new) => {
            if Uri::parse(&new, Span::from_range(0, new.len())).is_err() {
                return Err(format!("subst_uri: result '{}' is not a URI", String::from_utf8_lossy(&new)).into());
            }
            ctx.set_new_uri(Some(new));
            Ok(1)
        }
        None => Ok(-1),
    }
}

fn subst_user(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Param::Subst(x) = &p[0] else { return Err("subst_user needs /re/repl/flags".into()) };
    let Some(cur) = ctx.ruri().map(<[u8]>::to_vec) else { return Ok(-1) };
    let uri = Uri::parse(&cur, Span::from_range(0, cur.len()))?;
    let user = uri.user.map(|u| u.get(&cur).to_vec()).unwrap_or_default();
    match x.apply(&user) {
        Some(new) => {
            let rebuilt = sipr_sdk::rebuild_uri(&cur, &uri, sipr_sdk::UriPart::User, Some(&new));
            ctx.set_new_uri(Some(rebuilt));
            Ok(1)
        }
        None => Ok(-1),
    }
}

fn append_to_reply(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let text = p[0].text(ctx).into_owned();
    ctx.reply_headers.extend_from_slice(&text);
    Ok(1)
}

fn is_privacy(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let want = p[0].text(ctx).into_owned();
    let buf = ctx.msg.buf();
    let found = ctx
        .msg
        .headers()
        .iter()
        .filter(|h| h.name.get(buf).eq_ignore_ascii_case(b"Privacy"))
        .flat_map(|h| h.value.get(buf).split(|c| *c == b';' || *c == b','))
        .any(|v| v.trim_ascii().eq_ignore_ascii_case(&want));
    Ok(bool_rc(found))
}

fn set_body(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let body = p[0].text(ctx).into_owned();
    let ctype = p[1].text(ctx).into_owned();
    let b = ctx.msg.body_span();
    ctx.lumps.replace(b.off as usize, b.len as usize, &body);
    match ctx.msg.header(HeaderKind::ContentType) {
        Some(h) => {
            let (off, len) = (h.value.off as usize, h.value.len as usize);
            ctx.lumps.replace(off, len, &ctype);
        }
        None => {
            let at = ctx.msg.headers_end();
            ctx.lumps.insert_fmt(at, format_args!("Content-Type: {}\r\n", String::from_utf8_lossy(&ctype)));
        }
    }
    // Content-Length is fixed up when the message is built
    Ok(1)
}

fn set_reply_body(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let body = p[0].text(ctx).into_owned();
    let ctype = p[1].text(ctx).into_owned();
    ctx.reply_body = body;
    ctx.reply_headers.extend_from_slice(b"Content-Type: ");
    ctx.reply_headers.extend_from_slice(&ctype);
    ctx.reply_headers.extend_from_slice(b"\r\n");
    Ok(1)
}

const ANY: RouteMask = RouteMask::ANY;
const REQ: RouteMask = RouteMask::REQUEST_LIKE;

sipr_sdk::module! {
    name: "textops",
    functions: [
        ("is_method", [Str], ANY, is_method),
        ("has_body", [], ANY, has_body0),
        ("has_body", [Fmt], ANY, has_body1),
        ("is_present_hf", [Fmt], ANY, is_present_hf),
        ("append_hf", [Fmt], ANY, append_hf1),
        ("append_hf", [Fmt, Fmt], ANY, append_hf2),
        ("insert_hf", [Fmt], ANY, insert_hf1),
        ("insert_hf", [Fmt, Fmt], ANY, insert_hf2),
        ("remove_hf", [Fmt], ANY, remove_hf),
        ("remove_hf_re", [Regex], ANY, remove_hf_re),
        ("search", [Regex], ANY, search),
        ("search_append", [Regex, Fmt], ANY, search_append),
        ("replace", [Regex, Fmt], ANY, replace),
        ("subst", [Subst], ANY, subst),
        ("subst_uri", [Subst], REQ, subst_uri),
        ("subst_user", [Subst], REQ, subst_user),
        ("append_to_reply", [Fmt], REQ, append_to_reply),
        ("is_privacy", [Fmt], ANY, is_privacy),
        ("set_body", [Fmt, Fmt], ANY, set_body),
        ("set_reply_body", [Fmt, Fmt], REQ, set_reply_body),
    ],
    params: [],
}
