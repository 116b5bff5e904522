//! Pseudo-variables: `$name`, `$name(arg)`, `$(name(arg)[index]{tr}...)`.
//!
//! A PV is resolved once, when the script is compiled, into a [`PvRef`]:
//! the getter and setter of its class (function pointers), its argument
//! pre-parsed ([`PvArg`]: a `$var` slot, an interned AVP id, a header
//! kind), its index and its transformations. Reading it per message is
//! one indirect call. Modules add classes to the [`PvRegistry`] (`$sht`,
//! `$T_*`, ...).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use super::ctx::{Ctx, Xavp};
use super::transform::Transform;
use super::value::{Stored, Value};
use crate::sip::{civil, HeaderKind, NameAddr, Span, Uri};

/// Reads a PV for the message in `ctx`.
pub type PvGet = for<'c, 'm> fn(&'c Ctx<'m>, &'c PvRef) -> Value<'c>;
/// Writes a PV; the error says why (logged with the cfg line).
pub type PvSet = for<'m> fn(&mut Ctx<'m>, &PvRef, &Value<'_>) -> Result<(), String>;
/// Pre-parses a PV's argument at compile time (the inner text of
/// `$name(...)`, `None` when written without parentheses); the registry
/// resolves PVs nested in it (`$sht(t=>$si)`).
pub type PvFixup = fn(Option<&str>, &PvRegistry, &mut Names) -> Result<PvArg, String>;

/// A PV class: one name (`ru`, `var`, `hdr`, `sht`...).
#[derive(Debug)]
pub struct PvClass {
    /// The name after `$`.
    pub name: &'static str,
    /// Parses the argument.
    pub fixup: PvFixup,
    /// Reads.
    pub get: PvGet,
    /// Writes, if writable.
    pub set: Option<PvSet>,
}

/// A PV's pre-parsed argument.
pub enum PvArg {
    /// No argument.
    None,
    /// A slot number (`$var`).
    Slot(u32),
    /// An interned name (`$avp`).
    Id(u32),
    /// A text argument (`$time(year)`, a module's name).
    Text(Box<[u8]>),
    /// A header: its kind and its name (for `Other`).
    Hdr(HeaderKind, Box<[u8]>),
    /// An xavp path `root[i]=>field[j]`.
    Xavp(Box<XavpPath>),
    /// A numbered thing (a module's table) and a key that may hold PVs
    /// (`$sht(name=>key)`).
    Keyed(u32, Box<Format>),
    /// Anything a module needs.
    Custom(Box<dyn std::any::Any + Send + Sync>),
}

impl fmt::Debug for PvArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PvArg::None => f.write_str("None"),
            PvArg::Slot(s) => write!(f, "Slot({s})"),
            PvArg::Id(s) => write!(f, "Id({s})"),
            PvArg::Text(t) => write!(f, "Text({:?})", String::from_utf8_lossy(t)),
            PvArg::Hdr(k, n) => write!(f, "Hdr({k:?}, {:?})", String::from_utf8_lossy(n)),
            PvArg::Xavp(p) => write!(f, "{p:?}"),
            PvArg::Keyed(i, k) => write!(f, "Keyed({i}, {k:?})"),
            PvArg::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// `root[i]=>field[j]` of `$xavp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XavpPath {
    /// Root name.
    pub root: Vec<u8>,
    /// Index of the root item, when written.
    pub root_idx: Option<usize>,
    /// Field name, when written.
    pub field: Option<Vec<u8>>,
    /// Index of the field value, when written.
    pub field_idx: Option<usize>,
}

/// `[n]`, `[*]` or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PvIndex {
    /// Not given: the first (newest) value.
    #[default]
    None,
    /// `[n]`; negative counts from the end (`[-1]` is the last).
    At(i32),
    /// `[*]`: all values.
    All,
}

/// A resolved PV.
pub struct PvRef {
    /// As written, for messages.
    pub text: Box<str>,
    /// The class's getter.
    pub get: PvGet,
    /// The class's setter.
    pub set: Option<PvSet>,
    /// Argument.
    pub arg: PvArg,
    /// Index.
    pub index: PvIndex,
    /// An index given by another PV (`[$var(i)]`), read per use; `index`
    /// is then unused.
    pub dyn_index: Option<Box<PvRef>>,
    /// Transformations, applied in order after reading.
    pub trans: Box<[Transform]>,
    /// Whether this is `$null`.
    pub is_null: bool,
    /// Whether this is `$var(...)` (the compiler reads it from its slot).
    pub is_var: bool,
}

impl fmt::Debug for PvRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pv({} {:?} {:?})", self.text, self.arg, self.index)
    }
}

impl PvRef {
    /// The index this use names: the constant one, or what the index PV
    /// reads now (`[$var(i)]`).
    #[inline]
    pub fn index_in(&self, ctx: &Ctx<'_>) -> PvIndex {
        match &self.dyn_index {
            None => self.index,
            Some(p) => PvIndex::At(i32::try_from(p.value(ctx).to_int()).unwrap_or(i32::MAX)),
        }
    }

    /// Reads the PV with its transformations.
    #[inline]
    pub fn value<'c>(&'c self, ctx: &'c Ctx<'_>) -> Value<'c> {
        if self.trans.is_empty() {
            (self.get)(ctx, self)
        } else {
            self.transformed(ctx)
        }
    }

    #[inline(never)]
    fn transformed<'c>(&'c self, ctx: &'c Ctx<'_>) -> Value<'c> {
        let mut v = (self.get)(ctx, self);
        for t in self.trans.iter() {
            v = t.apply(v, ctx);
        }
        v
    }

    /// Writes the PV (`$x = v`).
    pub fn assign(&self, ctx: &mut Ctx<'_>, v: &Value<'_>) -> Result<(), String> {
        match self.set {
            Some(set) => set(ctx, self, v),
            None => Err(format!("{} is read-only", self.text)),
        }
    }
}

