mod common;

use common::*;
use simd_r_drive::{Error, Op, Store, StoreOptions};

#[test]
fn put_get_delete_and_reopen() {
    let d = Dir::new();
    let p = d.path("s.srd");
    {
        let s = open(&p);
        assert!(s.recovery().created);
        s.put(b"a", b"alpha").unwrap();
        s.put(b"b", b"").unwrap();
        s.put(b"c", &[0u8]).unwrap();
        s.put(b"a", b"alpha2").unwrap();
        assert_eq!(&*s.get(b"a").unwrap().unwrap(), b"alpha2");
        assert_eq!(&*s.get(b"b").unwrap().unwrap(), b"");
        assert_eq!(&*s.get(b"c").unwrap().unwrap(), &[0u8]);
        assert!(s.delete(b"a").unwrap());
        assert!(!s.delete(b"a").unwrap());
        assert!(!s.delete(b"zzz").unwrap());
        assert!(s.get(b"a").unwrap().is_none());
        assert!(!s.contains(b"a").unwrap());
        assert!(s.contains(b"b").unwrap());
        assert_eq!(s.len(), 2);
        s.close().unwrap();
    }
    let s = open(&p);
    assert!(!s.recovery().created);
    assert_eq!(s.recovery().entries, 5); // 4 puts + 1 tombstone; deleting a missing key writes nothing
    assert_eq!(
        dump(&s),
        vec![(b"b".to_vec(), b"".to_vec()), (b"c".to_vec(), vec![0u8])]
    );
}

#[test]
fn empty_and_zero_byte_values_are_not_deletes() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    s.put(b"empty", b"").unwrap();
    s.put(b"zero", &[0]).unwrap();
    s.put(b"zeros", &[0; 9]).unwrap();
    drop(s);
    let s = open(&p);
    assert_eq!(s.get(b"empty").unwrap().unwrap().len(), 0);
    assert_eq!(&*s.get(b"zero").unwrap().unwrap(), &[0]);
    assert_eq!(&*s.get(b"zeros").unwrap().unwrap(), &[0; 9]);
    assert_eq!(s.len(), 3);
}

#[test]
fn values_are_aligned_for_typed_views() {
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    for klen in 1..20usize {
        let key = vec![b'k'; klen];
        s.put(&key, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let v = s.get(&key).unwrap().unwrap();
        assert_eq!(v.file_offset() % 8, 0);
        assert_eq!(v.as_ptr() as usize % 8, 0);
    }
}

#[test]
fn batches_apply_in_order_and_report_what_existed() {
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    let c = s
        .write(&[
            Op::Put {
                key: b"x",
                value: b"1",
            },
            Op::Put {
                key: b"x",
                value: b"2",
            },
            Op::Delete { key: b"y" },
            Op::Put {
                key: b"y",
                value: b"3",
            },
            Op::Delete { key: b"x" },
        ])
        .unwrap();
    assert_eq!(c.existed, vec![false, true, false, false, true]);
    assert!(s.get(b"x").unwrap().is_none());
    assert_eq!(&*s.get(b"y").unwrap().unwrap(), b"3");
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    s.put(b"ok", b"v").unwrap();
    let before = s.stats();
    assert!(matches!(
        s.put(b"", b"v"),
        Err(Error::InvalidKey { len: 0 })
    ));
    let long = vec![1u8; simd_r_drive::MAX_KEY_LEN + 1];
    assert!(matches!(s.put(&long, b"v"), Err(Error::InvalidKey { .. })));
    // One bad op spoils the whole batch before anything is written.
    assert!(s
        .write(&[
            Op::Put {
                key: b"fine",
                value: b"v"
            },
            Op::Delete { key: b"" }
        ])
        .is_err());
    assert_eq!(s.stats(), before);
    assert!(s.get(b"fine").unwrap().is_none());
    // The longest key works.
    let max = vec![2u8; simd_r_drive::MAX_KEY_LEN];
    s.put(&max, b"big key").unwrap();
    assert_eq!(&*s.get(&max).unwrap().unwrap(), b"big key");
}

#[test]
fn handles_outlive_writes_compaction_and_close() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    s.put(b"k", b"first").unwrap();
    let h = s.get(b"k").unwrap().unwrap();
    // Written twice: the first copies are dead (compaction adds 8 bytes to each live one).
    for _ in 0..2 {
        for i in 0..2000u32 {
            s.put(&i.to_le_bytes(), &common::bytes(i as u64, 500))
                .unwrap();
        }
    }
    s.put(b"k", b"second").unwrap();
    let h2 = s.get(b"k").unwrap().unwrap();
    let r = s.compact().unwrap();
    assert!(r.reclaimed_bytes > 0);
    s.close().unwrap();
    assert!(matches!(s.get(b"k"), Err(Error::Closed)));
    assert!(matches!(s.put(b"k", b"v"), Err(Error::Closed)));
    drop(s);
    assert_eq!(&*h, b"first");
    assert_eq!(&*h2, b"second");
}

