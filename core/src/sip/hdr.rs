//! Typed header values, parsed on demand from a header's value span. Every
//! field is a [`Span`] into the message buffer (or a number), so parsed
//! headers copy into shm with the buffer.

use super::headers::HeaderKind;
use super::message::Span;
use super::scan::{
    find_byte, is_lws, is_token_char, parse_params, parse_params_checked, parse_u32, quoted_end, scan_until, skip_lws,
    token_end, trim, ListIter, Param, Params,
};
use super::uri::{Uri, UriError, HOST_CHARS};

/// Why a header value is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// Empty value where one is required.
    Empty,
    /// Malformed `SIP/2.0/UDP` part of a Via.
    BadSentProtocol,
    /// Malformed host or port.
    BadHostPort,
    /// Malformed `;name=value` list.
    BadParams,
    /// Unbalanced quotes or angle brackets.
    Unbalanced,
    /// Display name that is neither tokens nor a quoted string.
    BadDisplayName,
    /// The URI inside is malformed.
    BadUri(UriError),
    /// An addr-spec with `,`, `;` or `?` in its URI (needs `<...>`).
    AddrSpecNeedsBrackets,
    /// A number that is not one, or out of range.
    BadNumber,
    /// A token where something else stands.
    BadToken,
    /// More elements than the header allows (one name-addr in From/To).
    TooManyValues,
    /// Garbage after the value.
    TrailingGarbage,
}

impl HeaderError {
    /// A short description for reason phrases and logs.
    pub fn what(&self) -> &'static str {
        match self {
            HeaderError::Empty => "empty value",
            HeaderError::BadSentProtocol => "bad sent-protocol",
            HeaderError::BadHostPort => "bad host or port",
            HeaderError::BadParams => "bad parameters",
            HeaderError::Unbalanced => "unbalanced quotes or brackets",
            HeaderError::BadDisplayName => "bad display name",
            HeaderError::BadUri(_) => "bad URI",
            HeaderError::AddrSpecNeedsBrackets => "URI with , ; or ? must be in <>",
            HeaderError::BadNumber => "bad number",
            HeaderError::BadToken => "bad token",
            HeaderError::TooManyValues => "too many values",
            HeaderError::TrailingGarbage => "trailing garbage",
        }
    }
}

/// The `;name=value` list that must close a header element: from `i` to
/// `end`, nothing but parameters and whitespace.
fn params_to_end(buf: &[u8], i: usize, end: usize) -> Result<Params, HeaderError> {
    let (params, stop) = params_to_element_end(buf, i, end)?;
    if stop != end {
        return Err(HeaderError::TrailingGarbage);
    }
    Ok(params)
}

/// The `;name=value` list that closes one element of a comma list: returns
/// it and where the element ends — at the `,` that follows, or at `end`.
fn params_to_element_end(buf: &[u8], i: usize, end: usize) -> Result<(Params, usize), HeaderError> {
    let (params, stop) = parse_params(buf, i, end, false).ok_or(HeaderError::BadParams)?;
    let stop = skip_lws(buf, stop, end);
    if stop != end && buf[stop] != b',' {
        return Err(HeaderError::TrailingGarbage);
    }
    Ok((params, stop))
}

/// Drives an element parser over a comma list in one pass: each element
/// parser finds its own end (no separate splitting scan). Empty elements
/// (`a,,b`) are skipped; `max_one` makes a second element an error.
fn parse_elements<T>(
    buf: &[u8],
    value: Span,
    max_one: bool,
    mut element: impl FnMut(&[u8], usize, usize) -> Result<(T, usize), HeaderError>,
    mut each: impl FnMut(T),
) -> Result<usize, HeaderError> {
    let (mut i, end) = (value.off as usize, value.end());
    let mut n = 0;
    loop {
        i = skip_lws(buf, i, end);
        if i == end {
            return if n == 0 { Err(HeaderError::Empty) } else { Ok(n) };
        }
        if buf[i] == b',' {
            i += 1;
            continue;
        }
        if max_one && n == 1 {
            return Err(HeaderError::TooManyValues);
        }
        let (t, stop) = element(buf, i, end)?;
        each(t);
        n += 1;
        i = stop;
    }
}

/// Trims trailing LWS off `[start, stop)`.
fn element_span(buf: &[u8], start: usize, stop: usize) -> Span {
    let mut e = stop;
    while e > start && is_lws(buf[e - 1]) {
        e -= 1;
    }
    Span::new(start, e)
}

/// Bytes that end an addr-spec URI: `;` `,` `?` and LWS.
static ADDR_SPEC_END: [bool; 256] = super::scan::byte_class(false, b";,? \t\r\n");

