//! Fork stress of the allocator: 4 children × 200,000 random
//! alloc/realloc/free operations on one pool, sizes 1 B – 64 KB, every
//! block filled with its own pattern and verified before it is freed or
//! resized. At the end the heap passes `integrity_check`, used memory is
//! back to its start, and once the quick lists are flushed every statistic
//! is back where it started.

use std::ptr::NonNull;
use std::time::Duration;

use sipr_locking::process::{fork_child, kill, wait_pid, ExitStatus};
use sipr_mem::ShmPool;

const CHILDREN: usize = 4;
const OPS: usize = 200_000;
const SLOTS: usize = 256;

/// xorshift64*: deterministic per child, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// 1 B – 64 KB, log-uniform so that small blocks dominate as in SIP.
    fn size(&mut self) -> usize {
        let bits = (self.next() % 17) as u32; // 0..=16
        let base = 1usize << bits;
        (base + (self.next() as usize % base)).clamp(1, 65536)
    }
}

fn pattern(tag: u64) -> u8 {
    (tag.wrapping_mul(0x9e37_79b9) >> 24) as u8 | 1
}

fn fill(p: NonNull<u8>, len: usize, byte: u8) {
    // SAFETY: `p` is a live block of at least `len` bytes owned by the caller.
    unsafe { p.as_ptr().write_bytes(byte, len) };
}

fn intact(p: NonNull<u8>, len: usize, byte: u8) -> bool {
    // SAFETY: as in fill.
    let s = unsafe { std::slice::from_raw_parts(p.as_ptr(), len) };
    s.iter().all(|&b| b == byte)
}

/// One child's work; returns its exit code (0 = all checks passed).
fn churn(pool: &ShmPool, seed: u64, ops: usize) -> i32 {
    let mut rng = Rng(seed);
    let mut slots: Vec<Option<(NonNull<u8>, usize, u8)>> = vec![None; SLOTS];
    for op in 0..ops {
        let i = (rng.next() as usize) % SLOTS;
        match slots[i] {
            None => {
                let len = rng.size();
                let Some(p) = pool.alloc(len) else { return 2 };
                let b = pattern(seed ^ op as u64);
                fill(p, len, b);
                slots[i] = Some((p, len, b));
            }
            Some((p, len, b)) => {
                if !intact(p, len, b) {
                    return 3;
                }
                if rng.next() % 3 == 0 {
                    let new_len = rng.size();
                    // SAFETY: we own `p`; on success only the result is used.
                    let Some(q) = (unsafe { pool.realloc(p, new_len) }) else { return 4 };
                    if !intact(q, len.min(new_len), b) {
                        return 5;
                    }
                    let nb = pattern(seed ^ op as u64);
                    fill(q, new_len, nb);
                    slots[i] = Some((q, new_len, nb));
                } else {
                    // SAFETY: we own `p` and forget it right after.
                    unsafe { pool.free(p) };
                    slots[i] = None;
                }
            }
        }
    }
    for (p, len, b) in slots.into_iter().flatten() {
        if !intact(p, len, b) {
            return 6;
        }
        // SAFETY: we own `p`.
        unsafe { pool.free(p) };
    }
    0
}

fn four_children_churn_the_pool_and_everything_comes_back() {
    let pool = ShmPool::create_mb(96).unwrap();
    let start = pool.stats();
    let pids: Vec<i32> = (0..CHILDREN)
        .map(|c| {
            let pool = &pool;
            // SAFETY: forked from the test's only thread; the child touches
            // only the pool and its own heap, then _exits.
            unsafe { fork_child(move || churn(pool, 0x1234_5678 + c as u64 * 7919, OPS)) }.unwrap()
        })
        .collect();
    for pid in pids {
        assert_eq!(wait_pid(pid).unwrap(), ExitStatus::Exited(0), "child {pid} found a damaged block");
    }
    let check = pool.integrity_check().expect("heap intact after the storm");
    assert_eq!(check.used_blocks, 0);
    assert_eq!(pool.stats().used, start.used);
    pool.defragment();
    pool.integrity_check().expect("heap intact after defragmenting");
    let end = pool.stats();
    assert_eq!(
        (end.used, end.real_used, end.free, end.fragments),
        (start.used, start.real_used, start.free, start.fragments)
    );
    assert_eq!(end.failed_allocs, 0);
    assert!(end.max_used > start.real_used, "children did allocate");
}

