//! Building outgoing messages from a received one: forwarding a request
//! (RFC 3261 §16.6) or a reply (§16.7), and local replies (§8.2.6). Every
//! change is a lump on the received buffer; nothing is re-serialised.

use std::io::Write as _;
use std::net::IpAddr;

use super::emit::{self, hex8, push_decimal, push_ip};
use super::error::ParseError;
use super::hdr::Via;
use super::headers::HeaderKind;
use super::lump::{LumpError, Lumps};
use super::message::{Header, SipMsg};
use super::scan::split_list;
use crate::hash::id64;

/// RFC 3261 §8.1.1.7: branches of compliant elements start with this.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Max-Forwards a proxy puts in when the request has none (§16.6 step 3).
pub const DEFAULT_MAX_FORWARDS: u32 = 70;

/// Why a message could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// A header the build needs does not parse.
    Parse(ParseError),
    /// Max-Forwards is 0: the caller must answer 483 instead.
    TooManyHops,
    /// The reply's only Via was ours: nothing to forward it to.
    NoViaLeft,
    /// The lumps do not fit the message.
    Lump(LumpError),
    /// A request was needed, a reply was given.
    NotARequest,
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Parse(e) => write!(f, "cannot build: {e}"),
            BuildError::TooManyHops => f.write_str("Max-Forwards is 0 (reply 483 Too Many Hops)"),
            BuildError::NoViaLeft => f.write_str("reply has no Via left after ours"),
            BuildError::Lump(e) => write!(f, "cannot build: {e}"),
            BuildError::NotARequest => f.write_str("cannot build: not a request"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<ParseError> for BuildError {
    fn from(e: ParseError) -> Self {
        BuildError::Parse(e)
    }
}

impl From<LumpError> for BuildError {
    fn from(e: LumpError) -> Self {
        BuildError::Lump(e)
    }
}

/// Where a request came from, for `received` / `rport` (RFC 3261
/// §18.2.1, RFC 3581).
#[derive(Debug, Clone, Copy)]
pub struct Source {
    /// Source IP.
    pub ip: IpAddr,
    /// Source port.
    pub port: u16,
    /// The script asked for RFC 3581 behaviour (`force_rport()`) though
    /// the Via has no `rport`: `rport=PORT` is added.
    pub force_rport: bool,
}

/// The Via a forwarding element adds.
#[derive(Debug, Clone, Copy)]
pub struct ViaSpec<'s> {
    /// `UDP`, `TCP`, `TLS`, `SCTP`, `WS`, `WSS`.
    pub transport: &'s str,
    /// Host or IP (IPv6 in brackets) of the sending socket, or its
    /// advertised address.
    pub host: &'s str,
    /// Port, if it is to be written.
    pub port: Option<u16>,
    /// The branch value, cookie included.
    pub branch: &'s str,
    /// Add `;rport` (ask the next hop for RFC 3581 behaviour).
    pub rport: bool,
}

impl ViaSpec<'_> {
    /// Records the Via header line as an insertion at `off`.
    fn insert(&self, lumps: &mut Lumps, off: usize) {
        lumps.insert_with(off, |out| {
            out.extend_from_slice(b"Via: SIP/2.0/");
            out.extend_from_slice(self.transport.as_bytes());
            out.push(b' ');
            out.extend_from_slice(self.host.as_bytes());
            if let Some(p) = self.port {
                out.push(b':');
                emit::push_decimal(out, u64::from(p));
            }
            out.extend_from_slice(b";branch=");
            out.extend_from_slice(self.branch.as_bytes());
            if self.rport {
                out.extend_from_slice(b";rport");
            }
            out.extend_from_slice(b"\r\n");
        });
    }
}

