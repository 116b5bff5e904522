//! The core's own script functions (Kamailio's core actions): flags,
//! Request-URI rewriting, branches, forwarding, logging, socket and
//! connection settings.

use super::ctx::{Branch, Ctx, Dest, RouteMask};
use super::func::{FnDef, Param, ParamKind as K};
use super::pv::{parse_socket, rebuild_uri, UriPart};
use crate::net::Proto;
use crate::sip::{forward_request, stateless_branch, ForwardRequest, Source, Span, Uri, ViaSpec};

type P = [Param];

const ANY: RouteMask = RouteMask::ANY;
/// Where a request is being routed (Kamailio's REQUEST|FAILURE|BRANCH).
const REQ: RouteMask = RouteMask::REQUEST_LIKE;

macro_rules! def {
    ($name:literal, [$($k:expr),*], $routes:expr, $f:expr) => {
        FnDef { name: $name, params: &[$($k),*], routes: $routes, call: $f, fixup: None }
    };
}

/// Every core function.
/// Functions sipr's core provides that Kamailio's modules export (kex,
/// corex): like every module function, they set `$rc`. The others are
/// Kamailio's core actions, which leave `$rc` alone as statements and set
/// it to 0 in a condition (measured on the bed, `core:rc.*`).
const MODULE_OWNED: &[&str] = &[
    "setbflag",
    "resetbflag",
    "isbflagset",
    "setsflag",
    "resetsflag",
    "issflagset",
    "append_branch",
    "is_myself",
    "isdsturiset",
    "resetdsturi",
    "setdsturi",
];

/// Whether `name` is one of Kamailio's core actions (see [`MODULE_OWNED`]).
pub fn is_core_action(name: &str) -> bool {
    !MODULE_OWNED.contains(&name) && CORE_FUNCTIONS.iter().any(|f| f.name == name)
}

pub static CORE_FUNCTIONS: &[FnDef] = &[
    def!("forward", [], REQ, forward0),
    def!("forward", [K::Fmt], REQ, forward1),
    def!("forward", [K::Fmt, K::IntOrPv], REQ, forward2),
    def!("log", [K::Fmt], ANY, log1),
    def!("log", [K::Int, K::Fmt], ANY, log2),
    def!("setflag", [K::Flag], ANY, setflag),
    def!("resetflag", [K::Flag], ANY, resetflag),
    def!("isflagset", [K::Flag], ANY, isflagset),
    def!("setbflag", [K::Flag], ANY, setbflag),
    def!("setbflag", [K::Flag, K::IntOrPv], ANY, setbflag),
    def!("resetbflag", [K::Flag], ANY, resetbflag),
    def!("resetbflag", [K::Flag, K::IntOrPv], ANY, resetbflag),
    def!("isbflagset", [K::Flag], ANY, isbflagset),
    def!("isbflagset", [K::Flag, K::IntOrPv], ANY, isbflagset),
    def!("setsflag", [K::Flag], ANY, setsflag),
    def!("resetsflag", [K::Flag], ANY, resetsflag),
    def!("issflagset", [K::Flag], ANY, issflagset),
    def!("rewritehost", [K::Fmt], REQ, rewritehost),
    def!("sethost", [K::Fmt], REQ, rewritehost),
    def!("seth", [K::Fmt], REQ, rewritehost),
    def!("rewritehostport", [K::Fmt], REQ, rewritehostport),
    def!("sethostport", [K::Fmt], REQ, rewritehostport),
    def!("sethp", [K::Fmt], REQ, rewritehostport),
    def!("rewriteuri", [K::Fmt], REQ, rewriteuri),
    def!("seturi", [K::Fmt], REQ, rewriteuri),
    def!("rewriteuser", [K::Fmt], REQ, rewriteuser),
    def!("setuser", [K::Fmt], REQ, rewriteuser),
    def!("setu", [K::Fmt], REQ, rewriteuser),
    def!("rewriteuserpass", [K::Fmt], REQ, rewriteuserpass),
    def!("setuserpass", [K::Fmt], REQ, rewriteuserpass),
    def!("setup", [K::Fmt], REQ, rewriteuserpass),
    def!("rewritehostporttrans", [K::Fmt], REQ, rewritehostporttrans),
    def!("sethostporttrans", [K::Fmt], REQ, rewritehostporttrans),
    def!("sethpt", [K::Fmt], REQ, rewritehostporttrans),
    def!("userphone", [], REQ, userphone),
    def!("udp_mtu_try_proto", [K::Str], REQ, udp_mtu_try_proto),
    def!("rewriteport", [K::Fmt], REQ, rewriteport),
    def!("setport", [K::Fmt], REQ, rewriteport),
    def!("setp", [K::Fmt], REQ, rewriteport),
    def!("prefix", [K::Fmt], REQ, prefix),
    def!("strip", [K::IntOrPv], REQ, strip),
    def!("strip_tail", [K::IntOrPv], REQ, strip_tail),
    def!("revert_uri", [], REQ, revert_uri),
    def!("append_branch", [], REQ, append_branch0),
    def!("append_branch", [K::Fmt], REQ, append_branch1),
    def!("append_branch", [K::Fmt, K::Str], REQ, append_branch2),
    def!("force_rport", [], ANY, force_rport),
    def!("add_rport", [], ANY, force_rport),
    def!("add_local_rport", [], ANY, add_local_rport),
    def!("force_tcp_alias", [], ANY, force_tcp_alias0),
    def!("force_tcp_alias", [K::IntOrPv], ANY, force_tcp_alias1),
    def!("add_tcp_alias", [], ANY, force_tcp_alias0),
    def!("add_tcp_alias", [K::IntOrPv], ANY, force_tcp_alias1),
    def!("force_send_socket", [K::Fmt], REQ, force_send_socket),
    def!("set_advertised_address", [K::Fmt], ANY, set_advertised_address),
    def!("set_advertised_port", [K::Fmt], ANY, set_advertised_port),
    def!("is_myself", [K::Fmt], ANY, is_myself),
    def!("isdsturiset", [], ANY, isdsturiset),
    def!("resetdsturi", [], ANY, resetdsturi),
    def!("setdsturi", [K::Fmt], ANY, setdsturi),
    def!("set_forward_no_connect", [], ANY, set_forward_no_connect),
    def!("set_reply_no_connect", [], ANY, set_reply_no_connect),
    def!("set_forward_close", [], ANY, set_forward_close),
    def!("set_reply_close", [], ANY, set_reply_close),
];

