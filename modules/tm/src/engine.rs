//! The transaction engine: creating and matching transactions, relaying
//! requests on branches, taking replies, deciding the outcome (RFC 3261
//! §16.7), the failure route, CANCEL and ACK, and the timers. The state
//! machines of each side are `sipr_core::txn`'s; this file runs their
//! actions against shm, the sockets and the script.
//!
//! Locking: a cell's lock is held while its state changes and while what
//! that change sends goes out; it is *not* held while a script route runs
//! (onreply, failure, branch routes), so that those routes may call tm
//! functions on the same transaction. While the failure route runs, the
//! cell is marked so that nothing else decides its outcome.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::net::SocketAddr;

use sipr_sdk::blocklist_reason as blst;
use sipr_sdk::mem::{CellGuard, TimerId};
use sipr_sdk::net::{Proto, RecvInfo};
use sipr_sdk::sip::{self, Method, SipMsg};
use sipr_sdk::txn::{Action, Actions, Client, Kind, Server, Timer, Timers};
use sipr_sdk::{ConnFlags, CoreInfo, Ctx, Dest, ModError, Outbound, ProcState};

use crate::cell::{
    self, bflag, method, slot_reply, slot_request, tflag, Cell, Key, Peer, State, MAX_BRANCHES, SLOTS, SLOT_DNS_TARGETS,
};

/// The AVPs and xavps of a message as bytes (AVP names are interned
/// before the fork, so they mean the same in every process): the AVP
/// count, per AVP its name and value; then the xavp count, per xavp its
/// name and its fields, each a name and a value. A value is a kind byte
/// (0 int, 1 string, 2 null) and its bytes.
fn encode_vars(avps: &[sipr_sdk::Avp], xavps: &[sipr_sdk::Xavp]) -> Vec<u8> {
    fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    }
    fn value(out: &mut Vec<u8>, v: &sipr_sdk::Stored) {
        match v {
            sipr_sdk::Stored::Int(i) => {
                out.push(0);
                out.extend_from_slice(&i.to_le_bytes());
            }
            sipr_sdk::Stored::Str(b) => {
                out.push(1);
                bytes(out, b);
            }
            sipr_sdk::Stored::Null => out.push(2),
        }
    }
    let mut out = Vec::new();
    if avps.is_empty() && xavps.is_empty() {
        // the usual case, and what an empty slot decodes to
        return out;
    }
    out.extend_from_slice(&(avps.len() as u32).to_le_bytes());
    for a in avps {
        out.extend_from_slice(&a.name.to_le_bytes());
        value(&mut out, &a.value);
    }
    out.extend_from_slice(&(xavps.len() as u32).to_le_bytes());
    for x in xavps {
        bytes(&mut out, &x.name);
        out.extend_from_slice(&(x.fields.len() as u32).to_le_bytes());
        for (name, v) in &x.fields {
            bytes(&mut out, name);
            value(&mut out, v);
        }
    }
    out
}

/// Reads what [`encode_vars`] wrote (a cut-off tail is left out).
struct VarReader<'b>(&'b [u8]);

impl VarReader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (h, t) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = t;
        Some(h)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.u32()? as usize;
        self.take(n).map(<[u8]>::to_vec)
    }
    fn value(&mut self) -> Option<sipr_sdk::Stored> {
        Some(match self.take(1)?[0] {
            0 => sipr_sdk::Stored::Int(i64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            1 => sipr_sdk::Stored::Str(self.bytes()?),
            _ => sipr_sdk::Stored::Null,
        })
    }
}

fn decode_vars(b: &[u8]) -> (Vec<sipr_sdk::Avp>, Vec<sipr_sdk::Xavp>) {
    let mut r = VarReader(b);
    let (mut avps, mut xavps) = (Vec::new(), Vec::new());
    for _ in 0..r.u32().unwrap_or(0) {
        let (Some(name), Some(value)) = (r.u32(), r.value()) else { break };
        avps.push(sipr_sdk::Avp { name, value });
    }
    'xavps: for _ in 0..r.u32().unwrap_or(0) {
        let (Some(name), Some(n)) = (r.bytes(), r.u32()) else { break };
        let mut fields = Vec::with_capacity(n.min(64) as usize);
        for _ in 0..n {
            let (Some(f), Some(v)) = (r.bytes(), r.value()) else { break 'xavps };
            fields.push((f, v));
        }
        xavps.push(sipr_sdk::Xavp { name, fields });
    }
    (avps, xavps)
}

/// Keeps the AVPs and xavps of `ctx` in the transaction (they follow it
/// into its failure and reply routes, as Kamailio's).
fn store_avps(c: &Cell, ctx: &Ctx<'_>) {
    let mut g = c.lock();
    if g.set_slot(cell::SLOT_AVPS, &encode_vars(&ctx.avps, &ctx.xavps)).is_err() {
        log::error!("tm: shared memory full: the AVPs are not kept with the transaction");
    }
}

/// Gives `ctx` the AVPs and xavps the transaction keeps.
fn load_avps(c: &Cell, ctx: &mut Ctx<'_>) {
    let (avps, xavps) = decode_vars(c.lock().slot(cell::SLOT_AVPS));
    ctx.avps = avps;
    ctx.xavps = xavps;
}

/// The slot keeping the request as the script changed it at relay time
/// (what a failure route sees and serial branches are built from).
pub(crate) const SLOT_SCRIPT_REQUEST: usize = SLOTS - 1;

/// tm's parameters (set before the fork).
pub struct Params {
    /// `retr_timer1`, ms.
    pub t1: sipr_sdk::CfgInt,
    /// `retr_timer2`, ms.
    pub t2: sipr_sdk::CfgInt,
    /// `fr_timer`, ms.
    pub fr: sipr_sdk::CfgInt,
    /// `fr_inv_timer`, ms.
    pub fr_inv: sipr_sdk::CfgInt,
    /// `wt_timer` (`wait_timer`), ms.
    pub wait: sipr_sdk::CfgInt,
    /// `max_inv_lifetime`, ms.
    pub max_inv_life: sipr_sdk::CfgInt,
    /// `max_noninv_lifetime`, ms.
    pub max_noninv_life: sipr_sdk::CfgInt,
    /// `auto_inv_100`.
    pub auto_inv_100: sipr_sdk::CfgNum,
    /// `auto_inv_100_reason`.
    pub reason_100: sipr_sdk::CfgStr,
    /// `restart_fr_on_each_reply`.
    pub restart_fr: sipr_sdk::CfgNum,
    /// `e2e_cancel_reason`.
    pub e2e_cancel_reason: sipr_sdk::CfgNum,
    /// `remap_503_500`.
    pub remap_503_500: AtomicBool,
    /// `failure_reply_mode` 3 (true, Kamailio's default) or 0.
    pub drop_previous_legs: AtomicBool,
    /// `aggregate_challenges`.
    pub aggregate_challenges: sipr_sdk::CfgNum,
    /// `blst_503`: a 503's source is blocklisted.
    pub blst_503: sipr_sdk::CfgNum,
    /// `blst_503_def_timeout`, s: for a 503 without Retry-After (0: not
    /// blocklisted).
    pub blst_503_def: sipr_sdk::CfgNum,
    /// `blst_503_min_timeout`, s: the least a Retry-After counts for.
    pub blst_503_min: sipr_sdk::CfgNum,
    /// `blst_503_max_timeout`, s: the most.
    pub blst_503_max: sipr_sdk::CfgNum,
    /// `blst_methods_add`: the methods (Kamailio's METHOD_* bits) whose
    /// timeout blocklists the destination.
    pub blst_methods_add: sipr_sdk::CfgNum,
    /// `blst_methods_lookup`: the methods not sent to a blocklisted
    /// destination.
    pub blst_methods_lookup: sipr_sdk::CfgNum,
}

/// The parameters, with Kamailio's defaults.
pub static PARAMS: Params = Params {
    t1: sipr_sdk::CfgInt::new(500),
    t2: sipr_sdk::CfgInt::new(4000),
    fr: sipr_sdk::CfgInt::new(30_000),
    fr_inv: sipr_sdk::CfgInt::new(120_000),
    wait: sipr_sdk::CfgInt::new(5000),
    max_inv_life: sipr_sdk::CfgInt::new(180_000),
    max_noninv_life: sipr_sdk::CfgInt::new(32_000),
    auto_inv_100: sipr_sdk::CfgNum::new(1),
    reason_100: sipr_sdk::CfgStr::new(),
    restart_fr: sipr_sdk::CfgNum::new(1),
    e2e_cancel_reason: sipr_sdk::CfgNum::new(1),
    remap_503_500: AtomicBool::new(true),
    drop_previous_legs: AtomicBool::new(true),
    aggregate_challenges: sipr_sdk::CfgNum::new(1),
    blst_503: sipr_sdk::CfgNum::new(0),
    blst_503_def: sipr_sdk::CfgNum::new(0),
    blst_503_min: sipr_sdk::CfgNum::new(0),
    blst_503_max: sipr_sdk::CfgNum::new(3600),
    // INVITE
    blst_methods_add: sipr_sdk::CfgNum::new(1),
    // all but BYE
    blst_methods_lookup: sipr_sdk::CfgNum::new(-9),
};

fn ms(a: &sipr_sdk::CfgInt) -> Duration {
    Duration::from_millis(a.load(Ordering::Relaxed).into())
}

fn timers_of(st: &State) -> Timers {
    let or = |v: u32, p: &sipr_sdk::CfgInt| if v == 0 { ms(p) } else { Duration::from_millis(v.into()) };
    Timers {
        t1: or(st.t1_ms, &PARAMS.t1),
        t2: or(st.t2_ms, &PARAMS.t2),
        fr: Duration::from_millis(st.fr_ms.into()),
        fr_inv: Duration::from_millis(st.fr_inv_ms.into()),
        wait: ms(&PARAMS.wait),
        restart_fr_on_each_reply: PARAMS.restart_fr.is_on(),
    }
}

