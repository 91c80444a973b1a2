//! Writes from several threads at once, with and without a compaction running: each
//! commit gets its own bytes in the file and its own sequence number, and none is lost.
//! Also what other threads see of a batch while it is being written: a `flush` that syncs
//! meanwhile, and a follower that refreshes meanwhile.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use simd_r_drive::{Error, Op, Store, StoreOptions};

const THREADS: u64 = 4;

/// What thread `t` writes in its round `i`: one put, a batch of a few puts, a fed batch,
/// or (every 97th round) one value larger than the engine's 4 MiB write piece. Returns
/// the (key, value) pairs and whether it was one commit.
fn round(s: &Store, t: u64, i: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let key = |j: u64| format!("t{t}-r{i}-{j}").into_bytes();
    let value = |j: u64, len: usize| bytes(t << 40 | i << 8 | j, len);
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = match i % 4 {
        _ if i % 97 == 96 => vec![(key(0), value(0, (4 << 20) + 100))],
        0 => vec![(key(0), value(0, 1 + (i as usize * 37) % 3000))],
        1 | 2 => (0..1 + i % 7)
            .map(|j| (key(j), value(j, 1 + (j as usize * 311) % 2000)))
            .collect(),
        _ => (0..3).map(|j| (key(j), value(j, 500))).collect(),
    };
    if i % 4 == 3 {
        s.write_each(pairs.len(), |feed| {
            for (k, v) in &pairs {
                feed.push(Op::Put { key: k, value: v })?;
            }
            Ok(())
        })
        .unwrap();
    } else {
        let ops: Vec<Op<'_>> = pairs
            .iter()
            .map(|(k, v)| Op::Put { key: k, value: v })
            .collect();
        s.write(&ops).unwrap();
    }
    pairs
}

/// Runs `rounds` rounds on each of `THREADS` threads (and, with `compact`, compactions
/// back to back on one more thread until they finish), then checks the store against
/// what was written, before and after a reopen.
fn check_concurrent_writes(rounds: u64, compact: bool) {
    let d = Dir::new();
    let path = d.path("s.srd");
    let s = Arc::new(open(&path));
    let seq_before = s.stats().seq;
    let done = Arc::new(AtomicBool::new(false));
    let compactor = compact.then(|| {
        let s = s.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !done.load(Ordering::Relaxed) {
                s.compact().unwrap();
                n += 1;
            }
            n
        })
    });
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                (0..rounds)
                    .flat_map(|i| round(&s, t, i))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut want = BTreeMap::new();
    for w in writers {
        want.extend(w.join().unwrap());
    }
    done.store(true, Ordering::Relaxed);
    if let Some(c) = compactor {
        assert!(c.join().unwrap() > 0, "no compaction ran");
    }
    let want: Vec<_> = want.into_iter().collect();
    // One sequence number per commit, none taken twice or dropped.
    assert_eq!(s.stats().seq - seq_before, THREADS * rounds);
    assert_same(&dump(&s), &want);
    s.verify().unwrap();
    drop(s);
    let again = open(&path);
    assert_same(&dump(&again), &want);
    again.verify().unwrap();
}

/// Fails naming the first key whose value differs (the dumps are far too long to print).
fn assert_same(got: &[(Vec<u8>, Vec<u8>)], want: &[(Vec<u8>, Vec<u8>)]) {
    let first = got.iter().zip(want).position(|(g, w)| g != w);
    if let Some(i) = first {
        panic!(
            "entry {i}: got key {:?} ({} value bytes), want key {:?} ({} value bytes)",
            String::from_utf8_lossy(&got[i].0),
            got[i].1.len(),
            String::from_utf8_lossy(&want[i].0),
            want[i].1.len()
        );
    }
    assert_eq!(got.len(), want.len(), "entries in the store");
}

#[test]
fn writers_on_several_threads_lose_nothing() {
    check_concurrent_writes(400, false);
}

#[test]
fn writers_on_several_threads_lose_nothing_while_compactions_run() {
    check_concurrent_writes(300, true);
}

/// The index checkpoint beside the store at `p`.
fn checkpoint_of(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".srd-index");
    PathBuf::from(s)
}

