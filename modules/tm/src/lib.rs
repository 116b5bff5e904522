//! tm: Kamailio's transaction module. Stateful relaying (`t_relay`),
//! local stateful replies (`t_newtran`, `t_reply`), the routes a
//! transaction runs (`t_on_failure`, `t_on_reply`, `t_on_branch`), its
//! timers (`t_set_fr`), and the tests of its outcome. The transaction
//! table lives in shm ([`cell`]); the engine is in [`engine`], on the
//! core's RFC 3261 §17 state machines (`sipr_core::txn`).

mod api;
mod cell;
mod engine;
mod serial;
mod stats;

use std::sync::atomic::Ordering;

use sipr_sdk::prelude::*;
use sipr_sdk::{ModValue, Param, RouteMask};

use engine::{key, Fixed, Newtran, PARAMS};

/// The wheel timers of transactions (see [`engine::on_timer`]).
pub(crate) fn on_timer(arg: u64) -> u64 {
    engine::on_timer(arg)
}

fn relay_with(ctx: &mut Ctx<'_>, fixed: Option<Fixed>) -> FnResult {
    match engine::relay(ctx, fixed) {
        Ok(code) => Ok(code),
        Err(e) => {
            log::error!("t_relay: {e}");
            Ok(-1)
        }
    }
}

fn host_port(ctx: &Ctx<'_>, p: &[Param]) -> Result<(Vec<u8>, Option<u16>), ModError> {
    let host = p[0].text(ctx).into_owned();
    let port = p[1].int(ctx);
    let port = u16::try_from(port).map_err(|_| format!("bad port {port}"))?;
    Ok((host, (port != 0).then_some(port)))
}

/// `t_replicate`: the request, as a transaction, to the destination set
/// (every branch to the URI or host and port given, as `t_relay(host,
/// port)` sends them; else where `$du` or the Request-URI says); the far
/// end's replies are not relayed (Kamailio marks the transaction local),
/// the script's own reply still goes out.
fn replicate(ctx: &mut Ctx<'_>, fixed: Option<Fixed>) -> FnResult {
    engine::set_tflag(ctx, cell::tflag::REPLICATE, true);
    relay_with(ctx, fixed)
}

fn t_replicate0(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    replicate(ctx, None)
}

fn t_replicate1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let uri = p[0].text(ctx).into_owned();
    let (host, port, proto) = match sipr_sdk::uri_destination(&uri) {
        Ok(d) => d,
        Err(e) => {
            error!("t_replicate: bad destination '{}': {e}", String::from_utf8_lossy(&uri));
            return Ok(-1);
        }
    };
    replicate(ctx, Some(Fixed { host: Some(host), port, proto }))
}

fn replicate_proto(ctx: &mut Ctx<'_>, p: &[Param], proto: sipr_sdk::net::Proto) -> FnResult {
    let (host, port) = host_port(ctx, p)?;
    replicate(ctx, Some(Fixed { host: Some(host), port, proto: Some(proto) }))
}

/// `t_replicate_to(proto, "host[:port]")`.
fn t_replicate_to(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let proto_name = p[0].text(ctx).into_owned();
    let Some(proto) = sipr_sdk::net::Proto::from_name(&String::from_utf8_lossy(&proto_name)) else {
        error!("t_replicate_to: unknown protocol '{}'", String::from_utf8_lossy(&proto_name));
        return Ok(-1);
    };
    let hostport = p[1].text(ctx).into_owned();
    let mut uri = b"sip:".to_vec();
    uri.extend_from_slice(&hostport);
    let Ok((host, port, _)) = sipr_sdk::uri_destination(&uri) else {
        error!("t_replicate_to: bad address '{}'", String::from_utf8_lossy(&hostport));
        return Ok(-1);
    };
    replicate(ctx, Some(Fixed { host: Some(host), port, proto: Some(proto) }))
}

fn t_replicate_udp(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    replicate_proto(ctx, p, sipr_sdk::net::Proto::Udp)
}

fn t_replicate_tcp(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    replicate_proto(ctx, p, sipr_sdk::net::Proto::Tcp)
}

fn t_replicate_tls(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    replicate_proto(ctx, p, sipr_sdk::net::Proto::Tls)
}

fn t_replicate_sctp(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    replicate_proto(ctx, p, sipr_sdk::net::Proto::Sctp)
}

fn t_relay0(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    relay_with(ctx, None)
}

fn t_relay2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (host, port) = host_port(ctx, p)?;
    relay_with(ctx, Some(Fixed { host: Some(host), port, proto: None }))
}

fn relay_proto(ctx: &mut Ctx<'_>, p: &[Param], proto: sipr_sdk::net::Proto) -> FnResult {
    let fixed = if p.is_empty() {
        Fixed { host: None, port: None, proto: Some(proto) }
    } else {
        let (host, port) = host_port(ctx, p)?;
        Fixed { host: Some(host), port, proto: Some(proto) }
    };
    relay_with(ctx, Some(fixed))
}

fn t_relay_to_udp(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    relay_proto(ctx, p, sipr_sdk::net::Proto::Udp)
}

fn t_relay_to_tcp(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    relay_proto(ctx, p, sipr_sdk::net::Proto::Tcp)
}

fn t_newtran(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    match engine::newtran(ctx) {
        Ok(Newtran::Cell(_)) => Ok(1),
        // Kamailio: a retransmission was answered; the script stops
        Ok(Newtran::Retransmission) => Ok(0),
        Err(e) => {
            log::error!("t_newtran: {e}");
            Ok(-1)
        }
    }
}

fn code_reason(ctx: &Ctx<'_>, p: &[Param]) -> Result<(u16, String), ModError> {
    let code = p[0].int(ctx);
    let code = u16::try_from(code).ok().filter(|c| (100..=699).contains(c)).ok_or(format!("invalid code {code}"))?;
    Ok((code, String::from_utf8_lossy(&p[1].text(ctx)).into_owned()))
}

fn t_reply(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (code, reason) = code_reason(ctx, p)?;
    match engine::reply(ctx, code, &reason) {
        Ok(true) => Ok(1),
        Ok(false) => Ok(-1),
        Err(e) => {
            log::error!("t_reply: {e}");
            Ok(-1)
        }
    }
}

