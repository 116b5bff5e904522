//! The text functions behind the string transformations (`{s.escape.user}`,
//! `{s.encode.base58}`, `{s.fmtlines,n,m}`...): byte strings in, byte
//! strings out, no message or script state, so that each is tested here.

/// Lower-case hex of a byte (`%xx` escapes, as Kamailio writes them).
fn push_pct(out: &mut Vec<u8>, c: u8) {
    const D: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(&[b'%', D[(c >> 4) as usize], D[(c & 15) as usize]]);
}

/// `%xx` escapes every byte `keep` refuses.
pub fn pct_escape(s: &[u8], keep: impl Fn(u8) -> bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 8);
    for &c in s {
        if keep(c) {
            out.push(c);
        } else {
            push_pct(&mut out, c);
        }
    }
    out
}

/// Undoes `%xx` escapes (a `%` not followed by two hex digits stays).
pub fn pct_unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            let h = (s[i + 1] as char).to_digit(16);
            let l = (s[i + 2] as char).to_digit(16);
            if let (Some(h), Some(l)) = (h, l) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// RFC 3261 §25.1 unreserved characters.
fn unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&c)
}

/// What a SIP URI's user part may hold unescaped (RFC 3261 §25.1:
/// unreserved and user-unreserved).
pub fn user_char(c: u8) -> bool {
    unreserved(c) || b"&=+$,;?/".contains(&c)
}

/// What a SIP URI parameter may hold unescaped (unreserved and
/// param-unreserved).
pub fn param_char(c: u8) -> bool {
    unreserved(c) || b"[]/:&+$".contains(&c)
}

/// What a URL parameter keeps (RFC 3986 unreserved).
pub fn url_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.~".contains(&c)
}

/// `{s.escape.common}`: a backslash before `'`, `"`, `\` and NUL.
pub fn escape_common(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 4);
    for &c in s {
        match c {
            b'\'' | b'"' | b'\\' => out.extend_from_slice(&[b'\\', c]),
            0 => out.extend_from_slice(b"\\0"),
            _ => out.push(c),
        }
    }
    out
}

