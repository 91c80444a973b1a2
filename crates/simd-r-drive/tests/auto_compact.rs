//! Automatic compaction: when it is due (policy thresholds), that it runs one at a time,
//! that a cancelled one leaves the old file the store and no temporary file, and that it
//! backs off after a full disk.

mod common;

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use common::*;
use simd_r_drive::io::{Backend, FailAfter, Fault, IoOp, OsBackend};
use simd_r_drive::{AutoCompactPolicy, Store, StoreOptions};

fn policy(min_reclaimable_bytes: u64, min_ratio: f64) -> AutoCompactPolicy {
    AutoCompactPolicy {
        min_reclaimable_bytes,
        min_ratio,
        disk_full_backoff: Duration::from_millis(300),
    }
}

/// Writes `keys` keys of `len` bytes, then overwrites each `rounds` times: about
/// `rounds / (rounds + 1)` of the file is then reclaimable.
fn fill(s: &Store, keys: u32, len: usize, rounds: u32) {
    for r in 0..=rounds {
        for i in 0..keys {
            s.put(&i.to_le_bytes(), &bytes(u64::from(r * keys + i), len))
                .unwrap();
        }
    }
}

/// Runs an automatic compaction claimed, then releases the claim, as a binding does.
fn run(
    s: &Store,
    claim: simd_r_drive::AutoCompaction,
) -> simd_r_drive::Result<Option<simd_r_drive::CompactionReport>> {
    let r = s.run_auto_compaction(&claim);
    drop(claim);
    r
}

fn inode(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().ino()
}

#[test]
fn due_only_once_both_thresholds_are_met() {
    let d = Dir::new();
    let p = d.path("s.srd");
    // The default policy: half the file and 64 MiB. A small store never qualifies.
    let s = StoreOptions::new().open(&p).unwrap();
    assert_eq!(s.auto_compact_policy(), Some(AutoCompactPolicy::default()));
    fill(&s, 50, 1000, 3);
    assert!(s.stats().reclaimable_bytes * 2 > s.stats().file_bytes);
    assert!(!s.auto_compaction_due(), "below 64 MiB reclaimable");

    // Thresholds in bytes and ratio, each on its own.
    s.set_auto_compact(Some(policy(1 << 30, 0.5)));
    assert!(!s.auto_compaction_due(), "below the byte threshold");
    s.set_auto_compact(Some(policy(1000, 0.9)));
    assert!(
        !s.auto_compaction_due(),
        "3/4 reclaimable is below a ratio of 0.9"
    );
    s.set_auto_compact(Some(policy(1000, 0.5)));
    assert!(s.auto_compaction_due());
    s.set_auto_compact(None);
    assert!(!s.auto_compaction_due(), "off");
    s.set_auto_compact(Some(policy(1000, 0.5)));

    // One at a time: claimed, it is not due again until it has run.
    let before = dump(&s);
    let size = s.stats().file_bytes;
    let claim = s.claim_auto_compaction().expect("due");
    assert!(!s.auto_compaction_due());
    assert!(s.claim_auto_compaction().is_none());
    let r = run(&s, claim).unwrap().expect("ran");
    assert!(r.reclaimed_bytes > 0);
    assert!(s.stats().file_bytes < size / 2);
    assert_eq!(dump(&s), before);
    let st = s.auto_compaction_stats();
    assert_eq!(st.compactions, 1);
    assert_eq!(st.reclaimed_bytes, r.reclaimed_bytes);
    assert!(!s.auto_compaction_due(), "nothing left to reclaim");
    drop(s);
    assert_eq!(dump(&open(&p)), before);

    // Off with the open option; never for a read-only store.
    let s = StoreOptions::new().auto_compact(None).open(&p).unwrap();
    fill(&s, 50, 1000, 3);
    assert!(!s.auto_compaction_due());
    drop(s);
    let ro = StoreOptions::new()
        .read_only(true)
        .auto_compact(Some(policy(1, 0.0)))
        .open(&p)
        .unwrap();
    assert!(!ro.auto_compaction_due());
}

