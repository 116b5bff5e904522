//! The message: first line and header boundaries found once, as spans.

use std::cell::OnceCell;

use super::error::{ParseError, ParseErrorKind as K};
use super::hdr::{parse_number, CSeq, Contact, HeaderError, NameAddr, Via};
use super::headers::HeaderKind;
use super::scan::{find_byte, find_byte_far, has_ctl_or_space, is_token_char, rfind_byte_far, SmallList};
use super::uri::{Scheme, Uri};

/// Largest message accepted (the largest UDP payload).
pub const MAX_MESSAGE_LEN: usize = 65_535;

/// Headers kept inside the message itself; more spill to the heap.
const INLINE_HEADERS: usize = 32;

/// A byte range of the message buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Offset from the start of the buffer.
    pub off: u32,
    /// Length in bytes.
    pub len: u32,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        // Messages are at most MAX_MESSAGE_LEN bytes, so offsets fit u32.
        Span { off: start as u32, len: (end - start) as u32 }
    }

    /// The span `start..end` (for callers outside the parser).
    pub fn from_range(start: usize, end: usize) -> Span {
        Span::new(start, end)
    }

    /// The bytes this span covers in `buf`.
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        let start = self.off as usize;
        buf.get(start..start + self.len as usize).unwrap_or(&[])
    }

    /// One past the last byte.
    pub fn end(&self) -> usize {
        self.off as usize + self.len as usize
    }
}

/// Request methods; any other token is `Other` (its text is in the span).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Update,
    Prack,
    Subscribe,
    Notify,
    Message,
    Refer,
    Publish,
    /// An extension method.
    Other,
}

impl Method {
    /// The method named by `token` (methods are case-sensitive, RFC 3261 §7.1).
    pub fn from_token(token: &[u8]) -> Method {
        match token {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"REGISTER" => Method::Register,
            b"OPTIONS" => Method::Options,
            b"INFO" => Method::Info,
            b"UPDATE" => Method::Update,
            b"PRACK" => Method::Prack,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"MESSAGE" => Method::Message,
            b"REFER" => Method::Refer,
            b"PUBLISH" => Method::Publish,
            _ => Method::Other,
        }
    }

    /// Kamailio's METHOD_* number (one bit each): what `$rmid` gives and
    /// the method masks of parameters (xlog's `methods_filter`, tm's
    /// `blst_methods_*`) are made of; an extension method is METHOD_OTHER.
    pub fn id(self) -> u32 {
        match self {
            Method::Invite => 1,
            Method::Cancel => 2,
            Method::Ack => 4,
            Method::Bye => 8,
            Method::Info => 16,
            Method::Register => 32,
            Method::Subscribe => 64,
            Method::Notify => 128,
            Method::Message => 256,
            Method::Options => 512,
            Method::Prack => 1024,
            Method::Update => 2048,
            Method::Refer => 4096,
            Method::Publish => 8192,
            Method::Other => 1 << 19,
        }
    }
}

/// Kamailio's METHOD_* number of a method token ([`Method::id`], and
/// KDMQ, which Kamailio knows by name).
pub fn method_id(token: &[u8]) -> u32 {
    match Method::from_token(token) {
        Method::Other if token == b"KDMQ" => 16384,
        m => m.id(),
    }
}

/// The first line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstLine {
    /// `METHOD Request-URI SIP/2.0`
    Request {
        /// The method.
        method: Method,
        /// Its text.
        method_span: Span,
        /// The Request-URI text.
        uri: Span,
    },
    /// `SIP/2.0 CODE Reason`
    Reply {
        /// Status code, 100–699.
        code: u16,
        /// Reason phrase (may be empty).
        reason: Span,
    },
}

/// One header line (with its continuation lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Which header.
    pub kind: HeaderKind,
    /// The name as written.
    pub name: Span,
    /// The value without surrounding whitespace; folded lines stay inside.
    pub value: Span,
    /// The whole header line(s), name to line terminator inclusive: what
    /// removing the header deletes.
    pub line: Span,
}

/// A parsed message borrowing its receive buffer.
#[derive(Debug, Clone)]
pub struct SipMsg<'a> {
    buf: &'a [u8],
    first: FirstLine,
    headers: SmallList<Header, INLINE_HEADERS>,
    body: Span,
    content_length: Option<usize>,
    parsed: Parsed,
}

