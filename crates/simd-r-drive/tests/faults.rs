//! Fault injection through the storage seam: the N-th write, sync, rename or directory
//! sync fails (or a write stops half way with ENOSPC). The failing call reports an error,
//! the store refuses writes until reopened (except after a write that failed for a full
//! disk: writes succeed again once the disk has room), and a reopen shows every
//! acknowledged write: the state before the failed operation or after it, never anything
//! in between.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use simd_r_drive::io::{Backend, FailAfter, Fault, IoOp, OsBackend};
use simd_r_drive::{Error, Store, StoreOptions};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn apply(model: &mut Model, ops: &[(Vec<u8>, Option<Vec<u8>>)]) {
    for (k, v) in ops {
        match v {
            Some(v) => model.insert(k.clone(), v.clone()),
            None => model.remove(k),
        };
    }
}

/// The scripted workload. Each step is a batch of (key, Some(value) | None) or a
/// compaction (empty batch). Returns the acknowledged model and, if a step failed, the
/// step's operations and its error.
#[allow(clippy::type_complexity)]
fn workload(store: &Store) -> (Model, Option<(Vec<(Vec<u8>, Option<Vec<u8>>)>, Error)>) {
    let mut steps: Vec<Vec<(Vec<u8>, Option<Vec<u8>>)>> = Vec::new();
    for i in 0..6u32 {
        steps.push(vec![(
            format!("a{i}").into_bytes(),
            Some(common::bytes(i as u64, 300)),
        )]);
    }
    steps.push(
        (0..5u32)
            .map(|i| (format!("b{i}").into_bytes(), Some(vec![i as u8; 5000])))
            .collect(),
    );
    steps.push(vec![(b"a1".to_vec(), None)]);
    steps.push(vec![]); // compaction
    steps.push(vec![
        (b"a2".to_vec(), Some(b"overwritten".to_vec())),
        (b"a3".to_vec(), None),
    ]);
    steps.push(vec![]); // compaction again
    steps.push(vec![(b"c".to_vec(), Some(vec![7; 20_000]))]);
    // Large enough to be written in more than one piece: a failure after the first piece
    // must lose the whole batch, never keep part of it.
    steps.push(
        (0..6u32)
            .map(|i| {
                (
                    format!("d{i}").into_bytes(),
                    Some(common::bytes(i as u64, 1 << 20)),
                )
            })
            .collect(),
    );

    let mut acked = Model::new();
    for step in steps {
        let res = if step.is_empty() {
            store.compact().map(|_| ())
        } else {
            store.write(&common::as_ops(&step)).map(|_| ())
        };
        match res {
            Ok(()) => apply(&mut acked, &step),
            Err(e) => return (acked, Some((step, e))),
        }
    }
    (acked, None)
}

fn contents(p: &Path) -> Model {
    let s = Store::open(p).unwrap();
    let m = common::dump(&s).into_iter().collect();
    s.verify().unwrap();
    m
}

fn sweep(ops: &[IoOp], fault: Fault, sync: bool) -> usize {
    // Count the calls a clean run makes.
    let d = common::Dir::new();
    let counter = Arc::new(FailAfter::new(Arc::new(OsBackend), ops, u64::MAX, fault));
    let s = StoreOptions::new()
        .sync(sync)
        .backend(counter.clone())
        .open(d.path("s.srd"))
        .unwrap();
    let (_, failed) = workload(&s);
    assert!(failed.is_none());
    let total = counter.calls();
    drop(s);

    for n in 0..total {
        let d = common::Dir::new();
        let p = d.path("s.srd");
        let backend = Arc::new(FailAfter::new(Arc::new(OsBackend), ops, n, fault));
        let opened = StoreOptions::new()
            .sync(sync)
            .backend(backend.clone())
            .open(&p);
        let s = match opened {
            Ok(s) => s,
            Err(e) => {
                // Creation failed: nothing was acknowledged; the path is absent or a store.
                assert!(matches!(e, Error::Io { .. }), "{e}");
                assert_eq!(contents(&p), Model::new());
                continue;
            }
        };
        let (acked, failed) = workload(&s);
        let (step, err) =
            failed.unwrap_or_else(|| panic!("{ops:?} call {n} of {total} never failed"));
        assert!(
            matches!(err, Error::Io { .. } | Error::Poisoned { .. }),
            "{err}"
        );
        if matches!(fault, Fault::PartialWrite(_)) && ops == [IoOp::Write] {
            assert_eq!(err.code(), "ERR_STORE_DISK_FULL");
        }
        // Refuses further writes until reopened; reads still work. A write that failed
        // for a full disk poisons nothing: writes fail while the disk stays full.
        let disk_full = err.is_disk_full() && err.syscall() == Some("write");
        let again = s.put(b"later", b"x").unwrap_err();
        let expected = if disk_full {
            "ERR_STORE_DISK_FULL"
        } else {
            "ERR_STORE_POISONED"
        };
        assert_eq!(again.code(), expected, "{again} after {err}");
        assert!(s.compact().is_err());
        let mut after = acked.clone();
        apply(&mut after, &step);
        // A failed sync leaves the write applied in memory (it reached the OS), so a read
        // sees the state before or after the failed step.
        for k in acked.keys().chain(after.keys()) {
            let got = s.get(k).unwrap().map(|v| v.to_vec());
            assert!(got.as_ref() == acked.get(k) || got.as_ref() == after.get(k));
        }
        if disk_full {
            // Space is freed: the store writes again without a reopen, and the failed step
            // left nothing behind (its bytes are overwritten, never applied).
            backend.heal();
            s.put(b"later", b"x").unwrap();
            s.compact().unwrap();
            s.put(b"last", b"y").unwrap();
            for k in acked.keys().chain(after.keys()) {
                assert_eq!(s.get(k).unwrap().map(|v| v.to_vec()).as_ref(), acked.get(k));
            }
            drop(s);
            let mut expect = acked.clone();
            expect.insert(b"later".to_vec(), b"x".to_vec());
            expect.insert(b"last".to_vec(), b"y".to_vec());
            assert!(!d.path("s.srd.compact").exists());
            assert_eq!(contents(&p), expect, "{ops:?} failing at call {n}");
            continue;
        }
        drop(s);
        // A failed compaction removed its temporary file (or had already renamed it).
        assert!(!d.path("s.srd.compact").exists());
        let got = contents(&p);
        assert!(
            got == acked || got == after,
            "{ops:?} failing at call {n}: reopened store is neither the state before nor after the failed step"
        );
    }
    total as usize
}

