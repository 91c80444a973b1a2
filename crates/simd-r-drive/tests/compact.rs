//! Compaction's steps, one test each: the live entries are copied and nothing else, the new
//! file replaces the old one under the same path, what compaction leaves beside the store,
//! and the stores it meets at the edges (empty, nothing dead, nothing live). Compaction under
//! faults, power loss, concurrent writers, renamed paths and file modes is tested in
//! `faults.rs`, `power_loss.rs`, `concurrent_writes.rs` and `files.rs`.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use common::*;
use simd_r_drive::{Op, StoreOptions};

fn inode(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).unwrap().ino()
}

fn siblings(p: &std::path::Path) -> Vec<String> {
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    let mut v: Vec<String> = std::fs::read_dir(p.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != &name)
        .collect();
    v.sort();
    v
}

#[test]
fn compaction_copies_exactly_the_live_entries_into_a_new_file_at_the_same_path() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    let mut model = BTreeMap::new();
    for i in 0..500u64 {
        let key = format!("k{}", i % 200).into_bytes();
        let value = bytes(i, (i % 300) as usize);
        s.put(&key, &value).unwrap();
        model.insert(key, value);
    }
    for i in (0..200u64).step_by(3) {
        let key = format!("k{i}").into_bytes();
        assert!(s.delete(&key).unwrap());
        model.remove(&key);
    }
    let before = s.stats();
    let old_inode = inode(&p);
    let r = s.compact().unwrap();
    assert_eq!(r.entries, model.len() as u64, "one entry per live key");
    assert_eq!(r.tail_entries, 0, "nothing was written meanwhile");
    assert_eq!(r.bytes_before, before.file_bytes);
    assert!(r.bytes_after < r.bytes_before);
    assert_eq!(r.reclaimed_bytes, r.bytes_before - r.bytes_after);
    assert_ne!(inode(&p), old_inode, "a new file was renamed over the path");
    let after = s.stats();
    assert_eq!(after.generation, before.generation + 1);
    assert_eq!(after.reclaimable_bytes, 0, "nothing dead is left");
    assert_eq!(
        after.live_bytes,
        before.live_bytes + 8 * model.len() as u64,
        "the live entries are the same bytes, each with its 8-byte version"
    );
    let want: Vec<_> = model.clone().into_iter().collect();
    assert_eq!(dump(&s), want);
    s.verify().unwrap();
    // Nothing of the compaction is left beside the store (its lock file is the writer's).
    assert_eq!(siblings(&p), ["s.srd.lock"]);
    drop(s);
    assert_eq!(dump(&open(&p)), want, "and a reopen reads the new file");
}

#[test]
fn writes_after_a_compaction_go_to_the_new_file() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    s.write(&[
        Op::Put {
            key: b"a",
            value: b"1",
        },
        Op::Put {
            key: b"b",
            value: b"2",
        },
    ])
    .unwrap();
    s.put(b"a", b"3").unwrap();
    s.compact().unwrap();
    s.put(b"c", b"4").unwrap();
    assert!(s.delete(b"b").unwrap());
    s.flush().unwrap();
    drop(s);
    let s = open(&p);
    assert_eq!(
        dump(&s),
        [
            (b"a".to_vec(), b"3".to_vec()),
            (b"c".to_vec(), b"4".to_vec())
        ]
    );
    s.verify().unwrap();
}

/// The id a private mapping made now gets: every one made before has a smaller id.
fn next_private_map_id() -> u64 {
    let d = Dir::new();
    let s = open(&d.path("other.srd"));
    s.put(b"k", b"v").unwrap();
    s.private_map().unwrap().0.id()
}

