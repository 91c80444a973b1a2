//! Torn tails, zero-filled tails, bit flips and repair.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use simd_r_drive::{repair, Error, Op, Store, StoreOptions};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Writes a store of single puts, deletes and multi-entry batches. Returns the file's
/// length after each commit and the model state at that point.
/// A store whose every commit but the last was flushed: a sync mark follows each of them,
/// so damage anywhere before the last commit lies in data known to be durable. Each point
/// is the end of a commit's own entries (its mark counts as the start of the next one).
fn build(p: &Path) -> Vec<(u64, Model)> {
    build_with(p, true)
}

/// The store of [`build`]; `flush` says whether each commit is made durable.
fn build_with(p: &Path, flush: bool) -> Vec<(u64, Model)> {
    let s = open(p);
    let mut model = Model::new();
    let mut points = vec![(64u64, model.clone())];
    let mut commit = |ops: Vec<Op<'_>>, model: &mut Model| {
        if flush && points.len() > 1 {
            s.flush().unwrap();
        }
        s.write(&ops).unwrap();
        for op in ops {
            match op {
                Op::Put { key, value } | Op::PutExpiring { key, value, .. } => {
                    model.insert(key.to_vec(), value.to_vec());
                }
                Op::Delete { key } => {
                    model.remove(key);
                }
            }
        }
        points.push((s.stats().file_bytes, model.clone()));
    };
    let v: Vec<Vec<u8>> = (0..12).map(|i| bytes(i, (i as usize * 37) % 150)).collect();
    commit(
        vec![Op::Put {
            key: b"alpha",
            value: &v[0],
        }],
        &mut model,
    );
    commit(
        vec![Op::Put {
            key: b"beta",
            value: &v[1],
        }],
        &mut model,
    );
    commit(
        vec![
            Op::Put {
                key: b"gamma",
                value: &v[2],
            },
            Op::Put {
                key: b"alpha",
                value: &v[3],
            },
            Op::Delete { key: b"beta" },
        ],
        &mut model,
    );
    commit(
        vec![Op::Put {
            key: b"delta",
            value: &v[4],
        }],
        &mut model,
    );
    commit(vec![Op::Delete { key: b"gamma" }], &mut model);
    commit(
        vec![
            Op::Put {
                key: b"eps",
                value: &v[5],
            },
            Op::Put {
                key: b"zeta",
                value: &v[6],
            },
            Op::Put {
                key: b"eta",
                value: &v[7],
            },
        ],
        &mut model,
    );
    commit(
        vec![Op::Put {
            key: b"theta",
            value: &v[8],
        }],
        &mut model,
    );
    commit(
        vec![
            Op::Put {
                key: b"iota",
                value: &v[9],
            },
            Op::Put {
                key: b"alpha",
                value: &v[10],
            },
        ],
        &mut model,
    );
    points
}

fn contents(s: &Store) -> Model {
    dump(s).into_iter().collect()
}

