//! The shm hash table: map semantics, a full pool, and several forked
//! processes inserting and removing in the same table.

use sipr_locking::process::{fork_child, wait_pid, ExitStatus};
use sipr_mem::{shm_struct, ShmHashTable, ShmPool, TableFull};

shm_struct! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    struct Aor { user: [u8; 16], len: u8 }
}

fn aor(s: &str) -> Aor {
    let mut user = [0u8; 16];
    user[..s.len()].copy_from_slice(s.as_bytes());
    Aor { user, len: s.len() as u8 }
}

fn map_semantics() {
    let pool = ShmPool::create_mb(4).unwrap();
    let t: ShmHashTable<'_, Aor, u64> = ShmHashTable::new_in(&pool, 100, 16, "location").unwrap();
    assert!(t.is_empty());
    assert_eq!(t.insert(aor("alice"), 1), Ok(None));
    assert_eq!(t.insert(aor("bob"), 2), Ok(None));
    assert_eq!(t.insert(aor("alice"), 3), Ok(Some(1)), "replace returns the old value");
    assert_eq!(t.len(), 2);
    assert_eq!(t.with(&aor("alice"), |v| *v), Some(3));
    assert_eq!(
        t.with(&aor("bob"), |v| {
            *v += 40;
            *v
        }),
        Some(42)
    );
    assert_eq!(t.with(&aor("carol"), |v| *v), None);
    let mut seen = Vec::new();
    t.for_each(|k, v| seen.push((k.len, *v)));
    seen.sort();
    assert_eq!(seen, [(3, 42), (5, 3)]);
    assert_eq!(t.remove(&aor("alice")), Some(3));
    assert_eq!(t.remove(&aor("alice")), None);
    assert_eq!(t.len(), 1);
    pool.integrity_check().unwrap();
}

fn full_pool_is_an_error_not_a_crash() {
    let pool = ShmPool::create(256 * 1024).unwrap();
    let t: ShmHashTable<'_, u64, [u8; 200]> = ShmHashTable::new_in(&pool, 64, 8, "big").unwrap();
    let mut inserted = 0u64;
    loop {
        match t.insert(inserted, [7; 200]) {
            Ok(None) => inserted += 1,
            Ok(Some(_)) => unreachable!("keys are distinct"),
            Err(TableFull) => break,
        }
    }
    assert!(inserted > 500, "{inserted}");
    assert_eq!(t.len() as u64, inserted);
    for k in 0..inserted {
        assert_eq!(t.remove(&k), Some([7; 200]));
    }
    assert!(t.is_empty());
    pool.integrity_check().unwrap();
}

fn forked_processes_share_one_table() {
    let pool = ShmPool::create_mb(16).unwrap();
    let t: ShmHashTable<'_, u64, u64> = ShmHashTable::new_in(&pool, 1024, 64, "shared").unwrap();
    const PER_CHILD: u64 = 20_000;
    let pids: Vec<i32> = (0..4u64)
        .map(|c| {
            let t = &t;
            // SAFETY: forked from the test's only thread; the child uses the
            // pool, the table and its own stack, then _exits.
            unsafe {
                fork_child(move || {
                    // Each child owns a key range: insert all, bump all, remove odd.
                    let keys = c * PER_CHILD..(c + 1) * PER_CHILD;
                    for k in keys.clone() {
                        if t.insert(k, k).is_err() {
                            return 2;
                        }
                    }
                    for k in keys.clone() {
                        if t.with(&k, |v| *v += 1) != Some(()) {
                            return 3;
                        }
                    }
                    for k in keys.filter(|k| k % 2 == 1) {
                        if t.remove(&k) != Some(k + 1) {
                            return 4;
                        }
                    }
                    0
                })
            }
            .unwrap()
        })
        .collect();
    for p in pids {
        assert_eq!(wait_pid(p).unwrap(), ExitStatus::Exited(0));
    }
    assert_eq!(t.len() as u64, 4 * PER_CHILD / 2);
    let mut sum = 0u64;
    t.for_each(|k, v| {
        assert_eq!(*v, k + 1);
        assert_eq!(k % 2, 0);
        sum += 1;
    });
    assert_eq!(sum, 4 * PER_CHILD / 2);
    pool.integrity_check().unwrap();
}

// forks: run on the process's only thread (harness = false)
sipr_locking::single_threaded_tests!(
    map_semantics,
    full_pool_is_an_error_not_a_crash,
    forked_processes_share_one_table,
);