/// Names the program uses, numbered at compile time so that nothing is
/// looked up by name per message.
#[derive(Debug, Default, Clone)]
pub struct Names {
    vars: HashMap<String, u32>,
    avps: HashMap<String, u32>,
    null_vars: HashMap<String, u32>,
    /// The cfg's `#!define`s (`$def(NAME)`).
    defines: HashMap<String, String>,
    /// The cfg's custom global parameters (`$ccp(group.name)`).
    custom: HashMap<String, Stored>,
}

impl Names {
    /// Names for a cfg with these defines.
    pub fn with_defines(d: &super::Defines) -> Names {
        Names { defines: d.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Names::default() }
    }

    /// Records a custom global parameter (`group.name = value`).
    pub fn set_custom(&mut self, name: &str, v: Stored) {
        self.custom.insert(name.to_string(), v);
    }

    /// A custom global parameter's value.
    pub fn custom(&self, name: &str) -> Option<&Stored> {
        self.custom.get(name)
    }

    /// A `#!define`'s value.
    pub fn define(&self, name: &str) -> Option<&str> {
        self.defines.get(name).map(String::as_str)
    }

    /// The slot of `$var(name)`.
    pub fn var_slot(&mut self, name: &str) -> u32 {
        let n = self.vars.len() as u32;
        *self.vars.entry(name.to_string()).or_insert(n)
    }

    /// The slot of `$vn(name)` (variables that can hold `$null`, apart
    /// from `$var`'s).
    pub fn vn_slot(&mut self, name: &str) -> u32 {
        let n = self.null_vars.len() as u32;
        *self.null_vars.entry(name.to_string()).or_insert(n)
    }

    /// How many `$var` slots the program needs.
    pub fn var_count(&self) -> usize {
        self.vars.len()
    }

    /// The id of AVP `name` (`s:x` and `x` are the same AVP; `i:1` is
    /// another namespace).
    pub fn avp_id(&mut self, name: &str) -> u32 {
        let key = name.strip_prefix("s:").unwrap_or(name);
        let n = self.avps.len() as u32;
        *self.avps.entry(key.to_string()).or_insert(n)
    }
}

/// The PV classes known to the compiler.
#[derive(Debug, Clone)]
pub struct PvRegistry {
    classes: HashMap<&'static str, &'static PvClass>,
}

impl Default for PvRegistry {
    fn default() -> Self {
        Self::core()
    }
}

impl PvRegistry {
    /// The core PVs.
    pub fn core() -> Self {
        let mut r = PvRegistry { classes: HashMap::new() };
        for c in CORE_PVS.iter().chain(super::pv_msg::MSG_PVS) {
            r.classes.insert(c.name, c);
        }
        r
    }

    /// Every class name (without `$`), sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.classes.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Adds a class; an existing name is an error naming it.
    pub fn register(&mut self, class: &'static PvClass) -> Result<(), String> {
        if self.classes.contains_key(class.name) {
            return Err(format!("pseudo-variable ${} registered twice", class.name));
        }
        self.classes.insert(class.name, class);
        Ok(())
    }

    /// Resolves PV text (`$...`, one PV, nothing after it).
    pub fn resolve(&self, text: &str, names: &mut Names) -> Result<PvRef, String> {
        let syn = PvSyntax::parse(text)?;
        let class = self.classes.get(syn.name.as_str()).ok_or_else(|| format!("unknown pseudo-variable '{text}'"))?;
        let arg = (class.fixup)(syn.inner.as_deref(), self, names)
            .map_err(|e| format!("bad pseudo-variable '{text}': {e}"))?;
        let mut dyn_index = None;
        let index = match syn.index.as_deref().map(str::trim) {
            None => PvIndex::None,
            Some("*") => PvIndex::All,
            // an index read from a PV per use (Kamailio's `[$var(i)]`)
            Some(i) if i.starts_with('$') => {
                dyn_index =
                    Some(Box::new(self.resolve(i, names).map_err(|e| format!("bad index [{i}] in '{text}': {e}"))?));
                PvIndex::None
            }
            Some(i) => PvIndex::At(i.parse().map_err(|_| format!("bad index [{i}] in '{text}'"))?),
        };
        let trans = syn
            .trans
            .iter()
            .map(|t| Transform::parse(t, self, names))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("bad transformation in '{text}': {e}"))?;
        Ok(PvRef {
            text: text.into(),
            get: class.get,
            set: class.set,
            arg,
            index,
            dyn_index,
            trans: trans.into(),
            is_null: class.name == "null",
            is_var: class.name == "var",
        })
    }
}

/// The parts of PV text, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvSyntax {
    /// Class name.
    pub name: String,
    /// Text inside `name(...)`.
    pub inner: Option<String>,
    /// Text inside `[...]`.
    pub index: Option<String>,
    /// Texts inside each `{...}`.
    pub trans: Vec<String>,
}

