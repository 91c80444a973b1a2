//! The change feed: committed batches read back from the log from a cursor, split batches,
//! cursors across reopen and compaction, and watchers told of commits.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use simd_r_drive::{
    ChangeKind, ChangeLimits, ChangeReader, Cursor, Error, Op, Store, StoreOptions,
};

/// One batch as the feed returns it: `(put?, key, value)` for each change.
type Batch = Vec<(bool, Vec<u8>, Vec<u8>)>;

/// Reads every part the reader has, joined into whole batches, with the bytes taken from
/// the file itself. Returns the batches and the number of parts read.
fn read_all(store: &Store, reader: &mut ChangeReader, limits: ChangeLimits) -> (Vec<Batch>, usize) {
    let mut batches = Vec::new();
    let mut current: Batch = Vec::new();
    let mut parts = 0;
    loop {
        let read = reader.read(store, limits).unwrap();
        if read.parts.is_empty() {
            assert!(
                current.is_empty(),
                "the last part of a batch said more followed"
            );
            return (batches, parts);
        }
        let file = std::fs::read(store.path()).unwrap();
        let range = |(at, len): (u64, usize)| file[at as usize..at as usize + len].to_vec();
        for part in read.parts {
            parts += 1;
            assert!(part.changes.len() <= limits.changes.max(1));
            for c in &part.changes {
                current.push((c.kind == ChangeKind::Put, range(c.key), range(c.value)));
            }
            if !part.more {
                batches.push(std::mem::take(&mut current));
            }
        }
    }
}

fn put(k: &str, v: &str) -> (bool, Vec<u8>, Vec<u8>) {
    (true, k.as_bytes().to_vec(), v.as_bytes().to_vec())
}

fn del(k: &str) -> (bool, Vec<u8>, Vec<u8>) {
    (false, k.as_bytes().to_vec(), Vec::new())
}

#[test]
fn the_feed_returns_each_committed_batch_in_order() {
    let dir = Dir::new();
    let s = open(&dir.path("s.srd"));
    s.put(b"a", b"1").unwrap();
    s.write(&[
        Op::Put {
            key: b"b",
            value: b"2",
        },
        Op::Delete { key: b"a" },
        Op::Put {
            key: b"c",
            value: b"",
        },
    ])
    .unwrap();
    s.flush().unwrap(); // a sync mark: a batch with no change, never returned
    s.delete(b"b").unwrap();
    let mut r = s.changes(None).unwrap();
    let (batches, _) = read_all(&s, &mut r, ChangeLimits::default());
    assert_eq!(
        batches,
        vec![
            vec![put("a", "1")],
            vec![put("b", "2"), del("a"), put("c", "")],
            vec![del("b")],
        ]
    );
    // The reader ends at the present, and goes on from there.
    assert_eq!(r.cursor(), s.cursor().unwrap());
    s.put(b"d", b"4").unwrap();
    assert_eq!(
        read_all(&s, &mut r, ChangeLimits::default()).0,
        vec![vec![put("d", "4")]]
    );
}

#[test]
fn a_cursor_survives_reopen_and_resumes_after_its_batch() {
    let dir = Dir::new();
    let p = dir.path("s.srd");
    let text = {
        let s = open(&p);
        s.put(b"a", b"1").unwrap();
        let mut r = s.changes(None).unwrap();
        let read = r.read(&s, ChangeLimits::default()).unwrap();
        assert_eq!(read.parts.len(), 1);
        s.put(b"b", b"2").unwrap();
        read.parts[0].cursor.encode()
    };
    let s = open(&p);
    let cursor = Cursor::parse(&text).unwrap();
    let mut r = s.changes(Some(cursor)).unwrap();
    assert_eq!(
        read_all(&s, &mut r, ChangeLimits::default()).0,
        vec![vec![put("b", "2")]]
    );
}

#[test]
fn a_large_batch_comes_in_parts_that_resume_at_its_start() {
    let dir = Dir::new();
    let s = open(&dir.path("s.srd"));
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let ops: Vec<Op> = keys
        .iter()
        .map(|k| Op::Put {
            key: k.as_bytes(),
            value: b"v",
        })
        .collect();
    s.put(b"first", b"x").unwrap();
    s.write(&ops).unwrap();
    s.put(b"last", b"y").unwrap();
    let limits = ChangeLimits {
        changes: 3,
        bytes: 1 << 20,
    };
    let mut r = s.changes(None).unwrap();
    let before = r.read(&s, limits).unwrap();
    // The first batch whole, then the first two changes of the big one.
    assert_eq!(before.parts.len(), 2);
    assert!(!before.parts[0].more);
    assert!(before.parts[1].more);
    assert_eq!(before.parts[1].changes.len(), 2);
    // A part that is not the last resumes at its batch's start: the batch comes again whole.
    assert_eq!(before.parts[1].cursor, before.parts[0].cursor);
    let (rest, parts) = read_all(&s, &mut r, limits);
    assert!(
        parts >= 4,
        "the rest of the batch came in parts of 3 at most: {parts}"
    );
    assert_eq!(rest.last().unwrap(), &vec![put("last", "y")]);
    let mut again = s.changes(Some(before.parts[1].cursor)).unwrap();
    let (whole, _) = read_all(&s, &mut again, ChangeLimits::default());
    assert_eq!(whole[0].len(), 10);
    assert_eq!(whole[0][9], put("k9", "v"));
    // A bound on bytes splits too.
    let mut by_bytes = s.changes(None).unwrap();
    let (batches, parts) = read_all(
        &s,
        &mut by_bytes,
        ChangeLimits {
            changes: 1000,
            bytes: 9,
        },
    );
    assert_eq!(batches.len(), 3);
    assert!(parts >= 5, "{parts}");
}