fn children_killed_mid_churn_never_crash_the_survivor() {
    for round in 0..3u64 {
        let pool = ShmPool::create_mb(32).unwrap();
        let pids: Vec<i32> = (0..2)
            .map(|c| {
                let pool = &pool;
                // SAFETY: as above.
                unsafe { fork_child(move || churn(pool, round * 31 + c, usize::MAX)) }.unwrap()
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30 + 17 * round));
        for &pid in &pids {
            kill(pid, libc::SIGKILL).unwrap();
            assert_eq!(wait_pid(pid).unwrap(), ExitStatus::Signaled(libc::SIGKILL));
        }
        // The pool lock may have died with a child: the next user recovers
        // it, verifies the heap, and either carries on or refuses to
        // allocate from a damaged heap. Never a crash or a hang.
        let p = pool.alloc(128);
        match pool.integrity_check() {
            Ok(_) => {
                let p = p.expect("intact heap must still allocate");
                // SAFETY: fresh block, freed once.
                unsafe { pool.free(p) };
            }
            Err(c) => assert!(p.is_none(), "damaged heap ({c:?}) still handed out memory"),
        }
    }
}

fn counters_and_kv_tables_are_shared_across_processes() {
    use sipr_mem::{KvValue, ShmKvTable};
    use std::sync::atomic::Ordering;
    let pool = ShmPool::create_mb(8).unwrap();
    let counter = pool.alloc_counter().unwrap();
    let table = ShmKvTable::new_in(&pool, 64, 8, "shared").unwrap();
    let work = |tag: u8| {
        for i in 0..20_000u32 {
            counter.fetch_add(1, Ordering::Relaxed);
            if i % 100 == 0 {
                let key = format!("{tag}-{i}");
                if table.set(key.as_bytes(), KvValue::Int(i as i64), 0).is_err() {
                    return 1;
                }
            }
            let _ = table.add(b"hits", 1, 0, 0, 0);
        }
        0
    };
    let pids: Vec<i32> = (0..2u8)
        .map(|c| {
            let work = &work;
            // SAFETY: the child touches only the pool (counter, table) and its
            // own heap, then _exits.
            unsafe { fork_child(move || work(c + 1)) }.unwrap()
        })
        .collect();
    assert_eq!(work(0), 0);
    for pid in pids {
        assert_eq!(wait_pid(pid).unwrap(), ExitStatus::Exited(0));
    }
    assert_eq!(counter.load(Ordering::Relaxed), 60_000);
    assert_eq!(table.get(b"hits", 0, |v, _| v == KvValue::Int(60_000)), Some(true));
    assert_eq!(table.len(), 3 * 200 + 1);
    assert!(pool.integrity_check().is_ok());
}

fn first_adds_of_a_key_from_several_processes_all_count() {
    // Three processes add 1 to the same 3,000 absent keys at once: the
    // first add of a key must not lose a concurrent one (each ends at 3).
    use sipr_mem::{KvValue, ShmKvTable};
    let pool = ShmPool::create_mb(8).unwrap();
    let table = ShmKvTable::new_in(&pool, 256, 16, "first adds").unwrap();
    let go = pool.alloc_counter().unwrap();
    let work = || {
        go.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        while go.load(std::sync::atomic::Ordering::SeqCst) < 3 {
            std::hint::spin_loop();
        }
        for i in 0..3_000u32 {
            if table.add(format!("k{i}").as_bytes(), 1, 0, 0, 0).is_err() {
                return 1;
            }
        }
        0
    };
    let pids: Vec<i32> = (0..2)
        .map(|_| {
            let work = &work;
            // SAFETY: the child touches only the pool (counter, table) and its
            // own heap, then _exits.
            unsafe { fork_child(work) }.unwrap()
        })
        .collect();
    assert_eq!(work(), 0);
    for pid in pids {
        assert_eq!(wait_pid(pid).unwrap(), ExitStatus::Exited(0));
    }
    let short: Vec<u32> = (0..3_000u32)
        .filter(|i| table.get(format!("k{i}").as_bytes(), 0, |v, _| v == KvValue::Int(3)) != Some(true))
        .collect();
    assert!(short.is_empty(), "{} keys lost an add, e.g. k{}", short.len(), short[0]);
    assert_eq!(table.len(), 3_000);
}

// forks: run on the process's only thread (harness = false)
sipr_locking::single_threaded_tests!(
    four_children_churn_the_pool_and_everything_comes_back,
    children_killed_mid_churn_never_crash_the_survivor,
    counters_and_kv_tables_are_shared_across_processes,
    first_adds_of_a_key_from_several_processes_all_count,
);
