//! Lumps: the changes made to a message, recorded as insertions and
//! deletions at offsets of the original buffer and applied in one pass
//! when the outgoing buffer is built — the message is never re-serialised
//! (as Kamailio's data lumps).

/// One change: delete `del` bytes at `off`, then put the bytes
/// `data` (a range of the lumps' arena) there.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lump {
    off: usize,
    del: usize,
    data: std::ops::Range<usize>,
    /// Order of recording: among lumps at one offset, earlier first.
    seq: usize,
    /// The owner's mark (0: none), so that it can take its lump back
    /// (rr's Record-Route, rebuilt when a parameter is added).
    tag: u32,
    /// When it applies: always, or only when the message leaves from the
    /// socket it came to, or only from another one.
    when: SendSide,
    /// Placed after every lump at its offset that is not (even those
    /// recorded later, such as the Via a request leaves with).
    late: bool,
}

/// Which sending a lump is for (rr's double Record-Route: one header
/// when a request leaves from the socket it came to, two when it leaves
/// from another transport or address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendSide {
    /// Any.
    #[default]
    Any,
    /// Out of the socket the message came to.
    Same,
    /// Out of another socket. In such a lump, the byte [`OUT_ADDR`] is
    /// replaced by the outgoing socket's `host:port`, [`OUT_TRANSPORT`] by
    /// `;transport=PROTO` (nothing for UDP), [`OUT_TRANSPORT_ALWAYS`] by
    /// `;transport=PROTO` even for UDP.
    Other,
}

/// In a [`SendSide::Other`] lump: the outgoing socket's `host:port`.
pub const OUT_ADDR: u8 = 0x01;
/// In a [`SendSide::Other`] lump: `;transport=PROTO`, nothing for UDP.
pub const OUT_TRANSPORT: u8 = 0x02;
/// In a [`SendSide::Other`] lump: `;transport=PROTO`, UDP included.
pub const OUT_TRANSPORT_ALWAYS: u8 = 0x03;

/// The socket a message leaves from, when it is not the one it came to.
#[derive(Debug, Clone, Copy)]
pub struct OtherSocket<'a> {
    /// `host:port` as a URI writes it.
    pub addr: &'a str,
    /// Lower-case transport name.
    pub proto: &'a str,
}

/// Why lumps cannot be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LumpError {
    /// A lump reaches past the end of the buffer.
    OutOfRange {
        /// The offending offset + length.
        end: usize,
        /// The buffer's length.
        len: usize,
    },
}

impl std::fmt::Display for LumpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LumpError::OutOfRange { end, len } => write!(f, "lump ends at {end}, past the message end {len}"),
        }
    }
}

impl std::error::Error for LumpError {}

/// The changes to one message. Inserted bytes live in one arena, so a
/// set of changes costs two allocations however many lumps it holds.
#[derive(Debug, Default)]
pub struct Lumps {
    items: Vec<Lump>,
    arena: Vec<u8>,
}

/// A copy is what a branch or a reply starts from before adding its own
/// changes (a Via, Content-Length): it gets room for them at once, where
/// a derived clone would be exactly full and grow on the first insertion.
impl Clone for Lumps {
    fn clone(&self) -> Self {
        let mut items = Vec::with_capacity(self.items.len() + 8);
        items.extend_from_slice(&self.items);
        let mut arena = Vec::with_capacity(self.arena.len() + 512);
        arena.extend_from_slice(&self.arena);
        Lumps { items, arena }
    }
}

impl Lumps {
    /// No changes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Where the next inserted bytes start in the arena; the first
    /// insertion makes room for a typical message's changes at once, so
    /// that the arena does not grow step by step.
    fn arena_start(&mut self) -> usize {
        if self.arena.capacity() == 0 {
            self.items.reserve(8);
            self.arena.reserve(512);
        }
        self.arena.len()
    }

    fn push(&mut self, off: usize, del: usize, data: &[u8]) {
        let start = self.arena_start();
        self.arena.extend_from_slice(data);
        self.push_range(off, del, start);
    }

    fn push_range(&mut self, off: usize, del: usize, start: usize) {
        let seq = self.items.last().map_or(0, |l| l.seq + 1);
        self.items.push(Lump {
            off,
            del,
            data: start..self.arena.len(),
            seq,
            tag: 0,
            when: SendSide::Any,
            late: false,
        });
    }

