//! Running a compiled route on a message: Kamailio's control flow
//! (return codes > 0 true, < 0 false, 0 stops the script; `return 0` is
//! `exit`; a route without `return` gives 1; `while` bounded by
//! `max_while_loops`) and its expression rules ([`super::value`]).

use std::borrow::Cow;

use super::ast::{BinOp, UnOp};
use super::compile::{compile_regex, route_type, CExpr, CaseLabel, Const, Elem, Op, OpKind, Program};
use super::ctx::Ctx;
use super::value::{Stored, Value};
use crate::sip::{Span, Uri};

/// How a statement list ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Ran to the end.
    Next,
    /// `break`.
    Break,
    /// `return n` from the current route.
    Return(i64),
    /// `exit`, `drop`, `return 0` or a function returning 0: the script
    /// stops.
    Exit,
}

/// What running a route gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The return code (`$rc` at the end).
    pub retcode: i64,
    /// `exit` (or an equivalent) stopped the script.
    pub exited: bool,
    /// `drop` was executed.
    pub dropped: bool,
}

/// An expression that could not be evaluated (Kamailio fails the whole
/// expression and logs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EvalError {
    DivByZero,
}

/// Routes called from routes deeper than this are refused (Kamailio's
/// `max_recursive_level` default).
const MAX_DEPTH: u32 = 256;

struct Exec<'p> {
    prog: &'p Program,
    depth: u32,
    /// The worker's scratch buffer, held here for the run: string
    /// assignments copy through it (the value may borrow what is being
    /// overwritten), without allocating once warm.
    scratch: Vec<u8>,
}

impl Program {
    /// Runs route `idx` (an index from [`Program::request_route`],
    /// [`Program::route`]...) on the message in `ctx`.
    pub fn run(&self, idx: usize, ctx: &mut Ctx<'_>) -> Outcome {
        let Some(route) = self.routes.get(idx) else {
            log::error!("no route with index {idx}");
            return Outcome { retcode: -1, exited: false, dropped: false };
        };
        ctx.route_type = route_type(route.kind);
        if ctx.proc.vars.len() < self.var_count {
            ctx.proc.vars.resize(self.var_count, Stored::default());
        }
        let mut ex = Exec { prog: self, depth: 0, scratch: std::mem::take(&mut ctx.proc.scratch) };
        let flow = ex.block(&route.body, ctx);
        ctx.proc.scratch = ex.scratch;
        let (retcode, exited) = match flow {
            Flow::Return(n) => (n, false),
            Flow::Exit => (ctx.retcode, true),
            Flow::Next | Flow::Break => (1, false),
        };
        ctx.retcode = retcode;
        Outcome { retcode, exited, dropped: ctx.dropped }
    }
}

