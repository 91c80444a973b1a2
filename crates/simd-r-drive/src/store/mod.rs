//! The store: [`Store`], its state, the types its calls return, and its accessors. The
//! calls themselves are in the submodules, one concern each: `options` (how to open),
//! `open` (opening and recovery), `read`, `zero_copy` (what bindings read without copying),
//! `write` (batches and their append) and `durability` (sync, sync marks, index
//! checkpoints, close).

mod clear;
mod conditional;
mod durability;
mod evict;
mod expiry;
mod open;
mod options;
mod read;
mod sweep;
mod transaction;
mod write;
mod zero_copy;
mod zeros;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};
use crate::files::FileId;
use crate::hash::KeyHash;
use crate::index::Index;
use crate::io::Backend;
use crate::mapping::Mapping;

pub use conditional::{Condition, ConditionalCommit};
pub use expiry::{system_clock_ms, ClockFn};
pub use options::StoreOptions;
pub use read::Iter;
pub use sweep::Sweep;
pub use transaction::Transaction;

/// One operation of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// Sets `key` to `value`.
    Put {
        /// The key (1 to [`crate::MAX_KEY_LEN`] bytes).
        key: &'a [u8],
        /// The value (0 to [`crate::MAX_VALUE_LEN`] bytes).
        value: &'a [u8],
    },
    /// Sets `key` to `value` until `expires_at` (ms since the Unix epoch): from then on
    /// the key reads as missing (see [`Store::expires_at`]).
    PutExpiring {
        /// The key (1 to [`crate::MAX_KEY_LEN`] bytes).
        key: &'a [u8],
        /// The value (0 to [`crate::MAX_VALUE_LEN`] bytes).
        value: &'a [u8],
        /// When the value expires, in ms since the Unix epoch.
        expires_at: u64,
    },
    /// Deletes `key`.
    Delete {
        /// The key.
        key: &'a [u8],
    },
}

impl<'a> Op<'a> {
    /// The key the operation writes.
    pub fn key(&self) -> &'a [u8] {
        match self {
            Op::Put { key, .. } | Op::PutExpiring { key, .. } | Op::Delete { key } => key,
        }
    }
}

/// What a committed batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// For each operation, whether its key had a value just before it was applied.
    pub existed: Vec<bool>,
    /// The commit's sequence number; it is durable once [`Store::durable_seq`] reaches it.
    pub seq: u64,
}

/// What recovery did when the store was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The store file was created by this open.
    pub created: bool,
    /// Entries read back from the log (of all complete batches; when an index checkpoint
    /// was used, only of those written after it).
    pub entries: u64,
    /// Bytes of unfinished tail found after the last complete batch (dropped; the writer
    /// also truncated them away).
    pub dropped_tail_bytes: u64,
    /// Why the tail was unfinished, if there was one.
    pub tail_reason: Option<&'static str>,
    /// Where the writer saved a copy of the dropped bytes before truncating them, when
    /// valid entries followed the damage (damage in data written after the last sync,
    /// which a power loss can leave out of order). The copy is a store image:
    /// [`crate::repair`] turns it into a store of the entries that still verify.
    pub saved_tail: Option<PathBuf>,
    /// Where that damage is (recovery case 5 of FORMAT.md), for writable and read-only
    /// opens alike. A read-only open leaves the file as it is, and [`Store::verify`] then
    /// reports the damage.
    pub unsynced_damage_at: Option<u64>,
    /// Keys read from the index checkpoint `<store>.srd-index` (see
    /// [`StoreOptions::checkpoint_min_keys`]), when one matched the file: recovery then
    /// scanned only the log after it, and did not verify the checksums of the entries
    /// before it ([`Store::verify`] does).
    pub checkpoint_keys: Option<u64>,
}

