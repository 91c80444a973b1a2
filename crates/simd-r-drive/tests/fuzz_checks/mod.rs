// The checks behind the fuzz targets in `fuzz/` and the corpus replay in
// `tests/fuzz_corpus.rs`. The fuzz targets include this file with `#[path]`, so the logic
// exists once: a corpus file that passes here passes under the fuzzer, and the other way
// round. Each check takes raw input bytes and accepts any input; it panics only when the
// engine breaks a rule of FORMAT.md or disagrees with a model.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use simd_r_drive::{repair, Condition, Error, KeyHasher, Op, Refresh, Store, StoreOptions};

/// Live contents of a store: key to value.
pub type Contents = HashMap<Vec<u8>, Vec<u8>>;

const MAGIC: &[u8; 8] = b"SIMDRDRV";
const FILE: &str = "store.srd";

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("srd-fuzz-")
        .tempdir()
        .expect("creating a scratch directory")
}

/// A fresh subdirectory of `root` holding one file, `store.srd`, with `bytes` in it.
fn place(root: &Path, sub: &str, bytes: &[u8]) -> PathBuf {
    let dir = root.join(sub);
    fs::create_dir(&dir).expect("creating a subdirectory");
    let path = dir.join(FILE);
    fs::write(&path, bytes).expect("writing the input file");
    path
}

/// The names in the directory holding `path`, sorted.
fn listing(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(path.parent().expect("a parent"))
        .expect("listing a directory")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

fn on_disk(path: &Path) -> Vec<u8> {
    fs::read(path).expect("reading the store file back")
}

/// Every live entry, read through `iter`, and cross-checked against `get`, `get_many_with`,
/// `len` and `stats`.
pub fn contents(store: &Store) -> Contents {
    let mut out = Contents::new();
    for (k, v) in store.iter().expect("iter") {
        let (k, v) = (k.to_vec(), v.to_vec());
        let got = store.get(&k).expect("get").map(|g| g.to_vec());
        assert_eq!(got.as_ref(), Some(&v), "get disagrees with iter for {k:?}");
        assert!(
            out.insert(k.clone(), v).is_none(),
            "iter yields {k:?} twice"
        );
    }
    assert_eq!(store.len(), out.len(), "len disagrees with iter");
    let st = store.stats();
    assert_eq!(st.entries, out.len() as u64);
    // Compaction keeps the header, the live entries (each with an 8-byte version) and one
    // sync mark.
    assert_eq!(
        st.reclaimable_bytes,
        st.file_bytes
            .saturating_sub(64 + st.live_bytes + 8 * st.entries + 24)
    );
    let keys: Vec<&Vec<u8>> = out.keys().collect();
    let mut seen = 0;
    store
        .get_many_with(&keys, |i, v| {
            assert_eq!(i, seen);
            seen += 1;
            assert_eq!(
                v,
                Some(&out[keys[i]][..]),
                "get_many_with, key {:?}",
                keys[i]
            );
        })
        .expect("get_many_with");
    assert_eq!(seen, keys.len());
    out
}

fn check_keys<'a>(store: &Store, model: &Contents, keys: impl IntoIterator<Item = &'a Vec<u8>>) {
    for k in keys {
        let got = store.get(k).expect("get").map(|v| v.to_vec());
        assert_eq!(got.as_ref(), model.get(k), "key {k:?}");
    }
    assert_eq!(store.len(), model.len(), "len");
}

// ----- open_bytes -----

/// What the input is, judged by its first bytes as FORMAT.md's header rules do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Zero bytes: a writable open creates a store over it.
    Empty,
    /// Shorter than 8 bytes or without the magic: nobody may touch it.
    Foreign,
    /// The magic, a whole header and a newer version (checked before the header's
    /// checksum): nobody may touch it either.
    Newer,
    /// The magic and a version this build reads (the rest may be anything).
    Candidate,
}

