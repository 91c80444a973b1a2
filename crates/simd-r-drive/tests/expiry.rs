//! Native expiry: entries that carry an expiry time read as missing from then on, by every
//! read path, in this process and in read-only followers, and compaction drops them.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use simd_r_drive::{Condition, Op, Store, StoreOptions};

/// A clock the test moves, and options that read it.
fn clocked(start: u64) -> (Arc<AtomicU64>, StoreOptions) {
    let now = Arc::new(AtomicU64::new(start));
    let c = now.clone();
    let opts = StoreOptions::new().clock(Arc::new(move || c.load(Ordering::SeqCst)));
    (now, opts)
}

fn keys(s: &Store) -> Vec<Vec<u8>> {
    let mut k: Vec<Vec<u8>> = s.iter().unwrap().map(|(k, _)| k.to_vec()).collect();
    k.sort();
    k
}

#[test]
fn an_expired_entry_is_missing_for_every_read() {
    let d = Dir::new();
    let (now, opts) = clocked(1_000);
    let s = opts.open(d.path("s.srd")).unwrap();
    s.put_expiring(b"a", b"1", 2_000).unwrap();
    s.write(&[
        Op::PutExpiring {
            key: b"b",
            value: b"2",
            expires_at: 3_000,
        },
        Op::Put {
            key: b"c",
            value: b"3",
        },
    ])
    .unwrap();
    assert_eq!(s.expires_at(b"a").unwrap(), Some(2_000));
    assert_eq!(s.expires_at(b"c").unwrap(), None);
    assert_eq!(keys(&s), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);

    now.store(2_000, Ordering::SeqCst);
    assert!(s.get(b"a").unwrap().is_none());
    assert!(s.get_with(b"a", |v| v.to_vec()).unwrap().is_none());
    assert!(!s.contains(b"a").unwrap());
    assert_eq!(s.version_of(b"a").unwrap(), None);
    assert_eq!(s.expires_at(b"a").unwrap(), None);
    assert!(s.locate(b"a").unwrap().is_none());
    let mut got = Vec::new();
    s.get_many_with(&[&b"a"[..], b"b", b"c"], |i, v| {
        got.push((i, v.map(|v| v.to_vec())))
    })
    .unwrap();
    assert_eq!(
        got,
        vec![
            (0, None),
            (1, Some(b"2".to_vec())),
            (2, Some(b"3".to_vec()))
        ]
    );
    assert_eq!(keys(&s), vec![b"b".to_vec(), b"c".to_vec()]);
    assert_eq!(s.snapshot_ranges().unwrap().entries.len(), 2);
    // A transaction reads it as absent too.
    let seen = s
        .transaction(|tx| Ok::<_, simd_r_drive::Error>((tx.get(b"a")?, tx.contains(b"a")?)))
        .unwrap()
        .unwrap()
        .0;
    assert_eq!(seen, (None, false));
    // Conditional writes: an expired key counts as absent.
    assert!(s.put_if_absent(b"a", b"new").unwrap());
    assert_eq!(s.get(b"a").unwrap().unwrap().to_vec(), b"new");
    now.store(3_000, Ordering::SeqCst);
    assert!(!s
        .compare_and_set(b"b", Condition::Value(b"2"), Some(b"x"))
        .unwrap());
    assert!(s.put_if_absent(b"b", b"again").unwrap());
}

#[test]
fn a_clock_that_goes_back_does_not_resurrect_while_open() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let (now, opts) = clocked(1_000);
    let s = opts.open(&p).unwrap();
    s.put_expiring(b"k", b"v", 1_500).unwrap();
    now.store(1_600, Ordering::SeqCst);
    assert!(s.get(b"k").unwrap().is_none());
    now.store(1_200, Ordering::SeqCst);
    assert!(
        s.get(b"k").unwrap().is_none(),
        "the store keeps the latest time it saw"
    );
    assert_eq!(s.now_ms(), 1_600);
    s.close().unwrap();
    // A new open starts from the clock again: documented.
    let s = opts.open(&p).unwrap();
    assert_eq!(s.get(b"k").unwrap().unwrap().to_vec(), b"v");
}

#[test]
fn expiry_survives_reopen_and_shows_in_a_follower() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let (now, opts) = clocked(10_000);
    let s = opts.open(&p).unwrap();
    let r = opts.clone().read_only(true).open(&p).unwrap();
    s.put_expiring(b"k", b"v", 20_000).unwrap();
    s.put(b"stay", b"1").unwrap();
    r.refresh().unwrap();
    assert_eq!(r.expires_at(b"k").unwrap(), Some(20_000));
    assert!(r.get(b"k").unwrap().is_some());
    now.store(20_000, Ordering::SeqCst);
    assert!(r.get(b"k").unwrap().is_none());
    assert!(!r.contains(b"k").unwrap());
    s.close().unwrap();
    drop(r);
    now.store(15_000, Ordering::SeqCst);
    let s = opts.open(&p).unwrap();
    assert_eq!(s.expires_at(b"k").unwrap(), Some(20_000));
    now.store(25_000, Ordering::SeqCst);
    assert!(s.get(b"k").unwrap().is_none());
}

