//! One writer per store (in this process and across processes), read-only followers, and
//! close/drop releasing the lock.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::*;
use simd_r_drive::{Error, Refresh, Store, StoreOptions};

const CHILD_ENV: &str = "SRD_LOCK_CHILD";

/// Runs in a child process (see `lock_conflicts_across_processes`); a no-op otherwise.
#[test]
fn child_process_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (mode, path) = spec.split_once(':').unwrap();
    match mode {
        "hold" => {
            let s = Store::open(path).unwrap();
            s.put(b"from-child", b"yes").unwrap();
            println!("LOCKED");
            // Hold the lock until the parent closes our stdin.
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        }
        "try" => match Store::open(path) {
            Err(Error::Locked { .. }) => println!("RESULT locked"),
            Err(e) => println!("RESULT error {e}"),
            Ok(_) => println!("RESULT opened"),
        },
        _ => unreachable!(),
    }
}

fn child(mode: &str, path: &std::path::Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{mode}:{}", path.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn read_until(child: &mut std::process::Child, prefix: &str) -> String {
    let out = child.stdout.as_mut().unwrap();
    let mut r = BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            r.read_line(&mut line).unwrap() > 0,
            "child exited before printing {prefix}"
        );
        // libtest prints "test child_process_entry ... " before the child's own output.
        if let Some(at) = line.find(prefix) {
            return line[at..].trim().to_string();
        }
    }
}

#[test]
fn a_second_writer_in_the_same_process_is_refused() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let a = open(&p);
    let e = Store::open(&p).unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e}");
    assert_eq!(e.code(), "ERR_STORE_LOCKED");
    // A reader is fine beside the writer.
    let r = StoreOptions::new().read_only(true).open(&p).unwrap();
    assert!(matches!(r.put(b"k", b"v"), Err(Error::ReadOnly)));
    a.close().unwrap();
    // Closing releases the lock even while handles into the store are alive.
    let b = open(&p);
    b.put(b"k", b"v").unwrap();
    let handle = b.get(b"k").unwrap().unwrap();
    drop(b);
    let c = open(&p);
    assert_eq!(&*handle, b"v");
    drop(c);
}

#[test]
fn lock_conflicts_across_processes() {
    let d = Dir::new();
    let p = d.path("s.srd");
    // A child holds the store; we cannot open it for writing, but can read it.
    let mut holder = child("hold", &p);
    read_until(&mut holder, "LOCKED");
    assert!(matches!(Store::open(&p), Err(Error::Locked { .. })));
    let r = StoreOptions::new().read_only(true).open(&p).unwrap();
    assert_eq!(&*r.get(b"from-child").unwrap().unwrap(), b"yes");
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    // We hold it; a child cannot.
    let s = open(&p);
    let mut t = child("try", &p);
    assert_eq!(read_until(&mut t, "RESULT"), "RESULT locked");
    assert!(t.wait().unwrap().success());
    drop(s);
    let mut t = child("try", &p);
    assert_eq!(read_until(&mut t, "RESULT"), "RESULT opened");
    t.wait().unwrap();
}

#[test]
fn a_killed_writer_releases_its_lock() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let mut holder = child("hold", &p);
    read_until(&mut holder, "LOCKED");
    holder.kill().unwrap();
    holder.wait().unwrap();
    let s = open(&p);
    assert_eq!(&*s.get(b"from-child").unwrap().unwrap(), b"yes");
}

#[test]
fn read_only_follower_sees_appends_and_survives_compaction() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let w = open(&p);
    w.put(b"a", b"1").unwrap();
    let r = StoreOptions::new().read_only(true).open(&p).unwrap();
    assert_eq!(&*r.get(b"a").unwrap().unwrap(), b"1");
    w.put(b"b", b"2").unwrap();
    w.put(b"a", b"one").unwrap();
    assert!(
        r.get(b"b").unwrap().is_none(),
        "followers catch up on refresh()"
    );
    assert_eq!(r.refresh().unwrap(), Refresh::Appended(2));
    assert_eq!(r.refresh().unwrap(), Refresh::Unchanged);
    assert_eq!(&*r.get(b"b").unwrap().unwrap(), b"2");
    let old = r.get(b"a").unwrap().unwrap();
    assert_eq!(&*old, b"one");
    // Grow past the follower's mapping, then compact: the file is replaced.
    for i in 0..3000u32 {
        w.put(&i.to_le_bytes(), &common::bytes(i as u64, 200))
            .unwrap();
    }
    w.delete(b"b").unwrap();
    w.compact().unwrap();
    w.put(b"after", b"compaction").unwrap();
    assert_eq!(r.refresh().unwrap(), Refresh::Replaced);
    assert!(r.get(b"b").unwrap().is_none());
    assert_eq!(&*r.get(b"after").unwrap().unwrap(), b"compaction");
    assert_eq!(
        &*r.get(&7u32.to_le_bytes()).unwrap().unwrap(),
        &common::bytes(7, 200)[..]
    );
    assert_eq!(r.len(), w.len());
    assert_eq!(&*old, b"one");
    // A batch caught half-written is left for the next refresh.
    w.put(b"c", b"3").unwrap();
    let len = std::fs::metadata(&p).unwrap().len();
    let f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    std::io::Write::write_all(&mut &f, &[1, 0, 0, 0, 0]).unwrap(); // junk past the end
    assert_eq!(r.refresh().unwrap(), Refresh::Appended(1));
    assert_eq!(&*r.get(b"c").unwrap().unwrap(), b"3");
    drop(f);
    assert!(len > 0);
}

#[test]
fn many_threads_read_while_one_writes_and_compacts() {
    let d = Dir::new();
    let s = Arc::new(open(&d.path("s.srd")));
    for i in 0..500u32 {
        s.put(&i.to_le_bytes(), &common::bytes(i as u64, 64))
            .unwrap();
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let s = s.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for i in 0..500u32 {
                        let v = s.get(&i.to_le_bytes()).unwrap().unwrap();
                        // Either generation of the value, never anything else.
                        assert!(v.len() == 64 || v.len() == 65, "len {}", v.len());
                        assert_eq!(&v[..64], &common::bytes(i as u64, 64)[..]);
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    for round in 0..20u32 {
        for i in (round % 5..500).step_by(5) {
            let mut v = common::bytes(i as u64, 64);
            v.push(round as u8);
            s.put(&i.to_le_bytes(), &v).unwrap();
        }
        s.compact().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(reads > 0);
}

#[test]
fn a_second_writer_through_a_hard_link_is_refused() {
    let d = Dir::new();
    let a = d.path("a.srd");
    let b = d.path("b.srd");
    let w = open(&a);
    w.put(b"k", b"v").unwrap();
    std::fs::hard_link(&a, &b).unwrap();
    assert!(matches!(Store::open(&b), Err(Error::Locked { .. })));
    // Readers are welcome through either name.
    let r = StoreOptions::new().read_only(true).open(&b).unwrap();
    assert_eq!(&*r.get(b"k").unwrap().unwrap(), b"v");
    drop(r);
    // After compaction the writer holds the new file the same way; the old name `b` now
    // names the old file, which nobody writes any more.
    w.compact().unwrap();
    w.put(b"k2", b"v2").unwrap();
    let other = d.path("c.srd");
    std::fs::hard_link(&a, &other).unwrap();
    assert!(matches!(Store::open(&other), Err(Error::Locked { .. })));
    w.close().unwrap();
    let again = open(&other);
    assert_eq!(&*again.get(b"k2").unwrap().unwrap(), b"v2");
}
