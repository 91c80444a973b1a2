//! A full disk is not fatal: a write, a preallocation, compaction's new file or an index
//! checkpoint that fails with `ENOSPC` leaves the store usable. Reads go on, the end of the
//! data stays where it was, and writes succeed again once there is space, without a
//! reopen; a reopen then shows exactly the acknowledged writes. A failed sync, even one
//! that reports `ENOSPC`, still poisons the store.
//!
//! The first tests simulate the disk (a backend with a byte budget, which writes what fits
//! and then fails as a file system does); the last ones fill real ext4 and btrfs file
//! systems on loop devices (root only: skipped with a message otherwise, and failed when
//! `CI=true`).

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use simd_r_drive::io::{Backend, FailAfter, Fault, IoOp, OsBackend};
use simd_r_drive::{Op, StoreOptions};

/// A disk with `free` bytes left: a write that grows a file past them writes the part that
/// fits, then fails with `ENOSPC` (as ext4 does); shrinking a file gives its bytes back.
#[derive(Debug)]
struct Disk {
    free: AtomicU64,
    /// Fail every `fdatasync` with `ENOSPC` (as NFS or a thin volume can).
    fail_syncs: std::sync::atomic::AtomicBool,
}

impl Disk {
    fn new(free: u64) -> Arc<Disk> {
        Arc::new(Disk {
            free: AtomicU64::new(free),
            fail_syncs: Default::default(),
        })
    }

    fn set_free(&self, free: u64) {
        self.free.store(free, Ordering::SeqCst);
    }
}

fn enospc() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::ENOSPC)
}

impl Backend for Disk {
    fn write_at(&self, file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
        let len = file.metadata()?.len();
        let end = offset + buf.len() as u64;
        let grow = end.saturating_sub(len.max(offset));
        let free = self.free.load(Ordering::SeqCst);
        if grow <= free {
            self.free.fetch_sub(grow, Ordering::SeqCst);
            return OsBackend.write_at(file, buf, offset);
        }
        let fits = (len.max(offset) + free).saturating_sub(offset) as usize;
        if fits > 0 {
            OsBackend.write_at(file, &buf[..fits], offset)?;
        }
        self.free.store(0, Ordering::SeqCst);
        Err(enospc())
    }
    fn sync_data(&self, file: &File) -> std::io::Result<()> {
        if self.fail_syncs.load(Ordering::SeqCst) {
            return Err(enospc());
        }
        OsBackend.sync_data(file)
    }
    fn set_len(&self, file: &File, len: u64) -> std::io::Result<()> {
        let old = file.metadata()?.len();
        if len > old {
            let grow = len - old;
            if self
                .free
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| f.checked_sub(grow))
                .is_err()
            {
                return Err(enospc());
            }
        } else {
            self.free.fetch_add(old - len, Ordering::SeqCst);
        }
        OsBackend.set_len(file, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        OsBackend.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        OsBackend.sync_dir(dir)
    }
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

fn reopened(p: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let s = open(p);
    assert_eq!(s.recovery().saved_tail, None);
    s.verify().unwrap();
    dump(&s)
}

/// A batch large enough to be written in several 4 MiB pieces runs out of space in its
/// third piece: it fails with ERR_STORE_DISK_FULL, nothing of it is visible (to the store,
/// a follower or a later open), and once space is freed the next write lands where the
/// failed batch began.
#[test]
fn a_batch_that_fails_half_way_leaves_the_store_usable() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let disk = Disk::new(u64::MAX);
    let s = StoreOptions::new().backend(disk.clone()).open(&p).unwrap();
    s.put(b"before", b"1").unwrap();
    let follower = StoreOptions::new().read_only(true).open(&p).unwrap();
    let end = s.stats().file_bytes;
    disk.set_free(10 << 20);
    let big: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..20u64)
        .map(|i| (format!("big{i}").into_bytes(), Some(bytes(i, 1 << 20))))
        .collect();
    let e = s.write(&as_ops(&big)).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_DISK_FULL", "{e}");
    assert!(e.to_string().contains("the store stays open"), "{e}");
    assert!(file_len(&p) > end + (8 << 20), "two pieces landed");
    // Nothing moved: reads go on, the end is where it was, the follower sees nothing new.
    assert_eq!(s.stats().file_bytes, end);
    assert_eq!(&*s.get(b"before").unwrap().unwrap(), b"1");
    assert!(s.get(b"big0").unwrap().is_none());
    follower.refresh().unwrap();
    assert_eq!(follower.len(), 1);
    // Still full, but a small write fits in the space the failed batch took: it lands where
    // the failed batch began.
    s.put(b"after", b"2").unwrap();
    assert!(s.stats().file_bytes < end + 100, "{}", s.stats().file_bytes);
    let more: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..12u64)
        .map(|i| (format!("more{i}").into_bytes(), Some(bytes(i, 1 << 20))))
        .collect();
    assert_eq!(
        s.write(&as_ops(&more)).unwrap_err().code(),
        "ERR_STORE_DISK_FULL"
    );
    // Space is freed: writes succeed again.
    disk.set_free(u64::MAX);
    s.write(&as_ops(&big[..3])).unwrap();
    follower.refresh().unwrap();
    assert_eq!(follower.len(), 5);
    assert_eq!(dump(&follower), dump(&s));
    let expected = dump(&s);
    s.close().unwrap();
    drop(s);
    drop(follower);
    assert_eq!(reopened(&p), expected);
}

