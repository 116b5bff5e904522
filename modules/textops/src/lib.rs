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
//! `set_reply_body(txt, type)`, `search_body`, `search_str`,
//! `search_hf`, `search_append_body`, `replace_body`, `replace_hdrs`,
//! `replace_all`, `replace_body_all`, `replace_body_atonce`,
//! `replace_str`, `replace_body_str`, `replace_hdrs_str`, `subst_body`,
//! `subst_hf`, the `_pv` variants, `is_present_hf_re`, `remove_hf_exp`,
//! `remove_hf_idx`, `append_urihf`, `in_list`, `in_list_prefix`,
//! `cmp_str`, `cmp_istr`, `starts_with`, `ends_with`, `str_find`,
//! `str_ifind`, `append_time`, `append_time_to_request`,
//! `remove_hf_match`, `regex_substring`. Each is checked against Kamailio on the differential
//! bed (`test/diff/cases/textops.cases`). As Kamailio's, the editing
//! functions (`replace*`, `subst`, `search_append`) work past the first
//! line; `search` sees it too.

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

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
    // (upper-cased on the stack: this runs for most requests; every known
    // method name is shorter than 16 bytes)
    let known = m.len() <= 16 && {
        let mut up = [0u8; 16];
        up[..m.len()].copy_from_slice(m);
        up[..m.len()].make_ascii_uppercase();
        !matches!(Method::from_token(&up[..m.len()]), Method::Other)
    };
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
    // after the last header of that name; without one, after the last
    // header (Kamailio's fallback)
    let at = headers_named(ctx, &name).last().map_or(ctx.msg.headers_end(), |h| h.line.end());
    ctx.lumps.insert(at, &text);
    Ok(1)
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
    // before the first header of that name; without one, before the
    // first header (Kamailio's fallback)
    let at = headers_named(ctx, &name).first().map_or(ctx.msg.first_line_end(), |h| h.line.off as usize);
    ctx.lumps.insert(at, &text);
    Ok(1)
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
    remove_hf_re_pv(ctx, p)
}

fn remove_hf_re_pv(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let re = regex_of(ctx, &p[0], "remove_hf_re")?;
    let buf = ctx.msg.buf();
    let lines = ctx.msg.headers().iter().filter(|h| re.is_match(h.name.get(buf))).map(|h| h.line).collect();
    remove_lines(ctx, lines)
}

fn search(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Param::Regex(re) = &p[0] else { return Err("search needs a regex".into()) };
    Ok(bool_rc(re.is_match(ctx.msg.buf())))
}

/// `search_append`: after the first match past the first line (as
/// `replace`; `search` alone looks at the first line too).
fn search_append(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    search_append_in(ctx, p, "search_append", Region::PastFirstLine)
}

/// Inserts the text after the first match of the regex inside `region`.
fn search_append_in(ctx: &mut Ctx<'_>, p: &[Param], what: &str, region: Region) -> FnResult {
    let re = regex_of(ctx, &p[0], what)?;
    let (start, end) = range_of(ctx, region);
    let Some(m) = re.find(&ctx.msg.buf()[start..end]) else { return Ok(-1) };
    let text = p[1].text(ctx).into_owned();
    ctx.lumps.insert(start + m.end(), &text);
    Ok(1)
}

/// `replace`: the first match past the first line (Kamailio's textops
/// edits the headers and body, never the request or status line).
fn replace(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    replace_re(ctx, p, "replace", Region::PastFirstLine, false)
}

/// Makes a `/re/repl/flags` substitution inside `region`: how many
/// matches were replaced, or -1 for none.
fn subst_in(ctx: &mut Ctx<'_>, p: &Param, region: Region) -> FnResult {
    let Param::Subst(x) = p else { return Err("needs /re/repl/flags".into()) };
    let (start, end) = range_of(ctx, region);
    let matches = x.matches(&ctx.msg.buf()[start..end], Some(ctx));
    if matches.is_empty() {
        return Ok(-1);
    }
    let n = matches.len() as i32;
    for (s, e, text) in matches {
        ctx.lumps.replace(start + s, e - s, &text);
    }
    Ok(n)
}

