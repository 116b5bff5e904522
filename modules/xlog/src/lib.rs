//! xlog: formatted logging from the script (Kamailio's xlog module).
//!
//! * `xlog(fmt)` logs at L_ERR, `xlog(level, fmt)` at `level` (`L_ALERT`,
//!   `L_BUG`, `L_CRIT`, `L_ERR`, `L_WARN`, `L_NOTICE`, `L_INFO`, `L_DBG`,
//!   or a number, or a PV holding one);
//! * `xalert`, `xbug`, `xcrit`, `xerr`, `xwarn`, `xnotice`, `xinfo`, `xdbg`;
//! * `xlogl(level, fmt)` / `xdbgl(fmt)`: with the cfg line as prefix;
//! * `xlogm(level, fmt)`: as xlog, but silent for messages whose method's
//!   Kamailio id is in `methods_filter` (default -1: every method);
//! * `prefix` (string, default `"<script>: "`), `buf_size` (longer lines
//!   are not logged, with an error line, as Kamailio's; default 4096);
//! * refused at start-up unless left at Kamailio's default (sipr's logger
//!   has one facility and its own colours): `log_facility`, `log_colors`,
//!   `force_color`, `long_format`, `prefix_mode`.
//!
//! The format is compiled at startup (PVs resolved once); `$null` prints
//! `<null>`. Lines go to the core's logger with target `xlog`, which
//! prints them after the level with their own prefix only.

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use std::sync::RwLock;

use sipr_sdk::prelude::*;
use sipr_sdk::sip::Method;

