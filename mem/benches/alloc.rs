//! `make bench`: shm pool alloc+free throughput against glibc malloc.
//!
//! Workload: a window of 1024 live blocks; each step frees one slot and
//! allocates a new block of 16–1024 bytes into it (sizes from a fixed
//! pseudo-random table), so the allocator sees a realistic mix of splits
//! and merges rather than one size recycled. Each figure is the median of
//! 7 runs; ratios compare medians.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sipr_locking::process::{fork_child, wait_pid, ExitStatus};
use sipr_mem::ShmPool;

const PAIRS: usize = 2_000_000;
const WINDOW: usize = 1024;
const RUNS: usize = 7;

fn sizes() -> Vec<usize> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            16 + (x % 1009) as usize
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `PAIRS` free+alloc steps with the given allocator functions.
fn churn(alloc: impl Fn(usize) -> *mut u8, free: impl Fn(*mut u8), sizes: &[usize]) {
    let mut slots = vec![std::ptr::null_mut(); WINDOW];
    for (i, slot) in slots.iter_mut().enumerate() {
        *slot = alloc(sizes[i % sizes.len()]);
    }
    for n in 0..PAIRS {
        let i = (n * 7) % WINDOW;
        free(slots[i]);
        let p = alloc(sizes[n % sizes.len()]);
        assert!(!p.is_null(), "allocation failed in benchmark");
        // SAFETY: fresh block of ≥ 16 bytes: touch it as a user would.
        unsafe { p.write(n as u8) };
        slots[i] = p;
    }
    for p in slots {
        free(p);
    }
}

fn shm_churn(pool: &ShmPool, sizes: &[usize]) {
    churn(
        |n| pool.alloc(n).map_or(std::ptr::null_mut(), |p| p.as_ptr()),
        // SAFETY: every pointer comes from this pool and is freed once.
        |p| unsafe { pool.free(NonNull::new(p).expect("non-null")) },
        sizes,
    );
}

fn glibc_churn(sizes: &[usize]) {
    churn(
        // SAFETY: plain malloc.
        |n| unsafe { libc::malloc(n) }.cast(),
        // SAFETY: every pointer comes from malloc and is freed once.
        |p| unsafe { libc::free(p.cast()) },
        sizes,
    );
}

fn pairs_per_sec(elapsed: Duration, pairs: usize) -> f64 {
    pairs as f64 / elapsed.as_secs_f64()
}

/// `procs` forked processes churn the same pool at once; total pairs/s.
fn shm_contended(pool: &ShmPool, procs: usize, sizes: &[usize]) -> f64 {
    let go = pool.alloc_zeroed(64).expect("room for the start flag").cast::<AtomicU32>();
    // SAFETY: a zeroed shm block used only as this atomic.
    let go: &AtomicU32 = unsafe { go.as_ref() };
    let pids: Vec<i32> = (0..procs)
        .map(|_| {
            // SAFETY: the bench forks from its only thread; the child uses
            // the pool and its own heap, then _exits.
            unsafe {
                fork_child(|| {
                    while go.load(Ordering::Acquire) == 0 {
                        std::hint::spin_loop();
                    }
                    shm_churn(pool, sizes);
                    0
                })
            }
            .expect("fork")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    let t = Instant::now();
    go.store(1, Ordering::Release);
    for pid in pids {
        assert_eq!(wait_pid(pid).expect("wait"), ExitStatus::Exited(0));
    }
    pairs_per_sec(t.elapsed(), PAIRS * procs)
}

fn main() {
    let sizes = sizes();
    let pool = ShmPool::create_mb(256).expect("pool");
    let mut shm1 = Vec::new();
    let mut glibc = Vec::new();
    let mut shm2 = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        shm_churn(&pool, &sizes);
        shm1.push(pairs_per_sec(t.elapsed(), PAIRS));
        let t = Instant::now();
        glibc_churn(&sizes);
        glibc.push(pairs_per_sec(t.elapsed(), PAIRS));
        shm2.push(shm_contended(&pool, 2, &sizes));
    }
    pool.integrity_check().expect("heap intact after the benchmark");
    let (s1, g, s2) = (median(shm1), median(glibc), median(shm2));
    println!("# shm pool alloc+free, sizes 16-1024 B, window {WINDOW}, median of {RUNS} runs");
    println!("| workload | Mpairs/s | vs glibc 1 proc |");
    println!("|---|---|---|");
    println!("| glibc malloc+free, 1 process | {:.2} | 1.00 |", g / 1e6);
    println!("| sipr shm alloc+free, 1 process | {:.2} | {:.2} |", s1 / 1e6, s1 / g);
    println!("| sipr shm alloc+free, 2 processes contending (total) | {:.2} | {:.2} |", s2 / 1e6, s2 / g);
}