/// The per-message facts tm keeps in the script context.
pub mod key {
    /// The transaction of this message ([`crate::cell::cell_id`]).
    pub const CELL: &str = "tm.cell";
    /// The branch a reply (or the failure) is about.
    pub const BRANCH: &str = "tm.branch";
    /// `t_on_failure` route + 1, armed for the next relay.
    pub const ON_FAILURE: &str = "tm.on_failure";
    /// `t_on_reply` route + 1.
    pub const ON_REPLY: &str = "tm.on_reply";
    /// `t_on_branch` route + 1.
    pub const ON_BRANCH: &str = "tm.on_branch";
    /// `t_drop_replies` mode letter (failure route).
    pub const DROP_REPLIES: &str = "tm.drop_replies";
    /// `t_on_branch_failure` event route + 1.
    pub const ON_BRANCH_FAILURE: &str = "tm.on_branch_failure";
    /// `t_set_fr`: fr_inv_timer ms + 1.
    pub const FR_INV: &str = "tm.fr_inv";
    /// Transaction flags a `t_set_*` function set before the transaction
    /// existed ([`crate::cell::tflag`] bits), given to it when it is made.
    pub const TFLAGS_ON: &str = "tm.tflags_on";
    /// The same, for flags cleared.
    pub const TFLAGS_OFF: &str = "tm.tflags_off";
    /// `t_set_fr`: fr_timer ms + 1.
    pub const FR: &str = "tm.fr";
    /// `t_set_retr`: T1 ms + 1.
    pub const T1: &str = "tm.t1";
    /// `t_set_retr`: T2 ms + 1.
    pub const T2: &str = "tm.t2";
    /// `t_set_max_lifetime`: INVITE lifetime ms + 1.
    pub const LIFE_INV: &str = "tm.life_inv";
    /// `t_set_max_lifetime`: other lifetime ms + 1.
    pub const LIFE_NONINV: &str = "tm.life_noninv";
}

/// The transaction of the message in `ctx`, if one was created or found.
pub fn current(ctx: &Ctx<'_>) -> Option<Cell> {
    cell::by_id(ctx.module_int(key::CELL)?)
}

/// What sending needs outside the script's own context: the server's
/// facts, variables for routes, and a way out.
pub struct Env<'e> {
    /// The server's facts.
    pub core: &'e CoreInfo,
    /// Script variables of this process.
    pub proc: &'e mut ProcState,
    /// Sending.
    pub out: &'e mut dyn Outbound,
}

thread_local! {
    /// The timer process's script variables (routes it runs on faked
    /// requests).
    static TIMER_PROC: RefCell<ProcState> = RefCell::new(ProcState::default());
}

/// Runs `f` with the environment of a process outside message handling
/// (the timer process).
fn with_detached_env<R>(f: impl FnOnce(&mut Env<'_>) -> R) -> Option<R> {
    let core = sipr_sdk::core_info()?;
    TIMER_PROC.with(|p| {
        let mut proc = p.try_borrow_mut().ok()?;
        let mut out = sipr_sdk::ProcessOut;
        let mut env = Env { core, proc: &mut proc, out: &mut out };
        Some(f(&mut env))
    })
}

fn send_to(out: &mut dyn Outbound, peer: &Peer, data: &[u8]) {
    let dest = Dest::Addr { to: peer.addr(), proto: peer.proto(), conn: ConnFlags::default() };
    if let Err(e) = out.send(dest, data) {
        log::debug!("tm: send to {}: {e}", peer.addr());
    }
}

fn arm(c: &Cell, which: u64, after: Duration) -> TimerId {
    match sipr_sdk::arm_timer(after, crate::on_timer, cell::timer_arg(c, which)) {
        Ok(id) => id,
        Err(e) => {
            log::error!("tm: cannot arm a timer: {e}");
            TimerId::NONE
        }
    }
}

fn stop(id: &mut TimerId) {
    if !id.is_none() {
        sipr_sdk::cancel_timer(*id);
        *id = TimerId::NONE;
    }
}

// ---------------------------------------------------------------------
// matching

/// The sent-by of a request's top Via, as written.
fn sent_by<'b>(msg: &SipMsg<'b>) -> Option<(&'b [u8], Key)> {
    let k = cell::key_of(msg)?;
    Some((k.sent_by(msg.buf()), k))
}

/// Whether the request `msg` belongs to the cell (RFC 3261 §17.2.3, and
/// the RFC 2543 rules for a branch without the cookie). `ack`: an ACK
/// looking for its INVITE; `cancel_of`: a CANCEL looking for the request
/// it cancels.
fn matches(key: &Key, first: &[u8], msg: &SipMsg<'_>, ack: bool, cancel_of: bool) -> bool {
    let buf = msg.buf();
    let Some((sb, mk)) = sent_by(msg) else { return false };
    let want = if ack || cancel_of { None } else { Some(mk.method) };
    let method_ok = match want {
        None => {
            if ack {
                key.method == method::INVITE
            } else {
                key.method != method::CANCEL
            }
        }
        Some(m) => key.method == m && (m != method::OTHER || key.method_token(first) == mk.method_token(buf)),
    };
    if !method_ok {
        return false;
    }
    if mk.rfc3261 {
        return key.rfc3261 && key.branch(first) == mk.branch(buf) && key.sent_by(first).eq_ignore_ascii_case(sb);
    }
    // RFC 2543: Request-URI, From tag, Call-ID, CSeq number, top Via
    let Ok(orig) = SipMsg::parse(first) else { return false };
    let tag = |m: &SipMsg<'_>| m.from().ok().and_then(|f| f.tag(m.buf()).map(<[u8]>::to_vec));
    let via = |m: &SipMsg<'_>| m.via1().ok().map(|v| v.whole.get(m.buf()).to_vec());
    let num = |m: &SipMsg<'_>| m.cseq_tokens().ok().map(|(n, _)| n.to_vec());
    (ack || orig.request_uri() == msg.request_uri())
        && tag(&orig) == tag(msg)
        && orig.call_id().ok() == msg.call_id().ok()
        && num(&orig) == num(msg)
        && via(&orig) == via(msg)
}

/// The transaction `msg` (a request) belongs to.
pub fn lookup(msg: &SipMsg<'_>, ack: bool, cancel_of: bool) -> Option<Cell> {
    let t = cell::table()?;
    let bucket = cell::bucket_of(msg)?;
    t.find(bucket, |k, first| matches(k, first, msg, ack, cancel_of))
}

// ---------------------------------------------------------------------
// creating

/// What `t_newtran` found.
pub enum Newtran {
    /// A new transaction (or the one this message already has).
    Cell(Cell),
    /// A retransmission: its last reply was sent again.
    Retransmission,
}

/// `t_newtran`: the transaction of the request in `ctx`, created when it
/// has none; a retransmission is answered with the last reply.
pub fn newtran(ctx: &mut Ctx<'_>) -> Result<Newtran, ModError> {
    if let Some(c) = current(ctx) {
        return Ok(Newtran::Cell(c));
    }
    let msg = ctx.msg;
    if !msg.is_request() || msg.method() == Some(Method::Ack) {
        return Err("no transaction for an ACK or a reply".into());
    }
    if let Some(c) = lookup(msg, false, false) {
        retransmission(&c, ctx.out);
        return Ok(Newtran::Retransmission);
    }
    let t = cell::table().ok_or("tm is not initialised")?;
    let bucket = cell::bucket_of(msg).ok_or("no Call-ID or CSeq to hash")?;
    let key = cell::key_of(msg).ok_or("no top Via")?;
    let invite = key.method == method::INVITE;
    let kind = if invite { Kind::Invite } else { Kind::NonInvite };
    let src = Peer::new(ctx.rcv.src, ctx.rcv.proto);
    let reply_to = Peer::new(sipr_sdk::net::reply_address(msg, ctx.rcv.src, ctx.force_rport), ctx.rcv.proto);
    let fr_ms = ctx.module_int(key::FR).map_or(PARAMS.fr.load(Ordering::Relaxed), |v| (v - 1) as u32);
    let fr_inv_ms = ctx.module_int(key::FR_INV).map_or(PARAMS.fr_inv.load(Ordering::Relaxed), |v| (v - 1) as u32);
    let set = |k| ctx.module_int(k).map_or(0, |v| (v - 1) as u32);
    let (t1_ms, t2_ms) = (set(key::T1), set(key::T2));
    let mut st = State {
        reply_to,
        src,
        dst: Peer::new(ctx.rcv.dst, ctx.rcv.proto),
        fr_ms,
        fr_inv_ms,
        t1_ms,
        t2_ms,
        ..State::default()
    };
    st.uas = Server::new(kind, src.reliable(), timers_of(&st)).save();
    st.msg_flags = ctx.flags;
    if !PARAMS.e2e_cancel_reason.is_on() {
        // the parameter is the default, t_set_no_e2e_cancel_reason the
        // transaction's choice
        st.flags |= tflag::NO_E2E_CANCEL_REASON;
    }
    st.flags |= ctx.module_int(key::TFLAGS_ON).unwrap_or(0) as u32;
    st.flags &= !(ctx.module_int(key::TFLAGS_OFF).unwrap_or(0) as u32);
    let end = msg.body_span().end().min(msg.buf().len());
    // the retransmission check and the insertion under one bucket lock:
    // two workers with the same request at once make one transaction
    let made = t.find_or_insert(bucket, |k, first| matches(k, first, msg, false, false), key, st, &msg.buf()[..end]);
    let c = match made {
        Ok(Ok(c)) => c,
        Ok(Err(existing)) => {
            retransmission(&existing, ctx.out);
            return Ok(Newtran::Retransmission);
        }
        Err(_) => {
            log::error!("tm: shared memory full: no room for a new transaction");
            return Err("no shared memory for a new transaction".into());
        }
    };
    crate::stats::created(false);
    ctx.set_module_int(key::CELL, cell::cell_id(&c));
    let life = match (invite, ctx.module_int(key::LIFE_INV), ctx.module_int(key::LIFE_NONINV)) {
        (true, Some(v), _) | (false, _, Some(v)) => Duration::from_millis((v - 1) as u64),
        (true, None, _) => ms(&PARAMS.max_inv_life),
        (false, _, None) => ms(&PARAMS.max_noninv_life),
    };
    let id = arm(&c, cell::timer::LIFE, life);
    c.lock().state_mut().life_timer = id;
    if invite && PARAMS.auto_inv_100.is_on() && ctx.module_int("tm.no_auto_100").is_none() {
        let data =
            PARAMS.reason_100.with(|reason| sipr_sdk::reply::build_in_transaction(ctx, 100, reason, b"", b""))?;
        let mut g = c.lock();
        uas_send(&c, &mut g, 100, &data, ctx.out, Sent::Local);
    }
    Ok(Newtran::Cell(c))
}

/// A `t_set_*` switch: on the message's transaction, or, before there is
/// one, on the transaction this message will make (as Kamailio keeps
/// such settings for the transaction to come).
pub fn set_tflag(ctx: &mut Ctx<'_>, bit: u32, on: bool) {
    if let Some(c) = current(ctx) {
        let mut g = c.lock();
        let s = g.state_mut();
        if on {
            s.flags |= bit;
        } else {
            s.flags &= !bit;
        }
        return;
    }
    let (add, drop) = if on { (key::TFLAGS_ON, key::TFLAGS_OFF) } else { (key::TFLAGS_OFF, key::TFLAGS_ON) };
    let a = ctx.module_int(add).unwrap_or(0) | i64::from(bit);
    let d = ctx.module_int(drop).unwrap_or(0) & !i64::from(bit);
    ctx.set_module_int(add, a);
    ctx.set_module_int(drop, d);
}

