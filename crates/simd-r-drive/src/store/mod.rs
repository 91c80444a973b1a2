//! The store: opening and recovery, reads, batched writes, durability and closing.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

use crate::append::{self, Appending};
use crate::checkpoint;
use crate::error::{Error, Result};
use crate::files;
use crate::format::{self, EntryHeader, EntryKind, HeaderProblem, HEADER_LEN};
use crate::index::{Index, LogOp, PREFETCH_AHEAD};
use crate::io::{self as sio, Backend, OsBackend};
use crate::lock;
use crate::mapping::{Mapping, Value};
use crate::scan::{self, Mode};
use crate::window::{EntryRange, Located, PrivateMap, RangeSnapshot};

/// A replacement for the index's key hash (see [`StoreOptions::key_hasher`]).
pub type KeyHasher = fn(&[u8]) -> u64;

/// The index's key hash: XXH3-64 with a seed of the store's own, or a test's replacement.
///
/// The seed is drawn at random when a store is opened without an index checkpoint (and
/// kept in the checkpoint, so that the next open can use it). Keys chosen to collide under
/// one seed do not collide under another, so an attacker who picks the keys of a store
/// (a cache keyed by URL, say) cannot crowd them into one run of the table and make every
/// insert and lookup slow.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyHash {
    pub custom: Option<KeyHasher>,
    pub seed: u64,
}

impl KeyHash {
    /// A hash with a fresh random seed.
    pub fn random(custom: Option<KeyHasher>) -> KeyHash {
        use std::hash::BuildHasher;
        // `RandomState` is keyed from the operating system's randomness once per thread
        // and moves to a new key for each instance.
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        KeyHash { custom, seed }
    }

    /// The hash of `key`.
    #[inline]
    pub fn of(&self, key: &[u8]) -> u64 {
        match self.custom {
            Some(f) => f(key),
            None => xxhash_rust::xxh3::xxh3_64_with_seed(key, self.seed),
        }
    }
}

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
    pub(crate) checkpoint_min_keys: usize,
    pub(crate) mode: u32,
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
            checkpoint_min_keys: DEFAULT_CHECKPOINT_MIN_KEYS,
            mode: files::DEFAULT_MODE,
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

    /// Saves the index beside the store (`<store>.srd-index`) when it is closed with at least
    /// `keys` live keys (default 50,000), so that the next open reads the index from there
    /// and scans only the log written after it, instead of the whole log. At one million
    /// keys that makes opening several times faster. `usize::MAX` turns checkpoints off;
    /// opens still use one that is there and matches.
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

    /// Opens (or creates) the store at `path`.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path.as_ref(), self.clone())
    }
}

/// Below this many live keys a store opens in a few milliseconds without a checkpoint.
const DEFAULT_CHECKPOINT_MIN_KEYS: usize = 50_000;

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
            Op::Put { key, .. } | Op::Delete { key } => key,
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
    /// the live entries and one sync mark), or 0.
    pub reclaimable_bytes: u64,
    /// Heap bytes held by the index.
    pub index_bytes: u64,
    /// How many times the store file was replaced by compaction since opening.
    pub generation: u64,
    /// Sequence number of the latest commit.
    pub seq: u64,
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
    /// The end of the log that the index checkpoint on disk describes (0: none known).
    pub checkpoint_end: u64,
}

impl State {
    /// The durable end a sync mark should record before the next append, if the log does
    /// not record it yet.
    pub(crate) fn pending_mark(&self) -> Option<u64> {
        (self.sync_marks && self.durable_end > self.marked_end).then_some(self.durable_end)
    }
}

