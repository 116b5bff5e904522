//! Header names: the known ones as an enum (full and compact forms, RFC
//! 3261 §7.3.3 and the later RFCs' compact letters), anything else kept as
//! `Other` with its name span.

/// A header's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
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
    #[default]
    Other,
}

/// Canonical names. The compact letters (in `from_name`) are from RFC 3261
/// (i m e l c f s k t v), RFC 3515 (r), RFC 3892 (b), RFC 6665 (o u),
/// RFC 8224 (y), RFC 4028 (x), RFC 3841 (a j d).
const NAMES: &[(&str, HeaderKind)] = &[
    ("Via", HeaderKind::Via),
    ("From", HeaderKind::From),
    ("To", HeaderKind::To),
    ("Call-ID", HeaderKind::CallId),
    ("CSeq", HeaderKind::CSeq),
    ("Max-Forwards", HeaderKind::MaxForwards),
    ("Content-Length", HeaderKind::ContentLength),
    ("Content-Type", HeaderKind::ContentType),
    ("Content-Encoding", HeaderKind::ContentEncoding),
    ("Contact", HeaderKind::Contact),
    ("Route", HeaderKind::Route),
    ("Record-Route", HeaderKind::RecordRoute),
    ("Expires", HeaderKind::Expires),
    ("Min-Expires", HeaderKind::MinExpires),
    ("Authorization", HeaderKind::Authorization),
    ("Proxy-Authorization", HeaderKind::ProxyAuthorization),
    ("WWW-Authenticate", HeaderKind::WwwAuthenticate),
    ("Proxy-Authenticate", HeaderKind::ProxyAuthenticate),
    ("Supported", HeaderKind::Supported),
    ("Require", HeaderKind::Require),
    ("Proxy-Require", HeaderKind::ProxyRequire),
    ("Unsupported", HeaderKind::Unsupported),
    ("Allow", HeaderKind::Allow),
    ("Allow-Events", HeaderKind::AllowEvents),
    ("Event", HeaderKind::Event),
    ("Path", HeaderKind::Path),
    ("User-Agent", HeaderKind::UserAgent),
    ("Server", HeaderKind::Server),
    ("Date", HeaderKind::Date),
    ("Subject", HeaderKind::Subject),
    ("Accept", HeaderKind::Accept),
    ("Refer-To", HeaderKind::ReferTo),
    ("Referred-By", HeaderKind::ReferredBy),
    ("Session-Expires", HeaderKind::SessionExpires),
    ("Identity", HeaderKind::Identity),
    ("Accept-Contact", HeaderKind::AcceptContact),
    ("Reject-Contact", HeaderKind::RejectContact),
    ("Request-Disposition", HeaderKind::RequestDisposition),
];

/// Case-insensitive equality of a header-name token with a lower-case
/// candidate made of letters and `-`: OR-ing 0x20 lower-cases letters and
/// leaves `-` alone, and no other token character maps onto a letter or
/// `-` (so this is exact for tokens, and branch-free per byte).
fn eq_lower(name: &[u8], lower: &[u8]) -> bool {
    name.len() == lower.len() && name.iter().zip(lower).fold(0u8, |acc, (a, b)| acc | ((a | 0x20) ^ b)) == 0
}

impl HeaderKind {
    /// The kind of a header named `name` (case-insensitive, compact forms).
    pub fn from_name(name: &[u8]) -> HeaderKind {
        use HeaderKind as H;
        let Some(&first) = name.first() else { return H::Other };
        let first = first | 0x20;
        if name.len() == 1 {
            return match first {
                b'v' => H::Via,
                b'f' => H::From,
                b't' => H::To,
                b'i' => H::CallId,
                b'l' => H::ContentLength,
                b'c' => H::ContentType,
                b'e' => H::ContentEncoding,
                b'm' => H::Contact,
                b'k' => H::Supported,
                b'u' => H::AllowEvents,
                b'o' => H::Event,
                b's' => H::Subject,
                b'r' => H::ReferTo,
                b'b' => H::ReferredBy,
                b'x' => H::SessionExpires,
                b'y' => H::Identity,
                b'a' => H::AcceptContact,
                b'j' => H::RejectContact,
                b'd' => H::RequestDisposition,
                _ => H::Other,
            };
        }
        // Length and first letter leave at most two candidates; one
        // case-insensitive compare confirms.
        let candidates: &[(&str, HeaderKind)] = match (name.len(), first) {
            (2, b't') => &[("to", H::To)],
            (3, b'v') => &[("via", H::Via)],
            (4, b'f') => &[("from", H::From)],
            (4, b'c') => &[("cseq", H::CSeq)],
            (4, b'p') => &[("path", H::Path)],
            (4, b'd') => &[("date", H::Date)],
            (5, b'r') => &[("route", H::Route)],
            (5, b'a') => &[("allow", H::Allow)],
            (5, b'e') => &[("event", H::Event)],
            (6, b's') => &[("server", H::Server)],
            (6, b'a') => &[("accept", H::Accept)],
            (7, b'c') => &[("call-id", H::CallId), ("contact", H::Contact)],
            (7, b'e') => &[("expires", H::Expires)],
            (7, b'r') => &[("require", H::Require)],
            (7, b's') => &[("subject", H::Subject)],
            (8, b'r') => &[("refer-to", H::ReferTo)],
            (8, b'i') => &[("identity", H::Identity)],
            (9, b's') => &[("supported", H::Supported)],
            (10, b'u') => &[("user-agent", H::UserAgent)],
            (11, b'm') => &[("min-expires", H::MinExpires)],
            (11, b'u') => &[("unsupported", H::Unsupported)],
            (11, b'r') => &[("referred-by", H::ReferredBy)],
            (12, b'm') => &[("max-forwards", H::MaxForwards)],
            (12, b'c') => &[("content-type", H::ContentType)],
            (12, b'r') => &[("record-route", H::RecordRoute)],
            (12, b'a') => &[("allow-events", H::AllowEvents)],
            (13, b'a') => &[("authorization", H::Authorization)],
            (13, b'p') => &[("proxy-require", H::ProxyRequire)],
            (14, b'c') => &[("content-length", H::ContentLength)],
            (14, b'a') => &[("accept-contact", H::AcceptContact)],
            (14, b'r') => &[("reject-contact", H::RejectContact)],
            (15, b's') => &[("session-expires", H::SessionExpires)],
            (16, b'c') => &[("content-encoding", H::ContentEncoding)],
            (16, b'w') => &[("www-authenticate", H::WwwAuthenticate)],
            (18, b'p') => &[("proxy-authenticate", H::ProxyAuthenticate)],
            (19, b'p') => &[("proxy-authorization", H::ProxyAuthorization)],
            (19, b'r') => &[("request-disposition", H::RequestDisposition)],
            _ => return H::Other,
        };
        candidates.iter().find(|(n, _)| eq_lower(name, n.as_bytes())).map_or(H::Other, |&(_, k)| k)
    }

    /// The canonical full name (`None` for `Other`).
    pub fn canonical_name(self) -> Option<&'static str> {
        NAMES.iter().find(|n| n.1 == self).map(|n| n.0)
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
        // Every canonical name maps back to its kind, in any case.
        for &(name, kind) in NAMES {
            assert_eq!(HeaderKind::from_name(name.as_bytes()), kind, "{name}");
            assert_eq!(HeaderKind::from_name(name.to_uppercase().as_bytes()), kind, "{name}");
        }
        assert_eq!(HeaderKind::from_name(b"Contacts"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b"Call-IX"), HeaderKind::Other);
        assert!(HeaderKind::Via.is_list() && !HeaderKind::From.is_list());
    }
}
