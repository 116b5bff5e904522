//! What a running script sees and changes: the message, its per-message
//! state (new Request-URI, `$du`, flags, AVPs, branches, lumps), the
//! worker's own state (`$var`), and the server facts (`myself`).

use std::net::{IpAddr, SocketAddr};

use super::value::{Stored, Value};
use crate::net::{Proto, RecvInfo};
use crate::sip::{Lumps, SipMsg, Span, Uri};

/// The request event routes run on (Kamailio's "faked" message): no
/// message was received, but routes read and set message state.
pub const FAKED_REQUEST: &[u8] = b"OPTIONS sip:you@sipr.local SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9\r\n\
From: <sip:you@sipr.local>;tag=faked\r\nTo: <sip:you@sipr.local>\r\nCall-ID: faked\r\nCSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

/// Which kind of route is running; functions declare where they may be
/// used (Kamailio's REQUEST_ROUTE, FAILURE_ROUTE, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteType {
    /// `request_route` / `route` and the `route[X]` it calls.
    Request,
    /// `failure_route[X]`.
    Failure,
    /// `onreply_route[X]` (tm, per transaction).
    OnReply,
    /// `branch_route[X]`.
    Branch,
    /// `onsend_route`.
    OnSend,
    /// `event_route[X]`.
    Event,
    /// `reply_route` (the core's, for every reply).
    CoreReply,
}

impl RouteType {
    /// The mask bit of this route type.
    pub const fn bit(self) -> RouteMask {
        RouteMask(1 << self as u8)
    }

    /// Kamailio's name for it in messages.
    pub fn name(self) -> &'static str {
        match self {
            RouteType::Request => "request_route",
            RouteType::Failure => "failure_route",
            RouteType::OnReply => "onreply_route",
            RouteType::Branch => "branch_route",
            RouteType::OnSend => "onsend_route",
            RouteType::Event => "event_route",
            RouteType::CoreReply => "reply_route",
        }
    }
}

/// A set of route types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteMask(pub u8);

impl RouteMask {
    /// Every route type.
    pub const ANY: RouteMask = RouteMask(0x7f);
    /// Request, failure and branch routes (where a request is at hand).
    pub const REQUEST_LIKE: RouteMask = RouteMask(
        RouteType::Request.bit().0 | RouteType::Failure.bit().0 | RouteType::Branch.bit().0 | RouteType::Event.bit().0,
    );
    /// Request route only (and event routes, which run on a request).
    pub const REQUEST: RouteMask = RouteMask(RouteType::Request.bit().0 | RouteType::Event.bit().0);
    /// Reply routes.
    pub const REPLY: RouteMask = RouteMask(RouteType::OnReply.bit().0 | RouteType::CoreReply.bit().0);

    /// Whether `t` is in the set.
    pub fn allows(self, t: RouteType) -> bool {
        self.0 & t.bit().0 != 0
    }

    /// Union.
    pub const fn or(self, o: RouteMask) -> RouteMask {
        RouteMask(self.0 | o.0)
    }
}

/// One AVP: an interned name and its value; the list is a stack (the
/// newest first when read).
#[derive(Debug, Clone)]
pub struct Avp {
    /// Interned name (see [`super::compile::Names`]).
    pub name: u32,
    /// Value.
    pub value: Stored,
}

/// One xavp item: a root name and its fields (each field a stack too).
#[derive(Debug, Clone, Default)]
pub struct Xavp {
    /// Root name.
    pub name: Vec<u8>,
    /// Fields, newest last.
    pub fields: Vec<(Vec<u8>, Stored)>,
}

/// An extra branch added by `append_branch`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Branch {
    /// Request-URI of the branch.
    pub uri: Vec<u8>,
    /// Destination URI, when set.
    pub dst_uri: Option<Vec<u8>>,
    /// q value × 1000, when given.
    pub q: Option<i32>,
    /// Branch flags.
    pub bflags: u32,
}