#[test]
fn failed_writes_lose_nothing_acknowledged() {
    let n = sweep(&[IoOp::Write], Fault::Errno(libc::EIO), false);
    assert!(n > 10);
}

#[test]
fn a_full_disk_mid_write_loses_nothing_acknowledged() {
    sweep(&[IoOp::Write], Fault::PartialWrite(libc::ENOSPC), true);
}

#[test]
fn failed_syncs_lose_nothing_acknowledged() {
    let n = sweep(&[IoOp::Sync], Fault::Errno(libc::EIO), true);
    assert!(n > 10);
}

#[test]
fn failed_renames_and_directory_syncs_lose_nothing() {
    assert!(sweep(&[IoOp::Rename], Fault::Errno(libc::EIO), false) >= 3);
    assert!(sweep(&[IoOp::SyncDir], Fault::Errno(libc::EIO), false) >= 3);
}

#[test]
fn any_failing_call_loses_nothing() {
    sweep(
        &[
            IoOp::Write,
            IoOp::Sync,
            IoOp::Rename,
            IoOp::SyncDir,
            IoOp::SetLen,
        ],
        Fault::Errno(libc::ENOSPC),
        true,
    );
}

#[test]
fn a_failed_tail_truncation_leaves_the_file_as_it_was() {
    let d = common::Dir::new();
    let p = d.path("s.srd");
    let s = Store::open(&p).unwrap();
    s.put(b"k", b"v").unwrap();
    drop(s);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.extend_from_slice(&[1, 2, 3]);
    std::fs::write(&p, &bytes).unwrap();
    let b = Arc::new(FailAfter::new(
        Arc::new(OsBackend),
        &[IoOp::SetLen],
        0,
        Fault::Errno(libc::EIO),
    ));
    let e = StoreOptions::new().backend(b).open(&p).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_IO");
    assert_eq!(std::fs::read(&p).unwrap(), bytes);
    let s = Store::open(&p).unwrap();
    assert_eq!(&*s.get(b"k").unwrap().unwrap(), b"v");
}

