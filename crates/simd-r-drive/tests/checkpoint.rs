//! The index checkpoint `<store>.idx`: written at close, read by the next open, and
//! ignored whenever it does not match the store file exactly.

mod common;

use std::path::{Path, PathBuf};

use common::{bytes, dump, Dir};
use simd_r_drive::{Error, Op, Store, StoreOptions};

fn opts() -> StoreOptions {
    StoreOptions::new().checkpoint_min_keys(1)
}

fn idx(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(".idx");
    PathBuf::from(s)
}

/// A closed store of 2,000 keys, some overwritten and some deleted, with its checkpoint.
fn closed_store(p: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    closed_store_variant(p, 0)
}

/// As [`closed_store`]; each `variant` has other values of the same lengths, so its
/// file has the same length.
fn closed_store_variant(p: &Path, variant: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let s = opts().open(p).unwrap();
    for round in 0..3u64 {
        let keys: Vec<Vec<u8>> = (0..1000u64)
            .map(|i| format!("key-{}", i + round * 500).into_bytes())
            .collect();
        let values: Vec<Vec<u8>> = (0..1000u64)
            .map(|i| bytes(i + round * 7919 + variant * 1_000_003, (i % 300) as usize))
            .collect();
        let ops: Vec<Op<'_>> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| Op::Put { key: k, value: v })
            .collect();
        s.write(&ops).unwrap();
    }
    for i in (0..2000u64).step_by(7) {
        s.delete(format!("key-{i}").as_bytes()).unwrap();
    }
    let want = dump(&s);
    s.close().unwrap();
    assert!(idx(p).exists(), "close saves the checkpoint");
    want
}

fn reopen_without_checkpoint(p: &Path) -> Store {
    let s = opts().checkpoint_min_keys(usize::MAX).open(p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, None);
    s
}

#[test]
fn an_open_reads_the_checkpoint_and_gets_the_same_store() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let want = closed_store(&p);
    let s = opts().open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, Some(want.len() as u64));
    assert_eq!(
        s.recovery().entries,
        0,
        "nothing after the checkpoint to scan"
    );
    assert_eq!(dump(&s), want);
    s.verify().unwrap();
    let stats = s.stats();
    drop(s);
    std::fs::remove_file(idx(&p)).unwrap();
    let scanned = reopen_without_checkpoint(&p);
    assert_eq!(scanned.stats().live_bytes, stats.live_bytes);
    assert_eq!(scanned.stats().entries, stats.entries);
    assert_eq!(scanned.stats().file_bytes, stats.file_bytes);
}

#[test]
fn writes_after_the_checkpoint_are_scanned_even_after_a_crash() {
    let d = Dir::new();
    let p = d.path("s.srd");
    closed_store(&p);
    let s = opts().open(&p).unwrap();
    s.put(b"key-1", b"new").unwrap();
    s.delete(b"key-2").unwrap();
    s.put(b"fresh", b"value").unwrap();
    let want = dump(&s);
    drop(s); // no close: as after a crash, the checkpoint describes an older end
    let s = opts().open(&p).unwrap();
    assert!(s.recovery().checkpoint_keys.is_some());
    assert_eq!(s.recovery().entries, 3);
    assert_eq!(dump(&s), want);
    s.verify().unwrap();
    // An unfinished batch after the checkpoint is dropped as usual.
    drop(s);
    let len = std::fs::metadata(&p).unwrap().len();
    let f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    std::io::Write::write_all(&mut &f, &[0x55; 40]).unwrap();
    drop(f);
    let s = opts().open(&p).unwrap();
    assert!(s.recovery().checkpoint_keys.is_some());
    assert_eq!(s.recovery().dropped_tail_bytes, 40);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), len);
    assert_eq!(dump(&s), want);
}

#[test]
fn reopening_and_closing_without_writes_changes_nothing() {
    let d = Dir::new();
    let p = d.path("s.srd");
    closed_store(&p);
    let store_before = std::fs::read(&p).unwrap();
    let idx_before = std::fs::read(idx(&p)).unwrap();
    let modified = std::fs::metadata(idx(&p)).unwrap().modified().unwrap();
    for _ in 0..2 {
        let s = opts().open(&p).unwrap();
        assert!(!s.checkpoint().unwrap(), "already up to date");
        s.close().unwrap();
    }
    assert_eq!(std::fs::read(&p).unwrap(), store_before);
    assert_eq!(std::fs::read(idx(&p)).unwrap(), idx_before);
    assert_eq!(
        std::fs::metadata(idx(&p)).unwrap().modified().unwrap(),
        modified
    );
}

#[test]
fn small_stores_and_read_only_stores_write_no_checkpoint() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = Store::open(&p).unwrap();
    s.put(b"a", b"1").unwrap();
    s.close().unwrap();
    assert!(!idx(&p).exists(), "below the default 50,000 keys");
    let r = opts().read_only(true).open(&p).unwrap();
    r.close().unwrap();
    assert!(!idx(&p).exists());
    assert!(matches!(
        r.checkpoint(),
        Err(Error::Closed | Error::ReadOnly)
    ));
}