/// Where a message should go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest<'a> {
    /// A next hop, as `forward()` decided.
    Host {
        /// Host name or address text.
        host: &'a [u8],
        /// Port, when fixed.
        port: Option<u16>,
        /// Transport, when fixed.
        proto: Option<Proto>,
        /// What a connection-oriented send may do (`set_forward_*`).
        conn: ConnFlags,
    },
    /// A resolved next hop (tm sends each branch, and its
    /// retransmissions, to the address it resolved once).
    Addr {
        /// Address and port.
        to: std::net::SocketAddr,
        /// Transport.
        proto: Proto,
        /// What a connection-oriented send may do.
        conn: ConnFlags,
    },
    /// Back to the sender of the message being processed (a reply), on
    /// the socket or connection it came from: over UDP and SCTP to the
    /// top Via's port (RFC 3261 §18.2.2) unless it has `rport`, or
    /// `symmetric` (the script's `force_rport()`), then to the source
    /// port (RFC 3581).
    Source {
        /// Send to the source port whatever the Via says.
        symmetric: bool,
        /// What a connection-oriented send may do (`set_reply_*`).
        conn: ConnFlags,
    },
}

/// What a send over a connection (TCP) may do: open a new connection when
/// none is open to the destination, and keep the connection after.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnFlags {
    /// Send only on a connection already open (fails otherwise).
    pub no_connect: bool,
    /// Close the connection once the message is written.
    pub close: bool,
}

/// A message as a [`Recorder`] kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Destination host (name or address text); empty for a reply to the
    /// source.
    pub host: Vec<u8>,
    /// Destination port, when fixed.
    pub port: Option<u16>,
    /// Transport, when fixed.
    pub proto: Option<Proto>,
    /// Sent back to the message's source.
    pub to_source: bool,
    /// The message.
    pub data: Vec<u8>,
}

/// The runtime's side of sending: the transports implement it; tests
/// record. Data is borrowed (it may come from a module: nothing owned
/// crosses the module boundary).
pub trait Outbound {
    /// Sends `data` to `dest`; an error text when it could not be sent.
    fn send(&mut self, dest: Dest<'_>, data: &[u8]) -> Result<(), String>;

    /// The transport a request to `host`:`port` goes over when neither the
    /// URI nor the script chose one (RFC 3263: what the SRV records say;
    /// UDP when they say nothing).
    fn transport_for(&mut self, host: &[u8], port: Option<u16>) -> Proto {
        let _ = (host, port);
        Proto::Udp
    }

    /// Makes the connection the message came over also the connection to
    /// `port` of its peer's address (a tcp alias; `None`: the transport's
    /// default port, 5060 for TCP); an error text when it could not. A
    /// message that did not come over a connection has nothing to alias:
    /// nothing to do, as Kamailio.
    fn tcp_alias(&mut self, port: Option<u16>) -> Result<(), String> {
        let _ = port;
        Ok(())
    }

    /// Where a request to `host`:`port` goes (RFC 3263: SRV, then A/AAAA;
    /// the transport SRV gave when `proto` is `None`). Without a resolver,
    /// only an address literal resolves.
    fn resolve(&mut self, host: &[u8], port: Option<u16>, proto: Option<Proto>) -> Result<(SocketAddr, Proto), String> {
        let h = std::str::from_utf8(host).map_err(|_| "host is not UTF-8")?;
        let ip: IpAddr =
            h.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| format!("cannot resolve {h}"))?;
        let proto = proto.unwrap_or(Proto::Udp);
        Ok((SocketAddr::new(ip, port.unwrap_or(proto.default_port())), proto))
    }

    /// Target number `nth` for `host` (0 is [`Outbound::resolve`]'s; the
    /// next SRV target or address after a failure, for DNS failover); an
    /// error when there is no such target.
    fn resolve_nth(
        &mut self,
        host: &[u8],
        port: Option<u16>,
        proto: Option<Proto>,
        nth: usize,
    ) -> Result<(SocketAddr, Proto), String> {
        match nth {
            0 => self.resolve(host, port, proto),
            _ => Err(format!("{} has no target {nth}", String::from_utf8_lossy(host))),
        }
    }
}

/// An [`Outbound`] that keeps what was sent (tests, `sipr -c`).
#[derive(Debug, Default)]
pub struct Recorder {
    /// Everything sent, in order.
    pub sent: Vec<Outgoing>,
}

impl Outbound for Recorder {
    fn send(&mut self, dest: Dest<'_>, data: &[u8]) -> Result<(), String> {
        let (host, port, proto, to_source) = match dest {
            Dest::Host { host, port, proto, .. } => (host.to_vec(), port, proto, false),
            Dest::Addr { to, proto, .. } => (to.ip().to_string().into_bytes(), Some(to.port()), Some(proto), false),
            Dest::Source { .. } => (Vec::new(), None, None, true),
        };
        self.sent.push(Outgoing { host, port, proto, to_source, data: data.to_vec() });
        Ok(())
    }
}