/// One Via entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The whole entry.
    pub whole: Span,
    /// `SIP/2.0`.
    pub protocol: Span,
    /// `UDP`, `TCP`, `TLS`, `SCTP`, `WS`, ... as written.
    pub transport: Span,
    /// sent-by host (IPv6 with brackets).
    pub host: Span,
    /// sent-by port.
    pub port: Option<u16>,
    /// All parameters.
    pub params: Params,
    /// `;branch` and `;rport`, found once at parsing: every hop asks for
    /// them (matching, reply routing, received/rport) several times.
    known: KnownViaParams,
}

/// Where a Via's `branch` and `rport` parameters are (`None` when absent;
/// the inner `None` for one without a value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct KnownViaParams {
    branch: Option<Option<Span>>,
    rport: Option<Option<Span>>,
}

impl Via {
    fn param<'b>(&self, buf: &'b [u8], name: &str) -> Option<Option<&'b [u8]>> {
        self.params.get(buf, name).map(|p| p.value.map(|v| v.get(buf)))
    }

    /// `;branch=`.
    pub fn branch<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.known.branch.flatten().map(|v| v.get(buf))
    }

    /// `;received=`.
    pub fn received<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.param(buf, "received").flatten()
    }

    /// Whether the sent-by host is the address `ip` (compared as
    /// addresses, an IPv6 reference with or without brackets): when it is
    /// not, a server adds `received=` (RFC 3261 §18.2.1).
    pub fn sent_by_is(&self, buf: &[u8], ip: std::net::IpAddr) -> bool {
        let host = self.host.get(buf);
        match ip {
            // the usual case, without std's general address parser
            std::net::IpAddr::V4(v4) => super::uri::ipv4_octets(host) == Some(v4.octets()),
            std::net::IpAddr::V6(v6) => {
                let host = host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")).unwrap_or(host);
                std::str::from_utf8(host).ok().and_then(|h| h.parse::<std::net::Ipv6Addr>().ok()) == Some(v6)
            }
        }
    }

    /// `;rport`: `None` absent, `Some(None)` without value, `Some(Some(p))`.
    pub fn rport(&self, buf: &[u8]) -> Option<Option<u16>> {
        self.known.rport.map(|v| v.and_then(|v| parse_u32(v.get(buf), 65_535)).map(|p| p as u16))
    }

    /// `;alias` (RFC 5923: the sender offers its connection for requests
    /// to its sent-by address).
    pub fn alias(&self, buf: &[u8]) -> bool {
        self.params.get(buf, "alias").is_some()
    }

    /// `;maddr=`.
    pub fn maddr<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.param(buf, "maddr").flatten()
    }

    /// `;ttl=`.
    pub fn ttl<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.param(buf, "ttl").flatten()
    }

    /// Parses the first Via entry of a header value only.
    pub fn parse_first(buf: &[u8], value: Span) -> Result<Via, HeaderError> {
        let i = skip_lws(buf, value.off as usize, value.end());
        if i == value.end() {
            return Err(HeaderError::Empty);
        }
        Self::parse_at(buf, i, value.end()).map(|(v, _)| v)
    }

    /// Where the next non-empty entry starts in `rest` (what follows an
    /// entry in its header value: `, next...`), if there is one.
    pub fn second_in(buf: &[u8], rest: Span) -> Option<usize> {
        let (mut i, end) = (rest.off as usize, rest.end());
        while i < end && (buf[i] == b',' || is_lws(buf[i])) {
            i += 1;
        }
        (i < end).then_some(i)
    }

    /// Checks every Via entry of one header value without keeping them.
    pub fn check_list(buf: &[u8], value: Span) -> Result<usize, HeaderError> {
        parse_elements(buf, value, false, Self::parse_at, drop)
    }

    /// Parses every Via entry of one header value.
    pub fn parse_list(buf: &[u8], value: Span) -> Result<Vec<Via>, HeaderError> {
        let mut out = Vec::new();
        parse_elements(buf, value, false, Self::parse_at, |v| out.push(v))?;
        Ok(out)
    }

    /// One entry starting at `start`; returns it and where it ends (the
    /// following `,` or `end`).
    fn parse_at(buf: &[u8], start: usize, end: usize) -> Result<(Via, usize), HeaderError> {
        let mut i = start;
        // protocol-name / version / transport, LWS allowed around slashes.
        let mut parts = [Span::default(); 3];
        for (n, part) in parts.iter_mut().enumerate() {
            i = skip_lws(buf, i, end);
            let s = i;
            i = token_end(buf, i, end);
            if i == s {
                return Err(HeaderError::BadSentProtocol);
            }
            *part = Span::new(s, i);
            i = skip_lws(buf, i, end);
            if n < 2 {
                if i >= end || buf[i] != b'/' {
                    return Err(HeaderError::BadSentProtocol);
                }
                i += 1;
            }
        }
        let protocol = Span::new(parts[0].off as usize, parts[1].end());
        let (host, port, after) = parse_host_port(buf, i, end)?;
        // one walk validates the parameters and finds branch and rport
        // (the first of each counts, as a search by name finds it)
        let mut known = KnownViaParams::default();
        let (params, stop) = parse_params_checked(buf, after, end, false, |p| {
            if known.branch.is_none() && p.is(buf, "branch") {
                known.branch = Some(p.value);
            } else if known.rport.is_none() && p.is(buf, "rport") {
                known.rport = Some(p.value);
            }
            true
        })
        .ok_or(HeaderError::BadParams)?;
        let stop = skip_lws(buf, stop, end);
        if stop != end && buf[stop] != b',' {
            return Err(HeaderError::TrailingGarbage);
        }
        let whole = element_span(buf, start, stop);
        Ok((Via { whole, protocol, transport: parts[2], host, port, params, known }, stop))
    }
}

