//! pv: pseudo-variable functions (Kamailio's pv module). The PVs
//! themselves (`$ru`, `$var`, `$avp`, `$xavp`, `$shv`, `$hdr`, ...) are the
//! core's (sipr-core `cfg`), registered whether or not this module is
//! loaded; loading it gives the functions:
//!
//! `pv_isset(pv)`, `pv_unset(pv)`, `is_int(pv)`, `typeof(pv, "int"|"str"|
//! "null")`, `not_empty(pv)`, `xavp_child_seti`/`xavp_child_sets`,
//! `xavp_rm`, `xavp_child_rm`, `xavp_params_explode`/`xavp_params_implode`,
//! and the shared variables `$shv(name)` — in
//! shm, one value for every process (unset reads 0, as Kamailio) — with
//! their initial values from `modparam("pv", "shvset", "name=i:1")` /
//! `"name=s:text"`; the RPC commands `pv.shvGet [name]` and
//! `pv.shvSet name int|str value` read and write them.

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use std::sync::{Mutex, OnceLock};

use sipr_sdk::prelude::*;
use sipr_sdk::{KvValue, Names, PvArg, PvRef, PvRegistry, RpcError, RpcValue, ShmKvTable, Stored, Xavp};

/// `shvset` values, kept until mod_init writes them into the table.
static SHVSET: Mutex<Vec<(String, KvOwned)>> = Mutex::new(Vec::new());

#[derive(Debug, Clone)]
enum KvOwned {
    Int(i64),
    Str(String),
}

/// The shared variables, in shm (created in mod_init, before the fork).
static SHV: OnceLock<ShmKvTable<'static>> = OnceLock::new();

/// The names of the shared variables, in declaration order: by `shvset`
/// and by each `$shv(name)` the cfg uses (fixups run before the fork, so
/// every process has the whole list). pv.shvGet / pv.shvSet know only
/// these, as Kamailio.
static DECLARED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn declare(name: &str) -> Result<(), String> {
    let mut d = DECLARED.lock().map_err(|_| "poisoned")?;
    if !d.iter().any(|n| n == name) {
        d.push(name.to_string());
    }
    Ok(())
}

fn declared(name: &str) -> bool {
    DECLARED.lock().is_ok_and(|d| d.iter().any(|n| n == name))
}

fn set_shvset(v: &ModValue) -> Result<(), String> {
    let ModValue::Str(s) = v else { return Err("shvset takes \"name=i:number\" or \"name=s:text\"".into()) };
    let (name, val) = s.split_once('=').ok_or("expected name=i:number or name=s:text")?;
    let val = match val.split_once(':') {
        Some(("i", n)) => KvOwned::Int(n.trim().parse().map_err(|_| format!("'{n}' is not a number"))?),
        Some(("s", t)) => KvOwned::Str(t.to_string()),
        _ => return Err("expected name=i:number or name=s:text".into()),
    };
    declare(name.trim())?;
    SHVSET.lock().map_err(|_| "poisoned")?.push((name.trim().to_string(), val));
    Ok(())
}

fn mod_init() -> Result<(), String> {
    let pool = sipr_sdk::shm_pool().ok_or("no shared memory pool for $shv")?;
    let table = ShmKvTable::new_in(pool, 64, 16, "shv").ok_or("no shared memory for $shv")?;
    for (name, v) in SHVSET.lock().map_err(|_| "poisoned")?.iter() {
        let r = match v {
            KvOwned::Int(i) => table.set(name.as_bytes(), KvValue::Int(*i), 0),
            KvOwned::Str(s) => table.set(name.as_bytes(), KvValue::Str(s.as_bytes()), 0),
        };
        r.map_err(|e| e.to_string())?;
    }
    let _ = SHV.set(table);
    Ok(())
}

fn shv_fixup(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    match inner.map(str::trim) {
        Some(n) if !n.is_empty() => {
            declare(n)?;
            Ok(PvArg::Text(n.as_bytes().into()))
        }
        _ => Err("needs a name".into()),
    }
}

// ---------------------------------------------------------------------
// RPC commands: pv.shvGet, pv.shvSet (Kamailio's answers and messages)