/// Sizes and counts, from [`Store::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Live keys.
    pub entries: u64,
    /// Bytes of the store file in use (header and every entry, live or not).
    pub file_bytes: u64,
    /// Bytes of the live entries (what compaction would keep, without the header).
    pub live_bytes: u64,
    /// Bytes compaction would reclaim: the file less what compaction writes (the header,
    /// the live entries, each with its 8-byte version, and one sync mark), or 0. Exact for a
    /// file never compacted; for one that was, at most this low by 8 bytes per key.
    pub reclaimable_bytes: u64,
    /// Heap bytes held by the index: the keys changed since the index file, and a bitmap
    /// of one bit per slot of that file.
    pub index_bytes: u64,
    /// Bytes of the index file in use (`<store>.srd-index`: about 21 per key; page
    /// cache, not heap), or 0 without one.
    pub index_file_bytes: u64,
    /// How many times the store file was replaced by compaction since opening.
    pub generation: u64,
    /// Sequence number of the latest commit.
    pub seq: u64,
    /// Format version of the store file's header: what the file was written as
    /// (compaction writes the current [`crate::FORMAT_VERSION`]).
    pub format_version: u16,
    /// Expired entries the expiry sweep ([`Store::sweep_expired`]) removed since this store
    /// was opened (by this process).
    pub expired_entries: u64,
    /// Entries the size limit ([`StoreOptions::max_bytes`]) evicted since this store was
    /// opened (by this process; not carried across a reopen).
    pub evicted_entries: u64,
    /// Their bytes on disk (each evicted Put entry's length), since open.
    pub evicted_bytes: u64,
}

/// The part of the store that readers look at: swapped as a whole on compaction.
pub(crate) struct State {
    pub index: Index,
    pub map: Arc<Mapping>,
    pub file: Arc<File>,
    /// End of the verified, committed data. Nothing at or past it is ever read.
    pub end: u64,
    /// Sequence number of the latest commit.
    pub seq: u64,
    /// Bumped each time the store file is replaced.
    pub generation: u64,
    /// Identity of the file (device, inode) for noticing replacement.
    pub file_id: FileId,
    /// Every byte of the file before this offset is known to be durable (an `fdatasync`
    /// covering it returned).
    pub durable_end: u64,
    /// The durable end the log already records in a sync mark. When `durable_end` is
    /// past it, the next append writes a mark first.
    pub marked_end: u64,
    /// Whether this file's format version has sync marks (version 1 files get none, so
    /// that older builds can still read them; compaction upgrades the file).
    pub sync_marks: bool,
    /// Format version of the file's header (`FORMAT.md`, "Header").
    pub format_version: u16,
    /// The generation identifier in the file's header (`None` before format version 3,
    /// whose files have none and get no index file).
    pub file_generation: Option<[u8; 16]>,
    /// The eviction cursor of this file (see [`StoreOptions::max_bytes`]): no live entry
    /// starts before it, so the next eviction scans the log from here. The header's end
    /// after an open or a compaction; moved only under the writer lock.
    pub evict_cursor: u64,
}

impl State {
    /// Where the value of `key` (whose hash is `hash`) lies in the current file:
    /// `(offset, length)`, or `None` if the key has no value. The one lookup behind every
    /// single-key read.
    #[inline]
    /// An entry that fails its first-read check fails the read with
    /// [`Error::Corrupt`] naming its offset (`path` is the store's).
    pub(crate) fn value_of(
        &self,
        path: &Path,
        hash: u64,
        key: &[u8],
        now: &expiry::Now<'_>,
    ) -> Result<Option<(u64, usize)>> {
        let data = self.map.bytes(self.end);
        let found = self
            .index
            .find_read(data, hash, key)
            .map_err(|(at, why)| Error::corrupt(path, at, why))?
            .filter(|&off| !crate::format::expired(data, off, || now.ms()));
        Ok(found.map(|off| {
            let h = crate::format::read_header_trusted(&data[off as usize..]);
            (off + h.value_start(), h.value_len)
        }))
    }

    /// The durable end a sync mark should record before the next append, if the log does
    /// not record it yet.
    pub(crate) fn pending_mark(&self) -> Option<u64> {
        (self.sync_marks && self.durable_end > self.marked_end).then_some(self.durable_end)
    }
}