/// host [":" port] starting at `i` (after optional LWS); returns the host
/// span, the port and the index after them.
fn parse_host_port(buf: &[u8], i: usize, end: usize) -> Result<(Span, Option<u16>, usize), HeaderError> {
    let mut i = skip_lws(buf, i, end);
    let hs = i;
    if i < end && buf[i] == b'[' {
        while i < end && buf[i] != b']' {
            if !(buf[i] == b'[' || buf[i].is_ascii_hexdigit() || buf[i] == b':' || buf[i] == b'.') {
                return Err(HeaderError::BadHostPort);
            }
            i += 1;
        }
        if i == end {
            return Err(HeaderError::BadHostPort);
        }
        i += 1;
    } else {
        i = scan_until(buf, i, end, |b| !HOST_CHARS[b as usize]);
    }
    if i == hs {
        return Err(HeaderError::BadHostPort);
    }
    let host = Span::new(hs, i);
    let j = skip_lws(buf, i, end);
    if j < end && buf[j] == b':' {
        let ps = skip_lws(buf, j + 1, end);
        let mut k = ps;
        while k < end && buf[k].is_ascii_digit() {
            k += 1;
        }
        let port = parse_u32(&buf[ps..k], 65_535).ok_or(HeaderError::BadHostPort)?;
        return Ok((host, Some(port as u16), k));
    }
    Ok((host, None, i))
}

/// A name-addr or addr-spec with header parameters: From, To, Contact,
/// Route, Record-Route, Path, Refer-To, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The whole element.
    pub whole: Span,
    /// Display name (quotes kept when quoted).
    pub display: Option<Span>,
    /// The URI text (without `<>`).
    pub uri_span: Span,
    /// The URI, parsed.
    pub uri: Uri,
    /// Header parameters after the URI (`;tag=`, `;expires=`, `;q=`...).
    pub params: Params,
}

impl NameAddr {
    /// Parses one element that must fill `span`.
    pub fn parse(buf: &[u8], span: Span) -> Result<NameAddr, HeaderError> {
        let span = trim(buf, span);
        if span.len == 0 {
            return Err(HeaderError::Empty);
        }
        let (na, stop) = Self::parse_at(buf, span.off as usize, span.end())?;
        if stop != span.end() {
            return Err(HeaderError::TooManyValues);
        }
        Ok(na)
    }

    /// One element starting at `start` (not LWS); returns it and where it
    /// ends (the following `,` or `end`).
    fn parse_at(buf: &[u8], start: usize, end: usize) -> Result<(NameAddr, usize), HeaderError> {
        let mut i = start;
        let mut display = None;
        // The form is decided by what comes first: a quote or '<' (name-addr),
        // tokens then '<' (name-addr with a token display name), or a scheme
        // token then ':' (addr-spec).
        let angle = match buf[i] {
            b'"' => {
                let q = quoted_end(buf, i, end).ok_or(HeaderError::Unbalanced)?;
                display = Some(Span::new(i, q));
                i = skip_lws(buf, q, end);
                true
            }
            b'<' => true,
            _ => {
                let mut j = i;
                while j < end && (is_token_char(buf[j]) || is_lws(buf[j])) {
                    j += 1;
                }
                match buf.get(j) {
                    Some(b'<') if j < end => {
                        display = Some(element_span(buf, i, j));
                        i = j;
                        true
                    }
                    Some(b':') if j < end => false,
                    _ => return Err(HeaderError::BadDisplayName),
                }
            }
        };
        let (uri_span, after) = if angle {
            if i >= end || buf[i] != b'<' {
                return Err(HeaderError::BadDisplayName);
            }
            let us = i + 1;
            let ue = find_byte(&buf[us..end], b'>').map(|p| us + p).ok_or(HeaderError::Unbalanced)?;
            (Span::new(us, ue), ue + 1)
        } else {
            // addr-spec: the URI runs to ';' (header params), ',' or LWS;
            // one with '?' needs the <> form.
            let mut ue = i;
            while ue < end && !ADDR_SPEC_END[buf[ue] as usize] {
                ue += 1;
            }
            if ue < end && buf[ue] == b'?' {
                return Err(HeaderError::AddrSpecNeedsBrackets);
            }
            (Span::new(i, ue), ue)
        };
        let uri = Uri::parse(buf, uri_span).map_err(HeaderError::BadUri)?;
        let (params, stop) = params_to_element_end(buf, after, end)?;
        let whole = element_span(buf, start, stop);
        Ok((NameAddr { whole, display, uri_span, uri, params }, stop))
    }