/// A final reply made here for an INVITE still pending on branches ends
/// them: each gets a CANCEL with the reply as its Reason (Kamailio's way).
pub(crate) fn cancel_after_local_final(
    c: &Cell,
    g: &mut CellGuard<'_, Key, State, SLOTS>,
    code: u16,
    out: &mut dyn Outbound,
) {
    if code >= 200 && c.key().method == method::INVITE {
        g.state_mut().cancel_reason = code;
        cancel_branches(g, |_| true, out);
    }
}

/// Post-script (Kamailio's t_unref): a transaction whose t_relay sent no
/// branch and that the script did not answer gets tm's internal reply:
/// 500 when there was no socket for the transport, else 477.
pub fn post_script(ctx: &mut Ctx<'_>) {
    let Some(c) = current(ctx) else { return };
    let flags = c.lock().state().flags;
    if flags & tflag::SEND_FAILED == 0 || flags & tflag::FINAL_SENT != 0 {
        return;
    }
    let (code, reason) = if flags & tflag::NO_SOCKET != 0 {
        (500, "I'm terribly sorry, server error occurred (6/TM)")
    } else {
        (477, "Unfortunately error on sending to next hop occurred (477/TM)")
    };
    if let Ok(data) = sipr_sdk::reply::build_in_transaction(ctx, code, reason, b"", b"") {
        let mut g = c.lock();
        uas_send(&c, &mut g, code, &data, ctx.out, Sent::Local);
    }
}

/// t_forward_nonack*: a failed forward leaves no internal reply behind
/// (only t_relay's do, Kamailio's rule).
pub fn no_internal_reply(ctx: &Ctx<'_>) {
    if let Some(c) = current(ctx) {
        c.lock().state_mut().flags &= !(tflag::SEND_FAILED | tflag::NO_SOCKET);
    }
}

/// `t_release()`: the transaction goes on its wait timer.
pub fn release(ctx: &mut Ctx<'_>) -> bool {
    let Some(c) = current(ctx) else { return false };
    let mut g = c.lock();
    let wait = ms(&PARAMS.wait);
    arm_wait(&c, g.state_mut(), wait);
    true
}

/// The first transaction of this Call-ID and CSeq number (tmx's
/// t_reply_callid, the tm.reply_callid and tm.cancel RPCs).
pub fn by_callid(callid: &[u8], cseq: &[u8]) -> Option<Cell> {
    let t = cell::table()?;
    let bucket = sipr_sdk::hash::id64(&[callid.trim_ascii(), cseq.trim_ascii()]) as u32;
    t.find(bucket, |_, first| {
        SipMsg::parse(first).is_ok_and(|m| {
            m.call_id().is_ok_and(|c| c.trim_ascii() == callid.trim_ascii())
                && m.cseq_tokens().is_ok_and(|(n, _)| n == cseq.trim_ascii())
        })
    })
}

/// A final reply made here for a transaction found by name (RPC, tmx):
/// the To tag given or tm's own, extra header lines, a body; the pending
/// branches of an INVITE are cancelled. `false` when a final reply had
/// gone already.
pub fn reply_here(
    c: &Cell,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    headers: &[u8],
    body: &[u8],
    env: &mut Env<'_>,
) -> bool {
    if c.lock().state().flags & tflag::FINAL_SENT != 0 {
        return false;
    }
    let data = with_faked_request(c, env, |f| match to_tag {
        None => sipr_sdk::reply::build_in_transaction(f, code, reason, headers, body).ok(),
        Some(tag) => sip::local_reply(
            f.msg,
            code,
            reason,
            &sip::ReplyOpts {
                to_tag: Some(tag),
                source: Some(sip::Source { ip: f.rcv.src.ip(), port: f.rcv.src.port(), force_rport: false }),
                server: f.core.server_header.as_deref(),
                extra_headers: headers,
                body,
            },
        )
        .ok(),
    })
    .flatten();
    let Some(data) = data else { return false };
    let mut g = c.lock();
    let sent = uas_send(c, &mut g, code, &data, env.out, Sent::Local);
    cancel_after_local_final(c, &mut g, code, env.out);
    sent
}

/// tm.cancel: the pending branches of an INVITE get their CANCEL; whether
/// some are still waiting.
pub fn cancel_by_rpc(c: &Cell, env: &mut Env<'_>) -> bool {
    let mut g = c.lock();
    g.state_mut().flags |= tflag::CANCELED;
    cancel_branches(&mut g, |_| true, env.out);
    let s = g.state();
    (0..s.nbranches as usize).any(|i| s.branches[i].flags & bflag::DONE == 0)
}

/// `t_retransmit_reply()`: the last reply upstream goes again.
pub fn retransmit_reply(ctx: &mut Ctx<'_>) -> bool {
    let Some(c) = current(ctx) else { return false };
    let g = c.lock();
    let last = g.slot(cell::SLOT_UAS_REPLY);
    if last.is_empty() {
        return false;
    }
    send_to(ctx.out, &g.state().reply_to, last);
    true
}

/// `t_save_lumps()`: the script's changes so far are what the failure
/// route and later branches see.
pub fn save_lumps(ctx: &mut Ctx<'_>) -> bool {
    let Some(c) = current(ctx) else { return false };
    let Ok(changed) = ctx.lumps.clone().apply(ctx.msg.buf()) else { return false };
    let mut g = c.lock();
    g.set_slot(SLOT_SCRIPT_REQUEST, &changed).is_ok()
}

/// `t_relay_cancel()`: 0 when the CANCEL went to the INVITE's branches,
/// 1 when there is no INVITE, -1 on an error.
pub fn relay_cancel_only(ctx: &mut Ctx<'_>) -> i32 {
    if ctx.msg.method() != Some(Method::Cancel) {
        return 1;
    }
    match lookup(ctx.msg, false, true) {
        None => 1,
        Some(inv) => match relay_cancel(ctx, &inv) {
            Ok(_) => 0,
            Err(e) => {
                log::error!("t_relay_cancel: {e}");
                -1
            }
        },
    }
}

/// The request came again: the last reply goes again.
fn retransmission(c: &Cell, out: &mut dyn Outbound) {
    let mut g = c.lock();
    let st = *g.state();
    let mut srv = Server::restore(&st.uas, timers_of(&st));
    let acts = srv.on_request_retransmission();
    g.state_mut().uas = srv.save();
    if acts.iter().any(|a| a == Action::SendReply) {
        send_to(out, &st.reply_to, g.slot(cell::SLOT_UAS_REPLY));
    }
}

// ---------------------------------------------------------------------
// the server side

/// Where a reply sent upstream comes from (for the statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// A far end's, relayed.
    Relayed,
    /// Made here.
    Local,
}

/// Sends a reply upstream through the server state machine: kept for
/// retransmissions, its timers armed. `false` when a final reply had
/// already gone.
pub(crate) fn uas_send(
    c: &Cell,
    g: &mut CellGuard<'_, Key, State, SLOTS>,
    code: u16,
    data: &[u8],
    out: &mut dyn Outbound,
    how: Sent,
) -> bool {
    let st = *g.state();
    if st.flags & tflag::LOCAL != 0 || (st.flags & tflag::REPLICATE != 0 && how == Sent::Relayed) {
        // a request made here, or a replicated one's far end: its outcome
        // goes nowhere
        if code >= 200 && st.flags & tflag::FINAL_SENT == 0 {
            if st.flags & tflag::WAITED != 0 {
                // for the one waiting on it: a far end's reply, or the
                // status line of tm's own
                let kept = match how {
                    Sent::Relayed => data,
                    Sent::Local => data.split(|c| *c == b'\n').next().unwrap_or_default(),
                };
                if g.set_slot(cell::SLOT_UAS_REPLY, kept).is_err() {
                    log::error!("tm: shared memory full: the final reply is not kept for the command waiting on it");
                }
            }
            let s = g.state_mut();
            s.flags |= tflag::FINAL_SENT;
            s.uas_code = code;
            stop(&mut s.life_timer);
            let wait = ms(&PARAMS.wait);
            arm_wait(c, s, wait);
            if st.flags & tflag::LOCAL != 0 {
                // a local request's outcome counts as a reply sent
                // (Kamailio's tmx figures, measured)
                count_sent(how);
                crate::stats::final_sent(code);
            }
        }
        return code >= 200;
    }
    let mut srv = Server::restore(&st.uas, timers_of(&st));
    let Some(acts) = srv.reply(code) else { return false };
    count_sent(how);
    if g.set_slot(cell::SLOT_UAS_REPLY, data).is_err() {
        log::error!("tm: shared memory full: the reply is sent but not kept for retransmissions");
    }
    let s = g.state_mut();
    s.uas = srv.save();
    if code >= 200 {
        s.flags |= tflag::FINAL_SENT;
        s.uas_code = code;
        stop(&mut s.life_timer);
        crate::stats::final_sent(code);
    }
    for a in acts.iter() {
        match a {
            Action::SendReply => send_to(out, &s.reply_to, data),
            Action::Arm(Timer::Retransmit, d) => s.uas_retr = arm(c, cell::timer::UAS_RETR, d),
            Action::Arm(Timer::Final, d) => s.uas_final = arm(c, cell::timer::UAS_FINAL, d),
            Action::Arm(Timer::Wait, d) => arm_wait(c, s, d),
            _ => {}
        }
    }
    true
}

/// A reply went upstream: relayed or made here, and sent.
fn count_sent(how: Sent) {
    match how {
        Sent::Relayed => crate::stats::bump(|s| s.rpl_relayed),
        Sent::Local => crate::stats::bump(|s| s.rpl_generated),
    }
    crate::stats::bump(|s| s.rpl_sent);
}

fn arm_wait(c: &Cell, s: &mut State, d: Duration) {
    if s.wait_timer.is_none() {
        s.wait_timer = arm(c, cell::timer::WAIT, d.max(Duration::from_millis(1)));
    }
    // no longer active (tmx's active_transactions), counted once
    if s.flags & tflag::WAIT_COUNTED == 0 {
        s.flags |= tflag::WAIT_COUNTED;
        crate::stats::drop_one(|s| s.active);
    }
}

