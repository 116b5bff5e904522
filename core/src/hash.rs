//! Non-cryptographic hashing for identifiers derived from messages (branch
//! values, To-tags) where the same input must always give the same value.

/// FNV-1a, 64 bit, over the concatenation of `parts` with a separator
/// byte between them (so ("ab","c") and ("a","bc") differ). The FNV itself
/// is sipr-mem's [`StableHasher`], the one shm tables use.
pub fn fnv1a64(parts: &[&[u8]]) -> u64 {
    use std::hash::Hasher as _;
    let mut h = sipr_mem::StableHasher::default();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h.write(&[0xff]);
        }
        h.write(part);
    }
    h.finish()
}

/// MD5 of `data` (digest authentication, `{s.md5}`): the RustCrypto
/// implementation.
pub fn md5(data: &[u8]) -> [u8; 16] {
    use md5::Digest as _;
    md5::Md5::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::{fnv1a64, md5};

    #[test]
    fn stable_and_separated() {
        assert_eq!(fnv1a64(&[b""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fnv1a64(&[b"ab", b"c"]), fnv1a64(&[b"a", b"bc"]));
        assert_eq!(fnv1a64(&[b"x", b"y"]), fnv1a64(&[b"x", b"y"]));
    }

    #[test]
    fn md5_rfc1321() {
        assert_eq!(md5(b"abc")[..4], [0x90, 0x01, 0x50, 0x98]);
    }
}
