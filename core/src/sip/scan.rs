//! Small scanning helpers shared by the header and URI parsers. They work
//! on a whole message buffer and absolute offsets so that every result is a
//! [`Span`] into the receive buffer.

use super::message::Span;

/// A 256-entry membership table for a byte class: one load per byte on
/// the hot path instead of a chain of comparisons.
pub(crate) const fn byte_class(alnum: bool, extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = alnum && c.is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

static TOKEN: [bool; 256] = byte_class(true, b"-.!%*_+`'~");

/// RFC 3261 `token` characters.
#[inline]
pub(crate) fn is_token_char(b: u8) -> bool {
    TOKEN[b as usize]
}

/// First index of `needle` in `hay`. The parser searches short spans (a
/// header line, a URI, a bracketed address): the first 64 bytes are
/// searched eight at a time in a `u64` (no call, no CPU dispatch, which
/// cost more than the search itself for a 30-byte line), the rest, if
/// any, by `memchr`'s vector search.
#[inline]
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const HEAD: usize = 64;
    let head = &hay[..hay.len().min(HEAD)];
    if let Some(p) = find_any(head, [needle]) {
        return Some(p);
    }
    if hay.len() > HEAD {
        return memchr::memchr(needle, &hay[HEAD..]).map(|p| HEAD + p);
    }
    None
}

/// First index of `needle` in `hay` when it is usually tens of bytes in
/// (a line end, the space before SIP/2.0): memchr's SSE2 searcher, called
/// directly. SSE2 is part of x86-64, so this skips `memchr::memchr`'s
/// run-time choice of an implementation, which cost more per call than
/// the search of a 50-byte line.
#[inline(always)]
pub(crate) fn find_byte_far(hay: &[u8], needle: u8) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        memchr::arch::x86_64::sse2::memchr::One::new(needle).and_then(|one| one.find(hay))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        memchr::memchr(needle, hay)
    }
}

/// Last index of `needle` in `hay`, as `find_byte_far` finds the first.
#[inline(always)]
pub(crate) fn rfind_byte_far(hay: &[u8], needle: u8) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        memchr::arch::x86_64::sse2::memchr::One::new(needle).and_then(|one| one.rfind(hay))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        memchr::memrchr(needle, hay)
    }
}

/// First index in `hay` of any of `needles`, eight bytes at a time in a
/// `u64`: a zero byte in `word ^ needle` marks a match; `(x - 0x01..) & !x
/// & 0x80..` flags it, and its lowest flagged byte is always a true match
/// (a borrow only ever flags bytes above a real zero) — so the lowest
/// flagged byte of several needles' flags is the first match of any.
#[inline(always)]
pub(crate) fn find_any<const N: usize>(hay: &[u8], needles: [u8; N]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let mut found = 0;
        for needle in needles {
            let x = word ^ (LO * needle as u64);
            found |= x.wrapping_sub(LO) & !x;
        }
        found &= HI;
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks.remainder().iter().position(|b| needles.contains(b)).map(|p| base + p)
}

/// Whether any byte of `s` is a control character or space (≤ 0x20) or
/// DEL: the bytes a Request-URI or a Call-ID may not hold. Folded without
/// an early exit, so the compiler checks 32 bytes per vector step.
#[inline]
pub(crate) fn has_ctl_or_space(s: &[u8]) -> bool {
    s.iter().fold(false, |seen, &b| seen | (b <= b' ') | (b == 0x7f))
}

/// Space, tab, CR or LF (LWS once folded lines are part of a value).
#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// First index `j` in `[i, end)` where `stop(buf[j])`, or `end` (or `i`
/// when `i ≥ end`). Iterating a sub-slice lets the compiler drop the
/// per-byte bounds checks that an index loop pays.
#[inline(always)]
pub(crate) fn scan_until(buf: &[u8], i: usize, end: usize, stop: impl Fn(u8) -> bool) -> usize {
    if i >= end {
        return i;
    }
    i + buf[i..end].iter().position(|&b| stop(b)).unwrap_or(end - i)
}