/// Opens after `damage` changed the checkpoint or the store: the checkpoint must be
/// ignored and the store read from its log, with exactly `want`.
fn ignored_after(damage: impl FnOnce(&Path), want_same: bool) {
    let d = Dir::new();
    let p = d.path("s.srd");
    let want = closed_store(&p);
    damage(&p);
    let s = opts().open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, None);
    if want_same {
        assert_eq!(dump(&s), want);
    }
    s.verify().unwrap();
}

#[test]
fn a_damaged_or_torn_checkpoint_is_ignored() {
    for at in [0usize, 9, 20, 30, 100, 5000] {
        ignored_after(
            |p| {
                let mut b = std::fs::read(idx(p)).unwrap();
                let i = at.min(b.len() - 1);
                b[i] ^= 0x10;
                std::fs::write(idx(p), b).unwrap();
            },
            true,
        );
    }
    ignored_after(
        |p| {
            let b = std::fs::read(idx(p)).unwrap();
            std::fs::write(idx(p), &b[..b.len() / 2]).unwrap();
        },
        true,
    );
    ignored_after(|p| std::fs::write(idx(p), b"").unwrap(), true);
}

#[test]
fn a_checkpoint_of_another_file_is_ignored() {
    // The store replaced by a copy of itself (another inode).
    ignored_after(
        |p| {
            let copy = p.with_extension("copy");
            std::fs::copy(p, &copy).unwrap();
            std::fs::rename(&copy, p).unwrap();
        },
        true,
    );
    // The same inode overwritten with another store of the same length.
    let d = Dir::new();
    let p = d.path("s.srd");
    closed_store(&p);
    let other = d.path("other.srd");
    let want = closed_store_variant(&other, 1);
    let image = std::fs::read(&other).unwrap();
    assert_eq!(image.len() as u64, std::fs::metadata(&p).unwrap().len());
    std::fs::write(&p, image).unwrap();
    let s = opts().open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, None);
    assert_eq!(dump(&s), want);
    drop(s);
    // Compaction replaces the file and removes the old checkpoint.
    let d = Dir::new();
    let p = d.path("s.srd");
    let want = closed_store(&p);
    let s = opts().open(&p).unwrap();
    s.compact().unwrap();
    assert!(!idx(&p).exists());
    drop(s);
    let s = opts().open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, None);
    assert_eq!(dump(&s), want);
    s.close().unwrap();
    let s = opts().open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, Some(want.len() as u64));
}

#[test]
fn a_checkpoint_made_with_another_key_hash_is_ignored() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let want = closed_store(&p);
    let s = opts().key_hasher(|k| k.len() as u64).open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, None);
    assert_eq!(dump(&s), want);
    assert_eq!(
        s.get(b"key-1").unwrap().unwrap().to_vec(),
        want_value(&want, b"key-1")
    );
}

fn want_value(want: &[(Vec<u8>, Vec<u8>)], key: &[u8]) -> Vec<u8> {
    want.iter().find(|(k, _)| k == key).unwrap().1.clone()
}

#[test]
fn the_store_cut_before_the_checkpoints_end_ignores_it() {
    ignored_after(
        |p| {
            let len = std::fs::metadata(p).unwrap().len();
            let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
            f.set_len(len - 24).unwrap(); // the closing sync mark is gone
        },
        true,
    );
}

/// Rewrites the checkpoint's slots with `edit` and gives it a valid checksum again, as
/// only a deliberately crafted file would have.
fn forge(p: &Path, edit: impl FnOnce(&mut [u8])) {
    let mut b = std::fs::read(idx(p)).unwrap();
    let n = b.len();
    edit(&mut b[64..n - 8]);
    let sum = xxhash_rust::xxh3::xxh3_64(&b[..n - 8]);
    b[n - 8..].copy_from_slice(&sum.to_le_bytes());
    std::fs::write(idx(p), b).unwrap();
}

#[test]
fn a_forged_checkpoint_cannot_make_reads_leave_the_file_and_verify_reports_it() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let want = closed_store(&p);
    // Offsets into the middle of entries (still aligned and inside the log).
    forge(&p, |slots| {
        for s in slots.chunks_exact_mut(16) {
            let off = u64::from_le_bytes(s[8..16].try_into().unwrap());
            s[8..16].copy_from_slice(&(off + 8).to_le_bytes());
        }
    });
    let s = opts().open(&p).unwrap();
    assert!(s.recovery().checkpoint_keys.is_some());
    for (k, _) in &want {
        // Wrong answers are possible from a forged index; reading outside the file is not.
        let _ = s.get(k).unwrap();
        let _ = s.get_with(k, |v| v.len()).unwrap();
    }
    match s.verify() {
        Err(Error::Corrupt { reason, .. }) => assert!(reason.contains(".idx"), "{reason}"),
        other => panic!("verify should report the forged index, got {other:?}"),
    }
    drop(s);
    // Offsets outside the log are refused when the checkpoint is read.
    let d = Dir::new();
    let p = d.path("s.srd");
    let want = closed_store(&p);
    forge(&p, |slots| {
        slots[8..16].copy_from_slice(&u64::MAX.to_le_bytes())
    });
    let s = opts().open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, None);
    assert_eq!(dump(&s), want);
}
