//! Process-shared locks for sipr.
//!
//! sipr follows SER/Kamailio: workers are forked processes, not threads, and
//! they share tables (transactions, registrations, hash tables) that live in
//! one `MAP_SHARED` mapping. Every lock here is therefore plain `#[repr(C)]`
//! data that works when placed in such a mapping and used from any process:
//!
//! * [`RawMutex`] / [`Mutex`] — futex mutex (shared futex, never
//!   `FUTEX_PRIVATE_FLAG`), the general-purpose lock;
//! * [`SpinLock`] — for sections of a few instructions (counters, list links);
//! * [`RwLock`] — many readers or one writer;
//! * [`LockSet`] — N mutexes selected by a hash, as Kamailio's `lock_set`, so
//!   that a hash table locks per bucket.
//!
//! # Holder pids and dead holders
//!
//! Each lock word *is* its holder's pid (plus a waiters bit), written by the
//! same atomic instruction that takes the lock, so there is no window in
//! which a lock is held but its holder unknown. Whoever finds a lock held for
//! long checks whether that pid is still alive (not exited, not a zombie);
//! when it is not, the waiter takes the lock over and gets an [`OwnerDied`]
//! error that carries the guard, the dead pid and the lock's name.
//!
//! ## What a caller must repair after [`OwnerDied`]
//!
//! The lock only says *who* died, not *where*. The dead process may have
//! stopped anywhere inside its critical section, so the data the lock
//! protects may be half-updated: a list with a dangling link, a counter
//! incremented but the item not inserted, a buffer half-written. Nothing
//! outside that data is affected. The new holder must, before it releases
//! the guard, bring that data back to a consistent state — typically by
//! validating it (e.g. the shm pool's `integrity_check`) and unlinking or
//! re-initialising what fails validation — or, when that is impossible,
//! leave the lock held and report the structure as lost (the supervising
//! process then shuts the server down, as Kamailio does on any child death).
//! The main process can also sweep for locks held by a child it has just
//! reaped with [`RawMutex::held_by`] / [`LockSet::held_by`].
//!
//! Pids are reused by the kernel; a holder that died and whose pid was
//! reused before anyone looked is taken for alive. The supervisor closes
//! that gap: it learns of every child death by `SIGCHLD` and sweeps at once.

mod doorbell;
mod error;
mod futex;
mod lockset;
mod mutex;
pub mod net;
pub mod process;
mod rwlock;
mod spin;
#[doc(hidden)]
pub mod testing;

pub use doorbell::Doorbell;
pub use error::{LockResult, OwnerDied, TryLockError};
pub use lockset::LockSet;
pub use mutex::{Mutex, MutexGuard, RawMutex, RawMutexGuard};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use spin::{SpinLock, SpinLockGuard};

/// How long a waiter sleeps on a held lock before it checks whether the
/// holder is still alive. Healthy critical sections last microseconds.
pub const OWNER_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// Length of the fixed name buffers that identify a lock in error reports.
pub const LOCK_NAME_LEN: usize = 32;

/// Copies `name` into a fixed, NUL-padded buffer (truncated on a char
/// boundary) so that a lock placed in shared memory can carry its name.
pub(crate) fn fixed_name(name: &str) -> [u8; LOCK_NAME_LEN] {
    let mut out = [0u8; LOCK_NAME_LEN];
    let mut end = name.len().min(LOCK_NAME_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    out[..end].copy_from_slice(&name.as_bytes()[..end]);
    out
}

/// Reads back a name stored by [`fixed_name`].
pub(crate) fn name_str(buf: &[u8; LOCK_NAME_LEN]) -> &str {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(LOCK_NAME_LEN);
    std::str::from_utf8(&buf[..end]).unwrap_or("?")
}