    /// Checks every element of a list without keeping them.
    pub fn check_list(buf: &[u8], value: Span) -> Result<usize, HeaderError> {
        parse_elements(buf, value, false, Self::parse_at, drop)
    }

    /// Parses a comma-separated list (Contact, Route, Record-Route, Path).
    pub fn parse_list(buf: &[u8], value: Span) -> Result<Vec<NameAddr>, HeaderError> {
        let mut out = Vec::new();
        parse_elements(buf, value, false, Self::parse_at, |n| out.push(n))?;
        Ok(out)
    }

    /// Parses a header that holds exactly one element (From, To).
    pub fn parse_single(buf: &[u8], value: Span) -> Result<NameAddr, HeaderError> {
        let mut one = None;
        parse_elements(buf, value, true, Self::parse_at, |n| one = Some(n))?;
        one.ok_or(HeaderError::Empty)
    }

    /// A header parameter's value (empty for a flag).
    pub fn param<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        self.params.value(buf, name)
    }

    /// `;tag=`.
    pub fn tag<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.param(buf, "tag")
    }

    /// `;expires=` as seconds (saturating at u32::MAX).
    pub fn expires(&self, buf: &[u8]) -> Option<u32> {
        self.param(buf, "expires").and_then(parse_delta_seconds)
    }

    /// `;q=` in thousandths (q=0.5 → 500); `None` if absent or malformed.
    pub fn q(&self, buf: &[u8]) -> Option<u16> {
        let v = self.param(buf, "q")?;
        let (int, frac) = v.split_at(v.iter().position(|&b| b == b'.').unwrap_or(v.len()));
        let frac = frac.get(1..).unwrap_or(b"");
        if int.len() != 1 || frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut q = match int[0] {
            b'0' => 0u16,
            b'1' if frac.iter().all(|&d| d == b'0') => 1000,
            _ => return None,
        };
        for (k, d) in frac.iter().enumerate() {
            q += (d - b'0') as u16 * [100, 10, 1][k];
        }
        Some(q)
    }

    /// `;+sip.instance=` (quotes kept).
    pub fn instance<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.param(buf, "+sip.instance")
    }

    /// `;reg-id=`.
    pub fn reg_id(&self, buf: &[u8]) -> Option<u32> {
        self.param(buf, "reg-id").and_then(|v| parse_u32(v, u32::MAX))
    }
}

/// Contact: `*` or a list of bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// `Contact: *` (remove all bindings).
    Star,
    /// The bindings.
    List(Vec<NameAddr>),
}

impl Contact {
    /// Checks a Contact header value without keeping the bindings.
    pub fn check(buf: &[u8], value: Span) -> Result<(), HeaderError> {
        if trim(buf, value).get(buf) == b"*" {
            return Ok(());
        }
        NameAddr::check_list(buf, value).map(drop)
    }

    /// Parses a Contact header value.
    pub fn parse(buf: &[u8], value: Span) -> Result<Contact, HeaderError> {
        if trim(buf, value).get(buf) == b"*" {
            return Ok(Contact::Star);
        }
        NameAddr::parse_list(buf, value).map(Contact::List)
    }
}

/// delta-seconds; values beyond 2^32-1 saturate (RFC 3261 §20.19 leaves
/// room; RFC 4475 scalar02 lets a huge Expires be tolerated).
pub fn parse_delta_seconds(v: &[u8]) -> Option<u32> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().try_fold(0u32, |n, d| n.checked_mul(10)?.checked_add((d - b'0') as u32)).unwrap_or(u32::MAX))
}

/// CSeq: sequence number (≤ 2^31-1, RFC 3261 §8.1.1.5) and method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq {
    /// The number.
    pub seq: u32,
    /// The method text.
    pub method: Span,
}

