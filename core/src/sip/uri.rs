//! URIs (RFC 3261 §19.1, RFC 3966 for tel): sip and sips parsed into spans
//! of the message buffer; tel split into number and parameters; any other
//! scheme kept opaque so that the server can answer 416.

use std::borrow::Cow;
use std::fmt;

use super::message::Span;
use super::scan::{byte_class, find_byte, parse_params, parse_params_checked, scan_until, Param, Params};

/// URI schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:`
    Tel,
    /// Anything else (kept opaque).
    Other,
}

/// What the host part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// A host name.
    Name,
    /// A dotted IPv4 address.
    Ipv4,
    /// A bracketed IPv6 reference (the span includes the brackets).
    Ipv6,
    /// No host (tel and opaque URIs).
    None,
}

/// Why a URI is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    /// Nothing, or no `scheme:`.
    MissingScheme,
    /// Bad character or escape in the user part.
    BadUser,
    /// Bad character or escape in the password.
    BadPassword,
    /// Empty or malformed host.
    BadHost,
    /// Port not a number 0–65535.
    BadPort,
    /// Malformed parameter.
    BadParam,
    /// Malformed headers part.
    BadHeaders,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UriError::MissingScheme => "URI without scheme",
            UriError::BadUser => "bad user part in URI",
            UriError::BadPassword => "bad password in URI",
            UriError::BadHost => "bad host in URI",
            UriError::BadPort => "bad port in URI",
            UriError::BadParam => "bad URI parameter",
            UriError::BadHeaders => "bad URI headers",
        })
    }
}

impl std::error::Error for UriError {}

/// A parsed URI: spans into the buffer it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    /// The scheme.
    pub scheme: Scheme,
    /// The whole URI text.
    pub whole: Span,
    /// User part (sip/sips), or the number (tel); escapes kept.
    pub user: Option<Span>,
    /// Password (sip/sips).
    pub password: Option<Span>,
    /// Host, brackets included for IPv6; empty for tel/opaque.
    pub host: Span,
    /// What the host is.
    pub host_kind: HostKind,
    /// Port, when written.
    pub port: Option<u16>,
    /// `;name[=value]` parameters.
    pub params: Params,
    /// The `?h=v&...` headers, without the `?`.
    pub headers: Option<Span>,
}

// RFC 3261 §25.1 character classes (unreserved = alphanum / "-_.!~*'()").
static USER_CHARS: [bool; 256] = byte_class(true, b"-_.!~*'()&=+$,;?/");
static PASSWORD_CHARS: [bool; 256] = byte_class(true, b"-_.!~*'()&=+$,");
static PARAM_CHARS: [bool; 256] = byte_class(true, b"-_.!~*'()[]/:&+$");
static HEADER_CHARS: [bool; 256] = byte_class(true, b"-_.!~*'()[]/?:+$&=");
static TEL_CHARS: [bool; 256] = byte_class(true, b"-_.!~*'()+#*/");
/// hostname characters (IPv4 text included), RFC 3261 §25.1; also the
/// Via sent-by's.
pub(crate) static HOST_CHARS: [bool; 256] = byte_class(true, b"-._");

/// Checks that every byte is in `ok` or a valid `%XX` escape.
fn valid_escaped(s: &[u8], ok: &[bool; 256]) -> bool {
    // Escapes are rare: the plain walk first.
    let mut i = scan_until(s, 0, s.len(), |b| !ok[b as usize]);
    while i < s.len() {
        if ok[s[i] as usize] {
            i += 1;
        } else if s[i] == b'%'
            && s.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            i += 3;
        } else {
            return false;
        }
    }
    true
}

