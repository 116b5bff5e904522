//! TCP, in Kamailio's shape: the TCP main process accepts connections and
//! owns them (it keeps every descriptor and the connection table in shm),
//! and hands each to one of the `tcp_children` readers over a unix socket
//! (SCM_RIGHTS). A reader frames the stream into messages with the
//! parser's stream framing and runs the script on each, answering on the
//! same connection. Any process that must send on a connection it does not
//! read asks the TCP main for a copy of its descriptor; one that must
//! reach a peer with no connection opens one and gives it to the TCP main
//! to be read. Writes on one connection are serialised by a lock in shm.
//!
//! Between a process and the TCP main, datagrams of nine bytes: an
//! operation byte and two little-endian u32 (see [`Op`]), plus a
//! descriptor where the operation carries one.

mod client;
pub mod http;
pub(super) mod main;
pub(super) mod reader;
pub mod table;

pub(super) use client::TcpClient;

/// Operations on the channels between processes and the TCP main.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Op {
    /// process → main: the descriptor of connection `b`, please (`a` = seq).
    Get = b'G',
    /// main → process: here it is (descriptor attached).
    Fd = b'F',
    /// main → process: no such connection / refused.
    Refused = b'X',
    /// process → main: a connection this process opened, to be read by a
    /// reader (descriptor attached; `b` = listen socket index).
    Adopt = b'A',
    /// main → process: the adopted connection's id is `b`.
    Id = b'I',
    /// reader → main: connection `b` is closed.
    Closed = b'C',
    /// main → reader: read connection `b` from now on (descriptor
    /// attached; `a` = listen socket index).
    New = b'N',
}

impl Op {
    fn from_byte(b: u8) -> Option<Op> {
        Some(match b {
            b'G' => Op::Get,
            b'F' => Op::Fd,
            b'X' => Op::Refused,
            b'A' => Op::Adopt,
            b'I' => Op::Id,
            b'C' => Op::Closed,
            b'N' => Op::New,
            _ => return None,
        })
    }
}

/// One channel datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Packet {
    pub op: Op,
    pub a: u32,
    pub b: u32,
}

impl Packet {
    pub const LEN: usize = 9;

    pub fn new(op: Op, a: u32, b: u32) -> Packet {
        Packet { op, a, b }
    }

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0] = self.op as u8;
        out[1..5].copy_from_slice(&self.a.to_le_bytes());
        out[5..9].copy_from_slice(&self.b.to_le_bytes());
        out
    }

    pub fn decode(data: &[u8]) -> Option<Packet> {
        if data.len() != Self::LEN {
            return None;
        }
        let op = Op::from_byte(data[0])?;
        let a = u32::from_le_bytes(data[1..5].try_into().ok()?);
        let b = u32::from_le_bytes(data[5..9].try_into().ok()?);
        Some(Packet { op, a, b })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip() {
        for op in [Op::Get, Op::Fd, Op::Refused, Op::Adopt, Op::Id, Op::Closed, Op::New] {
            let p = Packet::new(op, 7, u32::MAX);
            assert_eq!(Packet::decode(&p.encode()), Some(p));
        }
        assert_eq!(Packet::decode(b"Z12345678"), None);
        assert_eq!(Packet::decode(b"G1"), None);
    }
}