fn subst(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    subst_in(ctx, &p[0], Region::PastFirstLine)
}

fn subst_uri(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Param::Subst(x) = &p[0] else { return Err("subst_uri needs /re/repl/flags".into()) };
    let Some(cur) = ctx.ruri().map(<[u8]>::to_vec) else { return Ok(-1) };
    match x.apply(&cur, Some(ctx)) {
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
    match x.apply(&user, Some(ctx)) {
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

/// The regex of a `Regex` parameter, or one compiled from a dynamic text
/// (the `_pv` variants, `search_str`).
fn regex_of<'p>(
    ctx: &Ctx<'_>,
    p: &'p Param,
    what: &str,
) -> Result<std::borrow::Cow<'p, sipr_sdk::regex_type::Regex>, ModError> {
    match p {
        Param::Regex(re) => Ok(std::borrow::Cow::Borrowed(&**re)),
        other => {
            let text = other.text(ctx).into_owned();
            sipr_sdk::compile_regex(&text)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| ModError(format!("{what}: bad regular expression: {e}")))
        }
    }
}

/// The part of the message a function reads or edits. Kamailio's
/// editing functions never touch the first line; the body ends where
/// Content-Length says (bytes of a datagram past it are not the message).
#[derive(Debug, Clone, Copy)]
enum Region {
    /// The headers and the body.
    PastFirstLine,
    /// From the first header to the end of the last one.
    Headers,
    /// The body.
    Body,
}

/// `region`'s start and end offsets in the buffer.
fn range_of(ctx: &Ctx<'_>, region: Region) -> (usize, usize) {
    let body = ctx.msg.body_span();
    match region {
        Region::PastFirstLine => (ctx.msg.first_line_end(), body.end()),
        Region::Headers => (ctx.msg.first_line_end(), ctx.msg.headers_end()),
        Region::Body => (body.off as usize, body.end()),
    }
}

fn search_body(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let re = regex_of(ctx, &p[0], "search_body")?;
    Ok(bool_rc(re.is_match(ctx.msg.body())))
}

fn search_str(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let text = p[0].text(ctx).into_owned();
    let re = regex_of(ctx, &p[1], "search_str")?;
    Ok(bool_rc(re.is_match(&text)))
}

/// Headers of a name picked by search_hf / subst_hf's flags: `f` the
/// first, `l` the last, anything else all of them.
fn picked_headers(ctx: &Ctx<'_>, name: &[u8], flags: &[u8]) -> Vec<sipr_sdk::sip::Header> {
    let mut all = headers_named(ctx, name);
    match flags.first() {
        Some(b'f') => all.truncate(1),
        Some(b'l') => {
            let last = all.pop();
            all = last.into_iter().collect();
        }
        _ => {}
    }
    all
}

fn search_hf(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = p[0].text(ctx).into_owned();
    let re = regex_of(ctx, &p[1], "search_hf")?;
    let flags = p[2].text(ctx).into_owned();
    let buf = ctx.msg.buf();
    let hit = picked_headers(ctx, &name, &flags).iter().any(|h| re.is_match(h.value.get(buf)));
    Ok(bool_rc(hit))
}

fn search_append_body(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    search_append_in(ctx, p, "search_append_body", Region::Body)
}

/// Replaces the matches of the regex in `p[0]` inside `region` with the
/// text of `p[1]` (the first match, or every one): 1 when anything
/// matched, else -1.
fn replace_re(ctx: &mut Ctx<'_>, p: &[Param], what: &str, region: Region, all: bool) -> FnResult {
    let re = regex_of(ctx, &p[0], what)?;
    let text = p[1].text(ctx).into_owned();
    let (start, end) = range_of(ctx, region);
    let hay = &ctx.msg.buf()[start..end];
    let spans: Vec<(usize, usize)> = if all {
        re.find_iter(hay).map(|m| (m.start(), m.end())).collect()
    } else {
        re.find(hay).map(|m| (m.start(), m.end())).into_iter().collect()
    };
    if spans.is_empty() {
        return Ok(-1);
    }
    for (s, e) in spans {
        ctx.lumps.replace(start + s, e - s, &text);
    }
    Ok(1)
}