type Cached<T> = OnceCell<Result<T, ParseError>>;

/// Header bodies parsed so far: each is parsed the first time it is asked
/// for, then kept (as Kamailio's parse_headers fills msg->h_via1 etc.).
#[derive(Debug, Clone, Default)]
struct Parsed {
    ruri: Cached<Uri>,
    via1: Cached<Via>,
    vias: Cached<Vec<Via>>,
    from: Cached<NameAddr>,
    to: Cached<NameAddr>,
    cseq: Cached<CSeq>,
    contact: Cached<Option<Contact>>,
    routes: Cached<Vec<NameAddr>>,
    record_routes: Cached<Vec<NameAddr>>,
    max_forwards: Cached<Option<u32>>,
    expires: Cached<Option<u32>>,
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_sip20(v: &[u8]) -> bool {
    v.eq_ignore_ascii_case(b"SIP/2.0")
}

/// End of the line starting at `pos`: (index of its last content byte + 1,
/// index after its line terminator). Accepts CRLF and bare LF. A line is
/// long enough (and the rest of the buffer longer) for `memchr`'s vector
/// search to pay for its set-up, unlike the short spans `find_byte` takes.
#[inline]
fn line_end(buf: &[u8], pos: usize) -> Result<(usize, usize), ParseError> {
    let nl =
        pos + find_byte_far(&buf[pos..], b'\n').ok_or_else(|| ParseError::at(K::UnterminatedHeaders, buf.len()))?;
    let end = if nl > pos && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
    Ok((end, nl + 1))
}

fn parse_first_line(buf: &[u8], start: usize, end: usize) -> Result<FirstLine, ParseError> {
    let line = &buf[start..end];
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        let sp = find_byte(line, b' ').ok_or(ParseError::at(K::BadFirstLine, start))?;
        if !is_sip20(&line[..sp]) {
            return Err(ParseError::at(K::UnsupportedVersion, start));
        }
        let rest = &line[sp + 1..];
        let code = rest.get(..3).filter(|c| c.iter().all(u8::is_ascii_digit));
        let code = code.ok_or(ParseError::at(K::BadStatusCode, start + sp + 1))?;
        let code = code.iter().fold(0u16, |n, d| n * 10 + (d - b'0') as u16);
        if !(100..=699).contains(&code) || rest.get(3).is_some_and(|&b| b != b' ') {
            return Err(ParseError::at(K::BadStatusCode, start + sp + 1));
        }
        let reason_start = (start + sp + 5).min(end);
        return Ok(FirstLine::Reply { code, reason: Span::new(reason_start, end) });
    }
    let msp = find_byte(line, b' ').ok_or(ParseError::at(K::BadFirstLine, start))?;
    let method = &line[..msp];
    if method.is_empty() || !method.iter().all(|&b| is_token_char(b)) {
        return Err(ParseError::at(K::BadMethod, start));
    }
    let uri_start = msp + 1;
    let usp = rfind_byte_far(line, b' ')
        .filter(|&i| i > uri_start)
        .ok_or(ParseError::at(K::BadRequestUri, start + uri_start))?;
    let version = &line[usp + 1..];
    if !is_sip20(version) {
        let kind = if version.len() > 4 && version[..4].eq_ignore_ascii_case(b"SIP/") {
            K::UnsupportedVersion
        } else {
            K::BadFirstLine
        };
        return Err(ParseError::at(kind, start + usp + 1));
    }
    let uri = &line[uri_start..usp];
    if has_ctl_or_space(uri) {
        return Err(ParseError::at(K::BadRequestUri, start + uri_start));
    }
    Ok(FirstLine::Request {
        method: Method::from_token(method),
        method_span: Span::new(start, start + msp),
        uri: Span::new(start + uri_start, start + usp),
    })
}

