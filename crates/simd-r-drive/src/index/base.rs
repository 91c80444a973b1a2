//! The base table: the index as of one point of the log, kept in a file beside the store
//! (`<store>.srd-index`) and used in place through a read-only shared mapping.
//!
//! An open checks the file's header against the store in constant time (the generation
//! identifier in the store's header, the sync mark at the end of the log it covers, a hash
//! of the last 64 KiB of that log, the key hash) and then maps it: no slot is read until a
//! lookup needs it, so opening costs the same at a thousand keys and at ten million, and
//! the table's pages are page cache that every process with the store open shares and the
//! kernel may evict. Keys changed since are the delta (`super::Index`).
//!
//! Layout (`FORMAT.md`, "Index file"): a 128-byte header, then 16-byte slots (key hash,
//! offset of the key's live Put), sorted by hash. A key whose hash is `h` has its home at
//! `h * buckets / 2^64` and sits at its home or after it, right after the key before it in
//! hash order; an empty slot has offset 0. The order lets a lookup stop at the first slot
//! whose hash is larger than the one it looks for, and lets a new table be written in one
//! sequential pass from the old one and the sorted delta.
//!
//! The slots are not trusted: every offset a lookup takes from them is checked to start a
//! possible Put entry inside the covered log whose key is the key looked up, and entries
//! are verified by their checksums on their first read (see [`Base::check_first_read`]).
//! A forged slot can therefore hide a key or point it at an older value of the same key,
//! never make a read leave the file or return another key's value.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::files;
use crate::format::{self, ALIGN, HEADER_LEN};
use crate::hash::{KeyHash, KeyHasher};
use crate::io::Backend;

use super::Slot;

/// Magic bytes at offset 0 of an index file.
const MAGIC: [u8; 8] = *b"SRDINDEX";
/// The index file layout this build writes and reads. Layout 2 (the whole-index
/// checkpoint of store format version 2) is ignored: such a store is read from its log.
pub(crate) const LAYOUT: u16 = 3;
/// Length of the header.
pub(crate) const HEADER: usize = 128;
/// Bytes per slot.
const SLOT: usize = 16;
/// Key hashed to tell whether the slots came from the same key hash.
const PROBE: &[u8] = b"simd-r-drive index";
/// How much of the log before the covered end the header's tail hash covers.
const TAIL: u64 = 64 << 10;
/// Entries up to this long are verified on their first read after open; longer ones are
/// left to [`crate::Store::verify`] and the background verifier (hashing a large value
/// whole would make its first read slow, and a read of it pages in only what is used).
pub(crate) const CHECK_ON_READ: u64 = 64 << 10;

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The slot a key whose hash is `hash` starts probing at, in a table of `buckets` homes.
#[inline]
fn home(hash: u64, buckets: u64) -> usize {
    ((u128::from(hash) * u128::from(buckets)) >> 64) as usize
}

/// How many home slots a table of `keys` keys gets: about 4/3 per key, so that a lookup
/// reads one cache line of slots in most cases (16 bytes per slot: about 21 bytes per key
/// on disk).
fn buckets_for(keys: u64) -> u64 {
    (keys + keys / 3).max(1)
}

/// The key of the Put entry at `offset` in `log`, if `offset` can start one there: the
/// Puts [`format::plausible_entry`] accepts (a test holds the two to the same answers), in
/// fewer branches, since every read through the table runs it on an untrusted slot.
#[inline]
fn put_key(log: &[u8], offset: u64) -> Option<&[u8]> {
    if offset < HEADER_LEN || !offset.is_multiple_of(ALIGN) {
        return None;
    }
    let start = usize::try_from(offset).ok()?;
    let h = log.get(start..start.checked_add(format::ENTRY_HEADER_LEN as usize)?)?;
    let flags = h[9];
    // A Put, with no flag but the commit bit and a Put's extensions.
    if h[8] != 1 || flags & !(format::FLAG_COMMIT | format::PUT_FLAGS) != 0 {
        return None;
    }
    let key_len = usize::from(u16::from_le_bytes([h[10], h[11]]));
    let value_len = u32::from_le_bytes([h[12], h[13], h[14], h[15]]) as usize;
    let ext = format::extension_len(flags);
    // (At most 2^16 + 2^32 + 40 bytes: no overflow.)
    if key_len == 0 || format::entry_len(key_len, value_len) + ext > (log.len() - start) as u64 {
        return None;
    }
    let ks = start + (format::ENTRY_HEADER_LEN + ext) as usize;
    Some(&log[ks..ks + key_len])
}

