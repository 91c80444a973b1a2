//! Opening a store costs the same whatever its size, shown without a clock: the pages of
//! the store's files that an open (and its first read) brings into the page cache do not
//! grow with the store, and `recovery()` replays exactly the entries written since the
//! index (and delta) files last covered the log.

mod common;

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use common::Dir;
use simd_r_drive::{Op, Store, StoreOptions};

fn opts() -> StoreOptions {
    StoreOptions::new().checkpoint_min_keys(1)
}

fn key(i: u64) -> Vec<u8> {
    format!("key-{i:012}").into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    let mut v = vec![0u8; 100];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

/// A store of `n` keys, loaded in batches and closed.
fn loaded(p: &Path, n: u64) {
    let s = opts().open(p).unwrap();
    let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
    let values: Vec<Vec<u8>> = (0..n).map(value).collect();
    for (ks, vs) in keys.chunks(10_000).zip(values.chunks(10_000)) {
        let ops: Vec<Op<'_>> = ks
            .iter()
            .zip(vs)
            .map(|(k, v)| Op::Put { key: k, value: v })
            .collect();
        s.write(&ops).unwrap();
    }
    s.close().unwrap();
}

fn side(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The files of the store at `p` that exist.
fn files_of(p: &Path) -> Vec<PathBuf> {
    [
        p.to_path_buf(),
        side(p, ".srd-index"),
        side(p, ".srd-delta"),
    ]
    .into_iter()
    .filter(|f| f.exists())
    .collect()
}

/// Drops the (clean) pages of `f` from the page cache.
fn drop_cache(f: &Path) {
    let file = File::open(f).unwrap();
    // SAFETY: plain system call on a descriptor this function owns.
    let r = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(r, 0);
}

/// Pages of `f` in the page cache (`mincore` over a mapping of it) and pages in all.
fn resident(f: &Path) -> (usize, usize) {
    let file = File::open(f).unwrap();
    let len = file.metadata().unwrap().len() as usize;
    if len == 0 {
        return (0, 0);
    }
    // SAFETY: a read-only shared mapping of a file no one truncates during the call; it is
    // only passed to `mincore`, never read.
    let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    let page = 4096;
    let pages = len.div_ceil(page);
    let mut vec = vec![0u8; pages];
    // SAFETY: `map` is a live mapping of `len` bytes and `vec` has one byte per page.
    let r = unsafe { libc::mincore(map.as_ptr() as *mut _, len, vec.as_mut_ptr()) };
    assert_eq!(r, 0);
    (vec.iter().filter(|&&b| b & 1 != 0).count(), pages)
}

/// Pages of the store's files that opening it (after their pages were dropped) and reading
/// one key brought into the page cache; `None` where this file system keeps them anyway
/// (tmpfs: nothing can be dropped).
fn pages_an_open_reads(p: &Path, n: u64) -> Option<usize> {
    for f in files_of(p) {
        drop_cache(&f);
    }
    let before: usize = files_of(p).iter().map(|f| resident(f).0).sum();
    let total: usize = files_of(p).iter().map(|f| resident(f).1).sum();
    if before * 2 > total {
        return None;
    }
    let s = opts().read_only(true).open(p).unwrap();
    assert_eq!(s.get(&key(n / 2)).unwrap().unwrap().to_vec(), value(n / 2));
    let after: usize = files_of(p).iter().map(|f| resident(f).0).sum();
    assert_eq!(
        s.recovery().entries,
        0,
        "a clean close leaves nothing to replay"
    );
    drop(s);
    Some(after.saturating_sub(before))
}

#[test]
fn the_pages_an_open_reads_do_not_grow_with_the_store() {
    let d = Dir::new();
    let (small, large) = (d.path("small.srd"), d.path("large.srd"));
    loaded(&small, 20_000);
    loaded(&large, 400_000);
    // Also after a reopen, 1,000 puts and a close (a delta file).
    for p in [&small, &large] {
        let s = opts().open(p).unwrap();
        for i in 0..1000 {
            s.put(format!("more-{i}").as_bytes(), b"v").unwrap();
        }
        s.close().unwrap();
        assert!(side(p, ".srd-delta").exists());
    }
    let (Some(a), Some(b)) = (
        pages_an_open_reads(&small, 20_000),
        pages_an_open_reads(&large, 400_000),
    ) else {
        eprintln!("skipped: this file system keeps every page cached (tmpfs)");
        return;
    };
    let log_pages = resident(&large).1;
    eprintln!("pages read by an open: {a} (20k keys), {b} (400k keys of {log_pages} pages)");
    // A whole-log open of the large store reads all of its ~13,000 pages; constant-time
    // opens read the same few dozen at both sizes (35 and 36 here: two index pages, the
    // delta file, the log's last 64 KiB and the page of the value read).
    assert!(b <= a + 16, "{a} pages at 20k keys, {b} at 400k");
    assert!(b * 100 < log_pages, "{b} of {log_pages} pages");
}

#[test]
fn recovery_replays_exactly_what_was_written_since_the_index() {
    let d = Dir::new();
    let p = d.path("s.srd");
    loaded(&p, 100_000);
    let s = opts().open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, Some(100_000));
    assert_eq!(s.recovery().entries, 0, "a clean close replays nothing");
    // 300 puts, then a crash (no close: neither an index merge nor a delta file).
    for i in 0..300 {
        s.put(&key(i), b"new").unwrap();
    }
    drop(s);
    let s = opts().open(&p).unwrap();
    let r = s.recovery();
    // The 300 puts (sync marks are not counted).
    assert_eq!(r.entries, 300, "{r:?}");
    assert_eq!(s.get(&key(299)).unwrap().unwrap().to_vec(), b"new");
    assert_eq!(s.len(), 100_000);
    // A clean close saves the change as a delta file: the next open replays nothing.
    s.delete(&key(1)).unwrap();
    s.close().unwrap();
    let s = opts().open(&p).unwrap();
    assert_eq!(s.recovery().entries, 0);
    assert_eq!(s.len(), 99_999);
    assert!(s.get(&key(1)).unwrap().is_none());
    assert_eq!(s.get(&key(2)).unwrap().unwrap().to_vec(), b"new");
    s.verify().unwrap();
}

#[test]
fn an_index_file_is_shared_by_followers_across_merges_and_compactions() {
    let d = Dir::new();
    let p = d.path("s.srd");
    loaded(&p, 60_000);
    let w = opts().open(&p).unwrap();
    let r = opts().read_only(true).open(&p).unwrap();
    assert!(r.recovery().checkpoint_keys.is_some());
    for i in 0..5000 {
        w.put(&key(i), b"merged").unwrap();
    }
    assert!(w.checkpoint().unwrap(), "a merge");
    r.refresh().unwrap();
    assert_eq!(r.get(&key(4999)).unwrap().unwrap().to_vec(), b"merged");
    assert_eq!(r.get(&key(5000)).unwrap().unwrap().to_vec(), value(5000));
    w.compact().unwrap();
    r.refresh().unwrap();
    assert_eq!(r.len(), 60_000);
    assert_eq!(r.get(&key(10)).unwrap().unwrap().to_vec(), b"merged");
    // The follower switched to the compacted file through its new index file.
    assert!(
        std::fs::read(side(&p, ".srd-index")).unwrap()[16..32]
            == std::fs::read(&p).unwrap()[20..36]
    );
    r.verify().unwrap();
    drop(r);
    drop(w);
    let s: Store = opts().open(&p).unwrap();
    assert_eq!(s.recovery().entries, 0, "{:?}", s.recovery());
    assert_eq!(s.len(), 60_000);
}

/// Flips a bit of the byte at `at` of the file at `p` in place, as a failing disk would.
fn flip_bit(p: &Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x40], at).unwrap();
}

