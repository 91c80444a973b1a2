//! Simulated power loss through the storage seam. A scripted workload (puts, deletes,
//! batches, compactions with writes in the middle of them, a reopen) runs on a
//! [`CrashBackend`], which saves a crash point right before every `sync_data` and
//! `sync_dir`. For every point and every kind of crash (unsynced renames lost or kept;
//! unsynced bytes lost, torn in several ways, or kept), the files the power loss would
//! leave are opened with a plain store. The image must open without error, hold every
//! commit acknowledged as durable before that point (by `write` under `sync(true)`, or by
//! a completed `flush`), and be exactly the state after some prefix of the commits: no
//! partial value, no half batch, no deleted key back. Commits not yet durable may be
//! there or not.

#![cfg(unix)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use simd_r_drive::io::{Backend, Crash, CrashBackend, CrashData, CrashNames, CrashPoint, IoOp};
use simd_r_drive::{Store, StoreOptions};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;
type Image = BTreeMap<OsString, Vec<u8>>;

const STORE: &str = "s.srd";

/// An owned operation: a put (`Some(value)`) or a delete (`None`).
type OwnedOp = (Vec<u8>, Option<Vec<u8>>);

fn put(k: &str, v: Vec<u8>) -> OwnedOp {
    (k.as_bytes().to_vec(), Some(v))
}

fn del(k: &str) -> OwnedOp {
    (k.as_bytes().to_vec(), None)
}

/// What the workload did, as the crash checks need it.
#[derive(Default)]
struct History {
    /// `states[j]` is the store after its first `j` commits.
    states: Vec<Model>,
    /// `(syncs, commits)`: once `syncs` sync calls had completed, the first `commits`
    /// commits were acknowledged as durable. A crash point before sync call `k` must show
    /// them when `syncs < k`.
    durable: Vec<(u64, usize)>,
}

impl History {
    fn new() -> History {
        History {
            states: vec![Model::new()],
            durable: Vec::new(),
        }
    }

    /// Commits that must survive a crash right before sync call `k`.
    fn required_at(&self, k: u64) -> usize {
        self.durable
            .iter()
            .filter(|(s, _)| *s < k)
            .map(|&(_, c)| c)
            .max()
            .unwrap_or(0)
    }
}

/// Writes `ops` as one batch and records it (durable at once under `sync(true)`).
fn commit(store: &Store, backend: &CrashBackend, hist: &Mutex<History>, ops: &[OwnedOp]) {
    store.write(&common::as_ops(ops)).unwrap();
    let mut h = hist.lock().unwrap();
    let mut next = h.states.last().unwrap().clone();
    for (k, v) in ops {
        match v {
            Some(v) => next.insert(k.clone(), v.clone()),
            None => next.remove(k),
        };
    }
    h.states.push(next);
    if store.syncs_every_commit() {
        let n = h.states.len() - 1;
        h.durable.push((backend.syncs(), n));
    }
}

/// `flush`, recorded as making every commit so far durable.
fn flush(store: &Store, backend: &CrashBackend, hist: &Mutex<History>) {
    store.flush().unwrap();
    let mut h = hist.lock().unwrap();
    let n = h.states.len() - 1;
    h.durable.push((backend.syncs(), n));
}

/// What the workload exercised.
struct Run {
    hist: History,
    points: Vec<CrashPoint>,
    /// For each compaction, the sync calls it made: `(first, last)`.
    compactions: Vec<(u64, u64)>,
}