#[test]
fn a_store_read_through_its_private_mapping_gets_the_new_files_before_the_switch() {
    // A binding's first read after the switch must not map the new file itself (an mmap on
    // its thread, while the old mapping is being released): compaction has made it.
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    for i in 0..100u64 {
        s.put(&i.to_le_bytes(), &bytes(i, 1000)).unwrap();
        s.put(&i.to_le_bytes(), &bytes(i + 1, 1000)).unwrap();
    }
    let (old, _) = s.private_map().unwrap();
    s.compact().unwrap();
    let later = next_private_map_id();
    let (new, stable_end) = s.private_map().unwrap();
    assert_ne!(new.id(), old.id(), "the new file has a mapping of its own");
    assert!(new.id() < later, "made by the compaction, not by the read");
    // It maps the new file: the first value reads as it is stored there.
    s.locate_private(&7u64.to_le_bytes(), |at| {
        let at = at.unwrap();
        assert_eq!(at.map.id(), new.id());
        assert!(at.offset + at.len as u64 <= stable_end);
        // SAFETY: the range is below the stable end of the mapping, which `new` keeps alive.
        let got =
            unsafe { std::slice::from_raw_parts(at.map.as_ptr().add(at.offset as usize), at.len) };
        assert_eq!(got, &bytes(8, 1000)[..]);
    })
    .unwrap();
    // A store nobody read that way gets none made (nothing would use it).
    let q = d.path("q.srd");
    let t = open(&q);
    t.put(b"a", b"1").unwrap();
    t.put(b"a", b"2").unwrap();
    t.compact().unwrap();
    let later = next_private_map_id();
    assert!(t.private_map().unwrap().0.id() > later);
}

#[test]
fn a_write_that_outgrows_the_mapping_makes_the_new_private_mapping_too() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    s.put(b"small", b"1").unwrap();
    let (old, _) = s.private_map().unwrap();
    // Past the smallest reservation (64 MiB): the file is mapped again.
    s.put(b"big", &vec![3u8; 65 << 20]).unwrap();
    let later = next_private_map_id();
    let (new, _) = s.private_map().unwrap();
    assert_ne!(new.id(), old.id());
    assert!(new.id() < later, "made by the write, not by the read");
}

#[test]
fn compaction_writes_the_index_file_of_the_new_file() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let opts = StoreOptions::new().checkpoint_min_keys(1);
    let s = opts.open(&p).unwrap();
    for i in 0..50u64 {
        s.put(format!("k{i}").as_bytes(), &bytes(i, 40)).unwrap();
    }
    s.close().unwrap();
    drop(s);
    let index = d.path("s.srd.srd-index");
    assert!(index.exists(), "close() saved an index file");
    let generation =
        |f: &std::path::Path, at: usize| std::fs::read(f).unwrap()[at..at + 16].to_vec();
    assert_eq!(generation(&index, 16), generation(&p, 20));
    let s = opts.open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, Some(50));
    s.put(b"k0", b"new").unwrap();
    let old = generation(&p, 20);
    s.compact().unwrap();
    // A new file, a new generation, and the index file beside it is the new file's.
    assert_ne!(generation(&p, 20), old);
    assert_eq!(generation(&index, 16), generation(&p, 20));
    drop(s);
    // The open after a compaction (without a close) is constant-time too.
    let s = opts.open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, Some(50));
    assert_eq!(s.recovery().entries, 0);
    assert_eq!(s.len(), 50);
    assert_eq!(s.get(b"k0").unwrap().as_deref(), Some(&b"new"[..]));
    s.verify().unwrap();
}

#[test]
fn compaction_of_stores_at_the_edges() {
    let d = Dir::new();
    // Empty: the new file is a header and the mark that records it.
    let p = d.path("empty.srd");
    let s = open(&p);
    let r = s.compact().unwrap();
    assert_eq!(r.entries, 0);
    assert!(s.is_empty());
    s.verify().unwrap();
    drop(s);
    assert!(open(&p).is_empty());
    // Nothing dead: the same entries, nothing to reclaim but the marks.
    let p = d.path("live.srd");
    let s = open(&p);
    for i in 0..20u64 {
        s.put(format!("k{i}").as_bytes(), &bytes(i, 64)).unwrap();
    }
    let want = dump(&s);
    let r = s.compact().unwrap();
    assert_eq!(r.entries, 20);
    assert_eq!(dump(&s), want);
    // Nothing live: every key deleted, so the new file holds no entry.
    let p = d.path("dead.srd");
    let s = open(&p);
    for i in 0..20u64 {
        s.put(format!("k{i}").as_bytes(), &bytes(i, 64)).unwrap();
    }
    for i in 0..20u64 {
        s.delete(format!("k{i}").as_bytes()).unwrap();
    }
    let r = s.compact().unwrap();
    assert_eq!(r.entries, 0);
    assert_eq!(s.stats().live_bytes, 0);
    assert!(r.bytes_after < r.bytes_before);
    drop(s);
    assert!(open(&p).is_empty());
}