/// A base table that matched its store at open (or that this process wrote).
pub(crate) struct Base {
    map: memmap2::Mmap,
    slots: usize,
    buckets: u64,
    /// The end of the log the table covers: every key's latest operation before it.
    pub end: u64,
    /// Live keys in the table.
    pub keys: u64,
    /// Sum of the on-disk lengths of their entries.
    pub live_bytes: u64,
    /// Entries that start before this offset were verified by their checksums since the
    /// store file was made (the writer's scans, compaction, the background verifier).
    pub verified_through: u64,
    /// The seed of the key hash the slots were made with.
    pub seed: u64,
    /// The writer's eviction cursor when the table was copied (no live entry starts
    /// before it; see `Store::plan_evictions`), or 0 when unknown.
    pub evict_cursor: u64,
    /// XXH3-64 of the slot bytes, for [`crate::Store::verify`].
    slots_hash: u64,
    /// One bit per slot: its entry was verified on a read since open.
    checked: Box<[AtomicU64]>,
    /// The table was not in the page cache when it was mapped, and the open's replay of
    /// the log after it has not finished: its lookups ask for their pages together
    /// ([`Base::will_need_home`]). Cleared after the replay (a lookup of a few keys gains
    /// nothing from it, and pays a system call per page).
    cold: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Base {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Base")
            .field("end", &self.end)
            .field("keys", &self.keys)
            .field("slots", &self.slots)
            .finish()
    }
}

/// What the header of a new index file says, besides what its slots give.
pub(crate) struct Header {
    /// The generation identifier of the store file the table describes.
    pub generation: [u8; 16],
    pub end: u64,
    /// Sum of the on-disk lengths of the live entries (the index's own count: the slots'
    /// entries are not read to add them up).
    pub live_bytes: u64,
    pub verified_through: u64,
    pub hash: KeyHash,
    /// The writer's eviction cursor at the copy (at most `end`), or 0.
    pub evict_cursor: u64,
}

impl Base {
    /// Maps the index file `index` if it describes `store` (the store file of generation
    /// `generation`, `len` bytes long) and was made with the key hash `custom` (or the
    /// default one) and, when given, `seed`. `None` otherwise: the caller reads the log
    /// instead. Costs a constant amount of work whatever the store's size: 128 bytes of the
    /// index file and at most 64 KiB of the store, read with `pread` rather than through a
    /// mapping, so that no fault reads ahead around them.
    pub(crate) fn open(
        index: &Path,
        store: &File,
        len: u64,
        generation: [u8; 16],
        custom: Option<KeyHasher>,
        seed: Option<u64>,
    ) -> Option<Base> {
        let file = File::open(index).ok()?;
        let map = map_random(&file, false)?;
        Base::from_map(map, generation, custom, seed, |end| {
            tail_of_file(store, len, end)
        })
    }

