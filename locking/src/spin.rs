//! A spinlock for critical sections of a few instructions, where even the
//! uncontended futex path's bookkeeping is too much. Same word format as
//! the mutex (holder pid, 0 = free). Waiters spin with exponential backoff,
//! then yield the CPU; a waiter that has yielded for long checks whether
//! the holder is still alive.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use crossbeam_utils::Backoff;

use crate::error::{LockResult, OwnerDied};
use crate::process::{current_pid, pid_alive};

/// Yields between two liveness checks of the holder, once backoff has
/// given up spinning (~50 ms of `sched_yield` at the very least).
const YIELDS_PER_OWNER_CHECK: u32 = 2_000;

/// A process-shared spinlock, 4 bytes; all-zero is unlocked.
#[repr(C)]
pub struct SpinLock {
    word: AtomicU32,
}

impl Default for SpinLock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SpinLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpinLock").field("holder", &self.holder()).finish()
    }
}

impl SpinLock {
    /// An unlocked spinlock.
    pub const fn new() -> Self {
        SpinLock { word: AtomicU32::new(0) }
    }

    /// Takes the lock, spinning (then yielding) while a live process holds it.
    #[inline]
    pub fn lock(&self) -> LockResult<SpinLockGuard<'_>> {
        let me = current_pid() as u32;
        if self.word.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return Ok(SpinLockGuard { lock: self });
        }
        self.lock_slow(me)
    }

    #[cold]
    fn lock_slow(&self, me: u32) -> LockResult<SpinLockGuard<'_>> {
        let backoff = Backoff::new();
        let mut yields = 0u32;
        loop {
            let cur = self.word.load(Ordering::Relaxed);
            if cur == 0 {
                if self.word.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    return Ok(SpinLockGuard { lock: self });
                }
                continue;
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            std::thread::yield_now();
            yields += 1;
            if yields % YIELDS_PER_OWNER_CHECK == 0
                && !pid_alive(cur as i32)
                && self.word.compare_exchange(cur, me, Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                return Err(OwnerDied::new(SpinLockGuard { lock: self }, cur as i32, b"spinlock", None));
            }
        }
    }

    /// Takes the lock if it is free; never waits.
    pub fn try_lock(&self) -> Option<SpinLockGuard<'_>> {
        let me = current_pid() as u32;
        self.word
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| SpinLockGuard { lock: self })
    }

    /// The pid holding the lock, if any.
    pub fn holder(&self) -> Option<i32> {
        match self.word.load(Ordering::Relaxed) {
            0 => None,
            pid => Some(pid as i32),
        }
    }

    /// Releases the lock if `pid` holds it (supervisor sweep after reaping).
    pub fn force_release_if_held_by(&self, pid: i32) -> bool {
        pid > 0 && self.word.compare_exchange(pid as u32, 0, Ordering::Release, Ordering::Relaxed).is_ok()
    }
}

/// Holds a [`SpinLock`] until dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SpinLockGuard<'a> {
    lock: &'a SpinLock,
}

impl Drop for SpinLockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.lock.word.store(0, Ordering::Release);
    }
}

impl fmt::Debug for SpinLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SpinLockGuard")
    }
}
