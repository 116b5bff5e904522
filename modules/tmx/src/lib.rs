//! tmx: Kamailio's tm extensions — tests of the route type, checks and
//! actions on the current transaction, and the `$T_*` variables — through
//! tm's API (bound in `mod_init`, as Kamailio's tmx binds `load_tm_api`).

use std::borrow::Cow;
use std::sync::OnceLock;

use sipr_sdk::prelude::*;
use sipr_sdk::sip::SipMsg;
use sipr_sdk::tm_api::{TmApi, Which, TM_API_VERSION};
use sipr_sdk::{ModValue, Names, Param, PvArg, PvRef, PvRegistry, RouteMask, RouteType, Value};

static TM: OnceLock<&'static TmApi> = OnceLock::new();

fn tm() -> Result<&'static TmApi, ModError> {
    TM.get().copied().ok_or_else(|| ModError("tm is not loaded".into()))
}

fn mod_init() -> Result<(), String> {
    let api = sipr_sdk::bind_api::<TmApi>("tm", TM_API_VERSION).map_err(|e| format!("tmx needs tm: {e}"))?;
    let _ = TM.set(api);
    Ok(())
}

fn truth(b: bool) -> FnResult {
    Ok(if b { 1 } else { -1 })
}

fn t_is_failure_route(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    truth(ctx.route_type == RouteType::Failure)
}

fn t_is_branch_route(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    truth(ctx.route_type == RouteType::Branch)
}

fn t_is_reply_route(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    truth(matches!(ctx.route_type, RouteType::OnReply | RouteType::CoreReply))
}

fn t_is_request_route(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    truth(ctx.route_type == RouteType::Request)
}

/// Kamailio's is true while another process handles the same request
/// and has not made its transaction yet. sipr's tm checks for a
/// retransmission and makes the transaction under one bucket lock, so
/// that window does not exist: a retransmission is found by
/// t_check_trans() (or absorbed by t_relay()) instead, and this is false —
/// as Kamailio's is once the transaction exists.
fn t_precheck_trans(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    tm()?;
    let _ = ctx;
    Ok(-1)
}

fn t_flush_flags(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    truth((tm()?.flush_flags)(ctx)?)
}

fn t_cancel_branches(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let which = match &p[0].text(ctx)[..] {
        b"all" => Which::All,
        b"others" => Which::Others,
        b"this" => Which::This,
        w => return Err(format!("unknown branches '{}' (all, others, this)", String::from_utf8_lossy(w)).into()),
    };
    let n = (tm()?.cancel_branches)(ctx, which)?;
    truth(n > 0)
}

fn t_reply_callid(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let callid = p[0].text(ctx).into_owned();
    let cseq = p[1].text(ctx).into_owned();
    let code = p[2].int(ctx);
    let code = u16::try_from(code).ok().filter(|c| (100..=699).contains(c)).ok_or(format!("invalid code {code}"))?;
    let reason = String::from_utf8_lossy(&p[3].text(ctx)).into_owned();
    truth((tm()?.reply_callid)(ctx, &callid, &cseq, code, &reason)?)
}

/// Kamailio's switch for the pre-transaction table t_precheck_trans()
/// uses; sipr needs none (see t_precheck_trans).
fn set_precheck_trans(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::int(v).map(|_| ())
}

fn no_arg(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    match inner {
        None => Ok(PvArg::None),
        Some(_) => Err("takes no argument".into()),
    }
}

fn pv_arg(inner: Option<&str>, reg: &PvRegistry, names: &mut Names) -> Result<PvArg, String> {
    let inner = inner.ok_or("needs a pseudo-variable: $T_req($hdr(X))")?;
    let pv = reg.resolve(inner, names)?;
    Ok(PvArg::Custom(Box::new(pv)))
}

fn name_arg(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    match inner {
        Some(
            n
            @ ("id_index" | "id_label" | "id_index_n" | "id_label_n" | "reply_code" | "reply_reason" | "branch_index"),
        ) => Ok(PvArg::Text(n.as_bytes().into())),
        Some(n) => Err(format!("unknown $T attribute '{n}'")),
        None => Err("needs an attribute: $T(id_index)".into()),
    }
}