/// The transaction is over: every timer stopped, out of the table (its
/// memory goes with the last reference).
fn delete(c: &Cell, g: &mut CellGuard<'_, Key, State, SLOTS>) {
    let s = g.state_mut();
    s.flags |= tflag::DONE;
    stop(&mut s.uas_retr);
    stop(&mut s.uas_final);
    stop(&mut s.life_timer);
    stop(&mut s.wait_timer);
    for b in s.branches.iter_mut() {
        stop(&mut b.retr_timer);
        stop(&mut b.fr_timer);
    }
    if c.unlink() {
        crate::stats::drop_one(|t| t.inuse);
        if s.flags & tflag::WAIT_COUNTED == 0 {
            crate::stats::drop_one(|t| t.active);
        }
    }
}

/// `t_reply(code, reason)` on the transaction of `ctx`.
pub fn reply(ctx: &mut Ctx<'_>, code: u16, reason: &str) -> Result<bool, ModError> {
    let c = current(ctx).ok_or("no transaction: call t_newtran() first")?;
    let mut extra = Vec::new();
    if (300..400).contains(&code) {
        // the destination set as Contacts (tm's rule for redirects)
        let mut targets: Vec<Vec<u8>> = Vec::new();
        if let Some(u) = ctx.new_uri() {
            targets.push(u.to_vec());
        }
        targets.extend(ctx.branches.iter().map(|b| b.uri.clone()));
        if !targets.is_empty() {
            extra.extend_from_slice(b"Contact: ");
            for (i, t) in targets.iter().enumerate() {
                if i > 0 {
                    extra.extend_from_slice(b", ");
                }
                extra.push(b'<');
                extra.extend_from_slice(t);
                extra.push(b'>');
            }
            extra.extend_from_slice(b"\r\n");
        }
    }
    let data = sipr_sdk::reply::build_in_transaction(ctx, code, reason, &extra, b"")?;
    let mut g = c.lock();
    g.state_mut().flags |= tflag::SCRIPT_REPLIED;
    let sent = uas_send(&c, &mut g, code, &data, ctx.out, Sent::Local);
    cancel_after_local_final(&c, &mut g, code, ctx.out);
    Ok(sent)
}

// ---------------------------------------------------------------------
// relaying

/// A destination fixed by the script (`t_relay(host, port)`,
/// `t_relay_to_udp(...)`).
#[derive(Debug, Clone)]
pub struct Fixed {
    /// Host, when given.
    pub host: Option<Vec<u8>>,
    /// Port, when given.
    pub port: Option<u16>,
    /// Transport, when fixed.
    pub proto: Option<Proto>,
}

/// `t_relay`: the transaction is created (or found: a retransmission is
/// answered and stops there), then the request goes out on every branch
/// of the destination set. ACKs and CANCELs take their own ways.
pub fn relay(ctx: &mut Ctx<'_>, fixed: Option<Fixed>) -> Result<i32, ModError> {
    match ctx.msg.method() {
        Some(Method::Ack) => return relay_ack(ctx, fixed),
        Some(Method::Cancel) if current(ctx).is_none() => {
            if let Some(inv) = lookup(ctx.msg, false, true) {
                return relay_cancel(ctx, &inv);
            }
        }
        _ => {}
    }
    let c = match newtran(ctx)? {
        Newtran::Cell(c) => c,
        Newtran::Retransmission => return Ok(0),
    };
    let sent = add_branches(ctx, &c, fixed.as_ref());
    // the destination set is used up, as Kamailio's t_relay leaves it
    ctx.branches.clear();
    let sent = sent?;
    if sent == 0 {
        // tm answers 477 once the script is over (Kamailio's internal
        // reply), unless the script replied meanwhile
        c.lock().state_mut().flags |= tflag::SEND_FAILED;
        return Err("no branch could be sent".into());
    }
    Ok(1)
}

/// An ACK: the hop-by-hop ACK of a negative reply sipr sent is absorbed
/// (and ends that reply's retransmissions); any other goes on statelessly.
fn relay_ack(ctx: &mut Ctx<'_>, fixed: Option<Fixed>) -> Result<i32, ModError> {
    if let Some(c) = lookup(ctx.msg, true, false) {
        if absorb_ack(&c) {
            return Ok(0);
        }
    }
    let branch = sip::stateless_branch(ctx.msg).map_err(|e| e.to_string())?;
    let target = ctx.new_uri().or(ctx.msg.request_uri()).map(<[u8]>::to_vec);
    let (host, port, proto) = destination(ctx, fixed.as_ref(), target.as_deref())?;
    let (to, proto) = ctx.out.resolve(&host, port, proto)?;
    let data = sipr_sdk::build_request(ctx, proto, &branch, ctx.new_uri(), ctx.lumps.clone())?;
    ctx.out.send(Dest::Addr { to, proto, conn: ctx.send_flags.forward() }, &data)?;
    Ok(1)
}

/// The ACK of the negative final reply of `c`: its retransmissions stop
/// and the wait begins. `false` when `c` is not waiting for one.
fn absorb_ack(c: &Cell) -> bool {
    let mut g = c.lock();
    let st = *g.state();
    if st.uas_code < 300 {
        return false;
    }
    let mut srv = Server::restore(&st.uas, timers_of(&st));
    let acts = srv.on_ack();
    let s = g.state_mut();
    s.uas = srv.save();
    for a in acts.iter() {
        match a {
            Action::Stop(Timer::Retransmit) => stop(&mut s.uas_retr),
            Action::Stop(Timer::Final) => stop(&mut s.uas_final),
            Action::Arm(Timer::Wait, d) => arm_wait(c, s, d),
            _ => {}
        }
    }
    true
}

/// A CANCEL of a pending INVITE: answered 200 on its own transaction,
/// then sent on every branch of the INVITE that has a provisional reply
/// (the others get it when one comes, RFC 3261 §9.1).
fn relay_cancel(ctx: &mut Ctx<'_>, inv: &Cell) -> Result<i32, ModError> {
    let c = match newtran(ctx)? {
        Newtran::Cell(c) => c,
        Newtran::Retransmission => return Ok(0),
    };
    let data = sipr_sdk::reply::build_in_transaction(ctx, 200, "canceling", b"", b"")?;
    {
        let mut g = c.lock();
        uas_send(&c, &mut g, 200, &data, ctx.out, Sent::Local);
    }
    let mut g = inv.lock();
    if g.state().flags & tflag::FINAL_SENT != 0 {
        return Ok(1);
    }
    g.state_mut().flags |= tflag::CANCELED;
    // the CANCEL's Reason headers go on to the branches (RFC 3326;
    // Kamailio's e2e_cancel_reason), unless the INVITE's script said not
    if g.state().flags & tflag::NO_E2E_CANCEL_REASON == 0 {
        let buf = ctx.msg.buf();
        let mut lines = Vec::new();
        for h in ctx.msg.headers().iter().filter(|h| h.name.get(buf).eq_ignore_ascii_case(b"Reason")) {
            lines.extend_from_slice(h.line.get(buf));
        }
        if !lines.is_empty() && g.set_slot(cell::SLOT_CANCEL_REASON, &lines).is_err() {
            log::error!("tm: shared memory full: the CANCEL's Reason is not passed on");
        }
    }
    cancel_branches(&mut g, |_| true, ctx.out);
    Ok(1)
}

/// Sends CANCEL on the pending branches of an INVITE that `which`
/// selects: at once where a provisional reply came, else when one comes
/// (and their retransmissions stop). How many.
pub(crate) fn cancel_branches(
    g: &mut CellGuard<'_, Key, State, SLOTS>,
    which: impl Fn(usize) -> bool,
    out: &mut dyn Outbound,
) -> u32 {
    let n = g.state().nbranches as usize;
    let mut count = 0;
    for b in 0..n {
        let br = g.state().branches[b];
        if !which(b) || br.flags & (bflag::DONE | bflag::CANCEL_SENT) != 0 {
            continue;
        }
        count += 1;
        if br.flags & bflag::REPLIED != 0 {
            send_cancel(g, b, out);
        } else {
            let s = g.state_mut();
            s.branches[b].flags |= bflag::CANCEL_PENDING;
            stop(&mut s.branches[b].retr_timer);
        }
    }
    count
}

fn send_cancel(g: &mut CellGuard<'_, Key, State, SLOTS>, b: usize, out: &mut dyn Outbound) {
    let peer = g.state().branches[b].peer;
    let Ok(sent) = SipMsg::parse(g.slot(slot_request(b))) else { return };
    // why, as RFC 3326 and Kamailio say it: the final reply that ended
    // the call elsewhere, or what the CANCEL from upstream said
    let reason = match g.state().cancel_reason {
        0 => g.slot(cell::SLOT_CANCEL_REASON).to_vec(),
        c if c < 300 => format!("Reason: SIP;cause={c};text=\"Call completed elsewhere\"\r\n").into_bytes(),
        c => format!("Reason: SIP;cause={c}\r\n").into_bytes(),
    };
    match sip::hop_request(&sent, "CANCEL", None, &reason) {
        Ok(data) => send_to(out, &peer, &data),
        Err(e) => log::error!("tm: cannot build the CANCEL: {e}"),
    }
    g.state_mut().branches[b].flags |= bflag::CANCEL_SENT;
}

/// Host, port and transport of a branch.
fn destination(ctx: &mut Ctx<'_>, fixed: Option<&Fixed>, target: Option<&[u8]>) -> Result<sipr_sdk::NextHop, ModError> {
    if let Some(Fixed { host: Some(h), port, proto }) = fixed {
        // "the protocol used is the same protocol on which the message was
        // received" (t_relay(host, port))
        return Ok((h.clone(), *port, proto.or(Some(ctx.rcv.proto))));
    }
    let target = target.ok_or("no destination")?.to_vec();
    let (host, port, proto) = sipr_sdk::uri_destination(&target)?;
    let proto = match fixed.and_then(|f| f.proto).or(proto).or(ctx.send_socket.as_ref().map(|s| s.0)) {
        Some(p) => Some(p),
        None => Some(ctx.out.transport_for(&host, port)),
    };
    Ok((host, port, proto))
}

