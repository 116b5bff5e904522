//! xlog: formatted logging from the script (Kamailio's xlog module).
//!
//! * `xlog(fmt)` logs at L_ERR, `xlog(level, fmt)` at `level` (`L_ALERT`,
//!   `L_BUG`, `L_CRIT`, `L_ERR`, `L_WARN`, `L_NOTICE`, `L_INFO`, `L_DBG`,
//!   or a number, or a PV holding one);
//! * `xalert`, `xcrit`, `xerr`, `xwarn`, `xnotice`, `xinfo`, `xdbg`;
//! * `xlogl(level, fmt)`: as xlog with the cfg line as prefix;
//! * `prefix` (string, default `"<script>: "`); `log_facility`,
//!   `log_colors`, `methods_filter` are accepted for compatibility.
//!
//! The format is compiled at startup (PVs resolved once); `$null` prints
//! `<null>`. Lines go to the core's logger with target `script`.

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use std::sync::RwLock;

use sipr_sdk::prelude::*;

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

fn accept(_: &ModValue) -> Result<(), String> {
    Ok(())
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

fn emit(level: i64, text: &[u8], line: Option<u32>) {
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
        Some(l) => log::log!(target: "script", lvl, "{prefix}[{l}] {text}"),
        None => log::log!(target: "script", lvl, "{prefix}{text}"),
    }
}

fn level_param(ctx: &Ctx<'_>, p: &Param) -> Result<i64, ModError> {
    let t = p.text(ctx);
    level_number(&t).ok_or_else(|| format!("unknown log level '{}'", String::from_utf8_lossy(&t)).into())
}

fn xlog1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    emit(-1, &p[0].text(ctx), None);
    Ok(1)
}
fn xlog2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let level = level_param(ctx, &p[0])?;
    emit(level, &p[1].text(ctx), None);
    Ok(1)
}
fn xlogl(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let level = level_param(ctx, &p[0])?;
    emit(level, &p[1].text(ctx), Some(ctx.cfg_line));
    Ok(1)
}

macro_rules! fixed_level {
    ($($f:ident => $lvl:expr),*) => {$(
        fn $f(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
            emit($lvl, &p[0].text(ctx), None);
            Ok(1)
        }
    )*};
}
fixed_level!(xalert => -5, xcrit => -3, xerr => -1, xwarn => 0, xnotice => 1, xinfo => 2, xdbg => 3);

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
    ],
    params: [
        ("prefix", Str, set_prefix),
        ("log_facility", Any, accept),
        ("log_colors", Any, accept),
        ("methods_filter", Any, accept),
        ("buf_size", Any, accept),
        ("force_color", Any, accept),
        ("long_format", Any, accept),
        ("prefix_mode", Any, accept),
    ],
}