/// The same for a store killed before anything else was written: the failed batch's pieces
/// are an unfinished tail to recovery.
#[test]
fn a_crash_after_a_failed_batch_drops_its_pieces() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let disk = Disk::new(u64::MAX);
    let s = StoreOptions::new().backend(disk.clone()).open(&p).unwrap();
    s.put(b"before", b"1").unwrap();
    disk.set_free(9 << 20);
    let big: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..12u64)
        .map(|i| (format!("big{i}").into_bytes(), Some(bytes(i, 1 << 20))))
        .collect();
    assert_eq!(
        s.write(&as_ops(&big)).unwrap_err().code(),
        "ERR_STORE_DISK_FULL"
    );
    let copy = d.path("crashed.srd");
    std::fs::copy(&p, &copy).unwrap();
    let r = open(&copy);
    assert_eq!(dump(&r), vec![(b"before".to_vec(), b"1".to_vec())]);
    assert_eq!(r.recovery().saved_tail, None);
}

/// Zeroing what a failed write left may itself fail (a copy-on-write file system needs
/// space to overwrite): the store still goes on, and the bytes left behind are an
/// unfinished tail, overwritten by the next append.
#[test]
fn a_failed_batch_whose_bytes_cannot_be_zeroed_is_still_not_fatal() {
    let d = Dir::new();
    let p = d.path("s.srd");
    // The store's creation writes once, the put once; the batch's first piece lands, its
    // second fails half way, and so does everything after it until healed.
    let faults = Arc::new(FailAfter::new(
        Arc::new(OsBackend),
        &[IoOp::Write],
        3,
        Fault::PartialWrite(libc::ENOSPC),
    ));
    let s = StoreOptions::new()
        .backend(faults.clone())
        .open(&p)
        .unwrap();
    s.put(b"before", b"1").unwrap();
    let end = s.stats().file_bytes;
    let big: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..10u64)
        .map(|i| (format!("big{i}").into_bytes(), Some(bytes(i, 1 << 20))))
        .collect();
    let e = s.write(&as_ops(&big)).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_DISK_FULL", "{e}");
    // The landed piece was not zeroed: its bytes are still there past the end.
    let raw = std::fs::read(&p).unwrap();
    assert!(raw.len() as u64 > end + (4 << 20));
    assert!(raw[end as usize..].iter().any(|&b| b != 0));
    let copy = d.path("crashed.srd");
    std::fs::copy(&p, &copy).unwrap();
    assert_eq!(
        dump(&open(&copy)),
        vec![(b"before".to_vec(), b"1".to_vec())]
    );
    faults.heal();
    s.write(&as_ops(&big[..2])).unwrap();
    s.put(b"after", b"2").unwrap();
    let expected = dump(&s);
    assert_eq!(expected.len(), 4);
    drop(s);
    assert_eq!(reopened(&p), expected);
}