    fn from_map(
        (map, cold): (memmap2::Mmap, bool),
        generation: [u8; 16],
        custom: Option<KeyHasher>,
        seed: Option<u64>,
        tail_hash_at: impl FnOnce(u64) -> Option<u64>,
    ) -> Option<Base> {
        let b: &[u8] = &map;
        if b.len() < HEADER || b[..8] != MAGIC || u16::from_le_bytes([b[8], b[9]]) != LAYOUT {
            return None;
        }
        if format::checksum0(&b[..HEADER - 8]) != u64_at(b, HEADER - 8) || b[16..32] != generation {
            return None;
        }
        let end = u64_at(b, 32);
        let keys = u64_at(b, 40);
        let live_bytes = u64_at(b, 48);
        let hash = KeyHash {
            custom,
            seed: u64_at(b, 56),
        };
        let buckets = u64_at(b, 72);
        let slots = u64_at(b, 80);
        let verified_through = u64_at(b, 88);
        // A hint only: one that is not an entry boundary the table covers is dropped.
        let evict_cursor = match u64_at(b, 112) {
            c if c <= end && c.is_multiple_of(8) => c,
            _ => 0,
        };
        if seed.is_some_and(|s| s != hash.seed)
            || hash.of(PROBE) != u64_at(b, 64)
            || tail_hash_at(end) != Some(u64_at(b, 104))
        {
            return None;
        }
        let log_bytes = end - HEADER_LEN;
        let body = usize::try_from(slots).ok()?.checked_mul(SLOT)?;
        if buckets == 0
            || slots < buckets
            || slots - buckets > keys
            || keys > slots
            || b.len() != HEADER.checked_add(body)?
            || keys.saturating_mul(format::entry_len(1, 0)) > log_bytes
            || live_bytes > log_bytes
            || verified_through > end
        {
            return None;
        }
        let slots = slots as usize;
        let checked = (0..slots.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        Some(Base {
            slots_hash: u64_at(b, 96),
            map,
            slots,
            buckets,
            end,
            keys,
            live_bytes,
            verified_through,
            seed: hash.seed,
            evict_cursor,
            checked,
            cold: cold.into(),
        })
    }

    #[inline]
    fn slot(&self, i: usize) -> Slot {
        let at = HEADER + i * SLOT;
        let b = &self.map[at..at + SLOT];
        Slot {
            hash: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            offset: u64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
        }
    }

    /// The covered part of the log in `data` (which holds at least that much).
    #[inline]
    fn log<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        &data[..(self.end as usize).min(data.len())]
    }

    /// Slot and offset of `key`'s Put, if the table has it.
    #[inline]
    pub(crate) fn find(&self, data: &[u8], hash: u64, key: &[u8]) -> Option<(usize, u64)> {
        let log = self.log(data);
        self.walk(hash, |offset| put_key(log, offset) == Some(key))
    }

    /// Slot and offset of the first slot whose key hash is `hash`, from the slots alone:
    /// nothing of the log is read, so that a batch of lookups can start loading every
    /// entry before it reads any. The offset is not checked: the caller gets the key there
    /// from [`Base::key_at`] and falls back to [`Base::find`] when that is not the key.
    #[inline]
    pub(crate) fn find_hash(&self, hash: u64) -> Option<(usize, u64)> {
        self.walk(hash, |_| true)
    }

