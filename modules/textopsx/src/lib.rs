//! textopsx: more text operations (Kamailio's textopsx module).
//!
//! * `msg_apply_changes()`: applies the pending changes to the message so
//!   that later functions and PVs see them, as Kamailio's.
//! * `remove_body()`: drops the body (Content-Length is fixed on send).
//! * `change_reply_status(code, reason)`: rewrites a reply's status line;
//!   `change_reply_status_code(code)`: its code only, the reason kept.
//! * `fnmatch(value, pattern[, "i"])`: shell-style matching (`*`, `?`,
//!   `[...]`).
//! * `keep_hf(regex)`: removes every header whose name does not match,
//!   but those a message needs (Via, From, To, Call-ID, CSeq,
//!   Content-Length, Content-Type, Max-Forwards, Contact, Route,
//!   Record-Route). Kamailio 5.6 refuses `keep_hf()` without the regex at
//!   start-up (its documentation says it is optional); so does sipr.

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use sipr_sdk::prelude::*;

/// Applies the changes made so far (the lumps) to the message: later
/// functions and PVs see the changed message, as in Kamailio. 1 when
/// applied or when there was nothing to apply (as Kamailio), -1 when the
/// changed message does not parse (logged; the original stays).
fn msg_apply_changes(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    match ctx.apply_changes() {
        Ok(true) => Ok(1),
        Ok(false) => {
            debug!("msg_apply_changes: nothing to apply");
            Ok(1)
        }
        Err(e) => Err(format!("msg_apply_changes: {e}").into()),
    }
}

fn remove_body(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let b = ctx.msg.body_span();
    if b.len == 0 {
        return Ok(-1);
    }
    ctx.lumps.delete(b.off as usize, b.len as usize);
    Ok(1)
}

fn change_reply_status(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    if ctx.msg.is_request() {
        return Err("change_reply_status() works on replies".into());
    }
    let code = p[0].int(ctx);
    if !(100..=699).contains(&code) {
        return Err(format!("invalid reply code {code}").into());
    }
    let reason = String::from_utf8_lossy(&p[1].text(ctx)).into_owned();
    let end = ctx.msg.first_line_end();
    ctx.lumps.replace_fmt(0, end, format_args!("SIP/2.0 {code} {reason}\r\n"));
    Ok(1)
}

/// `change_reply_status_code(code)`: a new status code, the reason kept.
fn change_reply_status_code(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    if ctx.msg.is_request() {
        return Err("change_reply_status_code() works on replies".into());
    }
    let code = p[0].int(ctx);
    if !(100..=699).contains(&code) {
        return Err(format!("invalid reply code {code}").into());
    }
    // "SIP/2.0 NNN reason": the three digits after the first space
    let line = &ctx.msg.buf()[..ctx.msg.first_line_end()];
    let Some(sp) = line.iter().position(|c| *c == b' ') else { return Err("bad status line".into()) };
    ctx.lumps.replace_fmt(sp + 1, 3, format_args!("{code}"));
    Ok(1)
}

/// Shell-style matching of `text` against `pat` (fnmatch(3) without
/// flags): `*` any run, `?` one byte, `[abc]` / `[a-z]` / `[!a]` a set,
/// `\x` the byte x.
fn glob(pat: &[u8], text: &[u8], icase: bool) -> bool {
    let eq = |a: u8, b: u8| if icase { a.eq_ignore_ascii_case(&b) } else { a == b };
    let (mut p, mut t) = (0, 0);
    // where to resume after the last `*`: (pattern after it, text position)
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pat.get(p) {
            Some(b'*') => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match class(&pat[p..], text[t], icase) {
                Some((true, len)) => Some(p + len),
                _ => None,
            },
            Some(b'\\') if p + 1 < pat.len() => eq(pat[p + 1], text[t]).then_some(p + 2),
            Some(&c) => eq(c, text[t]).then_some(p + 1),
            None => None,
        };
        match (step, star) {
            (Some(np), _) => {
                p = np;
                t += 1;
            }
            (None, Some((sp, st))) => {
                // let the last `*` take one more byte
                p = sp;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            (None, None) => return false,
        }
    }
    pat[p..].iter().all(|c| *c == b'*')
}

/// A `[...]` set at the start of `pat`: whether `c` is in it and the set's
/// length; `None` when the bracket is not closed (then it matches a `[`).
fn class(pat: &[u8], c: u8, icase: bool) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(1), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let first = i;
    let mut hit = false;
    let norm = |x: u8| if icase { x.to_ascii_lowercase() } else { x };
    while i < pat.len() {
        if pat[i] == b']' && i > first {
            return Some((hit != negate, i + 1));
        }
        if i + 2 < pat.len() && pat[i + 1] == b'-' && pat[i + 2] != b']' {
            if (norm(pat[i])..=norm(pat[i + 2])).contains(&norm(c)) {
                hit = true;
            }
            i += 3;
        } else {
            if norm(pat[i]) == norm(c) {
                hit = true;
            }
            i += 1;
        }
    }
    (c == b'[').then_some((true, 1))
}

fn fnmatch2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (v, pat) = (p[0].text(ctx).into_owned(), p[1].text(ctx).into_owned());
    Ok(if glob(&pat, &v, false) { 1 } else { -1 })
}

fn fnmatch3(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (v, pat) = (p[0].text(ctx).into_owned(), p[1].text(ctx).into_owned());
    let icase = p[2].text(ctx).contains(&b'i');
    Ok(if glob(&pat, &v, icase) { 1 } else { -1 })
}

