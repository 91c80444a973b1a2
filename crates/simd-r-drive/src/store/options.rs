//! How to open a store: [`StoreOptions`].

use std::path::Path;
use std::sync::Arc;

use crate::error::Result;
use crate::files;
use crate::hash::KeyHasher;
use crate::io::{Backend, OsBackend};

use super::Store;

/// How to open a store. `StoreOptions::new().open(path)` opens for writing, creating the
/// file if it does not exist.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub(crate) read_only: bool,
    pub(crate) sync: bool,
    pub(crate) create: bool,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) hasher: Option<KeyHasher>,
    pub(crate) preallocate: u64,
    pub(crate) zeros_in_background: bool,
    pub(crate) checkpoint_min_keys: usize,
    pub(crate) mode: u32,
    pub(crate) verify_full: bool,
    pub(crate) lock_timeout: Option<std::time::Duration>,
    pub(crate) clock: Option<super::ClockFn>,
    pub(crate) auto_compact: Option<crate::auto_policy::AutoCompactPolicy>,
    pub(crate) max_bytes: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            read_only: false,
            sync: false,
            create: true,
            backend: Arc::new(OsBackend),
            hasher: None,
            preallocate: 0,
            zeros_in_background: false,
            checkpoint_min_keys: DEFAULT_CHECKPOINT_MIN_KEYS,
            mode: files::DEFAULT_MODE,
            verify_full: false,
            lock_timeout: None,
            clock: None,
            auto_compact: Some(crate::auto_policy::AutoCompactPolicy::default()),
            max_bytes: None,
        }
    }
}

impl StoreOptions {
    /// Defaults: writable, created if missing, commits acknowledged once the OS has them.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens without writing: takes no writer lock, so it works beside a writer in
    /// another process, and sees that writer's appends after [`Store::refresh`].
    pub fn read_only(mut self, on: bool) -> Self {
        self.read_only = on;
        self
    }

    /// Makes every commit durable (`fdatasync`) before it is acknowledged. Concurrent
    /// commits share one sync.
    pub fn sync(mut self, on: bool) -> Self {
        self.sync = on;
        self
    }

    /// Extends the file with zeros `bytes` at a time ahead of the data (default 0: off).
    ///
    /// Appends then overwrite space the file already has, so an `fdatasync` does not also
    /// have to commit a new file size to the file system's journal: durable commits get
    /// cheaper. The zeros are not part of the store: recovery drops a zero-filled tail, and
    /// [`Store::close`] trims it.
    pub fn preallocate(mut self, bytes: u64) -> Self {
        self.preallocate = bytes;
        self
    }

    /// Leaves the preallocated zeros (see [`StoreOptions::preallocate`]) to the caller's
    /// background thread (default false: the committing writer writes them, up to two steps
    /// of them in one commit). A commit then writes only its own bytes; the caller asks
    /// [`Store::claim_zeros`] after its commits and, on `true`, runs
    /// [`Store::extend_zeros`] on a thread of its own. For bindings whose writers run on an
    /// event loop, where a megabyte of zeros holds the loop for a millisecond or more.
    pub fn zeros_in_background(mut self, on: bool) -> Self {
        self.zeros_in_background = on;
        self
    }

    /// Keeps the index in a file beside the store (`<store>.srd-index`) once the store has
    /// at least `keys` live keys (default 50,000): written when the store is closed (or
    /// compacted, or by [`Store::checkpoint`]) and brought up to date as writes accumulate
    /// ([`Store::index_merge_due`]), so that an open maps it in constant time and replays
    /// only the log written after it, instead of reading the whole log. `usize::MAX` turns
    /// index files off for new stores; opens still use one that is there and matches, and
    /// keep it up to date.
    pub fn checkpoint_min_keys(mut self, keys: usize) -> Self {
        self.checkpoint_min_keys = keys;
        self
    }

