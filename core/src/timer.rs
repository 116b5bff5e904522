//! Timers for the core and modules (Kamailio's `register_timer`):
//! registered before the fork, run by the timer process (rank -1) at
//! millisecond resolution — periodic, or once after a delay.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A timer callback: the core calls `cb(arg)` (a module passes a
/// trampoline of its own and an index, so that its callback runs inside
/// its panic guard).
pub type TimerFn = extern "C" fn(usize);

#[derive(Debug, Clone)]
struct Timer {
    name: String,
    interval: Duration,
    periodic: bool,
    cb: TimerFn,
    arg: usize,
}

static TIMERS: Mutex<Vec<Timer>> = Mutex::new(Vec::new());

/// Registers a timer: every `interval` when `periodic`, else once after
/// it. Only before the fork (the timer process takes the list it
/// inherits).
pub fn register(name: &str, interval: Duration, periodic: bool, cb: TimerFn, arg: usize) -> Result<(), String> {
    if interval.is_zero() {
        return Err(format!("timer {name}: the interval must be more than 0 ms"));
    }
    TIMERS.lock().map_err(|_| "timer list poisoned".to_string())?.push(Timer {
        name: name.to_string(),
        interval,
        periodic,
        cb,
        arg,
    });
    Ok(())
}

/// How many timers are registered.
pub fn count() -> usize {
    TIMERS.lock().map(|t| t.len()).unwrap_or(0)
}

/// The timer process's loop: runs every timer when it is due, until
/// `stop()` says so (checked at least every 100 ms).
pub fn run(stop: impl Fn() -> bool) {
    let timers = TIMERS.lock().map(|t| t.clone()).unwrap_or_default();
    let start = Instant::now();
    let mut due: Vec<Option<Instant>> = timers.iter().map(|t| Some(start + t.interval)).collect();
    while !stop() {
        let now = Instant::now();
        for (i, t) in timers.iter().enumerate() {
            if let Some(d) = due[i] {
                if d <= now {
                    log::debug!("timer {} fires", t.name);
                    (t.cb)(t.arg);
                    due[i] = t.periodic.then(|| d + t.interval).map(|n| n.max(now));
                }
            }
        }
        let next = due.iter().flatten().min().copied();
        let wait = next.map_or(Duration::from_millis(100), |n| n.saturating_duration_since(Instant::now()));
        std::thread::sleep(wait.min(Duration::from_millis(100)));
    }
}