/// An open store. `Send + Sync`: share it between threads behind an `Arc`.
///
/// Reads take a shared lock on the in-memory state only and never wait for disk I/O.
/// Writes are serialised by one writer mutex; each batch is one `write` call (one per
/// 4 MiB of a larger batch).
pub struct Store {
    /// Absolute, resolved once at open.
    pub(crate) path: PathBuf,
    /// Identity of the directory holding the store file when it was opened.
    pub(crate) dir_id: FileId,
    pub(crate) read_only: bool,
    pub(crate) sync_commits: bool,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) hasher: KeyHash,
    pub(crate) state: RwLock<State>,
    /// Serialises appends (and follower refreshes). Holds the reusable encode buffer.
    pub(crate) writer: Mutex<Vec<u8>>,
    /// Serialises `fdatasync` calls so that waiting committers share one.
    durability: Mutex<()>,
    durable_seq: AtomicU64,
    /// Zeros to keep ahead of the data (see [`StoreOptions::preallocate`]).
    pub(crate) preallocate: u64,
    /// See [`StoreOptions::zeros_in_background`].
    pub(crate) zeros_in_background: bool,
    /// A caller has claimed the writing of zeros ahead (see [`Store::claim_zeros`]).
    pub(crate) zeros_claimed: AtomicBool,
    /// After a failed write of zeros: the end of the data before which none are tried again.
    pub(crate) zeros_retry_at: AtomicU64,
    /// See [`StoreOptions::checkpoint_min_keys`].
    pub(crate) checkpoint_min_keys: usize,
    /// Whether opens of this store (and a follower's switch to a compacted file) may use
    /// the index file (see [`StoreOptions::verify_full`]).
    pub(crate) use_index: bool,
    /// Length of the store file: the end of the data plus any preallocated zeros. Changed
    /// only under the writer lock.
    pub(crate) allocated: AtomicU64,
    /// One compaction at a time.
    pub(crate) compaction: Mutex<()>,
    /// Automatic compaction: its policy, claim, cancellation flag, backoff and counters.
    pub(crate) auto: crate::auto_policy::AutoCompact,
    /// One index checkpoint at a time, from its copy of the index to its rename (taken
    /// before the writer lock, never while holding it). Compaction takes it to remove a
    /// checkpoint of the file it replaced, so that none written meanwhile survives it.
    pub(crate) checkpointing: Mutex<()>,
    /// How far the background verifier has verified the log its index file covers
    /// (see [`Store::verify_in_background`]).
    pub(crate) verified_to: AtomicU64,
    /// What the delta file on disk holds, if this process knows it to match the store:
    /// the file generation, the index file's end and the log end it covers (loaded at open,
    /// or saved since). A close that finds the store there writes no delta file again.
    pub(crate) delta_saved: Mutex<Option<([u8; 16], u64, u64)>>,
    /// A background merge is claimed (see [`Store::claim_background_merge`]).
    pub(crate) merge_claimed: AtomicBool,
    /// Long operations under way that hold (or will take) the writer lock for a while:
    /// compactions and streamed values. See [`Store::is_busy`].
    pub(crate) long_ops: AtomicU64,
    /// The thread running a [`Store::transaction`] (its [`transaction::thread_token`]), or
    /// 0: that thread's writes from inside it are refused instead of waiting forever.
    pub(crate) tx_thread: AtomicU64,
    closed: AtomicBool,
    /// Set by the first failed sync, or failed write other than a full disk (see
    /// [`Store::write_failed`]); never cleared while open.
    poison: OnceLock<String>,
    /// Set when a failed `fdatasync` of the store file (or directory sync after compaction's
    /// rename) left it unknown whether earlier writes are durable: a later sync cannot make
    /// that good, so `close` then fails instead of syncing (see `sync_after_poison`).
    durability_lost: AtomicBool,
    /// The writer's lock file (None for read-only stores and after close).
    lock_file: Mutex<Option<File>>,
    recovery: RecoveryReport,
    /// Told of every commit, compaction and refresh that found something (see
    /// [`Store::watch`]).
    pub(crate) watchers: crate::watch::Watchers,
    /// The time expiry is judged by (see [`StoreOptions::clock`]).
    pub(crate) clock: expiry::Clock,
    /// The expiry sweep's place in the log and its counts (see [`Store::sweep_expired`]).
    pub(crate) sweep: sweep::SweepState,
    /// The size limit on live data (see [`StoreOptions::max_bytes`]), or 0 for none.
    pub(crate) max_bytes: AtomicU64,
    /// Entries evicted by the size limit since open, and their bytes on disk.
    pub(crate) evicted: evict::Evicted,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Marks a long operation for [`Store::is_busy`] until dropped.
pub(crate) struct LongOp<'a>(&'a Store);

