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