fn t_send_reply(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    match engine::newtran(ctx) {
        Ok(Newtran::Cell(_)) => t_reply(ctx, p),
        Ok(Newtran::Retransmission) => Ok(0),
        Err(e) => {
            log::error!("t_send_reply: {e}");
            Ok(-1)
        }
    }
}

fn arm_route(ctx: &mut Ctx<'_>, p: &[Param], key: &'static str) -> FnResult {
    let Param::Route(r) = p[0] else { return Err("not a route".into()) };
    ctx.set_module_int(key, r as i64 + 1);
    // armed on a transaction that exists already (a failure route arming
    // the next one; t_on_reply after t_newtran)
    if let Some(c) = engine::current(ctx) {
        if key != engine::key::ON_FAILURE || ctx.route_type != sipr_sdk::RouteType::Failure {
            let mut g = c.lock();
            let s = g.state_mut();
            match key {
                engine::key::ON_REPLY => s.on_reply = r as u32 + 1,
                engine::key::ON_BRANCH => s.on_branch = r as u32 + 1,
                _ => s.on_failure = r as u32 + 1,
            }
        }
    }
    Ok(1)
}

fn t_on_failure(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    arm_route(ctx, p, key::ON_FAILURE)
}

fn t_on_reply(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    arm_route(ctx, p, key::ON_REPLY)
}

fn t_on_branch(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    arm_route(ctx, p, key::ON_BRANCH)
}

fn t_drop_replies(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let mode = match p.first().map(|m| m.text(ctx).into_owned()).as_deref() {
        None | Some(b"a") => b'a',
        Some(b"l") => b'l',
        Some(b"n") => b'n',
        Some(m) => return Err(format!("unknown mode '{}' (a, l, n)", String::from_utf8_lossy(m)).into()),
    };
    ctx.set_module_int(key::DROP_REPLIES, i64::from(mode));
    Ok(1)
}

fn t_on_branch_failure(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    let route = format!("tm:branch-failure:{name}");
    let Some(idx) = sipr_sdk::event_route(&route) else {
        return Err(format!("no event_route[{route}] in the script").into());
    };
    ctx.set_module_int(key::ON_BRANCH_FAILURE, idx as i64 + 1);
    if let Some(c) = engine::current(ctx) {
        c.lock().state_mut().on_branch_failure = idx as u32 + 1;
    }
    Ok(1)
}

pub(crate) fn set_fr(ctx: &mut Ctx<'_>, inv: i64, noninv: Option<i64>) -> FnResult {
    let inv = if inv <= 0 { i64::from(PARAMS.fr_inv.load(Ordering::Relaxed)) } else { inv };
    ctx.set_module_int(key::FR_INV, inv + 1);
    if let Some(n) = noninv {
        let n = if n <= 0 { i64::from(PARAMS.fr.load(Ordering::Relaxed)) } else { n };
        ctx.set_module_int(key::FR, n + 1);
    }
    if let Some(c) = engine::current(ctx) {
        let mut g = c.lock();
        let s = g.state_mut();
        s.fr_inv_ms = inv as u32;
        if let Some(n) = noninv {
            s.fr_ms = if n <= 0 { PARAMS.fr.load(Ordering::Relaxed) } else { n as u32 };
        }
    }
    Ok(1)
}

fn t_set_fr1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let inv = p[0].int(ctx);
    set_fr(ctx, inv, None)
}

fn t_set_fr2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (inv, noninv) = (p[0].int(ctx), p[1].int(ctx));
    set_fr(ctx, inv, Some(noninv))
}

fn t_reset_fr(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    set_fr(ctx, 0, Some(0))
}

fn t_check_trans(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let msg = ctx.msg;
    if !msg.is_request() {
        let found = msg
            .via1()
            .ok()
            .and_then(|v| v.branch(msg.buf()).and_then(sipr_sdk::sip::decode_stateful_branch))
            .and_then(|(b, l, _)| cell::table().and_then(|t| t.get(b, l)))
            .is_some();
        return Ok(if found { 1 } else { -1 });
    }
    match msg.method() {
        Some(sipr_sdk::sip::Method::Cancel) => Ok(if engine::lookup(msg, false, true).is_some() { 1 } else { -1 }),
        Some(sipr_sdk::sip::Method::Ack) => match engine::lookup(msg, true, false) {
            // an ACK of a negative reply is tm's: the script stops
            Some(c) if c.lock().state().uas_code >= 300 => {
                let _ = engine::relay(ctx, None);
                Ok(0)
            }
            Some(_) => Ok(1),
            None => Ok(-1),
        },
        _ => match engine::lookup(msg, false, false) {
            Some(_) => {
                // a retransmission: the last reply again, and the script stops
                let _ = engine::newtran(ctx);
                Ok(0)
            }
            None => Ok(-1),
        },
    }
}

fn t_lookup_request(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let ack = ctx.msg.method() == Some(sipr_sdk::sip::Method::Ack);
    Ok(if engine::lookup(ctx.msg, ack, false).is_some() { 1 } else { -1 })
}

fn t_lookup_cancel(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    if ctx.msg.method() != Some(sipr_sdk::sip::Method::Cancel) {
        return Ok(-1);
    }
    Ok(if engine::lookup(ctx.msg, false, true).is_some() { 1 } else { -1 })
}

fn with_state<R>(ctx: &Ctx<'_>, f: impl FnOnce(&cell::State, Option<usize>) -> R) -> Option<R> {
    let c = engine::current(ctx)?;
    let g = c.lock();
    let b = ctx.module_int(key::BRANCH).map(|b| b as usize);
    Some(f(g.state(), b))
}

fn truth(b: bool) -> FnResult {
    Ok(if b { 1 } else { -1 })
}

fn t_is_canceled(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    truth(with_state(ctx, |s, _| s.flags & cell::tflag::CANCELED != 0).unwrap_or(false))
}

fn branch_flag(ctx: &Ctx<'_>, flag: u8) -> bool {
    with_state(ctx, |s, b| b.is_some_and(|b| b < s.nbranches as usize && s.branches[b].flags & flag != 0))
        .unwrap_or(false)
}

fn any_flag(ctx: &Ctx<'_>, flag: u8) -> bool {
    with_state(ctx, |s, _| s.branches[..s.nbranches as usize].iter().any(|b| b.flags & flag != 0)).unwrap_or(false)
}

fn t_branch_timeout(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    truth(branch_flag(ctx, cell::bflag::TIMEOUT))
}