/// First index ≥ `i` (and < `end`) that is not LWS.
#[inline]
pub(crate) fn skip_lws(buf: &[u8], i: usize, end: usize) -> usize {
    scan_until(buf, i, end, |b| !is_lws(b))
}

/// `span` without leading and trailing LWS.
pub(crate) fn trim(buf: &[u8], span: Span) -> Span {
    let start = skip_lws(buf, span.off as usize, span.end());
    let mut end = span.end();
    while end > start && is_lws(buf[end - 1]) {
        end -= 1;
    }
    Span::new(start, end)
}

/// End of the token starting at `i`.
#[inline]
pub(crate) fn token_end(buf: &[u8], i: usize, end: usize) -> usize {
    scan_until(buf, i, end, |b| !is_token_char(b))
}

/// Index after the closing quote of the quoted string whose opening quote
/// is at `i`; `None` when it is not closed before `end`. Jumps from one
/// quote or backslash to the next (a backslash escapes the byte after it,
/// RFC 3261 §25.1 `quoted-pair`): digest nonces and responses are tens of
/// bytes with neither.
pub(crate) fn quoted_end(buf: &[u8], i: usize, end: usize) -> Option<usize> {
    debug_assert_eq!(buf.get(i), Some(&b'"'));
    let mut j = i + 1;
    while j < end {
        j += find_any(&buf[j..end], [b'"', b'\\'])?;
        if buf[j] == b'"' {
            return Some(j + 1);
        }
        j += 2;
    }
    None
}

/// The elements of a comma-separated header value, honouring quoted
/// strings and `<...>` (a comma inside either does not split). Empty
/// elements are skipped. Yields `Err(())` once, and then nothing, when a
/// quote or bracket is unclosed. Allocates nothing.
pub(crate) struct ListIter<'b> {
    buf: &'b [u8],
    i: usize,
    end: usize,
    done: bool,
}

impl<'b> ListIter<'b> {
    pub(crate) fn new(buf: &'b [u8], span: Span) -> Self {
        ListIter { buf, i: span.off as usize, end: span.end(), done: false }
    }
}

impl Iterator for ListIter<'_> {
    type Item = Result<Span, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        let (buf, end) = (self.buf, self.end);
        while !self.done {
            let start = self.i;
            let mut i = start;
            // Stop only at the bytes that matter: quotes, brackets, commas,
            // looked for eight bytes at a time (values are too short for a
            // vector search's set-up).
            let stop = loop {
                match find_any(&buf[i..end], [b'"', b'<', b',']) {
                    Some(p) => i += p,
                    None => break end,
                }
                let skipped = match buf[i] {
                    b'"' => quoted_end(buf, i, end),
                    b'<' => find_byte(&buf[i + 1..end], b'>').map(|q| i + 1 + q + 1),
                    _ => break i,
                };
                match skipped {
                    Some(j) => i = j,
                    None => {
                        self.done = true;
                        return Some(Err(()));
                    }
                }
            };
            if stop == end {
                self.done = true;
            }
            self.i = stop + 1;
            let t = trim(buf, Span::new(start, stop));
            if t.len > 0 {
                return Some(Ok(t));
            }
        }
        None
    }
}

/// All elements of a comma-separated value (see [`ListIter`]); `None` when
/// a quote or bracket is unclosed.
pub(crate) fn split_list(buf: &[u8], span: Span) -> Option<Vec<Span>> {
    ListIter::new(buf, span).collect::<Result<Vec<_>, ()>>().ok()
}

/// A list that keeps its first `N` elements inline and spills to the heap
/// only beyond that: the header scan of an ordinary message allocates
/// nothing. The inline part is an `ArrayVec`, whose unused slots are never
/// written: a zeroed `[T; N]` cost a store per slot (and a copy of the
/// whole array) for every message, however few headers it had.
#[derive(Clone)]
pub(crate) struct SmallList<T: Copy, const N: usize> {
    inline: arrayvec::ArrayVec<T, N>,
    spill: Vec<T>,
}

