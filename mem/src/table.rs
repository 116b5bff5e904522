//! A fixed-capacity hash table in shm, locked per bucket group: the shape
//! of Kamailio's htable / usrloc / tm tables (a bucket array, chains of
//! shm-allocated entries, a lock set indexed by bucket).
//!
//! The bucket count is fixed at creation (a power of two); entries are
//! allocated from the pool, so the table holds as many as the pool has
//! room for, and a full pool makes `insert` return [`TableFull`] (the
//! caller answers 500 and logs), never a panic.
//!
//! Crash consistency: an entry is fully written before the single store
//! that links it into its chain, and unlinked by a single store before it
//! is freed. A process that dies holding a bucket lock therefore leaves
//! the chain intact (at worst one entry leaked): the next locker recovers
//! the lock and carries on, with a log line.

use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use sipr_locking::{LockSet, RawMutexGuard};

use crate::boxed::{ShmPtr, ShmSafe};
use crate::pool::ShmPool;

/// FNV-1a as a `Hasher`: the same key hashes the same in every process
/// (and in every module's copy of this crate), which `RandomState` would not.
#[derive(Debug, Clone, Copy)]
pub struct StableHasher(u64);

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// `insert` found no room in the pool for a new entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

impl std::fmt::Display for TableFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("shared memory pool full: no room for a new table entry")
    }
}

impl std::error::Error for TableFull {}

#[repr(C)]
struct Node<K, V> {
    next: ShmPtr<Node<K, V>>,
    hash: u64,
    key: K,
    value: V,
}

/// Handle to a table in shm. Create it before forking; the copies the
/// children inherit address the same table. Tables live as long as the
/// server: the bucket array is never freed.
pub struct ShmHashTable<'p, K, V> {
    pool: &'p ShmPool,
    locks: LockSet,
    /// `mask + 1` chain heads, in shm.
    heads: NonNull<ShmPtr<Node<K, V>>>,
    mask: usize,
    count: NonNull<AtomicUsize>,
    _marker: PhantomData<(K, V)>,
}

// SAFETY: every access to the chains goes through the bucket's
// process-shared lock; the count is atomic; K and V are ShmSafe data.
unsafe impl<K: ShmSafe + Send, V: ShmSafe + Send> Send for ShmHashTable<'_, K, V> {}
// SAFETY: as for Send.
unsafe impl<K: ShmSafe + Send, V: ShmSafe + Send> Sync for ShmHashTable<'_, K, V> {}

impl<K, V> std::fmt::Debug for ShmHashTable<'_, K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmHashTable").field("buckets", &(self.mask + 1)).field("locks", &self.locks).finish()
    }
}

impl<'p, K: ShmSafe + Hash + Eq, V: ShmSafe> ShmHashTable<'p, K, V> {
    /// A table of `buckets` chains (rounded up to a power of two) guarded
    /// by `locks` locks (as Kamailio's htable `size` and lock set). `None`
    /// when the pool cannot hold the bucket array.
    #[track_caller]
    pub fn new_in(pool: &'p ShmPool, buckets: usize, locks: usize, name: &str) -> Option<Self> {
        let n = buckets.max(1).checked_next_power_of_two()?;
        let heads = pool.alloc_zeroed(n.checked_mul(std::mem::size_of::<ShmPtr<Node<K, V>>>())?)?;
        let count = pool.alloc_zeroed(std::mem::size_of::<AtomicUsize>())?;
        let locks = pool.alloc_lock_set(locks.clamp(1, n), name)?;
        // Zeroed bytes are null ShmPtrs and a zero counter.
        Some(ShmHashTable { pool, locks, heads: heads.cast(), mask: n - 1, count: count.cast(), _marker: PhantomData })
    }

    fn hash(key: &K) -> u64 {
        let mut h = StableHasher::default();
        key.hash(&mut h);
        h.finish()
    }

    fn bucket(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    fn lock(&self, bucket: usize) -> RawMutexGuard<'_> {
        // A dead holder cannot have broken a chain (module docs): recover.
        self.locks.lock_index(bucket).unwrap_or_else(|died| died.into_guard())
    }