impl CSeq {
    /// Parses a CSeq value.
    pub fn parse(buf: &[u8], value: Span) -> Result<CSeq, HeaderError> {
        let v = trim(buf, value);
        let (s, end) = (v.off as usize, v.end());
        let mut i = s;
        while i < end && buf[i].is_ascii_digit() {
            i += 1;
        }
        let seq = parse_u32(&buf[s..i], i32::MAX as u32).ok_or(HeaderError::BadNumber)?;
        let ms = skip_lws(buf, i, end);
        if ms == i {
            return Err(HeaderError::BadToken);
        }
        let me = token_end(buf, ms, end);
        if me == ms || me != end {
            return Err(HeaderError::BadToken);
        }
        Ok(CSeq { seq, method: Span::new(ms, me) })
    }
}

/// A header whose value is one number (Max-Forwards, Expires,
/// Min-Expires, Content-Length).
pub fn parse_number(buf: &[u8], value: Span, kind: HeaderKind) -> Result<u32, HeaderError> {
    let v = trim(buf, value).get(buf);
    match kind {
        HeaderKind::Expires | HeaderKind::MinExpires => parse_delta_seconds(v).ok_or(HeaderError::BadNumber),
        _ => parse_u32(v, i32::MAX as u32).ok_or(HeaderError::BadNumber),
    }
}

/// Content-Type: `type/subtype;params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// `application`.
    pub mtype: Span,
    /// `sdp`.
    pub subtype: Span,
    /// Parameters (`boundary=`, `charset=`).
    pub params: Params,
}

impl ContentType {
    /// Parses a Content-Type value.
    pub fn parse(buf: &[u8], value: Span) -> Result<ContentType, HeaderError> {
        let v = trim(buf, value);
        let end = v.end();
        let ts = v.off as usize;
        let te = token_end(buf, ts, end);
        let slash = skip_lws(buf, te, end);
        if te == ts || slash >= end || buf[slash] != b'/' {
            return Err(HeaderError::BadToken);
        }
        let ss = skip_lws(buf, slash + 1, end);
        let se = token_end(buf, ss, end);
        if se == ss {
            return Err(HeaderError::BadToken);
        }
        let params = params_to_end(buf, se, end)?;
        Ok(ContentType { mtype: Span::new(ts, te), subtype: Span::new(ss, se), params })
    }

    /// Whether it is `mtype/subtype` (case-insensitive).
    pub fn is(&self, buf: &[u8], mtype: &str, subtype: &str) -> bool {
        self.mtype.get(buf).eq_ignore_ascii_case(mtype.as_bytes())
            && self.subtype.get(buf).eq_ignore_ascii_case(subtype.as_bytes())
    }
}

/// The elements of a comma-separated header value (`a, "b,c", <d,e>`):
/// split at the commas outside quotes and angle brackets, each element
/// trimmed; empty elements are skipped, as in any SIP list.
pub fn list_items(buf: &[u8], value: Span) -> Vec<Span> {
    let v = value.get(buf);
    let base = value.off as usize;
    let mut out = Vec::new();
    let (mut start, mut quoted, mut angle, mut i) = (0, false, false, 0);
    let push = |a: usize, b: usize, out: &mut Vec<Span>| {
        let s = &v[a..b];
        let lead = s.len() - s.trim_ascii_start().len();
        let t = s.trim_ascii();
        if !t.is_empty() {
            out.push(Span::new(base + a + lead, base + a + lead + t.len()));
        }
    };
    while i < v.len() {
        match v[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => {
                push(start, i, &mut out);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    push(start, v.len(), &mut out);
    out
}

/// A comma-separated token list (Supported, Require, Proxy-Require,
/// Unsupported, Allow, Allow-Events).
/// One pass: tokens separated by commas, LWS around them; an empty
/// element (`a,,b`) is skipped as in any SIP list.
pub fn parse_tokens(buf: &[u8], value: Span) -> Result<Vec<Span>, HeaderError> {
    let mut out = Vec::with_capacity(8);
    visit_tokens(buf, value, |t| out.push(t))?;
    Ok(out)
}

/// [`parse_tokens`] without keeping the tokens: each goes to `each`.
pub fn visit_tokens(buf: &[u8], value: Span, mut each: impl FnMut(Span)) -> Result<(), HeaderError> {
    let (mut i, end) = (value.off as usize, value.end());
    loop {
        i = skip_lws(buf, i, end);
        if i == end {
            return Ok(());
        }
        if buf[i] == b',' {
            i += 1;
            continue;
        }
        let s = i;
        i = token_end(buf, i, end);
        if i == s {
            return Err(HeaderError::BadToken);
        }
        each(Span::new(s, i));
        i = skip_lws(buf, i, end);
        if i < end && buf[i] != b',' {
            return Err(HeaderError::BadToken);
        }
    }
}

/// Event: `event-type *(;param)` (RFC 6665).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `presence`, `reg`, `dialog`...
    pub package: Span,
    /// Parameters (`id=`).
    pub params: Params,
}

impl Event {
    /// Parses an Event value.
    pub fn parse(buf: &[u8], value: Span) -> Result<Event, HeaderError> {
        let v = trim(buf, value);
        let (s, end) = (v.off as usize, v.end());
        let e = token_end(buf, s, end);
        if e == s {
            return Err(HeaderError::BadToken);
        }
        let params = params_to_end(buf, e, end)?;
        Ok(Event { package: Span::new(s, e), params })
    }

    /// `;id=`.
    pub fn id<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.params.get(buf, "id").and_then(|p| p.value).map(|v| v.get(buf))
    }
}

/// Authorization / Proxy-Authorization credentials and WWW- /
/// Proxy-Authenticate challenges: a scheme and `name=value` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams {
    /// `Digest`.
    pub scheme: Span,
    /// The pairs; quoted values keep their quotes in `value`.
    pub params: Vec<Param>,
}