    /// The key of the Put that a slot's `offset` names, if the covered log in `data` has
    /// a possible Put there (the slots are not trusted).
    #[inline]
    pub(crate) fn key_at<'a>(&self, data: &'a [u8], offset: u64) -> Option<&'a [u8]> {
        put_key(self.log(data), offset)
    }

    /// The first slot of `hash` whose offset `wanted` accepts: the walk from the hash's
    /// home to an empty slot or a larger hash.
    #[inline]
    fn walk(&self, hash: u64, mut wanted: impl FnMut(u64) -> bool) -> Option<(usize, u64)> {
        let mut i = home(hash, self.buckets);
        while i < self.slots {
            let s = self.slot(i);
            if s.offset == 0 || s.hash > hash {
                return None;
            }
            if s.hash == hash && wanted(s.offset) {
                return Some((i, s.offset));
            }
            i += 1;
        }
        None
    }

    /// Whether the table was cold (not in the page cache) when it was mapped, and the
    /// open's replay is still running.
    pub(crate) fn is_cold(&self) -> bool {
        self.cold.load(Ordering::Relaxed)
    }

    /// The open's replay is done (see [`Base::is_cold`]).
    pub(crate) fn replayed(&self) {
        self.cold.store(false, Ordering::Relaxed);
    }

    /// Asks the kernel to start reading the page of slots a lookup of `hash` reads first,
    /// without waiting: a caller about to look up many keys in a cold table asks for all
    /// their pages first, so that the reads overlap instead of waiting one after another.
    pub(crate) fn will_need_home(&self, hash: u64) {
        let i = home(hash, self.buckets).min(self.slots.saturating_sub(1));
        let at = HEADER + i * SLOT;
        crate::mapping::will_need(&self.map[at..at + SLOT]);
    }

    /// Starts loading the slots a lookup of `hash` reads first.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        let i = home(hash, self.buckets).min(self.slots.saturating_sub(1));
        crate::mapping::prefetch(self.map[HEADER + i * SLOT..].as_ptr());
    }

    /// Starts loading the word of the first-read bitmap that [`Base::check_first_read`]
    /// reads for slot `slot`, so that a batch of lookups does not wait for it one by one.
    #[inline]
    pub(crate) fn prefetch_checked(&self, slot: usize) {
        if let Some(w) = self.checked.get(slot / 64) {
            crate::mapping::prefetch((w as *const AtomicU64).cast::<u8>());
        }
    }

    /// Verifies the entry at `offset` (found in slot `slot`) by its checksum if this is its
    /// first read since open and it is not longer than [`CHECK_ON_READ`] (damage since an
    /// earlier verification, even in this generation, is found at the next open's first
    /// read; longer entries are left to the background verifier, once per generation). `Err`
    /// with why, when it does not verify.
    #[inline]
    pub(crate) fn check_first_read(
        &self,
        data: &[u8],
        slot: usize,
        offset: u64,
    ) -> Result<(), &'static str> {
        let (w, m) = (slot / 64, 1u64 << (slot % 64));
        if self.checked[w].load(Ordering::Relaxed) & m != 0 {
            return Ok(());
        }
        let log = self.log(data);
        let h = format::plausible_entry(log, offset).map_err(|b| b.describe())?;
        if h.len() > CHECK_ON_READ {
            return Ok(());
        }
        format::verify_checksum(log, offset, &h).map_err(|b| b.describe())?;
        self.checked[w].fetch_or(m, Ordering::Relaxed);
        Ok(())
    }

    /// Every slot whose offset lies where an entry of the covered log can start, in slot
    /// (hash) order. The entry there is not checked: compaction verifies each one it copies
    /// and fails on damage instead of dropping the key, and `verify()` compares them all
    /// with the log.
    pub(crate) fn entries<'a>(&'a self, data: &'a [u8]) -> impl Iterator<Item = Slot> + 'a {
        let end = self.log(data).len() as u64;
        (0..self.slots).map(|i| self.slot(i)).filter(move |s| {
            s.offset >= HEADER_LEN
                && s.offset % ALIGN == 0
                && s.offset.saturating_add(format::ENTRY_HEADER_LEN) <= end
        })
    }

    /// Whether the slot bytes are the ones the table was written with.
    pub(crate) fn slots_intact(&self) -> bool {
        format::checksum0(&self.map[HEADER..]) == self.slots_hash
    }

    /// Asks the kernel to read the whole table ahead: a merge reads it from end to end.
    pub(crate) fn will_read_all(&self) {
        #[cfg(unix)]
        {
            let _ = self.map.advise(memmap2::Advice::WillNeed);
        }
    }

    /// Bytes of the index file.
    pub(crate) fn file_bytes(&self) -> u64 {
        self.map.len() as u64
    }

    /// Heap bytes this table holds (the bitmap of entries checked on read).
    pub(crate) fn allocation_size(&self) -> usize {
        self.checked.len() * 8
    }
}

/// XXH3-64 of the last [`TAIL`] bytes of the log before `end` (from offset 64 at most).
pub(crate) fn tail_hash(data: &[u8], end: u64) -> u64 {
    let from = end.saturating_sub(TAIL).max(HEADER_LEN);
    format::checksum0(&data[from as usize..end as usize])
}

/// Where the tail hash of the log before `end` starts.
pub(crate) fn tail_start(end: u64) -> u64 {
    end.saturating_sub(TAIL).max(HEADER_LEN)
}