/// `write_each` (what `putManySync` feeds): a piece that fails gives the batch up, later
/// pushes are refused, and the store goes on.
#[test]
fn write_each_that_runs_out_of_space_gives_the_batch_up() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let disk = Disk::new(u64::MAX);
    let s = StoreOptions::new().backend(disk.clone()).open(&p).unwrap();
    s.put(b"before", b"1").unwrap();
    let end = s.stats().file_bytes;
    disk.set_free(6 << 20);
    let values: Vec<Vec<u8>> = (0..12u64).map(|i| bytes(i, 1 << 20)).collect();
    let mut pushed = 0;
    let e = s
        .write_each(12, |feed| {
            for (i, v) in values.iter().enumerate() {
                let k = format!("k{i}");
                // Ignores a failed push and goes on: the batch must still not commit.
                if feed
                    .push(Op::Put {
                        key: k.as_bytes(),
                        value: v,
                    })
                    .is_ok()
                {
                    pushed += 1;
                }
            }
            Ok(())
        })
        .unwrap_err();
    assert!(pushed < 12);
    assert_eq!(s.stats().file_bytes, end);
    assert!(s.get(b"k0").unwrap().is_none());
    assert!(
        matches!(e.code(), "ERR_STORE_DISK_FULL" | "ERR_STORE_IO"),
        "{e}"
    );
    disk.set_free(u64::MAX);
    s.write_each(2, |feed| {
        feed.push(Op::Put {
            key: b"k0",
            value: &values[0],
        })?;
        feed.push(Op::Put {
            key: b"k1",
            value: b"small",
        })
    })
    .unwrap();
    let expected = dump(&s);
    assert_eq!(expected.len(), 3);
    drop(s);
    assert_eq!(reopened(&p), expected);
}

/// The first push that fails reports the full disk itself.
#[test]
fn write_each_reports_the_full_disk() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let disk = Disk::new(u64::MAX);
    let s = StoreOptions::new().backend(disk.clone()).open(&p).unwrap();
    disk.set_free(1 << 20);
    let v = bytes(1, 1 << 20);
    let e = s
        .write_each(8, |feed| {
            for i in 0..8u32 {
                feed.push(Op::Put {
                    key: &i.to_le_bytes(),
                    value: &v,
                })?;
            }
            Ok(())
        })
        .unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_DISK_FULL", "{e}");
    disk.set_free(u64::MAX);
    s.put(b"k", b"v").unwrap();
    assert_eq!(s.len(), 1);
}

/// A streamed value (`put_from_reader`) that runs out of space half way.
#[test]
fn a_streamed_value_that_runs_out_of_space_leaves_the_store_usable() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let disk = Disk::new(u64::MAX);
    let s = StoreOptions::new().backend(disk.clone()).open(&p).unwrap();
    s.put(b"before", b"1").unwrap();
    let end = s.stats().file_bytes;
    disk.set_free(3 << 20);
    let value = bytes(7, 8 << 20);
    let e = s
        .put_from_reader(b"stream", value.len() as u64, &mut &value[..])
        .unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_DISK_FULL", "{e}");
    assert_eq!(s.stats().file_bytes, end);
    assert!(s.get(b"stream").unwrap().is_none());
    disk.set_free(u64::MAX);
    s.put_from_reader(b"stream", 5, &mut &b"small"[..]).unwrap();
    s.put(b"after", b"2").unwrap();
    let expected = dump(&s);
    assert_eq!(expected.len(), 3);
    drop(s);
    assert_eq!(reopened(&p), expected);
}

