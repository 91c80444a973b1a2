//! The index checkpoint `<store>.srd-index`: the index saved beside the store when it is closed,
//! so that the next open reads it instead of scanning the whole log.
//!
//! A checkpoint describes the log up to an offset `E` where the store ended with a sync
//! mark recording everything before it. An open uses it only if everything still matches:
//! its own checksum, the store file's identity (inode), the sync mark at `E - 24`, a hash
//! of every byte of the log before `E`, and the key hash function. The open then scans
//! only what was appended after `E`, with the usual recovery rules. Anything that does not
//! match is ignored, and the open scans the whole log as it would without a checkpoint
//! (which reports damage before `E` as it always does): a checkpoint can make an open
//! faster, never different. Hashing the log costs far less than scanning it, and runs on
//! two threads while the index is built. `FORMAT.md` documents the layout.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::files;
use crate::format::{self, EntryKind, ALIGN, ENTRY_HEADER_LEN, HEADER_LEN, SYNC_MARK_LEN};
use crate::hash::{KeyHash, KeyHasher};
use crate::index::{Index, Slot};
use crate::io::Backend;

/// Magic bytes at offset 0 of a checkpoint.
const MAGIC: [u8; 8] = *b"SRDINDEX";
/// The checkpoint layout version this build writes and reads (version 1, without the key
/// hash's seed, is ignored: the open reads the log and the next close writes version 2).
const VERSION: u16 = 2;
/// Length of the checkpoint's header.
const HEADER: usize = 72;
/// Bytes per live key: its hash and its entry's offset.
const SLOT: usize = 16;
/// The log before `E` is hashed in pieces of this size, which two threads share.
const HASH_CHUNK: u64 = 4 << 20;
/// Key hashed to tell whether a checkpoint's hashes came from the same hash function.
const HASHER_PROBE: &[u8] = b"simd-r-drive index checkpoint";

/// Where the checkpoint of the store at `path` lives.
pub(crate) fn path_for(store: &Path) -> PathBuf {
    files::with_suffix(store, files::CHECKPOINT)
}

/// Hash of the log `[64, end)`: XXH3-64 of the little-endian XXH3-64s of its 4 MiB pieces.
/// `data` must hold at least `end` bytes. The pieces are hashed by the calling thread and
/// one helper; the helper first runs `first` and the result is returned with the hash.
fn log_hash<R: Send>(data: &[u8], end: u64, first: impl FnOnce() -> R + Send) -> (u64, R) {
    let pieces = (end - HEADER_LEN).div_ceil(HASH_CHUNK) as usize;
    let sums: Vec<AtomicU64> = (0..pieces).map(|_| AtomicU64::new(0)).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= pieces {
            break;
        }
        let from = HEADER_LEN + i as u64 * HASH_CHUNK;
        let to = (from + HASH_CHUNK).min(end);
        let h = xxhash_rust::xxh3::xxh3_64(&data[from as usize..to as usize]);
        sums[i].store(h, Ordering::Relaxed);
    };
    // Taken by whichever thread runs it: the helper, or this one if no helper can start.
    let first = std::sync::Mutex::new(Some(first));
    let run_first = || {
        let f = first.lock().ok().and_then(|mut f| f.take());
        f.expect("run once")()
    };
    let r = std::thread::scope(|scope| {
        let helper = std::thread::Builder::new().spawn_scoped(scope, || {
            let r = run_first();
            work();
            r
        });
        match helper {
            Ok(helper) => {
                work();
                helper
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            }
            // No thread to be had (a resource limit): all of it on this one, slower.
            Err(_) => {
                let r = run_first();
                work();
                r
            }
        }
    });
    let mut all = Vec::with_capacity(pieces * 8);
    for h in &sums {
        all.extend_from_slice(&h.load(Ordering::Relaxed).to_le_bytes());
    }
    (xxhash_rust::xxh3::xxh3_64(&all), r)
}

/// Whether `data` (the store's bytes) ends at `end` with a sync mark that records
/// everything before it: the state a checkpoint describes.
pub(crate) fn ends_with_full_mark(data: &[u8], end: u64) -> bool {
    if end < HEADER_LEN + SYNC_MARK_LEN || end > data.len() as u64 {
        return false;
    }
    let at = end - SYNC_MARK_LEN;
    matches!(format::verify_entry(&data[..end as usize], at),
        Ok(h) if h.kind == EntryKind::SyncMark && h.len() == SYNC_MARK_LEN)
        && format::sync_mark_end(data, at) == at
}

/// What the store file looks like to a checkpoint.
pub(crate) struct StoreFile<'a> {
    pub path: &'a Path,
    /// The file's inode (from its identity).
    pub inode: u64,
    /// The file's bytes (from offset 0).
    pub data: &'a [u8],
}