fn kind(data: &[u8]) -> Kind {
    if data.is_empty() {
        Kind::Empty
    } else if data.len() < 8 || &data[..8] != MAGIC {
        Kind::Foreign
    } else if data.len() >= 64
        && u16::from_le_bytes([data[8], data[9]]) > simd_r_drive::FORMAT_VERSION
    {
        Kind::Newer
    } else {
        Kind::Candidate
    }
}

/// Asserts that a file the engine must refuse was refused with the right error, left
/// byte-for-byte as it was, and that nothing was created beside it.
fn assert_refused(what: &str, k: Kind, err: &Error, path: &Path, data: &[u8]) {
    match k {
        Kind::Foreign | Kind::Empty => assert!(
            matches!(err, Error::NotAStore { .. } | Error::NotAStoreFile { .. }),
            "{what}: expected ERR_NOT_A_STORE, got {err}"
        ),
        Kind::Newer => assert!(
            matches!(err, Error::UnsupportedVersion { .. }),
            "{what}: expected ERR_STORE_VERSION, got {err}"
        ),
        Kind::Candidate => unreachable!(),
    }
    assert!(on_disk(path) == data, "{what} modified a file it refused");
    assert_eq!(
        listing(path),
        [FILE],
        "{what} created files beside a file it refused"
    );
}

/// Runs `f` (an open or a repair of the `len`-byte input) and asserts that it hashed no
/// more entry bytes than recovery's budget allows: twice the file plus 64 KiB, whatever
/// the file holds (FORMAT.md, "Recovery").
fn within_budget<R>(what: &str, len: usize, f: impl FnOnce() -> R) -> R {
    let before = simd_r_drive::entry_bytes_hashed();
    let r = f();
    let spent = simd_r_drive::entry_bytes_hashed() - before;
    let budget = 2 * len as u64 + (64 << 10);
    assert!(
        spent <= budget,
        "{what} hashed {spent} bytes of a {len}-byte file (budget {budget})"
    );
    r
}