#[test]
fn a_cursor_from_before_a_compaction_is_expired_and_the_new_log_rebuilds_the_state() {
    let dir = Dir::new();
    let s = open(&dir.path("s.srd"));
    s.put(b"a", b"1").unwrap();
    s.put(b"b", b"2").unwrap();
    s.delete(b"a").unwrap();
    let old = s.cursor().unwrap();
    let mut reader = s.changes(Some(old)).unwrap();
    s.compact().unwrap();
    assert!(matches!(
        reader.read(&s, ChangeLimits::default()),
        Err(Error::CursorExpired { .. })
    ));
    let e = s.changes(Some(old)).unwrap_err();
    assert_eq!(e.code(), "ERR_CURSOR_EXPIRED");
    assert!(e.to_string().contains("without a cursor"), "{e}");
    let mut fresh = s.changes(None).unwrap();
    assert_eq!(
        read_all(&s, &mut fresh, ChangeLimits::default()).0,
        vec![vec![put("b", "2")]]
    );
}

#[test]
fn cursors_of_another_store_or_malformed_are_refused() {
    let dir = Dir::new();
    let a = open(&dir.path("a.srd"));
    let b = open(&dir.path("b.srd"));
    a.put(b"k", b"v").unwrap();
    let foreign = b.cursor().unwrap();
    assert_eq!(
        a.changes(Some(foreign)).unwrap_err().code(),
        "ERR_CURSOR_EXPIRED"
    );
    for bad in [
        "",
        "srd1",
        "xyz1000000000000000000000000000000000000000000000040",
        &"0".repeat(52),
    ] {
        assert_eq!(
            Cursor::parse(bad).unwrap_err().code(),
            "ERR_INVALID_CURSOR",
            "{bad:?}"
        );
    }
    let good = a.cursor().unwrap();
    let text = good.encode();
    assert_eq!(Cursor::parse(&text).unwrap(), good);
    assert_eq!(
        Cursor::parse(&text.to_uppercase()).unwrap_err().code(),
        "ERR_INVALID_CURSOR"
    );
    // An offset inside a batch is not where a batch starts.
    a.write(&[
        Op::Put {
            key: b"x",
            value: b"1",
        },
        Op::Put {
            key: b"y",
            value: b"2",
        },
    ])
    .unwrap();
    let inside = Cursor {
        generation: good.generation,
        offset: good.offset + simd_r_drive::entry_size(1, 1),
    };
    let mut r = a.changes(Some(inside)).unwrap();
    let e = r.read(&a, ChangeLimits::default()).unwrap_err();
    assert_eq!(e.code(), "ERR_INVALID_CURSOR", "{e}");
}

#[test]
fn watchers_are_told_of_commits_refreshes_and_compactions() {
    let dir = Dir::new();
    let p = dir.path("s.srd");
    let s = open(&p);
    let follower = StoreOptions::new().read_only(true).open(&p).unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let followed = Arc::new(AtomicU64::new(0));
    let id = {
        let seen = seen.clone();
        s.watch(Arc::new(move || {
            seen.fetch_add(1, Ordering::SeqCst);
        }))
    };
    {
        let followed = followed.clone();
        follower.watch(Arc::new(move || {
            followed.fetch_add(1, Ordering::SeqCst);
        }));
    }
    s.put(b"a", b"1").unwrap();
    s.write(&[
        Op::Put {
            key: b"b",
            value: b"2",
        },
        Op::Delete { key: b"a" },
    ])
    .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    follower.refresh().unwrap();
    assert_eq!(followed.load(Ordering::SeqCst), 1);
    follower.refresh().unwrap(); // nothing new: no call
    assert_eq!(followed.load(Ordering::SeqCst), 1);
    s.compact().unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    follower.refresh().unwrap();
    assert_eq!(followed.load(Ordering::SeqCst), 2);
    s.unwatch(id);
    s.put(b"c", b"3").unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[test]
fn a_follower_reads_the_writers_batches_once_it_has_refreshed() {
    let dir = Dir::new();
    let p = dir.path("s.srd");
    let s = open(&p);
    let follower = StoreOptions::new().read_only(true).open(&p).unwrap();
    s.put(b"a", b"1").unwrap();
    // A cursor of the writer, ahead of the follower: nothing yet, no error.
    let ahead = s.cursor().unwrap();
    s.put(b"b", b"2").unwrap();
    let mut r = follower.changes(Some(ahead)).unwrap();
    assert!(r
        .read(&follower, ChangeLimits::default())
        .unwrap()
        .parts
        .is_empty());
    follower.refresh().unwrap();
    assert_eq!(
        read_all(&follower, &mut r, ChangeLimits::default()).0,
        vec![vec![put("b", "2")]]
    );
}

#[test]
fn lock_timeout_names_the_wait() {
    let dir = Dir::new();
    let p = dir.path("s.srd");
    let _writer = open(&p);
    let started = std::time::Instant::now();
    // Another engine of the same path in this process runs into the lock as another
    // process's would.
    let e = StoreOptions::new()
        .lock_timeout(std::time::Duration::from_millis(150))
        .open(&p)
        .unwrap_err();
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    assert_eq!(e.code(), "ERR_STORE_LOCKED");
    assert!(e.to_string().contains("150 ms"), "{e}");
}
