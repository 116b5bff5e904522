//! Two-level segregated fit (TLSF) over a region of the shared mapping.
//!
//! Free blocks are kept in 28 × 32 size classes: the first level is the
//! power of two of the size, the second splits each power into 32 equal
//! steps; two bitmaps say which classes are non-empty, so finding a block
//! that fits is two find-first-set instructions, O(1). Blocks that border
//! each other and are both free are merged at once (immediate coalescing).
//!
//! Everything is measured in 16-byte units and addressed by unit offsets
//! (u32) from the start of the mapping: 64 GiB of pool at most, headers of
//! 16 bytes, every payload 16-byte aligned.
//!
//! Block header (16 bytes): payload size in units, offset of the previous
//! block in address order, a tag (magic + FREE + PREV_FREE bits) and the
//! byte size last asked for. A free block's payload starts with the links
//! of its class's doubly linked list. The last block of the region is a
//! used "sentinel" of size 0 that stops merging.
//!
//! In front of TLSF sit exact-size "quick lists" for payloads of up to
//! 1 KiB (64 units), as Kamailio's f_malloc keeps for small sizes: a freed
//! small block is pushed, uncoalesced, on the LIFO list of its exact size
//! and the next request of that size pops it. Both touch only the block's
//! own header, which its user has just touched anyway, where TLSF's merge
//! and list updates touch up to five scattered cache lines; SIP traffic is
//! dominated by a few recurring small sizes. Quick blocks are bounded
//! (`quick_limit` bytes) and are flushed back into TLSF — merging as usual
//! — whenever TLSF cannot satisfy a request, so they never cause an
//! allocation to fail, and by [`Heap::flush_quick`] on demand.
//!
//! This module knows nothing of locks: its caller holds the pool lock.

use std::collections::HashSet;

pub(crate) const UNIT: usize = 16;
const SL_LOG2: u32 = 5;
const SL_COUNT: usize = 1 << SL_LOG2;
pub(crate) const FL_COUNT: usize = 28;
const SMALL_UNITS: u32 = SL_COUNT as u32;

const MAGIC_MASK: u32 = 0xffff_0000;
const MAGIC: u32 = 0x5e1f_0000;
const FREE: u32 = 1;
const PREV_FREE: u32 = 2;
/// Parked on a quick list: not handed out, not mergeable either.
const QUICK: u32 = 4;
/// Largest payload (units) that quick lists keep.
pub(crate) const QUICK_MAX_UNITS: usize = 64;

/// The owner of a used block (the module that allocated it, as an index
/// into [`Control::owners`]) sits in these tag bits.
const OWNER_SHIFT: u32 = 8;
const OWNER_MASK: u32 = 0x3f << OWNER_SHIFT;
/// Owners the pool tells apart (more share the last slot).
pub(crate) const MAX_OWNERS: usize = 64;
/// Bytes of an owner's name kept.
const OWNER_NAME: usize = 23;

/// What one owner (a module, or the core) holds: counted at every
/// allocation and free, so the per-module figures cost two additions and
/// never a walk of the heap.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct OwnerUsage {
    name: [u8; OWNER_NAME],
    name_len: u8,
    /// Bytes asked for by its live blocks.
    pub(crate) bytes: u64,
    /// Its live blocks.
    pub(crate) blocks: u64,
}

impl OwnerUsage {
    pub(crate) fn name(&self) -> &str {
        std::str::from_utf8(&self.name[..usize::from(self.name_len).min(OWNER_NAME)]).unwrap_or("?")
    }
}

/// Largest payload (in units) a block may have.
pub(crate) const MAX_BLOCK_UNITS: u32 = u32::MAX - 1;

#[repr(C)]
struct BlockHeader {
    size_u: u32,
    prev_u: u32,
    tag: u32,
    req: u32,
}

#[repr(C)]
struct FreeLinks {
    next_u: u32,
    prev_u: u32,
}