fn replace_body(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    replace_re(ctx, p, "replace_body", Region::Body, false)
}

fn replace_hdrs(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    replace_re(ctx, p, "replace_hdrs", Region::Headers, false)
}

fn replace_all(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    replace_re(ctx, p, "replace_all", Region::PastFirstLine, true)
}

fn replace_body_all(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    replace_re(ctx, p, "replace_body_all", Region::Body, true)
}

/// `replace_body_atonce`: every match over the whole body as one text;
/// its regex was recompiled at start-up with `.` crossing line ends
/// ([`one_text_regex`]), as Kamailio's matching without REG_NEWLINE.
fn replace_body_atonce(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    replace_re(ctx, p, "replace_body_atonce", Region::Body, true)
}

/// Start-up fixup of `replace_body_atonce`: its constant regex, compiled
/// again so that `.` also matches a line end.
fn one_text_regex(p: &mut [Param]) -> Result<(), String> {
    if let Some(Param::Regex(re)) = p.first_mut() {
        let whole = regex::bytes::RegexBuilder::new(re.as_str())
            .case_insensitive(true)
            .dot_matches_new_line(true)
            .unicode(false)
            .build()
            .map_err(|e| format!("bad regular expression: {e}"))?;
        **re = whole;
    }
    Ok(())
}

/// Replaces the text of `p[0]` with `p[1]` inside `region`; `p[2]` is
/// the mode: `a` every occurrence, anything else the first.
fn replace_plain(ctx: &mut Ctx<'_>, p: &[Param], region: Region) -> FnResult {
    let needle = p[0].text(ctx).into_owned();
    let text = p[1].text(ctx).into_owned();
    let all = p[2].text(ctx).first() == Some(&b'a');
    if needle.is_empty() {
        return Ok(-1);
    }
    let (start, end) = range_of(ctx, region);
    let hay = &ctx.msg.buf()[start..end];
    let spans: Vec<usize> = if all {
        memchr::memmem::find_iter(hay, &needle).collect()
    } else {
        memchr::memmem::find(hay, &needle).into_iter().collect()
    };
    if spans.is_empty() {
        return Ok(-1);
    }
    for s in spans {
        ctx.lumps.replace(start + s, needle.len(), &text);
    }
    Ok(1)
}

fn replace_str(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    replace_plain(ctx, p, Region::PastFirstLine)
}

fn replace_body_str(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    replace_plain(ctx, p, Region::Body)
}

fn replace_hdrs_str(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    replace_plain(ctx, p, Region::Headers)
}

fn subst_body(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    Ok(subst_in(ctx, &p[0], Region::Body)?.min(1))
}

fn subst_hf(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = p[0].text(ctx).into_owned();
    let Param::Subst(x) = &p[1] else { return Err("subst_hf needs /re/repl/flags".into()) };
    let flags = p[2].text(ctx).into_owned();
    let buf = ctx.msg.buf();
    let mut edits = Vec::new();
    for h in picked_headers(ctx, &name, &flags) {
        let off = h.value.off as usize;
        for (s, e, text) in x.matches(h.value.get(buf), Some(ctx)) {
            edits.push((off + s, e - s, text));
        }
    }
    if edits.is_empty() {
        return Ok(-1);
    }
    for (at, len, text) in edits {
        ctx.lumps.replace(at, len, &text);
    }
    Ok(1)
}

/// `is_present_hf_re`: a header whose name matches.
fn is_present_hf_re(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let re = regex_of(ctx, &p[0], "is_present_hf_re")?;
    let buf = ctx.msg.buf();
    Ok(bool_rc(ctx.msg.headers().iter().any(|h| re.is_match(h.name.get(buf)))))
}