#[test]
fn compaction_drops_expired_entries_and_keeps_the_others_expiry() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let (now, opts) = clocked(1_000);
    let s = opts.open(&p).unwrap();
    let big = bytes(1, 10_000);
    for i in 0..50u32 {
        s.put_expiring(&i.to_le_bytes(), &big, 2_000).unwrap();
    }
    s.put_expiring(b"later", b"v", 9_000).unwrap();
    s.put(b"plain", b"p").unwrap();
    now.store(2_000, Ordering::SeqCst);
    let report = s.compact().unwrap();
    assert_eq!(report.entries, 2, "only the unexpired keys are copied");
    assert!(
        s.stats().file_bytes < 10_000,
        "the expired values are gone from the file"
    );
    assert_eq!(s.len(), 2);
    assert_eq!(s.expires_at(b"later").unwrap(), Some(9_000));
    assert_eq!(s.get(b"plain").unwrap().unwrap().to_vec(), b"p");
    s.close().unwrap();
    let s = opts.open(&p).unwrap();
    assert_eq!(s.expires_at(b"later").unwrap(), Some(9_000));
    assert!(s.get(0u32.to_le_bytes().as_slice()).unwrap().is_none());
}

#[test]
fn a_streamed_value_carries_its_expiry_through_verify_reopen_and_compaction() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let (now, opts) = clocked(1_000);
    let s = opts.open(&p).unwrap();
    let big = bytes(3, 3_000_000);
    let c = s
        .put_from_reader_expiring(b"big", big.len() as u64, &mut &big[..], 5_000)
        .unwrap();
    assert_eq!(c.existed, vec![false]);
    // An odd length: the padding after the value is part of the checksum.
    s.put_from_reader_expiring(b"odd", 3, &mut &b"abc"[..], 9_000)
        .unwrap();
    s.put_from_reader(b"plain", 2, &mut &b"pp"[..]).unwrap();
    assert_eq!(s.expires_at(b"big").unwrap(), Some(5_000));
    assert_eq!(s.expires_at(b"odd").unwrap(), Some(9_000));
    assert_eq!(s.expires_at(b"plain").unwrap(), None);
    assert_eq!(s.get(b"big").unwrap().unwrap().to_vec(), big);
    assert_eq!(s.get(b"odd").unwrap().unwrap().to_vec(), b"abc");
    // Already past: written, and missing at once.
    s.put_from_reader_expiring(b"past", 1, &mut &b"x"[..], 500)
        .unwrap();
    assert!(s.get(b"past").unwrap().is_none());
    s.close().unwrap();

    // Every entry's checksum holds (the expiry field is covered) after a full reopen.
    let s = opts.clone().verify_full(true).open(&p).unwrap();
    assert_eq!(s.verify().unwrap().entries, 4);
    assert_eq!(s.get(b"odd").unwrap().unwrap().to_vec(), b"abc");
    assert_eq!(s.expires_at(b"big").unwrap(), Some(5_000));
    now.store(5_000, Ordering::SeqCst);
    assert!(s.get(b"big").unwrap().is_none());
    assert_eq!(s.compact().unwrap().entries, 2, "odd and plain are copied");
    assert_eq!(s.expires_at(b"odd").unwrap(), Some(9_000));
    assert_eq!(keys(&s), vec![b"odd".to_vec(), b"plain".to_vec()]);
}

#[test]
fn a_transaction_writes_expiring_values_and_reads_them_as_the_store_would() {
    let d = Dir::new();
    let (now, opts) = clocked(1_000);
    let s = opts.open(d.path("s.srd")).unwrap();
    s.put(b"old", b"o").unwrap();
    let seen = s
        .transaction(|tx| {
            tx.put_expiring(b"a", b"A", 2_000)?;
            tx.put_expiring(b"old", b"gone", 1_000)?;
            tx.put(b"c", b"C")?;
            Ok::<_, simd_r_drive::Error>((
                tx.get(b"a")?,
                tx.contains(b"a")?,
                tx.get(b"old")?,
                tx.contains(b"old")?,
                // Deleting an already expired staged value: nothing to delete.
                tx.delete(b"old")?,
            ))
        })
        .unwrap()
        .unwrap()
        .0;
    assert_eq!(seen, (Some(b"A".to_vec()), true, None, false, false));
    assert_eq!(s.expires_at(b"a").unwrap(), Some(2_000));
    assert_eq!(s.expires_at(b"c").unwrap(), None);
    assert!(s.get(b"old").unwrap().is_none());
    // A later plain put of the same key in one transaction drops the expiry.
    s.transaction(|tx| {
        tx.put_expiring(b"c", b"C1", 1_500)?;
        tx.put(b"c", b"C2")
    })
    .unwrap()
    .unwrap();
    assert_eq!(s.expires_at(b"c").unwrap(), None);
    now.store(2_000, Ordering::SeqCst);
    assert!(s.get(b"a").unwrap().is_none());
    assert_eq!(s.get(b"c").unwrap().unwrap().to_vec(), b"C2");
}
