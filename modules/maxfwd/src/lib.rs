//! maxfwd: Max-Forwards processing (Kamailio's maxfwd module).
//!
//! * `mf_process_maxfwd_header(max)`: no header → one is added with
//!   `max` (returns 2); a header > 0 is decremented (capped at
//!   `max_limit`) and 1 returned; a header of 0 returns -1 (the script
//!   answers 483); a bad header returns -2.
//! * `is_maxfwd_lt(max)`: 1 when the header (as this module left it, if
//!   it changed it) is below `max`, -1 when it is not, -2 when there is
//!   none, -3 when it does not parse.
//! * `maxfwd_process`, `process_maxfwd` (= `mf_process_maxfwd_header`),
//!   `maxfwd_at_least`, `mf_lowlimit` (= `is_maxfwd_lt`): Kamailio's
//!   other names for them.
//! * `max_limit` (int, 1..256, default 70, Kamailio's); at runtime the
//!   cfg variable `maxfwd:max_limit` (0..255, as Kamailio's).

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use sipr_sdk::prelude::*;
use sipr_sdk::sip::HeaderKind;

static MAX_LIMIT: sipr_sdk::CfgNum = sipr_sdk::CfgNum::new(70);

/// Per-message key: the value of a Max-Forwards this module added (or
/// set), which `is_maxfwd_lt` must see although the buffer is unchanged.
const LOCAL_VALUE: &str = "maxfwd.value";

fn set_max_limit(v: &ModValue) -> Result<(), String> {
    match v {
        ModValue::Int(i) if (1..=256).contains(i) => {
            MAX_LIMIT.set(*i);
            Ok(())
        }
        other => Err(format!("max_limit must be 1..256, not {other:?}")),
    }
}

fn max_value(ctx: &Ctx<'_>, p: &Param) -> Result<i64, ModError> {
    let max = p.int(ctx);
    if !(1..=255).contains(&max) {
        return Err(format!("invalid max value {max} (1..255)").into());
    }
    Ok(max)
}

/// Startup check: a constant max must be 1..255.
fn check_max(p: &mut [Param]) -> Result<(), String> {
    match p.first() {
        Some(Param::Int(m)) if !(1..=255).contains(m) => Err(format!("invalid max value {m} (1..255)")),
        _ => Ok(()),
    }
}

fn mf_process_maxfwd_header(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let max = max_value(ctx, &p[0])?;
    if ctx.module_int(LOCAL_VALUE).is_some() {
        // already processed for this message (the header was changed once)
        return Ok(1);
    }
    match ctx.msg.max_forwards() {
        Err(e) => {
            warn!("mf_process_maxfwd_header: bad Max-Forwards: {e}");
            Ok(-2)
        }
        Ok(None) => {
            let at = ctx.msg.first_line_end();
            ctx.lumps.insert_with(at, |out| {
                out.extend_from_slice(b"Max-Forwards: ");
                sipr_sdk::sip::emit::push_decimal(out, max.max(0) as u64);
                out.extend_from_slice(b"\r\n");
            });
            ctx.set_module_int(LOCAL_VALUE, max);
            Ok(2)
        }
        Ok(Some(0)) => Ok(-1),
        Ok(Some(n)) => {
            let limit = MAX_LIMIT.get();
            let v = (n as i64 - 1).min(limit);
            let h = ctx.msg.header(HeaderKind::MaxForwards).ok_or("Max-Forwards vanished")?;
            let (off, len) = (h.value.off as usize, h.value.len as usize);
            // written without core::fmt: this runs on every request
            ctx.lumps.replace_with(off, len, |out| sipr_sdk::sip::emit::push_decimal(out, v.max(0) as u64));
            ctx.set_module_int(LOCAL_VALUE, v);
            Ok(1)
        }
    }
}

fn is_maxfwd_lt(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let max = max_value(ctx, &p[0])?;
    if let Some(v) = ctx.module_int(LOCAL_VALUE) {
        return Ok(if v < max { 1 } else { -1 });
    }
    match ctx.msg.max_forwards() {
        Err(_) => Ok(-3),
        Ok(None) => Ok(-2),
        Ok(Some(n)) => Ok(if (n as i64) < max { 1 } else { -1 }),
    }
}

/// Publishes `max_limit` as Kamailio's cfg variable (its help text and
/// bounds, measured).
fn mod_init() -> Result<(), String> {
    MAX_LIMIT.register("maxfwd", "max_limit", "Max. maxfwd limit", true, 0, 255)
}

sipr_sdk::module! {
    name: "maxfwd",
    functions: [
        ("mf_process_maxfwd_header", [IntOrPv], RouteMask::REQUEST_LIKE, mf_process_maxfwd_header, check_max),
        ("maxfwd_process", [IntOrPv], RouteMask::REQUEST_LIKE, mf_process_maxfwd_header, check_max),
        ("process_maxfwd", [IntOrPv], RouteMask::REQUEST_LIKE, mf_process_maxfwd_header, check_max),
        ("is_maxfwd_lt", [IntOrPv], RouteMask::REQUEST_LIKE, is_maxfwd_lt, check_max),
        ("maxfwd_at_least", [IntOrPv], RouteMask::REQUEST_LIKE, is_maxfwd_lt, check_max),
        ("mf_lowlimit", [IntOrPv], RouteMask::REQUEST_LIKE, is_maxfwd_lt, check_max),
    ],
    params: [("max_limit", Int, set_max_limit)],
    init: mod_init,
}
