//! HTTP on the SIP TCP listeners (Kamailio's xhttp): a connection whose
//! first line is an HTTP request line is handed — its descriptor and the
//! bytes already read — to the xhttp module's process, which serves it
//! outside the SIP workers, so that a slow HTTP client never holds a TCP
//! reader. The channel exists when the cfg loads xhttp (made before the
//! fork, [`init`]); without it HTTP is read as SIP, as Kamailio without
//! xhttp does.

use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;
use std::sync::OnceLock;

/// The hand-over channel: (readers' end, xhttp process' end).
static CHANNEL: OnceLock<(UnixDatagram, UnixDatagram)> = OnceLock::new();

/// The most bytes handed over with a connection: more than an HTTP
/// request line and its headers need.
pub const MAX_HANDOVER: usize = 64 * 1024;

/// Makes the channel (main process, before the fork).
pub fn init() -> std::io::Result<()> {
    let (tx, rx) = UnixDatagram::pair()?;
    // a reader never waits on the xhttp process
    tx.set_nonblocking(true)?;
    let _ = CHANNEL.set((tx, rx));
    Ok(())
}

/// The xhttp process' end, when there is a channel.
pub fn receiver() -> Option<&'static UnixDatagram> {
    CHANNEL.get().map(|(_, rx)| rx)
}

/// Whether HTTP is handed over at all.
pub fn enabled() -> bool {
    CHANNEL.get().is_some()
}

/// What the first bytes of a connection are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstLine {
    /// Not a whole line yet.
    Incomplete,
    /// An HTTP request line (`GET /path HTTP/1.1`).
    Http,
    /// Anything else (SIP, or garbage the SIP framing judges).
    Other,
}

/// Reads the first line of a connection: `METHOD SP target SP HTTP/1.x`.
pub fn first_line(buf: &[u8]) -> FirstLine {
    let Some(end) = memchr::memchr(b'\n', buf) else {
        return if buf.len() > 8192 { FirstLine::Other } else { FirstLine::Incomplete };
    };
    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let mut parts = line.split(|b| *b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return FirstLine::Other;
    };
    let token = !method.is_empty() && method.iter().all(|b| b.is_ascii_uppercase());
    if token && !target.is_empty() && (version == b"HTTP/1.1" || version == b"HTTP/1.0") {
        FirstLine::Http
    } else {
        FirstLine::Other
    }
}

/// Hands connection `stream` and the bytes read from it to the xhttp
/// process; `Err` when it cannot (no channel, the process is not
/// reading, too many bytes): the caller closes the connection.
pub fn hand_over(stream: &std::net::TcpStream, read: &[u8]) -> std::io::Result<()> {
    let (tx, _) = CHANNEL.get().ok_or_else(|| std::io::Error::other("xhttp is not loaded"))?;
    if read.len() > MAX_HANDOVER {
        return Err(std::io::Error::other("HTTP request head too large"));
    }
    sipr_locking::net::send_with_fd(tx, read, Some(stream.as_fd())).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_request_lines() {
        assert_eq!(first_line(b"POST /RPC HTTP/1.1\r\nHost: x\r\n"), FirstLine::Http);
        assert_eq!(first_line(b"GET /metrics HTTP/1.0\r\n"), FirstLine::Http);
        assert_eq!(first_line(b"GET /metrics HTTP/1.1"), FirstLine::Incomplete);
        assert_eq!(first_line(b"OPTIONS sip:a@b SIP/2.0\r\n"), FirstLine::Other);
        assert_eq!(first_line(b"\r\n\r\n"), FirstLine::Other);
        assert_eq!(first_line(b"get / HTTP/1.1\r\n"), FirstLine::Other);
        assert_eq!(first_line(b"GET / HTTP/2\r\n"), FirstLine::Other);
        assert_eq!(first_line(&[b'A'; 9000]), FirstLine::Other);
    }
}