impl AuthParams {
    /// Parses a credentials or challenge value.
    pub fn parse(buf: &[u8], value: Span) -> Result<AuthParams, HeaderError> {
        let v = trim(buf, value);
        let (s, end) = (v.off as usize, v.end());
        let se = token_end(buf, s, end);
        if se == s {
            return Err(HeaderError::BadToken);
        }
        let rest = Span::new(se, end);
        if rest.len > 0 && !is_lws(buf[se]) {
            return Err(HeaderError::BadToken);
        }
        // Sized for a digest response's usual nine or ten pairs: one
        // allocation, where growing from empty took four.
        let mut params = Vec::with_capacity(12);
        for part in ListIter::new(buf, rest) {
            let part = part.map_err(|()| HeaderError::Unbalanced)?;
            let (ps, pe) = (part.off as usize, part.end());
            let ne = token_end(buf, ps, pe);
            let eq = skip_lws(buf, ne, pe);
            if ne == ps || eq >= pe || buf[eq] != b'=' {
                return Err(HeaderError::BadParams);
            }
            let vs = skip_lws(buf, eq + 1, pe);
            if vs < pe && buf[vs] == b'"' && quoted_end(buf, vs, pe) != Some(pe) {
                return Err(HeaderError::Unbalanced);
            }
            params.push(Param { name: Span::new(ps, ne), value: Some(Span::new(vs, pe)) });
        }
        Ok(AuthParams { scheme: Span::new(s, se), params })
    }

    /// A parameter's value with surrounding quotes removed.
    pub fn get<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        let v = self.params.iter().find(|p| p.is(buf, name))?.value?.get(buf);
        Some(if v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"' { &v[1..v.len() - 1] } else { v })
    }

    /// Whether the scheme is Digest.
    pub fn is_digest(&self, buf: &[u8]) -> bool {
        self.scheme.get(buf).eq_ignore_ascii_case(b"Digest")
    }
}

/// Date (RFC 3261 §20.17: RFC 1123 form, always GMT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipDate {
    /// Year, e.g. 2010.
    pub year: u16,
    /// Month 1–12.
    pub month: u8,
    /// Day 1–31.
    pub day: u8,
    /// Hour 0–23.
    pub hour: u8,
    /// Minute 0–59.
    pub minute: u8,
    /// Second 0–60 (leap second).
    pub second: u8,
}

