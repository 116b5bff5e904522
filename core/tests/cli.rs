//! The `sipr` binary's command line, run as a real process.

use std::process::Command;

fn sipr(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sipr")).args(args).output().expect("run sipr")
}

#[test]
fn version_is_kamailio_shaped() {
    for flag in ["-V", "--version"] {
        let out = sipr(&[flag]);
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with(&format!("version: sipr {} (", env!("CARGO_PKG_VERSION"))), "{text}");
    }
}

#[test]
fn help_lists_options() {
    let out = sipr(&["-h"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("-m MB"));
}

#[test]
fn bad_arguments_fail_clearly() {
    let out = sipr(&["--frobnicate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown option '--frobnicate'"));

    let out = sipr(&["-m", "lots", "-c"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad shared memory size"));

    let out = sipr(&["-m"]);
    assert!(!out.status.success());
}

#[test]
fn shm_pool_size_is_checked() {
    let out = sipr(&["-m", "0", "-c"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("shared memory size is 0"));

    let out = sipr(&["-m", "100000000", "-c"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exceeds the maximum"));

    let out = sipr(&["-m", "8", "-c"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("total=8388608"), "{text}");
}