/// `keep_hf(regex)`.
fn keep_hf(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    use sipr_sdk::sip::HeaderKind as H;
    let re = match p.first() {
        Some(Param::Regex(re)) => Some(re),
        _ => None,
    };
    let buf = ctx.msg.buf();
    let doomed: Vec<_> = ctx
        .msg
        .headers()
        .iter()
        .filter(|h| {
            let needed = matches!(
                h.kind,
                H::Via
                    | H::From
                    | H::To
                    | H::CallId
                    | H::CSeq
                    | H::ContentLength
                    | H::ContentType
                    | H::MaxForwards
                    | H::Contact
                    | H::Route
                    | H::RecordRoute
            );
            !needed && !re.is_some_and(|r| r.is_match(h.name.get(buf)))
        })
        .map(|h| h.line)
        .collect();
    for l in doomed {
        ctx.lumps.delete(l.off as usize, l.len as usize);
    }
    Ok(1)
}

// ---------------------------------------------------------------------
// Header value sets: include_hf_value, exclude_hf_value, hf_value_exists

/// The headers named `name` (compact forms and case aside) with the
/// elements of their comma lists.
fn value_sets(ctx: &Ctx<'_>, name: &[u8]) -> Vec<(sipr_sdk::sip::Header, Vec<sipr_sdk::sip::Span>)> {
    let buf = ctx.msg.buf();
    ctx.msg.headers_named(name).map(|h| (*h, sipr_sdk::sip::list_items(buf, h.value))).collect()
}

/// `hf_value_exists(hf, value)`: the value is an element of one of the
/// headers' lists (without case).
fn hf_value_exists(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (name, value) = (p[0].text(ctx).into_owned(), p[1].text(ctx).into_owned());
    let buf = ctx.msg.buf();
    let found =
        value_sets(ctx, &name).iter().any(|(_, items)| items.iter().any(|i| i.get(buf).eq_ignore_ascii_case(&value)));
    Ok(if found { 1 } else { -1 })
}

/// `include_hf_value(hf, value)`: adds the value to the last such
/// header's list (`,value`, as Kamailio writes it), or a new header at
/// the end of the headers; nothing when it is there already.
fn include_hf_value(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (name, value) = (p[0].text(ctx).into_owned(), p[1].text(ctx).into_owned());
    let buf = ctx.msg.buf();
    let sets = value_sets(ctx, &name);
    if sets.iter().any(|(_, items)| items.iter().any(|i| i.get(buf).eq_ignore_ascii_case(&value))) {
        return Ok(1);
    }
    match sets.last() {
        Some((h, _)) => {
            let at = h.value.end();
            ctx.lumps.insert_fmt(at, format_args!(",{}", String::from_utf8_lossy(&value)));
        }
        None => {
            let at = ctx.msg.headers_end();
            ctx.lumps.insert_fmt(
                at,
                format_args!("{}: {}\r\n", String::from_utf8_lossy(&name), String::from_utf8_lossy(&value)),
            );
        }
    }
    Ok(1)
}

/// `exclude_hf_value(hf, value)`: removes the value from every such
/// header's list (with its comma); a header left empty goes entirely.
fn exclude_hf_value(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (name, value) = (p[0].text(ctx).into_owned(), p[1].text(ctx).into_owned());
    let buf = ctx.msg.buf();
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    for (h, items) in value_sets(ctx, &name) {
        let hit: Vec<usize> = (0..items.len()).filter(|&i| items[i].get(buf).eq_ignore_ascii_case(&value)).collect();
        if hit.is_empty() {
            continue;
        }
        if hit.len() == items.len() {
            cuts.push((h.line.off as usize, h.line.len as usize));
            continue;
        }
        for i in hit {
            // the element and the separator after it (before it, for the last)
            let (from, to) = if i + 1 < items.len() {
                (items[i].off as usize, items[i + 1].off as usize)
            } else {
                (items[i - 1].end(), items[i].end())
            };
            cuts.push((from, to - from));
        }
    }
    for (off, len) in cuts {
        ctx.lumps.delete(off, len);
    }
    Ok(1)
}

sipr_sdk::module! {
    name: "textopsx",
    functions: [
        ("msg_apply_changes", [], RouteMask::ANY, msg_apply_changes),
        ("remove_body", [], RouteMask::ANY, remove_body),
        ("change_reply_status", [IntOrPv, Fmt], RouteMask::REPLY, change_reply_status),
        ("change_reply_status_code", [IntOrPv], RouteMask::REPLY, change_reply_status_code),
        ("fnmatch", [Fmt, Fmt], RouteMask::ANY, fnmatch2),
        ("fnmatch", [Fmt, Fmt, Fmt], RouteMask::ANY, fnmatch3),
        ("keep_hf", [Regex], RouteMask::ANY, keep_hf),
        ("include_hf_value", [Fmt, Fmt], RouteMask::ANY, include_hf_value),
        ("exclude_hf_value", [Fmt, Fmt], RouteMask::ANY, exclude_hf_value),
        ("hf_value_exists", [Fmt, Fmt], RouteMask::ANY, hf_value_exists),
    ],
    params: [],
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn shell_patterns() {
        for (p, t, want) in [
            ("123*", "12345", true),
            ("123*", "1245", false),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*b*d", "abcd", true),
            ("*b*d", "abce", false),
            ("[a-c]x", "bx", true),
            ("[!a-c]x", "bx", false),
            ("[!a-c]x", "dx", true),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("[x", "[x", true),
        ] {
            assert_eq!(glob(p.as_bytes(), t.as_bytes(), false), want, "{p} ~ {t}");
        }
        assert!(glob(b"ABC*", b"abcd", true));
        assert!(!glob(b"ABC*", b"abcd", false));
    }
}
