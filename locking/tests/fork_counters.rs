//! ≥ 4 processes increment one shared counter 1,000,000 times in total
//! under each lock type: the total must be exact. The counter is updated
//! with a plain (non-atomic) read-modify-write, so any lapse of mutual
//! exclusion loses increments.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use common::{join_ok, spawn, Region};
use sipr_locking::{LockSet, RawMutex, RwLock, SpinLock};

const CHILDREN: usize = 4;
const TOTAL: usize = 1_000_000;

/// A counter updated with separate volatile load and store.
fn bump(cell: &AtomicU32) {
    let p = cell.as_ptr();
    // SAFETY: `p` is valid shared memory; the caller holds the lock that
    // serialises every access to it, which is the property under test.
    unsafe { p.write_volatile(p.read_volatile() + 1) };
}

fn read(cell: &AtomicU32) -> usize {
    cell.load(Ordering::SeqCst) as usize
}

fn mutex_counter_is_exact() {
    let r = Region::new(4096);
    let lock: &RawMutex = r.at(0);
    let counter: &AtomicU32 = r.at(64);
    let pids = spawn(CHILDREN, |_| {
        for _ in 0..TOTAL / CHILDREN {
            let _g = lock.lock().expect("no holder dies here");
            bump(counter);
        }
        0
    });
    join_ok(&pids);
    assert_eq!(read(counter), TOTAL);
    assert_eq!(lock.holder(), None);
}

fn spinlock_counter_is_exact() {
    let r = Region::new(4096);
    let lock: &SpinLock = r.at(0);
    let counter: &AtomicU32 = r.at(64);
    let pids = spawn(CHILDREN, |_| {
        for _ in 0..TOTAL / CHILDREN {
            let _g = lock.lock().expect("no holder dies here");
            bump(counter);
        }
        0
    });
    join_ok(&pids);
    assert_eq!(read(counter), TOTAL);
    assert_eq!(lock.holder(), None);
}

fn rwlock_writers_exact_and_readers_see_consistent_pairs() {
    let r = Region::new(4096);
    let lock: &RwLock = r.at(0);
    let a: &AtomicU32 = r.at(64);
    let b: &AtomicU32 = r.at(128);
    let per = TOTAL / CHILDREN / 4;
    let pids = spawn(CHILDREN, |i| {
        for n in 0..per {
            if i % 2 == 0 || n % 4 == 0 {
                let _w = lock.write().expect("no writer dies here");
                bump(a);
                bump(b);
            } else {
                let _r = lock.read().expect("no writer dies here");
                // Writers keep a == b; a reader must never see them differ.
                if a.load(Ordering::SeqCst) != b.load(Ordering::SeqCst) {
                    return 7;
                }
            }
        }
        0
    });
    join_ok(&pids);
    let writes = 2 * per + 2 * per.div_ceil(4);
    assert_eq!(read(a), writes);
    assert_eq!(read(b), writes);
    assert_eq!(lock.readers(), 0);
    assert_eq!(lock.writer_pid(), None);
}

fn lock_set_counters_are_exact_per_bucket() {
    let r = Region::new(1 << 16);
    // SAFETY: the region is zeroed, 8-aligned, large enough and used for
    // nothing else; it is never unmapped.
    let set = unsafe { LockSet::init(r.ptr(0), 16, "test_set") };
    let counters_off = 4096;
    let pids = spawn(CHILDREN, |i| {
        for n in 0..TOTAL / CHILDREN {
            let h = (n as u32).wrapping_mul(2654435761).wrapping_add(i as u32);
            let idx = set.index_of(h);
            let _g = set.lock(h).expect("no holder dies here");
            bump(r.at::<AtomicU32>(counters_off + 64 * idx));
        }
        0
    });
    join_ok(&pids);
    let total: usize = (0..16).map(|i| read(r.at::<AtomicU32>(counters_off + 64 * i))).sum();
    assert_eq!(total, TOTAL);
    assert_eq!(set.name(), "test_set");
    assert!(set.held_by(sipr_locking::process::current_pid()).is_empty());
}

// forks: run on the process's only thread (harness = false)
sipr_locking::single_threaded_tests!(
    mutex_counter_is_exact,
    spinlock_counter_is_exact,
    rwlock_writers_exact_and_readers_see_consistent_pairs,
    lock_set_counters_are_exact_per_bucket,
);
