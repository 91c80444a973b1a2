//! Files, paths and locks: what an open does to what is at the path, the store's modes and
//! owners, relative paths, side files of a live writer, a store file moved while open, and
//! the operating-system detail that I/O errors carry.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use common::*;
use simd_r_drive::{Store, StoreOptions};

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o7777
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn is_root() -> bool {
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `f` on a thread and fails the test if it does not return within five seconds.
fn within_5s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| panic!("{what} hung"))
}

// ----- item 4: relative paths -----

#[test]
fn a_relative_path_is_resolved_once_at_open() {
    // The only test of this binary that changes the current directory; the others use
    // absolute paths only.
    let d = Dir::new();
    let x1 = d.path("x1");
    let x2 = d.path("x2");
    std::fs::create_dir(&x1).unwrap();
    std::fs::create_dir(&x2).unwrap();
    let before = std::env::current_dir().unwrap();
    std::env::set_current_dir(&x1).unwrap();
    let opened = StoreOptions::new().checkpoint_min_keys(1).open("rel.srd");
    std::env::set_current_dir(&x2).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let s = opened.unwrap();
        assert!(s.path().is_absolute(), "{}", s.path().display());
        s.put(b"before", b"1").unwrap();
        s.put(b"before", b"2").unwrap();
        s.compact().unwrap();
        s.put(b"after", b"3").unwrap();
        s.close().unwrap();
    }));
    std::env::set_current_dir(&before).unwrap();
    result.unwrap();
    assert_eq!(names_in(&x2), Vec::<String>::new());
    assert!(names_in(&x1).contains(&"rel.srd".to_string()));
    assert!(names_in(&x1).contains(&"rel.srd.lock".to_string()));
    let s = open(&x1.join("rel.srd"));
    assert_eq!(s.get(b"before").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(s.get(b"after").unwrap().as_deref(), Some(&b"3"[..]));
}

// ----- item 6: what is at the path -----

#[test]
fn a_character_device_is_refused_and_left_a_device() {
    use std::os::unix::fs::FileTypeExt;
    // The null device (1, 3), as a node of its own in a temporary directory: a regression
    // must not destroy the machine's /dev/null. Without the right to make device nodes,
    // /dev/null itself (a writable open of which then fails anyway).
    let d = Dir::new();
    let node = d.path("null");
    let c = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path that lives for the call.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    let p = if made == 0 {
        node
    } else {
        Path::new("/dev/null").to_path_buf()
    };
    for ro in [false, true] {
        let e = StoreOptions::new().read_only(ro).open(&p).unwrap_err();
        assert_eq!(e.code(), "ERR_NOT_A_STORE", "{e}");
        assert!(e.to_string().contains("character device"), "{e}");
        let m = std::fs::metadata(&p).unwrap();
        assert!(m.file_type().is_char_device());
    }
    assert!(!Path::new(&format!("{}.lock", p.display())).exists());
    assert!(!Path::new("/dev/null.lock").exists());
}

#[test]
fn a_fifo_is_refused_at_once() {
    let d = Dir::new();
    let p = d.path("pipe.srd");
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path that lives for the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    for ro in [false, true] {
        let q = p.clone();
        let e = within_5s("opening a FIFO", move || {
            StoreOptions::new().read_only(ro).open(&q).unwrap_err()
        });
        assert_eq!(e.code(), "ERR_NOT_A_STORE", "{e}");
        assert!(e.to_string().contains("FIFO"), "{e}");
    }
    // Repair must not hang on it either.
    let q = p.clone();
    let e = within_5s("repairing a FIFO", move || {
        simd_r_drive::repair(&q, &StoreOptions::new()).unwrap_err()
    });
    assert_eq!(e.code(), "ERR_NOT_A_STORE");
    assert_eq!(names_in(d.dir.path()), vec!["pipe.srd".to_string()]);
}

#[test]
fn a_directory_is_refused() {
    let d = Dir::new();
    let p = d.path("dir.srd");
    std::fs::create_dir(&p).unwrap();
    for ro in [false, true] {
        let e = StoreOptions::new().read_only(ro).open(&p).unwrap_err();
        assert_eq!(e.code(), "ERR_NOT_A_STORE", "{e}");
        assert!(e.to_string().contains("directory"), "{e}");
    }
    assert_eq!(names_in(d.dir.path()), vec!["dir.srd".to_string()]);
    assert!(names_in(&p).is_empty());
}

