//! Writes from several threads at once, with and without a compaction running: each
//! commit gets its own bytes in the file and its own sequence number, and none is lost.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use simd_r_drive::{Op, Store};

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
