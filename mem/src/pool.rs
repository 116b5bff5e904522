//! The pool: one `MAP_SHARED | MAP_ANONYMOUS` mapping made by the main
//! process before it forks, so every child sees it at the same address
//! (memmap2's `map_anon` would be `MAP_PRIVATE`: copy-on-write after fork,
//! i.e. not shared at all). The mapping starts with the pool header (lock,
//! allocator control block); the rest is the heap.

use std::fmt;
use std::mem::size_of;
use std::panic::Location;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use sipr_locking::{LockSet, SpinLock, SpinLockGuard};

use crate::error::MemError;
use crate::site::{AllocSite, SITE_BYTES};
use crate::tlsf::{units_for, CheckSummary, Control, Corruption, Heap, UNIT};

/// Default pool size in MB (Kamailio's default `-m` is 64 too).
pub const DEFAULT_POOL_MB: usize = 64;
/// Smallest pool accepted.
pub const MIN_POOL_BYTES: usize = 256 * 1024;
/// Largest pool the allocator can address (2^32 units of 16 bytes).
pub const MAX_POOL_BYTES: usize = (u32::MAX as usize) * UNIT;

const POOL_MAGIC: u64 = 0x7369_7072_5f73_686d; // "sipr_shm"

#[repr(C)]
struct PoolHeader {
    magic: u64,
    map_len: usize,
    /// A spinlock, as Kamailio's shm lock: the sections are a few dozen
    /// instructions, shorter than a futex round trip, and the release is a
    /// plain store instead of the mutex's atomic swap.
    lock: SpinLock,
    /// Set when a process died inside the allocator and the heap failed its
    /// integrity check: every later allocation fails instead of spreading
    /// the damage.
    corrupt: AtomicU32,
    ctl: Control,
}

/// The shared-memory pool. Create it once in the main process before any
/// fork; every child uses the same pool through the inherited mapping.
/// All operations lock the pool, so `&ShmPool` may be used from anywhere.
pub struct ShmPool {
    base: NonNull<PoolHeader>,
    len: usize,
}

// SAFETY: all access to the mapping goes through the pool lock (a
// process-shared mutex), or through atomics.
unsafe impl Send for ShmPool {}
// SAFETY: as for Send.
unsafe impl Sync for ShmPool {}

/// Statistics as Kamailio's `core.shmmem` reports them, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShmStats {
    /// Size of the whole mapping.
    pub total: u64,
    /// Bytes that can still be handed out (payload of free blocks).
    pub free: u64,
    /// Bytes handed out (payload of used blocks).
    pub used: u64,
    /// Bytes not free: used payload plus every header and the control block.
    pub real_used: u64,
    /// Highest `real_used` seen.
    pub max_used: u64,
    /// Free blocks, counting small blocks parked on quick lists: how
    /// fragmented the free space is.
    pub fragments: u64,
    /// Blocks in use.
    pub used_blocks: u64,
    /// Allocations that found no block.
    pub failed_allocs: u64,
}

/// One block in use, for the leak finder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveBlock {
    /// Address as the owner sees it.
    pub addr: usize,
    /// Bytes asked for.
    pub requested: usize,
    /// Usable bytes.
    pub size: usize,
    /// Where it was allocated (`debug` feature only).
    pub site: Option<AllocSite>,
}

/// Live blocks grouped by allocation site: the leak report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteUsage {
    /// `file:line`, or `unknown` without the `debug` feature.
    pub site: String,
    /// The crate/module the file belongs to (`tm`, `sipr-mem`, ...).
    pub module: String,
    /// Live blocks from there.
    pub blocks: usize,
    /// Bytes asked for by them.
    pub bytes: usize,
}

impl fmt::Debug for ShmPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmPool").field("base", &self.base).field("len", &self.len).finish()
    }
}

impl ShmPool {
    /// A pool of `mb` megabytes (as `-m`).
    pub fn create_mb(mb: usize) -> Result<ShmPool, MemError> {
        if mb == 0 {
            return Err(MemError::ZeroSize);
        }
        let bytes =
            mb.checked_mul(1024 * 1024).ok_or(MemError::TooLarge { requested: usize::MAX, max: MAX_POOL_BYTES })?;
        Self::create(bytes)
    }

