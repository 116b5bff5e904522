//! Parse errors: what was malformed, where, and what a server answers.

use std::borrow::Cow;
use std::fmt;

use super::hdr::HeaderError;
use super::uri::UriError;

/// What was wrong with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Nothing but whitespace.
    Empty,
    /// Larger than [`crate::sip::MAX_MESSAGE_LEN`].
    TooLarge,
    /// The first line is neither a request line nor a status line.
    BadFirstLine,
    /// The method is not a token.
    BadMethod,
    /// The Request-URI is missing or holds forbidden characters.
    BadRequestUri,
    /// A SIP-Version other than SIP/2.0.
    UnsupportedVersion,
    /// A status code that is not three digits 100–699.
    BadStatusCode,
    /// A header line whose name is not a token.
    BadHeaderName,
    /// A header line without a colon.
    MissingColon,
    /// The header section is not closed by an empty line.
    UnterminatedHeaders,
    /// Content-Length is not a number, or appears twice with different values.
    BadContentLength,
    /// Content-Length claims more bytes than the datagram holds.
    BodyTruncated,
    /// A stream message without Content-Length (RFC 3261 §18.3 MUST).
    MissingContentLength,
    /// A header's value is malformed (which header: [`ParseError::header`]).
    BadHeader(HeaderError),
    /// The Request-URI is malformed.
    BadUri(UriError),
    /// A sip/sips Request-URI with a headers part (`?...`), not allowed
    /// there (RFC 3261 §19.1.5; RFC 4475 escruri).
    HeadersInRequestUri,
    /// A mandatory header is missing.
    MissingHeader,
    /// A header that may appear once appears several times.
    DuplicateHeader,
    /// The CSeq method differs from the request method.
    CSeqMethodMismatch,
}

/// A malformed message: the kind, the byte offset where it was found, and
/// the header involved if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What was wrong.
    pub kind: ParseErrorKind,
    /// Byte offset in the buffer.
    pub offset: usize,
    /// The header's name, when a header was at fault.
    pub header: Option<String>,
}

impl ParseError {
    pub(crate) fn at(kind: ParseErrorKind, offset: usize) -> Self {
        ParseError { kind, offset, header: None }
    }

    pub(crate) fn in_header(kind: ParseErrorKind, offset: usize, name: &[u8]) -> Self {
        ParseError { kind, offset, header: Some(String::from_utf8_lossy(name).into_owned()) }
    }

    pub(crate) fn named(kind: ParseErrorKind, offset: usize, name: &str) -> Self {
        ParseError { kind, offset, header: Some(name.to_owned()) }
    }

    /// The status code a server replies with, when a reply is possible
    /// (RFC 3261: 400 for malformed requests, 505 for an unsupported
    /// version, 513 for a message too large).
    pub fn reply_code(&self) -> u16 {
        match self.kind {
            ParseErrorKind::UnsupportedVersion => 505,
            ParseErrorKind::TooLarge => 513,
            _ => 400,
        }
    }

    /// The reason phrase for that reply, saying what was wrong.
    pub fn reason(&self) -> Cow<'static, str> {
        let h = self.header.as_deref().unwrap_or("header");
        Cow::Borrowed(match self.kind {
            ParseErrorKind::BadHeader(_) => return Cow::Owned(format!("Bad Request - Malformed {h}")),
            ParseErrorKind::MissingHeader => return Cow::Owned(format!("Bad Request - Missing {h}")),
            ParseErrorKind::DuplicateHeader => return Cow::Owned(format!("Bad Request - Duplicate {h}")),
            ParseErrorKind::BadUri(_) => "Bad Request - Bad Request-URI",
            ParseErrorKind::HeadersInRequestUri => "Bad Request - Headers in Request-URI",
            ParseErrorKind::CSeqMethodMismatch => "Bad Request - CSeq Method Mismatch",
            ParseErrorKind::Empty => "Bad Request - Empty Message",
            ParseErrorKind::TooLarge => "Message Too Large",
            ParseErrorKind::BadFirstLine => "Bad Request - Malformed First Line",
            ParseErrorKind::BadMethod => "Bad Request - Bad Method",
            ParseErrorKind::BadRequestUri => "Bad Request - Bad Request-URI",
            ParseErrorKind::UnsupportedVersion => "Version Not Supported",
            ParseErrorKind::BadStatusCode => "Bad Request - Bad Status Code",
            ParseErrorKind::BadHeaderName => "Bad Request - Bad Header Name",
            ParseErrorKind::MissingColon => "Bad Request - Header Without Colon",
            ParseErrorKind::UnterminatedHeaders => "Bad Request - Unterminated Headers",
            ParseErrorKind::BadContentLength => "Bad Request - Bad Content-Length",
            ParseErrorKind::BodyTruncated => "Bad Request - Body Shorter Than Content-Length",
            ParseErrorKind::MissingContentLength => "Bad Request - Missing Content-Length",
        })
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason(), self.offset)?;
        match self.kind {
            ParseErrorKind::BadHeader(e) => write!(f, ": {}", e.what())?,
            ParseErrorKind::BadUri(e) => write!(f, ": {e}")?,
            _ => {}
        }
        if let Some(h) = &self.header {
            write!(f, " (header {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}
