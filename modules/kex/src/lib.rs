//! kex: core extensions (Kamailio's kex module). Most of what Kamailio's
//! kex exports (`setsflag`/`issflagset`/`resetsflag`, `setbflag` with a
//! branch index, `setdsturi`/`resetdsturi`/`isdsturiset`) is built into
//! the sipr core's function set; this module adds:
//!
//! * `km_append_branch([uri])`: as the core's `append_branch`;
//! * `pv_printf(pv, format)`: assigns the formatted string to a PV.

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use sipr_sdk::prelude::*;

fn km_append_branch0(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let uri = ctx.ruri().map(<[u8]>::to_vec).ok_or("no Request-URI")?;
    append(ctx, uri)
}

fn km_append_branch1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let uri = p[0].text(ctx).into_owned();
    append(ctx, uri)
}

fn append(ctx: &mut Ctx<'_>, uri: Vec<u8>) -> FnResult {
    sipr_sdk::sip::Uri::parse(&uri, sipr_sdk::sip::Span::from_range(0, uri.len()))?;
    let dst_uri = ctx.dst_uri.clone();
    let bflags = ctx.bflags;
    ctx.branches.push(sipr_sdk::Branch { uri, dst_uri, q: None, bflags });
    Ok(1)
}

fn pv_printf(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Param::Pv(pv) = &p[0] else { return Err("pv_printf needs a writable PV".into()) };
    let text = p[1].text(ctx).into_owned();
    pv.assign(ctx, &Value::str(&text)).map_err(ModError)?;
    Ok(1)
}

/// `setdebug(level)`: this process logs at `level` from now on, whatever
/// the server's `debug` (until `resetdebug()`).
fn setdebug(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let level = p[0].int(ctx);
    sipr_sdk::set_process_debug(Some(level.clamp(i64::from(i32::MIN) + 1, i64::from(i32::MAX)) as i32));
    Ok(1)
}

/// `resetdebug()`: this process logs at the server's `debug` again.
fn resetdebug(_: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    sipr_sdk::set_process_debug(None);
    Ok(1)
}

sipr_sdk::module! {
    name: "kex",
    functions: [
        ("km_append_branch", [], RouteMask::REQUEST_LIKE, km_append_branch0),
        ("km_append_branch", [Fmt], RouteMask::REQUEST_LIKE, km_append_branch1),
        ("pv_printf", [WritablePv, Fmt], RouteMask::ANY, pv_printf),
        ("setdebug", [IntOrPv], RouteMask::ANY, setdebug),
        ("resetdebug", [], RouteMask::ANY, resetdebug),
    ],
    params: [],
}