/// Preallocated zeros that do not fit fail no write: the batch itself fits.
#[test]
fn a_preallocation_that_does_not_fit_fails_no_write() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let disk = Disk::new(u64::MAX);
    let s = StoreOptions::new()
        .preallocate(1 << 20)
        .backend(disk.clone())
        .open(&p)
        .unwrap();
    s.put(b"first", b"1").unwrap();
    assert_eq!(file_len(&p), 2 << 20, "one step of zeros ahead");
    // Room for the batch that crosses the preallocated space, not for the zeros after it.
    disk.set_free(1 << 20);
    s.put(b"big", &bytes(3, (5 << 20) / 2)).unwrap();
    assert_eq!(
        disk.free.load(Ordering::SeqCst),
        0,
        "the zeros took what was left"
    );
    s.put(b"small", b"2").unwrap();
    assert_eq!(s.len(), 3);
    let expected = dump(&s);
    s.close().unwrap();
    drop(s);
    assert_eq!(file_len(&p), std::fs::read(&p).unwrap().len() as u64);
    assert_eq!(reopened(&p), expected);
}

/// Compaction's `<store>.compact` runs out of space: the old file stays the store, the
/// temporary file is deleted, and nothing is poisoned.
#[test]
fn a_compaction_that_runs_out_of_space_leaves_the_old_file_the_store() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let disk = Disk::new(u64::MAX);
    let s = StoreOptions::new().backend(disk.clone()).open(&p).unwrap();
    for i in 0..40u32 {
        s.put(&i.to_le_bytes(), &bytes(i as u64, 100_000)).unwrap();
    }
    for i in 0..20u32 {
        s.delete(&i.to_le_bytes()).unwrap();
    }
    let before = dump(&s);
    let inode = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&p).unwrap().ino()
    };
    disk.set_free(1 << 20);
    let e = s.compact().unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_DISK_FULL", "{e}");
    assert!(!d.path("s.srd.compact").exists());
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), inode);
    }
    assert_eq!(dump(&s), before);
    // Not poisoned: writes that fit go on, and so does a sync. (Deleting the temporary file
    // gave its space back.)
    disk.set_free(1 << 20);
    s.put(b"k", b"v").unwrap();
    s.flush().unwrap();
    disk.set_free(u64::MAX);
    let r = s.compact().unwrap();
    assert!(r.reclaimed_bytes > 1_000_000);
    s.put(b"after", b"compaction").unwrap();
    let expected = dump(&s);
    s.close().unwrap();
    drop(s);
    assert_eq!(reopened(&p), expected);
}

/// An index checkpoint that runs out of space is not written (and leaves no temporary
/// file), and the store goes on.
#[test]
fn an_index_checkpoint_that_runs_out_of_space_leaves_the_store_usable() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let disk = Disk::new(u64::MAX);
    let s = StoreOptions::new()
        .checkpoint_min_keys(1)
        .backend(disk.clone())
        .open(&p)
        .unwrap();
    for i in 0..5000u32 {
        s.put(&i.to_le_bytes(), b"value").unwrap();
    }
    // Room for the sync mark, not for the checkpoint's 16 bytes per key.
    disk.set_free(1000);
    assert!(!s.checkpoint().unwrap());
    assert!(!d.path("s.srd.srd-index").exists());
    assert!(!d.path("s.srd.srd-index.tmp").exists());
    disk.set_free(u64::MAX);
    s.put(b"k", b"v").unwrap();
    assert!(s.checkpoint().unwrap());
    assert!(d.path("s.srd.srd-index").exists());
    let expected = dump(&s);
    drop(s);
    assert_eq!(reopened(&p), expected);
}

/// A sync that fails, even for a full disk, poisons the store: the kernel may have
/// dropped the pages it could not write.
#[test]
fn a_failed_sync_on_a_full_disk_still_poisons() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let disk = Disk::new(u64::MAX);
    let s = StoreOptions::new().backend(disk.clone()).open(&p).unwrap();
    s.put(b"a", b"1").unwrap();
    disk.fail_syncs.store(true, Ordering::SeqCst);
    let e = s.flush().unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_DISK_FULL", "{e}");
    assert!(e.to_string().contains("reopen"), "{e}");
    disk.fail_syncs.store(false, Ordering::SeqCst);
    let e = s.put(b"b", b"2").unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_POISONED", "{e}");
    assert_eq!(s.compact().unwrap_err().code(), "ERR_STORE_POISONED");
}