#[test]
fn torn_tail_sweep_keeps_exactly_the_complete_commits() {
    let d = Dir::new();
    let src = d.path("src.srd");
    let points = build(&src);
    let full = std::fs::read(&src).unwrap();
    assert_eq!(full.len() as u64, points.last().unwrap().0);
    let copy = d.path("cut.srd");
    // Every byte offset across the last several commits, boundaries included.
    let from = points[points.len() - 6].0 as usize;
    for cut in from..=full.len() {
        for zeros in [0usize, 1, 8, 100, 4096] {
            let mut bytes = full[..cut].to_vec();
            bytes.resize(cut + zeros, 0);
            // The last commit whose bytes are all there. (Zeros can complete an entry whose
            // only missing bytes were its zero padding: then it is rightly kept.)
            let (boundary, want) = points
                .iter()
                .rev()
                .find(|(len, _)| {
                    *len as usize <= bytes.len() && bytes[..*len as usize] == full[..*len as usize]
                })
                .unwrap();
            // A flush appends a sync mark, a batch of its own: when the cut leaves it whole,
            // it is kept too (it changes no key).
            let mut boundary = *boundary;
            let b = boundary as usize;
            if full.get(b + 8) == Some(&4)
                && bytes.len() >= b + 24
                && bytes[b..b + 24] == full[b..b + 24]
            {
                boundary += 24;
            }
            let boundary = &boundary;
            std::fs::write(&copy, &bytes).unwrap();
            let s = open(&copy);
            assert_eq!(&contents(&s), want, "cut {cut} zeros {zeros}");
            assert_eq!(
                s.recovery().dropped_tail_bytes,
                (cut + zeros) as u64 - boundary
            );
            drop(s);
            // The writer truncated exactly the tail, nothing before it (and then recorded
            // its sync in a mark, when the log did not end with one).
            assert_eq!(
                common::without_open_mark(std::fs::read(&copy).unwrap(), *boundary as usize),
                &bytes[..*boundary as usize],
                "cut {cut} zeros {zeros}"
            );
            // And the store takes new writes after the cut.
            let s = open(&copy);
            s.put(b"after", b"crash").unwrap();
            drop(s);
            let s = open(&copy);
            assert_eq!(&*s.get(b"after").unwrap().unwrap(), b"crash");
            assert_eq!(
                contents(&s).len(),
                want.len() + 1 - want.contains_key(&b"after"[..]) as usize
            );
        }
    }
}

#[test]
fn read_only_open_ignores_a_torn_tail_without_touching_it() {
    let d = Dir::new();
    let src = d.path("src.srd");
    let points = build(&src);
    let full = std::fs::read(&src).unwrap();
    let cut = full.len() - 5;
    std::fs::write(&src, &full[..cut]).unwrap();
    let s = StoreOptions::new().read_only(true).open(&src).unwrap();
    assert_eq!(contents(&s), points[points.len() - 2].1);
    drop(s);
    assert_eq!(std::fs::read(&src).unwrap(), &full[..cut]);
}

#[test]
fn bit_flip_sweep_detects_every_flip() {
    let d = Dir::new();
    let src = d.path("src.srd");
    let points = build(&src);
    let full = std::fs::read(&src).unwrap();
    let last_commit_start = points[points.len() - 2].0 as usize;
    let copy = d.path("flip.srd");
    let (mut corrupt, mut tail, mut header) = (0, 0, 0);
    for byte in 0..full.len() {
        for bit in 0..8 {
            let mut bytes = full.clone();
            bytes[byte] ^= 1 << bit;
            std::fs::write(&copy, &bytes).unwrap();
            let res = StoreOptions::new().open(&copy);
            if byte < 64 {
                header += 1;
                let e = res.expect_err("a flipped header must not open");
                assert!(
                    matches!(
                        e,
                        Error::NotAStore { .. }
                            | Error::Corrupt { offset: 0, .. }
                            | Error::UnsupportedVersion { .. }
                    ),
                    "byte {byte}: {e}"
                );
                continue;
            }
            if byte >= last_commit_start {
                // Inside the last commit: that commit is an unfinished tail and is dropped.
                let s = res.unwrap_or_else(|e| panic!("byte {byte} bit {bit}: {e}"));
                assert_eq!(
                    contents(&s),
                    points[points.len() - 2].1,
                    "byte {byte} bit {bit}"
                );
                tail += 1;
            } else {
                match res {
                    Err(Error::Corrupt { offset, .. }) => {
                        assert!(offset as usize <= byte, "byte {byte}: reported {offset}");
                        corrupt += 1;
                    }
                    Err(e) => panic!("byte {byte} bit {bit}: unexpected {e}"),
                    Ok(_) => {
                        panic!("byte {byte} bit {bit}: a flip before valid data went unnoticed")
                    }
                }
                // A failed open leaves the file as it was.
                assert_eq!(std::fs::read(&copy).unwrap(), bytes);
            }
        }
    }
    assert_eq!(header + tail + corrupt, full.len() * 8);
    eprintln!("{header} header flips refused, {tail} tail flips dropped, {corrupt} flips reported corrupt");
}