/// Sends the request of `ctx` on a branch for each target of the
/// destination set (the Request-URI or `$du`, then `append_branch`'s);
/// how many went out.
fn add_branches(ctx: &mut Ctx<'_>, c: &Cell, fixed: Option<&Fixed>) -> Result<usize, ModError> {
    let mut targets: Vec<(Vec<u8>, Option<Vec<u8>>, u32)> = Vec::new();
    if let Some(u) = ctx.ruri() {
        targets.push((u.to_vec(), ctx.dst_uri.clone(), ctx.bflags));
    }
    targets.extend(ctx.branches.iter().map(|b| (b.uri.clone(), b.dst_uri.clone(), b.bflags)));
    // routes armed for this message; what the transaction had stays
    // otherwise (a failure route's new branches keep the onreply route)
    let armed = |k| ctx.module_int(k).map(|v| v as u32);
    let (on_failure, on_reply, on_branch) = (armed(key::ON_FAILURE), armed(key::ON_REPLY), armed(key::ON_BRANCH));
    let on_branch_failure = armed(key::ON_BRANCH_FAILURE);
    let on_branch = {
        let mut g = c.lock();
        let s = g.state_mut();
        if let Some(r) = on_failure {
            s.on_failure = r;
        }
        if let Some(r) = on_reply {
            s.on_reply = r;
        }
        if let Some(r) = on_branch {
            s.on_branch = r;
        }
        if let Some(r) = on_branch_failure {
            s.on_branch_failure = r;
        }
        s.msg_flags = ctx.flags;
        if !ctx.lumps.is_empty() {
            // what a failure route and later branches see
            if let Ok(changed) = ctx.lumps.clone().apply(ctx.msg.buf()) {
                let _ = g.set_slot(SLOT_SCRIPT_REQUEST, &changed);
            }
        }
        g.state().on_branch
    };
    store_avps(c, ctx);
    // the failure route re-arms itself if it wants to run again
    let original = ctx.msg.request_uri().map(<[u8]>::to_vec);
    let mut sent = 0;
    for (mut uri, mut dst, bflags) in targets {
        let b = {
            let g = c.lock();
            g.state().nbranches as usize
        };
        if b >= MAX_BRANCHES {
            log::error!("tm: more than {MAX_BRANCHES} branches: the rest are not sent");
            break;
        }
        let mut lumps = ctx.lumps.clone();
        if on_branch != 0 {
            // branch_route: on the request as this branch sends it
            let saved = (ctx.new_uri().map(<[u8]>::to_vec), ctx.dst_uri.clone(), ctx.lumps.clone());
            ctx.set_new_uri(Some(uri.clone()));
            ctx.dst_uri = dst.clone();
            ctx.set_module_int(key::BRANCH, b as i64);
            let o = sipr_sdk::run_route(ctx, on_branch as usize - 1);
            lumps = std::mem::replace(&mut ctx.lumps, saved.2);
            // the route may have changed this branch's target
            let (u, d) = (ctx.new_uri().map(<[u8]>::to_vec), ctx.dst_uri.clone());
            ctx.set_new_uri(saved.0);
            ctx.dst_uri = saved.1;
            if o.is_some_and(|o| o.dropped || o.exited && o.retcode == 0) {
                continue;
            }
            uri = u.unwrap_or(uri);
            dst = d;
        }
        let target = dst.clone().unwrap_or_else(|| uri.clone());
        let (host, port, proto) = match destination(ctx, fixed, Some(&target)) {
            Ok(d) => d,
            Err(e) => {
                log::error!("tm: branch {b}: {e}");
                continue;
            }
        };
        let fixed_proto = proto;
        let (to, proto) = match ctx.out.resolve(&host, port, proto) {
            Ok(r) => r,
            Err(e) => {
                log::error!("tm: branch {b}: {e}");
                continue;
            }
        };
        if !ctx.core.listen.iter().any(|l| l.proto == proto) {
            // Kamailio's E_NO_SOCKET: its internal reply says so
            log::error!("tm: branch {b}: no {proto} socket to send from");
            c.lock().state_mut().flags |= tflag::NO_SOCKET;
            continue;
        }
        let branch_id = sip::stateful_branch(c.bucket(), c.label(), b as u16);
        let new_ruri = (Some(&uri) != original.as_ref()).then_some(&uri[..]);
        let data = match sipr_sdk::build_request(ctx, proto, &branch_id, new_ruri, lumps) {
            Ok(d) => d,
            Err(e) => {
                log::error!("tm: branch {b}: cannot build the request: {e}");
                continue;
            }
        };
        let peer = Peer::new(to, proto);
        if ctx.core.dns_failover {
            note_dns_target(c, b, &host, port, fixed_proto, 0);
        }
        match start_branch(c, b, peer, bflags, &data, ctx.send_flags.forward(), ctx.out) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                log::error!("tm: {e}");
                continue;
            }
        }
        sent += 1;
    }
    Ok(sent)
}

/// Starts branch `b` of `c`: its request kept, sent to `peer`, its
/// client state machine and timers started. `Ok(false)` when the send
/// failed (the branch is over before it began: no timers, tm's 477).
fn start_branch(
    c: &Cell,
    b: usize,
    peer: Peer,
    bflags: u32,
    data: &[u8],
    conn: ConnFlags,
    out: &mut dyn Outbound,
) -> Result<bool, String> {
    let mut g = c.lock();
    if g.set_slot(slot_request(b), data).is_err() {
        return Err(format!("shared memory full: no room for branch {b}"));
    }
    let st = *g.state();
    let kind = if c.key().method == method::INVITE { Kind::Invite } else { Kind::NonInvite };
    let mut client = Client::new(kind, peer.reliable(), timers_of(&st));
    // Kamailio's blst_methods_lookup: a blocklisted next hop is not tried
    // (the branch fails as a send error would)
    let blocked = PARAMS.blst_methods_lookup.get() as u32 & request_method_id(data) != 0
        && sipr_sdk::blocklisted(peer.proto(), peer.addr()).is_some_and(|why| {
            log::info!("tm: branch {b}: blocklisted destination {}:{} ({why})", peer.proto(), peer.addr());
            true
        });
    let mut failed = false;
    let acts = client.start();
    let s = g.state_mut();
    s.nbranches = (b + 1) as u8;
    s.flags |= tflag::NEW_BRANCHES;
    s.branches[b] = cell::Branch { txn: client.save(), peer, bflags, ..cell::Branch::default() };
    for a in acts.iter() {
        match a {
            Action::SendRequest if blocked => failed = true,
            Action::SendRequest => {
                if let Err(e) = out.send(Dest::Addr { to: peer.addr(), proto: peer.proto(), conn }, data) {
                    log::error!("tm: branch {b}: {e}");
                    sipr_sdk::blocklist(peer.proto(), peer.addr(), blst::ERR_SEND, None);
                    failed = true;
                }
            }
            Action::Arm(Timer::Retransmit, d) => {
                s.branches[b].retr_timer = arm(c, cell::timer::BRANCH_RETR + b as u64, d);
            }
            Action::Arm(Timer::Final, d) => {
                let d = if kind == Kind::Invite { d } else { Duration::from_millis(st.fr_ms.into()) };
                s.branches[b].fr_timer = arm(c, cell::timer::BRANCH_FR + b as u64, d);
            }
            _ => {}
        }
    }
    if failed {
        let s = g.state_mut();
        stop(&mut s.branches[b].retr_timer);
        stop(&mut s.branches[b].fr_timer);
        s.branches[b].flags |= bflag::DONE;
        s.branches[b].code = 477;
        return Ok(false);
    }
    Ok(true)
}

/// Kamailio's METHOD_* bit of a request as built (its first token).
fn request_method_id(data: &[u8]) -> u32 {
    sip::method_id(data.split(|c| *c == b' ').next().unwrap_or_default())
}

/// Remembers, for DNS failover, the name branch `b`'s destination was
/// resolved from and which of its targets (`nth`) the branch took.
fn note_dns_target(c: &Cell, b: usize, host: &[u8], port: Option<u16>, proto: Option<Proto>, nth: u8) {
    let Ok(name) = std::str::from_utf8(host) else { return };
    if name.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok() {
        return;
    }
    let Ok(len) = u16::try_from(host.len()) else { return };
    let mut g = c.lock();
    let mut list = g.slot(SLOT_DNS_TARGETS).to_vec();
    list.extend_from_slice(&[b as u8, nth, u8::from(port.is_some())]);
    list.extend_from_slice(&port.unwrap_or(0).to_be_bytes());
    list.push(proto.map_or(u8::MAX, |p| p as u8));
    list.extend_from_slice(&len.to_be_bytes());
    list.extend_from_slice(host);
    if g.set_slot(SLOT_DNS_TARGETS, &list).is_err() {
        log::error!("tm: shared memory full: branch {b} gets no DNS failover");
    }
}

/// What [`note_dns_target`] kept for a branch: the name, the port and
/// transport fixed for it, and the target it took.
type DnsTarget = (Vec<u8>, Option<u16>, Option<Proto>, u8);

/// Branch `b`'s entry of [`note_dns_target`].
fn dns_target_of(list: &[u8], b: usize) -> Option<DnsTarget> {
    let mut rest = list;
    while rest.len() >= 8 {
        let len = usize::from(u16::from_be_bytes([rest[6], rest[7]]));
        let host = rest.get(8..8 + len)?;
        if usize::from(rest[0]) == b {
            let port = (rest[2] != 0).then(|| u16::from_be_bytes([rest[3], rest[4]]));
            let proto = Proto::ALL.get(usize::from(rest[5])).copied();
            return Some((host.to_vec(), port, proto, rest[1]));
        }
        rest = &rest[8 + len..];
    }
    None
}

/// `use_dns_failover` (Kamailio's add_uac_dns_fallback): branch `b`
/// failed by timeout or 503 and its destination was a name with more
/// targets: the same request goes on a new branch to the next target
/// (one that can be sent to). Whether a branch was added.
fn dns_failover(c: &Cell, b: usize, env: &mut Env<'_>) -> bool {
    let (entry, old, flags, nbranches) = {
        let g = c.lock();
        let st = g.state();
        (dns_target_of(g.slot(SLOT_DNS_TARGETS), b), g.slot(slot_request(b)).to_vec(), st.flags, st.nbranches)
    };
    let Some((host, port, proto, mut nth)) = entry else { return false };
    if flags & (tflag::DISABLE_FAILOVER | tflag::FINAL_SENT | tflag::CANCELED) != 0 {
        return false;
    }
    let old_id = sip::stateful_branch(c.bucket(), c.label(), b as u16);
    let mut nb = nbranches as usize;
    while nb < MAX_BRANCHES && nth < u8::MAX {
        nth += 1;
        let Ok((to, p)) = env.out.resolve_nth(&host, port, proto, usize::from(nth)) else { return false };
        let new_id = sip::stateful_branch(c.bucket(), c.label(), nb as u16);
        let Some(data) = replace_branch_id(&old, &old_id, &new_id) else { return false };
        let bflags = c.lock().state().branches[b].bflags;
        log::debug!("tm: branch {b} failed: DNS failover to {p}:{to} on branch {nb}");
        note_dns_target(c, nb, &host, port, proto, nth);
        match start_branch(c, nb, Peer::new(to, p), bflags, &data, ConnFlags::default(), env.out) {
            Ok(true) => return true,
            Ok(false) => nb += 1,
            Err(e) => {
                log::error!("tm: {e}");
                return false;
            }
        }
    }
    false
}