fn shv_item(name: &str) -> RpcValue {
    let value = SHV
        .get()
        .and_then(|t| {
            t.get(name.as_bytes(), 0, |v, _| match v {
                KvValue::Int(i) => (RpcValue::Int(i), "int"),
                KvValue::Str(s) => (RpcValue::Str(String::from_utf8_lossy(s).into_owned()), "string"),
            })
        })
        .unwrap_or((RpcValue::Int(0), "int"));
    RpcValue::Struct(vec![
        ("name".into(), RpcValue::Str(name.into())),
        ("type".into(), RpcValue::Str(value.1.into())),
        ("value".into(), value.0),
    ])
}

/// One variable, or (no name) every declared one, newest first, each
/// under the key "shv" as Kamailio lists them.
fn rpc_shv_get(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let Some(name) = params.first().and_then(RpcValue::as_text) else {
        let names = DECLARED.lock().map(|d| d.clone()).unwrap_or_default();
        let items = names.iter().rev().map(|n| ("shv".to_string(), shv_item(n))).collect();
        return Ok(RpcValue::Struct(vec![("items".into(), RpcValue::Struct(items))]));
    };
    if !declared(&name) {
        return Err(RpcError::new(404, "Variable not found"));
    }
    Ok(shv_item(&name))
}

fn rpc_shv_set(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let missing = |what: &str| RpcError::new(500, format!("Missing parameter {what} (Parameters: varname type value)"));
    let name = params.first().and_then(RpcValue::as_text).ok_or_else(|| missing("varname"))?;
    let ty = params.get(1).and_then(RpcValue::as_text).ok_or_else(|| missing("type"))?;
    let value = params.get(2).ok_or_else(|| {
        if ty.eq_ignore_ascii_case("int") {
            RpcError::new(500, "Missing integer parameter value (Parameters: varname type value)")
        } else {
            missing("value")
        }
    })?;
    if !declared(&name) {
        return Err(RpcError::new(404, "Variable not found"));
    }
    let t = SHV.get().ok_or_else(|| RpcError::new(500, "$shv not initialised"))?;
    let r = if ty.eq_ignore_ascii_case("int") {
        // a JSON string where the number goes reads as 0, as Kamailio's
        let i = if let RpcValue::Int(i) = value { *i } else { 0 };
        t.set(name.as_bytes(), KvValue::Int(i), 0)
    } else if ty.eq_ignore_ascii_case("str") {
        t.set(name.as_bytes(), KvValue::Str(value.as_text().unwrap_or_default().as_bytes()), 0)
    } else {
        return Err(RpcError::new(500, "Unknown parameter type (Types: int or str)"));
    };
    r.map_err(|e| RpcError::new(500, e.to_string()))?;
    Ok(RpcValue::Str("Ok. Variable set to new value.".into()))
}

fn get_shv<'c>(_: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let (PvArg::Text(n), Some(t)) = (&pv.arg, SHV.get()) else { return Value::Null };
    t.get(n, 0, |v, _| match v {
        KvValue::Int(i) => Value::Int(i),
        KvValue::Str(s) => Value::string(s.to_vec()),
    })
    .unwrap_or(Value::Int(0))
}

fn set_shv(_: &mut Ctx<'_>, pv: &PvRef, v: &Value<'_>) -> Result<(), String> {
    let (PvArg::Text(n), Some(t)) = (&pv.arg, SHV.get()) else { return Err("$shv not initialised".into()) };
    let r = match v {
        Value::Null => t.set(n, KvValue::Int(0), 0),
        Value::Int(i) => t.set(n, KvValue::Int(*i), 0),
        Value::Str(s) => t.set(n, KvValue::Str(s), 0),
    };
    r.map_err(|e| e.to_string())
}

fn pv_of(p: &Param) -> Result<&sipr_sdk::PvRef, ModError> {
    match p {
        Param::Pv(pv) => Ok(pv),
        _ => Err("expected a pseudo-variable".into()),
    }
}

fn rc(b: bool) -> FnResult {
    Ok(if b { 1 } else { -1 })
}

fn pv_isset(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    rc(!pv_of(&p[0])?.value(ctx).is_null())
}

fn pv_unset(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    pv_of(&p[0])?.assign(ctx, &Value::Null).map_err(ModError)?;
    Ok(1)
}

fn is_int(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    rc(matches!(pv_of(&p[0])?.value(ctx), Value::Int(_)))
}

fn type_of(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let want = p[1].text(ctx).into_owned();
    let v = pv_of(&p[0])?.value(ctx);
    let t: &[u8] = match v {
        Value::Null => b"null",
        Value::Int(_) => b"int",
        Value::Str(_) => b"str",
    };
    rc(want.eq_ignore_ascii_case(t))
}