/// Verifies every entry of the log before `end` and returns its log hash, or `None` if an
/// entry does not verify (no checkpoint must then vouch for those bytes). Needs no lock:
/// an open store never rewrites bytes before its end (appends go after it, and compaction
/// writes a new file while `data` keeps the old one mapped).
pub(crate) fn verified_log_hash(data: &[u8], end: u64) -> Option<u64> {
    let data = &data[..end as usize];
    let (hash, scanned) = log_hash(data, end, || {
        crate::scan::scan(data, HEADER_LEN, crate::scan::Mode::Follow, |_, _| {})
    });
    match scanned {
        Ok(o) if o.tail.is_none() && o.committed_end == end => Some(hash),
        _ => None,
    }
}

/// The index as a checkpoint saves it, copied while the caller holds the state lock: its
/// slots already in the checkpoint's byte layout, after room for the header. The copy is
/// all that [`write`] needs of the index, so the file is written with no lock held.
pub(crate) struct IndexCopy {
    keys: usize,
    live_bytes: u64,
    /// `HEADER` bytes to fill in, then the slots; the checksum goes after them.
    buf: Vec<u8>,
}

impl IndexCopy {
    /// Copies `index` (16 bytes per live key).
    pub(crate) fn of(index: &Index) -> IndexCopy {
        let keys = index.len();
        let mut buf = Vec::with_capacity(HEADER + keys * SLOT + 8);
        buf.resize(HEADER, 0);
        // In the table's own order, which is nearly the order of the table a reader builds
        // for the same number of keys: reading it back then fills that table front to back.
        for s in index.slots() {
            buf.extend_from_slice(&s.hash.to_le_bytes());
            buf.extend_from_slice(&s.offset.to_le_bytes());
        }
        IndexCopy {
            keys,
            live_bytes: index.live_bytes(),
            buf,
        }
    }
}

