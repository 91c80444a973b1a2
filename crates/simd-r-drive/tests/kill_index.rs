//! `kill -9` of a writer while it merges its index, saves delta files and compacts: every
//! write acknowledged before the kill is there after it, the index files left behind are
//! either used (and agree with the log) or ignored, and `verify()` passes.
//!
//! The writer is this test binary run again as a child (`KILL_INDEX_CHILD` names the
//! store); it prints each acknowledged key on its own line before it goes on.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use simd_r_drive::{Op, StoreOptions};

const CHILD: &str = "KILL_INDEX_CHILD";

fn opts() -> StoreOptions {
    StoreOptions::new().checkpoint_min_keys(1)
}

/// The writer: batches of puts and deletes, an index merge every few batches, a close and
/// reopen (a delta file) now and then, a compaction now and then; runs until killed.
fn child(path: &str, round: u64) {
    let mut out = std::io::stdout().lock();
    let mut s = opts().open(path).expect("open");
    let mut n = 0u64;
    loop {
        n += 1;
        let keys: Vec<Vec<u8>> = (0..50)
            .map(|i| format!("r{round}-b{n}-{i}").into_bytes())
            .collect();
        let value = format!("value of round {round} batch {n}").into_bytes();
        let ops: Vec<Op<'_>> = keys
            .iter()
            .map(|k| Op::Put {
                key: k,
                value: &value,
            })
            .collect();
        s.write(&ops).expect("write");
        writeln!(out, "ack r{round}-b{n}").unwrap();
        out.flush().unwrap();
        match n % 13 {
            3 | 8 => {
                s.checkpoint().expect("merge");
            }
            5 => {
                s.close().expect("close");
                drop(s);
                s = opts().open(path).expect("reopen");
            }
            11 => {
                s.compact().expect("compact");
            }
            _ => {}
        }
    }
}

#[test]
fn acknowledged_writes_survive_kill_9_during_index_merges() {
    if let Ok(spec) = std::env::var(CHILD) {
        let (path, round) = spec.split_once('|').expect("path|round");
        child(path, round.parse().unwrap());
        return;
    }
    let d = common::Dir::new();
    let p = d.path("s.srd");
    let mut acked: Vec<String> = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let rounds = 12u64;
    let mut used_index = 0;
    for round in 0..rounds {
        let mut child = common::spawn_test_child(
            "acknowledged_writes_survive_kill_9_during_index_merges",
            CHILD,
            format!("{}|{round}", p.display()),
        );
        let lines = BufReader::new(child.stdout.take().unwrap());
        // Kill after a pseudo-random number of acknowledged batches (or time).
        let after = 5 + common::xorshift(&mut rng) % 60;
        let started = Instant::now();
        let mut seen = 0;
        // Kept open until the kill, so that the child never sees a closed pipe.
        let mut it = lines.lines();
        for line in it.by_ref() {
            let line = line.unwrap();
            if let Some(b) = line.strip_prefix("ack ") {
                acked.push(b.to_string());
                seen += 1;
            }
            if seen >= after || started.elapsed() > Duration::from_secs(20) {
                break;
            }
        }
        // SAFETY: plain system call on the child's pid, which is still a child of this
        // process (not yet waited for), so the pid cannot have been reused.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        drop(it);
        let s = opts().open(&p).unwrap();
        if s.recovery().checkpoint_keys.is_some() {
            used_index += 1;
        }
        for b in &acked {
            let (r, n) = b.split_once("-b").unwrap();
            let value = format!("value of round {} batch {n}", &r[1..]);
            for i in [0, 49] {
                let k = format!("{b}-{i}");
                assert_eq!(
                    s.get(k.as_bytes()).unwrap().as_deref(),
                    Some(value.as_bytes()),
                    "round {round}: {k} was acknowledged"
                );
            }
        }
        s.verify().unwrap();
        drop(s);
    }
    eprintln!(
        "{rounds} kills, {} acknowledged batches, {used_index} reopens through the index file",
        acked.len()
    );
    assert!(used_index >= rounds / 2, "{used_index} of {rounds}");
}
