//! corex: more core functions (Kamailio's corex module). `append_branch`,
//! `is_myself`, `set_*_no_connect` / `set_*_close` are in the sipr core's
//! function set; this module adds:
//!
//! * `send_data(uri, data)`: sends `data` to the URI's host/port/transport;
//! * `is_faked_msg()`: 1 on the stand-in message of event routes, else -1;
//! * `set_recv_socket("proto:addr:port")`: handle the message as received
//!   on that listen socket.

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use sipr_sdk::prelude::*;
use sipr_sdk::sip::{Span, Uri};

fn send_data(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let uri = p[0].text(ctx).into_owned();
    let data = p[1].text(ctx).into_owned();
    let u = Uri::parse(&uri, Span::from_range(0, uri.len()))?;
    let host = u.host.get(&uri).to_vec();
    let proto = u.transport(&uri).and_then(|t| sipr_sdk::net::Proto::from_name(&String::from_utf8_lossy(t)));
    ctx.out
        .send(Dest::Host { host: &host, port: u.port, proto, conn: ctx.send_flags.forward() }, &data)
        .map_err(ModError)?;
    Ok(1)
}

fn is_faked_msg(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    Ok(if ctx.faked { 1 } else { -1 })
}

/// `set_recv_socket("proto:addr:port")`: the message is handled as if one
/// of the server's other listen sockets had received it ($Ri, $Rp, and
/// what sends from "the receiving socket"). Another text is refused (-1);
/// an address that is no listen socket changes nothing and, as Kamailio's,
/// still answers 1.
fn set_recv_socket(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let text = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    let Some((proto, rest)) = text.split_once(':') else { return Ok(-1) };
    let Some(proto) = sipr_sdk::net::Proto::from_name(proto) else { return Ok(-1) };
    let Ok(addr) = rest.parse::<std::net::SocketAddr>() else {
        // a host[:port] without an IP address cannot name a socket
        return Ok(-1);
    };
    let found = ctx.core.listen.iter().any(|l| {
        l.proto == proto && l.port == addr.port() && l.host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip == addr.ip())
    });
    if !found {
        // Kamailio keeps the socket it has and still answers 1
        log::warn!("set_recv_socket: {text} is not a listen socket; the message keeps its own");
        return Ok(1);
    }
    ctx.rcv.dst = addr;
    Ok(1)
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