/// The server's own addresses and names (for `myself`) and the headers it
/// announces.
#[derive(Debug, Clone, Default)]
pub struct CoreInfo {
    /// Listen sockets: protocol, address, port, advertised host/port.
    pub listen: Vec<ListenAddr>,
    /// `alias=` entries: host (lower case) and port (0 = any).
    pub aliases: Vec<(String, u16)>,
    /// `Server:` header value for local replies: `server_header`, else
    /// sipr's signature; `None` with `server_signature=no` (Kamailio's
    /// rule: no Server header at all).
    pub server_header: Option<String>,
    /// A per-server random value fixed before the fork (To-tags of local
    /// replies are derived from it, so every process tags alike).
    pub secret: u64,
    /// The global `advertised_address`: what sockets without their own
    /// `advertise` put in their Via (not a name `myself` matches, as in
    /// Kamailio).
    pub advertised_address: Option<String>,
    /// The global `advertised_port`.
    pub advertised_port: Option<u16>,
    /// `use_dns_failover`: a request that timed out or got a 503 goes on
    /// to the next address its destination's name resolves to (tm).
    pub dns_failover: bool,
}

/// One listen socket as the script knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    /// Transport.
    pub proto: Proto,
    /// Host text as written (address or name).
    pub host: String,
    /// Port.
    pub port: u16,
    /// `advertise` host and port.
    pub advertise: Option<(String, u16)>,
}

/// The address a host text spells (`[...]` around IPv6 allowed), if it
/// is one: dotted quads without std's general parser (this runs for every
/// Route and Request-URI rr and the core check against `myself`).
fn host_ip(text: &[u8]) -> Option<IpAddr> {
    let h = text.strip_prefix(b"[").and_then(|x| x.strip_suffix(b"]")).unwrap_or(text);
    if let Some(o) = crate::sip::ipv4_octets(h) {
        return Some(IpAddr::from(o));
    }
    if h.contains(&b':') && h.iter().all(|c| c.is_ascii_hexdigit() || *c == b'.' || *c == b':') {
        return std::str::from_utf8(h).ok()?.parse().ok();
    }
    None
}

impl CoreInfo {
    /// Whether `ip` is one of the listen (or advertised) addresses.
    pub fn is_my_ip(&self, ip: IpAddr) -> bool {
        let is = |h: &str| host_ip(h.as_bytes()) == Some(ip);
        self.listen.iter().any(|l| is(&l.host) || l.advertise.as_ref().is_some_and(|(h, _)| is(h)))
    }

    /// Whether `host[:port]` is this server (a listen address, an
    /// advertised address or an alias); `port` 0 means the default 5060
    /// (5061 for TLS) as Kamailio's check_self.
    pub fn is_myself(&self, host: &[u8], port: u16) -> bool {
        let h = host.strip_prefix(b"[").and_then(|x| x.strip_suffix(b"]")).unwrap_or(host);
        let ip = host_ip(h);
        let same_host = |cand: &str| {
            let c = cand.trim_start_matches('[').trim_end_matches(']');
            c.as_bytes().eq_ignore_ascii_case(h) || ip.is_some_and(|a| host_ip(c.as_bytes()) == Some(a))
        };
        let port_ok = |p: u16, proto: Proto| p == if port == 0 { proto.default_port() } else { port };
        self.listen.iter().any(|l| {
            (port_ok(l.port, l.proto) && same_host(&l.host))
                || l.advertise.as_ref().is_some_and(|(ah, ap)| port_ok(*ap, l.proto) && same_host(ah))
        }) || self.aliases.iter().any(|(a, p)| (*p == 0 || port_ok(*p, Proto::Udp)) && same_host(a))
    }
}

/// A worker's own script state, kept across messages as Kamailio keeps
/// `$var` (which is why scripts reset their vars).
#[derive(Debug, Default)]
pub struct ProcState {
    /// `$var` slots, one per name the program uses.
    pub vars: Vec<Stored>,
    /// `$vn` slots (unset ones read `$null`).
    pub null_vars: Vec<Stored>,
    /// A buffer assignments copy through, so that `$var(x) = $rU` does not
    /// allocate once warm.
    pub scratch: Vec<u8>,
    /// The AVP list's storage, lent to each message's [`Ctx`] and given
    /// back (empty) when it is dropped, so that it is allocated once.
    avp_storage: Vec<Avp>,
    /// String buffers of AVPs that are gone, for the next ones.
    avp_bufs: Vec<Vec<u8>>,
}