#[test]
fn entries_a_delta_file_names_are_checked_on_first_read() {
    let d = Dir::new();
    let p = d.path("s.srd");
    loaded(&p, 1000);
    let s = opts().open(&p).unwrap();
    s.put(b"victim", b"a value that will rot on disk").unwrap();
    s.put(b"healthy", b"a value that stays whole").unwrap();
    let at = s.get(b"victim").unwrap().unwrap().file_offset();
    // More than the 64 KiB the tail hash covers after it: damage there makes the open
    // read the log instead (and report it: see the test below).
    for i in 0..100u32 {
        s.put(format!("pad{i}").as_bytes(), &[7u8; 1024]).unwrap();
    }
    s.close().unwrap();
    drop(s);
    assert!(side(&p, ".srd-delta").exists());
    flip_bit(&p, at + 3);
    let s = opts().read_only(true).open(&p).unwrap();
    assert_eq!(s.recovery().entries, 0, "the delta file was used");
    match s.get(b"victim") {
        Err(simd_r_drive::Error::Corrupt { offset, .. }) => assert!(offset < at),
        other => panic!("a damaged entry was served: {other:?}"),
    }
    assert_eq!(
        s.get(b"healthy").unwrap().unwrap().to_vec(),
        b"a value that stays whole"
    );
    assert!(s.verify().is_err());
}