/// What forwarding a request changes.
#[derive(Debug, Clone, Copy)]
pub struct ForwardRequest<'s> {
    /// Our Via.
    pub via: ViaSpec<'s>,
    /// Where the request came from (received/rport on its top Via).
    pub source: Option<Source>,
    /// New Request-URI.
    pub new_ruri: Option<&'s [u8]>,
    /// A Record-Route value to add, e.g. `<sip:192.0.2.1;lr>`.
    pub record_route: Option<&'s str>,
    /// Remove the topmost Route entry (loose routing, §16.4).
    pub pop_route: bool,
    /// Write Content-Length even if the request had none (streams).
    pub ensure_content_length: bool,
    /// The socket the request leaves from when it is not the one it came
    /// to (lumps for one side of sending choose by it: rr's double
    /// Record-Route).
    pub other_socket: Option<super::lump::OtherSocket<'s>>,
    /// Decrement Max-Forwards (adding `Max-Forwards: 70` when absent), as
    /// RFC 3261 §16.6 asks of a proxy. Kamailio's stateless `forward()`
    /// leaves the header to the maxfwd module, so the cfg layer passes
    /// false.
    pub decrement_max_forwards: bool,
}

/// Edits that RFC 3261 §18.2.1 and RFC 3581 make to the top Via of a
/// received request: `received=` when the sent-by host is not the source
/// address (compared as addresses) or `rport` is there; `rport=PORT`
/// filled in. Offsets are absolute in the message buffer.
struct ReceivedEdits {
    /// Whether `;received=` is to be added.
    received: bool,
    /// Where a forwarded request gets it: right after the sent-by (as
    /// Kamailio writes it).
    params_start: usize,
    /// Where a local reply gets it: after the last parameter (as
    /// Kamailio's sl writes it).
    via_end: usize,
    /// The `rport` parameter (name and value, if any), to become
    /// `rport=PORT`.
    rport: Option<std::ops::Range<usize>>,
    /// `;rport=PORT` to be added (`force_rport()` and no `rport` there).
    add_rport: bool,
    src: Source,
}

impl ReceivedEdits {
    fn of(msg: &SipMsg<'_>, via: &Via, src: Source) -> Self {
        let buf = msg.buf();
        // a value the client put there (RFC 3581 §3 says it must not) is
        // overwritten too, as Kamailio does: the reply goes to the port
        // the request came from
        let rport = via.params.get(buf, "rport").map(|p| p.name.off as usize..p.value.unwrap_or(p.name).end());
        // a forced rport adds received only for another address, as
        // Kamailio's force_rport()
        let wants_received = (rport.is_some() || !via.sent_by_is(buf, src.ip)) && via.received(buf).is_none();
        ReceivedEdits {
            received: wants_received,
            add_rport: rport.is_none() && src.force_rport,
            params_start: via.params.span().off as usize,
            via_end: via.whole.end(),
            rport,
            src,
        }
    }

    fn write_received(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b";received=");
        push_ip(out, self.src.ip);
    }

    fn write_rport(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"rport=");
        push_decimal(out, u64::from(self.src.port));
    }

    /// Records the edits as lumps (forwarding).
    fn record(&self, lumps: &mut Lumps) {
        if self.add_rport {
            lumps.replace_with(self.params_start, 0, |out| {
                out.push(b';');
                self.write_rport(out);
            });
        }
        if self.received {
            lumps.replace_with(self.params_start, 0, |out| self.write_received(out));
        }
        if let Some(rport) = &self.rport {
            lumps.replace_with(rport.start, rport.len(), |out| self.write_rport(out));
        }
    }

    /// Appends the Via header line `line` of `buf` with the edits made
    /// (a local reply copies this one line).
    fn write_line(&self, buf: &[u8], line: std::ops::Range<usize>, out: &mut Vec<u8>) {
        let mut cursor = line.start;
        // the rport parameter lies inside the Via, before its end
        if let Some(rport) = self.rport.as_ref().filter(|r| r.start >= cursor && r.end <= line.end) {
            out.extend_from_slice(&buf[cursor..rport.start]);
            self.write_rport(out);
            cursor = rport.end;
        }
        if (cursor..=line.end).contains(&self.via_end) {
            out.extend_from_slice(&buf[cursor..self.via_end]);
            if self.add_rport {
                out.push(b';');
                self.write_rport(out);
            }
            if self.received {
                self.write_received(out);
            }
            cursor = self.via_end;
        }
        out.extend_from_slice(&buf[cursor..line.end]);
    }
}