/// Saves `bytes`, the tail from offset `start` that recovery is about to drop, as a store
/// image `<store>.torn-N` (with the store file's mode, owner and group, as `like` gives them): a header, a hole up to `start`, then the bytes at their own
/// offsets, where their checksums verify. `repair` on that file (or the CLI's `repair`)
/// turns it into a store of the entries that still verify. An identical image left by an
/// earlier attempt (a crash between the copy and the cut) is reused. Returns its path.
fn save_tail(
    path: &Path,
    like: &std::fs::Metadata,
    start: u64,
    bytes: &[u8],
) -> std::io::Result<PathBuf> {
    for n in 1..=1000u32 {
        let copy = lock::with_suffix(path, &format!(".torn-{n}"));
        match files::private_options()
            .write(true)
            .create_new(true)
            .open(&copy)
        {
            Ok(f) => {
                // It holds the store's data: readable by exactly those who may read that.
                files::keep_mode_and_owner(like, &f)?;
                sio::write_all_at(&f, &format::encode_header(), 0)?;
                sio::write_all_at(&f, bytes, start)?;
                f.sync_all()?;
                if let Ok(dir) = File::open(parent_dir(path)) {
                    let _ = dir.sync_all();
                }
                return Ok(copy);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if same_image(&copy, start, bytes) {
                    return Ok(copy);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "1000 .torn-N copies exist beside the store: move them away",
    ))
}

/// Whether `copy` is already the image [`save_tail`] would write.
fn same_image(copy: &Path, start: u64, bytes: &[u8]) -> bool {
    let Ok(f) = File::open(copy) else {
        return false;
    };
    if f.metadata().map(|m| m.len()).ok() != Some(start + bytes.len() as u64) {
        return false;
    }
    let mut back = vec![0u8; bytes.len()];
    sio::read_at(&f, &mut back, start).is_ok_and(|n| n == bytes.len()) && back == bytes
}

/// How an open reads a file of format `version`.
pub(crate) fn strict(version: u16) -> Mode {
    Mode::Strict {
        marks: version >= format::SYNC_MARKS_SINCE,
    }
}

/// Batches of at least this many operations update the index grouped by table region
/// (`Index::apply_grouped`) rather than one operation at a time in batch order.
const GROUPED_BATCH: usize = 4096;

/// Identity of a file on disk.
pub(crate) type FileId = (u64, u64);

pub(crate) fn file_id(meta: &std::fs::Metadata) -> FileId {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        (0, 0)
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
    /// See [`StoreOptions::checkpoint_min_keys`].
    checkpoint_min_keys: usize,
    /// Length of the store file: the end of the data plus any preallocated zeros. Changed
    /// only under the writer lock.
    pub(crate) allocated: AtomicU64,
    /// One compaction at a time.
    pub(crate) compaction: Mutex<()>,
    /// One index checkpoint at a time, from its copy of the index to its rename (taken
    /// before the writer lock, never while holding it). Compaction takes it to remove a
    /// checkpoint of the file it replaced, so that none written meanwhile survives it.
    pub(crate) checkpointing: Mutex<()>,
    /// Long operations under way that hold (or will take) the writer lock for a while:
    /// compactions and streamed values. See [`Store::is_busy`].
    pub(crate) long_ops: AtomicU64,
    closed: AtomicBool,
    /// Set by the first failed write or sync; never cleared while open.
    poison: OnceLock<String>,
    /// Set when a failed `fdatasync` of the store file (or directory sync after compaction's
    /// rename) left it unknown whether earlier writes are durable: a later sync cannot make
    /// that good, so `close` then fails instead of syncing (see `sync_after_poison`).
    durability_lost: AtomicBool,
    /// The writer's lock file (None for read-only stores and after close).
    lock_file: Mutex<Option<File>>,
    recovery: RecoveryReport,
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

pub(crate) fn check_header_of(file: &File, path: &Path) -> Result<u16> {
    let mut head = [0u8; HEADER_LEN as usize];
    let n =
        sio::read_at(file, &mut head, 0).map_err(|e| Error::io("reading the header", path, e))?;
    match format::check_header(&head[..n]) {
        Ok(version) => Ok(version),
        Err(HeaderProblem::NotAStore) => Err(Error::NotAStore {
            path: path.to_path_buf(),
        }),
        Err(HeaderProblem::Version(found)) => Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: format::FORMAT_VERSION,
        }),
        Err(HeaderProblem::Corrupt(why)) => Err(Error::corrupt(path, 0, why)),
    }
}

/// Adds a verified entry to `index`. `data` must contain the entry.
pub(crate) fn apply_entry(
    index: &mut Index,
    data: &[u8],
    hasher: KeyHash,
    off: u64,
    h: &EntryHeader,
) -> bool {
    let ks = (off + h.key_start()) as usize;
    let key = &data[ks..ks + h.key_len];
    let hash = hasher.of(key);
    match h.kind {
        EntryKind::Put => index.insert(data, hash, key, off).is_some(),
        EntryKind::Delete => index.remove(data, hash, key).is_some(),
        EntryKind::Commit | EntryKind::SyncMark => false,
    }
}

/// A store file read into memory by [`load`].
pub(crate) struct Loaded {
    /// The key hash `index` was built with.
    pub hasher: KeyHash,
    pub index: Index,
    pub map: Arc<Mapping>,
    /// The file's length when it was read.
    pub len: u64,
    pub outcome: scan::Outcome,
    /// The end of the log and the number of keys that an index checkpoint supplied
    /// (the log was scanned only from that end on), if one matched the file.
    pub checkpoint: Option<(u64, u64)>,
}

/// Reads `file` (whose header was checked) into a fresh index: from its index checkpoint
/// and the log after it, when a checkpoint matches the file and `mode` is strict, else
/// from the whole log. The key hash is `custom` or a seeded XXH3: with the given `seed`, or
/// else the seed of the checkpoint used, or else a random one.
pub(crate) fn load(
    file: &File,
    path: &Path,
    custom: Option<KeyHasher>,
    seed: Option<u64>,
    mode: Mode,
    grow: bool,
) -> Result<Loaded> {
    let meta = file
        .metadata()
        .map_err(|e| Error::io("reading the file size", path, e))?;
    let len = meta.len();
    let map = Mapping::new(file, len, grow).map_err(|e| Error::io("mapping the file", path, e))?;
    let data = map.bytes(len);
    let saved = match mode {
        Mode::Strict { marks: true } => checkpoint::read(
            &checkpoint::StoreFile {
                path,
                inode: file_id(&meta).1,
                data,
            },
            custom,
            seed,
        ),
        _ => None,
    };
    let (mut index, start, checkpoint, hasher) = match saved {
        Some(c) => {
            let keys = c.index.len() as u64;
            (c.index, c.end, Some((c.end, keys)), c.hash)
        }
        None => {
            let hash = match seed {
                Some(seed) => KeyHash { custom, seed },
                None => KeyHash::random(custom),
            };
            (Index::with_capacity(0), HEADER_LEN, None, hash)
        }
    };
    let outcome = index_log(data, start, mode, hasher, &mut index);
    let mut outcome = outcome.map_err(|d| Error::corrupt(path, d.offset, d.reason))?;
    if let (Some((end, _)), None) = (checkpoint, outcome.last_mark) {
        // The checkpoint's end is the end of a sync mark recording everything before it.
        let at = end - format::SYNC_MARK_LEN;
        outcome.last_mark = Some((at, at));
    }
    if checkpoint.is_none() {
        index.shrink_to_fit();
    }
    Ok(Loaded {
        hasher,
        index,
        map: Arc::new(map),
        len,
        outcome,
        checkpoint,
    })
}

/// Scans the log in `data` from `start` and applies each complete batch to `index`.
/// Operations are collected (in file order) and applied in chunks, each grouped by table
/// region (see `Index::apply_grouped`).
pub(crate) fn index_log(
    data: &[u8],
    start: u64,
    mode: Mode,
    hasher: KeyHash,
    index: &mut Index,
) -> std::result::Result<scan::Outcome, scan::Damage> {
    const CHUNK: usize = 1 << 20;
    let len = data.len() as u64;
    let mut ops = Vec::with_capacity(((len.saturating_sub(start) / 128) as usize).min(CHUNK));
    let mut scratch = Vec::new();
    let outcome = scan::scan(data, start, mode, |off, h| {
        let ks = (off + h.key_start()) as usize;
        let put_len = match h.kind {
            EntryKind::Put => h.len(),
            _ => 0,
        };
        ops.push(LogOp {
            hash: hasher.of(&data[ks..ks + h.key_len]),
            offset: off,
            put_len,
            pos: 0,
        });
        if ops.len() == CHUNK {
            index.apply_grouped(data, &mut ops, &mut scratch, None);
        }
    });
    index.apply_grouped(data, &mut ops, &mut scratch, None);
    outcome
}

/// Creates a new, empty store file at `path` atomically: the header is written to a
/// temporary file, synced, and renamed into place, so a crash never leaves a half-written
/// header at `path`.
fn create_new(path: &Path, backend: &dyn Backend, mode: u32) -> Result<()> {
    let tmp = lock::with_suffix(path, ".init");
    let f = files::create_options(mode)
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io("creating the store file", &tmp, e))?;
    let header = format::encode_header();
    backend
        .write_at(&f, &header, 0)
        .map_err(|e| Error::io("writing the header", &tmp, e))?;
    backend
        .sync_data(&f)
        .map_err(|e| Error::io("syncing the header", &tmp, e))?;
    backend
        .rename(&tmp, path)
        .map_err(|e| Error::io("moving the new store file into place", path, e))?;
    backend
        .sync_dir(&parent_dir(path))
        .map_err(|e| Error::io("syncing the directory", parent_dir(path), e))?;
    Ok(())
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// End of the last completely written page below `end`.
fn stable_end(end: u64) -> u64 {
    let page = crate::window::page_size();
    end / page * page
}

/// Asks the CPU to start loading the first bytes of the entry at `off` into its caches.
/// Only a hint: it changes nothing and cannot fail.
#[inline(always)]
fn prefetch_entry(data: &[u8], off: u64) {
    #[cfg(target_arch = "x86_64")]
    if let Some(entry) = data.get(off as usize..) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = entry.as_ptr().cast::<i8>();
        // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has. A prefetch reads
        // nothing the program can observe and never faults; `p` and `p + 64` are computed
        // with wrapping arithmetic, and `p` lies inside `data`.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p);
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, off);
}