/// Treats `data` as a whole store file: opens it read-only and writable, checks recovery
/// against FORMAT.md, reads everything, writes, compacts, reopens; repairs another copy.
pub fn open_bytes(data: &[u8]) {
    let root = scratch();
    let k = kind(data);

    // Read-only, on a pristine copy: never modifies the file. Whether damage in the log
    // makes it fail is left open (it may read as strictly as a writer, or stop at the first
    // bad entry); if it reports damage, the writable open must report the same damage.
    let ro_path = place(root.path(), "ro", data);
    let mut ro_damage = None;
    let ro_open = within_budget("read-only open", data.len(), || {
        StoreOptions::new().read_only(true).open(&ro_path)
    });
    let ro_contents = match ro_open {
        Ok(store) => {
            assert_eq!(k, Kind::Candidate, "read-only open accepted a {k:?} file");
            let c = contents(&store);
            assert!(matches!(store.refresh(), Ok(Refresh::Unchanged)));
            // verify() reports damage the open left aside in unsynced data (FORMAT.md,
            // recovery case 5), and nothing else.
            match (store.verify(), store.recovery().unsynced_damage_at) {
                (Ok(_), None) => {}
                (Err(Error::Corrupt { offset, .. }), Some(at)) if offset == at => {}
                (r, at) => {
                    panic!("verify after a read-only open: {r:?} (unsynced damage at {at:?})")
                }
            }
            Some(c)
        }
        Err(e) => {
            match (k, &e) {
                (Kind::Candidate, Error::Corrupt { offset, .. }) if *offset > 0 => {
                    ro_damage = Some(*offset);
                }
                (Kind::Candidate, Error::Corrupt { .. } | Error::Io { .. }) => {}
                (Kind::Candidate, _) => panic!("read-only open: unexpected error {e}"),
                _ => assert_refused("read-only open", k, &e, &ro_path, data),
            }
            None
        }
    };
    assert!(
        on_disk(&ro_path) == data,
        "read-only open modified the file"
    );
    assert_eq!(listing(&ro_path), [FILE], "read-only open created files");

    // Writable: may only cut an unfinished tail, and fails without touching the file.
    let rw_path = place(root.path(), "rw", data);
    let mut clean = None;
    let rw_open = within_budget("writable open", data.len(), || {
        StoreOptions::new().open(&rw_path)
    });
    match rw_open {
        Err(e) => {
            assert!(
                on_disk(&rw_path) == data,
                "a failed writable open modified the file"
            );
            match (k, &e) {
                (Kind::Candidate, Error::Corrupt { offset, .. }) if *offset > 0 => assert!(
                    ro_damage.is_none_or(|p| p == *offset),
                    "the opens report damage at different offsets: {ro_damage:?}, {e}"
                ),
                (Kind::Candidate, _) => assert!(
                    ro_damage.is_none(),
                    "the read-only open reported damage at {ro_damage:?}, the writable one {e}"
                ),
                _ => assert_refused("writable open", k, &e, &rw_path, data),
            }
        }
        Ok(store) => {
            assert!(
                matches!(k, Kind::Empty | Kind::Candidate),
                "opened a {k:?} file"
            );
            assert!(
                ro_damage.is_none(),
                "the read-only open reported damage at {ro_damage:?}, the writable one none"
            );
            let rec = store.recovery().clone();
            let end = store.stats().file_bytes;
            assert_eq!(rec.created, k == Kind::Empty);
            if k == Kind::Candidate {
                // The open cut the tail, then may have appended one 24-byte sync mark
                // recording its sync of the rest.
                let kept = data.len() - rec.dropped_tail_bytes as usize;
                assert!(end as usize == kept || end as usize == kept + 24);
                let disk = on_disk(&rw_path);
                assert!(
                    disk.len() == end as usize && disk[..kept] == data[..kept],
                    "the writable open changed more than cutting the tail"
                );
            }
            store.verify().expect("verify after a writable open");
            let c = contents(&store);
            if let Some(ro) = &ro_contents {
                assert!(*ro == c, "read-only and writable opens disagree");
            }
            if k == Kind::Candidate && rec.dropped_tail_bytes == 0 {
                clean = Some(c.clone());
            }
            exercise(store, c, &rw_path, data);
        }
    }

    // Repair, on another pristine copy.
    let rp_path = place(root.path(), "repair", data);
    let repaired = within_budget("repair", data.len(), || {
        repair(&rp_path, &StoreOptions::new())
    });
    match repaired {
        Err(e) => {
            assert!(
                on_disk(&rp_path) == data,
                "a failed repair modified the file"
            );
            if k != Kind::Candidate {
                assert_refused("repair", k, &e, &rp_path, data);
            }
        }
        Ok(report) => {
            assert_eq!(k, Kind::Candidate, "repair accepted a {k:?} file");
            match &report.backup {
                None => assert!(report.skipped.is_empty()),
                Some(b) => {
                    assert!(!report.skipped.is_empty());
                    assert!(on_disk(b) == data, "the backup is not the original");
                }
            }
            let store = StoreOptions::new()
                .open(&rp_path)
                .expect("opening a repaired store");
            assert_eq!(store.recovery().dropped_tail_bytes, 0, "repair left a tail");
            store.verify().expect("verify after repair");
            let c = contents(&store);
            assert_eq!(c.len() as u64, report.live_keys);
            if let Some(clean) = &clean {
                assert!(
                    *clean == c,
                    "repair of an undamaged store changed its contents"
                );
            }
        }
    }
}

