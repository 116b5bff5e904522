//! Finding message boundaries in a byte stream (TCP, TLS): several messages
//! in one read, one message split over several reads, and the RFC 5626
//! §3.5.1 CRLF keep-alives between messages.

use super::error::{ParseError, ParseErrorKind};
use super::message::{SipMsg, MAX_MESSAGE_LEN};

/// What the start of a stream buffer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet: read more.
    Incomplete,
    /// A keep-alive: a double-CRLF "ping" (answer with a CRLF "pong") or a
    /// single CRLF "pong". Consume this many bytes.
    KeepAlive {
        /// Bytes to consume.
        len: usize,
        /// Whether it was a ping that wants a pong.
        ping: bool,
    },
    /// A whole message occupies the first `len` bytes.
    Message {
        /// Bytes of the message, body included.
        len: usize,
    },
    /// The stream cannot be framed (close the connection after replying
    /// 400 when the error says so).
    Invalid(ParseError),
}

/// Frames the message (or keep-alive) at the start of `buf`.
pub fn frame_stream(buf: &[u8]) -> Frame {
    frame_stream_with(buf, false)
}

/// [`frame_stream`], with Kamailio's `tcp_accept_no_cl`: a message without
/// Content-Length ends with its headers instead of being refused (RFC
/// 3261 §18.3 makes the header mandatory over TCP; Kamailio's option
/// relaxes it for HTTP clients).
pub fn frame_stream_with(buf: &[u8], accept_no_cl: bool) -> Frame {
    const PING: &[u8] = b"\r\n\r\n";
    if buf.first() == Some(&b'\r') || buf.first() == Some(&b'\n') {
        if buf.starts_with(PING) {
            return Frame::KeepAlive { len: 4, ping: true };
        }
        if PING.starts_with(buf) {
            return Frame::Incomplete;
        }
        let len = if buf.starts_with(b"\r\n") { 2 } else { 1 };
        return Frame::KeepAlive { len, ping: false };
    }
    let Some(head_end) = memchr::memmem::find(buf, PING).map(|i| i + PING.len()) else {
        return if buf.len() > MAX_MESSAGE_LEN {
            Frame::Invalid(ParseError::at(ParseErrorKind::TooLarge, MAX_MESSAGE_LEN))
        } else {
            Frame::Incomplete
        };
    };
    let head = match SipMsg::parse_head(&buf[..head_end]) {
        Ok(m) => m,
        Err(e) => return Frame::Invalid(e),
    };
    let cl = match head.content_length() {
        Some(cl) => cl,
        None if accept_no_cl => 0,
        None => return Frame::Invalid(ParseError::at(ParseErrorKind::MissingContentLength, head_end)),
    };
    let len = head_end + cl;
    if len > MAX_MESSAGE_LEN {
        Frame::Invalid(ParseError::at(ParseErrorKind::TooLarge, MAX_MESSAGE_LEN))
    } else if buf.len() < len {
        Frame::Incomplete
    } else {
        Frame::Message { len }
    }
}
