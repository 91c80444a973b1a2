//! Preallocation: zeros kept ahead of the data are never part of the store.

mod common;

use common::*;
use simd_r_drive::{Op, StoreOptions};

/// Reopens the store at `p`, asserting that it finds no zero tail to drop and holds exactly
/// `expected`; returns it.
fn reopens_whole(p: &std::path::Path, expected: &[(Vec<u8>, Vec<u8>)]) -> simd_r_drive::Store {
    let r = open(p);
    assert_eq!(r.recovery().dropped_tail_bytes, 0);
    assert_eq!(dump(&r), expected);
    r
}

/// A store at `p` whose zeros, `step` at a time, are left to the background (the caller
/// claims and writes them).
fn with_background_zeros(p: &std::path::Path, step: u64) -> simd_r_drive::Store {
    StoreOptions::new()
        .preallocate(step)
        .zeros_in_background(true)
        .open(p)
        .unwrap()
}

#[test]
fn preallocated_zeros_are_trimmed_on_close_and_dropped_after_a_crash() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = StoreOptions::new()
        .preallocate(1 << 20)
        .sync(true)
        .open(&p)
        .unwrap();
    for i in 0..100u32 {
        s.put(&i.to_le_bytes(), &bytes(i as u64, 300)).unwrap();
    }
    s.write(&[
        Op::Put {
            key: b"a",
            value: b"1",
        },
        Op::Delete {
            key: &7u32.to_le_bytes(),
        },
    ])
    .unwrap();
    let data_len = s.stats().file_bytes;
    let file_len = std::fs::metadata(&p).unwrap().len();
    assert!(file_len >= data_len + (1 << 20), "{file_len} vs {data_len}");
    assert_eq!(file_len % (1 << 20), 0);
    // What a crash leaves: the data followed by zeros. Recovery drops the zeros.
    let crashed = d.path("crashed.srd");
    std::fs::copy(&p, &crashed).unwrap();
    let c = open(&crashed);
    assert_eq!(c.recovery().dropped_tail_bytes, file_len - data_len);
    assert_eq!(dump(&c), dump(&s));
    let kept = without_open_mark(std::fs::read(&crashed).unwrap(), data_len as usize);
    assert_eq!(kept.len() as u64, data_len);
    // Crossing the preallocated space extends it again, in whole steps.
    s.put(b"big", &vec![7u8; 3 << 20]).unwrap();
    let grown = std::fs::metadata(&p).unwrap().len();
    assert!(grown > s.stats().file_bytes && grown.is_multiple_of(1 << 20));
    // Compaction writes the new file's preallocated zeros itself, before the switch, so
    // that the first write after it (maybe on an event loop) has none to write; close trims
    // what is preallocated.
    s.compact().unwrap();
    let compacted = std::fs::metadata(&p).unwrap().len();
    assert!(compacted >= s.stats().file_bytes + (1 << 20), "{compacted}");
    assert_eq!(compacted % (1 << 20), 0);
    // What a crash right after the compaction leaves: the new file and its zeros.
    let crashed = d.path("crashed-after-compaction.srd");
    std::fs::copy(&p, &crashed).unwrap();
    let c = open(&crashed);
    assert_eq!(
        c.recovery().dropped_tail_bytes,
        compacted - s.stats().file_bytes
    );
    assert_eq!(dump(&c), dump(&s));
    drop(c);
    s.put(b"after", b"compaction").unwrap();
    assert_eq!(
        std::fs::metadata(&p).unwrap().len(),
        compacted,
        "no zeros were written"
    );
    let expected = dump(&s);
    let end = s.stats().file_bytes;
    s.close().unwrap();
    // Close syncs, then appends a 24-byte sync mark recording that, and trims the rest.
    assert_eq!(std::fs::metadata(&p).unwrap().len(), end + 24);
    reopens_whole(&p, &expected);
}