/// Where `msg_apply_changes()` keeps the messages it rebuilds while one
/// received message is handled: made beside the received message (it
/// allocates nothing until a message is rebuilt) and dropped with it, so
/// a rebuilt message lives as long as the original and the script goes on
/// with it in its place.
#[derive(Default)]
pub struct MsgArena<'m> {
    inner: std::cell::OnceCell<ArenaInner<'m>>,
}

struct ArenaInner<'m> {
    bufs: typed_arena::Arena<Vec<u8>>,
    msgs: typed_arena::Arena<SipMsg<'m>>,
}

impl std::fmt::Debug for MsgArena<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgArena").field("messages", &self.inner.get().map_or(0, |i| i.msgs.len())).finish()
    }
}

impl<'m> MsgArena<'m> {
    /// An empty arena.
    pub fn new() -> Self {
        MsgArena { inner: std::cell::OnceCell::new() }
    }

    /// Parses `buf` into a message that lives as long as the arena.
    fn keep(&'m self, buf: Vec<u8>) -> Result<&'m SipMsg<'m>, crate::sip::ParseError> {
        let inner = self.inner.get_or_init(|| ArenaInner {
            bufs: typed_arena::Arena::with_capacity(1),
            msgs: typed_arena::Arena::with_capacity(1),
        });
        let b: &'m Vec<u8> = inner.bufs.alloc(buf);
        let m = SipMsg::parse(b)?;
        Ok(inner.msgs.alloc(m))
    }
}

/// Everything a script run touches.
pub struct Ctx<'m> {
    /// The message (after `msg_apply_changes()`, the rebuilt one).
    pub msg: &'m SipMsg<'m>,
    /// Where rebuilt messages are kept, when the caller gave one.
    arena: Option<&'m MsgArena<'m>>,
    /// Where it came from.
    pub rcv: RecvInfo,
    /// Server facts.
    pub core: &'m CoreInfo,
    /// The worker's variables.
    pub proc: &'m mut ProcState,
    /// Where forwarded messages go.
    pub out: &'m mut dyn Outbound,
    /// Which route type is running.
    pub route_type: RouteType,
    /// The message is the core's stand-in for an event route
    /// (`event_route[core:worker-one-init]`), not one that was received
    /// (corex `is_faked_msg()`).
    pub faked: bool,
    /// The rewritten Request-URI, if any (set through
    /// [`Ctx::set_new_uri`], which keeps the parsed form in step).
    new_uri: Option<Vec<u8>>,
    /// The rewritten Request-URI, parsed on first use.
    new_uri_parsed: std::cell::OnceCell<Option<Uri>>,
    /// `$du`.
    pub dst_uri: Option<Vec<u8>>,
    /// Message flags.
    pub flags: u64,
    /// Branch flags of branch 0.
    pub bflags: u32,
    /// Script flags.
    pub sflags: u32,
    /// Extra branches.
    pub branches: Vec<Branch>,
    /// AVPs, oldest first (reads search from the end).
    pub avps: Vec<Avp>,
    /// xavps, oldest first.
    pub xavps: Vec<Xavp>,
    /// Changes to the message.
    pub lumps: Lumps,
    /// `force_rport()` was called.
    pub force_rport: bool,
    /// `add_local_rport()` was called.
    pub add_local_rport: bool,
    /// `set_advertised_address`.
    pub advertised_address: Option<Vec<u8>>,
    /// `set_advertised_port`.
    pub advertised_port: Option<Vec<u8>>,
    /// `force_send_socket` / `$fs`: proto, host, port.
    pub send_socket: Option<(Proto, String, u16)>,
    /// Return code of the last function or route (`$rc`).
    pub retcode: i64,
    /// `drop` was executed.
    pub dropped: bool,
    /// Time the message started being processed (`$Ts`), seconds; read
    /// on first use.
    started: std::cell::Cell<i64>,
    /// `set_forward_no_connect` and friends: connection flags for sends.
    pub send_flags: SendFlags,
    /// The cfg line of the function call being run (for `xlogl`).
    pub cfg_line: u32,
    /// Header lines (CRLF-terminated) to add to locally generated replies
    /// (`append_to_reply`).
    pub reply_headers: Vec<u8>,
    /// Body for locally generated replies (`set_reply_body`), with its
    /// Content-Type among `reply_headers`.
    pub reply_body: Vec<u8>,
    /// Small per-message facts modules keep (Kamailio keeps them in the
    /// message structure): a module's static name and a number.
    module_ints: Vec<(&'static str, i64)>,
    /// The same for byte strings (rr's Record-Route parameters).
    module_bytes: Vec<(&'static str, Vec<u8>)>,
    /// Why a PV could not be read for this message (a header that does
    /// not parse); the interpreter logs it with the statement's cfg line.
    pv_error: std::cell::Cell<Option<&'static str>>,
}

/// Per-message connection flags set by the script.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendFlags {
    /// `set_forward_no_connect()`: do not open a connection to forward.
    pub forward_no_connect: bool,
    /// `set_reply_no_connect()`: do not open a connection for replies.
    pub reply_no_connect: bool,
    /// `set_forward_close()`: close the connection after forwarding.
    pub forward_close: bool,
    /// `set_reply_close()`: close the connection after replying.
    pub reply_close: bool,
}

