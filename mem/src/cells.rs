//! A table of reference-counted cells in shm: the shape of Kamailio tm's
//! transaction table. Each cell has
//!
//! - a bucket (chosen by the caller: tm hashes Call-ID and CSeq so that a
//!   retransmission, its ACK and its CANCEL land in the same bucket) and a
//!   label unique in the table, which together name it in a Via branch;
//! - a key `K`, fixed at creation and readable without a lock (what
//!   matching compares);
//! - its first bytes (the request as received), fixed at creation;
//! - a state `S` and `N` byte slots (replies, the requests of branches),
//!   read and written only under the cell's own lock.
//!
//! Locks: one lock per bucket (from a lock set) guards the chains; a cell
//! has its own lock for its state (Kamailio's reply lock). A process may
//! take a bucket lock while holding a cell lock ([`CellRef::unlink`] does)
//! but never the reverse: lookups hand back a counted reference with the
//! bucket released, so the two orders never meet.
//!
//! Lifetime: the chain holds one reference while the cell is linked, each
//! [`CellRef`] one more; the cell and its bytes are freed when the count
//! reaches zero, so a timer or a process still holding a cell never sees
//! it freed. Timers keep (bucket, label) rather than a reference, and look
//! the cell up again when they fire ([`ShmCellTable::get`]).

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use sipr_locking::{LockSet, RawMutex, RawMutexGuard};

use crate::boxed::{RawShmSlice, ShmPtr, ShmSafe, ShmSlice};
use crate::pool::ShmPool;
use crate::table::TableFull;

#[repr(C)]
struct Node<K, S, const N: usize> {
    next: ShmPtr<Node<K, S, N>>,
    /// References: one for the chain while linked, one per `CellRef`.
    refs: AtomicU32,
    linked: AtomicBool,
    bucket: u32,
    label: u32,
    lock: RawMutex,
    key: K,
    first: RawShmSlice<u8>,
    state: UnsafeCell<S>,
    slots: UnsafeCell<[RawShmSlice<u8>; N]>,
}

/// The table's counters, in shm.
#[repr(C)]
struct Shared {
    count: AtomicUsize,
    next_label: AtomicU32,
}

/// Handle to a cell table in shm (create before forking; the children's
/// copies address the same table). Lives as long as the server.
pub struct ShmCellTable<'p, K, S, const N: usize> {
    pool: &'p ShmPool,
    locks: LockSet,
    heads: NonNull<ShmPtr<Node<K, S, N>>>,
    mask: usize,
    shared: NonNull<Shared>,
    _marker: PhantomData<(K, S)>,
}

// SAFETY: chains are only touched under their bucket's process-shared
// lock, a cell's state and slots only under its own lock, counters are
// atomic; K and S are ShmSafe data.
unsafe impl<K: ShmSafe + Sync, S: ShmSafe + Send, const N: usize> Send for ShmCellTable<'_, K, S, N> {}
// SAFETY: as for Send.
unsafe impl<K: ShmSafe + Sync, S: ShmSafe + Send, const N: usize> Sync for ShmCellTable<'_, K, S, N> {}

impl<K: ShmSafe, S: ShmSafe, const N: usize> std::fmt::Debug for ShmCellTable<'_, K, S, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmCellTable").field("buckets", &(self.mask + 1)).field("cells", &self.len()).finish()
    }
}

impl<'p, K: ShmSafe, S: ShmSafe, const N: usize> ShmCellTable<'p, K, S, N> {
    /// A table of `buckets` chains (rounded up to a power of two) and as
    /// many bucket locks (at most `locks`). `None` when the pool is full.
    #[track_caller]
    pub fn new_in(pool: &'p ShmPool, buckets: usize, locks: usize, name: &str) -> Option<Self> {
        let n = buckets.max(1).checked_next_power_of_two()?;
        let heads = pool.alloc_zeroed(n.checked_mul(std::mem::size_of::<ShmPtr<Node<K, S, N>>>())?)?;
        let shared = pool.alloc_zeroed(std::mem::size_of::<Shared>())?;
        let locks = pool.alloc_lock_set(locks.clamp(1, n), name)?;
        // zeroed bytes are null heads and zero counters
        Some(ShmCellTable {
            pool,
            locks,
            heads: heads.cast(),
            mask: n - 1,
            shared: shared.cast(),
            _marker: PhantomData,
        })
    }

