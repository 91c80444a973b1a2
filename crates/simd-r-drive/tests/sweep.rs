//! The expiry sweep: expired entries leave the index as expiry records, so that their
//! bytes count as reclaimable (automatic compaction comes due for a cache whose keys only
//! expire), the records survive a reopen and a kill, followers and the change feed see
//! them as expiries, and a clock that goes back brings nothing back.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use simd_r_drive::{AutoCompactPolicy, ChangeKind, ChangeLimits, Op, Store, StoreOptions};

/// A clock the test moves, and options that read it.
fn clocked(start: u64) -> (Arc<AtomicU64>, StoreOptions) {
    let now = Arc::new(AtomicU64::new(start));
    let c = now.clone();
    let opts = StoreOptions::new().clock(Arc::new(move || c.load(Ordering::SeqCst)));
    (now, opts)
}

const N: usize = 2_000;

fn key(i: usize) -> Vec<u8> {
    format!("key-{i:05}").into_bytes()
}

/// N keys of 200-byte values expiring at 2_000, and one key that never expires.
fn fill(s: &Store) {
    let value = vec![7u8; 200];
    let keys: Vec<Vec<u8>> = (0..N).map(key).collect();
    let ops: Vec<Op<'_>> = keys
        .iter()
        .map(|k| Op::PutExpiring {
            key: k,
            value: &value,
            expires_at: 2_000,
        })
        .collect();
    s.write(&ops).unwrap();
    s.put(b"stays", b"here").unwrap();
}

#[test]
fn expired_entries_count_as_live_until_swept() {
    let d = Dir::new();
    let (now, opts) = clocked(1_000);
    let s = opts
        .auto_compact(Some(AutoCompactPolicy {
            min_reclaimable_bytes: 1,
            min_ratio: 0.5,
            ..Default::default()
        }))
        .open(d.path("s.srd"))
        .unwrap();
    fill(&s);
    let before = s.stats();
    assert!(!s.auto_compaction_due());
    now.store(5_000, Ordering::SeqCst);
    // Expired, but not yet swept: still live bytes, nothing reclaimable, no compaction due.
    assert_eq!(s.stats().live_bytes, before.live_bytes);
    assert!(!s.auto_compaction_due());
    assert!(s.expiry_sweep_due());

    let removed = s.clear_expired().unwrap();
    assert_eq!(removed, N as u64);
    let after = s.stats();
    assert_eq!(after.expired_entries, N as u64);
    assert_eq!(s.len(), 1);
    assert!(after.live_bytes < before.live_bytes / 100, "{after:?}");
    assert!(
        after.reclaimable_bytes > before.file_bytes * 9 / 10,
        "{after:?}"
    );
    assert!(s.auto_compaction_due());
    // A second pass finds nothing more.
    assert_eq!(s.clear_expired().unwrap(), 0);
    assert_eq!(s.get(b"stays").unwrap().as_deref(), Some(&b"here"[..]));
}

#[test]
fn sweep_steps_walk_the_log_in_budgets_and_wrap() {
    let d = Dir::new();
    let (now, opts) = clocked(1_000);
    let s = opts.open(d.path("s.srd")).unwrap();
    fill(&s);
    now.store(5_000, Ordering::SeqCst);
    let mut total = 0;
    let mut steps = 0;
    loop {
        let step = s.sweep_expired(64 << 10).unwrap();
        total += step.removed;
        steps += 1;
        assert!(step.removed < N as u64, "a step is bounded by its budget");
        if step.wrapped {
            break;
        }
    }
    assert!(steps > 3, "{steps} steps");
    assert_eq!(total, N as u64);
    assert_eq!(s.len(), 1);
    // The pass met entries with an expiry: the next pass is still wanted, and it finds
    // only the records, which are not Puts.
    assert!(s.expiry_sweep_due());
    let step = s.sweep_expired(u64::MAX).unwrap();
    assert_eq!((step.removed, step.wrapped), (0, true));
}

#[test]
fn swept_keys_stay_gone_after_reopen_kill_and_a_clock_moved_back() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let (now, opts) = clocked(1_000);
    let s = opts.open(&p).unwrap();
    fill(&s);
    now.store(5_000, Ordering::SeqCst);
    assert_eq!(s.clear_expired().unwrap(), N as u64);
    // What a kill -9 leaves: the file as written, never closed.
    let killed = d.path("killed.srd");
    std::fs::copy(&p, &killed).unwrap();
    drop(s);
    for path in [&p, &killed] {
        // The clock back before the expiry: a swept key does not come back.
        let (_, opts) = clocked(1_000);
        let s = opts.open(path).unwrap();
        assert_eq!(s.len(), 1, "{path:?}");
        assert!(s.get(&key(0)).unwrap().is_none());
        assert!(s.get(&key(N - 1)).unwrap().is_none());
        assert_eq!(s.get(b"stays").unwrap().as_deref(), Some(&b"here"[..]));
        s.verify().unwrap();
    }
}

