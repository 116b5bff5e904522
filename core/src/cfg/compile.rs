//! From the parsed cfg to the compiled [`Program`]: core parameters
//! checked and typed, modules loaded and their parameters set through a
//! [`ModuleLoader`], every route name turned into an index, every PV into
//! a [`PvRef`], every function call into a function pointer with fixed-up
//! parameters. All errors are collected with their `file:line:column`.

use std::collections::HashMap;

use regex::bytes::{Regex, RegexBuilder};

use super::ast::*;
use super::ctx::{RouteMask, RouteType};
use super::func::{FnRegistry, Param, ParamKind, ScriptFn};
use super::params::CoreParams;
use super::pv::{Format, Names, PvRef, PvRegistry};
use super::{CfgError, Loc, SourceMap};
use crate::net::{IpNet, Proto};

/// A compiled statement list.
pub type Block = Box<[Op]>;

/// A compiled statement and where it came from (for runtime errors).
#[derive(Debug)]
pub struct Op {
    /// What it does.
    pub kind: OpKind,
    /// Its source line.
    pub at: Loc,
}

/// Compiled statements.
#[derive(Debug)]
pub enum OpKind {
    /// A function call.
    Call {
        /// The function.
        f: ScriptFn,
        /// Its name, for logs.
        name: &'static str,
        /// Fixed-up parameters.
        params: Box<[Param]>,
        /// A Kamailio core action: leaves `$rc` alone as a statement.
        core_action: bool,
    },
    /// `route(X)`.
    Route(usize),
    /// `$var(x) = value`, straight into the slot.
    SetVar {
        /// The slot.
        slot: u32,
        /// Value.
        value: CExpr,
        /// The PV text, for logs.
        text: Box<str>,
    },
    /// `$var(x) = $var(x) + N`: counters, done in place when the slot
    /// holds an int (a string there concatenates, through `value`).
    AddToVar {
        /// The slot.
        slot: u32,
        /// N.
        n: i64,
        /// The whole expression, for the string case.
        value: CExpr,
        /// The PV text, for logs.
        text: Box<str>,
    },
    /// `$pv = value`.
    Assign {
        /// Target.
        pv: Box<PvRef>,
        /// Value.
        value: CExpr,
    },
    /// `if`.
    If {
        /// Condition.
        cond: CExpr,
        /// Then.
        then: Block,
        /// Else.
        els: Block,
    },
    /// `switch`: the body is one list; labels point into it.
    Switch {
        /// Switched value.
        value: CExpr,
        /// `case` labels and where their statements start.
        labels: Box<[(CaseLabel, usize)]>,
        /// Where `default:` starts.
        default: Option<usize>,
        /// All case bodies, in order.
        body: Block,
    },
    /// `while`.
    While {
        /// Condition.
        cond: CExpr,
        /// Body.
        body: Block,
    },
    /// `return [v]`.
    Return(Option<CExpr>),
    /// `exit`.
    Exit,
    /// `drop`.
    Drop,
    /// `break`.
    Break,
    /// `{ ... }`.
    Block(Block),
}

/// A `case` label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseLabel {
    /// `case 5:`
    Int(i64),
    /// `case "abc":`
    Str(Box<[u8]>),
}

/// A constant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Const {
    /// `$null`.
    Null,
    /// A number.
    Int(i64),
    /// A string.
    Str(Box<[u8]>),
}

/// Parts of the message a match expression names (`uri`, `src_ip`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    /// `uri`: the Request-URI.
    Uri,
    /// `from_uri`.
    FromUri,
    /// `to_uri`.
    ToUri,
    /// `method`.
    Method,
    /// `status`.
    Status,
    /// `src_ip`.
    SrcIp,
    /// `dst_ip`.
    DstIp,
    /// `src_port`.
    SrcPort,
    /// `dst_port`.
    DstPort,
    /// `proto`.
    Proto,
    /// `af`: 4 or 6.
    Af,
    /// `msg:len`.
    MsgLen,
}

/// A compiled expression.
#[derive(Debug)]
pub enum CExpr {
    /// A constant.
    Const(Const),
    /// A PV read.
    Pv(Box<PvRef>),
    /// `$var(x)` read straight from its slot (the commonest PV).
    Var(u32),
    /// A message element.
    Elem(Elem),
    /// A function call (its return code is the value).
    Call {
        /// The function.
        f: ScriptFn,
        /// Name, for logs.
        name: &'static str,
        /// Parameters.
        params: Box<[Param]>,
        /// A Kamailio core action: sets `$rc` to 0 in a condition.
        core_action: bool,
    },
    /// `route(X)` used as a value.
    Route(usize),
    /// Unary operator; the flag says whether the operand has effects.
    Unary(UnOp, Box<CExpr>, bool),
    /// Binary operator; the flag says whether an operand has effects
    /// (computed once here so that evaluation never walks the tree to
    /// find out).
    Bin(BinOp, Box<CExpr>, Box<CExpr>, bool),
    /// `=~` / `!~` with a constant regex (compiled once).
    Regex {
        /// Matched value.
        lhs: Box<CExpr>,
        /// The regex.
        re: Box<Regex>,
        /// `!~`.
        negate: bool,
    },
    /// `== myself` / `!= myself` on a URI element or an IP element.
    Myself {
        /// Which element.
        elem: Elem,
        /// `!=`.
        negate: bool,
    },
    /// `src_ip == 10.0.0.0/8`.
    IpIn {
        /// Which address.
        elem: Elem,
        /// The network.
        net: IpNet,
        /// `!=`.
        negate: bool,
    },
    /// `defined $pv`.
    Defined(Box<PvRef>),
    /// `method == "invite"`: methods compare ignoring case (Kamailio).
    MethodIs {
        /// The method text.
        name: Box<[u8]>,
        /// `!=`.
        negate: bool,
    },
    /// `selval(cond, a, b)`: `a` when the condition holds, else `b`.
    SelVal(Box<[CExpr; 3]>),
}