impl Exec<'_> {
    fn block(&mut self, ops: &[Op], ctx: &mut Ctx<'_>) -> Flow {
        for op in ops {
            let f = self.op(op, ctx);
            if let Some(what) = ctx.take_pv_error() {
                log::error!("{}: cannot read a pseudo-variable: {what}", op.at);
            }
            if f != Flow::Next {
                return f;
            }
        }
        Flow::Next
    }

    /// One statement: function calls, ifs and int assignments to `$var`
    /// here (the bulk of a real script), the rest out of line so that
    /// this frame stays small.
    #[inline]
    fn op(&mut self, op: &Op, ctx: &mut Ctx<'_>) -> Flow {
        match &op.kind {
            OpKind::Call { f, params, core_action, .. } => {
                ctx.cfg_line = op.at.line;
                let code = f(ctx, params) as i64;
                if !core_action {
                    ctx.retcode = code;
                }
                if code == 0 {
                    Flow::Exit
                } else {
                    Flow::Next
                }
            }
            OpKind::If { cond, then, els } => match self.test(cond, ctx, op) {
                Ok(true) => self.block(then, ctx),
                Ok(false) => self.block(els, ctx),
                Err(f) => f,
            },
            OpKind::SetVar { slot, value: CExpr::Const(Const::Int(i)), .. } => {
                ctx.proc.vars[*slot as usize] = Stored::Int(*i);
                Flow::Next
            }
            OpKind::AddToVar { slot, n, .. } if matches!(ctx.proc.vars[*slot as usize], Stored::Int(_)) => {
                if let Stored::Int(i) = &mut ctx.proc.vars[*slot as usize] {
                    *i = i.wrapping_add(*n);
                }
                Flow::Next
            }
            _ => self.op_other(op, ctx),
        }
    }

    #[inline(never)]
    fn op_other(&mut self, op: &Op, ctx: &mut Ctx<'_>) -> Flow {
        match &op.kind {
            // handled by `op` (which never hands them over)
            OpKind::Call { .. } | OpKind::If { .. } => self.op(op, ctx),
            OpKind::Route(r) => match self.call_route(*r, ctx, op) {
                Ok(_) => Flow::Next,
                Err(f) => f,
            },
            OpKind::SetVar { slot, value, text } | OpKind::AddToVar { slot, value, text, .. } => {
                let slot = *slot as usize;
                if value.has_effects() {
                    match self.value(value, ctx, op) {
                        Ok(v) => set_slot(ctx, slot, &v),
                        Err(Ok(flow)) => return flow,
                        Err(Err(e)) => {
                            log::error!("{}: expression evaluation failed ({e:?}), {text} not assigned", op.at)
                        }
                    }
                    return Flow::Next;
                }
                let done = match eval(value, ctx) {
                    Ok(Value::Int(i)) => Ok(Some(i)),
                    Ok(Value::Null) => Ok(Some(0)),
                    Ok(Value::Str(s)) => {
                        self.scratch.clear();
                        self.scratch.extend_from_slice(&s);
                        Ok(None)
                    }
                    Err(e) => Err(e),
                };
                match done {
                    Ok(Some(i)) => ctx.proc.vars[slot] = Stored::Int(i),
                    Ok(None) => ctx.proc.vars[slot].set(&Value::str(&self.scratch)),
                    Err(e) => log::error!("{}: expression evaluation failed ({e:?}), {text} not assigned", op.at),
                }
                Flow::Next
            }
            OpKind::Assign { pv, value } if !value.has_effects() => {
                let copied = match eval(value, ctx) {
                    Ok(Value::Str(s)) => {
                        self.scratch.clear();
                        self.scratch.extend_from_slice(&s);
                        Ok(None)
                    }
                    Ok(v) => Ok(Some(v.into_owned())),
                    Err(e) => Err(e),
                };
                let result = match copied {
                    Ok(None) => pv.assign(ctx, &Value::str(&self.scratch)),
                    Ok(Some(v)) => pv.assign(ctx, &v),
                    Err(e) => {
                        log::error!("{}: expression evaluation failed ({e:?}), {} not assigned", op.at, pv.text);
                        Ok(())
                    }
                };
                if let Err(e) = result {
                    log::error!("{}: cannot assign {}: {e}", op.at, pv.text);
                }
                Flow::Next
            }
            OpKind::Assign { pv, value } => {
                let v = match self.value(value, ctx, op) {
                    Ok(v) => v,
                    Err(Ok(flow)) => return flow,
                    Err(Err(e)) => {
                        log::error!("{}: expression evaluation failed ({e:?}), {} not assigned", op.at, pv.text);
                        return Flow::Next;
                    }
                };
                if let Err(e) = pv.assign(ctx, &v) {
                    log::error!("{}: cannot assign {}: {e}", op.at, pv.text);
                }
                Flow::Next
            }
            OpKind::Switch { value, labels, default, body } => {
                let v = match self.value(value, ctx, op) {
                    Ok(v) => v,
                    Err(Ok(flow)) => return flow,
                    Err(Err(e)) => {
                        log::error!("{}: switch value evaluation failed ({e:?})", op.at);
                        return Flow::Next;
                    }
                };
                let start = labels
                    .iter()
                    .find(|(l, _)| match l {
                        CaseLabel::Int(i) => v.to_int() == *i && !matches!(v, Value::Str(_)),
                        CaseLabel::Str(s) => matches!(&v, Value::Str(x) if x.as_ref() == s.as_ref()),
                    })
                    .map(|(_, i)| *i)
                    .or(*default);
                match start {
                    Some(i) => match self.block(&body[i..], ctx) {
                        Flow::Break => Flow::Next,
                        f => f,
                    },
                    None => Flow::Next,
                }
            }
            OpKind::While { cond, body } => {
                let max = crate::cfgvars::max_while_loops(self.prog.core.max_while_loops);
                let mut n = 0u32;
                loop {
                    match self.test(cond, ctx, op) {
                        Ok(true) => {}
                        Ok(false) => return Flow::Next,
                        Err(f) => return f,
                    }
                    if max > 0 && n >= max {
                        log::error!("{}: runaway while: more than {max} loops (max_while_loops)", op.at);
                        return Flow::Next;
                    }
                    n += 1;
                    match self.block(body, ctx) {
                        Flow::Next => {}
                        Flow::Break => return Flow::Next,
                        f => return f,
                    }
                }
            }
            OpKind::Return(v) => {
                let code = match v {
                    None => 1,
                    Some(e) => match self.value(e, ctx, op) {
                        Ok(v) => v.to_int(),
                        Err(Ok(flow)) => return flow,
                        Err(Err(_)) => -1,
                    },
                };
                ctx.retcode = code;
                if code == 0 {
                    Flow::Exit
                } else {
                    Flow::Return(code)
                }
            }
            OpKind::Exit => Flow::Exit,
            OpKind::Drop => {
                ctx.dropped = true;
                Flow::Exit
            }
            OpKind::Break => Flow::Break,
            OpKind::Block(b) => self.block(b, ctx),
        }
    }

    /// Runs `route(X)`: its return code, or the flow that stops the
    /// script.
    fn call_route(&mut self, r: usize, ctx: &mut Ctx<'_>, at: &Op) -> Result<i64, Flow> {
        if self.depth >= MAX_DEPTH {
            log::error!("{}: too many nested route calls (more than {MAX_DEPTH})", at.at);
            ctx.retcode = -1;
            return Ok(-1);
        }
        self.depth += 1;
        let flow = self.block(&self.prog.routes[r].body, ctx);
        self.depth -= 1;
        match flow {
            Flow::Exit => Err(Flow::Exit),
            Flow::Return(n) => {
                ctx.retcode = n;
                Ok(n)
            }
            Flow::Next | Flow::Break => {
                ctx.retcode = 1;
                Ok(1)
            }
        }
    }

    /// A condition's truth.
    fn test(&mut self, e: &CExpr, ctx: &mut Ctx<'_>, at: &Op) -> Result<bool, Flow> {
        if !e.has_effects() {
            return match cond(e, ctx) {
                Ok(v) => Ok(v),
                Err(err) => {
                    log::error!("{}: expression evaluation failed ({err:?})", at.at);
                    Ok(false)
                }
            };
        }
        match e {
            CExpr::Bin(BinOp::And, a, b, _) => Ok(self.test(a, ctx, at)? && self.test(b, ctx, at)?),
            CExpr::Bin(BinOp::Or, a, b, _) => Ok(self.test(a, ctx, at)? || self.test(b, ctx, at)?),
            CExpr::Unary(UnOp::Not, a, _) => Ok(!self.test(a, ctx, at)?),
            CExpr::Call { f, params, core_action, .. } => {
                ctx.cfg_line = at.at.line;
                let code = f(ctx, params) as i64;
                ctx.retcode = if *core_action { 0 } else { code };
                if code == 0 {
                    return Err(Flow::Exit);
                }
                Ok(code > 0)
            }
            CExpr::Route(r) => Ok(self.call_route(*r, ctx, at)? > 0),
            e if !e.has_effects() => match cond(e, ctx) {
                Ok(v) => Ok(v),
                Err(err) => {
                    log::error!("{}: expression evaluation failed ({err:?})", at.at);
                    Ok(false)
                }
            },
            e => match self.value(e, ctx, at) {
                Ok(v) => Ok(v.truth()),
                Err(Ok(f)) => Err(f),
                Err(Err(err)) => {
                    log::error!("{}: expression evaluation failed ({err:?})", at.at);
                    Ok(false)
                }
            },
        }
    }

    /// An expression's value, detached from the context (so that it can
    /// be assigned into it). Calls and routes run here.
    fn value(&mut self, e: &CExpr, ctx: &mut Ctx<'_>, at: &Op) -> Result<Value<'static>, Result<Flow, EvalError>> {
        if !e.has_effects() {
            return eval(e, ctx).map(Value::into_owned).map_err(Err);
        }
        match e {
            CExpr::Call { .. }
            | CExpr::Route(_)
            | CExpr::Bin(BinOp::And | BinOp::Or, ..)
            | CExpr::Unary(UnOp::Not, ..) => {
                let code = match e {
                    CExpr::Call { f, params, core_action, .. } => {
                        let c = f(ctx, params) as i64;
                        ctx.retcode = if *core_action { 0 } else { c };
                        if c == 0 {
                            return Err(Ok(Flow::Exit));
                        }
                        c
                    }
                    CExpr::Route(r) => self.call_route(*r, ctx, at).map_err(Ok)?,
                    _ => i64::from(self.test(e, ctx, at).map_err(Ok)?),
                };
                Ok(Value::Int(code))
            }
            CExpr::Unary(op, a, _) => {
                let v = self.value(a, ctx, at)?;
                unary(*op, v).map(Value::into_owned).map_err(Err)
            }
            CExpr::Bin(op, a, b, _) => {
                let x = self.value(a, ctx, at)?;
                let y = self.value(b, ctx, at)?;
                binary(*op, x, y).map(Value::into_owned).map_err(Err)
            }
            CExpr::Regex { lhs, re, negate } => {
                let v = self.value(lhs, ctx, at)?;
                Ok(Value::Int(i64::from(re.is_match(&v.to_bytes()) != *negate)))
            }
            other => eval(other, ctx).map(Value::into_owned).map_err(Err),
        }
    }
}

