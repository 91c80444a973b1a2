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
    s.push(".srd-index");
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
    let s = opts()
        .checkpoint_min_keys(usize::MAX)
        .verify_full(true)
        .open(p)
        .unwrap();
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
fn reopening_and_closing_without_writes_leaves_the_delta_file_as_it_was() {
    // A close saves the changes since the index file as a delta file; a later session
    // that writes nothing must not write it again (temp file, fdatasync, rename and a
    // directory sync, milliseconds on every open and close of a read-mostly process).
    use std::os::unix::fs::MetadataExt;
    let d = Dir::new();
    let p = d.path("s.srd");
    closed_store(&p);
    let s = opts().open(&p).unwrap();
    s.put(b"key-1", b"changed").unwrap();
    s.close().unwrap();
    let mut delta = p.as_os_str().to_os_string();
    delta.push(".srd-delta");
    let delta = PathBuf::from(delta);
    let saved = std::fs::metadata(&delta).expect("the close saved a delta file");
    let (store_before, delta_before) = (std::fs::read(&p).unwrap(), std::fs::read(&delta).unwrap());
    for _ in 0..2 {
        let s = opts().open(&p).unwrap();
        assert_eq!(s.get(b"key-1").unwrap().unwrap().as_slice(), b"changed");
        s.close().unwrap();
    }
    let now = std::fs::metadata(&delta).unwrap();
    assert_eq!(now.ino(), saved.ino(), "not replaced by a new file");
    assert_eq!(std::fs::read(&delta).unwrap(), delta_before);
    assert_eq!(std::fs::read(&p).unwrap(), store_before);
    // A write after that saves it again, and the next open replays nothing.
    let s = opts().open(&p).unwrap();
    s.put(b"key-2", b"changed too").unwrap();
    s.close().unwrap();
    assert_ne!(std::fs::metadata(&delta).unwrap().ino(), saved.ino());
    let s = opts().open(&p).unwrap();
    assert_eq!(s.recovery().entries, 0);
    assert_eq!(s.get(b"key-2").unwrap().unwrap().as_slice(), b"changed too");
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
    // The header is checked at open (its checksum covers it): damage there, a cut file or
    // an empty one makes the open read the log. (Damage in the slots is found by reads and
    // verify(): see `damaged_slots_are_reported_by_verify`.)
    for at in [0usize, 9, 20, 30, 100] {
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
fn damaged_slots_are_reported_by_verify() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let want = closed_store(&p);
    let mut b = std::fs::read(idx(&p)).unwrap();
    let at = b.len() - 40;
    b[at] ^= 0x10;
    std::fs::write(idx(&p), b).unwrap();
    let s = opts().open(&p).unwrap();
    // Whatever the damaged slot says, no read returns another key's value.
    for (k, v) in &want {
        if let Some(got) = s.get(k).unwrap() {
            assert_eq!(&got[..], &v[..]);
        }
    }
    match s.verify() {
        Err(Error::Corrupt { reason, .. }) => assert!(reason.contains(".srd-index"), "{reason}"),
        other => panic!("verify should report the damaged index file, got {other:?}"),
    }
}

#[test]
fn a_checkpoint_of_another_file_is_ignored() {
    // The store replaced by a copy of itself (another inode, the same generation and
    // bytes): the index file still describes it exactly, and is used.
    {
        let d = Dir::new();
        let p = d.path("s.srd");
        let want = closed_store(&p);
        let copy = p.with_extension("copy");
        std::fs::copy(&p, &copy).unwrap();
        std::fs::rename(&copy, &p).unwrap();
        let s = opts().open(&p).unwrap();
        assert!(s.recovery().checkpoint_keys.is_some());
        assert_eq!(dump(&s), want);
        s.verify().unwrap();
    }
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
    // Compaction replaces the file (a new generation) and writes the new file's index
    // with it: the next open, even without a close, replays nothing.
    let d = Dir::new();
    let p = d.path("s.srd");
    let want = closed_store(&p);
    let s = opts().open(&p).unwrap();
    let before = std::fs::read(idx(&p)).unwrap();
    s.compact().unwrap();
    assert_ne!(std::fs::read(idx(&p)).unwrap(), before);
    drop(s);
    let s = opts().open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, Some(want.len() as u64));
    assert_eq!(s.recovery().entries, 0);
    assert_eq!(dump(&s), want);
    s.verify().unwrap();
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

/// Rewrites the index file with `edit` and gives it a valid slot hash and header checksum
/// again (FORMAT.md, "Index file"), as only a deliberately crafted file would have.
fn rewrite(p: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(idx(p)).unwrap();
    edit(&mut b);
    let slots = xxhash_rust::xxh3::xxh3_64(&b[128..]);
    b[96..104].copy_from_slice(&slots.to_le_bytes());
    let sum = xxhash_rust::xxh3::xxh3_64(&b[..120]);
    b[120..128].copy_from_slice(&sum.to_le_bytes());
    std::fs::write(idx(p), b).unwrap();
}

/// Rewrites the index file's slots with `edit` (see [`rewrite`]).
fn forge(p: &Path, edit: impl FnOnce(&mut [u8])) {
    rewrite(p, |b| edit(&mut b[128..]));
}

/// Whether every read of `want`'s keys gives the key's own value or nothing, and whether
/// `verify()` then reports the index file when the store's contents are not `want`.
fn reads_stay_honest(s: &Store, want: &[(Vec<u8>, Vec<u8>)]) {
    for (k, v) in want {
        if let Some(got) = s.get(k).unwrap() {
            assert_eq!(&got[..], &v[..], "another key's value");
        }
    }
    // The batched lookups take offsets from the slots before reading any entry: the
    // same holds for them, and they agree with `get`.
    let keys: Vec<&[u8]> = want.iter().map(|(k, _)| k.as_slice()).collect();
    s.get_many_with(&keys, |i, got| {
        if let Some(got) = got {
            assert_eq!(got, &want[i].1[..], "another key's value (batched)");
        }
        let single = s.get(keys[i]).unwrap();
        assert_eq!(got, single.as_deref(), "batched and single lookups agree");
    })
    .unwrap();
    if dump(s) != want {
        match s.verify() {
            Err(Error::Corrupt { reason, .. }) => {
                assert!(reason.contains(".srd-index"), "{reason}")
            }
            other => panic!("verify should report the forged index, got {other:?}"),
        }
    }
}

#[test]
fn a_forged_checkpoint_cannot_make_reads_leave_the_file_and_verify_reports_it() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let want = closed_store(&p);
    // Offsets into the middle of entries (still aligned and inside the log): no slot
    // starts a Put of its key there. The open cannot tell in constant time; the reads
    // find no key there (never another key's value), and verify() reports it.
    forge(&p, |slots| {
        for s in slots.chunks_exact_mut(16) {
            let off = u64::from_le_bytes(s[8..16].try_into().unwrap());
            if off != 0 {
                s[8..16].copy_from_slice(&(off + 8).to_le_bytes());
            }
        }
    });
    let s = opts().open(&p).unwrap();
    reads_stay_honest(&s, &want);
    assert!(matches!(s.compact(), Err(Error::Corrupt { .. })));
    drop(s);
    // Offsets outside the log: no read leaves the file.
    let d = Dir::new();
    let p = d.path("s.srd");
    let want = closed_store(&p);
    forge(&p, |slots| {
        for s in slots.chunks_exact_mut(16) {
            if s[8..16] != [0u8; 8] {
                s[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
            }
        }
    });
    let s = opts().open(&p).unwrap();
    reads_stay_honest(&s, &want);
    assert_eq!(s.iter().unwrap().count(), 0);
    drop(s);
    // A slot moved to an older entry of its own key passes every check an open can make
    // without reading the log: the open gives the old value, and verify() reports it.
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = opts().open(&p).unwrap();
    s.put(b"k", b"old!").unwrap();
    let old = s.get(b"k").unwrap().unwrap().file_offset() - 16 - 8;
    s.put(b"k", b"new!").unwrap();
    let new = s.get(b"k").unwrap().unwrap().file_offset() - 16 - 8;
    s.put(b"other", b"x").unwrap();
    s.close().unwrap();
    drop(s);
    forge(&p, |slots| {
        for s in slots.chunks_exact_mut(16) {
            if s[8..16] == new.to_le_bytes() {
                s[8..16].copy_from_slice(&old.to_le_bytes());
            }
        }
    });
    let s = opts().open(&p).unwrap();
    assert!(s.recovery().checkpoint_keys.is_some());
    assert_eq!(s.get(b"k").unwrap().as_deref(), Some(&b"old!"[..]));
    match s.verify() {
        Err(Error::Corrupt { reason, .. }) => assert!(reason.contains(".srd-index"), "{reason}"),
        other => panic!("verify should report the forged index, got {other:?}"),
    }
}

/// Issue 21, item 10, for the index file: a forged live byte count near `u64::MAX` (which
/// made `stats()` and `put()` overflow) is refused at open; what an open cannot check in
/// constant time (a count one off, a duplicated slot, two slots naming one entry, a slot
/// hash that is not its key's) never makes a read return another key's value, a write or
/// `stats()` overflow, and `verify()` reports it.
#[test]
fn a_checkpoint_whose_fields_disagree_with_the_log_is_ignored() {
    /// Byte offsets of the first two slots that name an entry.
    fn used(b: &[u8]) -> (usize, usize) {
        let mut it = (128..b.len())
            .step_by(16)
            .filter(|&at| b[at + 8..at + 16] != [0u8; 8]);
        (it.next().unwrap(), it.next().unwrap())
    }
    type Edit = fn(&mut Vec<u8>);
    let edits: [(&str, bool, Edit); 5] = [
        ("live bytes near u64::MAX", true, |b| {
            b[48..56].copy_from_slice(&(u64::MAX - 10).to_le_bytes())
        }),
        ("live bytes one off", false, |b| {
            let v = u64::from_le_bytes(b[48..56].try_into().unwrap());
            b[48..56].copy_from_slice(&(v + 8).to_le_bytes())
        }),
        ("a duplicated slot", false, |b| {
            let (a, c) = used(b);
            let first: [u8; 16] = b[a..a + 16].try_into().unwrap();
            b[c..c + 16].copy_from_slice(&first);
        }),
        ("two slots naming one entry", false, |b| {
            let (a, c) = used(b);
            let off: [u8; 8] = b[a + 8..a + 16].try_into().unwrap();
            b[c + 8..c + 16].copy_from_slice(&off);
        }),
        ("a slot hash that is not its key's", false, |b| {
            let (a, _) = used(b);
            b[a] ^= 1
        }),
    ];
    for (what, refused, edit) in edits {
        let d = Dir::new();
        let p = d.path("s.srd");
        let want = closed_store(&p);
        rewrite(&p, edit);
        let s = opts().open(&p).unwrap();
        assert_eq!(s.recovery().checkpoint_keys.is_none(), refused, "{what}");
        reads_stay_honest(&s, &want);
        let _ = s.stats();
        s.put(b"after", b"1").unwrap();
        let _ = s.stats();
        if !refused {
            match s.verify() {
                Err(Error::Corrupt { reason, .. }) => {
                    assert!(reason.contains(".srd-index"), "{what}: {reason}")
                }
                other => panic!("{what}: verify should report the index file, got {other:?}"),
            }
        } else {
            assert_eq!(dump(&s).len(), want.len() + 1, "{what}");
            s.verify().unwrap();
        }
    }
}

/// The key hash's seed, and the slots that follow it.
fn seed_and_slots(p: &Path) -> (u64, Vec<u8>) {
    let b = std::fs::read(idx(p)).unwrap();
    (
        u64::from_le_bytes(b[64..72].try_into().unwrap()),
        b[72..b.len() - 8].to_vec(),
    )
}

/// Keys are hashed with a seed drawn for each store, so keys chosen to collide in one store
/// do not collide in another; the seed is kept with the checkpoint, which is what lets the
/// next open use the checkpoint's hashes.
#[test]
fn each_store_hashes_its_keys_with_a_seed_of_its_own_which_its_checkpoint_keeps() {
    let d = Dir::new();
    let (a, b) = (d.path("a.srd"), d.path("b.srd"));
    let want = closed_store(&a);
    assert_eq!(closed_store(&b), want);
    let (seed_a, slots_a) = seed_and_slots(&a);
    let (seed_b, slots_b) = seed_and_slots(&b);
    assert_ne!(seed_a, seed_b);
    assert_ne!(slots_a, slots_b, "the same keys hash alike in both stores");
    // Reopened from the checkpoint, the store keeps its seed, and writes after the
    // checkpoint are hashed with it too.
    let s = opts().open(&a).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, Some(want.len() as u64));
    s.put(b"after the checkpoint", b"1").unwrap();
    assert_eq!(
        s.get(b"after the checkpoint").unwrap().unwrap().as_ref(),
        b"1"
    );
    s.verify().unwrap();
    s.close().unwrap();
    assert_eq!(seed_and_slots(&a).0, seed_a);
    let s = opts().open(&a).unwrap();
    assert!(s.recovery().checkpoint_keys.is_some());
    assert_eq!(s.len(), want.len() + 1);
    s.verify().unwrap();
}