#[test]
fn a_read_only_follower_stops_at_the_preallocated_zeros() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let w = StoreOptions::new().preallocate(1 << 16).open(&p).unwrap();
    w.put(b"k", b"v").unwrap();
    let r = StoreOptions::new().read_only(true).open(&p).unwrap();
    assert_eq!(&*r.get(b"k").unwrap().unwrap(), b"v");
    w.put(b"k2", b"v2").unwrap();
    r.refresh().unwrap();
    assert_eq!(&*r.get(b"k2").unwrap().unwrap(), b"v2");
    assert_eq!(r.len(), 2);
}

#[test]
fn a_writer_never_shrinks_the_file_under_a_reader() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let w = StoreOptions::new().preallocate(1 << 20).open(&p).unwrap();
    w.put(b"k", b"v").unwrap();
    let r = StoreOptions::new().read_only(true).open(&p).unwrap();
    let len = std::fs::metadata(&p).unwrap().len();
    w.close().unwrap();
    // The reader has the file mapped: the preallocated zeros stay.
    assert_eq!(std::fs::metadata(&p).unwrap().len(), len);
    assert_eq!(&*r.get(b"k").unwrap().unwrap(), b"v");
    drop(w);
    // A writer that opens beside the reader clears an unfinished tail with zeros instead
    // of cutting it off.
    let f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    std::io::Write::write_all(&mut &f, &[0xAB; 100]).unwrap();
    drop(f);
    let grown = std::fs::metadata(&p).unwrap().len();
    let w2 = open(&p);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), grown);
    let bytes = std::fs::read(&p).unwrap();
    assert!(bytes[w2.stats().file_bytes as usize..]
        .iter()
        .all(|&b| b == 0));
    w2.put(b"k2", b"v2").unwrap();
    assert_eq!(r.refresh().unwrap(), simd_r_drive::Refresh::Appended(1));
    assert_eq!(&*r.get(b"k2").unwrap().unwrap(), b"v2");
    // Once no reader is left, closing trims.
    drop(r);
    let end = w2.stats().file_bytes;
    w2.close().unwrap();
    assert_eq!(
        std::fs::metadata(&p).unwrap().len(),
        end + 24,
        "data and the closing mark"
    );
}

/// A read-only open while a writer appends into preallocated zeros can catch a batch
/// half-copied, with complete batches and a sync mark after it by the time it looks ahead.
/// That is a write in progress, not damage: reads-only opens and followers must never report
/// it as corruption.
#[test]
fn read_only_opens_racing_a_writer_never_report_its_writes_as_damage() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let w = std::sync::Arc::new(StoreOptions::new().preallocate(1 << 22).open(&p).unwrap());
    w.put(b"seed", b"1").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (w, stop) = (w.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let keys: Vec<Vec<u8>> = (0..8)
                    .map(|j| format!("k{}", (i * 8 + j) % 500).into_bytes())
                    .collect();
                let vals: Vec<Vec<u8>> = (0..8)
                    .map(|j| bytes(i * 8 + j, 64 + ((i * 37 + j * 101) % 9000) as usize))
                    .collect();
                let ops: Vec<Op> = keys
                    .iter()
                    .zip(&vals)
                    .map(|(k, v)| Op::Put { key: k, value: v })
                    .collect();
                w.write(&ops).unwrap();
                if i.is_multiple_of(5) {
                    w.flush().unwrap();
                }
                i += 1;
            }
        })
    };
    let started = std::time::Instant::now();
    let mut opens = 0;
    let mut follower = StoreOptions::new().read_only(true).open(&p).unwrap();
    while started.elapsed() < std::time::Duration::from_secs(4) {
        let r = StoreOptions::new().read_only(true).open(&p);
        if let Err(e) = &r {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            panic!("read-only open {opens} failed: {e}");
        }
        if opens % 10 == 0 {
            w.compact().unwrap();
        }
        if let Err(e) = follower.refresh() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            panic!("refresh failed: {e}");
        }
        opens += 1;
        if opens % 50 == 0 {
            follower = StoreOptions::new().read_only(true).open(&p).unwrap();
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(opens > 20, "{opens}");
}

