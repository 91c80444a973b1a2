//! The on-disk format: the file header and the entry encoding. `FORMAT.md` at the
//! repository root documents the same layout byte by byte; keep the two in step.
//!
//! ```text
//! file   := header entry*
//! header := magic[8] version:u16 header_len:u16 flags:u32 align:u32 reserved[36] checksum:u64
//! entry  := checksum:u64 kind:u8 flags:u8 key_len:u16 value_len:u32
//!           key[key_len] pad(0..7) value[value_len] pad(0..7)
//! ```
//!
//! All integers are little-endian. Every entry starts at a multiple of [`ALIGN`] and its
//! value also starts at a multiple of [`ALIGN`], so a value can be viewed as a typed array
//! in place. An entry's checksum is XXH3-64 over every byte of the entry after the checksum
//! field (header fields, key, value and the zero padding), seeded with the entry's own file
//! offset (mixed with a constant), so an entry's bytes found at any other offset do not
//! verify there. The kind byte is never 0, so zero-filled bytes never verify either.

use crate::simd;

mod records;
pub(crate) use records::*;

/// Magic bytes at offset 0 of every store file.
pub const MAGIC: [u8; 8] = *b"SIMDRDRV";
/// The newest on-disk format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 3;
/// The first format version with sync marks ([`EntryKind::SyncMark`]).
pub(crate) const SYNC_MARKS_SINCE: u16 = 2;
/// The first format version whose header carries a generation identifier (and whose store
/// can have an index file).
pub(crate) const GENERATION_SINCE: u16 = 3;
/// Length of the file header; the first entry starts here.
pub const HEADER_LEN: u64 = 64;
/// Alignment of every entry and every value, in bytes.
pub const ALIGN: u64 = 8;
/// Length of the fixed part of an entry, before the key.
pub const ENTRY_HEADER_LEN: u64 = 16;
/// Longest key the format can hold.
pub const MAX_KEY_LEN: usize = u16::MAX as usize;
/// Longest value the format can hold (4 GiB - 1).
pub const MAX_VALUE_LEN: usize = u32::MAX as usize;

/// Entry flag bit: this entry is the last one of its batch (the batch's commit marker).
pub(crate) const FLAG_COMMIT: u8 = 0x01;
/// Entry flag bit (Puts only): an 8-byte u64 version follows the 16 fixed bytes, and the key
/// starts after it. Compaction and repair write it to keep a copied entry's version.
pub(crate) const FLAG_VERSION: u8 = 0x02;
/// Entry flag bit (Puts only): an 8-byte u64 expiry (ms since the Unix epoch) follows the
/// fixed bytes (after the version when [`FLAG_VERSION`] is set too), and the key starts
/// after it. From that time on the entry reads as missing.
pub(crate) const FLAG_EXPIRY: u8 = 0x04;
/// Entry flag bit (Deletes only; no field of its own): this
/// tombstone is an expiry record. The store's expiry sweep ([`crate::Store::sweep_expired`])
/// wrote it for a Put whose expiry had passed, so that its bytes count as reclaimable and
/// the change feed can say the key expired.
pub(crate) const FLAG_EXPIRED: u8 = 0x10;
/// Entry flag bit (Deletes only): this tombstone is an eviction (the store's size limit,
/// [`crate::StoreOptions::max_bytes`], removed the key, not a delete). An 8-byte u64 follows
/// the fixed bytes: the file offset of the Put it evicted, or 0 when compaction copied the
/// record from an older file (where that offset meant something else). The key starts after it.
pub(crate) const FLAG_EVICTION: u8 = 0x08;
/// The flag bits that each add one 8-byte field after the fixed bytes, in bit order.
const EXTENSION_FLAGS: u8 = FLAG_VERSION | FLAG_EXPIRY | FLAG_EVICTION;
/// The extension bits a Put may carry.
pub(crate) const PUT_FLAGS: u8 = FLAG_VERSION | FLAG_EXPIRY;
/// Every entry flag bit this build knows.
const KNOWN_FLAGS: u8 = FLAG_COMMIT | EXTENSION_FLAGS | FLAG_EXPIRED;

