//! Computes the build id that modules must carry to be loaded: a hash of
//! everything compiled into both sides of the module boundary — the
//! sources and manifests of sipr-core, sipr-mem, sipr-locking and the
//! module SDK (each module links its own copy of them, and they run on one
//! shm heap and pass repr(Rust) types across), Cargo.lock (the versions of
//! every dependency), the compiler (`rustc -vV`), the target and the
//! profile. Cargo features of the shared crates are compared separately
//! at load time (`abi::FEATURES`), since a build script sees only its own
//! crate's. A module built from the same tree with the same compiler gets
//! the same id; anything else is refused at `loadmodule` with both ids.
//! `cargo test` and `cargo build` share the "debug" profile, so the tests
//! load the modules the build made.

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

/// The crates whose code ends up on both sides (relative to the
/// workspace root), and the workspace files that decide how they build.
const SHARED_DIRS: &[&str] = &["core/src", "mem/src", "locking/src", "modules/sdk/src"];
const SHARED_FILES: &[&str] =
    &["Cargo.toml", "Cargo.lock", "core/Cargo.toml", "mem/Cargo.toml", "locking/Cargo.toml", "modules/sdk/Cargo.toml"];

/// The process's allocator for everything outside shm (pkg memory, in
/// Kamailio's words): Debian's libmimalloc when it is installed, linked
/// dynamically into the sipr binary ahead of libc, so that its malloc
/// serves the binary and every module alike (one heap per process: a
/// module may free what the core allocated). Per proxied call this is
/// about 8,000 fewer instructions than glibc's malloc (callgrind,
/// docs/benchmarks.md). Without the library, glibc's malloc, with a
/// warning; `SIPR_SYSTEM_MALLOC=1` asks for glibc's.
fn link_allocator() {
    println!("cargo:rustc-check-cfg=cfg(sipr_mimalloc)");
    println!("cargo:rerun-if-env-changed=SIPR_SYSTEM_MALLOC");
    if std::env::var_os("SIPR_SYSTEM_MALLOC").is_some_and(|v| v == "1") {
        return;
    }
    let dirs = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"];
    let Some(dir) = dirs.iter().find(|d| Path::new(d).join("libmimalloc.so").exists()) else {
        println!("cargo:warning=libmimalloc-dev is not installed: sipr uses glibc's malloc (make deps installs it)");
        return;
    };
    println!("cargo:rerun-if-changed={dir}/libmimalloc.so");
    // named before libc (as every crate's libraries are), it is the one
    // that binds malloc/free, in the binary, the modules and the tests
    println!("cargo:rustc-link-lib=dylib=mimalloc");
    println!("cargo:rustc-cfg=sipr_mimalloc");
}

fn main() {
    link_allocator();
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    for var in ["CARGO_PKG_VERSION", "TARGET", "PROFILE"] {
        h.write(var.as_bytes());
        h.write(std::env::var(var).unwrap_or_default().as_bytes());
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Ok(out) = std::process::Command::new(rustc).arg("-vV").output() {
        h.write(&out.stdout);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for d in SHARED_DIRS {
        h.write(d.as_bytes());
        hash_dir(&mut h, &root.join(d));
        println!("cargo:rerun-if-changed=../{d}");
    }
    for f in SHARED_FILES {
        h.write(f.as_bytes());
        h.write(&std::fs::read(root.join(f)).unwrap_or_default());
        println!("cargo:rerun-if-changed=../{f}");
    }
    println!("cargo:rustc-env=SIPR_BUILD_ID={:016x}", h.finish());
    println!("cargo:rerun-if-changed=build.rs");
}
