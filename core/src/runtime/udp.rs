//! UDP: a worker's receive loop on its socket.

use std::net::SocketAddr;

use super::receive::{handle_contained, Arrival, Net};
use crate::cfg::ProcState;

/// Receives and handles messages on UDP socket `sock` until the process is
/// told to stop.
pub(super) fn receive_loop(net: &Net<'_>, sock: usize, maxbuf: usize) {
    let socket = &net.udp[sock];
    let mut buf = vec![0u8; maxbuf.clamp(4096, 65_535)];
    let mut proc = ProcState::default();
    let local = socket.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let arrival = Arrival::Udp { sock };
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