/// A checkpoint of layout version 1 (before the seed was kept) is not used.
#[test]
fn a_version_1_checkpoint_is_not_used() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let want = closed_store(&p);
    rewrite(&p, |b| b[8] = 1);
    let s = opts().open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, None);
    assert_eq!(dump(&s), want);
}

/// Hashes that crowd into one part of the table (here: all equal) would make building the
/// index take time quadratic in their number; real keys never hash like that, so the open
/// gives up on such a checkpoint early and scans the log instead.
#[test]
fn a_checkpoint_whose_hashes_crowd_together_is_not_used() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let want = closed_store(&p);
    assert!(
        want.len() > 1024 + 100,
        "enough keys to crowd past the bound"
    );
    forge(&p, |slots| {
        for s in slots.chunks_exact_mut(16) {
            s[..8].copy_from_slice(&7u64.to_le_bytes());
        }
    });
    // Lookups stop at the first slot whose hash is larger than theirs: crowded hashes
    // cost no long walks, find nothing, and verify() reports the file.
    let started = std::time::Instant::now();
    let s = opts().open(&p).unwrap();
    reads_stay_honest(&s, &want);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

/// Overwrites `bytes` at `at` of the file in place (same inode), as a failing disk would.
fn patch(p: &Path, at: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.write_all_at(bytes, at).unwrap();
}

