//! The timer wheel across processes (moved out of the unit tests: a fork
//! must happen on the process's only thread): runs handed to a forked
//! worker, a timer armed in one process and cancelled in another.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sipr_mem::{Cancelled, DueRun, ShmPool, ShmTimerWheel};

extern "C" fn count(_: usize, _: u64) -> u64 {
    0
}

extern "C" fn thrice(data: usize, _: u64) -> u64 {
    // data points at a counter in shm
    let c = data as *const AtomicU64;
    // SAFETY: the test keeps the counter alive while the wheel runs.
    let n = unsafe { &*c }.fetch_add(1, Ordering::SeqCst) + 1;
    if n < 3 {
        5
    } else {
        0
    }
}

fn runs_dispatched_to_a_worker_process() {
    let pool = ShmPool::create_mb(4).unwrap();
    let w = ShmTimerWheel::new_in(&pool, 16, Duration::from_millis(1)).unwrap();
    let n = sipr_mem::ShmBox::new_in(&pool, AtomicU64::new(0)).unwrap();
    let data = &*n as *const AtomicU64 as usize;
    w.arm_for(Duration::from_millis(1), thrice, data, 0, true).unwrap();
    // the "timer process" hands each run over; a forked "worker" runs it
    let mut handed = 0;
    let end = Instant::now() + Duration::from_secs(2);
    while n.load(Ordering::SeqCst) < 3 && Instant::now() < end {
        w.run_due_with(|run| {
            handed += 1;
            let bytes = run.to_bytes();
            // SAFETY: the child only runs the wheel code and exits.
            let pid = unsafe {
                sipr_locking::process::fork_child(|| i32::from(!w.run_dispatched(DueRun::from_bytes(&bytes))))
            }
            .unwrap();
            let st = sipr_locking::process::wait_pid(pid).unwrap();
            assert_eq!(st, sipr_locking::process::ExitStatus::Exited(0));
            true
        });
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(n.load(Ordering::SeqCst), 3, "ran three times, in the worker (the counter is in shm)");
    assert_eq!(handed, 3);
    assert_eq!(w.armed(), 0);
}

fn armed_in_one_process_cancelled_in_another() {
    let pool = ShmPool::create_mb(4).unwrap();
    let w = ShmTimerWheel::new_in(&pool, 64, Duration::from_millis(1)).unwrap();
    let t = w.arm(Duration::from_secs(30), count, 0, 1).unwrap();
    // SAFETY: the test process has no other thread running user code
    // that the child could deadlock on; the child only cancels and exits.
    let pid = unsafe {
        sipr_locking::process::fork_child(|| match w.cancel(t) {
            Cancelled::Yes => 0,
            _ => 1,
        })
    }
    .unwrap();
    let status = sipr_locking::process::wait_pid(pid).unwrap();
    assert_eq!(status, sipr_locking::process::ExitStatus::Exited(0));
    assert_eq!(w.cancel(t), Cancelled::Stale, "the child's cancel is seen here");
    assert_eq!(w.armed(), 0);
}

sipr_locking::single_threaded_tests!(runs_dispatched_to_a_worker_process, armed_in_one_process_cancelled_in_another);