#[test]
fn repair_keeps_every_entry_that_verifies() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    for i in 0..50u32 {
        s.put(format!("key{i}").as_bytes(), &bytes(i as u64, 40))
            .unwrap();
    }
    // Make them durable: the next append records that in a sync mark, so the damage below
    // is corruption rather than an unsynced tail.
    s.flush().unwrap();
    s.put(b"later", b"x").unwrap();
    let victim_off = {
        // Damage the value of key10.
        s.get(b"key10").unwrap().unwrap().file_offset()
    };
    drop(s);
    let mut b = std::fs::read(&p).unwrap();
    b[victim_off as usize + 3] ^= 0xFF;
    std::fs::write(&p, &b).unwrap();
    let e = Store::open(&p).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_CORRUPT");
    let r = repair(&p, &StoreOptions::new()).unwrap();
    assert_eq!(r.live_keys, 50);
    assert_eq!(r.skipped.len(), 1);
    let backup = r.backup.clone().unwrap();
    assert_eq!(std::fs::read(&backup).unwrap(), b);
    let s = open(&p);
    assert_eq!(s.len(), 50);
    assert!(s.get(b"key10").unwrap().is_none());
    for i in (0..50u32).filter(|&i| i != 10) {
        assert_eq!(
            &*s.get(format!("key{i}").as_bytes()).unwrap().unwrap(),
            &bytes(i as u64, 40)[..]
        );
    }
    s.verify().unwrap();
}

#[test]
fn repair_refuses_files_that_are_not_stores() {
    let d = Dir::new();
    let p = d.path("x.bin");
    std::fs::write(
        &p,
        b"definitely not a store, but long enough to have a header of sorts......",
    )
    .unwrap();
    let before = std::fs::read(&p).unwrap();
    assert!(matches!(
        repair(&p, &StoreOptions::new()),
        Err(Error::NotAStore { .. })
    ));
    assert_eq!(std::fs::read(&p).unwrap(), before);
    // Not even a lock file was made beside it.
    assert_eq!(std::fs::read_dir(d.dir.path()).unwrap().count(), 1);
}

#[test]
fn verify_reports_the_first_bad_offset_of_an_open_store() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    s.put(b"a", &[1; 64]).unwrap();
    s.put(b"b", &[2; 64]).unwrap();
    let v = s.verify().unwrap();
    assert_eq!(v.entries, 2);
    // Damage the first entry on disk behind the store's back: the shared map sees it.
    let off = s.get(b"a").unwrap().unwrap().file_offset();
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[9], off).unwrap();
    match s.verify() {
        Err(Error::Corrupt { offset, .. }) => assert_eq!(offset, 64),
        other => panic!("{other:?}"),
    }
}

#[test]
fn leftover_temporary_files_are_removed_on_open() {
    let d = Dir::new();
    let p = d.path("s.srd");
    open(&p).put(b"k", b"v").unwrap();
    let tmp = d.path("s.srd.compact");
    std::fs::write(&tmp, b"half a compaction").unwrap();
    let s = open(&p);
    assert!(!tmp.exists());
    assert_eq!(&*s.get(b"k").unwrap().unwrap(), b"v");
}