fn t_branch_replied(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    truth(branch_flag(ctx, cell::bflag::REPLIED))
}

fn t_any_timeout(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    truth(any_flag(ctx, cell::bflag::TIMEOUT))
}

fn t_any_replied(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    truth(any_flag(ctx, cell::bflag::REPLIED))
}

/// The status `t_check_status` matches: the reply's in a reply route,
/// the failed branch's in a failure route, else the last sent upstream.
fn status(ctx: &Ctx<'_>) -> Option<u16> {
    if !ctx.msg.is_request() {
        return ctx.msg.status();
    }
    with_state(ctx, |s, b| match (ctx.route_type, b) {
        (sipr_sdk::RouteType::Failure | sipr_sdk::RouteType::Event, Some(b)) if b < s.nbranches as usize => {
            s.branches[b].code
        }
        _ => s.uas_code,
    })
}

fn t_check_status(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Some(code) = status(ctx) else { return Ok(-1) };
    let text = code.to_string();
    let ok = match &p[0] {
        Param::Regex(re) => re.is_match(text.as_bytes()),
        other => {
            let re = sipr_sdk::compile_regex(&other.text(ctx))?;
            re.is_match(text.as_bytes())
        }
    };
    truth(ok)
}

fn t_forward_nonack(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    if ctx.msg.method() == Some(sipr_sdk::sip::Method::Ack) {
        return Err("t_forward_nonack: not for an ACK".into());
    }
    let r = if p.is_empty() { t_relay0(ctx, p) } else { t_relay2(ctx, p) };
    engine::no_internal_reply(ctx);
    r
}

fn forward_nonack_proto(ctx: &mut Ctx<'_>, p: &[Param], proto: sipr_sdk::net::Proto) -> FnResult {
    let r = relay_proto(ctx, p, proto);
    engine::no_internal_reply(ctx);
    r
}

fn t_forward_nonack_udp(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    forward_nonack_proto(ctx, p, sipr_sdk::net::Proto::Udp)
}

fn t_forward_nonack_tcp(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    forward_nonack_proto(ctx, p, sipr_sdk::net::Proto::Tcp)
}

fn t_forward_nonack_tls(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    forward_nonack_proto(ctx, p, sipr_sdk::net::Proto::Tls)
}

fn t_forward_nonack_sctp(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    forward_nonack_proto(ctx, p, sipr_sdk::net::Proto::Sctp)
}

fn t_relay_to_tls(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    relay_proto(ctx, p, sipr_sdk::net::Proto::Tls)
}

fn t_relay_to_sctp(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    relay_proto(ctx, p, sipr_sdk::net::Proto::Sctp)
}

fn t_retransmit_reply(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    truth(engine::retransmit_reply(ctx))
}

fn t_save_lumps(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    truth(engine::save_lumps(ctx))
}

fn t_relay_cancel(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    Ok(engine::relay_cancel_only(ctx))
}

fn set_pair(ctx: &mut Ctx<'_>, p: &[Param], keys: (&'static str, &'static str)) -> FnResult {
    let (a, b) = (p[0].int(ctx), p[1].int(ctx));
    // 0 keeps the parameter's value
    for (k, v) in [(keys.0, a), (keys.1, b)] {
        if v > 0 {
            ctx.set_module_int(k, v + 1);
        }
    }
    if let Some(c) = engine::current(ctx) {
        if keys.0 == key::T1 {
            let mut g = c.lock();
            let s = g.state_mut();
            s.t1_ms = a.max(0) as u32;
            s.t2_ms = b.max(0) as u32;
        }
    }
    Ok(1)
}

fn t_set_retr(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    set_pair(ctx, p, (key::T1, key::T2))
}

fn t_reset_retr(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    // a stored 0 (+1) means the parameters' values
    ctx.set_module_int(key::T1, 1);
    ctx.set_module_int(key::T2, 1);
    if let Some(c) = engine::current(ctx) {
        let mut g = c.lock();
        g.state_mut().t1_ms = 0;
        g.state_mut().t2_ms = 0;
    }
    Ok(1)
}

fn t_set_max_lifetime(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    set_pair(ctx, p, (key::LIFE_INV, key::LIFE_NONINV))
}

fn t_reset_max_lifetime(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let inv = i64::from(PARAMS.max_inv_life.load(Ordering::Relaxed));
    let non = i64::from(PARAMS.max_noninv_life.load(Ordering::Relaxed));
    ctx.set_module_int(key::LIFE_INV, inv + 1);
    ctx.set_module_int(key::LIFE_NONINV, non + 1);
    Ok(1)
}

fn t_grep_status(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let want = p[0].int(ctx);
    truth(
        with_state(ctx, |s, _| {
            s.branches[..s.nbranches as usize].iter().any(|b| i64::from(b.code) == want && b.code >= 200)
        })
        .unwrap_or(false),
    )
}

fn t_is_expired(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    match with_state(ctx, |s, _| s.flags & cell::tflag::EXPIRED != 0) {
        Some(e) => truth(e),
        None => Ok(-1),
    }
}

fn t_is_set(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let target = p[0].text(ctx).into_owned();
    let (k, pick): (&'static str, fn(&cell::State) -> u32) = match &target[..] {
        b"branch_route" => (key::ON_BRANCH, |s| s.on_branch),
        b"failure_route" => (key::ON_FAILURE, |s| s.on_failure),
        b"onreply_route" => (key::ON_REPLY, |s| s.on_reply),
        t => return Err(format!("unknown target '{}'", String::from_utf8_lossy(t)).into()),
    };
    let armed = ctx.module_int(k).is_some_and(|v| v > 0) || with_state(ctx, |s, _| pick(s) > 0).unwrap_or(false);
    truth(armed)
}

/// The most relevant status: the final reply sent upstream, else the
/// best of the branches' (in a failure route, the one that failed).
fn t_get_status_code(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let code = with_state(ctx, |s, _| {
        if s.uas_code > 0 {
            return s.uas_code;
        }
        engine::best_branch(s).map_or(0, |b| s.branches[b].code)
    })
    .filter(|c| *c > 0);
    Ok(code.map_or(-1, i32::from))
}

/// Kamailio's sweeps transactions that outlived their life; sipr's end on
/// their own lifetime timer (max_inv_lifetime / max_noninv_lifetime), so
/// there is never one to sweep.
fn t_clean(_: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    Ok(1)
}

