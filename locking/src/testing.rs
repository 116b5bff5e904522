//! A test runner for tests that fork: they run one after another on the
//! process's only thread (libtest always runs a test on a thread of its
//! own beside the main one, so a fork there happens in a multi-threaded
//! process, which the fork contract forbids). A test target using it sets
//! `harness = false` and ends with `sipr_locking::single_threaded_tests!(a,
//! b, ...)`. Output and exit code are libtest's.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// How many threads this process has (`/proc/self/task`).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

/// Runs `tests` (name, body) in order on this thread; a word on the
/// command line keeps the tests whose name contains it (as libtest's
/// filter; options are ignored). Exits 0 when every test passed.
pub fn run_single_threaded(tests: &[(&str, fn())]) -> ! {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let chosen: Vec<&(&str, fn())> =
        tests.iter().filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str()))).collect();
    println!("\nrunning {} tests (one thread, forks allowed)", chosen.len());
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, body) in &chosen {
        // the promise the tests' SAFETY comments rely on
        let n = threads();
        if n != 1 {
            println!("test {name} ... FAILED ({n} threads before the test: forking is not safe)");
            failed.push(*name);
            continue;
        }
        match catch_unwind(AssertUnwindSafe(body)) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    let filtered = tests.len() - chosen.len();
    if failed.is_empty() {
        println!("\ntest result: ok. {passed} passed; 0 failed; 0 ignored; 0 measured; {filtered} filtered out\n");
        std::process::exit(0);
    }
    println!("\nfailures:\n    {}", failed.join("\n    "));
    println!(
        "\ntest result: FAILED. {passed} passed; {} failed; 0 ignored; 0 measured; {filtered} filtered out\n",
        failed.len()
    );
    std::process::exit(101);
}

/// `fn main` for a `harness = false` test target: runs the named test
/// functions with [`run_single_threaded`].
#[macro_export]
macro_rules! single_threaded_tests {
    ($($t:ident),* $(,)?) => {
        fn main() {
            $crate::testing::run_single_threaded(&[$((stringify!($t), $t as fn())),*])
        }
    };
}
