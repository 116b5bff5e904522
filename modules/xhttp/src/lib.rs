//! xhttp: HTTP requests on the SIP TCP listeners run
//! `event_route[xhttp:request]`, as Kamailio's xhttp module: `$hu` is the
//! URL, `xhttp_reply(code, reason, content_type, body)` answers, and
//! other modules answer through the same request (jsonrpcs'
//! `jsonrpc_dispatch()`, xhttp_prom's `prom_dispatch()`). `url_match`
//! (a regular expression the URL must match for the route to run) and
//! `url_skip` (one it must not) filter, as Kamailio's.
//!
//! Unlike Kamailio, the requests are not served by the SIP TCP readers:
//! a reader that sees an HTTP request line hands the connection to this
//! module's process ("XHTTP"), so that a slow or idle HTTP client never
//! holds a SIP worker. The process serves every connection with
//! non-blocking sockets: a head over [`MAX_HEAD`] or a body over
//! [`MAX_BODY`] is refused (431 / 413) and the connection closed, a
//! connection that makes no progress for [`IDLE`] is closed, and
//! `Connection: close` is honoured (RFC 9112 §9.6; Kamailio keeps the
//! connection). The request reaches the script as a SIP request with the
//! HTTP method, headers and body (Kamailio's xhttp does the same with a
//! fake Via), so `$rm`, `$hdr(...)`, `$rb` read it; a route that sends no
//! reply leaves the client waiting, as Kamailio does.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::time::Duration;

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use sipr_sdk::control::Conn;
use sipr_sdk::prelude::*;
use sipr_sdk::xhttp;
use sipr_sdk::{Names, PvArg, PvRef, PvRegistry};

/// The longest request line and headers taken.
pub const MAX_HEAD: usize = 16 * 1024;
/// The largest body taken.
pub const MAX_BODY: usize = 1024 * 1024;
/// A connection without progress this long is closed.
pub const IDLE: Duration = Duration::from_secs(30);
/// Connections served at once.
const MAX_CONNS: usize = 512;

struct Settings {
    url_match: Option<regex::bytes::Regex>,
    url_skip: Option<regex::bytes::Regex>,
}

static SETTINGS: Mutex<Settings> = Mutex::new(Settings { url_match: None, url_skip: None });

/// `core:rcv_requests`, when the server counts it (kex loaded): an HTTP
/// request is a received request to Kamailio, whose SIP parser reads it.
static RCV_REQUESTS: std::sync::OnceLock<&'static std::sync::atomic::AtomicU64> = std::sync::OnceLock::new();

fn mod_init() -> Result<(), String> {
    if sipr_sdk::statistics().iter().any(|(g, n, _)| g == "core" && n == "rcv_requests") {
        let _ = RCV_REQUESTS.set(sipr_sdk::counter("core", "rcv_requests")?);
    }
    Ok(())
}

fn regex_param(v: &ModValue, what: &str) -> Result<regex::bytes::Regex, String> {
    let s = sipr_sdk::modparam::str(v)?;
    regex::bytes::Regex::new(&s).map_err(|e| format!("{what} {s}: {e}"))
}

fn set_url_match(v: &ModValue) -> Result<(), String> {
    let r = regex_param(v, "url_match")?;
    SETTINGS.lock().map_err(|_| "xhttp settings poisoned")?.url_match = Some(r);
    Ok(())
}

fn set_url_skip(v: &ModValue) -> Result<(), String> {
    let r = regex_param(v, "url_skip")?;
    SETTINGS.lock().map_err(|_| "xhttp settings poisoned")?.url_skip = Some(r);
    Ok(())
}

fn set_event_callback(_: &ModValue) -> Result<(), String> {
    Err("event_callback names a KEMI function: sipr runs event_route[xhttp:request] only".into())
}

/// Whether the route runs for `url` (url_match / url_skip).
fn route_wanted(url: &[u8]) -> bool {
    let Ok(s) = SETTINGS.lock() else { return true };
    if s.url_skip.as_ref().is_some_and(|r| r.is_match(url)) {
        return false;
    }
    s.url_match.as_ref().is_none_or(|r| r.is_match(url))
}