fn t_uac_send(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let method = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    let ruri = p[1].text(ctx).into_owned();
    let next_hop = p[2].text(ctx).into_owned();
    let headers = p[4].text(ctx).into_owned();
    let body = p[5].text(ctx).into_owned();
    let req = engine::LocalRequest {
        method: &method,
        ruri: &ruri,
        next_hop: Some(&next_hop),
        headers: &headers,
        body: &body,
    };
    let mut env = engine::Env { core: ctx.core, proc: &mut *ctx.proc, out: &mut *ctx.out };
    match engine::uac_send(&req, &mut env) {
        Ok(()) => Ok(1),
        Err(e @ engine::UacError::Headers(_)) => {
            log::error!("t_uac_send: {e}");
            Ok(-1)
        }
        Err(e) => {
            log::error!("t_uac_send: {e}");
            Ok(-1)
        }
    }
}

/// The parameters of `tm.t_uac_start` and `tm.t_uac_wait_block`:
/// `method ruri nexthop socket headers [body]` ("." for an empty next hop
/// or socket).
struct UacParams {
    method: String,
    ruri: String,
    next_hop: String,
    headers: String,
    body: String,
}

impl UacParams {
    fn read(p: &[sipr_sdk::RpcValue]) -> Result<Self, sipr_sdk::RpcError> {
        use sipr_sdk::{RpcError, RpcValue};
        let text = |i: usize| p.get(i).and_then(RpcValue::as_text);
        if p.len() < 5 {
            // Kamailio's text: minus the count it could read
            return Err(RpcError::new(400, format!("too few parameters ({}/5)", -(p.len() as i64))));
        }
        let (Some(method), Some(ruri), Some(next_hop), Some(socket), Some(headers)) =
            (text(0), text(1), text(2), text(3), text(4))
        else {
            return Err(RpcError::new(400, "Invalid Parameters"));
        };
        if sipr_sdk::uri_destination(ruri.as_bytes()).is_err() {
            return Err(RpcError::new(400, format!("Invalid request uri \"{ruri}\"")));
        }
        if socket != "." && !is_listen_socket(&socket) {
            return Err(RpcError::new(400, format!("No local socket for \"{socket}\"")));
        }
        let body = text(5).unwrap_or_default();
        if !body.is_empty() && !has_content_type(&headers) {
            return Err(RpcError::new(400, "Content-Type missing"));
        }
        let next_hop = if next_hop == "." { String::new() } else { next_hop };
        Ok(UacParams { method, ruri, next_hop, headers, body })
    }

    /// Sends the request from the RPC process; `waited` keeps its final
    /// status for [`engine::local_final`].
    fn send(&self, waited: bool) -> Result<Option<cell::Cell>, sipr_sdk::RpcError> {
        use sipr_sdk::RpcError;
        let req = engine::LocalRequest {
            method: &self.method,
            ruri: self.ruri.as_bytes(),
            next_hop: Some(self.next_hop.as_bytes()),
            headers: self.headers.as_bytes(),
            body: self.body.as_bytes(),
        };
        let Some(core) = sipr_sdk::core_info() else { return Err(RpcError::new(500, "no sending context here")) };
        let mut proc = sipr_sdk::ProcState::default();
        let mut out = sipr_sdk::ProcessOut;
        let mut env = engine::Env { core, proc: &mut proc, out: &mut out };
        let sent = if waited {
            engine::uac_send_waited(&req, &mut env).map(Some)
        } else {
            engine::uac_send(&req, &mut env).map(|()| None)
        };
        sent.map_err(|e| match e {
            engine::UacError::Headers(why) => RpcError::new(400, why),
            other => RpcError::new(500, other.to_string()),
        })
    }
}

/// Whether header lines (CRLF separated) have a Content-Type.
fn has_content_type(headers: &str) -> bool {
    headers.lines().filter_map(|l| l.split_once(':')).any(|(name, _)| {
        let name = name.trim();
        name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("c")
    })
}

/// Whether `socket` (`proto:host:port`, as Kamailio writes a send
/// socket) is one the server listens on.
fn is_listen_socket(socket: &str) -> bool {
    let Some(core) = sipr_sdk::core_info() else { return false };
    let Some((proto, rest)) = socket.split_once(':') else { return false };
    let Some((host, port)) = rest.rsplit_once(':') else { return false };
    core.listen.iter().any(|l| {
        l.proto.name().eq_ignore_ascii_case(proto)
            && l.host.trim_matches(|c| c == '[' || c == ']') == host.trim_matches(|c| c == '[' || c == ']')
            && port.parse() == Ok(l.port)
    })
}

/// `tm.t_uac_start method ruri nexthop socket headers [body]`.
fn rpc_t_uac_start(p: &[sipr_sdk::RpcValue]) -> Result<sipr_sdk::RpcValue, sipr_sdk::RpcError> {
    UacParams::read(p)?.send(false).map(|_| sipr_sdk::RpcValue::Null)
}