/// `request` with the branch id of its top Via changed (a failover
/// branch's copy of the request of the branch it replaces).
fn replace_branch_id(request: &[u8], old: &str, new: &str) -> Option<Vec<u8>> {
    let needle = [b"branch=", old.as_bytes()].concat();
    let at = request.windows(needle.len()).position(|w| w == needle)? + 7;
    let mut out = Vec::with_capacity(request.len() + new.len());
    out.extend_from_slice(&request[..at]);
    out.extend_from_slice(new.as_bytes());
    out.extend_from_slice(&request[at + old.len()..]);
    Some(out)
}

/// A request made here (`t_uac_send`, `tm.t_uac_start`).
#[derive(Debug)]
pub struct LocalRequest<'a> {
    /// Method.
    pub method: &'a str,
    /// Request-URI.
    pub ruri: &'a [u8],
    /// Where it goes, when not the Request-URI.
    pub next_hop: Option<&'a [u8]>,
    /// Header lines; From and To at least.
    pub headers: &'a [u8],
    /// Body.
    pub body: &'a [u8],
}

/// Sends a request made here in a transaction of its own (Kamailio's
/// t_uac): Call-ID, From tag and CSeq made when the headers lack them,
/// `event_route[tm:local-request]` run on it (it may change `$ru`, `$du`,
/// the timers), then a branch as any other; its replies end in tm.
pub fn uac_send(req: &LocalRequest<'_>, env: &mut Env<'_>) -> Result<(), UacError> {
    uac_send_inner(req, env, tflag::LOCAL).map(drop)
}

/// [`uac_send`], keeping the transaction's final status line for the
/// caller, who waits on it with [`local_final`] (`tm.t_uac_wait_block`).
pub fn uac_send_waited(req: &LocalRequest<'_>, env: &mut Env<'_>) -> Result<Cell, UacError> {
    uac_send_inner(req, env, tflag::LOCAL | tflag::WAITED)
}

/// The final reply of a request made here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFinal {
    /// Its code.
    pub code: u16,
    /// Its reason phrase.
    pub reason: String,
    /// The far end's reply as it came; `None` for tm's own (a 408 when
    /// no reply came).
    pub received: Option<Vec<u8>>,
}

/// The final reply of a transaction sent with [`uac_send_waited`], once
/// it has one.
pub fn local_final(c: &Cell) -> Option<LocalFinal> {
    let g = c.lock();
    let st = g.state();
    if st.flags & tflag::FINAL_SENT == 0 {
        return None;
    }
    // uas_send keeps a received reply whole, only the status line of tm's
    let kept = g.slot(cell::SLOT_UAS_REPLY);
    Some(LocalFinal {
        code: st.uas_code,
        reason: reason_phrase(kept),
        received: kept.contains(&b'\n').then(|| kept.to_vec()),
    })
}

/// Why a local request was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UacError {
    /// The headers lack From or To, or a line is not a header.
    Headers(String),
    /// Anything else (destination, sockets, shared memory, sending).
    Other(String),
}

impl std::fmt::Display for UacError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UacError::Headers(e) | UacError::Other(e) => f.write_str(e),
        }
    }
}

impl From<String> for UacError {
    fn from(e: String) -> Self {
        UacError::Other(e)
    }
}

impl From<&str> for UacError {
    fn from(e: &str) -> Self {
        UacError::Other(e.to_string())
    }
}

fn uac_send_inner(req: &LocalRequest<'_>, env: &mut Env<'_>, flags: u32) -> Result<Cell, UacError> {
    let t = cell::table().ok_or("tm is not initialised")?;
    let mut from = None;
    let mut to = None;
    let mut callid = None;
    let mut cseq = None;
    let mut others = Vec::new();
    for line in req.headers.split(|c| *c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii().is_empty() {
            continue;
        }
        let (name, value) = match line.iter().position(|c| *c == b':') {
            Some(i) => (line[..i].trim_ascii().to_ascii_lowercase(), line[i + 1..].trim_ascii().to_vec()),
            None => return Err(UacError::Headers(format!("bad header line '{}'", String::from_utf8_lossy(line)))),
        };
        match &name[..] {
            b"from" | b"f" => from = Some(value),
            b"to" | b"t" => to = Some(value),
            b"call-id" | b"i" => callid = Some(value),
            b"cseq" => cseq = Some(value),
            b"content-length" | b"l" | b"max-forwards" | b"via" | b"v" => {}
            _ => {
                others.extend_from_slice(line);
                others.extend_from_slice(b"\r\n");
            }
        }
    }
    let Some(mut from) = from else { return Err(UacError::Headers("From missing".into())) };
    let Some(to) = to else { return Err(UacError::Headers("To missing".into())) };
    let salt = sipr_sdk::hash::id64(&[req.ruri, &to, &std::process::id().to_be_bytes(), &now_nanos().to_be_bytes()]);
    if !from.windows(5).any(|w| w.eq_ignore_ascii_case(b";tag=")) {
        if !from.contains(&b'<') {
            // a bare URI: what follows its first ';' are the header's
            // parameters (RFC 3261 §20); written in brackets, as Kamailio
            // writes it once it adds the tag (measured: kamctl ping)
            let end = from.iter().position(|c| *c == b';').unwrap_or(from.len());
            from = [b"<", &from[..end], b">", &from[end..]].concat();
        }
        from.extend_from_slice(format!(";tag={:08x}", salt as u32).as_bytes());
    }
    // where from: the first listen socket of the destination's transport
    let target = req.next_hop.filter(|h| !h.is_empty()).unwrap_or(req.ruri).to_vec();
    let (host, port, proto) = sipr_sdk::uri_destination(&target)?;
    let proto = proto.unwrap_or_else(|| env.out.transport_for(&host, port));
    let listen = env.core.listen.iter().find(|l| l.proto == proto).ok_or(format!("no {proto} socket to send from"))?;
    let (via_host, via_port) = listen.advertise.clone().unwrap_or((listen.host.clone(), listen.port));
    let callid = callid.unwrap_or_else(|| format!("{:016x}-{}@{}", salt, std::process::id(), via_host).into_bytes());
    let cseq = cseq.unwrap_or_else(|| format!("10 {}", req.method).into_bytes());
    let build = |ruri: &[u8], branch: &str| {
        let mut m = Vec::with_capacity(512 + req.body.len());
        m.extend_from_slice(req.method.as_bytes());
        m.push(b' ');
        m.extend_from_slice(ruri);
        m.extend_from_slice(
            format!(
                " SIP/2.0\r\nVia: SIP/2.0/{} {via_host}:{via_port};branch={branch}\r\n",
                proto.name().to_ascii_uppercase()
            )
            .as_bytes(),
        );
        for (n, v) in [(&b"To: "[..], &to), (b"From: ", &from), (b"CSeq: ", &cseq), (b"Call-ID: ", &callid)] {
            m.extend_from_slice(n);
            m.extend_from_slice(v);
            m.extend_from_slice(b"\r\n");
        }
        m.extend_from_slice(format!("Max-Forwards: 70\r\nContent-Length: {}\r\n", req.body.len()).as_bytes());
        if let Some(ua) = &env.core.server_header {
            m.extend_from_slice(format!("User-Agent: {ua}\r\n").as_bytes());
        }
        m.extend_from_slice(&others);
        m.extend_from_slice(b"\r\n");
        m.extend_from_slice(req.body);
        m
    };
    // event_route[tm:local-request]: on the request as it would leave
    let mut ruri = req.ruri.to_vec();
    let mut dest = target;
    let local_addr = SocketAddr::new(
        listen
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| "a listen host that is not an address")?,
        listen.port,
    );
    let mut fr = (PARAMS.fr.load(Ordering::Relaxed), PARAMS.fr_inv.load(Ordering::Relaxed));
    if let Some(route) = sipr_sdk::event_route("tm:local-request") {
        let draft = build(&ruri, sip::MAGIC_COOKIE);
        if let Ok(msg) = SipMsg::parse(&draft) {
            let rcv = RecvInfo { src: local_addr, dst: local_addr, proto };
            let mut ctx = Ctx::new(&msg, rcv, env.core, &mut *env.proc, &mut *env.out);
            sipr_sdk::run_route(&mut ctx, route);
            if let Some(u) = ctx.new_uri() {
                ruri = u.to_vec();
                dest = ruri.clone();
            }
            if let Some(d) = &ctx.dst_uri {
                dest = d.clone();
            }
            if let Some(v) = ctx.module_int(key::FR) {
                fr.0 = (v - 1) as u32;
            }
            if let Some(v) = ctx.module_int(key::FR_INV) {
                fr.1 = (v - 1) as u32;
            }
        }
    }
    let (host, port, proto2) = sipr_sdk::uri_destination(&dest)?;
    let (to_addr, proto) = env.out.resolve(&host, port, proto2.or(Some(proto)))?;
    // the cell: found by its replies only (no server side)
    let first = build(&ruri, sip::MAGIC_COOKIE);
    let msg = SipMsg::parse(&first).map_err(|e| format!("the request does not parse: {e}"))?;
    let bucket = cell::bucket_of(&msg).ok_or("no Call-ID or CSeq")?;
    let key = cell::key_of(&msg).ok_or("no Via")?;
    let me = Peer::new(local_addr, proto);
    let st = State { src: me, dst: me, fr_ms: fr.0, fr_inv_ms: fr.1, flags, ..State::default() };
    let c = t.insert(bucket, key, st, &first).map_err(|_| "shared memory full: no room for a new transaction")?;
    crate::stats::created(true);
    let life = if c.key().method == method::INVITE { ms(&PARAMS.max_inv_life) } else { ms(&PARAMS.max_noninv_life) };
    let id = arm(&c, cell::timer::LIFE, life);
    c.lock().state_mut().life_timer = id;
    let data = build(&ruri, &sip::stateful_branch(c.bucket(), c.label(), 0));
    match start_branch(&c, 0, Peer::new(to_addr, proto), 0, &data, ConnFlags::default(), env.out)? {
        true => Ok(c),
        false => {
            let mut g = c.lock();
            let wait = ms(&PARAMS.wait);
            arm_wait(&c, g.state_mut(), wait);
            Err(UacError::Other("the request could not be sent".into()))
        }
    }
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

// ---------------------------------------------------------------------
// replies