    /// Inserts `data` before the byte at `off` for one side of sending
    /// only, marked with `tag` (see [`SendSide`]).
    pub fn insert_for(&mut self, off: usize, tag: u32, when: SendSide, data: &[u8]) {
        self.push(off, 0, data);
        if let Some(l) = self.items.last_mut() {
            l.tag = tag;
            l.when = when;
        }
    }

    /// Inserts `data` before the byte at `off`, after every other insertion
    /// there whenever it was recorded: a header that must follow the Via
    /// the request leaves with (registrar's Path as Route headers, placed
    /// as Kamailio places them).
    pub fn insert_late(&mut self, off: usize, data: &[u8]) {
        self.push(off, 0, data);
        if let Some(l) = self.items.last_mut() {
            l.late = true;
        }
    }

    /// Inserts `data` before the byte at `off`, marked with `tag` (not 0)
    /// so that [`Lumps::remove_tagged`] can take it back.
    pub fn insert_tagged(&mut self, off: usize, tag: u32, data: &[u8]) {
        self.push(off, 0, data);
        if let Some(l) = self.items.last_mut() {
            l.tag = tag;
        }
    }

    /// Removes the lumps marked with `tag`; whether there were any. (Their
    /// bytes stay in the arena until the lumps are dropped.)
    pub fn remove_tagged(&mut self, tag: u32) -> bool {
        let before = self.items.len();
        self.items.retain(|l| tag == 0 || l.tag != tag);
        self.items.len() != before
    }

    /// Whether a lump marked with `tag` is there.
    pub fn has_tagged(&self, tag: u32) -> bool {
        tag != 0 && self.items.iter().any(|l| l.tag == tag)
    }

    /// Replaces `len` bytes at `off` by formatted text, written straight
    /// into the arena (no temporary string).
    pub fn replace_fmt(&mut self, off: usize, len: usize, args: std::fmt::Arguments<'_>) {
        use std::io::Write as _;
        let start = self.arena_start();
        // Writing into a Vec cannot fail.
        let _ = self.arena.write_fmt(args);
        self.push_range(off, len, start);
    }

    /// Inserts formatted text before the byte at `off`.
    pub fn insert_fmt(&mut self, off: usize, args: std::fmt::Arguments<'_>) {
        self.replace_fmt(off, 0, args);
    }

    /// Replaces `len` bytes at `off` by what `write` appends to the
    /// arena (for text built from pieces, e.g. by `sip::emit`, without
    /// `core::fmt`).
    pub fn replace_with(&mut self, off: usize, len: usize, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.arena_start();
        write(&mut self.arena);
        self.push_range(off, len, start);
    }

    /// Inserts what `write` appends to the arena before the byte at `off`.
    pub fn insert_with(&mut self, off: usize, write: impl FnOnce(&mut Vec<u8>)) {
        self.replace_with(off, 0, write);
    }

    /// Inserts `data` before the byte at `off`.
    pub fn insert(&mut self, off: usize, data: &[u8]) {
        self.push(off, 0, data);
    }

    /// Deletes `len` bytes at `off`. Overlapping deletions delete the
    /// union of their ranges.
    pub fn delete(&mut self, off: usize, len: usize) {
        self.push(off, len, b"");
    }

    /// Replaces `len` bytes at `off` by `data`.
    pub fn replace(&mut self, off: usize, len: usize, data: &[u8]) {
        self.push(off, len, data);
    }

    /// How much longer (negative: shorter) the part of the message from
    /// `off` on becomes: for the Content-Length fix-up, with `off` the
    /// body's start.
    pub fn growth_from(&self, off: usize) -> isize {
        self.items.iter().filter(|l| l.off >= off).map(|l| l.data.len() as isize - l.del as isize).sum()
    }

    /// Bytes the result will have at most (for one allocation).
    fn capacity_hint(&self, len: usize) -> usize {
        len + self.arena.len()
    }

    /// Builds the changed message from `buf` in one pass, for a message
    /// that leaves from the socket it came to.
    pub fn apply(&self, buf: &[u8]) -> Result<Vec<u8>, LumpError> {
        self.apply_for(buf, None)
    }