impl CExpr {
    /// Whether evaluating may run a function or a route (and so needs
    /// the context mutably).
    #[inline]
    pub fn has_effects(&self) -> bool {
        match self {
            CExpr::Call { .. } | CExpr::Route(_) => true,
            CExpr::Unary(_, _, fx) | CExpr::Bin(_, _, _, fx) => *fx,
            CExpr::Regex { lhs, .. } => lhs.has_effects(),
            _ => false,
        }
    }

    /// A binary node.
    pub fn bin(op: BinOp, a: CExpr, b: CExpr) -> CExpr {
        let fx = a.has_effects() || b.has_effects();
        CExpr::Bin(op, Box::new(a), Box::new(b), fx)
    }

    /// A unary node.
    pub fn unary(op: UnOp, a: CExpr) -> CExpr {
        let fx = a.has_effects();
        CExpr::Unary(op, Box::new(a), fx)
    }
}

/// A compiled route.
#[derive(Debug)]
pub struct Route {
    /// Kind.
    pub kind: RouteKind,
    /// Name (`None` for the main one).
    pub name: Option<String>,
    /// Body.
    pub body: Block,
    /// Where it is defined.
    pub at: Loc,
}

/// A `group.name = value desc "..."` parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomParam {
    /// `group.name`.
    pub name: String,
    /// Value.
    pub value: ParamValue,
    /// Description.
    pub desc: Option<String>,
}

/// The compiled cfg.
#[derive(Debug)]
pub struct Program {
    /// All routes; indices are what calls hold.
    pub routes: Vec<Route>,
    /// The index of each named route, by namespace.
    pub named: HashMap<(RouteKind, String), usize>,
    /// `request_route`.
    pub request_route: Option<usize>,
    /// `reply_route`.
    pub reply_route: Option<usize>,
    /// `onsend_route`.
    pub onsend_route: Option<usize>,
    /// Core parameters.
    pub core: CoreParams,
    /// Custom cfg parameters.
    pub custom: Vec<CustomParam>,
    /// `loadmodule` paths, in order.
    pub modules: Vec<String>,
    /// Named flags (`flags` directive).
    pub flags: HashMap<String, u32>,
    /// `$var` slots and AVP ids.
    pub names: Names,
    /// How many `$var` slots a worker needs.
    pub var_count: usize,
    /// The preprocessor's defines at the end of the file (`core.ppdefines`).
    pub defines: Vec<String>,
}

impl Program {
    /// A named route of a kind.
    pub fn route(&self, kind: RouteKind, name: &str) -> Option<usize> {
        self.named.get(&(kind, name.to_string())).copied()
    }

    /// `event_route[name]`.
    pub fn event_route(&self, name: &str) -> Option<usize> {
        self.route(RouteKind::Event, name)
    }
}

/// What the compiler needs from the module system: load a module (which
/// registers its functions and PVs) and set its parameters.
pub trait ModuleLoader {
    /// `loadmodule "path"`.
    fn load(
        &mut self,
        path: &str,
        mpath: Option<&str>,
        fns: &mut FnRegistry,
        pvs: &mut PvRegistry,
    ) -> Result<(), String>;
    /// `modparam("module", "param", value)`.
    fn modparam(&mut self, module: &str, param: &str, value: &ModValue) -> Result<(), String>;
}

/// A loader that knows no module: every `loadmodule` is an error.
#[derive(Debug, Default)]
pub struct NoModules;

impl ModuleLoader for NoModules {
    fn load(&mut self, path: &str, _: Option<&str>, _: &mut FnRegistry, _: &mut PvRegistry) -> Result<(), String> {
        Err(format!("cannot load module '{path}': this build has no module loader"))
    }
    fn modparam(&mut self, module: &str, _: &str, _: &ModValue) -> Result<(), String> {
        Err(format!("no module '{module}' loaded"))
    }
}

/// Most errors reported before giving up.
const MAX_ERRORS: usize = 50;

/// The route type a route kind runs as.
pub fn route_type(kind: RouteKind) -> RouteType {
    match kind {
        RouteKind::Request => RouteType::Request,
        RouteKind::Reply => RouteType::CoreReply,
        RouteKind::OnReply => RouteType::OnReply,
        RouteKind::Failure => RouteType::Failure,
        RouteKind::Branch => RouteType::Branch,
        RouteKind::OnSend => RouteType::OnSend,
        RouteKind::Event => RouteType::Event,
    }
}