impl<T: Copy, const N: usize> SmallList<T, N> {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        SmallList { inline: arrayvec::ArrayVec::new(), spill: Vec::new() }
    }

    #[inline]
    pub(crate) fn push(&mut self, x: T) {
        if !self.spill.is_empty() {
            self.spill.push(x);
        } else if let Err(full) = self.inline.try_push(x) {
            self.spill.reserve(2 * N);
            self.spill.extend_from_slice(&self.inline);
            self.spill.push(full.element());
        }
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[T] {
        if self.spill.is_empty() {
            &self.inline
        } else {
            &self.spill
        }
    }
}

impl<T: Copy + std::fmt::Debug, const N: usize> std::fmt::Debug for SmallList<T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// One `;name[=value]` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Param {
    /// The name.
    pub name: Span,
    /// The value, if any (quotes kept for quoted values).
    pub value: Option<Span>,
}

impl Param {
    /// Whether the parameter is named `name` (case-insensitive).
    pub fn is(&self, buf: &[u8], name: &str) -> bool {
        self.name.get(buf).eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Bytes that end a parameter name: LWS, `;`, `=`, `,` — and `?` in a
/// URI (`[1]`, the `stop_q` lists: URI parameters before URI headers).
/// One table per mode keeps the per-byte test a single lookup.
static PARAM_NAME_END: [[bool; 256]; 2] = [byte_class(false, b" \t\r\n;=,"), byte_class(false, b" \t\r\n;=,?")];
/// Bytes that end an unquoted parameter value: LWS, `;`, `,` (and `?`).
static PARAM_VALUE_END: [[bool; 256]; 2] = [byte_class(false, b" \t\r\n;,"), byte_class(false, b" \t\r\n;,?")];

/// One parameter at `i` (which must be at LWS or `;`): `Ok(None)` when
/// the list ends there, `Err` when it is malformed. `stop_q`: a `?` ends
/// the list (URI parameters before URI headers).
#[inline]
pub(crate) fn next_param(buf: &[u8], i: usize, end: usize, stop_q: bool) -> Result<Option<(Param, usize)>, ()> {
    let mut i = skip_lws(buf, i, end);
    if i >= end || buf[i] != b';' {
        return Ok(None);
    }
    i = skip_lws(buf, i + 1, end);
    let ns = i;
    let name_end = &PARAM_NAME_END[stop_q as usize];
    i = scan_until(buf, i, end, |b| name_end[b as usize]);
    if i == ns {
        return Err(());
    }
    let name = Span::new(ns, i);
    let after_name = i;
    i = skip_lws(buf, i, end);
    if i >= end || buf[i] != b'=' {
        return Ok(Some((Param { name, value: None }, after_name)));
    }
    i = skip_lws(buf, i + 1, end);
    let vs = i;
    if i < end && buf[i] == b'"' {
        i = quoted_end(buf, i, end).ok_or(())?;
    } else if i < end && buf[i] == b'[' {
        // IPv6 reference as a value (received=[::1]).
        i = find_byte(&buf[i..end], b']').map_or(end, |p| i + p + 1);
    } else {
        let value_end = &PARAM_VALUE_END[stop_q as usize];
        i = scan_until(buf, i, end, |b| value_end[b as usize]);
    }
    Ok(Some((Param { name, value: Some(Span::new(vs, i)) }, i)))
}

/// A `;name[=value]...` list kept as its text and walked on demand: lookups
/// such as `branch` or `tag` read a handful of bytes, and parsing a header
/// allocates nothing for its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params {
    span: Span,
    stop_q: bool,
}

impl Params {
    /// The list's text.
    pub fn span(&self) -> Span {
        self.span
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.span.len == 0
    }

