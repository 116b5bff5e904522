//! Single-process behaviour of the shm pool: sizes, alignment, contents,
//! statistics, exhaustion, bad frees, typed handles.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use sipr_mem::{shm_struct, MemError, ShmBox, ShmPool, ShmPtr, ShmSlice, ShmStats, ShmStr, ALIGN};

/// Compares usage; `a` is taken after `pool.defragment()` where blocks were
/// freed (small freed blocks are parked on quick lists until then).
fn same_usage(a: &ShmStats, b: &ShmStats) -> bool {
    (a.total, a.free, a.used, a.real_used, a.fragments, a.used_blocks)
        == (b.total, b.free, b.used, b.real_used, b.fragments, b.used_blocks)
}

#[test]
fn creation_refuses_zero_tiny_and_absurd_sizes() {
    assert!(matches!(ShmPool::create(0), Err(MemError::ZeroSize)));
    assert!(matches!(ShmPool::create_mb(0), Err(MemError::ZeroSize)));
    assert!(matches!(ShmPool::create(1000), Err(MemError::TooSmall { .. })));
    let e = ShmPool::create_mb(1 << 40).unwrap_err();
    assert!(matches!(e, MemError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("exceeds the maximum"), "{e}");
    assert!(matches!(ShmPool::create_mb(usize::MAX), Err(MemError::TooLarge { .. })));
}

#[test]
fn fresh_pool_statistics_add_up() {
    let pool = ShmPool::create_mb(4).unwrap();
    let s = pool.stats();
    assert_eq!(s.total, 4 << 20);
    assert_eq!(s.used, 0);
    assert_eq!(s.fragments, 1);
    assert_eq!(s.free + s.real_used, s.total);
    assert!(s.real_used < 16 * 1024, "overhead {}", s.real_used);
    assert_eq!(s.max_used, s.real_used);
    pool.integrity_check().unwrap();
}

#[test]
fn blocks_are_aligned_distinct_and_keep_contents() {
    let pool = ShmPool::create_mb(8).unwrap();
    let start = pool.stats();
    let mut blocks = Vec::new();
    for (i, size) in [1usize, 7, 16, 17, 100, 511, 512, 513, 4096, 65536, 100_000].iter().enumerate() {
        let p = pool.alloc(*size).unwrap();
        assert_eq!(p.as_ptr() as usize % ALIGN, 0);
        assert!(pool.contains(p.as_ptr()));
        assert!(pool.usable_size(p).unwrap() >= *size);
        // SAFETY: fresh block of `size` bytes.
        unsafe { p.as_ptr().write_bytes(i as u8, *size) };
        blocks.push((p, *size, i as u8));
    }
    let mid = pool.stats();
    assert_eq!(mid.used_blocks, blocks.len() as u64);
    assert!(mid.used >= blocks.iter().map(|b| b.1 as u64).sum::<u64>());
    assert_eq!(mid.free + mid.real_used, mid.total);
    pool.integrity_check().unwrap();
    for (p, size, pat) in blocks {
        // SAFETY: live block of `size` bytes written above.
        let s = unsafe { std::slice::from_raw_parts(p.as_ptr(), size) };
        assert!(s.iter().all(|&b| b == pat), "block {pat} overwritten");
        // SAFETY: from this pool, not used afterwards.
        unsafe { pool.free(p) };
    }
    assert_eq!(pool.stats().used, 0);
    pool.integrity_check().unwrap();
    pool.defragment();
    assert!(same_usage(&pool.stats(), &start));
    pool.integrity_check().unwrap();
}

#[test]
fn alloc_zeroed_is_zero_even_over_dirty_memory() {
    let pool = ShmPool::create_mb(1).unwrap();
    let p = pool.alloc(4096).unwrap();
    // SAFETY: fresh block of 4096 bytes.
    unsafe { p.as_ptr().write_bytes(0xAB, 4096) };
    // SAFETY: from this pool, not used afterwards.
    unsafe { pool.free(p) };
    let z = pool.alloc_zeroed(4096).unwrap();
    // SAFETY: live block of 4096 bytes.
    let s = unsafe { std::slice::from_raw_parts(z.as_ptr(), 4096) };
    assert!(s.iter().all(|&b| b == 0));
}

#[test]
fn realloc_grows_shrinks_and_moves_keeping_contents() {
    let pool = ShmPool::create_mb(4).unwrap();
    let start = pool.stats();
    let p = pool.alloc(100).unwrap();
    // SAFETY: 100 fresh bytes.
    unsafe { p.as_ptr().write_bytes(0x5A, 100) };
    // Grow in place into the free space behind it.
    // SAFETY: from this pool; we use only the returned pointer afterwards.
    let q = unsafe { pool.realloc(p, 5000) }.unwrap();
    assert_eq!(q, p, "the block after it was free: grow in place");
    // Block the neighbour, then grow: it must move.
    let wall = pool.alloc(16).unwrap();
    // SAFETY: as above.
    let r = unsafe { pool.realloc(q, 20_000) }.unwrap();
    // SAFETY: live block of ≥ 100 bytes.
    let s = unsafe { std::slice::from_raw_parts(r.as_ptr(), 100) };
    assert!(s.iter().all(|&b| b == 0x5A));
    // Shrink in place.
    // SAFETY: as above.
    let t = unsafe { pool.realloc(r, 32) }.unwrap();
    assert_eq!(t, r);
    // SAFETY: 32 live bytes.
    assert!(unsafe { std::slice::from_raw_parts(t.as_ptr(), 32) }.iter().all(|&b| b == 0x5A));
    pool.integrity_check().unwrap();
    // Too large: None, and the old block is intact.
    // SAFETY: as above; on None we still own `t`.
    assert!(unsafe { pool.realloc(t, 1 << 30) }.is_none());
    // SAFETY: still 32 live bytes.
    assert!(unsafe { std::slice::from_raw_parts(t.as_ptr(), 32) }.iter().all(|&b| b == 0x5A));
    // SAFETY: from this pool, not used afterwards.
    unsafe {
        pool.free(t);
        pool.free(wall);
    }
    pool.defragment();
    assert!(same_usage(&pool.stats(), &start));
    pool.integrity_check().unwrap();
}

#[test]
fn exhaustion_returns_none_and_everything_comes_back() {
    let pool = ShmPool::create_mb(2).unwrap();
    let start = pool.stats();
    let mut blocks = Vec::new();
    let mut size = 24usize;
    // Mixed sizes until one fails, then fill the crumbs with 1-byte blocks.
    while let Some(p) = pool.alloc(size) {
        blocks.push(p);
        size = (size * 7 + 13) % 3000 + 1;
    }
    while let Some(p) = pool.alloc(1) {
        blocks.push(p);
    }
    let full = pool.stats();
    assert!(full.free < 64, "free {} left while alloc(1) fails", full.free);
    assert!(full.failed_allocs >= 2);
    assert!(pool.alloc(1 << 40).is_none());
    assert!(pool.alloc(usize::MAX).is_none());
    pool.integrity_check().unwrap();
    // Free in an order that exercises both-side merges.
    let (even, odd): (Vec<_>, Vec<_>) = blocks.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    for (_, p) in even.into_iter().chain(odd) {
        // SAFETY: from this pool, freed once.
        unsafe { pool.free(*p) };
    }
    assert_eq!(pool.stats().used, 0);
    pool.integrity_check().unwrap();
    // The space is whole again: quick blocks are flushed by the allocator
    // itself when a large request needs the room. (TLSF's good fit rounds a
    // request up by at most 1/32, so ask for 15/16 of the whole.)
    let big = pool.alloc((start.free - start.free / 16) as usize).expect("all memory back");
    // SAFETY: from this pool, freed once.
    unsafe { pool.free(big) };
    pool.defragment();
    let end = pool.stats();
    assert!(same_usage(&end, &start), "{end:?} vs {start:?}");
    assert_eq!(end.fragments, 1);
    pool.integrity_check().unwrap();
}

#[test]
fn double_and_foreign_frees_are_refused_without_damage() {
    let pool = ShmPool::create_mb(1).unwrap();
    let a = pool.alloc(64).unwrap();
    let b = pool.alloc(64).unwrap();
    // SAFETY: from this pool.
    unsafe { pool.free(a) };
    let before = pool.stats();
    // SAFETY: the contract is deliberately broken here (double free, a
    // pointer into the middle of a block, one from the process heap): the
    // pool validates every pointer and must refuse all of them.
    unsafe {
        pool.free(a);
        pool.free(NonNull::new_unchecked(b.as_ptr().add(16)));
        let mut heap = Box::new([0u8; 64]);
        pool.free(NonNull::new_unchecked(heap.as_mut_ptr()));
        assert!(pool.realloc(a, 10).is_none());
    }
    assert!(same_usage(&pool.stats(), &before));
    pool.integrity_check().unwrap();
    // SAFETY: from this pool, freed once.
    unsafe { pool.free(b) };
}

shm_struct! {
    struct Node {
        hits: AtomicU32,
        next: ShmPtr<Node>,
        key: [u8; 8],
    }
}

#[test]
fn typed_handles_round_trip_and_free() {
    let pool = ShmPool::create_mb(1).unwrap();
    let start = pool.stats();
    {
        let tail = ShmBox::new_in(&pool, Node { hits: AtomicU32::new(1), next: ShmPtr::null(), key: *b"tail\0\0\0\0" })
            .unwrap();
        let tail_ptr = tail.into_raw();
        let head =
            ShmBox::new_in(&pool, Node { hits: AtomicU32::new(2), next: tail_ptr, key: *b"head\0\0\0\0" }).unwrap();
        head.hits.fetch_add(1, Ordering::Relaxed);
        // SAFETY: tail is allocated and owned by nobody else.
        let t = unsafe { head.next.as_ref() }.unwrap();
        assert_eq!(&t.key[..4], b"tail");
        // SAFETY: the pointer came from into_raw and is used only here.
        drop(unsafe { ShmBox::from_raw(&pool, tail_ptr) });
        assert_eq!(head.hits.load(Ordering::Relaxed), 3);

        let s = ShmStr::copy_from(&pool, "sip:alice@example.com").unwrap();
        assert_eq!(&*s, "sip:alice@example.com");
        let mut sl = ShmSlice::copy_from(&pool, &[1u32, 2, 3]).unwrap();
        sl[1] = 20;
        assert_eq!(&*sl, &[1, 20, 3]);
        let raw = sl.into_raw();
        // SAFETY: still allocated, not mutated meanwhile.
        assert_eq!(unsafe { raw.as_slice() }, &[1, 20, 3]);
        // SAFETY: from into_raw of this pool, used once.
        drop(unsafe { ShmSlice::from_raw(&pool, raw) });
    }
    pool.defragment();
    assert!(same_usage(&pool.stats(), &start));
}

#[test]
fn lock_sets_come_from_the_pool() {
    let pool = ShmPool::create_mb(1).unwrap();
    let set = pool.alloc_lock_set(64, "htable").unwrap();
    assert_eq!(set.len(), 64);
    assert_eq!(set.name(), "htable");
    let g = set.lock(12345).unwrap();
    assert_eq!(set.get(set.index_of(12345)).holder(), Some(std::process::id() as i32));
    drop(g);
    assert!(pool.contains(set.get(0) as *const _ as *const u8));
}

#[test]
fn live_blocks_and_leak_report_list_what_is_held() {
    let pool = ShmPool::create_mb(1).unwrap();
    let a = pool.alloc(100).unwrap();
    let b = pool.alloc(300).unwrap();
    let live = pool.live_blocks();
    assert_eq!(live.len(), 2);
    assert_eq!(live.iter().map(|l| l.requested).sum::<usize>(), 400);
    assert!(live.iter().any(|l| l.addr == a.as_ptr() as usize));
    let report = pool.leak_report();
    assert_eq!(report.iter().map(|r| r.blocks).sum::<usize>(), 2);
    #[cfg(feature = "debug")]
    {
        let site = live[0].site.as_ref().expect("debug feature records sites");
        assert!(site.file.ends_with("tests/pool.rs"), "{site:?}");
        assert_eq!(site.module(), "mem");
        assert!(report[0].site.contains("tests/pool.rs:"), "{report:?}");
    }
    // SAFETY: from this pool, freed once.
    unsafe {
        pool.free(a);
        pool.free(b);
    }
    assert!(pool.live_blocks().is_empty());
}

#[test]
fn usage_is_counted_per_owner() {
    let pool = ShmPool::create_mb(4).unwrap();
    let core = |pool: &ShmPool| pool.usage_by_owner().into_iter().find(|(n, _, _)| n == "core").map(|(_, b, k)| (b, k));
    let before = core(&pool).unwrap_or((0, 0));
    let a = pool.alloc(100).unwrap();
    let b = pool.alloc(3000).unwrap();
    assert_eq!(core(&pool), Some((before.0 + 3100, before.1 + 2)));
    // SAFETY: `b` is a live block of this pool, not used after this.
    let b = unsafe { pool.realloc(b, 5000) }.unwrap();
    assert_eq!(core(&pool), Some((before.0 + 5100, before.1 + 2)));
    // SAFETY: live blocks of this pool, not used after this.
    unsafe {
        pool.free(a);
        pool.free(b);
    }
    assert_eq!(core(&pool), Some(before));
}