    /// Number of buckets.
    pub fn buckets(&self) -> u32 {
        (self.mask + 1) as u32
    }

    fn shared(&self) -> &Shared {
        // SAFETY: allocated in new_in for the table's (the server's) life.
        unsafe { self.shared.as_ref() }
    }

    /// Cells linked in the table.
    pub fn len(&self) -> usize {
        self.shared().count.load(Ordering::Relaxed)
    }

    /// Whether no cell is linked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock_bucket(&self, bucket: usize) -> RawMutexGuard<'_> {
        // a dead holder cannot have broken a chain (links are single
        // stores): recover the lock
        self.locks.lock_index(bucket).unwrap_or_else(|died| died.into_guard())
    }

    fn head(&self, bucket: usize) -> *mut ShmPtr<Node<K, S, N>> {
        // SAFETY: bucket ≤ mask, inside the heads array made in new_in.
        unsafe { self.heads.as_ptr().add(bucket & self.mask) }
    }

    /// A new cell in `bucket` (taken modulo the bucket count), linked and
    /// returned referenced. Its slots start empty.
    #[track_caller]
    pub fn insert(&self, bucket: u32, key: K, state: S, first: &[u8]) -> Result<CellRef<'_, 'p, K, S, N>, TableFull> {
        match self.find_or_insert(bucket, |_, _| false, key, state, first)? {
            Ok(c) | Err(c) => Ok(c),
        }
    }

    /// The first linked cell of `bucket` that `pred` accepts (`Err`), or
    /// a new one (`Ok`), decided under one bucket lock: two processes
    /// handling the same request at once make one cell.
    #[track_caller]
    #[allow(clippy::type_complexity)]
    pub fn find_or_insert(
        &self,
        bucket: u32,
        pred: impl FnMut(&K, &[u8]) -> bool,
        key: K,
        state: S,
        first: &[u8],
    ) -> Result<Result<CellRef<'_, 'p, K, S, N>, CellRef<'_, 'p, K, S, N>>, TableFull> {
        let b = bucket as usize & self.mask;
        let first = ShmSlice::copy_from(self.pool, first).ok_or(TableFull)?;
        let Some(mem) = self.pool.alloc(std::mem::size_of::<Node<K, S, N>>()) else {
            drop(first);
            return Err(TableFull);
        };
        let node = mem.cast::<Node<K, S, N>>();
        let g = self.lock_bucket(b);
        if let Some(found) = self.find_locked(b, pred) {
            drop(g);
            drop(first);
            // SAFETY: the block was allocated above and never written or
            // published.
            unsafe { self.pool.free(mem) };
            return Ok(Err(found));
        }
        // labels start at 1 and wrap past u32::MAX (0 never names a cell)
        let mut label = self.shared().next_label.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if label == 0 {
            label = self.shared().next_label.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        }
        let empty = RawShmSlice { ptr: ShmPtr::null(), len: 0 };
        // SAFETY: a fresh block sized and aligned for a node, fully written
        // before the single store that links it (crash consistency); the
        // bucket lock is held for the link.
        unsafe {
            node.as_ptr().write(Node {
                next: *self.head(b),
                // the chain's reference and the one returned
                refs: AtomicU32::new(2),
                linked: AtomicBool::new(true),
                bucket: b as u32,
                label,
                lock: RawMutex::new(),
                key,
                first: first.into_raw(),
                state: UnsafeCell::new(state),
                slots: UnsafeCell::new([empty; N]),
            });
            *self.head(b) = ShmPtr::from_raw(node.as_ptr());
        }
        drop(g);
        self.shared().count.fetch_add(1, Ordering::Relaxed);
        Ok(Ok(CellRef { table: self, node }))
    }

    /// [`ShmCellTable::find`] with the bucket lock held.
    fn find_locked(&self, b: usize, mut pred: impl FnMut(&K, &[u8]) -> bool) -> Option<CellRef<'_, 'p, K, S, N>> {
        // SAFETY: bucket lock held: the chain is live nodes only.
        let mut node = unsafe { (*self.head(b)).as_ptr() };
        while let Some(n) = NonNull::new(node) {
            // SAFETY: a linked node is alive (the chain holds a reference);
            // its key and first bytes never change.
            let (key, first, next) = unsafe {
                let r = n.as_ref();
                (&r.key, r.first.as_slice(), r.next.as_ptr())
            };
            if pred(key, first) {
                // SAFETY: as above; the new reference keeps it alive after
                // the bucket lock is released.
                unsafe { n.as_ref() }.refs.fetch_add(1, Ordering::Relaxed);
                return Some(CellRef { table: self, node: n });
            }
            node = next;
        }
        None
    }

    /// The first linked cell of `bucket` that `pred(key, first bytes)`
    /// accepts, referenced.
    pub fn find(&self, bucket: u32, pred: impl FnMut(&K, &[u8]) -> bool) -> Option<CellRef<'_, 'p, K, S, N>> {
        let b = bucket as usize & self.mask;
        let _g = self.lock_bucket(b);
        self.find_locked(b, pred)
    }

    /// The linked cell `label` of `bucket`, referenced.
    pub fn get(&self, bucket: u32, label: u32) -> Option<CellRef<'_, 'p, K, S, N>> {
        let b = bucket as usize & self.mask;
        let _g = self.lock_bucket(b);
        // SAFETY: bucket lock held: the chain is live nodes only.
        let mut node = unsafe { (*self.head(b)).as_ptr() };
        while let Some(n) = NonNull::new(node) {
            // SAFETY: a linked node is alive.
            let r = unsafe { n.as_ref() };
            if r.label == label {
                r.refs.fetch_add(1, Ordering::Relaxed);
                return Some(CellRef { table: self, node: n });
            }
            node = r.next.as_ptr();
        }
        None
    }

    /// Every linked cell, referenced: taken a bucket at a time, handed to
    /// `f` with no bucket locked (so `f` may lock the cells).
    pub fn for_each(&self, mut f: impl FnMut(CellRef<'_, 'p, K, S, N>)) {
        let mut cells = Vec::new();
        for b in 0..=self.mask {
            {
                let _g = self.lock_bucket(b);
                // SAFETY: bucket lock held: the chain is live nodes only.
                let mut node = unsafe { (*self.head(b)).as_ptr() };
                while let Some(n) = NonNull::new(node) {
                    // SAFETY: as above.
                    let r = unsafe { n.as_ref() };
                    r.refs.fetch_add(1, Ordering::Relaxed);
                    cells.push(CellRef { table: self, node: n });
                    node = r.next.as_ptr();
                }
            }
            for c in cells.drain(..) {
                f(c);
            }
        }
    }

    /// Drops one reference of `node`, freeing it at zero.
    fn release(&self, node: NonNull<Node<K, S, N>>) {
        // SAFETY: the caller held a reference: the node is alive.
        let prev = unsafe { node.as_ref() }.refs.fetch_sub(1, Ordering::AcqRel);
        if prev != 1 {
            return;
        }
        // SAFETY: that was the last reference: the node is unlinked (the
        // chain holds one while linked) and nobody else can reach it.
        unsafe {
            let n = node.as_ptr();
            for s in (*(*n).slots.get()).iter() {
                if let Some(b) = ShmSlice::from_raw(self.pool, *s) {
                    drop(b);
                }
            }
            if let Some(b) = ShmSlice::from_raw(self.pool, (*n).first) {
                drop(b);
            }
            std::ptr::drop_in_place(n);
            self.pool.free(node.cast());
        }
    }
}