// ----- real file systems -----

/// Runs `cmd`; its output on failure.
fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A file system of type `fs` on a loop device, unmounted and removed when dropped.
struct LoopMount {
    dir: PathBuf,
    _base: Dir,
}

impl LoopMount {
    /// Mounts a fresh `fs` of `mb` MiB, or says why it cannot (not root, no mkfs, no loop
    /// device).
    fn new(fs: &str, mb: u64) -> Result<LoopMount, String> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err("loop mounts need root".into());
        }
        let base = Dir::new();
        let img = base.path("fs.img");
        let dir = base.path("mnt");
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        File::create(&img)
            .and_then(|f| f.set_len(mb << 20))
            .map_err(|e| e.to_string())?;
        let img_s = img.to_str().unwrap();
        match fs {
            "btrfs" => run("mkfs.btrfs", &["-q", "-f", img_s])?,
            _ => run(&format!("mkfs.{fs}"), &["-q", "-F", img_s])?,
        }
        run("mount", &["-o", "loop", img_s, dir.to_str().unwrap()])?;
        Ok(LoopMount { dir, _base: base })
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        let d = self.dir.to_str().unwrap();
        if run("umount", &[d]).is_err() {
            let _ = run("umount", &["-l", d]);
        }
    }
}

/// Fills the file system at `dir` with `filler` until less than `leave` bytes are free.
fn fill(filler: &Path, leave: u64) {
    use std::io::Write;
    let mut f = File::create(filler).unwrap();
    let chunk = vec![0xa5u8; 1 << 20];
    loop {
        let avail = free_bytes(filler.parent().unwrap());
        if avail <= leave {
            break;
        }
        let n = ((avail - leave) as usize).min(chunk.len());
        if f.write_all(&chunk[..n.max(4096)]).is_err() {
            break;
        }
        f.sync_data().unwrap();
    }
}

fn free_bytes(dir: &Path) -> u64 {
    let c = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer for statvfs.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above; statvfs only writes into `st`.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    assert_eq!(rc, 0);
    st.f_bavail as u64 * st.f_frsize as u64
}

