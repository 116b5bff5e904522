//! tm's API for other modules ([`sipr_sdk::tm_api::TmApi`], Kamailio's
//! `load_tm_api`): tmx binds to it. Every function runs inside tm's panic
//! guard, since only tm's own copy of std can catch a panic raised here.

use sipr_sdk::tm_api::{TmApi, Which};
use sipr_sdk::{guard_api, Ctx, RouteType};

use crate::cell::{self, bflag, slot_reply};
use crate::engine::{self, key};

/// The API tm offers.
pub static TM_API: TmApi = TmApi {
    relay,
    reply,
    current,
    exists,
    branch,
    branches,
    status,
    request,
    branch_reply,
    cancel_branches,
    flush_flags,
    reply_callid,
    count,
};

fn relay(ctx: &mut Ctx<'_>) -> Result<i32, String> {
    guard_api("tm.relay", || engine::relay(ctx, None).map_err(|e| e.to_string()))?
}

fn reply(ctx: &mut Ctx<'_>, code: u16, reason: &str) -> Result<bool, String> {
    guard_api("tm.reply", || engine::reply(ctx, code, reason).map_err(|e| e.to_string()))?
}

fn current(ctx: &Ctx<'_>) -> Result<Option<(u32, u32)>, String> {
    guard_api("tm.current", || engine::current(ctx).map(|c| (c.bucket(), c.label())))
}

fn exists(ctx: &Ctx<'_>) -> Result<bool, String> {
    guard_api("tm.exists", || {
        let m = ctx.msg;
        let ack = m.method() == Some(sipr_sdk::sip::Method::Ack);
        engine::current(ctx).is_some() || engine::lookup(m, ack, false).is_some()
    })
}

fn branch(ctx: &Ctx<'_>) -> Result<Option<u32>, String> {
    guard_api("tm.branch", || ctx.module_int(key::BRANCH).map(|b| b as u32))
}

fn branches(ctx: &Ctx<'_>) -> Result<Option<u32>, String> {
    guard_api("tm.branches", || engine::current(ctx).map(|c| u32::from(c.lock().state().nbranches)))
}

/// The reason phrase of a reply.
fn reason_of(reply: &[u8]) -> Vec<u8> {
    engine::reason_phrase(reply).into_bytes()
}

fn status(ctx: &Ctx<'_>) -> Result<Option<(u16, Vec<u8>)>, String> {
    guard_api("tm.status", || {
        if !ctx.msg.is_request() {
            return ctx.msg.status().map(|c| (c, reason_of(ctx.msg.buf())));
        }
        let c = engine::current(ctx)?;
        let g = c.lock();
        let s = g.state();
        match (ctx.route_type, ctx.module_int(key::BRANCH)) {
            (RouteType::Failure | RouteType::Event, Some(b)) if (b as usize) < s.nbranches as usize => {
                let b = b as usize;
                let code = s.branches[b].code;
                let stored = g.slot(slot_reply(b));
                let reason = if ctx.route_type == RouteType::Event {
                    // Kamailio 5.6.3 gives no reason in a branch-failure route
                    Vec::new()
                } else if stored.is_empty() {
                    // tm's own timeout
                    if s.branches[b].flags & bflag::TIMEOUT != 0 {
                        b"Request Timeout".to_vec()
                    } else {
                        Vec::new()
                    }
                } else {
                    reason_of(stored)
                };
                Some((code, reason))
            }
            _ if s.uas_code != 0 || g.slot(cell::SLOT_UAS_REPLY).len() > 12 => {
                let last = g.slot(cell::SLOT_UAS_REPLY);
                let code = std::str::from_utf8(last.get(8..11)?).ok()?.parse().ok()?;
                Some((code, reason_of(last)))
            }
            _ => None,
        }
    })
}

fn request(ctx: &Ctx<'_>) -> Result<Option<Vec<u8>>, String> {
    guard_api("tm.request", || {
        let c = engine::current(ctx)?;
        let g = c.lock();
        let changed = g.slot(engine::SLOT_SCRIPT_REQUEST);
        Some(if changed.is_empty() { c.first().to_vec() } else { changed.to_vec() })
    })
}

fn branch_reply(ctx: &Ctx<'_>) -> Result<Option<Vec<u8>>, String> {
    guard_api("tm.branch_reply", || {
        if !ctx.msg.is_request() {
            return Some(ctx.msg.buf().to_vec());
        }
        let c = engine::current(ctx)?;
        let b = ctx.module_int(key::BRANCH)? as usize;
        let g = c.lock();
        let r = g.slot(slot_reply(b));
        (!r.is_empty()).then(|| r.to_vec())
    })
}

fn cancel_branches(ctx: &mut Ctx<'_>, which: Which) -> Result<u32, String> {
    guard_api("tm.cancel_branches", || {
        let Some(c) = engine::current(ctx) else { return 0 };
        let this = ctx.module_int(key::BRANCH).map(|b| b as usize);
        let mut g = c.lock();
        match which {
            Which::All => engine::cancel_branches(&mut g, |_| true, ctx.out),
            Which::Others => engine::cancel_branches(&mut g, |b| Some(b) != this, ctx.out),
            Which::This => engine::cancel_branches(&mut g, |b| Some(b) == this, ctx.out),
        }
    })
}

fn flush_flags(ctx: &Ctx<'_>) -> Result<bool, String> {
    guard_api("tm.flush_flags", || {
        let Some(c) = engine::current(ctx) else { return false };
        c.lock().state_mut().msg_flags = ctx.flags;
        true
    })
}

fn reply_callid(ctx: &mut Ctx<'_>, callid: &[u8], cseq: &[u8], code: u16, reason: &str) -> Result<bool, String> {
    guard_api("tm.reply_callid", || {
        let Some(c) = engine::by_callid(callid, cseq) else { return false };
        let mut env = engine::Env { core: ctx.core, proc: &mut *ctx.proc, out: &mut *ctx.out };
        engine::reply_here(&c, code, reason, None, b"", b"", &mut env)
    })
}

fn count() -> Result<usize, String> {
    guard_api("tm.count", || cell::table().map_or(0, |t| t.len()))
}
