//! Script functions: how the core and modules declare them, and their
//! parameters after the compile-time fixup.
//!
//! A function declares its name, the kinds of its parameters and the
//! route types it may be used in; the compiler converts each argument to
//! the declared [`ParamKind`] once, at startup (a string with PVs becomes a
//! [`Format`], a regex is compiled, a flag name becomes its bit, a route
//! name its index), and stores the function pointer. A call per message
//! is one indirect call with the fixed-up parameters.

use std::collections::HashMap;
use std::fmt;

use super::ctx::{Ctx, RouteMask};
use super::pv::{Format, PvRef};
use super::value::Value;

/// A script function. Returns Kamailio's return code: > 0 true, < 0
/// false, 0 stops the script.
pub type ScriptFn = for<'m> fn(&mut Ctx<'m>, &[Param]) -> i32;

/// An extra check run at startup after the parameters are converted.
pub type FixupFn = fn(&mut [Param]) -> Result<(), String>;

/// What a parameter must be; the compiler converts the argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A constant integer (a number or a `#!define`d one).
    Int,
    /// A constant string.
    Str,
    /// A string that may contain PVs, evaluated per call.
    Fmt,
    /// A string parameter as Kamailio's `spve` ones (sl's reply code and
    /// reason, ...): a text that *starts* with a PV is that PV alone — what
    /// follows it is dropped, as Kamailio drops it (`"$rU not found"` is
    /// the user) — else a [`Fmt`](Self::Fmt).
    Spve,
    /// An integer constant or a PV read as an int per call.
    IntOrPv,
    /// A constant regular expression.
    Regex,
    /// A constant `/regex/replacement/flags` substitution.
    Subst,
    /// A flag: a number or a name declared with `flags`.
    Flag,
    /// A writable PV.
    WritablePv,
    /// Any PV (read).
    Pv,
    /// The name of a `failure_route`.
    FailureRoute,
    /// The name of an `onreply_route`.
    OnReplyRoute,
    /// The name of a `branch_route`.
    BranchRoute,
    /// The name of a `route`.
    RequestRoute,
    /// Any expression, evaluated per call.
    Expr,
}

/// A parameter after fixup.
pub enum Param {
    /// An integer.
    Int(i64),
    /// A string.
    Str(Box<[u8]>),
    /// A string with PVs.
    Fmt(Format),
    /// A PV.
    Pv(Box<PvRef>),
    /// A compiled regex.
    Regex(Box<regex::bytes::Regex>),
    /// A compiled substitution.
    Subst(Box<super::subst::SubstExpr>),
    /// A flag bit.
    Flag(u32),
    /// A route index.
    Route(usize),
    /// An expression.
    Expr(Box<super::compile::CExpr>),
}

impl fmt::Debug for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Param::Int(i) => write!(f, "Int({i})"),
            Param::Str(s) => write!(f, "Str({:?})", String::from_utf8_lossy(s)),
            Param::Fmt(x) => write!(f, "{x:?}"),
            Param::Pv(p) => write!(f, "{p:?}"),
            Param::Regex(r) => write!(f, "Regex({})", r.as_str()),
            Param::Subst(x) => write!(f, "Subst({})", x.re.as_str()),
            Param::Flag(b) => write!(f, "Flag({b})"),
            Param::Route(r) => write!(f, "Route({r})"),
            Param::Expr(e) => write!(f, "{e:?}"),
        }
    }
}

impl Param {
    /// The parameter as a string for this call (formats evaluated, PVs
    /// read, ints printed).
    pub fn text<'c>(&'c self, ctx: &'c Ctx<'_>) -> std::borrow::Cow<'c, [u8]> {
        use std::borrow::Cow;
        match self {
            Param::Str(s) => Cow::Borrowed(s),
            Param::Fmt(f) => f.eval(ctx),
            Param::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            Param::Pv(p) => match p.value(ctx) {
                Value::Str(Cow::Borrowed(b)) => Cow::Borrowed(b),
                v => Cow::Owned(v.to_bytes().into_owned()),
            },
            Param::Expr(e) => Cow::Owned(e.eval(ctx).to_bytes().into_owned()),
            Param::Regex(r) => Cow::Borrowed(r.as_str().as_bytes()),
            Param::Subst(x) => Cow::Borrowed(x.re.as_str().as_bytes()),
            Param::Flag(b) => Cow::Owned(b.to_string().into_bytes()),
            Param::Route(r) => Cow::Owned(r.to_string().into_bytes()),
        }
    }

    /// The parameter as an int for this call.
    pub fn int(&self, ctx: &Ctx<'_>) -> i64 {
        match self {
            Param::Int(i) => *i,
            Param::Flag(b) => *b as i64,
            Param::Route(r) => *r as i64,
            Param::Pv(p) => p.value(ctx).to_int(),
            Param::Expr(e) => e.eval(ctx).to_int(),
            other => Value::str(&other.text(ctx)).to_int(),
        }
    }
}

/// A function as the core or a module exports it.
#[derive(Debug, Clone, Copy)]
pub struct FnDef {
    /// Name used in the script.
    pub name: &'static str,
    /// Parameter kinds; the call must give exactly this many.
    pub params: &'static [ParamKind],
    /// Where it may be used.
    pub routes: RouteMask,
    /// The function.
    pub call: ScriptFn,
    /// Extra startup check.
    pub fixup: Option<FixupFn>,
}

/// The functions known to the compiler, by name and then by parameter
/// count (Kamailio's functions are overloaded on arity: `xlog(fmt)`,
/// `xlog(level, fmt)`).
#[derive(Debug, Clone, Default)]
pub struct FnRegistry {
    by_name: HashMap<&'static str, Vec<FnDef>>,
}

impl FnRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The core functions.
    pub fn core() -> Self {
        let mut r = Self::new();
        for f in super::corefn::CORE_FUNCTIONS {
            r.register(*f).expect("core functions are unique");
        }
        r
    }

    /// Adds a function; the same name with the same arity twice is an
    /// error.
    pub fn register(&mut self, f: FnDef) -> Result<(), String> {
        let v = self.by_name.entry(f.name).or_default();
        if v.iter().any(|g| g.params.len() == f.params.len()) {
            return Err(format!("function {}() with {} parameter(s) registered twice", f.name, f.params.len()));
        }
        v.push(f);
        Ok(())
    }

    /// The definition for `name` called with `n` arguments: `Err` says
    /// what arities exist, or that the name is unknown (`None`).
    pub fn lookup(&self, name: &str, n: usize) -> Result<&FnDef, Option<Vec<usize>>> {
        match self.by_name.get(name) {
            None => Err(None),
            Some(v) => {
                v.iter().find(|f| f.params.len() == n).ok_or_else(|| Some(v.iter().map(|f| f.params.len()).collect()))
            }
        }
    }

    /// Whether a function of that name exists (any arity).
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Every function name, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.by_name.keys().copied().collect();
        v.sort_unstable();
        v
    }
}