/// Marks a long operation for [`Store::is_busy`] until dropped.
pub(crate) struct LongOp<'a>(&'a Store);

impl Drop for LongOp<'_> {
    fn drop(&mut self) {
        self.0.long_ops.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Overwrites `[from, to)` of `file` with zeros, a megabyte at a time.
pub(crate) fn zero_fill(
    backend: &dyn Backend,
    file: &File,
    from: u64,
    to: u64,
) -> std::io::Result<()> {
    let zeros = vec![0u8; (to - from).min(1 << 20) as usize];
    let mut at = from;
    while at < to {
        let n = (to - at).min(zeros.len() as u64) as usize;
        backend.write_at(file, &zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Removes `<store>.upload-*` files, where bindings stage streamed values before
/// [`Store::put_from_reader`]; any left when a writer opens belong to a crashed writer.
fn remove_uploads(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut prefix = name.to_os_string();
    prefix.push(".upload-");
    let prefix = prefix.to_string_lossy().into_owned();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Names of the temporary files the engine may leave behind after a crash.
pub(crate) const TEMP_SUFFIXES: [&str; 4] =
    [".init", ".compact", ".repair", checkpoint::TEMP_SUFFIX];

impl Store {
    /// Opens (or creates) a writable store at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        StoreOptions::new().open(path)
    }

    fn open_with(path: &Path, opts: StoreOptions) -> Result<Store> {
        // Absolute from here on (a later `chdir` changes nothing), symbolic link followed.
        let path = files::resolve(path)?;
        let writable = !opts.read_only;
        // What is at the path decides what may be done there. Something that is not a
        // regular file (a device, a FIFO, a directory) is refused without being opened;
        // what is opened is opened without blocking and checked again, and a file that is
        // not a store is refused before a lock file is created or anything beside it is
        // removed.
        let mut file = match std::fs::metadata(&path) {
            Ok(m) => {
                files::require_regular(&m, &path)?;
                let (f, meta) = files::open_regular(&path, writable)?;
                if meta.len() > 0 {
                    check_header_of(&f, &path)?;
                } else if opts.read_only {
                    return Err(files::empty_file(&path));
                }
                Some(f)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && writable && opts.create => None,
            Err(e) => return Err(Error::io("opening", &path, e)),
        };
        // A writer takes every lock before it touches any file beside the store: first the
        // record lock on the store file itself, which a script that deletes `<store>.lock`
        // cannot defeat, then the lock file (which also covers a store not created yet).
        if let (true, Some(f)) = (writable, &file) {
            lock::lock_file_itself(f, &path)?;
        }
        let lock_file = if writable {
            Some(lock::acquire_writer(&path, opts.mode)?)
        } else {
            None
        };
        if writable {
            let at_path = std::fs::metadata(&path).ok().map(|m| file_id(&m));
            let opened = file.as_ref().and_then(|f| f.metadata().ok());
            if at_path != opened.map(|m| file_id(&m)) {
                // Another writer created or compacted the store between the look above and
                // the locks, and has closed it since: open what is there now, with the
                // checks above, rather than the file it replaced.
                drop(lock_file);
                return Store::open_with(&path, opts);
            }
        }
        let mut created = false;
        if writable {
            // Leftovers of a crash: safe to remove now that no other writer can run.
            for s in TEMP_SUFFIXES {
                let _ = std::fs::remove_file(lock::with_suffix(&path, s));
            }
            remove_uploads(&path);
            match &file {
                None => {
                    create_new(&path, opts.backend.as_ref(), opts.mode)?;
                    let (f, _) = files::open_regular(&path, true)?;
                    lock::lock_file_itself(&f, &path)?;
                    file = Some(f);
                    created = true;
                }
                Some(f) => {
                    let len = f
                        .metadata()
                        .map_err(|e| Error::io("opening", &path, e))?
                        .len();
                    if len == 0 {
                        // An empty file becomes a store in place: same inode, mode, owner
                        // and hard links.
                        let header = format::encode_header();
                        opts.backend
                            .write_at(f, &header, 0)
                            .map_err(|e| Error::io("writing the header", &path, e))?;
                        opts.backend
                            .sync_data(f)
                            .map_err(|e| Error::io("syncing the header", &path, e))?;
                        created = true;
                    }
                }
            }
        }
        let file = file.expect("opened or created above");
        let version = check_header_of(&file, &path)?;
        if opts.read_only {
            lock::acquire_shared(&file, &path)?;
        }
        let meta = file
            .metadata()
            .map_err(|e| Error::io("opening", &path, e))?;
        let id = file_id(&meta);
        let dir = parent_dir(&path);
        let dir_id = std::fs::metadata(&dir)
            .map(|m| file_id(&m))
            .map_err(|e| Error::io("opening", &dir, e))?;
        // Read-only opens check as strictly as writers: damage followed by valid data is
        // reported, never silently hidden. A batch a live writer is still writing is a torn
        // last batch, which strict mode leaves aside without an error.
        let Loaded {
            hasher,
            index,
            mut map,
            len,
            outcome,
            checkpoint,
        } = load(&file, &path, opts.hasher, None, strict(version), true)?;
        let end = outcome.committed_end;
        let mut allocated = end;
        let mut saved_tail = None;
        if !opts.read_only && outcome.unsynced_damage.is_some() {
            // Valid entries follow the damage, in data written after the last sync: keep
            // a copy of everything about to be dropped, so nothing is silently destroyed.
            let copy = save_tail(&path, &meta, end, &map.bytes(len)[end as usize..])
                .map_err(|e| Error::io("saving the dropped tail", &path, e))?;
            saved_tail = Some(copy);
        }
        let synced_at_open = !opts.read_only && end < len;
        if !opts.read_only && end < len {
            if lock::try_exclusive(&file) {
                // No reader has the file open: drop the unfinished tail, and make the cut
                // durable before anything is appended after it.
                let cut = opts
                    .backend
                    .set_len(&file, end)
                    .and_then(|()| opts.backend.sync_data(&file));
                let _ = file.unlock();
                cut.map_err(|e| Error::io("truncating the unfinished tail", &path, e))?;
                // The old mapping may cover the cut bytes; a fresh one does not need to.
                map = Arc::new(
                    Mapping::new(&file, end, true)
                        .map_err(|e| Error::io("mapping the file", &path, e))?,
                );
            } else {
                // Readers have the file mapped, and shrinking it under them would kill them
                // with SIGBUS: overwrite the tail with zeros instead, which recovery and
                // followers treat as not yet written, and which appends overwrite.
                zero_fill(opts.backend.as_ref(), &file, end, len)
                    .and_then(|()| opts.backend.sync_data(&file))
                    .map_err(|e| Error::io("clearing the unfinished tail", &path, e))?;
                allocated = len;
            }
        }
        if !opts.read_only && !synced_at_open && !created {
            // What earlier sessions wrote may still be only in the page cache. Make it
            // durable now, so that the sync mark the first append writes is true.
            opts.backend
                .sync_data(&file)
                .map_err(|e| Error::io("fdatasync", &path, e))?;
        }
        // A store closed cleanly ends with a mark that records everything before it: no new
        // mark is due until more is written and synced.
        let marked_end = match outcome.last_mark {
            Some((at, durable_end)) if durable_end == at && at + format::SYNC_MARK_LEN == end => {
                end
            }
            _ => HEADER_LEN,
        };
        let recovery = RecoveryReport {
            created,
            entries: outcome.entries,
            dropped_tail_bytes: len - end,
            tail_reason: outcome.tail.map(|t| t.1),
            saved_tail,
            unsynced_damage_at: outcome.unsynced_damage,
            checkpoint_keys: checkpoint.map(|c| c.1),
        };
        let store = Store {
            path,
            dir_id,
            read_only: opts.read_only,
            sync_commits: opts.sync,
            backend: opts.backend,
            hasher,
            state: RwLock::new(State {
                index,
                map,
                file: Arc::new(file),
                end,
                seq: 0,
                generation: 0,
                file_id: id,
                durable_end: if opts.read_only { 0 } else { end },
                marked_end,
                sync_marks: version >= format::SYNC_MARKS_SINCE,
                checkpoint_end: checkpoint.map_or(0, |c| c.0),
            }),
            writer: Mutex::new(Vec::new()),
            durability: Mutex::new(()),
            durable_seq: AtomicU64::new(0),
            preallocate: if opts.read_only { 0 } else { opts.preallocate },
            checkpoint_min_keys: opts.checkpoint_min_keys,
            allocated: AtomicU64::new(allocated),
            compaction: Mutex::new(()),
            checkpointing: Mutex::new(()),
            long_ops: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            poison: OnceLock::new(),
            durability_lost: AtomicBool::new(false),
            lock_file: Mutex::new(lock_file),
            recovery,
        };
        if !store.read_only {
            // The sync above made what earlier sessions wrote durable: say so in the log
            // now, not at the first append, which a session that writes nothing (or dies
            // first) never makes. Without the mark, later damage in those bytes would be
            // taken for a power loss's unsynced tail instead of being reported.
            let _writer = store.writer.lock();
            store.append_mark();
        }
        Ok(store)
    }

    /// The store's path: absolute (resolved against the current directory when the store
    /// was opened) and, when a symbolic link was opened, the link's target.
    pub fn path(&self) -> &Path {
        &self.path
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

    /// Whether a compaction or a streamed value is under way: a write made now may wait for
    /// it (bindings then write from a worker thread instead of an event loop).
    pub fn is_busy(&self) -> bool {
        self.long_ops.load(Ordering::Acquire) > 0
    }

    /// Counts a long operation for [`Store::is_busy`] while the guard lives.
    pub(crate) fn long_op(&self) -> LongOp<'_> {
        self.long_ops.fetch_add(1, Ordering::AcqRel);
        LongOp(self)
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

    /// Checks one key and value against the format's limits.
    pub fn validate(key: &[u8], value: Option<&[u8]>) -> Result<()> {
        if key.is_empty() || key.len() > format::MAX_KEY_LEN {
            return Err(Error::InvalidKey { len: key.len() });
        }
        if let Some(v) = value {
            if v.len() > format::MAX_VALUE_LEN {
                return Err(Error::ValueTooLarge { len: v.len() });
            }
        }
        Ok(())
    }

    // ----- reads -----

    /// The value of `key`, as a zero-copy handle into the file, or `None`.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Result<Option<Value>> {
        self.check_open()?;
        let hash = self.hash(key);
        let s = self.state.read();
        let data = s.map.bytes(s.end);
        Ok(s.index.find(data, hash, key).map(|off| {
            let h = format::read_header_trusted(&data[off as usize..]);
            Value::new(s.map.clone(), off + h.value_start(), h.value_len)
        }))
    }

    /// Calls `f` with the bytes of `key`'s value (borrowed from the map, no reference
    /// count taken) and returns what it returns, or `None` if the key has no value.
    #[inline]
    pub fn get_with<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        self.check_open()?;
        let hash = self.hash(key);
        let s = self.state.read();
        let data = s.map.bytes(s.end);
        Ok(s.index.find(data, hash, key).map(|off| {
            let h = format::read_header_trusted(&data[off as usize..]);
            let vs = (off + h.value_start()) as usize;
            f(&data[vs..vs + h.value_len])
        }))
    }

    /// Looks up every key of `keys` and calls `f(i, value)` for `keys[i]`, in order, with
    /// the bytes of its value or `None`. Faster than [`Store::get_with`] in a loop when
    /// many keys are wanted at once: the read lock is taken once per group of keys, and the
    /// file reads of a group are started together so that their memory latencies overlap.
    /// `f` runs while a read lock is held (writers wait), so keep it short.
    pub fn get_many_with<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        mut f: impl FnMut(usize, Option<&[u8]>),
    ) -> Result<()> {
        self.lookup_many(keys, |_, data, i, found| {
            f(i, found.map(|off| format::value_at(data, off)));
            Ok(())
        })
    }

    /// [`Store::locate_private`] for every key of `keys`: calls `f(i, located)` for
    /// `keys[i]`, in order, with lookups started in groups as [`Store::get_many_with`] does.
    /// `f` runs while a read lock is held (writers wait), so keep it short.
    pub fn locate_many_private<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        mut f: impl FnMut(usize, Option<Located<'_>>),
    ) -> Result<()> {
        self.lookup_many(keys, |s, data, i, found| {
            let Some(off) = found else {
                f(i, None);
                return Ok(());
            };
            let h = format::read_header_trusted(&data[off as usize..]);
            let map = s
                .map
                .private(&s.file)
                .map_err(|e| Error::io("mapping the file privately", &self.path, e))?;
            f(
                i,
                Some(Located {
                    map,
                    offset: off + h.value_start(),
                    len: h.value_len,
                    stable_end: stable_end(s.end),
                }),
            );
            Ok(())
        })
    }

    /// Looks up every key of `keys` and calls `f(state, data, i, offset)` for `keys[i]`, in
    /// order, with the offset of its live entry in `data` (the verified file contents).
    /// The read lock is taken once per group of keys, and each group's table lines, then
    /// its entries, are loaded together, so that their memory latencies overlap.
    fn lookup_many<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        mut f: impl FnMut(&State, &[u8], usize, Option<u64>) -> Result<()>,
    ) -> Result<()> {
        /// Keys whose index lookups and file reads are started before any is finished.
        const GROUP: usize = 16;
        /// Keys looked up per read-lock acquisition (bounds how long writers wait).
        const PER_LOCK: usize = 1024;
        self.check_open()?;
        let mut hashes = [0u64; GROUP];
        let mut offsets = [None; GROUP];
        for (c, chunk) in keys.chunks(PER_LOCK).enumerate() {
            let s = self.state.read();
            let data = s.map.bytes(s.end);
            for (g, group) in chunk.chunks(GROUP).enumerate() {
                for (h, k) in hashes.iter_mut().zip(group) {
                    *h = self.hash(k.as_ref());
                    s.index.prefetch(*h);
                }
                for (o, &h) in offsets.iter_mut().zip(&hashes[..group.len()]) {
                    *o = s.index.find_hash(h);
                    if let Some(off) = *o {
                        prefetch_entry(data, off);
                    }
                }
                let base = c * PER_LOCK + g * GROUP;
                for (j, k) in group.iter().enumerate() {
                    let key = k.as_ref();
                    let found = match offsets[j] {
                        Some(off) if format::key_at(data, off) == key => Some(off),
                        // Another key with the same 64-bit hash: the full lookup decides.
                        Some(_) => s.index.find(data, hashes[j], key),
                        None => None,
                    };
                    f(&s, data, base + j, found)?;
                }
            }
        }
        Ok(())
    }

    /// Where `key`'s value lies in the current store file: `(generation, offset, length)`.
    /// Bindings use it to serve values from mappings of their own.
    pub fn locate(&self, key: &[u8]) -> Result<Option<(u64, u64, usize)>> {
        self.check_open()?;
        let hash = self.hash(key);
        let s = self.state.read();
        let data = s.map.bytes(s.end);
        Ok(s.index.find(data, hash, key).map(|off| {
            let h = format::read_header_trusted(&data[off as usize..]);
            (s.generation, off + h.value_start(), h.value_len)
        }))
    }

    /// Finds `key` and calls `f` with where its value lies in the private (copy-on-write)
    /// mapping of the current store file, or with `None` if the key has no value. For
    /// bindings that hand mapped memory to code that may write into it (see
    /// [`crate::PrivateMap`]); the call holds the store's read lock, so keep `f` short.
    pub fn locate_private<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<Located<'_>>) -> R,
    ) -> Result<R> {
        self.check_open()?;
        let hash = self.hash(key);
        let s = self.state.read();
        let data = s.map.bytes(s.end);
        let Some(off) = s.index.find(data, hash, key) else {
            return Ok(f(None));
        };
        let h = format::read_header_trusted(&data[off as usize..]);
        let map = s
            .map
            .private(&s.file)
            .map_err(|e| Error::io("mapping the file privately", &self.path, e))?;
        Ok(f(Some(Located {
            map,
            offset: off + h.value_start(),
            len: h.value_len,
            stable_end: stable_end(s.end),
        })))
    }

    /// The private mapping of the current store file and the end of its stable pages.
    pub fn private_map(&self) -> Result<(Arc<PrivateMap>, u64)> {
        self.check_open()?;
        let s = self.state.read();
        let map = s
            .map
            .private(&s.file)
            .map_err(|e| Error::io("mapping the file privately", &self.path, e))?;
        Ok((map.clone(), stable_end(s.end)))
    }

    /// A point-in-time list of where every live entry's key and value lie in the private
    /// mapping of the current file, in file order. Writers go on meanwhile.
    pub fn snapshot_ranges(&self) -> Result<RangeSnapshot> {
        self.check_open()?;
        let (map, end, mut offsets, private) = {
            let s = self.state.read();
            let private = s
                .map
                .private(&s.file)
                .map_err(|e| Error::io("mapping the file privately", &self.path, e))?
                .clone();
            (
                s.map.clone(),
                s.end,
                s.index.slots().map(|x| x.offset).collect::<Vec<u64>>(),
                private,
            )
        };
        offsets.sort_unstable();
        let data = map.bytes(end);
        let entries = offsets
            .into_iter()
            .filter(|&off| format::entry_fits(data, off))
            .map(|off| {
                let h = format::read_header_trusted(&data[off as usize..]);
                EntryRange {
                    key: (off + h.key_start(), h.key_len),
                    value: (off + h.value_start(), h.value_len),
                }
            })
            .collect();
        Ok(RangeSnapshot {
            map: private,
            stable_end: stable_end(end),
            end,
            entries,
        })
    }

    /// The current store file, its generation and the end of its committed data.
    pub fn current_file(&self) -> Result<(Arc<File>, u64, u64)> {
        self.check_open()?;
        let s = self.state.read();
        Ok((s.file.clone(), s.generation, s.end))
    }

    /// Whether `key` has a value.
    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        self.check_open()?;
        let hash = self.hash(key);
        let s = self.state.read();
        Ok(s.index.find(s.map.bytes(s.end), hash, key).is_some())
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.state.read().index.len()
    }

    /// Whether the store has no live keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sizes and counts.
    pub fn stats(&self) -> Stats {
        let s = self.state.read();
        let live = s.index.live_bytes();
        Stats {
            entries: s.index.len() as u64,
            file_bytes: s.end,
            live_bytes: live,
            reclaimable_bytes: s
                .end
                .saturating_sub(live.saturating_add(HEADER_LEN + format::SYNC_MARK_LEN)),
            index_bytes: s.index.allocation_size() as u64,
            generation: s.generation,
            seq: s.seq,
        }
    }

    /// A point-in-time iterator over every live entry as `(key, value)` handles, in file
    /// order. Taking it copies one offset per key; writers go on meanwhile and their later
    /// changes are not seen by this iterator.
    pub fn iter(&self) -> Result<Iter> {
        self.check_open()?;
        let (map, end, offsets) = {
            let s = self.state.read();
            (
                s.map.clone(),
                s.end,
                s.index.slots().map(|x| x.offset).collect::<Vec<u64>>(),
            )
        };
        let mut offsets = offsets;
        offsets.sort_unstable();
        let data = map.bytes(end);
        offsets.retain(|&off| format::entry_fits(data, off));
        Ok(Iter {
            map,
            offsets: offsets.into_iter(),
        })
    }

    // ----- writes -----

    /// Sets `key` to `value`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(&[Op::Put { key, value }]).map(|_| ())
    }

    /// Deletes `key`. Returns whether it had a value. Deleting a missing key writes nothing.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        Self::validate(key, None)?;
        self.check_writable()?;
        if !self.contains(key)? {
            return Ok(false);
        }
        Ok(self.write(&[Op::Delete { key }])?.existed[0])
    }

    /// Commits `ops` as one batch: one `write` call (one per 4 MiB of a larger batch, its
    /// commit record last); after a crash either every operation is there or none is.
    /// With [`StoreOptions::sync`], returns once the batch is durable.
    pub fn write(&self, ops: &[Op<'_>]) -> Result<Commit> {
        self.write_inner(ops, true)
            .map(|c| c.expect("a waiting write always commits"))
    }

    /// Like [`Store::write`], but when the writer lock is taken (by another write, a streamed
    /// value or the final step of a compaction) it writes nothing and returns `Ok(None)` at
    /// once instead of waiting. For callers that must not block, such as an event loop that
    /// can hand the batch to a worker thread instead.
    pub fn try_write(&self, ops: &[Op<'_>]) -> Result<Option<Commit>> {
        self.write_inner(ops, false)
    }

    fn write_inner(&self, ops: &[Op<'_>], wait: bool) -> Result<Option<Commit>> {
        for op in ops {
            match op {
                Op::Put { key, value } => Self::validate(key, Some(value))?,
                Op::Delete { key } => Self::validate(key, None)?,
            }
        }
        self.check_writable()?;
        if ops.is_empty() {
            return Ok(Some(Commit {
                existed: Vec::new(),
                seq: self.state.read().seq,
            }));
        }
        let hashes: Vec<u64> = ops.iter().map(|op| self.hash(op.key())).collect();
        let buf = if wait {
            self.writer.lock()
        } else {
            match self.writer.try_lock() {
                Some(buf) => buf,
                None => return Ok(None),
            }
        };
        let commit = self.append(buf, ops, &hashes)?;
        if self.sync_commits {
            self.wait_durable(commit.seq)?;
        }
        Ok(Some(commit))
    }

    /// Appends one batch; `buf` is the writer lock's guard (its encode buffer).
    fn append(
        &self,
        buf: parking_lot::MutexGuard<'_, Vec<u8>>,
        ops: &[Op<'_>],
        hashes: &[u64],
    ) -> Result<Commit> {
        let mut appending = Appending::begin(self, buf, ops.len() == 1)?;
        let mut offsets = Vec::with_capacity(ops.len());
        for op in ops {
            offsets.push(appending.encode(*op)?);
        }
        let done = appending.finish()?;
        if ops.len() >= GROUPED_BATCH {
            // A large batch: applied grouped by table region (see `Index::apply_grouped`),
            // its operations staged before the state lock is taken.
            let mut log_ops: Vec<LogOp> = (ops.iter().zip(hashes).zip(&offsets))
                .enumerate()
                .map(|(i, ((op, &hash), &offset))| append::log_op(op, hash, offset, i))
                .collect();
            let mut existed = vec![false; ops.len()];
            let (seq, ()) = done.commit(|index, data| {
                index.apply_grouped(data, &mut log_ops, &mut Vec::new(), Some(&mut existed));
            });
            return Ok(Commit { existed, seq });
        }
        let (seq, existed) = done.commit(|index, data| {
            if ops.len() > 64 {
                index.reserve(ops.len());
            }
            let mut existed = Vec::with_capacity(ops.len());
            for (i, ((op, &hash), &offset)) in ops.iter().zip(hashes).zip(&offsets).enumerate() {
                if let Some(&ahead) = hashes.get(i + PREFETCH_AHEAD) {
                    index.prefetch(ahead);
                }
                let prior = match op {
                    Op::Put { key, .. } => index.insert(data, hash, key, offset),
                    Op::Delete { key } => index.remove(data, hash, key),
                };
                existed.push(prior.is_some());
            }
            existed
        });
        Ok(Commit { existed, seq })
    }

    // ----- durability -----

    /// Sequence number up to which commits are known to be durable.
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq.load(Ordering::Acquire)
    }

    /// Returns once commit `seq` is durable. Concurrent callers share one `fdatasync`.
    pub fn wait_durable(&self, seq: u64) -> Result<()> {
        if self.durable_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let _g = self.durability.lock();
        if self.durable_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let (file, target, end, generation) = {
            let s = self.state.read();
            (s.file.clone(), s.seq, s.end, s.generation)
        };
        // Checked after reading the state: a compaction whose directory sync failed
        // poisons the store before its state names the new file, so a sync of that file
        // never acknowledges anything.
        if let Some(cause) = self.poison.get() {
            return Err(Error::Poisoned {
                cause: cause.clone(),
            });
        }
        self.sync_and_publish(&file, (target, end, generation))
    }

    /// Syncs `file` (the durability lock held) and publishes that commits up to `seq` and
    /// bytes up to `end` of `generation`'s file are durable; a failed sync poisons the store.
    fn sync_and_publish(&self, file: &File, (seq, end, generation): (u64, u64, u64)) -> Result<()> {
        if let Err(e) = self.backend.sync_data(file) {
            return Err(self.poison_durability(Error::io("fdatasync", &self.path, e)));
        }
        {
            let mut s = self.state.write();
            if s.generation == generation && end > s.durable_end {
                s.durable_end = end;
            }
        }
        // Published after the durable end: a `flush` that finds its commits durable then
        // also finds the sync mark due that records them.
        self.durable_seq.fetch_max(seq, Ordering::AcqRel);
        Ok(())
    }

    /// Makes every commit acknowledged so far durable, then appends a sync mark recording
    /// that (FORMAT.md, "Sync marks"), so that damage to those bytes found by a later open is
    /// reported as corruption instead of being taken for a torn unsynced tail.
    pub fn flush(&self) -> Result<()> {
        self.check_open()?;
        if self.read_only {
            return Ok(());
        }
        let seq = self.state.read().seq;
        self.wait_durable(seq)?;
        let _w = self.writer.lock();
        if self.poison.get().is_none() {
            self.append_mark();
        }
        Ok(())
    }

    /// Makes everything written so far durable, as [`Store::flush`] does, then saves the
    /// index beside the store (`<store>.srd-index`) if the store has at least
    /// [`StoreOptions::checkpoint_min_keys`] live keys and the checkpoint there is not
    /// already up to date, so that the next open does not have to scan the whole log.
    /// [`Store::close`] does this too. Returns whether a checkpoint was written; failing to
    /// write one is not an error (opens then scan the log, as without one). On a poisoned
    /// store it makes what was committed before the failure durable, as [`Store::close`]
    /// does, then fails with [`Error::Poisoned`] (or with the error of that sync).
    ///
    /// Writers wait only while the writes made since the sync that starts it are synced, a
    /// sync mark is appended and the index is copied (16 bytes per live key); the checkpoint
    /// of that copy is then verified and written while reads and writes go on. Writes made
    /// meanwhile are not in it: the next open reads them from the log after its end.
    pub fn checkpoint(&self) -> Result<bool> {
        if let Err(e) = self.check_writable() {
            if matches!(e, Error::Poisoned { .. }) {
                let _w = self.writer.lock();
                self.sync_after_poison()?;
            }
            return Err(e);
        }
        let _one_at_a_time = self.checkpointing.lock();
        // Again under the lock, which `close` takes too: a close that began since the check
        // above may have finished, and nothing may be written after it.
        self.check_open()?;
        // The bulk of the sync with no writer lock held, as in `flush`; the one below then
        // has only what was written meanwhile.
        let seq = self.state.read().seq;
        self.wait_durable(seq)?;
        let copy = {
            let _w = self.writer.lock();
            let seq = self.state.read().seq;
            self.wait_durable(seq)?;
            if self.poison.get().is_some() {
                return Ok(false);
            }
            self.append_mark();
            self.checkpoint_copy()
        };
        Ok(copy.is_some_and(|c| self.save_checkpoint(c)))
    }

    /// Copies what an index checkpoint needs, if one is due. The caller holds the
    /// `checkpointing` lock and the writer lock, and has just synced and marked the log, so
    /// that the copy describes a log that ends with a mark recording all of it.
    fn checkpoint_copy(&self) -> Option<CheckpointCopy> {
        let s = self.state.read();
        if !s.sync_marks
            || s.checkpoint_end == s.end
            || s.index.len() < self.checkpoint_min_keys
            || !checkpoint::ends_with_full_mark(s.map.bytes(s.end), s.end)
        {
            return None;
        }
        Some(CheckpointCopy {
            map: s.map.clone(),
            end: s.end,
            file: s.file.clone(),
            file_id: s.file_id,
            generation: s.generation,
            index: checkpoint::IndexCopy::of(&s.index),
        })
    }

    /// Writes the index checkpoint of `copy` (the caller holds the `checkpointing` lock,
    /// and needs no other). Returns whether it wrote one that describes the store's current
    /// file. Every entry is verified first, so that a checkpoint never vouches for bytes
    /// that were damaged while the store was open; if one does not verify, no checkpoint is
    /// left beside the store, and the next open reads (and reports) the whole log.
    fn save_checkpoint(&self, copy: CheckpointCopy) -> bool {
        // Written (or removed) beside the path only while the path still names this
        // store's file: a checkpoint beside a file that replaced it is not ours to touch.
        let Ok(like) = copy.file.metadata() else {
            return false;
        };
        if self.check_in_place(copy.file_id).is_err() {
            return false;
        }
        // Readers and writers go on meanwhile: the log before `copy.end` never changes, and
        // `copy.map` keeps it mapped even if a compaction replaces the file.
        let data = copy.map.bytes(copy.end);
        let Some(log_hash) = checkpoint::verified_log_hash(data, copy.end) else {
            let _ = std::fs::remove_file(checkpoint::path_for(&self.path));
            return false;
        };
        let file = checkpoint::StoreFile {
            path: &self.path,
            inode: copy.file_id.1,
            data,
        };
        let written = checkpoint::write(
            &file,
            &like,
            self.backend.as_ref(),
            self.hasher,
            copy.end,
            copy.index,
            log_hash,
        );
        if written.is_err() {
            return false;
        }
        let mut s = self.state.write();
        // After a compaction the checkpoint is of the replaced file; the compaction removes
        // it once this returns (it waits for the `checkpointing` lock).
        if s.generation != copy.generation {
            return false;
        }
        s.checkpoint_end = copy.end;
        true
    }

    pub(crate) fn mark_durable(&self, seq: u64) {
        self.durable_seq.fetch_max(seq, Ordering::AcqRel);
    }

    // ----- lifecycle -----

    /// Closes the store: waits for in-flight writes and compaction, makes every commit
    /// durable (`fdatasync`), then releases the locks. Handles returned by reads stay
    /// valid. Closing twice is fine. The store is closed even when the sync fails; the
    /// error is returned then. A poisoned store still syncs what was committed before the
    /// failure when the failure was a write or a rename (its file's committed bytes are
    /// whole); after a failed sync it cannot, and `close` fails with [`Error::Io`] saying
    /// that earlier writes may not be durable. (Dropping a store without `close` skips the sync: what was
    /// acknowledged is with the OS, as after a crash of the process.)
    pub fn close(&self) -> Result<()> {
        self.close_with(true)
    }

    fn close_with(&self, sync: bool) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let _c = self.compaction.lock();
        let _k = self.checkpointing.lock();
        let _w = self.writer.lock();
        let mut result = Ok(());
        if sync && !self.read_only && self.poison.get().is_none() {
            let seq = self.state.read().seq;
            result = self.wait_durable(seq);
            if result.is_ok() {
                // As in `flush`: record what the sync made durable.
                self.append_mark();
                if let Some(copy) = self.checkpoint_copy() {
                    self.save_checkpoint(copy);
                }
            }
        } else if sync && !self.read_only {
            result = self.sync_after_poison();
        }
        let s = self.state.read();
        if !self.read_only
            && self.poison.get().is_none()
            && self.allocated.load(Ordering::Acquire) > s.end
        {
            // Trim the preallocated zeros, unless readers have the file mapped (shrinking
            // it under them would kill them with SIGBUS). Zeros left behind are harmless:
            // recovery drops a zero-filled tail.
            if lock::try_exclusive(&s.file) {
                if self.backend.set_len(&s.file, s.end).is_ok() {
                    self.allocated.store(s.end, Ordering::Release);
                }
                let _ = s.file.unlock();
            }
        }
        if self.read_only {
            let _ = s.file.unlock();
        } else {
            lock::unlock_file_itself(&s.file);
        }
        if let Some(f) = self.lock_file.lock().take() {
            let _ = f.unlock();
        }
        result
    }

    /// Appends a sync mark on its own if one is due (the writer lock must be held). The mark
    /// is not synced itself: losing it loses no data. A failed write poisons nothing: the
    /// next append writes the mark again (it is still due), and a mark only informs
    /// recovery.
    fn append_mark(&self) {
        let (file, end, mark) = {
            let s = self.state.read();
            (s.file.clone(), s.end, s.pending_mark())
        };
        let Some(durable_end) = mark else { return };
        let mut buf = Vec::with_capacity(format::SYNC_MARK_LEN as usize);
        format::encode_sync_mark(&mut buf, end, durable_end);
        if self.backend.write_at(&file, &buf, end).is_ok() {
            let new_end = end + buf.len() as u64;
            self.allocated.fetch_max(new_end, Ordering::AcqRel);
            let map = self.state.read().map.clone();
            let map = if new_end > map.reserved() {
                // Where mappings are not reserved ahead (not Unix), the mark must be
                // mapped before the store's end may include it. If it cannot be, the end
                // stays where it was and the next append writes over the mark.
                match Mapping::new(&file, new_end, true) {
                    Ok(m) => Arc::new(m),
                    Err(_) => return,
                }
            } else {
                map
            };
            let mut s = self.state.write();
            s.map = map;
            s.end = new_end;
            // A mark that records everything before it needs no other mark until more is
            // written and synced (as an open decides). One that records less (a flush
            // synced, then a batch landed before it took the writer lock) leaves a mark due
            // for that batch, which the next sync makes durable.
            s.marked_end = if durable_end == end {
                new_end
            } else {
                durable_end
            };
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.close_with(false);
    }
}

/// What an index checkpoint is made of, copied under the locks (see `Store::checkpoint_copy`).
struct CheckpointCopy {
    /// Maps the log the copy describes, up to `end` at least.
    map: Arc<Mapping>,
    end: u64,
    /// The store file the copy describes, and its identity (device, inode).
    file: Arc<File>,
    file_id: FileId,
    generation: u64,
    index: checkpoint::IndexCopy,
}

/// Iterator over live entries, from [`Store::iter`].
pub struct Iter {
    map: Arc<Mapping>,
    offsets: std::vec::IntoIter<u64>,
}

impl Iterator for Iter {
    type Item = (Value, Value);

    fn next(&mut self) -> Option<(Value, Value)> {
        let off = self.offsets.next()?;
        let h = format::read_header_trusted(self.map.slice(off, format::ENTRY_HEADER_LEN as usize));
        let key = Value::new(self.map.clone(), off + h.key_start(), h.key_len);
        let value = Value::new(self.map.clone(), off + h.value_start(), h.value_len);
        Some((key, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.offsets.size_hint()
    }
}

impl ExactSizeIterator for Iter {}