/// `xhttp_reply(code, reason, content_type, body)`.
fn xhttp_reply(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let code = String::from_utf8_lossy(&p[0].text(ctx)).trim().parse::<u16>().ok().filter(|c| (100..700).contains(c));
    let Some(code) = code else {
        log::error!("xhttp_reply: the code must be a number from 100 to 699");
        return Ok(-1);
    };
    let (reason, ctype, body) = (p[1].text(ctx).into_owned(), p[2].text(ctx).into_owned(), p[3].text(ctx).into_owned());
    match xhttp::reply(ctx, code, &reason, &ctype, &body) {
        Ok(()) => Ok(1),
        Err(e) => {
            log::error!("xhttp_reply: {e}");
            Ok(-1)
        }
    }
}

fn no_arg(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    match inner {
        None => Ok(PvArg::None),
        Some(_) => Err("$hu takes no argument".into()),
    }
}

/// `$hu`: the HTTP URL.
fn get_hu<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    xhttp::url(ctx).map_or(Value::Null, Value::str)
}

/// A request read from a connection.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: String,
    url: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// The connection is closed after the answer.
    close: bool,
}

/// What the front of a connection's buffer holds.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// A whole request, and the bytes it took.
    Request(Request, usize),
    /// A request that cannot be served: the status to answer with.
    Refused(u16, &'static str),
}

fn parse(buf: &[u8]) -> Parsed {
    let Some(head_end) = memchr::memmem::find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Parsed::Refused(431, "Request Header Fields Too Large")
        } else {
            Parsed::Incomplete
        };
    };
    if head_end > MAX_HEAD {
        return Parsed::Refused(431, "Request Header Fields Too Large");
    }
    let head = &buf[..head_end];
    let mut lines = head.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(|b| *b == b' ');
    let (Some(method), Some(url), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Refused(400, "Bad Request");
    };
    if method.is_empty() || !method.iter().all(u8::is_ascii_uppercase) || url.is_empty() {
        return Parsed::Refused(400, "Bad Request");
    }
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        _ => return Parsed::Refused(505, "HTTP Version Not Supported"),
    };
    let mut headers = Vec::new();
    for l in lines {
        let Some(colon) = memchr::memchr(b':', l) else { return Parsed::Refused(400, "Bad Request") };
        let name = String::from_utf8_lossy(l[..colon].trim_ascii()).into_owned();
        if name.is_empty() || name.contains(' ') {
            return Parsed::Refused(400, "Bad Request");
        }
        headers.push((name, l[colon + 1..].trim_ascii().to_vec()));
    }
    let header = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_slice());
    if header("Transfer-Encoding").is_some() {
        return Parsed::Refused(411, "Length Required");
    }
    let len = match header("Content-Length") {
        None => 0,
        Some(v) => match std::str::from_utf8(v).ok().and_then(|s| s.parse::<usize>().ok()) {
            Some(n) => n,
            None => return Parsed::Refused(400, "Bad Request"),
        },
    };
    if len > MAX_BODY {
        return Parsed::Refused(413, "Content Too Large");
    }
    let total = head_end + 4 + len;
    if buf.len() < total {
        return Parsed::Incomplete;
    }
    let connection = header("Connection").map(|v| v.to_ascii_lowercase());
    let close = match connection.as_deref() {
        Some(b"close") => true,
        Some(b"keep-alive") => false,
        _ => http10,
    };
    let request = Request {
        method: String::from_utf8_lossy(method).into_owned(),
        url: url.to_vec(),
        headers,
        body: buf[head_end + 4..total].to_vec(),
        close,
    };
    Parsed::Request(request, total)
}

