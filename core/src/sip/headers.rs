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

impl HeaderKind {
    /// The kind of a header named `name` (case-insensitive, compact forms).
    pub fn from_name(name: &[u8]) -> HeaderKind {
        // Lower-case into a stack buffer, then one `match` on the bytes:
        // the compiler turns it into a switch on length plus compares.
        let mut lower = [0u8; 24];
        if name.is_empty() || name.len() > lower.len() {
            return HeaderKind::Other;
        }
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        use HeaderKind as H;
        match &lower[..name.len()] {
            b"via" | b"v" => H::Via,
            b"from" | b"f" => H::From,
            b"to" | b"t" => H::To,
            b"call-id" | b"i" => H::CallId,
            b"cseq" => H::CSeq,
            b"max-forwards" => H::MaxForwards,
            b"content-length" | b"l" => H::ContentLength,
            b"content-type" | b"c" => H::ContentType,
            b"content-encoding" | b"e" => H::ContentEncoding,
            b"contact" | b"m" => H::Contact,
            b"route" => H::Route,
            b"record-route" => H::RecordRoute,
            b"expires" => H::Expires,
            b"min-expires" => H::MinExpires,
            b"authorization" => H::Authorization,
            b"proxy-authorization" => H::ProxyAuthorization,
            b"www-authenticate" => H::WwwAuthenticate,
            b"proxy-authenticate" => H::ProxyAuthenticate,
            b"supported" | b"k" => H::Supported,
            b"require" => H::Require,
            b"proxy-require" => H::ProxyRequire,
            b"unsupported" => H::Unsupported,
            b"allow" => H::Allow,
            b"allow-events" | b"u" => H::AllowEvents,
            b"event" | b"o" => H::Event,
            b"path" => H::Path,
            b"user-agent" => H::UserAgent,
            b"server" => H::Server,
            b"date" => H::Date,
            b"subject" | b"s" => H::Subject,
            b"accept" => H::Accept,
            b"refer-to" | b"r" => H::ReferTo,
            b"referred-by" | b"b" => H::ReferredBy,
            b"session-expires" | b"x" => H::SessionExpires,
            b"identity" | b"y" => H::Identity,
            b"accept-contact" | b"a" => H::AcceptContact,
            b"reject-contact" | b"j" => H::RejectContact,
            b"request-disposition" | b"d" => H::RequestDisposition,
            _ => H::Other,
        }
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
        assert!(HeaderKind::Via.is_list() && !HeaderKind::From.is_list());
    }
}