/// Writes until the real file system `fs` is full: single puts, multi-piece batches,
/// `write_each`, streamed values and compactions, with a read-only follower. Every failure
/// is ERR_STORE_DISK_FULL and none poisons; reads and the follower go on; once the filler is
/// deleted, writes and a compaction succeed without a reopen; a reopen shows exactly what
/// was acknowledged.
fn fill_a_real_file_system(fs: &str, mb: u64, leave: u64) {
    let m = match LoopMount::new(fs, mb) {
        Ok(m) => m,
        Err(why) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("full_disk on {fs}: {why}");
            }
            eprintln!("full_disk: skipped on {fs}: {why}");
            return;
        }
    };
    let p = m.dir.join("s.srd");
    let s = StoreOptions::new().preallocate(1 << 20).open(&p).unwrap();
    let follower = StoreOptions::new().read_only(true).open(&p).unwrap();
    let mut acked: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = Default::default();
    for i in 0..50u64 {
        let k = format!("seed{i}").into_bytes();
        let v = bytes(i, 50_000);
        s.put(&k, &v).unwrap();
        acked.insert(k, v);
    }
    fill(&m.dir.join("filler"), leave);
    let mut failures = std::collections::BTreeMap::<&str, u32>::new();
    let mut round = 0u64;
    while failures.values().sum::<u32>() < 12 && round < 400 {
        round += 1;
        let kind = ["batch", "put", "each", "stream", "compact"][(round % 5) as usize];
        let v = bytes(round, if kind == "put" { 300_000 } else { 1 << 20 });
        let res = match kind {
            "batch" => {
                let ops: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..6u64)
                    .map(|j| {
                        (
                            format!("b{round}.{j}").into_bytes(),
                            Some(bytes(j, 1 << 20)),
                        )
                    })
                    .collect();
                s.write(&as_ops(&ops)).map(|_| {
                    for (k, v) in ops {
                        acked.insert(k, v.unwrap());
                    }
                })
            }
            "put" => {
                let k = format!("p{round}").into_bytes();
                s.put(&k, &v).map(|()| {
                    acked.insert(k, v.clone());
                })
            }
            "each" => {
                let keys: Vec<Vec<u8>> = (0..5)
                    .map(|j| format!("e{round}.{j}").into_bytes())
                    .collect();
                s.write_each(5, |feed| {
                    for k in &keys {
                        feed.push(Op::Put { key: k, value: &v })?;
                    }
                    Ok(())
                })
                .map(|_| {
                    for k in keys {
                        acked.insert(k, v.clone());
                    }
                })
            }
            "stream" => {
                let k = format!("s{round}").into_bytes();
                s.put_from_reader(&k, v.len() as u64, &mut &v[..]).map(|_| {
                    acked.insert(k, v.clone());
                })
            }
            _ => s.compact().map(|_| ()),
        };
        if let Err(e) = res {
            assert!(
                e.is_disk_full() || (kind == "each" && e.code() == "ERR_STORE_IO"),
                "{fs}: {kind} failed with {e}"
            );
            *failures.entry(kind).or_default() += 1;
        }
        // Reads go on, and the follower sees only acknowledged values.
        assert_eq!(
            s.get(b"seed0").unwrap().as_deref(),
            Some(&acked[&b"seed0"[..]][..])
        );
        follower.refresh().unwrap();
        for (k, v) in dump(&follower) {
            assert_eq!(
                acked.get(&k),
                Some(&v),
                "{fs}: the follower saw a value never acknowledged"
            );
        }
    }
    eprintln!(
        "full_disk on {fs}: {round} rounds, failures {failures:?}, {} keys acknowledged",
        acked.len()
    );
    assert!(
        failures.values().sum::<u32>() >= 12,
        "{fs}: the disk never filled up: {failures:?}"
    );
    assert!(
        failures.contains_key("batch") && failures.contains_key("put"),
        "{failures:?}"
    );
    assert!(!m.dir.join("s.srd.compact").exists());
    // Space is freed: everything works again without a reopen.
    std::fs::remove_file(m.dir.join("filler")).unwrap();
    if fs == "btrfs" {
        // btrfs frees a deleted file's extents at its next transaction commit.
        run("sync", &[]).unwrap();
    }
    for i in 0..5u64 {
        let ops: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..6u64)
            .map(|j| {
                (
                    format!("after{i}.{j}").into_bytes(),
                    Some(bytes(j, 1 << 20)),
                )
            })
            .collect();
        s.write(&as_ops(&ops))
            .unwrap_or_else(|e| panic!("{fs}: after freeing space: {e}"));
        for (k, v) in ops {
            acked.insert(k, v.unwrap());
        }
    }
    s.compact().unwrap();
    s.put(b"last", b"1").unwrap();
    acked.insert(b"last".to_vec(), b"1".to_vec());
    follower.refresh().unwrap();
    assert_eq!(
        dump(&follower),
        acked.clone().into_iter().collect::<Vec<_>>()
    );
    s.close().unwrap();
    drop(s);
    drop(follower);
    let got = reopened(&p);
    assert_eq!(
        got,
        acked.into_iter().collect::<Vec<_>>(),
        "{fs}: reopened store"
    );
}

#[test]
fn a_full_ext4_file_system_is_not_fatal() {
    fill_a_real_file_system("ext4", 256, 12 << 20);
}

#[test]
fn a_full_btrfs_file_system_is_not_fatal() {
    // btrfs reports free space it cannot give a file's data (metadata, chunk slack).
    fill_a_real_file_system("btrfs", 256, 40 << 20);
}