/// Stores into a `$var` slot (`$null` stores 0, as Kamailio).
fn set_slot(ctx: &mut Ctx<'_>, slot: usize, v: &Value<'_>) {
    match v {
        Value::Null => ctx.proc.vars[slot] = Stored::Int(0),
        v => ctx.proc.vars[slot].set(v),
    }
}

/// A condition's truth without side effects: comparisons give a bool
/// directly (no intermediate value).
fn cond(e: &CExpr, ctx: &Ctx<'_>) -> Result<bool, EvalError> {
    match e {
        CExpr::Bin(op, a, b, _) => {
            let (x, y) = match op {
                BinOp::And => return Ok(cond(a, ctx)? && cond(b, ctx)?),
                BinOp::Or => return Ok(cond(a, ctx)? || cond(b, ctx)?),
                BinOp::Eq
                | BinOp::Ne
                | BinOp::Lt
                | BinOp::Gt
                | BinOp::Le
                | BinOp::Ge
                | BinOp::StrEq
                | BinOp::StrNe
                | BinOp::IntEq
                | BinOp::IntNe => (eval(a, ctx)?, eval(b, ctx)?),
                _ => return Ok(eval(e, ctx)?.truth()),
            };
            Ok(match op {
                BinOp::Eq => x.equals(&y),
                BinOp::Ne => !x.equals(&y),
                BinOp::StrEq => x.to_bytes() == y.to_bytes(),
                BinOp::StrNe => x.to_bytes() != y.to_bytes(),
                BinOp::IntEq => x.to_int() == y.to_int(),
                BinOp::IntNe => x.to_int() != y.to_int(),
                BinOp::Lt => x.to_int() < y.to_int(),
                BinOp::Gt => x.to_int() > y.to_int(),
                BinOp::Le => x.to_int() <= y.to_int(),
                _ => x.to_int() >= y.to_int(),
            })
        }
        CExpr::Unary(UnOp::Not, a, _) => Ok(!cond(a, ctx)?),
        CExpr::Regex { lhs, re, negate } => Ok(re.is_match(&eval(lhs, ctx)?.to_bytes()) != *negate),
        CExpr::Myself { elem, negate } => Ok(is_myself(*elem, ctx) != *negate),
        CExpr::MethodIs { name, negate } => Ok(method_is(name, ctx) != *negate),
        CExpr::IpIn { elem, net, negate } => {
            let ip = if *elem == Elem::SrcIp { ctx.rcv.src.ip() } else { ctx.rcv.dst.ip() };
            Ok(net.contains(ip) != *negate)
        }
        other => Ok(eval(other, ctx)?.truth()),
    }
}