#[test]
fn a_zeroed_hole_inside_the_last_batch_drops_only_that_batch() {
    let d = Dir::new();
    let src = d.path("src.srd");
    let points = build(&src);
    let full = std::fs::read(&src).unwrap();
    let last = points[points.len() - 2].0 as usize; // the last batch has two puts
    let copy = d.path("hole.srd");
    // Zero the first entry's fixed fields, or a stretch of its key and value: a crash
    // that wrote the batch's later pages but not this one. Its commit record is intact.
    for hole in [last + 8..last + 16, last + 16..last + 40, last..last + 8] {
        let mut bytes = full.clone();
        bytes[hole.clone()].fill(0);
        std::fs::write(&copy, &bytes).unwrap();
        let s = open(&copy);
        assert_eq!(contents(&s), points[points.len() - 2].1, "hole {hole:?}");
        assert_eq!(s.recovery().dropped_tail_bytes, (full.len() - last) as u64);
        drop(s);
        assert_eq!(
            common::without_open_mark(std::fs::read(&copy).unwrap(), last),
            &full[..last]
        );
    }
}

#[test]
fn a_zeroed_hole_before_committed_data_is_corruption() {
    let d = Dir::new();
    let src = d.path("src.srd");
    let points = build(&src);
    let full = std::fs::read(&src).unwrap();
    let copy = d.path("hole.srd");
    // Inside the three-entry batch (commit 3) and inside a single put (commit 4): valid
    // batches follow both, so nothing may be dropped.
    for start in [points[2].0 as usize, points[3].0 as usize] {
        for hole in [start + 8..start + 16, start + 16..start + 24] {
            let mut bytes = full.clone();
            bytes[hole.clone()].fill(0);
            std::fs::write(&copy, &bytes).unwrap();
            match Store::open(&copy) {
                Err(Error::Corrupt { offset, .. }) => assert_eq!(offset as usize, start),
                other => panic!("hole {hole:?}: {other:?}"),
            }
            assert_eq!(std::fs::read(&copy).unwrap(), bytes, "left untouched");
            // A read-only open reports the same damage and changes nothing.
            match StoreOptions::new().read_only(true).open(&copy) {
                Err(Error::Corrupt { offset, .. }) => assert_eq!(offset as usize, start),
                other => panic!("read-only, hole {hole:?}: {other:?}"),
            }
            assert_eq!(std::fs::read(&copy).unwrap(), bytes);
            // Repair makes it open again, keeping what verifies.
            simd_r_drive::repair(&copy, &StoreOptions::new()).unwrap();
            let r = open(&copy);
            r.verify().unwrap();
            assert!(!r.is_empty());
        }
    }
}