impl PvSyntax {
    /// Splits `$name`, `$name(inner)` or `$(name(inner)[index]{tr}...)`.
    pub fn parse(text: &str) -> Result<PvSyntax, String> {
        let body = text.strip_prefix('$').ok_or_else(|| format!("'{text}' is not a pseudo-variable"))?;
        let (body, wrapped) = match body.strip_prefix('(') {
            Some(b) => (b.strip_suffix(')').ok_or_else(|| format!("unbalanced '{text}'"))?, true),
            None => (body, false),
        };
        let b = body.as_bytes();
        let name_end = b.iter().position(|c| !(c.is_ascii_alphanumeric() || *c == b'_')).unwrap_or(b.len());
        if name_end == 0 {
            return Err(format!("missing name in '{text}'"));
        }
        let mut syn = PvSyntax { name: body[..name_end].to_string(), inner: None, index: None, trans: Vec::new() };
        let mut i = name_end;
        if b.get(i) == Some(&b'(') {
            let close = matching(b, i).ok_or_else(|| format!("unbalanced '(' in '{text}'"))?;
            syn.inner = Some(body[i + 1..close].to_string());
            i = close + 1;
        }
        if !wrapped && i != b.len() {
            return Err(format!("unexpected '{}' in '{text}'", &body[i..]));
        }
        if b.get(i) == Some(&b'[') {
            let close = matching(b, i).ok_or_else(|| format!("unbalanced '[' in '{text}'"))?;
            syn.index = Some(body[i + 1..close].to_string());
            i = close + 1;
        }
        while b.get(i) == Some(&b'{') {
            let close = matching(b, i).ok_or_else(|| format!("unbalanced '{{' in '{text}'"))?;
            syn.trans.push(body[i + 1..close].to_string());
            i = close + 1;
        }
        if i != b.len() {
            return Err(format!("unexpected '{}' in '{text}'", &body[i..]));
        }
        Ok(syn)
    }
}

/// Offset of the bracket matching `b[open]`.
fn matching(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// A string with PVs in it (`"$rm from $fu\n"`): xlog formats and
/// dynamic function parameters.
#[derive(Debug)]
pub struct Format {
    parts: Vec<FmtPart>,
}

#[derive(Debug)]
enum FmtPart {
    Lit(Vec<u8>),
    Pv(PvRef),
}

impl Format {
    /// Parses `text`; `$` not followed by a PV name is literal.
    pub fn parse(text: &[u8], reg: &PvRegistry, names: &mut Names) -> Result<Format, String> {
        let mut parts = Vec::new();
        let mut lit = Vec::new();
        let mut i = 0;
        while i < text.len() {
            let c = text[i];
            let starts_pv =
                c == b'$' && text.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic() || *n == b'_' || *n == b'(');
            if !starts_pv {
                lit.push(c);
                i += 1;
                continue;
            }
            let end = super::lex::pv_end(text, i)
                .ok_or_else(|| format!("unterminated pseudo-variable in \"{}\"", String::from_utf8_lossy(text)))?;
            let pv_text = std::str::from_utf8(&text[i..end]).map_err(|_| "pseudo-variable is not UTF-8".to_string())?;
            if !lit.is_empty() {
                parts.push(FmtPart::Lit(std::mem::take(&mut lit)));
            }
            parts.push(FmtPart::Pv(reg.resolve(pv_text, names)?));
            i = end;
        }
        if !lit.is_empty() {
            parts.push(FmtPart::Lit(lit));
        }
        Ok(Format { parts })
    }

    /// The text when there is no PV in it.
    pub fn as_literal(&self) -> Option<&[u8]> {
        match self.parts.as_slice() {
            [] => Some(b""),
            [FmtPart::Lit(l)] => Some(l),
            _ => None,
        }
    }

    /// Appends the formatted text to `out` (`$null` prints `<null>`).
    pub fn eval_into(&self, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
        for p in &self.parts {
            match p {
                FmtPart::Lit(l) => out.extend_from_slice(l),
                FmtPart::Pv(pv) => match pv.value(ctx) {
                    Value::Null => out.extend_from_slice(b"<null>"),
                    Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
                    Value::Str(s) => out.extend_from_slice(&s),
                },
            }
        }
    }

    /// The formatted text, borrowed when literal.
    pub fn eval<'c>(&'c self, ctx: &Ctx<'_>) -> Cow<'c, [u8]> {
        if let Some(l) = self.as_literal() {
            return Cow::Borrowed(l);
        }
        let mut out = Vec::new();
        self.eval_into(ctx, &mut out);
        Cow::Owned(out)
    }
}

// ---------------------------------------------------------------------
// Helpers for the core getters.

pub(super) fn no_arg(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    match inner {
        None => Ok(PvArg::None),
        Some(_) => Err("takes no argument".into()),
    }
}

pub(super) fn text_arg(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    match inner {
        Some(s) if !s.trim().is_empty() => Ok(PvArg::Text(s.trim().as_bytes().into())),
        _ => Err("needs a name in parentheses".into()),
    }
}

/// Parses a URI held in a byte string.
fn parse_uri(u: &[u8]) -> Option<Uri> {
    Uri::parse(u, Span::new(0, u.len())).ok()
}

fn ruri_part<'c>(ctx: &'c Ctx<'_>, part: fn(&Uri, &'c [u8]) -> Value<'c>) -> Value<'c> {
    match ctx.ruri_parsed() {
        Some((p, buf)) => part(p, buf),
        None => {
            if ctx.ruri().is_some() {
                ctx.pv_failed("the Request-URI does not parse");
                if let Some(c) = crate::stats::core() {
                    c.bad_uri();
                }
            }
            Value::Null
        }
    }
}

fn uri_user<'c>(u: &Uri, buf: &'c [u8]) -> Value<'c> {
    Value::opt_str(u.user.map(|s| s.get(buf)).filter(|s| !s.is_empty()))
}

fn uri_host<'c>(u: &Uri, buf: &'c [u8]) -> Value<'c> {
    Value::str(u.host.get(buf))
}

fn uri_port<'c>(u: &Uri, _: &'c [u8]) -> Value<'c> {
    u.port.map_or(Value::Null, |p| Value::Int(p as i64))
}