#[test]
fn stats_track_live_and_reclaimable_bytes() {
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    s.put(b"a", &[7; 100]).unwrap();
    s.put(b"a", &[8; 100]).unwrap();
    s.put(b"b", &[9; 10]).unwrap();
    s.delete(b"b").unwrap();
    let st = s.stats();
    assert_eq!(st.entries, 1);
    assert_eq!(st.live_bytes, simd_r_drive::entry_size(1, 100));
    assert_eq!(
        st.file_bytes,
        64 + 2 * simd_r_drive::entry_size(1, 100)
            + simd_r_drive::entry_size(1, 10)
            + simd_r_drive::entry_size(1, 0)
    );
    // What compaction would free: all but the header, the live entries (each copied with
    // its 8-byte version) and the sync mark that ends a compacted file.
    assert_eq!(
        st.reclaimable_bytes,
        st.file_bytes - 64 - st.live_bytes - 8 - 24
    );
    let r = s.compact().unwrap();
    assert_eq!(r.reclaimed_bytes, st.reclaimable_bytes);
    let st2 = s.stats();
    assert_eq!(st2.reclaimable_bytes, 0);
    assert_eq!(st2.live_bytes, st.live_bytes + 8);
    assert_eq!(st2.file_bytes, 64 + st.live_bytes + 8 + 24);
    assert_eq!(std::fs::metadata(s.path()).unwrap().len(), st2.file_bytes);
}

#[test]
fn not_a_store_is_left_untouched() {
    let d = Dir::new();
    let p = d.path("photo.jpg");
    let content = common::bytes(1, 10_000);
    std::fs::write(&p, &content).unwrap();
    for ro in [false, true] {
        let e = StoreOptions::new().read_only(ro).open(&p).unwrap_err();
        assert!(matches!(e, Error::NotAStore { .. }), "{e}");
        assert_eq!(e.code(), "ERR_NOT_A_STORE");
    }
    assert_eq!(std::fs::read(&p).unwrap(), content);
    // Nothing was created beside it either: no lock file, no temporary file.
    let names: Vec<_> = std::fs::read_dir(d.dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "{names:?}");
    // Also a short file that happens to be text.
    std::fs::write(&p, b"hi").unwrap();
    assert!(matches!(Store::open(&p), Err(Error::NotAStore { .. })));
    assert_eq!(std::fs::read(&p).unwrap(), b"hi");
}

#[test]
fn newer_format_versions_and_truncated_headers_are_refused() {
    let d = Dir::new();
    let p = d.path("s.srd");
    open(&p).put(b"k", b"v").unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[8] = 9; // version 9
    std::fs::write(&p, &bytes).unwrap();
    let e = Store::open(&p).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedVersion { found: 9, .. }),
        "{e}"
    );
    assert_eq!(std::fs::read(&p).unwrap(), bytes);

    std::fs::write(&p, &bytes[..30]).unwrap();
    let e = Store::open(&p).unwrap_err();
    assert!(matches!(e, Error::Corrupt { offset: 0, .. }), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), &bytes[..30]);
}

