//! `make bench`: lock/unlock cost of each lock type, uncontended and with
//! two processes contending, against raw-sync's process-shared pthread
//! mutex. Figures are medians of 7 runs, in ns per lock+unlock pair.

use std::hint::black_box;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use raw_sync::locks::{LockImpl, LockInit};
use sipr_locking::process::{fork_child, wait_pid, ExitStatus};
use sipr_locking::{LockSet, RawMutex, RwLock, SpinLock};

const ITERS: u32 = 5_000_000;
const CONTENDED_ITERS: u32 = 1_000_000;
const RUNS: usize = 7;

fn at<T>(base: NonNull<u8>, off: usize) -> &'static T {
    // SAFETY: offsets below are aligned, in bounds of a zeroed mapping that
    // lives to the end of the bench; all-zero is valid for these types.
    unsafe { &*base.as_ptr().add(off).cast::<T>() }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn ns_per(iters: u32, f: &(dyn Fn() + Sync)) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_nanos() as f64 / iters as f64
}

/// Two forked processes run `f` CONTENDED_ITERS times each, started
/// together; wall ns per lock pair over both.
fn contended(go: &AtomicU32, f: &(dyn Fn() + Sync)) -> f64 {
    go.store(0, Ordering::SeqCst);
    let pids: Vec<i32> = (0..2)
        .map(|_| {
            // SAFETY: forked from the bench's only thread; the child spins
            // on shared atomics and locks only.
            unsafe {
                fork_child(|| {
                    while go.load(Ordering::Acquire) == 0 {
                        std::hint::spin_loop();
                    }
                    for _ in 0..CONTENDED_ITERS {
                        f();
                    }
                    0
                })
            }
            .expect("fork")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    let t = Instant::now();
    go.store(1, Ordering::Release);
    for p in pids {
        assert_eq!(wait_pid(p).expect("wait"), ExitStatus::Exited(0));
    }
    t.elapsed().as_nanos() as f64 / (2 * CONTENDED_ITERS) as f64
}

fn bump(c: &AtomicU32) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

fn main() {
    let base = sipr_locking::process::map_shared(1 << 20).expect("mmap");
    let mutex: &RawMutex = at(base, 0);
    let spin: &SpinLock = at(base, 64);
    let rw: &RwLock = at(base, 128);
    let counter: &AtomicU32 = at(base, 192);
    let go: &AtomicU32 = at(base, 256);
    // SAFETY: the region from 4096 is zeroed, aligned and used only here.
    let set = unsafe { LockSet::init(NonNull::new_unchecked(base.as_ptr().add(4096)), 256, "bench") };
    // SAFETY: raw-sync initialises its pthread mutex (PTHREAD_PROCESS_SHARED)
    // in the region at 65536, data pointer at 131072; both stay mapped.
    let (pthread, _) = unsafe { raw_sync::locks::Mutex::new(base.as_ptr().add(65536), base.as_ptr().add(131072)) }
        .expect("raw-sync mutex");
    let pthread: &'static Pshared = Box::leak(Box::new(Pshared(pthread)));

    // name, uncontended op, contended op (lock + counter bump + unlock)
    let rows: Vec<Row<'_>> = vec![
        (
            "sipr RawMutex (futex)",
            Box::new(|| drop(black_box(mutex.lock()))),
            Some(Box::new(|| {
                let _g = mutex.lock();
                bump(counter);
            })),
        ),
        (
            "sipr SpinLock",
            Box::new(|| drop(black_box(spin.lock()))),
            Some(Box::new(|| {
                let _g = spin.lock();
                bump(counter);
            })),
        ),
        (
            "sipr RwLock write",
            Box::new(|| drop(black_box(rw.write()))),
            Some(Box::new(|| {
                let _g = rw.write();
                bump(counter);
            })),
        ),
        ("sipr RwLock read", Box::new(|| drop(black_box(rw.read()))), None),
        ("sipr LockSet (256, by hash)", Box::new(|| drop(black_box(set.lock(black_box(0xdead_beef))))), None),
        (
            "raw-sync pthread mutex (pshared)",
            Box::new(|| drop(black_box(pthread.lock()))),
            Some(Box::new(|| {
                let _g = pthread.lock();
                bump(counter);
            })),
        ),
    ];
    println!("# lock+unlock, median of {RUNS} runs (ns per pair)");
    println!("| lock | uncontended ns | 2 processes contending ns |");
    println!("|---|---|---|");
    for (name, op, contended_op) in &rows {
        let u = median((0..RUNS).map(|_| ns_per(ITERS, op.as_ref())).collect());
        match contended_op {
            Some(c) => {
                let c = median((0..RUNS).map(|_| contended(go, c.as_ref())).collect());
                println!("| {name} | {u:.1} | {c:.1} |");
            }
            None => println!("| {name} | {u:.1} | – |"),
        }
    }
}

type Op<'a> = Box<dyn Fn() + Sync + 'a>;
type Row<'a> = (&'static str, Op<'a>, Option<Op<'a>>);

/// raw-sync's lock, shareable with the forked children.
struct Pshared(Box<dyn LockImpl>);
// SAFETY: the pthread mutex is PTHREAD_PROCESS_SHARED and thread-safe.
unsafe impl Sync for Pshared {}
impl Pshared {
    fn lock(&self) -> raw_sync::locks::LockGuard<'_> {
        self.0.lock().expect("pthread_mutex_lock")
    }
}