/// The core's reply hook: a reply to one of our branches is taken here.
pub fn on_reply(ctx: &mut Ctx<'_>) -> bool {
    let msg = ctx.msg;
    let Ok(via) = msg.via1() else { return false };
    let Some((bucket, label, b)) = via.branch(msg.buf()).and_then(sip::decode_stateful_branch) else { return false };
    let Some(t) = cell::table() else { return false };
    let Some(c) = t.get(bucket, label) else { return false };
    let Some(code) = msg.status() else { return true };
    crate::stats::bump(|s| s.rpl_received);
    let b = b as usize;
    // the reply to a CANCEL we sent ends here
    if msg.cseq_tokens().is_ok_and(|(_, m)| m == b"CANCEL") && c.key().method != method::CANCEL {
        crate::stats::bump(|s| s.rpl_absorbed);
        return true;
    }
    let (on_reply, local) = {
        let g = c.lock();
        if b >= g.state().nbranches as usize {
            return true;
        }
        (g.state().on_reply, g.state().flags & tflag::LOCAL != 0)
    };
    ctx.set_module_int(key::CELL, cell::cell_id(&c));
    ctx.set_module_int(key::BRANCH, b as i64);
    if on_reply != 0 {
        load_avps(&c, ctx);
        let o = sipr_sdk::run_route(ctx, on_reply as usize - 1);
        store_avps(&c, ctx);
        // drop in an onreply_route discards a provisional reply only
        if o.is_some_and(|o| o.dropped) && code < 200 {
            return true;
        }
    }
    // what goes upstream: the reply without our Via, with the
    // onreply_route's changes
    let relayed = match sip::forward_reply(msg, ctx.lumps.clone()) {
        Ok(d) => Some(d),
        // a request made here: no Via is left to take the reply upstream,
        // but it is still the transaction's outcome
        Err(_) if local => Some(msg.buf().to_vec()),
        Err(e) => {
            log::debug!("tm: reply {code} cannot be relayed: {e}");
            None
        }
    };
    let mut env = Env { core: ctx.core, proc: &mut *ctx.proc, out: &mut *ctx.out };
    branch_outcome(&c, b, code, Some((msg, relayed.as_deref())), &mut env);
    true
}

/// A reply (or, with `reply` `None`, the timeout) on branch `b`: the
/// client state machine, then what goes upstream.
fn branch_outcome(c: &Cell, b: usize, code: u16, reply: Option<(&SipMsg<'_>, Option<&[u8]>)>, env: &mut Env<'_>) {
    let mut g = c.lock();
    let st = *g.state();
    let invite = c.key().method == method::INVITE;
    let mut client = Client::restore(&st.branches[b].txn, timers_of(&st));
    let acts: Actions = if reply.is_some() { client.on_reply(code) } else { client.on_timer(Timer::Final) };
    g.state_mut().branches[b].txn = client.save();
    let mut passed = None;
    let mut retransmitted_2xx = false;
    // a provisional reply on a branch cancelled after its timeout: the
    // far end missed the CANCEL or sent it before; Kamailio cancels again
    // (measured)
    let timed_out_and_cancelled = bflag::TIMEOUT | bflag::CANCEL_SENT;
    let mut cancel_again = false;
    for a in acts.iter() {
        match a {
            Action::Stop(Timer::Retransmit) => stop(&mut g.state_mut().branches[b].retr_timer),
            Action::Stop(Timer::Final) => stop(&mut g.state_mut().branches[b].fr_timer),
            Action::Arm(Timer::Final, d) => {
                let s = g.state_mut();
                stop(&mut s.branches[b].fr_timer);
                s.branches[b].fr_timer = arm(c, cell::timer::BRANCH_FR + b as u64, d);
            }
            Action::SendAck => {
                if let Some((r, _)) = reply {
                    if let Ok(sent) = SipMsg::parse(g.slot(slot_request(b))) {
                        match sip::hop_request(&sent, "ACK", Some(r), b"") {
                            Ok(ack) => send_to(env.out, &st.branches[b].peer, &ack),
                            Err(e) => log::error!("tm: cannot build the ACK: {e}"),
                        }
                    }
                }
            }
            Action::PassUp(c) => passed = Some(c),
            Action::Timeout408 => passed = Some(408),
            Action::Absorb(c) if invite && (200..300).contains(&c) => retransmitted_2xx = true,
            Action::Absorb(c) => {
                cancel_again =
                    invite && c < 200 && st.branches[b].flags & timed_out_and_cancelled == timed_out_and_cancelled;
                crate::stats::bump(|s| s.rpl_absorbed)
            }
            _ => {}
        }
    }
    if cancel_again {
        send_cancel(&mut g, b, env.out);
        return;
    }
    if retransmitted_2xx {
        // 2xx retransmissions are the UAS's, end to end: relayed
        if let Some((_, Some(data))) = reply.filter(|_| st.flags & tflag::LOCAL == 0) {
            send_to(env.out, &st.reply_to, data);
        }
        return;
    }
    let Some(code) = passed else { return };
    // what the branch had heard before this outcome
    let had_reply = st.branches[b].flags & bflag::REPLIED != 0;
    {
        let s = g.state_mut();
        let br = &mut s.branches[b];
        br.code = code;
        br.flags |= if reply.is_some() { bflag::REPLIED } else { bflag::TIMEOUT };
        if code >= 200 {
            br.flags |= bflag::DONE;
            stop(&mut br.retr_timer);
            stop(&mut br.fr_timer);
        }
    }
    if code < 200 {
        if g.state().branches[b].flags & bflag::CANCEL_PENDING != 0 {
            send_cancel(&mut g, b, env.out);
        }
        if code > 100 && st.flags & tflag::FINAL_SENT == 0 {
            if let Some((_, Some(data))) = reply {
                uas_send(c, &mut g, code, data, env.out, Sent::Relayed);
            }
        }
        return;
    }
    if let Some((_, Some(data))) = reply {
        if g.set_slot(slot_reply(b), data).is_err() {
            log::error!("tm: shared memory full: branch {b}'s reply is not kept");
        }
    }
    if code < 300 {
        // a 2xx goes up at once; the other branches of an INVITE are
        // cancelled (RFC 3261 §16.7 step 5, §16.10)
        if let Some((_, Some(data))) = reply {
            if st.flags & tflag::FINAL_SENT == 0 {
                uas_send(c, &mut g, code, data, env.out, Sent::Relayed);
            } else if invite && st.flags & tflag::LOCAL == 0 {
                // another 2xx of a forked INVITE goes up too
                send_to(env.out, &st.reply_to, data);
            }
        }
        if invite {
            g.state_mut().cancel_reason = code;
            cancel_branches(&mut g, |i| i != b, env.out);
        }
        return;
    }
    if code >= 600 && invite && st.flags & tflag::DISABLE_6XX == 0 {
        g.state_mut().cancel_reason = code;
        cancel_branches(&mut g, |i| i != b, env.out);
    }
    let peer = st.branches[b].peer;
    let failover = match reply {
        // an INVITE that rang and timed out is cancelled (RFC 3261 §16.8:
        // timer C); one that heard nothing has its destination blocklisted
        // (for the methods of blst_methods_add), and DNS failover tries
        // the next target
        None if code == 408 && had_reply => {
            if invite {
                send_cancel(&mut g, b, env.out);
            }
            false
        }
        None if code == 408 => {
            let sent = g.slot(slot_request(b));
            if PARAMS.blst_methods_add.get() as u32 & request_method_id(sent) != 0 {
                sipr_sdk::blocklist(peer.proto(), peer.addr(), blst::TIMEOUT, None);
            }
            true
        }
        Some((r, _)) if code == 503 => {
            if PARAMS.blst_503.is_on() {
                // bounds changed at runtime may cross: max wins, no panic
                let secs = retry_after(r).map_or(PARAMS.blst_503_def.get() as u32, |s| {
                    s.max(PARAMS.blst_503_min.get() as u32).min(PARAMS.blst_503_max.get() as u32)
                });
                if secs > 0 {
                    sipr_sdk::blocklist(peer.proto(), peer.addr(), blst::E503, Some(Duration::from_secs(secs.into())));
                }
            }
            true
        }
        _ => false,
    };
    if failover && env.core.dns_failover {
        drop(g);
        dns_failover(c, b, env);
        g = c.lock();
    }
    // event_route[tm:branch-failure:NAME], before the transaction's
    // outcome is decided: it may start new branches
    let on_branch_failure = g.state().on_branch_failure;
    if on_branch_failure != 0 && st.flags & tflag::FINAL_SENT == 0 {
        drop(g);
        with_faked_request(c, env, |ctx| {
            ctx.set_module_int(key::BRANCH, b as i64);
            load_avps(c, ctx);
            sipr_sdk::run_route(ctx, on_branch_failure as usize - 1);
            store_avps(c, ctx);
        });
        g = c.lock();
    }
    let st = *g.state();
    if st.flags & (tflag::FINAL_SENT | tflag::IN_FAILURE) != 0 {
        return;
    }
    let pending = (0..st.nbranches as usize).any(|i| g.state().branches[i].flags & bflag::DONE == 0);
    if pending {
        return;
    }
    drop(g);
    all_failed(c, env);
}

/// The seconds of a reply's Retry-After header (RFC 3261 §20.33), if it
/// has one that reads as a number.
fn retry_after(reply: &SipMsg<'_>) -> Option<u32> {
    let v = reply.headers_named(b"Retry-After").next()?.value.get(reply.buf());
    let digits = v.iter().take_while(|c| c.is_ascii_digit()).count();
    std::str::from_utf8(&v[..digits]).ok()?.parse().ok()
}

/// RFC 3261 §16.7 step 6: the best of the final replies, Kamailio's way:
/// a 6xx first, then 3xx, 4xx (with 401/407/415/420/484 preferred), 5xx;
/// the first received on a tie.
pub(crate) fn best_branch(s: &State) -> Option<usize> {
    // failure_reply_mode 3: a new serial leg discards the replies of the
    // legs before it
    let from = if PARAMS.drop_previous_legs.load(Ordering::Relaxed) { s.leg_start as usize } else { 0 };
    fn prio(code: u16) -> u32 {
        let class = code / 100;
        let base = match class {
            6 => 1000,
            3 => 3000,
            4 => 4000,
            5 => 5000,
            _ => 10_000,
        };
        let within = match code {
            401 => 1,
            407 => 2,
            415 | 420 | 484 => 3,
            408 => 99,
            _ => 10 + u32::from(code % 100),
        };
        base + if class == 4 { within } else { u32::from(code % 100) }
    }
    (from..s.nbranches as usize)
        .filter(|&i| s.branches[i].code >= 300 && s.branches[i].flags & bflag::DROPPED == 0)
        .min_by_key(|&i| (prio(s.branches[i].code), i))
}

/// Every branch has failed: the failure route, if armed, may add
/// branches or reply; else the best reply goes upstream.
fn all_failed(c: &Cell, env: &mut Env<'_>) {
    let route = {
        let mut g = c.lock();
        let s = g.state_mut();
        if s.flags & (tflag::FINAL_SENT | tflag::IN_FAILURE) != 0 {
            return;
        }
        let r = s.on_failure;
        if r != 0 {
            s.on_failure = 0;
            s.flags = (s.flags | tflag::IN_FAILURE) & !tflag::NEW_BRANCHES;
        }
        r
    };
    if route != 0 {
        let before = c.lock().state().nbranches;
        let drop_mode = run_failure_route(c, route as usize - 1, env);
        let mut g = c.lock();
        let s = g.state_mut();
        s.flags &= !tflag::IN_FAILURE;
        if s.nbranches > before {
            // t_drop_replies(): effective once a new branch is added
            let dropped = match u8::try_from(drop_mode).unwrap_or(0) {
                b'a' => 0..before as usize,
                b'l' => s.leg_start as usize..before as usize,
                _ => 0..0,
            };
            for i in dropped {
                s.branches[i].flags |= bflag::DROPPED;
            }
            // a new serial forking leg
            s.leg_start = before;
        }
        let pending = (0..s.nbranches as usize).any(|i| s.branches[i].flags & bflag::DONE == 0);
        if pending || s.flags & tflag::FINAL_SENT != 0 {
            return;
        }
        drop(g);
        // the failure route added nothing that is still pending: decide
        // now (a branch it added may have failed already)
        if c.lock().state().on_failure != 0 {
            return all_failed(c, env);
        }
    }
    send_best(c, env);
}

/// Sends the best final reply upstream: a received one as it came
/// (without our Via), or a local 408 (487 once cancelled).
fn send_best(c: &Cell, env: &mut Env<'_>) {
    let mut g = c.lock();
    let st = *g.state();
    if st.flags & tflag::FINAL_SENT != 0 {
        return;
    }
    let best = best_branch(&st);
    let stored = best.map(|b| g.slot(slot_reply(b)).to_vec()).filter(|d| !d.is_empty());
    let remap = PARAMS.remap_503_500.load(Ordering::Relaxed);
    let challenges = aggregate_challenges(&g, &st, best);
    // what goes up: the best reply as received, or one tm makes itself
    let (code, reason, extra) = match (best, stored) {
        // RFC 3261 §16.7 step 7: the challenges of every 401/407 in one
        // reply (Kamailio builds it, with the best one's status)
        (Some(b), Some(data)) if challenges.is_some() => {
            (st.branches[b].code, reason_phrase(&data), challenges.unwrap_or_default())
        }
        // step 6: a 503 is not passed on; Kamailio answers 500 itself,
        // with the 503's reason phrase
        (Some(b), Some(data)) if st.branches[b].code == 503 && remap => (500, reason_phrase(&data), Vec::new()),
        (Some(b), Some(data)) => {
            uas_send(c, &mut g, st.branches[b].code, &data, env.out, Sent::Relayed);
            return;
        }
        _ if st.flags & tflag::CANCELED != 0 => (487, "Request Terminated".to_string(), Vec::new()),
        _ => {
            let code = best.map_or(408, |b| st.branches[b].code);
            (code, if code == 408 { "Request Timeout" } else { "Error" }.to_string(), Vec::new())
        }
    };
    drop(g);
    let data =
        with_faked_request(c, env, |ctx| sipr_sdk::reply::build_in_transaction(ctx, code, &reason, &extra, b"").ok())
            .flatten();
    let mut g = c.lock();
    if let Some(data) = data {
        uas_send(c, &mut g, code, &data, env.out, Sent::Local);
    }
}

/// The WWW-Authenticate / Proxy-Authenticate lines of every 401/407 the
/// branches got, in branch order, when the best reply is one of them and
/// more than one branch was challenged (`aggregate_challenges`).
fn aggregate_challenges(g: &CellGuard<'_, Key, State, SLOTS>, st: &State, best: Option<usize>) -> Option<Vec<u8>> {
    use sipr_sdk::sip::HeaderKind;
    let b = best?;
    let is_challenge = |code: u16| code == 401 || code == 407;
    if !PARAMS.aggregate_challenges.is_on() || !is_challenge(st.branches[b].code) {
        return None;
    }
    let from = if PARAMS.drop_previous_legs.load(Ordering::Relaxed) { st.leg_start as usize } else { 0 };
    let challenged: Vec<usize> = (from..st.nbranches as usize).filter(|&i| is_challenge(st.branches[i].code)).collect();
    if challenged.len() < 2 {
        return None;
    }
    let mut lines = Vec::new();
    for i in challenged {
        let Ok(m) = SipMsg::parse(g.slot(slot_reply(i))) else { continue };
        for h in m.headers() {
            if matches!(h.kind, HeaderKind::WwwAuthenticate | HeaderKind::ProxyAuthenticate) {
                lines.extend_from_slice(h.line.get(m.buf()));
            }
        }
    }
    Some(lines)
}

/// The reason phrase of a reply's status line.
pub(crate) fn reason_phrase(reply: &[u8]) -> String {
    let line = reply.split(|c| *c == b'\n').next().unwrap_or(b"");
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line.splitn(3, |c| *c == b' ').nth(2).unwrap_or(b"")).into_owned()
}