fn uri_scheme<'c>(u: &Uri, buf: &'c [u8]) -> Value<'c> {
    let w = u.whole.get(buf);
    Value::str(&w[..w.iter().position(|c| *c == b':').unwrap_or(0)])
}

fn name_addr<'c>(ctx: &'c Ctx<'_>, to: bool) -> Option<&'c NameAddr> {
    let r = if to { ctx.msg.to() } else { ctx.msg.from() };
    match r {
        Ok(na) => Some(na),
        Err(_) => {
            ctx.pv_failed(if to { "the To header does not parse" } else { "the From header does not parse" });
            None
        }
    }
}

macro_rules! addr_pv {
    ($fname:ident, $to:expr, |$na:ident, $buf:ident| $body:expr) => {
        fn $fname<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
            let $buf = ctx.msg.buf();
            match name_addr(ctx, $to) {
                Some($na) => $body,
                None => Value::Null,
            }
        }
    };
}

addr_pv!(get_fu, false, |na, buf| Value::str(na.uri_span.get(buf)));
addr_pv!(get_fuser, false, |na, buf| uri_user(&na.uri, buf));
addr_pv!(get_fd, false, |na, buf| uri_host(&na.uri, buf));
addr_pv!(get_fn, false, |na, buf| Value::opt_str(na.display.map(|d| d.get(buf))));
addr_pv!(get_ft, false, |na, buf| Value::opt_str(na.tag(buf)));
addr_pv!(get_tu, true, |na, buf| Value::str(na.uri_span.get(buf)));
addr_pv!(get_tuser, true, |na, buf| uri_user(&na.uri, buf));
addr_pv!(get_td, true, |na, buf| uri_host(&na.uri, buf));
addr_pv!(get_tn, true, |na, buf| Value::opt_str(na.display.map(|d| d.get(buf))));
addr_pv!(get_tt, true, |na, buf| Value::opt_str(na.tag(buf)));

fn get_ru<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::opt_str(ctx.ruri())
}
fn get_ruser<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    ruri_part(ctx, uri_user)
}
fn get_rd<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    ruri_part(ctx, uri_host)
}
fn get_rp<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    // Kamailio prints the default port when none is written
    match ruri_part(ctx, uri_port) {
        Value::Null if ctx.ruri().is_some() => Value::Int(5060),
        v => v,
    }
}
fn get_rz<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    ruri_part(ctx, uri_scheme)
}

/// Rewrites a part of the Request-URI (`$rU = ...`, `$rd = ...`).
fn rewrite_ruri(ctx: &mut Ctx<'_>, part: UriPart, v: &Value<'_>) -> Result<(), String> {
    let cur = ctx.ruri().ok_or("no Request-URI to rewrite")?.to_vec();
    let uri = parse_uri(&cur).ok_or("the Request-URI does not parse")?;
    let bytes = v.to_bytes();
    let new = rebuild_uri(&cur, &uri, part, if v.is_null() { None } else { Some(&bytes) });
    ctx.set_new_uri(Some(new));
    Ok(())
}

/// Which part of a URI to replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriPart {
    /// The user (`None` removes it with its `@`).
    User,
    /// The host.
    Host,
    /// The port (`None` removes it).
    Port,
    /// Host and port together (`host:port` text).
    HostPort,
    /// Host, port and the parameters (`host:port;transport=tcp`): what
    /// rewritehostporttrans replaces.
    HostPortParams,
    /// The password (`None` or empty removes it; without a user there is
    /// nothing to attach it to).
    Password,
}

/// `uri` with one part replaced (`None` = removed).
pub fn rebuild_uri(text: &[u8], uri: &Uri, part: UriPart, new: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 16);
    let host = uri.host;
    let port_end = match uri.port {
        Some(_) => {
            let after = &text[host.end()..];
            host.end() + 1 + after.iter().skip(1).take_while(|c| c.is_ascii_digit()).count()
        }
        None => host.end(),
    };
    match part {
        UriPart::User => {
            let user_start = match uri.user {
                Some(u) => u.off as usize,
                None => text.iter().position(|c| *c == b':').map_or(0, |p| p + 1),
            };
            out.extend_from_slice(&text[..user_start]);
            if let Some(n) = new.filter(|n| !n.is_empty()) {
                out.extend_from_slice(n);
                // keep the password, if any
                match uri.password {
                    Some(p) => {
                        out.extend_from_slice(&text[uri.user.map_or(p.off as usize, |u| u.end())..host.off as usize])
                    }
                    None => out.push(b'@'),
                }
            }
            out.extend_from_slice(&text[host.off as usize..]);
        }
        UriPart::Host => {
            out.extend_from_slice(&text[..host.off as usize]);
            out.extend_from_slice(new.unwrap_or(b""));
            out.extend_from_slice(&text[host.end()..]);
        }
        UriPart::Port => {
            out.extend_from_slice(&text[..host.end()]);
            // `$rp = 0` writes ":0", as Kamailio; only $null / "" remove it
            if let Some(n) = new.filter(|n| !n.is_empty()) {
                out.push(b':');
                out.extend_from_slice(n);
            }
            out.extend_from_slice(&text[port_end..]);
        }
        UriPart::HostPort => {
            out.extend_from_slice(&text[..host.off as usize]);
            out.extend_from_slice(new.unwrap_or(b""));
            out.extend_from_slice(&text[port_end..]);
        }
        UriPart::HostPortParams => {
            // the ?headers stay
            let params_end = uri.headers.map_or(text.len(), |h| h.off as usize - 1);
            out.extend_from_slice(&text[..host.off as usize]);
            out.extend_from_slice(new.unwrap_or(b""));
            out.extend_from_slice(&text[params_end..]);
        }
        UriPart::Password => match uri.user {
            None => out.extend_from_slice(text),
            Some(u) => {
                out.extend_from_slice(&text[..u.end()]);
                if let Some(n) = new.filter(|n| !n.is_empty()) {
                    out.push(b':');
                    out.extend_from_slice(n);
                }
                out.extend_from_slice(&text[host.off as usize - 1..]);
            }
        },
    }
    out
}

