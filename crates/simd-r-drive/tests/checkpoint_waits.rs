//! Reads and writes do not wait for the index checkpoint's file write: a backend holds that
//! write until the test lets it go, and reads, writes and syncs made meanwhile on other
//! threads must finish first. The checkpoint still describes one end of the log exactly.

mod common;

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{bytes, Dir};
use simd_r_drive::io::{Backend, OsBackend};
use simd_r_drive::{Store, StoreOptions};

/// How long a thread may take before the test calls it stuck (they take microseconds when
/// they do not wait for the checkpoint).
const STUCK: Duration = Duration::from_secs(10);

/// A real backend whose checkpoint write (the one that starts with the checkpoint's magic)
/// waits while the gate is closed. Counts `sync_data` calls.
#[derive(Debug, Default)]
struct Gate {
    closed: Mutex<bool>,
    opened: Condvar,
    checkpoint_writes: AtomicU64,
    syncs: AtomicU64,
}

impl Gate {
    fn close(&self) {
        *self.closed.lock().unwrap() = true;
    }

    fn open(&self) {
        *self.closed.lock().unwrap() = false;
        self.opened.notify_all();
    }

    /// Waits until `n` checkpoint writes have started.
    fn wait_for_checkpoint_writes(&self, n: u64) {
        let t = Instant::now();
        while self.checkpoint_writes.load(Ordering::SeqCst) < n {
            assert!(t.elapsed() < STUCK, "the checkpoint write never started");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits until `sync_data` has been called more than `n` times.
    fn wait_for_syncs_past(&self, n: u64) {
        let t = Instant::now();
        while self.syncs.load(Ordering::SeqCst) <= n {
            assert!(t.elapsed() < STUCK, "no sync was made");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Backend for Gate {
    fn write_at(&self, file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
        if buf.starts_with(b"SRDINDEX") {
            self.checkpoint_writes.fetch_add(1, Ordering::SeqCst);
            let closed = self.closed.lock().unwrap();
            // Bounded, so that a test that fails cannot hang.
            let _ = self
                .opened
                .wait_timeout_while(closed, 3 * STUCK, |c| *c)
                .unwrap();
        }
        OsBackend.write_at(file, buf, offset)
    }

    fn sync_data(&self, file: &File) -> std::io::Result<()> {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        OsBackend.sync_data(file)
    }

    fn set_len(&self, file: &File, len: u64) -> std::io::Result<()> {
        OsBackend.set_len(file, len)
    }

    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        OsBackend.rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        OsBackend.sync_dir(dir)
    }
}

/// Opens the gate when dropped, so that a failing test lets its threads finish.
struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

const KEYS: u64 = 2000;

fn key(i: u64) -> Vec<u8> {
    format!("key-{i:05}").into_bytes()
}

fn opts(gate: &Arc<Gate>) -> StoreOptions {
    StoreOptions::new()
        .checkpoint_min_keys(1)
        .backend(gate.clone())
}

/// A store of `KEYS` keys whose checkpoint is being written, held by the closed gate.
fn checkpoint_held(p: &Path) -> (Arc<Gate>, Arc<Store>, std::thread::JoinHandle<bool>) {
    let gate = Arc::new(Gate::default());
    let s = Arc::new(opts(&gate).open(p).unwrap());
    for i in 0..KEYS {
        s.put(&key(i), &bytes(i, 40)).unwrap();
    }
    gate.close();
    let checkpointer = {
        let s = s.clone();
        std::thread::spawn(move || s.checkpoint().unwrap())
    };
    gate.wait_for_checkpoint_writes(1);
    (gate, s, checkpointer)
}

/// Runs `f` on a thread of its own and returns its result, or `None` if it took longer
/// than [`STUCK`].
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

#[test]
fn a_get_does_not_wait_for_the_checkpoint_file_write_behind_a_queued_sync() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let (gate, s, checkpointer) = checkpoint_held(&p);
    let _open = OpenOnDrop(gate.clone());
    // A sync waiting for the next commit takes the state lock for writing once its
    // fdatasync returns. The state lock is write-preferring: had the checkpoint kept the
    // state lock for reading while its file write is held, that sync would queue behind it,
    // and every read after it would queue behind the sync.
    let syncs = gate.syncs.load(Ordering::SeqCst);
    let next = s.stats().seq + 1;
    let syncer = {
        let s = s.clone();
        within(move || s.wait_durable(next))
    };
    gate.wait_for_syncs_past(syncs);
    // Time for the sync to return and ask for the state lock.
    std::thread::sleep(Duration::from_millis(100));
    let reader = {
        let s = s.clone();
        within(move || s.get(&key(7)).unwrap().map(|v| v.to_vec()))
    };
    let got = reader.recv_timeout(STUCK);
    assert_eq!(
        got.expect("get() waited for the checkpoint's file write"),
        Some(bytes(7, 40))
    );
    syncer
        .recv_timeout(STUCK)
        .expect("the sync waited for the checkpoint's file write")
        .unwrap();
    assert_eq!(gate.checkpoint_writes.load(Ordering::SeqCst), 1);
    gate.open();
    assert!(checkpointer.join().unwrap(), "the checkpoint was written");
}

#[test]
fn writes_do_not_wait_for_the_checkpoint_file_write_and_are_not_in_it() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let (gate, s, checkpointer) = checkpoint_held(&p);
    let _open = OpenOnDrop(gate.clone());
    let writer = {
        let s = s.clone();
        within(move || {
            s.put(b"late", b"after the copy").unwrap();
            s.delete(&key(3)).unwrap();
            s.flush().unwrap();
        })
    };
    writer
        .recv_timeout(STUCK)
        .expect("a write waited for the checkpoint's file write");
    assert_eq!(
        s.get(b"late").unwrap().unwrap().as_slice(),
        b"after the copy"
    );
    gate.open();
    assert!(checkpointer.join().unwrap(), "the checkpoint was written");
    drop(Arc::try_unwrap(s).expect("no other thread has the store"));
    // The checkpoint holds the index as it was when copied; the next open reads the two
    // later writes (and the sync marks around them) from the log after its end.
    let s = StoreOptions::new().open(&p).unwrap();
    let rec = s.recovery();
    assert_eq!(rec.checkpoint_keys, Some(KEYS));
    assert!(rec.entries >= 2, "{rec:?}");
    assert_eq!(s.len(), KEYS as usize);
    assert_eq!(
        s.get(b"late").unwrap().unwrap().as_slice(),
        b"after the copy"
    );
    assert!(s.get(&key(3)).unwrap().is_none());
    for i in (0..KEYS).filter(|&i| i != 3) {
        assert_eq!(
            s.get(&key(i)).unwrap().unwrap().as_slice(),
            &bytes(i, 40)[..]
        );
    }
    s.verify().unwrap();
}

#[test]
fn a_compaction_during_the_checkpoint_file_write_leaves_no_checkpoint_of_the_old_file() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let idx = {
        let mut s = p.as_os_str().to_owned();
        s.push(".srd-index");
        std::path::PathBuf::from(s)
    };
    let (gate, s, checkpointer) = checkpoint_held(&p);
    let _open = OpenOnDrop(gate.clone());
    for i in 0..KEYS / 2 {
        s.put(&key(i), &bytes(i + KEYS, 40)).unwrap();
    }
    let compactor = {
        let s = s.clone();
        within(move || s.compact().map(|r| r.reclaimed_bytes))
    };
    // The compaction swaps the file without waiting for the checkpoint...
    let t = Instant::now();
    while s.stats().generation == 0 && t.elapsed() < STUCK {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        s.stats().generation,
        1,
        "the compaction waited for the checkpoint"
    );
    // ...and, once the checkpoint of the old file is in place, removes it.
    gate.open();
    assert!(
        !checkpointer.join().unwrap(),
        "a checkpoint of the replaced file"
    );
    let reclaimed = compactor
        .recv_timeout(STUCK)
        .expect("compaction stuck")
        .unwrap();
    assert!(reclaimed > 0);
    // What is there now is the new file's index (compaction writes it with the new file):
    // its generation identifier is the new file's.
    let (ib, sb) = (std::fs::read(&idx).unwrap(), std::fs::read(&p).unwrap());
    assert_eq!(
        ib[16..32],
        sb[20..36],
        "a checkpoint of the replaced file was left"
    );
    // Later checkpoints of the new file are written as usual.
    s.put(b"one more", b"1").unwrap();
    assert!(s.checkpoint().unwrap());
    assert!(idx.exists());
    drop(Arc::try_unwrap(s).expect("no other thread has the store"));
    let s = StoreOptions::new().open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, Some(KEYS + 1));
    for i in 0..KEYS {
        let seed = if i < KEYS / 2 { i + KEYS } else { i };
        assert_eq!(
            s.get(&key(i)).unwrap().unwrap().as_slice(),
            &bytes(seed, 40)[..]
        );
    }
}