/// Runs `f` on the transaction's request as the script left it at relay
/// time (Kamailio's faked request of failure routes).
pub(crate) fn with_faked_request<R>(c: &Cell, env: &mut Env<'_>, f: impl FnOnce(&mut Ctx<'_>) -> R) -> Option<R> {
    let (bytes, st) = {
        let g = c.lock();
        let changed = g.slot(SLOT_SCRIPT_REQUEST);
        (if changed.is_empty() { c.first().to_vec() } else { changed.to_vec() }, *g.state())
    };
    let msg = SipMsg::parse(&bytes).ok()?;
    let rcv = RecvInfo { src: st.src.addr(), dst: st.dst.addr(), proto: st.src.proto() };
    let mut ctx = Ctx::new(&msg, rcv, env.core, &mut *env.proc, &mut *env.out);
    ctx.flags = st.msg_flags;
    ctx.set_module_int(key::CELL, cell::cell_id(c));
    Some(f(&mut ctx))
}

/// Runs the failure route; what t_drop_replies() asked there (0 none,
/// else the mode's letter).
fn run_failure_route(c: &Cell, route: usize, env: &mut Env<'_>) -> i64 {
    let best = {
        let g = c.lock();
        best_branch(g.state())
    };
    with_faked_request(c, env, |ctx| {
        if let Some(b) = best {
            ctx.set_module_int(key::BRANCH, b as i64);
        }
        load_avps(c, ctx);
        sipr_sdk::run_route(ctx, route);
        store_avps(c, ctx);
        ctx.module_int(key::DROP_REPLIES).unwrap_or(0)
    })
    .unwrap_or(0)
}

// ---------------------------------------------------------------------
// timers

/// A timer of a cell fired (timer process): the delay until it should
/// run again, 0 for never.
pub fn on_timer(arg: u64) -> u64 {
    let (bucket, label, which) = cell::timer_target(arg);
    let Some(c) = cell::table().and_then(|t| t.get(bucket, label)) else { return 0 };
    match which {
        w if w < cell::timer::BRANCH_FR => {
            let b = w as usize;
            let mut g = c.lock();
            let st = *g.state();
            if b >= st.nbranches as usize {
                return 0;
            }
            let mut client = Client::restore(&st.branches[b].txn, timers_of(&st));
            let acts = client.on_timer(Timer::Retransmit);
            g.state_mut().branches[b].txn = client.save();
            let mut again = 0;
            for a in acts.iter() {
                match a {
                    Action::SendRequest => {
                        let data = g.slot(slot_request(b)).to_vec();
                        let mut out = sipr_sdk::ProcessOut;
                        send_to(&mut out, &st.branches[b].peer, &data);
                    }
                    Action::Arm(Timer::Retransmit, d) => again = d.as_millis() as u64,
                    _ => {}
                }
            }
            if again == 0 {
                g.state_mut().branches[b].retr_timer = TimerId::NONE;
            }
            again
        }
        w if w < cell::timer::UAS_RETR => {
            let b = (w - cell::timer::BRANCH_FR) as usize;
            {
                let mut g = c.lock();
                let s = g.state_mut();
                if b >= s.nbranches as usize || s.branches[b].flags & bflag::DONE != 0 {
                    return 0;
                }
                s.branches[b].fr_timer = TimerId::NONE;
            }
            with_detached_env(|env| branch_outcome(&c, b, 408, None, env));
            0
        }
        cell::timer::UAS_RETR => {
            let mut g = c.lock();
            let st = *g.state();
            let mut srv = Server::restore(&st.uas, timers_of(&st));
            let acts = srv.on_timer(Timer::Retransmit);
            g.state_mut().uas = srv.save();
            let mut again = 0;
            for a in acts.iter() {
                match a {
                    Action::SendReply => {
                        let data = g.slot(cell::SLOT_UAS_REPLY).to_vec();
                        let mut out = sipr_sdk::ProcessOut;
                        send_to(&mut out, &st.reply_to, &data);
                    }
                    Action::Arm(Timer::Retransmit, d) => again = d.as_millis() as u64,
                    _ => {}
                }
            }
            if again == 0 {
                g.state_mut().uas_retr = TimerId::NONE;
            }
            again
        }
        cell::timer::UAS_FINAL => {
            let mut g = c.lock();
            g.state_mut().uas_final = TimerId::NONE;
            delete(&c, &mut g);
            0
        }
        cell::timer::WAIT => {
            let mut g = c.lock();
            g.state_mut().wait_timer = TimerId::NONE;
            delete(&c, &mut g);
            0
        }
        cell::timer::LIFE => {
            let final_sent = {
                let mut g = c.lock();
                g.state_mut().life_timer = TimerId::NONE;
                g.state_mut().flags |= tflag::EXPIRED;
                g.state().flags & tflag::FINAL_SENT != 0
            };
            if !final_sent {
                // no outcome in the transaction's lifetime: the pending
                // branches time out now
                let n = c.lock().state().nbranches as usize;
                for b in 0..n {
                    let pending = {
                        let mut g = c.lock();
                        let s = g.state_mut();
                        let p = s.branches[b].flags & bflag::DONE == 0;
                        if p {
                            stop(&mut s.branches[b].fr_timer);
                        }
                        p
                    };
                    if pending {
                        with_detached_env(|env| branch_outcome(&c, b, 408, None, env));
                    }
                }
                if n == 0 {
                    with_detached_env(|env| send_best(&c, env));
                }
            }
            let mut g = c.lock();
            let wait = ms(&PARAMS.wait);
            arm_wait(&c, g.state_mut(), wait);
            0
        }
        _ => 0,
    }
}
