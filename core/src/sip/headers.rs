//! Header names: the known ones as an enum (full and compact forms, RFC
//! 3261 §7.3.3 and the later RFCs' compact letters), anything else kept as
//! `Other` with its name span.

/// A header's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HeaderKind {
    /// Any other header; its name is in [`crate::sip::Header::name`].
    /// First, and the default: the known kinds follow in `NAMES`' order,
    /// which indexes the packed names by `kind as usize - 1`.
    #[default]
    Other,
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

/// A header name of up to 24 bytes as three little-endian words, zero
/// past the name: one to three word compares tell a name from a
/// candidate.
type NameWords = [u64; 3];

/// A known name for those compares: its lower-case words, and the bits
/// that may differ in a match — 0x20 of every letter (any case matches)
/// and nothing else: a `-` must be a `-` (OR-ing 0x20 into every byte
/// would let a CR pass for one).
#[derive(Clone, Copy)]
struct KnownName {
    lower: NameWords,
    case: NameWords,
}

const fn pack(name: &str) -> KnownName {
    let b = name.as_bytes();
    let mut k = KnownName { lower: [0; 3], case: [0; 3] };
    let mut i = 0;
    while i < b.len() {
        let shift = 8 * (i % 8);
        k.lower[i / 8] |= (b[i].to_ascii_lowercase() as u64) << shift;
        if b[i].is_ascii_alphabetic() {
            k.case[i / 8] |= 0x20 << shift;
        }
        i += 1;
    }
    k
}

/// `NAMES` packed, indexed by `HeaderKind as usize - 1` (the table is in
/// the enum's order, `Other` first and not in it; checked when it is
/// built).
static PACKED: [KnownName; NAMES.len()] = {
    let mut t = [KnownName { lower: [0; 3], case: [0; 3] }; NAMES.len()];
    let mut i = 0;
    while i < NAMES.len() {
        assert!(NAMES[i].1 as usize == i + 1 && NAMES[i].0.len() <= 24);
        t[i] = pack(NAMES[i].0);
        i += 1;
    }
    t
};

/// Word `k` of the name at `buf[off..off + len]` (`8 * k < len`), zero
/// past the name. Reads the eight bytes at once when the buffer has them
/// (it usually does: a name is followed by its value).
#[inline(always)]
fn name_word(buf: &[u8], off: usize, len: usize, k: usize) -> u64 {
    let at = off + 8 * k;
    let n = (len - 8 * k).min(8);
    let raw = match buf.get(at..at + 8) {
        Some(b) => u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        None => name_word_at_end(buf, at, n),
    };
    raw & (u64::MAX >> (64 - 8 * n))
}

/// `name_word` for a name that ends within eight bytes of the buffer's end
/// (a bare name given to `from_name`, never a header line's).
#[cold]
fn name_word_at_end(buf: &[u8], at: usize, n: usize) -> u64 {
    let mut b = [0u8; 8];
    b[..n].copy_from_slice(&buf[at..at + n]);
    u64::from_le_bytes(b)
}

/// Whether the name at `buf[off..off + len]` is `kind`'s (whose name has
/// `len` bytes), in any case: the words past the first are read only when
/// needed.
#[inline(always)]
fn name_is(buf: &[u8], off: usize, len: usize, kind: HeaderKind) -> bool {
    let want = &PACKED[kind as usize - 1];
    let word_is = |w: usize| want.lower[w] == name_word(buf, off, len, w) | want.case[w];
    word_is(0) && (len <= 8 || word_is(1)) && (len <= 16 || word_is(2))
}

/// Names this long or longer are never a known header's.
const MAX_KEYED_LEN: usize = 32;

/// The `CANDIDATE` slot for a name of `len` bytes (< `MAX_KEYED_LEN`)
/// starting with `first`: the length and the letter's low five bits (the
/// same for both cases).
#[inline(always)]
const fn candidate_key(len: usize, first: u8) -> usize {
    (len << 5) | (first & 0x1f) as usize
}