/// Sends the request of a `tm.t_uac_wait*` command and waits, in the
/// process serving the command, for its final reply. The transaction's
/// timers bound the wait.
fn uac_wait(p: &[sipr_sdk::RpcValue]) -> Result<engine::LocalFinal, sipr_sdk::RpcError> {
    use sipr_sdk::RpcError;
    let params = UacParams::read(p)?;
    let Some(c) = params.send(true)? else { return Err(RpcError::new(500, "no transaction")) };
    // the life timer ends every transaction; a little more for the timer
    // process to run
    let life =
        if params.method.eq_ignore_ascii_case("INVITE") { &PARAMS.max_inv_life } else { &PARAMS.max_noninv_life };
    let deadline = std::time::Instant::now()
        + std::time::Duration::from_millis(u64::from(life.load(Ordering::Relaxed)))
        + std::time::Duration::from_secs(1);
    loop {
        if let Some(outcome) = engine::local_final(&c) {
            return Ok(outcome);
        }
        if std::time::Instant::now() >= deadline {
            return Err(RpcError::new(500, "No final reply"));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// `tm.t_uac_wait_block method ruri nexthop socket headers [body]` (what
/// `kamctl ping` calls): the final reply's `{code, text}`.
fn rpc_t_uac_wait_block(p: &[sipr_sdk::RpcValue]) -> Result<sipr_sdk::RpcValue, sipr_sdk::RpcError> {
    use sipr_sdk::RpcValue;
    let fin = uac_wait(p)?;
    Ok(RpcValue::Struct(vec![
        ("code".into(), RpcValue::Int(i64::from(fin.code))),
        ("text".into(), RpcValue::Str(fin.reason)),
    ]))
}

/// `tm.t_uac_wait method ruri nexthop socket headers [body]`: the final
/// reply as Kamailio answers it (measured): `[code, reason, the reply
/// after its status line]`, and for a 2xx what a dialog would use next
/// before the reply (request URI, next hop, Route header; RFC 3261
/// §12.1.2: the Contact as remote target, the Record-Route entries
/// reversed as route set); tm's own reply has those four empty.
fn rpc_t_uac_wait(p: &[sipr_sdk::RpcValue]) -> Result<sipr_sdk::RpcValue, sipr_sdk::RpcError> {
    use sipr_sdk::RpcValue;
    let fin = uac_wait(p)?;
    let mut out = vec![RpcValue::Int(i64::from(fin.code)), RpcValue::Str(fin.reason)];
    let text = |b: &[u8]| RpcValue::Str(String::from_utf8_lossy(b).into_owned());
    match &fin.received {
        None => out.extend(std::iter::repeat_with(|| RpcValue::Str(String::new())).take(4)),
        Some(reply) => {
            if (200..300).contains(&fin.code) {
                let (ruri, next_hop, route) =
                    sipr_sdk::sip::SipMsg::parse(reply).map(|m| dialog_hooks(&m)).unwrap_or_default();
                out.extend([RpcValue::Str(ruri), RpcValue::Str(next_hop), RpcValue::Str(route)]);
            }
            let rest = reply.iter().position(|c| *c == b'\n').map_or(&b""[..], |i| &reply[i + 1..]);
            out.push(text(rest));
        }
    }
    Ok(RpcValue::Array(out))
}

/// Where a dialog's next request would go after `reply` (request URI,
/// next hop, Route header), as Kamailio computes it (measured): the route
/// set is the Record-Route entries reversed; with a loose first route the
/// Contact stays the request URI and every route is listed, with a strict
/// one (no `;lr`) that route becomes the request URI and the others are
/// listed; without routes the Contact is both.
fn dialog_hooks(reply: &sipr_sdk::sip::SipMsg<'_>) -> (String, String, String) {
    let buf = reply.buf();
    let text = |s: sipr_sdk::sip::Span| String::from_utf8_lossy(s.get(buf)).into_owned();
    let target = match reply.contact() {
        Ok(Some(sipr_sdk::sip::Contact::List(l))) => l.first().map(|c| text(c.uri_span)).unwrap_or_default(),
        _ => String::new(),
    };
    let routes: Vec<_> = reply.record_routes().map(|r| r.iter().rev().collect()).unwrap_or_default();
    let Some(first) = routes.first() else { return (target.clone(), target, String::new()) };
    let listed = |from: usize| -> String {
        let all: Vec<String> = routes[from..].iter().map(|r| text(r.whole)).collect();
        if all.is_empty() {
            String::new()
        } else {
            format!("Route: {}", all.join(", "))
        }
    };
    if first.uri.lr(buf) {
        (target, text(first.uri_span), listed(0))
    } else {
        (text(first.uri_span), text(first.uri_span), listed(1))
    }
}

fn t_release(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    truth(engine::release(ctx))
}

fn t_set_auto_inv_100(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    if p[0].int(ctx) == 0 {
        ctx.set_module_int("tm.no_auto_100", 1);
    }
    Ok(1)
}

fn t_set_disable_6xx(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let on = p[0].int(ctx) != 0;
    engine::set_tflag(ctx, cell::tflag::DISABLE_6XX, on);
    Ok(1)
}

fn t_set_no_e2e_cancel_reason(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let on = p[0].int(ctx) != 0;
    engine::set_tflag(ctx, cell::tflag::NO_E2E_CANCEL_REASON, on);
    Ok(1)
}

fn t_set_disable_failover(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let on = p[0].int(ctx) != 0;
    // unlike t_set_disable_6xx, Kamailio keeps this switch only on a
    // transaction that exists (measured: before t_relay it is lost)
    if engine::current(ctx).is_some() {
        engine::set_tflag(ctx, cell::tflag::DISABLE_FAILOVER, on);
    }
    Ok(1)
}

/// A parameter in seconds or a method mask: a number that fits 32 bits
/// (Kamailio's unsigned ints; a method mask may be written as the
/// negative int of its bits, as `~8` is in C), kept as the C int.
fn num_param(v: &ModValue, slot: &sipr_sdk::CfgNum) -> Result<(), String> {
    let n = sipr_sdk::modparam::int(v)?;
    // kept as the C int Kamailio shows (`cfg.get tm blst_methods_lookup`: -9)
    let n =
        u32::try_from(n).map(|u| u as i32).or_else(|_| i32::try_from(n)).map_err(|_| format!("out of range: {n}"))?;
    slot.set(i64::from(n));
    Ok(())
}

/// A flag parameter: 1 for any number but 0.
fn flag_param(v: &ModValue, slot: &sipr_sdk::CfgNum) -> Result<(), String> {
    slot.set(i64::from(sipr_sdk::modparam::int(v)? != 0));
    Ok(())
}

fn set_blst_503(v: &ModValue) -> Result<(), String> {
    flag_param(v, &PARAMS.blst_503)
}
fn set_blst_503_def_timeout(v: &ModValue) -> Result<(), String> {
    num_param(v, &PARAMS.blst_503_def)
}
fn set_blst_503_min_timeout(v: &ModValue) -> Result<(), String> {
    num_param(v, &PARAMS.blst_503_min)
}
fn set_blst_503_max_timeout(v: &ModValue) -> Result<(), String> {
    num_param(v, &PARAMS.blst_503_max)
}
fn set_blst_methods_add(v: &ModValue) -> Result<(), String> {
    num_param(v, &PARAMS.blst_methods_add)
}
fn set_blst_methods_lookup(v: &ModValue) -> Result<(), String> {
    num_param(v, &PARAMS.blst_methods_lookup)
}

fn set_e2e_cancel_reason(v: &ModValue) -> Result<(), String> {
    flag_param(v, &PARAMS.e2e_cancel_reason)
}

fn ms_param(v: &ModValue, slot: &sipr_sdk::CfgInt) -> Result<(), String> {
    let n = sipr_sdk::modparam::int(v)?;
    let n = u32::try_from(n).map_err(|_| format!("out of range: {n}"))?;
    slot.store(n, Ordering::Relaxed);
    Ok(())
}

fn set_fr_timer(v: &ModValue) -> Result<(), String> {
    ms_param(v, &PARAMS.fr)
}
fn set_fr_inv_timer(v: &ModValue) -> Result<(), String> {
    ms_param(v, &PARAMS.fr_inv)
}
fn set_wait_timer(v: &ModValue) -> Result<(), String> {
    ms_param(v, &PARAMS.wait)
}
fn set_retr_timer1(v: &ModValue) -> Result<(), String> {
    ms_param(v, &PARAMS.t1)
}
fn set_retr_timer2(v: &ModValue) -> Result<(), String> {
    ms_param(v, &PARAMS.t2)
}
fn set_max_inv_lifetime(v: &ModValue) -> Result<(), String> {
    ms_param(v, &PARAMS.max_inv_life)
}
fn set_max_noninv_lifetime(v: &ModValue) -> Result<(), String> {
    ms_param(v, &PARAMS.max_noninv_life)
}
fn set_auto_inv_100(v: &ModValue) -> Result<(), String> {
    flag_param(v, &PARAMS.auto_inv_100)
}
/// A string parameter into its slot.
fn set_contacts_avp(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, &serial::CONTACTS_AVP)
}
fn set_contact_flows_avp(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, &serial::CONTACT_FLOWS_AVP)
}
fn t_load_contacts0(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    serial::load_contacts(ctx, 0)
}
fn t_load_contacts1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let mode = p[0].int(ctx);
    serial::load_contacts(ctx, mode)
}
fn t_next_contacts(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    serial::next_contacts(ctx)
}
fn set_auto_inv_100_reason(v: &ModValue) -> Result<(), String> {
    PARAMS.reason_100.set(&sipr_sdk::modparam::str(v)?);
    Ok(())
}
fn set_aggregate_challenges(v: &ModValue) -> Result<(), String> {
    flag_param(v, &PARAMS.aggregate_challenges)
}