fn byte_at(p: &Path, at: u64) -> u8 {
    std::fs::read(p).unwrap()[at as usize]
}

#[test]
fn damage_before_the_checkpoints_end_is_reported_as_a_whole_scan_would() {
    // A bit of the first entry's value, and a bit of its length field.
    for (at, bit) in [(64 + 16 + 8 + 3, 0x01), (64 + 15, 0x10), (64 + 14, 0x80)] {
        let d = Dir::new();
        let p = d.path("s.srd");
        closed_store(&p);
        patch(&p, at, &[byte_at(&p, at) ^ bit]);
        let whole = match opts()
            .checkpoint_min_keys(usize::MAX)
            .verify_full(true)
            .read_only(true)
            .open(&p)
        {
            Err(Error::Corrupt { offset, .. }) => offset,
            other => panic!("byte {at}, whole log: expected Corrupt, got {other:?}"),
        };
        assert!(whole < 200, "byte {at}: damage found at {whole}");
        for read_only in [true, false] {
            // The strict open reads the whole log, as before.
            match opts().read_only(read_only).verify_full(true).open(&p) {
                Err(Error::Corrupt { offset, .. }) => assert_eq!(offset, whole),
                other => panic!("byte {at} ({read_only}): expected Corrupt, got {other:?}"),
            }
            // The constant-time open does not read it: verify() reports it, at the same
            // offset.
            // (verify() names the start of the damaged entry's batch or the entry.)
            let s = opts().read_only(read_only).open(&p).unwrap();
            match s.verify() {
                Err(Error::Corrupt { offset, .. }) => assert!((64..=whole).contains(&offset)),
                other => panic!("byte {at} ({read_only}): expected Corrupt, got {other:?}"),
            }
        }
    }
}

