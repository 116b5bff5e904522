//! A module that misbehaves on purpose, for the loader tests: its
//! function panics, another fails, a parameter setter panics. The core
//! must log each and go on.

use sipr_sdk::prelude::*;

fn panic_now(_: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    panic!("test_faulty: panic_now() was called");
}

fn fail_now(_: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    Err("test_faulty: fail_now() always fails".into())
}

fn set_boom(_: &ModValue) -> Result<(), String> {
    panic!("test_faulty: the boom parameter explodes");
}

/// Refuses rank 99, panics on rank 98, accepts the others.
fn child_init(rank: i32) -> Result<(), String> {
    match rank {
        99 => Err("rank 99 is refused".into()),
        98 => panic!("rank 98 panics"),
        _ => Ok(()),
    }
}

/// The API function: 13 makes it panic, which the caller must get back
/// as an error (the exporter's guard catches it).
fn double(x: i64) -> Result<i64, String> {
    sipr_sdk::guard_api("example.double", || {
        if x == 13 {
            panic!("example.double does not like 13");
        }
        x * 2
    })
}

static EXAMPLE: sipr_sdk::testing::ExampleApi = sipr_sdk::testing::ExampleApi { double };

/// What binding the API gave in mod_init (as another module would).
static BOUND: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// An extra process body: panics, to show the panic stays in the module.
fn proc_body(i: u32) {
    panic!("test_faulty process {i} gives up");
}

/// A timer that logs (the e2e test looks for it), then panics on its third
/// run (the timer process must go on).
fn tick() {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    log::warn!("test_faulty timer tick {n}");
    if n == 2 {
        panic!("test_faulty timer panics on tick 2");
    }
}

/// Logs run `n` of a test timer (counted in `runs`) and the process it
/// runs in; asks to run again in 20 ms until it has run `times` times.
fn counted_run(runs: &std::sync::atomic::AtomicU32, what: &str, arg: u64, times: u32) -> u64 {
    let n = runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    log::warn!("test_faulty {what} timer {arg} run {n} in process {}", std::process::id());
    if n < times {
        20
    } else {
        0
    }
}

/// A shm wheel timer: logs where it runs and runs three times (the e2e
/// test arms it from a SIP worker and finds the lines from the timer
/// process).
fn wheel_fired(arg: u64) -> u64 {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    counted_run(&RUNS, "wheel", arg, 3)
}

/// A wheel timer run by an async worker: logs its process, runs twice.
fn worker_fired(arg: u64) -> u64 {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    counted_run(&RUNS, "worker", arg, 2)
}

/// Must never run: its timer is cancelled right after it is armed.
fn wheel_cancelled(arg: u64) -> u64 {
    log::error!("test_faulty cancelled wheel timer {arg} ran");
    0
}

/// `test_arm_timer(ms)`: arms `wheel_fired` after `ms`, and a second timer
/// that it cancels at once; logs the arming process.
fn test_arm_timer(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let ms = p[0].int(ctx).max(1) as u64;
    sipr_sdk::arm_timer(std::time::Duration::from_millis(ms), wheel_fired, ms)?;
    // and one whose runs go to an async worker
    sipr_sdk::arm_timer_in_worker(std::time::Duration::from_millis(ms), worker_fired, ms)?;
    let doomed = sipr_sdk::arm_timer(std::time::Duration::from_millis(ms), wheel_cancelled, ms)?;
    let c = sipr_sdk::cancel_timer(doomed);
    log::warn!("test_faulty armed wheel timer {ms} in process {} (second one cancelled: {c:?})", std::process::id());
    Ok(1)
}

fn mod_init() -> Result<(), String> {
    if std::env::var_os("SIPR_TEST_TIMER").is_some() {
        sipr_sdk::register_timer("test_faulty tick", 100, true, tick)?;
    }
    let mut out = BOUND.lock().map_err(|_| "poisoned")?;
    out.clear();
    match sipr_sdk::bind_api::<sipr_sdk::testing::ExampleApi>("example", 1) {
        Ok(api) => {
            out.push(format!("double(21)={:?}", (api.double)(21)));
            out.push(format!("double(13)={:?}", (api.double)(13)));
        }
        Err(e) => out.push(e),
    }
    for (name, version) in [("example", 2), ("nope", 1)] {
        if let Err(e) = sipr_sdk::bind_api::<sipr_sdk::testing::ExampleApi>(name, version) {
            out.push(e);
        }
    }
    if let Err(e) = sipr_sdk::bind_api::<String>("example", 1) {
        out.push(e);
    }
    Ok(())
}

fn rpc_bound(_: &[sipr_sdk::RpcValue]) -> Result<sipr_sdk::RpcValue, sipr_sdk::RpcError> {
    let out = BOUND.lock().map_err(|_| sipr_sdk::RpcError::new(500, "poisoned"))?;
    Ok(sipr_sdk::RpcValue::Array(out.iter().map(|s| sipr_sdk::RpcValue::Str(s.clone())).collect()))
}

sipr_sdk::module! {
    name: "test_faulty",
    functions: [
        ("panic_now", [], RouteMask::ANY, panic_now),
        ("fail_now", [], RouteMask::ANY, fail_now),
        ("test_arm_timer", [IntOrPv], RouteMask::ANY, test_arm_timer),
    ],
    params: [("boom", Any, set_boom)],
    rpcs: [("test_faulty.bound", "what binding the example API gave", rpc_bound)],
    apis: [("example", 1, EXAMPLE)],
    procs: [("test_faulty worker", 2, proc_body)],
    init: mod_init,
    child_init: child_init,
}