fn set_remap_503_500(v: &ModValue) -> Result<(), String> {
    PARAMS.remap_503_500.store(sipr_sdk::modparam::int(v)? != 0, Ordering::Relaxed);
    Ok(())
}

fn set_failure_reply_mode(v: &ModValue) -> Result<(), String> {
    match sipr_sdk::modparam::int(v)? {
        0 => PARAMS.drop_previous_legs.store(false, Ordering::Relaxed),
        3 => PARAMS.drop_previous_legs.store(true, Ordering::Relaxed),
        n => return Err(format!("failure_reply_mode {n} is not supported: 0 (keep every leg's replies) or 3 (the last leg's, Kamailio's default)")),
    }
    Ok(())
}

fn set_reparse_invite(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("tm", "reparse_invite", v, 1)
}
fn set_cancel_b_method(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("tm", "cancel_b_method", v, 1)
}
fn set_unmatched_cancel(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("tm", "unmatched_cancel", v, 0)
}
fn set_ruri_matching(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("tm", "ruri_matching", v, 1)
}
fn set_via1_matching(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("tm", "via1_matching", v, 1)
}
fn set_callid_matching(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("tm", "callid_matching", v, 0)
}
fn set_callid_cseq_matching(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("tm", "callid_cseq_matching", v, 0)
}
fn set_pass_provisional_replies(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("tm", "pass_provisional_replies", v, 0)
}
fn set_disable_6xx_block(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("tm", "disable_6xx_block", v, 0)
}
fn set_local_ack_mode(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("tm", "local_ack_mode", v, 0)
}
fn set_relay_100(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("tm", "relay_100", v, 0)
}
/// A DNS failover branch is a copy of the failed branch's request (the
/// parameter's default, 1).
fn set_reparse_on_dns_failover(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("tm", "reparse_on_dns_failover", v, 1)
}
fn set_noisy_ctimer(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("tm", "noisy_ctimer", v, 1)
}

fn set_restart_fr(v: &ModValue) -> Result<(), String> {
    flag_param(v, &PARAMS.restart_fr)
}

static HASH_SIZE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1 << 16);

fn set_hash_size(v: &ModValue) -> Result<(), String> {
    let n = sipr_sdk::modparam::int(v)?;
    if !(1..=(1 << 20)).contains(&n) {
        return Err(format!("hash_size must be 1..{}, not {n}", 1 << 20));
    }
    HASH_SIZE.store(n as usize, Ordering::Relaxed);
    Ok(())
}