fn not_empty(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    rc(matches!(pv_of(&p[0])?.value(ctx), Value::Str(s) if !s.is_empty()))
}

/// The newest root item named `root` (`$xavp(root[0])`), created when
/// there is none.
fn newest_or_new<'a>(ctx: &'a mut Ctx<'_>, root: &[u8]) -> &'a mut Xavp {
    let i = match ctx.xavps.iter().rposition(|x| x.name == root) {
        Some(i) => i,
        None => {
            ctx.xavps.push(Xavp { name: root.to_vec(), fields: Vec::new() });
            ctx.xavps.len() - 1
        }
    };
    &mut ctx.xavps[i]
}

/// Sets field `child` of the newest `root` item (replacing its values).
fn set_child(ctx: &mut Ctx<'_>, root: &[u8], child: &[u8], v: Stored) {
    let item = newest_or_new(ctx, root);
    item.fields.retain(|(n, _)| n != child);
    item.fields.push((child.to_vec(), v));
}

/// `xavp_child_seti(root, child, int)`.
fn xavp_child_seti(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (root, child, v) = (p[0].text(ctx).into_owned(), p[1].text(ctx).into_owned(), p[2].int(ctx));
    set_child(ctx, &root, &child, Stored::Int(v));
    Ok(1)
}

/// `xavp_child_sets(root, child, text)`.
fn xavp_child_sets(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (root, child, v) = (p[0].text(ctx).into_owned(), p[1].text(ctx).into_owned(), p[2].text(ctx).into_owned());
    set_child(ctx, &root, &child, Stored::Str(v));
    Ok(1)
}

/// `xavp_rm(root)`: the newest item of that name (`$xavp(root[0])`), as
/// Kamailio's — older ones stay.
fn xavp_rm(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let root = p[0].text(ctx).into_owned();
    if let Some(i) = ctx.xavps.iter().rposition(|x| x.name == root) {
        ctx.xavps.remove(i);
    }
    Ok(1)
}

/// `xavp_child_rm(root, child)`: the field of the newest item.
fn xavp_child_rm(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (root, child) = (p[0].text(ctx).into_owned(), p[1].text(ctx).into_owned());
    if let Some(item) = ctx.xavps.iter_mut().rev().find(|x| x.name == root) {
        item.fields.retain(|(n, _)| *n != child);
    }
    Ok(1)
}

/// `xavp_params_explode("a=1;b=2", root)`: a new `root` item with a field
/// per parameter (string values; a parameter without `=` has an empty one).
fn xavp_params_explode(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (params, root) = (p[0].text(ctx).into_owned(), p[1].text(ctx).into_owned());
    let mut fields = Vec::new();
    for part in params.split(|c| *c == b';').map(<[u8]>::trim_ascii).filter(|x| !x.is_empty()) {
        let (n, v) = match part.iter().position(|c| *c == b'=') {
            Some(i) => (part[..i].trim_ascii(), part[i + 1..].trim_ascii()),
            None => (part, &b""[..]),
        };
        fields.push((n.to_vec(), Stored::Str(v.to_vec())));
    }
    if fields.is_empty() {
        return Ok(-1);
    }
    ctx.xavps.push(Xavp { name: root, fields });
    Ok(1)
}

/// The position in `ctx.xavps` of item `idx` (0 the newest) of `root`.
fn xavp_position(ctx: &Ctx<'_>, root: &[u8], idx: i64) -> Option<usize> {
    let positions: Vec<usize> =
        ctx.xavps.iter().enumerate().rev().filter(|(_, x)| x.name == root).map(|(i, _)| i).collect();
    usize::try_from(idx).ok().and_then(|i| positions.get(i).copied())
}

/// `xavp_copy(src, src_index, dst)`: a copy of item `src[src_index]` is
/// appended to the `dst` stack (its highest index);
/// `xavp_copy(src, src_index, dst, dst_index)`: it replaces item
/// `dst[dst_index]` (-1 when that item does not exist).
fn xavp_copy3(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (src, idx, dst) = (p[0].text(ctx).into_owned(), p[1].int(ctx), p[2].text(ctx).into_owned());
    let Some(at) = xavp_position(ctx, &src, idx) else { return Ok(-1) };
    let copy = Xavp { name: dst, fields: ctx.xavps[at].fields.clone() };
    // appended: the copy goes to the bottom of an existing `dst` stack (the
    // highest index), or starts one
    match ctx.xavps.iter().position(|x| x.name == copy.name) {
        Some(oldest) => ctx.xavps.insert(oldest, copy),
        None => ctx.xavps.push(copy),
    }
    Ok(1)
}