    /// A pool of `bytes` bytes (rounded up to a page).
    pub fn create(bytes: usize) -> Result<ShmPool, MemError> {
        if bytes == 0 {
            return Err(MemError::ZeroSize);
        }
        if bytes < MIN_POOL_BYTES {
            return Err(MemError::TooSmall { requested: bytes, min: MIN_POOL_BYTES });
        }
        let max = MAX_POOL_BYTES.min(physical_memory().unwrap_or(MAX_POOL_BYTES));
        if bytes > max {
            return Err(MemError::TooLarge { requested: bytes, max });
        }
        let page = page_size();
        let len = bytes.div_ceil(page) * page;
        let base = sipr_locking::process::map_shared(len)
            .map_err(|source| MemError::MapFailed { bytes: len, source })?
            .cast::<PoolHeader>();
        let p = base.as_ptr().cast::<u8>();
        let hdr_units = size_of::<PoolHeader>().div_ceil(UNIT) as u32;
        let end_units = (len / UNIT) as u32;
        // SAFETY: the mapping is fresh, page aligned, `len` bytes, zeroed by
        // the kernel (so every atomic and the lock start at 0 = unlocked),
        // and not shared with anyone yet.
        unsafe {
            let h = base.as_ptr();
            (*h).magic = POOL_MAGIC;
            (*h).map_len = len;
            let mut heap = Heap::new(p, &mut (*h).ctl);
            heap.format(hdr_units, end_units);
            let real = heap.real_used();
            heap.ctl.max_real_used = real;
        }
        log::debug!("shm pool of {len} bytes mapped at {p:p}");
        Ok(ShmPool { base, len })
    }

    fn header(&self) -> &PoolHeader {
        // SAFETY: the mapping lives as long as `self`; the header fields
        // read through this reference are the lock and atomics, or plain
        // fields written before the pool was shared.
        unsafe { self.base.as_ref() }
    }

    fn base_ptr(&self) -> *mut u8 {
        self.base.as_ptr().cast()
    }

    /// Runs `f` on the heap with the pool lock held. `None` when the pool
    /// is marked corrupt.
    #[inline]
    fn with_heap<R>(&self, f: impl FnOnce(&mut Heap<'_>) -> R) -> Option<R> {
        let _guard = self.lock_heap()?;
        // SAFETY: we hold the pool lock, so no other process or thread
        // touches the control block or the heap until `_guard` drops;
        // `ctl` lives inside the mapping owned by `self`.
        let mut heap = unsafe { Heap::new(self.base_ptr(), &mut (*self.base.as_ptr()).ctl) };
        Some(f(&mut heap))
    }

    #[inline]
    fn lock_heap(&self) -> Option<SpinLockGuard<'_>> {
        let h = self.header();
        let guard = match h.lock.lock() {
            Ok(g) => g,
            Err(died) => {
                let g = died.into_guard();
                // SAFETY: we hold the lock taken over from the dead process.
                let heap = unsafe { Heap::new(self.base_ptr(), &mut (*self.base.as_ptr()).ctl) };
                match heap.check() {
                    Ok(_) => log::warn!("shm pool: allocator lock recovered, heap verified intact"),
                    Err(c) => {
                        log::error!("shm pool: heap corrupt after a process died in the allocator: {c:?}");
                        h.corrupt.store(1, Ordering::Relaxed);
                    }
                }
                g
            }
        };
        if h.corrupt.load(Ordering::Relaxed) != 0 {
            log::error!("shm pool is marked corrupt: allocation refused");
            return None;
        }
        Some(guard)
    }

    #[inline]
    fn block_of(&self, ptr: NonNull<u8>) -> Option<u32> {
        let off = (ptr.as_ptr() as usize).checked_sub(self.base_ptr() as usize)?;
        if off >= self.len || off % UNIT != 0 {
            return None;
        }
        u32::try_from((off / UNIT).checked_sub(1 + SITE_BYTES / UNIT)?).ok()
    }

