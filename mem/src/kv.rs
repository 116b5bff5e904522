//! A byte-keyed table in shm with int or string values and expiry: the
//! storage of Kamailio's htable module (`$sht(name=>key)`), safe to use
//! from module code.
//!
//! Each entry is one pool block: a fixed header, the key bytes, the value
//! bytes. Buckets are guarded by a lock set; a process may *hold* a
//! bucket's lock across calls (`sht_lock`), and while it does its own
//! accesses to that bucket do not lock again (Kamailio's recursive slot
//! locks). Crash consistency is [`crate::ShmHashTable`]'s: entries are
//! written before the one store that links them and unlinked by one store
//! before they are freed.

use std::hash::Hasher;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use sipr_locking::{LockSet, RawMutexGuard};

use crate::boxed::ShmPtr;
use crate::pool::ShmPool;
use crate::table::{StableHasher, TableFull};

/// A value in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvValue<'a> {
    /// An integer.
    Int(i64),
    /// Bytes.
    Str(&'a [u8]),
}

#[repr(C)]
struct Entry {
    next: ShmPtr<Entry>,
    hash: u64,
    /// Unix seconds after which the entry is gone; 0 = never.
    expires: u64,
    int: i64,
    key_len: u32,
    val_len: u32,
    is_str: u32,
    _pad: u32,
}

const HEADER: usize = std::mem::size_of::<Entry>();

/// Handle to a table in shm (create before forking; children inherit it).
pub struct ShmKvTable<'p> {
    pool: &'p ShmPool,
    locks: LockSet,
    heads: NonNull<ShmPtr<Entry>>,
    mask: usize,
    count: NonNull<AtomicUsize>,
}

// SAFETY: chains are only touched under their bucket's process-shared
// lock; the count is atomic; entries are plain bytes.
unsafe impl Send for ShmKvTable<'_> {}
// SAFETY: as for Send.
unsafe impl Sync for ShmKvTable<'_> {}

impl std::fmt::Debug for ShmKvTable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmKvTable").field("buckets", &(self.mask + 1)).field("len", &self.len()).finish()
    }
}

/// A bucket lock taken for one operation (released on drop), or nothing
/// when this process already holds it (sht_lock).
struct BucketGuard<'a> {
    _held: Option<RawMutexGuard<'a>>,
}

impl<'p> ShmKvTable<'p> {
    /// A table of `buckets` chains (rounded up to a power of two) and
    /// `locks` locks. `None` when the pool has no room.
    #[track_caller]
    pub fn new_in(pool: &'p ShmPool, buckets: usize, locks: usize, name: &str) -> Option<Self> {
        let n = buckets.max(1).checked_next_power_of_two()?;
        let heads = pool.alloc_zeroed(n.checked_mul(std::mem::size_of::<ShmPtr<Entry>>())?)?;
        let count = pool.alloc_zeroed(std::mem::size_of::<AtomicUsize>())?;
        let locks = pool.alloc_lock_set(locks.clamp(1, n), name)?;
        // Zeroed bytes are null chain heads and a zero count.
        Some(ShmKvTable { pool, locks, heads: heads.cast(), mask: n - 1, count: count.cast() })
    }

    fn hash(key: &[u8]) -> u64 {
        let mut h = StableHasher::default();
        h.write(key);
        h.finish()
    }

    /// The hash that places `key` (the same in every process and every
    /// start): what [`ShmKvTable::for_each_with_hash`] takes to visit
    /// only the bucket a key would be in.
    pub fn key_hash(key: &[u8]) -> u64 {
        Self::hash(key)
    }

