// Shared helpers for the integration tests (included with `mod common;`).
#![allow(dead_code)]

use std::path::PathBuf;

use simd_r_drive::{Op, Store, StoreOptions};

pub struct Dir {
    pub dir: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub fn open(p: &std::path::Path) -> Store {
    StoreOptions::new().open(p).expect("open")
}

/// The operation a test's `(key, Some(value) | None)` pair stands for: a put of `value`, or
/// a delete of `key` when there is no value.
pub fn op<'a>(key: &'a [u8], value: Option<&'a [u8]>) -> Op<'a> {
    match value {
        Some(value) => Op::Put { key, value },
        None => Op::Delete { key },
    }
}

/// The operations of `(key, Some(value) | None)` pairs (see [`op`]), borrowing from them.
pub fn as_ops(items: &[(Vec<u8>, Option<Vec<u8>>)]) -> Vec<Op<'_>> {
    items.iter().map(|(k, v)| op(k, v.as_deref())).collect()
}

/// A deterministic pseudo-random byte string.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Every live (key, value) of a store, sorted.
pub fn dump(s: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v: Vec<_> = s
        .iter()
        .unwrap()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    v.sort();
    v
}

/// `file` (what a writable open left) less the sync mark that the open appends right after
/// `end`, the end of the data it kept, when the log did not already end with one; checked
/// to be exactly that mark.
#[allow(dead_code)]
pub fn without_open_mark(mut file: Vec<u8>, end: usize) -> Vec<u8> {
    if file.len() == end + 24 {
        assert_eq!(file[end + 8], 4, "only a sync mark follows the data kept");
        assert_eq!(
            &file[end + 16..],
            &(end as u64).to_le_bytes(),
            "and it records that data as durable"
        );
        file.truncate(end);
    }
    file
}

/// Runs the test `name` of this test binary again as a child process with `var=value` in its
/// environment (the child sees it and plays its part), its stdout piped for its
/// acknowledgements. The kill -9 tests kill it at a moment they choose.
#[allow(dead_code)]
pub fn spawn_test_child(name: &str, var: &str, value: String) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture"])
        .env(var, value)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// The next number of the xorshift generator whose state is `state` (the kill -9 tests'
/// choice of when to kill).
#[allow(dead_code)]
pub fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