/// For each (length, first letter), the only known header that can have
/// that name: compact forms at length 1, full names at theirs. Length and
/// first letter leave exactly one candidate for every full name but
/// Call-ID/Contact (both `c`, 7), which `from_name_at` splits by the
/// second letter: Contact is the one in the table. Checked when built.
static CANDIDATE: [HeaderKind; MAX_KEYED_LEN << 5] = {
    use HeaderKind as H;
    const COMPACT: &[(u8, HeaderKind)] = &[
        (b'v', H::Via),
        (b'f', H::From),
        (b't', H::To),
        (b'i', H::CallId),
        (b'l', H::ContentLength),
        (b'c', H::ContentType),
        (b'e', H::ContentEncoding),
        (b'm', H::Contact),
        (b'k', H::Supported),
        (b'u', H::AllowEvents),
        (b'o', H::Event),
        (b's', H::Subject),
        (b'r', H::ReferTo),
        (b'b', H::ReferredBy),
        (b'x', H::SessionExpires),
        (b'y', H::Identity),
        (b'a', H::AcceptContact),
        (b'j', H::RejectContact),
        (b'd', H::RequestDisposition),
    ];
    let mut t = [H::Other; MAX_KEYED_LEN << 5];
    let mut i = 0;
    while i < COMPACT.len() {
        t[candidate_key(1, COMPACT[i].0)] = COMPACT[i].1;
        i += 1;
    }
    let mut i = 0;
    while i < NAMES.len() {
        let (name, kind) = (NAMES[i].0.as_bytes(), NAMES[i].1);
        let key = candidate_key(name.len(), name[0]);
        if matches!(kind, H::CallId) {
            i += 1;
            continue;
        }
        assert!(matches!(t[key], H::Other), "two known names share length and first letter");
        t[key] = kind;
        i += 1;
    }
    t
};

impl HeaderKind {
    /// The kind of a header named `name` (case-insensitive, compact forms).
    pub fn from_name(name: &[u8]) -> HeaderKind {
        Self::from_name_at(name, 0, name.len())
    }

    /// The kind of the header whose name is `buf[off..off + len]`; the
    /// bytes after the name may be read (and ignored). Inlined into the
    /// header scan: one table load picks the only candidate, one to three
    /// word compares confirm it.
    #[inline(always)]
    pub(crate) fn from_name_at(buf: &[u8], off: usize, len: usize) -> HeaderKind {
        let Some(&first) = buf.get(off).filter(|_| len > 0 && len < MAX_KEYED_LEN) else {
            return HeaderKind::Other;
        };
        let candidate = CANDIDATE[candidate_key(len, first)];
        if len == 1 {
            // A compact form is the whole check; only a letter is one (the
            // key folds a few non-letters onto letters' slots).
            return if first.is_ascii_alphabetic() { candidate } else { HeaderKind::Other };
        }
        // Call-ID and Contact share length and first letter: the second
        // letter tells them apart.
        let candidate = if candidate == HeaderKind::Contact && buf.get(off + 1).is_some_and(|b| b | 0x20 == b'a') {
            HeaderKind::CallId
        } else {
            candidate
        };
        if candidate != HeaderKind::Other && name_is(buf, off, len, candidate) {
            candidate
        } else {
            HeaderKind::Other
        }
    }

    /// The canonical full name (`None` for `Other`).
    pub fn canonical_name(self) -> Option<&'static str> {
        (self as usize).checked_sub(1).and_then(|i| NAMES.get(i)).map(|n| n.0)
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
        assert_eq!(HeaderKind::Other.canonical_name(), None);
        // Names read out of a longer buffer (the bytes after the name are
        // ignored) and at its very end (no word past the end to load).
        let line = b"xCONTENT-LENGTH: 0";
        assert_eq!(HeaderKind::from_name_at(line, 1, 14), HeaderKind::ContentLength);
        assert_eq!(HeaderKind::from_name_at(line, 1, 7), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name_at(b"ab Record-Route", 3, 12), HeaderKind::RecordRoute);
        // Only letters match in either case: a byte that differs from a
        // name's byte in bit 0x20 alone is not it (CR | 0x20 is '-').
        assert_eq!(HeaderKind::from_name(b"Via\x0d"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b"Vi\x01"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b"Call\rID"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b"Max\rForwards"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b"cALL-iD"), HeaderKind::CallId);
        // The candidate table's edges: a one-byte non-letter whose low bits
        // are a letter's, a seven-byte `c` name that is neither Call-ID nor
        // Contact, names past the table's lengths.
        assert_eq!(HeaderKind::from_name(b"A"), HeaderKind::AcceptContact);
        assert_eq!(HeaderKind::from_name(b"!"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b"\x01"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b"Cantact"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b"Coll-ID"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(&[b'a'; 31]), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(&[b'v'; 300]), HeaderKind::Other);
        assert!(HeaderKind::Via.is_list() && !HeaderKind::From.is_list());
    }
}