/// Lumps that remove the first element of a comma-list header (Via,
/// Route): the whole line when it is the only one.
fn remove_first_element(msg: &SipMsg<'_>, h: &Header, lumps: &mut Lumps) {
    let buf = msg.buf();
    match split_list(buf, h.value).as_deref() {
        Some([_first, second, ..]) => {
            lumps.delete(h.value.off as usize, second.off as usize - h.value.off as usize);
        }
        _ => lumps.delete(h.line.off as usize, h.line.len as usize),
    }
}

/// The body-length fix-up: after the other lumps, make Content-Length say
/// the body's new length (or add it when `ensure`).
fn fix_content_length(msg: &SipMsg<'_>, lumps: &mut Lumps, ensure: bool) {
    let body = msg.body_span();
    let new_len = (body.len as isize + lumps.growth_from(body.off as usize)).max(0) as usize;
    match msg.header(HeaderKind::ContentLength) {
        Some(h) if msg.content_length() != Some(new_len) => {
            lumps.replace_with(h.value.off as usize, h.value.len as usize, |out| {
                emit::push_decimal(out, new_len as u64)
            });
        }
        Some(_) => {}
        None if ensure || new_len != body.len as usize => {
            lumps.insert_with(msg.headers_end(), |out| {
                out.extend_from_slice(b"Content-Length: ");
                emit::push_decimal(out, new_len as u64);
                out.extend_from_slice(b"\r\n");
            });
        }
        None => {}
    }
}

/// Builds the request to send to the next hop: `lumps` holds the script's
/// changes; the forwarding changes are added to them. Bytes of a datagram
/// beyond Content-Length are not sent.
pub fn forward_request(msg: &SipMsg<'_>, spec: &ForwardRequest<'_>, mut lumps: Lumps) -> Result<Vec<u8>, BuildError> {
    let buf = msg.buf();
    let top = msg.first_line_end();
    // as Kamailio: our Via goes right above the first Via, wherever that
    // header stands
    let via_at = msg.header(HeaderKind::Via).map_or(top, |h| h.line.off as usize);
    spec.via.insert(&mut lumps, via_at);
    if let Some(rr) = spec.record_route {
        lumps.insert_with(top, |out| {
            out.extend_from_slice(b"Record-Route: ");
            out.extend_from_slice(rr.as_bytes());
            out.extend_from_slice(b"\r\n");
        });
    }
    if let (Some(src), Ok(via)) = (spec.source, msg.via1()) {
        ReceivedEdits::of(msg, via, src).record(&mut lumps);
    }
    if let Some(ruri) = spec.new_ruri {
        if let super::message::FirstLine::Request { uri, .. } = msg.first_line() {
            lumps.replace(uri.off as usize, uri.len as usize, ruri);
        }
    }
    if spec.decrement_max_forwards {
        match (msg.max_forwards()?, msg.header(HeaderKind::MaxForwards)) {
            (Some(0), _) => return Err(BuildError::TooManyHops),
            (Some(n), Some(h)) => lumps.replace_with(h.value.off as usize, h.value.len as usize, |out| {
                emit::push_decimal(out, u64::from(n - 1))
            }),
            _ => lumps.insert_fmt(top, format_args!("Max-Forwards: {DEFAULT_MAX_FORWARDS}\r\n")),
        }
    }
    if spec.pop_route {
        if let Some(h) = msg.header(HeaderKind::Route) {
            remove_first_element(msg, h, &mut lumps);
        }
    }
    fix_content_length(msg, &mut lumps, spec.ensure_content_length);
    let end = msg.body_span().end();
    Ok(lumps.apply_for(&buf[..end], spec.other_socket)?)
}

/// Builds the reply to pass upstream: the top Via (ours) removed.
pub fn forward_reply(msg: &SipMsg<'_>, mut lumps: Lumps) -> Result<Vec<u8>, BuildError> {
    if !msg.has_second_via()? {
        return Err(BuildError::NoViaLeft);
    }
    let h = msg.header(HeaderKind::Via).ok_or(BuildError::NoViaLeft)?;
    remove_first_element(msg, h, &mut lumps);
    fix_content_length(msg, &mut lumps, false);
    Ok(lumps.apply(&msg.buf()[..msg.body_span().end()])?)
}

