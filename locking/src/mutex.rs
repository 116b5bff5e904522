//! The futex mutex. The lock word holds the holder's pid in its low 31 bits
//! and a "someone may be sleeping" bit on top; 0 is unlocked. Taking the
//! lock is one compare-and-swap 0 → pid; releasing is one swap to 0 plus a
//! `FUTEX_WAKE` only when the waiters bit was set.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{LockResult, OwnerDied, TryLockError};
use crate::process::{current_pid, pid_alive};
use crate::{fixed_name, futex, name_str, LOCK_NAME_LEN, OWNER_CHECK_INTERVAL};

const WAITERS: u32 = 1 << 31;
const PID_MASK: u32 = !WAITERS;
/// Spins before sleeping: most sections are shorter than a futex round trip.
const SPIN_LIMIT: u32 = 100;

/// A bare process-shared mutex, 4 bytes, protecting nothing in particular
/// (as Kamailio's `gen_lock_t`). Must live in shared memory to be shared.
#[repr(C)]
pub struct RawMutex {
    word: AtomicU32,
}

impl Default for RawMutex {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawMutex").field("holder", &self.holder()).finish()
    }
}

impl RawMutex {
    /// An unlocked mutex. All-zero bytes are an unlocked mutex too, so
    /// zeroed shared memory needs no initialisation.
    pub const fn new() -> Self {
        RawMutex { word: AtomicU32::new(0) }
    }

    /// Takes the lock, sleeping while a live process holds it.
    #[inline]
    pub fn lock(&self) -> LockResult<RawMutexGuard<'_>> {
        self.lock_as(b"mutex", None)
    }

    /// `name` is the raw (possibly NUL-padded) name, decoded only when a
    /// dead holder is reported: the fast path must not pay for it.
    #[inline]
    pub(crate) fn lock_as(&self, name: &[u8], index: Option<usize>) -> LockResult<RawMutexGuard<'_>> {
        let me = current_pid() as u32;
        if self.word.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return Ok(RawMutexGuard { mutex: self });
        }
        self.lock_slow(me, name, index)
    }

    #[cold]
    fn lock_slow(&self, me: u32, name: &[u8], index: Option<usize>) -> LockResult<RawMutexGuard<'_>> {
        for _ in 0..SPIN_LIMIT {
            std::hint::spin_loop();
            if self.word.load(Ordering::Relaxed) == 0
                && self.word.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                return Ok(RawMutexGuard { mutex: self });
            }
        }
        loop {
            let cur = self.word.load(Ordering::Relaxed);
            if cur == 0 {
                // Others may be asleep: keep the bit so our unlock wakes one.
                if self.word.compare_exchange(0, me | WAITERS, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    return Ok(RawMutexGuard { mutex: self });
                }
                continue;
            }
            if cur & WAITERS == 0
                && self.word.compare_exchange(cur, cur | WAITERS, Ordering::Relaxed, Ordering::Relaxed).is_err()
            {
                continue;
            }
            if futex::wait(&self.word, cur | WAITERS, OWNER_CHECK_INTERVAL) == futex::Wait::TimedOut {
                if let Some(dead) = self.take_over_if_dead(me) {
                    return Err(OwnerDied::new(RawMutexGuard { mutex: self }, dead, name, index));
                }
            }
        }
    }

    /// If the current holder is dead, makes `me` the holder and returns the
    /// dead pid.
    fn take_over_if_dead(&self, me: u32) -> Option<i32> {
        let cur = self.word.load(Ordering::Relaxed);
        let holder = (cur & PID_MASK) as i32;
        if holder == 0 || pid_alive(holder) {
            return None;
        }
        self.word.compare_exchange(cur, me | WAITERS, Ordering::Acquire, Ordering::Relaxed).ok().map(|_| holder)
    }

    /// Takes the lock if it is free (or its holder is dead); never sleeps.
    pub fn try_lock(&self) -> Result<RawMutexGuard<'_>, TryLockError<RawMutexGuard<'_>>> {
        self.try_lock_as(b"mutex", None)
    }

    pub(crate) fn try_lock_as(
        &self,
        name: &[u8],
        index: Option<usize>,
    ) -> Result<RawMutexGuard<'_>, TryLockError<RawMutexGuard<'_>>> {
        let me = current_pid() as u32;
        if self.word.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return Ok(RawMutexGuard { mutex: self });
        }
        match self.take_over_if_dead(me) {
            Some(dead) => {
                Err(TryLockError::OwnerDied(OwnerDied::new(RawMutexGuard { mutex: self }, dead, name, index)))
            }
            None => Err(TryLockError::WouldBlock),
        }
    }

    /// The pid holding the lock, if any.
    pub fn holder(&self) -> Option<i32> {
        match self.word.load(Ordering::Relaxed) & PID_MASK {
            0 => None,
            pid => Some(pid as i32),
        }
    }

    /// Whether `pid` holds this lock now.
    pub fn held_by(&self, pid: i32) -> bool {
        self.holder() == Some(pid)
    }

    /// Releases the lock if `pid` holds it, waking every sleeper; for the
    /// supervisor after it reaped `pid`. Returns whether it did. The data
    /// the lock protects must then be repaired (crate docs) by whoever
    /// calls this.
    pub fn force_release_if_held_by(&self, pid: i32) -> bool {
        let cur = self.word.load(Ordering::Relaxed);
        if pid <= 0 || (cur & PID_MASK) as i32 != pid {
            return false;
        }
        if self.word.compare_exchange(cur, 0, Ordering::Release, Ordering::Relaxed).is_ok() {
            futex::wake(&self.word, i32::MAX);
            true
        } else {
            false
        }
    }

    #[inline]
    fn unlock(&self) {
        let prev = self.word.swap(0, Ordering::Release);
        debug_assert_eq!((prev & PID_MASK) as i32, current_pid(), "mutex released by a non-holder");
        if prev & WAITERS != 0 {
            futex::wake(&self.word, 1);
        }
    }
}