    /// Builds the changed message from `buf`, for a message leaving from
    /// `other` (`None`: from the socket it came to).
    pub fn apply_for(&self, buf: &[u8], other: Option<OtherSocket<'_>>) -> Result<Vec<u8>, LumpError> {
        if let Some(l) = self.items.iter().find(|l| l.off + l.del > buf.len()) {
            return Err(LumpError::OutOfRange { end: l.off + l.del, len: buf.len() });
        }
        let applies = |l: &&Lump| match l.when {
            SendSide::Any => true,
            SendSide::Same => other.is_none(),
            SendSide::Other => other.is_some(),
        };
        // a message's few lumps are ordered on the stack (this runs for
        // every message sent), more in a Vec
        let mut small: [Option<&Lump>; 16] = [None; 16];
        let mut n = 0;
        for l in self.items.iter().filter(applies) {
            if let Some(slot) = small.get_mut(n) {
                *slot = Some(l);
            }
            n += 1;
        }
        let mut large: Vec<Option<&Lump>> = Vec::new();
        let order: &mut [Option<&Lump>] = if n <= small.len() {
            &mut small[..n]
        } else {
            large.extend(self.items.iter().filter(applies).map(Some));
            &mut large
        };
        order.sort_by_key(|l| l.map(|l| (l.off, l.late, l.seq)));
        let mut out = Vec::with_capacity(self.capacity_hint(buf.len()));
        let mut cursor = 0;
        for l in order.iter().flatten() {
            if l.off > cursor {
                out.extend_from_slice(&buf[cursor..l.off]);
                cursor = l.off;
            }
            let data = &self.arena[l.data.clone()];
            match (l.when, other) {
                (SendSide::Other, Some(o)) => {
                    for &b in data {
                        match b {
                            OUT_ADDR => out.extend_from_slice(o.addr.as_bytes()),
                            OUT_TRANSPORT if o.proto == "udp" => {}
                            OUT_TRANSPORT | OUT_TRANSPORT_ALWAYS => {
                                out.extend_from_slice(b";transport=");
                                out.extend_from_slice(o.proto.as_bytes());
                            }
                            b => out.push(b),
                        }
                    }
                }
                _ => out.extend_from_slice(data),
            }
            cursor = cursor.max(l.off + l.del);
        }
        out.extend_from_slice(&buf[cursor..]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_deletes_replaces_in_one_pass() {
        let buf = b"0123456789";
        let mut l = Lumps::new();
        l.insert(0, b"<");
        l.replace(2, 3, b"abc-");
        l.delete(7, 1);
        l.insert(10, b">");
        l.insert(0, b"[");
        l.insert_fmt(9, format_args!("{}", 42));
        assert_eq!(l.apply(buf).unwrap(), b"<[01abc-568429>");
    }

    #[test]
    fn tagged_lumps_can_be_taken_back() {
        let buf = b"abc";
        let mut l = Lumps::new();
        l.insert(0, b"1");
        l.insert_tagged(0, 7, b"2");
        assert!(l.has_tagged(7));
        l.insert(0, b"3");
        assert_eq!(l.apply(buf).unwrap(), b"123abc");
        assert!(l.remove_tagged(7));
        assert!(!l.remove_tagged(7));
        l.insert_tagged(0, 7, b"X");
        assert_eq!(l.apply(buf).unwrap(), b"13Xabc");
    }

    #[test]
    fn lumps_for_one_side_of_sending() {
        let buf = b"<>";
        let mut l = Lumps::new();
        l.insert_for(1, 9, SendSide::Same, b"same");
        l.insert_for(1, 9, SendSide::Other, b"\x01\x02|\x03");
        assert_eq!(l.apply(buf).unwrap(), b"<same>");
        let tcp = OtherSocket { addr: "10.0.0.1:5060", proto: "tcp" };
        assert_eq!(l.apply_for(buf, Some(tcp)).unwrap(), b"<10.0.0.1:5060;transport=tcp|;transport=tcp>");
        let udp = OtherSocket { addr: "10.0.0.1:5060", proto: "udp" };
        assert_eq!(l.apply_for(buf, Some(udp)).unwrap(), b"<10.0.0.1:5060|;transport=udp>");
        assert!(l.remove_tagged(9));
        assert_eq!(l.apply(buf).unwrap(), b"<>");
    }

    #[test]
    fn overlapping_deletes_take_the_union() {
        let buf = b"abcdefgh";
        let mut l = Lumps::new();
        l.delete(1, 3);
        l.delete(2, 4);
        l.insert(3, b"X");
        assert_eq!(l.apply(buf).unwrap(), b"aXgh");
        let mut bad = Lumps::new();
        bad.delete(5, 10);
        assert!(matches!(bad.apply(buf), Err(LumpError::OutOfRange { .. })));
        assert_eq!(Lumps::new().apply(buf).unwrap(), buf);
    }
}
