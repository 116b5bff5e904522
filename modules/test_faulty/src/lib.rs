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

sipr_sdk::module! {
    name: "test_faulty",
    functions: [
        ("panic_now", [], RouteMask::ANY, panic_now),
        ("fail_now", [], RouteMask::ANY, fail_now),
    ],
    params: [("boom", Any, set_boom)],
    child_init: child_init,
}
