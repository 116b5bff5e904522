//! Lock errors. A lock operation has exactly two ways to fail: the lock is
//! busy (only for `try_*`), or its holder died and the caller now owns a
//! lock whose data may need repair.

use std::fmt;

/// The previous holder of a lock died while holding it. The lock has been
/// taken over: `guard` holds it now. See the crate docs for what must be
/// repaired before the guard is dropped.
pub struct OwnerDied<G> {
    guard: G,
    dead_pid: i32,
    lock_name: String,
    index: Option<usize>,
}

impl<G> OwnerDied<G> {
    /// `lock_name` may be NUL-padded (a fixed name buffer from shm).
    pub(crate) fn new(guard: G, dead_pid: i32, lock_name: &[u8], index: Option<usize>) -> Self {
        let end = lock_name.iter().position(|&b| b == 0).unwrap_or(lock_name.len());
        let lock_name = String::from_utf8_lossy(&lock_name[..end]).into_owned();
        let err = OwnerDied { guard, dead_pid, lock_name, index };
        log::error!("{err}");
        err
    }

    /// The same report around another guard type (a typed guard built
    /// over a raw one). Does not log again.
    pub(crate) fn map<H>(self, f: impl FnOnce(G) -> H) -> OwnerDied<H> {
        OwnerDied { guard: f(self.guard), dead_pid: self.dead_pid, lock_name: self.lock_name, index: self.index }
    }

    /// The pid that held the lock when it died.
    pub fn dead_pid(&self) -> i32 {
        self.dead_pid
    }

    /// The name the lock (or its lock set) was created with.
    pub fn lock_name(&self) -> &str {
        &self.lock_name
    }

    /// The index inside a [`crate::LockSet`], if the lock belongs to one.
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// Accepts responsibility for the repaired state and returns the guard.
    pub fn into_guard(self) -> G {
        self.guard
    }

    /// The guard, for repairing the data before accepting it.
    pub fn guard_mut(&mut self) -> &mut G {
        &mut self.guard
    }
}

impl<G> fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lock '{}'", self.lock_name)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        write!(
            f,
            " was held by pid {} which died; lock recovered by pid {}, protected data must be repaired",
            self.dead_pid,
            crate::process::current_pid()
        )
    }
}

impl<G> fmt::Debug for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerDied")
            .field("dead_pid", &self.dead_pid)
            .field("lock_name", &self.lock_name)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl<G> std::error::Error for OwnerDied<G> {}

/// Result of a blocking lock: the guard, or the guard of a recovered lock.
pub type LockResult<G> = Result<G, OwnerDied<G>>;

/// Why a `try_lock` did not return a plain guard.
#[derive(Debug)]
pub enum TryLockError<G> {
    /// Another live process holds the lock.
    WouldBlock,
    /// The holder had died; the lock was recovered (see [`OwnerDied`]).
    OwnerDied(OwnerDied<G>),
}

impl<G> fmt::Display for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str("lock is held by a live process"),
            TryLockError::OwnerDied(e) => e.fmt(f),
        }
    }
}

impl<G> std::error::Error for TryLockError<G> where G: fmt::Debug {}