/// Writes the checkpoint of `index`, which must have been copied when the store's log
/// ended at `end` exactly, with a full sync mark ([`ends_with_full_mark`]); `log_hash`
/// comes from [`verified_log_hash`]. The file is written beside the store under a temporary
/// name and renamed into place, both through `backend`; it is not synced, because its
/// checksum tells a torn checkpoint from a whole one. It gets the permission bits, owner and
/// group of the store file (`like`): it holds no values, but it tells how many keys there are.
pub(crate) fn write(
    store: &StoreFile<'_>,
    like: &std::fs::Metadata,
    backend: &dyn Backend,
    hash: KeyHash,
    end: u64,
    index: IndexCopy,
    log_hash: u64,
) -> std::io::Result<()> {
    let mut buf = index.buf;
    let mut head = Vec::with_capacity(HEADER);
    head.extend_from_slice(&MAGIC);
    head.extend_from_slice(&VERSION.to_le_bytes());
    head.extend_from_slice(&[0u8; 6]);
    for v in [
        end,
        index.keys as u64,
        index.live_bytes,
        store.inode,
        hash.of(HASHER_PROBE),
        log_hash,
        hash.seed,
    ] {
        head.extend_from_slice(&v.to_le_bytes());
    }
    debug_assert_eq!(head.len(), HEADER);
    debug_assert_eq!(buf.len(), HEADER + index.keys * SLOT);
    buf[..HEADER].copy_from_slice(&head);
    let sum = xxhash_rust::xxh3::xxh3_64(&buf);
    buf.extend_from_slice(&sum.to_le_bytes());
    let tmp = files::with_suffix(store.path, files::CHECKPOINT_TEMP);
    let written = crate::files::private_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .and_then(|f| {
            crate::files::keep_mode_and_owner(like, &f)?;
            backend.write_at(&f, &buf, 0)
        })
        .and_then(|()| backend.rename(&tmp, &path_for(store.path)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A checkpoint that matched the store.
pub(crate) struct Loaded {
    pub index: Index,
    /// The key hash the slots were made with.
    pub hash: KeyHash,
    /// The end of the log it describes.
    pub end: u64,
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Reads the checkpoint beside `store` if there is one and it matches the store file (and
/// was made with the key hash `custom`, or the default one, and with `seed` if given);
/// `None` otherwise (the caller then scans the whole log).
pub(crate) fn read(
    store: &StoreFile<'_>,
    custom: Option<KeyHasher>,
    seed: Option<u64>,
) -> Option<Loaded> {
    let file = std::fs::File::open(path_for(store.path)).ok()?;
    // Mapped rather than read: a fresh process would otherwise fault in and copy into a new
    // buffer as many bytes as the checkpoint has (16 MB per million keys), which took a
    // third of the time of an open here.
    // SAFETY: the mapping is read-only and lives only for this call. The engine never
    // writes into an existing checkpoint (each is written to a new file renamed into
    // place), so its bytes do not change while they are read; a program that truncates the
    // file meanwhile would fault the process, as it would by truncating the store itself.
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    parse(store, &map, custom, seed)
}

fn parse(
    store: &StoreFile<'_>,
    bytes: &[u8],
    custom: Option<KeyHasher>,
    seed: Option<u64>,
) -> Option<Loaded> {
    if bytes.len() < HEADER + 8 || bytes[..8] != MAGIC {
        return None;
    }
    if u16::from_le_bytes([bytes[8], bytes[9]]) != VERSION {
        return None;
    }
    let keys = u64_at(bytes, 24);
    let body = usize::try_from(keys).ok()?.checked_mul(SLOT)?;
    if bytes.len() != HEADER.checked_add(body)?.checked_add(8)? {
        return None;
    }
    let (content, sum) = bytes.split_at(bytes.len() - 8);
    if xxhash_rust::xxh3::xxh3_64(content) != u64_at(sum, 0) {
        return None;
    }
    let end = u64_at(bytes, 16);
    let hash = KeyHash {
        custom,
        seed: u64_at(bytes, 64),
    };
    if seed.is_some_and(|s| s != hash.seed)
        || u64_at(bytes, 40) != store.inode
        || u64_at(bytes, 48) != hash.of(HASHER_PROBE)
        || !ends_with_full_mark(store.data, end)
    {
        return None;
    }
    // Every offset must lie inside the described log where an entry can start, so that no
    // lookup reads outside the file whatever the checkpoint says.
    let last_start = end - SYNC_MARK_LEN - ENTRY_HEADER_LEN;
    let slots = content[HEADER..].chunks_exact(SLOT).map(|c| Slot {
        hash: u64_at(c, 0),
        offset: u64_at(c, 8),
    });
    if !slots
        .clone()
        .all(|s| s.offset >= HEADER_LEN && s.offset <= last_start && s.offset % ALIGN == 0)
    {
        return None;
    }
    // Each entry takes at least 24 bytes of the log, and live entries never more than it.
    let live_bytes = u64_at(bytes, 32);
    let log_bytes = end - HEADER_LEN;
    if keys.saturating_mul(format::entry_len(1, 0)) > log_bytes || live_bytes > log_bytes {
        return None;
    }
    // The index is built (after every slot was checked against the log) while the log is
    // hashed, and dropped if the log changed.
    let (log, index) = log_hash(store.data, end, || {
        if !slots_match_log(
            store.data,
            end,
            hash,
            live_bytes,
            slots.clone(),
            keys as usize,
        ) {
            return None;
        }
        Index::from_checkpoint(keys as usize, live_bytes, slots)
    });
    match index {
        Some(index) if log == u64_at(bytes, 56) => Some(Loaded { index, hash, end }),
        _ => None,
    }
}

/// Whether every slot agrees with the log before `end` (whose last 24 bytes are the final
/// sync mark): its offset starts a Put entry whose header is possible and which ends before
/// that mark, its hash is the key hash of that entry's key, no two slots name the same
/// entry, and the entries' lengths add up to `live_bytes`. A checkpoint that fails this is
/// ignored (the open reads the log): whatever its bytes, it cannot make the index point
/// outside the log, count a key twice or make the byte counts wrap.
fn slots_match_log(
    data: &[u8],
    end: u64,
    hash: KeyHash,
    live_bytes: u64,
    slots: impl Iterator<Item = Slot>,
    n: usize,
) -> bool {
    let log = &data[..(end - SYNC_MARK_LEN) as usize];
    let mut offsets = Distinct::new(end, n);
    let mut sum = 0u64;
    for s in slots {
        let Ok(h) = format::plausible_entry(log, s.offset) else {
            return false;
        };
        let key = (s.offset + h.key_start()) as usize;
        if h.kind != EntryKind::Put
            || hash.of(&log[key..key + h.key_len]) != s.hash
            || !offsets.insert(s.offset)
        {
            return false;
        }
        sum = sum.saturating_add(h.len());
    }
    sum == live_bytes && offsets.all_distinct()
}

/// Tells whether a set of aligned offsets below `end` has duplicates: a bitmap (one bit
/// per 8 bytes of log) when that is small next to the number of keys, else a sorted list.
enum Distinct {
    Bits(Vec<u64>),
    List(Vec<u64>),
}

impl Distinct {
    fn new(end: u64, n: usize) -> Distinct {
        let words = (end / ALIGN).div_ceil(64) as usize;
        if words <= n.saturating_mul(2).max(1 << 17) {
            Distinct::Bits(vec![0; words])
        } else {
            Distinct::List(Vec::with_capacity(n))
        }
    }

    /// Adds `offset`; false if the bitmap already had it (a list tells only at the end).
    fn insert(&mut self, offset: u64) -> bool {
        match self {
            Distinct::Bits(words) => {
                let bit = (offset / ALIGN) as usize;
                let (w, m) = (bit / 64, 1u64 << (bit % 64));
                let had = words[w] & m != 0;
                words[w] |= m;
                !had
            }
            Distinct::List(list) => {
                list.push(offset);
                true
            }
        }
    }

    fn all_distinct(&mut self) -> bool {
        match self {
            Distinct::Bits(_) => true,
            Distinct::List(list) => {
                list.sort_unstable();
                list.windows(2).all(|w| w[0] != w[1])
            }
        }
    }
}
