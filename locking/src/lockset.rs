//! Lock sets: N mutexes picked by a hash, as Kamailio's `lock_set_t`, so a
//! hash table takes the lock of one bucket (or of a group of buckets) and
//! not of the whole table.
//!
//! A set is a header followed by its mutexes in one block of shared memory
//! that the caller provides (the shm pool in sipr-mem does, with
//! `ShmPool::alloc_lock_set`). [`LockSet`] itself is only a handle: a
//! pointer to that block, `Copy`, valid in every process forked after the
//! block was mapped.

use std::fmt;
use std::mem::{align_of, size_of};
use std::ptr::NonNull;

use crate::error::{LockResult, TryLockError};
use crate::mutex::{RawMutex, RawMutexGuard};
use crate::{fixed_name, name_str, LOCK_NAME_LEN};

#[repr(C)]
struct Header {
    name: [u8; LOCK_NAME_LEN],
    len: usize,
    /// `len - 1` when `len` is a power of two (index by mask), else 0.
    mask: usize,
}

/// Handle to a set of process-shared mutexes in caller-provided memory.
#[derive(Clone, Copy)]
pub struct LockSet {
    hdr: NonNull<Header>,
}

// SAFETY: the handle points at process-shared memory whose contents are
// only atomics (the mutexes) and fields written once before sharing.
unsafe impl Send for LockSet {}
// SAFETY: as for Send; all mutation goes through the mutexes' atomics.
unsafe impl Sync for LockSet {}

impl fmt::Debug for LockSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockSet").field("name", &self.name()).field("len", &self.len()).finish()
    }
}

impl LockSet {
    /// Bytes of memory a set of `len` locks needs.
    pub const fn bytes_for(len: usize) -> usize {
        size_of::<Header>() + len * size_of::<RawMutex>()
    }

    /// Alignment the memory for a set must have.
    pub const ALIGN: usize = align_of::<Header>();

    /// Writes a set of `len` (≥ 1) unlocked mutexes named `name` into `mem`.
    ///
    /// # Safety
    /// `mem` must be valid for writes of [`LockSet::bytes_for`]`(len)` bytes,
    /// aligned to [`LockSet::ALIGN`], not used for anything else, and stay
    /// mapped for as long as any copy of the returned handle is used.
    pub unsafe fn init(mem: NonNull<u8>, len: usize, name: &str) -> LockSet {
        let len = len.max(1);
        let mask = if len.is_power_of_two() { len - 1 } else { 0 };
        let hdr = mem.cast::<Header>();
        // SAFETY: the caller guarantees `mem` is valid, aligned and large
        // enough for the header and `len` mutexes following it.
        unsafe {
            hdr.as_ptr().write(Header { name: fixed_name(name), len, mask });
            let locks = hdr.as_ptr().add(1).cast::<RawMutex>();
            for i in 0..len {
                locks.add(i).write(RawMutex::new());
            }
        }
        LockSet { hdr }
    }

    fn header(&self) -> &Header {
        // SAFETY: `init`'s contract keeps the header mapped and initialised.
        unsafe { self.hdr.as_ref() }
    }

    /// Number of locks.
    pub fn len(&self) -> usize {
        self.header().len
    }

    /// Always false: a set has at least one lock.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The set's name.
    pub fn name(&self) -> &str {
        name_str(&self.header().name)
    }

    /// Which lock a hash value selects.
    #[inline]
    pub fn index_of(&self, hash: u32) -> usize {
        let h = self.header();
        if h.mask != 0 || h.len == 1 {
            hash as usize & h.mask
        } else {
            hash as usize % h.len
        }
    }

    /// The lock at `index` (taken modulo the set's length).
    #[inline]
    pub fn get(&self, index: usize) -> &RawMutex {
        self.at(index % self.len())
    }

    /// The lock at `i`, which must be `< len`.
    #[inline]
    fn at(&self, i: usize) -> &RawMutex {
        debug_assert!(i < self.len());
        // SAFETY: `i < len` (callers reduce it), and `init` wrote `len`
        // mutexes right after the header; the pointer derives from the
        // whole block's allocation.
        unsafe { &*self.hdr.as_ptr().add(1).cast::<RawMutex>().add(i) }
    }

    /// Locks the lock selected by `hash`.
    #[inline]
    pub fn lock(&self, hash: u32) -> LockResult<RawMutexGuard<'_>> {
        let i = self.index_of(hash);
        self.at(i).lock_as(&self.header().name, Some(i))
    }

    /// Locks the lock at `index`.
    #[inline]
    pub fn lock_index(&self, index: usize) -> LockResult<RawMutexGuard<'_>> {
        let i = index % self.len();
        self.at(i).lock_as(&self.header().name, Some(i))
    }

    /// Tries the lock selected by `hash` without waiting.
    pub fn try_lock(&self, hash: u32) -> Result<RawMutexGuard<'_>, TryLockError<RawMutexGuard<'_>>> {
        let i = self.index_of(hash);
        self.at(i).try_lock_as(&self.header().name, Some(i))
    }

    /// Indexes of the locks that `pid` holds now.
    pub fn held_by(&self, pid: i32) -> Vec<usize> {
        (0..self.len()).filter(|&i| self.get(i).held_by(pid)).collect()
    }

    /// Releases every lock `pid` holds (supervisor sweep after reaping it);
    /// returns their indexes, whose buckets must then be repaired.
    pub fn force_release_held_by(&self, pid: i32) -> Vec<usize> {
        (0..self.len()).filter(|&i| self.get(i).force_release_if_held_by(pid)).collect()
    }
}