/// A counted reference to a cell: the cell stays allocated while it is
/// held, linked or not. Per process (never stored in shm).
pub struct CellRef<'t, 'p, K: ShmSafe, S: ShmSafe, const N: usize> {
    table: &'t ShmCellTable<'p, K, S, N>,
    node: NonNull<Node<K, S, N>>,
}

impl<K: ShmSafe, S: ShmSafe, const N: usize> Clone for CellRef<'_, '_, K, S, N> {
    fn clone(&self) -> Self {
        self.node().refs.fetch_add(1, Ordering::Relaxed);
        CellRef { table: self.table, node: self.node }
    }
}

impl<K: ShmSafe, S: ShmSafe, const N: usize> Drop for CellRef<'_, '_, K, S, N> {
    fn drop(&mut self) {
        self.table.release(self.node);
    }
}

impl<K: ShmSafe, S: ShmSafe, const N: usize> std::fmt::Debug for CellRef<'_, '_, K, S, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellRef").field("bucket", &self.bucket()).field("label", &self.label()).finish()
    }
}

impl<'t, 'p, K: ShmSafe, S: ShmSafe, const N: usize> CellRef<'t, 'p, K, S, N> {
    fn node(&self) -> &Node<K, S, N> {
        // SAFETY: our reference keeps the node allocated.
        unsafe { self.node.as_ref() }
    }

