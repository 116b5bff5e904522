//! tm's statistics (shm counters every process adds to) and its RPC
//! commands.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use sipr_sdk::{RpcError, RpcValue};

use crate::cell::{self, tflag};

/// One counter per figure.
pub struct Counters {
    /// Transactions created, local ones included (Kamailio's `created`,
    /// tmx `UAS_transactions`: measured).
    pub created: &'static AtomicU64,
    /// Transactions of requests made here (`total_local`, tmx
    /// `UAC_transactions`).
    pub local: &'static AtomicU64,
    /// Transactions in the table (tmx `inuse_transactions`): a gauge, one
    /// more at creation, one less at deletion.
    pub inuse: &'static AtomicU64,
    /// Transactions in the table not yet on their wait timer (tmx
    /// `active_transactions`): a gauge.
    pub active: &'static AtomicU64,
    /// Replies sent upstream, relayed or made here (`rpl_sent`).
    pub rpl_sent: &'static AtomicU64,
    /// Replies received from far ends.
    pub rpl_received: &'static AtomicU64,
    /// Replies relayed upstream.
    pub rpl_relayed: &'static AtomicU64,
    /// Replies made here (t_reply, 100 Trying, 408...).
    pub rpl_generated: &'static AtomicU64,
    /// Replies absorbed (retransmissions, replies to our CANCELs).
    pub rpl_absorbed: &'static AtomicU64,
    /// Final replies sent upstream, per class 2xx..6xx.
    pub by_class: [&'static AtomicU64; 5],
}

static COUNTERS: OnceLock<Counters> = OnceLock::new();

/// Registers the counters (mod_init, before the fork), with tmx's names.
pub fn init() -> Result<(), String> {
    // Kamailio computes tmx's from tm's per-process tallies: the reset
    // commands leave them (measured)
    let c = |n: &str| sipr_sdk::counter_no_reset("tmx", n);
    let counters = Counters {
        created: c("UAS_transactions")?,
        local: c("UAC_transactions")?,
        inuse: c("inuse_transactions")?,
        active: c("active_transactions")?,
        rpl_sent: c("rpl_sent")?,
        rpl_received: c("rpl_received")?,
        rpl_relayed: c("rpl_relayed")?,
        rpl_generated: c("rpl_generated")?,
        rpl_absorbed: c("rpl_absorbed")?,
        by_class: [
            c("2xx_transactions")?,
            c("3xx_transactions")?,
            c("4xx_transactions")?,
            c("5xx_transactions")?,
            c("6xx_transactions")?,
        ],
    };
    let _ = COUNTERS.set(counters);
    Ok(())
}

/// Adds one to a counter (nothing before mod_init).
pub fn bump(f: impl FnOnce(&Counters) -> &'static AtomicU64) {
    if let Some(c) = COUNTERS.get() {
        f(c).fetch_add(1, Ordering::Relaxed);
    }
}

/// Takes one from a gauge (nothing before mod_init; never below 0).
pub fn drop_one(f: impl FnOnce(&Counters) -> &'static AtomicU64) {
    if let Some(c) = COUNTERS.get() {
        let _ = f(c).fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
    }
}

/// A transaction was created (`local`: for a request made here).
pub fn created(local: bool) {
    bump(|s| s.created);
    if local {
        bump(|s| s.local);
    }
    bump(|s| s.inuse);
    bump(|s| s.active);
}

/// A final reply of class `code / 100` went upstream.
pub fn final_sent(code: u16) {
    if let (Some(c), 2..=6) = (COUNTERS.get(), code / 100) {
        c.by_class[(code / 100 - 2) as usize].fetch_add(1, Ordering::Relaxed);
    }
}

fn get(f: impl FnOnce(&Counters) -> &'static AtomicU64) -> i64 {
    COUNTERS.get().map_or(0, |c| f(c).load(Ordering::Relaxed) as i64)
}

/// `tm.stats`: Kamailio's figures.
pub fn rpc_stats(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let t = cell::table().ok_or_else(|| RpcError::new(500, "tm is not initialised"))?;
    let mut waiting = 0;
    t.for_each(|c| {
        if c.lock().state().flags & tflag::DONE != 0 || !c.lock().state().wait_timer.is_none() {
            waiting += 1;
        }
    });
    let generated = get(|c| c.rpl_generated);
    let class = |i: usize| get(|c| c.by_class[i]);
    Ok(RpcValue::Struct(vec![
        ("current".into(), RpcValue::Int(t.len() as i64)),
        ("waiting".into(), RpcValue::Int(waiting)),
        ("total".into(), RpcValue::Int(get(|c| c.created))),
        ("total_local".into(), RpcValue::Int(get(|c| c.local))),
        ("rpl_received".into(), RpcValue::Int(get(|c| c.rpl_received))),
        ("rpl_generated".into(), RpcValue::Int(generated)),
        ("rpl_sent".into(), RpcValue::Int(get(|c| c.rpl_sent))),
        ("6xx".into(), RpcValue::Int(class(4))),
        ("5xx".into(), RpcValue::Int(class(3))),
        ("4xx".into(), RpcValue::Int(class(2))),
        ("3xx".into(), RpcValue::Int(class(1))),
        ("2xx".into(), RpcValue::Int(class(0))),
        ("created".into(), RpcValue::Int(get(|c| c.created))),
        ("freed".into(), RpcValue::Int(get(|c| c.created) - get(|c| c.inuse))),
        ("delayed_free".into(), RpcValue::Int(0)),
    ]))
}

/// `tm.hash_stats`: Debian's Kamailio is built without TM_HASH_STATS and
/// answers this; sipr keeps no per-bucket figures either.
pub fn rpc_hash_stats(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Err(RpcError::new(500, "Hash statistics not supported (tryrecompiling with -DTM_HASH_STATS)"))
}

/// `tm.list`: every transaction, with Kamailio's fields (and its way of
/// printing the headers: whole lines, CSeq's number only).
pub fn rpc_list(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    use sipr_sdk::sip::HeaderKind;
    let t = cell::table().ok_or_else(|| RpcError::new(500, "tm is not initialised"))?;
    let mut out = Vec::new();
    t.for_each(|c| {
        let Ok(msg) = sipr_sdk::sip::SipMsg::parse(c.first()) else { return };
        let line = |k: HeaderKind| {
            RpcValue::Str(
                msg.header(k).map_or(String::new(), |h| String::from_utf8_lossy(h.line.get(msg.buf())).into_owned()),
            )
        };
        let cseq = msg.cseq_tokens().map_or(String::new(), |(n, _)| format!("CSeq: {}", String::from_utf8_lossy(n)));
        let g = c.lock();
        let s = g.state();
        let invite = c.key().method == cell::method::INVITE;
        // Kamailio's flags: INVITE 1, cancelled 8, automatic 100 Trying
        // 64, replied by the script (t_reply) 16384
        let mut tflags = 0;
        if invite {
            tflags |= 1 | 64;
        }
        if s.flags & tflag::CANCELED != 0 {
            tflags |= 8;
        }
        if s.flags & tflag::SCRIPT_REPLIED != 0 {
            tflags |= 16384;
        }
        out.push(RpcValue::Struct(vec![
            ("cell".into(), RpcValue::Str(format!("0x{:x}{:08x}", c.bucket(), c.label()))),
            ("tindex".into(), RpcValue::Int(i64::from(c.bucket()))),
            ("tlabel".into(), RpcValue::Int(i64::from(c.label()))),
            ("method".into(), RpcValue::Str(String::from_utf8_lossy(c.key().method_token(msg.buf())).into_owned())),
            ("from".into(), line(HeaderKind::From)),
            ("to".into(), line(HeaderKind::To)),
            ("callid".into(), line(HeaderKind::CallId)),
            ("cseq".into(), RpcValue::Str(cseq)),
            ("uas_request".into(), RpcValue::Str("yes".into())),
            ("tflags".into(), RpcValue::Int(tflags)),
            ("outgoings".into(), RpcValue::Int(i64::from(s.nbranches))),
            ("ref_count".into(), RpcValue::Int(1)),
            ("lifetime".into(), RpcValue::Int(0)),
        ]));
    });
    Ok(RpcValue::Array(out))
}

/// Runs `f` with a sending context of this (RPC) process.
fn detached<R>(f: impl FnOnce(&mut crate::engine::Env<'_>) -> R) -> Result<R, RpcError> {
    let core = sipr_sdk::core_info().ok_or_else(|| RpcError::new(500, "no sending context here"))?;
    let mut proc = sipr_sdk::ProcState::default();
    let mut out = sipr_sdk::ProcessOut;
    Ok(f(&mut crate::engine::Env { core, proc: &mut proc, out: &mut out }))
}

/// The parameters tm.reply and tm.reply_callid share after the ones
/// naming the transaction: To tag, headers ("." for none), body.
fn tail(p: &[RpcValue], from: usize) -> (Option<String>, Vec<u8>, Vec<u8>) {
    let text = |i: usize| p.get(i).and_then(RpcValue::as_text);
    let tag = text(from).filter(|t| !t.is_empty() && t != ".");
    let headers = text(from + 1).filter(|h| h != ".").unwrap_or_default().into_bytes();
    let body = text(from + 2).unwrap_or_default().into_bytes();
    (tag, headers, body)
}

fn code_reason(p: &[RpcValue]) -> Result<(u16, String), RpcError> {
    let code = match p.first() {
        Some(RpcValue::Int(c)) => *c,
        Some(RpcValue::Str(s)) => s.parse().unwrap_or(0),
        _ => 0,
    };
    let code = u16::try_from(code)
        .ok()
        .filter(|c| (100..=699).contains(c))
        .ok_or_else(|| RpcError::new(400, "Reply code expected"))?;
    let reason = p.get(1).and_then(RpcValue::as_text).ok_or_else(|| RpcError::new(400, "Reason phrase expected"))?;
    Ok((code, reason))
}

fn replied(sent: bool) -> Result<RpcValue, RpcError> {
    if sent {
        Ok(RpcValue::Null)
    } else {
        Err(RpcError::new(500, "Reply failed"))
    }
}

/// `tm.reply code reason hash:label to_tag headers [body]`.
pub fn rpc_reply(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let (code, reason) = code_reason(p)?;
    let id = p.get(2).and_then(RpcValue::as_text).unwrap_or_default();
    let (h, l) = id
        .split_once(':')
        .and_then(|(h, l)| Some((h.parse::<u32>().ok()?, l.parse::<u32>().ok()?)))
        .ok_or_else(|| RpcError::new(400, "Invalid transaction ID"))?;
    let t = cell::table().ok_or_else(|| RpcError::new(500, "tm is not initialised"))?;
    let c = t.get(h, l).ok_or_else(|| RpcError::new(481, "No such transaction"))?;
    let (tag, headers, body) = tail(p, 3);
    replied(detached(|env| crate::engine::reply_here(&c, code, &reason, tag.as_deref(), &headers, &body, env))?)
}

/// `tm.reply_callid code reason callid cseq to_tag headers [body]`.
pub fn rpc_reply_callid(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let (code, reason) = code_reason(p)?;
    let Some(RpcValue::Str(callid)) = p.get(2) else { return Err(RpcError::new(400, "Call-ID expected")) };
    let Some(RpcValue::Str(cseq)) = p.get(3) else { return Err(RpcError::new(400, "CSeq expected")) };
    let c = crate::engine::by_callid(callid.as_bytes(), cseq.as_bytes())
        .ok_or_else(|| RpcError::new(404, "Transaction not found"))?;
    let (tag, headers, body) = tail(p, 4);
    replied(detached(|env| crate::engine::reply_here(&c, code, &reason, tag.as_deref(), &headers, &body, env))?)
}

/// `tm.cancel callid cseq`: CANCEL on the pending branches of an INVITE.
pub fn rpc_cancel(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let (Some(RpcValue::Str(callid)), Some(RpcValue::Str(cseq))) = (p.first(), p.get(1)) else {
        return Err(RpcError::new(400, "Callid and CSeq expected as parameters"));
    };
    let c = crate::engine::by_callid(callid.as_bytes(), cseq.as_bytes())
        .ok_or_else(|| RpcError::new(400, "Transaction not found"))?;
    if detached(|env| crate::engine::cancel_by_rpc(&c, env))? {
        Ok(RpcValue::Str("branches remaining (waiting for timeout)".into()))
    } else {
        Ok(RpcValue::Null)
    }
}