fn remove_hf_exp(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let rm = regex_of(ctx, &p[0], "remove_hf_exp")?;
    let keep = regex_of(ctx, &p[1], "remove_hf_exp")?;
    let buf = ctx.msg.buf();
    let lines = ctx
        .msg
        .headers()
        .iter()
        .filter(|h| {
            let n = h.name.get(buf);
            rm.is_match(n) && !keep.is_match(n)
        })
        .map(|h| h.line)
        .collect();
    remove_lines(ctx, lines)
}

/// `remove_hf_idx(name, idx)`: the idx-th header of that name (negative
/// counts from the last).
fn remove_hf_idx(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = p[0].text(ctx).into_owned();
    let idx = p[1].int(ctx);
    let all = headers_named(ctx, &name);
    let pick = if idx >= 0 {
        all.get(idx as usize)
    } else {
        all.len().checked_sub(idx.unsigned_abs() as usize).and_then(|i| all.get(i))
    };
    match pick {
        Some(h) => remove_lines(ctx, vec![h.line]),
        None => Ok(-1),
    }
}

fn append_urihf(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let mut text = p[0].text(ctx).into_owned();
    // the Request-URI as received (Kamailio's first_line uri)
    let Some(uri) = ctx.msg.request_uri() else { return Ok(-1) };
    text.extend_from_slice(uri);
    text.extend_from_slice(&p[1].text(ctx));
    let at = ctx.msg.headers_end();
    ctx.lumps.insert(at, &text);
    Ok(1)
}

/// `in_list(subject, list, sep)`: the subject is one of the list's items
/// (the separator is the first character of `sep`).
fn in_list(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    list_match(ctx, p, |item, subject| item == subject)
}

/// `in_list_prefix`: an item of the list is a prefix of the subject.
fn in_list_prefix(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    list_match(ctx, p, |item, subject| subject.starts_with(item))
}

fn list_match(ctx: &Ctx<'_>, p: &[Param], hit: fn(&[u8], &[u8]) -> bool) -> FnResult {
    let subject = p[0].text(ctx).into_owned();
    let list = p[1].text(ctx).into_owned();
    let sep = p[2].text(ctx);
    let Some(&sep) = sep.first() else { return Err("in_list: empty separator".into()) };
    Ok(bool_rc(list.split(|c| *c == sep).map(<[u8]>::trim_ascii).any(|item| !item.is_empty() && hit(item, &subject))))
}

/// The string comparisons answer as Kamailio's: 1 when equal, else by
/// the byte order of the first string against the second — -1 when it is
/// greater, -2 when it is less (a proper prefix is less).
fn order_rc(o: std::cmp::Ordering) -> i32 {
    match o {
        std::cmp::Ordering::Equal => 1,
        std::cmp::Ordering::Greater => -1,
        std::cmp::Ordering::Less => -2,
    }
}

fn cmp_str(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    Ok(order_rc(p[0].text(ctx).as_ref().cmp(p[1].text(ctx).as_ref())))
}

fn cmp_istr(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (a, b) = (p[0].text(ctx).to_ascii_lowercase(), p[1].text(ctx).to_ascii_lowercase());
    Ok(order_rc(a.cmp(&b)))
}

/// `starts_with` / `ends_with`: the part of the first string as long as
/// the second, compared with it; a second string longer than the first
/// is -1.
fn affix_rc(s: &[u8], affix: &[u8], at_end: bool) -> i32 {
    if affix.len() > s.len() {
        return -1;
    }
    let part = if at_end { &s[s.len() - affix.len()..] } else { &s[..affix.len()] };
    order_rc(part.cmp(affix))
}

fn starts_with(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    Ok(affix_rc(&p[0].text(ctx), &p[1].text(ctx), false))
}

fn ends_with(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    Ok(affix_rc(&p[0].text(ctx), &p[1].text(ctx), true))
}

/// `str_find(s1, s2)`: where s2 starts in s1, counted from 1 (a return
/// code cannot be 0), -1 when absent.
fn str_find(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (a, b) = (p[0].text(ctx).into_owned(), p[1].text(ctx).into_owned());
    Ok(find_pos(&a, &b))
}