fn flag_bit(p: &Param) -> u32 {
    match p {
        Param::Flag(b) => *b,
        _ => 0,
    }
}

fn rc(b: bool) -> i32 {
    if b {
        1
    } else {
        -1
    }
}

fn setflag(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    ctx.flags |= 1 << flag_bit(&p[0]);
    1
}
fn resetflag(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    ctx.flags &= !(1 << flag_bit(&p[0]));
    1
}
fn isflagset(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    rc(ctx.flags & (1 << flag_bit(&p[0])) != 0)
}

/// The branch flags of branch `idx` (0 = the Request-URI's).
fn bflags_mut<'a>(ctx: &'a mut Ctx<'_>, idx: i64) -> Option<&'a mut u32> {
    match idx {
        0 => Some(&mut ctx.bflags),
        i if i > 0 => ctx.branches.get_mut(i as usize - 1).map(|b| &mut b.bflags),
        _ => None,
    }
}
/// Runs `op` on the branch flags the call names (branch 0 without a
/// second parameter) and the flag's mask; -1 for a branch that does not
/// exist.
fn bflag_op(ctx: &mut Ctx<'_>, p: &P, op: fn(&mut u32, u32) -> bool) -> i32 {
    let idx = p.get(1).map_or(0, |i| i.int(ctx));
    let mask = 1 << flag_bit(&p[0]);
    bflags_mut(ctx, idx).map_or(-1, |f| rc(op(f, mask)))
}
fn setbflag(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    bflag_op(ctx, p, |f, m| {
        *f |= m;
        true
    })
}
fn resetbflag(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    bflag_op(ctx, p, |f, m| {
        *f &= !m;
        true
    })
}
fn isbflagset(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    bflag_op(ctx, p, |f, m| *f & m != 0)
}
fn setsflag(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    ctx.sflags |= 1 << flag_bit(&p[0]);
    1
}
fn resetsflag(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    ctx.sflags &= !(1 << flag_bit(&p[0]));
    1
}
fn issflagset(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    rc(ctx.sflags & (1 << flag_bit(&p[0])) != 0)
}