    /// Permission bits of the files this open creates: a new store file and its lock file
    /// (default `0o666`; the process's umask applies, as to any new file, so usually
    /// `0o644`). `0o600` keeps a store of secrets private to its owner. An existing store
    /// keeps its mode, and the files that later replace it (compaction, repair), its index
    /// checkpoint and a saved copy of a dropped tail (`<store>.torn-N`) get the mode,
    /// owner and group of the store file itself.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o7777;
        self
    }

    /// Opens as strictly as a store without an index file (default `false`): ignores the
    /// index file, reads the whole log and verifies every entry's checksum before the open
    /// returns, which takes time in proportion to the store's size. The default open checks
    /// in constant time that the index file belongs to this log (generation identifier, the
    /// sync mark at its end, a hash of the last 64 KiB before it), then verifies each entry
    /// of up to 64 KiB on its first read and leaves longer ones to [`Store::verify`] and the
    /// background verifier ([`Store::verify_in_background`]).
    pub fn verify_full(mut self, on: bool) -> Self {
        self.verify_full = on;
        self
    }

    /// Whether a missing file is created (default `true`). An existing empty file is not
    /// missing: a writable open makes it a store in place, whatever this says.
    pub fn create(mut self, on: bool) -> Self {
        self.create = on;
        self
    }

    /// Routes every mutating file-system call through `backend` (fault injection in tests).
    pub fn backend(mut self, backend: Arc<dyn Backend>) -> Self {
        self.backend = backend;
        self
    }

    /// Replaces the index's key hash (a seeded XXH3-64). For tests that force hash
    /// collisions; the hash is not stored in the store file, so any function opens any
    /// store.
    #[doc(hidden)]
    pub fn key_hasher(mut self, hasher: KeyHasher) -> Self {
        self.hasher = Some(hasher);
        self
    }

    /// While another writer holds the store, try again for up to `timeout` (in growing
    /// steps of 5 to 100 ms, on the calling thread) instead of failing at once with
    /// [`crate::Error::Locked`]; after the wait the open fails with
    /// [`crate::Error::LockTimeout`], which names it. Default: no wait.
    pub fn lock_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    /// When [`Store::auto_compaction_due`] says an automatic compaction is due (default:
    /// [`crate::auto_policy::AutoCompactPolicy::default`]); `None` turns automatic compaction off. The
    /// engine runs none by itself: a binding asks after its commits and runs the one it
    /// claims ([`Store::claim_auto_compaction`]) off its event loop.
    pub fn auto_compact(mut self, policy: Option<crate::auto_policy::AutoCompactPolicy>) -> Self {
        self.auto_compact = policy;
        self
    }

    /// Limits the live data to `bytes` (default: no limit; 0 is taken as 1): the bytes of
    /// the live entries on disk, as [`crate::Stats::live_bytes`] counts them (an expired
    /// entry counts until it is evicted or compacted away). A write that would take the live
    /// data past it evicts the oldest live entries in log order (FIFO: the order they were
    /// last written, not last read) in the same batch, one eviction record each (FORMAT.md,
    /// "Entries": flag bit 3), until it fits; a write whose Puts alone take more than
    /// `bytes` fails with [`crate::Error::OverMaxBytes`] and writes nothing. A write that
    /// finds the store file's data past `2 × bytes + 88` first compacts (on the writing
    /// thread), so that the file stays within `2 × bytes + 88` plus one batch; automatic
    /// compaction ([`Store::auto_compaction_due`]) starts earlier, at `1.5 × bytes`, even
    /// when its own policy is off. Read-only opens ignore it.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes.max(1));
        self
    }

    /// Opens (or creates) the store at `path`.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        let Some(timeout) = self.lock_timeout else {
            return Store::open_with(path, self.clone());
        };
        let started = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(5);
        loop {
            match Store::open_with(path, self.clone()) {
                Err(crate::Error::Locked { path }) => {
                    let waited = started.elapsed();
                    if waited >= timeout {
                        return Err(crate::Error::LockTimeout {
                            path,
                            waited_ms: timeout.as_millis() as u64,
                        });
                    }
                    std::thread::sleep(pause.min(timeout - waited));
                    pause = (pause * 2).min(std::time::Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }
}

/// Below this many live keys a store opens in a few milliseconds without a checkpoint.
const DEFAULT_CHECKPOINT_MIN_KEYS: usize = 50_000;