#[test]
fn a_store_restored_in_place_with_the_same_tail_ignores_the_old_checkpoint() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let mine = closed_store(&p);
    // Another store: the same entries, but the first value differs in one byte. Same length,
    // same last 64 KiB; copied over the store in place (same inode), as `cp backup store` does.
    let other = d.path("other.srd");
    std::fs::copy(&p, &other).unwrap();
    let at = 64 + 16 + 8;
    patch(&other, at, &[byte_at(&other, at) ^ 1]);
    // Make the changed entry verify again: the other store is a valid store.
    std::fs::remove_file(idx(&other)).ok();
    let _ = simd_r_drive::repair(&other, &StoreOptions::new());
    let restored = std::fs::read(&other).unwrap();
    std::fs::write(&p, &restored).unwrap();
    let s = opts().open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, None);
    let whole = opts()
        .checkpoint_min_keys(usize::MAX)
        .verify_full(true)
        .read_only(true)
        .open(&other)
        .unwrap();
    assert_eq!(dump(&s), dump(&whole));
    assert_ne!(dump(&s), mine);
    s.verify().unwrap();
}

#[test]
fn compaction_refuses_to_copy_an_entry_damaged_while_the_store_was_open() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let want = closed_store(&p);
    let s = opts().open(&p).unwrap();
    assert!(s.recovery().checkpoint_keys.is_some());
    // The first live entry rots after the open.
    let first = {
        let mut offs: Vec<u64> = Vec::new();
        let bytes = std::fs::read(&p).unwrap();
        let mut at = 64u64;
        while offs.is_empty() {
            let klen = u16::from_le_bytes([bytes[at as usize + 10], bytes[at as usize + 11]]);
            let key = &bytes[at as usize + 16..at as usize + 16 + klen as usize];
            if want.iter().any(|(k, _)| k == key)
                && s.get(key).unwrap().unwrap().file_offset()
                    == (at + 16 + (klen as u64).div_ceil(8) * 8)
            {
                offs.push(at);
            }
            let vlen = u32::from_le_bytes(
                bytes[at as usize + 12..at as usize + 16]
                    .try_into()
                    .unwrap(),
            );
            at += 16 + (klen as u64).div_ceil(8) * 8 + (vlen as u64).div_ceil(8) * 8;
        }
        offs[0]
    };
    patch(&p, first + 15, &[byte_at(&p, first + 15) ^ 0x10]);
    match s.compact() {
        Err(Error::Corrupt { offset, .. }) => assert_eq!(offset, first),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Nothing was replaced, and the store still takes writes.
    assert!(!d.path("s.srd.compact").exists());
    s.put(b"after", b"1").unwrap();
    // Reading every entry stays inside the file.
    let n = s.iter().unwrap().count();
    assert!(n >= want.len() - 1);
    assert!(matches!(s.verify(), Err(Error::Corrupt { .. })));
}