#[test]
fn zeros_left_to_the_background_are_written_only_by_extend_zeros() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let step = 1u64 << 20;
    let s = with_background_zeros(&p, step);
    let len = || std::fs::metadata(&p).unwrap().len();
    s.put(b"a", &bytes(1, 100 << 10)).unwrap();
    // The commit wrote its own bytes and nothing past them.
    assert_eq!(len(), s.stats().file_bytes);
    assert!(s.claim_zeros());
    assert!(
        !s.claim_zeros(),
        "a claim is held until extend_zeros releases it"
    );
    s.extend_zeros();
    let end = s.stats().file_bytes;
    assert_eq!(len(), end.div_ceil(step) * step + step);
    // More than one step of zeros ahead: nothing is due until the data comes within one.
    assert!(!s.claim_zeros());
    s.put(b"b", &bytes(2, (len() - end - step + 1) as usize))
        .unwrap();
    assert!(len() - s.stats().file_bytes < step);
    assert!(!s.is_busy());
    assert!(s.claim_zeros());
    // A piece at a time, 64 KiB each; busy (writers leave the event loop) until the last.
    let mut pieces = 1;
    while s.extend_zeros_piece() {
        assert!(s.is_busy() && !s.claim_zeros());
        pieces += 1;
    }
    assert!(!s.is_busy());
    assert!(len() - s.stats().file_bytes > step);
    assert_eq!(
        pieces,
        (len() - (end.div_ceil(step) * step + step)).div_ceil(64 << 10)
    );
    let before = dump(&s);
    s.close().unwrap();
    // Close trimmed the zeros: the reopened store finds no zero tail to drop.
    reopens_whole(&p, &before);
}

/// Zeros written in the background never land on data: a writer racing `extend_zeros`
/// with batches that keep crossing the preallocated end loses nothing (without the writer
/// lock around each piece, the zeros overwrite the batches that crossed it).
#[test]
fn background_zeros_racing_a_writer_never_overwrite_data() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = std::sync::Arc::new(with_background_zeros(&p, 4096));
    let done = std::sync::atomic::AtomicBool::new(false);
    let extended = std::sync::atomic::AtomicU64::new(0);
    let written = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|t| {
        t.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                if s.claim_zeros() {
                    s.extend_zeros();
                    extended.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        // Until the zeros were extended often enough for the race to be real (a loaded
        // machine may give the other thread few turns).
        let mut i = 0u64;
        while i < 3000 || (extended.load(std::sync::atomic::Ordering::Relaxed) < 20 && i < 30_000) {
            let value = bytes(i, 500 + (i as usize * 797) % 7000);
            s.put(&i.to_le_bytes(), &value).unwrap();
            i += 1;
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        written.store(i, std::sync::atomic::Ordering::Relaxed);
    });
    assert!(extended.load(std::sync::atomic::Ordering::Relaxed) >= 20);
    let before = dump(&s);
    drop(s);
    let r = reopens_whole(&p, &before);
    for i in 0..written.load(std::sync::atomic::Ordering::Relaxed) {
        let v = r.get(&i.to_le_bytes()).unwrap().unwrap();
        assert_eq!(
            v.as_slice(),
            &bytes(i, 500 + (i as usize * 797) % 7000)[..],
            "key {i}"
        );
    }
}