/// Fails every directory sync after telling the test it started and giving a writer time
/// to queue up behind the compaction's writer lock.
#[derive(Debug)]
struct SlowFailingDirSync {
    entered: std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

impl Backend for SlowFailingDirSync {
    fn write_at(&self, file: &std::fs::File, buf: &[u8], offset: u64) -> std::io::Result<()> {
        OsBackend.write_at(file, buf, offset)
    }
    fn sync_data(&self, file: &std::fs::File) -> std::io::Result<()> {
        OsBackend.sync_data(file)
    }
    fn set_len(&self, file: &std::fs::File, len: u64) -> std::io::Result<()> {
        OsBackend.set_len(file, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        OsBackend.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        match self.entered.lock().unwrap().take() {
            Some(tx) => {
                tx.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(100));
                Err(std::io::Error::from_raw_os_error(libc::EIO))
            }
            None => OsBackend.sync_dir(dir),
        }
    }
}

#[test]
fn a_write_waiting_on_a_compaction_whose_directory_sync_fails_is_refused() {
    let d = common::Dir::new();
    let p = d.path("s.srd");
    let (tx, rx) = std::sync::mpsc::channel();
    let backend = Arc::new(SlowFailingDirSync {
        entered: std::sync::Mutex::new(None),
    });
    let s = Arc::new(
        StoreOptions::new()
            .sync(true)
            .backend(backend.clone())
            .open(&p)
            .unwrap(),
    );
    s.put(b"before", b"1").unwrap();
    *backend.entered.lock().unwrap() = Some(tx);
    let compactor = {
        let s = s.clone();
        std::thread::spawn(move || s.compact())
    };
    rx.recv().unwrap();
    // Compaction holds the writer lock in its directory sync: this write waits for it, and
    // must then be refused, since the compacted file's name may not be durable.
    let put = s.put(b"after", b"2");
    assert!(matches!(compactor.join().unwrap(), Err(Error::Io { .. })));
    assert!(matches!(put, Err(Error::Poisoned { .. })), "{put:?}");
    drop(s);
    let s = Store::open(&p).unwrap();
    assert_eq!(s.get(b"before").unwrap().unwrap().to_vec(), b"1");
    assert!(s.get(b"after").unwrap().is_none());
}

/// A backend whose writes (or syncs) start failing when the test says so, and which
/// records the inode of every file it syncs.
#[derive(Debug, Default)]
struct Switch {
    fail_writes: std::sync::atomic::AtomicBool,
    fail_syncs: std::sync::atomic::AtomicBool,
    synced: parking_lot::Mutex<Vec<u64>>,
}

impl Backend for Switch {
    fn write_at(&self, file: &std::fs::File, buf: &[u8], offset: u64) -> std::io::Result<()> {
        if self.fail_writes.load(std::sync::atomic::Ordering::SeqCst) {
            // EIO: a write failing for a full disk poisons nothing (see tests/full_disk.rs).
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        OsBackend.write_at(file, buf, offset)
    }
    fn sync_data(&self, file: &std::fs::File) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        self.synced.lock().push(file.metadata()?.ino());
        if self.fail_syncs.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        OsBackend.sync_data(file)
    }
    fn set_len(&self, file: &std::fs::File, len: u64) -> std::io::Result<()> {
        OsBackend.set_len(file, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        OsBackend.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        OsBackend.sync_dir(dir)
    }
}

fn inode(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().ino()
}

/// Issue 21, item 17: a compaction whose write fails (EIO) poisons the store, but the
/// store file is whole, so `close` still makes the commits acknowledged before it durable
/// (it used to skip the sync altogether).
#[cfg(unix)]
#[test]
fn close_of_a_store_poisoned_by_a_failed_compaction_syncs_earlier_commits() {
    let d = common::Dir::new();
    let p = d.path("s.srd");
    let sw = Arc::new(Switch::default());
    let s = StoreOptions::new().backend(sw.clone()).open(&p).unwrap();
    s.put(b"acked", &[7; 1000]).unwrap();
    sw.fail_writes
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let e = s.compact().unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_IO", "{e}");
    let e = s.flush().unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_POISONED", "{e}");
    let store_inode = inode(&p);
    sw.synced.lock().clear();
    s.close().unwrap();
    assert!(
        sw.synced.lock().contains(&store_inode),
        "close synced {:?}, not the store file {store_inode}",
        sw.synced.lock()
    );
    drop(s);
    let r = Store::open(&p).unwrap();
    assert_eq!(r.get(b"acked").unwrap().as_deref(), Some(&[7u8; 1000][..]));
}

/// The same through `checkpoint`, which the JavaScript `close()` calls.
#[cfg(unix)]
#[test]
fn checkpoint_of_a_poisoned_store_syncs_earlier_commits_then_reports_the_poison() {
    let d = common::Dir::new();
    let p = d.path("s.srd");
    let sw = Arc::new(Switch::default());
    let s = StoreOptions::new().backend(sw.clone()).open(&p).unwrap();
    s.put(b"acked", b"1").unwrap();
    sw.fail_writes
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(s.put(b"b", b"2").unwrap_err().code(), "ERR_STORE_IO");
    sw.synced.lock().clear();
    assert_eq!(s.checkpoint().unwrap_err().code(), "ERR_STORE_POISONED");
    assert_eq!(*sw.synced.lock(), vec![inode(&p)]);
    assert!(s.durable_seq() >= 1, "the earlier commit is durable now");
}

/// After a failed sync, another sync cannot tell whether earlier writes are durable:
/// `close` says so instead of succeeding (unless every commit was synced before its
/// acknowledgement, see `StoreOptions::sync`).
#[cfg(unix)]
#[test]
fn close_after_a_failed_sync_reports_that_earlier_writes_may_not_be_durable() {
    for sync in [false, true] {
        let d = common::Dir::new();
        let p = d.path("s.srd");
        let sw = Arc::new(Switch::default());
        let s = StoreOptions::new()
            .sync(sync)
            .backend(sw.clone())
            .open(&p)
            .unwrap();
        s.put(b"a", b"1").unwrap();
        sw.fail_syncs
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if sync {
            assert_eq!(s.put(b"b", b"2").unwrap_err().code(), "ERR_STORE_IO");
        } else {
            s.put(b"b", b"2").unwrap();
            assert_eq!(s.flush().unwrap_err().code(), "ERR_STORE_IO");
        }
        sw.fail_syncs
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let closed = s.close();
        if sync {
            // "b" was never acknowledged; "a" was synced before it was.
            closed.unwrap();
        } else {
            let e = closed.unwrap_err();
            assert_eq!(e.code(), "ERR_STORE_IO");
            assert!(e.to_string().contains("may not be durable"), "{e}");
        }
    }
}

/// A store of 200 keys with an index file, closed, at `p`; its contents.
fn indexed_store(p: &Path) -> Model {
    let s = StoreOptions::new().checkpoint_min_keys(1).open(p).unwrap();
    let mut model = Model::new();
    for i in 0..200u32 {
        let (k, v) = (format!("k{i}").into_bytes(), common::bytes(i as u64, 100));
        s.put(&k, &v).unwrap();
        model.insert(k, v);
    }
    s.close().unwrap();
    model
}

/// Every call of an index merge (the syncs before it, the index file's write, sync, rename
/// and the directory sync) failing in turn, with a full disk or an I/O error: the store
/// stays readable and writable (unless a sync of the store file itself failed, which
/// poisons it as any failed sync does), the index file beside it is the old one or the
/// complete new one, and a reopen gives every acknowledged write.
#[test]
fn a_merge_that_fails_at_any_call_leaves_the_old_index_and_loses_nothing() {
    let ops = [IoOp::Write, IoOp::Sync, IoOp::Rename, IoOp::SyncDir];
    for fault in [Fault::PartialWrite(libc::ENOSPC), Fault::Errno(libc::EIO)] {
        // Count the calls: those before the merge, and the merge's.
        let d = common::Dir::new();
        let p = d.path("s.srd");
        indexed_store(&p);
        let counter = Arc::new(FailAfter::new(Arc::new(OsBackend), &ops, u64::MAX, fault));
        let s = StoreOptions::new()
            .checkpoint_min_keys(1)
            .backend(counter.clone())
            .open(&p)
            .unwrap();
        for i in 0..100u32 {
            s.put(format!("new{i}").as_bytes(), b"v").unwrap();
        }
        let before = counter.calls();
        assert!(s.checkpoint().unwrap(), "a merge");
        let after = counter.calls();
        drop(s);
        assert!(after - before >= 4, "{before}..{after}");

        for n in before..after {
            let d = common::Dir::new();
            let p = d.path("s.srd");
            let mut model = indexed_store(&p);
            let old_index = std::fs::read(d.path("s.srd.srd-index")).unwrap();
            let backend = Arc::new(FailAfter::new(Arc::new(OsBackend), &ops, n, fault).times(1));
            let s = StoreOptions::new()
                .checkpoint_min_keys(1)
                .backend(backend)
                .open(&p)
                .unwrap();
            for i in 0..100u32 {
                let k = format!("new{i}").into_bytes();
                s.put(&k, b"v").unwrap();
                model.insert(k, b"v".to_vec());
            }
            let merged = s.checkpoint();
            let poisoned = matches!(merged, Err(Error::Io { .. } | Error::Poisoned { .. }));
            assert!(
                matches!(merged, Ok(false) | Ok(true)) || poisoned,
                "call {n}: {merged:?}"
            );
            assert!(!d.path("s.srd.srd-index.tmp").exists(), "call {n}");
            if !poisoned {
                // The old index file is still in use: reads and writes go on.
                s.put(b"after", b"x").unwrap();
                model.insert(b"after".to_vec(), b"x".to_vec());
            }
            for (k, v) in &model {
                assert_eq!(s.get(k).unwrap().as_deref(), Some(&v[..]), "call {n}");
            }
            let index = std::fs::read(d.path("s.srd.srd-index")).unwrap();
            if merged.as_ref().is_ok_and(|m| !m) {
                assert!(
                    index == old_index || index.len() >= old_index.len(),
                    "call {n}: the old index file, or the whole new one"
                );
            }
            drop(s);
            let s = StoreOptions::new().checkpoint_min_keys(1).open(&p).unwrap();
            assert!(s.recovery().checkpoint_keys.is_some(), "call {n}");
            let got: Model = common::dump(&s).into_iter().collect();
            assert_eq!(got, model, "{fault:?} at call {n}");
            s.verify().unwrap();
        }
    }
}