/// Writes to a store opened from fuzz input, compacts it and reopens it, against a model
/// that starts as the recovered contents.
fn exercise(store: Store, mut model: Contents, path: &Path, data: &[u8]) {
    let mut existing: Vec<Vec<u8>> = model.keys().cloned().collect();
    existing.sort();
    let value: Vec<u8> = data.iter().rev().take(300).copied().collect();
    let fresh = b"fuzz-fresh-key".to_vec();

    store.put(&fresh, &value).expect("put");
    model.insert(fresh.clone(), value.clone());
    check_keys(&store, &model, [&fresh]);
    if let Some(first) = existing.first() {
        store.put(first, b"").expect("overwrite");
        model.insert(first.clone(), Vec::new());
        check_keys(&store, &model, [first]);
    }
    if let Some(last) = existing.last() {
        assert!(store.delete(last).expect("delete"), "deleting a live key");
        model.remove(last);
        check_keys(&store, &model, [last]);
    }
    let gone = b"fuzz-gone".to_vec();
    let had = store.delete(&gone).expect("delete");
    assert_eq!(had, model.remove(&gone).is_some(), "delete's result");
    assert!(
        !store.delete(&gone).expect("delete"),
        "deleting a missing key"
    );
    let batch_key = b"fuzz-batch".to_vec();
    let target = existing.get(existing.len() / 2).unwrap_or(&fresh).clone();
    let c = store
        .write(&[
            Op::Put {
                key: &batch_key,
                value: &[0],
            },
            Op::Delete { key: &target },
            Op::Put {
                key: &target,
                value: &value[..value.len().min(9)],
            },
        ])
        .expect("batch");
    let had_batch_key = model.contains_key(&batch_key);
    let had_target = model.contains_key(&target) || target == batch_key;
    assert_eq!(c.existed, [had_batch_key, had_target, false]);
    model.insert(batch_key.clone(), vec![0]);
    model.insert(target.clone(), value[..value.len().min(9)].to_vec());
    check_keys(&store, &model, [&batch_key, &target]);

    let before = contents(&store);
    assert!(
        before == model,
        "contents disagree with the model before compaction"
    );
    let follower = StoreOptions::new()
        .read_only(true)
        .open(path)
        .expect("a follower beside the writer");
    assert!(contents(&follower) == model);
    let reclaimable = store.stats().reclaimable_bytes;
    let report = store.compact().expect("compact");
    assert_eq!(report.reclaimed_bytes, reclaimable);
    assert_eq!(store.stats().reclaimable_bytes, 0);
    store.verify().expect("verify after compaction");
    assert!(
        contents(&store) == before,
        "compaction changed the contents"
    );
    assert!(matches!(follower.refresh(), Ok(Refresh::Replaced)));
    assert!(
        contents(&follower) == before,
        "the follower disagrees after compaction"
    );
    store
        .put(b"fuzz-after", b"compaction")
        .expect("put after compaction");
    model.insert(b"fuzz-after".to_vec(), b"compaction".to_vec());
    assert!(matches!(follower.refresh(), Ok(Refresh::Appended(1))));
    assert!(contents(&follower) == model);
    drop(follower);
    drop(store);

    let store = StoreOptions::new()
        .open(path)
        .expect("reopen after compaction");
    assert_eq!(store.recovery().dropped_tail_bytes, 0);
    store.verify().expect("verify after reopen");
    assert!(contents(&store) == model, "reopen changed the contents");
    drop(store);
    let store = StoreOptions::new()
        .read_only(true)
        .open(path)
        .expect("read-only reopen");
    assert!(
        contents(&store) == model,
        "read-only reopen changed the contents"
    );
}

// ----- ops_model -----

/// Reads fuzz input a byte at a time; past the end it yields zeros, so every input decodes.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// A key: usually one of 28 names (2 to 11 bytes, some sharing prefixes, so keys get
    /// overwritten and deleted often), sometimes up to 32 raw bytes from the input.
    fn key(&mut self) -> Vec<u8> {
        let sel = self.byte();
        if sel < 224 {
            let n = sel % 28;
            let mut k = format!("k{}", n % 14).into_bytes();
            k.extend(std::iter::repeat_n(b'x', (n / 14) as usize * 9));
            k
        } else {
            let len = 1 + (sel - 224) as usize;
            (0..len).map(|_| self.byte()).collect()
        }
    }

    /// A value: mostly 0 to 47 bytes, sometimes 200 to 2240 bytes (long enough for the
    /// checksum's SIMD kernels). Up to 16 bytes come from the input, the rest is a pattern.
    fn value(&mut self) -> Vec<u8> {
        let sel = self.byte();
        let len = if sel < 240 {
            (sel % 48) as usize
        } else {
            200 + self.byte() as usize * 8
        };
        let seed = sel.wrapping_mul(13);
        (0..len)
            .map(|i| {
                if i < 16 {
                    self.byte()
                } else {
                    seed.wrapping_add((i as u8).wrapping_mul(7))
                }
            })
            .collect()
    }
}