#[test]
fn a_clock_moved_back_during_a_sweep_writes_no_record() {
    let d = Dir::new();
    let (now, opts) = clocked(1_000);
    let s = opts.open(d.path("s.srd")).unwrap();
    fill(&s);
    // Not expired yet: no records, the keys stay.
    assert_eq!(s.clear_expired().unwrap(), 0);
    assert_eq!(s.len(), N + 1);
    now.store(5_000, Ordering::SeqCst);
    assert_eq!(s.clear_expired().unwrap(), N as u64);
    now.store(1_000, Ordering::SeqCst);
    assert_eq!(s.len(), 1);
    assert!(s.get(&key(3)).unwrap().is_none());
}

#[test]
fn a_rewritten_key_is_not_swept() {
    let d = Dir::new();
    let (now, opts) = clocked(1_000);
    let s = opts.open(d.path("s.srd")).unwrap();
    fill(&s);
    s.put(&key(5), b"new").unwrap();
    s.put_expiring(&key(6), b"later", 9_000).unwrap();
    now.store(5_000, Ordering::SeqCst);
    assert_eq!(s.clear_expired().unwrap(), N as u64 - 2);
    assert_eq!(s.get(&key(5)).unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(s.get(&key(6)).unwrap().as_deref(), Some(&b"later"[..]));
    assert_eq!(s.len(), 3);
}

#[test]
fn the_change_feed_and_followers_see_expiries() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let (now, opts) = clocked(1_000);
    let s = opts.open(&p).unwrap();
    s.put_expiring(b"a", b"1", 2_000).unwrap();
    s.put_expiring(b"b", b"2", 9_000).unwrap();
    s.delete(b"b").unwrap();
    let (_, fopts) = clocked(1_000);
    let f = fopts.read_only(true).open(&p).unwrap();
    assert_eq!(f.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    let cursor = s.cursor().unwrap();
    now.store(5_000, Ordering::SeqCst);
    assert_eq!(s.clear_expired().unwrap(), 1);

    let mut reader = s.changes(Some(cursor)).unwrap();
    let read = reader.read(&s, ChangeLimits::default()).unwrap();
    let changes: Vec<_> = read.parts.iter().flat_map(|p| p.changes.clone()).collect();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, ChangeKind::Expire);
    let data = std::fs::read(&p).unwrap();
    let (at, len) = changes[0].key;
    assert_eq!(&data[at as usize..at as usize + len], b"a");
    // An ordinary delete is still a delete.
    let mut all = s.changes(None).unwrap();
    let read = all.read(&s, ChangeLimits::default()).unwrap();
    let kinds: Vec<ChangeKind> = read
        .parts
        .iter()
        .flat_map(|p| p.changes.iter().map(|c| c.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ChangeKind::Put,
            ChangeKind::Put,
            ChangeKind::Delete,
            ChangeKind::Expire
        ]
    );

    // The follower, whose clock says the value has not expired, reads it as gone.
    f.refresh().unwrap();
    assert!(f.get(b"a").unwrap().is_none());
    assert_eq!(f.len(), 0);
}

#[test]
fn a_compaction_resets_the_sweep_to_the_new_file() {
    let d = Dir::new();
    let (now, opts) = clocked(1_000);
    let s = opts.open(d.path("s.srd")).unwrap();
    fill(&s);
    now.store(5_000, Ordering::SeqCst);
    // A step into the log, then a compaction (which drops the expired entries itself):
    // the next step starts at the new file's header and finds nothing to remove.
    let step = s.sweep_expired(64 << 10).unwrap();
    assert!(step.removed > 0 && !step.wrapped);
    s.compact().unwrap();
    assert_eq!(s.len(), 1);
    let step = s.sweep_expired(u64::MAX).unwrap();
    assert_eq!((step.removed, step.wrapped), (0, true));
    s.verify().unwrap();
}