/// The allocator's bookkeeping, stored in the shared mapping.
#[repr(C)]
pub(crate) struct Control {
    fl_bitmap: u32,
    sl_bitmap: [u32; FL_COUNT],
    heads: [[u32; SL_COUNT]; FL_COUNT],
    first_u: u32,
    sentinel_u: u32,
    /// Bytes of payload in free blocks.
    pub(crate) free_bytes: u64,
    /// Bytes of payload in used blocks.
    pub(crate) used_bytes: u64,
    pub(crate) max_real_used: u64,
    pub(crate) free_frags: u64,
    pub(crate) live_blocks: u64,
    pub(crate) failed_allocs: u64,
    /// Heads of the quick lists, by payload units (index 0 unused).
    quick_heads: [u32; QUICK_MAX_UNITS + 1],
    /// Payload bytes parked on quick lists.
    pub(crate) quick_bytes: u64,
    pub(crate) quick_blocks: u64,
    /// Most payload bytes the quick lists may hold.
    pub(crate) quick_limit: u64,
    /// Owners (slot 0: not known), by first allocation.
    pub(crate) owners: [OwnerUsage; MAX_OWNERS],
    pub(crate) owner_count: u32,
}

/// What `check` found wrong, with the byte offset of the bad block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// Byte offset from the start of the mapping.
    pub offset: usize,
    /// What is wrong there.
    pub what: &'static str,
}

/// One used block, as the walk in `used_blocks` sees it.
pub(crate) struct UsedBlock {
    pub(crate) payload_off: usize,
    pub(crate) size: usize,
    pub(crate) requested: u32,
}

/// The allocator viewed through a base pointer: `base` is the start of the
/// shared mapping, `ctl` its control block inside that mapping.
pub(crate) struct Heap<'a> {
    base: *mut u8,
    pub(crate) ctl: &'a mut Control,
}

fn mapping(size_u: u32) -> (usize, usize) {
    if size_u < SMALL_UNITS {
        (0, size_u as usize)
    } else {
        let f = 31 - size_u.leading_zeros();
        let sl = (size_u >> (f - SL_LOG2)) as usize ^ SL_COUNT;
        ((f - SL_LOG2 + 1) as usize, sl)
    }
}

/// The smallest class whose every block holds at least `size_u` units.
fn mapping_search(size_u: u32) -> Option<(usize, usize)> {
    if size_u < SMALL_UNITS {
        return Some(mapping(size_u));
    }
    let f = 31 - size_u.leading_zeros();
    let rounded = size_u as u64 + (1u64 << (f - SL_LOG2)) - 1;
    let rounded = u32::try_from(rounded).ok()?;
    let (fl, sl) = mapping(rounded);
    (fl < FL_COUNT).then_some((fl, sl))
}

/// Units of payload for a request of `bytes`.
pub(crate) fn units_for(bytes: usize) -> Option<u32> {
    let u = bytes.max(1).checked_add(UNIT - 1)? / UNIT;
    u32::try_from(u).ok().filter(|&u| u <= MAX_BLOCK_UNITS)
}

impl<'a> Heap<'a> {
    /// # Safety
    /// `base` must be the start of a mapping whose region described by
    /// `ctl` was set up by [`Heap::format`], and the caller must hold the
    /// pool lock (no other process touches the region meanwhile).
    pub(crate) unsafe fn new(base: *mut u8, ctl: &'a mut Control) -> Self {
        Heap { base, ctl }
    }

    /// Lays a fresh heap over units `[first_u, end_u)`: one free block and
    /// the sentinel.
    pub(crate) fn format(&mut self, first_u: u32, end_u: u32) {
        self.ctl.fl_bitmap = 0;
        self.ctl.sl_bitmap = [0; FL_COUNT];
        self.ctl.heads = [[0; SL_COUNT]; FL_COUNT];
        self.ctl.free_bytes = 0;
        self.ctl.used_bytes = 0;
        self.ctl.free_frags = 0;
        self.ctl.live_blocks = 0;
        self.ctl.failed_allocs = 0;
        self.ctl.quick_heads = [0; QUICK_MAX_UNITS + 1];
        self.ctl.quick_bytes = 0;
        self.ctl.quick_blocks = 0;
        self.ctl.owners = [OwnerUsage { name: [0; OWNER_NAME], name_len: 0, bytes: 0, blocks: 0 }; MAX_OWNERS];
        self.ctl.owner_count = 1;
        // A sixteenth of the heap: enough to absorb the churn of recurring
        // small sizes, little enough not to starve large requests (and
        // flushed anyway before any request fails).
        self.ctl.quick_limit = (end_u - first_u) as u64 * UNIT as u64 / 16;
        let sentinel = end_u - 1;
        self.ctl.first_u = first_u;
        self.ctl.sentinel_u = sentinel;
        *self.hdr(first_u) = BlockHeader { size_u: sentinel - first_u - 1, prev_u: 0, tag: MAGIC | FREE, req: 0 };
        *self.hdr(sentinel) = BlockHeader { size_u: 0, prev_u: first_u, tag: MAGIC | PREV_FREE, req: 0 };
        self.insert_free(first_u);
    }