/// The scripted workload. With `sync`, every commit is durable when `write` returns;
/// without it, `flush` calls make commits durable. Either way the end has commits that
/// were never flushed, and the last crash point is taken after them.
///
/// The store uses `wrap(backend)`: the crash model itself, or a test's faulty layer on it.
fn workload(
    dir: &Path,
    sync: bool,
    preallocate: u64,
    wrap: fn(Arc<CrashBackend>) -> Arc<dyn Backend>,
) -> Run {
    let backend = Arc::new(CrashBackend::new(dir).unwrap());
    backend.record(true);
    let store_backend = wrap(backend.clone());
    let hist = Arc::new(Mutex::new(History::new()));
    let path = dir.join(STORE);
    let open = || {
        Arc::new(
            // Index files from the first key on: merges, delta files and the index
            // compaction writes are crash points too.
            StoreOptions::new()
                .sync(sync)
                .preallocate(preallocate)
                .checkpoint_min_keys(1)
                .backend(store_backend.clone())
                .open(&path)
                .unwrap(),
        )
    };
    let ack = |s: &Store| {
        if !sync {
            flush(s, &backend, &hist);
        }
    };
    let mut compactions = Vec::new();

    let s = open();
    for i in 0..4u32 {
        commit(
            &s,
            &backend,
            &hist,
            &[put(&format!("a{i}"), common::bytes(i.into(), 300))],
        );
    }
    // A value spanning several pages, then a batch spanning several pages.
    commit(&s, &backend, &hist, &[put("big", common::bytes(99, 9000))]);
    ack(&s);
    let batch: Vec<OwnedOp> = (0..5u32)
        .map(|i| put(&format!("b{i}"), vec![i as u8 + 1; 5000]))
        .collect();
    commit(&s, &backend, &hist, &batch);
    commit(&s, &backend, &hist, &[del("a1")]);
    commit(
        &s,
        &backend,
        &hist,
        &[
            put("a2", b"overwritten".to_vec()),
            del("a3"),
            put("a4", Vec::new()),
        ],
    );
    ack(&s);
    // An index merge (the first index file), and writes after it.
    assert!(s.checkpoint().unwrap());
    commit(&s, &backend, &hist, &[put("after-merge", b"m".to_vec())]);

    // A compaction with commits made while it runs: right after its first sync (of the
    // new file, taken while writers still run), a batch and a single put land in the old
    // file; the compaction's final step copies them over.
    let before = backend.syncs();
    {
        let (s2, b2, h2) = (s.clone(), backend.clone(), hist.clone());
        backend.after_sync(before + 1, move || {
            commit(
                &s2,
                &b2,
                &h2,
                &[put("during", common::bytes(7, 6000)), del("b0"), del("a0")],
            );
            commit(&s2, &b2, &h2, &[put("during2", b"x".to_vec())]);
        });
    }
    let report = s.compact().unwrap();
    assert_eq!(
        backend.hooks_pending(),
        0,
        "the mid-compaction commits never ran"
    );
    assert_eq!(report.tail_entries, 4, "{report:?}");
    compactions.push((before + 1, backend.syncs()));
    // The compaction made every commit durable, so this flush needs no sync of its own.
    ack(&s);

    commit(&s, &backend, &hist, &[put("c", common::bytes(3, 20_000))]);
    commit(&s, &backend, &hist, &[put("a0", b"back".to_vec())]);
    commit(
        &s,
        &backend,
        &hist,
        &[put("e0", vec![1; 100]), put("e1", vec![2; 4000]), del("a2")],
    );
    ack(&s);

    // A clean close: the changes since the index file become a delta file.
    s.close().unwrap();
    drop(s);
    let s = open();
    commit(&s, &backend, &hist, &[put("d", common::bytes(4, 700))]);
    commit(&s, &backend, &hist, &[del("big")]);
    ack(&s);
    let before = backend.syncs();
    s.compact().unwrap();
    compactions.push((before + 1, backend.syncs()));
    ack(&s);
    commit(&s, &backend, &hist, &[put("f", common::bytes(5, 5000))]);
    commit(&s, &backend, &hist, &[put("g", vec![9; 3]), del("c")]);
    commit(&s, &backend, &hist, &[put("h", common::bytes(6, 2000))]);

    let mut points = backend.take_points();
    points.push(backend.point().unwrap());
    drop(s);
    let hist = std::mem::take(&mut *hist.lock().unwrap());
    Run {
        hist,
        points,
        compactions,
    }
}