    #[inline]
    fn user_ptr(&self, block: u32) -> NonNull<u8> {
        let off = (block as usize + 1) * UNIT + SITE_BYTES;
        // SAFETY: the block lies inside the mapping, so base + off is a
        // non-null in-bounds address.
        unsafe { NonNull::new_unchecked(self.base_ptr().add(off)) }
    }

    /// Allocates `size` bytes, 16-byte aligned. `None` when the pool has no
    /// block that large (or is marked corrupt): never a panic.
    #[track_caller]
    #[inline]
    pub fn alloc(&self, size: usize) -> Option<NonNull<u8>> {
        self.alloc_at(size, Location::caller())
    }

    fn alloc_at(&self, size: usize, site: &'static Location<'static>) -> Option<NonNull<u8>> {
        let units = units_for(size.checked_add(SITE_BYTES)?)?;
        let req = u32::try_from(size).unwrap_or(u32::MAX);
        let block = self.with_heap(|heap| {
            let owner = self.owner_of(heap, site);
            heap.alloc(units, req, owner)
        })??;
        self.record_site(block, site);
        Some(self.user_ptr(block))
    }

    /// As [`ShmPool::alloc`], with the memory zeroed.
    #[track_caller]
    pub fn alloc_zeroed(&self, size: usize) -> Option<NonNull<u8>> {
        let p = self.alloc_at(size, Location::caller())?;
        // SAFETY: `p` is a fresh block of at least `size` bytes that only
        // we know about.
        unsafe { p.as_ptr().write_bytes(0, size) };
        Some(p)
    }

    /// A zeroed 64-bit atomic in the pool, shared by every process forked
    /// after this call (statistics counters). Never freed: it lives as
    /// long as the pool.
    #[track_caller]
    pub fn alloc_counter(&self) -> Option<&std::sync::atomic::AtomicU64> {
        let p = self.alloc_at(std::mem::size_of::<std::sync::atomic::AtomicU64>(), Location::caller())?;
        // SAFETY: a fresh 16-aligned block of 8+ bytes, zeroed here (a zero
        // AtomicU64), never freed, so the reference lives as long as the
        // pool borrowed by `&self`; atomics are fine to share across
        // processes in MAP_SHARED memory.
        unsafe {
            p.as_ptr().write_bytes(0, 8);
            Some(&*p.as_ptr().cast::<std::sync::atomic::AtomicU64>())
        }
    }

    /// Resizes a block, keeping its contents up to the smaller size; in
    /// place when possible. `None` when there is no room: the old block is
    /// then untouched and still owned by the caller. A pointer that is not
    /// a live block of this pool is refused with a log line (`None`).
    ///
    /// # Safety
    /// `ptr` must come from this pool and nobody may use it after the call
    /// unless `None` was returned.
    #[track_caller]
    pub unsafe fn realloc(&self, ptr: NonNull<u8>, new_size: usize) -> Option<NonNull<u8>> {
        let site = Location::caller();
        let block = self.block_of(ptr).or_else(|| {
            log::error!("shm realloc of a pointer outside the pool ({ptr:p}) at {site}");
            None
        })?;
        let units = units_for(new_size.checked_add(SITE_BYTES)?)?;
        let req = u32::try_from(new_size).unwrap_or(u32::MAX);
        let moved = self.with_heap(|heap| {
            if let Err(what) = heap.check_used(block) {
                log::error!("shm realloc of {ptr:p} at {site}: {what}");
                return Err(());
            }
            if heap.resize_in_place(block, units, req) {
                return Ok(None);
            }
            let old_bytes = heap.payload_bytes(block) - SITE_BYTES;
            let owner = self.owner_of(heap, site);
            let new = heap.alloc(units, req, owner).ok_or(())?;
            Ok(Some((new, old_bytes)))
        })?;
        match moved {
            Err(()) => None,
            Ok(None) => {
                self.record_site(block, site);
                Some(ptr)
            }
            Ok(Some((new, old_bytes))) => {
                let dst = self.user_ptr(new);
                // SAFETY: both blocks are live and owned by the caller (the
                // new one is not yet published); they do not overlap.
                unsafe { std::ptr::copy_nonoverlapping(ptr.as_ptr(), dst.as_ptr(), old_bytes.min(new_size)) };
                self.record_site(new, site);
                self.with_heap(|heap| heap.free(block));
                Some(dst)
            }
        }
    }

