//! ctl: the server's RPC commands over binrpc, as Kamailio's ctl module
//! serves them, so that Kamailio's own `kamcmd` works against sipr
//! unchanged. `binrpc` (repeatable) names the listeners: `unix:PATH` (or
//! a bare path, or `unixs:PATH`) a unix stream socket, `unixd:PATH` a unix
//! datagram socket, `tcp:HOST:PORT`, `udp:HOST:PORT`; without one,
//! `unix:sipr_ctl` in `run_dir` (Kamailio's is `kamailio_ctl` in its run
//! dir: `kamcmd -s unix:/run/sipr/sipr_ctl`). A relative path is inside
//! `run_dir`. `mode` (default 0600), `user` and `group` give the unix
//! sockets their access; `binrpc_max_body_size` (KB, default 32) bounds a
//! request, a bigger one is refused with a 400 and the connection closed.
//!
//! One process, "ctl handler" as in Kamailio, serves every listener with
//! non-blocking sockets: a client that sends half a request or stops
//! reading its reply holds a buffer, never the process, and is dropped
//! after [`IDLE`] without progress; a client that disconnects mid-reply
//! costs the write that failed. The listeners are opened in `mod_init`,
//! so a bad address is a start-up error.

// A module is safe code: everything unsafe lives in the core, mem/,
// locking/ and the SDK that fences the module ABI.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use mio::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token};
use sipr_sdk::binrpc::{self, Framing};
use sipr_sdk::control::{in_run_dir, mode, owner, prepare_path, set_access, text, Conn};
use sipr_sdk::prelude::*;

/// A connection without progress (no byte read or written) this long is
/// closed: half a request, or a reply nobody reads.
const IDLE: Duration = Duration::from_secs(30);
/// Connections served at once; one more is accepted and closed.
const MAX_CONNS: usize = 256;

/// Where a listener is, as `binrpc` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Addr {
    UnixStream(PathBuf),
    UnixDgram(PathBuf),
    Tcp(SocketAddr),
    Udp(SocketAddr),
}

struct Settings {
    /// The `binrpc` values, checked when set, resolved in mod_init (a
    /// relative path is inside `run_dir`, known by then).
    addrs: Vec<String>,
    mode: u32,
    user: Option<String>,
    group: Option<String>,
    max_body: usize,
}

static SETTINGS: Mutex<Settings> =
    Mutex::new(Settings { addrs: Vec::new(), mode: 0o600, user: None, group: None, max_body: 32 * 1024 });

/// The listeners mod_init opened (std sockets: they cross the fork; the
/// process makes them non-blocking mio ones).
enum Opened {
    UnixStream(PathBuf, std::os::unix::net::UnixListener),
    UnixDgram(PathBuf, std::os::unix::net::UnixDatagram),
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

static OPENED: OnceLock<(Vec<Opened>, usize)> = OnceLock::new();

fn settings() -> Result<std::sync::MutexGuard<'static, Settings>, String> {
    SETTINGS.lock().map_err(|_| "ctl settings poisoned".to_string())
}

/// `binrpc` as Kamailio reads it.
fn parse_addr(spec: &str) -> Result<Addr, String> {
    let (proto, rest) = match spec.split_once(':') {
        Some((p @ ("unix" | "unixs" | "unixd" | "unixdgram" | "tcp" | "udp"), rest)) => (p, rest),
        _ if !spec.contains(':') => ("unix", spec),
        _ => return Err(format!("binrpc {spec}: unix:PATH, unixd:PATH, tcp:HOST:PORT or udp:HOST:PORT")),
    };
    match proto {
        "unix" | "unixs" | "unixd" | "unixdgram" => {
            if rest.is_empty() {
                return Err(format!("binrpc {spec}: no path"));
            }
            let path = in_run_dir(rest);
            Ok(if proto.starts_with("unixd") { Addr::UnixDgram(path) } else { Addr::UnixStream(path) })
        }
        _ => {
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| format!("binrpc {spec}: no port"))?;
            let port: u16 = port.parse().map_err(|_| format!("binrpc {spec}: bad port {port}"))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let addr = (host, port)
                .to_socket_addrs()
                .map_err(|e| format!("binrpc {spec}: {e}"))?
                .next()
                .ok_or_else(|| format!("binrpc {spec}: {host} has no address"))?;
            Ok(if proto == "tcp" { Addr::Tcp(addr) } else { Addr::Udp(addr) })
        }
    }
}