    #[inline]
    #[allow(clippy::mut_from_ref)]
    fn hdr(&self, u: u32) -> &mut BlockHeader {
        // SAFETY: `u` is a block offset that the heap's invariants place
        // inside the mapping (checked where it comes from user input), the
        // caller of `Heap::new` holds the pool lock, and no two references
        // to the same header are alive at once inside this module.
        unsafe { &mut *self.base.add(u as usize * UNIT).cast::<BlockHeader>() }
    }

    #[inline]
    #[allow(clippy::mut_from_ref)]
    fn links(&self, u: u32) -> &mut FreeLinks {
        // SAFETY: as for `hdr`; a free block's payload (≥ 1 unit) starts
        // right after its header and holds the links.
        unsafe { &mut *self.base.add((u as usize + 1) * UNIT).cast::<FreeLinks>() }
    }

    #[inline]
    fn next_phys(&self, u: u32) -> u32 {
        u + 1 + self.hdr(u).size_u
    }

    fn insert_free(&mut self, u: u32) {
        let size = self.hdr(u).size_u;
        let (fl, sl) = mapping(size);
        let head = self.ctl.heads[fl][sl];
        *self.links(u) = FreeLinks { next_u: head, prev_u: 0 };
        if head != 0 {
            self.links(head).prev_u = u;
        }
        self.ctl.heads[fl][sl] = u;
        self.ctl.sl_bitmap[fl] |= 1 << sl;
        self.ctl.fl_bitmap |= 1 << fl;
        self.ctl.free_bytes += size as u64 * UNIT as u64;
        self.ctl.free_frags += 1;
    }

    fn remove_free(&mut self, u: u32) {
        let size = self.hdr(u).size_u;
        let (fl, sl) = mapping(size);
        let FreeLinks { next_u, prev_u } = *self.links(u);
        if prev_u != 0 {
            self.links(prev_u).next_u = next_u;
        } else {
            self.ctl.heads[fl][sl] = next_u;
            if next_u == 0 {
                self.ctl.sl_bitmap[fl] &= !(1 << sl);
                if self.ctl.sl_bitmap[fl] == 0 {
                    self.ctl.fl_bitmap &= !(1 << fl);
                }
            }
        }
        if next_u != 0 {
            self.links(next_u).prev_u = prev_u;
        }
        self.ctl.free_bytes -= size as u64 * UNIT as u64;
        self.ctl.free_frags -= 1;
    }

    fn find_fit(&self, size_u: u32) -> Option<u32> {
        let (mut fl, sl) = mapping_search(size_u)?;
        let mut sl_map = self.ctl.sl_bitmap[fl] & (u32::MAX << sl);
        if sl_map == 0 {
            let fl_map = self.ctl.fl_bitmap & u32::MAX.checked_shl(fl as u32 + 1).unwrap_or(0);
            if fl_map == 0 {
                return None;
            }
            fl = fl_map.trailing_zeros() as usize;
            sl_map = self.ctl.sl_bitmap[fl];
        }
        Some(self.ctl.heads[fl][sl_map.trailing_zeros() as usize])
    }

    /// Cuts the tail of used block `u` beyond `size_u` units into a free
    /// block (merged with a free successor), if the tail can hold a block.
    fn trim(&mut self, u: u32, size_u: u32) {
        let size = self.hdr(u).size_u;
        if size < size_u + 2 {
            return;
        }
        let rest = u + 1 + size_u;
        *self.hdr(rest) = BlockHeader { size_u: size - size_u - 1, prev_u: u, tag: MAGIC, req: 0 };
        self.hdr(u).size_u = size_u;
        let next = self.next_phys(rest);
        self.hdr(next).prev_u = rest;
        self.release(rest);
    }

