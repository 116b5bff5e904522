//! Processes, pids and the doorbell across a fork (moved out of the unit
//! tests: a fork must happen on the process's only thread).

use std::time::{Duration, Instant};

use sipr_locking::process::{current_pid, fork_child, map_shared, pid_alive, wait_pid, ExitStatus};
use sipr_locking::Doorbell;

fn child_sees_its_own_pid_and_dies_observably() {
    let parent = current_pid();
    // SAFETY: the child only does atomics and exits.
    let child = move || {
        let me = current_pid();
        // SAFETY: getpid has no preconditions.
        let real = unsafe { libc::getpid() };
        i32::from(me == parent || me != real)
    };
    // SAFETY: the child only does atomics and exits.
    let pid = unsafe { fork_child(child) }.unwrap();
    assert_eq!(wait_pid(pid).unwrap(), ExitStatus::Exited(0));
    assert!(!pid_alive(pid));
}

fn zombie_counts_as_dead() {
    // SAFETY: the child exits at once.
    let pid = unsafe { fork_child(|| 3) }.unwrap();
    // Not reaped yet: a zombie for a while.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while pid_alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(!pid_alive(pid), "zombie child still considered alive");
    assert_eq!(wait_pid(pid).unwrap(), ExitStatus::Exited(3));
}

fn another_process_rings() {
    let m = map_shared(4096).unwrap();
    // SAFETY: a fresh zeroed shared page: a valid Doorbell.
    let b: &Doorbell = unsafe { &*m.as_ptr().cast::<Doorbell>() };
    let t = b.ticket();
    // SAFETY: the child only sleeps briefly, rings and exits.
    let pid = unsafe {
        fork_child(|| {
            std::thread::sleep(Duration::from_millis(50));
            b.ring();
            0
        })
    }
    .unwrap();
    let start = Instant::now();
    b.wait(t, Duration::from_secs(5));
    assert!(start.elapsed() < Duration::from_secs(2), "woken by the child's ring");
    wait_pid(pid).unwrap();
}

sipr_locking::single_threaded_tests!(
    child_sees_its_own_pid_and_dies_observably,
    zombie_counts_as_dead,
    another_process_rings,
);