/// A piece of zeros for a caller that must not wait for the writer lock gives up while a
/// writer holds it, writing nothing and keeping its claim, and writes once the lock is free.
#[test]
fn a_piece_that_must_not_wait_gives_up_while_a_writer_holds_the_lock() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let step = 1u64 << 20;
    let s = with_background_zeros(&p, step);
    s.put(b"a", &bytes(1, 100 << 10)).unwrap();
    assert!(s.claim_zeros());
    let len = || std::fs::metadata(&p).unwrap().len();
    let before = len();
    // A streamed value holds the writer lock while its source is read: the source asks.
    struct Asks<'a> {
        store: &'a simd_r_drive::Store,
        left: usize,
        answers: Vec<Option<bool>>,
    }
    impl std::io::Read for Asks<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.answers.is_empty() {
                self.answers.push(self.store.try_extend_zeros_piece());
                // The claim is still held: nobody else claims the zeros meanwhile.
                self.answers.push(Some(self.store.claim_zeros()));
            }
            let n = buf.len().min(self.left);
            buf[..n].fill(3);
            self.left -= n;
            Ok(n)
        }
    }
    let mut source = Asks {
        store: &s,
        left: 1000,
        answers: Vec::new(),
    };
    s.put_from_reader(b"streamed", 1000, &mut source).unwrap();
    assert_eq!(source.answers, vec![None, Some(false)]);
    assert!(s.is_busy(), "the claim is held");
    assert!(
        len() <= before + 1000 + 4096,
        "nothing written by the piece that gave up"
    );
    // With the lock free, the pieces write the zeros.
    let mut pieces = 0;
    while let Some(true) = s.try_extend_zeros_piece() {
        pieces += 1;
    }
    assert!(pieces > 0);
    assert!(len() >= s.stats().file_bytes + step);
    assert!(!s.is_busy());
}

/// A store without preallocation has no zeros to write: extending them writes nothing.
#[test]
fn extending_the_zeros_of_a_store_without_preallocation_writes_nothing() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = with_background_zeros(&p, 0);
    s.put(b"a", b"b").unwrap();
    assert!(!s.claim_zeros());
    s.extend_zeros();
    assert_eq!(s.try_extend_zeros_piece(), Some(false));
    assert_eq!(std::fs::metadata(&p).unwrap().len(), s.stats().file_bytes);
}

/// After a full disk stopped the zeros, a compaction (which frees the space, and leaves a
/// file that ends far below the old one) lets them be claimed again as the data grows,
/// rather than once the data has grown back past where the old file ended.
#[test]
fn a_compaction_after_a_full_disk_lets_the_zeros_resume() {
    use simd_r_drive::io::{FailAfter, Fault, IoOp, OsBackend};
    use std::sync::Arc;
    let d = Dir::new();
    let p = d.path("s.srd");
    let step = 1u64 << 20;
    let value = 500 << 10;
    {
        let s = StoreOptions::new().open(&p).unwrap();
        for i in 0..40u64 {
            s.put(&i.to_le_bytes(), &bytes(i, value)).unwrap();
        }
        s.close().unwrap();
    }
    let opened = |backend: Arc<FailAfter>| {
        StoreOptions::new()
            .backend(backend)
            .preallocate(step)
            .zeros_in_background(true)
            .open(&p)
            .unwrap()
    };
    // The writes an open makes, counted, so that the next open's first write after them fails.
    let counting = Arc::new(FailAfter::new(
        Arc::new(OsBackend),
        &[IoOp::Write],
        u64::MAX,
        Fault::Errno(libc::ENOSPC),
    ));
    let n = {
        let _s = opened(counting.clone());
        counting.calls()
    };
    let disk = Arc::new(
        FailAfter::new(
            Arc::new(OsBackend),
            &[IoOp::Write],
            n,
            Fault::Errno(libc::ENOSPC),
        )
        .times(1),
    );
    let s = opened(disk.clone());
    assert!(s.claim_zeros());
    s.extend_zeros();
    assert!(disk.tripped(), "the first piece met the full disk");
    for i in 1..40u64 {
        s.delete(&i.to_le_bytes()).unwrap();
    }
    s.compact().unwrap();
    let mut claims = 0;
    for i in 100..116u64 {
        s.put(&i.to_le_bytes(), &bytes(i, value)).unwrap();
        if s.claim_zeros() {
            claims += 1;
            s.extend_zeros();
        }
    }
    let len = std::fs::metadata(&p).unwrap().len();
    assert!(
        claims > 0,
        "no zeros claimed in 8 MB of data after the compaction"
    );
    assert!(len >= s.stats().file_bytes + step, "{len}");
}