/// Evaluates an expression without side effects. The common leaves are
/// handled here, in a small frame; the rest out of line.
#[inline]
fn eval<'c>(e: &'c CExpr, ctx: &'c Ctx<'_>) -> Result<Value<'c>, EvalError> {
    match e {
        CExpr::Const(Const::Int(i)) => Ok(Value::Int(*i)),
        CExpr::Const(Const::Str(s)) => Ok(Value::str(s)),
        CExpr::Var(slot) => Ok(ctx.proc.vars.get(*slot as usize).map_or(Value::Int(0), Stored::get)),
        CExpr::Pv(p) => Ok(p.value(ctx)),
        _ => eval_other(e, ctx),
    }
}

#[inline(never)]
fn eval_other<'c>(e: &'c CExpr, ctx: &'c Ctx<'_>) -> Result<Value<'c>, EvalError> {
    Ok(match e {
        CExpr::Const(c) => match c {
            Const::Null => Value::Null,
            Const::Int(i) => Value::Int(*i),
            Const::Str(s) => Value::str(s),
        },
        CExpr::Pv(p) => p.value(ctx),
        CExpr::Var(slot) => ctx.proc.vars.get(*slot as usize).map_or(Value::Int(0), Stored::get),
        CExpr::Elem(el) => elem_value(*el, ctx),
        CExpr::Unary(op, a, _) => return unary(*op, eval(a, ctx)?),
        CExpr::Bin(BinOp::And, a, b, _) => Value::Int(i64::from(eval(a, ctx)?.truth() && eval(b, ctx)?.truth())),
        CExpr::Bin(BinOp::Or, a, b, _) => Value::Int(i64::from(eval(a, ctx)?.truth() || eval(b, ctx)?.truth())),
        CExpr::Bin(op, a, b, _) => return binary(*op, eval(a, ctx)?, eval(b, ctx)?),
        CExpr::Regex { lhs, re, negate } => {
            let v = eval(lhs, ctx)?;
            Value::Int(i64::from(re.is_match(&v.to_bytes()) != *negate))
        }
        CExpr::Myself { elem, negate } => Value::Int(i64::from(is_myself(*elem, ctx) != *negate)),
        CExpr::IpIn { elem, net, negate } => {
            let ip = if *elem == Elem::SrcIp { ctx.rcv.src.ip() } else { ctx.rcv.dst.ip() };
            Value::Int(i64::from(net.contains(ip) != *negate))
        }
        CExpr::Defined(p) => Value::Int(i64::from(!p.value(ctx).is_null())),
        CExpr::MethodIs { name, negate } => Value::Int(i64::from(method_is(name, ctx) != *negate)),
        CExpr::SelVal(parts) => {
            let [c, a, b] = parts.as_ref();
            return if cond(c, ctx)? { eval(a, ctx) } else { eval(b, ctx) };
        }
        // not reached: callers route effectful expressions to Exec::value
        CExpr::Call { .. } | CExpr::Route(_) => Value::Null,
    })
}