impl Drop for LongOp<'_> {
    fn drop(&mut self) {
        self.0.long_ops.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Store {
    /// The store's path: absolute (resolved against the current directory when the store
    /// was opened) and, when a symbolic link was opened, the link's target.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where a binding stages a streamed value before [`Store::put_from_reader`]: this
    /// prefix followed by a name unique to the staging process (`<path>.upload-`). A writer's
    /// open removes any such file it finds, so only a live writer's staging files last.
    pub fn upload_prefix(&self) -> PathBuf {
        crate::files::with_suffix(&self.path, crate::files::UPLOAD_PREFIX)
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Whether every commit is synced before it is acknowledged.
    pub fn syncs_every_commit(&self) -> bool {
        self.sync_commits
    }

    /// What recovery found when the store was opened.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Whether a compaction, a streamed value or background zeros ([`Store::claim_zeros`])
    /// are under way, or the size limit calls for a compaction before the next write
    /// ([`StoreOptions::max_bytes`]): a write made now may wait for it or do it (bindings
    /// then write from a worker thread instead of an event loop, or with
    /// [`Store::try_write`], which declines such a write).
    pub fn is_busy(&self) -> bool {
        self.long_ops.load(Ordering::Acquire) > 0
            || self.zeros_claimed.load(Ordering::Acquire)
            || self.over_compaction_limit()
    }

    /// Counts a long operation for [`Store::is_busy`] while the guard lives.
    pub(crate) fn long_op(&self) -> LongOp<'_> {
        self.long_ops.fetch_add(1, Ordering::AcqRel);
        LongOp(self)
    }

    /// Whether an earlier failed write or sync poisoned the store (writes are refused).
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poison.get().is_some()
    }

    /// Whether [`Store::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        self.check_not_in_transaction()?;
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        if let Some(cause) = self.poison.get() {
            return Err(Error::Poisoned {
                cause: cause.clone(),
            });
        }
        Ok(())
    }

    /// Marks the store as refusing writes after a failed I/O call, and returns the error.
    pub(crate) fn poison_with(&self, err: Error) -> Error {
        let _ = self.poison.set(err.to_string());
        err
    }

    /// After a failed write of the store file, or of compaction's new file before its
    /// rename: a full disk (`ENOSPC`, `EDQUOT`, see [`Error::is_disk_full`]) leaves the store
    /// usable, since the end of the data did not move and nothing before it was touched (the
    /// next append overwrites whatever the failed write left past it); any other error
    /// poisons the store. Returns the error.
    pub(crate) fn write_failed(&self, err: Error) -> Error {
        if err.is_disk_full() {
            err
        } else {
            self.poison_with(err)
        }
    }

    /// [`Store::poison_with`] for a failed sync, after which no later sync can tell whether
    /// what was written before it is durable.
    pub(crate) fn poison_durability(&self, err: Error) -> Error {
        self.durability_lost.store(true, Ordering::Release);
        self.poison_with(err)
    }

    /// On a poisoned store, makes durable what was committed before the failure, where
    /// the failure allows it: a failed write (a full disk, in an append or in compaction's
    /// new file) or rename left the store file's committed bytes whole, so one more
    /// `fdatasync` of it is meaningful. After a failed sync it is not (the kernel may have
    /// dropped the pages it could not write): then this fails, saying so, unless every
    /// commit is synced before it is acknowledged ([`StoreOptions::sync`]: whatever the
    /// failed sync covered was never acknowledged). Writes nothing else (no sync mark, no
    /// checkpoint).
    fn sync_after_poison(&self) -> Result<()> {
        let cause = self.poison.get().cloned().unwrap_or_default();
        if self.durability_lost.load(Ordering::Acquire) {
            if self.sync_commits {
                return Ok(());
            }
            return Err(Error::io(
                "making earlier writes durable",
                &self.path,
                std::io::Error::other(format!(
                    "an earlier sync failed ({cause}), so writes made since the last successful \
                     sync may not be durable; reopen the store and check them"
                )),
            ));
        }
        let _g = self.durability.lock();
        let (file, target, end, generation) = {
            let s = self.state.read();
            (s.file.clone(), s.seq, s.end, s.generation)
        };
        self.sync_and_publish(&file, (target, end, generation))
    }

    #[inline]
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.of(key)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.close_with(false);
    }
}