/// What a local reply carries besides the copied headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplyOpts<'s> {
    /// To-tag to add when the request's To has none (ignored for 100).
    pub to_tag: Option<&'s str>,
    /// Source of the request: received/rport on the copied top Via.
    pub source: Option<Source>,
    /// `Server:` value.
    pub server: Option<&'s str>,
    /// Extra header lines, each CRLF-terminated.
    pub extra_headers: &'s [u8],
    /// Body (with its Content-Type among `extra_headers`).
    pub body: &'s [u8],
}

/// A reply generated here to `req` (RFC 3261 §8.2.6): Via(s), From, To
/// (tagged), Call-ID and CSeq copied, Record-Route too for 180..299;
/// Server; Content-Length.
pub fn local_reply(req: &SipMsg<'_>, code: u16, reason: &str, opts: &ReplyOpts<'_>) -> Result<Vec<u8>, BuildError> {
    let buf = req.buf();
    let mut out = Vec::with_capacity(512 + opts.body.len() + opts.extra_headers.len());
    out.extend_from_slice(b"SIP/2.0 ");
    push_decimal(&mut out, u64::from(code));
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    // what Kamailio's reply builder needs: a top Via and a To that parse,
    // a From, Call-ID and CSeq to copy (a duplicate of any of them never
    // gets past the core's checks)
    let via1 = req.via1()?;
    let to = req.to()?;
    req.required(HeaderKind::From)?;
    req.required(HeaderKind::CallId)?;
    req.cseq_tokens()?;
    let mut first_via = true;
    for h in req.headers() {
        let line = h.line.get(buf);
        match h.kind {
            HeaderKind::Via if first_via => {
                first_via = false;
                match opts.source {
                    Some(src) => {
                        ReceivedEdits::of(req, via1, src).write_line(buf, h.line.off as usize..h.line.end(), &mut out)
                    }
                    None => out.extend_from_slice(line),
                }
            }
            HeaderKind::Via | HeaderKind::From | HeaderKind::CallId | HeaderKind::CSeq => out.extend_from_slice(line),
            // as Kamailio: Record-Route goes into 18x and 2xx replies (the
            // ones that may establish a dialog, RFC 3261 §12.1.1), in order
            HeaderKind::RecordRoute if (180..300).contains(&code) => out.extend_from_slice(line),
            HeaderKind::To => {
                let tag = opts.to_tag.filter(|_| code > 100 && to.tag(buf).is_none());
                match tag {
                    Some(tag) => {
                        let cut = h.value.end() - h.line.off as usize;
                        out.extend_from_slice(&line[..cut]);
                        out.extend_from_slice(b";tag=");
                        out.extend_from_slice(tag.as_bytes());
                        out.extend_from_slice(&line[cut..]);
                    }
                    None => out.extend_from_slice(line),
                }
            }
            _ => {}
        }
    }
    out.extend_from_slice(opts.extra_headers);
    if let Some(server) = opts.server {
        out.extend_from_slice(b"Server: ");
        out.extend_from_slice(server.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    push_decimal(&mut out, opts.body.len() as u64);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(opts.body);
    Ok(out)
}

/// A request a transaction makes on its own from one it sent (the CANCEL
/// of a pending branch, RFC 3261 §9.1; the ACK of a negative final reply,
/// §17.1.1.3), laid out as Kamailio's (which rebuilds it from the sent
/// request): the sent request's Request-URI, then, in the order the sent
/// request has them, its top Via (so the same branch), Route headers,
/// Max-Forwards 70, From, To (the one of `reply` when given: its tag),
/// Call-ID and CSeq number with `method`; an empty body; `extra` header
/// lines (a CANCEL's Reason) after Content-Length, where Kamailio puts
/// them.
pub fn hop_request(
    sent: &SipMsg<'_>,
    method: &str,
    reply: Option<&SipMsg<'_>>,
    extra: &[u8],
) -> Result<Vec<u8>, BuildError> {
    let buf = sent.buf();
    let ruri = sent.request_uri().ok_or(BuildError::NotARequest)?;
    let (cseq_no, _) = sent.cseq_tokens()?;
    // the required headers must be there
    sent.required(HeaderKind::From)?;
    sent.required(HeaderKind::CallId)?;
    sent.required(HeaderKind::To)?;
    let via = sent.header(HeaderKind::Via).ok_or(BuildError::NoViaLeft)?;
    let reply_to = reply.and_then(|r| r.header(HeaderKind::To).map(|h| h.line.get(r.buf())));
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(ruri);
    out.extend_from_slice(b" SIP/2.0\r\n");
    let has_max_forwards = sent.header(HeaderKind::MaxForwards).is_some();
    let (mut via_done, mut from_done, mut to_done, mut callid_done, mut cseq_done) =
        (false, false, false, false, false);
    for h in sent.headers() {
        match h.kind {
            HeaderKind::Via if !via_done => {
                via_done = true;
                // the top Via alone (a folded Via line keeps its first
                // element only)
                let first_via = split_list(buf, via.value).and_then(|v| v.first().copied()).unwrap_or(via.value);
                out.extend_from_slice(b"Via: ");
                out.extend_from_slice(first_via.get(buf));
                out.extend_from_slice(b"\r\n");
                if !has_max_forwards {
                    out.extend_from_slice(b"Max-Forwards: 70\r\n");
                }
            }
            HeaderKind::Route => out.extend_from_slice(h.line.get(buf)),
            HeaderKind::MaxForwards => out.extend_from_slice(b"Max-Forwards: 70\r\n"),
            HeaderKind::From if !from_done => {
                from_done = true;
                out.extend_from_slice(h.line.get(buf));
            }
            HeaderKind::To if !to_done => {
                to_done = true;
                out.extend_from_slice(reply_to.unwrap_or(h.line.get(buf)));
            }
            HeaderKind::CallId if !callid_done => {
                callid_done = true;
                out.extend_from_slice(h.line.get(buf));
            }
            HeaderKind::CSeq if !cseq_done => {
                cseq_done = true;
                out.extend_from_slice(b"CSeq: ");
                out.extend_from_slice(cseq_no);
                out.push(b' ');
                out.extend_from_slice(method.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            _ => {}
        }
    }
    out.extend_from_slice(b"Content-Length: 0\r\n");
    out.extend_from_slice(extra);
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

/// A stateful branch: the transaction's hash bucket and label and the
/// branch number, so that a reply finds its transaction without a search
/// (as Kamailio tm encodes them): `z9hG4bK<hash>.<label>.<branch>`, hex.
pub fn stateful_branch(hash_index: u32, label: u32, branch: u16) -> String {
    let mut out = Vec::with_capacity(MAGIC_COOKIE.len() + 20);
    out.extend_from_slice(MAGIC_COOKIE.as_bytes());
    emit::push_hex(&mut out, u64::from(hash_index));
    out.push(b'.');
    emit::push_hex(&mut out, u64::from(label));
    out.push(b'.');
    emit::push_hex(&mut out, u64::from(branch));
    // the cookie and hex digits are ASCII
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes a value made by [`stateful_branch`].
pub fn decode_stateful_branch(b: &[u8]) -> Option<(u32, u32, u16)> {
    let rest = b.strip_prefix(MAGIC_COOKIE.as_bytes())?;
    let mut it = rest.split(|&c| c == b'.');
    let hex = |s: &[u8]| -> Option<u64> {
        if s.is_empty() || s.len() > 8 {
            return None;
        }
        u64::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok()
    };
    let (h, l, br) = (hex(it.next()?)?, hex(it.next()?)?, hex(it.next()?)?);
    if it.next().is_some() {
        return None;
    }
    Some((h as u32, l as u32, u16::try_from(br).ok()?))
}

/// The branch a stateless forwarder puts in its Via: a function of the
/// request, so a retransmission gets the same branch (RFC 3261 §16.11).
pub fn stateless_branch(msg: &SipMsg<'_>) -> Result<String, BuildError> {
    let buf = msg.buf();
    let via = msg.via1()?;
    let h = match via.branch(buf).filter(|b| b.starts_with(MAGIC_COOKIE.as_bytes())) {
        // A compliant upstream branch identifies the transaction.
        Some(b) => id64(&[b, via.host.get(buf), msg.request_uri().unwrap_or(b"")]),
        // RFC 2543 peer: derive it from what identifies the request.
        None => id64(&[
            msg.call_id()?,
            msg.from()?.tag(buf).unwrap_or(b""),
            &msg.cseq()?.seq.to_be_bytes(),
            msg.request_uri().unwrap_or(b""),
            via.whole.get(buf),
        ]),
    };
    let mut out = Vec::with_capacity(MAGIC_COOKIE.len() + 20);
    out.extend_from_slice(MAGIC_COOKIE.as_bytes());
    out.extend_from_slice(b"sl");
    out.extend_from_slice(&emit::hex16(h));
    out.extend_from_slice(b".0");
    // the cookie and hex digits are ASCII
    Ok(String::from_utf8(out).unwrap_or_default())
}

/// The To-tag of a locally generated reply: a prefix from `secret` (one per
/// server) and a part from the request, so that every retransmission of
/// a request is answered with the same tag.
pub fn local_to_tag(secret: &[u8], msg: &SipMsg<'_>) -> Result<LocalTag, BuildError> {
    let buf = msg.buf();
    let via = msg.via1()?;
    // a From that does not parse still gets its reply (as Kamailio): the
    // tag is then made without the From-tag
    let from_tag = msg.from().ok().and_then(|f| f.tag(buf)).unwrap_or(b"");
    let part = id64(&[
        msg.header_value(HeaderKind::CallId).unwrap_or(b""),
        from_tag,
        via.branch(buf).unwrap_or(b""),
        msg.cseq_tokens()?.0,
    ]);
    let mut text = [b'-'; 17];
    text[..8].copy_from_slice(&hex8(id64(&[secret]) as u32));
    text[9..].copy_from_slice(&hex8(part as u32));
    Ok(LocalTag(text))
}

/// A To-tag made by [`local_to_tag`]: `xxxxxxxx-xxxxxxxx`, hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTag([u8; 17]);

impl LocalTag {
    /// The tag's text.
    pub fn as_str(&self) -> &str {
        // only hex digits and '-' were written
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// A reply to a request that did not parse (RFC 4475 §3.1.2: answer 400
/// when a reply can be built): a lenient line scan copies every Via line
/// and the first From, To (tagged when it has no tag), Call-ID and CSeq
/// lines it finds (compact forms included, folded lines joined). `None`
/// when the text is not a request or has no Via (nowhere to answer).
pub fn salvage_reply(raw: &[u8], code: u16, reason: &str, to_tag: &str) -> Option<Vec<u8>> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
        .unwrap_or(raw.len());
    let head = &raw[..head_end];
    // unfold: a line starting with blank continues the previous one
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for l in head.split(|c| *c == b'\n') {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if l.is_empty() {
            continue;
        }
        if (l[0] == b' ' || l[0] == b'\t') && !lines.is_empty() {
            let last = lines.last_mut().expect("checked non-empty");
            last.push(b' ');
            last.extend_from_slice(l.trim_ascii());
        } else {
            lines.push(l.to_vec());
        }
    }
    let first = lines.first()?;
    // replies and ACKs are never answered
    if first.starts_with(b"SIP/") || first.starts_with(b"ACK ") || !first.contains(&b' ') {
        return None;
    }
    let name_of = |l: &[u8]| -> Vec<u8> {
        let n = l.iter().position(|c| *c == b':').map_or(l, |p| &l[..p]);
        n.trim_ascii().to_ascii_lowercase()
    };
    let is = |l: &[u8], long: &[u8], short: &[u8]| {
        let n = name_of(l);
        n == long || (!short.is_empty() && n == short)
    };
    let vias: Vec<&Vec<u8>> = lines.iter().skip(1).filter(|l| is(l, b"via", b"v")).collect();
    if vias.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(512);
    let _ = write!(out, "SIP/2.0 {code} {reason}\r\n");
    for v in vias {
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    for (long, short) in [(&b"from"[..], &b"f"[..]), (b"to", b"t"), (b"call-id", b"i"), (b"cseq", b"")] {
        if let Some(l) = lines.iter().skip(1).find(|l| is(l, long, short)) {
            out.extend_from_slice(l);
            let lower = l.to_ascii_lowercase();
            if long == b"to" && code > 100 && !lower.windows(5).any(|w| w == b";tag=") {
                let _ = write!(out, ";tag={to_tag}");
            }
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Some(out)
}
