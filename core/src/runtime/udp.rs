//! UDP: the worker's receive loop and its [`Outbound`] (sending from the
//! socket a message came in on, or the first one of the destination's
//! family).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};

use crate::cfg::{CoreInfo, Ctx, Dest, Outbound, ProcState, Program};
use crate::net::{Proto, RecvInfo};
use crate::sip::SipMsg;

/// Sends for one received message.
struct UdpOut<'a> {
    sockets: &'a [UdpSocket],
    /// Whether each socket is IPv4 (read once, not per send).
    v4: &'a [bool],
    recv: &'a UdpSocket,
    src: SocketAddr,
}

impl Outbound for UdpOut<'_> {
    fn send(&mut self, dest: Dest<'_>, data: &[u8]) -> Result<(), String> {
        let (sock, to) = match dest {
            Dest::Source => (self.recv, self.src),
            Dest::Host { host, port, proto } => {
                if proto.is_some_and(|p| p != Proto::Udp) {
                    return Err(format!("{} is not served yet (UDP only)", proto.map_or("", Proto::name)));
                }
                let h = std::str::from_utf8(host).map_err(|_| "host is not UTF-8")?;
                let h = h.trim_start_matches('[').trim_end_matches(']');
                let port = port.unwrap_or(5060);
                let to = match h.parse::<IpAddr>() {
                    Ok(ip) => SocketAddr::new(ip, port),
                    // a name: the system resolver (A/AAAA); SRV comes later
                    Err(_) => (h, port)
                        .to_socket_addrs()
                        .map_err(|e| format!("cannot resolve {h}: {e}"))?
                        .next()
                        .ok_or_else(|| format!("{h} has no address"))?,
                };
                let sock =
                    self.sockets.iter().zip(self.v4).find(|(_, v4)| **v4 == to.is_ipv4()).map_or(self.recv, |(s, _)| s);
                (sock, to)
            }
        };
        sock.send_to(data, to).map(|_| ()).map_err(|e| format!("send to {to}: {e}"))
    }
}

/// Answers a request that failed the minimal checks with the reply the
/// error calls for, when a reply can be built; else drops it.
fn reply_to_bad(msg: &SipMsg<'_>, code: u16, reason: &str, out: &mut UdpOut<'_>, src: SocketAddr) {
    reply_to_bad_with(msg, code, reason, b"", out, src)
}

fn reply_to_bad_with(msg: &SipMsg<'_>, code: u16, reason: &str, extra: &[u8], out: &mut UdpOut<'_>, src: SocketAddr) {
    if !msg.is_request() || msg.method() == Some(crate::sip::Method::Ack) {
        return;
    }
    let ip = src.ip().to_string();
    let opts = crate::sip::ReplyOpts {
        source: Some(crate::sip::Source { ip: &ip, port: src.port() }),
        extra_headers: extra,
        ..Default::default()
    };
    match crate::sip::local_reply(msg, code, reason, &opts) {
        Ok(data) => {
            let _ = out.send(Dest::Source, &data);
        }
        // the headers a reply copies are the broken ones: copy their lines
        Err(_) => {
            let tag = format!("{:08x}", crate::hash::fnv1a64(&[msg.buf()]) as u32);
            if let Some(data) = crate::sip::salvage_reply(msg.buf(), code, reason, &tag) {
                let _ = out.send(Dest::Source, &data);
            }
        }
    }
}

/// What RFC 3261 §16.3 asks of a proxy before routing a request: a
/// Request-URI scheme it understands (else 416), no Proxy-Require
/// extension it does not support (else 420 with Unsupported — sipr
/// supports none yet), and header values that parse (a Contact that does
/// not: 400). `None` when the request may go to the script. ACK and CANCEL
/// are exempt from Proxy-Require (§16.3 step 4 does not apply to them).
fn proxy_checks(msg: &SipMsg<'_>) -> Option<(u16, &'static str, Vec<u8>)> {
    use crate::sip::{HeaderKind, Method, Scheme};
    if let Ok(u) = msg.ruri() {
        if u.scheme == Scheme::Other {
            return Some((416, "Unsupported URI Scheme", Vec::new()));
        }
    }
    if !matches!(msg.method(), Some(Method::Ack | Method::Cancel)) {
        let buf = msg.buf();
        let required: Vec<String> = msg
            .headers()
            .iter()
            .filter(|h| h.kind == HeaderKind::ProxyRequire)
            .flat_map(|h| h.value.get(buf).split(|c| *c == b','))
            .map(|t| String::from_utf8_lossy(t.trim_ascii()).into_owned())
            .filter(|t| !t.is_empty())
            .collect();
        if !required.is_empty() {
            return Some((420, "Bad Extension", format!("Unsupported: {}\r\n", required.join(", ")).into_bytes()));
        }
    }
    if msg.contact().is_err() {
        return Some((400, "Bad Contact Header", Vec::new()));
    }
    None
}