    /// The owner slot of `name` (made on its first allocation; names past
    /// the last slot share it).
    pub(crate) fn owner_id(&mut self, name: &str) -> u8 {
        let n = (self.ctl.owner_count as usize).min(MAX_OWNERS);
        if let Some(i) = (1..n).find(|&i| self.ctl.owners[i].name() == name) {
            return i as u8;
        }
        if n == MAX_OWNERS {
            return (MAX_OWNERS - 1) as u8;
        }
        let o = &mut self.ctl.owners[n];
        let b = name.as_bytes();
        let len = b.len().min(OWNER_NAME);
        o.name[..len].copy_from_slice(&b[..len]);
        o.name_len = len as u8;
        self.ctl.owner_count += 1;
        n as u8
    }

    /// Every owner that ever allocated: (slot, usage).
    pub(crate) fn owners(&self) -> &[OwnerUsage] {
        &self.ctl.owners[1..(self.ctl.owner_count as usize).clamp(1, MAX_OWNERS)]
    }

    /// Allocates a block of at least `size_u` units for `owner`; returns
    /// its offset.
    #[inline]
    pub(crate) fn alloc(&mut self, size_u: u32, requested: u32, owner: u8) -> Option<u32> {
        let u = match self.quick_pop(size_u) {
            Some(u) => {
                let h = self.hdr(u);
                h.tag &= !QUICK;
                h.req = requested;
                self.account_alloc(u);
                u
            }
            None => self.alloc_tlsf(size_u, requested)?,
        };
        let owner = u32::from(owner).min(MAX_OWNERS as u32 - 1);
        let h = self.hdr(u);
        h.tag = (h.tag & !OWNER_MASK) | (owner << OWNER_SHIFT);
        let o = &mut self.ctl.owners[owner as usize];
        o.bytes += u64::from(requested);
        o.blocks += 1;
        Some(u)
    }

    /// Takes used block `u` off its owner's figures.
    fn disown(&mut self, u: u32) {
        let h = self.hdr(u);
        let (owner, req) = (((h.tag & OWNER_MASK) >> OWNER_SHIFT) as usize, u64::from(h.req));
        h.tag &= !OWNER_MASK;
        let o = &mut self.ctl.owners[owner];
        o.bytes = o.bytes.saturating_sub(req);
        o.blocks = o.blocks.saturating_sub(1);
    }

    #[inline]
    fn quick_pop(&mut self, size_u: u32) -> Option<u32> {
        let u = *self.ctl.quick_heads.get(size_u as usize)?;
        if u == 0 {
            return None;
        }
        self.ctl.quick_heads[size_u as usize] = self.links(u).next_u;
        self.ctl.quick_bytes -= size_u as u64 * UNIT as u64;
        self.ctl.quick_blocks -= 1;
        Some(u)
    }

    /// Parks used block `u` on its quick list if it is small and there is
    /// room; returns whether it did.
    #[inline]
    fn quick_push(&mut self, u: u32) -> bool {
        let size = self.hdr(u).size_u;
        let bytes = size as u64 * UNIT as u64;
        if size as usize > QUICK_MAX_UNITS || self.ctl.quick_bytes + bytes > self.ctl.quick_limit {
            return false;
        }
        let head = self.ctl.quick_heads[size as usize];
        self.links(u).next_u = head;
        self.hdr(u).tag |= QUICK;
        self.ctl.quick_heads[size as usize] = u;
        self.ctl.quick_bytes += bytes;
        self.ctl.quick_blocks += 1;
        true
    }

    /// Returns every quick block to TLSF, merging neighbours.
    pub(crate) fn flush_quick(&mut self) {
        for size in 1..=QUICK_MAX_UNITS {
            while let Some(u) = self.quick_pop(size as u32) {
                self.hdr(u).tag &= !QUICK;
                self.release(u);
            }
        }
    }