    /// The cell's bucket.
    pub fn bucket(&self) -> u32 {
        self.node().bucket
    }

    /// The cell's label.
    pub fn label(&self) -> u32 {
        self.node().label
    }

    /// The key (fixed at creation).
    pub fn key(&self) -> &K {
        &self.node().key
    }

    /// The first bytes (fixed at creation).
    pub fn first(&self) -> &[u8] {
        // SAFETY: allocated with the cell, never mutated, freed only with it.
        unsafe { self.node().first.as_slice() }
    }

    /// Whether the cell is still in the table.
    pub fn is_linked(&self) -> bool {
        self.node().linked.load(Ordering::Acquire)
    }

    /// Whether both refer to the same cell.
    pub fn same(&self, other: &Self) -> bool {
        self.node == other.node
    }

    /// Takes the cell's lock (recovered when its holder died: the state
    /// is plain data, at worst part-updated).
    pub fn lock(&self) -> CellGuard<'_, K, S, N> {
        let guard = self.node().lock.lock().unwrap_or_else(|died| {
            log::error!("a process died holding the lock of cell {}:{}; recovered", self.bucket(), self.label());
            died.into_guard()
        });
        CellGuard { node: self.node(), pool: self.table.pool, _guard: guard }
    }

    /// Takes the cell out of the table (its memory goes when the last
    /// reference does). `false` when it was already out.
    pub fn unlink(&self) -> bool {
        let t = self.table;
        let b = self.bucket() as usize;
        {
            let _g = t.lock_bucket(b);
            if !self.node().linked.swap(false, Ordering::AcqRel) {
                return false;
            }
            let mut link = t.head(b);
            // SAFETY: bucket lock held; links are null or live nodes; the
            // node is linked, so the walk finds it.
            unsafe {
                while !(*link).is_null() {
                    let n = (*link).as_ptr();
                    if n == self.node.as_ptr() {
                        *link = (*n).next;
                        break;
                    }
                    link = std::ptr::addr_of_mut!((*n).next);
                }
            }
            t.shared().count.fetch_sub(1, Ordering::Relaxed);
        }
        // the chain's reference
        t.release(self.node);
        true
    }
}

/// A cell's lock held: its state and slots.
pub struct CellGuard<'c, K, S, const N: usize> {
    node: &'c Node<K, S, N>,
    pool: &'c ShmPool,
    _guard: RawMutexGuard<'c>,
}

impl<K, S, const N: usize> std::fmt::Debug for CellGuard<'_, K, S, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellGuard").field("bucket", &self.node.bucket).field("label", &self.node.label).finish()
    }
}

