//! `Store::backup`: the copy is the committed prefix at the call, is a store that opens and
//! verifies (with an index file of its own when the store is large), never replaces a file,
//! and is consistent while writers and a compaction run.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use simd_r_drive::{Op, StoreOptions};

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".backup-"))
        .collect()
}

#[test]
fn a_backup_holds_exactly_what_was_committed_at_the_call_and_opens_and_verifies() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    for i in 0..300u64 {
        s.put(format!("k{i}").as_bytes(), &bytes(i, (i % 70) as usize))
            .unwrap();
    }
    s.write(&[
        Op::Delete { key: b"k3" },
        Op::Put {
            key: b"k4",
            value: b"four",
        },
    ])
    .unwrap();
    let before = dump(&s);
    let dest = d.path("copy.srd");
    let r = s.backup(&dest).unwrap();
    s.put(b"after", b"x").unwrap();
    s.put(b"k5", b"changed after").unwrap();

    assert_eq!(r.keys, before.len() as u64);
    assert_eq!(r.bytes, std::fs::metadata(&dest).unwrap().len());
    assert!(!r.index_file, "a small store gets no index file");
    assert!(leftovers(d.dir.path()).is_empty());
    // The copy is readable by exactly those who may read the store.
    let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let src = std::fs::read(&p).unwrap();
    let copy = std::fs::read(&dest).unwrap();
    // A new file, a new generation identifier; the same version, and the log as it was.
    assert_eq!(copy[..20], src[..20]);
    assert_ne!(copy[20..36], src[20..36]);
    let end = r.bytes as usize - 24;
    assert_eq!(copy[64..end], src[64..end]);
    // It ends with a sync mark recording everything before it.
    assert_eq!(copy[end + 8], 4);
    assert_eq!(&copy[end + 16..], &(end as u64).to_le_bytes());

    let c = open(&dest);
    assert_eq!(dump(&c), before);
    assert!(c.get(b"after").unwrap().is_none());
    c.verify().unwrap();
    assert_eq!(c.recovery().dropped_tail_bytes, 0);
    c.close().unwrap();
    s.close().unwrap();
}

#[test]
fn a_backup_refuses_an_existing_path_and_leaves_it_untouched() {
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    s.put(b"a", b"1").unwrap();
    let dest = d.path("taken");
    std::fs::write(&dest, b"someone else's file").unwrap();
    let e = s.backup(&dest).unwrap_err();
    assert_eq!(e.code(), "ERR_EXISTS", "{e}");
    assert!(e.to_string().contains("left untouched"), "{e}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"someone else's file");
    // A dangling symbolic link is a name that is taken too.
    let link = d.path("link");
    std::os::unix::fs::symlink(d.path("nowhere"), &link).unwrap();
    assert_eq!(s.backup(&link).unwrap_err().code(), "ERR_EXISTS");
    assert!(!d.path("nowhere").exists());
    assert!(leftovers(d.dir.path()).is_empty());
    // A missing directory is an I/O error, and leaves nothing either.
    let e = s.backup(d.path("no/such/dir")).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_IO", "{e}");
}

#[test]
fn a_large_store_gets_an_index_file_and_its_copy_opens_from_it() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let opts = StoreOptions::new().checkpoint_min_keys(100);
    let s = opts.open(&p).unwrap();
    for i in 0..2000u64 {
        s.put(format!("k{i}").as_bytes(), &bytes(i, 20)).unwrap();
    }
    // An index file of the source, then changes after it: the copy's index must be of the
    // state at the call, not of the source's index file.
    s.checkpoint().unwrap();
    for i in 0..50u64 {
        s.delete(format!("k{i}").as_bytes()).unwrap();
        s.put(format!("n{i}").as_bytes(), b"new").unwrap();
    }
    let before = dump(&s);
    let dest = d.path("copy.srd");
    let r = s.backup(&dest).unwrap();
    assert!(r.index_file);
    assert!(d.path("copy.srd.srd-index").exists());
    let c = opts.open(&dest).unwrap();
    assert_eq!(c.recovery().checkpoint_keys, Some(2000));
    assert_eq!(
        c.recovery().entries,
        0,
        "nothing to replay: the open was O(1)"
    );
    assert_eq!(dump(&c), before);
    c.verify().unwrap();
    drop(c);
    // Without its index file the copy opens all the same, by reading its log.
    std::fs::remove_file(d.path("copy.srd.srd-index")).unwrap();
    let c = opts.open(&dest).unwrap();
    assert_eq!(c.recovery().checkpoint_keys, None);
    assert_eq!(dump(&c), before);
}

