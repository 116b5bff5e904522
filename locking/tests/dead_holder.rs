//! A process SIGKILLed while holding a lock: the survivors detect the dead
//! holder by its pid, recover the lock and carry on.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{spawn, Region};
use sipr_locking::process::{kill, pid_alive, wait_pid, ExitStatus};
use sipr_locking::{LockSet, Mutex, RawMutex, RwLock, SpinLock, TryLockError};

/// Forks a child that runs `hold` (which takes a lock and sets `ready`),
/// then sleeps until killed.
fn child_holding(ready: &'static AtomicU32, hold: impl Fn() + 'static) -> i32 {
    spawn(1, move |_| {
        hold();
        ready.store(1, Ordering::SeqCst);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    })[0]
}

fn wait_ready(ready: &AtomicU32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while ready.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "child never took the lock");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn kill_and_reap(pid: i32) {
    kill(pid, libc::SIGKILL).unwrap();
    assert_eq!(wait_pid(pid).unwrap(), ExitStatus::Signaled(libc::SIGKILL));
}

fn mutex_holder_killed_is_detected_and_recovered() {
    let r = Region::new(4096);
    let m: &Mutex<u64> = r.at(0);
    let ready: &AtomicU32 = r.at(1024);
    let pid = child_holding(ready, move || {
        let mut g = m.lock().unwrap();
        *g = 41;
        std::mem::forget(g);
    });
    wait_ready(ready);
    assert_eq!(m.raw().holder(), Some(pid));
    kill_and_reap(pid);
    let err = m.lock().expect_err("holder died: must be reported");
    assert_eq!(err.dead_pid(), pid);
    assert!(err.to_string().contains(&format!("pid {pid}")));
    let mut g = err.into_guard();
    assert_eq!(*g, 41, "data is as the dead holder left it");
    *g += 1; // the "repair"
    drop(g);
    // The lock works normally again.
    assert_eq!(*m.lock().expect("healthy again"), 42);
    assert_eq!(m.raw().holder(), None);
}

fn waiter_blocked_on_a_dying_holder_takes_over() {
    let r = Region::new(4096);
    let m: &RawMutex = r.at(0);
    let ready: &AtomicU32 = r.at(64);
    let outcome: &AtomicU32 = r.at(128);
    let holder = child_holding(ready, move || std::mem::forget(m.lock().unwrap()));
    wait_ready(ready);
    // A second child blocks in lock() before the holder dies.
    let waiter = spawn(1, move |_| match m.lock() {
        Ok(_) => 1,
        Err(e) => {
            outcome.store(e.dead_pid() as u32, Ordering::SeqCst);
            0
        }
    })[0];
    std::thread::sleep(Duration::from_millis(100));
    // Killed but not reaped yet: a zombie must count as dead too.
    kill(holder, libc::SIGKILL).unwrap();
    let t = Instant::now();
    assert_eq!(wait_pid(waiter).unwrap(), ExitStatus::Exited(0));
    assert!(t.elapsed() < Duration::from_secs(5), "recovery took {:?}", t.elapsed());
    assert_eq!(outcome.load(Ordering::SeqCst), holder as u32);
    assert_eq!(wait_pid(holder).unwrap(), ExitStatus::Signaled(libc::SIGKILL));
    assert!(!pid_alive(holder));
}

fn try_lock_reports_busy_then_dead() {
    let r = Region::new(4096);
    let m: &RawMutex = r.at(0);
    let ready: &AtomicU32 = r.at(64);
    let pid = child_holding(ready, move || std::mem::forget(m.lock().unwrap()));
    wait_ready(ready);
    assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
    kill_and_reap(pid);
    match m.try_lock() {
        Err(TryLockError::OwnerDied(e)) => assert_eq!(e.dead_pid(), pid),
        other => panic!("expected OwnerDied, got {other:?}"),
    }
    assert!(m.try_lock().is_ok());
}

fn supervisor_sweeps_lock_set_of_reaped_child() {
    let r = Region::new(1 << 16);
    // SAFETY: zeroed, aligned, large enough, never unmapped, used for nothing else.
    let set = unsafe { LockSet::init(r.ptr(0), 8, "tm_hash") };
    let ready: &AtomicU32 = r.at(8192);
    let pid = child_holding(ready, move || {
        std::mem::forget(set.lock_index(3).unwrap());
        std::mem::forget(set.lock_index(5).unwrap());
    });
    wait_ready(ready);
    assert_eq!(set.held_by(pid), vec![3, 5]);
    kill_and_reap(pid);
    // Lock through the set: the error names the set and the bucket.
    let e = set.lock_index(3).expect_err("dead holder");
    assert_eq!((e.lock_name(), e.index(), e.dead_pid()), ("tm_hash", Some(3), pid));
    drop(e.into_guard());
    // The supervisor's sweep releases what is left.
    assert_eq!(set.force_release_held_by(pid), vec![5]);
    assert!(set.held_by(pid).is_empty());
    assert!(set.lock_index(5).is_ok());
}

fn spinlock_holder_killed_is_recovered() {
    let r = Region::new(4096);
    let s: &SpinLock = r.at(0);
    let ready: &AtomicU32 = r.at(64);
    let pid = child_holding(ready, move || std::mem::forget(s.lock().unwrap()));
    wait_ready(ready);
    kill_and_reap(pid);
    let e = s.lock().expect_err("dead holder");
    assert_eq!(e.dead_pid(), pid);
    drop(e.into_guard());
    assert!(s.try_lock().is_some());
}

fn rwlock_dead_writer_hands_reader_a_write_guard() {
    let r = Region::new(4096);
    let l: &RwLock = r.at(0);
    let ready: &AtomicU32 = r.at(64);
    let pid = child_holding(ready, move || std::mem::forget(l.write().unwrap()));
    wait_ready(ready);
    kill_and_reap(pid);
    let e = l.read().expect_err("dead writer");
    assert_eq!(e.dead_pid(), pid);
    drop(e.into_guard());
    assert!(l.read().is_ok());
    assert!(l.write().is_ok());
}

// forks: run on the process's only thread (harness = false)
sipr_locking::single_threaded_tests!(
    mutex_holder_killed_is_detected_and_recovered,
    waiter_blocked_on_a_dying_holder_takes_over,
    try_lock_reports_busy_then_dead,
    supervisor_sweeps_lock_set_of_reaped_child,
    spinlock_holder_killed_is_recovered,
    rwlock_dead_writer_hands_reader_a_write_guard,
);