/// `(nice value, scheduling policy)` of each thread of this process named `name` (Linux).
#[cfg(target_os = "linux")]
fn policies_of_threads(name: &str) -> Vec<(i32, u32)> {
    let mut found = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = t.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if comm.trim() != name {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
            continue;
        };
        // Fields after the command's closing parenthesis start with the 3rd; the 19th is
        // the nice value, the 41st the scheduling policy.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        found.push((
            fields[19 - 3].parse().unwrap(),
            fields[41 - 3].parse().unwrap(),
        ));
    }
    found
}

#[cfg(target_os = "linux")]
#[test]
fn compaction_copies_on_a_thread_of_low_priority_and_finishes_on_the_callers() {
    const SCHED_OTHER: u32 = 0;
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    for round in 0..2u64 {
        for i in 0..32u64 {
            s.put(&i.to_le_bytes(), &bytes(i + round, 1 << 20)).unwrap();
        }
    }
    let hashed = simd_r_drive::entry_bytes_hashed();
    let seen = std::sync::Mutex::new(Vec::new());
    let reports = std::sync::Mutex::new(Vec::new());
    let report = |done: u64, total: u64| {
        // Passed on to this thread while the copying thread runs.
        seen.lock()
            .unwrap()
            .extend(policies_of_threads("srd-compact"));
        reports.lock().unwrap().push((done, total));
    };
    let r = s
        .compact_with(&simd_r_drive::Progress::none().on_progress(&report))
        .unwrap();
    assert_eq!(r.entries, 32);
    let seen = seen.into_inner().unwrap();
    assert!(
        !seen.is_empty(),
        "a thread named srd-compact did the copying"
    );
    assert!(
        seen.iter()
            .all(|&p| p == (simd_r_drive::COMPACTION_NICE, SCHED_OTHER)),
        "{seen:?}"
    );
    // It verified every entry it copied; this thread verified none of them.
    assert_eq!(simd_r_drive::entry_bytes_hashed(), hashed);
    // Its reports reached this thread in order, the last one saying it is done.
    let reports = reports.into_inner().unwrap();
    assert!(reports.windows(2).all(|w| w[0].0 <= w[1].0), "{reports:?}");
    assert_eq!(reports.last().map(|&(d, t)| d == t), Some(true));
    // This thread keeps its own priority.
    let own = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let own: Vec<&str> = own[own.rfind(')').unwrap() + 2..].split(' ').collect();
    assert_eq!(own[41 - 3], "0", "SCHED_OTHER");
    assert_eq!(dump(&s).len(), 32);
}

/// The real file system, noting the longest write made through it.
#[derive(Debug, Default)]
struct LongestWrite(std::sync::atomic::AtomicUsize);

impl simd_r_drive::io::Backend for LongestWrite {
    fn write_at(&self, file: &std::fs::File, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.0
            .fetch_max(buf.len(), std::sync::atomic::Ordering::Relaxed);
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
fn compaction_writes_in_pieces_of_at_most_256_kib() {
    // A kernel without preemption lets no other thread (an event loop's) take the CPU of
    // a thread inside a system call: compaction's writes, preallocated zeros included, are
    // kept short.
    let d = Dir::new();
    let p = d.path("s.srd");
    let longest = std::sync::Arc::new(LongestWrite::default());
    let s = StoreOptions::new()
        .preallocate(2 << 20)
        .backend(longest.clone())
        .open(&p)
        .unwrap();
    for i in 0..40u64 {
        // Values of 64 KiB and some larger than a piece.
        let len = if i % 10 == 0 { 3 << 20 } else { 64 << 10 };
        s.put(&(i % 30).to_le_bytes(), &bytes(i, len)).unwrap();
    }
    let expected = dump(&s);
    longest.0.store(0, std::sync::atomic::Ordering::Relaxed);
    s.compact().unwrap();
    let most = longest.0.load(std::sync::atomic::Ordering::Relaxed);
    assert!(most > 0 && most <= 256 << 10, "a write of {most} bytes");
    // The new file is preallocated past its data and holds every entry.
    assert!(std::fs::metadata(&p).unwrap().len() >= s.stats().file_bytes + (2 << 20));
    assert_eq!(dump(&s), expected);
    drop(s);
    assert_eq!(dump(&open(&p)), expected);
}