#[test]
fn a_backup_during_writes_and_a_compaction_is_a_prefix_of_the_commits() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = Arc::new(open(&p));
    // Dead data, so that the compaction below has work to do while the backup runs.
    let big = vec![7u8; 4096];
    for _ in 0..4 {
        let ops: Vec<Op> = (0..5000)
            .map(|_| Op::Put {
                key: b"dead",
                value: &big,
            })
            .collect();
        s.write(&ops).unwrap();
    }
    let acked = Arc::new(AtomicU64::new(0));
    // The longest a put waited while the backup ran (nanoseconds), for the report.
    let backing_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worst_put = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (s, acked, stop) = (s.clone(), acked.clone(), stop.clone());
        let (backing_up, worst_put) = (backing_up.clone(), worst_put.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Acquire) {
                let t = std::time::Instant::now();
                s.put(format!("w{i:08}").as_bytes(), &i.to_le_bytes())
                    .unwrap();
                if backing_up.load(Ordering::Acquire) {
                    worst_put.fetch_max(t.elapsed().as_nanos() as u64, Ordering::AcqRel);
                }
                i += 1;
                acked.store(i, Ordering::Release);
            }
            i
        })
    };
    while acked.load(Ordering::Acquire) < 1000 {
        std::thread::yield_now();
    }
    let compactor = {
        let s = s.clone();
        std::thread::spawn(move || s.compact().unwrap())
    };
    while !s.is_busy() && !compactor.is_finished() {
        std::thread::yield_now();
    }
    let generation_before = s.stats().generation;
    let acked_before = acked.load(Ordering::Acquire);
    let dest = d.path("copy.srd");
    backing_up.store(true, Ordering::Release);
    let r = s.backup(&dest).unwrap();
    backing_up.store(false, Ordering::Release);
    let acked_after = acked.load(Ordering::Acquire);
    let generation_after = s.stats().generation;
    compactor.join().unwrap();
    stop.store(true, Ordering::Release);
    let written = writer.join().unwrap();
    eprintln!(
        "backup of {} bytes took {:?}; compaction generation {} -> {} meanwhile; {} puts \
         acknowledged before, {} after, {} in all; the longest put meanwhile took {:?} \
         (compaction's final step included)",
        r.bytes,
        r.duration,
        generation_before,
        generation_after,
        acked_before,
        acked_after,
        written,
        std::time::Duration::from_nanos(worst_put.load(Ordering::Acquire))
    );

    let c = open(&dest);
    c.verify().unwrap();
    assert_eq!(c.get(b"dead").unwrap().as_deref(), Some(&big[..]));
    // Every put acknowledged before the call is there, and what is there is a prefix of
    // the writer's puts (never a later one without an earlier one), with its value.
    let mut n = 0u64;
    while let Some(v) = c.get(format!("w{n:08}").as_bytes()).unwrap() {
        assert_eq!(v.as_slice(), &n.to_le_bytes());
        n += 1;
    }
    assert!(n >= acked_before, "{n} < {acked_before}");
    assert!(n <= acked_after + 1, "{n} > {acked_after} + 1");
    assert_eq!(c.len(), n as usize + 1, "nothing past the prefix");
    assert_eq!(r.keys, n + 1);
}

