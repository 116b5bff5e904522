//! textopsx: more text operations (Kamailio's textopsx module).
//!
//! * `msg_apply_changes()`: Kamailio applies the pending lumps to the
//!   message buffer so that later functions see them. In sipr changes stay
//!   lumps until the message is sent (the parsed message borrows the
//!   receive buffer); the call succeeds and later reads see the received
//!   text — README "Known gaps".
//! * `remove_body()`: drops the body (Content-Length is fixed on send).
//! * `change_reply_status(code, reason)`: rewrites a reply's status line.

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use sipr_sdk::prelude::*;

/// Applies the changes made so far (the lumps) to the message: later
/// functions and PVs see the changed message, as in Kamailio. 1 when
/// applied or when there was nothing to apply (as Kamailio), -1 when the
/// changed message does not parse (logged; the original stays).
fn msg_apply_changes(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    match ctx.apply_changes() {
        Ok(true) => Ok(1),
        Ok(false) => {
            debug!("msg_apply_changes: nothing to apply");
            Ok(1)
        }
        Err(e) => Err(format!("msg_apply_changes: {e}").into()),
    }
}

fn remove_body(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let b = ctx.msg.body_span();
    if b.len == 0 {
        return Ok(-1);
    }
    ctx.lumps.delete(b.off as usize, b.len as usize);
    Ok(1)
}

fn change_reply_status(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    if ctx.msg.is_request() {
        return Err("change_reply_status() works on replies".into());
    }
    let code = p[0].int(ctx);
    if !(100..=699).contains(&code) {
        return Err(format!("invalid reply code {code}").into());
    }
    let reason = String::from_utf8_lossy(&p[1].text(ctx)).into_owned();
    let end = ctx.msg.first_line_end();
    ctx.lumps.replace_fmt(0, end, format_args!("SIP/2.0 {code} {reason}\r\n"));
    Ok(1)
}

sipr_sdk::module! {
    name: "textopsx",
    functions: [
        ("msg_apply_changes", [], RouteMask::ANY, msg_apply_changes),
        ("remove_body", [], RouteMask::ANY, remove_body),
        ("change_reply_status", [IntOrPv, Fmt], RouteMask::REPLY, change_reply_status),
    ],
    params: [],
}