    fn alloc_tlsf(&mut self, size_u: u32, requested: u32) -> Option<u32> {
        let u = match self.find_fit(size_u) {
            Some(u) => u,
            None if self.ctl.quick_blocks > 0 => {
                self.flush_quick();
                return self.alloc_tlsf(size_u, requested);
            }
            None => {
                self.ctl.failed_allocs += 1;
                return None;
            }
        };
        self.remove_free(u);
        let h = self.hdr(u);
        h.tag &= !FREE;
        h.req = requested;
        let next = self.next_phys(u);
        self.hdr(next).tag &= !PREV_FREE;
        self.trim(u, size_u);
        self.account_alloc(u);
        Some(u)
    }

    fn account_alloc(&mut self, u: u32) {
        self.ctl.used_bytes += self.hdr(u).size_u as u64 * UNIT as u64;
        self.ctl.live_blocks += 1;
        let real = self.real_used();
        if real > self.ctl.max_real_used {
            self.ctl.max_real_used = real;
        }
    }

    /// Bytes not available for allocation: everything but free payload
    /// (parked quick blocks count as free: any request can have them).
    pub(crate) fn real_used(&self) -> u64 {
        self.total_bytes() - self.ctl.free_bytes - self.ctl.quick_bytes
    }

    /// Bytes of the whole mapping this heap manages (control included).
    pub(crate) fn total_bytes(&self) -> u64 {
        (self.ctl.sentinel_u as u64 + 1) * UNIT as u64
    }

    /// Marks used block `u` free and merges it with free neighbours.
    fn release(&mut self, mut u: u32) {
        self.hdr(u).tag |= FREE;
        if self.hdr(u).tag & PREV_FREE != 0 {
            let prev = self.hdr(u).prev_u;
            self.remove_free(prev);
            let absorbed = self.hdr(u).size_u;
            self.hdr(u).tag = 0;
            self.hdr(prev).size_u += 1 + absorbed;
            u = prev;
        }
        let next = self.next_phys(u);
        if self.hdr(next).tag & FREE != 0 {
            self.remove_free(next);
            let absorbed = self.hdr(next).size_u;
            self.hdr(next).tag = 0;
            self.hdr(u).size_u += 1 + absorbed;
        }
        let next = self.next_phys(u);
        let nh = self.hdr(next);
        nh.prev_u = u;
        nh.tag |= PREV_FREE;
        self.insert_free(u);
    }

    /// Frees used block `u`.
    #[inline]
    pub(crate) fn free(&mut self, u: u32) {
        self.disown(u);
        self.ctl.used_bytes -= self.hdr(u).size_u as u64 * UNIT as u64;
        self.ctl.live_blocks -= 1;
        if !self.quick_push(u) {
            self.release(u);
        }
    }

    /// Resizes used block `u` in place if possible. Returns false when the
    /// caller must move it (allocate, copy, free).
    pub(crate) fn resize_in_place(&mut self, u: u32, size_u: u32, requested: u32) -> bool {
        let old = self.hdr(u).size_u;
        if size_u > old {
            let next = self.next_phys(u);
            let nh = self.hdr(next);
            if nh.tag & FREE == 0 || (old as u64 + 1 + nh.size_u as u64) < (size_u as u64) {
                return false;
            }
            self.remove_free(next);
            let absorbed = self.hdr(next).size_u;
            self.hdr(next).tag = 0;
            self.hdr(u).size_u = old + 1 + absorbed;
            let after = self.next_phys(u);
            let ah = self.hdr(after);
            ah.prev_u = u;
            ah.tag &= !PREV_FREE;
        }
        self.trim(u, size_u);
        let (owner, old_req) = (((self.hdr(u).tag & OWNER_MASK) >> OWNER_SHIFT) as usize, self.hdr(u).req);
        let o = &mut self.ctl.owners[owner];
        o.bytes = (o.bytes + u64::from(requested)).saturating_sub(u64::from(old_req));
        self.hdr(u).req = requested;
        let new = self.hdr(u).size_u;
        self.ctl.used_bytes = self.ctl.used_bytes - old as u64 * UNIT as u64 + new as u64 * UNIT as u64;
        let real = self.real_used();
        if real > self.ctl.max_real_used {
            self.ctl.max_real_used = real;
        }
        true
    }

