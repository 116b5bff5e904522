//! sl: stateless replies (Kamailio's sl module).
//!
//! * `sl_send_reply(code, reason)` / `send_reply(code, reason)`: a local
//!   reply to the request's source (`sipr_sdk::reply::send`: RFC 3261
//!   §8.2.6, with the script's `append_to_reply` headers and
//!   `set_reply_body` body). The To-tag is a function of the request and
//!   the server's secret, so a retransmission gets the same one. ACKs are
//!   never answered (-1, as Kamailio). `send_reply` becomes stateful
//!   once tm is loaded and a transaction exists (tm's issue).
//! * `sl_reply_error()`: Kamailio's reply when no internal error is
//!   pending (sipr's functions report errors as return codes): "500 I'm
//!   terribly sorry, server error occurred (1/SL)".
//! * `sl_forward_reply([code, reason])`: forwards the reply being
//!   processed to the next Via (received/rport honoured).
//! * Statistics, in shm counters shared by every process: `sl:1xx_replies`
//!   ... `sl:6xx_replies`, `sl:sent_replies`, `sl:sent_err_replies`,
//!   `sl:failures`, `sl:received_ACKs` (`stats.get_statistics sl:`, `sl.stats`).

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use sipr_sdk::prelude::*;
use sipr_sdk::reply::Sent;
use sipr_sdk::tm_api::{TmApi, TM_API_VERSION};
use sipr_sdk::{ModValue, RpcError, RpcValue};

/// Kamailio's sl counter names: the replies sent by code (a code with a
/// counter of its own is not counted in its class, as Kamailio), then the
/// totals at the indexes below.
const COUNTER_NAMES: [&str; 24] = [
    "200_replies",
    "202_replies",
    "300_replies",
    "301_replies",
    "302_replies",
    "400_replies",
    "401_replies",
    "403_replies",
    "404_replies",
    "407_replies",
    "408_replies",
    "483_replies",
    "500_replies",
    "1xx_replies",
    "2xx_replies",
    "3xx_replies",
    "4xx_replies",
    "5xx_replies",
    "6xx_replies",
    "xxx_replies",
    "sent_replies",
    // never counted: Kamailio 5.6 leaves it at 0 (measured)
    "sent_err_replies",
    "failures",
    "received_ACKs",
];
/// The codes with a counter of their own, at the same indexes.
const OWN_CODES: [u16; 13] = [200, 202, 300, 301, 302, 400, 401, 403, 404, 407, 408, 483, 500];
const FIRST_CLASS: usize = 13;
const OTHER_CODES: usize = 19;
const SENT: usize = 20;
const FAILURES: usize = 22;
/// The ACKs to its stateless replies sl absorbs before the script.
const ACKS: usize = 23;

