//! The message path every transport shares: a received message is parsed,
//! checked (the minimum of RFC 3261, then what §16.3 asks of a proxy),
//! routed through the script, and whatever the script sends leaves through
//! [`Out`] — back on the transport it came in on, or to a next hop over
//! UDP or TCP.

use std::cell::RefCell;
use std::net::{SocketAddr, UdpSocket};

use super::tcp::TcpClient;
use crate::cfg::{ConnFlags, CoreInfo, Ctx, Dest, MsgArena, Outbound, ProcState, Program};
use crate::net::{Proto, RecvInfo};
use crate::sip::SipMsg;

/// Messages this process has received (`$mi`).
static MSG_ID: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// What a process sends with and routes by (fixed for its life).
pub(crate) struct Net<'a> {
    /// Every UDP listen socket (any process can send from any).
    pub udp: &'a [UdpSocket],
    /// Every SCTP listen socket.
    pub sctp: &'a [sipr_locking::net::SctpSocket],
    /// Whether each UDP socket is IPv4 (read once, not per send).
    pub udp_v4: Vec<bool>,
    /// The same for the SCTP sockets.
    pub sctp_v4: Vec<bool>,
    /// TCP sending (None when TCP is off).
    pub tcp: Option<&'a TcpClient>,
    /// The compiled script.
    pub prog: &'a Program,
    /// Server facts for the script.
    pub info: &'a CoreInfo,
    /// This process's resolver and DNS cache.
    pub dns: RefCell<crate::dns::Resolver>,
    /// `tcp_accept_no_cl`: a TCP message may come without Content-Length.
    pub accept_no_cl: bool,
    /// The modules' reply hooks.
    pub response_hooks: Vec<crate::module::abi::ResponseHook>,
    /// The modules' post-script hooks.
    pub post_script_hooks: Vec<crate::module::abi::PostScriptHook>,
    /// The modules' pre-script hooks (sl's ACK filter).
    pub pre_script_hooks: Vec<crate::module::abi::PreScriptHook>,
}

impl<'a> Net<'a> {
    pub fn new(
        udp: &'a [UdpSocket],
        sctp: &'a [sipr_locking::net::SctpSocket],
        tcp: Option<&'a TcpClient>,
        prog: &'a Program,
        info: &'a CoreInfo,
    ) -> Self {
        let udp_v4 = udp.iter().map(|s| s.local_addr().is_ok_and(|a| a.is_ipv4())).collect();
        let sctp_v4 = sctp.iter().map(|s| s.local_addr().is_ok_and(|a| a.is_ipv4())).collect();
        let dns = crate::dns::Resolver::new(crate::dns::DnsConfig::system().with_params(&prog.core));
        let accept_no_cl = prog.core.other_bool("tcp_accept_no_cl").unwrap_or(false);
        let response_hooks = crate::module::response_hooks();
        let post_script_hooks = crate::module::post_script_hooks();
        let pre_script_hooks = crate::module::pre_script_hooks();
        Net {
            udp,
            sctp,
            udp_v4,
            sctp_v4,
            tcp,
            prog,
            info,
            dns: RefCell::new(dns),
            accept_no_cl,
            response_hooks,
            post_script_hooks,
            pre_script_hooks,
        }
    }
}

thread_local! {
    /// This process's sending context (each process is single-threaded).
    static PROCESS_NET: std::cell::Cell<Option<&'static Net<'static>>> = const { std::cell::Cell::new(None) };
}

/// Makes this process's sending context (after the fork, once): what
/// receive loops use, and what modules reach outside a message (tm's
/// retransmissions and timeouts in the timer process).
pub(super) fn process_net(
    udp: &'static [UdpSocket],
    sctp: &'static [sipr_locking::net::SctpSocket],
    tcp: Option<TcpClient>,
    prog: &'static Program,
    info: &'static CoreInfo,
) -> &'static Net<'static> {
    let tcp: Option<&'static TcpClient> = tcp.map(|c| &*Box::leak(Box::new(c)));
    let net: &'static Net<'static> = Box::leak(Box::new(Net::new(udp, sctp, tcp, prog, info)));
    PROCESS_NET.with(|p| p.set(Some(net)));
    net
}