/// `{s.unescape.common}`: the reverse of [`escape_common`].
pub fn unescape_common(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter().copied().peekable();
    while let Some(c) = it.next() {
        if c == b'\\' {
            match it.next() {
                Some(b'0') => out.push(0),
                Some(n) => out.push(n),
                None => out.push(c),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `{s.escape.csv}`: in double quotes, a double quote doubled (RFC 4180).
pub fn escape_csv(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'"');
    for &c in s {
        if c == b'"' {
            out.push(b'"');
        }
        out.push(c);
    }
    out.push(b'"');
    out
}

const BASE58: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Base58 (the Bitcoin alphabet): leading zero bytes become '1's.
pub fn base58_encode(s: &[u8]) -> Vec<u8> {
    let zeros = s.iter().take_while(|c| **c == 0).count();
    // base-58 digits, least significant first
    let mut digits: Vec<u8> = Vec::with_capacity(s.len() * 138 / 100 + 1);
    for &byte in &s[zeros..] {
        let mut carry = u32::from(byte);
        for d in digits.iter_mut() {
            carry += u32::from(*d) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut out = vec![b'1'; zeros];
    out.extend(digits.iter().rev().map(|d| BASE58[*d as usize]));
    out
}

/// The reverse of [`base58_encode`]; `None` for a character outside the
/// alphabet.
pub fn base58_decode(s: &[u8]) -> Option<Vec<u8>> {
    let ones = s.iter().take_while(|c| **c == b'1').count();
    let mut bytes: Vec<u8> = Vec::with_capacity(s.len());
    for &c in &s[ones..] {
        let mut carry = BASE58.iter().position(|d| *d == c)? as u32;
        for b in bytes.iter_mut() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let mut out = vec![0u8; ones];
    out.extend(bytes.iter().rev());
    Some(out)
}

/// `{s.prefixes[,len]}` (and `.quoted`): "1,12,123".
pub fn prefixes(s: &[u8], max: Option<usize>, quoted: bool) -> Vec<u8> {
    let n = max.map_or(s.len(), |m| m.min(s.len()));
    let mut out = Vec::new();
    for i in 1..=n {
        if i > 1 {
            out.push(b',');
        }
        if quoted {
            out.push(b'\'');
        }
        out.extend_from_slice(&s[..i]);
        if quoted {
            out.push(b'\'');
        }
    }
    out
}

/// Every occurrence of `from` replaced by `to` (left to right, not
/// overlapping).
pub fn replace_all(s: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return s.to_vec();
    }
    let mut out = Vec::with_capacity(s.len());
    let mut at = 0;
    for pos in memchr::memmem::find_iter(s, from) {
        if pos < at {
            continue;
        }
        out.extend_from_slice(&s[at..pos]);
        out.extend_from_slice(to);
        at = pos + from.len();
    }
    out.extend_from_slice(&s[at..]);
    out
}

/// `{s.fmtlines,n,m}`: lines of `width` bytes, each line after the first
/// indented by `indent` copies of `pad`, joined by CRLF.
pub fn fmtlines(s: &[u8], width: usize, indent: usize, pad: u8) -> Vec<u8> {
    if width == 0 {
        return s.to_vec();
    }
    let mut out = Vec::with_capacity(s.len() + s.len() / width * (indent + 2));
    for (i, chunk) in s.chunks(width).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
            out.extend(std::iter::repeat_n(pad, indent));
        }
        out.extend_from_slice(chunk);
    }
    out
}

/// Whether `c` is one of the blanks `{s.trim}` and friends remove.
pub fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// `{s.unquote}`: without surrounding `"…"` or `'…'`.
pub fn unquote(s: &[u8]) -> &[u8] {
    match (s.first(), s.last()) {
        (Some(a @ (b'"' | b'\'')), Some(b)) if s.len() >= 2 && a == b => &s[1..s.len() - 1],
        _ => s,
    }
}

/// `{s.unbracket}`: without surrounding `()`, `[]`, `{}` or `<>`.
pub fn unbracket(s: &[u8]) -> &[u8] {
    match (s.first(), s.last()) {
        (Some(b'('), Some(b')')) | (Some(b'['), Some(b']')) | (Some(b'{'), Some(b'}')) | (Some(b'<'), Some(b'>'))
            if s.len() >= 2 =>
        {
            &s[1..s.len() - 1]
        }
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(pct_escape(b"a b@c;d=e?f", user_char), b"a%20b%40c;d=e?f");
        assert_eq!(pct_escape(b"a b@c;d=e?f", param_char), b"a%20b%40c%3bd%3de%3ff");
        assert_eq!(pct_unescape(b"a%20b%40c%3Bd%zz%"), b"a b@c;d%zz%");
        assert_eq!(escape_common(b"it's \"q\" \\"), b"it\\'s \\\"q\\\" \\\\");
        assert_eq!(unescape_common(&escape_common(b"it's \"q\" \\\0")), b"it's \"q\" \\\0");
        assert_eq!(escape_csv(b"foo,bar\"baz"), b"\"foo,bar\"\"baz\"");
    }

    #[test]
    fn base58_round_trips() {
        assert_eq!(base58_encode(b"Hello, World!?"), b"TcgsE5e9XKF8eGX1Cjp");
        assert_eq!(base58_encode(b"\0\0a"), b"112g");
        for s in [&b""[..], b"\0", b"\0\x01\xff", b"Hello, World!?"] {
            assert_eq!(base58_decode(&base58_encode(s)).unwrap(), s);
        }
        assert!(base58_decode(b"0OIl").is_none());
    }

    #[test]
    fn editing() {
        assert_eq!(prefixes(b"123456", Some(4), false), b"1,12,123,1234");
        assert_eq!(prefixes(b"12", None, true), b"'1','12'");
        assert_eq!(replace_all(b"abababa", b"a", b"c"), b"cbcbcbc");
        assert_eq!(replace_all(b"aaa", b"aa", b"b"), b"ba");
        assert_eq!(fmtlines(b"abcdefgh", 3, 2, b' '), b"abc\r\n  def\r\n  gh");
        assert_eq!(unquote(b"\"alice\""), b"alice");
        assert_eq!(unquote(b"\"x'"), b"\"x'");
        assert_eq!(unbracket(b"<sip:a@b>"), b"sip:a@b");
    }
}