/// The counters, in shm (registered in mod_init, before the fork).
static COUNTERS: std::sync::OnceLock<[&'static AtomicU64; 24]> = std::sync::OnceLock::new();

/// When the server last sent a stateless reply (ms since the epoch), in
/// shm: an ACK is taken for one of ours only up to [`ACK_WINDOW_MS`]
/// after it, as Kamailio's sl does (measured: absorbed 1.5 s after the
/// reply, passed to the script 3 s after).
static LAST_REPLY: std::sync::OnceLock<sipr_sdk::mem::ShmWords> = std::sync::OnceLock::new();

/// Kamailio's window for an ACK to a stateless reply (its
/// SL_RPL_WAIT_TIME, two seconds).
const ACK_WINDOW_MS: u64 = 2000;

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn mod_init() -> Result<(), String> {
    let mut regs = Vec::with_capacity(COUNTER_NAMES.len());
    for n in COUNTER_NAMES {
        // Kamailio computes them from per-process tallies: the reset
        // commands leave them (measured)
        regs.push(sipr_sdk::counter_no_reset("sl", n)?);
    }
    let arr: [&'static AtomicU64; 24] = regs.try_into().map_err(|_| "counter count")?;
    let _ = COUNTERS.set(arr);
    let pool = sipr_sdk::shm_pool().ok_or("sl: no shared memory pool")?;
    let _ = LAST_REPLY.set(sipr_sdk::mem::ShmWords::new_in(pool, 1).ok_or("sl: shared memory full")?);
    Ok(())
}

/// Adds one to counter `i`.
fn count(i: usize) {
    if let Some(c) = COUNTERS.get() {
        c[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// The counter of a reply code.
fn code_counter(code: u16) -> usize {
    match OWN_CODES.iter().position(|c| *c == code) {
        Some(i) => i,
        None if (100..700).contains(&code) => FIRST_CLASS + usize::from(code / 100 - 1),
        None => OTHER_CODES,
    }
}

/// `default_code` / `default_reason` (Kamailio's 500 and its reason):
/// the reply a variable that holds no number (code) or nothing (reason)
/// gets.
static DEFAULTS: std::sync::RwLock<(i64, Option<String>)> = std::sync::RwLock::new((500, None));

fn set_default_code(v: &ModValue) -> Result<(), String> {
    let ModValue::Int(c) = v else { return Err("default_code takes a number".into()) };
    if !(100..=699).contains(c) {
        return Err(format!("default_code {c}: a reply code is 100..699"));
    }
    DEFAULTS.write().map_err(|_| "sl settings poisoned")?.0 = *c;
    Ok(())
}

fn set_default_reason(v: &ModValue) -> Result<(), String> {
    let ModValue::Str(r) = v else { return Err("default_reason takes a string".into()) };
    DEFAULTS.write().map_err(|_| "sl settings poisoned")?.1 = Some(r.clone());
    Ok(())
}

/// The code as Kamailio reads it: a number, or a variable whose value is
/// a number; a variable holding anything else (a string, even "404", or
/// nothing) gives `default_code`.
fn code_param(ctx: &Ctx<'_>, p: &Param) -> Result<u16, ModError> {
    let code = match p {
        Param::Pv(pv) => match pv.value(ctx) {
            Value::Int(i) => i,
            _ => DEFAULTS.read().map_or(500, |d| d.0),
        },
        other => other.int(ctx),
    };
    match u16::try_from(code) {
        Ok(c) if (100..=699).contains(&c) => Ok(c),
        _ => Err(format!("invalid reply code {code}").into()),
    }
}

/// Startup check: a constant reply code must be 100..699 (as Kamailio's
/// fixup refuses `sl_send_reply("99", ...)`).
fn check_code(p: &mut [Param]) -> Result<(), String> {
    match p.first() {
        Some(Param::Int(c)) if !(100..=699).contains(c) => Err(format!("invalid reply code {c}")),
        _ => Ok(()),
    }
}

/// Counts a stateless reply: sl's own and every module's
/// ([`sipr_sdk::reply::send_counted`] through [`SL_API`]).
fn count_reply(code: u16, outcome: &Result<Sent, ModError>) {
    match outcome {
        // sent_err_replies stays 0: Kamailio 5.6 counts no reply there,
        // an error reply and sl_reply_error()'s included (measured)
        Ok(Sent::Yes) => {
            count(code_counter(code));
            count(SENT);
            if let Some(w) = LAST_REPLY.get() {
                w.word(0).store(now_ms(), Ordering::Relaxed);
            }
        }
        // a reply asked for an ACK: Kamailio counts the refusal as a
        // failure (measured); received_ACKs counts the ACKs sl absorbs
        // (absorb_local_ack)
        Ok(Sent::AckNotAnswered) | Err(_) => count(FAILURES),
    }
}

/// What other modules' stateless replies count through.
static SL_API: sipr_sdk::sl_api::SlApi = sipr_sdk::sl_api::SlApi { count: count_reply };

/// Sends a local reply and counts it.
fn reply(ctx: &mut Ctx<'_>, code: u16, reason: &str) -> FnResult {
    let sent = sipr_sdk::reply::send(ctx, code, reason, b"", b"");
    count_reply(code, &sent);
    match sent? {
        Sent::Yes => Ok(1),
        Sent::AckNotAnswered => {
            warn!("sl: I won't send a reply for ACK");
            Ok(-1)
        }
    }
}

fn sl_send_reply(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (code, reason) = code_reason(ctx, p)?;
    reply(ctx, code, &reason)
}

/// `bind_tm` (default 1): `send_reply` replies statefully when the
/// request has a transaction.
static BIND_TM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

fn set_bind_tm(v: &ModValue) -> Result<(), String> {
    BIND_TM.store(sipr_sdk::modparam::int(v)? != 0, Ordering::Relaxed);
    Ok(())
}

/// tm's API, bound on first use (tm may be loaded after sl); `None`
/// without tm or with bind_tm 0.
fn tm() -> Option<&'static TmApi> {
    static TM: std::sync::OnceLock<Option<&'static TmApi>> = std::sync::OnceLock::new();
    *TM.get_or_init(|| {
        if !BIND_TM.load(Ordering::Relaxed) {
            return None;
        }
        sipr_sdk::bind_api::<TmApi>("tm", TM_API_VERSION).ok()
    })
}

/// `send_reply`: statefully through tm when the request has a
/// transaction, else as sl_send_reply.
fn send_reply(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (code, reason) = code_reason(ctx, p)?;
    if let Some(tm) = tm() {
        if (tm.current)(ctx)?.is_some() {
            return Ok(if (tm.reply)(ctx, code, &reason)? { 1 } else { -1 });
        }
    }
    reply(ctx, code, &reason)
}

fn code_reason(ctx: &mut Ctx<'_>, p: &[Param]) -> Result<(u16, String), ModError> {
    let code = code_param(ctx, &p[0])?;
    // a constant reason (the usual case) is used in place
    let evaluated;
    let reason = match &p[1] {
        Param::Str(s) => String::from_utf8_lossy(s),
        // a variable without a value: default_reason (Kamailio)
        Param::Pv(pv) if pv.value(ctx).is_null() => {
            let d = DEFAULTS.read().ok().and_then(|d| d.1.clone());
            evaluated = d.unwrap_or_else(|| "<null>".to_string()).into_bytes();
            String::from_utf8_lossy(&evaluated)
        }
        other => {
            evaluated = other.text(ctx).into_owned();
            String::from_utf8_lossy(&evaluated)
        }
    };
    Ok((code, reason.into_owned()))
}

/// `sl_reply_error`: the reply for the last internal error. sipr's
/// functions report their errors to the script as return codes, so no
/// error is pending here: Kamailio answers that case (its unspecified
/// error, E_UNSPEC) with this 500, which is what is sent.
fn sl_reply_error(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    reply(ctx, 500, "I'm terribly sorry, server error occurred (1/SL)")
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

/// Sends the reply being processed to the Via below ours (the core's
/// stateless reply path).
fn forward(ctx: &mut Ctx<'_>) -> FnResult {
    if ctx.msg.is_request() {
        return Err("sl_forward_reply() works on replies".into());
    }
    sipr_sdk::forward_reply_upstream(ctx).map_err(|e| format!("cannot forward the reply: {e}"))?;
    Ok(1)
}

/// `sl.stats`: the reply counters (also in `stats.get_statistics sl:`).
fn rpc_stats(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let c = COUNTERS.get().ok_or_else(|| RpcError::new(500, "sl not initialised"))?;
    Ok(RpcValue::Struct(
        COUNTER_NAMES
            .iter()
            .zip(c.iter())
            .map(|(n, c)| (n.to_string(), RpcValue::Int(c.load(Ordering::Relaxed) as i64)))
            .collect(),
    ))
}

sipr_sdk::module! {
    name: "sl",
    functions: [
        ("sl_send_reply", [IntOrPv, Spve], RouteMask::REQUEST_LIKE, sl_send_reply, check_code),
        ("send_reply", [IntOrPv, Spve], RouteMask::REQUEST_LIKE, send_reply, check_code),
        ("sl_reply_error", [], RouteMask::REQUEST_LIKE, sl_reply_error),
        ("sl_forward_reply", [], RouteMask::REPLY, sl_forward_reply0),
        ("sl_forward_reply", [IntOrPv, Spve], RouteMask::REPLY, sl_forward_reply),
    ],
    params: [
        ("default_code", Int, set_default_code),
        ("default_reason", Str, set_default_reason),
        ("bind_tm", Any, set_bind_tm),
    ],
    rpcs: [("sl.stats", "Print reply statistics.", rpc_stats)],
    apis: [("sl", sipr_sdk::sl_api::SL_API_VERSION, SL_API)],
    init: mod_init,
    pre_script: absorb_local_ack,
}

/// An ACK to one of the server's stateless replies (its To-tag is the one
/// the reply had: RFC 3261 §17.1.1.3, the ACK of a non-2xx repeats the
/// request's Call-ID, From-tag, branch and CSeq number) that comes within
/// [`ACK_WINDOW_MS`] of the last stateless reply ends here, counted in
/// `sl:received_ACKs`: the script does not see it (Kamailio's sl ACK
/// filter, measured).
fn absorb_local_ack(ctx: &mut Ctx<'_>) -> bool {
    let msg = ctx.msg;
    if msg.method() != Some(sipr_sdk::sip::Method::Ack) {
        return true;
    }
    let last = LAST_REPLY.get().map_or(0, |w| w.word(0).load(Ordering::Relaxed));
    if now_ms().saturating_sub(last) > ACK_WINDOW_MS {
        return true;
    }
    let Some(tag) = msg.to().ok().and_then(|t| t.tag(msg.buf())) else { return true };
    if sipr_sdk::reply::stateless_to_tag(ctx, msg).is_some_and(|t| t.as_bytes() == tag) {
        count(ACKS);
        return false;
    }
    true
}
