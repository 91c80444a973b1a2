//! The delta file `<store>.srd-delta`: the keys changed since the base table was written,
//! saved by `close` when merging them into a new base would cost more than the change
//! (see `Store::close`). The next open reads it (its size is that of the change, not of the
//! store) and replays only the log written after it, so a store closed cleanly replays
//! nothing. Layout: `FORMAT.md`, "Delta file".

use std::path::Path;

use crate::files;
use crate::format::{self, ALIGN};
use crate::io::Backend;

use super::base::Base;
use super::{Slot, TOMB};

/// Magic bytes at offset 0 of a delta file.
const MAGIC: [u8; 8] = *b"SRDDELTA";
/// Length of the header.
const HEADER: usize = 88;
/// Bytes per slot.
const SLOT: usize = 16;
/// The most log a delta file may cover: a close merges instead when more was written since
/// the index file (see `Store::save_index`), so a larger claim is not one this build made.
/// It bounds the bitmap of entries checked on first read (one bit per 8 bytes: 1 MiB).
pub(crate) const MAX_LOG: u64 = 64 << 20;

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// What a delta file holds besides its slots.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Totals {
    /// The end of the log it covers (the base covers the log up to its own end).
    pub end: u64,
    /// Live keys of the whole index (base and delta).
    pub len: u64,
    /// Sum of the on-disk lengths of their entries.
    pub live_bytes: u64,
    /// The writer's eviction cursor at the copy (at most `end`), or 0 when unknown.
    pub evict_cursor: u64,
}

/// A delta file that matched the base and the store.
pub(crate) struct Loaded {
    pub totals: Totals,
    /// The changed keys: a Put's offset, or a Delete's marked with `TOMB`.
    pub slots: Vec<Slot>,
}

/// Writes the delta file of `slots` (the index's delta) over `base`, covering the log in
/// `data` up to `totals.end` (where it ends with a sync mark recording everything before
/// it), through `backend`, synced and renamed into place (see
/// [`files::replace_atomically`]). `like` gives the mode, owner and group.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write(
    tmp: &Path,
    dest: &Path,
    like: &std::fs::Metadata,
    backend: &dyn Backend,
    data: &[u8],
    generation: [u8; 16],
    base: &Base,
    totals: Totals,
    slots: &[Slot],
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(HEADER + slots.len() * SLOT + 8);
    buf.extend_from_slice(&MAGIC);
    buf.extend_from_slice(&super::base::LAYOUT.to_le_bytes());
    buf.extend_from_slice(&[0u8; 6]);
    buf.extend_from_slice(&generation);
    for v in [
        base.end,
        totals.end,
        totals.len,
        totals.live_bytes,
        slots.len() as u64,
        super::base::tail_hash(data, totals.end),
        super::base::recorded_cursor(totals.evict_cursor, totals.end),
    ] {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    debug_assert_eq!(buf.len(), HEADER);
    for s in slots {
        buf.extend_from_slice(&s.hash.to_le_bytes());
        buf.extend_from_slice(&s.offset.to_le_bytes());
    }
    let sum = format::checksum0(&buf);
    buf.extend_from_slice(&sum.to_le_bytes());
    files::replace_atomically(backend, tmp, dest, &mut files::private_options(), |f| {
        files::keep_mode_and_owner(like, f)?;
        backend.write_at(f, &buf, 0)
    })
    .map(drop)
    .map_err(|(_, e)| e)
}

/// Reads the delta file at `path` if it was written over `base` for `store` (`len` bytes
/// long, generation `generation`); `None` otherwise (the open then replays the log from
/// the base's end). Reads as many bytes as the file has and 64 KiB of the log, and checks
/// that every slot's offset is aligned and between the base's end and the delta's; the
/// entries are checked on their first read.
pub(crate) fn read(
    path: &Path,
    store: &std::fs::File,
    len: u64,
    generation: [u8; 16],
    base: &Base,
) -> Option<Loaded> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() < HEADER + 8 || bytes[..8] != MAGIC {
        return None;
    }
    let (content, sum) = bytes.split_at(bytes.len() - 8);
    if u16::from_le_bytes([bytes[8], bytes[9]]) != super::base::LAYOUT
        || bytes[16..32] != generation
        || format::checksum0(content) != u64_at(sum, 0)
        || u64_at(&bytes, 32) != base.end
    {
        return None;
    }
    let totals = Totals {
        end: u64_at(&bytes, 40),
        len: u64_at(&bytes, 48),
        live_bytes: u64_at(&bytes, 56),
        // A hint only: one that is not an entry boundary the file covers is dropped.
        evict_cursor: match u64_at(&bytes, 80) {
            c if c <= u64_at(&bytes, 40) && c.is_multiple_of(ALIGN) => c,
            _ => 0,
        },
    };
    let count = usize::try_from(u64_at(&bytes, 64)).ok()?;
    if content.len() != HEADER.checked_add(count.checked_mul(SLOT)?)?
        || totals.end < base.end
        || totals.end > len
        || !totals.end.is_multiple_of(ALIGN)
        || totals.end < format::HEADER_LEN + format::SYNC_MARK_LEN
        || totals.len > base.keys.saturating_add(count as u64)
        || totals.live_bytes > totals.end
        // A delta file is written only when less than this changed since the index file.
        || totals.end - base.end > MAX_LOG
    {
        return None;
    }
    // The sync mark and the 64 KiB the tail hash covers, read with `pread`: the entries
    // themselves are checked where a read uses them (`super::Index::check_read`), so the
    // open reads a constant amount of the log however much changed.
    if super::base::tail_of_file(store, len, totals.end) != Some(u64_at(&bytes, 72)) {
        return None;
    }
    let mut slots = Vec::with_capacity(count);
    for c in content[HEADER..].chunks_exact(SLOT) {
        let s = Slot {
            hash: u64_at(c, 0),
            offset: u64_at(c, 8),
        };
        let at = s.offset & !TOMB;
        if at < base.end
            || at.saturating_add(format::ENTRY_HEADER_LEN) > totals.end
            || !at.is_multiple_of(ALIGN)
        {
            return None;
        }
        slots.push(s);
    }
    Some(Loaded { totals, slots })
}
