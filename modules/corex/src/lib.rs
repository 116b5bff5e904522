//! corex: more core functions (Kamailio's corex module). `append_branch`,
//! `is_myself`, `set_*_no_connect` / `set_*_close` are in the sipr core's
//! function set; this module adds:
//!
//! * `send_data(uri, data)`: sends `data` to the URI's host/port/transport;
//! * `is_faked_msg()`: 1 on the stand-in message of event routes, else -1;
//! * `set_recv_socket("proto:addr:port")`: handle the message as received
//!   on that listen socket;
//! * `send_udp([host[:port]])`, `send_tcp([host[:port]])`: the message as
//!   received (no Via, no change) to the destination URI or a host;
//! * `file_read(path, var)`, `file_write(path, text)`;
//! * `setxflag(n)`, `resetxflag(n)`, `isxflagset(n)`: the 64 extended
//!   message flags;
//! * the `corex.shm_summary` RPC command: each module's shm use to the log;
//! * `msg_iflag_set/reset/is_set(name)`: the internal flags USE_UAC_FROM,
//!   USE_UAC_TO, UAC_AUTH (kept for the script; sipr has no uac module
//!   to read them yet).

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

/// `send_udp` / `send_tcp`: the message as received (Kamailio: "no
/// changes are applied, no Via is added") to `host[:port]` (5060 when no
/// port), or to the destination URI ($du, else the Request-URI).
fn send_raw(ctx: &mut Ctx<'_>, dest: Option<Vec<u8>>, proto: sipr_sdk::net::Proto) -> FnResult {
    let (host, port) = match dest {
        Some(d) => {
            let text = String::from_utf8_lossy(&d).into_owned();
            match text.rsplit_once(':') {
                Some((h, p)) if !h.contains(']') || h.ends_with(']') => match p.parse::<u16>() {
                    Ok(p) => (h.to_string(), Some(p)),
                    Err(_) => (text.clone(), None),
                },
                _ => (text.clone(), None),
            }
        }
        None => {
            let uri = match ctx.dst_uri.clone().or_else(|| ctx.ruri().map(<[u8]>::to_vec)) {
                Some(u) => u,
                None => return Ok(-1),
            };
            let u = Uri::parse(&uri, Span::from_range(0, uri.len()))?;
            (String::from_utf8_lossy(u.host.get(&uri)).into_owned(), u.port)
        }
    };
    let data = ctx.msg.buf().to_vec();
    let conn = ctx.send_flags.forward();
    match ctx.out.send(Dest::Host { host: host.as_bytes(), port: port.or(Some(5060)), proto: Some(proto), conn }, &data)
    {
        Ok(()) => Ok(1),
        Err(e) => {
            log::error!("send_{}: {e}", proto.name());
            Ok(-1)
        }
    }
}

fn send_udp0(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    send_raw(ctx, None, sipr_sdk::net::Proto::Udp)
}
fn send_udp1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let d = p[0].text(ctx).into_owned();
    send_raw(ctx, Some(d), sipr_sdk::net::Proto::Udp)
}
fn send_tcp0(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    send_raw(ctx, None, sipr_sdk::net::Proto::Tcp)
}
fn send_tcp1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let d = p[0].text(ctx).into_owned();
    send_raw(ctx, Some(d), sipr_sdk::net::Proto::Tcp)
}

/// `file_read(path, var)`: the file's content into the variable (-1 when
/// it cannot be read).
fn file_read(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let path = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    let Param::Pv(var) = &p[1] else { return Err("file_read needs a writable variable".into()) };
    match std::fs::read(&path) {
        Ok(data) => {
            var.assign(ctx, &Value::string(data)).map_err(ModError)?;
            Ok(1)
        }
        Err(e) => {
            log::error!("file_read: {path}: {e}");
            Ok(-1)
        }
    }
}

/// `file_write(path, text)`: the text as the file's whole content.
fn file_write(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let path = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    let data = p[1].text(ctx).into_owned();
    match std::fs::write(&path, data) {
        Ok(()) => Ok(1),
        Err(e) => {
            log::error!("file_write: {path}: {e}");
            Ok(-1)
        }
    }
}

/// The extended flags (0..63) live with the message.
const XFLAGS: &str = "corex.xflags";

fn xflag(ctx: &Ctx<'_>, p: &Param) -> Result<u32, ModError> {
    let n = p.int(ctx);
    u32::try_from(n).ok().filter(|n| *n < 64).ok_or_else(|| format!("extended flag {n}: 0..63").into())
}

fn setxflag(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let bit = xflag(ctx, &p[0])?;
    let v = ctx.module_int(XFLAGS).unwrap_or(0) as u64 | (1u64 << bit);
    ctx.set_module_int(XFLAGS, v as i64);
    Ok(1)
}

fn resetxflag(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let bit = xflag(ctx, &p[0])?;
    let v = ctx.module_int(XFLAGS).unwrap_or(0) as u64 & !(1u64 << bit);
    ctx.set_module_int(XFLAGS, v as i64);
    Ok(1)
}

fn isxflagset(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let bit = xflag(ctx, &p[0])?;
    Ok(if ctx.module_int(XFLAGS).unwrap_or(0) as u64 & (1u64 << bit) != 0 { 1 } else { -1 })
}

