//! Reopening rebuilds the index from the log. Large stores are rebuilt in an order grouped
//! by table region rather than in file order (`Index::apply_grouped`); these tests check
//! that the result is exactly what applying the log in file order gives, with overwrites,
//! deletes, re-puts after deletes and hash collisions, at sizes where the grouping is used.
//! Large batches (`Store::write`) update the index the same way.

mod common;

use std::collections::BTreeMap;

use common::*;
use simd_r_drive::StoreOptions;

/// Many distinct keys share each hash value: 4096 hash values in all.
fn few_hashes(key: &[u8]) -> u64 {
    let h = xxhash_rust::xxh3::xxh3_64(key);
    (h & 0xfff).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Default options, with `hasher` as the index's key hash if given.
fn options(hasher: Option<simd_r_drive::KeyHasher>) -> StoreOptions {
    match hasher {
        Some(h) => StoreOptions::new().key_hasher(h),
        None => StoreOptions::new(),
    }
}

fn churn(hasher: Option<simd_r_drive::KeyHasher>, keys: u64, rounds: u64) {
    let d = Dir::new();
    let p = d.path("s.srd");
    let opts = || options(hasher);
    let s = opts().open(&p).unwrap();
    let mut model = BTreeMap::new();
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..rounds {
        let mut ops_owned = Vec::new();
        for _ in 0..1000 {
            let k = format!("key-{}", next() % keys).into_bytes();
            let r = next();
            if r % 5 == 0 {
                ops_owned.push((k, None));
            } else {
                ops_owned.push((k, Some(bytes(r, (r % 40) as usize))));
            }
        }
        let ops = as_ops(&ops_owned);
        s.write(&ops).unwrap();
        for (k, v) in ops_owned {
            match v {
                Some(v) => model.insert(k, v),
                None => model.remove(&k),
            };
        }
        if round % 7 == 3 {
            s.flush().unwrap(); // sync marks in the log too
        }
    }
    let before = s.stats();
    drop(s);
    let s = opts().open(&p).unwrap();
    let want: Vec<_> = model.into_iter().collect();
    assert_eq!(dump(&s), want);
    for (k, v) in &want {
        assert_eq!(s.get(k).unwrap().as_deref(), Some(&v[..]));
    }
    let after = s.stats();
    assert_eq!(after.entries, before.entries);
    assert_eq!(after.live_bytes, before.live_bytes);
    // The open recorded its sync of the unflushed end in a 24-byte sync mark.
    let marked = after.file_bytes - before.file_bytes;
    assert!(marked == 0 || marked == 24, "{marked}");
    assert_eq!(after.reclaimable_bytes, before.reclaimable_bytes + marked);
}

#[test]
fn a_large_churned_store_reopens_to_exactly_its_model() {
    churn(None, 60_000, 120);
}

#[test]
fn a_large_store_with_colliding_hashes_reopens_to_exactly_its_model() {
    churn(Some(few_hashes), 30_000, 60);
}

/// A batch large enough to be applied grouped by table region reports, for every
/// operation, whether its key existed just before it, exactly as batch order says, and the
/// store then reads as the model does (before and after a reopen).
#[test]
fn a_large_batch_reports_what_existed_in_batch_order() {
    for hasher in [None, Some(few_hashes as simd_r_drive::KeyHasher)] {
        let d = Dir::new();
        let p = d.path("s.srd");
        let opts = || options(hasher);
        let s = opts().open(&p).unwrap();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        // Some keys exist before the batch.
        for i in 0..3000u64 {
            let k = format!("key-{i}").into_bytes();
            s.put(&k, b"old").unwrap();
            model.insert(k, b"old".to_vec());
        }
        let mut owned = Vec::new();
        for i in 0..20_000u64 {
            let k = format!("key-{}", (i * 7919) % 6000).into_bytes();
            owned.push((k, (i % 3 != 0).then(|| bytes(i, (i % 17) as usize))));
        }
        let ops = as_ops(&owned);
        let commit = s.write(&ops).unwrap();
        let mut want_existed = Vec::new();
        for (k, v) in &owned {
            want_existed.push(model.contains_key(k));
            match v {
                Some(v) => model.insert(k.clone(), v.clone()),
                None => model.remove(k),
            };
        }
        assert_eq!(commit.existed, want_existed);
        let want: Vec<_> = model.into_iter().collect();
        assert_eq!(dump(&s), want);
        let live = s.stats().live_bytes;
        drop(s);
        let s = opts().open(&p).unwrap();
        assert_eq!(dump(&s), want);
        assert_eq!(s.stats().live_bytes, live);
    }
}