#[test]
fn a_read_only_store_refuses_to_sweep() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    s.put(b"a", b"1").unwrap();
    let f = StoreOptions::new().read_only(true).open(&p).unwrap();
    assert!(matches!(
        f.clear_expired(),
        Err(simd_r_drive::Error::ReadOnly)
    ));
    assert!(matches!(
        f.sweep_expired(1 << 20),
        Err(simd_r_drive::Error::ReadOnly)
    ));
    assert!(!f.expiry_sweep_due());
    // A writable store wants a first pass after its open; one that meets no entry with an
    // expiry turns the sweep off, until the next write of one.
    assert!(s.expiry_sweep_due());
    let step = s.sweep_expired(u64::MAX).unwrap();
    assert_eq!((step.removed, step.wrapped), (0, true));
    assert!(!s.expiry_sweep_due());
    s.put_expiring(b"b", b"2", u64::MAX).unwrap();
    assert!(s.expiry_sweep_due());
}

#[test]
fn a_reopened_store_with_expiring_entries_is_swept_by_its_first_pass() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let (_, opts) = clocked(1_000);
    let s = opts.open(&p).unwrap();
    fill(&s);
    s.close().unwrap();
    drop(s);
    let (_, opts) = clocked(5_000);
    let s = opts.open(&p).unwrap();
    assert!(s.expiry_sweep_due());
    let mut removed = 0;
    while s.expiry_sweep_due() {
        let step = s.sweep_expired(1 << 20).unwrap();
        removed += step.removed;
        if step.wrapped && step.removed == 0 {
            break;
        }
    }
    assert_eq!(removed, N as u64);
    assert_eq!(s.len(), 1);
}

#[test]
fn expiry_records_written_during_a_compaction_stay_expiry_records() {
    let d = Dir::new();
    let (now, opts) = clocked(1_000);
    let s = Arc::new(opts.open(d.path("s.srd")).unwrap());
    fill(&s);
    now.store(5_000, Ordering::SeqCst);
    let swept = AtomicU64::new(u64::MAX);
    let during = |_: u64, _: u64| {
        if swept.load(Ordering::SeqCst) == u64::MAX {
            // Runs on the compacting thread while it copies: the records land in the old
            // file's tail, which the compaction copies at its end.
            swept.store(s.clear_expired().unwrap(), Ordering::SeqCst);
        }
    };
    s.compact_with(&simd_r_drive::Progress::none().on_progress(&during))
        .unwrap();
    assert_eq!(swept.load(Ordering::SeqCst), N as u64);
    assert_eq!(s.len(), 1);
    let mut all = s.changes(None).unwrap();
    let mut kinds: Vec<ChangeKind> = Vec::new();
    loop {
        let read = all.read(&s, ChangeLimits::default()).unwrap();
        if read.parts.is_empty() {
            break;
        }
        kinds.extend(
            read.parts
                .iter()
                .flat_map(|p| p.changes.iter().map(|c| c.kind)),
        );
    }
    assert_eq!(
        kinds.iter().filter(|k| **k == ChangeKind::Expire).count(),
        N
    );
    assert!(!kinds.contains(&ChangeKind::Delete));
    s.verify().unwrap();
    let (_, opts) = clocked(1_000);
    let path = s.path().to_path_buf();
    drop(s);
    let s = opts.open(&path).unwrap();
    assert_eq!(s.len(), 1);
}

#[test]
fn the_open_of_a_log_over_64_mib_waits_for_an_expiring_write_before_it_sweeps() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let (_, opts) = clocked(1_000);
    let s = opts.open(&p).unwrap();
    fill(&s);
    // Past the sweep's open-pass limit (64 MiB, `OPEN_PASS_MAX_LOG`) with plain values.
    let big = vec![1u8; 1 << 20];
    for i in 0..65 {
        s.put(format!("plain-{i}").as_bytes(), &big).unwrap();
    }
    s.close().unwrap();
    drop(s);
    let (_, opts) = clocked(5_000);
    let s = opts.clone().open(&p).unwrap();
    // Not walked by itself after this open: nothing is due until a write with an expiry.
    assert!(!s.expiry_sweep_due());
    assert_eq!(s.len(), N + 1 + 65);
    s.put_expiring(b"late", b"x", 9_000).unwrap();
    assert!(s.expiry_sweep_due());
    let mut removed = 0;
    loop {
        let step = s.sweep_expired(8 << 20).unwrap();
        removed += step.removed;
        if step.wrapped {
            break;
        }
    }
    assert_eq!(removed, N as u64);
    drop(s);
    // A small log is walked after its open (the test above): the limit is on its size.
    let d2 = Dir::new();
    let p2 = d2.path("s.srd");
    let s = opts.open(&p2).unwrap();
    assert!(s.expiry_sweep_due());
}