/// Bytes of extension fields that the flags `flags` announce (8 per extension bit).
#[inline]
pub(crate) const fn extension_len(flags: u8) -> u64 {
    8 * (flags & EXTENSION_FLAGS).count_ones() as u64
}

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// The key now has the entry's value.
    Put = 1,
    /// The key was deleted (a tombstone; its value length is always 0).
    Delete = 2,
    /// Commit record closing a batch of two or more entries: no key, and an 8-byte value
    /// holding the file offset of the batch's first entry.
    Commit = 3,
    /// Sync mark (format version 2): a batch of its own with no key and an 8-byte value
    /// holding a file offset up to which every byte had been made durable (`fdatasync`)
    /// before the mark was written. Recovery uses it to tell damage in data that a power
    /// loss may tear (after the last sync) from damage in data that was durable.
    SyncMark = 4,
    /// Clear: a batch of its own with no key and no value; every key written before it is
    /// gone.
    Clear = 5,
}

/// Length of a sync mark.
pub(crate) const SYNC_MARK_LEN: u64 = ENTRY_HEADER_LEN + 8;

/// Rounds `n` up to a multiple of [`ALIGN`].
#[inline]
pub(crate) const fn align_up(n: u64) -> u64 {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

/// Total length of an entry with the given key and value lengths, padding included.
#[inline]
pub(crate) const fn entry_len(key_len: usize, value_len: usize) -> u64 {
    ENTRY_HEADER_LEN + align_up(key_len as u64) + align_up(value_len as u64)
}

/// Seed for an entry's checksum: its offset, so that position is part of what verifies.
#[inline]
fn checksum_seed(offset: u64) -> u64 {
    offset ^ 0x5352_4452_4956_4531 // "SRDRIVE1"
}

/// Encodes the header of a new file of the current version, whose generation identifier
/// is `generation` (see [`new_generation`]) and whose entries' versions start at
/// `version_base` (see [`header_version_base`]).
pub(crate) fn encode_header(generation: [u8; 16], version_base: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[10..12].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    h[12..16].copy_from_slice(&0u32.to_le_bytes());
    h[16..20].copy_from_slice(&(ALIGN as u32).to_le_bytes());
    h[20..36].copy_from_slice(&generation);
    h[36..44].copy_from_slice(&version_base.to_le_bytes());
    let sum = simd::checksum(&h[..56], 0);
    h[56..64].copy_from_slice(&sum.to_le_bytes());
    h
}

/// A fresh random generation identifier: each new store file (created, compacted or
/// repaired) gets one, so that an index file made for another file, even one that reuses
/// the inode or the path, is never taken for this file's.
pub(crate) fn new_generation() -> [u8; 16] {
    use std::hash::BuildHasher;
    // `RandomState` is keyed from the operating system's randomness and moves to a new key
    // for each instance; two of them give 128 bits.
    let a = std::collections::hash_map::RandomState::new().hash_one(0x6765_6e31_u64);
    let b = std::collections::hash_map::RandomState::new().hash_one(0x6765_6e32_u64);
    let mut g = [0u8; 16];
    g[..8].copy_from_slice(&a.to_le_bytes());
    g[8..].copy_from_slice(&b.to_le_bytes());
    g
}

/// The generation identifier in a checked header of version `version` (`None` before
/// version 3, whose headers have none).
pub(crate) fn header_generation(header: &[u8], version: u16) -> Option<[u8; 16]> {
    (version >= GENERATION_SINCE && header.len() >= 36)
        .then(|| header[20..36].try_into().expect("16 bytes"))
}

/// The version base in a checked header (bytes 36..44; zero in files of versions 1 and 2,
/// whose reserved bytes are zero, and in a newly created file): an entry without an
/// explicit version has the version `base + its offset`.
pub(crate) fn header_version_base(header: &[u8]) -> u64 {
    header
        .get(36..44)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// The version of the verified Put at `offset` in `data` (a store's bytes from offset 0,
/// header included): the explicit one it carries ([`FLAG_VERSION`]), or the header's
/// version base plus its offset.
pub(crate) fn entry_version(data: &[u8], offset: u64) -> u64 {
    let h = read_header_trusted(&data[offset as usize..]);
    if h.flags & FLAG_VERSION != 0 {
        let at = (offset + ENTRY_HEADER_LEN) as usize;
        u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"))
    } else {
        header_version_base(data).wrapping_add(offset)
    }
}

/// The expiry (ms since the Unix epoch) of the verified entry at `offset` in `data`, or
/// `None` if it has none ([`FLAG_EXPIRY`]).
#[inline]
pub(crate) fn entry_expiry(data: &[u8], offset: u64) -> Option<u64> {
    let flags = data[offset as usize + 9];
    (flags & FLAG_EXPIRY != 0).then(|| {
        // The expiry field follows the version field when both are present.
        let at = (offset + ENTRY_HEADER_LEN + extension_len(flags & FLAG_VERSION)) as usize;
        u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"))
    })
}

/// Whether the verified entry at `offset` in `data` has expired by the time `now` gives
/// (ms since the epoch): it has an expiry at or before it. `now` is called only for an
/// entry that has an expiry, so that reads of entries without one never read a clock.
#[inline]
pub(crate) fn expired(data: &[u8], offset: u64, now: impl FnOnce() -> u64) -> bool {
    entry_expiry(data, offset).is_some_and(|at| at <= now())
}

/// XXH3-64 with seed 0: the checksum of headers and index files.
#[inline]
pub(crate) fn checksum0(bytes: &[u8]) -> u64 {
    simd::checksum(bytes, 0)
}

/// Whether the 24 bytes `mark` are a sync mark at file offset `at` that records
/// everything before it (its durable end is `at`).
pub(crate) fn is_full_mark_at(mark: &[u8], at: u64) -> bool {
    mark.len() == SYNC_MARK_LEN as usize
        && mark[8] == 4
        && mark[9] == FLAG_COMMIT
        && mark[10..16] == [0, 0, 8, 0, 0, 0]
        && u64::from_le_bytes(mark[16..24].try_into().expect("8 bytes")) == at
        && simd::checksum(&mark[8..], checksum_seed(at))
            == u64::from_le_bytes(mark[..8].try_into().expect("8 bytes"))
}

/// Whether `data` (a store's bytes) ends at `end` with a sync mark that records everything
/// before it: a point a base index may cover.
pub(crate) fn ends_with_full_mark(data: &[u8], end: u64) -> bool {
    if end < HEADER_LEN + SYNC_MARK_LEN || end > data.len() as u64 || !end.is_multiple_of(ALIGN) {
        return false;
    }
    let at = end - SYNC_MARK_LEN;
    matches!(verify_entry(&data[..end as usize], at),
        Ok(h) if h.kind == EntryKind::SyncMark && h.len() == SYNC_MARK_LEN)
        && sync_mark_end(data, at) == at
}

/// Why a header was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    /// No magic: this is not a store file.
    NotAStore,
    /// A newer format version.
    Version(u16),
    /// Magic is right but the rest does not verify.
    Corrupt(&'static str),
}

/// Checks a file header. `bytes` is the start of the file (any length). Returns the file's
/// format version.
pub(crate) fn check_header(bytes: &[u8]) -> Result<u16, HeaderProblem> {
    if bytes.len() < MAGIC.len() || bytes[..8] != MAGIC {
        return Err(HeaderProblem::NotAStore);
    }
    if bytes.len() < HEADER_LEN as usize {
        return Err(HeaderProblem::Corrupt("the header is truncated"));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version > FORMAT_VERSION {
        return Err(HeaderProblem::Version(version));
    }
    let stored = u64::from_le_bytes(bytes[56..64].try_into().expect("8 bytes"));
    if simd::checksum(&bytes[..56], 0) != stored {
        return Err(HeaderProblem::Corrupt("the header checksum does not match"));
    }
    if version == 0 {
        return Err(HeaderProblem::Corrupt("format version 0 does not exist"));
    }
    let header_len = u16::from_le_bytes([bytes[10], bytes[11]]);
    let flags = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    let align = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    if header_len as u64 != HEADER_LEN || align as u64 != ALIGN || flags != 0 {
        return Err(HeaderProblem::Corrupt(
            "the header has fields this version never writes",
        ));
    }
    Ok(version)
}

/// A verified entry's fixed fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryHeader {
    pub kind: EntryKind,
    pub commit: bool,
    pub key_len: usize,
    pub value_len: usize,
    /// The flags byte as stored (commit and extension bits).
    pub flags: u8,
}

impl EntryHeader {
    /// Total length of the entry on disk.
    #[inline]
    pub fn len(&self) -> u64 {
        entry_len(self.key_len, self.value_len) + extension_len(self.flags)
    }
    /// Offset of the key relative to the entry's start.
    #[inline]
    pub fn key_start(&self) -> u64 {
        ENTRY_HEADER_LEN + extension_len(self.flags)
    }
    /// Offset of the value relative to the entry's start.
    #[inline]
    pub fn value_start(&self) -> u64 {
        self.key_start() + align_up(self.key_len as u64)
    }
}

/// Parses the fixed fields at the start of `bytes` without verifying the checksum.
/// Only for entries that were verified before (the index points at them).
#[inline]
pub(crate) fn read_header_trusted(bytes: &[u8]) -> EntryHeader {
    let kind = match bytes[8] {
        2 => EntryKind::Delete,
        3 => EntryKind::Commit,
        4 => EntryKind::SyncMark,
        5 => EntryKind::Clear,
        _ => EntryKind::Put,
    };
    EntryHeader {
        kind,
        commit: bytes[9] & FLAG_COMMIT != 0,
        key_len: u16::from_le_bytes([bytes[10], bytes[11]]) as usize,
        value_len: u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize,
        flags: bytes[9],
    }
}

/// Whether the entry at `offset` with header `h` lies wholly inside `data`.
#[inline]
pub(crate) fn fits(data: &[u8], offset: u64, h: &EntryHeader) -> bool {
    offset + h.len() <= data.len() as u64
}

/// Whether an index entry's offset points at an entry that lies wholly inside `data`:
/// what every reader of an index entry checks before slicing (see [`key_at`]).
#[inline]
pub(crate) fn entry_fits(data: &[u8], offset: u64) -> bool {
    offset + ENTRY_HEADER_LEN <= data.len() as u64
        && fits(data, offset, &read_header_trusted(&data[offset as usize..]))
}

/// The key of the verified entry at `offset`, or the empty slice (which is no key) if
/// the entry would not fit in `data`. Lookups compare keys through this, so an index entry
/// found by a lookup always lies inside `data`, whatever the index says.
#[inline]
pub(crate) fn key_at(data: &[u8], offset: u64) -> &[u8] {
    let h = read_header_trusted(&data[offset as usize..]);
    if !fits(data, offset, &h) {
        return &[];
    }
    let start = (offset + h.key_start()) as usize;
    &data[start..start + h.key_len]
}

/// The value of the verified entry at `offset`.
#[inline]
pub(crate) fn value_at(data: &[u8], offset: u64) -> &[u8] {
    let h = read_header_trusted(&data[offset as usize..]);
    let start = (offset + h.value_start()) as usize;
    &data[start..start + h.value_len]
}

/// Why the bytes at some offset are not a valid entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadEntry {
    /// Fewer bytes remain than an entry header needs.
    Short,
    /// The header's fields are impossible.
    Header(&'static str),
    /// The entry would end past the end of the data.
    PastEnd,
    /// The checksum does not match.
    Checksum,
}

impl BadEntry {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            BadEntry::Short => "a partial entry header",
            BadEntry::Header(why) => why,
            BadEntry::PastEnd => "an entry longer than the rest of the file",
            BadEntry::Checksum => "an entry checksum mismatch",
        }
    }
}