    /// The parameters in order.
    pub fn iter<'b>(&self, buf: &'b [u8]) -> ParamIter<'b> {
        ParamIter { buf, i: self.span.off as usize, end: self.span.end(), stop_q: self.stop_q }
    }

    /// The first parameter named `name` (case-insensitive).
    pub fn get(&self, buf: &[u8], name: &str) -> Option<Param> {
        self.iter(buf).find(|p| p.is(buf, name))
    }

    /// The value of parameter `name`, empty for a flag parameter.
    pub fn value<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        self.get(buf, name).map(|p| p.value.map_or(&b""[..], |v| v.get(buf)))
    }
}

/// Walks a validated [`Params`] list.
#[derive(Debug, Clone)]
pub struct ParamIter<'b> {
    buf: &'b [u8],
    i: usize,
    end: usize,
    stop_q: bool,
}

impl Iterator for ParamIter<'_> {
    type Item = Param;

    fn next(&mut self) -> Option<Param> {
        let (p, next) = next_param(self.buf, self.i, self.end, self.stop_q).ok().flatten()?;
        self.i = next;
        Some(p)
    }
}

/// Parses and validates `;a=b;c;d="x y"` starting at `i` up to `end`.
/// Returns the list and the index where it stopped (the first byte that is
/// not part of it). `None` on a malformed parameter (empty name, unclosed
/// quote).
pub(crate) fn parse_params(buf: &[u8], i: usize, end: usize, stop_q: bool) -> Option<(Params, usize)> {
    parse_params_checked(buf, i, end, stop_q, |_| true)
}

/// `parse_params`, with `check` asked about every parameter on the way
/// (`None` as soon as it says no): one walk both finds and vets them.
#[inline]
pub(crate) fn parse_params_checked(
    buf: &[u8],
    i: usize,
    end: usize,
    stop_q: bool,
    mut check: impl FnMut(&Param) -> bool,
) -> Option<(Params, usize)> {
    let mut at = i;
    while let Some((p, next)) = next_param(buf, at, end, stop_q).ok()? {
        if !check(&p) {
            return None;
        }
        at = next;
    }
    Some((Params { span: Span::new(i, at), stop_q }, at))
}

