//! Timers for the core and modules, run by the timer process (rank -1):
//!
//! - registered timers (Kamailio's `register_timer`): declared before the
//!   fork, periodic or once, millisecond resolution;
//! - the shm timer wheel (Kamailio's timer lists): armed and cancelled by
//!   any process at any time — tm's retransmission and final-response
//!   timers — with [`WHEEL_TICK`] resolution.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use std::os::unix::net::UnixDatagram;

use sipr_mem::{Cancelled, DueRun, ShmTimerWheel, TimerHandler, TimerId, TimerNoRoom};

/// Resolution of the shm timer wheel.
pub const WHEEL_TICK: Duration = Duration::from_millis(10);
/// Slots of the wheel: one turn is 10.24 s; later timers wait in their
/// slot for their turn.
const WHEEL_SLOTS: usize = 1024;

static WHEEL: OnceLock<ShmTimerWheel<'static>> = OnceLock::new();

/// Creates the shm timer wheel (main process, after the pool, before the
/// fork).
pub fn init_wheel() -> Result<(), String> {
    let pool = crate::shm::pool().ok_or("no shared memory pool")?;
    let w = ShmTimerWheel::new_in(pool, WHEEL_SLOTS, WHEEL_TICK).ok_or("no shared memory for the timer wheel")?;
    let _ = WHEEL.set(w);
    Ok(())
}

/// Whether the wheel exists (the server then always has a timer process).
pub fn has_wheel() -> bool {
    WHEEL.get().is_some()
}

/// Why a timer could not be armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmError {
    /// No wheel (not a running server).
    NoWheel,
    /// The shm pool is full.
    NoRoom,
}

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArmError::NoWheel => f.write_str("no timer wheel (the server is not running)"),
            ArmError::NoRoom => std::fmt::Display::fmt(&TimerNoRoom, f),
        }
    }
}

impl std::error::Error for ArmError {}

/// Arms a timer on the wheel, from any process: `handler(data, arg)` runs
/// in the timer process after `after`, and again after whatever
/// non-zero milliseconds it returns.
pub fn arm(after: Duration, handler: TimerHandler, data: usize, arg: u64) -> Result<TimerId, ArmError> {
    let w = WHEEL.get().ok_or(ArmError::NoWheel)?;
    w.arm(after, handler, data, arg).map_err(|_| ArmError::NoRoom)
}

/// As [`arm`], but the timer process hands each run to one of the
/// `async_workers` processes (run in the timer process when there are
/// none): for handlers that may take long and must not hold up the
/// other timers.
pub fn arm_in_worker(after: Duration, handler: TimerHandler, data: usize, arg: u64) -> Result<TimerId, ArmError> {
    let w = WHEEL.get().ok_or(ArmError::NoWheel)?;
    w.arm_for(after, handler, data, arg, true).map_err(|_| ArmError::NoRoom)
}

/// The channel from the timer process to the async workers: (the timer
/// process's end, the end the workers share).
static ASYNC: OnceLock<(UnixDatagram, UnixDatagram)> = OnceLock::new();

/// Creates the async workers' channel (main process, before the fork,
/// when `async_workers` > 0).
pub fn init_async_workers() -> Result<(), String> {
    let pair = UnixDatagram::pair().map_err(|e| format!("async workers: {e}"))?;
    let _ = ASYNC.set(pair);
    Ok(())
}

/// An async worker's loop: runs the wheel timers the timer process hands
/// over, until the process is told to stop.
pub fn run_async_worker() {
    let (Some((_, rx)), Some(w)) = (ASYNC.get(), WHEEL.get()) else { return };
    let mut buf = [0u8; 16];
    loop {
        match rx.recv(&mut buf) {
            Ok(16) => {
                w.run_dispatched(DueRun::from_bytes(&buf));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::error!("async worker: {e}");
                return;
            }
        }
    }
}

/// Cancels a timer armed with [`arm`], from any process.
pub fn cancel(id: TimerId) -> Cancelled {
    WHEEL.get().map_or(Cancelled::Stale, |w| w.cancel(id))
}

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

/// The timer process's loop: runs every registered timer and every wheel
/// timer when due, until `stop()` says so (checked at least every 100 ms).
pub fn run(stop: impl Fn() -> bool) {
    let timers = TIMERS.lock().map(|t| t.clone()).unwrap_or_default();
    let start = Instant::now();
    let mut due: Vec<Option<Instant>> = timers.iter().map(|t| Some(start + t.interval)).collect();
    while !stop() {
        crate::cfgvars::refresh();
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
        let mut limit = Duration::from_millis(100);
        let mut ticket = None;
        if let Some(w) = WHEEL.get() {
            ticket = Some(w.ticket());
            // runs armed for a worker go to the async workers when there
            // are any (else they run here)
            w.run_due_with(|run| ASYNC.get().is_some_and(|(tx, _)| tx.send(&run.to_bytes()).is_ok()));
            // tick while timers are armed; idle otherwise (the first arm
            // rings the wheel's doorbell)
            if w.armed() > 0 {
                limit = WHEEL_TICK;
            }
        }
        let next = due.iter().flatten().min().copied();
        let wait = next.map_or(limit, |n| n.saturating_duration_since(Instant::now())).min(limit);
        match (WHEEL.get(), ticket) {
            (Some(w), Some(t)) => w.wait(t, wait),
            _ => std::thread::sleep(wait),
        }
    }
}