fn str_ifind(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (a, b) = (p[0].text(ctx).to_ascii_lowercase(), p[1].text(ctx).to_ascii_lowercase());
    Ok(find_pos(&a, &b))
}

fn find_pos(hay: &[u8], needle: &[u8]) -> i32 {
    if needle.is_empty() || needle.len() > hay.len() {
        return -1;
    }
    memchr::memmem::find(hay, needle).map_or(-1, |i| i as i32 + 1)
}

/// `Date: <now, RFC 1123, GMT>` and its line end.
fn date_header() -> Vec<u8> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("Date: {}\r\n", sipr_sdk::sip::SipDate::from_unix(now).to_text()).into_bytes()
}

/// `append_time()`: a Date header in the reply the script will send.
fn append_time(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    ctx.reply_headers.extend_from_slice(&date_header());
    Ok(1)
}

/// `append_time_to_request()`: a Date header right above the first Via
/// (where Kamailio puts it).
fn append_time_to_request(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let at = ctx.msg.header(HeaderKind::Via).map_or(ctx.msg.first_line_end(), |h| h.line.off as usize);
    ctx.lumps.insert(at, &date_header());
    Ok(1)
}

/// `remove_hf_match(name, op, expr)`: removes the headers of that name
/// whose value is (`eq`) / is not (`ne`) `expr`, contains it (`in`) or
/// matches it as a regular expression (`re`).
fn remove_hf_match(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = p[0].text(ctx).into_owned();
    let op = p[1].text(ctx).into_owned();
    let expr = p[2].text(ctx).into_owned();
    let re = if op == b"re" {
        Some(
            sipr_sdk::compile_regex(&expr)
                .map_err(|e| ModError(format!("remove_hf_match: bad regular expression: {e}")))?,
        )
    } else {
        None
    };
    let buf = ctx.msg.buf();
    let mut lines = Vec::new();
    for h in headers_named(ctx, &name) {
        let v = h.value.get(buf);
        let hit = match op.as_slice() {
            b"eq" => v == expr.as_slice(),
            b"ne" => v != expr.as_slice(),
            b"in" => memchr::memmem::find(v, &expr).is_some(),
            b"re" => re.as_ref().is_some_and(|r| r.is_match(v)),
            other => {
                return Err(format!("remove_hf_match: unknown operator '{}'", String::from_utf8_lossy(other)).into())
            }
        };
        if hit {
            lines.push(h.line);
        }
    }
    // none removed: -2, as Kamailio's
    remove_lines(ctx, lines).map(|rc| if rc < 0 { -2 } else { rc })
}