#[test]
fn a_tail_of_plausible_headers_exhausts_the_search_and_is_reported() {
    // Every aligned word after the last commit reads as the start of a 1 MiB Put whose
    // checksum fails: looking for valid data behind the damage would hash quadratically,
    // so the search gives up and the open refuses to drop the tail.
    let d = Dir::new();
    let p = d.path("s.srd");
    open(&p).put(b"k", b"v").unwrap();
    let good = std::fs::read(&p).unwrap();
    let mut word = [1u8, 0, 1, 0, 0, 0, 0, 0];
    word[4..].copy_from_slice(&(1u32 << 20).to_le_bytes());
    let mut bytes = good.clone();
    for _ in 0..(4 << 20) / 8 {
        bytes.extend_from_slice(&word);
    }
    std::fs::write(&p, &bytes).unwrap();
    let started = std::time::Instant::now();
    match Store::open(&p) {
        Err(Error::Corrupt { offset, .. }) => assert_eq!(offset, good.len() as u64),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(std::fs::read(&p).unwrap(), bytes);
    // A read-only open is as careful and leaves the file as it is.
    assert!(matches!(
        StoreOptions::new().read_only(true).open(&p),
        Err(Error::Corrupt { .. })
    ));
    assert_eq!(std::fs::read(&p).unwrap(), bytes);
}

/// Without syncs, a power loss may write pages back in any order, so damage followed by
/// valid data is what it can leave (FORMAT.md, recovery case 5): the open drops everything
/// from the damaged batch on, keeps a copy of the dropped bytes, and loses nothing durable.
#[test]
fn damage_in_unsynced_data_drops_the_tail_and_keeps_a_copy() {
    let d = Dir::new();
    let src = d.path("src.srd");
    let points = build_with(&src, false);
    let full = std::fs::read(&src).unwrap();
    let copy = d.path("unsynced.srd");
    // Inside the three-entry batch (commit 3) and inside a single put (commit 4).
    for k in [2usize, 3] {
        let start = points[k].0 as usize;
        let mut bytes = full.clone();
        bytes[start + 8..start + 16].fill(0);
        std::fs::write(&copy, &bytes).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        // A read-only open shows the same state and changes nothing, and its verify()
        // reports the damage it left aside.
        let r = StoreOptions::new().read_only(true).open(&copy).unwrap();
        assert_eq!(contents(&r), points[k].1);
        assert_eq!(r.recovery().unsynced_damage_at, Some(start as u64));
        match r.verify() {
            Err(Error::Corrupt { offset, .. }) => assert_eq!(offset, start as u64),
            other => panic!("verify: {other:?}"),
        }
        drop(r);
        assert_eq!(std::fs::read(&copy).unwrap(), bytes);

        let s = open(&copy);
        assert_eq!(contents(&s), points[k].1, "commit {k}");
        let rec = s.recovery().clone();
        assert_eq!(rec.dropped_tail_bytes, (full.len() - start) as u64);
        let saved = rec.saved_tail.expect("a copy of the dropped bytes");
        // It holds the store's data: it gets the store file's mode (issue 21 item 18).
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode();
            assert_eq!(mode(&saved) & 0o777, 0o600);
        }
        // A store image: the header, a hole, and the dropped bytes at their own offsets.
        let image = std::fs::read(&saved).unwrap();
        assert_eq!(&image[..64], &full[..64]);
        assert_eq!(&image[start..], &bytes[start..]);
        assert!(image[64..start].iter().all(|&b| b == 0));
        // Repair turns it into a store of what still verifies: the later batches are there.
        let salvage = d.path(&format!("salvage-{k}.srd"));
        std::fs::copy(&saved, &salvage).unwrap();
        repair(&salvage, &StoreOptions::new()).unwrap();
        let got = contents(&open(&salvage));
        let last = &points[points.len() - 1].1;
        for key in [&b"theta"[..], &b"iota"[..]] {
            assert_eq!(got.get(key), last.get(key), "{key:?} salvaged");
        }
        // The store takes writes again, and they survive a reopen.
        s.put(b"after", b"1").unwrap();
        drop(s);
        let s = open(&copy);
        assert_eq!(s.get(b"after").unwrap().as_deref(), Some(&b"1"[..]));
        drop(s);
        std::fs::remove_file(&saved).unwrap();
        let _ = std::fs::remove_file(&copy);
    }
}

/// A store at `p` with the unsynced keys `a` and `b`, and the offset of `a`'s entry.
fn store_of_a_and_b(p: &std::path::Path) -> (Store, u64) {
    let s = open(p);
    s.put(b"a", &[1; 100]).unwrap();
    s.put(b"b", &[2; 100]).unwrap();
    let a_off = s.get(b"a").unwrap().unwrap().file_offset();
    (s, a_off)
}

/// Once a flush has made the damaged bytes durable, the same damage is corruption again,
/// because the first append after the flush recorded that in a sync mark.
#[test]
fn damage_before_a_sync_mark_is_corruption() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let (s, a_off) = store_of_a_and_b(&p);
    s.flush().unwrap();
    s.put(b"c", &[3; 100]).unwrap();
    drop(s);
    let mut b = std::fs::read(&p).unwrap();
    b[a_off as usize] ^= 1;
    std::fs::write(&p, &b).unwrap();
    let e = Store::open(&p).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_CORRUPT");
    assert_eq!(std::fs::read(&p).unwrap(), b, "left untouched");
}

