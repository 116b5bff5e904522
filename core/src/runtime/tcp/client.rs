//! Sending over TCP from any process: on a connection this process reads,
//! on one another process reads (its descriptor fetched from the TCP
//! main), or on a new one (opened here, then handed to the TCP main).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sipr_locking::net::{recv_with_fd, send_with_fd, wait_writable};

use super::table::ConnTable;
use super::{Op, Packet};
use crate::cfg::ConnFlags;

/// Why a TCP send failed.
#[derive(Debug)]
pub enum TcpError {
    /// Connecting to the peer failed or timed out.
    Connect(SocketAddr, std::io::Error),
    /// The peer did not take the data within `tcp_send_timeout`.
    SendTimeout(SocketAddr),
    /// Writing failed.
    Write(SocketAddr, std::io::Error),
    /// The TCP main refused or did not answer (connection limit, shutdown).
    Main(String),
    /// No connection was open and the script forbade opening one
    /// (`set_forward_no_connect`, `set_reply_no_connect`).
    NotConnected(SocketAddr),
}

impl std::fmt::Display for TcpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TcpError::Connect(a, e) => write!(f, "cannot connect to tcp:{a}: {e}"),
            TcpError::SendTimeout(a) => write!(f, "send to tcp:{a} timed out; connection closed"),
            TcpError::Write(a, e) => write!(f, "send to tcp:{a}: {e}"),
            TcpError::Main(e) => write!(f, "tcp: {e}"),
            TcpError::NotConnected(a) => write!(f, "no open connection to tcp:{a}, and opening one is not allowed"),
        }
    }
}

impl std::error::Error for TcpError {}

/// A process's TCP sending side.
pub struct TcpClient {
    /// This process's channel to the TCP main.
    chan: UnixDatagram,
    table: &'static ConnTable,
    /// Connections this process reads (a reader's), by id.
    owned: RefCell<HashMap<u32, Rc<TcpStream>>>,
    seq: Cell<u32>,
    connect_timeout: Duration,
    send_timeout: Duration,
    /// TCP listen sockets: (index, is IPv4), for new connections' records.
    locals: Vec<(u16, bool)>,
}

impl std::fmt::Debug for TcpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpClient").field("owned", &self.owned.borrow().len()).finish()
    }
}

/// How long a process waits for the TCP main's answer.
const MAIN_TIMEOUT: Duration = Duration::from_secs(2);

impl TcpClient {
    /// A client talking to the TCP main over `chan`.
    pub fn new(
        chan: UnixDatagram,
        table: &'static ConnTable,
        connect_timeout: Duration,
        send_timeout: Duration,
        locals: Vec<(u16, bool)>,
    ) -> std::io::Result<TcpClient> {
        chan.set_read_timeout(Some(MAIN_TIMEOUT))?;
        Ok(TcpClient {
            chan,
            table,
            owned: RefCell::new(HashMap::new()),
            seq: Cell::new(0),
            connect_timeout: connect_timeout.max(Duration::from_millis(100)),
            send_timeout: send_timeout.max(Duration::from_millis(100)),
            locals,
        })
    }