    /// Visits the live entries of the one bucket that keys of `hash`
    /// land in (key, value, expires): a lookup by something stored in
    /// the value when the key is not known, only its hash.
    pub fn for_each_with_hash(&self, hash: u64, now: u64, mut f: impl FnMut(&[u8], KvValue<'_>, u64)) {
        let b = self.bucket(hash);
        let _g = self.lock(b);
        // SAFETY: lock held; chain of live entries.
        let mut e = unsafe { (*self.head(b)).as_ptr() };
        while !e.is_null() {
            // SAFETY: as above.
            unsafe {
                if !Self::expired(e, now) {
                    f(Self::key_of(e), Self::value_of(e), (*e).expires);
                }
                e = (*e).next.as_ptr();
            }
        }
    }

    fn bucket(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    fn lock_index(&self, bucket: usize) -> usize {
        bucket % self.locks.len()
    }

    fn lock(&self, bucket: usize) -> BucketGuard<'_> {
        let i = self.lock_index(bucket);
        if self.locks.get(i).held_by(sipr_locking::process::current_pid()) {
            return BucketGuard { _held: None };
        }
        // a dead holder cannot have broken a chain (module docs): recover
        BucketGuard { _held: Some(self.locks.lock_index(i).unwrap_or_else(|died| died.into_guard())) }
    }

    fn head(&self, bucket: usize) -> *mut ShmPtr<Entry> {
        // SAFETY: bucket ≤ mask: inside the heads array from new_in.
        unsafe { self.heads.as_ptr().add(bucket) }
    }

    fn counter(&self) -> &AtomicUsize {
        // SAFETY: the counter lives in the pool for the table's life.
        unsafe { self.count.as_ref() }
    }

    /// The key bytes of a live entry.
    ///
    /// # Safety
    /// `e` is a live entry of this table, its bucket lock held.
    unsafe fn key_of<'e>(e: *const Entry) -> &'e [u8] {
        // SAFETY: the caller's contract; the key follows the header.
        unsafe { std::slice::from_raw_parts(e.cast::<u8>().add(HEADER), (*e).key_len as usize) }
    }

    /// The value of a live entry.
    ///
    /// # Safety
    /// As [`Self::key_of`].
    unsafe fn value_of<'e>(e: *const Entry) -> KvValue<'e> {
        // SAFETY: the caller's contract; the value follows the key.
        unsafe {
            if (*e).is_str != 0 {
                let p = e.cast::<u8>().add(HEADER + (*e).key_len as usize);
                KvValue::Str(std::slice::from_raw_parts(p, (*e).val_len as usize))
            } else {
                KvValue::Int((*e).int)
            }
        }
    }

    /// The link pointing at `key` in its bucket (lock held).
    fn find_link(&self, bucket: usize, hash: u64, key: &[u8]) -> Option<*mut ShmPtr<Entry>> {
        let mut link = self.head(bucket);
        loop {
            // SAFETY: the bucket lock is held; links are null or point at
            // live entries (linked only when fully written).
            let e = unsafe { (*link).as_ptr() };
            if e.is_null() {
                return None;
            }
            // SAFETY: as above; `e` is live.
            unsafe {
                if (*e).hash == hash && Self::key_of(e) == key {
                    return Some(link);
                }
                link = std::ptr::addr_of_mut!((*e).next);
            }
        }
    }

    /// Unlinks and frees the entry `link` points at (lock held).
    fn unlink(&self, link: *mut ShmPtr<Entry>) {
        // SAFETY: lock held; `link` points at a live entry: one store
        // unlinks it, then nobody can reach it and it is freed.
        unsafe {
            let e = (*link).as_ptr();
            *link = (*e).next;
            self.pool.free(NonNull::new_unchecked(e.cast()));
        }
        self.counter().fetch_sub(1, Ordering::Relaxed);
    }

    /// An entry is gone once its expiry time has passed: one that
    /// expires at `t` is still there at `t` (Kamailio's htable: set at
    /// 10.999 s with autoexpire=1, it is read at 11.001 s).
    fn expired(e: *const Entry, now: u64) -> bool {
        // SAFETY: callers pass live entries with the lock held.
        let exp = unsafe { (*e).expires };
        exp != 0 && exp < now
    }

    /// Number of entries (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.counter().load(Ordering::Relaxed)
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets `key` (replacing any value); `expires` in Unix seconds, 0 =
    /// never.
    #[track_caller]
    pub fn set(&self, key: &[u8], value: KvValue<'_>, expires: u64) -> Result<(), TableFull> {
        let hash = Self::hash(key);
        let b = self.bucket(hash);
        // allocated and written before the bucket lock is taken: the lock
        // is held for the link only
        let e = self.new_entry(hash, key, value, expires)?;
        let _g = self.lock(b);
        self.link_new(b, hash, key, e);
        Ok(())
    }

    /// A new, unlinked entry for `key` = `value`.
    fn new_entry(&self, hash: u64, key: &[u8], value: KvValue<'_>, expires: u64) -> Result<*mut Entry, TableFull> {
        let (is_str, int, bytes): (u32, i64, &[u8]) = match value {
            KvValue::Int(i) => (0, i, b""),
            KvValue::Str(s) => (1, 0, s),
        };
        let key_len = u32::try_from(key.len()).map_err(|_| TableFull)?;
        let val_len = u32::try_from(bytes.len()).map_err(|_| TableFull)?;
        let mem = self.pool.alloc(HEADER + key.len() + bytes.len()).ok_or(TableFull)?;
        let e = mem.cast::<Entry>().as_ptr();
        // SAFETY: a fresh block sized for header, key and value, written in
        // full here; nobody else can reach it until it is linked.
        unsafe {
            let data = mem.as_ptr().add(HEADER);
            std::ptr::copy_nonoverlapping(key.as_ptr(), data, key.len());
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), data.add(key.len()), bytes.len());
            e.write(Entry { next: ShmPtr::null(), hash, expires, int, key_len, val_len, is_str, _pad: 0 });
        }
        Ok(e)
    }

    /// Links the new entry `e` for `key` into bucket `b` (whose lock the
    /// caller holds), replacing the key's old entry if any.
    fn link_new(&self, b: usize, hash: u64, key: &[u8], e: *mut Entry) {
        if let Some(link) = self.find_link(b, hash, key) {
            self.unlink(link);
        }
        // SAFETY: lock held; `e` is fully written; one store links it.
        unsafe {
            (*e).next = *self.head(b);
            *self.head(b) = ShmPtr::from_raw(e);
        }
        self.counter().fetch_add(1, Ordering::Relaxed);
    }

    /// Runs `f` on the value of `key` (bucket locked): `None` when absent
    /// or expired at `now` (an expired entry is removed).
    pub fn get<R>(&self, key: &[u8], now: u64, f: impl FnOnce(KvValue<'_>, u64) -> R) -> Option<R> {
        let hash = Self::hash(key);
        let b = self.bucket(hash);
        let _g = self.lock(b);
        let link = self.find_link(b, hash, key)?;
        // SAFETY: lock held; live entry.
        let e = unsafe { (*link).as_ptr() };
        if Self::expired(e, now) {
            self.unlink(link);
            return None;
        }
        // SAFETY: lock held while `f` looks at the entry.
        unsafe { Some(f(Self::value_of(e), (*e).expires)) }
    }

    /// Adds `delta` to the int at `key` (absent: starts from `init`);
    /// returns the new value, or `None` when the value is a string.
    /// The whole read-modify-write holds the bucket lock, the first add of
    /// a key included: two processes adding to an absent key both count.
    #[track_caller]
    pub fn add(&self, key: &[u8], delta: i64, init: i64, expires: u64, now: u64) -> Result<Option<i64>, TableFull> {
        let hash = Self::hash(key);
        let b = self.bucket(hash);
        let _g = self.lock(b);
        if let Some(link) = self.find_link(b, hash, key) {
            // SAFETY: lock held; live entry, changed in place.
            let e = unsafe { (*link).as_ptr() };
            if !Self::expired(e, now) {
                // SAFETY: as above.
                unsafe {
                    if (*e).is_str != 0 {
                        return Ok(None);
                    }
                    (*e).int = (*e).int.wrapping_add(delta);
                    return Ok(Some((*e).int));
                }
            }
        }
        // absent (or expired): the new entry is linked before the lock
        // goes (allocating under a bucket lock, as `unlink` frees under one)
        let v = init.wrapping_add(delta);
        let e = self.new_entry(hash, key, KvValue::Int(v), expires)?;
        self.link_new(b, hash, key, e);
        Ok(Some(v))
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&self, key: &[u8]) -> bool {
        let hash = Self::hash(key);
        let b = self.bucket(hash);
        let _g = self.lock(b);
        match self.find_link(b, hash, key) {
            Some(link) => {
                self.unlink(link);
                true
            }
            None => false,
        }
    }

    /// Keeps the entries for which `keep(key, value)` is true (expired ones
    /// at `now` go too); returns how many were removed.
    pub fn retain(&self, now: u64, mut keep: impl FnMut(&[u8], KvValue<'_>) -> bool) -> usize {
        let mut removed = 0;
        for b in 0..=self.mask {
            let _g = self.lock(b);
            let mut link = self.head(b);
            loop {
                // SAFETY: lock held; chain of live entries.
                let e = unsafe { (*link).as_ptr() };
                if e.is_null() {
                    break;
                }
                // SAFETY: as above.
                let stay = !Self::expired(e, now) && unsafe { keep(Self::key_of(e), Self::value_of(e)) };
                if stay {
                    // SAFETY: as above.
                    link = unsafe { std::ptr::addr_of_mut!((*e).next) };
                } else {
                    self.unlink(link);
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Visits every live entry (key, value, expires), a bucket at a time.
    pub fn for_each(&self, now: u64, mut f: impl FnMut(&[u8], KvValue<'_>, u64)) {
        self.for_each_in_buckets(now, |_, k, v, e| f(k, v, e));
    }

    /// The number of buckets (a power of two).
    pub fn buckets(&self) -> usize {
        self.mask + 1
    }

    /// Visits every live entry with its bucket's number (bucket, key,
    /// value, expires), a bucket at a time and in bucket order: for
    /// listings that show the table's layout (htable.dump, htable.stats).
    pub fn for_each_in_buckets(&self, now: u64, mut f: impl FnMut(usize, &[u8], KvValue<'_>, u64)) {
        for b in 0..=self.mask {
            let _g = self.lock(b);
            // SAFETY: lock held; chain of live entries.
            let mut e = unsafe { (*self.head(b)).as_ptr() };
            while !e.is_null() {
                // SAFETY: as above.
                unsafe {
                    if !Self::expired(e, now) {
                        f(b, Self::key_of(e), Self::value_of(e), (*e).expires);
                    }
                    e = (*e).next.as_ptr();
                }
            }
        }
    }

    /// Takes the lock of `key`'s bucket and keeps it after returning
    /// (`sht_lock`); this process's own accesses to the bucket go on.
    pub fn hold(&self, key: &[u8]) {
        let b = self.bucket(Self::hash(key));
        let g = self.lock(b);
        // the lock stays taken until `release`
        std::mem::forget(g);
    }

    /// Releases a lock taken by [`Self::hold`]; false when this process
    /// did not hold it.
    pub fn release(&self, key: &[u8]) -> bool {
        let i = self.lock_index(self.bucket(Self::hash(key)));
        self.locks.get(i).force_release_if_held_by(sipr_locking::process::current_pid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_expire_remove() {
        let pool = ShmPool::create_mb(4).unwrap();
        let t = ShmKvTable::new_in(&pool, 8, 4, "kv").unwrap();
        t.set(b"a", KvValue::Int(5), 0).unwrap();
        t.set(b"b", KvValue::Str(b"hello"), 100).unwrap();
        assert_eq!(t.get(b"a", 50, |v, _| v == KvValue::Int(5)), Some(true));
        assert_eq!(t.get(b"b", 50, |v, e| (v == KvValue::Str(b"hello"), e)), Some((true, 100)));
        assert_eq!(t.get(b"b", 100, |_, _| ()), Some(()), "still there at 100");
        assert_eq!(t.get(b"b", 101, |_, _| ()), None, "gone after 100");
        assert_eq!(t.len(), 1);
        t.set(b"a", KvValue::Str(b"x"), 0).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t.add(b"n", 2, 10, 0, 0), Ok(Some(12)));
        assert_eq!(t.add(b"n", 2, 10, 0, 0), Ok(Some(14)));
        assert_eq!(t.add(b"a", 1, 0, 0, 0), Ok(None));
        assert!(t.remove(b"a"));
        assert!(!t.remove(b"a"));
        for i in 0..100u32 {
            t.set(format!("k{i}").as_bytes(), KvValue::Int(i as i64), 0).unwrap();
        }
        assert_eq!(t.retain(0, |k, _| !k.starts_with(b"k1")), 11);
        let mut n = 0;
        t.for_each(0, |_, _, _| n += 1);
        assert_eq!(n, t.len());
        // holding a bucket lock does not block this process
        t.hold(b"k2");
        assert_eq!(t.get(b"k2", 0, |v, _| v == KvValue::Int(2)), Some(true));
        assert!(t.release(b"k2"));
        assert!(!t.release(b"k2"));
        let used_before = pool.stats().used;
        t.retain(0, |_, _| false);
        assert!(pool.stats().used < used_before);
        assert!(pool.integrity_check().is_ok());
    }

    #[test]
    fn a_full_pool_is_an_error_not_a_panic() {
        let pool = ShmPool::create(256 * 1024).unwrap();
        let t = ShmKvTable::new_in(&pool, 16, 4, "kv").unwrap();
        let big = vec![b'x'; 4096];
        let mut failed = false;
        for i in 0..1000u32 {
            if t.set(format!("{i}").as_bytes(), KvValue::Str(&big), 0).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
        assert!(pool.integrity_check().is_ok());
    }
}