impl SendFlags {
    /// The flags of a forwarded request.
    pub fn forward(&self) -> ConnFlags {
        ConnFlags { no_connect: self.forward_no_connect, close: self.forward_close }
    }

    /// The flags of a reply.
    pub fn reply(&self) -> ConnFlags {
        ConnFlags { no_connect: self.reply_no_connect, close: self.reply_close }
    }
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        // AVPs die with the message; their list's storage and string
        // buffers are kept for the next one
        for a in self.avps.drain(..) {
            self.proc.recycle(a.value);
        }
        self.proc.avp_storage = std::mem::take(&mut self.avps);
    }
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("route_type", &self.route_type)
            .field("new_uri", &self.new_uri.as_deref().map(String::from_utf8_lossy))
            .field("dst_uri", &self.dst_uri.as_deref().map(String::from_utf8_lossy))
            .field("flags", &self.flags)
            .field("retcode", &self.retcode)
            .finish_non_exhaustive()
    }
}

impl<'m> Ctx<'m> {
    /// A fresh context for one message.
    pub fn new(
        msg: &'m SipMsg<'m>,
        rcv: RecvInfo,
        core: &'m CoreInfo,
        proc: &'m mut ProcState,
        out: &'m mut dyn Outbound,
    ) -> Self {
        let avps = std::mem::take(&mut proc.avp_storage);
        Ctx {
            msg,
            arena: None,
            rcv,
            core,
            proc,
            out,
            route_type: RouteType::Request,
            faked: false,
            new_uri: None,
            new_uri_parsed: std::cell::OnceCell::new(),
            dst_uri: None,
            flags: 0,
            bflags: 0,
            sflags: 0,
            branches: Vec::new(),
            avps,
            xavps: Vec::new(),
            lumps: Lumps::new(),
            force_rport: false,
            add_local_rport: false,
            advertised_address: None,
            advertised_port: None,
            send_socket: None,
            retcode: 0,
            dropped: false,
            started: std::cell::Cell::new(0),
            send_flags: SendFlags::default(),
            pv_error: std::cell::Cell::new(None),
            cfg_line: 0,
            module_ints: Vec::new(),
            module_bytes: Vec::new(),
            reply_headers: Vec::new(),
            reply_body: Vec::new(),
        }
    }

    /// Lets `msg_apply_changes()` rebuild the message into `arena`.
    pub fn with_arena(mut self, arena: &'m MsgArena<'m>) -> Self {
        self.arena = Some(arena);
        self
    }

    /// `msg_apply_changes()`: applies the lumps to the message and goes on
    /// with the result, so that later reads (headers, `search`, PVs) see
    /// the changes — as Kamailio re-parses its rebuilt buffer. `Ok(false)`
    /// when there was nothing to apply; an error when the rebuilt message
    /// does not parse (the original stays, with its lumps) or no arena was
    /// given.
    pub fn apply_changes(&mut self) -> Result<bool, String> {
        if self.lumps.is_empty() {
            return Ok(false);
        }
        let arena = self.arena.ok_or("the message cannot be rebuilt here (no arena)")?;
        let buf = self.lumps.apply(self.msg.buf()).map_err(|e| e.to_string())?;
        let msg = arena.keep(buf).map_err(|e| format!("the changed message does not parse: {e}"))?;
        self.msg = msg;
        self.lumps = Lumps::new();
        Ok(true)
    }

    /// The current Request-URI text: the rewritten one or the message's.
    pub fn ruri(&self) -> Option<&[u8]> {
        match &self.new_uri {
            Some(u) => Some(u),
            None => self.msg.request_uri(),
        }
    }

