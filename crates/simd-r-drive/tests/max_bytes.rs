//! The size limit (`StoreOptions::max_bytes`): a write that takes the live data past it
//! evicts the oldest live entries in log order (FIFO) in its own batch, evicted keys read as
//! missing everywhere (this store, reopens, followers, the change feed says why), a write
//! too large for the limit is refused whole, and the store file stays within its bound.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use common::*;
use simd_r_drive::{ChangeKind, ChangeLimits, Error, Op, Store, StoreOptions};

/// Every test entry: a 5-byte key (8 with padding) and a 100-byte value (104): 128 bytes.
const ENTRY: u64 = 128;

fn key(i: u64) -> Vec<u8> {
    format!("k{i:04}").into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    let mut v = format!("value {i} ").into_bytes();
    v.resize(100, b'.');
    v
}

fn limited(entries: u64) -> StoreOptions {
    StoreOptions::new()
        .max_bytes(entries * ENTRY)
        .auto_compact(None)
}

fn present(s: &Store, range: std::ops::Range<u64>) -> Vec<u64> {
    range.filter(|&i| s.contains(&key(i)).unwrap()).collect()
}

#[test]
fn the_oldest_entries_in_log_order_are_evicted_until_the_live_data_fits() {
    let d = Dir::new();
    let s = limited(10).open(d.path("s.srd")).unwrap();
    for i in 0..10 {
        s.put(&key(i), &value(i)).unwrap();
    }
    assert_eq!(s.stats().live_bytes, 10 * ENTRY);
    assert_eq!(s.stats().evicted_entries, 0);
    // One more: the oldest goes, in the same batch.
    s.put(&key(10), &value(10)).unwrap();
    assert_eq!(present(&s, 0..11), (1..11).collect::<Vec<_>>());
    // Rewriting a key makes it the newest (FIFO by last write, not by first).
    s.put(&key(1), &value(1)).unwrap();
    s.put(&key(11), &value(11)).unwrap();
    assert_eq!(present(&s, 0..12), vec![1, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    // A batch of three evicts three, oldest first.
    let (k, v): (Vec<_>, Vec<_>) = (12..15).map(|i| (key(i), value(i))).unzip();
    let ops: Vec<Op<'_>> = k
        .iter()
        .zip(&v)
        .map(|(k, v)| Op::Put { key: k, value: v })
        .collect();
    s.write(&ops).unwrap();
    assert_eq!(present(&s, 0..15), vec![1, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    let st = s.stats();
    assert!(st.live_bytes <= 10 * ENTRY);
    assert_eq!(st.entries, 10);
    assert_eq!((st.evicted_entries, st.evicted_bytes), (5, 5 * ENTRY));
    // A delete makes room: nothing more is evicted by the next put.
    s.delete(&key(6)).unwrap();
    s.put(&key(15), &value(15)).unwrap();
    assert_eq!(present(&s, 0..16), vec![1, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    assert_eq!(s.stats().evicted_entries, 5);
}

#[test]
fn an_evicted_key_is_missing_for_every_read_and_conditional_write() {
    let d = Dir::new();
    let s = limited(4).open(d.path("s.srd")).unwrap();
    for i in 0..6 {
        s.put(&key(i), &value(i)).unwrap();
    }
    assert!(s.get(&key(0)).unwrap().is_none());
    assert!(s.get_with(&key(1), |v| v.to_vec()).unwrap().is_none());
    assert!(!s.contains(&key(0)).unwrap());
    assert_eq!(s.version_of(&key(0)).unwrap(), None);
    let mut got = Vec::new();
    s.get_many_with(&[key(0), key(1), key(2)], |i, v| got.push((i, v.is_some())))
        .unwrap();
    assert_eq!(got, vec![(0, false), (1, false), (2, true)]);
    let keys: HashSet<Vec<u8>> = s.iter().unwrap().map(|(k, _)| k.to_vec()).collect();
    assert_eq!(keys, (2..6).map(key).collect());
    assert_eq!(s.len(), 4);
    // A put-if-absent of an evicted key writes (it is absent), and evicts the oldest.
    assert!(s.put_if_absent(&key(0), &value(100)).unwrap());
    assert_eq!(present(&s, 0..6), vec![0, 3, 4, 5]);
    s.verify().unwrap();
}

#[test]
fn evictions_hold_after_a_drop_a_close_and_through_index_files() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let opts = limited(8).checkpoint_min_keys(1);
    {
        // 12 puts stay below the size at which a write compacts (2 × 1024 + 88 bytes).
        let s = opts.open(&p).unwrap();
        for i in 0..12 {
            s.put(&key(i), &value(i)).unwrap();
        }
        assert_eq!(s.stats().generation, 0);
        // Dropped without close: what is on disk is all a reopen has.
    }
    {
        let s = opts.open(&p).unwrap();
        assert_eq!(present(&s, 0..12), (4..12).collect::<Vec<_>>());
        assert_eq!(s.get(&key(11)).unwrap().as_deref(), Some(&value(11)[..]));
        // The next put evicts the oldest live entry, 4.
        s.put(&key(12), &value(12)).unwrap();
        assert_eq!(present(&s, 0..13), (5..13).collect::<Vec<_>>());
        s.close().unwrap();
    }
    // Through the index file a close wrote.
    let s = opts.open(&p).unwrap();
    assert!(s.recovery().checkpoint_keys.is_some());
    assert_eq!(present(&s, 0..13), (5..13).collect::<Vec<_>>());
    s.put(&key(13), &value(13)).unwrap();
    assert_eq!(present(&s, 0..14), (6..14).collect::<Vec<_>>());
    s.verify().unwrap();
    drop(s);
    // A store opened without the limit reads the evictions the same way.
    let s = StoreOptions::new().read_only(true).open(&p).unwrap();
    assert_eq!(present(&s, 0..14), (6..14).collect::<Vec<_>>());
}

#[test]
fn a_reopen_recovers_the_eviction_cursor_from_the_log_and_the_index_files() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let opts = limited(8).checkpoint_min_keys(1);
    let s = opts.open(&p).unwrap();
    assert_eq!(s.eviction_cursor(), 64);
    for i in 0..12 {
        s.put(&key(i), &value(i)).unwrap();
    }
    // The walk stopped right after the last Put it evicted (key 3's).
    let walked = s.eviction_cursor();
    assert!(walked >= 64 + 4 * ENTRY);
    drop(s);
    // Without index files: from the eviction records the open replays, each naming the
    // Put it evicted (the last one: 128 bytes before where the walk stopped).
    let s = opts.open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, None);
    assert_eq!(s.eviction_cursor(), walked - ENTRY);
    s.put(&key(12), &value(12)).unwrap();
    assert_eq!(present(&s, 0..13), (5..13).collect::<Vec<_>>());
    let walked = s.eviction_cursor();
    s.close().unwrap();
    // Through the index file a close wrote (nothing replayed): the cursor it recorded.
    let s = opts.open(&p).unwrap();
    assert!(s.recovery().checkpoint_keys.is_some());
    assert_eq!(s.recovery().entries, 0);
    assert_eq!(s.eviction_cursor(), walked);
    s.put(&key(13), &value(13)).unwrap();
    assert_eq!(present(&s, 0..14), (6..14).collect::<Vec<_>>());
    // A compaction starts it again at the new file's header.
    s.compact().unwrap();
    assert_eq!(s.eviction_cursor(), 64);
    s.put(&key(14), &value(14)).unwrap();
    assert_eq!(present(&s, 0..15), (8..15).collect::<Vec<_>>());
    s.verify().unwrap();
}

#[test]
fn verify_and_repair_keep_evicted_keys_missing() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let before;
    {
        let s = limited(4).open(&p).unwrap();
        for i in 0..9 {
            s.put(&key(i), &value(i)).unwrap();
        }
        s.verify().unwrap();
        before = present(&s, 0..9);
        s.close().unwrap();
    }
    // Damage the last entry's value (key 8's put, before the closing sync mark and after
    // the eviction record and commit record of its batch): repair skips it.
    let mut b = std::fs::read(&p).unwrap();
    let at = b.len() - 24 - 24 - 32 - 60;
    b[at] ^= 0xff;
    std::fs::write(&p, &b).unwrap();
    let report = simd_r_drive::repair(&p, &StoreOptions::new()).unwrap();
    assert_eq!(
        report.skipped[0].1 - report.skipped[0].0,
        ENTRY,
        "{report:?}"
    );
    let s = limited(4).open(&p).unwrap();
    // The evicted keys stay evicted (the eviction record in the damaged put's batch still
    // verifies, and repair keeps what verifies, batch or not); the damaged put is gone.
    let mut want = before.clone();
    assert_eq!(want.pop(), Some(8));
    assert_eq!(present(&s, 0..9), want);
    s.verify().unwrap();
}

#[test]
fn a_follower_sees_evictions_at_its_next_refresh() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let w = limited(5).open(&p).unwrap();
    for i in 0..5 {
        w.put(&key(i), &value(i)).unwrap();
    }
    let r = StoreOptions::new().read_only(true).open(&p).unwrap();
    assert_eq!(present(&r, 0..5), (0..5).collect::<Vec<_>>());
    for i in 5..8 {
        w.put(&key(i), &value(i)).unwrap();
    }
    r.refresh().unwrap();
    assert_eq!(present(&r, 0..8), (3..8).collect::<Vec<_>>());
    assert!(r.get(&key(0)).unwrap().is_none());
    // And after a compaction, which drops the evicted entries and their records.
    w.compact().unwrap();
    w.put(&key(8), &value(8)).unwrap();
    r.refresh().unwrap();
    // The copies count 8 bytes more each (their versions): 5 × 136 + 128 evicts two.
    assert_eq!(present(&r, 0..9), (5..9).collect::<Vec<_>>());
}

#[test]
fn compaction_drops_evicted_entries_and_eviction_goes_on_in_the_new_file() {
    let d = Dir::new();
    let s = limited(6).open(d.path("s.srd")).unwrap();
    // 10 puts stay below the size at which a write compacts (2 × 768 + 88 bytes).
    for i in 0..10 {
        s.put(&key(i), &value(i)).unwrap();
    }
    let before = s.stats();
    assert_eq!(before.generation, 0);
    let report = s.compact().unwrap();
    assert!(report.reclaimed_bytes > 0);
    let after = s.stats();
    // The new file holds the six live entries (each with its 8-byte version), its header
    // and its sync mark.
    assert_eq!(after.file_bytes, 64 + 6 * (ENTRY + 8) + 24);
    assert_eq!(present(&s, 0..10), (4..10).collect::<Vec<_>>());
    // The copies count 8 bytes more: 6 × 136 > 6 × 128, so the next put evicts two.
    s.put(&key(10), &value(10)).unwrap();
    assert_eq!(present(&s, 0..11), (6..11).collect::<Vec<_>>());
    assert!(s.stats().live_bytes <= 6 * ENTRY);
    s.verify().unwrap();
}

#[test]
fn a_write_larger_than_the_limit_is_refused_and_writes_nothing() {
    let d = Dir::new();
    let s = limited(3).open(d.path("s.srd")).unwrap();
    s.put(&key(0), &value(0)).unwrap();
    let end = s.stats().file_bytes;
    let big = vec![7u8; 3 * ENTRY as usize];
    let refused = s.put(b"big", &big).unwrap_err();
    assert!(matches!(refused, Error::OverMaxBytes { max_bytes, .. } if max_bytes == 3 * ENTRY));
    assert_eq!(refused.code(), "ERR_VALUE_TOO_LARGE");
    // A batch whose puts together are too large, though each fits.
    let (k, v): (Vec<_>, Vec<_>) = (1..5).map(|i| (key(i), value(i))).unzip();
    let ops: Vec<Op<'_>> = k
        .iter()
        .zip(&v)
        .map(|(k, v)| Op::Put { key: k, value: v })
        .collect();
    assert!(matches!(s.write(&ops), Err(Error::OverMaxBytes { .. })));
    let fed = s.write_each(ops.len(), |feed| {
        for op in &ops {
            feed.push(*op)?;
        }
        Ok(())
    });
    assert!(matches!(fed, Err(Error::OverMaxBytes { .. })), "{fed:?}");
    let streamed = s.put_from_reader(b"big", big.len() as u64, &mut &big[..]);
    assert!(matches!(streamed, Err(Error::OverMaxBytes { .. })));
    assert_eq!(s.stats().file_bytes, end);
    assert_eq!(present(&s, 0..5), vec![0]);
    // Exactly the limit fits, evicting everything else.
    let (k, v): (Vec<_>, Vec<_>) = (1..4).map(|i| (key(i), value(i))).unzip();
    let ops: Vec<Op<'_>> = k
        .iter()
        .zip(&v)
        .map(|(k, v)| Op::Put { key: k, value: v })
        .collect();
    s.write(&ops).unwrap();
    assert_eq!(present(&s, 0..5), vec![1, 2, 3]);
}

#[test]
fn batches_fed_one_at_a_time_and_streamed_values_evict_too() {
    let d = Dir::new();
    let s = limited(4).open(d.path("s.srd")).unwrap();
    for i in 0..4 {
        s.put(&key(i), &value(i)).unwrap();
    }
    s.write_each(2, |feed| {
        feed.push(Op::Put {
            key: &key(4),
            value: &value(4),
        })?;
        feed.push(Op::Put {
            key: &key(5),
            value: &value(5),
        })
    })
    .unwrap();
    assert_eq!(present(&s, 0..6), vec![2, 3, 4, 5]);
    let v = value(6);
    s.put_from_reader(&key(6), v.len() as u64, &mut &v[..])
        .unwrap();
    assert_eq!(present(&s, 0..7), vec![3, 4, 5, 6]);
    assert_eq!(s.stats().evicted_entries, 3);
    s.verify().unwrap();
}

#[test]
fn the_change_feed_shows_an_eviction_as_its_own_change() {
    let d = Dir::new();
    let s = limited(2).open(d.path("s.srd")).unwrap();
    for i in 0..3 {
        s.put(&key(i), &value(i)).unwrap();
    }
    s.delete(&key(1)).unwrap();
    let mut r = s.changes(None).unwrap();
    let read = r.read(&s, ChangeLimits::default()).unwrap();
    let file = std::fs::read(s.path()).unwrap();
    let seen: Vec<(ChangeKind, Vec<u8>)> = read
        .parts
        .iter()
        .flat_map(|p| p.changes.iter())
        .map(|c| {
            let (at, len) = c.key;
            (c.kind, file[at as usize..at as usize + len].to_vec())
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (ChangeKind::Put, key(0)),
            (ChangeKind::Put, key(1)),
            (ChangeKind::Put, key(2)),
            (ChangeKind::Evict, key(0)),
            (ChangeKind::Delete, key(1)),
        ]
    );
    // The put and its eviction are one batch (one commit).
    assert_eq!(read.parts.len(), 4);
}

/// Bytes of the store file and every side file beside it (index, delta, compaction).
fn disk_use(dir: &Dir) -> u64 {
    std::fs::read_dir(dir.dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// Writes ten times the limit in batches of varied sizes and checks the store file and the
/// disk after every batch. With `auto`, runs the automatic compactions that come due as a
/// binding does after its commits; without, only the writes' own compaction keeps it in
/// bounds.
fn write_ten_times_the_limit(auto: bool) {
    let d = Dir::new();
    let max = 64u64 << 10;
    let s = StoreOptions::new()
        .max_bytes(max)
        .checkpoint_min_keys(1)
        .auto_compact(None)
        .open(d.path("s.srd"))
        .unwrap();
    let mut written = 0u64;
    let mut n = 0u64;
    let mut largest_batch = 0u64;
    let mut worst_file = 0u64;
    let mut worst_disk = 0u64;
    let mut compactions = 0;
    while written < 10 * max {
        n += 1;
        let ops_n = 1 + (n * 7 % 20) as usize;
        let items: Vec<(Vec<u8>, Vec<u8>)> = (0..ops_n as u64)
            .map(|i| {
                let k = format!("k{}", (n * 13 + i * 7) % 400).into_bytes();
                let v = bytes(n * 31 + i, 50 + ((n * 131 + i * 17) % 1950) as usize);
                (k, v)
            })
            .collect();
        // Keys come back (400 of them), so that some puts replace rather than add.
        let ops: Vec<Op<'_>> = items
            .iter()
            .map(|(k, v)| Op::Put { key: k, value: v })
            .collect();
        let before = s.stats();
        s.write(&ops).unwrap();
        let after = s.stats();
        // After the write; a compaction may then raise it by 8 bytes a key (the copies'
        // versions) until the next write evicts again.
        assert!(
            after.live_bytes <= max,
            "batch {n}: live {} > {max}",
            after.live_bytes
        );
        if after.generation == before.generation {
            largest_batch = largest_batch.max(after.file_bytes - before.file_bytes);
        } else {
            compactions += 1;
        }
        written += ops
            .iter()
            .map(|op| match op {
                Op::Put { key, value } => (key.len() + value.len()) as u64,
                _ => 0,
            })
            .sum::<u64>();
        if auto {
            if let Some(claim) = s.claim_auto_compaction() {
                s.run_auto_compaction(&claim).unwrap();
                compactions += 1;
            }
        }
        let file = std::fs::metadata(s.path()).unwrap().len();
        worst_file = worst_file.max(file);
        worst_disk = worst_disk.max(disk_use(&d));
        assert!(
            file <= 2 * max + 88 + largest_batch,
            "batch {n}: store file {file} > 2 × {max} + 88 + {largest_batch}"
        );
        // Documented: the store file, plus the index and delta files (at most about 21
        // and 16 bytes per key; keys are at least 24 bytes on disk, so together < max).
        assert!(
            disk_use(&d) <= 3 * max + 88 + largest_batch + 4096,
            "batch {n}: disk {}",
            disk_use(&d)
        );
    }
    assert!(compactions >= 3, "{compactions} compactions");
    assert!(s.stats().evicted_entries > 0);
    s.verify().unwrap();
    eprintln!(
        "auto {auto}: {n} batches, {compactions} compactions, largest batch {largest_batch}, \
         worst store file {worst_file} ({:.2} × max), worst disk {worst_disk} ({:.2} × max)",
        worst_file as f64 / max as f64,
        worst_disk as f64 / max as f64
    );
}

#[test]
fn disk_use_stays_bounded_while_writing_ten_times_the_limit_with_automatic_compaction() {
    write_ten_times_the_limit(true);
}

#[test]
fn disk_use_stays_bounded_by_the_writes_own_compaction_alone() {
    write_ten_times_the_limit(false);
}

#[test]
fn automatic_compaction_comes_due_for_the_limit_even_with_its_policy_off() {
    let d = Dir::new();
    let s = limited(16).open(d.path("s.srd")).unwrap();
    assert_eq!(s.auto_compact_policy(), None);
    let mut i = 0;
    while !s.auto_compaction_due() {
        s.put(&key(i), &value(i)).unwrap();
        i += 1;
        assert!(i < 100, "never due");
    }
    // Due at 1.5 × the limit (24 entries' bytes), with a quarter of it reclaimable.
    assert!(s.stats().file_bytes >= 24 * ENTRY);
    assert!(s.stats().file_bytes < 24 * ENTRY + 2 * (ENTRY + 40));
    // Without a limit, the same store never is.
    drop(s);
    let s = StoreOptions::new()
        .auto_compact(None)
        .open(d.path("s.srd"))
        .unwrap();
    assert!(!s.auto_compaction_due());
}

#[test]
fn a_store_whose_next_write_must_compact_for_the_limit_is_busy_and_declines_try_write() {
    // An event loop asks `is_busy` and writes with `try_write` then: the compaction such a
    // write does first must happen on a worker thread, never on the loop.
    let d = Dir::new();
    let s = StoreOptions::new()
        .auto_compact(None)
        .open(d.path("s.srd"))
        .unwrap();
    for i in 0..40 {
        s.put(&key(i), &value(i)).unwrap();
    }
    assert!(!s.is_busy());
    // A lower limit: the data (40 entries) is past 2 × 16 entries + 88 bytes.
    s.set_max_bytes(Some(16 * ENTRY));
    assert!(s.is_busy(), "the next write must compact first");
    let end = s.stats().file_bytes;
    let op = Op::Put {
        key: &key(100),
        value: &value(100),
    };
    assert!(s.try_write(&[op]).unwrap().is_none(), "declined");
    assert_eq!(s.stats().file_bytes, end, "nothing written");
    assert_eq!(s.stats().generation, 0, "nothing compacted");
    // A write that may wait compacts, then writes and evicts down to the limit.
    // (Twice here: the first compaction leaves the live data, over the lowered limit, past
    // the line, and a write gives up compacting after two.)
    s.write(&[op]).unwrap();
    assert!(s.stats().generation >= 1);
    assert!(s.contains(&key(100)).unwrap());
    assert!(s.stats().live_bytes <= 16 * ENTRY + 8 * s.stats().entries);
}

const CHILD: &str = "MAX_BYTES_KILL_CHILD";
/// The limit of the kill -9 test: about 40 of its entries.
const KILL_MAX: u64 = 40 * 136;

fn kill_opts() -> StoreOptions {
    StoreOptions::new()
        .max_bytes(KILL_MAX)
        .checkpoint_min_keys(1)
        .auto_compact(None)
}

/// The writer of the kill -9 test: batches of ten puts (which evict), a compaction and a
/// close and reopen now and then; prints each acknowledged batch; runs until killed.
fn kill_child(path: &str, round: u64) {
    let mut out = std::io::stdout().lock();
    let mut s = kill_opts().open(path).expect("open");
    let mut n = 0u64;
    loop {
        n += 1;
        let keys: Vec<Vec<u8>> = (0..10)
            .map(|i| format!("r{round:02}-b{n:05}-{i}").into_bytes())
            .collect();
        let value = vec![(n % 251) as u8; 100];
        let ops: Vec<Op<'_>> = keys
            .iter()
            .map(|k| Op::Put {
                key: k,
                value: &value,
            })
            .collect();
        s.write(&ops).expect("write");
        writeln!(out, "ack r{round:02}-b{n:05}").unwrap();
        out.flush().unwrap();
        match n % 11 {
            4 => {
                s.compact().expect("compact");
            }
            9 => {
                s.close().expect("close");
                drop(s);
                s = kill_opts().open(path).expect("reopen");
            }
            _ => {}
        }
    }
}

#[test]
fn no_acknowledged_unevicted_write_is_lost_to_kill_9() {
    if let Ok(spec) = std::env::var(CHILD) {
        let (path, round) = spec.split_once('|').expect("path|round");
        kill_child(path, round.parse().unwrap());
        return;
    }
    let d = Dir::new();
    let p = d.path("s.srd");
    // Every acknowledged key, in the order written.
    let mut acked: Vec<Vec<u8>> = Vec::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    for round in 0..10u64 {
        let mut child = spawn_test_child(
            "no_acknowledged_unevicted_write_is_lost_to_kill_9",
            CHILD,
            format!("{}|{round}", p.display()),
        );
        let after = 3 + xorshift(&mut rng) % 40;
        let started = Instant::now();
        let mut seen = 0;
        let mut it = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut ack = |line: String| {
            if let Some(b) = line.strip_prefix("ack ") {
                acked.extend((0..10).map(|i| format!("{b}-{i}").into_bytes()));
                true
            } else {
                false
            }
        };
        for line in it.by_ref() {
            if ack(line.unwrap()) {
                seen += 1;
            }
            if seen >= after || started.elapsed() > Duration::from_secs(20) {
                break;
            }
        }
        // SAFETY: plain system call on the child's pid, which is still a child of this
        // process (not yet waited for), so the pid cannot have been reused.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        // Every acknowledgement the child printed before it died, also those after `after`.
        for line in it {
            let Ok(line) = line else { break };
            ack(line);
        }
        let s = kill_opts().open(&p).unwrap();
        assert!(s.stats().live_bytes <= KILL_MAX, "round {round}");
        // Evicted keys are the oldest: once one acknowledged key is there, every one
        // acknowledged after it is too, the last batch whole among them.
        let first = acked
            .iter()
            .position(|k| s.contains(k).unwrap())
            .expect("the last batch is there");
        for k in &acked[first..] {
            assert!(
                s.contains(k).unwrap(),
                "round {round}: {} was acknowledged after a key still there",
                String::from_utf8_lossy(k)
            );
        }
        assert!(acked.len() - first >= 10);
        // And enough is kept: at most the batch in flight (10 entries) and one entry's
        // worth of rounding less than the limit holds.
        let kept = s.stats().live_bytes;
        assert!(
            kept + 11 * 136 >= KILL_MAX,
            "round {round}: only {kept} kept"
        );
        s.verify().unwrap();
        drop(s);
    }
}