/// A writable open syncs what earlier sessions left unsynced and records it in a sync
/// mark at once: a session that writes nothing, or dies before writing, still leaves the
/// log saying those bytes are durable, so later damage in them is reported, not dropped.
#[test]
fn a_writable_open_records_the_sync_it_made_even_if_nothing_is_written() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let (s, a_off) = store_of_a_and_b(&p);
    // The process dies: the file as it is now, with no sync mark.
    let crashed = std::fs::read(&p).unwrap();
    drop(s);
    let q = d.path("after-crash.srd");
    std::fs::write(&q, &crashed).unwrap();
    // The next session opens for writing, writes nothing, and dies too.
    let s = open(&q);
    assert_eq!(s.get(b"b").unwrap().as_deref(), Some(&[2u8; 100][..]));
    let mut image = std::fs::read(&q).unwrap();
    assert!(
        image.len() > crashed.len(),
        "a sync mark was appended at open"
    );
    drop(s);
    image[a_off as usize] ^= 1;
    let r = d.path("damaged.srd");
    std::fs::write(&r, &image).unwrap();
    let e = Store::open(&r).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_CORRUPT", "{e}");
    assert_eq!(std::fs::read(&r).unwrap(), image, "left untouched");
    // A store closed cleanly has nothing new to record: reopening it appends nothing.
    let s = open(&q);
    s.close().unwrap();
    let closed = std::fs::read(&q).unwrap();
    drop(open(&q));
    assert_eq!(std::fs::read(&q).unwrap(), closed);
}

/// `close()` syncs and ends the file with a sync mark: damage anywhere in a cleanly closed
/// store is reported, and reopening and closing again without writing adds nothing.
#[test]
fn a_cleanly_closed_store_reports_damage_anywhere_and_does_not_grow_when_idle() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    for i in 0..20u32 {
        s.put(format!("k{i}").as_bytes(), &bytes(i.into(), 300))
            .unwrap();
    }
    let off = s.get(b"k3").unwrap().unwrap().file_offset();
    s.close().unwrap();
    let closed_len = std::fs::metadata(&p).unwrap().len();
    for _ in 0..3 {
        let s = open(&p);
        assert_eq!(s.len(), 20);
        s.close().unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), closed_len);
    }
    let mut b = std::fs::read(&p).unwrap();
    b[off as usize] ^= 0x40;
    std::fs::write(&p, &b).unwrap();
    let e = Store::open(&p).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_CORRUPT");
    assert_eq!(std::fs::read(&p).unwrap(), b, "left untouched");
}

/// Version 1 files carry no sync marks, so they cannot tell unsynced damage from damage to
/// durable data: damage followed by valid data stays corruption there, as it always was.
#[test]
fn version_1_files_report_damage_before_valid_data() {
    let d = Dir::new();
    let p = d.path("v1.srd");
    let s = open(&p);
    for i in 0..50u32 {
        s.put(format!("k{i}").as_bytes(), &bytes(i.into(), 40))
            .unwrap();
    }
    let off = s.get(b"k10").unwrap().unwrap().file_offset();
    drop(s); // no close: no marks, as a version 1 build would leave it
    let mut b = std::fs::read(&p).unwrap();
    b[8] = 1;
    let sum = xxhash_rust::xxh3::xxh3_64_with_seed(&b[..56], 0);
    b[56..64].copy_from_slice(&sum.to_le_bytes());
    b[off as usize] ^= 1;
    std::fs::write(&p, &b).unwrap();
    let e = Store::open(&p).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_CORRUPT");
    let e = StoreOptions::new().read_only(true).open(&p).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_CORRUPT");
    assert_eq!(std::fs::read(&p).unwrap(), b, "left untouched");
}