    /// Validates a block offset derived from a user pointer: in range, a
    /// real header, in use.
    pub(crate) fn check_used(&self, u: u32) -> Result<(), &'static str> {
        if u < self.ctl.first_u || u >= self.ctl.sentinel_u {
            return Err("pointer outside the shm pool");
        }
        let h = self.hdr(u);
        if h.tag & MAGIC_MASK != MAGIC {
            return Err("pointer is not the start of a shm block (bad magic)");
        }
        if h.tag & (FREE | QUICK) != 0 {
            return Err("block is already free (double free)");
        }
        if u + 1 + h.size_u > self.ctl.sentinel_u {
            return Err("block header corrupt (size past the pool end)");
        }
        Ok(())
    }

    /// Payload size in bytes of used block `u`.
    pub(crate) fn payload_bytes(&self, u: u32) -> usize {
        self.hdr(u).size_u as usize * UNIT
    }

    /// Walks every block and every free list and checks that they agree.
    pub(crate) fn check(&self) -> Result<CheckSummary, Corruption> {
        let bad = |u: u32, what| Err(Corruption { offset: u as usize * UNIT, what });
        let mut free_seen = HashSet::new();
        let (mut used_bytes, mut free_bytes, mut used_blocks) = (0u64, 0u64, 0u64);
        let mut quick_seen = HashSet::new();
        let mut u = self.ctl.first_u;
        let mut prev: Option<(u32, bool)> = None;
        while u != self.ctl.sentinel_u {
            if u > self.ctl.sentinel_u {
                return bad(u, "block runs past the sentinel");
            }
            let h = self.hdr(u);
            if h.tag & MAGIC_MASK != MAGIC {
                return bad(u, "bad magic in block header");
            }
            let is_free = h.tag & FREE != 0;
            match prev {
                Some((p, p_free)) => {
                    if h.prev_u != p {
                        return bad(u, "previous-block offset does not match the walk");
                    }
                    if (h.tag & PREV_FREE != 0) != p_free {
                        return bad(u, "PREV_FREE flag disagrees with the previous block");
                    }
                    if p_free && is_free {
                        return bad(u, "two adjacent free blocks (missed coalescing)");
                    }
                }
                None if h.tag & PREV_FREE != 0 => return bad(u, "first block claims a free predecessor"),
                None => {}
            }
            if h.size_u == 0 {
                return bad(u, "zero-sized block");
            }
            if is_free && h.tag & QUICK != 0 {
                return bad(u, "block both free and parked on a quick list");
            }
            if is_free {
                free_seen.insert(u);
                free_bytes += h.size_u as u64 * UNIT as u64;
            } else if h.tag & QUICK != 0 {
                quick_seen.insert(u);
            } else {
                used_bytes += h.size_u as u64 * UNIT as u64;
                used_blocks += 1;
            }
            prev = Some((u, is_free));
            u = u.checked_add(1 + h.size_u).ok_or(Corruption { offset: u as usize * UNIT, what: "size overflows" })?;
        }
        let s = self.hdr(u);
        if s.tag & MAGIC_MASK != MAGIC || s.size_u != 0 || s.tag & FREE != 0 {
            return bad(u, "sentinel block damaged");
        }
        if let Some((p, p_free)) = prev {
            if s.prev_u != p || (s.tag & PREV_FREE != 0) != p_free {
                return bad(u, "sentinel's predecessor link is wrong");
            }
        }
        // Free lists: every listed block is a free block of the right class,
        // links are symmetric, bitmaps match, nothing is listed twice.
        let mut listed = 0usize;
        for fl in 0..FL_COUNT {
            for sl in 0..SL_COUNT {
                let head = self.ctl.heads[fl][sl];
                let bit = self.ctl.sl_bitmap[fl] & (1 << sl) != 0;
                if (head != 0) != bit {
                    return bad(head, "second-level bitmap disagrees with its list");
                }
                let mut prev_u = 0;
                let mut cur = head;
                while cur != 0 {
                    if !free_seen.contains(&cur) {
                        return bad(cur, "free list holds a block that is not free");
                    }
                    if mapping(self.hdr(cur).size_u) != (fl, sl) {
                        return bad(cur, "free block in the wrong size class");
                    }
                    let l = self.links(cur);
                    if l.prev_u != prev_u {
                        return bad(cur, "free list back-link broken");
                    }
                    listed += 1;
                    if listed > free_seen.len() {
                        return bad(cur, "free list loops");
                    }
                    prev_u = cur;
                    cur = l.next_u;
                }
            }
            if (self.ctl.sl_bitmap[fl] != 0) != (self.ctl.fl_bitmap & (1 << fl) != 0) {
                return bad(0, "first-level bitmap disagrees with second level");
            }
        }
        let mut quick_listed = 0usize;
        let mut quick_bytes = 0u64;
        for size in 1..=QUICK_MAX_UNITS {
            let mut cur = self.ctl.quick_heads[size];
            while cur != 0 {
                if !quick_seen.contains(&cur) {
                    return bad(cur, "quick list holds a block not marked quick");
                }
                if self.hdr(cur).size_u as usize != size {
                    return bad(cur, "quick block on the list of another size");
                }
                quick_listed += 1;
                quick_bytes += size as u64 * UNIT as u64;
                if quick_listed > quick_seen.len() {
                    return bad(cur, "quick list loops");
                }
                cur = self.links(cur).next_u;
            }
        }
        if quick_listed != quick_seen.len() || quick_listed as u64 != self.ctl.quick_blocks {
            return bad(0, "a quick block is missing from the quick lists");
        }
        if quick_bytes != self.ctl.quick_bytes {
            return bad(0, "quick byte counter disagrees with the lists");
        }
        if listed != free_seen.len() {
            return bad(0, "a free block is missing from the free lists");
        }
        if free_bytes != self.ctl.free_bytes || used_bytes != self.ctl.used_bytes {
            return bad(0, "byte counters disagree with the blocks");
        }
        if used_blocks != self.ctl.live_blocks || listed as u64 != self.ctl.free_frags {
            return bad(0, "block counters disagree with the blocks");
        }
        Ok(CheckSummary { used_blocks, free_blocks: listed as u64, quick_blocks: quick_listed as u64 })
    }

    /// Every used block, in address order.
    pub(crate) fn used_blocks(&self) -> Vec<UsedBlock> {
        let mut out = Vec::new();
        let mut u = self.ctl.first_u;
        while u < self.ctl.sentinel_u {
            let h = self.hdr(u);
            if h.tag & MAGIC_MASK != MAGIC || h.size_u == 0 {
                break;
            }
            if h.tag & (FREE | QUICK) == 0 {
                out.push(UsedBlock {
                    payload_off: (u as usize + 1) * UNIT,
                    size: h.size_u as usize * UNIT,
                    requested: h.req,
                });
            }
            u += 1 + h.size_u;
        }
        out
    }
}