    /// The connection table.
    pub fn table(&self) -> &'static ConnTable {
        self.table
    }

    /// A reader took connection `id`.
    pub(super) fn own(&self, id: u32, stream: Rc<TcpStream>) {
        self.owned.borrow_mut().insert(id, stream);
    }

    /// A reader closed connection `id`: the TCP main forgets it too.
    pub(super) fn disown(&self, id: u32) {
        self.owned.borrow_mut().remove(&id);
        let _ = send_with_fd(&self.chan, &Packet::new(Op::Closed, 0, id).encode(), None);
    }

    /// Sends on connection `id` (a message's own connection); when it has
    /// been closed meanwhile, to `peer` on a connection found or opened
    /// (unless `flags` forbid opening one).
    pub fn send_on(&self, id: u32, peer: SocketAddr, data: &[u8], flags: ConnFlags) -> Result<(), TcpError> {
        match self.send_existing(id, peer, data, flags) {
            Some(r) => r,
            None => self.send_to(peer, data, flags),
        }
    }

    /// Sends to `to`: on the open connection to it, else on a new one
    /// (unless `flags` forbid opening one).
    pub fn send_to(&self, to: SocketAddr, data: &[u8], flags: ConnFlags) -> Result<(), TcpError> {
        if let Some(id) = self.table.find(to) {
            if let Some(r) = self.send_existing(id, to, data, flags) {
                return r;
            }
        }
        if flags.no_connect {
            return Err(TcpError::NotConnected(to));
        }
        let stream = TcpStream::connect_timeout(&to, self.connect_timeout).map_err(|e| {
            // Kamailio's BLST_ERR_CONNECT (with use_dst_blocklist on)
            crate::blocklist::add(crate::net::Proto::Tcp, to, crate::blocklist::reason::ERR_CONNECT, None);
            crate::stats::tcp(|t| t.connect_failed);
            TcpError::Connect(to, e)
        })?;
        crate::stats::tcp(|t| t.connect_success);
        crate::stats::tcp(|t| t.established);
        let _ = stream.set_nodelay(true);
        stream.set_nonblocking(true).map_err(|e| TcpError::Connect(to, e))?;
        let local = self.locals.iter().find(|(_, v4)| *v4 == to.is_ipv4()).or(self.locals.first()).map_or(0, |l| l.0);
        let id = self.adopt(stream.as_fd(), local)?;
        self.write_then(id, &stream, to, data, flags)
    }

    /// Sends on connection `id` when it is still open (`None` when not).
    fn send_existing(&self, id: u32, peer: SocketAddr, data: &[u8], flags: ConnFlags) -> Option<Result<(), TcpError>> {
        let mine = self.owned.borrow().get(&id).cloned();
        if let Some(stream) = mine {
            return Some(self.write_then(id, &stream, peer, data, flags));
        }
        let fd = self.fetch(id)?;
        let stream = TcpStream::from(fd);
        Some(self.write_then(id, &stream, peer, data, flags))
    }

    /// [`Self::write`], then the connection closed when `flags` ask: a
    /// shutdown reaches the socket whichever process holds a copy, so
    /// the peer sees the close and the reader cleans up on its EOF.
    fn write_then(
        &self,
        id: u32,
        stream: &TcpStream,
        peer: SocketAddr,
        data: &[u8],
        flags: ConnFlags,
    ) -> Result<(), TcpError> {
        self.write(id, stream, peer, data)?;
        if flags.close {
            let _ = stream.shutdown(Shutdown::Both);
        }
        Ok(())
    }

    /// Asks the TCP main for a copy of connection `id`'s descriptor.
    fn fetch(&self, id: u32) -> Option<OwnedFd> {
        match self.request(Op::Get, id, None) {
            Ok((Packet { op: Op::Fd, .. }, Some(fd))) => Some(fd),
            _ => None,
        }
    }

    /// Hands a connection this process opened to the TCP main; its id.
    fn adopt(&self, fd: BorrowedFd<'_>, local: u16) -> Result<u32, TcpError> {
        match self.request(Op::Adopt, local as u32, Some(fd))? {
            (Packet { op: Op::Id, b, .. }, _) => Ok(b),
            _ => Err(TcpError::Main("the TCP main refused a new connection (tcp_max_connections?)".into())),
        }
    }

    /// One request to the TCP main and its answer (older answers that
    /// arrive late are skipped by their sequence number).
    fn request(&self, op: Op, value: u32, fd: Option<BorrowedFd<'_>>) -> Result<(Packet, Option<OwnedFd>), TcpError> {
        let seq = self.seq.get().wrapping_add(1);
        self.seq.set(seq);
        send_with_fd(&self.chan, &Packet::new(op, seq, value).encode(), fd)
            .map_err(|e| TcpError::Main(format!("cannot reach the TCP main: {e}")))?;
        let deadline = Instant::now() + MAIN_TIMEOUT;
        let mut buf = [0u8; 32];
        while Instant::now() < deadline {
            match recv_with_fd(&self.chan, &mut buf) {
                Ok((n, fd)) => match Packet::decode(&buf[..n]) {
                    Some(p) if p.a == seq => return Ok((p, fd)),
                    _ => continue,
                },
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(TcpError::Main(format!("no answer from the TCP main: {e}"))),
            }
        }
        Err(TcpError::Main("no answer from the TCP main".into()))
    }

    /// Writes `data` whole on connection `id`, under its write lock, within
    /// `tcp_send_timeout` (the connection is shut down when that runs out:
    /// a partial message cannot be taken back).
    fn write(&self, id: u32, stream: &TcpStream, peer: SocketAddr, data: &[u8]) -> Result<(), TcpError> {
        let _g = self.table.lock_write(id);
        let deadline = Instant::now() + self.send_timeout;
        let mut off = 0;
        let mut w = stream;
        while off < data.len() {
            match w.write(&data[off..]) {
                Ok(0) => return Err(TcpError::Write(peer, std::io::ErrorKind::WriteZero.into())),
                Ok(n) => off += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() || !wait_writable(stream.as_fd(), left).unwrap_or(false) {
                        let _ = stream.shutdown(Shutdown::Both);
                        crate::stats::tcp(|t| t.send_timeout);
                        return Err(TcpError::SendTimeout(peer));
                    }
                }
                Err(e) => return Err(TcpError::Write(peer, e)),
            }
        }
        self.table.touch(id);
        Ok(())
    }
}