/// Decodes `%XX` escapes (bytes as they are, `%00` included).
pub fn unescape(s: &[u8]) -> Cow<'_, [u8]> {
    if !s.contains(&b'%') {
        return Cow::Borrowed(s);
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            if let (Some(h), Some(l)) = (s.get(i + 1).and_then(|&b| hex(b)), s.get(i + 2).and_then(|&b| hex(b))) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn is_ipv4(h: &[u8]) -> bool {
    ipv4_octets(h).is_some()
}

/// The address of a dotted-quad IPv4 text (four groups of 1-3 digits,
/// each ≤ 255), in one pass.
pub(crate) fn ipv4_octets(h: &[u8]) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let (mut group, mut digits, mut value) = (0, 0, 0u32);
    for &b in h {
        if b == b'.' {
            if digits == 0 || group == 3 {
                return None;
            }
            octets[group] = value as u8;
            group += 1;
            (digits, value) = (0, 0);
        } else {
            let v = b.wrapping_sub(b'0');
            if v > 9 || digits == 3 {
                return None;
            }
            value = value * 10 + u32::from(v);
            digits += 1;
            if value > 255 {
                return None;
            }
        }
    }
    if group != 3 || digits == 0 {
        return None;
    }
    octets[3] = value as u8;
    Some(octets)
}

impl Scheme {
    /// The scheme of the URI text `s` and where its colon is; an error
    /// when `s` has no `scheme:` (RFC 3261 §25.1). Classifies without
    /// parsing the rest (a proxy's 416 check needs only this).
    #[inline]
    pub fn of_uri(s: &[u8]) -> Result<(Scheme, usize), UriError> {
        // nearly every URI a SIP server sees starts with `sip:`
        if let Some(head) = s.get(..4) {
            if head[3] == b':' && head[..3].eq_ignore_ascii_case(b"sip") {
                return Ok((Scheme::Sip, 3));
            }
        }
        let colon = find_byte(s, b':').ok_or(UriError::MissingScheme)?;
        let scheme_txt = &s[..colon];
        if scheme_txt.is_empty()
            || !scheme_txt[0].is_ascii_alphabetic()
            || !scheme_txt.iter().all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(UriError::MissingScheme);
        }
        let scheme = if scheme_txt.eq_ignore_ascii_case(b"sip") {
            Scheme::Sip
        } else if scheme_txt.eq_ignore_ascii_case(b"sips") {
            Scheme::Sips
        } else if scheme_txt.eq_ignore_ascii_case(b"tel") {
            Scheme::Tel
        } else {
            Scheme::Other
        };
        Ok((scheme, colon))
    }
}

impl Uri {
    /// Parses the URI in `span` of `buf`.
    pub fn parse(buf: &[u8], span: Span) -> Result<Uri, UriError> {
        let s = span.get(buf);
        let base = span.off as usize;
        let (scheme, colon) = Scheme::of_uri(s)?;
        let mut uri = Uri {
            scheme,
            whole: span,
            user: None,
            password: None,
            host: Span::new(base + s.len(), base + s.len()),
            host_kind: HostKind::None,
            port: None,
            params: Params::default(),
            headers: None,
        };
        let rest = colon + 1;
        match scheme {
            Scheme::Other => Ok(uri),
            Scheme::Tel => {
                let end = s[rest..].iter().position(|&b| b == b';').map_or(s.len(), |p| rest + p);
                if end == rest || !valid_escaped(&s[rest..end], &TEL_CHARS) {
                    return Err(UriError::BadUser);
                }
                uri.user = Some(Span::new(base + rest, base + end));
                let (params, stop) = parse_params(buf, base + end, span.end(), false).ok_or(UriError::BadParam)?;
                if stop != span.end() {
                    return Err(UriError::BadParam);
                }
                uri.params = params;
                Ok(uri)
            }
            Scheme::Sip | Scheme::Sips => {
                Self::parse_sip(buf, base, s, rest, &mut uri)?;
                Ok(uri)
            }
        }
    }