/// The header name of the line `buf[pos..end]`: its span, its kind and
/// the index after the colon. The usual case costs a colon search and a
/// few word compares: a name that is a known header's is made of token
/// characters, only another name is checked byte by byte. Whatever fails
/// is re-scanned the slow way, which says what is wrong and where.
#[inline]
fn header_name(buf: &[u8], pos: usize, end: usize) -> Result<(Span, HeaderKind, usize), ParseError> {
    if let Some(colon) = find_byte(&buf[pos..end], b':').map(|c| pos + c) {
        let mut name_end = colon;
        while name_end > pos && is_ws(buf[name_end - 1]) {
            name_end -= 1;
        }
        let kind = HeaderKind::from_name_at(buf, pos, name_end - pos);
        if name_end > pos && (kind != HeaderKind::Other || buf[pos..name_end].iter().all(|&b| is_token_char(b))) {
            return Ok((Span::new(pos, name_end), kind, colon + 1));
        }
    }
    let line = &buf[pos..end];
    let name_len = line.iter().position(|&b| !is_token_char(b)).unwrap_or(line.len());
    if name_len == 0 {
        return Err(ParseError::at(K::BadHeaderName, pos));
    }
    let name = Span::new(pos, pos + name_len);
    let mut i = pos + name_len;
    while i < end && is_ws(buf[i]) {
        i += 1;
    }
    if i == end || buf[i] != b':' {
        return Err(ParseError::in_header(K::MissingColon, i, name.get(buf)));
    }
    Ok((name, HeaderKind::from_name(name.get(buf)), i + 1))
}

