//! sl: stateless replies (Kamailio's sl module).
//!
//! * `sl_send_reply(code, reason)` / `send_reply(code, reason)`: a local
//!   reply to the request's source (RFC 3261 §8.2.6: Vias, From, To with a
//!   tag when it had none, Call-ID, CSeq, Server, Content-Length; received
//!   and rport on the top Via per §18.2.1 / RFC 3581). The To-tag is a
//!   function of the request, so a retransmission gets the same one. ACKs
//!   are never answered (-1, as Kamailio). `send_reply` becomes stateful
//!   once tm is loaded and a transaction exists (tm's issue).
//! * `sl_reply_error()`: 500 Server Internal Error (sipr has no "last
//!   error" state yet).
//! * `sl_forward_reply([code, reason])`: forwards the reply being
//!   processed to the next Via (received/rport honoured).
//! * Statistics (`1xx_replies` ... `6xx_replies`, `sent_replies`,
//!   `sent_err_replies`, `failures`, `received_ACKs`) are counted per
//!   process until the core's counters exist.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use sipr_sdk::prelude::*;
use sipr_sdk::sip::{forward_reply, local_reply, local_to_tag, Method, ReplyOpts, Source};

/// Per-server secret for To-tags: set in mod_init, before the fork, so
/// every process tags alike.
static SECRET: OnceLock<String> = OnceLock::new();

/// Counters: 1xx..6xx, sent, sent errors (>= 300), failures, ACKs seen.
static STATS: [AtomicU64; 10] = [const { AtomicU64::new(0) }; 10];
const SENT: usize = 6;
const SENT_ERR: usize = 7;
const FAILURES: usize = 8;
const ACKS: usize = 9;

fn mod_init() -> Result<(), String> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let _ = SECRET.set(format!("{}-{now}", std::process::id()));
    Ok(())
}

fn code_param(ctx: &Ctx<'_>, p: &Param) -> Result<u16, ModError> {
    let code = p.int(ctx);
    match u16::try_from(code) {
        Ok(c) if (100..=699).contains(&c) => Ok(c),
        _ => Err(format!("invalid reply code {code}").into()),
    }
}

/// Builds and sends a local reply.
fn reply(ctx: &mut Ctx<'_>, code: u16, reason: &str) -> FnResult {
    if ctx.msg.method() == Some(Method::Ack) {
        STATS[ACKS].fetch_add(1, Ordering::Relaxed);
        warn!("sl: I won't send a reply for ACK");
        return Ok(-1);
    }
    if !ctx.msg.is_request() {
        return Err("a reply can only be sent to a request".into());
    }
    let secret = SECRET.get().map_or("sipr", String::as_str);
    let tag = local_to_tag(secret.as_bytes(), ctx.msg)?;
    let src_ip = ctx.rcv.src.ip().to_string();
    let signature;
    let server = if ctx.core.server_header.is_empty() {
        signature = sipr_sdk::sip_server_signature();
        signature.as_str()
    } else {
        ctx.core.server_header.as_str()
    };
    let data = local_reply(
        ctx.msg,
        code,
        reason,
        &ReplyOpts {
            to_tag: Some(&tag),
            source: Some(Source { ip: &src_ip, port: ctx.rcv.src.port() }),
            server: Some(server),
            extra_headers: b"",
            body: b"",
        },
    );
    let data = match data {
        Ok(d) => d,
        Err(e) => {
            STATS[FAILURES].fetch_add(1, Ordering::Relaxed);
            return Err(e.into());
        }
    };
    match ctx.out.send(Dest::Source, &data) {
        Ok(()) => {
            STATS[(code / 100 - 1) as usize].fetch_add(1, Ordering::Relaxed);
            STATS[SENT].fetch_add(1, Ordering::Relaxed);
            if code >= 300 {
                STATS[SENT_ERR].fetch_add(1, Ordering::Relaxed);
            }
            Ok(1)
        }
        Err(e) => {
            STATS[FAILURES].fetch_add(1, Ordering::Relaxed);
            Err(format!("cannot send the reply: {e}").into())
        }
    }
}

fn sl_send_reply(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let code = code_param(ctx, &p[0])?;
    let reason = String::from_utf8_lossy(&p[1].text(ctx)).into_owned();
    reply(ctx, code, &reason)
}

fn sl_reply_error(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    reply(ctx, 500, "Server Internal Error")
}

fn sl_forward_reply0(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    forward(ctx)
}

fn sl_forward_reply(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    // Kamailio rewrites the status line when code/reason are given
    let code = code_param(ctx, &p[0])?;
    let reason = String::from_utf8_lossy(&p[1].text(ctx)).into_owned();
    if let sipr_sdk::sip::FirstLine::Reply { .. } = ctx.msg.first_line() {
        let end = ctx.msg.first_line_end();
        ctx.lumps.replace_fmt(0, end, format_args!("SIP/2.0 {code} {reason}\r\n"));
    }
    forward(ctx)
}

/// Sends the reply being processed to the Via below ours.
fn forward(ctx: &mut Ctx<'_>) -> FnResult {
    if ctx.msg.is_request() {
        return Err("sl_forward_reply() works on replies".into());
    }
    let buf = ctx.msg.buf();
    let vias = ctx.msg.vias()?;
    let next = vias.get(1).ok_or("no Via left to send the reply to")?;
    let host = next.received(buf).unwrap_or_else(|| next.host.get(buf)).to_vec();
    let port = match next.rport(buf) {
        Some(Some(p)) => Some(p),
        _ => next.port,
    };
    let proto = sipr_sdk::net::Proto::from_name(&String::from_utf8_lossy(next.transport.get(buf)));
    let data = forward_reply(ctx.msg, ctx.lumps.clone())?;
    ctx.out.send(Dest::Host { host: &host, port, proto }, &data).map_err(|e| format!("cannot send: {e}"))?;
    Ok(1)
}

sipr_sdk::module! {
    name: "sl",
    functions: [
        ("sl_send_reply", [IntOrPv, Fmt], RouteMask::REQUEST_LIKE, sl_send_reply),
        ("send_reply", [IntOrPv, Fmt], RouteMask::REQUEST_LIKE, sl_send_reply),
        ("sl_reply_error", [], RouteMask::REQUEST_LIKE, sl_reply_error),
        ("sl_forward_reply", [], RouteMask::REPLY, sl_forward_reply0),
        ("sl_forward_reply", [IntOrPv, Fmt], RouteMask::REPLY, sl_forward_reply),
    ],
    params: [],
    init: mod_init,
}