fn xavp_copy4(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let (src, idx, dst, didx) =
        (p[0].text(ctx).into_owned(), p[1].int(ctx), p[2].text(ctx).into_owned(), p[3].int(ctx));
    let Some(from) = xavp_position(ctx, &src, idx) else { return Ok(-1) };
    let Some(to) = xavp_position(ctx, &dst, didx) else { return Ok(-1) };
    ctx.xavps[to].fields = ctx.xavps[from].fields.clone();
    Ok(1)
}

/// `xavp_slist_explode(list, separators, mode, root)`: the tokens of
/// `list` (split at any of the separators; mode "t" trims them; empty
/// ones are skipped) as the values of field `v` of a new `root` item, in
/// order (`$xavp(root[0]=>v[0])` is the first).
fn xavp_slist_explode(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let list = p[0].text(ctx).into_owned();
    let seps = p[1].text(ctx).into_owned();
    let trim = p[2].text(ctx).contains(&b't');
    let root = p[3].text(ctx).into_owned();
    let mut tokens: Vec<&[u8]> =
        list.split(|c| seps.contains(c)).map(|t| if trim { t.trim_ascii() } else { t }).collect();
    tokens.retain(|t| !t.is_empty());
    if tokens.is_empty() {
        return Ok(-1);
    }
    // fields are kept newest last and indexed newest first: the first
    // token goes in last
    let fields = tokens.iter().rev().map(|t| (b"v".to_vec(), Stored::Str(t.to_vec()))).collect();
    ctx.xavps.push(Xavp { name: root, fields });
    Ok(1)
}

/// `xavp_params_implode(root, pv)`: the newest `root` item's fields as
/// `name=value;...` into `pv`.
fn xavp_params_implode(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let root = p[0].text(ctx).into_owned();
    let Some(item) = ctx.xavps.iter().rev().find(|x| x.name == root) else { return Ok(-1) };
    let mut out = Vec::new();
    for (n, v) in &item.fields {
        out.extend_from_slice(n);
        out.push(b'=');
        out.extend_from_slice(&v.get().to_bytes());
        out.push(b';');
    }
    pv_of(&p[1])?.assign(ctx, &Value::str(&out)).map_err(ModError)?;
    Ok(1)
}

sipr_sdk::module! {
    name: "pv",
    functions: [
        ("pv_isset", [Pv], RouteMask::ANY, pv_isset),
        ("pv_unset", [WritablePv], RouteMask::ANY, pv_unset),
        ("is_int", [Pv], RouteMask::ANY, is_int),
        ("typeof", [Pv, Str], RouteMask::ANY, type_of),
        ("not_empty", [Pv], RouteMask::ANY, not_empty),
        ("xavp_child_seti", [Fmt, Fmt, IntOrPv], RouteMask::ANY, xavp_child_seti),
        ("xavp_child_sets", [Fmt, Fmt, Fmt], RouteMask::ANY, xavp_child_sets),
        ("xavp_rm", [Fmt], RouteMask::ANY, xavp_rm),
        ("xavp_child_rm", [Fmt, Fmt], RouteMask::ANY, xavp_child_rm),
        ("xavp_params_explode", [Fmt, Fmt], RouteMask::ANY, xavp_params_explode),
        ("xavp_params_implode", [Fmt, WritablePv], RouteMask::ANY, xavp_params_implode),
        ("xavp_copy", [Fmt, IntOrPv, Fmt], RouteMask::ANY, xavp_copy3),
        ("xavp_copy", [Fmt, IntOrPv, Fmt, IntOrPv], RouteMask::ANY, xavp_copy4),
        ("xavp_slist_explode", [Fmt, Fmt, Fmt, Fmt], RouteMask::ANY, xavp_slist_explode),
    ],
    params: [("shvset", Str, set_shvset)],
    pvs: [sipr_sdk::pv_class!("shv", shv_fixup, get_shv, set_shv)],
    rpcs: [
        ("pv.shvGet", "Get the value of a shared variable. If no argument, dumps all", rpc_shv_get),
        ("pv.shvSet", "Set a shared variable (args: name type value)", rpc_shv_set),
    ],
    init: mod_init,
}