/// Most operations one input may run (bounds the time per input).
const MAX_OPS: usize = 96;

fn colliding(key: &[u8]) -> u64 {
    key.len() as u64 % 3
}

/// Interprets `data` as operations on a store and checks each step against a `HashMap`.
///
/// Byte 0 picks the options (bit 0: a key hash where almost all keys collide; bit 1: sync
/// every commit). Then each operation is one byte (`% 16`) followed by its arguments.
pub fn ops_model(data: &[u8]) {
    let mut input = Input { data, pos: 0 };
    let flags = input.byte();
    let mut opts = StoreOptions::new().sync(flags & 2 != 0);
    if flags & 1 != 0 {
        opts = opts.key_hasher(colliding as KeyHasher);
    }
    let root = scratch();
    let path = root.path().join(FILE);
    let mut store = opts.open(&path).expect("creating a store");
    assert!(store.recovery().created);
    let mut follower: Option<Store> = None;
    let mut model = Contents::new();
    let mut universe: HashSet<Vec<u8>> = HashSet::new();

    let mut ops = 0;
    while !input.done() && ops < MAX_OPS {
        ops += 1;
        let mut touched: Vec<Vec<u8>> = Vec::new();
        match input.byte() % 16 {
            0..=3 => {
                let (k, v) = (input.key(), input.value());
                store.put(&k, &v).expect("put");
                model.insert(k.clone(), v);
                touched.push(k);
            }
            4 => {
                // A put whose entry carries an expiry (flag bit 2) far ahead: it reads as a
                // plain put through recovery, followers, compaction and verify.
                let (k, v) = (input.key(), input.value());
                store.put_expiring(&k, &v, 1 << 60).expect("put_expiring");
                model.insert(k.clone(), v);
                touched.push(k);
            }
            5 | 6 => {
                let k = input.key();
                let had = store.delete(&k).expect("delete");
                assert_eq!(had, model.remove(&k).is_some(), "delete's result");
                touched.push(k);
            }
            9 => {
                // Conditional writes and clear, against the model.
                let sub = input.byte() % 4;
                let k = input.key();
                let have = model.get(&k).cloned();
                match sub {
                    0 => {
                        let v = input.value();
                        let wrote = store.put_if_absent(&k, &v).expect("put_if_absent");
                        assert_eq!(wrote, have.is_none(), "put_if_absent's result");
                        if wrote {
                            model.insert(k.clone(), v);
                        }
                    }
                    1 | 2 => {
                        let current = input.byte().is_multiple_of(2);
                        let new = (!input.byte().is_multiple_of(3)).then(|| input.value());
                        let version = store.version_of(&k).expect("version_of");
                        assert_eq!(version.is_some(), have.is_some(), "version_of");
                        let (cond, holds) = match (sub, current) {
                            (1, true) => (
                                have.as_deref().map_or(Condition::Absent, Condition::Value),
                                true,
                            ),
                            (1, false) => (
                                Condition::Value(b"\xffnot"),
                                have.as_deref() == Some(b"\xffnot"),
                            ),
                            (_, true) => {
                                (Condition::Version(version.unwrap_or(0)), version.is_some())
                            }
                            (_, false) => (Condition::Version(version.map_or(1, |v| v - 1)), false),
                        };
                        let wrote = store
                            .compare_and_set(&k, cond, new.as_deref())
                            .expect("compare_and_set");
                        assert_eq!(wrote, holds, "compare_and_set's result");
                        if wrote {
                            match new {
                                Some(v) => model.insert(k.clone(), v),
                                None => model.remove(&k),
                            };
                            if let (Some(before), Some(after)) =
                                (version, store.version_of(&k).unwrap())
                            {
                                assert!(after > before, "a write gives a larger version");
                            }
                        }
                    }
                    _ => {
                        store.clear().expect("clear");
                        model.clear();
                        assert_eq!(store.len(), 0);
                    }
                }
                touched.push(k);
            }
            7 | 8 => {
                let n = input.byte() % 7;
                let items: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..n)
                    .map(|_| {
                        let put = !input.byte().is_multiple_of(3);
                        let k = input.key();
                        (k, put.then(|| input.value()))
                    })
                    .collect();
                let batch: Vec<Op<'_>> = items
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => Op::Put { key: k, value: v },
                        None => Op::Delete { key: k },
                    })
                    .collect();
                let seq = store.stats().seq;
                let c = store.write(&batch).expect("write");
                assert_eq!(c.existed.len(), items.len());
                assert_eq!(c.seq, if n == 0 { seq } else { seq + 1 });
                for (i, (k, v)) in items.into_iter().enumerate() {
                    let before = match v {
                        Some(v) => model.insert(k.clone(), v),
                        None => model.remove(&k),
                    };
                    assert_eq!(c.existed[i], before.is_some(), "existed[{i}]");
                    touched.push(k);
                }
            }
            10 => {
                let st = store.stats();
                let r = store.compact().expect("compact");
                // Exact for keys without an explicit version yet; each that has one (from
                // an earlier compaction) is counted 8 bytes low.
                assert!(
                    r.reclaimed_bytes >= st.reclaimable_bytes
                        && r.reclaimed_bytes <= st.reclaimable_bytes + 8 * st.entries,
                    "reclaimed {} of {} reclaimable",
                    r.reclaimed_bytes,
                    st.reclaimable_bytes
                );
                assert_eq!(store.stats().reclaimable_bytes, 0);
                assert!(contents(&store) == model, "contents after compaction");
            }
            11 => {
                drop(store);
                store = opts.open(&path).expect("reopen");
                assert_eq!(
                    store.recovery().dropped_tail_bytes,
                    0,
                    "a clean close left a tail"
                );
                assert!(contents(&store) == model, "contents after reopen");
            }
            12 => {
                store.flush().expect("flush");
                assert!(store.durable_seq() >= store.stats().seq);
            }
            13 => {
                match &follower {
                    None => {
                        let f = opts.clone().read_only(true).open(&path).expect("follower");
                        follower = Some(f);
                    }
                    Some(f) => {
                        f.refresh().expect("refresh");
                    }
                }
                let f = follower.as_ref().expect("just set");
                assert!(contents(f) == model, "the follower disagrees");
            }
            14 => {
                follower = None;
            }
            _ => {
                store.verify().expect("verify");
                assert!(contents(&store) == model, "contents");
            }
        }
        universe.extend(touched.iter().cloned());
        check_keys(&store, &model, &touched);
    }

    drop(follower);
    drop(store);
    let store = opts.open(&path).expect("final reopen");
    assert_eq!(store.recovery().dropped_tail_bytes, 0);
    check_keys(&store, &model, &universe);
    assert!(contents(&store) == model, "contents after the final reopen");
}

