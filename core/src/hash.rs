//! Non-cryptographic hashing for identifiers derived from messages (branch
//! values, To-tags) where the same input must always give the same value.

/// A 64-bit hash of `parts` (taken as separate fields: ("ab","c") and
/// ("a","bc") differ) for identifiers derived from messages — To-tags,
/// stateless branches — where the same input must always give the same
/// value and speed matters more than anything cryptographic. Eight bytes
/// per multiply: a per-byte hash such as FNV waits one multiply per byte,
/// ~400 cycles for the ~100 bytes a To-tag covers.
pub fn id64(parts: &[&[u8]]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let step = |h: u64, word: u64| (h ^ word).wrapping_mul(K).rotate_left(29);
    let mut h = 0x243f_6a88_85a3_08d3 ^ parts.len() as u64;
    for part in parts {
        let mut words = part.chunks_exact(8);
        for w in &mut words {
            h = step(h, u64::from_le_bytes(w.try_into().unwrap_or_default()));
        }
        // the tail, zero-padded, with the part's length in its top byte
        // (a part's end is part of the input)
        let rest = words.remainder();
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = step(h, u64::from_le_bytes(last) ^ ((part.len() as u64) << 56));
    }
    // MurmurHash3's finaliser: every input bit reaches every output bit
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// MD5 of `data` (digest authentication, `{s.md5}`): the RustCrypto
/// implementation.
pub fn md5(data: &[u8]) -> [u8; 16] {
    use md5::Digest as _;
    md5::Md5::digest(data).into()
}

/// Lower-case hex of `b` (digests as text: `{s.md5}`, digest
/// authentication).
pub fn hex(b: &[u8]) -> Vec<u8> {
    const D: &[u8; 16] = b"0123456789abcdef";
    b.iter().flat_map(|c| [D[(c >> 4) as usize], D[(c & 15) as usize]]).collect()
}

#[cfg(test)]
mod tests {
    use super::{id64, md5};

    #[test]
    fn stable_and_separated() {
        // fixed values: the same request must get the same tag from any
        // process and any build
        assert_eq!(id64(&[b""]), 0xea25_b40d_a975_a306);
        assert_eq!(id64(&[b"a-call-id@host", b"1928301774"]), 0xfa03_b453_d029_f2a0);
        assert_ne!(id64(&[b"ab", b"c"]), id64(&[b"a", b"bc"]));
        assert_ne!(id64(&[b"abcdefgh", b""]), id64(&[b"abcdefgh"]));
        assert_ne!(id64(&[b"abcdefgh\0"]), id64(&[b"abcdefgh"]));
        assert_ne!(id64(&[b"x"]), id64(&[b"y"]));
        assert_eq!(id64(&[b"x", b"y"]), id64(&[b"x", b"y"]));
        // one flipped input bit moves about half of the output bits
        let a = id64(&[b"z9hG4bK776asdhds"]);
        let b = id64(&[b"z9hG4bK776asdhdt"]);
        assert!((20..=44).contains(&(a ^ b).count_ones()), "{:064b}", a ^ b);
    }

    #[test]
    fn md5_rfc1321() {
        assert_eq!(md5(b"abc")[..4], [0x90, 0x01, 0x50, 0x98]);
    }
}
