//! The server's shared-memory pool, as the rest of the core and the
//! modules reach it: created once by the main process before modules are
//! initialised and before the fork, then never freed.

use std::sync::OnceLock;

use sipr_mem::ShmPool;

static POOL: OnceLock<&'static ShmPool> = OnceLock::new();

/// Makes `pool` the server's pool (it lives as long as the process).
/// Only the first call installs; later ones return the pool already there.
pub fn install(pool: ShmPool) -> &'static ShmPool {
    POOL.get_or_init(|| Box::leak(Box::new(pool)))
}

/// The server's pool, once installed.
pub fn pool() -> Option<&'static ShmPool> {
    POOL.get().copied()
}