// ----- checkpoint_bytes -----

/// The key hash of the `checkpoint_bytes` store: fixed (FNV-1a), so that the store and its
/// checkpoint are the same bytes on every run and a corpus checkpoint matches them.
fn fixed_hash(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn checkpoint_opts() -> StoreOptions {
    StoreOptions::new()
        .key_hasher(fixed_hash as KeyHasher)
        .checkpoint_min_keys(1)
}

/// Writes the small store of `checkpoint_bytes` at `path` (overwrites, deletes, a batch)
/// and closes it, which saves its index checkpoint beside it.
fn checkpoint_store(path: &Path) {
    let s = checkpoint_opts().open(path).expect("creating the store");
    for i in 0..12u32 {
        let v = vec![i as u8; (i as usize * 13) % 40];
        s.put(format!("key{i}").as_bytes(), &v).expect("put");
    }
    s.put(b"key3", b"again").expect("overwrite");
    s.delete(b"key5").expect("delete");
    s.write(&[
        Op::Put {
            key: b"batch-a",
            value: b"1",
        },
        Op::Delete { key: b"key7" },
    ])
    .expect("batch");
    s.close().expect("close");
}

/// The index file that [`checkpoint_store`] saves, with its generation identifier zeroed
/// (the check puts the store's back) and its key hash seed zeroed (the fixed key hash
/// ignores it): the seed of the `checkpoint_bytes` corpus.
pub fn checkpoint_seed() -> Vec<u8> {
    let root = scratch();
    let path = root.path().join(FILE);
    checkpoint_store(&path);
    let mut b = fs::read(root.path().join(format!("{FILE}.srd-index"))).expect("an index file");
    b[16..32].fill(0);
    b[56..64].fill(0);
    reseal_checkpoint(&mut b);
    b
}

/// Sets the slot hash (bytes 96..104, over the slots from byte 128) and the header
/// checksum (bytes 120..128, over bytes 0..120) of an index file right (FORMAT.md, "Index
/// file"), as only a deliberately forged file would have them.
fn reseal_checkpoint(b: &mut [u8]) {
    if b.len() >= 128 {
        let slots = xxhash_rust::xxh3::xxh3_64(&b[128..]);
        b[96..104].copy_from_slice(&slots.to_le_bytes());
        let sum = xxhash_rust::xxh3::xxh3_64(&b[..120]);
        b[120..128].copy_from_slice(&sum.to_le_bytes());
    }
}

/// `data` is the index checkpoint of a small valid store (with its inode field and its
/// checksum set right, so that the fuzzer gets past them). Opening the store must never
/// panic and must succeed; the index it gives must be the one the whole log gives, or
/// else `verify()` must report that the index does not match the log (a checkpoint can
/// point a key at an older entry of its own without the open reading the log).
pub fn checkpoint_bytes(data: &[u8]) {
    checkpoint_bytes_used(data);
}

/// [`checkpoint_bytes`]; returns whether the opens used the checkpoint.
pub fn checkpoint_bytes_used(data: &[u8]) -> bool {
    let root = scratch();
    let path = root.path().join(FILE);
    checkpoint_store(&path);
    let whole_path = place(root.path(), "whole", &on_disk(&path));
    let want = contents(&checkpoint_opts().open(&whole_path).expect("whole-log open"));

    let mut forged = data.to_vec();
    if forged.len() >= 32 {
        let header = fs::read(&path).expect("the store");
        forged[16..32].copy_from_slice(&header[20..36]);
    }
    reseal_checkpoint(&mut forged);
    fs::write(root.path().join(format!("{FILE}.srd-index")), &forged).expect("writing");

    let mut used = true;
    for read_only in [true, false] {
        let store = checkpoint_opts()
            .read_only(read_only)
            .open(&path)
            .expect("a valid store opens whatever its checkpoint says");
        used &= store.recovery().checkpoint_keys.is_some();
        let _ = store.stats();
        let same = store.len() == want.len()
            && want
                .iter()
                .all(|(k, v)| store.get(k).expect("get").as_deref() == Some(&v[..]));
        if same {
            assert!(
                contents(&store) == want,
                "the index from the checkpoint differs"
            );
            store
                .verify()
                .expect("verify of an index equal to the log's");
        } else {
            match store.verify() {
                Err(Error::Corrupt { reason, .. }) => {
                    assert!(reason.contains(".srd-index"), "{reason}")
                }
                other => panic!(
                    "the checkpoint gave another index than the log, and verify says {other:?}"
                ),
            }
        }
        if !read_only {
            store
                .put(b"after", b"x")
                .expect("put after a forged checkpoint");
            let _ = store.stats();
        }
    }
    used
}