/// Replaces a part of the current Request-URI.
fn rewrite(ctx: &mut Ctx<'_>, part: UriPart, new: Option<&[u8]>) -> i32 {
    let Some(cur) = ctx.ruri().map(<[u8]>::to_vec) else { return -1 };
    let Ok(uri) = Uri::parse(&cur, Span::new(0, cur.len())) else {
        log::error!("cannot rewrite an unparsable Request-URI");
        return -1;
    };
    ctx.set_new_uri(Some(rebuild_uri(&cur, &uri, part, new)));
    1
}
/// Rewrites `part` of the Request-URI with the call's first parameter.
fn rewrite_part(ctx: &mut Ctx<'_>, p: &P, part: UriPart) -> i32 {
    let v = p[0].text(ctx).into_owned();
    rewrite(ctx, part, Some(&v))
}
fn rewritehost(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    rewrite_part(ctx, p, UriPart::Host)
}
fn rewritehostport(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    rewrite_part(ctx, p, UriPart::HostPort)
}
fn rewriteuser(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    rewrite_part(ctx, p, UriPart::User)
}
fn rewriteuserpass(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    rewrite_part(ctx, p, UriPart::Password)
}
fn rewritehostporttrans(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    rewrite_part(ctx, p, UriPart::HostPortParams)
}
/// `udp_mtu_try_proto(proto)`: the protocol a request too big for
/// `udp_mtu` goes over instead. sipr takes only Kamailio's default
/// `udp_mtu=0` (no limit), with which the function changes nothing, as in
/// Kamailio; an unknown protocol is an error.
fn udp_mtu_try_proto(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    let proto = p[0].text(ctx);
    match Proto::from_name(&String::from_utf8_lossy(&proto)) {
        Some(_) => 1,
        None => {
            log::error!("udp_mtu_try_proto: unknown protocol '{}'", String::from_utf8_lossy(&proto));
            -1
        }
    }
}

/// `userphone()`: `;user=phone` on the Request-URI, unless it has a user
/// parameter already.
fn userphone(ctx: &mut Ctx<'_>, _: &P) -> i32 {
    let Some((uri, buf)) = ctx.ruri_parsed() else { return -1 };
    if uri.params.get(buf, "user").is_some() {
        return 1;
    }
    let (start, end) = (uri.whole.off as usize, uri.whole.end());
    let params_end = uri.headers.map_or(end, |h| h.off as usize - 1);
    let new = [&buf[start..params_end], b";user=phone", &buf[params_end..end]].concat();
    ctx.set_new_uri(Some(new));
    1
}
fn rewriteport(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    rewrite_part(ctx, p, UriPart::Port)
}
fn rewriteuri(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    let v = p[0].text(ctx).into_owned();
    if Uri::parse(&v, Span::new(0, v.len())).is_err() {
        log::error!("rewriteuri: invalid URI '{}'", String::from_utf8_lossy(&v));
        return -1;
    }
    ctx.set_new_uri(Some(v));
    1
}

/// The current Request-URI's user, parsed.
fn ruri_user(ctx: &Ctx<'_>) -> Option<Vec<u8>> {
    let cur = ctx.ruri()?;
    let uri = Uri::parse(cur, Span::new(0, cur.len())).ok()?;
    Some(uri.user.map(|u| u.get(cur).to_vec()).unwrap_or_default())
}
fn prefix(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    let pre = p[0].text(ctx).into_owned();
    let Some(mut user) = ruri_user(ctx) else { return -1 };
    user.splice(0..0, pre);
    rewrite(ctx, UriPart::User, Some(&user))
}
fn strip(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    let n = p[0].int(ctx).max(0) as usize;
    let Some(user) = ruri_user(ctx) else { return -1 };
    let new = user.get(n..).unwrap_or(&[]).to_vec();
    rewrite(ctx, UriPart::User, Some(&new))
}
fn strip_tail(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    let n = p[0].int(ctx).max(0) as usize;
    let Some(user) = ruri_user(ctx) else { return -1 };
    let new = user[..user.len().saturating_sub(n)].to_vec();
    rewrite(ctx, UriPart::User, Some(&new))
}
fn revert_uri(ctx: &mut Ctx<'_>, _: &P) -> i32 {
    ctx.set_new_uri(None);
    1
}