std::thread_local! {
    /// Bytes [`verify_entry`] has hashed on this thread (see [`entry_bytes_hashed`]).
    static HASHED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Bytes of entries whose checksum this thread has computed to verify them, since the
/// thread started: the work recovery, repair and followers do (checkpoint hashing not
/// included). For tests that bound that work without timing it.
pub(crate) fn entry_bytes_hashed() -> u64 {
    HASHED.with(|h| h.get())
}

/// Parses and verifies the entry at `offset` in `data` (the file's bytes from offset 0;
/// `data.len()` is where valid data ends). Never reads outside `data`, never allocates.
pub(crate) fn verify_entry(data: &[u8], offset: u64) -> Result<EntryHeader, BadEntry> {
    let h = plausible_entry(data, offset)?;
    verify_checksum(data, offset, &h)?;
    Ok(h)
}

/// Checks the checksum of the entry at `offset` whose header `h` came from
/// [`plausible_entry`]: hashes `h.len()` bytes.
pub(crate) fn verify_checksum(data: &[u8], offset: u64, h: &EntryHeader) -> Result<(), BadEntry> {
    let start = offset as usize;
    let end = start + h.len() as usize;
    HASHED.with(|c| c.set(c.get() + h.len()));
    let stored = u64::from_le_bytes(data[start..start + 8].try_into().expect("8 bytes"));
    if simd::checksum(&data[start + 8..end], checksum_seed(offset)) != stored {
        return Err(BadEntry::Checksum);
    }
    Ok(())
}

/// Everything [`verify_entry`] checks but the checksum: the header's fields are possible
/// and the entry lies inside `data`. Costs no hashing.
pub(crate) fn plausible_entry(data: &[u8], offset: u64) -> Result<EntryHeader, BadEntry> {
    let limit = data.len() as u64;
    if offset > limit || limit - offset < ENTRY_HEADER_LEN {
        return Err(BadEntry::Short);
    }
    let start = offset as usize;
    let h = &data[start..start + ENTRY_HEADER_LEN as usize];
    let kind = match h[8] {
        1 => EntryKind::Put,
        2 => EntryKind::Delete,
        3 => EntryKind::Commit,
        4 => EntryKind::SyncMark,
        5 => EntryKind::Clear,
        _ => return Err(BadEntry::Header("an unknown entry kind")),
    };
    if h[9] & !KNOWN_FLAGS != 0 {
        return Err(BadEntry::Header("unknown entry flags"));
    }
    if kind != EntryKind::Put && h[9] & PUT_FLAGS != 0 {
        return Err(BadEntry::Header(
            "extension fields on an entry that is not a put",
        ));
    }
    if h[9] & FLAG_EXPIRED != 0 && kind != EntryKind::Delete {
        return Err(BadEntry::Header(
            "the expiry-record flag on an entry that is not a tombstone",
        ));
    }
    if h[9] & (FLAG_EXPIRED | FLAG_EVICTION) == FLAG_EXPIRED | FLAG_EVICTION {
        return Err(BadEntry::Header(
            "a tombstone flagged as both an expiry record and an eviction",
        ));
    }
    if kind != EntryKind::Delete && h[9] & FLAG_EVICTION != 0 {
        return Err(BadEntry::Header(
            "the eviction flag on an entry that is not a tombstone",
        ));
    }
    let key_len = u16::from_le_bytes([h[10], h[11]]) as usize;
    let value_len = u32::from_le_bytes(h[12..16].try_into().expect("4 bytes")) as usize;
    match kind {
        EntryKind::Commit if key_len != 0 || value_len != 8 || h[9] != 0 => {
            return Err(BadEntry::Header("a malformed commit record"));
        }
        EntryKind::Commit => {}
        EntryKind::SyncMark if key_len != 0 || value_len != 8 || h[9] != FLAG_COMMIT => {
            return Err(BadEntry::Header("a malformed sync mark"));
        }
        EntryKind::SyncMark => {}
        EntryKind::Clear if key_len != 0 || value_len != 0 || h[9] != FLAG_COMMIT => {
            return Err(BadEntry::Header("a malformed clear entry"));
        }
        EntryKind::Clear => {}
        EntryKind::Put | EntryKind::Delete if key_len == 0 => {
            return Err(BadEntry::Header("an empty key"))
        }
        EntryKind::Delete if value_len != 0 => {
            return Err(BadEntry::Header("a tombstone with a value"))
        }
        _ => {}
    }
    let len = entry_len(key_len, value_len) + extension_len(h[9]);
    if len > limit - offset {
        return Err(BadEntry::PastEnd);
    }
    Ok(EntryHeader {
        kind,
        commit: h[9] & FLAG_COMMIT != 0,
        key_len,
        value_len,
        flags: h[9],
    })
}

/// Appends one encoded entry to `buf`, which is to be written at file offset `base`
/// (so the entry lands at `base + buf.len()` before the call). Returns the entry's offset.
pub(crate) fn encode_entry(
    buf: &mut Vec<u8>,
    base: u64,
    kind: EntryKind,
    commit: bool,
    key: &[u8],
    value: &[u8],
) -> u64 {
    encode_entry_versioned(buf, base, kind, commit, None, key, value)
}

/// [`encode_entry`] of an entry that carries the explicit version `version`
/// ([`FLAG_VERSION`]; Puts only), when given.
pub(crate) fn encode_entry_versioned(
    buf: &mut Vec<u8>,
    base: u64,
    kind: EntryKind,
    commit: bool,
    version: Option<u64>,
    key: &[u8],
    value: &[u8],
) -> u64 {
    encode_entry_extended(buf, base, kind, commit, version, None, key, value)
}

/// [`encode_entry_versioned`] of an entry that also carries the expiry `expiry`
/// ([`FLAG_EXPIRY`]; Puts only), when given: the version field first, then the expiry.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_entry_extended(
    buf: &mut Vec<u8>,
    base: u64,
    kind: EntryKind,
    commit: bool,
    version: Option<u64>,
    expiry: Option<u64>,
    key: &[u8],
    value: &[u8],
) -> u64 {
    debug_assert!(key.len() <= MAX_KEY_LEN && value.len() <= MAX_VALUE_LEN);
    debug_assert!(match kind {
        EntryKind::Put => !key.is_empty(),
        EntryKind::Delete => !key.is_empty() && value.is_empty(),
        EntryKind::Commit => key.is_empty() && value.len() == 8 && !commit,
        EntryKind::SyncMark => key.is_empty() && value.len() == 8 && commit,
        EntryKind::Clear => key.is_empty() && value.is_empty() && commit,
    });
    debug_assert!(version.is_none() || kind == EntryKind::Put);
    debug_assert!(expiry.is_none() || kind == EntryKind::Put);
    let start = buf.len();
    debug_assert_eq!(start as u64 % ALIGN, 0);
    let offset = base + start as u64;
    let flags = if commit { FLAG_COMMIT } else { 0 }
        | if version.is_some() { FLAG_VERSION } else { 0 }
        | if expiry.is_some() { FLAG_EXPIRY } else { 0 };
    let len = (entry_len(key.len(), value.len()) + extension_len(flags)) as usize;
    buf.reserve(len);
    buf.extend_from_slice(&[0u8; 8]);
    buf.push(kind as u8);
    buf.push(flags);
    buf.extend_from_slice(&(key.len() as u16).to_le_bytes());
    buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
    if let Some(v) = version {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    if let Some(at) = expiry {
        buf.extend_from_slice(&at.to_le_bytes());
    }
    buf.extend_from_slice(key);
    pad(buf);
    buf.extend_from_slice(value);
    pad(buf);
    debug_assert_eq!(buf.len() - start, len);
    let sum = simd::checksum(&buf[start + 8..], checksum_seed(offset));
    buf[start..start + 8].copy_from_slice(&sum.to_le_bytes());
    offset
}

/// The fixed fields, expiry field (when `expiry` is given: [`FLAG_EXPIRY`]) and padded key
/// of a single-entry Put batch whose `value_len`-byte value follows separately, with a zero
/// checksum (see [`stream_checksum`]).
pub(crate) fn encode_stream_head(key: &[u8], value_len: u64, expiry: Option<u64>) -> Vec<u8> {
    debug_assert!(!key.is_empty() && key.len() <= MAX_KEY_LEN && value_len <= MAX_VALUE_LEN as u64);
    let mut buf = Vec::with_capacity(ENTRY_HEADER_LEN as usize + key.len() + 16);
    buf.extend_from_slice(&[0u8; 8]);
    buf.push(EntryKind::Put as u8);
    buf.push(FLAG_COMMIT | if expiry.is_some() { FLAG_EXPIRY } else { 0 });
    buf.extend_from_slice(&(key.len() as u16).to_le_bytes());
    buf.extend_from_slice(&(value_len as u32).to_le_bytes());
    if let Some(at) = expiry {
        buf.extend_from_slice(&at.to_le_bytes());
    }
    buf.extend_from_slice(key);
    pad(&mut buf);
    buf
}

/// A streaming checksum for the entry at `offset`: fed every byte after the checksum field,
/// it gives what [`encode_entry`] computes in one call (XXH3-64 streamed and one-shot agree).
pub(crate) fn stream_checksum(offset: u64) -> xxhash_rust::xxh3::Xxh3 {
    xxhash_rust::xxh3::Xxh3::with_seed(checksum_seed(offset))
}

/// Appends a commit record closing the batch whose first entry is at `batch_start`.
pub(crate) fn encode_commit(buf: &mut Vec<u8>, base: u64, batch_start: u64) -> u64 {
    encode_entry(
        buf,
        base,
        EntryKind::Commit,
        false,
        &[],
        &batch_start.to_le_bytes(),
    )
}

/// Appends a sync mark saying that every byte before `durable_end` is durable.
pub(crate) fn encode_sync_mark(buf: &mut Vec<u8>, base: u64, durable_end: u64) -> u64 {
    encode_entry(
        buf,
        base,
        EntryKind::SyncMark,
        true,
        &[],
        &durable_end.to_le_bytes(),
    )
}

/// The durable end recorded in a verified sync mark at `offset`.
pub(crate) fn sync_mark_end(data: &[u8], offset: u64) -> u64 {
    commit_batch_start(data, offset)
}

/// The batch start recorded in a verified commit record at `offset`.
pub(crate) fn commit_batch_start(data: &[u8], offset: u64) -> u64 {
    let at = (offset + ENTRY_HEADER_LEN) as usize;
    u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"))
}

#[inline]
fn pad(buf: &mut Vec<u8>) {
    let rem = buf.len() % ALIGN as usize;
    if rem != 0 {
        buf.extend_from_slice(&[0u8; ALIGN as usize][rem..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_strangers() {
        let h = encode_header(new_generation(), 0);
        assert_eq!(check_header(&h), Ok(FORMAT_VERSION));
        assert_ne!(
            header_generation(&h, 3),
            header_generation(&encode_header(new_generation(), 0), 3)
        );
        assert_eq!(header_generation(&h, 2), None);
        // A version 1 header (no sync marks) is still read.
        let mut v1 = h;
        v1[8] = 1;
        let sum = simd::checksum(&v1[..56], 0);
        v1[56..64].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(check_header(&v1), Ok(1));
        assert_eq!(
            check_header(b"\x89PNG\r\n\x1a\n...."),
            Err(HeaderProblem::NotAStore)
        );
        assert_eq!(
            check_header(&h[..20]),
            Err(HeaderProblem::Corrupt("the header is truncated"))
        );
        let mut newer = h;
        newer[8] = 4;
        assert_eq!(check_header(&newer), Err(HeaderProblem::Version(4)));
        let mut flipped = h;
        flipped[30] ^= 1;
        assert!(matches!(
            check_header(&flipped),
            Err(HeaderProblem::Corrupt(_))
        ));
    }

    #[test]
    fn entries_are_aligned_and_verify_only_at_their_offset() {
        let mut buf = vec![0u8; HEADER_LEN as usize];
        let a = encode_entry(&mut buf, 0, EntryKind::Put, false, b"abc", b"hello world");
        let b = encode_entry(&mut buf, 0, EntryKind::Delete, true, b"k", b"");
        assert_eq!(a, HEADER_LEN);
        assert_eq!(b, HEADER_LEN + entry_len(3, 11));
        assert_eq!(b % ALIGN, 0);
        let ha = verify_entry(&buf, a).unwrap();
        assert_eq!(
            (ha.kind, ha.commit, ha.key_len, ha.value_len),
            (EntryKind::Put, false, 3, 11)
        );
        assert_eq!((a + ha.value_start()) % ALIGN, 0);
        let hb = verify_entry(&buf, b).unwrap();
        assert_eq!((hb.kind, hb.commit), (EntryKind::Delete, true));
        // The same bytes at another offset do not verify.
        let mut moved = vec![0u8; 8];
        moved.extend_from_slice(&buf);
        assert_eq!(verify_entry(&moved, a + 8), Err(BadEntry::Checksum));
        // All-zero bytes never verify.
        assert!(verify_entry(&[0u8; 256], 64).is_err());
    }

    #[test]
    fn version_and_expiry_fields_both_move_the_key() {
        let mut buf = vec![0u8; HEADER_LEN as usize];
        let a = encode_entry_extended(
            &mut buf,
            0,
            EntryKind::Put,
            true,
            Some(7),
            Some(1234),
            b"k",
            b"v",
        );
        let b = encode_entry_extended(&mut buf, 0, EntryKind::Put, true, None, Some(99), b"k", b"");
        let h = verify_entry(&buf, a).unwrap();
        assert_eq!(h.key_start(), 32);
        assert_eq!(key_at(&buf, a), b"k");
        assert_eq!(value_at(&buf, a), b"v");
        assert_eq!(entry_version(&buf, a), 7);
        assert_eq!(entry_expiry(&buf, a), Some(1234));
        assert_eq!(entry_expiry(&buf, b), Some(99));
        assert!(expired(&buf, b, || 99) && !expired(&buf, b, || 98));
        assert_eq!(verify_entry(&buf, b).unwrap().key_start(), 24);
    }

    #[test]
    fn an_eviction_record_is_a_tombstone_with_the_evicted_offset() {
        let mut buf = vec![0u8; HEADER_LEN as usize];
        let e = encode_eviction(&mut buf, 0, true, b"key", 4096);
        let h = verify_entry(&buf, e).unwrap();
        assert_eq!(
            (h.kind, h.commit, h.value_len),
            (EntryKind::Delete, true, 0)
        );
        assert!(is_eviction(&h));
        assert_eq!(h.len(), 32);
        assert_eq!(h.key_start(), 24);
        assert_eq!(key_at(&buf, e), b"key");
        assert_eq!(evicted_offset(&buf, e), 4096);
        // The flag on anything but a tombstone does not verify.
        let p = encode_entry(&mut buf, 0, EntryKind::Put, true, b"k", b"v");
        buf[p as usize + 9] |= FLAG_EVICTION;
        assert_eq!(
            plausible_entry(&buf, p),
            Err(BadEntry::Header(
                "the eviction flag on an entry that is not a tombstone"
            ))
        );
    }

    #[test]
    fn entry_overhead_is_bounded() {
        // 16-byte key, 100-byte value: 16 + 16 + 104 = 136 bytes on disk for 116 raw bytes.
        assert_eq!(entry_len(16, 100), 136);
        assert_eq!(entry_len(1, 0), 24);
    }
}