impl<K, S, const N: usize> CellGuard<'_, K, S, N> {
    /// The state.
    pub fn state(&self) -> &S {
        // SAFETY: the cell lock is held: no other access meanwhile.
        unsafe { &*self.node.state.get() }
    }

    /// The state, to change.
    pub fn state_mut(&mut self) -> &mut S {
        // SAFETY: the cell lock is held and `&mut self` is unique.
        unsafe { &mut *self.node.state.get() }
    }

    /// The bytes in slot `i` (empty when unset or out of range).
    pub fn slot(&self, i: usize) -> &[u8] {
        // SAFETY: the cell lock is held; a slot's block changes only
        // through `set_slot`, which needs `&mut self`.
        unsafe { (*self.node.slots.get()).get(i).map_or(&[][..], |s| s.as_slice()) }
    }

    /// Replaces the bytes in slot `i`. Out of range is ignored.
    #[track_caller]
    pub fn set_slot(&mut self, i: usize, bytes: &[u8]) -> Result<(), TableFull> {
        if i >= N {
            return Ok(());
        }
        let new = if bytes.is_empty() {
            RawShmSlice { ptr: ShmPtr::null(), len: 0 }
        } else {
            ShmSlice::copy_from(self.pool, bytes).ok_or(TableFull)?.into_raw()
        };
        // SAFETY: the cell lock is held and `&mut self` is unique; the old
        // block was made by this method and nobody borrows it now (slot()
        // borrows end before a `&mut self` call).
        unsafe {
            let slots = &mut *self.node.slots.get();
            let old = std::mem::replace(&mut slots[i], new);
            if let Some(b) = ShmSlice::from_raw(self.pool, old) {
                drop(b);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    #[repr(C)]
    struct St {
        code: u32,
    }
    // SAFETY: a plain number.
    unsafe impl ShmSafe for St {}

    #[test]
    fn insert_find_get_unlink_free() {
        let pool = ShmPool::create(1 << 20).unwrap();
        let idle = pool.stats().used;
        {
            let t: ShmCellTable<'_, u64, St, 2> = ShmCellTable::new_in(&pool, 16, 16, "t").unwrap();
            let base = pool.stats().used;
            let a = t.insert(3, 7, St { code: 0 }, b"INVITE").unwrap();
            let b = t.insert(3, 8, St { code: 0 }, b"BYE").unwrap();
            assert_eq!(t.len(), 2);
            assert_ne!(a.label(), b.label());
            let f = t.find(3, |k, first| *k == 8 && first == b"BYE").unwrap();
            // found, not made again
            let again = t.find_or_insert(3, |k, _| *k == 8, 8, St { code: 0 }, b"BYE").unwrap();
            assert!(again.as_ref().is_err_and(|c| c.same(&b)));
            drop(again);
            assert_eq!(t.len(), 2);
            assert!(f.same(&b));
            assert!(t.find(4, |_, _| true).is_none());
            let g = t.get(3, a.label()).unwrap();
            {
                let mut l = g.lock();
                l.state_mut().code = 486;
                l.set_slot(0, b"SIP/2.0 486 Busy").unwrap();
                l.set_slot(0, b"SIP/2.0 486 Busy Here").unwrap();
                l.set_slot(5, b"ignored").unwrap();
            }
            {
                let l = a.lock();
                assert_eq!(l.state().code, 486);
                assert_eq!(l.slot(0), b"SIP/2.0 486 Busy Here");
                assert_eq!(l.slot(1), b"");
            }
            assert!(a.unlink());
            assert!(!g.unlink());
            assert!(!a.is_linked());
            assert!(t.get(3, a.label()).is_none());
            assert_eq!(t.len(), 1);
            // still readable while referenced
            assert_eq!(g.first(), b"INVITE");
            drop((a, g, f));
            let mut seen = 0;
            t.for_each(|c| {
                seen += 1;
                assert!(c.unlink());
            });
            assert_eq!(seen, 1);
            drop(b);
            assert_eq!(t.len(), 0);
            assert_eq!(pool.stats().used, base, "every cell and slot freed");
        }
        assert!(pool.stats().used >= idle);
    }

    #[test]
    fn a_full_pool_is_an_error() {
        let pool = ShmPool::create(256 << 10).unwrap();
        let t: ShmCellTable<'_, u64, St, 1> = ShmCellTable::new_in(&pool, 4, 4, "t").unwrap();
        let big = vec![0u8; 8 << 10];
        let mut held = Vec::new();
        let mut full = false;
        for i in 0..1000 {
            match t.insert(i, i as u64, St { code: 0 }, &big) {
                Ok(c) => held.push(c),
                Err(TableFull) => {
                    full = true;
                    break;
                }
            }
        }
        assert!(full);
        let n = held.len();
        for c in held.drain(..) {
            c.unlink();
        }
        assert_eq!(t.len(), 0);
        assert!(n > 0);
        // room again
        assert!(t.insert(0, 0, St { code: 0 }, &big).is_ok());
    }
}