// Differential check: an open from a checkpoint and an open of the whole log agree (keys,
// values, stats, recovery report, errors) after writes past the checkpoint, crashes, torn
// tails, zeros and damage past the checkpoint, read-only and writable, with colliding key
// hashes and with preallocation. (Written by an independent review of the checkpoint.)

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn all_same(_: &[u8]) -> u64 {
    42
}

fn o(h: bool) -> StoreOptions {
    let x = opts();
    if h {
        x.key_hasher(all_same)
    } else {
        x
    }
}

fn random_writes(s: &Store, r: &mut Rng, n: usize) {
    for _ in 0..n {
        let k = format!("k{}", r.below(300)).into_bytes();
        match r.below(10) {
            0..=5 => s.put(&k, &bytes(r.next(), r.below(120) as usize)).unwrap(),
            6 => {
                s.delete(&k).unwrap();
            }
            7 => {
                let k2 = format!("k{}", r.below(300)).into_bytes();
                let v = bytes(r.next(), 30);
                s.write(&[Op::Put { key: &k, value: &v }, Op::Delete { key: &k2 }])
                    .unwrap();
            }
            8 => s.flush().unwrap(),
            _ => {
                let v = bytes(r.next(), 10);
                s.write(&[Op::Delete { key: &k }, Op::Put { key: &k, value: &v }])
                    .unwrap();
            }
        }
    }
}

