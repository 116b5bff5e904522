//! [`ShmWords`]: a fixed array of atomic 64-bit words in shm, for state
//! every process updates without a lock (auth's nonce-count bytes and
//! one-time-nonce bits, counters).

use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

use crate::pool::ShmPool;

/// `len` atomic words, zero at the start, allocated before the fork and
/// kept for the server's life (never freed: the handle is `Copy`).
#[derive(Clone, Copy)]
pub struct ShmWords {
    ptr: NonNull<AtomicU64>,
    len: usize,
}

// SAFETY: the words are atomics in a shared mapping that outlives every
// handle; every access goes through `&AtomicU64`.
unsafe impl Send for ShmWords {}
// SAFETY: as for Send.
unsafe impl Sync for ShmWords {}

impl std::fmt::Debug for ShmWords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmWords").field("len", &self.len).finish()
    }
}

impl ShmWords {
    /// `len` zeroed words from `pool` (at least one). `None` when the pool
    /// is full.
    #[track_caller]
    pub fn new_in(pool: &ShmPool, len: usize) -> Option<ShmWords> {
        let len = len.max(1);
        let bytes = len.checked_mul(std::mem::size_of::<AtomicU64>())?;
        // zeroed bytes are AtomicU64 zeros; the pool aligns to 16 bytes
        let ptr = pool.alloc_zeroed(bytes)?.cast::<AtomicU64>();
        Some(ShmWords { ptr, len })
    }

    /// How many words.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never empty (at least one word is made).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Word `i` modulo the length.
    pub fn word(&self, i: usize) -> &AtomicU64 {
        // SAFETY: `i % len < len` words were allocated in new_in, zeroed
        // (a valid AtomicU64), and are never freed.
        unsafe { &*self.ptr.as_ptr().add(i % self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn words_are_zero_shared_and_wrap() {
        let pool = ShmPool::create(1 << 20).unwrap();
        let w = ShmWords::new_in(&pool, 4).unwrap();
        assert_eq!(w.len(), 4);
        assert_eq!(w.word(3).load(Ordering::Relaxed), 0);
        w.word(1).fetch_or(0b100, Ordering::Relaxed);
        let copy = w;
        assert_eq!(copy.word(5).load(Ordering::Relaxed), 0b100);
    }
}
