//! sipr-mem: the shared-memory ("shm") pool.
//!
//! As in SER/Kamailio, everything that several worker processes must see —
//! transactions, registrations, hash tables, dialogs, statistics — lives in
//! one shared mapping created by the main process before it forks.
//! [`ShmPool`] is that mapping plus our own allocator over it:
//!
//! * TLSF (two-level segregated fit): O(1) allocation and free, good fit,
//!   immediate coalescing, 16-byte alignment ([`tlsf`](crate) module docs);
//! * one process-shared lock around it (sipr-locking's spinlock); if a
//!   process dies inside the allocator, the next one to take the lock
//!   verifies the heap and refuses further allocations if it is damaged;
//! * exhaustion is `None`, never a panic or an abort;
//! * statistics as Kamailio's `core.shmmem` ([`ShmStats`]), an
//!   [`ShmPool::integrity_check`] that walks every block, and — with the
//!   `debug` feature — the allocation site of every live block
//!   ([`ShmPool::leak_report`]);
//! * typed handles ([`ShmBox`], [`ShmSlice`], [`ShmStr`], [`ShmPtr`]) that
//!   only accept [`ShmSafe`] data, so process-heap pointers cannot end up
//!   in shm by accident;
//! * [`ShmHashTable`]: a fixed-bucket hash table in shm with per-bucket
//!   locks from a lock set (the shape of htable / usrloc / tm tables).

mod boxed;
mod cells;
mod error;
mod kv;
mod pool;
mod site;
mod table;
mod tlsf;
mod wheel;
mod words;

pub use boxed::{assert_shm_safe, RawShmSlice, ShmBox, ShmPtr, ShmSafe, ShmSlice, ShmStr};
pub use cells::{CellGuard, CellRef, ShmCellTable};
pub use error::MemError;
pub use kv::{KvValue, ShmKvTable};
pub use pool::{LiveBlock, ShmPool, ShmStats, SiteUsage, DEFAULT_POOL_MB, MAX_POOL_BYTES, MIN_POOL_BYTES};
pub use site::AllocSite;
pub use table::{ShmHashTable, StableHasher, TableFull};
pub use tlsf::{CheckSummary, Corruption};
pub use wheel::{Cancelled, DueRun, NoRoom as TimerNoRoom, ShmTimerWheel, TimerHandler, TimerId};
pub use words::ShmWords;

/// Alignment of every block handed out.
pub const ALIGN: usize = tlsf::UNIT;

/// The cargo features this crate was built with, as bits (1: `debug`, the
/// leak finder, which adds a record to every block). Two builds sharing
/// one pool must agree: the module loader compares them.
pub const FEATURES: u32 = if cfg!(feature = "debug") { 1 } else { 0 };