    /// The current Request-URI parsed, with the buffer its spans index
    /// (the rewritten URI, or the whole message); parsed once per value.
    pub fn ruri_parsed(&self) -> Option<(&Uri, &[u8])> {
        match &self.new_uri {
            Some(u) => {
                let p = self.new_uri_parsed.get_or_init(|| Uri::parse(u, Span::new(0, u.len())).ok()).as_ref()?;
                Some((p, u))
            }
            None => self.msg.ruri().ok().map(|p| (p, self.msg.buf())),
        }
    }

    /// The rewritten Request-URI, if the script changed it.
    pub fn new_uri(&self) -> Option<&[u8]> {
        self.new_uri.as_deref()
    }

    /// Rewrites (`Some`) or reverts (`None`) the Request-URI.
    pub fn set_new_uri(&mut self, uri: Option<Vec<u8>>) {
        self.new_uri = uri;
        self.new_uri_parsed = std::cell::OnceCell::new();
    }

    /// A per-message number a module stored under `key`.
    pub fn module_int(&self, key: &'static str) -> Option<i64> {
        self.module_ints.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// Stores a per-message number for a module.
    pub fn set_module_int(&mut self, key: &'static str, v: i64) {
        match self.module_ints.iter_mut().find(|(k, _)| *k == key) {
            Some(e) => e.1 = v,
            None => self.module_ints.push((key, v)),
        }
    }

    /// Per-message bytes a module stored under `key`.
    pub fn module_bytes(&self, key: &'static str) -> Option<&[u8]> {
        self.module_bytes.iter().find(|(k, _)| *k == key).map(|(_, v)| &v[..])
    }

    /// Stores per-message bytes for a module (`None` removes them).
    pub fn set_module_bytes(&mut self, key: &'static str, v: Option<&[u8]>) {
        let at = self.module_bytes.iter().position(|(k, _)| *k == key);
        match (at, v) {
            (Some(i), Some(v)) => {
                self.module_bytes[i].1.clear();
                self.module_bytes[i].1.extend_from_slice(v);
            }
            (None, Some(v)) => self.module_bytes.push((key, v.to_vec())),
            (Some(i), None) => {
                self.module_bytes.swap_remove(i);
            }
            (None, None) => {}
        }
    }

    /// Records that a PV could not be read (`what` names the part), for
    /// the interpreter to log with the cfg line of the statement.
    pub fn pv_failed(&self, what: &'static str) {
        self.pv_error.set(Some(what));
    }

    /// Takes the PV read failure recorded since the last call.
    pub fn take_pv_error(&self) -> Option<&'static str> {
        self.pv_error.take()
    }

    /// When processing of this message started (`$Ts`), Unix seconds.
    pub fn started(&self) -> i64 {
        if self.started.get() == 0 {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs() as i64);
            self.started.set(now);
        }
        self.started.get()
    }

    /// The newest AVP named `name`, and how many there are.
    pub fn avp(&self, name: u32, idx: usize) -> Option<&Stored> {
        self.avps.iter().rev().filter(|a| a.name == name).nth(idx).map(|a| &a.value)
    }

    /// Pushes an AVP. String values reuse buffers of AVPs gone before.
    pub fn add_avp(&mut self, name: u32, v: &Value<'_>) {
        let value = match v {
            Value::Str(s) => {
                let mut buf = self.proc.avp_bufs.pop().unwrap_or_default();
                buf.clear();
                buf.extend_from_slice(s);
                Stored::Str(buf)
            }
            v => Stored::from_value(v),
        };
        self.avps.push(Avp { name, value });
    }

    /// Removes the newest AVP named `name` (or all of them).
    pub fn remove_avp(&mut self, name: u32, all: bool) {
        if all {
            let mut i = 0;
            while i < self.avps.len() {
                if self.avps[i].name == name {
                    let gone = self.avps.remove(i);
                    self.proc.recycle(gone.value);
                } else {
                    i += 1;
                }
            }
        } else if let Some(i) = self.avps.iter().rposition(|a| a.name == name) {
            let gone = self.avps.remove(i);
            self.proc.recycle(gone.value);
        }
    }
}

impl ProcState {
    /// Keeps a string buffer for the next AVP (a bounded number of them).
    fn recycle(&mut self, v: Stored) {
        if let Stored::Str(b) = v {
            if self.avp_bufs.len() < 64 && b.capacity() <= 4096 {
                self.avp_bufs.push(b);
            }
        }
    }
}