/// The tail hash of the log before `end` in `store` (`len` bytes long), read with `pread`,
/// if a sync mark that records everything before it ends at `end`; `None` otherwise.
pub(crate) fn tail_of_file(store: &File, len: u64, end: u64) -> Option<u64> {
    if !end.is_multiple_of(ALIGN) || end > len || end < HEADER_LEN + format::SYNC_MARK_LEN {
        return None;
    }
    let from = tail_start(end);
    let mut buf = vec![0u8; (end - from) as usize];
    if crate::io::read_at(store, &mut buf, from).ok()? != buf.len() {
        return None;
    }
    let mark = &buf[buf.len() - format::SYNC_MARK_LEN as usize..];
    format::is_full_mark_at(mark, end - format::SYNC_MARK_LEN).then(|| format::checksum0(&buf))
}

/// Maps `file` read-only, telling the kernel that reads will be random before any byte is
/// touched: a lookup reads one or two slots of a page, and the read-around of a fault
/// (up to the device's read-ahead, 8 MiB on some disks) would fill the page cache with
/// slots nobody asked for, and make a cold open read megabytes. A large table in the page
/// cache (`written`: this process just wrote it) gets huge pages too
/// ([`crate::mapping::advise_huge_pages`]). Also returns whether the table seemed cold.
fn map_random(file: &File, written: bool) -> Option<(memmap2::Mmap, bool)> {
    // SAFETY: the mapping is read-only and shared. The engine never writes into an index
    // file once it is renamed into place (a new one is written under a temporary name and
    // renamed over it, which leaves this inode and its bytes as they were), so the bytes
    // do not change while mapped; a program that truncates the file meanwhile would fault
    // the process, as truncating the store file itself would.
    let map = unsafe { memmap2::Mmap::map(file) }.ok()?;
    #[cfg(unix)]
    {
        let _ = map.advise(memmap2::Advice::Random);
    }
    let resident = written || crate::mapping::seems_resident(&map);
    crate::mapping::advise_huge_pages(&map, resident);
    Some((map, !resident))
}

/// Writes the base table of `slots` (sorted by hash, each naming a live Put of the log in
/// `data` before `head.end`; `keys` of them) to `tmp`, syncs it and renames it to `dest`,
/// then syncs the directory, all through `backend` (see [`files::replace_atomically`]); the
/// new file gets the mode, owner and group of the store file (`like`). Returns the table,
/// mapped from the file written.
#[allow(clippy::too_many_arguments)] // each is one thing the file needs; a struct of them would be built once
pub(crate) fn write(
    tmp: &Path,
    dest: &Path,
    like: &std::fs::Metadata,
    backend: &dyn Backend,
    data: &[u8],
    head: &Header,
    keys: u64,
    slots: impl Iterator<Item = Slot>,
) -> std::io::Result<Base> {
    const CHUNK: usize = 4 << 20;
    let buckets = buckets_for(keys);
    let mut options = files::private_options();
    let file = files::replace_atomically(backend, tmp, dest, &mut options, |file| {
        // It tells how many keys the store has: readable by exactly those who may read it.
        files::keep_mode_and_owner(like, file)?;
        let mut buf = Vec::with_capacity(CHUNK + SLOT);
        buf.resize(HEADER, 0);
        let mut at = 0u64;
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut flush = |buf: &mut Vec<u8>, skip: usize| -> std::io::Result<()> {
            hasher.update(&buf[skip..]);
            backend.write_at(file, buf, at)?;
            at += buf.len() as u64;
            buf.clear();
            Ok(())
        };
        let mut first = true;
        let mut next = 0usize;
        let mut count = 0u64;
        let put = |buf: &mut Vec<u8>, s: Slot| {
            buf.extend_from_slice(&s.hash.to_le_bytes());
            buf.extend_from_slice(&s.offset.to_le_bytes());
        };
        let mut last = 0u64;
        for s in slots {
            if s.hash < last {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the slots of the index being merged are out of order",
                ));
            }
            last = s.hash;
            let at_home = home(s.hash, buckets);
            while next < at_home {
                put(&mut buf, Slot { hash: 0, offset: 0 });
                next += 1;
                if buf.len() >= CHUNK {
                    flush(&mut buf, if first { HEADER } else { 0 })?;
                    first = false;
                }
            }
            put(&mut buf, s);
            next += 1;
            count += 1;
            if buf.len() >= CHUNK {
                flush(&mut buf, if first { HEADER } else { 0 })?;
                first = false;
            }
        }
        while (next as u64) < buckets {
            put(&mut buf, Slot { hash: 0, offset: 0 });
            next += 1;
            if buf.len() >= CHUNK {
                flush(&mut buf, if first { HEADER } else { 0 })?;
                first = false;
            }
        }
        flush(&mut buf, if first { HEADER } else { 0 })?;
        debug_assert_eq!(count, keys);
        let mut h = Vec::with_capacity(HEADER);
        h.extend_from_slice(&MAGIC);
        h.extend_from_slice(&LAYOUT.to_le_bytes());
        h.extend_from_slice(&[0u8; 6]);
        h.extend_from_slice(&head.generation);
        for v in [
            head.end,
            count,
            head.live_bytes,
            head.hash.seed,
            head.hash.of(PROBE),
            buckets,
            next as u64,
            head.verified_through,
            hasher.digest(),
            tail_hash(data, head.end),
            recorded_cursor(head.evict_cursor, head.end),
        ] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        debug_assert_eq!(h.len(), HEADER - 8);
        let sum = format::checksum0(&h);
        h.extend_from_slice(&sum.to_le_bytes());
        backend.write_at(file, &h, 0)
    })
    .map_err(|(_, e)| e)?;
    let map = map_random(&file, true)
        .ok_or_else(|| std::io::Error::other("the index file written cannot be mapped"))?;
    Base::from_map(
        map,
        head.generation,
        head.hash.custom,
        Some(head.hash.seed),
        |end| format::ends_with_full_mark(data, end).then(|| tail_hash(data, end)),
    )
    .ok_or_else(|| std::io::Error::other("the index file written does not read back as written"))
}