fn set_ru(ctx: &mut Ctx<'_>, _: &PvRef, v: &Value<'_>) -> Result<(), String> {
    match v {
        Value::Null => Err("cannot set the Request-URI to $null".into()),
        v => {
            let b = v.to_bytes();
            parse_uri(&b).ok_or_else(|| format!("invalid URI '{}'", String::from_utf8_lossy(&b)))?;
            ctx.set_new_uri(Some(b.into_owned()));
            Ok(())
        }
    }
}
fn set_ruser(ctx: &mut Ctx<'_>, _: &PvRef, v: &Value<'_>) -> Result<(), String> {
    rewrite_ruri(ctx, UriPart::User, v)
}
fn set_rd(ctx: &mut Ctx<'_>, _: &PvRef, v: &Value<'_>) -> Result<(), String> {
    rewrite_ruri(ctx, UriPart::Host, v)
}
fn set_rp(ctx: &mut Ctx<'_>, _: &PvRef, v: &Value<'_>) -> Result<(), String> {
    rewrite_ruri(ctx, UriPart::Port, v)
}

fn get_du<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::opt_str(ctx.dst_uri.as_deref())
}
fn set_du(ctx: &mut Ctx<'_>, _: &PvRef, v: &Value<'_>) -> Result<(), String> {
    ctx.dst_uri = match v {
        Value::Null => None,
        v => {
            let b = v.to_bytes();
            if b.is_empty() {
                None
            } else {
                parse_uri(&b).ok_or_else(|| format!("invalid URI '{}'", String::from_utf8_lossy(&b)))?;
                Some(b.into_owned())
            }
        }
    };
    Ok(())
}

fn get_ci<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    ctx.msg.call_id().map_or_else(
        |_| {
            ctx.pv_failed("the Call-ID header is missing or bad");
            Value::Null
        },
        Value::str,
    )
}
fn get_cs<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    // the number's text, a string as Kamailio's $cs (`$cs + 1` concatenates)
    ctx.msg.cseq_tokens().map_or_else(
        |_| {
            ctx.pv_failed("the CSeq header is missing or bad");
            Value::Null
        },
        |(n, _)| Value::str(n),
    )
}
fn get_rm<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::opt_str(ctx.msg.method_text())
}
fn get_rs<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    ctx.msg.status().map_or(Value::Null, |s| Value::Int(s as i64))
}
fn get_rr<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    match ctx.msg.first_line() {
        crate::sip::FirstLine::Reply { reason, .. } => Value::str(reason.get(ctx.msg.buf())),
        _ => Value::Null,
    }
}
fn get_si<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::string(ctx.rcv.src.ip().to_string().into_bytes())
}
fn get_sp<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(ctx.rcv.src.port() as i64)
}
fn get_ri<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::string(ctx.rcv.dst.ip().to_string().into_bytes())
}
fn get_rport<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(ctx.rcv.dst.port() as i64)
}
fn get_pr<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::str(ctx.rcv.proto.name().as_bytes())
}

fn hdr_value<'c>(ctx: &'c Ctx<'_>, kind: HeaderKind) -> Value<'c> {
    Value::opt_str(ctx.msg.header_value(kind))
}
fn get_ua<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    hdr_value(ctx, HeaderKind::UserAgent)
}
fn get_ct<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    hdr_value(ctx, HeaderKind::Contact)
}
fn get_ctype<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    hdr_value(ctx, HeaderKind::ContentType)
}
fn get_ml<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(ctx.msg.buf().len() as i64)
}
fn get_mb<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::str(ctx.msg.buf())
}
fn get_rb<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    // an empty body is an empty string, not $null (Kamailio's, measured)
    Value::str(ctx.msg.body())
}
/// `$cl`: the Content-Length header's value; `$null` without one.
fn get_cl<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    match ctx.msg.content_length() {
        Some(n) => Value::Int(n as i64),
        None => Value::Null,
    }
}
fn get_bs<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(ctx.msg.body().len() as i64)
}

fn hdr_fixup(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    let name = inner.map(str::trim).filter(|s| !s.is_empty()).ok_or("needs a header name")?;
    if !name.bytes().all(|c| c.is_ascii_graphic() && c != b':') {
        return Err(format!("bad header name '{name}'"));
    }
    Ok(PvArg::Hdr(HeaderKind::from_name(name.as_bytes()), name.as_bytes().into()))
}

fn matching_headers<'c>(ctx: &'c Ctx<'_>, pv: &PvRef) -> impl DoubleEndedIterator<Item = &'c [u8]> + 'c {
    let (kind, name): (HeaderKind, &[u8]) = match &pv.arg {
        PvArg::Hdr(k, n) => (*k, n),
        _ => (HeaderKind::Other, b""),
    };
    let name: Box<[u8]> = name.into();
    let buf = ctx.msg.buf();
    ctx.msg
        .headers()
        .iter()
        .filter(move |h| {
            if kind == HeaderKind::Other {
                h.kind == HeaderKind::Other && h.name.get(buf).eq_ignore_ascii_case(&name)
            } else {
                h.kind == kind
            }
        })
        .map(move |h| h.value.get(buf))
}

