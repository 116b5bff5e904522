//! A zeroed MAP_SHARED region for the fork tests, standing in for the shm
//! pool (sipr-mem depends on this crate, not the other way round).
#![allow(dead_code)]

use std::ptr::NonNull;

pub struct Region {
    ptr: NonNull<u8>,
    len: usize,
}

impl Region {
    pub fn new(len: usize) -> Region {
        let ptr = sipr_locking::process::map_shared(len).expect("mmap");
        Region { ptr, len }
    }

    /// A `T` at byte offset `off` (zeroed memory: all locks here start unlocked).
    pub fn at<T>(&self, off: usize) -> &'static T {
        assert!(off + std::mem::size_of::<T>() <= self.len && off % std::mem::align_of::<T>() == 0);
        // SAFETY: in bounds, aligned, zeroed shared memory that outlives the
        // test (never unmapped), and every T used here is valid all-zero.
        unsafe { &*self.ptr.as_ptr().add(off).cast::<T>() }
    }

    pub fn ptr(&self, off: usize) -> NonNull<u8> {
        assert!(off < self.len);
        // SAFETY: in bounds of the mapping.
        unsafe { NonNull::new_unchecked(self.ptr.as_ptr().add(off)) }
    }
}

/// Forks `n` children running `f(i)`; returns their pids.
pub fn spawn(n: usize, f: impl Fn(usize) -> i32) -> Vec<i32> {
    (0..n)
        .map(|i| {
            // SAFETY: the test process forks from its only test thread; the
            // children use only atomics, locks and libc.
            unsafe { sipr_locking::process::fork_child(|| f(i)) }.expect("fork")
        })
        .collect()
}

/// Waits for every pid and asserts each exited with 0.
pub fn join_ok(pids: &[i32]) {
    for &p in pids {
        let st = sipr_locking::process::wait_pid(p).expect("waitpid");
        assert_eq!(st, sipr_locking::process::ExitStatus::Exited(0), "child {p} failed");
    }
}
