//! Progress reports and cancellation of the long operations (`compact_with`,
//! `verify_with`, `backup_with`, `repair_with`): reports rise to `(total, total)`, and a
//! cancel flag set midway stops each with `Error::Aborted` (`ABORT_ERR`), leaving the store
//! as it was and no temporary file behind.

mod common;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use simd_r_drive::{repair_with, Error, Progress, Store, StoreOptions};

/// A store of about 16 MiB (several progress steps), half of it dead (so compaction has
/// work), closed and reopened so that everything is in one committed file.
fn big_store(d: &Dir) -> (std::path::PathBuf, Store) {
    let p = d.path("s.srd");
    let s = open(&p);
    for round in 0..2u64 {
        for i in 0..2000u64 {
            s.put(format!("k{i}").as_bytes(), &bytes(i + round, 4000))
                .unwrap();
        }
    }
    (p, s)
}

fn names(d: &Dir) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs `op` with a progress that records every report and sets the cancel flag at the
/// report number `cancel_at` (never if `None`). Returns the result and the reports.
fn with_progress<T>(
    cancel_at: Option<usize>,
    op: impl FnOnce(&Progress<'_>) -> T,
) -> (T, Vec<(u64, u64)>) {
    let flag = AtomicBool::new(false);
    let seen = RefCell::new(Vec::new());
    let report = |done: u64, total: u64| {
        let mut s = seen.borrow_mut();
        s.push((done, total));
        if Some(s.len()) == cancel_at {
            flag.store(true, Ordering::Release);
        }
    };
    let progress = Progress::none().on_progress(&report).cancel_flag(&flag);
    let r = op(&progress);
    (r, seen.into_inner())
}

fn assert_rises_to_the_end(reports: &[(u64, u64)]) {
    assert!(reports.len() >= 3, "several reports: {reports:?}");
    assert!(reports.windows(2).all(|w| w[0].0 <= w[1].0), "{reports:?}");
    let &(done, total) = reports.last().unwrap();
    assert_eq!(done, total, "the last report is the end: {reports:?}");
    assert!(total > 8 << 20);
}

fn assert_aborted<T: std::fmt::Debug>(r: simd_r_drive::Result<T>) {
    match r {
        Err(e @ Error::Aborted { .. }) => {
            assert_eq!(e.code(), "ABORT_ERR");
            assert!(e.to_string().contains("aborted"), "{e}");
        }
        other => panic!("expected Aborted, got {other:?}"),
    }
}

#[test]
fn compaction_reports_progress_to_the_end() {
    let d = Dir::new();
    let (_p, s) = big_store(&d);
    let (r, reports) = with_progress(None, |p| s.compact_with(p));
    let r = r.unwrap();
    assert!(r.reclaimed_bytes > 0);
    assert_rises_to_the_end(&reports);
    assert_eq!(reports.last().unwrap().1, r.bytes_before);
}

#[test]
fn a_cancelled_compaction_leaves_the_store_as_it_was_and_removes_its_file() {
    let d = Dir::new();
    let (p, s) = big_store(&d);
    let before = dump(&s);
    let bytes_before = std::fs::read(&p).unwrap();
    let files_before = names(&d);
    let (r, reports) = with_progress(Some(2), |p| s.compact_with(p));
    assert_aborted(r);
    assert_eq!(
        reports.len(),
        2,
        "it stopped at the next check: {reports:?}"
    );
    assert_eq!(
        std::fs::read(&p).unwrap(),
        bytes_before,
        "the store file is untouched"
    );
    assert_eq!(names(&d), files_before, "no compaction file is left");
    assert_eq!(dump(&s), before);
    // The store goes on: writes, and a later compaction that completes.
    s.put(b"after", b"x").unwrap();
    s.compact().unwrap();
    assert_eq!(s.get(b"after").unwrap().as_deref(), Some(&b"x"[..]));
    assert_eq!(s.stats().entries, 2001);
}

#[test]
fn a_compaction_cancelled_before_it_starts_does_nothing() {
    let d = Dir::new();
    let (p, s) = big_store(&d);
    let bytes_before = std::fs::read(&p).unwrap();
    let flag = AtomicBool::new(true);
    assert_aborted(s.compact_with(&Progress::none().cancel_flag(&flag)));
    assert_eq!(std::fs::read(&p).unwrap(), bytes_before);
}

#[test]
fn verify_reports_progress_and_stops_when_cancelled() {
    let d = Dir::new();
    let (_p, s) = big_store(&d);
    let (r, reports) = with_progress(None, |p| s.verify_with(p));
    let r = r.unwrap();
    assert_rises_to_the_end(&reports);
    assert_eq!(reports.last().unwrap().1, r.bytes);
    let (r, reports) = with_progress(Some(1), |p| s.verify_with(p));
    assert_aborted(r);
    assert_eq!(reports.len(), 1, "{reports:?}");
}

#[test]
fn a_cancelled_backup_removes_its_copy_and_writes_nothing_at_its_path() {
    let d = Dir::new();
    let (_p, s) = big_store(&d);
    let files_before = names(&d);
    let dest = d.path("copy.srd");
    let (r, reports) = with_progress(Some(2), |p| s.backup_with(&dest, p));
    assert_aborted(r);
    assert_eq!(reports.len(), 2);
    assert!(!dest.exists());
    assert_eq!(names(&d), files_before, "no temporary copy is left");
    // A backup that runs to the end reports it.
    let (r, reports) = with_progress(None, |p| s.backup_with(&dest, p));
    let r = r.unwrap();
    assert_rises_to_the_end(&reports);
    assert_eq!(
        reports.last().unwrap().1 + 24,
        r.bytes,
        "the copy adds its sync mark"
    );
    open(&dest).verify().unwrap();
}

#[test]
fn a_cancelled_repair_renames_nothing_and_removes_its_file() {
    let d = Dir::new();
    let (p, s) = big_store(&d);
    s.close().unwrap();
    drop(s);
    let bytes_before = std::fs::read(&p).unwrap();
    let files_before = names(&d);
    let opts = StoreOptions::new();
    let (r, reports) = with_progress(Some(2), |pr| repair_with(&p, &opts, pr));
    assert_aborted(r);
    assert_eq!(reports.len(), 2);
    assert_eq!(std::fs::read(&p).unwrap(), bytes_before);
    assert_eq!(names(&d), files_before, "no repair file, no .damaged link");
    // Run to the end, it repairs (and reports the end).
    let (r, reports) = with_progress(None, |pr| repair_with(&p, &opts, pr));
    assert_eq!(r.unwrap().live_keys, 2000);
    assert_rises_to_the_end(&reports);
}