/// The request as the SIP message the script sees: its method, headers
/// and body under a SIP request line and the headers a SIP request must
/// have (the URL is `$hu`, the Request-URI a stand-in).
fn as_sip(req: &Request, peer: SocketAddr) -> Vec<u8> {
    const OWN: [&str; 6] = ["Content-Length", "Via", "From", "To", "Call-ID", "CSeq"];
    let mut m = Vec::with_capacity(256 + req.body.len());
    let method = &req.method;
    m.extend_from_slice(format!("{method} sip:xhttp@sipr.local SIP/2.0\r\n").as_bytes());
    m.extend_from_slice(format!("Via: SIP/2.0/TCP {peer};branch=z9hG4bKxhttp\r\n").as_bytes());
    m.extend_from_slice(b"From: <sip:xhttp@sipr.local>;tag=xhttp\r\nTo: <sip:xhttp@sipr.local>\r\nCall-ID: xhttp\r\n");
    m.extend_from_slice(format!("CSeq: 1 {method}\r\n").as_bytes());
    for (name, value) in req.headers.iter().filter(|(n, _)| !OWN.iter().any(|o| o.eq_ignore_ascii_case(n))) {
        m.extend_from_slice(name.as_bytes());
        m.extend_from_slice(b": ");
        m.extend_from_slice(value);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(format!("Content-Length: {}\r\n\r\n", req.body.len()).as_bytes());
    m.extend_from_slice(&req.body);
    m
}

/// An HTTP response.
fn response(code: u16, reason: &[u8], ctype: &[u8], body: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(160 + body.len());
    r.extend_from_slice(format!("HTTP/1.1 {code} ").as_bytes());
    r.extend_from_slice(reason);
    r.extend_from_slice(b"\r\nContent-Type: ");
    r.extend_from_slice(ctype);
    r.extend_from_slice(
        format!("\r\nServer: {}\r\nContent-Length: {}\r\n\r\n", sipr_sdk::server_signature(), body.len()).as_bytes(),
    );
    r.extend_from_slice(body);
    r
}

/// Runs the route for one request: the response, if the route answered.
fn serve(req: &Request, peer: SocketAddr, local: SocketAddr) -> Option<Vec<u8>> {
    if let Some(c) = RCV_REQUESTS.get() {
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    if !route_wanted(&req.url) {
        return None;
    }
    let msg = as_sip(req, peer);
    let rcv = sipr_sdk::net::RecvInfo { src: peer, dst: local, proto: sipr_sdk::net::Proto::Tcp };
    let chosen =
        sipr_sdk::run_event_route_on("xhttp:request", &msg, rcv, |ctx| xhttp::set_url(ctx, &req.url), xhttp::chosen)?;
    let r = chosen?;
    Some(response(r.code, &r.reason, &r.ctype, &r.body))
}

/// Answers the whole HTTP requests at the front of `inbuf`: true when the
/// connection ends after the replies (a refused request, or
/// `Connection: close`).
fn answer_requests(inbuf: &mut Vec<u8>, out: &mut Vec<u8>, peer: SocketAddr, local: SocketAddr) -> bool {
    loop {
        match parse(inbuf) {
            Parsed::Incomplete => return false,
            Parsed::Refused(code, reason) => {
                log::info!("xhttp: a request from {peer} refused: {code} {reason}");
                out.extend(response(code, reason.as_bytes(), b"text/plain", reason.as_bytes()));
                inbuf.clear();
                return true;
            }
            Parsed::Request(req, used) => {
                inbuf.drain(..used);
                if let Some(r) = serve(&req, peer, local) {
                    out.extend(r);
                }
                if req.close {
                    return true;
                }
            }
        }
    }
}

/// A client connection and its addresses.
struct Client {
    conn: Conn<TcpStream>,
    peer: SocketAddr,
    local: SocketAddr,
}

impl Client {
    fn on_event(&mut self) -> bool {
        let (peer, local) = (self.peer, self.local);
        self.conn.on_event(|inbuf, out| answer_requests(inbuf, out, peer, local))
    }
}

const CHANNEL: Token = Token(0);

/// The "XHTTP" process.
fn xhttp_process(_: u32) {
    let Some(chan) = sipr_sdk::http_channel() else {
        log::error!("xhttp: the server has no HTTP channel");
        return;
    };
    if let Err(e) = run(&chan) {
        log::error!("xhttp: {e}");
    }
}

fn run(chan: &std::os::unix::net::UnixDatagram) -> std::io::Result<()> {
    chan.set_nonblocking(true)?;
    let mut poll = Poll::new()?;
    poll.registry().register(&mut SourceFd(&chan.as_raw_fd()), CHANNEL, Interest::READABLE)?;
    let mut conns: HashMap<usize, Client> = HashMap::new();
    let mut next = 1usize;
    let mut events = Events::with_capacity(128);
    let mut buf = vec![0u8; 64 * 1024 + 1];
    loop {
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_secs(1))) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in events.iter() {
            if ev.token() == CHANNEL {
                while let Ok((n, fd)) = sipr_sdk::recv_with_fd(chan, &mut buf) {
                    let Some(fd) = fd else { continue };
                    let std_stream = std::net::TcpStream::from(fd);
                    if conns.len() >= MAX_CONNS {
                        log::warn!("xhttp: {MAX_CONNS} connections open: a new one closed");
                        continue;
                    }
                    let (Ok(peer), Ok(local), Ok(())) =
                        (std_stream.peer_addr(), std_stream.local_addr(), std_stream.set_nonblocking(true))
                    else {
                        continue;
                    };
                    let mut stream = TcpStream::from_std(std_stream);
                    let t = next;
                    next += 1;
                    if poll.registry().register(&mut stream, Token(t), Interest::READABLE).is_err() {
                        continue;
                    }
                    let mut c = Client { conn: Conn::new(stream, buf[..n].to_vec()), peer, local };
                    if c.on_event() {
                        c.conn.watch_writes(poll.registry(), Token(t));
                        conns.insert(t, c);
                    } else {
                        let _ = poll.registry().deregister(&mut c.conn.stream);
                    }
                }
                continue;
            }
            let t = ev.token().0;
            let Some(c) = conns.get_mut(&t) else { continue };
            if c.on_event() {
                c.conn.watch_writes(poll.registry(), Token(t));
            } else if let Some(mut c) = conns.remove(&t) {
                let _ = poll.registry().deregister(&mut c.conn.stream);
            }
        }
        let idle: Vec<usize> = conns.iter().filter(|(_, c)| c.conn.idle_for() > IDLE).map(|(t, _)| *t).collect();
        for t in idle {
            if let Some(mut c) = conns.remove(&t) {
                log::debug!("xhttp: the connection with {} idle for {}s: closed", c.peer, IDLE.as_secs());
                let _ = poll.registry().deregister(&mut c.conn.stream);
            }
        }
    }
}