fn get_hdr<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    match pv.index_in(ctx) {
        PvIndex::None | PvIndex::At(0) => Value::opt_str(matching_headers(ctx, pv).next()),
        PvIndex::At(i) if i > 0 => Value::opt_str(matching_headers(ctx, pv).nth(i as usize)),
        PvIndex::At(i) => Value::opt_str(matching_headers(ctx, pv).rev().nth((-i - 1) as usize)),
        PvIndex::All => {
            let all: Vec<&[u8]> = matching_headers(ctx, pv).collect();
            if all.is_empty() {
                Value::Null
            } else {
                Value::string(all.join(&b","[..]))
            }
        }
    }
}
fn get_hdrc<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    Value::Int(matching_headers(ctx, pv).count() as i64)
}

pub(super) fn var_fixup(inner: Option<&str>, _: &PvRegistry, names: &mut Names) -> Result<PvArg, String> {
    let name = inner.map(str::trim).filter(|s| !s.is_empty()).ok_or("needs a name")?;
    Ok(PvArg::Slot(names.var_slot(name)))
}
pub(super) fn get_var<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    match pv.arg {
        PvArg::Slot(s) => ctx.proc.vars.get(s as usize).map_or(Value::Int(0), Stored::get),
        _ => Value::Null,
    }
}
pub(super) fn set_var(ctx: &mut Ctx<'_>, pv: &PvRef, v: &Value<'_>) -> Result<(), String> {
    let PvArg::Slot(s) = pv.arg else { return Err("bad $var".into()) };
    let s = s as usize;
    if ctx.proc.vars.len() <= s {
        ctx.proc.vars.resize(s + 1, Stored::default());
    }
    // `$var(x) = $null` stores int 0, as Kamailio
    match v {
        Value::Null => ctx.proc.vars[s] = Stored::Int(0),
        v => ctx.proc.vars[s].set(v),
    }
    Ok(())
}

fn avp_fixup(inner: Option<&str>, _: &PvRegistry, names: &mut Names) -> Result<PvArg, String> {
    let name = inner.map(str::trim).filter(|s| !s.is_empty()).ok_or("needs a name")?;
    if let Some(n) = name.strip_prefix("i:") {
        n.parse::<u32>().map_err(|_| format!("bad integer AVP name '{name}'"))?;
    }
    Ok(PvArg::Id(names.avp_id(name)))
}
fn get_avp<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let PvArg::Id(id) = pv.arg else { return Value::Null };
    match pv.index_in(ctx) {
        PvIndex::None => ctx.avp(id, 0).map_or(Value::Null, Stored::get),
        PvIndex::At(i) if i >= 0 => ctx.avp(id, i as usize).map_or(Value::Null, Stored::get),
        PvIndex::At(_) => Value::Null,
        PvIndex::All => {
            let all: Vec<Vec<u8>> =
                ctx.avps.iter().rev().filter(|a| a.name == id).map(|a| a.value.get().to_bytes().into_owned()).collect();
            if all.is_empty() {
                Value::Null
            } else {
                Value::string(all.join(&b","[..]))
            }
        }
    }
}
fn set_avp(ctx: &mut Ctx<'_>, pv: &PvRef, v: &Value<'_>) -> Result<(), String> {
    let PvArg::Id(id) = pv.arg else { return Err("bad $avp".into()) };
    let all = pv.index_in(ctx) == PvIndex::All;
    if v.is_null() {
        ctx.remove_avp(id, all);
        return Ok(());
    }
    if all {
        ctx.remove_avp(id, true);
    }
    ctx.add_avp(id, v);
    Ok(())
}

/// Parses `root[i]=>field[j]`.
fn xavp_fixup(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    let inner = inner.map(str::trim).filter(|s| !s.is_empty()).ok_or("needs a name")?;
    fn name_idx(s: &str) -> Result<(Vec<u8>, Option<usize>), String> {
        let s = s.trim();
        match s.split_once('[') {
            Some((n, rest)) => {
                let i = rest.strip_suffix(']').ok_or("unbalanced '['")?;
                Ok((n.as_bytes().to_vec(), Some(i.parse().map_err(|_| format!("bad index [{i}]"))?)))
            }
            None => Ok((s.as_bytes().to_vec(), None)),
        }
    }
    let (root, field) = match inner.split_once("=>") {
        Some((r, f)) => (r, Some(f)),
        None => (inner, None),
    };
    let (root, root_idx) = name_idx(root)?;
    let (field, field_idx) = match field {
        Some(f) => {
            let (f, i) = name_idx(f)?;
            (Some(f), i)
        }
        None => (None, None),
    };
    Ok(PvArg::Xavp(Box::new(XavpPath { root, root_idx, field, field_idx })))
}
fn get_xavp<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let PvArg::Xavp(p) = &pv.arg else { return Value::Null };
    let Some(item) = ctx.xavps.iter().rev().filter(|x| x.name == p.root).nth(p.root_idx.unwrap_or(0)) else {
        return Value::Null;
    };
    match &p.field {
        None => Value::string(format!("<<xavp:{:p}>>", item).into_bytes()),
        Some(f) => item
            .fields
            .iter()
            .rev()
            .filter(|(n, _)| n == f)
            .nth(p.field_idx.unwrap_or(0))
            .map_or(Value::Null, |(_, v)| v.get()),
    }
}
fn set_xavp(ctx: &mut Ctx<'_>, pv: &PvRef, v: &Value<'_>) -> Result<(), String> {
    let PvArg::Xavp(p) = &pv.arg else { return Err("bad $xavp".into()) };
    let Some(field) = &p.field else {
        // `$xavp(root) = $null` removes the newest root item
        if v.is_null() {
            if let Some(i) = ctx.xavps.iter().rposition(|x| x.name == p.root) {
                ctx.xavps.remove(i);
            }
            return Ok(());
        }
        return Err("assigning to an xavp needs a field (root=>field)".into());
    };
    match p.root_idx {
        // no root index: a new root item with this field (Kamailio)
        None => {
            if !v.is_null() {
                ctx.xavps.push(Xavp { name: p.root.clone(), fields: vec![(field.clone(), Stored::from_value(v))] });
            }
        }
        Some(ri) => {
            let Some(pos) =
                ctx.xavps.iter().enumerate().rev().filter(|(_, x)| x.name == p.root).nth(ri).map(|(i, _)| i)
            else {
                return Err(format!("no xavp {}[{ri}]", String::from_utf8_lossy(&p.root)));
            };
            let item = &mut ctx.xavps[pos];
            if v.is_null() {
                if let Some(i) = item.fields.iter().rposition(|(n, _)| n == field) {
                    item.fields.remove(i);
                }
            } else {
                item.fields.push((field.clone(), Stored::from_value(v)));
            }
        }
    }
    Ok(())
}