fn push_branch(ctx: &mut Ctx<'_>, uri: Vec<u8>, q: Option<i32>) -> i32 {
    if Uri::parse(&uri, Span::new(0, uri.len())).is_err() {
        log::error!("append_branch: invalid URI '{}'", String::from_utf8_lossy(&uri));
        return -1;
    }
    // Kamailio's max_branches default
    if ctx.branches.len() >= 12 {
        log::error!("append_branch: too many branches");
        return -1;
    }
    let dst_uri = ctx.dst_uri.clone();
    ctx.branches.push(Branch { uri, dst_uri, q, bflags: ctx.bflags });
    1
}
fn append_branch0(ctx: &mut Ctx<'_>, _: &P) -> i32 {
    let Some(uri) = ctx.ruri().map(<[u8]>::to_vec) else { return -1 };
    push_branch(ctx, uri, None)
}
fn append_branch1(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    let uri = p[0].text(ctx).into_owned();
    push_branch(ctx, uri, None)
}
fn append_branch2(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    let uri = p[0].text(ctx).into_owned();
    let q = std::str::from_utf8(&p[1].text(ctx)).ok().and_then(|s| s.trim().parse::<f32>().ok());
    push_branch(ctx, uri, q.map(|q| (q * 1000.0).round() as i32))
}

fn force_rport(ctx: &mut Ctx<'_>, _: &P) -> i32 {
    ctx.force_rport = true;
    1
}
fn add_local_rport(ctx: &mut Ctx<'_>, _: &P) -> i32 {
    ctx.add_local_rport = true;
    1
}
/// `force_tcp_alias()` / `add_tcp_alias()`: the connection the message
/// came over stands for the top Via's port of its peer too (the
/// transport's default when the Via has none); with an argument, for that
/// port.
fn force_tcp_alias0(ctx: &mut Ctx<'_>, _: &P) -> i32 {
    let port = ctx.msg.via1().ok().and_then(|v| v.port);
    tcp_alias(ctx, port)
}
fn force_tcp_alias1(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    let port = p[0].int(ctx);
    match u16::try_from(port) {
        Ok(port) if port > 0 => tcp_alias(ctx, Some(port)),
        _ => {
            log::error!("force_tcp_alias: bad port {port}");
            -1
        }
    }
}
fn tcp_alias(ctx: &mut Ctx<'_>, port: Option<u16>) -> i32 {
    match ctx.out.tcp_alias(port) {
        Ok(()) => 1,
        Err(e) => {
            log::error!("force_tcp_alias: {e}");
            -1
        }
    }
}
fn force_send_socket(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    let s = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    match parse_socket(&s) {
        Some(sock) => {
            ctx.send_socket = Some(sock);
            1
        }
        None => {
            log::error!("force_send_socket: bad socket '{s}'");
            -1
        }
    }
}
fn set_advertised_address(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    ctx.advertised_address = Some(p[0].text(ctx).into_owned());
    1
}
fn set_advertised_port(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    ctx.advertised_port = Some(p[0].text(ctx).into_owned());
    1
}
fn is_myself(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    let t = p[0].text(ctx);
    match Uri::parse(&t, Span::new(0, t.len())) {
        Ok(u) => rc(ctx.core.is_myself(u.host.get(&t), u.port.unwrap_or(0))),
        // a bare host is accepted too
        Err(_) => rc(ctx.core.is_myself(&t, 0)),
    }
}
fn isdsturiset(ctx: &mut Ctx<'_>, _: &P) -> i32 {
    rc(ctx.dst_uri.is_some())
}
fn resetdsturi(ctx: &mut Ctx<'_>, _: &P) -> i32 {
    ctx.dst_uri = None;
    1
}
fn setdsturi(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    let v = p[0].text(ctx).into_owned();
    if Uri::parse(&v, Span::new(0, v.len())).is_err() {
        log::error!("setdsturi: invalid URI '{}'", String::from_utf8_lossy(&v));
        return -1;
    }
    ctx.dst_uri = Some(v);
    1
}
fn set_forward_no_connect(ctx: &mut Ctx<'_>, _: &P) -> i32 {
    ctx.send_flags.forward_no_connect = true;
    1
}
fn set_reply_no_connect(ctx: &mut Ctx<'_>, _: &P) -> i32 {
    ctx.send_flags.reply_no_connect = true;
    1
}
fn set_forward_close(ctx: &mut Ctx<'_>, _: &P) -> i32 {
    ctx.send_flags.forward_close = true;
    1
}
fn set_reply_close(ctx: &mut Ctx<'_>, _: &P) -> i32 {
    ctx.send_flags.reply_close = true;
    1
}