/// Parses an unsigned decimal that must fit in `max`.
pub(crate) fn parse_u32(digits: &[u8], max: u32) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    // one pass: check and accumulate together (ten digits fit a u64)
    let mut n = 0u64;
    for &d in digits {
        let v = d.wrapping_sub(b'0');
        if v > 9 {
            return None;
        }
        n = n * 10 + u64::from(v);
    }
    u32::try_from(n).ok().filter(|&n| n <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(b: &[u8]) -> Span {
        Span::new(0, b.len())
    }

    #[test]
    fn lists_split_around_quotes_and_brackets() {
        let b = br#""A, B" <sip:a@x;p=1,2>, sip:c@y , ,<sip:d@z>"#;
        let parts: Vec<&[u8]> = split_list(b, all(b)).unwrap().iter().map(|s| s.get(b)).collect();
        assert_eq!(parts, [&br#""A, B" <sip:a@x;p=1,2>"#[..], b"sip:c@y", b"<sip:d@z>"]);
        assert!(split_list(b"<sip:a", all(b"<sip:a")).is_none());
        assert!(split_list(b"\"abc", all(b"\"abc")).is_none());
    }

    #[test]
    fn params_with_values_quotes_and_flags() {
        let b = br#";branch=z9hG4bK1 ; rport;received=[::1];x="a;b""#;
        let (ps, stop) = parse_params(b, 0, b.len(), false).unwrap();
        assert_eq!(stop, b.len());
        assert_eq!(ps.value(b, "RPORT"), Some(&b""[..]));
        let ps: Vec<Param> = ps.iter(b).collect();
        let names: Vec<&[u8]> = ps.iter().map(|p| p.name.get(b)).collect();
        assert_eq!(names, [&b"branch"[..], b"rport", b"received", b"x"]);
        assert_eq!(ps[0].value.unwrap().get(b), b"z9hG4bK1");
        assert!(ps[1].value.is_none());
        assert_eq!(ps[2].value.unwrap().get(b), b"[::1]");
        assert_eq!(ps[3].value.unwrap().get(b), br#""a;b""#);
        assert!(parse_params(b";=x", 0, 3, false).is_none());
        let (q, stop) = parse_params(b";a=1?h=v", 0, 8, true).unwrap();
        assert_eq!((q.value(b";a=1?h=v", "a"), stop), (Some(&b"1"[..]), 4));
    }

    #[test]
    fn find_byte_agrees_with_a_plain_search() {
        // Every length across the word and the 64-byte head boundaries,
        // the needle at every place (and absent), bytes around it that
        // differ from it by one bit or by a borrow.
        for len in 0..150 {
            for at in (0..len).map(Some).chain([None]) {
                let mut hay: Vec<u8> = (0..len).map(|i| [0x0b, 0x0a ^ 0x80, 0x09, 0x00, 0xff][i % 5]).collect();
                if let Some(at) = at {
                    hay[at] = 0x0a;
                    if at + 1 < len {
                        hay[at + 1] = 0x0a;
                    }
                }
                let want = hay.iter().position(|&b| b == 0x0a);
                assert_eq!(find_byte(&hay, 0x0a), want, "len {len} at {at:?}");
            }
        }
    }

    #[test]
    fn find_any_of_two_agrees_with_a_plain_search() {
        // Either needle at every place of every length across the word
        // boundaries, one needle's bytes next to the other's (a borrow out
        // of one test must not flag the other's byte).
        for len in 0..40 {
            for (at, needle) in (0..len).flat_map(|i| [(Some(i), b'"'), (Some(i), b'\\')]).chain([(None, 0)]) {
                let mut hay: Vec<u8> = (0..len).map(|i| [b'!', b'#', 0x22 ^ 0x80, b'[', 0x00][i % 5]).collect();
                if let Some(at) = at {
                    hay[at] = needle;
                    if at + 1 < len {
                        hay[at + 1] = if needle == b'"' { b'\\' } else { b'"' };
                    }
                }
                let want = hay.iter().position(|&b| b == b'"' || b == b'\\');
                assert_eq!(find_any(&hay, [b'"', b'\\']), want, "len {len} at {at:?}");
            }
        }
    }

    #[test]
    fn quoted_strings_end_at_an_unescaped_quote() {
        let b = br#"x"abc" "a\"b\\" "long string past one word" "\"#;
        let all = b.len();
        assert_eq!(quoted_end(b, 1, all), Some(6));
        assert_eq!(&b[7..quoted_end(b, 7, all).unwrap()], br#""a\"b\\""#);
        let long = 7 + br#""a\"b\\" "#.len();
        assert_eq!(&b[long..quoted_end(b, long, all).unwrap()], br#""long string past one word""#);
        // An escaped quote, or a backslash at the very end, closes nothing.
        assert_eq!(quoted_end(b, all - 2, all), None);
        assert_eq!(quoted_end(b"\"abc", 0, 4), None);
        assert_eq!(quoted_end(b"\"a\\\"", 0, 4), None);
    }

    #[test]
    fn small_list_spills_in_order() {
        let mut l: SmallList<u32, 3> = SmallList::new();
        for i in 0..10 {
            l.push(i);
            assert_eq!(l.as_slice(), (0..=i).collect::<Vec<_>>().as_slice());
        }
    }

    #[test]
    fn bounded_numbers() {
        assert_eq!(parse_u32(b"70", 255), Some(70));
        assert_eq!(parse_u32(b"2147483647", i32::MAX as u32), Some(i32::MAX as u32));
        assert_eq!(parse_u32(b"2147483648", i32::MAX as u32), None);
        assert_eq!(parse_u32(b"99999999999", u32::MAX), None);
        assert_eq!(parse_u32(b"", 9), None);
        assert_eq!(parse_u32(b"1a", 99), None);
    }
}
