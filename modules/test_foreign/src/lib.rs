//! A module claiming to come from another build of sipr: the loader must
//! refuse it with both build ids.

use sipr_sdk::prelude::*;

fn nothing(_: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    Ok(1)
}

sipr_sdk::module! {
    name: "test_foreign",
    functions: [("foreign_nothing", [], RouteMask::ANY, nothing)],
    params: [],
    build_id: "0123456789abcdef",
}
