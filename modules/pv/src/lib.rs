//! pv: pseudo-variable functions (Kamailio's pv module). The PVs
//! themselves (`$ru`, `$var`, `$avp`, `$xavp`, `$shv`, `$hdr`, ...) are the
//! core's (sipr-core `cfg`), registered whether or not this module is
//! loaded; loading it gives the functions:
//!
//! `pv_isset(pv)`, `pv_unset(pv)`, `is_int(pv)`, `typeof(pv, "int"|"str"|
//! "null")`, `not_empty(pv)`.

use sipr_sdk::prelude::*;

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

sipr_sdk::module! {
    name: "pv",
    functions: [
        ("pv_isset", [Pv], RouteMask::ANY, pv_isset),
        ("pv_unset", [WritablePv], RouteMask::ANY, pv_unset),
        ("is_int", [Pv], RouteMask::ANY, is_int),
        ("typeof", [Pv, Str], RouteMask::ANY, type_of),
        ("not_empty", [Pv], RouteMask::ANY, not_empty),
    ],
    params: [],
}