#[test]
fn an_empty_file_becomes_a_store_in_place() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let link = d.path("link.srd");
    std::fs::write(&p, b"").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::hard_link(&p, &link).unwrap();
    let ino = std::fs::metadata(&p).unwrap().ino();
    // Read-only, it is refused, and the message says what a writable open does.
    let e = StoreOptions::new().read_only(true).open(&p).unwrap_err();
    assert_eq!(e.code(), "ERR_NOT_A_STORE");
    assert!(e.to_string().contains("empty file"), "{e}");
    assert!(e.to_string().contains("writable open"), "{e}");
    let s = open(&p);
    assert!(s.recovery().created);
    s.put(b"k", b"v").unwrap();
    s.close().unwrap();
    let m = std::fs::metadata(&p).unwrap();
    assert_eq!(m.ino(), ino);
    assert_eq!(m.mode() & 0o7777, 0o600);
    assert_eq!(m.nlink(), 2);
    // The hard link sees the store.
    let s = StoreOptions::new().read_only(true).open(&link).unwrap();
    assert_eq!(s.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn new_files_get_the_mode_option() {
    let d = Dir::new();
    let p = d.path("secret.srd");
    let s = StoreOptions::new()
        .mode(0o600)
        .checkpoint_min_keys(1)
        .open(&p)
        .unwrap();
    s.put(b"k", b"v").unwrap();
    s.close().unwrap();
    assert_eq!(mode_of(&p), 0o600);
    assert_eq!(mode_of(&d.path("secret.srd.lock")), 0o600);
    assert_eq!(mode_of(&d.path("secret.srd.srd-index")), 0o600);
}

// ----- item 18: compaction and repair keep mode and owner -----

#[test]
fn compaction_repair_and_checkpoints_keep_mode_and_owner() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let index = d.path("s.srd.srd-index");
    {
        let s = open(&p);
        s.put(b"k", b"v").unwrap();
        s.close().unwrap();
    }
    let cases: &[(u32, Option<(u32, u32)>)] = if is_root() {
        &[(0o600, Some((12345, 12345))), (0o660, Some((0, 4242)))]
    } else {
        &[(0o600, None), (0o660, None)]
    };
    for &(mode, owner) in cases {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        }
        let want = |f: &Path, what: &str| {
            let m = std::fs::metadata(f).unwrap();
            assert_eq!(m.mode() & 0o7777, mode, "mode after {what}");
            if let Some((uid, gid)) = owner {
                assert_eq!((m.uid(), m.gid()), (uid, gid), "owner after {what}");
            }
        };
        let s = StoreOptions::new().checkpoint_min_keys(1).open(&p).unwrap();
        s.put(b"k", b"w").unwrap();
        let ino = s.stats().generation;
        s.compact().unwrap();
        assert_eq!(s.stats().generation, ino + 1);
        want(&p, "compact");
        s.close().unwrap();
        want(&index, "the index checkpoint");
        simd_r_drive::repair(&p, &StoreOptions::new()).unwrap();
        want(&p, "repair");
        assert_eq!(
            open(&p).get(b"k").unwrap().as_deref(),
            Some(&b"w"[..]),
            "the data survived"
        );
    }
}

// ----- item 19: a second writer touches nothing of the first's -----

#[test]
fn a_second_writer_fails_before_touching_side_files() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let a = open(&p);
    a.put(b"k", b"1").unwrap();
    a.put(b"k", b"2").unwrap();
    // A cleanup script removes the lock file; work in progress of A lies beside the store.
    std::fs::remove_file(d.path("s.srd.lock")).unwrap();
    let side = [
        "s.srd.compact",
        "s.srd.upload-1-x",
        "s.srd.srd-index.tmp",
        "s.srd.init",
        "s.srd.repair",
    ];
    for f in side {
        std::fs::write(d.path(f), b"in progress").unwrap();
    }
    let e = StoreOptions::new().open(&p).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_LOCKED", "{e}");
    let e = simd_r_drive::repair(&p, &StoreOptions::new()).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_LOCKED", "{e}");
    for f in side {
        assert_eq!(std::fs::read(d.path(f)).unwrap(), b"in progress", "{f}");
    }
    a.compact().unwrap();
    a.put(b"after", b"3").unwrap();
    a.close().unwrap();
    let s = open(&p);
    assert_eq!(s.get(b"k").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(s.get(b"after").unwrap().as_deref(), Some(&b"3"[..]));
}

// ----- item 20: the path no longer names the store -----

#[test]
fn compaction_refuses_a_store_renamed_away() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let moved = d.path("moved.srd");
    let s = open(&p);
    s.put(b"k", b"1").unwrap();
    s.put(b"k", b"2").unwrap();
    std::fs::rename(&p, &moved).unwrap();
    let e = s.compact().unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_MOVED", "{e}");
    assert_eq!(e.code(), "ERR_STORE_MOVED");
    assert!(!p.exists(), "nothing was recreated at the path");
    assert!(!d.path("s.srd.compact").exists());
    // Not poisoned: the store goes on in the file it has open.
    s.put(b"k2", b"3").unwrap();
    s.close().unwrap();
    assert!(!p.exists());
    let s = open(&moved);
    assert_eq!(s.get(b"k").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(s.get(b"k2").unwrap().as_deref(), Some(&b"3"[..]));
}