/// Holds a [`RawMutex`] until dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RawMutexGuard<'a> {
    mutex: &'a RawMutex,
}

impl Drop for RawMutexGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl fmt::Debug for RawMutexGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawMutexGuard")
    }
}

/// A named process-shared mutex around `T`. `T` must itself be plain data
/// fit for shared memory (no heap pointers) when the mutex is placed there.
#[repr(C)]
pub struct Mutex<T> {
    raw: RawMutex,
    name: [u8; LOCK_NAME_LEN],
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialised by `raw` across threads and
// processes alike; `T: Send` because the value is handed between holders.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: moving the mutex moves a T, fine when T is Send.
unsafe impl<T: Send> Send for Mutex<T> {}

impl<T> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").field("name", &self.name()).field("holder", &self.raw.holder()).finish()
    }
}

impl<T> Mutex<T> {
    /// A mutex named `name` (kept, truncated to 32 bytes, for reports).
    pub fn new(name: &str, value: T) -> Self {
        Mutex { raw: RawMutex::new(), name: fixed_name(name), data: UnsafeCell::new(value) }
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        name_str(&self.name)
    }

    /// Takes the lock; see [`OwnerDied`] for the error case.
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        let wrap = |raw| MutexGuard { _raw: raw, data: &self.data };
        self.raw.lock_as(&self.name, None).map(wrap).map_err(|e| e.map(wrap))
    }

    /// The underlying raw lock (holder queries, supervisor sweeps).
    pub fn raw(&self) -> &RawMutex {
        &self.raw
    }

    /// Direct access when no other process can reach the mutex.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Access to the data of a locked [`Mutex`].
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T> {
    _raw: RawMutexGuard<'a>,
    data: &'a UnsafeCell<T>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no other holder touches data.
        unsafe { &*self.data.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref, and &mut self makes this access unique.
        unsafe { &mut *self.data.get() }
    }
}

impl<T> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MutexGuard")
    }
}
