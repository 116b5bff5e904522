//! Replay protection in shm (Kamailio's `nonce_count` and
//! `one_time_nonce`): every challenge's nonce carries an index (nid) from
//! one counter shared by all processes; the index names a byte of the nc
//! array (the highest nc accepted for that nonce) and a bit of the
//! one-time array (the nonce was used). The arrays are rings: a nonce
//! whose slot a newer nonce took over is too old and counts as stale.
//!
//! Measured on Kamailio 5.6 (the bed's auth_nonce and auth_otn suites):
//! the checks run after the password check (a wrong answer uses nothing
//! up); an nc not above the last one, or above 255, or a nonce too old
//! for the array, is a stale nonce (-4); a second answer with a one-time
//! nonce is -6. With nonce_count on, an answer carrying nc is checked by
//! nc only; one without (no qop) falls back to one_time_nonce when that
//! is on.
//!
//! No lock: a fetch_add hands out indexes, a compare-and-swap loop raises
//! an nc byte inside its 64-bit word, a fetch_or marks a one-time bit.
//! Kamailio splits its arrays into `nid_pool_no` partitions (one per group
//! of processes) so that its locks are not shared; atomics need no such
//! split, so the parameter is checked and the arrays stay whole.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use sipr_sdk::auth_api::AuthResult;
use sipr_sdk::mem::ShmWords;

/// The arrays, made in mod_init (before the fork).
#[derive(Debug, Clone, Copy)]
pub struct Replay {
    /// The next nonce index.
    counter: ShmWords,
    /// nc bytes, 8 per word (`nc_array_size` bytes), when nonce_count.
    nc: Option<ShmWords>,
    nc_size: u32,
    /// one-time bits, 64 per word (`otn_in_flight_no` bits), when
    /// one_time_nonce.
    otn: Option<ShmWords>,
    otn_size: u32,
}

/// What an answer's nonce was worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fresh: accepted (and now used).
    Fresh,
    /// -4 / -6.
    Refused(AuthResult),
}

impl Replay {
    /// Arrays of `nc_size` nonces (0: nonce_count off) and `otn_size`
    /// nonces (0: one_time_nonce off), each a power of two.
    pub fn new(pool: &sipr_sdk::ShmPool, nc_size: u32, otn_size: u32) -> Option<Replay> {
        let words = |n: u32, per: u32| (n > 0).then(|| ShmWords::new_in(pool, n.div_ceil(per) as usize));
        Some(Replay {
            counter: ShmWords::new_in(pool, 1)?,
            nc: match words(nc_size, 8) {
                Some(w) => Some(w?),
                None => None,
            },
            nc_size,
            otn: match words(otn_size, 64) {
                Some(w) => Some(w?),
                None => None,
            },
            otn_size,
        })
    }

    /// The index for a new challenge's nonce, its slots reset.
    pub fn issue(&self) -> u32 {
        let nid = self.counter.word(0).fetch_add(1, Relaxed) as u32;
        if let Some(nc) = &self.nc {
            let slot = nid % self.nc_size;
            set_byte(nc, slot as usize, |_| Some(0));
        }
        if let Some(otn) = &self.otn {
            let bit = nid % self.otn_size;
            otn.word(bit as usize / 64).fetch_and(!(1u64 << (bit % 64)), Relaxed);
        }
        nid
    }

    /// Whether `nid`'s slots still belong to it in an array of `size`.
    fn current(&self, nid: u32, size: u32) -> bool {
        let next = self.counter.word(0).load(Acquire) as u32;
        next.wrapping_sub(nid).wrapping_sub(1) < size
    }

    /// The check of an answer with nonce index `nid` and nonce count `nc`
    /// (the hex text, empty without qop), after its password was right.
    pub fn check(&self, nid: u32, nc: &str) -> Verdict {
        const STALE: Verdict = Verdict::Refused(AuthResult::StaleNonce);
        if let (Some(words), false) = (&self.nc, nc.is_empty()) {
            let Ok(n) = u32::from_str_radix(nc, 16) else { return STALE };
            if n == 0 || n > 255 || !self.current(nid, self.nc_size) {
                return STALE;
            }
            let raised =
                set_byte(words, (nid % self.nc_size) as usize, |last| (u32::from(last) < n).then_some(n as u8));
            return if raised { Verdict::Fresh } else { STALE };
        }
        if let Some(words) = &self.otn {
            if !self.current(nid, self.otn_size) {
                return STALE;
            }
            let bit = nid % self.otn_size;
            let mask = 1u64 << (bit % 64);
            let before = words.word(bit as usize / 64).fetch_or(mask, AcqRel);
            return if before & mask != 0 { Verdict::Refused(AuthResult::NonceReused) } else { Verdict::Fresh };
        }
        Verdict::Fresh
    }
}

/// Sets byte `i` of `words` to what `f` makes of it (`None`: left as it
/// is); whether it was set.
fn set_byte(words: &ShmWords, i: usize, f: impl Fn(u8) -> Option<u8>) -> bool {
    let word = words.word(i / 8);
    let shift = (i % 8) * 8;
    let mut cur = word.load(Acquire);
    loop {
        let Some(b) = f((cur >> shift) as u8) else { return false };
        let new = (cur & !(0xffu64 << shift)) | (u64::from(b) << shift);
        match word.compare_exchange_weak(cur, new, AcqRel, Acquire) {
            Ok(_) => return true,
            Err(seen) => cur = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> &'static sipr_sdk::ShmPool {
        Box::leak(Box::new(sipr_sdk::ShmPool::create(1 << 20).unwrap()))
    }

    #[test]
    fn nonce_count_rises_or_is_stale() {
        let r = Replay::new(pool(), 16, 0).unwrap();
        let nid = r.issue();
        assert_eq!(r.check(nid, "00000001"), Verdict::Fresh);
        assert_eq!(r.check(nid, "00000001"), Verdict::Refused(AuthResult::StaleNonce));
        assert_eq!(r.check(nid, "00000007"), Verdict::Fresh);
        assert_eq!(r.check(nid, "00000005"), Verdict::Refused(AuthResult::StaleNonce));
        assert_eq!(r.check(nid, "00000100"), Verdict::Refused(AuthResult::StaleNonce));
        assert_eq!(r.check(nid, "zz"), Verdict::Refused(AuthResult::StaleNonce));
        // no nc (no qop) and no one-time array: nothing to check
        assert_eq!(r.check(nid, ""), Verdict::Fresh);
        // its neighbour is independent
        let other = r.issue();
        assert_eq!(r.check(other, "00000001"), Verdict::Fresh);
        // 16 newer nonces take the ring over: too old
        for _ in 0..16 {
            r.issue();
        }
        assert_eq!(r.check(nid, "00000009"), Verdict::Refused(AuthResult::StaleNonce));
    }

    #[test]
    fn one_time_nonces() {
        let r = Replay::new(pool(), 0, 128).unwrap();
        let a = r.issue();
        let b = r.issue();
        assert_eq!(r.check(a, ""), Verdict::Fresh);
        assert_eq!(r.check(a, ""), Verdict::Refused(AuthResult::NonceReused));
        assert_eq!(r.check(b, "00000001"), Verdict::Fresh);
        for _ in 0..128 {
            r.issue();
        }
        assert_eq!(r.check(b, ""), Verdict::Refused(AuthResult::StaleNonce));
    }
}