/// This process's sending context, when it has one.
pub(crate) fn current_net() -> Option<&'static Net<'static>> {
    PROCESS_NET.with(|p| p.get())
}

/// How a message arrived: the UDP socket, or the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arrival {
    /// On UDP listen socket number `sock`.
    Udp { sock: usize },
    /// On TCP connection `conn`.
    Tcp { conn: u32 },
    /// On SCTP listen socket number `sock`.
    Sctp { sock: usize },
}

impl Arrival {
    fn proto(self) -> Proto {
        match self {
            Arrival::Udp { .. } => Proto::Udp,
            Arrival::Tcp { .. } => Proto::Tcp,
            Arrival::Sctp { .. } => Proto::Sctp,
        }
    }
}

/// Sends for one received message.
pub(super) struct Out<'n, 'a> {
    pub net: &'n Net<'a>,
    pub arrival: Arrival,
    /// Where the message came from.
    pub src: SocketAddr,
    /// Where replies to it go over a datagram transport (RFC 3261
    /// §18.2.2): the source address, with the source port when the top Via
    /// asks for `rport` (RFC 3581), else the Via's port (5060 when none) —
    /// as Kamailio.
    pub reply_to: SocketAddr,
}

impl<'n, 'a> Out<'n, 'a> {
    /// Sends for a message from `src`, replies to the source until
    /// [`Out::reply_by_via`] says otherwise.
    pub fn new(net: &'n Net<'a>, arrival: Arrival, src: SocketAddr) -> Self {
        Out { net, arrival, src, reply_to: src }
    }

    /// Points replies where the top Via of `msg` says (the top Via only:
    /// already parsed by the minimal checks, so this costs nothing more).
    fn reply_by_via(&mut self, msg: &SipMsg<'_>) {
        self.reply_to = crate::net::reply_address(msg, self.src, false);
    }
}

// A module's copy of the core sends through this trait object (sl's
// replies, forward()...): the bodies run inside the core binary's panic
// guard (crate::guard explains why).
impl Outbound for Out<'_, '_> {
    fn tcp_alias(&mut self, port: Option<u16>) -> Result<(), String> {
        crate::guard::contained("tcp alias", Err("panicked".into()), || self.tcp_alias_unguarded(port))
    }

    fn transport_for(&mut self, host: &[u8], port: Option<u16>) -> Proto {
        crate::guard::contained("transport lookup", Proto::Udp, || self.transport_for_unguarded(host, port))
    }

    fn send(&mut self, dest: Dest<'_>, data: &[u8]) -> Result<(), String> {
        crate::guard::contained("send", Err("the send panicked".into()), || self.send_unguarded(dest, data))
    }

    fn resolve(&mut self, host: &[u8], port: Option<u16>, proto: Option<Proto>) -> Result<(SocketAddr, Proto), String> {
        crate::guard::contained("resolve", Err("the lookup panicked".into()), || self.net.resolve(host, port, proto))
    }

    fn resolve_nth(
        &mut self,
        host: &[u8],
        port: Option<u16>,
        proto: Option<Proto>,
        nth: usize,
    ) -> Result<(SocketAddr, Proto), String> {
        crate::guard::contained("resolve", Err("the lookup panicked".into()), || {
            self.net.resolve_nth(host, port, proto, nth)
        })
    }
}