const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
const MONTHS: [&[u8]; 12] =
    [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

/// The proleptic Gregorian (year, month 1–12, day 1–31) of a day counted
/// from 1970-01-01 (Howard Hinnant's days-from-civil inverse).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The day counted from 1970-01-01 of a proleptic Gregorian date: the
/// inverse of [`civil`].
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl SipDate {
    /// The Unix time (seconds since 1970, UTC) of the date.
    pub fn to_unix(&self) -> i64 {
        days_from_civil(i64::from(self.year), u32::from(self.month), u32::from(self.day)) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// The date of a Unix time (seconds since 1970, UTC).
    pub fn from_unix(secs: u64) -> SipDate {
        let days = (secs / 86_400) as i64;
        let (y, m, d) = civil(days);
        let rest = secs % 86_400;
        SipDate {
            year: y as u16,
            month: m as u8,
            day: d as u8,
            hour: (rest / 3600) as u8,
            minute: (rest / 60 % 60) as u8,
            second: (rest % 60) as u8,
        }
    }

    /// RFC 1123 text, as the Date header carries it: `Sat, 13 Nov 2010
    /// 23:29:00 GMT`.
    pub fn to_text(&self) -> String {
        // the weekday of a civil date (Sakamoto's method: 0 = Sunday)
        let t = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
        let y = u32::from(self.year) - u32::from(self.month < 3);
        let wd = (y + y / 4 - y / 100 + y / 400 + t[usize::from(self.month - 1)] + u32::from(self.day)) % 7;
        let day_name = DAYS[((wd + 6) % 7) as usize];
        format!(
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
            String::from_utf8_lossy(day_name),
            self.day,
            String::from_utf8_lossy(MONTHS[usize::from(self.month - 1)]),
            self.year,
            self.hour,
            self.minute,
            self.second
        )
    }

    /// `2010-11-13 23:29:00`, as Kamailio's RPC listings print a time.
    pub fn to_iso_text(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// Parses `Sat, 13 Nov 2010 23:29:00 GMT`.
    pub fn parse(buf: &[u8], value: Span) -> Result<SipDate, HeaderError> {
        let v = trim(buf, value).get(buf);
        let bad = HeaderError::BadToken;
        // "Www, DD Mmm YYYY HH:MM:SS GMT" is exactly 29 bytes.
        if v.len() != 29 || &v[3..5] != b", " || v[7] != b' ' || v[11] != b' ' || v[16] != b' ' || &v[25..] != b" GMT" {
            return Err(bad);
        }
        if !DAYS.contains(&&v[0..3]) {
            return Err(bad);
        }
        let num = |s: &[u8]| -> Result<u16, HeaderError> {
            if s.iter().all(u8::is_ascii_digit) {
                Ok(s.iter().fold(0u16, |n, d| n * 10 + (d - b'0') as u16))
            } else {
                Err(HeaderError::BadNumber)
            }
        };
        let month = MONTHS.iter().position(|m| *m == &v[8..11]).ok_or(bad)? as u8 + 1;
        let (day, year) = (num(&v[5..7])? as u8, num(&v[12..16])?);
        if v[19] != b':' || v[22] != b':' {
            return Err(bad);
        }
        let (hour, minute, second) = (num(&v[17..19])? as u8, num(&v[20..22])? as u8, num(&v[23..25])? as u8);
        if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
            return Err(HeaderError::BadNumber);
        }
        Ok(SipDate { year, month, day, hour, minute, second })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(b: &[u8]) -> Span {
        Span::new(0, b.len())
    }

    #[test]
    fn via_list_with_params_and_lws() {
        let b = b"SIP / 2.0 / UDP 192.0.2.1:5060 ;branch=z9hG4bK1;rport;received=10.0.0.1, SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bK2;rport=5070;maddr=224.2.0.1;ttl=16";
        let v = Via::parse_list(b, all(b)).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].protocol.get(b), b"SIP / 2.0");
        assert_eq!(v[0].transport.get(b), b"UDP");
        assert_eq!(v[0].host.get(b), b"192.0.2.1");
        assert_eq!(v[0].port, Some(5060));
        assert_eq!(v[0].branch(b), Some(&b"z9hG4bK1"[..]));
        assert_eq!(v[0].rport(b), Some(None));
        assert_eq!(v[0].received(b), Some(&b"10.0.0.1"[..]));
        assert_eq!(v[1].host.get(b), b"[2001:db8::9]");
        assert_eq!(v[1].rport(b), Some(Some(5070)));
        assert_eq!(v[1].maddr(b), Some(&b"224.2.0.1"[..]));
        assert_eq!(v[1].ttl(b), Some(&b"16"[..]));
        assert!(!v[0].alias(b) && !v[1].alias(b));
        let b = b"SIP/2.0/TLS h;alias, SIP/2.0/TCP h;ALIAS;x, SIP/2.0/UDP h:7";
        let v = Via::parse_list(b, all(b)).unwrap();
        assert!(v[0].alias(b) && v[1].alias(b));
        for bad in [&b"SIP/2.0 host"[..], b"SIP/2.0/UDP", b"SIP/2.0/UDP host:99999", b"SIP/2.0/UDP host junk", b""] {
            assert!(Via::parse_list(bad, all(bad)).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn name_addr_forms() {
        let b = br#""Bell, Alexander" <sip:a.g.bell@example.com;transport=tcp>;tag=433423"#;
        let n = NameAddr::parse_single(b, all(b)).unwrap();
        assert_eq!(n.display.unwrap().get(b), br#""Bell, Alexander""#);
        assert_eq!(n.uri_span.get(b), b"sip:a.g.bell@example.com;transport=tcp");
        assert_eq!(n.uri.transport(b), Some(&b"tcp"[..]));
        assert_eq!(n.tag(b), Some(&b"433423"[..]));
        let b = b"sip:user@example.com;tag=998332";
        let n = NameAddr::parse_single(b, all(b)).unwrap();
        assert_eq!(
            (n.display, n.uri_span.get(b), n.tag(b)),
            (None, &b"sip:user@example.com"[..], Some(&b"998332"[..]))
        );
        let b = b"caller<sip:caller@example.com>;tag=323";
        assert_eq!(NameAddr::parse_single(b, all(b)).unwrap().display.unwrap().get(b), b"caller");
        // RFC 4475 strictness: unquoted comma, unbalanced quote, spaces in <>, bare URI with '?'.
        for bad in [
            &b"Watson, Thomas <sip:t.watson@example.org>"[..],
            b"\"Mr. J. User <sip:j.user@example.com>",
            b"\"Watson, Thomas\" < sip:t.watson@example.org >",
            b"sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            b"<sip:a@b",
        ] {
            assert!(NameAddr::parse_single(bad, all(bad)).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn contact_star_list_and_params() {
        let b = b"*";
        assert_eq!(Contact::parse(b, all(b)).unwrap(), Contact::Star);
        let b = br#"<sip:a@h1>;expires=60;q=0.5;+sip.instance="<urn:uuid:1>";reg-id=1, sip:b@h2;expires=99999999999"#;
        let Contact::List(c) = Contact::parse(b, all(b)).unwrap() else { panic!() };
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].expires(b), Some(60));
        assert_eq!(c[0].q(b), Some(500));
        assert_eq!(c[0].instance(b), Some(&br#""<urn:uuid:1>""#[..]));
        assert_eq!(c[0].reg_id(b), Some(1));
        assert_eq!(c[1].expires(b), Some(u32::MAX));
    }

    #[test]
    fn cseq_numbers_types_tokens_event_auth() {
        let b = b"314159 INVITE";
        let c = CSeq::parse(b, all(b)).unwrap();
        assert_eq!((c.seq, c.method.get(b)), (314159, &b"INVITE"[..]));
        for bad in [&b"4294967296 INVITE"[..], b"2147483648 INVITE", b"1", b"x INVITE", b"1 INVITE x"] {
            assert!(CSeq::parse(bad, all(bad)).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_number(b" 70 ", all(b" 70 "), HeaderKind::MaxForwards), Ok(70));
        assert!(parse_number(b"-1", all(b"-1"), HeaderKind::MaxForwards).is_err());
        let b = b"multipart/mixed;boundary=unique-boundary-1";
        let t = ContentType::parse(b, all(b)).unwrap();
        assert!(t.is(b, "Multipart", "MIXED"));
        let b = b"100rel, timer ,path,,\r\n gruu";
        let t: Vec<&[u8]> = parse_tokens(b, all(b)).unwrap().iter().map(|s| s.get(b)).collect();
        assert_eq!(t, [&b"100rel"[..], b"timer", b"path", b"gruu"]);
        assert!(parse_tokens(b"a b", all(b"a b")).is_err());
        assert!(parse_tokens(b"a,<b>", all(b"a,<b>")).is_err());
        let b = b"presence;id=7";
        assert_eq!(Event::parse(b, all(b)).unwrap().id(b), Some(&b"7"[..]));
        let b = br#"Digest username="alice", realm="atlanta.com", nonce="84a4cc6f", uri="sip:bob@biloxi.com", response="7587245234b3434cc3412213e5f113a5", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b""#;
        let a = AuthParams::parse(b, all(b)).unwrap();
        assert!(a.is_digest(b));
        assert_eq!(a.get(b, "username"), Some(&b"alice"[..]));
        assert_eq!(a.get(b, "algorithm"), Some(&b"MD5"[..]));
        assert_eq!(a.get(b, "nc"), Some(&b"00000001"[..]));
        assert!(AuthParams::parse(b"Digest realm=\"x", all(b"Digest realm=\"x")).is_err());
    }

    #[test]
    fn civil_days_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn dates_from_unix_time() {
        for (secs, text) in [
            (1_289_690_940, "Sat, 13 Nov 2010 23:29:00 GMT"),
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        ] {
            let d = SipDate::from_unix(secs);
            assert_eq!(d.to_text(), text);
            assert_eq!(d.to_unix(), secs as i64, "{text}");
            assert_eq!(SipDate::parse(text.as_bytes(), all(text.as_bytes())).unwrap(), d);
        }
    }

    #[test]
    fn dates() {
        let b = b"Sat, 13 Nov 2010 23:29:00 GMT";
        let d = SipDate::parse(b, all(b)).unwrap();
        assert_eq!((d.year, d.month, d.day, d.hour, d.minute, d.second), (2010, 11, 13, 23, 29, 0));
        for bad in [
            &b"Fri, 01 Jan 2010 16:00:00 EST"[..],
            b"Sat, 32 Nov 2010 23:29:00 GMT",
            b"13 Nov 2010",
            b"Xyz, 13 Nov 2010 23:29:00 GMT",
        ] {
            assert!(SipDate::parse(bad, all(bad)).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