fn set_binrpc(v: &ModValue) -> Result<(), String> {
    let spec = text(v, "binrpc")?;
    parse_addr(&spec)?;
    settings()?.addrs.push(spec);
    Ok(())
}

fn set_mode(v: &ModValue) -> Result<(), String> {
    let m = mode(v)?;
    settings()?.mode = m;
    Ok(())
}

fn set_user(v: &ModValue) -> Result<(), String> {
    let u = owner(v, "user")?;
    settings()?.user = Some(u);
    Ok(())
}

fn set_group(v: &ModValue) -> Result<(), String> {
    let g = owner(v, "group")?;
    settings()?.group = Some(g);
    Ok(())
}

fn set_max_body(v: &ModValue) -> Result<(), String> {
    match sipr_sdk::modparam::int(v)? {
        kb @ 1..=65_536 => {
            settings()?.max_body = kb as usize * 1024;
            Ok(())
        }
        kb => Err(format!("binrpc_max_body_size {kb}: 1 to 65536 (KB)")),
    }
}

/// Parameters Kamailio has that change nothing here: accepted with a
/// number (binrpc_buffer_size: replies are not cut into buffers;
/// binrpc_struct_max_body_size: structs are not buffered apart;
/// autoconversion: parameters are converted to the type a command reads).
fn set_accepted(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::int(v).map(|_| ())
}

fn mod_init() -> Result<(), String> {
    let s = settings()?;
    let mut addrs = s.addrs.iter().map(|a| parse_addr(a)).collect::<Result<Vec<_>, _>>()?;
    if addrs.is_empty() {
        addrs.push(Addr::UnixStream(in_run_dir("sipr_ctl")));
    }
    let mut opened = Vec::new();
    for a in addrs {
        opened.push(match a {
            Addr::UnixStream(p) => {
                prepare_path("ctl", &p)?;
                let l = std::os::unix::net::UnixListener::bind(&p)
                    .map_err(|e| format!("ctl: cannot bind {}: {e}", p.display()))?;
                set_access("ctl", &p, s.mode, s.user.as_deref(), s.group.as_deref())?;
                Opened::UnixStream(p, l)
            }
            Addr::UnixDgram(p) => {
                prepare_path("ctl", &p)?;
                let d = std::os::unix::net::UnixDatagram::bind(&p)
                    .map_err(|e| format!("ctl: cannot bind {}: {e}", p.display()))?;
                set_access("ctl", &p, s.mode, s.user.as_deref(), s.group.as_deref())?;
                Opened::UnixDgram(p, d)
            }
            Addr::Tcp(sa) => Opened::Tcp(
                std::net::TcpListener::bind(sa).map_err(|e| format!("ctl: cannot listen on tcp:{sa}: {e}"))?,
            ),
            Addr::Udp(sa) => {
                Opened::Udp(std::net::UdpSocket::bind(sa).map_err(|e| format!("ctl: cannot bind udp:{sa}: {e}"))?)
            }
        });
    }
    let _ = OPENED.set((opened, s.max_body));
    Ok(())
}

fn destroy() {
    if let Some((opened, _)) = OPENED.get() {
        for o in opened {
            if let Opened::UnixStream(p, _) | Opened::UnixDgram(p, _) = o {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// A listener as the process polls it.
enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
    UnixDgram(UnixDatagram),
    Udp(UdpSocket),
}

/// A connected client.
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl mio::event::Source for Stream {
    fn register(&mut self, r: &mio::Registry, t: Token, i: Interest) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.register(r, t, i),
            Stream::Tcp(s) => s.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &mio::Registry, t: Token, i: Interest) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.reregister(r, t, i),
            Stream::Tcp(s) => s.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &mio::Registry) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.deregister(r),
            Stream::Tcp(s) => s.deregister(r),
        }
    }
}