#[test]
fn an_empty_file_becomes_a_store() {
    let d = Dir::new();
    let p = d.path("s.srd");
    std::fs::write(&p, b"").unwrap();
    let s = open(&p);
    s.put(b"k", b"v").unwrap();
}

#[test]
fn create_false_refuses_missing_files() {
    let d = Dir::new();
    let p = d.path("missing.srd");
    let e = StoreOptions::new().create(false).open(&p).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_IO");
    assert!(!p.exists());
}

#[test]
fn iteration_is_a_snapshot_that_does_not_block_writers() {
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    for i in 0..100u32 {
        s.put(&i.to_be_bytes(), &i.to_le_bytes()).unwrap();
    }
    let mut it = s.iter().unwrap();
    let first = it.next().unwrap();
    for i in 0..100u32 {
        s.put(&i.to_be_bytes(), b"changed").unwrap();
    }
    s.put(b"new", b"x").unwrap();
    let rest: Vec<_> = it.collect();
    assert_eq!(rest.len(), 99);
    for (k, v) in std::iter::once(first).chain(rest) {
        let i = u32::from_be_bytes(k[..].try_into().unwrap());
        assert_eq!(&v[..], &i.to_le_bytes());
    }
}

#[test]
fn large_values_round_trip() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    let big = common::bytes(3, 5 << 20);
    s.put(b"big", &big).unwrap();
    assert_eq!(&*s.get(b"big").unwrap().unwrap(), &big[..]);
    drop(s);
    let s = open(&p);
    assert_eq!(&*s.get(b"big").unwrap().unwrap(), &big[..]);
}

#[test]
fn sync_mode_and_flush_advance_durable_seq() {
    let d = Dir::new();
    let s = StoreOptions::new()
        .sync(true)
        .open(d.path("s.srd"))
        .unwrap();
    let c = s
        .write(&[Op::Put {
            key: b"a",
            value: b"1",
        }])
        .unwrap();
    assert!(s.durable_seq() >= c.seq);
    let s2 = open(&d.path("t.srd"));
    let c = s2
        .write(&[Op::Put {
            key: b"a",
            value: b"1",
        }])
        .unwrap();
    assert!(s2.durable_seq() < c.seq);
    s2.flush().unwrap();
    assert!(s2.durable_seq() >= c.seq);
}

