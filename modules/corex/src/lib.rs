//! corex: more core functions (Kamailio's corex module). `append_branch`,
//! `is_myself`, `set_*_no_connect` / `set_*_close` are in the sipr core's
//! function set; this module adds:
//!
//! * `send_data(uri, data)`: sends `data` to the URI's host/port/transport;
//! * `is_faked_msg()`: -1 (sipr builds no fake messages yet);
//! * `set_recv_socket(sock)`: not supported until the runtime has sockets
//!   (returns -1 with a log line).

use sipr_sdk::prelude::*;
use sipr_sdk::sip::{Span, Uri};

fn send_data(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let uri = p[0].text(ctx).into_owned();
    let data = p[1].text(ctx).into_owned();
    let u = Uri::parse(&uri, Span::from_range(0, uri.len()))?;
    let host = u.host.get(&uri).to_vec();
    let proto = u.transport(&uri).and_then(|t| sipr_sdk::net::Proto::from_name(&String::from_utf8_lossy(t)));
    ctx.out.send(Dest::Host { host: &host, port: u.port, proto }, &data).map_err(ModError)?;
    Ok(1)
}

fn is_faked_msg(_: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    Ok(-1)
}

fn set_recv_socket(_: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    Err("set_recv_socket() is not supported yet (no sockets before the runtime)".into())
}

sipr_sdk::module! {
    name: "corex",
    functions: [
        ("send_data", [Fmt, Fmt], RouteMask::ANY, send_data),
        ("is_faked_msg", [], RouteMask::ANY, is_faked_msg),
        ("set_recv_socket", [Fmt], RouteMask::ANY, set_recv_socket),
    ],
    params: [],
}