/// Counts from a successful integrity check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckSummary {
    /// Blocks in use.
    pub used_blocks: u64,
    /// Free blocks (fragments).
    pub free_blocks: u64,
    /// Small blocks parked on quick lists.
    pub quick_blocks: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Smallest size (units) that maps to a class.
    fn class_start(fl: usize, sl: usize) -> u64 {
        if fl == 0 {
            sl as u64
        } else {
            ((SL_COUNT + sl) as u64) << (fl - 1)
        }
    }

    #[test]
    fn classes_are_monotonic_and_search_rounds_up() {
        let mut last = (0, 0);
        let sizes = (1..5000u32).chain((5000..u32::MAX - 4096).step_by(7_919_999));
        for s in sizes {
            let c = mapping(s);
            assert!(c >= last, "class of {s} went down");
            last = c;
            assert!(class_start(c.0, c.1) <= s as u64, "{s} below its class");
            if let Some((fl, sl)) = mapping_search(s) {
                // Every block in the searched class is big enough.
                assert!(class_start(fl, sl) >= s as u64, "class for {s} starts lower");
            }
        }
        assert!(mapping(u32::MAX - 1).0 < FL_COUNT);
        assert!(mapping_search(u32::MAX - 1).is_none());
    }

    #[test]
    fn units_round_up() {
        assert_eq!(units_for(0), Some(1));
        assert_eq!(units_for(1), Some(1));
        assert_eq!(units_for(16), Some(1));
        assert_eq!(units_for(17), Some(2));
        assert_eq!(units_for(usize::MAX), None);
    }
}