fn time_fixup(inner: Option<&str>, reg: &PvRegistry, names: &mut Names) -> Result<PvArg, String> {
    let arg = text_arg(inner, reg, names)?;
    if let PvArg::Text(t) = &arg {
        const KNOWN: &[&str] = &["sec", "min", "hour", "mday", "mon", "year", "wday", "yday", "isdst"];
        if !KNOWN.iter().any(|k| k.as_bytes() == &t[..]) {
            return Err(format!("unknown $time field '{}'", String::from_utf8_lossy(t)));
        }
    }
    Ok(arg)
}

/// `$stat(name)`: a statistic's value by its own name (`rcv_requests`,
/// `200_replies`; not `group:name`, as Kamailio), `$null` when there is
/// none.
fn get_stat<'c>(_: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let PvArg::Text(name) = &pv.arg else { return Value::Null };
    std::str::from_utf8(name).ok().and_then(crate::stats::value_by_name).map_or(Value::Null, |v| Value::Int(v as i64))
}

/// `$time(field)` (UTC: sipr keeps timezone handling out of the core).
fn get_time<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let PvArg::Text(f) = &pv.arg else { return Value::Null };
    let t = ctx.started();
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    let yday = days - crate::sip::days_from_civil(y, 1, 1);
    Value::Int(match &f[..] {
        b"sec" => secs % 60,
        b"min" => secs / 60 % 60,
        b"hour" => secs / 3600,
        b"mday" => d as i64,
        b"mon" => m as i64,
        b"year" => y,
        b"wday" => (days + 4).rem_euclid(7) + 1,
        b"yday" => yday + 1,
        _ => 0,
    })
}
fn get_ts<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(ctx.started())
}
fn get_ts_now<'c>(_: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64))
}
fn get_pp<'c>(_: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(std::process::id() as i64)
}
fn get_rc<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(ctx.retcode)
}
fn get_null<'c>(_: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Null
}

/// The first Authorization or Proxy-Authorization digest parameter.
fn auth_param<'c>(ctx: &'c Ctx<'_>, name: &str) -> Option<&'c [u8]> {
    let buf = ctx.msg.buf();
    ctx.msg
        .headers()
        .iter()
        .filter(|h| matches!(h.kind, HeaderKind::Authorization | HeaderKind::ProxyAuthorization))
        .find_map(|h| crate::sip::AuthParams::parse(buf, h.value).ok().and_then(|a| a.get(buf, name)))
}
fn get_au<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    let u = auth_param(ctx, "username");
    Value::opt_str(u.map(|u| u.split(|c| *c == b'@').next().unwrap_or(u)))
}
fn get_ad<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    match auth_param(ctx, "username").and_then(|u| u.iter().position(|c| *c == b'@').map(|p| &u[p + 1..])) {
        Some(d) => Value::str(d),
        None => Value::opt_str(auth_param(ctx, "realm")),
    }
}
fn get_ar<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::opt_str(auth_param(ctx, "realm"))
}

fn get_br<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::opt_str(ctx.branches.first().map(|b| &b.uri[..]))
}
fn set_br(ctx: &mut Ctx<'_>, _: &PvRef, v: &Value<'_>) -> Result<(), String> {
    if v.is_null() {
        ctx.branches.clear();
        return Ok(());
    }
    let uri = v.to_bytes().into_owned();
    match ctx.branches.first_mut() {
        Some(b) => b.uri = uri,
        None => ctx.branches.push(super::ctx::Branch { uri, ..Default::default() }),
    }
    Ok(())
}
/// `$bR`: every extra branch as a Contact element (`<uri>;q=0.5`, or the
/// bare URI), joined by ", " as Kamailio prints them.
fn get_all_branches<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    super::pv_msg::all_branches(ctx).map_or(Value::Null, Value::string)
}
fn get_fs<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    match &ctx.send_socket {
        Some((p, h, port)) => Value::string(format!("{p}:{h}:{port}").into_bytes()),
        None => Value::Null,
    }
}
fn set_fs(ctx: &mut Ctx<'_>, _: &PvRef, v: &Value<'_>) -> Result<(), String> {
    if v.is_null() {
        ctx.send_socket = None;
        return Ok(());
    }
    let text = String::from_utf8_lossy(&v.to_bytes()).into_owned();
    ctx.send_socket = Some(parse_socket(&text).ok_or_else(|| format!("bad socket '{text}' (proto:addr:port)"))?);
    Ok(())
}

