//! Panic guards for every call that crosses between the core binary and a
//! module's cdylib.
//!
//! Each cdylib carries its own copy of std (and of this crate), and a
//! panic can only be caught by the std that raised it: a panic unwinding
//! from one copy's frames into a `catch_unwind` of another is a foreign
//! exception, and the process aborts. So every function that the *other*
//! side calls through a pointer — a module's script functions, hooks and
//! PV getters called by the core; the core's PV getters, outbound sender
//! and service table called by a module's copy of the core code — runs
//! its body inside one of these guards, compiled into the binary that
//! defines it. The macros below build such wrappers where they are
//! invoked (`$crate` is the invoking binary's copy of this crate).

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::cfg::Value;

/// The message of a caught panic.
pub fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic".into())
}

/// Runs a hook, parameter setter or fixup: a panic becomes an error.
pub fn guard_hook<T>(name: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(format!("{name} panicked: {}", panic_text(&p))),
    }
}

/// Runs something without a result (`destroy`, a process body): a panic
/// is logged.
pub fn guard_unit(name: &str, f: impl FnOnce()) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
        log::error!("{name} panicked: {}", panic_text(&p));
    }
}

/// Reads a PV: a panic is logged and reads as `$null`.
pub fn guard_value<'c>(name: &str, f: impl FnOnce() -> Value<'c>) -> Value<'c> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            log::error!("${name}: panicked ({}); read as $null", panic_text(&p));
            Value::Null
        }
    }
}

/// Runs the body of a function a module offers others through an API
/// ([`ApiDef`](crate::module::abi::ApiDef)): a panic becomes an error the
/// caller gets back. Such functions return `Result` and wrap their body
/// in this (the SDK's `guard_api`), so that the panic is caught by the
/// exporting module's std.
pub fn guard_call<R>(name: &str, f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| format!("{name} panicked: {}", panic_text(&p)))
}

/// Runs `f`, or returns `fallback` (with a log line) when it panics: the
/// body of a function of the core's service table, an `extern "C"` one
/// out of which no unwinding may escape.
pub fn contained<R>(name: &str, fallback: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            log::error!("{name} panicked ({}); the call failed, the process goes on", panic_text(&p));
            fallback
        }
    }
}

/// A [`PvClass`](crate::cfg::PvClass) whose fixup, getter and setter run
/// inside panic guards of the binary that invokes the macro:
/// `guarded_pv_class!("sht", fixup, get, set)`. The core's own PVs are
/// built with it (a module's copy of the core reads them through these
/// pointers), and the SDK offers it to modules as `pv_class!`.
#[macro_export]
macro_rules! guarded_pv_class {
    ($name:literal, $fixup:path, $get:path) => {
        $crate::cfg::PvClass {
            name: $name,
            fixup: $crate::__guarded_pv_fixup!($name, $fixup),
            get: $crate::__guarded_pv_get!($name, $get),
            set: None,
        }
    };
    ($name:literal, $fixup:path, $get:path, $set:path) => {
        $crate::cfg::PvClass {
            name: $name,
            fixup: $crate::__guarded_pv_fixup!($name, $fixup),
            get: $crate::__guarded_pv_get!($name, $get),
            set: Some({
                fn __set(
                    ctx: &mut $crate::cfg::Ctx<'_>,
                    pv: &$crate::cfg::PvRef,
                    v: &$crate::cfg::Value<'_>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::guard::guard_hook($name, || $set(ctx, pv, v))
                }
                __set
            }),
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __guarded_pv_fixup {
    ($name:literal, $fixup:path) => {{
        fn __fixup(
            inner: ::std::option::Option<&str>,
            reg: &$crate::cfg::PvRegistry,
            names: &mut $crate::cfg::Names,
        ) -> ::std::result::Result<$crate::cfg::PvArg, ::std::string::String> {
            $crate::guard::guard_hook($name, || $fixup(inner, reg, names))
        }
        __fixup
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __guarded_pv_get {
    ($name:literal, $get:path) => {{
        fn __get<'c>(ctx: &'c $crate::cfg::Ctx<'_>, pv: &'c $crate::cfg::PvRef) -> $crate::cfg::Value<'c> {
            $crate::guard::guard_value($name, || $get(ctx, pv))
        }
        __get
    }};
}