type Snap = (
    Vec<(Vec<u8>, Vec<u8>)>,
    (u64, u64, u64, u64),
    (u64, Option<&'static str>, Option<u64>),
    Vec<Option<Vec<u8>>>,
);

fn snap(s: &Store) -> Snap {
    let st = s.stats();
    let rc = s.recovery();
    let gets = (0..300)
        .map(|i| {
            s.get(format!("k{i}").as_bytes())
                .unwrap()
                .map(|v| v.to_vec())
        })
        .collect();
    (
        common::dump(s),
        (
            st.entries,
            st.file_bytes,
            st.live_bytes,
            st.reclaimable_bytes,
        ),
        (rc.dropped_tail_bytes, rc.tail_reason, rc.unsynced_damage_at),
        gets,
    )
}

fn open_snap(p: &Path, opts: StoreOptions) -> Result<(Snap, bool), String> {
    match opts.open(p) {
        Ok(s) => {
            let used = s.recovery().checkpoint_keys.is_some();
            let r = snap(&s);
            s.verify()
                .map_err(|e| format!("verify: {e}").replace(&p.display().to_string(), "<p>"))?;
            Ok((r, used))
        }
        Err(Error::Corrupt { .. }) => Err("corrupt".into()),
        Err(e) => Err(format!("{e}").replace(&p.display().to_string(), "<p>")),
    }
}

#[test]
fn opens_from_a_checkpoint_equal_opens_of_the_whole_log_after_crashes_and_damage() {
    let mut used_count = 0;
    for seed in 1..160u64 {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let h = seed % 3 == 0;
        let d = Dir::new();
        let p = d.path("s.srd");
        let pre = if seed % 4 == 1 { 4096 } else { 0 };
        let s = o(h).preallocate(pre).open(&p).unwrap();
        random_writes(&s, &mut r, 200);
        s.close().unwrap();
        drop(s);
        // A later session: writes after E, then no close (crash), sometimes a close w/o checkpoint.
        let s = o(h).preallocate(pre).open(&p).unwrap();
        let n = r.below(40) as usize;
        random_writes(&s, &mut r, n);
        let e_len = std::fs::metadata(&p).unwrap().len();
        drop(s);
        let len = std::fs::metadata(&p).unwrap().len();
        let ck_e = {
            let b = std::fs::read(idx(&p)).unwrap();
            u64::from_le_bytes(b[16..24].try_into().unwrap())
        };
        let _ = e_len;
        // Damage after E.
        {
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&p)
                .unwrap();
            match r.below(5) {
                0 => {}
                1 => {
                    let g = bytes(r.next(), r.below(200) as usize);
                    f.write_all_at(&g, len).unwrap();
                }
                2 => f.set_len(len + 8192).unwrap(),
                _ if len > ck_e => {
                    let at = ck_e + r.below(len - ck_e);
                    let mut b = [0u8; 1];
                    f.read_exact_at(&mut b, at).unwrap();
                    b[0] ^= 1 << r.below(8);
                    f.write_all_at(&b, at).unwrap();
                }
                _ => {}
            }
        }
        let q = d.path("full.srd");
        std::fs::copy(&p, &q).unwrap();
        // Read-only first (no changes to the files), then writable.
        for ro in [true, false] {
            let a = open_snap(&p, o(h).read_only(ro));
            let b = open_snap(
                &q,
                o(h).read_only(ro)
                    .checkpoint_min_keys(usize::MAX)
                    .verify_full(true),
            );
            if let Ok((x, u)) = &a {
                used_count += *u as u32;
                let _ = x;
            }
            assert_eq!(
                a.as_ref().map(|x| &x.0),
                b.as_ref().map(|x| &x.0),
                "seed {seed} ro {ro}"
            );
            if let Ok((_, used)) = &b {
                assert!(!used);
            }
        }
        // One more round of writes and a close on both, then reopen and compare again.
        if let (Ok(a), Ok(b)) = (
            o(h).open(&p),
            o(h).checkpoint_min_keys(usize::MAX)
                .verify_full(true)
                .open(&q),
        ) {
            let mut r2 = Rng(seed);
            random_writes(&a, &mut r2, 20);
            let mut r2 = Rng(seed);
            random_writes(&b, &mut r2, 20);
            a.close().unwrap();
            b.close().unwrap();
            let a = open_snap(&p, o(h)).unwrap();
            let b = open_snap(&q, o(h).checkpoint_min_keys(usize::MAX).verify_full(true)).unwrap();
            assert_eq!(a.0, b.0, "seed {seed} after second close");
        }
    }
    eprintln!("checkpoint used in {used_count} opens");
    assert!(used_count > 120, "{used_count}");
}

#[test]
fn damage_while_the_store_is_open_is_not_vouched_for_by_the_next_checkpoint() {
    let d = Dir::new();
    let p = d.path("s.srd");
    closed_store(&p);
    let s = opts().open(&p).unwrap();
    assert!(s.recovery().checkpoint_keys.is_some());
    // A byte of an early value rots while the store is open; then the store changes, so
    // that close() has a new checkpoint to write.
    let at = 64 + 16 + 8 + 40 * 8;
    patch(&p, at, &[byte_at(&p, at) ^ 0x04]);
    s.put(b"one more", b"value").unwrap();
    s.close().unwrap();
    // Close costs what changed: it does not read the log again. The damage is found by
    // the next verify() (and by a strict open), never taken for valid data.
    let whole = match opts()
        .checkpoint_min_keys(usize::MAX)
        .verify_full(true)
        .read_only(true)
        .open(&p)
    {
        Err(Error::Corrupt { offset, .. }) => offset,
        other => panic!("expected Corrupt from the whole log, got {other:?}"),
    };
    match opts().open(&p).unwrap().verify() {
        Err(Error::Corrupt { offset, .. }) => assert!((64..=whole).contains(&offset)),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
