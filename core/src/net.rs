//! Transport-level facts the script can see: the protocol a message came
//! over and the addresses it travelled between. The transports
//! themselves arrive with the runtime issue.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A SIP transport protocol (one byte, as it crosses the module ABI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Proto {
    /// UDP.
    #[default]
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// SCTP.
    Sctp,
    /// WebSocket.
    Ws,
    /// Secure WebSocket.
    Wss,
}

impl Proto {
    /// Every transport, in declaration order (`Proto::ALL[p as usize] == p`).
    pub const ALL: [Proto; 6] = [Proto::Udp, Proto::Tcp, Proto::Tls, Proto::Sctp, Proto::Ws, Proto::Wss];

    /// Lower-case name as `$pr` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
            Proto::Tls => "tls",
            Proto::Sctp => "sctp",
            Proto::Ws => "ws",
            Proto::Wss => "wss",
        }
    }

    /// The name in upper case, as a Via's sent-protocol writes it.
    pub fn upper_name(self) -> &'static str {
        match self {
            Proto::Udp => "UDP",
            Proto::Tcp => "TCP",
            Proto::Tls => "TLS",
            Proto::Sctp => "SCTP",
            Proto::Ws => "WS",
            Proto::Wss => "WSS",
        }
    }

    /// Parses a protocol name, any case.
    pub fn from_name(s: &str) -> Option<Proto> {
        Proto::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(s))
    }

    /// The port a URI without one means: 5061 for TLS/WSS, else 5060.
    pub fn default_port(self) -> u16 {
        match self {
            Proto::Tls | Proto::Wss => 5061,
            _ => 5060,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a message came from and on which local socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvInfo {
    /// The peer.
    pub src: SocketAddr,
    /// The local socket that received it.
    pub dst: SocketAddr,
    /// The transport.
    pub proto: Proto,
}

impl Default for RecvInfo {
    fn default() -> Self {
        let lo = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060);
        RecvInfo { src: lo, dst: lo, proto: Proto::Udp }
    }
}

/// An IP network (`10.0.0.0/8`), for `src_ip == NET` matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl IpNet {
    /// Parses `ADDR` or `ADDR/LEN` (IPv6 with or without brackets).
    pub fn parse(s: &str) -> Option<IpNet> {
        let (a, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let a = a.trim_start_matches('[').trim_end_matches(']');
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = len.unwrap_or(max);
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix) };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Where replies to a request received from `src` go over a datagram
/// transport (RFC 3261 §18.2.2): the source address, with the source port
/// when the top Via asks for `rport` (RFC 3581) or the script forced it,
/// else the Via's port (5060 when none) — as Kamailio.
/// A socket as Kamailio names it in `$Ri`-style text and usrloc's
/// `socket` column: `proto:host:port` (IPv6 in brackets).
pub fn socket_text(proto: Proto, addr: SocketAddr) -> String {
    format!("{}:{}:{}", proto.name(), crate::sip::emit::host_text(addr.ip()), addr.port())
}

pub fn reply_address(
    msg: &crate::sip::SipMsg<'_>,
    src: std::net::SocketAddr,
    force_rport: bool,
) -> std::net::SocketAddr {
    match msg.via1() {
        Ok(v) if !force_rport && v.rport(msg.buf()).is_none() => {
            std::net::SocketAddr::new(src.ip(), v.port.unwrap_or(5060))
        }
        _ => src,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets() {
        let n = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(!n.contains("11.1.2.3".parse().unwrap()));
        assert!(IpNet::parse("[::1]").unwrap().contains("::1".parse().unwrap()));
        assert!(IpNet::parse("1.2.3.4/33").is_none());
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
    }
}