    /// Frees a block. A pointer that is not a live block of this pool
    /// (double free, foreign pointer) is refused with a log line, never a
    /// crash.
    ///
    /// # Safety
    /// `ptr` must come from this pool and nobody may use it afterwards.
    #[track_caller]
    pub unsafe fn free(&self, ptr: NonNull<u8>) {
        let site = Location::caller();
        let Some(block) = self.block_of(ptr) else {
            log::error!("shm free of a pointer outside the pool ({ptr:p}) at {site}");
            return;
        };
        self.with_heap(|heap| match heap.check_used(block) {
            Ok(()) => heap.free(block),
            Err(what) => log::error!("shm free of {ptr:p} at {site}: {what}"),
        });
    }

    /// The owner slot of an allocation site: the module whose source
    /// file asked (`modules/NAME/...`), else the core. Remembered per
    /// site, so the path is read once per call site and process.
    fn owner_of(&self, heap: &mut Heap<'_>, site: &'static Location<'static>) -> u8 {
        thread_local! {
            static OWNERS: std::cell::RefCell<std::collections::HashMap<(usize, usize), u8>> =
                std::cell::RefCell::new(std::collections::HashMap::new());
        }
        let key = (self.base_ptr() as usize, site as *const Location<'static> as usize);
        if let Some(id) = OWNERS.with(|m| m.borrow().get(&key).copied()) {
            return id;
        }
        let id = heap.owner_id(crate::site::owner_name(site.file()));
        OWNERS.with(|m| m.borrow_mut().insert(key, id));
        id
    }

    /// What each owner (a module, or `core`) holds now: name, bytes asked
    /// for, live blocks — kept at every allocation and free, so reading
    /// them costs no walk of the heap (`mod.stats`, `corex.shm_summary`).
    pub fn usage_by_owner(&self) -> Vec<(String, u64, u64)> {
        self.with_heap(|heap| heap.owners().iter().map(|o| (o.name().to_string(), o.bytes, o.blocks)).collect())
            .unwrap_or_default()
    }

    /// Usable bytes of a live block (≥ what was asked for).
    pub fn usable_size(&self, ptr: NonNull<u8>) -> Option<usize> {
        let block = self.block_of(ptr)?;
        self.with_heap(|heap| heap.check_used(block).ok().map(|_| heap.payload_bytes(block) - SITE_BYTES))?
    }

    /// Whether `ptr` points into this pool's mapping.
    pub fn contains(&self, ptr: *const u8) -> bool {
        let b = self.base_ptr() as usize;
        (b..b + self.len).contains(&(ptr as usize))
    }

    /// Current statistics.
    pub fn stats(&self) -> ShmStats {
        let failed = || ShmStats { total: self.len as u64, ..Default::default() };
        self.with_heap(|heap| {
            let real_used = heap.real_used();
            ShmStats {
                total: heap.total_bytes(),
                free: heap.ctl.free_bytes + heap.ctl.quick_bytes,
                used: heap.ctl.used_bytes,
                real_used,
                max_used: heap.ctl.max_real_used,
                fragments: heap.ctl.free_frags + heap.ctl.quick_blocks,
                used_blocks: heap.ctl.live_blocks,
                failed_allocs: heap.ctl.failed_allocs,
            }
        })
        .unwrap_or_else(failed)
    }

    /// Returns the small blocks parked on quick lists to the general heap,
    /// merging them with free neighbours. Allocation does this by itself
    /// before it would fail; call it to measure true fragmentation (the
    /// statistics of a pool whose blocks were all freed then equal those
    /// of a fresh pool).
    pub fn defragment(&self) {
        self.with_heap(|heap| heap.flush_quick());
    }

    /// Walks every block and free list and checks headers, links, bitmaps
    /// and counters. A pool marked corrupt reports the first damage found.
    pub fn integrity_check(&self) -> Result<CheckSummary, Corruption> {
        let _guard = self.header().lock.lock().unwrap_or_else(|died| died.into_guard());
        // SAFETY: the pool lock is held (taken over if its holder died).
        let heap = unsafe { Heap::new(self.base_ptr(), &mut (*self.base.as_ptr()).ctl) };
        heap.check()
    }

    /// Every block in use with its size and (with the `debug` feature) the
    /// place that allocated it.
    pub fn live_blocks(&self) -> Vec<LiveBlock> {
        let blocks = self.with_heap(|heap| heap.used_blocks()).unwrap_or_default();
        blocks
            .into_iter()
            .map(|b| {
                let block = (b.payload_off / UNIT - 1) as u32;
                LiveBlock {
                    addr: self.user_ptr(block).as_ptr() as usize,
                    requested: b.requested as usize,
                    size: b.size - SITE_BYTES,
                    site: self.read_site(block),
                }
            })
            .collect()
    }

    /// Live blocks grouped by allocation site, biggest first: who holds
    /// the memory. Sites are known with the `debug` feature only.
    pub fn leak_report(&self) -> Vec<SiteUsage> {
        let mut by_site: std::collections::HashMap<(String, String), (usize, usize)> = Default::default();
        for b in self.live_blocks() {
            let key = match &b.site {
                Some(s) => (format!("{}:{}", s.file, s.line), s.module().to_owned()),
                None => ("unknown".to_owned(), "unknown".to_owned()),
            };
            let e = by_site.entry(key).or_default();
            e.0 += 1;
            e.1 += b.requested;
        }
        let mut out: Vec<SiteUsage> = by_site
            .into_iter()
            .map(|((site, module), (blocks, bytes))| SiteUsage { site, module, blocks, bytes })
            .collect();
        out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.site.cmp(&b.site)));
        out
    }

    /// A set of `len` process-shared mutexes in the pool (per-bucket locks
    /// for a shm hash table). `None` when the pool is full.
    #[track_caller]
    pub fn alloc_lock_set(&self, len: usize, name: &str) -> Option<LockSet> {
        let p = self.alloc_at(LockSet::bytes_for(len.max(1)), Location::caller())?;
        // SAFETY: `p` is a fresh 16-aligned block of the needed size that
        // stays mapped for the pool's life; it is never freed.
        Some(unsafe { LockSet::init(p, len, name) })
    }

    #[cfg(feature = "debug")]
    fn record_site(&self, block: u32, site: &'static Location<'static>) {
        let p = (block as usize + 1) * UNIT;
        // SAFETY: with the debug feature every block's payload starts with
        // SITE_BYTES reserved for the site record, which only the owner of
        // the (freshly allocated) block writes.
        unsafe { AllocSite::write(self.base_ptr().add(p), site) };
    }

    #[cfg(not(feature = "debug"))]
    #[inline(always)]
    fn record_site(&self, _block: u32, _site: &'static Location<'static>) {}

    #[cfg(feature = "debug")]
    fn read_site(&self, block: u32) -> Option<AllocSite> {
        let p = (block as usize + 1) * UNIT;
        // SAFETY: as in record_site; the record is plain bytes.
        Some(unsafe { AllocSite::read(self.base_ptr().add(p)) })
    }

    #[cfg(not(feature = "debug"))]
    fn read_site(&self, _block: u32) -> Option<AllocSite> {
        None
    }
}

impl Drop for ShmPool {
    fn drop(&mut self) {
        // SAFETY: we created this mapping with this length; after drop no
        // handle to it remains in this process (boxes borrow the pool).
        unsafe { sipr_locking::process::unmap_shared(self.base.cast(), self.len) };
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

fn physical_memory() -> Option<usize> {
    // SAFETY: sysconf has no preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    (pages > 0).then(|| (pages as usize).saturating_mul(page_size()))
}