impl Net<'_> {
    /// RFC 3263 for a next hop: SRV when no port, the transport it finds.
    pub(crate) fn resolve(
        &self,
        host: &[u8],
        port: Option<u16>,
        proto: Option<Proto>,
    ) -> Result<(SocketAddr, Proto), String> {
        let host = std::str::from_utf8(host).map_err(|_| "host is not UTF-8")?;
        self.dns.borrow_mut().resolve_sip(host, port, proto).map_err(|e| e.to_string())
    }

    /// Target number `nth` for a next hop (DNS failover's next choice).
    pub(crate) fn resolve_nth(
        &self,
        host: &[u8],
        port: Option<u16>,
        proto: Option<Proto>,
        nth: usize,
    ) -> Result<(SocketAddr, Proto), String> {
        let name = std::str::from_utf8(host).map_err(|_| "host is not UTF-8")?;
        match self.dns.borrow_mut().resolve_sip_nth(name, port, proto, nth) {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Err(format!("{name} has no target {nth}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Sends to a resolved next hop, from a listen socket of its family
    /// (UDP, SCTP) or over a connection to it (TCP).
    fn send_to_addr(&self, to: SocketAddr, proto: Proto, flags: ConnFlags, data: &[u8]) -> Result<(), String> {
        match proto {
            Proto::Udp => {
                let sock =
                    of_family(self.udp, &self.udp_v4, to).or(self.udp.first()).ok_or("no UDP socket to send from")?;
                sock.send_to(data, to).map(|_| ()).map_err(|e| format!("send to {to}: {e}"))
            }
            Proto::Tcp => self.tcp.ok_or("TCP is off")?.send_to(to, data, flags).map_err(|e| e.to_string()),
            Proto::Sctp => {
                let sock = of_family(self.sctp, &self.sctp_v4, to).ok_or("no SCTP socket to send from")?;
                sock.send_to(data, to).map(|_| ()).map_err(|e| format!("send to sctp:{to}: {e}"))
            }
            other => Err(format!("{other} is not served yet")),
        }
    }

    /// Sends outside the handling of a received message (tm's timers,
    /// replies relayed from another process): to a host or an address.
    pub(crate) fn send_detached(&self, dest: Dest<'_>, data: &[u8]) -> Result<(), String> {
        match dest {
            Dest::Host { host, port, proto, conn } => {
                let (to, proto) = self.resolve(host, port, proto)?;
                self.send_to_addr(to, proto, conn, data)
            }
            Dest::Addr { to, proto, conn } => self.send_to_addr(to, proto, conn, data),
            Dest::Source { .. } => Err("no message being handled: no source to answer".into()),
        }
    }
}

impl Out<'_, '_> {
    fn tcp_alias_unguarded(&mut self, port: Option<u16>) -> Result<(), String> {
        match (self.arrival, super::tcp::table::get()) {
            (Arrival::Tcp { conn }, Some(table)) => {
                let port = port.unwrap_or(self.arrival.proto().default_port());
                table.add_alias(conn, port).map_err(|e| e.to_string())
            }
            _ => Ok(()),
        }
    }

    fn transport_for_unguarded(&mut self, host: &[u8], port: Option<u16>) -> Proto {
        let Ok(host) = std::str::from_utf8(host) else { return Proto::Udp };
        self.net.dns.borrow_mut().resolve_sip(host, port, None).map_or(Proto::Udp, |(_, p)| p)
    }

    fn send_unguarded(&mut self, dest: Dest<'_>, data: &[u8]) -> Result<(), String> {
        let net = self.net;
        match dest {
            Dest::Source { symmetric, conn: flags } => {
                let to = if symmetric { self.src } else { self.reply_to };
                match self.arrival {
                    Arrival::Udp { sock } => {
                        net.udp[sock].send_to(data, to).map(|_| ()).map_err(|e| format!("send to {to}: {e}"))
                    }
                    Arrival::Tcp { conn } => {
                        net.tcp.ok_or("TCP is off")?.send_on(conn, self.src, data, flags).map_err(|e| e.to_string())
                    }
                    Arrival::Sctp { sock } => {
                        net.sctp[sock].send_to(data, to).map(|_| ()).map_err(|e| format!("send to sctp:{to}: {e}"))
                    }
                }
            }
            Dest::Host { .. } | Dest::Addr { .. } => net.send_detached(dest, data),
        }
    }
}

/// The first of `socks` (whose families `v4` lists) of `to`'s family.
fn of_family<'s, S>(socks: &'s [S], v4: &[bool], to: SocketAddr) -> Option<&'s S> {
    socks.iter().zip(v4).find(|(_, v4)| **v4 == to.is_ipv4()).map(|(s, _)| s)
}

/// Answers a request that failed the minimal checks with the reply the
/// error calls for, when a reply can be built; else drops it. The reply
/// is what sl would send (RFC 3261 §8.2.6: a To-tag, the Server header).
/// `force_rport`: the cfg's `force_rport=yes` (to the source port, rport
/// added).
fn reply_to_bad(
    msg: &SipMsg<'_>,
    (code, reason, extra): (u16, &str, &[u8]),
    info: &CoreInfo,
    force_rport: bool,
    out: &mut Out<'_, '_>,
) {
    if !msg.is_request() || msg.method() == Some(crate::sip::Method::Ack) {
        return;
    }
    // The tag sl gives when the headers it is made of parse; else one from
    // the whole request, as stable across retransmissions.
    let tag = crate::sip::local_to_tag(&info.secret.to_be_bytes(), msg).map_or_else(
        |_| format!("{:08x}", crate::hash::id64(&[&info.secret.to_be_bytes(), msg.buf()]) as u32),
        |t| t.as_str().to_string(),
    );
    let opts = crate::sip::ReplyOpts {
        to_tag: Some(&tag),
        source: Some(crate::sip::Source { ip: out.src.ip(), port: out.src.port(), force_rport }),
        server: info.server_header.as_deref(),
        extra_headers: extra,
        body: b"",
    };
    match crate::sip::local_reply(msg, code, reason, &opts) {
        Ok(data) => {
            let _ = out.send(Dest::Source { symmetric: force_rport, conn: ConnFlags::default() }, &data);
        }
        // the headers a reply copies are the broken ones: copy their lines
        Err(_) => {
            if let Some(data) = crate::sip::salvage_reply(msg.buf(), code, reason, &tag) {
                let _ = out.send(Dest::Source { symmetric: force_rport, conn: ConnFlags::default() }, &data);
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
    // the scheme alone: the rest of the Request-URI is parsed when the
    // script asks for it
    if let Some(Ok((Scheme::Other, _))) = msg.request_uri().map(Scheme::of_uri) {
        return Some((416, "Unsupported URI Scheme", Vec::new()));
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

/// Answers bytes that do not parse as a message with the 400 / 505 their
/// error calls for, when a Via can be found in them (RFC 4475 §3.1.2);
/// `false` when nothing could be answered.
pub(super) fn answer_unparsable(data: &[u8], code: u16, reason: &str, secret: u64, out: &mut dyn Outbound) -> bool {
    let tag = format!("{:08x}", crate::hash::id64(&[&secret.to_be_bytes(), data]) as u32);
    match crate::sip::salvage_reply(data, code, reason, &tag) {
        Some(reply) => {
            let _ = out.send(Dest::Source { symmetric: false, conn: ConnFlags::default() }, &reply);
            true
        }
        None => false,
    }
}

/// Handles one received message: `local` is the socket that received it.
pub(super) fn handle(
    net: &Net<'_>,
    data: &[u8],
    arrival: Arrival,
    src: SocketAddr,
    local: SocketAddr,
    proc: &mut ProcState,
) {
    crate::cfgvars::refresh();
    let mut out = Out::new(net, arrival, src);
    // borrowed out of the result, not moved: the message is large (its
    // header list is inline) and a move is a copy
    let parsed = SipMsg::parse(data);
    let msg = match &parsed {
        Ok(m) => m,
        Err(e) => {
            if let Some(c) = crate::stats::core() {
                c.unparsable(e);
            }
            if answer_unparsable(data, e.reply_code(), &e.reason(), net.info.secret, &mut out) {
                ::log::debug!("bad message from {src}: {e}; answered {}", e.reply_code());
            } else {
                ::log::debug!("dropped a message from {src}: {e}");
            }
            return;
        }
    };
    out.reply_by_via(msg);
    let strict = net.prog.core.strict_checks;
    let checked = if strict { msg.validate_basic() } else { msg.validate_minimal() };
    if let Some(c) = crate::stats::core() {
        match (&checked, msg.status()) {
            // what Kamailio's core refuses before its script is counted
            // as Kamailio counts it, not as a received message
            (Err(e), status) => c.refused(e, status.is_none()),
            (Ok(()), None) => c.request(msg.method()),
            (Ok(()), Some(code)) => c.reply(code, msg.method_text()),
        }
    }
    if let Err(e) = checked {
        ::log::debug!("bad message from {src}: {e}");
        reply_to_bad(
            msg,
            (e.reply_code(), &e.reason(), b""),
            net.info,
            crate::cfgvars::force_rport(net.prog.core.force_rport),
            &mut out,
        );
        return;
    }
    if strict && msg.is_request() {
        if let Some((code, reason, extra)) = proxy_checks(msg) {
            ::log::debug!("request from {src} refused before routing: {code} {reason}");
            reply_to_bad(
                msg,
                (code, reason, &extra),
                net.info,
                crate::cfgvars::force_rport(net.prog.core.force_rport),
                &mut out,
            );
            return;
        }
    }
    let is_request = msg.is_request();
    if is_request && net.prog.core.tcp_accept_aliases {
        accept_via_alias(msg, &mut out);
    }
    let rcv = RecvInfo { src, dst: local, proto: arrival.proto() };
    let prog = net.prog;
    let arena = MsgArena::new();
    let mut ctx = Ctx::new(msg, rcv, net.info, proc, &mut out).with_arena(&arena);
    // the core's force_rport=yes: as if force_rport() started every route
    ctx.force_rport = crate::cfgvars::force_rport(prog.core.force_rport);
    if let Arrival::Tcp { conn } = arrival {
        // `$conid`
        ctx.set_module_int("core.conid", i64::from(conn));
    }
    // `$mi`: this process's count of received messages
    ctx.set_module_int("core.msgid", MSG_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
    if is_request {
        // a module may take the request before the script (Kamailio's
        // pre-script callbacks): then nothing else runs on it
        if !net.pre_script_hooks.iter().all(|hook| hook(&mut ctx)) {
            return;
        }
        if let Some(r) = prog.request_route {
            if prog.run(r, &mut ctx).dropped {
                if let Some(c) = crate::stats::core() {
                    crate::stats::bump(c.drop_requests);
                }
            }
        }
        for hook in net.post_script_hooks.iter() {
            hook(&mut ctx);
        }
    } else {
        let mut forward = true;
        if let Some(r) = prog.reply_route {
            let o = prog.run(r, &mut ctx);
            forward = !o.dropped;
            if o.dropped {
                if let Some(c) = crate::stats::core() {
                    crate::stats::bump(c.drop_replies);
                }
            }
        }
        // tm takes the replies of its transactions (Kamailio's
        // response_f); the others are forwarded statelessly
        if forward {
            for hook in net.response_hooks.iter() {
                ctx.route_type = crate::cfg::RouteType::CoreReply;
                if hook(&mut ctx) {
                    forward = false;
                    break;
                }
            }
        }
        if forward {
            match crate::cfg::forward_reply_upstream(&mut ctx) {
                Ok(()) => {
                    if let Some(c) = crate::stats::core() {
                        crate::stats::bump(c.fwd_replies);
                    }
                }
                Err(e) => ::log::debug!("cannot forward a reply from {src}: {e}"),
            }
        }
    }
}

/// `tcp_accept_aliases`: a request whose top Via carries `;alias` makes
/// its connection the connection to the Via's port as well (RFC 5923 §5,
/// port only, as Kamailio; the transport's default port when the Via has
/// none).
fn accept_via_alias(msg: &SipMsg<'_>, out: &mut Out<'_, '_>) {
    let Ok(via) = msg.via1() else { return };
    if !via.alias(msg.buf()) {
        return;
    }
    if let Err(e) = out.tcp_alias(via.port) {
        ::log::error!("tcp alias for {}: {e}", out.src);
    }
}

/// Runs `handle` with crash containment: a bug met while handling one
/// message costs that message (logged), not the process and with it the
/// server.
pub(super) fn handle_contained(
    net: &Net<'_>,
    data: &[u8],
    arrival: Arrival,
    src: SocketAddr,
    local: SocketAddr,
    proc: &mut ProcState,
) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(net, data, arrival, src, local, proc)));
    if r.is_err() {
        ::log::error!("a message from {src} ({} bytes) hit a bug and was dropped; the process goes on", data.len());
    }
}

/// Runs an event route (`event_route[core:worker-one-init]`) on a faked
/// message, as Kamailio.
pub(super) fn run_event_route(net: &Net<'_>, route: usize) {
    let Ok(msg) = SipMsg::parse(crate::cfg::FAKED_REQUEST) else { return };
    let local =
        net.udp.first().and_then(|s| s.local_addr().ok()).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let mut proc = ProcState::default();
    let mut out = Out::new(net, Arrival::Udp { sock: 0 }, local);
    let rcv = RecvInfo { src: local, dst: local, proto: Proto::Udp };
    let mut ctx = Ctx::new(&msg, rcv, net.info, &mut proc, &mut out);
    ctx.faked = true;
    net.prog.run(route, &mut ctx);
}