/// tm's runtime-changeable variables, Kamailio's cfg group "tm" (`cfg.set
/// tm fr_timer 10000` reaches every process): the 100's reason, the
/// timers (`cfg.get` cannot read them, as in Kamailio), the flags and the
/// blocklist settings. Help texts are Kamailio's.
fn register_cfg() -> Result<(), String> {
    if PARAMS.reason_100.with(str::is_empty) {
        PARAMS.reason_100.set("trying -- your call is important to us");
    }
    PARAMS.reason_100.register(
        "tm",
        "auto_inv_100_reason",
        "reason text of the automatically send 100 to an INVITE",
    )?;
    let vars: [(&sipr_sdk::CfgInt, &str, &str); 7] = [
        (&PARAMS.fr, "fr_timer", "timer which hits if no final reply for a request or ACK for a negative INVITE reply arrives (in milliseconds)"),
        (&PARAMS.fr_inv, "fr_inv_timer", "timer which hits if no final reply for an INVITE arrives after a provisional message was received (in milliseconds)"),
        (&PARAMS.wait, "wt_timer", "time for which a transaction stays in memory to absorb delayed messages after it completed"),
        (&PARAMS.t1, "retr_timer1", "initial retransmission period (in milliseconds)"),
        (&PARAMS.t2, "retr_timer2", "maximum retransmission period (in milliseconds)"),
        (&PARAMS.max_inv_life, "max_inv_lifetime", "maximum time an invite transaction can live from the moment of creation"),
        (&PARAMS.max_noninv_life, "max_noninv_lifetime", "maximum time a non-invite transaction can live from the moment of creation"),
    ];
    for (v, name, help) in vars {
        v.register("tm", name, help, false)?;
    }
    // the others sipr has, readable, in Kamailio's order: flags 0..1,
    // the rest any number (measured)
    const FLAG: (i64, i64) = sipr_sdk::CfgNum::FLAG;
    const ANY: (i64, i64) = sipr_sdk::CfgNum::ANY_INT;
    let vars: [(&sipr_sdk::CfgNum, &str, &str, (i64, i64)); 10] = [
        (&PARAMS.auto_inv_100, "auto_inv_100", "automatically send 100 to an INVITE", FLAG),
        (&PARAMS.restart_fr, "restart_fr_on_each_reply", "restart final response timer on each provisional reply", FLAG),
        (&PARAMS.aggregate_challenges, "aggregate_challenges", "if the final response is a 401 or a 407, aggregate all the authorization headers (challenges) (rfc3261 requires this to be on)", FLAG),
        (&PARAMS.blst_503, "blst_503", "if set to 1, blocklist 503 SIP response sources", FLAG),
        (&PARAMS.blst_503_def, "blst_503_def_timeout", "default 503 blocklist time (in s), when no Retry-After header is present", ANY),
        (&PARAMS.blst_503_min, "blst_503_min_timeout", "minimum 503 blocklist time (in s)", ANY),
        (&PARAMS.blst_503_max, "blst_503_max_timeout", "maximum 503 blocklist time (in s)", ANY),
        (&PARAMS.blst_methods_add, "blst_methods_add", "bitmap of method types that trigger blocklisting on transaction timeouts", ANY),
        (&PARAMS.blst_methods_lookup, "blst_methods_lookup", "Bitmap of method types that are looked-up in the blocklist before statefull forwarding", ANY),
        (&PARAMS.e2e_cancel_reason, "e2e_cancel_reason", "if set to 1, Reason headers from received CANCELs are copied into the corresponding generated hop-by-hop CANCELs", FLAG),
    ];
    for (v, name, help, (min, max)) in vars {
        v.register("tm", name, help, true, min, max)?;
    }
    Ok(())
}

fn mod_init() -> Result<(), String> {
    serial::check_params()?;
    stats::init()?;
    register_cfg()?;
    cell::init_table(HASH_SIZE.load(Ordering::Relaxed))
}

/// The core's reply hook.
fn response(ctx: &mut Ctx<'_>) -> bool {
    engine::on_reply(ctx)
}

const RELAY_ROUTES: RouteMask = RouteMask(RouteMask::REQUEST.0 | sipr_sdk::RouteType::Failure.bit().0);
const ANY_BUT_REPLY: RouteMask = RouteMask::REQUEST_LIKE;
const FAILURE: RouteMask = sipr_sdk::RouteType::Failure.bit();