fn owned(v: Value<'_>) -> Value<'static> {
    match v {
        Value::Int(i) => Value::Int(i),
        Value::Null => Value::Null,
        other => Value::Str(Cow::Owned(other.to_bytes().into_owned())),
    }
}

fn branch_idx(ctx: &Ctx<'_>) -> Value<'static> {
    // in a failure route, Kamailio gives the number of branches (the
    // index the next one would get)
    if ctx.route_type == RouteType::Failure {
        let n = TM.get().and_then(|t| (t.branches)(ctx).ok().flatten());
        return Value::Int(n.map_or(0, i64::from));
    }
    match TM.get().and_then(|t| (t.branch)(ctx).ok().flatten()) {
        Some(b) => Value::Int(i64::from(b)),
        None => Value::Int(0),
    }
}

fn reply_code(ctx: &Ctx<'_>) -> Value<'static> {
    match TM.get().and_then(|t| (t.status)(ctx).ok().flatten()) {
        Some((c, _)) => Value::Int(i64::from(c)),
        None => Value::Int(0),
    }
}

fn reply_reason(ctx: &Ctx<'_>) -> Value<'static> {
    match TM.get().and_then(|t| (t.status)(ctx).ok().flatten()) {
        Some((_, r)) => Value::Str(Cow::Owned(r)),
        None => Value::Null,
    }
}

fn get_branch_idx<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    branch_idx(ctx)
}

fn get_reply_code<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    reply_code(ctx)
}

fn get_reply_reason<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    reply_reason(ctx)
}

/// A PV read on another message (the transaction's request, the
/// branch's reply).
fn on_message(ctx: &Ctx<'_>, pv: &PvRef, bytes: Option<Vec<u8>>) -> Value<'static> {
    let (Some(bytes), PvArg::Custom(inner)) = (bytes, &pv.arg) else { return Value::Null };
    let Some(inner) = inner.downcast_ref::<PvRef>() else { return Value::Null };
    let Ok(msg) = SipMsg::parse(&bytes) else { return Value::Null };
    let mut proc = sipr_sdk::ProcState::default();
    let mut out = sipr_sdk::Recorder::default();
    let other = Ctx::new(&msg, ctx.rcv, ctx.core, &mut proc, &mut out);
    owned(inner.value(&other))
}

fn get_t_req<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    // the request of a reply's transaction: in request-side routes the
    // message is the request already, and Kamailio gives null there
    if ctx.msg.is_request() {
        return Value::Null;
    }
    let bytes = TM.get().and_then(|t| (t.request)(ctx).ok().flatten());
    on_message(ctx, pv, bytes)
}

fn get_t_rpl<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let bytes = TM.get().and_then(|t| (t.branch_reply)(ctx).ok().flatten());
    on_message(ctx, pv, bytes)
}

fn get_t<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let PvArg::Text(name) = &pv.arg else { return Value::Null };
    let current = TM.get().and_then(|t| (t.current)(ctx).ok().flatten());
    match &name[..] {
        b"id_index" | b"id_index_n" => current.map_or(Value::Null, |(i, _)| Value::Int(i64::from(i))),
        b"id_label" | b"id_label_n" => current.map_or(Value::Null, |(_, l)| Value::Int(i64::from(l))),
        b"reply_code" => reply_code(ctx),
        b"reply_reason" => reply_reason(ctx),
        b"branch_index" => branch_idx(ctx),
        _ => Value::Null,
    }
}

const ANY: RouteMask = RouteMask::ANY;

sipr_sdk::module! {
    name: "tmx",
    functions: [
        ("t_is_failure_route", [], ANY, t_is_failure_route),
        ("t_is_branch_route", [], ANY, t_is_branch_route),
        ("t_is_reply_route", [], ANY, t_is_reply_route),
        ("t_is_request_route", [], ANY, t_is_request_route),
        ("t_precheck_trans", [], RouteMask::REQUEST, t_precheck_trans),
        ("t_flush_flags", [], ANY, t_flush_flags),
        ("t_cancel_branches", [Fmt], RouteMask::REPLY, t_cancel_branches),
        ("t_reply_callid", [Fmt, Fmt, IntOrPv, Fmt], ANY, t_reply_callid),
    ],
    params: [("precheck_trans", Any, set_precheck_trans)],
    pvs: [
        sipr_sdk::pv_class!("T_branch_idx", no_arg, get_branch_idx),
        sipr_sdk::pv_class!("T_reply_code", no_arg, get_reply_code),
        sipr_sdk::pv_class!("T_reply_reason", no_arg, get_reply_reason),
        sipr_sdk::pv_class!("T_req", pv_arg, get_t_req),
        sipr_sdk::pv_class!("T_rpl", pv_arg, get_t_rpl),
        sipr_sdk::pv_class!("T", name_arg, get_t),
    ],
    init: mod_init,
}