/// The message event routes run on (Kamailio's "faked" message).
const FAKED: &[u8] = b"OPTIONS sip:you@sipr.local SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9\r\n\
From: <sip:you@sipr.local>;tag=faked\r\nTo: <sip:you@sipr.local>\r\nCall-ID: faked\r\nCSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

/// Runs an event route (`event_route[core:worker-one-init]`) on a faked
/// message, as Kamailio.
pub(super) fn run_event_route(prog: &Program, route: usize, info: &CoreInfo, sock: &UdpSocket, sockets: &[UdpSocket]) {
    let Ok(msg) = SipMsg::parse(FAKED) else { return };
    let local = sock.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    let mut proc = ProcState::default();
    let v4 = families(sockets);
    let mut out = UdpOut { sockets, v4: &v4, recv: sock, src: local };
    let rcv = RecvInfo { src: local, dst: local, proto: Proto::Udp };
    let mut ctx = Ctx::new(&msg, rcv, info, &mut proc, &mut out);
    prog.run(route, &mut ctx);
}

/// Whether each socket is IPv4.
fn families(sockets: &[UdpSocket]) -> Vec<bool> {
    sockets.iter().map(|s| s.local_addr().is_ok_and(|a| a.is_ipv4())).collect()
}

/// Receives and handles messages until the process is told to stop.
pub(super) fn receive_loop(sock: &UdpSocket, sockets: &[UdpSocket], prog: &Program, info: &CoreInfo, maxbuf: usize) {
    let mut buf = vec![0u8; maxbuf.clamp(4096, 65_535)];
    let mut proc = ProcState::default();
    let local = sock.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let v4 = families(sockets);
    let me = Worker { sock, sockets, v4: &v4, local, prog, info };
    loop {
        let (n, src) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                ::log::error!("recv on {local}: {e}");
                continue;
            }
        };
        let data = &buf[..n];
        // CRLF keep-alives and other blank datagrams
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        // crash containment: a bug met while handling one message costs
        // that message (logged), not the worker and with it the server
        let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(&me, data, src, &mut proc)));
        if handled.is_err() {
            ::log::error!("a message from {src} ({n} bytes) hit a bug and was dropped; the worker goes on");
        }
    }
}

/// What a worker handles messages with (fixed for its life).
#[derive(Clone, Copy)]
struct Worker<'a> {
    sock: &'a UdpSocket,
    sockets: &'a [UdpSocket],
    v4: &'a [bool],
    local: SocketAddr,
    prog: &'a Program,
    info: &'a CoreInfo,
}

/// Handles one received datagram.
fn handle(me: &Worker<'_>, data: &[u8], src: SocketAddr, proc: &mut ProcState) {
    let Worker { sock, sockets, v4, local, prog, info } = *me;
    let mut out = UdpOut { sockets, v4, recv: sock, src };
    let msg = match SipMsg::parse(data) {
        Ok(m) => m,
        Err(e) => {
            // a request that does not parse still gets its 400 / 505
            // when its Via can be found (RFC 4475 §3.1.2)
            let tag = format!("{:08x}", crate::hash::fnv1a64(&[&info.secret.to_be_bytes(), data]) as u32);
            match crate::sip::salvage_reply(data, e.reply_code(), &e.reason(), &tag) {
                Some(reply) => {
                    ::log::debug!("bad message from {src}: {e}; answered {}", e.reply_code());
                    let _ = out.send(Dest::Source, &reply);
                }
                None => ::log::debug!("dropped a message from {src}: {e}"),
            }
            return;
        }
    };
    if let Err(e) = msg.validate_basic() {
        ::log::debug!("bad message from {src}: {e}");
        reply_to_bad(&msg, e.reply_code(), &e.reason(), &mut out, src);
        return;
    }
    if msg.is_request() {
        if let Some((code, reason, extra)) = proxy_checks(&msg) {
            ::log::debug!("request from {src} refused before routing: {code} {reason}");
            reply_to_bad_with(&msg, code, reason, &extra, &mut out, src);
            return;
        }
    }
    let rcv = RecvInfo { src, dst: local, proto: Proto::Udp };
    let is_request = msg.is_request();
    let mut ctx = Ctx::new(&msg, rcv, info, proc, &mut out);
    if is_request {
        if let Some(r) = prog.request_route {
            prog.run(r, &mut ctx);
        }
    } else {
        let mut forward = true;
        if let Some(r) = prog.reply_route {
            let o = prog.run(r, &mut ctx);
            forward = !o.dropped;
        }
        if forward {
            if let Err(e) = crate::cfg::forward_reply_upstream(&mut ctx) {
                ::log::debug!("cannot forward a reply from {src}: {e}");
            }
        }
    }
}