/// The crafted tail of issue 21 (item 9): repeated [a 16-byte Put header whose length
/// reaches the end of the file, with a bad checksum][a valid, uncommitted 24-byte Put],
/// `tail` bytes of it after the store at `p`. Returns the offset where the tail starts.
fn append_fake_header_tail(p: &Path, tail: usize) -> u64 {
    let mut bytes = std::fs::read(p).unwrap();
    let start = bytes.len();
    let units = tail / 40;
    let total = (start + units * 40) as u64;
    for i in 0..units {
        let q = bytes.len() as u64;
        let mut fake = [0u8; 16];
        fake[..8].copy_from_slice(&0xDEAD_BEEF_u64.to_le_bytes());
        fake[8] = 1; // Put, no commit flag
        fake[10..12].copy_from_slice(&1u16.to_le_bytes());
        let value_len = (total - q - 24) as u32;
        fake[12..16].copy_from_slice(&value_len.to_le_bytes());
        bytes.extend_from_slice(&fake);
        // A valid Put of key [i] and no value at its own offset, not committed.
        let at = q + 16;
        let mut put = [0u8; 24];
        put[8] = 1;
        put[10..12].copy_from_slice(&1u16.to_le_bytes());
        put[16] = i as u8 | 1;
        let sum = xxhash_rust::xxh3::xxh3_64_with_seed(&put[8..], at ^ 0x5352_4452_4956_4531);
        put[..8].copy_from_slice(&sum.to_le_bytes());
        bytes.extend_from_slice(&put);
    }
    assert_eq!(bytes.len() as u64, total);
    std::fs::write(p, &bytes).unwrap();
    start as u64
}

/// Bytes `f` made this thread hash to verify entries, and what it returned.
fn hashed<R>(f: impl FnOnce() -> R) -> (u64, R) {
    let before = simd_r_drive::entry_bytes_hashed();
    let r = f();
    (simd_r_drive::entry_bytes_hashed() - before, r)
}

/// Recovery and repair share one hashing budget (twice the file plus 64 KiB) for the whole
/// open: a tail of fake headers that each claim the rest of the file no longer makes every
/// one of them cost a hash of the rest of the file (that was quadratic: about 13 GB hashed
/// for this 1 MiB tail). Counted in hashed bytes, not timed.
#[test]
fn a_crafted_tail_of_long_fake_headers_costs_linear_hashing() {
    let d = Dir::new();
    let p = d.path("s.srd");
    {
        let s = open(&p);
        for i in 0..100u64 {
            s.put(&i.to_le_bytes(), &bytes(i, 300)).unwrap();
        }
        s.close().unwrap();
    }
    let before = std::fs::read(&p).unwrap();
    let damage = append_fake_header_tail(&p, 1 << 20);
    let crafted = std::fs::read(&p).unwrap();
    let len = crafted.len() as u64;
    let bound = 2 * len + (64 << 10);

    // Strict opens cannot rule on the tail within the budget: they report it (as for any
    // tail too costly to search) and leave the file as it is.
    let (n, r) = hashed(|| StoreOptions::new().read_only(true).open(&p));
    assert!(
        n <= bound,
        "read-only open hashed {n} bytes of a {len}-byte file"
    );
    match r {
        Err(Error::Corrupt { offset, .. }) => assert_eq!(offset, damage),
        other => panic!("read-only open: {other:?}"),
    }
    let (n, r) = hashed(|| Store::open(&p));
    assert!(
        n <= bound,
        "writable open hashed {n} bytes of a {len}-byte file"
    );
    match r {
        Err(Error::Corrupt { offset, .. }) => assert_eq!(offset, damage),
        other => panic!("writable open: {other:?}"),
    }
    assert_eq!(std::fs::read(&p).unwrap(), crafted, "left as it was");

    // Repair keeps every committed entry before the tail, and the original.
    let (n, report) = hashed(|| repair(&p, &StoreOptions::new()));
    assert!(n <= bound, "repair hashed {n} bytes of a {len}-byte file");
    let report = report.unwrap();
    assert!(report.backup.is_some());
    let s = open(&p);
    for i in 0..100u64 {
        assert_eq!(
            s.get(&i.to_le_bytes()).unwrap().as_deref(),
            Some(&bytes(i, 300)[..])
        );
    }
    drop(s);
    assert!(before.len() < crafted.len());
}