/// Images whose open used the index (and delta) file the workload left: the index files
/// are part of what a power loss tears, too.
static INDEX_USED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Opens an image as a plain store: its contents, or why it failed.
fn open_image(image: &Image) -> Result<Model, String> {
    let d = common::Dir::new();
    for (name, bytes) in image {
        std::fs::write(d.dir.path().join(name), bytes).unwrap();
    }
    let p = d.path(STORE);
    let s = Store::open(&p).map_err(|e| format!("open: {e}"))?;
    if s.recovery().checkpoint_keys.is_some() {
        INDEX_USED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    s.verify().map_err(|e| format!("verify: {e}"))?;
    let got: Model = common::dump(&s).into_iter().collect();
    // The recovered store takes new durable writes and keeps them across a reopen (the
    // dropped tail, if any, was cut before the append).
    s.put(b"after the crash", b"1")
        .map_err(|e| format!("put: {e}"))?;
    s.flush().map_err(|e| format!("flush: {e}"))?;
    drop(s);
    let s = Store::open(&p).map_err(|e| format!("reopen: {e}"))?;
    let mut want = got.clone();
    want.insert(b"after the crash".to_vec(), b"1".to_vec());
    let again: Model = common::dump(&s).into_iter().collect();
    if again != want {
        return Err("a write after recovery did not survive a reopen".into());
    }
    Ok(got)
}

fn describe(m: &Model) -> String {
    let keys: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{}({})", String::from_utf8_lossy(k), v.len()))
        .collect();
    keys.join(" ")
}

/// Counts from checking every crash point of a run.
#[derive(Debug, Default)]
struct Checked {
    points: usize,
    images: usize,
    distinct: usize,
    compaction_points: usize,
    pending_rename_points: usize,
}

/// Checks every crash image of `run`. Returns what was checked, or the failures.
fn check(run: &Run, crashes: &[Crash]) -> Result<Checked, Vec<String>> {
    let mut cache: HashMap<Image, Result<Model, String>> = HashMap::new();
    let mut failures = Vec::new();
    let mut c = Checked::default();
    let store = OsString::from(STORE);
    for p in &run.points {
        c.points += 1;
        if run
            .compactions
            .iter()
            .any(|&(a, b)| (a..=b).contains(&p.sync))
        {
            c.compaction_points += 1;
        }
        if p.pending_names().contains(&store) {
            c.pending_rename_points += 1;
        }
        let required = run.hist.required_at(p.sync);
        for &crash in crashes {
            c.images += 1;
            let image = p.image(crash);
            let got = cache.entry(image).or_insert_with_key(open_image).clone();
            let at = format!("crash before sync call {} ({:?}), {crash:?}", p.sync, p.op);
            match got {
                Err(e) => failures.push(format!("{at}: the image does not open: {e}")),
                Ok(m) => {
                    let ok = run.hist.states[required..].contains(&m);
                    if !ok {
                        failures.push(format!(
                            "{at}: recovered [{}], which is not the state after {required} or \
                             more commits (the first {required} were durable: [{}])",
                            describe(&m),
                            describe(&run.hist.states[required])
                        ));
                    }
                }
            }
        }
    }
    c.distinct = cache.len();
    if failures.is_empty() {
        Ok(c)
    } else {
        Err(failures)
    }
}

fn run_and_check(sync: bool, preallocate: u64, crashes: &[Crash]) -> Checked {
    let started = Instant::now();
    let d = common::Dir::new();
    let run = workload(d.dir.path(), sync, preallocate, |b| b);
    // Every durable acknowledgement made a promise some crash point tests.
    assert!(run.hist.durable.len() >= 4);
    // Each compaction syncs the new file twice, then the directory after the rename.
    for &(a, b) in &run.compactions {
        assert!(b + 1 - a >= 3, "compaction made {} sync calls", b + 1 - a);
        let ops: Vec<Option<IoOp>> = run
            .points
            .iter()
            .filter(|p| (a..=b).contains(&p.sync))
            .map(|p| p.op)
            .collect();
        assert!(ops.contains(&Some(IoOp::SyncDir)), "{ops:?}");
        assert!(ops.iter().filter(|o| **o == Some(IoOp::Sync)).count() >= 2);
    }
    let checked = check(&run, crashes).unwrap_or_else(|f| {
        panic!(
            "{} of the crash images failed (sync: {sync}):\n{}",
            f.len(),
            f.join("\n")
        )
    });
    // A crash between a compaction's rename and its directory sync was simulated.
    assert!(
        checked.pending_rename_points >= run.compactions.len(),
        "{checked:?}"
    );
    assert!(checked.compaction_points >= 3 * run.compactions.len());
    eprintln!(
        "sync: {sync}, preallocate: {preallocate}: {} sync points ({} in compactions), {} images ({} distinct) in {:?}",
        checked.points - 1,
        checked.compaction_points,
        checked.images,
        checked.distinct,
        started.elapsed()
    );
    checked
}

/// The crashes that keep the unsynced bytes of a file in order: lost, cut after a page
/// (with or without the new length), or all landed; with unsynced renames lost or kept.
/// (A store that syncs every commit has at most one unsynced batch, so there any torn
/// pattern is a torn tail; see the ignored test below for several unsynced batches.)
fn ordered_crashes() -> Vec<Crash> {
    Crash::variants()
        .into_iter()
        .filter(|c| !matches!(c.data, CrashData::Pages { .. } | CrashData::Suffix { .. }))
        .collect()
}

#[test]
fn acknowledged_synced_commits_survive_a_power_loss_at_every_sync_point() {
    let c = run_and_check(true, 0, &Crash::variants());
    assert!(c.points > 20, "{c:?}");
    let used = INDEX_USED.load(std::sync::atomic::Ordering::Relaxed);
    assert!(used > 20, "{used} images opened through their index file");
}

#[test]
fn flushed_commits_survive_a_power_loss_at_every_sync_point() {
    let c = run_and_check(false, 0, &ordered_crashes());
    assert!(c.points > 8, "{c:?}");
}

/// With zeros preallocated ahead of the data, appends overwrite space the file has: torn
/// writes then leave old zeros or old bytes rather than a shorter file.
#[test]
fn preallocated_stores_survive_a_power_loss_at_every_sync_point() {
    run_and_check(true, 16 << 10, &Crash::variants());
    run_and_check(false, 16 << 10, &ordered_crashes());
}

/// Without `sync(true)`, the bytes after the last `flush` hold several batches. A power
/// loss may write back their pages in any order (neither the page cache nor the disk's
/// write cache keeps the order of writes that were never synced), so a later batch can land
/// whole while a page of an earlier one does not. Recovery then finds a complete batch
/// after a damaged one, calls it mid-file corruption (FORMAT.md, recovery case 4) and the
/// writable open fails with ERR_STORE_CORRUPT: the user must run `repair`, although nothing
/// acknowledged as durable was lost (all the damage lies after the last sync).
///
/// Smallest case: on a default store, `flush`, then `put(a, 5000 bytes)` and `put(b, 1
/// byte)`; the power loss keeps only the last unsynced page (holding `b`), and the page
/// holding the start of `a` reads as zeros.
#[test]
fn unflushed_batches_torn_out_of_order_do_not_stop_the_store_from_opening() {
    let d = common::Dir::new();
    let backend = Arc::new(CrashBackend::new(d.dir.path()).unwrap());
    let s = StoreOptions::new()
        .backend(backend.clone())
        .open(d.path(STORE))
        .unwrap();
    s.put(b"durable", b"1").unwrap();
    s.flush().unwrap();
    s.put(b"a", &[7; 5000]).unwrap();
    s.put(b"b", b"x").unwrap();
    let image = backend.point().unwrap().image(Crash {
        names: CrashNames::Synced,
        data: CrashData::Suffix { pages: 1 },
    });
    drop(s);
    let got = open_image(&image).expect("the image opens");
    assert_eq!(got.get(&b"durable"[..]).map(|v| &v[..]), Some(&b"1"[..]));

    // The same over the whole scripted workload, with every out-of-order crash.
    let reordered: Vec<Crash> = Crash::variants()
        .into_iter()
        .filter(|c| matches!(c.data, CrashData::Pages { .. } | CrashData::Suffix { .. }))
        .collect();
    run_and_check(false, 0, &reordered);
}

/// An engine that skipped its directory syncs after creating the store: the checks must
/// notice (the harness has teeth).
#[derive(Debug)]
struct SkipDirSyncs {
    inner: Arc<CrashBackend>,
    seen: std::sync::atomic::AtomicU64,
}

impl Backend for SkipDirSyncs {
    fn write_at(&self, file: &std::fs::File, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.inner.write_at(file, buf, offset)
    }
    fn sync_data(&self, file: &std::fs::File) -> std::io::Result<()> {
        self.inner.sync_data(file)
    }
    fn set_len(&self, file: &std::fs::File, len: u64) -> std::io::Result<()> {
        self.inner.set_len(file, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        if self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            self.inner.sync_dir(dir)
        } else {
            Ok(())
        }
    }
}

#[test]
fn a_compaction_without_its_directory_sync_is_caught() {
    let d = common::Dir::new();
    let run = workload(d.dir.path(), true, 0, |b| {
        Arc::new(SkipDirSyncs {
            inner: b,
            seen: Default::default(),
        })
    });
    let failures = check(&run, &Crash::variants()).expect_err("a lost compaction went unnoticed");
    // The commits made after the first compaction live in a file whose name never became
    // durable: a crash with the directory as last synced loses them.
    assert!(
        failures
            .iter()
            .any(|f| f.contains("names: Synced") && f.contains("not the state after")),
        "{failures:?}"
    );
    assert!(
        failures.iter().all(|f| f.contains("names: Synced")),
        "{failures:?}"
    );
}

#[test]
fn the_crash_model_keeps_synced_bytes_apart_from_written_ones() {
    let d = common::Dir::new();
    let dir = d.dir.path();
    std::fs::write(dir.join("old"), b"before").unwrap();
    let b = CrashBackend::new(dir).unwrap();
    let page = simd_r_drive::page_size() as usize;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join("new"))
        .unwrap();
    b.write_at(&f, &vec![1; page + 10], 0).unwrap();
    b.sync_data(&f).unwrap();
    b.write_at(&f, &vec![2; 2 * page], (page + 10) as u64)
        .unwrap();
    let point = b.point().unwrap();
    let image = |names, data| point.image(Crash { names, data });
    let name = |s: &str| OsString::from(s);

    // The new file's name is not durable yet; the old one's is, with its contents.
    let lost = image(CrashNames::Synced, CrashData::Synced);
    assert_eq!(lost.keys().collect::<Vec<_>>(), [&name("old")]);
    assert_eq!(lost[&name("old")], b"before");
    let kept = image(CrashNames::Current, CrashData::Synced);
    assert_eq!(kept[&name("new")], vec![1; page + 10]);
    assert_eq!(
        image(CrashNames::Current, CrashData::All)[&name("new")].len(),
        3 * page + 10
    );
    // Torn: the first unsynced page (the one holding byte page + 10) and nothing else.
    let torn = &image(
        CrashNames::Current,
        CrashData::Prefix {
            pages: 1,
            zero_fill: true,
        },
    )[&name("new")];
    assert_eq!(torn.len(), 3 * page + 10);
    assert!(torn[..page + 10].iter().all(|&x| x == 1));
    assert!(torn[page + 10..2 * page].iter().all(|&x| x == 2));
    assert!(torn[2 * page..].iter().all(|&x| x == 0));
    let cut = &image(
        CrashNames::Current,
        CrashData::Prefix {
            pages: 1,
            zero_fill: false,
        },
    )[&name("new")];
    assert_eq!(cut.len(), 2 * page);
    let end = &image(CrashNames::Current, CrashData::Suffix { pages: 1 })[&name("new")];
    assert!(end[page + 10..3 * page].iter().all(|&x| x == 0));
    assert!(end[3 * page..].iter().all(|&x| x == 2));

    // A rename reverts until the directory is synced, then sticks.
    b.sync_data(&f).unwrap();
    b.rename(&dir.join("new"), &dir.join("old")).unwrap();
    let p = b.point().unwrap();
    // "new" was never durable; "old" names another file until the directory is synced.
    assert_eq!(p.pending_names(), [name("old")]);
    let before = p.image(Crash {
        names: CrashNames::Synced,
        data: CrashData::All,
    });
    assert_eq!(before[&name("old")], b"before");
    b.sync_dir(dir).unwrap();
    let after = b.point().unwrap().image(Crash {
        names: CrashNames::Synced,
        data: CrashData::Synced,
    });
    assert_eq!(after.keys().collect::<Vec<_>>(), [&name("old")]);
    assert_eq!(after[&name("old")].len(), 3 * page + 10);
    assert_eq!(b.syncs(), 3);
}

