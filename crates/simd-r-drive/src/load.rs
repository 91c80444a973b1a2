//! Loading a store file's log into an index: what opening, following, compaction and
//! repair share.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::files;
use crate::format::{self, EntryHeader, EntryKind, HeaderProblem, HEADER_LEN};
use crate::hash::{KeyHash, KeyHasher};
use crate::index::base::Base;
use crate::index::delta_file;
use crate::index::{Index, LogOp};
use crate::io as sio;
use crate::mapping::Mapping;
use crate::scan::{self, Mode};

/// How an open reads a file of format `version`; `live` for a read-only open, beside which
/// a writer in another process may be appending (see [`Mode::Strict`]).
pub(crate) fn strict(version: u16, live: bool) -> Mode {
    Mode::Strict {
        marks: version >= format::SYNC_MARKS_SINCE,
        live,
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

/// The generation identifier in the header of `file` (read with `pread`), if it is a
/// store of a version that has one.
pub(crate) fn generation_of(file: &File) -> Option<[u8; 16]> {
    let mut head = [0u8; HEADER_LEN as usize];
    let n = sio::read_at(file, &mut head, 0).ok()?;
    let version = format::check_header(&head[..n]).ok()?;
    format::header_generation(&head, version)
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
        EntryKind::Delete => index.remove(data, hash, key, off).is_some(),
        EntryKind::Clear => {
            index.clear();
            false
        }
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
    /// The end of the log and the number of keys that the index file supplied (the log
    /// was scanned only from that end on), if one matched the file.
    pub checkpoint: Option<(u64, u64)>,
}

/// Reads `file` (whose header was checked) into a fresh index: from its index file and the
/// log after the end that file covers, when `use_index`, `mode` is strict and an index file
/// matches the store (`index::base::Base::open`, constant time), else from the whole log.
/// The key hash is `custom` or a seeded XXH3: with the given `seed`, or else the seed of
/// the index file used, or else a random one.
pub(crate) fn load(
    file: &File,
    path: &Path,
    custom: Option<KeyHasher>,
    seed: Option<u64>,
    mode: Mode,
    grow: bool,
    use_index: bool,
) -> Result<Loaded> {
    let meta = file
        .metadata()
        .map_err(|e| Error::io("reading the file size", path, e))?;
    let len = meta.len();
    let map = Mapping::new(file, len, grow).map_err(|e| Error::io("mapping the file", path, e))?;
    let data = map.bytes(len);
    // Read with `pread`, not through the mapping, as everything an open through the index
    // file reads: a fault would read ahead around it (up to megabytes on some disks).
    let generation = generation_of(file);
    let base = match (mode, generation) {
        (Mode::Strict { marks: true, .. }, Some(g)) if use_index => Base::open(
            &files::with_suffix(path, files::CHECKPOINT),
            file,
            len,
            g,
            custom,
            seed,
        ),
        _ => None,
    };
    let (mut index, start, checkpoint, hasher) = match base {
        Some(b) => {
            let hash = KeyHash {
                custom,
                seed: b.seed,
            };
            let delta = generation.and_then(|g| {
                delta_file::read(&files::with_suffix(path, files::DELTA), file, len, g, &b)
            });
            match delta {
                Some(d) => {
                    let found = (d.totals.end, d.totals.len);
                    (
                        Index::on_base_with(Arc::new(b), d),
                        found.0,
                        Some(found),
                        hash,
                    )
                }
                None => {
                    let found = (b.end, b.keys);
                    (Index::on_base(Arc::new(b)), found.0, Some(found), hash)
                }
            }
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
    if let Some(b) = index.base() {
        b.replayed();
    }
    let mut outcome = outcome.map_err(|d| Error::corrupt(path, d.offset, d.reason))?;
    if let (Some((end, _)), None) = (checkpoint, outcome.last_mark) {
        // The index file's end is the end of a sync mark recording everything before it.
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
    index_log_until(data, start, mode, hasher, index, |_| true)
}

/// [`index_log`], calling `go_on(offset)` for each entry applied: once it returns `false`
/// the scan stops (see [`scan::scan_until`]) and `index` holds only part of the log.
pub(crate) fn index_log_until(
    data: &[u8],
    start: u64,
    mode: Mode,
    hasher: KeyHash,
    index: &mut Index,
    mut go_on: impl FnMut(u64) -> bool,
) -> std::result::Result<scan::Outcome, scan::Damage> {
    const CHUNK: usize = 1 << 20;
    let len = data.len() as u64;
    let mut ops = Vec::with_capacity(((len.saturating_sub(start) / 128) as usize).min(CHUNK));
    let mut scratch = Vec::new();
    let outcome = scan::scan_until(data, start, mode, |off, h| {
        if h.kind == EntryKind::Clear {
            // Everything before it is gone: what is collected so far need not be applied.
            ops.clear();
            index.clear();
            return go_on(off);
        }
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
        go_on(off)
    });
    index.apply_grouped(data, &mut ops, &mut scratch, None);
    outcome
}