struct Compiler<'a> {
    map: &'a SourceMap,
    fns: FnRegistry,
    pvs: PvRegistry,
    names: Names,
    flags: HashMap<String, u32>,
    named: HashMap<(RouteKind, String), usize>,
    errors: Vec<CfgError>,
    /// The route types the route being compiled can run as (a `route[X]`
    /// called from several kinds of route gets all of them).
    mask: RouteMask,
}

/// Compiles a parsed cfg. `fns` and `pvs` start with the core's; the
/// loader adds the modules'.
pub fn compile(
    file: &CfgFile,
    map: &SourceMap,
    fns: FnRegistry,
    pvs: PvRegistry,
    loader: &mut dyn ModuleLoader,
) -> Result<Program, Vec<CfgError>> {
    let mut c = Compiler {
        map,
        fns,
        pvs,
        names: Names::with_defines(map.defines()),
        flags: HashMap::new(),
        named: HashMap::new(),
        errors: Vec::new(),
        mask: RouteMask::ANY,
    };
    let mut core = CoreParams::default();
    let mut custom = Vec::new();
    let mut modules = Vec::new();
    // Pass 1: parameters, flags, modules, in file order (a modparam needs
    // its module loaded above it, as Kamailio).
    for item in &file.items {
        match item {
            Item::Param { name, value, at, value_at } => {
                if let Err(e) = core.set(name, value) {
                    let pos = if matches!(e, super::params::ParamError::Unknown(_)) { *at } else { *value_at };
                    c.error(pos, e.to_string());
                }
            }
            Item::CustomParam { name, value, desc, .. } => {
                // `$ccp(group.name)` and `$sel(cfg_get.group.name)` read it
                let v = match value {
                    ParamValue::Int(i) => super::value::Stored::Int(*i),
                    ParamValue::Bool(b) => super::value::Stored::Int(i64::from(*b)),
                    ParamValue::Str(s) | ParamValue::Ident(s) | ParamValue::Raw(s) => {
                        super::value::Stored::Str(s.clone().into_bytes())
                    }
                };
                c.names.set_custom(name, v);
                custom.push(CustomParam { name: name.clone(), value: value.clone(), desc: desc.clone() })
            }
            Item::Flags { avp: false, names } => {
                for (name, bit, at) in names {
                    c.declare_flag(name, *bit, *at);
                }
            }
            Item::Flags { avp: true, .. } => {}
            Item::LoadModule { path, at } => {
                let mpath = core.mpath.clone();
                if let Err(e) = loader.load(path, mpath.as_deref(), &mut c.fns, &mut c.pvs) {
                    c.error(*at, e);
                }
                modules.push(path.clone());
            }
            Item::ModParam { module, param, value, at } => {
                if let Err(e) = loader.modparam(module, param, value) {
                    c.error(*at, format!("modparam(\"{module}\", \"{param}\"): {e}"));
                }
            }
            Item::Route(_) => {}
        }
    }
    // Pass 2: route indices (so that calls may precede definitions).
    let blocks: Vec<&RouteBlock> = file
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Route(r) => Some(r),
            _ => None,
        })
        .collect();
    let mut request_route = None;
    let mut reply_route = None;
    let mut onsend_route = None;
    for (idx, r) in blocks.iter().enumerate() {
        let dup = match (&r.name, r.kind) {
            (Some(n), k) => c.named.insert((k, n.clone()), idx).is_some(),
            (None, RouteKind::Request) => request_route.replace(idx).is_some(),
            (None, RouteKind::Reply) => reply_route.replace(idx).is_some(),
            (None, RouteKind::OnSend) => onsend_route.replace(idx).is_some(),
            (None, _) => false,
        };
        if dup {
            let what = r.name.clone().unwrap_or_else(|| "main".into());
            c.error(r.at, format!("route '{what}' defined more than once"));
        }
    }
    // Pass 3: bodies. A `route[X]` runs in the route types it is called
    // from; checking function use per route type is done with the mask
    // of every type that can reach it.
    let masks = reach_masks(&blocks, &c.named, request_route);
    let mut routes = Vec::with_capacity(blocks.len());
    for (idx, r) in blocks.iter().enumerate() {
        c.mask = masks[idx];
        let body = c.block(&r.body);
        routes.push(Route { kind: r.kind, name: r.name.clone(), body, at: c.map.loc(r.at) });
    }
    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    Ok(Program {
        routes,
        named: c.named,
        request_route,
        reply_route,
        onsend_route,
        core,
        custom,
        modules,
        flags: c.flags,
        var_count: c.names.var_count(),
        names: c.names,
        defines: {
            let mut d: Vec<String> = c.map.defines().iter().map(|(k, _)| k.to_string()).collect();
            d.sort_unstable();
            d
        },
    })
}