sipr_sdk::module! {
    name: "tm",
    functions: [
        ("t_relay", [], RELAY_ROUTES, t_relay0),
        ("t_relay", [Fmt, IntOrPv], RELAY_ROUTES, t_relay2),
        ("t_relay_to_udp", [], RELAY_ROUTES, t_relay_to_udp),
        ("t_relay_to_udp", [Fmt, IntOrPv], RELAY_ROUTES, t_relay_to_udp),
        ("t_relay_to_tcp", [], RELAY_ROUTES, t_relay_to_tcp),
        ("t_relay_to_tcp", [Fmt, IntOrPv], RELAY_ROUTES, t_relay_to_tcp),
        ("t_newtran", [], RouteMask::REQUEST, t_newtran),
        ("t_reply", [IntOrPv, Spve], RELAY_ROUTES, t_reply),
        ("t_send_reply", [IntOrPv, Spve], RELAY_ROUTES, t_send_reply),
        ("t_on_failure", [FailureRoute], ANY_BUT_REPLY, t_on_failure),
        ("t_on_reply", [OnReplyRoute], ANY_BUT_REPLY, t_on_reply),
        ("t_on_branch", [BranchRoute], ANY_BUT_REPLY, t_on_branch),
        ("t_on_branch_failure", [Fmt], ANY_BUT_REPLY, t_on_branch_failure),
        ("t_drop_replies", [], FAILURE, t_drop_replies),
        ("t_drop_replies", [Fmt], FAILURE, t_drop_replies),
        ("t_set_fr", [IntOrPv], RouteMask::ANY, t_set_fr1),
        ("t_set_fr", [IntOrPv, IntOrPv], RouteMask::ANY, t_set_fr2),
        ("t_reset_fr", [], RouteMask::ANY, t_reset_fr),
        ("t_check_trans", [], RouteMask::ANY, t_check_trans),
        ("t_lookup_request", [], RouteMask::REQUEST, t_lookup_request),
        ("t_lookup_cancel", [], RouteMask::REQUEST, t_lookup_cancel),
        ("t_is_canceled", [], RouteMask::ANY, t_is_canceled),
        ("t_check_status", [Regex], RouteMask::ANY, t_check_status),
        ("t_branch_timeout", [], FAILURE, t_branch_timeout),
        ("t_branch_replied", [], FAILURE, t_branch_replied),
        ("t_any_timeout", [], RouteMask::ANY, t_any_timeout),
        ("t_any_replied", [], RouteMask::ANY, t_any_replied),
        ("t_release", [], RouteMask::REQUEST, t_release),
        ("t_forward_nonack", [], RELAY_ROUTES, t_forward_nonack),
        ("t_forward_nonack", [Fmt, IntOrPv], RELAY_ROUTES, t_forward_nonack),
        ("t_forward_nonack_udp", [Fmt, IntOrPv], RELAY_ROUTES, t_forward_nonack_udp),
        ("t_forward_nonack_tcp", [Fmt, IntOrPv], RELAY_ROUTES, t_forward_nonack_tcp),
        ("t_forward_nonack_tls", [Fmt, IntOrPv], RELAY_ROUTES, t_forward_nonack_tls),
        ("t_forward_nonack_sctp", [Fmt, IntOrPv], RELAY_ROUTES, t_forward_nonack_sctp),
        ("t_clean", [], RouteMask::ANY, t_clean),
        ("t_relay_to_tls", [], RELAY_ROUTES, t_relay_to_tls),
        ("t_relay_to_tls", [Fmt, IntOrPv], RELAY_ROUTES, t_relay_to_tls),
        ("t_relay_to_sctp", [], RELAY_ROUTES, t_relay_to_sctp),
        ("t_relay_to_sctp", [Fmt, IntOrPv], RELAY_ROUTES, t_relay_to_sctp),
        ("t_retransmit_reply", [], RouteMask::ANY, t_retransmit_reply),
        ("t_save_lumps", [], RouteMask::REQUEST, t_save_lumps),
        ("t_relay_cancel", [], RouteMask::REQUEST, t_relay_cancel),
        ("t_set_retr", [IntOrPv, IntOrPv], RouteMask::ANY, t_set_retr),
        ("t_reset_retr", [], RouteMask::ANY, t_reset_retr),
        ("t_set_max_lifetime", [IntOrPv, IntOrPv], RouteMask::ANY, t_set_max_lifetime),
        ("t_reset_max_lifetime", [], RouteMask::ANY, t_reset_max_lifetime),
        ("t_grep_status", [IntOrPv], RouteMask::ANY, t_grep_status),
        ("t_is_expired", [], RouteMask::ANY, t_is_expired),
        ("t_is_set", [Fmt], RouteMask::ANY, t_is_set),
        ("t_get_status_code", [], RouteMask::ANY, t_get_status_code),
        ("t_uac_send", [Fmt, Fmt, Fmt, Fmt, Fmt, Fmt], RouteMask::ANY, t_uac_send),
        ("t_set_auto_inv_100", [IntOrPv], RouteMask::ANY, t_set_auto_inv_100),
        ("t_set_disable_6xx", [IntOrPv], RouteMask::ANY, t_set_disable_6xx),
        ("t_set_no_e2e_cancel_reason", [IntOrPv], RouteMask::ANY, t_set_no_e2e_cancel_reason),
        ("t_set_disable_failover", [IntOrPv], RouteMask::ANY, t_set_disable_failover),
        ("t_replicate", [], RELAY_ROUTES, t_replicate0),
        ("t_replicate", [Fmt], RELAY_ROUTES, t_replicate1),
        ("t_replicate_to", [Fmt, Fmt], RELAY_ROUTES, t_replicate_to),
        ("t_replicate_udp", [Fmt, IntOrPv], RELAY_ROUTES, t_replicate_udp),
        ("t_replicate_tcp", [Fmt, IntOrPv], RELAY_ROUTES, t_replicate_tcp),
        ("t_replicate_tls", [Fmt, IntOrPv], RELAY_ROUTES, t_replicate_tls),
        ("t_replicate_sctp", [Fmt, IntOrPv], RELAY_ROUTES, t_replicate_sctp),
        ("t_load_contacts", [], RELAY_ROUTES, t_load_contacts0),
        ("t_load_contacts", [IntOrPv], RELAY_ROUTES, t_load_contacts1),
        ("t_next_contacts", [], RELAY_ROUTES, t_next_contacts),
    ],
    params: [
        ("fr_timer", Any, set_fr_timer),
        ("fr_inv_timer", Any, set_fr_inv_timer),
        ("wait_timer", Any, set_wait_timer),
        ("retr_timer1", Any, set_retr_timer1),
        ("retr_timer2", Any, set_retr_timer2),
        ("max_inv_lifetime", Any, set_max_inv_lifetime),
        ("max_noninv_lifetime", Any, set_max_noninv_lifetime),
        ("auto_inv_100", Any, set_auto_inv_100),
        ("auto_inv_100_reason", Str, set_auto_inv_100_reason),
        ("restart_fr_on_each_reply", Any, set_restart_fr),
        ("hash_size", Any, set_hash_size),
        ("wt_timer", Any, set_wait_timer),
        ("remap_503_500", Any, set_remap_503_500),
        ("aggregate_challenges", Any, set_aggregate_challenges),
        ("failure_reply_mode", Any, set_failure_reply_mode),
        ("reparse_invite", Any, set_reparse_invite),
        ("cancel_b_method", Any, set_cancel_b_method),
        ("unmatched_cancel", Any, set_unmatched_cancel),
        ("ruri_matching", Any, set_ruri_matching),
        ("via1_matching", Any, set_via1_matching),
        ("callid_matching", Any, set_callid_matching),
        ("callid_cseq_matching", Any, set_callid_cseq_matching),
        ("pass_provisional_replies", Any, set_pass_provisional_replies),
        ("disable_6xx_block", Any, set_disable_6xx_block),
        ("local_ack_mode", Any, set_local_ack_mode),
        ("relay_100", Any, set_relay_100),
        ("noisy_ctimer", Any, set_noisy_ctimer),
        ("contacts_avp", Str, set_contacts_avp),
        ("e2e_cancel_reason", Any, set_e2e_cancel_reason),
        ("contact_flows_avp", Str, set_contact_flows_avp),
        ("blst_503", Any, set_blst_503),
        ("blst_503_def_timeout", Any, set_blst_503_def_timeout),
        ("blst_503_min_timeout", Any, set_blst_503_min_timeout),
        ("blst_503_max_timeout", Any, set_blst_503_max_timeout),
        ("blst_methods_add", Any, set_blst_methods_add),
        ("blst_methods_lookup", Any, set_blst_methods_lookup),
        ("reparse_on_dns_failover", Any, set_reparse_on_dns_failover),
    ],
    rpcs: [
        ("tm.stats", "List various internal statistics.", stats::rpc_stats),
        ("tm.hash_stats", "List statistics about the transaction hash table.", stats::rpc_hash_stats),
        ("tm.list", "List transactions.", stats::rpc_list),
        ("tm.reply", "Reply transaction", stats::rpc_reply),
        ("tm.reply_callid", "Reply transaction by call-id", stats::rpc_reply_callid),
        ("tm.cancel", "Cancel a pending transaction", stats::rpc_cancel),
        ("tm.t_uac_start", "starts a tm uac using  a list of string parameters: method, ruri, dst_uri send_sock, headers (CRLF separated) and body (optional)", rpc_t_uac_start),
        ("tm.t_uac_wait", "starts a tm uac and waits for the final reply, using a list of string parameters: method, ruri, dst_uri send_sock, headers (CRLF separated) and body (optional)", rpc_t_uac_wait),
        ("tm.t_uac_wait_block", "starts a tm uac and waits for the final reply in blocking mode, using a list of string parameters: method, ruri, dst_uri send_sock, headers (CRLF separated) and body (optional)", rpc_t_uac_wait_block),
    ],
    apis: [("tm", sipr_sdk::tm_api::TM_API_VERSION, api::TM_API)],
    init: mod_init,
    response: response,
    post_script: engine::post_script,
}