/// Runs `hook` (once, on another thread, waiting for it) at the first write of a 64-byte
/// header at offset 0 after it is armed: the backup's own header, written after the backup
/// took the end of the data and before it copies the log.
#[derive(Debug, Default)]
struct AtBackupHeader {
    armed: std::sync::atomic::AtomicBool,
    hook: std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>>,
    done: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl simd_r_drive::io::Backend for AtBackupHeader {
    fn write_at(&self, file: &std::fs::File, buf: &[u8], offset: u64) -> std::io::Result<()> {
        if offset == 0 && buf.len() == 64 && self.armed.swap(false, Ordering::AcqRel) {
            // Let the test compact now, and wait until it has.
            if let Some(go) = self.hook.lock().unwrap().take() {
                go.send(()).unwrap();
                self.done.lock().unwrap().take().unwrap().recv().unwrap();
            }
        }
        simd_r_drive::io::OsBackend.write_at(file, buf, offset)
    }
    fn sync_data(&self, file: &std::fs::File) -> std::io::Result<()> {
        simd_r_drive::io::OsBackend.sync_data(file)
    }
    fn set_len(&self, file: &std::fs::File, len: u64) -> std::io::Result<()> {
        simd_r_drive::io::OsBackend.set_len(file, len)
    }
    fn rename(&self, from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
        simd_r_drive::io::OsBackend.rename(from, to)
    }
    fn sync_dir(&self, dir: &std::path::Path) -> std::io::Result<()> {
        simd_r_drive::io::OsBackend.sync_dir(dir)
    }
}

#[test]
fn a_compaction_that_replaces_the_file_in_the_middle_of_a_backup_changes_nothing_in_the_copy() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let backend = Arc::new(AtBackupHeader::default());
    let (go_tx, go_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    *backend.hook.lock().unwrap() = Some(go_tx);
    *backend.done.lock().unwrap() = Some(done_rx);
    let s = Arc::new(
        StoreOptions::new()
            .backend(backend.clone())
            .open(&p)
            .unwrap(),
    );
    for i in 0..2000u64 {
        s.put(format!("k{}", i % 100).as_bytes(), &bytes(i, 64))
            .unwrap();
    }
    let before = dump(&s);
    let old = std::fs::read(&p).unwrap();
    let old_inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&p).unwrap());
    let compactor = {
        let s = s.clone();
        std::thread::spawn(move || {
            go_rx.recv().unwrap();
            let r = s.compact().unwrap();
            // A write after the switch, in the new file: not in the copy.
            s.put(b"after", b"x").unwrap();
            done_tx.send(()).unwrap();
            r
        })
    };
    backend.armed.store(true, Ordering::Release);
    let dest = d.path("copy.srd");
    let r = s.backup(&dest).unwrap();
    let compacted = compactor.join().unwrap();
    assert!(compacted.reclaimed_bytes > 0);
    let new_inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&p).unwrap());
    assert_ne!(
        new_inode, old_inode,
        "the compaction replaced the store file meanwhile"
    );
    // The copy is the old file's log, byte for byte, read through the old mapping.
    let copy = std::fs::read(&dest).unwrap();
    let end = r.bytes as usize - 24;
    assert!(end <= old.len());
    assert_eq!(copy[64..end], old[64..end]);
    let c = open(&dest);
    c.verify().unwrap();
    assert_eq!(dump(&c), before);
    assert!(c.get(b"after").unwrap().is_none());
}

#[test]
fn of_backups_racing_to_one_path_exactly_one_wins_and_nothing_is_left_behind() {
    let d = Dir::new();
    let s = Arc::new(open(&d.path("s.srd")));
    for i in 0..500u64 {
        s.put(format!("k{i}").as_bytes(), &bytes(i, 500)).unwrap();
    }
    let dest = d.path("copy.srd");
    for round in 0..5 {
        let _ = std::fs::remove_file(&dest);
        let results: Vec<_> = (0..4)
            .map(|_| {
                let (s, dest) = (s.clone(), dest.clone());
                std::thread::spawn(move || s.backup(&dest).map(|r| r.bytes))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let won: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {results:?}");
        for r in &results {
            if let Err(e) = r {
                assert_eq!(e.code(), "ERR_EXISTS", "{e}");
            }
        }
        assert!(leftovers(d.dir.path()).is_empty());
        let c = open(&dest);
        c.verify().unwrap();
        assert_eq!(c.len(), 500);
    }
}

#[test]
fn a_backup_keeps_every_keys_version() {
    // After a compaction the store's header carries a version base, and compacted entries
    // carry their versions explicitly: the copy keeps both, so a version read from the
    // store still names the same write in the copy.
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    for i in 0..200u64 {
        s.put(format!("k{i}").as_bytes(), &bytes(i, 40)).unwrap();
    }
    s.compact().unwrap();
    for i in 0..50u64 {
        s.put(format!("k{i}").as_bytes(), &bytes(i + 1000, 40))
            .unwrap();
    }
    let versions: Vec<Option<u64>> = (0..200u64)
        .map(|i| s.version_of(format!("k{i}").as_bytes()).unwrap())
        .collect();
    let dest = d.path("copy.srd");
    s.backup(&dest).unwrap();
    let copy = StoreOptions::new().read_only(true).open(&dest).unwrap();
    for (i, v) in versions.iter().enumerate() {
        assert!(v.is_some());
        assert_eq!(
            copy.version_of(format!("k{i}").as_bytes()).unwrap(),
            *v,
            "k{i}"
        );
    }
}