/// For each route, the route types it can run as: its own for the
/// top-level kinds, and for `route[X]` the union of its callers' (a
/// `route[X]` nobody calls is checked as a request route).
fn reach_masks(
    blocks: &[&RouteBlock],
    named: &HashMap<(RouteKind, String), usize>,
    main: Option<usize>,
) -> Vec<RouteMask> {
    let mut masks: Vec<RouteMask> = blocks
        .iter()
        .map(|b| match (b.kind, &b.name) {
            (RouteKind::Request, Some(_)) => RouteMask(0),
            (k, _) => route_type(k).bit(),
        })
        .collect();
    let _ = main;
    // propagate along route(X) calls until nothing changes
    loop {
        let mut changed = false;
        for (i, b) in blocks.iter().enumerate() {
            let mut callees = Vec::new();
            collect_route_calls(&b.body, &mut callees);
            for name in callees {
                if let Some(&j) = named.get(&(RouteKind::Request, name)) {
                    let m = masks[j].or(masks[i]);
                    if m != masks[j] {
                        masks[j] = m;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    for m in &mut masks {
        if m.0 == 0 {
            *m = RouteType::Request.bit();
        }
    }
    masks
}

fn collect_route_calls(stmts: &[Stmt], out: &mut Vec<String>) {
    fn expr(e: &Expr, out: &mut Vec<String>) {
        match &e.kind {
            ExprKind::Call { name, args } => {
                if name == "route" {
                    if let Some(Expr { kind: ExprKind::Ident(n), .. }) = args.first() {
                        out.push(n.clone());
                    }
                }
                args.iter().for_each(|a| expr(a, out));
            }
            ExprKind::Unary(_, a) => expr(a, out),
            ExprKind::Binary(_, a, b) => {
                expr(a, out);
                expr(b, out);
            }
            _ => {}
        }
    }
    for s in stmts {
        match &s.kind {
            StmtKind::Route(n) => out.push(n.clone()),
            StmtKind::If { cond, then, els } => {
                expr(cond, out);
                collect_route_calls(then, out);
                if let Some(e) = els {
                    collect_route_calls(e, out);
                }
            }
            StmtKind::Switch { value, cases } => {
                expr(value, out);
                for (_, b) in cases {
                    collect_route_calls(b, out);
                }
            }
            StmtKind::While { cond, body } => {
                expr(cond, out);
                collect_route_calls(body, out);
            }
            StmtKind::Block(b) => collect_route_calls(b, out),
            StmtKind::Assign { value, .. } => expr(value, out),
            StmtKind::Return(Some(v)) => expr(v, out),
            StmtKind::Call { args, .. } => args.iter().for_each(|a| expr(a, out)),
            _ => {}
        }
    }
}

/// Kamailio's flags are 32 bits.
const MAX_FLAG: i64 = 31;

impl Compiler<'_> {
    fn error(&mut self, at: Pos, msg: impl Into<String>) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(CfgError { loc: self.map.loc(at), msg: msg.into() });
        }
    }

    fn declare_flag(&mut self, name: &str, bit: Option<i64>, at: Pos) {
        let bit = match bit {
            Some(b) if !(0..=MAX_FLAG).contains(&b) => {
                self.error(at, format!("flag {name}: bit {b} out of range 0..{MAX_FLAG}"));
                return;
            }
            Some(b) => b as u32,
            None => match (0..=MAX_FLAG as u32).find(|b| !self.flags.values().any(|v| v == b)) {
                Some(b) => b,
                None => {
                    self.error(at, format!("flag {name}: no free flag bit left"));
                    return;
                }
            },
        };
        if let Some((other, _)) = self.flags.iter().find(|(n, v)| **v == bit && n.as_str() != name) {
            let other = other.clone();
            self.error(at, format!("flag {name}: bit {bit} already used by {other}"));
            return;
        }
        if self.flags.insert(name.to_string(), bit).is_some() {
            self.error(at, format!("flag {name} declared twice"));
        }
    }

    fn block(&mut self, stmts: &[Stmt]) -> Block {
        stmts.iter().filter_map(|s| self.stmt(s)).collect::<Vec<_>>().into_boxed_slice()
    }

    fn stmt(&mut self, s: &Stmt) -> Option<Op> {
        let kind = match &s.kind {
            StmtKind::Call { name, args } => {
                let (f, name, params) = self.call(name, args, s.at)?;
                OpKind::Call { f, name, params, core_action: super::corefn::is_core_action(name) }
            }
            StmtKind::Route(name) => OpKind::Route(self.route_ref(RouteKind::Request, name, s.at)?),
            StmtKind::Assign { pv, value } => {
                let pv = self.pv(pv, s.at)?;
                if pv.set.is_none() {
                    self.error(s.at, format!("{} is read-only", pv.text));
                    return None;
                }
                let value = self.expr(value)?;
                match var_slot(&pv) {
                    Some(slot) => match &value {
                        CExpr::Bin(BinOp::Add, a, b, false) => match (a.as_ref(), b.as_ref()) {
                            (CExpr::Var(s2), CExpr::Const(Const::Int(n))) if *s2 == slot => {
                                OpKind::AddToVar { slot, n: *n, value, text: pv.text.clone() }
                            }
                            _ => OpKind::SetVar { slot, value, text: pv.text.clone() },
                        },
                        _ => OpKind::SetVar { slot, value, text: pv.text.clone() },
                    },
                    None => OpKind::Assign { pv: Box::new(pv), value },
                }
            }
            StmtKind::If { cond, then, els } => {
                let cond = self.expr(cond);
                let then = self.block(then);
                let els = els.as_ref().map(|e| self.block(e)).unwrap_or_default();
                OpKind::If { cond: cond?, then, els }
            }
            StmtKind::Switch { value, cases } => {
                let value = self.expr(value);
                let mut labels = Vec::new();
                let mut default = None;
                let mut body = Vec::new();
                for (label, stmts) in cases {
                    let start = body.len();
                    match label {
                        None => default = Some(start),
                        Some(l) => {
                            let lab = match &l.kind {
                                ExprKind::Int(i) => Some(CaseLabel::Int(*i)),
                                ExprKind::Unary(UnOp::Neg, e) => match e.kind {
                                    ExprKind::Int(i) => Some(CaseLabel::Int(-i)),
                                    _ => None,
                                },
                                ExprKind::Str(s) => Some(CaseLabel::Str(s.clone().into())),
                                _ => None,
                            };
                            match lab {
                                Some(lab) => {
                                    if labels.iter().any(|(x, _)| *x == lab) {
                                        self.error(l.at, "duplicate case label");
                                    }
                                    labels.push((lab, start))
                                }
                                None => self.error(l.at, "a case label must be a number or a string"),
                            }
                        }
                    }
                    body.extend(stmts.iter().filter_map(|s| self.stmt(s)));
                }
                OpKind::Switch { value: value?, labels: labels.into(), default, body: body.into() }
            }
            StmtKind::While { cond, body } => {
                let cond = self.expr(cond);
                let body = self.block(body);
                OpKind::While { cond: cond?, body }
            }
            StmtKind::Return(v) => OpKind::Return(match v {
                Some(e) => Some(self.expr(e)?),
                None => None,
            }),
            StmtKind::Exit => OpKind::Exit,
            StmtKind::Drop => OpKind::Drop,
            StmtKind::Break => OpKind::Break,
            StmtKind::Block(b) => OpKind::Block(self.block(b)),
        };
        Some(Op { kind, at: self.map.loc(s.at) })
    }

    fn route_ref(&mut self, kind: RouteKind, name: &str, at: Pos) -> Option<usize> {
        match self.named.get(&(kind, name.to_string())) {
            Some(&i) => Some(i),
            None => {
                let what = match kind {
                    RouteKind::Request => "route",
                    RouteKind::Failure => "failure_route",
                    RouteKind::OnReply => "onreply_route",
                    RouteKind::Branch => "branch_route",
                    RouteKind::Event => "event_route",
                    RouteKind::Reply => "reply_route",
                    RouteKind::OnSend => "onsend_route",
                };
                self.error(at, format!("{what}[{name}] is not defined"));
                None
            }
        }
    }

    fn pv(&mut self, text: &str, at: Pos) -> Option<PvRef> {
        match self.pvs.resolve(text, &mut self.names) {
            Ok(p) => Some(p),
            Err(e) => {
                self.error(at, e);
                None
            }
        }
    }

    fn call(&mut self, name: &str, args: &[Expr], at: Pos) -> Option<(ScriptFn, &'static str, Box<[Param]>)> {
        let def = match self.fns.lookup(name, args.len()) {
            Ok(d) => *d,
            Err(None) => {
                self.error(at, format!("unknown function '{name}' (is its module loaded?)"));
                return None;
            }
            Err(Some(arities)) => {
                let list: Vec<String> = arities.iter().map(ToString::to_string).collect();
                self.error(
                    at,
                    format!("function '{name}' takes {} parameter(s), {} given", list.join(" or "), args.len()),
                );
                return None;
            }
        };
        if !def.routes.0 & self.mask.0 != 0 {
            let bad: Vec<&str> = [
                RouteType::Request,
                RouteType::Failure,
                RouteType::OnReply,
                RouteType::Branch,
                RouteType::OnSend,
                RouteType::Event,
                RouteType::CoreReply,
            ]
            .into_iter()
            .filter(|t| self.mask.allows(*t) && !def.routes.allows(*t))
            .map(RouteType::name)
            .collect();
            self.error(at, format!("function '{name}' cannot be used in {}", bad.join(", ")));
        }
        let mut params = Vec::with_capacity(args.len());
        for (kind, arg) in def.params.iter().zip(args) {
            params.push(self.param(*kind, arg, name)?);
        }
        if let Some(fix) = def.fixup {
            if let Err(e) = fix(&mut params) {
                self.error(at, format!("{name}(): {e}"));
                return None;
            }
        }
        Some((def.call, def.name, params.into()))
    }

    fn param(&mut self, kind: ParamKind, arg: &Expr, fname: &str) -> Option<Param> {
        let at = arg.at;
        let bad = |c: &mut Self, what: &str| {
            c.error(at, format!("{fname}(): expected {what}"));
            None
        };
        let int_const = |e: &Expr| -> Option<i64> {
            match &e.kind {
                ExprKind::Int(i) => Some(*i),
                ExprKind::Unary(UnOp::Neg, x) => match x.kind {
                    ExprKind::Int(i) => Some(-i),
                    _ => None,
                },
                ExprKind::Str(s) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
                _ => None,
            }
        };
        match kind {
            ParamKind::Int => match int_const(arg) {
                Some(i) => Some(Param::Int(i)),
                None => bad(self, "a number"),
            },
            ParamKind::Str => match &arg.kind {
                ExprKind::Str(s) => Some(Param::Str(s.clone().into())),
                ExprKind::Int(i) => Some(Param::Str(i.to_string().into_bytes().into())),
                _ => bad(self, "a string"),
            },
            ParamKind::Spve => match &arg.kind {
                ExprKind::Str(s) if s.starts_with(b"$") => match super::lex::pv_end(s, 0) {
                    Some(end) if end > 1 => {
                        let text = String::from_utf8_lossy(&s[..end]).into_owned();
                        if end < s.len() {
                            ::log::warn!(
                                "{fname}(): only {text} of \"{}\" is used (Kamailio takes a parameter that starts with a pseudo-variable as that variable alone)",
                                String::from_utf8_lossy(s)
                            );
                        }
                        self.pv(&text, at).map(|p| Param::Pv(Box::new(p)))
                    }
                    _ => self.param(ParamKind::Fmt, arg, fname),
                },
                _ => self.param(ParamKind::Fmt, arg, fname),
            },
            ParamKind::Fmt => match &arg.kind {
                ExprKind::Str(s) => match Format::parse(s, &self.pvs, &mut self.names) {
                    Ok(f) => Some(match f.as_literal() {
                        Some(l) => Param::Str(l.into()),
                        None => Param::Fmt(f),
                    }),
                    Err(e) => {
                        self.error(at, e);
                        None
                    }
                },
                ExprKind::Int(i) => Some(Param::Str(i.to_string().into_bytes().into())),
                ExprKind::Pv(p) => self.pv(p, at).map(|p| Param::Pv(Box::new(p))),
                _ => bad(self, "a string"),
            },
            ParamKind::IntOrPv => match (&arg.kind, int_const(arg)) {
                (_, Some(i)) => Some(Param::Int(i)),
                (ExprKind::Pv(p), None) => self.pv(p, at).map(|p| Param::Pv(Box::new(p))),
                (ExprKind::Str(s), None) if s.starts_with(b"$") => {
                    let t = String::from_utf8_lossy(s).into_owned();
                    self.pv(&t, at).map(|p| Param::Pv(Box::new(p)))
                }
                _ => bad(self, "a number or a pseudo-variable"),
            },
            // modules' regex parameters are compiled as Kamailio's fixups
            // do: extended, ignoring case, `^`/`$` at line ends (REG_NEWLINE)
            ParamKind::Regex => match &arg.kind {
                ExprKind::Str(s) => match compile_param_regex(s) {
                    Ok(r) => Some(Param::Regex(Box::new(r))),
                    Err(e) => {
                        self.error(at, format!("{fname}(): bad regular expression: {e}"));
                        None
                    }
                },
                _ => bad(self, "a regular expression string"),
            },
            ParamKind::Subst => match &arg.kind {
                ExprKind::Str(s) => match super::subst::SubstExpr::parse(&String::from_utf8_lossy(s))
                    .and_then(|mut x| x.resolve_pvs(&self.pvs, &mut self.names).map(|()| x))
                {
                    Ok(x) => Some(Param::Subst(Box::new(x))),
                    Err(e) => {
                        self.error(at, format!("{fname}(): {e}"));
                        None
                    }
                },
                _ => bad(self, "a /regex/replacement/flags string"),
            },
            ParamKind::Flag => {
                let bit = match &arg.kind {
                    ExprKind::Ident(n) => match self.flags.get(n) {
                        Some(b) => Some(*b as i64),
                        None => {
                            self.error(
                                at,
                                format!("{fname}(): unknown flag '{n}' (declare it with 'flags' or #!define it)"),
                            );
                            return None;
                        }
                    },
                    _ => int_const(arg),
                };
                match bit {
                    Some(b) if (0..=MAX_FLAG).contains(&b) => Some(Param::Flag(b as u32)),
                    Some(b) => {
                        self.error(at, format!("{fname}(): flag {b} out of range 0..{MAX_FLAG}"));
                        None
                    }
                    None => bad(self, "a flag number or name"),
                }
            }
            ParamKind::WritablePv | ParamKind::Pv => {
                let text = match &arg.kind {
                    ExprKind::Pv(p) => p.clone(),
                    ExprKind::Str(s) => String::from_utf8_lossy(s).into_owned(),
                    _ => return bad(self, "a pseudo-variable"),
                };
                let pv = self.pv(&text, at)?;
                if kind == ParamKind::WritablePv && pv.set.is_none() {
                    self.error(at, format!("{fname}(): {} is read-only", pv.text));
                    return None;
                }
                Some(Param::Pv(Box::new(pv)))
            }
            ParamKind::FailureRoute | ParamKind::OnReplyRoute | ParamKind::BranchRoute | ParamKind::RequestRoute => {
                let name = match &arg.kind {
                    ExprKind::Str(s) => String::from_utf8_lossy(s).into_owned(),
                    ExprKind::Ident(s) => s.clone(),
                    ExprKind::Int(i) => i.to_string(),
                    _ => return bad(self, "a route name"),
                };
                let rk = match kind {
                    ParamKind::FailureRoute => RouteKind::Failure,
                    ParamKind::OnReplyRoute => RouteKind::OnReply,
                    ParamKind::BranchRoute => RouteKind::Branch,
                    _ => RouteKind::Request,
                };
                self.route_ref(rk, &name, at).map(Param::Route)
            }
            ParamKind::Expr => self.expr(arg).map(|e| Param::Expr(Box::new(e))),
        }
    }

    fn expr(&mut self, e: &Expr) -> Option<CExpr> {
        Some(match &e.kind {
            ExprKind::Int(i) => CExpr::Const(Const::Int(*i)),
            ExprKind::Str(s) => CExpr::Const(Const::Str(s.clone().into())),
            ExprKind::Pv(p) => {
                let pv = self.pv(p, e.at)?;
                if pv.is_null {
                    CExpr::Const(Const::Null)
                } else if let Some(slot) = var_slot(&pv) {
                    CExpr::Var(slot)
                } else {
                    CExpr::Pv(Box::new(pv))
                }
            }
            ExprKind::Ident(w) => match elem(w) {
                Some(el) => CExpr::Elem(el),
                None => {
                    self.error(e.at, format!("unknown name '{w}' in expression (a missing #!define?)"));
                    return None;
                }
            },
            ExprKind::Ip(ip) => CExpr::Const(Const::Str(ip.clone().into_bytes().into())),
            ExprKind::Call { name, args } if name == "route" => {
                let n = match args.as_slice() {
                    [Expr { kind: ExprKind::Ident(n), .. }] => n.clone(),
                    [Expr { kind: ExprKind::Str(s), .. }] => String::from_utf8_lossy(s).into_owned(),
                    [Expr { kind: ExprKind::Int(i), .. }] => i.to_string(),
                    _ => {
                        self.error(e.at, "route() takes one route name");
                        return None;
                    }
                };
                CExpr::Route(self.route_ref(RouteKind::Request, &n, e.at)?)
            }
            // the core's ternary: its parts are expressions, not parameters
            ExprKind::Call { name, args } if name == "selval" => {
                let [c, a, b] = args.as_slice() else {
                    self.error(e.at, "selval takes three expressions: selval(condition, value1, value2)");
                    return None;
                };
                let parts = [self.expr(c)?, self.expr(a)?, self.expr(b)?];
                if parts.iter().any(CExpr::has_effects) {
                    self.error(e.at, "selval's expressions cannot call functions or routes in sipr");
                    return None;
                }
                CExpr::SelVal(Box::new(parts))
            }
            ExprKind::Call { name, args } => {
                let (f, name, params) = self.call(name, args, e.at)?;
                CExpr::Call { f, name, params, core_action: super::corefn::is_core_action(name) }
            }
            ExprKind::Unary(UnOp::Defined, inner) => match &inner.kind {
                ExprKind::Pv(p) => CExpr::Defined(Box::new(self.pv(p, inner.at)?)),
                _ => {
                    self.error(inner.at, "defined needs a pseudo-variable");
                    return None;
                }
            },
            ExprKind::Unary(op, inner) => CExpr::unary(*op, self.expr(inner)?),
            ExprKind::Binary(op, a, b) => return self.binary(*op, a, b),
        })
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr) -> Option<CExpr> {
        // match expressions: uri == myself, src_ip == 10.0.0.0/8, proto == UDP
        if let ExprKind::Ident(w) = &a.kind {
            if let Some(el) = elem(w) {
                return self.match_expr(op, el, a, b);
            }
        }
        // Kamailio refuses these at startup: a string constant where an
        // int is wanted ("bad expression: type mismatch")
        let is_str = |e: &Expr| matches!(e.kind, ExprKind::Str(_));
        let is_int = |e: &Expr| matches!(e.kind, ExprKind::Int(_));
        let arith = matches!(
            op,
            BinOp::Sub
                | BinOp::Mul
                | BinOp::Div
                | BinOp::Mod
                | BinOp::BitAnd
                | BinOp::BitOr
                | BinOp::BitXor
                | BinOp::Shl
                | BinOp::Shr
        );
        let relational = matches!(op, BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge);
        if (op == BinOp::Add && is_int(a) && is_str(b)) || ((arith || relational) && (is_str(a) || is_str(b))) {
            let at = if is_str(b) { b.at } else { a.at };
            self.error(at, "bad expression: type mismatch: str instead of int");
            return None;
        }
        if matches!(op, BinOp::Match | BinOp::NoMatch) {
            let lhs = self.expr(a)?;
            if let ExprKind::Str(re) = &b.kind {
                return match compile_regex(re, true) {
                    Ok(re) => Some(CExpr::Regex { lhs: Box::new(lhs), re: Box::new(re), negate: op == BinOp::NoMatch }),
                    Err(err) => {
                        self.error(b.at, format!("bad regular expression: {err}"));
                        None
                    }
                };
            }
            let rhs = self.expr(b)?;
            return Some(CExpr::bin(op, lhs, rhs));
        }
        let lhs = self.expr(a);
        let rhs = self.expr(b);
        Some(CExpr::bin(op, lhs?, rhs?))
    }

    fn match_expr(&mut self, op: BinOp, el: Elem, a: &Expr, b: &Expr) -> Option<CExpr> {
        let negate = matches!(op, BinOp::Ne | BinOp::NoMatch);
        let eq_like = matches!(op, BinOp::Eq | BinOp::Ne);
        if let ExprKind::Ident(w) = &b.kind {
            if w == "myself" {
                if !eq_like {
                    self.error(b.at, "myself can only be compared with == or !=");
                    return None;
                }
                if !matches!(el, Elem::Uri | Elem::FromUri | Elem::ToUri | Elem::SrcIp | Elem::DstIp) {
                    self.error(a.at, "only uri, from_uri, to_uri, src_ip and dst_ip can be compared with myself");
                    return None;
                }
                return Some(CExpr::Myself { elem: el, negate });
            }
            let rhs = match (el, w.as_str()) {
                (Elem::Proto, p) if Proto::from_name(p).is_some() => {
                    CExpr::Const(Const::Str(Proto::from_name(p).map(Proto::name).unwrap_or("").as_bytes().into()))
                }
                (Elem::Af, "INET" | "inet") => CExpr::Const(Const::Int(4)),
                (Elem::Af, "INET6" | "inet6") => CExpr::Const(Const::Int(6)),
                _ => {
                    self.error(b.at, format!("unknown name '{w}' in expression (a missing #!define?)"));
                    return None;
                }
            };
            return Some(CExpr::bin(op, CExpr::Elem(el), rhs));
        }
        if let (Elem::SrcIp | Elem::DstIp, ExprKind::Ip(ip)) = (el, &b.kind) {
            if !eq_like {
                self.error(b.at, "an address can only be compared with == or !=");
                return None;
            }
            return match IpNet::parse(ip) {
                Some(net) => Some(CExpr::IpIn { elem: el, net, negate }),
                None => {
                    self.error(b.at, format!("bad address or network '{ip}'"));
                    None
                }
            };
        }
        if let (Elem::SrcIp | Elem::DstIp, ExprKind::Str(s)) = (el, &b.kind) {
            if let Some(net) = std::str::from_utf8(s).ok().and_then(IpNet::parse) {
                if eq_like {
                    return Some(CExpr::IpIn { elem: el, net, negate });
                }
            }
        }
        if let (Elem::Method, true, ExprKind::Str(m)) = (el, eq_like, &b.kind) {
            return Some(CExpr::MethodIs { name: m.clone().into(), negate });
        }
        let lhs = CExpr::Elem(el);
        if matches!(op, BinOp::Match | BinOp::NoMatch) {
            if let ExprKind::Str(re) = &b.kind {
                return match compile_regex(re, true) {
                    Ok(re) => Some(CExpr::Regex { lhs: Box::new(lhs), re: Box::new(re), negate }),
                    Err(err) => {
                        self.error(b.at, format!("bad regular expression: {err}"));
                        None
                    }
                };
            }
        }
        let rhs = self.expr(b)?;
        Some(CExpr::bin(op, lhs, rhs))
    }
}

/// The slot of a plain `$var(x)` (no index, no transformation).
fn var_slot(pv: &PvRef) -> Option<u32> {
    match pv.arg {
        super::pv::PvArg::Slot(s) if pv.is_var && pv.trans.is_empty() => Some(s),
        _ => None,
    }
}

/// The match-expression element a word names.
fn elem(w: &str) -> Option<Elem> {
    Some(match w {
        "uri" => Elem::Uri,
        "from_uri" => Elem::FromUri,
        "to_uri" => Elem::ToUri,
        "method" => Elem::Method,
        "status" => Elem::Status,
        "src_ip" => Elem::SrcIp,
        "dst_ip" => Elem::DstIp,
        "src_port" => Elem::SrcPort,
        "dst_port" => Elem::DstPort,
        "proto" => Elem::Proto,
        "af" => Elem::Af,
        "msg:len" => Elem::MsgLen,
        _ => return None,
    })
}

/// Compiles a regex function parameter: Kamailio's fixups use
/// REG_EXTENDED | REG_ICASE | REG_NEWLINE.
pub fn compile_param_regex(re: &[u8]) -> Result<Regex, String> {
    let text = std::str::from_utf8(re).map_err(|_| "not UTF-8".to_string())?;
    RegexBuilder::new(text).case_insensitive(true).multi_line(true).unicode(false).build().map_err(|e| e.to_string())
}

/// Compiles a cfg regex (POSIX extended in Kamailio; Rust's syntax is a
/// superset for the patterns cfgs use). `=~` matches ignore case, as
/// Kamailio's. Matching is on bytes with ASCII classes and case folding,
/// as POSIX regexec in the C locale (SIP text need not be UTF-8).
pub fn compile_regex(re: &[u8], icase: bool) -> Result<Regex, String> {
    let text = std::str::from_utf8(re).map_err(|_| "not UTF-8".to_string())?;
    RegexBuilder::new(text).case_insensitive(icase).unicode(false).build().map_err(|e| e.to_string())
}