/// Parses `proto:host:port` (also `proto:host`, `host:port`, `host`).
pub fn parse_socket(s: &str) -> Option<(crate::net::Proto, String, u16)> {
    use crate::net::Proto;
    let (proto, rest) = match s.split_once(':') {
        Some((p, r)) if Proto::from_name(p).is_some() => (Proto::from_name(p)?, r),
        _ => (Proto::Udp, s),
    };
    let (host, port) = if rest.starts_with('[') {
        let close = rest.find(']')?;
        let port = rest[close + 1..].strip_prefix(':').map(str::parse).transpose().ok()?;
        (&rest[..=close], port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse().ok()?)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some((proto, host.to_string(), port.unwrap_or(proto.default_port())))
}

fn get_mf<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(ctx.flags as i64)
}
fn set_mf(ctx: &mut Ctx<'_>, _: &PvRef, v: &Value<'_>) -> Result<(), String> {
    ctx.flags = v.to_int() as u64;
    Ok(())
}

/// A core PV class: its pieces run inside panic guards of the core binary
/// (a module's copy of the core calls them through these pointers).
macro_rules! pv {
    ($name:literal, $get:path) => {
        $crate::guarded_pv_class!($name, no_arg, $get)
    };
    ($name:literal, $get:path, $set:path) => {
        $crate::guarded_pv_class!($name, no_arg, $get, $set)
    };
    ($name:literal, fixup $fix:path, $get:path) => {
        $crate::guarded_pv_class!($name, $fix, $get)
    };
    ($name:literal, fixup $fix:path, $get:path, $set:path) => {
        $crate::guarded_pv_class!($name, $fix, $get, $set)
    };
}

static CORE_PVS: &[PvClass] = &[
    pv!("ru", get_ru, set_ru),
    pv!("rU", get_ruser, set_ruser),
    pv!("rd", get_rd, set_rd),
    pv!("rp", get_rp, set_rp),
    pv!("rz", get_rz),
    pv!("du", get_du, set_du),
    pv!("fu", get_fu),
    pv!("fU", get_fuser),
    pv!("fd", get_fd),
    pv!("fn", get_fn),
    pv!("ft", get_ft),
    pv!("tu", get_tu),
    pv!("tU", get_tuser),
    pv!("td", get_td),
    pv!("tn", get_tn),
    pv!("tt", get_tt),
    pv!("ci", get_ci),
    pv!("cs", get_cs),
    pv!("rm", get_rm),
    pv!("rs", get_rs),
    pv!("rr", get_rr),
    pv!("si", get_si),
    pv!("sp", get_sp),
    pv!("Ri", get_ri),
    pv!("Rp", get_rport),
    pv!("pr", get_pr),
    pv!("proto", get_pr),
    pv!("ua", get_ua),
    pv!("ct", get_ct),
    pv!("cT", get_ctype),
    pv!("ml", get_ml),
    pv!("mb", get_mb),
    pv!("rb", get_rb),
    pv!("bs", get_bs),
    pv!("cl", get_cl),
    pv!("hdr", fixup hdr_fixup, get_hdr),
    pv!("hdrc", fixup hdr_fixup, get_hdrc),
    pv!("var", fixup var_fixup, get_var, set_var),
    pv!("avp", fixup avp_fixup, get_avp, set_avp),
    pv!("xavp", fixup xavp_fixup, get_xavp, set_xavp),
    pv!("time", fixup time_fixup, get_time),
    pv!("utime", fixup time_fixup, get_time),
    pv!("stat", fixup text_arg, get_stat),
    pv!("Ts", get_ts),
    pv!("TS", get_ts_now),
    pv!("pp", get_pp),
    pv!("retcode", get_rc),
    pv!("rc", get_rc),
    pv!("null", get_null),
    pv!("au", get_au),
    pv!("ad", get_ad),
    pv!("ar", get_ar),
    pv!("br", get_br, set_br),
    pv!("bR", get_all_branches),
    pv!("fs", get_fs, set_fs),
    pv!("mf", get_mf, set_mf),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax() {
        let s = PvSyntax::parse("$(avp(x)[1]{s.len}{s.int})").unwrap();
        assert_eq!(s.name, "avp");
        assert_eq!(s.inner.as_deref(), Some("x"));
        assert_eq!(s.index.as_deref(), Some("1"));
        assert_eq!(s.trans, vec!["s.len", "s.int"]);
        assert_eq!(PvSyntax::parse("$sht(a=>$si)").unwrap().inner.as_deref(), Some("a=>$si"));
        assert!(PvSyntax::parse("$var(x)junk").is_err());
    }

    #[test]
    fn rebuild() {
        let t = b"sip:alice@example.com:5070;transport=tcp";
        let u = parse_uri(t).unwrap();
        assert_eq!(rebuild_uri(t, &u, UriPart::User, Some(b"bob")), b"sip:bob@example.com:5070;transport=tcp");
        assert_eq!(rebuild_uri(t, &u, UriPart::User, None), b"sip:example.com:5070;transport=tcp");
        assert_eq!(rebuild_uri(t, &u, UriPart::Host, Some(b"h")), b"sip:alice@h:5070;transport=tcp");
        assert_eq!(rebuild_uri(t, &u, UriPart::Port, None), b"sip:alice@example.com;transport=tcp");
        assert_eq!(rebuild_uri(t, &u, UriPart::Port, Some(b"0")), b"sip:alice@example.com:0;transport=tcp");
        assert_eq!(rebuild_uri(t, &u, UriPart::HostPort, Some(b"h:1")), b"sip:alice@h:1;transport=tcp");
        let t = b"sip:example.com";
        let u = parse_uri(t).unwrap();
        assert_eq!(rebuild_uri(t, &u, UriPart::User, Some(b"x")), b"sip:x@example.com");
        assert_eq!(rebuild_uri(t, &u, UriPart::Port, Some(b"5080")), b"sip:example.com:5080");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_723), (2024, 1, 1));
    }
}