#[test]
fn damage_in_the_last_64_kib_makes_the_open_read_the_log_and_report_it() {
    let d = Dir::new();
    let p = d.path("s.srd");
    loaded(&p, 1000);
    let s = opts().open(&p).unwrap();
    s.put(b"victim", b"a value that will rot on disk").unwrap();
    s.put(b"after", b"valid data after the damage").unwrap();
    let at = s.get(b"victim").unwrap().unwrap().file_offset();
    s.close().unwrap();
    drop(s);
    flip_bit(&p, at + 3);
    // The delta file's tail hash no longer matches: the log after the index file is read,
    // and the damage before a sync mark is corruption, as without index files.
    match opts().read_only(true).open(&p) {
        Err(simd_r_drive::Error::Corrupt { offset, .. }) => assert!(offset < at),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// The `VmFlags` of this process's mappings of `f` (from `/proc/self/smaps`).
fn vm_flags(f: &Path) -> Vec<String> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let name = f.to_str().unwrap();
    let mut out = Vec::new();
    let mut inside = false;
    for line in smaps.lines() {
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            if inside {
                out.push(flags.trim().to_string());
            }
            inside = false;
        } else if line.split_whitespace().count() >= 6 && line.contains(" /") {
            inside = line.ends_with(name);
        }
    }
    out
}

#[test]
fn warm_files_are_mapped_for_speed_and_cold_ones_for_small_reads() {
    // A store whose files are in the page cache: the log keeps the kernel's default
    // advice (a fault maps the cached pages around it), and the index table (over 4 MiB)
    // asks for huge pages, as an in-memory table has. Cold files are advised random
    // ("rr"), so that a fault reads the one page a lookup needs, and get no huge pages
    // (each fault would read 2 MiB).
    let d = Dir::new();
    let p = d.path("s.srd");
    loaded(&p, 250_000);
    let index = side(&p, ".srd-index");
    assert!(std::fs::metadata(&index).unwrap().len() > 4 << 20);
    let warm = opts().read_only(true).open(&p).unwrap();
    let (log, table) = (vm_flags(&p), vm_flags(&index));
    assert_eq!((log.len(), table.len()), (1, 1), "{log:?} {table:?}");
    assert!(!log[0].contains("rr"), "warm log: {}", log[0]);
    assert!(
        table[0].contains("rr") && table[0].contains("hg"),
        "warm table: {}",
        table[0]
    );
    drop(warm);
    for f in files_of(&p) {
        drop_cache(&f);
    }
    if resident(&p).0 * 2 > resident(&p).1 {
        eprintln!("skipped the cold half: this file system keeps every page cached (tmpfs)");
        return;
    }
    let cold = opts().read_only(true).open(&p).unwrap();
    let (log, table) = (vm_flags(&p), vm_flags(&index));
    assert!(log[0].contains("rr"), "cold log: {}", log[0]);
    assert!(
        table[0].contains("rr") && !table[0].contains("hg"),
        "cold table: {}",
        table[0]
    );
    assert_eq!(cold.get(&key(7)).unwrap().unwrap().to_vec(), value(7));
}