impl<'a> SipMsg<'a> {
    /// Parses a whole datagram: first line, header boundaries and the body
    /// as Content-Length says (bytes beyond it are ignored, RFC 3261 §18.3).
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<SipMsg<'a>, ParseError> {
        Self::scan(buf, true)
    }

    /// Parses the first line and the headers up to the empty line; the
    /// body span is left empty at the body's offset.
    pub(crate) fn parse_head(buf: &'a [u8]) -> Result<SipMsg<'a>, ParseError> {
        Self::scan(buf, false)
    }

    /// The one pass behind both. The message is large (its header list is
    /// inline, ~1.6 KB): it is built once, in the `result` every path
    /// after the first line returns, and its headers are filled in there;
    /// callers use it where the result holds it (`match &parsed`) rather
    /// than moving it out, since every move is a copy.
    #[inline(always)]
    fn scan(buf: &'a [u8], datagram: bool) -> Result<SipMsg<'a>, ParseError> {
        if buf.len() > MAX_MESSAGE_LEN {
            return Err(ParseError::at(K::TooLarge, MAX_MESSAGE_LEN));
        }
        // RFC 3261 §7.5: CRLFs before the start line are ignored.
        let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').ok_or(ParseError::at(K::Empty, 0))?;
        let (fl_end, pos) = line_end(buf, start)?;
        let first = parse_first_line(buf, start, fl_end)?;
        let mut result = Ok(SipMsg {
            buf,
            first,
            headers: SmallList::new(),
            body: Span::default(),
            content_length: None,
            parsed: Parsed::default(),
        });
        if let Ok(msg) = &mut result {
            if let Err(e) = msg.scan_headers(pos, datagram) {
                result = Err(e);
            }
        }
        result
    }

    /// The headers from `pos` (the line after the first) to the empty
    /// line, and the body.
    #[inline(always)]
    fn scan_headers(&mut self, mut pos: usize, datagram: bool) -> Result<(), ParseError> {
        let buf = self.buf;
        loop {
            let (end, next) = line_end(buf, pos)?;
            if end == pos {
                pos = next;
                break;
            }
            let (name, kind, mut i) = header_name(buf, pos, end)?;
            // The value runs on over continuation lines (leading SP/HT).
            let (mut vend, mut after) = (end, next);
            while after < buf.len() && is_ws(buf[after]) {
                let (e, n) = line_end(buf, after)?;
                vend = e;
                after = n;
            }
            while i < vend && matches!(buf[i], b' ' | b'\t' | b'\r' | b'\n') {
                i += 1;
            }
            while vend > i && matches!(buf[vend - 1], b' ' | b'\t' | b'\r' | b'\n') {
                vend -= 1;
            }
            let value = Span::new(i, vend);
            if kind == HeaderKind::ContentLength {
                let v = value.get(buf);
                let n = (!v.is_empty() && v.len() <= 9 && v.iter().all(u8::is_ascii_digit))
                    .then(|| v.iter().fold(0usize, |n, d| n * 10 + (d - b'0') as usize))
                    .ok_or_else(|| ParseError::in_header(K::BadContentLength, value.off as usize, name.get(buf)))?;
                if self.content_length.is_some_and(|old| old != n) {
                    return Err(ParseError::in_header(K::BadContentLength, value.off as usize, name.get(buf)));
                }
                self.content_length = Some(n);
            }
            self.headers.push(Header { kind, name, value, line: Span::new(pos, after) });
            pos = after;
        }
        // The body: as Content-Length says for a datagram (bytes beyond it
        // are not body, RFC 3261 §18.3); empty at its offset for a stream
        // head, which the framing sizes itself.
        let len = match self.content_length {
            _ if !datagram => 0,
            Some(cl) if cl > buf.len() - pos => return Err(ParseError::at(K::BodyTruncated, pos)),
            Some(cl) => cl,
            None => buf.len() - pos,
        };
        self.body = Span::new(pos, pos + len);
        Ok(())
    }

    /// The buffer the spans point into.
    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }

    /// The first line.
    pub fn first_line(&self) -> &FirstLine {
        &self.first
    }

    /// Whether it is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.first, FirstLine::Request { .. })
    }

    /// The method of a request.
    pub fn method(&self) -> Option<Method> {
        match self.first {
            FirstLine::Request { method, .. } => Some(method),
            FirstLine::Reply { .. } => None,
        }
    }

    /// The method's text: the request line's, or for a reply the CSeq's
    /// (what `$rm`, `method ==` and `is_method` look at). `None` for a
    /// reply whose CSeq does not parse.
    pub fn method_text(&self) -> Option<&'a [u8]> {
        match self.first {
            FirstLine::Request { method_span, .. } => Some(method_span.get(self.buf)),
            FirstLine::Reply { .. } => self.cseq().ok().map(|c| c.method.get(self.buf)),
        }
    }

    /// The status code of a reply.
    pub fn status(&self) -> Option<u16> {
        match self.first {
            FirstLine::Reply { code, .. } => Some(code),
            FirstLine::Request { .. } => None,
        }
    }

    /// The Request-URI text of a request.
    pub fn request_uri(&self) -> Option<&'a [u8]> {
        match self.first {
            FirstLine::Request { uri, .. } => Some(uri.get(self.buf)),
            FirstLine::Reply { .. } => None,
        }
    }

    /// Every header, in order.
    pub fn headers(&self) -> &[Header] {
        self.headers.as_slice()
    }

    /// The first header of a kind.
    pub fn header(&self, kind: HeaderKind) -> Option<&Header> {
        self.headers().iter().find(|h| h.kind == kind)
    }

    /// The value of the first header of a kind.
    pub fn header_value(&self, kind: HeaderKind) -> Option<&'a [u8]> {
        self.header(kind).map(|h| h.value.get(self.buf))
    }

    /// Every header named `name` (case-insensitive; known names also match
    /// their compact form).
    pub fn headers_named<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'s Header> + 's {
        let kind = HeaderKind::from_name(name);
        self.headers().iter().filter(move |h| {
            if kind == HeaderKind::Other {
                h.kind == HeaderKind::Other && h.name.get(self.buf).eq_ignore_ascii_case(name)
            } else {
                h.kind == kind
            }
        })
    }

    /// The Content-Length value, if the header is present.
    pub fn content_length(&self) -> Option<usize> {
        self.content_length
    }

    /// The body.
    pub fn body(&self) -> &'a [u8] {
        self.body.get(self.buf)
    }

    /// Where the body starts.
    pub fn body_span(&self) -> Span {
        self.body
    }

    /// Where the header section ends: the offset of the empty line.
    pub fn headers_end(&self) -> usize {
        self.headers().last().map_or_else(|| self.first_line_end(), |h| h.line.end())
    }

    /// Offset just after the first line's terminator.
    pub fn first_line_end(&self) -> usize {
        let start = match self.first {
            FirstLine::Request { method_span, .. } => method_span.off as usize,
            FirstLine::Reply { reason, .. } => reason.off as usize,
        };
        memchr::memchr(b'\n', &self.buf[start..]).map_or(self.buf.len(), |i| start + i + 1)
    }

    fn cached<'s, T>(
        &'s self,
        cell: &'s Cached<T>,
        f: impl FnOnce() -> Result<T, ParseError>,
    ) -> Result<&'s T, ParseError> {
        cell.get_or_init(f).as_ref().map_err(Clone::clone)
    }

    fn header_error(&self, h: &Header, e: HeaderError) -> ParseError {
        ParseError::in_header(K::BadHeader(e), h.value.off as usize, h.name.get(self.buf))
    }

    pub(crate) fn required(&self, kind: HeaderKind) -> Result<&Header, ParseError> {
        self.header(kind).ok_or_else(|| {
            ParseError::named(K::MissingHeader, self.body.off as usize, kind.canonical_name().unwrap_or("header"))
        })
    }

    /// The Request-URI, parsed (requests only).
    pub fn ruri(&self) -> Result<&Uri, ParseError> {
        self.cached(&self.parsed.ruri, || match self.first {
            FirstLine::Request { uri, .. } => {
                Uri::parse(self.buf, uri).map_err(|e| ParseError::at(K::BadUri(e), uri.off as usize))
            }
            FirstLine::Reply { .. } => Err(ParseError::at(K::BadFirstLine, 0)),
        })
    }

    /// The topmost Via entry: parses only the first Via header.
    pub fn via1(&self) -> Result<&Via, ParseError> {
        self.cached(&self.parsed.via1, || {
            let h = self.required(HeaderKind::Via)?;
            Via::parse_first(self.buf, h.value).map_err(|e| self.header_error(h, e))
        })
    }

    /// Whether a Via entry follows the top one (a reply to pass upstream
    /// needs one). As Kamailio's via2, that entry is parsed (an error when
    /// it is malformed) and any after it are not.
    pub fn has_second_via(&self) -> Result<bool, ParseError> {
        let top = self.via1()?;
        let mut vias = self.headers().iter().filter(|h| h.kind == HeaderKind::Via);
        let Some(h) = vias.next() else { return Ok(false) };
        // the rest of the top Via header, then the next Via header
        let rest = Span::new(top.whole.end().min(h.value.end()), h.value.end());
        let (span, hdr) = match Via::second_in(self.buf, rest) {
            Some(at) => (Span::new(at, h.value.end()), h),
            None => match vias.next() {
                Some(next) => (next.value, next),
                None => return Ok(false),
            },
        };
        Via::parse_first(self.buf, span).map(|_| true).map_err(|e| self.header_error(hdr, e))
    }

    /// Every Via entry of every Via header, top first.
    pub fn vias(&self) -> Result<&[Via], ParseError> {
        self.cached(&self.parsed.vias, || {
            let mut all = Vec::new();
            for h in self.headers().iter().filter(|h| h.kind == HeaderKind::Via) {
                all.extend(Via::parse_list(self.buf, h.value).map_err(|e| self.header_error(h, e))?);
            }
            Ok(all)
        })
        .map(Vec::as_slice)
    }

    fn name_addr(&self, kind: HeaderKind) -> Result<NameAddr, ParseError> {
        let h = self.required(kind)?;
        NameAddr::parse_single(self.buf, h.value).map_err(|e| self.header_error(h, e))
    }

    /// From.
    pub fn from(&self) -> Result<&NameAddr, ParseError> {
        self.cached(&self.parsed.from, || self.name_addr(HeaderKind::From))
    }

    /// To.
    pub fn to(&self) -> Result<&NameAddr, ParseError> {
        self.cached(&self.parsed.to, || self.name_addr(HeaderKind::To))
    }

    /// CSeq.
    pub fn cseq(&self) -> Result<&CSeq, ParseError> {
        self.cached(&self.parsed.cseq, || {
            let h = self.required(HeaderKind::CSeq)?;
            CSeq::parse(self.buf, h.value).map_err(|e| self.header_error(h, e))
        })
    }

    /// Call-ID value.
    pub fn call_id(&self) -> Result<&'a [u8], ParseError> {
        let h = self.required(HeaderKind::CallId)?;
        let v = h.value.get(self.buf);
        if v.is_empty() || has_ctl_or_space(v) {
            return Err(self.header_error(h, HeaderError::BadToken));
        }
        Ok(v)
    }

    /// All Contact headers merged; `None` without Contact. `*` must stand
    /// alone.
    pub fn contact(&self) -> Result<Option<&Contact>, ParseError> {
        self.cached(&self.parsed.contact, || {
            let mut out: Option<Contact> = None;
            for h in self.headers().iter().filter(|h| h.kind == HeaderKind::Contact) {
                let c = Contact::parse(self.buf, h.value).map_err(|e| self.header_error(h, e))?;
                out = Some(match (out, c) {
                    (None, c) => c,
                    (Some(Contact::List(mut a)), Contact::List(b)) => {
                        a.extend(b);
                        Contact::List(a)
                    }
                    _ => return Err(self.header_error(h, HeaderError::TooManyValues)),
                });
            }
            Ok(out)
        })
        .map(Option::as_ref)
    }

    fn name_addr_list(&self, kind: HeaderKind) -> Result<Vec<NameAddr>, ParseError> {
        let mut all = Vec::new();
        for h in self.headers().iter().filter(|h| h.kind == kind) {
            all.extend(NameAddr::parse_list(self.buf, h.value).map_err(|e| self.header_error(h, e))?);
        }
        Ok(all)
    }

    /// Every Route entry, in order.
    pub fn routes(&self) -> Result<&[NameAddr], ParseError> {
        self.cached(&self.parsed.routes, || self.name_addr_list(HeaderKind::Route)).map(Vec::as_slice)
    }

    /// Every Record-Route entry, in order.
    pub fn record_routes(&self) -> Result<&[NameAddr], ParseError> {
        self.cached(&self.parsed.record_routes, || self.name_addr_list(HeaderKind::RecordRoute)).map(Vec::as_slice)
    }

    fn number(&self, kind: HeaderKind) -> Result<Option<u32>, ParseError> {
        self.header(kind)
            .map(|h| parse_number(self.buf, h.value, kind).map_err(|e| self.header_error(h, e)))
            .transpose()
    }

    /// Max-Forwards, if present.
    pub fn max_forwards(&self) -> Result<Option<u32>, ParseError> {
        self.cached(&self.parsed.max_forwards, || self.number(HeaderKind::MaxForwards)).copied()
    }

    /// Expires header, if present (delta-seconds, saturating).
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.cached(&self.parsed.expires, || self.number(HeaderKind::Expires)).copied()
    }

    /// Parses every header with its typed parser (the lists completely),
    /// without caching: the cost of "full parse" in the benchmark, and a
    /// strict validity check. Returns how many headers had a typed parser.
    pub fn parse_all_headers(&self) -> Result<usize, ParseError> {
        use super::hdr::{visit_tokens, AuthParams, ContentType, Event, SipDate};
        let buf = self.buf;
        let mut typed = 0;
        if self.is_request() {
            self.ruri()?;
        }
        for h in self.headers() {
            let v = h.value;
            let r = match h.kind {
                HeaderKind::Via => Via::check_list(buf, v).map(drop),
                HeaderKind::From | HeaderKind::To => NameAddr::parse_single(buf, v).map(drop),
                HeaderKind::Contact => Contact::check(buf, v),
                HeaderKind::Route | HeaderKind::RecordRoute | HeaderKind::Path => {
                    NameAddr::parse_list(buf, v).map(drop)
                }
                HeaderKind::CSeq => CSeq::parse(buf, v).map(drop),
                HeaderKind::MaxForwards | HeaderKind::Expires | HeaderKind::MinExpires | HeaderKind::ContentLength => {
                    parse_number(buf, v, h.kind).map(drop)
                }
                HeaderKind::ContentType => ContentType::parse(buf, v).map(drop),
                HeaderKind::Supported
                | HeaderKind::Require
                | HeaderKind::ProxyRequire
                | HeaderKind::Unsupported
                | HeaderKind::Allow
                | HeaderKind::AllowEvents => visit_tokens(buf, v, drop),
                HeaderKind::Event => Event::parse(buf, v).map(drop),
                HeaderKind::Authorization
                | HeaderKind::ProxyAuthorization
                | HeaderKind::WwwAuthenticate
                | HeaderKind::ProxyAuthenticate => AuthParams::parse(buf, v).map(drop),
                HeaderKind::Date => SipDate::parse(buf, v).map(drop),
                HeaderKind::CallId => self.call_id().map(drop).map_err(|_| HeaderError::BadToken),
                _ => continue,
            };
            r.map_err(|e| self.header_error(h, e))?;
            typed += 1;
        }
        Ok(typed)
    }

    /// The checks Kamailio's core makes before its script runs, and no
    /// more: the top Via parses (a reply goes by it); no header that must
    /// be single is given twice (Kamailio parses such a message no further:
    /// no reply, no header PV, nothing the script could do works); a
    /// request has a From, a To that parses, a Call-ID and a CSeq with a
    /// number and a method. Anything else (a bad From or Max-Forwards, a
    /// CSeq method unlike the request's, Proxy-Require, an unknown scheme)
    /// is the script's to judge (`sanity_check`).
    pub fn validate_minimal(&self) -> Result<(), ParseError> {
        self.via1()?;
        self.no_duplicate_singletons()?;
        if self.is_request() {
            self.required(HeaderKind::From)?;
            self.required(HeaderKind::CallId)?;
            self.to()?;
            self.cseq_tokens()?;
        }
        Ok(())
    }

    /// The CSeq's two tokens, number and method, unchecked beyond being
    /// there (Kamailio's core takes `CSeq: -5 OPTIONS`; the typed
    /// [`cseq`](Self::cseq) refuses it).
    pub fn cseq_tokens(&self) -> Result<(&'a [u8], &'a [u8]), ParseError> {
        let h = self.required(HeaderKind::CSeq)?;
        let mut it =
            h.value.get(self.buf).split(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n')).filter(|t| !t.is_empty());
        match (it.next(), it.next()) {
            (Some(n), Some(m)) => Ok((n, m)),
            _ => Err(self.header_error(h, HeaderError::BadToken)),
        }
    }

    /// Each header a message may carry once (From, To, Call-ID, CSeq,
    /// Max-Forwards, Content-Length) is there at most once; the error
    /// names the second one. Kamailio parses no message further than such
    /// a duplicate (no reply can be built from it).
    pub fn no_duplicate_singletons(&self) -> Result<(), ParseError> {
        use HeaderKind as H;
        // one pass over the headers (this runs for every message): a bit
        // per kind seen
        let mut seen = 0u8;
        for h in self.headers() {
            let bit = match h.kind {
                H::From => 1,
                H::To => 2,
                H::CallId => 4,
                H::CSeq => 8,
                H::MaxForwards => 16,
                H::ContentLength => 32,
                _ => continue,
            };
            if seen & bit != 0 {
                return Err(ParseError::in_header(K::DuplicateHeader, h.name.off as usize, h.name.get(self.buf)));
            }
            seen |= bit;
        }
        Ok(())
    }

    /// The checks every element applies before processing (RFC 3261
    /// §8.2, §16.3; the RFC 4475 verdicts): From, To, Call-ID, CSeq and a
    /// Via present, parseable and (but Via) single; Max-Forwards single and
    /// numeric; CSeq method equal to the request method; a sip/sips
    /// Request-URI that parses and has no headers part. Unknown schemes
    /// pass here (the 416 is sanity's / the script's decision).
    pub fn validate_basic(&self) -> Result<(), ParseError> {
        self.no_duplicate_singletons()?;
        self.via1()?;
        self.from()?;
        self.to()?;
        self.call_id()?;
        let cseq = self.cseq()?;
        self.max_forwards()?;
        if let FirstLine::Request { method_span, .. } = self.first {
            if cseq.method.get(self.buf) != method_span.get(self.buf) {
                return Err(ParseError::named(K::CSeqMethodMismatch, cseq.method.off as usize, "CSeq"));
            }
            let ruri = self.ruri()?;
            if matches!(ruri.scheme, Scheme::Sip | Scheme::Sips) && ruri.headers.is_some() {
                return Err(ParseError::at(K::HeadersInRequestUri, ruri.whole.off as usize));
            }
        }
        Ok(())
    }
}
