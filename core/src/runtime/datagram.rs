//! Datagram transports — UDP, and SCTP one-to-many sockets, which the
//! kernel gives the same shape (one message per receive, the peer with
//! it): a worker's receive loop on its socket.

use std::net::{SocketAddr, UdpSocket};

use sipr_locking::net::SctpSocket;

use super::receive::{handle_contained, Arrival, Net};
use crate::cfg::ProcState;

/// A socket that receives whole messages with their sender.
pub(super) trait DatagramSocket {
    fn recv_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)>;
    fn local_addr(&self) -> std::io::Result<SocketAddr>;
}

impl DatagramSocket for UdpSocket {
    fn recv_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        UdpSocket::recv_from(self, buf)
    }
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        UdpSocket::local_addr(self)
    }
}

impl DatagramSocket for SctpSocket {
    fn recv_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        SctpSocket::recv_from(self, buf)
    }
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        SctpSocket::local_addr(self)
    }
}

/// Receives and handles messages on `socket` (which arrived as `arrival`
/// says) until the process is told to stop.
pub(super) fn receive_loop(net: &Net<'_>, socket: &dyn DatagramSocket, arrival: Arrival, maxbuf: usize) {
    let mut buf = vec![0u8; maxbuf.clamp(4096, 65_535)];
    let mut proc = ProcState::default();
    let local = socket.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    loop {
        let (n, src) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                ::log::error!("recv on {local}: {e}");
                continue;
            }
        };
        let data = &buf[..n];
        // CRLF keep-alives and other blank datagrams
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        handle_contained(net, data, arrival, src, local, &mut proc);
    }
}