    fn parse_sip(buf: &[u8], base: usize, s: &[u8], rest: usize, uri: &mut Uri) -> Result<(), UriError> {
        let mut i = rest;
        if let Some(at) = find_byte(&s[rest..], b'@').map(|p| rest + p) {
            let userinfo = &s[rest..at];
            let (user, pass) = match userinfo.iter().position(|&b| b == b':') {
                Some(c) => (&userinfo[..c], Some((rest + c + 1, at))),
                None => (userinfo, None),
            };
            if user.is_empty() || !valid_escaped(user, &USER_CHARS) {
                return Err(UriError::BadUser);
            }
            uri.user = Some(Span::new(base + rest, base + rest + user.len()));
            if let Some((ps, pe)) = pass {
                if !valid_escaped(&s[ps..pe], &PASSWORD_CHARS) {
                    return Err(UriError::BadPassword);
                }
                uri.password = Some(Span::new(base + ps, base + pe));
            }
            i = at + 1;
        }
        let hs = i;
        if s.get(i) == Some(&b'[') {
            let close = s[i..].iter().position(|&b| b == b']').ok_or(UriError::BadHost)? + i;
            let inner = &s[i + 1..close];
            if inner.len() < 2 || !inner.iter().all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
                return Err(UriError::BadHost);
            }
            i = close + 1;
            uri.host_kind = HostKind::Ipv6;
        } else {
            i = scan_until(s, i, s.len(), |b| !HOST_CHARS[b as usize]);
            let host = &s[hs..i];
            if host.is_empty() || host.starts_with(b".") || host.starts_with(b"-") {
                return Err(UriError::BadHost);
            }
            uri.host_kind = if host[0].is_ascii_digit() && is_ipv4(host) { HostKind::Ipv4 } else { HostKind::Name };
        }
        uri.host = Span::new(base + hs, base + i);
        if s.get(i) == Some(&b':') {
            let ps = i + 1;
            i = ps;
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
            let digits = &s[ps..i];
            let port = super::scan::parse_u32(digits, 65_535).ok_or(UriError::BadPort)?;
            uri.port = Some(port as u16);
        }
        let end = base + s.len();
        let (params, stop) = parse_params_checked(buf, base + i, end, true, |p| {
            valid_escaped(p.name.get(buf), &PARAM_CHARS)
                && p.value.is_none_or(|v| valid_escaped(v.get(buf), &PARAM_CHARS))
        })
        .ok_or(UriError::BadParam)?;
        uri.params = params;
        if stop < end {
            if buf[stop] != b'?' {
                return Err(if stop == base + i { UriError::BadHost } else { UriError::BadParam });
            }
            let h = Span::new(stop + 1, end);
            if !valid_escaped(h.get(buf), &HEADER_CHARS) {
                return Err(UriError::BadHeaders);
            }
            uri.headers = Some(h);
        }
        Ok(())
    }

    /// The parameter named `name` (case-insensitive).
    pub fn param(&self, buf: &[u8], name: &str) -> Option<Param> {
        self.params.get(buf, name)
    }

    /// The value of parameter `name`, empty for a flag parameter.
    pub fn param_value<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        self.params.value(buf, name)
    }

    /// `;lr` present (loose routing).
    pub fn lr(&self, buf: &[u8]) -> bool {
        self.param(buf, "lr").is_some()
    }

    /// `;transport=` value.
    pub fn transport<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.param_value(buf, "transport")
    }

    /// `;maddr=` value.
    pub fn maddr<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.param_value(buf, "maddr")
    }

    /// `;ttl=` value.
    pub fn ttl<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.param_value(buf, "ttl")
    }

    /// `;user=` value (`phone`, `ip`).
    pub fn user_param<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.param_value(buf, "user")
    }

    /// `;method=` value.
    pub fn method_param<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.param_value(buf, "method")
    }

    /// RFC 3261 §19.1.4 comparison of two sip/sips URIs (`a` parsed from
    /// `abuf`, `b` from `bbuf`). Other schemes compare as case-insensitive
    /// text after unescaping.
    pub fn equals(&self, abuf: &[u8], other: &Uri, bbuf: &[u8]) -> bool {
        if self.scheme != other.scheme {
            return false;
        }
        if !matches!(self.scheme, Scheme::Sip | Scheme::Sips) {
            return unescape(self.whole.get(abuf)).eq_ignore_ascii_case(&unescape(other.whole.get(bbuf)));
        }
        let text = |s: Option<Span>, buf: &[u8]| s.map(|s| unescape(s.get(buf)).into_owned());
        if text(self.user, abuf) != text(other.user, bbuf) || text(self.password, abuf) != text(other.password, bbuf) {
            return false;
        }
        if !self.host.get(abuf).eq_ignore_ascii_case(other.host.get(bbuf)) || self.port != other.port {
            return false;
        }
        let pval = |buf: &[u8], p: &Param| -> Vec<u8> {
            p.value.map(|v| unescape(v.get(buf)).to_ascii_lowercase()).unwrap_or_default()
        };
        // user, ttl, method, maddr, transport: must agree, present or not.
        for name in ["user", "ttl", "method", "maddr", "transport"] {
            let a = self.param(abuf, name).map(|p| pval(abuf, &p));
            let b = other.param(bbuf, name).map(|p| pval(bbuf, &p));
            if a != b {
                return false;
            }
        }
        // Other parameters: compared only when both have them.
        for pa in self.params.iter(abuf) {
            let name = unescape(pa.name.get(abuf)).to_ascii_lowercase();
            let pb = other.params.iter(bbuf).find(|pb| unescape(pb.name.get(bbuf)).eq_ignore_ascii_case(&name));
            if let Some(pb) = pb {
                if pval(abuf, &pa) != pval(bbuf, &pb) {
                    return false;
                }
            }
        }
        // Headers: every one must be in both, same values.
        let hdrs = |h: Option<Span>, buf: &[u8]| -> Vec<(Vec<u8>, Vec<u8>)> {
            let mut v: Vec<(Vec<u8>, Vec<u8>)> = h
                .map(|h| {
                    h.get(buf)
                        .split(|&b| b == b'&')
                        .filter(|kv| !kv.is_empty())
                        .map(|kv| {
                            let (k, v) = kv.split_at(kv.iter().position(|&b| b == b'=').unwrap_or(kv.len()));
                            (unescape(k).to_ascii_lowercase(), unescape(v.get(1..).unwrap_or(b"")).into_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        };
        hdrs(self.headers, abuf) == hdrs(other.headers, bbuf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Uri, UriError> {
        Uri::parse(s, Span::new(0, s.len()))
    }

    #[test]
    fn sip_uri_parts() {
        let s = b"sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr;maddr=239.255.255.1;ttl=15?subject=hi&priority=urgent";
        let u = parse(s).unwrap();
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.user.unwrap().get(s), b"alice");
        assert_eq!(u.password.unwrap().get(s), b"secret");
        assert_eq!(u.host.get(s), b"[2001:db8::1]");
        assert_eq!(u.host_kind, HostKind::Ipv6);
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport(s), Some(&b"tcp"[..]));
        assert!(u.lr(s));
        assert_eq!(u.maddr(s), Some(&b"239.255.255.1"[..]));
        assert_eq!(u.ttl(s), Some(&b"15"[..]));
        assert_eq!(u.headers.unwrap().get(s), b"subject=hi&priority=urgent");
        let v4 = parse(b"sip:10.0.0.1").unwrap();
        assert_eq!((v4.host_kind, v4.user), (HostKind::Ipv4, None));
    }

    #[test]
    fn escapes_are_kept_and_nul_is_not_truncation() {
        let s = b"sip:%61lice%00x;p=1@example.com";
        let u = parse(s).unwrap();
        assert_eq!(u.user.unwrap().get(s), b"%61lice%00x;p=1");
        assert_eq!(&*unescape(u.user.unwrap().get(s)), b"alice\0x;p=1");
        assert_eq!(u.host.get(s), b"example.com");
        assert_eq!(parse(b"sip:a%4@h").unwrap_err(), UriError::BadUser);
        assert_eq!(parse(b"sip:a%G1@h").unwrap_err(), UriError::BadUser);
    }

    #[test]
    fn tel_and_other_schemes() {
        let s = b"tel:+1-201-555-0123;phone-context=example.com";
        let u = parse(s).unwrap();
        assert_eq!(u.scheme, Scheme::Tel);
        assert_eq!(u.user.unwrap().get(s), b"+1-201-555-0123");
        assert_eq!(u.param_value(s, "phone-context"), Some(&b"example.com"[..]));
        let o = parse(b"name:John_Smith").unwrap();
        assert_eq!(o.scheme, Scheme::Other);
        assert_eq!(parse(b"nocolon").unwrap_err(), UriError::MissingScheme);
    }

    #[test]
    fn ipv4_texts() {
        for (text, want) in [
            ("127.0.0.1", Some([127, 0, 0, 1])),
            ("255.255.255.255", Some([255; 4])),
            ("0.0.0.0", Some([0; 4])),
            ("10.020.3.4", Some([10, 20, 3, 4])),
            ("256.0.0.1", None),
            ("1.2.3", None),
            ("1.2.3.4.5", None),
            ("1..3.4", None),
            (".1.2.3", None),
            ("1.2.3.", None),
            ("1.2.3.4a", None),
            ("1000.2.3.4", None),
            ("", None),
            ("a.b.c.d", None),
        ] {
            assert_eq!(ipv4_octets(text.as_bytes()), want, "{text}");
            assert_eq!(is_ipv4(text.as_bytes()), want.is_some(), "{text}");
        }
    }

    #[test]
    fn malformed_sip_uris() {
        assert_eq!(parse(b"sip:").unwrap_err(), UriError::BadHost);
        assert_eq!(parse(b"sip:user@").unwrap_err(), UriError::BadHost);
        assert_eq!(parse(b"sip:h:99999").unwrap_err(), UriError::BadPort);
        assert_eq!(parse(b"sip:h:").unwrap_err(), UriError::BadPort);
        assert_eq!(parse(b"sip:[::1").unwrap_err(), UriError::BadHost);
        assert_eq!(parse(b"sip:h;=x").unwrap_err(), UriError::BadParam);
        assert_eq!(parse(b"sip:<h>").unwrap_err(), UriError::BadHost);
        assert_eq!(parse(b"sip:h?a=<b>").unwrap_err(), UriError::BadHeaders);
    }

    fn eq(a: &[u8], b: &[u8]) -> bool {
        parse(a).unwrap().equals(a, &parse(b).unwrap(), b)
    }

    #[test]
    fn rfc3261_19_1_4_equivalence() {
        // Equivalent pairs from §19.1.4.
        assert!(eq(b"sip:%61lice@atlanta.com;transport=TCP", b"sip:alice@AtLanTa.CoM;Transport=tcp"));
        assert!(eq(b"sip:carol@chicago.com", b"sip:carol@chicago.com;newparam=5"));
        assert!(eq(b"sip:carol@chicago.com;security=on", b"sip:carol@chicago.com;newparam=5"));
        assert!(eq(
            b"sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            b"sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"
        ));
        assert!(eq(
            b"sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            b"sip:alice@atlanta.com?priority=urgent&subject=project%20x"
        ));
        // Non-equivalent pairs.
        assert!(!eq(b"SIP:ALICE@AtLanTa.CoM;Transport=udp", b"sip:alice@AtLanTa.CoM;Transport=UDP"));
        assert!(!eq(b"sip:bob@biloxi.com", b"sip:bob@biloxi.com:5060"));
        assert!(!eq(b"sip:bob@biloxi.com", b"sip:bob@biloxi.com;transport=udp"));
        assert!(!eq(b"sip:bob@biloxi.com", b"sip:bob@biloxi.com:6000;transport=tcp"));
        assert!(!eq(b"sip:carol@chicago.com", b"sip:carol@chicago.com?Subject=next%20meeting"));
        assert!(!eq(b"sip:bob@phone21.boxesbybob.com", b"sip:bob@192.0.2.4"));
        assert!(!eq(b"sip:carol@chicago.com;security=on", b"sip:carol@chicago.com;security=off"));
    }
}