/// Answers the whole binrpc packets at the front of `inbuf`; a stream
/// whose header cannot be read gets the refusal and is closed (it cannot
/// be read past it).
fn answer_packets(inbuf: &mut Vec<u8>, out: &mut Vec<u8>, max: usize) -> bool {
    loop {
        match binrpc::framing(inbuf, max) {
            Ok(Framing::NeedMore) => return false,
            Ok(Framing::Packet(n)) if inbuf.len() < n => return false,
            Ok(Framing::Packet(n)) => {
                let packet: Vec<u8> = inbuf.drain(..n).collect();
                if let Some(reply) = sipr_sdk::rpc_exec_binrpc(&packet) {
                    out.extend_from_slice(&reply);
                }
            }
            Err(e) => {
                log::warn!("ctl: {e}: closing the connection");
                out.extend_from_slice(&binrpc::refusal(e));
                inbuf.clear();
                return true;
            }
        }
    }
}

/// Answers one datagram (udp or unixd): a request that does not fit
/// `max` is refused.
fn answer_datagram(data: &[u8], max: usize) -> Option<Vec<u8>> {
    match binrpc::framing(data, max) {
        Ok(Framing::Packet(n)) if n <= data.len() => sipr_sdk::rpc_exec_binrpc(&data[..n]),
        Ok(_) => Some(binrpc::refusal(binrpc::BinrpcError::Corrupted)),
        Err(e) => Some(binrpc::refusal(e)),
    }
}

/// The "ctl handler" process.
fn ctl_process(_: u32) {
    let Some((opened, max)) = OPENED.get() else { return };
    if let Err(e) = serve(opened, *max) {
        log::error!("ctl: {e}");
    }
}

fn serve(opened: &[Opened], max: usize) -> std::io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listeners = Vec::new();
    for o in opened {
        let l = match o {
            Opened::UnixStream(_, l) => {
                let l = l.try_clone()?;
                l.set_nonblocking(true)?;
                Listener::Unix(UnixListener::from_std(l))
            }
            Opened::Tcp(l) => {
                let l = l.try_clone()?;
                l.set_nonblocking(true)?;
                Listener::Tcp(TcpListener::from_std(l))
            }
            Opened::UnixDgram(_, d) => {
                let d = d.try_clone()?;
                d.set_nonblocking(true)?;
                Listener::UnixDgram(UnixDatagram::from_std(d))
            }
            Opened::Udp(d) => {
                let d = d.try_clone()?;
                d.set_nonblocking(true)?;
                Listener::Udp(UdpSocket::from_std(d))
            }
        };
        listeners.push(l);
    }
    for (i, l) in listeners.iter_mut().enumerate() {
        let source: &mut dyn mio::event::Source = match l {
            Listener::Unix(l) => l,
            Listener::Tcp(l) => l,
            Listener::UnixDgram(d) => d,
            Listener::Udp(d) => d,
        };
        poll.registry().register(source, Token(i), Interest::READABLE)?;
    }
    let first_conn = listeners.len();
    let mut conns: HashMap<usize, Conn<Stream>> = HashMap::new();
    let mut next = first_conn;
    let mut events = Events::with_capacity(128);
    let mut dgram = vec![0u8; 65_536];
    loop {
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_secs(1))) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in events.iter() {
            let t = ev.token().0;
            if t < first_conn {
                match &mut listeners[t] {
                    Listener::Unix(l) => {
                        while let Ok((s, _)) = l.accept() {
                            add_conn(&poll, &mut conns, &mut next, Stream::Unix(s));
                        }
                    }
                    Listener::Tcp(l) => {
                        while let Ok((s, _)) = l.accept() {
                            add_conn(&poll, &mut conns, &mut next, Stream::Tcp(s));
                        }
                    }
                    Listener::UnixDgram(d) => {
                        while let Ok((n, from)) = d.recv_from(&mut dgram) {
                            let (Some(reply), Some(path)) = (answer_datagram(&dgram[..n], max), from.as_pathname())
                            else {
                                continue;
                            };
                            if let Err(e) = d.send_to(&reply, path) {
                                log::debug!("ctl: no answer sent to {}: {e}", path.display());
                            }
                        }
                    }
                    Listener::Udp(d) => {
                        while let Ok((n, from)) = d.recv_from(&mut dgram) {
                            if let Some(reply) = answer_datagram(&dgram[..n], max) {
                                if let Err(e) = d.send_to(&reply, from) {
                                    log::debug!("ctl: no answer sent to {from}: {e}");
                                }
                            }
                        }
                    }
                }
                continue;
            }
            let Some(c) = conns.get_mut(&t) else { continue };
            if c.on_event(|inbuf, out| answer_packets(inbuf, out, max)) {
                c.watch_writes(poll.registry(), Token(t));
            } else {
                close(&poll, &mut conns, t);
            }
        }
        let stale: Vec<usize> = conns.iter().filter(|(_, c)| c.idle_for() > IDLE).map(|(t, _)| *t).collect();
        for t in stale {
            log::debug!("ctl: a connection idle for {}s closed", IDLE.as_secs());
            close(&poll, &mut conns, t);
        }
    }
}