/// Passes calls on; once armed, sets a flag (or cancels the store's automatic compaction)
/// at the `at`-th write after arming: in the middle of a compaction's copy.
#[derive(Debug, Default)]
struct CancelDuring {
    armed: AtomicBool,
    writes: AtomicU64,
    at: u64,
    flag: Arc<AtomicBool>,
    store: Mutex<Option<Weak<Store>>>,
}

impl Backend for CancelDuring {
    fn write_at(&self, file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
        if self.armed.load(Ordering::SeqCst)
            && self.writes.fetch_add(1, Ordering::SeqCst) + 1 == self.at
        {
            self.flag.store(true, Ordering::SeqCst);
            if let Some(s) = self.store.lock().unwrap().as_ref().and_then(Weak::upgrade) {
                assert!(s.cancel_auto_compaction());
            }
        }
        OsBackend.write_at(file, buf, offset)
    }
    fn sync_data(&self, file: &File) -> std::io::Result<()> {
        OsBackend.sync_data(file)
    }
    fn set_len(&self, file: &File, len: u64) -> std::io::Result<()> {
        OsBackend.set_len(file, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        OsBackend.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        OsBackend.sync_dir(dir)
    }
}

/// 600 live values of 64 KiB over 2 rounds: the copy flushes many 4 MiB chunks.
fn cancellable_store(p: &Path, backend: &Arc<CancelDuring>) -> Arc<Store> {
    let s = Arc::new(
        StoreOptions::new()
            .backend(backend.clone())
            .auto_compact(Some(policy(1000, 0.3)))
            .open(p)
            .unwrap(),
    );
    fill(&s, 600, 64 << 10, 1);
    s
}

fn assert_untouched(s: &Store, p: &Path, ino: u64, before: &[(Vec<u8>, Vec<u8>)]) {
    assert_eq!(inode(p), ino, "the old file is still the store");
    assert!(
        !Path::new(&format!("{}.compact", p.display())).exists(),
        "no temporary file"
    );
    assert_eq!(dump(s), before);
    // Not poisoned: writes go on.
    s.put(b"after", b"cancel").unwrap();
    s.delete(b"after").unwrap();
}

#[test]
fn a_cancelled_compaction_leaves_the_old_file_and_no_temporary_file() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let backend = Arc::new(CancelDuring {
        at: 3,
        ..Default::default()
    });
    let s = cancellable_store(&p, &backend);
    let before = dump(&s);
    let ino = inode(&p);
    let size = s.stats().file_bytes;

    // The general flag of `compact_with`, set in the middle of the copy.
    backend.armed.store(true, Ordering::SeqCst);
    let e = s
        .compact_with(&simd_r_drive::Progress::none().cancel_flag(&backend.flag))
        .unwrap_err();
    assert_eq!(e.code(), "ABORT_ERR", "{e}");
    assert!(backend.writes.load(Ordering::SeqCst) >= 3);
    assert_eq!(s.stats().file_bytes, size, "nothing was swapped in");
    assert_untouched(&s, &p, ino, &before);

    // The automatic one, cancelled by `cancel_auto_compaction` in the middle of its copy.
    backend.armed.store(false, Ordering::SeqCst);
    backend.writes.store(0, Ordering::SeqCst);
    *backend.store.lock().unwrap() = Some(Arc::downgrade(&s));
    let claim = s.claim_auto_compaction().expect("due");
    backend.armed.store(true, Ordering::SeqCst);
    let e = run(&s, claim).unwrap_err();
    assert_eq!(e.code(), "ABORT_ERR", "{e}");
    assert_untouched(&s, &p, ino, &before);
    let st = s.auto_compaction_stats();
    assert_eq!((st.compactions, st.cancelled, st.failed), (0, 1, 0));
    assert!(!s.cancel_auto_compaction(), "none runs now");