static PREFIX: RwLock<String> = RwLock::new(String::new());
static PREFIX_SET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn set_prefix(v: &ModValue) -> Result<(), String> {
    match v {
        ModValue::Str(s) => {
            *PREFIX.write().map_err(|_| "lock poisoned")? = s.clone();
            PREFIX_SET.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        ModValue::Int(i) => Err(format!("prefix must be a string, not {i}")),
    }
}

static METHODS_FILTER: sipr_sdk::CfgNum = sipr_sdk::CfgNum::new(-1);
static BUF_SIZE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(4096);

fn set_methods_filter(v: &ModValue) -> Result<(), String> {
    let ModValue::Int(m) = v else { return Err("methods_filter takes a number".into()) };
    METHODS_FILTER.set(*m);
    Ok(())
}

fn set_buf_size(v: &ModValue) -> Result<(), String> {
    match v {
        ModValue::Int(n) if *n > 0 => {
            BUF_SIZE.store(*n as usize, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        _ => Err("buf_size takes a number above 0".into()),
    }
}

/// A parameter sipr takes only at Kamailio's default (0).
fn only_zero(v: &ModValue) -> Result<(), String> {
    match v {
        ModValue::Int(0) => Ok(()),
        _ => Err("only 0 (the default) is supported by sipr yet".into()),
    }
}

/// A parameter sipr does not support yet, whatever its value.
fn unsupported(_: &ModValue) -> Result<(), String> {
    Err("is not supported by sipr yet (its logger has one facility and its own colours)".into())
}

/// Kamailio's level numbers (L_ALERT -5 .. L_DBG 3).
fn level_number(text: &[u8]) -> Option<i64> {
    Some(match text {
        b"L_ALERT" => -5,
        b"L_BUG" => -4,
        b"L_CRIT" | b"L_CRIT2" => -3,
        b"L_ERR" => -1,
        b"L_WARN" => 0,
        b"L_NOTICE" => 1,
        b"L_INFO" => 2,
        b"L_DBG" => 3,
        other => {
            let t = std::str::from_utf8(other).ok()?;
            return t.strip_prefix("L_").unwrap_or(t).trim().parse().ok();
        }
    })
}

/// Logs `text`, or refuses it when it does not fit `buf_size` (Kamailio
/// prints nothing then, with an error line).
fn emit(level: i64, text: &[u8], line: Option<u32>) -> FnResult {
    let max = BUF_SIZE.load(std::sync::atomic::Ordering::Relaxed);
    if text.len() >= max {
        return Err(format!("the message ({} bytes) does not fit buf_size ({max}): not logged", text.len()).into());
    }
    emit_line(level, text, line);
    Ok(1)
}

fn emit_line(level: i64, text: &[u8], line: Option<u32>) {
    // Kamailio's rule, exactly: shown when the level is at most `debug`
    // (log's levels alone would show L_INFO at debug 1)
    if level > i64::from(sipr_sdk::debug_level()) {
        return;
    }
    let lvl = match level {
        l if l <= -1 => log::Level::Error,
        0 => log::Level::Warn,
        1 | 2 => log::Level::Info,
        _ => log::Level::Debug,
    };
    let prefix = if PREFIX_SET.load(std::sync::atomic::Ordering::Relaxed) {
        PREFIX.read().map(|p| p.clone()).unwrap_or_default()
    } else {
        "<script>: ".to_string()
    };
    let text = String::from_utf8_lossy(text);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    match line {
        Some(l) => log::log!(target: "xlog", lvl, "{prefix}[{l}] {text}"),
        None => log::log!(target: "xlog", lvl, "{prefix}{text}"),
    }
}

/// The level: a name (`L_WARN`) or a number when written in the cfg; a
/// number when it comes from a variable (Kamailio reads a PV as an int:
/// `$var(l) = "L_WARN"` is an invalid level there, nothing is logged).
fn level_param(ctx: &Ctx<'_>, p: &Param) -> Result<i64, ModError> {
    let t = p.text(ctx);
    let level = match p {
        Param::Str(_) => level_number(&t),
        _ => std::str::from_utf8(&t).ok().and_then(|s| s.trim().parse().ok()),
    };
    level.ok_or_else(|| format!("invalid log level value '{}'", String::from_utf8_lossy(&t)).into())
}

fn xlog1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    emit(-1, &p[0].text(ctx), None)
}
fn xlog2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let level = level_param(ctx, &p[0])?;
    emit(level, &p[1].text(ctx), None)
}
fn xlogl(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let level = level_param(ctx, &p[0])?;
    emit(level, &p[1].text(ctx), Some(ctx.cfg_line))
}

fn xdbgl(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    emit(3, &p[0].text(ctx), Some(ctx.cfg_line))
}

/// `xlogm(level, fmt)`: silent for a method in `methods_filter` (a reply
/// counts as its CSeq's method).
fn xlogm(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let method = if ctx.msg.is_request() {
        ctx.msg.method()
    } else {
        ctx.msg.cseq_tokens().ok().map(|(_, m)| Method::from_token(m))
    };
    if METHODS_FILTER.get() & i64::from(method.map_or(Method::Other.id(), Method::id)) != 0 {
        return Ok(1);
    }
    xlog2(ctx, p)
}

macro_rules! fixed_level {
    ($($f:ident => $lvl:expr),*) => {$(
        fn $f(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
            emit($lvl, &p[0].text(ctx), None)
        }
    )*};
}
fixed_level!(xalert => -5, xbug => -4, xcrit => -3, xerr => -1, xwarn => 0, xnotice => 1, xinfo => 2, xdbg => 3);

sipr_sdk::module! {
    name: "xlog",
    functions: [
        ("xlog", [Fmt], RouteMask::ANY, xlog1),
        ("xlog", [Fmt, Fmt], RouteMask::ANY, xlog2),
        ("xlogl", [Fmt, Fmt], RouteMask::ANY, xlogl),
        ("xalert", [Fmt], RouteMask::ANY, xalert),
        ("xcrit", [Fmt], RouteMask::ANY, xcrit),
        ("xerr", [Fmt], RouteMask::ANY, xerr),
        ("xwarn", [Fmt], RouteMask::ANY, xwarn),
        ("xnotice", [Fmt], RouteMask::ANY, xnotice),
        ("xinfo", [Fmt], RouteMask::ANY, xinfo),
        ("xdbg", [Fmt], RouteMask::ANY, xdbg),
        ("xbug", [Fmt], RouteMask::ANY, xbug),
        ("xdbgl", [Fmt], RouteMask::ANY, xdbgl),
        ("xlogm", [Fmt, Fmt], RouteMask::ANY, xlogm),
    ],
    params: [
        ("prefix", Str, set_prefix),
        ("log_facility", Any, unsupported),
        ("log_colors", Any, unsupported),
        ("methods_filter", Int, set_methods_filter),
        ("buf_size", Int, set_buf_size),
        ("force_color", Int, only_zero),
        ("long_format", Int, only_zero),
        ("prefix_mode", Int, only_zero),
    ],
    init: mod_init,
}

/// Publishes `methods_filter` as Kamailio's cfg variable `xlog:methods_filter`
/// (its help text; any number, measured).
fn mod_init() -> Result<(), String> {
    let (min, max) = sipr_sdk::CfgNum::ANY_INT;
    METHODS_FILTER.register("xlog", "methods_filter", "Methods filter value for xlogm(...).", true, min, max)
}
