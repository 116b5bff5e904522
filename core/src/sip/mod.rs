//! The SIP message layer (RFC 3261 §7, §20, §25), free of I/O.
//!
//! Parsing is lazy and zero-copy, as SER's: [`SipMsg::parse`] finds the
//! first line and every header's boundaries in one pass over the receive
//! buffer and records them as [`Span`]s (offset, length); a header's body
//! is parsed into a typed value only when something asks for it. Because
//! everything is a span into one buffer, a message is copied into shm with
//! one memcpy and no pointer fix-ups.

mod build;
mod describe;
pub mod emit;
mod error;
mod exercise;
mod framing;
mod hdr;
mod headers;
mod lump;
mod message;
mod scan;
mod uri;

pub use build::{
    decode_stateful_branch, forward_reply, forward_request, hop_request, local_reply, local_to_tag, salvage_reply,
    stateful_branch, stateless_branch, BuildError, ForwardRequest, LocalTag, ReplyOpts, Source, ViaSpec,
    DEFAULT_MAX_FORWARDS, MAGIC_COOKIE,
};
pub use describe::describe;
pub use error::{ParseError, ParseErrorKind};
pub use exercise::exercise;
pub use framing::{frame_stream, frame_stream_with, Frame};
pub use hdr::{
    civil, days_from_civil, list_items, parse_delta_seconds, parse_number, parse_tokens, visit_tokens, AuthParams,
    CSeq, Contact, ContentType, Event, HeaderError, NameAddr, SipDate, Via,
};
pub use headers::HeaderKind;
pub use lump::{LumpError, Lumps, OtherSocket, SendSide, OUT_ADDR, OUT_TRANSPORT, OUT_TRANSPORT_ALWAYS};
pub use message::{method_id, FirstLine, Header, Method, SipMsg, Span, MAX_MESSAGE_LEN};
pub use scan::{Param, ParamIter, Params};
pub(crate) use uri::ipv4_octets;
pub use uri::{unescape, HostKind, Scheme, Uri, UriError};