/// The internal flags msg_iflag_* know (Kamailio's names).
const IFLAGS: [&str; 3] = ["USE_UAC_FROM", "USE_UAC_TO", "UAC_AUTH"];
const IFLAG_KEY: &str = "corex.iflags";

fn iflag_fixup(p: &mut [Param]) -> Result<(), String> {
    if let Some(Param::Str(n)) = p.first() {
        let n = String::from_utf8_lossy(n);
        if !IFLAGS.contains(&n.as_ref()) {
            return Err(format!("unknown internal flag '{n}' (known: {})", IFLAGS.join(", ")));
        }
    }
    Ok(())
}

fn iflag_bit(ctx: &Ctx<'_>, p: &Param) -> Result<i64, ModError> {
    let n = String::from_utf8_lossy(&p.text(ctx)).into_owned();
    IFLAGS.iter().position(|f| *f == n).map(|i| 1i64 << i).ok_or_else(|| format!("unknown internal flag '{n}'").into())
}

fn msg_iflag_set(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let b = iflag_bit(ctx, &p[0])?;
    ctx.set_module_int(IFLAG_KEY, ctx.module_int(IFLAG_KEY).unwrap_or(0) | b);
    Ok(1)
}

fn msg_iflag_reset(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let b = iflag_bit(ctx, &p[0])?;
    ctx.set_module_int(IFLAG_KEY, ctx.module_int(IFLAG_KEY).unwrap_or(0) & !b);
    Ok(1)
}

fn msg_iflag_is_set(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let b = iflag_bit(ctx, &p[0])?;
    Ok(if ctx.module_int(IFLAG_KEY).unwrap_or(0) & b != 0 { 1 } else { -1 })
}

sipr_sdk::module! {
    name: "corex",
    functions: [
        ("send_data", [Fmt, Fmt], RouteMask::ANY, send_data),
        ("is_faked_msg", [], RouteMask::ANY, is_faked_msg),
        ("set_recv_socket", [Fmt], RouteMask::ANY, set_recv_socket),
        ("send_udp", [], RouteMask::REQUEST_LIKE, send_udp0),
        ("send_udp", [Fmt], RouteMask::REQUEST_LIKE, send_udp1),
        ("send_tcp", [], RouteMask::REQUEST_LIKE, send_tcp0),
        ("send_tcp", [Fmt], RouteMask::REQUEST_LIKE, send_tcp1),
        ("file_read", [Fmt, WritablePv], RouteMask::ANY, file_read),
        ("file_write", [Fmt, Fmt], RouteMask::ANY, file_write),
        ("setxflag", [IntOrPv], RouteMask::ANY, setxflag),
        ("resetxflag", [IntOrPv], RouteMask::ANY, resetxflag),
        ("isxflagset", [IntOrPv], RouteMask::ANY, isxflagset),
        ("msg_iflag_set", [Fmt], RouteMask::ANY, msg_iflag_set, iflag_fixup),
        ("msg_iflag_reset", [Fmt], RouteMask::ANY, msg_iflag_reset, iflag_fixup),
        ("msg_iflag_is_set", [Fmt], RouteMask::ANY, msg_iflag_is_set, iflag_fixup),
    ],
    params: [],
    rpcs: [
        ("corex.shm_summary", "Trigger shm summary dump to syslog", shm_summary),
        ("corex.shm_status", "Trigger shm status dump to syslog", shm_status),
    ],
}

/// `corex.shm_summary`: what each module holds in shm, to the log (as
/// Kamailio, the answer itself is empty). sipr counts it per module at
/// every allocation and free, so this works in production builds, where
/// Kamailio's needs a memory-debugging one.
fn shm_summary(_: &[sipr_sdk::RpcValue]) -> Result<sipr_sdk::RpcValue, sipr_sdk::RpcError> {
    let pool = log_shm_status("shm summary")?;
    let mut usage = pool.usage_by_owner();
    usage.sort_by_key(|u| std::cmp::Reverse(u.1));
    for (owner, bytes, blocks) in usage {
        log::info!("shm summary: {owner}: {bytes} bytes in {blocks} blocks");
    }
    Ok(sipr_sdk::RpcValue::Null)
}

/// `corex.shm_status`: the pool's figures, to the log (the answer is
/// empty, as Kamailio's).
fn shm_status(_: &[sipr_sdk::RpcValue]) -> Result<sipr_sdk::RpcValue, sipr_sdk::RpcError> {
    log_shm_status("shm status")?;
    Ok(sipr_sdk::RpcValue::Null)
}

/// Logs the pool's figures under `heading`; the pool.
fn log_shm_status(heading: &str) -> Result<&'static sipr_sdk::ShmPool, sipr_sdk::RpcError> {
    let pool = sipr_sdk::shm_pool().ok_or_else(|| sipr_sdk::RpcError::new(500, "no shared memory"))?;
    let st = pool.stats();
    log::info!(
        "{heading}: total {} used {} real_used {} max_used {} free {} fragments {}",
        st.total,
        st.used,
        st.real_used,
        st.max_used,
        st.free,
        st.fragments
    );
    Ok(pool)
}
