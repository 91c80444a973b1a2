//! The first-read check of entries an open took from the index file without reading them:
//! a damaged one fails its first read, before and after the process merges the index,
//! while the entries the process wrote itself read on.

mod common;

use std::path::Path;

use common::{bytes, Dir};
use simd_r_drive::{Error, Op, StoreOptions};

fn opts() -> StoreOptions {
    StoreOptions::new().checkpoint_min_keys(1)
}

/// The value whose bytes the test finds in the file and damages.
const VICTIM: &[u8] = b"the victim value, found by its bytes in the file";

/// Writes `victim` and 5,000 other keys (so that it lies before the 64 KiB the open hashes),
/// closes the store (which writes its index file),
/// then flips one bit of the victim's value in place, as a failing disk would.
fn damaged_store(p: &Path) {
    let s = opts().open(p).unwrap();
    s.write(&[Op::Put {
        key: b"victim",
        value: VICTIM,
    }])
    .unwrap();
    let keys: Vec<Vec<u8>> = (0..5000u64)
        .map(|i| format!("k:{i}").into_bytes())
        .collect();
    let values: Vec<Vec<u8>> = (0..5000u64).map(|i| bytes(i, 40)).collect();
    let ops: Vec<Op<'_>> = keys
        .iter()
        .zip(&values)
        .map(|(k, v)| Op::Put { key: k, value: v })
        .collect();
    s.write(&ops).unwrap();
    s.close().unwrap();
    let mut file = std::fs::read(p).unwrap();
    let at = file
        .windows(VICTIM.len())
        .position(|w| w == VICTIM)
        .expect("the victim's value is in the file");
    file[at + 4] ^= 0x20;
    assert!(
        at + (64 << 10) < file.len(),
        "the victim lies before the last 64 KiB"
    );
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.write_all_at(&file[at + 4..at + 5], (at + 4) as u64)
        .unwrap();
}

fn assert_corrupt<T: std::fmt::Debug>(r: simd_r_drive::Result<T>, what: &str) {
    match r {
        Err(Error::Corrupt { offset, .. }) => assert!(offset >= 64, "{what}: offset {offset}"),
        other => panic!("{what}: expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_damaged_entry_fails_its_first_read_after_a_constant_time_open() {
    let d = Dir::new();
    let p = d.path("s.srd");
    damaged_store(&p);
    for read_only in [true, false] {
        let s = opts().read_only(read_only).open(&p).unwrap();
        assert_eq!(
            s.recovery().entries,
            0,
            "the open replayed nothing: it read no entry"
        );
        assert_corrupt(s.get(b"victim"), "get");
        assert_corrupt(s.get_with(b"victim", |v| v.len()), "get_with");
        assert_corrupt(
            s.get_many_with(&[b"k:1".as_slice(), b"victim"], |_, _| ()),
            "get_many_with",
        );
        assert_eq!(
            s.get_with(b"k:7", |v| v.to_vec()).unwrap(),
            Some(bytes(7, 40)),
            "other keys read on"
        );
        // A second read fails again: the check's bit is set only for entries that verify.
        assert_corrupt(s.get(b"victim"), "second get");
    }
}

#[test]
fn after_a_merge_the_opens_entries_are_still_checked_and_the_processs_own_read_on() {
    let d = Dir::new();
    let p = d.path("s.srd");
    damaged_store(&p);
    let s = opts().open(&p).unwrap();
    let mine: Vec<Vec<u8>> = (0..500u64)
        .map(|i| format!("new:{i}").into_bytes())
        .collect();
    let ops: Vec<Op<'_>> = mine
        .iter()
        .map(|k| Op::Put {
            key: k,
            value: k.as_slice(),
        })
        .collect();
    s.write(&ops).unwrap();
    // The merge moves the new keys into a new index file, beside the opened ones.
    assert!(s.checkpoint().unwrap(), "the checkpoint merged");
    assert_corrupt(s.get(b"victim"), "get after the merge");
    assert_corrupt(
        s.get_many_with(&[b"new:1".as_slice(), b"victim"], |_, _| ()),
        "get_many_with after the merge",
    );
    for k in &mine {
        assert_eq!(
            s.get_with(k, |v| v.to_vec()).unwrap().as_deref(),
            Some(k.as_slice())
        );
    }
    assert_eq!(
        s.get_with(b"k:9", |v| v.to_vec()).unwrap(),
        Some(bytes(9, 40))
    );
    drop(s);
    // The next open took every entry from index files: the victim is checked again.
    let s = opts().read_only(true).open(&p).unwrap();
    assert_corrupt(s.get(b"victim"), "get after a reopen");
}
