//! The TCP main process: accepts connections, registers them in the
//! connection table, gives each to the least loaded reader, keeps a copy
//! of every descriptor for processes that must send on a connection they
//! do not read, and forgets connections their reader closed.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use sipr_locking::net::{recv_with_fd, send_with_fd};

use super::table::ConnTable;
use super::{Op, Packet};

/// What the TCP main works with (opened before the fork).
#[derive(Debug)]
pub struct TcpMain<'a> {
    /// TCP listen sockets with their index among the TCP listen entries.
    pub listeners: &'a [(TcpListener, u16)],
    /// Per reader: the channel connections are handed over on, its rank.
    pub readers: Vec<(&'a UnixDatagram, i32)>,
    /// The TCP main's end of every process's request channel.
    pub requests: Vec<&'a UnixDatagram>,
    /// `tcp_max_connections`.
    pub max_connections: usize,
    /// The connection table.
    pub table: &'static ConnTable,
}

struct Conn {
    fd: OwnedFd,
    reader: usize,
}

const REQUEST_TOKEN_BASE: usize = 1 << 20;

impl TcpMain<'_> {
    /// Serves until the process is told to stop.
    pub fn run(self) -> i32 {
        let mut poll = match Poll::new() {
            Ok(p) => p,
            Err(e) => {
                log::error!("tcp main: cannot create a poller: {e}");
                return 1;
            }
        };
        for (i, (l, _)) in self.listeners.iter().enumerate() {
            let reg = l
                .set_nonblocking(true)
                .and_then(|_| poll.registry().register(&mut SourceFd(&l.as_raw_fd()), Token(i), Interest::READABLE));
            if let Err(e) = reg {
                log::error!("tcp main: cannot watch listen socket {i}: {e}");
                return 1;
            }
        }
        for (i, r) in self.requests.iter().enumerate() {
            let reg = r.set_nonblocking(true).and_then(|_| {
                poll.registry().register(
                    &mut SourceFd(&r.as_raw_fd()),
                    Token(REQUEST_TOKEN_BASE + i),
                    Interest::READABLE,
                )
            });
            if let Err(e) = reg {
                log::error!("tcp main: cannot watch request channel {i}: {e}");
                return 1;
            }
        }
        let mut conns: HashMap<u32, Conn> = HashMap::new();
        let mut load = vec![0usize; self.readers.len()];
        let mut events = Events::with_capacity(256);
        loop {
            if let Err(e) = poll.poll(&mut events, None) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::error!("tcp main: poll: {e}");
                }
                continue;
            }
            for ev in events.iter() {
                let t = ev.token().0;
                if t < REQUEST_TOKEN_BASE {
                    if let Some((l, idx)) = self.listeners.get(t) {
                        self.accept_all(l, *idx, &mut conns, &mut load);
                    }
                } else if let Some(chan) = self.requests.get(t - REQUEST_TOKEN_BASE) {
                    self.serve_requests(chan, &mut conns, &mut load);
                }
            }
        }
    }

    fn accept_all(&self, l: &TcpListener, idx: u16, conns: &mut HashMap<u32, Conn>, load: &mut [usize]) {
        loop {
            match l.accept() {
                Ok((stream, peer)) => {
                    if conns.len() >= self.max_connections {
                        log::error!(
                            "tcp: maximum number of connections exceeded ({}): connection from {peer} refused",
                            self.max_connections
                        );
                        crate::stats::tcp(|t| t.local_reject);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    if let Err(e) = stream.set_nonblocking(true) {
                        log::error!("tcp: connection from {peer}: {e}");
                        continue;
                    }
                    if self.register(OwnedFd::from(stream), peer, idx, conns, load).is_some() {
                        crate::stats::tcp(|t| t.passive_open);
                        crate::stats::tcp(|t| t.established);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE and the like: log, and let poll tell us again
                    log::error!("tcp: accept: {e}");
                    return;
                }
            }
        }
    }

    /// Records a connection and hands it to the least loaded reader.
    fn register(
        &self,
        fd: OwnedFd,
        peer: SocketAddr,
        idx: u16,
        conns: &mut HashMap<u32, Conn>,
        load: &mut [usize],
    ) -> Option<u32> {
        let reader = (0..self.readers.len()).min_by_key(|r| load[*r])?;
        let (chan, rank) = self.readers[reader];
        let id = match self.table.register(peer, idx, rank) {
            Ok(id) => id,
            Err(_) => {
                log::error!("tcp: shared memory full: connection with {peer} refused");
                return None;
            }
        };
        if let Err(e) = send_with_fd(chan, &Packet::new(Op::New, idx as u32, id).encode(), Some(fd.as_fd())) {
            log::error!("tcp: cannot hand the connection with {peer} to reader rank {rank}: {e}");
            self.table.remove(id);
            return None;
        }
        load[reader] += 1;
        conns.insert(id, Conn { fd, reader });
        Some(id)
    }

    fn serve_requests(&self, chan: &UnixDatagram, conns: &mut HashMap<u32, Conn>, load: &mut [usize]) {
        let mut buf = [0u8; 32];
        loop {
            let (n, fd) = match recv_with_fd(chan, &mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return, // WouldBlock: all served
            };
            let Some(p) = Packet::decode(&buf[..n]) else {
                log::warn!("tcp main: a malformed request on a process channel was ignored");
                continue;
            };
            let reply = match p.op {
                Op::Get => match conns.get(&p.b) {
                    Some(c) => send_with_fd(chan, &Packet::new(Op::Fd, p.a, p.b).encode(), Some(c.fd.as_fd())),
                    None => send_with_fd(chan, &Packet::new(Op::Refused, p.a, p.b).encode(), None),
                },
                Op::Adopt => {
                    let id = fd.and_then(|fd| {
                        if conns.len() >= self.max_connections {
                            log::error!(
                                "tcp: maximum number of connections exceeded ({}): new outgoing connection closed",
                                self.max_connections
                            );
                            return None;
                        }
                        let peer = TcpStream::from(fd.try_clone().ok()?).peer_addr().ok()?;
                        self.register(fd, peer, p.b as u16, conns, load)
                    });
                    match id {
                        Some(id) => send_with_fd(chan, &Packet::new(Op::Id, p.a, id).encode(), None),
                        None => send_with_fd(chan, &Packet::new(Op::Refused, p.a, 0).encode(), None),
                    }
                }
                Op::Closed => {
                    if let Some(c) = conns.remove(&p.b) {
                        load[c.reader] = load[c.reader].saturating_sub(1);
                    }
                    self.table.remove(p.b);
                    Ok(0)
                }
                _ => Ok(0),
            };
            if let Err(e) = reply {
                log::warn!("tcp main: cannot answer a process: {e}");
            }
        }
    }
}
