//! Header names: the known ones as an enum (full and compact forms, RFC
//! 3261 §7.3.3 and the later RFCs' compact letters), anything else kept as
//! `Other` with its name span.

/// A header's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderKind {
    Via,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    ContentLength,
    ContentType,
    ContentEncoding,
    Contact,
    Route,
    RecordRoute,
    Expires,
    MinExpires,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    Supported,
    Require,
    ProxyRequire,
    Unsupported,
    Allow,
    AllowEvents,
    Event,
    Path,
    UserAgent,
    Server,
    Date,
    Subject,
    Accept,
    ReferTo,
    ReferredBy,
    SessionExpires,
    Identity,
    AcceptContact,
    RejectContact,
    RequestDisposition,
    /// Any other header; its name is in [`crate::sip::Header::name`].
    Other,
}

/// (full name, compact letter, kind). Compact letters from RFC 3261
/// (i m e l c f s k t v), RFC 3515 (r), RFC 3892 (b), RFC 6665 (o u),
/// RFC 8224 (y), RFC 4028 (x), RFC 3841 (a j d).
const NAMES: &[(&str, Option<u8>, HeaderKind)] = &[
    ("Via", Some(b'v'), HeaderKind::Via),
    ("From", Some(b'f'), HeaderKind::From),
    ("To", Some(b't'), HeaderKind::To),
    ("Call-ID", Some(b'i'), HeaderKind::CallId),
    ("CSeq", None, HeaderKind::CSeq),
    ("Max-Forwards", None, HeaderKind::MaxForwards),
    ("Content-Length", Some(b'l'), HeaderKind::ContentLength),
    ("Content-Type", Some(b'c'), HeaderKind::ContentType),
    ("Content-Encoding", Some(b'e'), HeaderKind::ContentEncoding),
    ("Contact", Some(b'm'), HeaderKind::Contact),
    ("Route", None, HeaderKind::Route),
    ("Record-Route", None, HeaderKind::RecordRoute),
    ("Expires", None, HeaderKind::Expires),
    ("Min-Expires", None, HeaderKind::MinExpires),
    ("Authorization", None, HeaderKind::Authorization),
    ("Proxy-Authorization", None, HeaderKind::ProxyAuthorization),
    ("WWW-Authenticate", None, HeaderKind::WwwAuthenticate),
    ("Proxy-Authenticate", None, HeaderKind::ProxyAuthenticate),
    ("Supported", Some(b'k'), HeaderKind::Supported),
    ("Require", None, HeaderKind::Require),
    ("Proxy-Require", None, HeaderKind::ProxyRequire),
    ("Unsupported", None, HeaderKind::Unsupported),
    ("Allow", None, HeaderKind::Allow),
    ("Allow-Events", Some(b'u'), HeaderKind::AllowEvents),
    ("Event", Some(b'o'), HeaderKind::Event),
    ("Path", None, HeaderKind::Path),
    ("User-Agent", None, HeaderKind::UserAgent),
    ("Server", None, HeaderKind::Server),
    ("Date", None, HeaderKind::Date),
    ("Subject", Some(b's'), HeaderKind::Subject),
    ("Accept", None, HeaderKind::Accept),
    ("Refer-To", Some(b'r'), HeaderKind::ReferTo),
    ("Referred-By", Some(b'b'), HeaderKind::ReferredBy),
    ("Session-Expires", Some(b'x'), HeaderKind::SessionExpires),
    ("Identity", Some(b'y'), HeaderKind::Identity),
    ("Accept-Contact", Some(b'a'), HeaderKind::AcceptContact),
    ("Reject-Contact", Some(b'j'), HeaderKind::RejectContact),
    ("Request-Disposition", Some(b'd'), HeaderKind::RequestDisposition),
];

impl HeaderKind {
    /// The kind of a header named `name` (case-insensitive, compact forms).
    pub fn from_name(name: &[u8]) -> HeaderKind {
        if let [c] = name {
            let c = c.to_ascii_lowercase();
            return NAMES.iter().find(|n| n.1 == Some(c)).map_or(HeaderKind::Other, |n| n.2);
        }
        NAMES
            .iter()
            .find(|n| n.0.len() == name.len() && n.0.as_bytes().eq_ignore_ascii_case(name))
            .map_or(HeaderKind::Other, |n| n.2)
    }

    /// The canonical full name (`None` for `Other`).
    pub fn canonical_name(self) -> Option<&'static str> {
        NAMES.iter().find(|n| n.2 == self).map(|n| n.0)
    }

    /// Whether the header's value is a comma-separated list that may be
    /// split into several values (RFC 3261 §7.3.1).
    pub fn is_list(self) -> bool {
        matches!(
            self,
            HeaderKind::Via
                | HeaderKind::Contact
                | HeaderKind::Route
                | HeaderKind::RecordRoute
                | HeaderKind::Allow
                | HeaderKind::Supported
                | HeaderKind::Require
                | HeaderKind::ProxyRequire
                | HeaderKind::Unsupported
                | HeaderKind::Path
                | HeaderKind::AllowEvents
                | HeaderKind::Accept
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_compact_names_any_case() {
        assert_eq!(HeaderKind::from_name(b"via"), HeaderKind::Via);
        assert_eq!(HeaderKind::from_name(b"V"), HeaderKind::Via);
        assert_eq!(HeaderKind::from_name(b"CALL-id"), HeaderKind::CallId);
        assert_eq!(HeaderKind::from_name(b"i"), HeaderKind::CallId);
        assert_eq!(HeaderKind::from_name(b"l"), HeaderKind::ContentLength);
        assert_eq!(HeaderKind::from_name(b"m"), HeaderKind::Contact);
        assert_eq!(HeaderKind::from_name(b"cseq"), HeaderKind::CSeq);
        assert_eq!(HeaderKind::from_name(b"X-Foo"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b"q"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b""), HeaderKind::Other);
        assert_eq!(HeaderKind::CallId.canonical_name(), Some("Call-ID"));
        assert!(HeaderKind::Via.is_list() && !HeaderKind::From.is_list());
    }
}