/// Puts `k0`, then `k1` (a value of 5,000 bytes), flushes and closes. With `raced`, a
/// `flush` syncs while the batch of `k1` is being fed (holding the writer lock), so the
/// flush's sync mark is written after `k1` and records less than the end it stands at.
fn flush_around_a_batch(p: &Path, raced: bool) {
    let s = Arc::new(StoreOptions::new().checkpoint_min_keys(1).open(p).unwrap());
    s.put(b"k0", &bytes(0, 100)).unwrap();
    let v1 = bytes(1, 5000);
    if raced {
        let (started, wait_started) = channel();
        let (go, wait_go) = channel::<()>();
        let writer = {
            let (s, v1) = (s.clone(), v1.clone());
            std::thread::spawn(move || {
                s.write_each(1, |feed| {
                    started.send(()).unwrap();
                    wait_go.recv().unwrap();
                    feed.push(Op::Put {
                        key: b"k1",
                        value: &v1,
                    })
                })
                .unwrap();
            })
        };
        wait_started.recv().unwrap();
        let flusher = {
            let s = s.clone();
            std::thread::spawn(move || s.flush().unwrap())
        };
        // The flush has synced (that takes no writer lock) and now waits for the lock.
        while s.durable_seq() < 1 {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(30));
        go.send(()).unwrap();
        writer.join().unwrap();
        flusher.join().unwrap();
    } else {
        s.flush().unwrap();
        s.put(b"k1", &v1).unwrap();
    }
    s.flush().unwrap();
    s.close().unwrap();
}

/// Flips a byte in the value of `k1` in the closed store at `p`, then opens it from the
/// log (without its checkpoint).
fn open_with_k1_damaged(p: &Path) -> simd_r_drive::Result<Store> {
    let mut file = std::fs::read(p).unwrap();
    let v1 = bytes(1, 5000);
    let at = file.windows(64).position(|w| w == &v1[..64]).unwrap();
    file[at + 1000] ^= 0x40;
    std::fs::write(p, &file).unwrap();
    std::fs::remove_file(checkpoint_of(p)).unwrap();
    StoreOptions::new().open(p)
}

#[test]
fn a_flush_that_syncs_while_a_batch_is_written_still_gets_that_batch_marked_durable() {
    for raced in [false, true] {
        for round in 0..3 {
            let d = Dir::new();
            let p = d.path("s.srd");
            flush_around_a_batch(&p, raced);
            // close() saves a checkpoint only when the log ends with a mark that records
            // everything before it.
            assert!(checkpoint_of(&p).exists(), "raced {raced}, round {round}");
            // Damage to flushed data is corruption, not a torn unsynced tail to drop.
            match open_with_k1_damaged(&p) {
                Err(Error::Corrupt { .. }) => {}
                Err(e) => panic!("raced {raced}, round {round}: {e}"),
                Ok(s) => panic!(
                    "raced {raced}, round {round}: damage to flushed data was dropped as an \
                     unsynced tail: {:?}",
                    s.recovery()
                ),
            }
        }
    }
}

#[test]
fn a_follower_never_sees_a_fed_batch_that_is_given_up() {
    for round in 0..3 {
        let d = Dir::new();
        let p = d.path("s.srd");
        let s = Arc::new(open(&p));
        s.put(b"k0", b"v0").unwrap();
        let r = StoreOptions::new().read_only(true).open(&p).unwrap();
        let (pushed, wait_pushed) = channel();
        let (go, wait_go) = channel::<()>();
        let writer = {
            let s = s.clone();
            std::thread::spawn(move || {
                // One entry larger than a write piece, then the feed fails.
                let big = bytes(7, (4 << 20) + 100);
                s.write_each(1, |feed| {
                    feed.push(Op::Put {
                        key: b"k1",
                        value: &big,
                    })?;
                    pushed.send(()).unwrap();
                    wait_go.recv().unwrap();
                    feed.push(Op::Put {
                        key: b"",
                        value: b"",
                    })
                })
            })
        };
        wait_pushed.recv().unwrap();
        r.refresh().unwrap();
        assert!(!r.contains(b"k1").unwrap(), "round {round}: seen while fed");
        go.send(()).unwrap();
        assert!(writer.join().unwrap().is_err());
        s.put(b"k2", b"v2").unwrap();
        r.refresh().unwrap();
        assert!(!r.contains(b"k1").unwrap(), "round {round}: seen after");
        let k2 = r.get(b"k2").unwrap();
        assert_eq!(k2.as_deref(), Some(&b"v2"[..]), "round {round}");
    }
}