#[test]
fn a_writable_open_after_a_clean_close_makes_no_sync() {
    // A clean close leaves a log that ends with a mark recording everything before it:
    // only that mark may still be in the page cache, so the next open does not pay an
    // fdatasync (a device cache flush, milliseconds and more on a busy disk) for it. After
    // a session that did not close, the open syncs what it left.
    let d = common::Dir::new();
    let backend = Arc::new(CrashBackend::new(d.dir.path()).unwrap());
    let open = || {
        StoreOptions::new()
            .backend(backend.clone())
            .open(d.dir.path().join(STORE))
            .unwrap()
    };
    let s = open();
    s.put(b"k", b"v").unwrap();
    s.close().unwrap();
    drop(s);
    let before = backend.syncs();
    let s = open();
    assert_eq!(
        backend.syncs(),
        before,
        "no sync at the open after a clean close"
    );
    assert_eq!(s.get(b"k").unwrap().unwrap().as_slice(), b"v");
    s.put(b"k2", b"v2").unwrap();
    drop(s); // no close: the next open finds writes it must make durable
    let before = backend.syncs();
    let s = open();
    assert!(
        backend.syncs() > before,
        "an open after an unclean end syncs"
    );
    assert_eq!(s.get(b"k2").unwrap().unwrap().as_slice(), b"v2");
}