/// Log levels as Kamailio numbers them (`log(level, msg)`).
fn log_at(level: i64, msg: &[u8]) {
    let text = String::from_utf8_lossy(msg);
    let text = text.trim_end_matches('\n');
    match level {
        l if l <= -1 => log::error!(target: "script", "{text}"),
        0 => log::warn!(target: "script", "{text}"),
        1 | 2 => log::info!(target: "script", "{text}"),
        _ => log::debug!(target: "script", "{text}"),
    }
}
fn log1(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    // log(msg) logs at L_ERR in Kamailio
    log_at(-1, &p[0].text(ctx));
    1
}
fn log2(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    let level = p[0].int(ctx);
    log_at(level, &p[1].text(ctx));
    1
}

/// A next hop as a URI or the script names it: host, port and transport
/// (each `None` when not fixed).
pub type NextHop = (Vec<u8>, Option<u16>, Option<Proto>);

/// The next hop a URI names: host, port and transport when the URI fixes
/// them (`;transport=`, or TLS for a sips: URI, RFC 3261 §26.2).
pub fn uri_destination(target: &[u8]) -> Result<NextHop, String> {
    let u = Uri::parse(target, Span::new(0, target.len()))
        .map_err(|_| format!("cannot parse the destination '{}'", String::from_utf8_lossy(target)))?;
    let proto = u.transport(target).and_then(|t| Proto::from_name(&String::from_utf8_lossy(t)));
    let proto = proto.or((u.scheme == crate::sip::Scheme::Sips).then_some(Proto::Tls));
    Ok((u.host.get(target).to_vec(), u.port, proto))
}

/// Where to send: explicit host/port, else `$du`, else the Request-URI.
fn forward_to(ctx: &mut Ctx<'_>, host: Option<Vec<u8>>, port: Option<u16>) -> i32 {
    let (host, port, proto) = match host {
        Some(h) => (h, port, None),
        None => {
            let target = match (&ctx.dst_uri, ctx.ruri()) {
                (Some(d), _) => d.clone(),
                (None, Some(r)) => r.to_vec(),
                (None, None) => return -1,
            };
            match uri_destination(&target) {
                Ok(d) => d,
                Err(e) => {
                    log::error!("forward: {e}");
                    return -1;
                }
            }
        }
    };
    // no transport in the URI and no socket forced: what DNS says (RFC
    // 3263 §4.1), UDP for an address — whatever the request came over,
    // as Kamailio
    let send_proto = match proto.or(ctx.send_socket.as_ref().map(|s| s.0)) {
        Some(p) => p,
        None => ctx.out.transport_for(&host, port),
    };
    let data = match build_forward(ctx, send_proto) {
        Ok(d) => d,
        Err(e) => {
            log::error!("forward: cannot build the request: {e}");
            return -1;
        }
    };
    if crate::blocklist::enabled() {
        // Kamailio's forward_request: a blocklisted next hop is not tried
        if let Ok((to, p)) = ctx.out.resolve(&host, port, Some(send_proto)) {
            if let Some(why) = crate::blocklist::check(p, to) {
                log::info!("forward: blocklisted destination {p}:{to} ({why})");
                return -1;
            }
        }
    }
    let conn = ctx.send_flags.forward();
    match ctx.out.send(Dest::Host { host: &host, port, proto: Some(send_proto), conn }, &data) {
        Ok(()) => {
            if let Some(c) = crate::stats::core() {
                crate::stats::bump(c.fwd_requests);
            }
            1
        }
        Err(e) => {
            log::error!("forward: send failed: {e}");
            -1
        }
    }
}

/// The forwarded request: our Via (advertised address if set), the
/// script's lumps, received/rport, new Request-URI, Max-Forwards.
fn build_forward(ctx: &mut Ctx<'_>, proto: Proto) -> Result<Vec<u8>, String> {
    let branch = stateless_branch(ctx.msg).map_err(|e| e.to_string())?;
    let lumps = ctx.lumps.clone();
    build_request(ctx, proto, &branch, ctx.new_uri(), lumps)
}