    fn head(&self, bucket: usize) -> *mut ShmPtr<Node<K, V>> {
        // SAFETY: bucket ≤ mask, inside the heads array allocated in new_in.
        unsafe { self.heads.as_ptr().add(bucket) }
    }

    /// Finds `key` in `bucket` (lock held): the link that points at it.
    fn find_link(&self, bucket: usize, hash: u64, key: &K) -> Option<*mut ShmPtr<Node<K, V>>> {
        let mut link = self.head(bucket);
        loop {
            // SAFETY: the bucket lock is held; links are null or point at
            // live nodes of this table (only linked when fully written).
            let node = unsafe { (*link).as_ptr() };
            if node.is_null() {
                return None;
            }
            // SAFETY: as above; `node` is a live node.
            unsafe {
                if (*node).hash == hash && (*node).key == *key {
                    return Some(link);
                }
                link = std::ptr::addr_of_mut!((*node).next);
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        // SAFETY: the counter lives in the pool for the table's life.
        unsafe { self.count.as_ref() }.load(Ordering::Relaxed)
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Inserts or replaces; returns the previous value.
    #[track_caller]
    pub fn insert(&self, key: K, value: V) -> Result<Option<V>, TableFull> {
        let hash = Self::hash(&key);
        let b = self.bucket(hash);
        let _g = self.lock(b);
        if let Some(link) = self.find_link(b, hash, &key) {
            // SAFETY: lock held; the link points at a live node.
            let node = unsafe { (*link).as_ptr() };
            // SAFETY: as above; we hold the only access to the node.
            return Ok(Some(unsafe { std::mem::replace(&mut (*node).value, value) }));
        }
        let mem = self.pool.alloc(std::mem::size_of::<Node<K, V>>()).ok_or(TableFull)?;
        let node = mem.cast::<Node<K, V>>().as_ptr();
        // SAFETY: fresh block sized for a node; fully written before the
        // single store that links it (crash consistency, module docs).
        unsafe {
            node.write(Node { next: *self.head(b), hash, key, value });
            *self.head(b) = ShmPtr::from_raw(node);
        }
        // SAFETY: the counter lives in the pool for the table's life.
        unsafe { self.count.as_ref() }.fetch_add(1, Ordering::Relaxed);
        Ok(None)
    }

    /// Runs `f` on the value of `key` with its bucket locked.
    pub fn with<R>(&self, key: &K, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let hash = Self::hash(key);
        let b = self.bucket(hash);
        let _g = self.lock(b);
        let link = self.find_link(b, hash, key)?;
        // SAFETY: lock held; live node; `f` gets the only access.
        Some(f(unsafe { &mut (*(*link).as_ptr()).value }))
    }

    /// Removes `key`; returns its value.
    pub fn remove(&self, key: &K) -> Option<V> {
        let hash = Self::hash(key);
        let b = self.bucket(hash);
        let _g = self.lock(b);
        let link = self.find_link(b, hash, key)?;
        // SAFETY: lock held; unlink with one store, then read the value
        // out and free the node, which nobody can reach any more.
        let value = unsafe {
            let node = (*link).as_ptr();
            *link = (*node).next;
            let Node { key, value, .. } = node.read();
            drop(key);
            self.pool.free(NonNull::new_unchecked(node.cast()));
            value
        };
        // SAFETY: the counter lives in the pool for the table's life.
        unsafe { self.count.as_ref() }.fetch_sub(1, Ordering::Relaxed);
        Some(value)
    }

    /// Visits every entry, one bucket (lock) at a time.
    pub fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        for b in 0..=self.mask {
            let _g = self.lock(b);
            // SAFETY: lock held; chain of live nodes.
            let mut node = unsafe { (*self.head(b)).as_ptr() };
            while !node.is_null() {
                // SAFETY: as above.
                unsafe {
                    f(&(*node).key, &(*node).value);
                    node = (*node).next.as_ptr();
                }
            }
        }
    }
}