/// `regex_substring(text, re, index, count, pv)`: the first match of `re`
/// in `text`; its group `index` (0 the whole match, at most `count`
/// groups looked at) goes to `pv`.
fn regex_substring(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let text = p[0].text(ctx).into_owned();
    let re = regex_of(ctx, &p[1], "regex_substring")?;
    let (index, count) = (p[2].int(ctx), p[3].int(ctx));
    let Param::Pv(dst) = &p[4] else { return Err("regex_substring needs a writable PV".into()) };
    // no match (or no such group): -2, as Kamailio's
    if index < 0 || count <= 0 || index >= count {
        return Ok(-2);
    }
    let Some(caps) = re.captures(&text) else { return Ok(-2) };
    let Some(m) = caps.get(index as usize) else { return Ok(-2) };
    let found = m.as_bytes().to_vec();
    dst.assign(ctx, &sipr_sdk::Value::str(&found)).map_err(ModError)?;
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
        ("search_body", [Regex], ANY, search_body),
        ("search_str", [Fmt, Fmt], ANY, search_str),
        ("search_hf", [Str, Regex, Str], ANY, search_hf),
        ("search_append_body", [Regex, Fmt], ANY, search_append_body),
        ("replace_body", [Regex, Fmt], ANY, replace_body),
        ("replace_hdrs", [Regex, Fmt], ANY, replace_hdrs),
        ("replace_all", [Regex, Fmt], ANY, replace_all),
        ("replace_body_all", [Regex, Fmt], ANY, replace_body_all),
        ("replace_body_atonce", [Regex, Fmt], ANY, replace_body_atonce, one_text_regex),
        ("replace_str", [Fmt, Fmt, Fmt], ANY, replace_str),
        ("replace_body_str", [Fmt, Fmt, Fmt], ANY, replace_body_str),
        ("replace_hdrs_str", [Fmt, Fmt, Fmt], ANY, replace_hdrs_str),
        ("subst_body", [Subst], ANY, subst_body),
        ("subst_hf", [Str, Subst, Str], ANY, subst_hf),
        ("is_present_hf_pv", [Fmt], ANY, is_present_hf),
        ("is_present_hf_re", [Regex], ANY, is_present_hf_re),
        ("is_present_hf_re_pv", [Fmt], ANY, is_present_hf_re),
        ("remove_hf_pv", [Fmt], ANY, remove_hf),
        ("remove_hf_re_pv", [Fmt], ANY, remove_hf_re_pv),
        ("remove_hf_exp", [Regex, Regex], ANY, remove_hf_exp),
        ("remove_hf_exp_pv", [Fmt, Fmt], ANY, remove_hf_exp),
        ("remove_hf_idx", [Fmt, IntOrPv], ANY, remove_hf_idx),
        ("append_urihf", [Fmt, Fmt], REQ, append_urihf),
        ("in_list", [Fmt, Fmt, Fmt], ANY, in_list),
        ("in_list_prefix", [Fmt, Fmt, Fmt], ANY, in_list_prefix),
        ("cmp_str", [Fmt, Fmt], ANY, cmp_str),
        ("cmp_istr", [Fmt, Fmt], ANY, cmp_istr),
        ("starts_with", [Fmt, Fmt], ANY, starts_with),
        ("ends_with", [Fmt, Fmt], ANY, ends_with),
        ("str_find", [Fmt, Fmt], ANY, str_find),
        ("str_ifind", [Fmt, Fmt], ANY, str_ifind),
        ("append_time", [], REQ, append_time),
        ("append_time_to_request", [], REQ, append_time_to_request),
        ("remove_hf_match", [Fmt, Fmt, Fmt], ANY, remove_hf_match),
        ("regex_substring", [Fmt, Fmt, IntOrPv, IntOrPv, WritablePv], ANY, regex_substring),
    ],
    params: [],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_comparisons_answer_by_byte_order() {
        assert_eq!(order_rc(b"abc".as_slice().cmp(b"abc")), 1);
        assert_eq!(order_rc(b"abd".as_slice().cmp(b"abc")), -1);
        assert_eq!(order_rc(b"ab".as_slice().cmp(b"abc")), -2);
        assert_eq!(affix_rc(b"abc", b"ab", false), 1);
        assert_eq!(affix_rc(b"abc", b"bc", true), 1);
        assert_eq!(affix_rc(b"ab", b"abc", false), -1);
        assert_eq!(affix_rc(b"abc", b"bd", true), -2);
        assert_eq!(affix_rc(b"abc", b"b", true), -1);
    }

    #[test]
    fn str_find_counts_from_one() {
        assert_eq!(find_pos(b"abcdef", b"ab"), 1);
        assert_eq!(find_pos(b"abcdef", b"cd"), 3);
        assert_eq!(find_pos(b"abcdef", b"x"), -1);
        assert_eq!(find_pos(b"ab", b"abc"), -1);
        assert_eq!(find_pos(b"ab", b""), -1);
    }

    #[test]
    fn replace_body_atonce_regex_crosses_lines() {
        let mut p = vec![Param::Regex(Box::new(sipr_sdk::compile_regex(b"^a.b$").unwrap()))];
        one_text_regex(&mut p).unwrap();
        let Param::Regex(re) = &p[0] else { panic!() };
        assert!(re.is_match(b"a\nb"));
        assert!(re.is_match(b"A\nB"), "still ignoring case");
    }
}
