//! The two tombstones that say why a key left: expiry records (the expiry sweep's, flag
//! [`FLAG_EXPIRED`]) and eviction records (the size limit's, flag [`FLAG_EVICTION`], with
//! the evicted Put's offset); FORMAT.md, "Entries" and "Evictions".

use super::*;

/// Appends an expiry record (a Delete with [`FLAG_EXPIRED`]) of `key`, whose value's
/// expiry has passed. Returns the record's offset.
pub(crate) fn encode_expiry_record(buf: &mut Vec<u8>, base: u64, commit: bool, key: &[u8]) -> u64 {
    debug_assert!(!key.is_empty() && key.len() <= MAX_KEY_LEN);
    let start = buf.len();
    debug_assert_eq!(start as u64 % ALIGN, 0);
    let offset = base + start as u64;
    buf.extend_from_slice(&[0u8; 8]);
    buf.push(EntryKind::Delete as u8);
    buf.push(if commit { FLAG_COMMIT } else { 0 } | FLAG_EXPIRED);
    buf.extend_from_slice(&(key.len() as u16).to_le_bytes());
    buf.extend_from_slice(&0u32.to_le_bytes());
    buf.extend_from_slice(key);
    pad(buf);
    debug_assert_eq!((buf.len() - start) as u64, entry_len(key.len(), 0));
    let sum = simd::checksum(&buf[start + 8..], checksum_seed(offset));
    buf[start..start + 8].copy_from_slice(&sum.to_le_bytes());
    offset
}

/// Appends an eviction record (a Delete with [`FLAG_EVICTION`]) of `key`, whose Put at
/// `evicted` (0: unknown, see [`FLAG_EVICTION`]) the store's size limit removed. Returns
/// the record's offset.
pub(crate) fn encode_eviction(
    buf: &mut Vec<u8>,
    base: u64,
    commit: bool,
    key: &[u8],
    evicted: u64,
) -> u64 {
    debug_assert!(!key.is_empty() && key.len() <= MAX_KEY_LEN);
    let start = buf.len();
    debug_assert_eq!(start as u64 % ALIGN, 0);
    let offset = base + start as u64;
    let flags = if commit { FLAG_COMMIT } else { 0 } | FLAG_EVICTION;
    buf.extend_from_slice(&[0u8; 8]);
    buf.push(EntryKind::Delete as u8);
    buf.push(flags);
    buf.extend_from_slice(&(key.len() as u16).to_le_bytes());
    buf.extend_from_slice(&0u32.to_le_bytes());
    buf.extend_from_slice(&evicted.to_le_bytes());
    buf.extend_from_slice(key);
    pad(buf);
    debug_assert_eq!((buf.len() - start) as u64, eviction_len(key.len()));
    let sum = simd::checksum(&buf[start + 8..], checksum_seed(offset));
    buf[start..start + 8].copy_from_slice(&sum.to_le_bytes());
    offset
}

/// Whether the verified entry with header `h` is an expiry record ([`FLAG_EXPIRED`]).
#[inline]
pub(crate) fn is_expiry_record(h: &EntryHeader) -> bool {
    h.kind == EntryKind::Delete && h.flags & FLAG_EXPIRED != 0
}

/// Length of an eviction record of a `key_len`-byte key.
#[inline]
pub(crate) const fn eviction_len(key_len: usize) -> u64 {
    entry_len(key_len, 0) + 8
}

/// Whether the verified entry with header `h` is an eviction record ([`FLAG_EVICTION`]).
#[inline]
pub(crate) fn is_eviction(h: &EntryHeader) -> bool {
    h.kind == EntryKind::Delete && h.flags & FLAG_EVICTION != 0
}

/// The offset of the Put that the verified eviction record at `offset` evicted (0:
/// unknown).
pub(crate) fn evicted_offset(data: &[u8], offset: u64) -> u64 {
    let at = (offset + ENTRY_HEADER_LEN) as usize;
    u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"))
}
