//! The two futex operations the locks need, on *shared* futexes: the
//! kernel keys them by the physical page, so processes that map the same
//! shm page wait on the same queue. `FUTEX_PRIVATE_FLAG` would key them by
//! the process' address space and break cross-process wake-ups.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Outcome of a futex wait.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Woken, or the word already differed, or interrupted: re-check.
    Woken,
    /// The timeout ran out: a good moment to check the holder's health.
    TimedOut,
}

/// Sleeps while `*word == expected`, at most `timeout`.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Wait {
    let ts =
        libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as libc::c_long };
    // SAFETY: FUTEX_WAIT only reads the aligned u32 behind `word` (valid for
    // the call's duration since we borrow it) and the timespec on our stack.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) {
        Wait::TimedOut
    } else {
        Wait::Woken
    }
}

/// Wakes up to `n` processes sleeping on `word`.
pub(crate) fn wake(word: &AtomicU32, n: i32) {
    // SAFETY: FUTEX_WAKE does not dereference user memory beyond using the
    // address as a key; `word` is a valid reference.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}