fn add_conn(poll: &Poll, conns: &mut HashMap<usize, Conn<Stream>>, next: &mut usize, mut stream: Stream) {
    if conns.len() >= MAX_CONNS {
        log::warn!("ctl: {MAX_CONNS} connections open: a new one refused");
        return;
    }
    let t = *next;
    *next += 1;
    if poll.registry().register(&mut stream, Token(t), Interest::READABLE).is_err() {
        return;
    }
    conns.insert(t, Conn::new(stream, Vec::new()));
}

fn close(poll: &Poll, conns: &mut HashMap<usize, Conn<Stream>>, t: usize) {
    if let Some(mut c) = conns.remove(&t) {
        let _ = poll.registry().deregister(&mut c.stream);
    }
}

sipr_sdk::module! {
    name: "ctl",
    functions: [],
    params: [
        ("binrpc", Str, set_binrpc),
        ("mode", Any, set_mode),
        ("user", Any, set_user),
        ("group", Any, set_group),
        ("binrpc_max_body_size", Any, set_max_body),
        ("binrpc_struct_max_body_size", Any, set_accepted),
        ("binrpc_buffer_size", Any, set_accepted),
        ("autoconversion", Any, set_accepted),
    ],
    procs: [
        ("ctl handler", u32::from(OPENED.get().is_some()), ctl_process),
    ],
    init: mod_init,
    destroy: destroy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_as_kamailio_writes_them() {
        assert_eq!(parse_addr("unix:/tmp/x_ctl").unwrap(), Addr::UnixStream("/tmp/x_ctl".into()));
        assert_eq!(parse_addr("/tmp/y").unwrap(), Addr::UnixStream("/tmp/y".into()));
        assert_eq!(parse_addr("unixd:/tmp/d").unwrap(), Addr::UnixDgram("/tmp/d".into()));
        assert_eq!(parse_addr("tcp:127.0.0.1:2046").unwrap(), Addr::Tcp("127.0.0.1:2046".parse().unwrap()));
        assert_eq!(parse_addr("udp:[::1]:2046").unwrap(), Addr::Udp("[::1]:2046".parse().unwrap()));
        assert!(parse_addr("tcp:127.0.0.1").is_err());
        assert!(parse_addr("sctp:127.0.0.1:5").is_err());
        assert!(parse_addr("unix:").is_err());
    }

    #[test]
    fn oversized_datagrams_are_refused() {
        let big = binrpc::request(b"\x01\x02\x03\x04", "core.echo", &[sipr_sdk::RpcValue::Str("x".repeat(2000))]);
        let r = answer_datagram(&big, 1024).unwrap();
        let err = binrpc::parse_reply(&r).unwrap().unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (400, "bad request: packet too big"));
        let cut = answer_datagram(&big[..100], 4096).unwrap();
        assert_eq!(binrpc::parse_reply(&cut).unwrap().unwrap_err().code, 400);
    }
}