#[test]
fn compaction_leaves_a_foreign_store_at_the_path_alone() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let other = d.path("other.srd");
    {
        let o = open(&other);
        o.put(b"foreign", b"x").unwrap();
        o.close().unwrap();
    }
    let foreign = std::fs::read(&other).unwrap();
    let s = StoreOptions::new().checkpoint_min_keys(1).open(&p).unwrap();
    s.put(b"k", b"1").unwrap();
    std::fs::rename(&other, &p).unwrap();
    let e = s.compact().unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_MOVED", "{e}");
    s.put(b"k", b"2").unwrap();
    // Closing writes no index checkpoint beside the foreign file either.
    s.close().unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), foreign);
    assert!(!d.path("s.srd.srd-index").exists());
}

#[test]
fn a_writer_whose_directory_was_recreated_touches_nothing_there() {
    let d = Dir::new();
    let dir = d.path("sub");
    std::fs::create_dir(&dir).unwrap();
    let p = dir.join("s.srd");
    let a = open(&p);
    a.put(b"k", b"1").unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir(&dir).unwrap();
    let b = open(&p);
    b.put(b"b", b"2").unwrap();
    std::fs::write(dir.join("s.srd.compact"), b"b's work").unwrap();
    let e = a.compact().unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_MOVED", "{e}");
    assert_eq!(
        std::fs::read(dir.join("s.srd.compact")).unwrap(),
        b"b's work"
    );
    a.close().unwrap();
    assert_eq!(b.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
    b.compact().unwrap();
    b.close().unwrap();
}

// ----- item 21: I/O errors keep their cause -----

#[test]
fn a_missing_store_with_create_false_names_its_cause_and_leaves_no_lock() {
    let d = Dir::new();
    let p = d.path("missing.srd");
    let e = StoreOptions::new().create(false).open(&p).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_IO");
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    assert_eq!(e.syscall(), Some("open"));
    assert_eq!(e.path(), Some(p.as_path()));
    assert!(e.to_string().contains(p.to_str().unwrap()), "{e}");
    assert!(
        names_in(d.dir.path()).is_empty(),
        "{:?}",
        names_in(d.dir.path())
    );
}

/// A read-only tmpfs mount holding one store, or `None` where mounting is not allowed.
struct RoMount(std::path::PathBuf, #[allow(dead_code)] Dir);

impl RoMount {
    fn new() -> Option<RoMount> {
        let d = Dir::new();
        let m = d.path("ro");
        std::fs::create_dir(&m).unwrap();
        let run = |args: &[&str]| {
            std::process::Command::new("mount")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !run(&["-t", "tmpfs", "-o", "size=1m", "tmpfs", m.to_str().unwrap()]) {
            eprintln!("skipped: cannot mount a tmpfs here");
            return None;
        }
        let s = open(&m.join("s.srd"));
        s.put(b"k", b"v").unwrap();
        s.close().unwrap();
        drop(s);
        if !run(&["-o", "remount,ro", m.to_str().unwrap()]) {
            let _ = run(&["-u", m.to_str().unwrap()]);
            eprintln!("skipped: cannot remount the tmpfs read-only");
            return None;
        }
        Some(RoMount(m, d))
    }
}

impl Drop for RoMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_writable_open_without_write_permission_says_to_open_read_only() {
    if is_root() {
        // Root is not refused for lack of permission (the tmpfs test below covers the
        // advice); the JavaScript tests run a child as another user.
        return;
    }
    let d = Dir::new();
    let p = d.path("s.srd");
    open(&p).close().unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
    let e = Store::open(&p).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
    assert!(e.to_string().contains("readOnly: true"), "{e}");
    // A read-only open that is refused is not told to open read-only.
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    let e = StoreOptions::new().read_only(true).open(&p).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
    assert!(!e.to_string().contains("readOnly: true"), "{e}");
}

#[test]
fn a_writable_open_on_a_read_only_mount_says_what_to_do() {
    let Some(m) = RoMount::new() else { return };
    let p = m.0.join("s.srd");
    let e = Store::open(&p).unwrap_err();
    assert_eq!(e.code(), "ERR_STORE_IO");
    assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    assert!(e.syscall().is_some());
    assert!(e.to_string().contains("readOnly: true"), "{e}");
    let s = StoreOptions::new().read_only(true).open(&p).unwrap();
    assert_eq!(s.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
}
