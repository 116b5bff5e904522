//! A TCP reader: reads the connections the TCP main gives it, frames the
//! byte stream into messages (several per read, one over several reads,
//! CRLF keep-alives answered), runs the script on each, and closes
//! connections that end, break the framing, grow a message past the size
//! limit, or stay idle longer than `tcp_connection_lifetime`.

use crate::cfg::ConnFlags;
use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use sipr_locking::net::recv_with_fd;

use super::{Op, Packet, TcpClient};
use crate::cfg::ProcState;
use crate::runtime::receive::{answer_unparsable, handle_contained, Arrival, Net, Out};
use crate::sip::{frame_stream_with, Frame};

struct Conn {
    stream: Rc<TcpStream>,
    buf: Vec<u8>,
    peer: SocketAddr,
    local: SocketAddr,
    /// Its first line was read and is not HTTP's (checked only when
    /// xhttp is loaded).
    sip: bool,
}

const HANDOFF: Token = Token(0);

/// Why a connection is closed.
enum Close {
    /// The peer closed it, or it failed.
    Ended,
    /// Its bytes cannot be framed (answered when a reply could be built).
    Unframable(String),
    /// It carries HTTP and went to the xhttp process.
    HandedOver,
}

/// Runs the reader until the process is told to stop.
pub(in crate::runtime) fn run(net: &Net<'_>, client: &TcpClient, handoff: &UnixDatagram, lifetime: Duration) -> i32 {
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            log::error!("tcp reader: cannot create a poller: {e}");
            return 1;
        }
    };
    let reg = handoff
        .set_nonblocking(true)
        .and_then(|_| poll.registry().register(&mut SourceFd(&handoff.as_raw_fd()), HANDOFF, Interest::READABLE));
    if let Err(e) = reg {
        log::error!("tcp reader: cannot watch its channel: {e}");
        return 1;
    }
    let table = client.table();
    let mut conns: HashMap<u32, Conn> = HashMap::new();
    let mut events = Events::with_capacity(256);
    let mut proc = ProcState::default();
    let mut chunk = vec![0u8; 65_536];
    let mut last_sweep = Instant::now();
    let lifetime_ms = lifetime.as_millis() as u64;
    loop {
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_secs(1))) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                log::error!("tcp reader: poll: {e}");
            }
            continue;
        }
        for ev in events.iter() {
            if ev.token() == HANDOFF {
                take_new(handoff, &poll, &mut conns, client);
                continue;
            }
            let id = (ev.token().0 - 1) as u32;
            let Some(conn) = conns.get_mut(&id) else { continue };
            if let Some(why) = read_conn(net, id, conn, &mut chunk, &mut proc) {
                if let Close::Unframable(e) = &why {
                    log::warn!("tcp: closing the connection with {}: {e}", conn.peer);
                }
                close(id, &poll, &mut conns, client);
            }
        }
        if last_sweep.elapsed() >= Duration::from_secs(1) {
            last_sweep = Instant::now();
            let now = table.now_ms();
            let idle: Vec<u32> = conns
                .keys()
                .copied()
                .filter(|id| table.get(*id).is_none_or(|r| now.saturating_sub(r.last_ms) > lifetime_ms))
                .collect();
            for id in idle {
                log::debug!("tcp: connection {id} idle past tcp_connection_lifetime: closed");
                crate::stats::tcp(|t| t.con_timeout);
                close(id, &poll, &mut conns, client);
            }
        }
    }
}

/// Takes the connections the TCP main handed over.
fn take_new(handoff: &UnixDatagram, poll: &Poll, conns: &mut HashMap<u32, Conn>, client: &TcpClient) {
    let mut buf = [0u8; 32];
    loop {
        let (n, fd) = match recv_with_fd(handoff, &mut buf) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let (Some(Packet { op: Op::New, b: id, .. }), Some(fd)) = (Packet::decode(&buf[..n]), fd) else {
            continue;
        };
        let stream = TcpStream::from(fd);
        let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
            // already gone: let the TCP main forget it
            client.disown(id);
            continue;
        };
        let token = Token(id as usize + 1);
        if let Err(e) = poll.registry().register(&mut SourceFd(&stream.as_raw_fd()), token, Interest::READABLE) {
            log::error!("tcp reader: cannot watch the connection with {peer}: {e}");
            client.disown(id);
            continue;
        }
        let stream = Rc::new(stream);
        client.own(id, stream.clone());
        conns.insert(id, Conn { stream, buf: Vec::new(), peer, local, sip: !super::http::enabled() });
    }
}

fn close(id: u32, poll: &Poll, conns: &mut HashMap<u32, Conn>, client: &TcpClient) {
    if let Some(c) = conns.remove(&id) {
        let _ = poll.registry().deregister(&mut SourceFd(&c.stream.as_raw_fd()));
    }
    client.disown(id);
}

/// Reads what connection `id` has and handles every whole message; why
/// to close it, if it must be.
fn read_conn(net: &Net<'_>, id: u32, conn: &mut Conn, chunk: &mut [u8], proc: &mut ProcState) -> Option<Close> {
    let mut ended = false;
    loop {
        match (&*conn.stream).read(chunk) {
            Ok(0) => {
                ended = true;
                break;
            }
            Ok(n) => conn.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => {
                if e.kind() == std::io::ErrorKind::ConnectionReset {
                    crate::stats::tcp(|t| t.con_reset);
                }
                ended = true;
                break;
            }
        }
        if let Some(why) = handle_frames(net, id, conn, proc) {
            return Some(why);
        }
    }
    if let Some(why) = handle_frames(net, id, conn, proc) {
        return Some(why);
    }
    ended.then_some(Close::Ended)
}

/// Handles the whole messages at the front of the buffer.
fn handle_frames(net: &Net<'_>, id: u32, conn: &mut Conn, proc: &mut ProcState) -> Option<Close> {
    if !conn.sip {
        match super::http::first_line(&conn.buf) {
            super::http::FirstLine::Incomplete => return None,
            super::http::FirstLine::Other => conn.sip = true,
            super::http::FirstLine::Http => {
                if let Err(e) = super::http::hand_over(&conn.stream, &conn.buf) {
                    log::warn!("tcp: HTTP from {} not handed to xhttp: {e}", conn.peer);
                }
                return Some(Close::HandedOver);
            }
        }
    }
    let arrival = Arrival::Tcp { conn: id };
    let mut start = 0;
    let result = loop {
        let rest = &conn.buf[start..];
        if rest.is_empty() {
            break None;
        }
        match frame_stream_with(rest, net.accept_no_cl) {
            Frame::Incomplete => break None,
            Frame::KeepAlive { len, ping } => {
                if ping {
                    if let Some(tcp) = net.tcp {
                        let _ = tcp.send_on(id, conn.peer, b"\r\n", ConnFlags { no_connect: true, close: false });
                    }
                }
                start += len;
            }
            Frame::Message { len } => {
                handle_contained(net, &rest[..len], arrival, conn.peer, conn.local, proc);
                start += len;
            }
            Frame::Invalid(e) => {
                let mut out = Out::new(net, arrival, conn.peer);
                answer_unparsable(rest, e.reply_code(), &e.reason(), net.info.secret, &mut out);
                break Some(Close::Unframable(e.to_string()));
            }
        }
    };
    conn.buf.drain(..start);
    result
}