impl CExpr {
    /// The value of an expression without side effects (function-call
    /// parameters of kind `Expr`); `$null` when it cannot be evaluated.
    pub fn eval<'c>(&'c self, ctx: &'c Ctx<'_>) -> Value<'c> {
        eval(self, ctx).unwrap_or(Value::Null)
    }
}

fn unary(op: UnOp, v: Value<'_>) -> Result<Value<'_>, EvalError> {
    Ok(match op {
        UnOp::Not => Value::Int(i64::from(!v.truth())),
        UnOp::Neg => Value::Int(v.to_int().wrapping_neg()),
        UnOp::BitNot => Value::Int(!v.to_int()),
        UnOp::StrLen => Value::Int(v.to_bytes().len() as i64),
        UnOp::StrEmpty => Value::Int(i64::from(v.to_bytes().is_empty())),
        UnOp::Defined => Value::Int(i64::from(!v.is_null())),
        UnOp::ToInt => Value::Int(v.to_int()),
        UnOp::ToStr => Value::string(v.to_bytes().into_owned()),
    })
}

fn binary<'a>(op: BinOp, a: Value<'a>, b: Value<'_>) -> Result<Value<'a>, EvalError> {
    let ints = |a: &Value<'_>, b: &Value<'_>| (a.to_int(), b.to_int());
    Ok(match op {
        BinOp::Add => match (&a, &b) {
            (Value::Int(x), Value::Int(y)) => Value::Int(x.wrapping_add(*y)),
            _ => a.plus(b),
        },
        BinOp::Sub => {
            let (x, y) = ints(&a, &b);
            Value::Int(x.wrapping_sub(y))
        }
        BinOp::Mul => {
            let (x, y) = ints(&a, &b);
            Value::Int(x.wrapping_mul(y))
        }
        BinOp::Div | BinOp::Mod => {
            let (x, y) = ints(&a, &b);
            if y == 0 {
                return Err(EvalError::DivByZero);
            }
            Value::Int(if op == BinOp::Div { x.wrapping_div(y) } else { x.wrapping_rem(y) })
        }
        BinOp::BitOr => Value::Int(a.to_int() | b.to_int()),
        BinOp::BitAnd => Value::Int(a.to_int() & b.to_int()),
        BinOp::BitXor => Value::Int(a.to_int() ^ b.to_int()),
        BinOp::Shl => Value::Int(a.to_int().wrapping_shl(b.to_int() as u32)),
        BinOp::Shr => Value::Int(a.to_int().wrapping_shr(b.to_int() as u32)),
        BinOp::Eq => Value::Int(i64::from(a.equals(&b))),
        BinOp::Ne => Value::Int(i64::from(!a.equals(&b))),
        BinOp::StrEq => Value::Int(i64::from(a.to_bytes() == b.to_bytes())),
        BinOp::StrNe => Value::Int(i64::from(a.to_bytes() != b.to_bytes())),
        BinOp::IntEq => Value::Int(i64::from(a.to_int() == b.to_int())),
        BinOp::IntNe => Value::Int(i64::from(a.to_int() != b.to_int())),
        BinOp::Lt => Value::Int(i64::from(a.to_int() < b.to_int())),
        BinOp::Gt => Value::Int(i64::from(a.to_int() > b.to_int())),
        BinOp::Le => Value::Int(i64::from(a.to_int() <= b.to_int())),
        BinOp::Ge => Value::Int(i64::from(a.to_int() >= b.to_int())),
        BinOp::And => Value::Int(i64::from(a.truth() && b.truth())),
        BinOp::Or => Value::Int(i64::from(a.truth() || b.truth())),
        BinOp::Match | BinOp::NoMatch => {
            // a regex only known at run time
            let re = compile_regex(&b.to_bytes(), true);
            let m = match re {
                Ok(re) => re.is_match(&a.to_bytes()),
                Err(e) => {
                    log::error!("bad regular expression at run time: {e}");
                    false
                }
            };
            Value::Int(i64::from(m != (op == BinOp::NoMatch)))
        }
    })
}

/// The value of a match-expression element.
fn elem_value<'c>(el: Elem, ctx: &'c Ctx<'_>) -> Value<'c> {
    let buf = ctx.msg.buf();
    match el {
        Elem::Uri => Value::opt_str(ctx.ruri()),
        Elem::FromUri => ctx.msg.from().map_or(Value::Null, |n| Value::str(n.uri_span.get(buf))),
        Elem::ToUri => ctx.msg.to().map_or(Value::Null, |n| Value::str(n.uri_span.get(buf))),
        Elem::Method => Value::opt_str(ctx.msg.method_text()),
        Elem::Status => ctx.msg.status().map_or(Value::Null, |s| Value::string(s.to_string().into_bytes())),
        Elem::SrcIp => Value::string(ctx.rcv.src.ip().to_string().into_bytes()),
        Elem::DstIp => Value::string(ctx.rcv.dst.ip().to_string().into_bytes()),
        Elem::SrcPort => Value::Int(ctx.rcv.src.port() as i64),
        Elem::DstPort => Value::Int(ctx.rcv.dst.port() as i64),
        Elem::Proto => Value::str(ctx.rcv.proto.name().as_bytes()),
        Elem::Af => Value::Int(if ctx.rcv.src.is_ipv4() { 4 } else { 6 }),
        Elem::MsgLen => Value::Int(buf.len() as i64),
    }
}

/// `method == "X"`, ignoring case (methods are written in capitals, and
/// so are the scripts' names for them: the byte compare first).
fn method_is(name: &[u8], ctx: &Ctx<'_>) -> bool {
    ctx.msg.method_text().is_some_and(|m| m == name || m.eq_ignore_ascii_case(name))
}

/// `elem == myself`.
fn is_myself(el: Elem, ctx: &Ctx<'_>) -> bool {
    let buf = ctx.msg.buf();
    let uri_text: Cow<'_, [u8]> = match el {
        Elem::Uri => {
            return match ctx.ruri_parsed() {
                Some((u, b)) => ctx.core.is_myself(u.host.get(b), u.port.unwrap_or(0)),
                None => false,
            }
        }
        Elem::FromUri => match ctx.msg.from() {
            Ok(n) => Cow::Borrowed(n.uri_span.get(buf)),
            Err(_) => return false,
        },
        Elem::ToUri => match ctx.msg.to() {
            Ok(n) => Cow::Borrowed(n.uri_span.get(buf)),
            Err(_) => return false,
        },
        Elem::SrcIp => return ctx.core.is_my_ip(ctx.rcv.src.ip()),
        Elem::DstIp => return ctx.core.is_my_ip(ctx.rcv.dst.ip()),
        _ => return false,
    };
    match Uri::parse(&uri_text, Span::new(0, uri_text.len())) {
        Ok(u) => ctx.core.is_myself(u.host.get(&uri_text), u.port.unwrap_or(0)),
        Err(_) => false,
    }
}