/// The request of `ctx` as it leaves for a next hop over `proto`: our Via
/// with `branch` (from the sending socket, its `advertise`, the global
/// advertised address, or the script's set_advertised_*), `lumps`
/// applied, received/rport on the previous hop's Via, `ruri` as the
/// Request-URI when given. `forward()` and tm's branches share it.
pub fn build_request(
    ctx: &Ctx<'_>,
    proto: Proto,
    branch: &str,
    ruri: Option<&[u8]>,
    lumps: crate::sip::Lumps,
) -> Result<Vec<u8>, String> {
    let msg = ctx.msg;
    let (local_host, local_port, local_ip) = match &ctx.send_socket {
        Some((_, h, p)) => (h.clone(), *p, h.trim_start_matches('[').trim_end_matches(']').parse().ok()),
        None => (crate::sip::emit::host_text(ctx.rcv.dst.ip()), ctx.rcv.dst.port(), Some(ctx.rcv.dst.ip())),
    };
    // leaving from another transport or address than it came to: rr's
    // double Record-Route applies
    let changed = proto != ctx.rcv.proto || local_port != ctx.rcv.dst.port() || local_ip != Some(ctx.rcv.dst.ip());
    // the sending socket's `listen ... advertise host:port`, unless the
    // script set one (set_advertised_address / _port)
    let listen_adv = ctx.core.listen.iter().find_map(|l| {
        let same_host = l.host.trim_start_matches('[').trim_end_matches(']')
            == local_host.trim_start_matches('[').trim_end_matches(']');
        (same_host && l.port == local_port && l.proto == proto).then(|| l.advertise.clone()).flatten()
    });
    // then the global advertised_address / advertised_port
    let (adv_host, adv_port) = match listen_adv {
        Some((h, p)) => (Some(h), Some(p)),
        None => (ctx.core.advertised_address.clone(), ctx.core.advertised_port),
    };
    let host = match &ctx.advertised_address {
        Some(a) => String::from_utf8_lossy(a).into_owned(),
        None => adv_host.unwrap_or(local_host),
    };
    let port = match &ctx.advertised_port {
        Some(p) => String::from_utf8_lossy(p).parse().ok(),
        None => Some(adv_port.unwrap_or(local_port)),
    };
    let transport = proto.upper_name();
    let src_ip = ctx.rcv.src.ip();
    let out_addr = if changed { format!("{host}:{}", port.unwrap_or(local_port)) } else { String::new() };
    let spec = ForwardRequest {
        other_socket: changed.then_some(crate::sip::OtherSocket { addr: &out_addr, proto: proto.name() }),
        via: ViaSpec { transport, host: &host, port, branch, rport: ctx.add_local_rport },
        source: Some(Source { ip: src_ip, port: ctx.rcv.src.port(), force_rport: ctx.force_rport }),
        new_ruri: ruri,
        record_route: None,
        pop_route: false,
        ensure_content_length: proto != Proto::Udp,
        decrement_max_forwards: false,
    };
    forward_request(msg, &spec, lumps).map_err(|e| e.to_string())
}

fn forward0(ctx: &mut Ctx<'_>, _: &P) -> i32 {
    forward_to(ctx, None, None)
}
fn forward1(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    let host = p[0].text(ctx).into_owned();
    forward_to(ctx, Some(host), None)
}
fn forward2(ctx: &mut Ctx<'_>, p: &P) -> i32 {
    let host = p[0].text(ctx).into_owned();
    let port = p[1].int(ctx);
    let Ok(port) = u16::try_from(port) else {
        log::error!("forward: bad port {port}");
        return -1;
    };
    forward_to(ctx, Some(host), Some(port))
}

/// Forwards the reply in `ctx` statelessly to the Via below ours (its
/// `received` / `rport` honoured, its transport kept): the core's reply
/// path and sl's `sl_forward_reply` share it.
pub fn forward_reply_upstream(ctx: &mut Ctx<'_>) -> Result<(), String> {
    if ctx.msg.is_request() {
        return Err("only a reply is forwarded upstream".into());
    }
    let buf = ctx.msg.buf();
    let vias = ctx.msg.vias().map_err(|e| e.to_string())?;
    let next = vias.get(1).ok_or("no Via left to send the reply to")?;
    let host = next.received(buf).unwrap_or_else(|| next.host.get(buf)).to_vec();
    let port = match next.rport(buf) {
        Some(Some(p)) => Some(p),
        _ => next.port,
    };
    let proto = Proto::from_name(&String::from_utf8_lossy(next.transport.get(buf)));
    let data = crate::sip::forward_reply(ctx.msg, ctx.lumps.clone()).map_err(|e| e.to_string())?;
    let conn = ctx.send_flags.forward();
    ctx.out.send(Dest::Host { host: &host, port, proto, conn }, &data)
}