    // What a close does: cancel and wait until the claim is released (here by a thread
    // that runs it), which a cancelled compaction does at its next check.
    backend.armed.store(false, Ordering::SeqCst);
    let claim = s.claim_auto_compaction().expect("due again");
    let s2 = s.clone();
    let t = std::thread::spawn(move || run(&s2, claim).unwrap_err().code());
    assert!(s.abandon_auto_compaction());
    assert_eq!(t.join().unwrap(), "ABORT_ERR");
    assert!(!s.abandon_auto_compaction(), "none claimed now");
    assert_untouched(&s, &p, ino, &before);

    // Cancelled before it starts (a close between claim and run), then one that completes.
    backend.armed.store(false, Ordering::SeqCst);
    let claim = s.claim_auto_compaction().expect("due again");
    assert!(s.cancel_auto_compaction());
    assert_eq!(run(&s, claim).unwrap_err().code(), "ABORT_ERR");
    assert_untouched(&s, &p, ino, &before);
    let claim = s.claim_auto_compaction().expect("due again");
    assert!(run(&s, claim).unwrap().is_some());
    assert_ne!(inode(&p), ino);
    assert_eq!(dump(&s), before);
    assert_eq!(s.auto_compaction_stats().compactions, 1);
    drop(s);
    assert_eq!(dump(&open(&p)), before);
}

#[test]
fn after_a_full_disk_automatic_compaction_backs_off() {
    let d = Dir::new();
    let p = d.path("s.srd");
    {
        let s = open(&p);
        fill(&s, 50, 1000, 3);
    }
    // How many writes an open makes, so that the first write after it (the compaction's
    // new file) is the one that fails.
    let count = Arc::new(FailAfter::new(
        Arc::new(OsBackend),
        &[IoOp::Write],
        u64::MAX,
        Fault::Errno(libc::ENOSPC),
    ));
    let n = {
        let _s = StoreOptions::new().backend(count.clone()).open(&p).unwrap();
        count.calls()
    };
    let disk = Arc::new(FailAfter::new(
        Arc::new(OsBackend),
        &[IoOp::Write],
        n,
        Fault::Errno(libc::ENOSPC),
    ));
    let s = StoreOptions::new()
        .backend(disk.clone())
        .auto_compact(Some(policy(1000, 0.5)))
        .open(&p)
        .unwrap();
    let before = dump(&s);
    let ino = inode(&p);

    let claim = s.claim_auto_compaction().expect("due");
    let e = run(&s, claim).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_DISK_FULL", "{e}");
    assert!(disk.tripped());
    // The disk stays full: nothing is written here (see `assert_untouched` below).
    assert_eq!(inode(&p), ino);
    assert!(!d.path("s.srd.compact").exists());
    assert_eq!(dump(&s), before);
    assert_eq!(s.auto_compaction_stats().failed, 1);
    // The thresholds are still met, but it is not retried at once.
    assert!(s.stats().reclaimable_bytes * 2 > s.stats().file_bytes);
    assert!(!s.auto_compaction_due(), "backing off");
    assert!(s.claim_auto_compaction().is_none());
    std::thread::sleep(Duration::from_millis(350));
    assert!(s.auto_compaction_due(), "due once the backoff has passed");

    // A second failure doubles the wait (600 ms): still not due after the first 350 ms.
    let claim = s.claim_auto_compaction().unwrap();
    assert!(run(&s, claim).unwrap_err().is_disk_full());
    std::thread::sleep(Duration::from_millis(350));
    assert!(!s.auto_compaction_due(), "the wait doubled");
    std::thread::sleep(Duration::from_millis(350));
    assert!(s.auto_compaction_due());

    // The disk has room again: it compacts, and the backoff is reset.
    disk.heal();
    assert_untouched(&s, &p, ino, &before);
    let claim = s.claim_auto_compaction().unwrap();
    assert!(run(&s, claim).unwrap().is_some());
    assert_eq!(dump(&s), before);
    let st = s.auto_compaction_stats();
    assert_eq!((st.compactions, st.failed), (1, 2));
    fill(&s, 50, 1000, 3);
    assert!(s.auto_compaction_due(), "no backoff left after a success");
}
