//! Computes the build id that modules must carry to be loaded: a hash of
//! what decides the layout of the types crossing the module boundary —
//! the core's sources, the compiler and the target. A module built from
//! the same sources with the same compiler gets the same id; anything
//! else is refused at `loadmodule` with both ids in the error. The
//! profile is left out on purpose: optimisation does not change type
//! layout, and `cargo test` (opt-level 2 here) must load the modules
//! `cargo build` made.

use std::hash::Hasher;
use std::path::Path;

/// FNV-1a (build scripts take no dependencies).
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

fn hash_dir(h: &mut Fnv, dir: &Path) {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            hash_dir(h, &p);
        } else if p.extension().is_some_and(|e| e == "rs") {
            h.write(p.to_string_lossy().rsplit("/src/").next().unwrap_or("").as_bytes());
            h.write(&std::fs::read(&p).unwrap_or_default());
        }
    }
}

fn main() {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    for var in ["CARGO_PKG_VERSION", "TARGET"] {
        h.write(std::env::var(var).unwrap_or_default().as_bytes());
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Ok(out) = std::process::Command::new(rustc).arg("-vV").output() {
        h.write(&out.stdout);
    }
    hash_dir(&mut h, Path::new("src"));
    println!("cargo:rustc-env=SIPR_BUILD_ID={:016x}", h.finish());
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");
}