#[test]
fn concurrent_sync_commits_share_fsyncs() {
    use simd_r_drive::io::{FailAfter, Fault, IoOp, OsBackend};
    use std::sync::Arc;
    let d = Dir::new();
    // A counting backend: FailAfter that never trips.
    let counter = Arc::new(FailAfter::new(
        Arc::new(OsBackend),
        &[IoOp::Sync],
        u64::MAX,
        Fault::Errno(5),
    ));
    let s = Arc::new(
        StoreOptions::new()
            .sync(true)
            .backend(counter.clone())
            .open(d.path("s.srd"))
            .unwrap(),
    );
    let before = counter.calls();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..50u32 {
                    s.put(&[t as u8, (i >> 8) as u8, i as u8], b"v").unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let syncs = counter.calls() - before;
    assert_eq!(s.len(), 400);
    assert!(syncs <= 400, "{syncs} syncs for 400 commits");
    eprintln!("400 sync commits from 8 threads used {syncs} fdatasyncs");
}

#[test]
fn a_store_opened_through_a_symlink_compacts_the_real_file() {
    let d = Dir::new();
    let real = d.path("real.srd");
    let link = d.path("link.srd");
    let s = open(&real);
    s.put(b"k", b"v").unwrap();
    drop(s);
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let s = open(&link);
    s.put(b"k2", b"v2").unwrap();
    s.delete(b"k").unwrap();
    s.compact().unwrap();
    s.put(b"after", b"x").unwrap();
    drop(s);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let r = open(&real);
    assert!(r.get(b"k").unwrap().is_none());
    assert_eq!(&*r.get(b"k2").unwrap().unwrap(), b"v2");
    assert_eq!(&*r.get(b"after").unwrap().unwrap(), b"x");
    drop(r);
    // Both names take the same lock.
    let a = open(&link);
    assert!(matches!(Store::open(&real), Err(Error::Locked { .. })));
    drop(a);
}

/// A flush appends only a sync mark: a read-only follower's refresh sees no change.
#[test]
fn a_flush_alone_is_no_change_for_a_follower() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let w = open(&p);
    w.put(b"a", b"1").unwrap();
    let r = StoreOptions::new().read_only(true).open(&p).unwrap();
    w.flush().unwrap();
    assert_eq!(r.refresh().unwrap(), simd_r_drive::Refresh::Unchanged);
    w.put(b"b", b"2").unwrap();
    assert_eq!(r.refresh().unwrap(), simd_r_drive::Refresh::Appended(1));
    assert_eq!(r.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
}

/// A reader that signals when it is first read from, then waits for a go-ahead.
struct Gate {
    started: Option<std::sync::mpsc::Sender<()>>,
    go: std::sync::mpsc::Receiver<()>,
    left: usize,
}

impl std::io::Read for Gate {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(tx) = self.started.take() {
            tx.send(()).unwrap();
            self.go.recv().unwrap();
        }
        let n = buf.len().min(self.left);
        buf[..n].fill(7);
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn try_write_declines_while_the_writer_lock_is_held_and_writes_nothing() {
    let d = common::Dir::new();
    let s = std::sync::Arc::new(common::open(&d.path("s.srd")));
    s.put(b"a", b"1").unwrap();
    let (started_tx, started) = std::sync::mpsc::channel();
    let (go, go_rx) = std::sync::mpsc::channel();
    let streamer = {
        let s = s.clone();
        std::thread::spawn(move || {
            let mut gate = Gate {
                started: Some(started_tx),
                go: go_rx,
                left: 1000,
            };
            s.put_from_reader(b"streamed", 1000, &mut gate)
        })
    };
    started.recv().unwrap();
    // The streamed value holds the writer lock: try_write must not wait, nor write.
    let before = s.stats().file_bytes;
    let declined = s
        .try_write(&[Op::Put {
            key: b"b",
            value: b"2",
        }])
        .unwrap();
    assert!(declined.is_none());
    assert_eq!(s.stats().file_bytes, before);
    assert!(s.get(b"b").unwrap().is_none());
    go.send(()).unwrap();
    streamer.join().unwrap().unwrap();
    let done = s
        .try_write(&[Op::Put {
            key: b"b",
            value: b"2",
        }])
        .unwrap();
    assert!(done.is_some_and(|c| c.existed == vec![false]));
    assert_eq!(s.get(b"b").unwrap().unwrap().to_vec(), b"2");
    assert_eq!(s.get(b"streamed").unwrap().unwrap().len(), 1000);
}

/// Bindings stage streamed values at `upload_prefix()` + a unique name, beside the resolved
/// store path; a writer's open removes what a crashed one left there, and nothing else.
#[test]
fn upload_prefix_is_beside_the_resolved_path_and_leftovers_go_at_open() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    let prefix = s.upload_prefix();
    let mut want = s.path().as_os_str().to_owned();
    want.push(".upload-");
    assert_eq!(prefix.as_os_str(), want.as_os_str());
    drop(s);
    let mut leftover = prefix.as_os_str().to_owned();
    leftover.push("1234-abcd");
    std::fs::write(&leftover, b"partial value").unwrap();
    let other = d.path("s.srd.uploaded-notes");
    std::fs::write(&other, b"not ours").unwrap();
    drop(open(&p));
    assert!(
        !std::path::Path::new(&leftover).exists(),
        "a crashed writer's staging file is removed"
    );
    assert!(other.exists(), "a file that only looks alike is kept");
}