sipr_sdk::module! {
    name: "xhttp",
    functions: [
        ("xhttp_reply", [Fmt, Fmt, Fmt, Fmt], RouteMask::ANY, xhttp_reply),
    ],
    params: [
        ("url_match", Str, set_url_match),
        ("url_skip", Str, set_url_skip),
        ("event_callback", Str, set_event_callback),
    ],
    pvs: [
        sipr_sdk::pv_class!("hu", no_arg, get_hu),
    ],
    procs: [
        ("XHTTP", 1, xhttp_process),
    ],
    init: mod_init,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(b: &[u8]) -> (Request, usize) {
        match parse(b) {
            Parsed::Request(r, n) => (r, n),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn requests_are_read_whole() {
        let raw = b"POST /RPC HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbodyGET /metrics HTTP/1.1\r\n\r\n";
        let (r, n) = req(raw);
        assert_eq!((r.method.as_str(), &r.url[..], &r.body[..], r.close), ("POST", &b"/RPC"[..], &b"body"[..], false));
        let (r2, n2) = req(&raw[n..]);
        assert_eq!((r2.method.as_str(), n + n2), ("GET", raw.len()));
        assert_eq!(parse(&raw[..n - 1]), Parsed::Incomplete);
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Parsed::Incomplete);
        assert!(req(b"GET / HTTP/1.0\r\n\r\n").0.close);
        assert!(req(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").0.close);
        assert!(!req(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").0.close);
    }

    #[test]
    fn bad_and_oversized_requests_are_refused() {
        assert_eq!(parse(b"GET / HTTP/2.0\r\n\r\n"), Parsed::Refused(505, "HTTP Version Not Supported"));
        assert_eq!(parse(b"GET /\r\n\r\n"), Parsed::Refused(400, "Bad Request"));
        assert_eq!(parse(b"GET / HTTP/1.1\r\nno colon\r\n\r\n"), Parsed::Refused(400, "Bad Request"));
        assert_eq!(parse(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), Parsed::Refused(400, "Bad Request"));
        let huge = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1);
        assert_eq!(parse(huge.as_bytes()), Parsed::Refused(413, "Content Too Large"));
        assert_eq!(parse(&vec![b'A'; MAX_HEAD + 1]), Parsed::Refused(431, "Request Header Fields Too Large"));
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Parsed::Refused(411, "Length Required")
        );
    }

    #[test]
    fn the_script_sees_a_sip_request() {
        let (r, _) = req(b"POST /RPC?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nVia: nope\r\nContent-Length: 2\r\n\r\n{}");
        let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let m = as_sip(&r, peer);
        let msg = sipr_sdk::sip::SipMsg::parse(&m).unwrap();
        assert_eq!(msg.method_text(), Some(&b"POST"[..]));
        assert_eq!(msg.body(), b"{}");
        let text = String::from_utf8(m.clone()).unwrap();
        assert!(text.contains("Content-Type: application/json\r\n") && !text.contains("nope"), "{text}");
        let resp = String::from_utf8(response(200, b"OK", b"text/plain", b"hi")).unwrap();
        assert!(
            resp.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: sipr")
                && resp.ends_with("Content-Length: 2\r\n\r\nhi"),
            "{resp}"
        );
    }
}
