//! A writer-preferring reader-writer lock. The writer word has the mutex
//! format (holder pid + waiters bit) so a dead writer is detected as a dead
//! mutex holder is; readers only count themselves in `readers`.
//!
//! Readers are anonymous: a reader that dies inside its section leaves the
//! count raised and writers would wait for ever. The supervisor, which
//! knows a child died, can check [`RwLock::readers`] and reset it with
//! [`RwLock::force_reset_readers`] once no live process can be reading.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{LockResult, OwnerDied};
use crate::process::{current_pid, pid_alive};
use crate::{futex, OWNER_CHECK_INTERVAL};

const WAITERS: u32 = 1 << 31;
const PID_MASK: u32 = !WAITERS;

/// A process-shared reader-writer lock, 8 bytes; all-zero is unlocked.
#[repr(C)]
pub struct RwLock {
    writer: AtomicU32,
    readers: AtomicU32,
}

impl Default for RwLock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RwLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock").field("writer", &self.writer_pid()).field("readers", &self.readers()).finish()
    }
}

impl RwLock {
    /// An unlocked lock.
    pub const fn new() -> Self {
        RwLock { writer: AtomicU32::new(0), readers: AtomicU32::new(0) }
    }

    /// Shared access. Blocks while a writer holds or waits for the lock.
    /// If the writer died, the lock is taken over *for writing* so that the
    /// caller can repair the data: the error carries a write guard.
    pub fn read(&self) -> Result<RwLockReadGuard<'_>, OwnerDied<RwLockWriteGuard<'_>>> {
        loop {
            let w = self.writer.load(Ordering::SeqCst);
            if w == 0 {
                self.readers.fetch_add(1, Ordering::SeqCst);
                if self.writer.load(Ordering::SeqCst) == 0 {
                    return Ok(RwLockReadGuard { lock: self });
                }
                self.read_unlock();
                continue;
            }
            if w & WAITERS == 0
                && self.writer.compare_exchange(w, w | WAITERS, Ordering::Relaxed, Ordering::Relaxed).is_err()
            {
                continue;
            }
            if futex::wait(&self.writer, w | WAITERS, OWNER_CHECK_INTERVAL) == futex::Wait::TimedOut {
                if let Some(dead) = self.take_over_dead_writer() {
                    self.wait_for_readers();
                    return Err(OwnerDied::new(RwLockWriteGuard { lock: self }, dead, b"rwlock", None));
                }
            }
        }
    }

    /// Exclusive access.
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_>> {
        let me = current_pid() as u32;
        let mut recovered = None;
        // Until we have slept, nobody we know of waits behind us: take the
        // lock without the waiters bit so the unlock can skip FUTEX_WAKE.
        let mut want = me;
        loop {
            let cur = self.writer.load(Ordering::Relaxed);
            if cur == 0 {
                if self.writer.compare_exchange(0, want, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                    break;
                }
                continue;
            }
            if cur & WAITERS == 0
                && self.writer.compare_exchange(cur, cur | WAITERS, Ordering::Relaxed, Ordering::Relaxed).is_err()
            {
                continue;
            }
            want = me | WAITERS;
            if futex::wait(&self.writer, cur | WAITERS, OWNER_CHECK_INTERVAL) == futex::Wait::TimedOut {
                if let Some(dead) = self.take_over_dead_writer() {
                    recovered = Some(dead);
                    break;
                }
            }
        }
        self.wait_for_readers();
        let guard = RwLockWriteGuard { lock: self };
        match recovered {
            None => Ok(guard),
            Some(dead) => Err(OwnerDied::new(guard, dead, b"rwlock", None)),
        }
    }

    fn wait_for_readers(&self) {
        loop {
            let r = self.readers.load(Ordering::SeqCst);
            if r == 0 {
                return;
            }
            futex::wait(&self.readers, r, OWNER_CHECK_INTERVAL);
        }
    }

    fn take_over_dead_writer(&self) -> Option<i32> {
        let cur = self.writer.load(Ordering::Relaxed);
        let holder = (cur & PID_MASK) as i32;
        if holder == 0 || pid_alive(holder) {
            return None;
        }
        let me = current_pid() as u32;
        self.writer.compare_exchange(cur, me | WAITERS, Ordering::SeqCst, Ordering::Relaxed).ok().map(|_| holder)
    }

    fn read_unlock(&self) {
        let left = self.readers.fetch_sub(1, Ordering::SeqCst) - 1;
        if left == 0 && self.writer.load(Ordering::SeqCst) != 0 {
            futex::wake(&self.readers, 1);
        }
    }

    fn write_unlock(&self) {
        let prev = self.writer.swap(0, Ordering::SeqCst);
        if prev & WAITERS != 0 {
            futex::wake(&self.writer, i32::MAX);
        }
    }

    /// The pid of the writer holding (or waiting for) the lock.
    pub fn writer_pid(&self) -> Option<i32> {
        match self.writer.load(Ordering::Relaxed) & PID_MASK {
            0 => None,
            pid => Some(pid as i32),
        }
    }

    /// How many readers are inside.
    pub fn readers(&self) -> u32 {
        self.readers.load(Ordering::Relaxed)
    }

    /// Sets the reader count back to 0 and wakes a waiting writer. Only for
    /// the supervisor, when it knows no live process is reading (module
    /// docs); a wrong call lets a writer in beside live readers.
    pub fn force_reset_readers(&self) {
        self.readers.store(0, Ordering::SeqCst);
        futex::wake(&self.readers, i32::MAX);
    }

    /// Releases the write side if `pid` holds it (supervisor sweep).
    pub fn force_release_writer_if_held_by(&self, pid: i32) -> bool {
        let cur = self.writer.load(Ordering::Relaxed);
        if pid <= 0 || (cur & PID_MASK) as i32 != pid {
            return false;
        }
        let ok = self.writer.compare_exchange(cur, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok();
        if ok {
            futex::wake(&self.writer, i32::MAX);
        }
        ok
    }
}

/// Shared access to an [`RwLock`] until dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a> {
    lock: &'a RwLock,
}

impl Drop for RwLockReadGuard<'_> {
    fn drop(&mut self) {
        self.lock.read_unlock();
    }
}

impl fmt::Debug for RwLockReadGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RwLockReadGuard")
    }
}

/// Exclusive access to an [`RwLock`] until dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a> {
    lock: &'a RwLock,
}

impl Drop for RwLockWriteGuard<'_> {
    fn drop(&mut self) {
        self.lock.write_unlock();
    }
}

impl fmt::Debug for RwLockWriteGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RwLockWriteGuard")
    }
}