/// The eviction cursor an index or delta file covering the log up to `end` records: 0 (none)
/// for the header's end, where a walk starts anyway, so that the files of a store that never
/// evicted are what they were before the field had a meaning; never past `end`.
pub(crate) fn recorded_cursor(cursor: u64, end: u64) -> u64 {
    if cursor <= format::HEADER_LEN {
        0
    } else {
        cursor.min(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `put_key` must answer: the key of a Put that `plausible_entry` accepts.
    fn put_key_by_plausible_entry(log: &[u8], offset: u64) -> Option<&[u8]> {
        if offset < HEADER_LEN || !offset.is_multiple_of(ALIGN) {
            return None;
        }
        match format::plausible_entry(log, offset) {
            Ok(h) if h.kind == format::EntryKind::Put => {
                let ks = (offset + h.key_start()) as usize;
                Some(&log[ks..ks + h.key_len])
            }
            _ => None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        /// The fast check of a slot's entry accepts exactly the Puts the full check does,
        /// and names the same key bytes, whatever the header bytes and wherever they lie.
        #[test]
        fn put_key_agrees_with_plausible_entry(
            filler in proptest::collection::vec(any::<u8>(), 0..256),
            slot in 0u64..40,
            kind in 0u8..7,
            flags in prop_oneof![0u8..8, any::<u8>()],
            key_len in prop_oneof![0u16..48, any::<u16>()],
            value_len in prop_oneof![0u32..160, any::<u32>()],
        ) {
            let offset = slot * 8;
            let mut log = vec![0u8; HEADER_LEN as usize];
            log.extend_from_slice(&filler);
            let at = offset as usize;
            if at + 16 <= log.len() {
                log[at + 8] = kind;
                log[at + 9] = flags;
                log[at + 10..at + 12].copy_from_slice(&key_len.to_le_bytes());
                log[at + 12..at + 16].copy_from_slice(&value_len.to_le_bytes());
            }
            prop_assert_eq!(put_key(&log, offset), put_key_by_plausible_entry(&log, offset));
            // Offsets past the end, and one byte off alignment, name nothing.
            prop_assert_eq!(put_key(&log, offset + 1), None);
            prop_assert_eq!(put_key(&log, log.len() as u64 + offset), None);
        }
    }
}
