//! The index: key hash and file offset of every live key's latest entry.
//!
//! Two layers. The **base** ([`base::Base`]) is the index as of one point of the log, in a
//! file beside the store that is used in place through a mapping: opening a store maps it
//! and reads only the log written after that point. The **delta** is an in-memory table of
//! the keys changed since: for each, the offset of its latest Put, or of its latest Delete
//! marked with [`TOMB`] (a key deleted since the base was written, which the base still
//! has). A lookup asks the delta first, then the base. Merging both into a new base file
//! ([`merged`], `crate::store` decides when) empties the delta again; a store without a
//! base file (small, or a format older than version 3) has only the delta.
//!
//! Keys are not kept in memory; they are stored in the file and compared through the
//! mapping, so two keys whose hashes collide are two separate slots and each finds its own
//! entry.
//!
//! The delta is a flat array of 16-byte slots (hash, offset) with open addressing: linear
//! probing in Robin Hood order (a slot never sits further from its home bucket than the
//! slot after it) and backward-shift deletion. The hash sits in the slot, so a lookup reads
//! one table cache line (rarely two) and then the entry, and a caller can prefetch that
//! line from the hash alone ([`Index::prefetch`]). The number of slots is a power of two
//! filled to at most 3/4: between about 21.3 and 42.7 bytes per key in memory.
//!
//! Over a base, the delta holds only the keys changed since the base file and nearly every
//! lookup misses it, so its table keeps a Bloom filter of its hashes (one byte per slot,
//! [`filter`]) that answers most misses from one word the CPU keeps cached, instead of a
//! table line that the base's and the log's lines keep evicting.

pub(crate) mod base;
pub(crate) mod delta_file;
mod filter;
mod table;

use std::sync::Arc;

use crate::format::{self, key_at, EntryHeader};

use base::Base;
use table::Table;

/// One live key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub hash: u64,
    pub offset: u64,
}

/// A Put or Delete in the log, waiting to be applied to the index by
/// [`Index::apply_grouped`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LogOp {
    pub hash: u64,
    pub offset: u64,
    /// The entry's length for a Put; 0 for a Delete (no Put entry is shorter than 24).
    pub put_len: u64,
    /// Position of the operation in its batch, for reporting whether its key existed.
    pub pos: u32,
}

/// Bytes of table that one partition of [`Index::apply_grouped`] covers: small enough to
/// stay in the CPU's L2 cache while its operations are applied.
const PARTITION_BYTES: usize = 128 << 10;

/// How many operations ahead of the one being applied a batch loads the table line of
/// (see [`Index::prefetch`]), so that the cache misses of several inserts overlap.
pub(crate) const PREFETCH_AHEAD: usize = 8;

/// Marks a delta slot whose offset is that of a Delete entry: the key has no value, even
/// if the base has one. No file offset reaches this bit.
const TOMB: u64 = 1 << 63;

/// What [`Index::probe`] found from a hash alone.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Probe {
    /// No key has this hash.
    Miss,
    /// A live entry whose key hash is the one asked for (the caller compares the key);
    /// `slot` is its base slot if it came from the base.
    Hit { offset: u64, slot: Option<usize> },
    /// Only a full lookup can tell ([`Index::find_read`]).
    Slow,
}

/// The index plus the bookkeeping that stats need.
#[derive(Debug, Default)]
pub(crate) struct Index {
    base: Option<Arc<Base>>,
    delta: Table,
    /// Live keys.
    len: usize,
    /// Sum of the on-disk lengths of the live entries.
    live_bytes: u64,
    /// The log a delta file covered at open: its entries are checked on first read.
    unchecked: Option<Unchecked>,
    /// A Clear let go of the base since the index file was written: that file names keys
    /// the store no longer has, so the next close writes a new one however few keys remain.
    cleared_base: bool,
    /// The eviction cursor the index and delta files recorded (0: none).
    evict_hint: u64,
    /// Every entry at or past this offset was written by this process or read and
    /// verified by it (the open's replay of the log after the index files, a follower's
    /// scan, compaction's copy), so a read needs no first-read check of it: a merge that
    /// puts such entries into a new base does not make their reads pay for checks again.
    /// The end of what the index files covered when they were loaded; 0 for an index
    /// built from the whole log.
    fresh_from: u64,
}

/// The part of the log between the index file's end and the delta file's, whose entries
/// the open did not read: each is checked the first time a read uses it (a Put whose fields
/// are possible, and its checksum when it is at most [`base::CHECK_ON_READ`] long).
#[derive(Debug)]
struct Unchecked {
    start: u64,
    end: u64,
    /// One bit per 8 bytes of `[start, end)`: the entry starting there was checked.
    checked: Box<[std::sync::atomic::AtomicU64]>,
}

impl Unchecked {
    fn new(start: u64, end: u64) -> Unchecked {
        let words = ((end - start) / 8).div_ceil(64) as usize;
        Unchecked {
            start,
            end,
            checked: (0..words)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
        }
    }

    #[inline]
    fn check(&self, data: &[u8], offset: u64) -> Result<(), &'static str> {
        use std::sync::atomic::Ordering;
        if offset < self.start || offset >= self.end {
            return Ok(());
        }
        let bit = ((offset - self.start) / 8) as usize;
        let (w, m) = (bit / 64, 1u64 << (bit % 64));
        if self.checked[w].load(Ordering::Relaxed) & m != 0 {
            return Ok(());
        }
        let log = &data[..self.end as usize];
        let h = format::plausible_entry(log, offset).map_err(|b| b.describe())?;
        if h.kind != format::EntryKind::Put {
            return Err("the delta file names an entry that is not a put");
        }
        if h.len() <= base::CHECK_ON_READ {
            format::verify_checksum(log, offset, &h).map_err(|b| b.describe())?;
        }
        self.checked[w].fetch_or(m, Ordering::Relaxed);
        Ok(())
    }
}

#[inline]
fn header_at(data: &[u8], offset: u64) -> EntryHeader {
    format::read_header_trusted(&data[offset as usize..])
}

/// The entry a delta slot names (a Put, or for [`TOMB`] a Delete).
#[inline]
fn entry_of(slot: &Slot) -> u64 {
    slot.offset & !TOMB
}

/// Operations whose pages a replay over a cold base asks for together.
const COLD_WINDOW: usize = 4096;

/// Asks the kernel to read what looking up the keys of `ops` in the cold table `base` will
/// read, all at once instead of one page fault after another: first the page of each key's
/// slots, then, from the slot each finds by its hash alone, the page of the entry it names
/// (which the lookup reads to compare keys, and to take the replaced entry's length). The
/// slots are not trusted here: an offset outside `data` asks for nothing.
fn will_need_window(base: &Base, data: &[u8], ops: &[LogOp]) {
    for r in ops {
        base.will_need_home(r.hash);
    }
    for r in ops {
        if let Some((_, offset)) = base.find_hash(r.hash) {
            let at = (offset as usize).min(data.len());
            let to = at
                .saturating_add(format::ENTRY_HEADER_LEN as usize)
                .min(data.len());
            crate::mapping::will_need(&data[at..to]);
        }
    }
}

impl Index {
    pub fn with_capacity(n: usize) -> Index {
        Index {
            delta: Table::with_capacity(n),
            ..Index::default()
        }
    }

    /// An index that is `base` and no changes since.
    pub fn on_base(base: Arc<Base>) -> Index {
        Index {
            len: base.keys as usize,
            live_bytes: base.live_bytes,
            delta: Table::filtered(0),
            unchecked: None,
            cleared_base: false,
            evict_hint: base.evict_cursor,
            fresh_from: base.end,
            base: Some(base),
        }
    }

    /// An index that is `base` and the changes a delta file saved over it.
    pub fn on_base_with(base: Arc<Base>, delta: delta_file::Loaded) -> Index {
        let mut table = Table::filtered(delta.slots.len());
        for s in delta.slots {
            table.insert_new(s);
        }
        Index {
            len: delta.totals.len as usize,
            live_bytes: delta.totals.live_bytes,
            unchecked: Some(Unchecked::new(base.end, delta.totals.end)),
            evict_hint: base.evict_cursor.max(delta.totals.evict_cursor),
            fresh_from: delta.totals.end,
            base: Some(base),
            delta: table,
            cleared_base: false,
        }
    }

    /// The eviction cursor the index and delta files this index was loaded from
    /// recorded: no live entry starts before it (0 when they recorded none).
    pub fn evict_hint(&self) -> u64 {
        self.evict_hint
    }

    /// The end of the log that the delta file loaded at open covers, if one was.
    pub fn loaded_delta_end(&self) -> Option<u64> {
        self.unchecked.as_ref().map(|u| u.end)
    }

    /// The delta's slots as a delta file saves them, if the index has a base.
    pub fn delta_slots(&self) -> Vec<Slot> {
        self.delta.iter().copied().collect()
    }

    /// Number of live keys.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Sum of the on-disk lengths of live entries.
    #[inline]
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// Heap bytes held by the index (the delta and the base's bitmap; the base's slots are
    /// page cache).
    pub fn allocation_size(&self) -> usize {
        self.delta.allocation_size()
            + self.base.as_ref().map_or(0, |b| b.allocation_size())
            + self.unchecked.as_ref().map_or(0, |u| u.checked.len() * 8)
    }

    /// The base table, if the index has one.
    pub fn base(&self) -> Option<&Arc<Base>> {
        self.base.as_ref()
    }

    /// The end of the log the base covers (0 without a base).
    pub fn base_end(&self) -> u64 {
        self.base.as_ref().map_or(0, |b| b.end)
    }

    /// Keys changed since the base (all keys without one), deleted ones included.
    pub fn delta_len(&self) -> usize {
        self.delta.len
    }

    /// The delta's slot for `key`, if it has one.
    #[inline]
    fn delta_find(&self, data: &[u8], hash: u64, key: &[u8]) -> Option<usize> {
        if self.delta.len == 0 {
            return None;
        }
        self.delta.find(hash, |s| key_at(data, entry_of(s)) == key)
    }

    /// Offset of `key`'s live entry. `data` is the verified file contents.
    #[inline]
    pub fn find(&self, data: &[u8], hash: u64, key: &[u8]) -> Option<u64> {
        if let Some(i) = self.delta_find(data, hash, key) {
            let o = self.delta.slots[i].offset;
            return (o & TOMB == 0).then_some(o);
        }
        self.base.as_ref()?.find(data, hash, key).map(|(_, o)| o)
    }

    /// [`Index::find`] for a read that returns the value: an entry of the base that this
    /// process has not written or verified itself (one before `fresh_from`) is verified on
    /// its first read (see [`Base::check_first_read`]). `Err((offset, why))` when it
    /// does not verify.
    #[inline]
    pub fn find_read(
        &self,
        data: &[u8],
        hash: u64,
        key: &[u8],
    ) -> Result<Option<u64>, (u64, &'static str)> {
        if let Some(i) = self.delta_find(data, hash, key) {
            let o = self.delta.slots[i].offset;
            if o & TOMB != 0 {
                return Ok(None);
            }
            if let Some(u) = &self.unchecked {
                u.check(data, o).map_err(|why| (o, why))?;
            }
            return Ok(Some(o));
        }
        let Some(base) = self.base.as_ref() else {
            return Ok(None);
        };
        match base.find(data, hash, key) {
            Some((slot, o)) => {
                if self.first_read_checked(o) {
                    base.check_first_read(data, slot, o)
                        .map_err(|why| (o, why))?;
                }
                Ok(Some(o))
            }
            None => Ok(None),
        }
    }

    /// What the index says about `hash` without reading keys (see [`Probe`]).
    #[inline]
    pub fn probe(&self, hash: u64) -> Probe {
        if self.delta.len > 0 {
            if let Some(i) = self.delta.find(hash, |_| true) {
                let o = self.delta.slots[i].offset;
                return if o & TOMB == 0 {
                    Probe::Hit {
                        offset: o,
                        slot: None,
                    }
                } else {
                    Probe::Slow
                };
            }
        }
        match self.base.as_ref().and_then(|b| b.find_hash(hash)) {
            Some((slot, offset)) => Probe::Hit {
                offset,
                slot: Some(slot),
            },
            None => Probe::Miss,
        }
    }

    /// The key of the entry a [`Probe::Hit`] names, or `None` when a base slot's offset
    /// does not name a possible Put of the log in `data` (the caller then asks
    /// [`Index::find_read`]). Reads the entry: start loading it first.
    #[inline]
    pub fn hit_key<'a>(
        &self,
        data: &'a [u8],
        offset: u64,
        slot: Option<usize>,
    ) -> Option<&'a [u8]> {
        match (slot, &self.base) {
            (Some(_), Some(b)) => b.key_at(data, offset),
            _ => Some(key_at(data, offset)),
        }
    }

    /// Whether a read of the base entry at `offset` gets its first-read check: one before
    /// `fresh_from`, which this process has neither written nor verified.
    #[inline]
    fn first_read_checked(&self, offset: u64) -> bool {
        offset < self.fresh_from
    }

    /// Starts loading what [`Index::check_read`] reads for a [`Probe::Hit`] in base slot
    /// `slot` at `offset`, if it will read anything.
    #[inline]
    pub fn prefetch_check(&self, slot: Option<usize>, offset: u64) {
        if let (Some(slot), Some(b)) = (slot, &self.base) {
            if self.first_read_checked(offset) {
                b.prefetch_checked(slot);
            }
        }
    }

    /// The first-read check of [`Index::find_read`] for an entry [`Index::probe`] found in
    /// base slot `slot`.
    #[inline]
    pub fn check_read(
        &self,
        data: &[u8],
        slot: Option<usize>,
        offset: u64,
    ) -> Result<(), (u64, &'static str)> {
        match (slot, self.base.as_ref(), &self.unchecked) {
            (Some(_), Some(_), _) if !self.first_read_checked(offset) => Ok(()),
            (Some(slot), Some(b), _) => b
                .check_first_read(data, slot, offset)
                .map_err(|why| (offset, why)),
            (None, _, Some(u)) => u.check(data, offset).map_err(|why| (offset, why)),
            _ => Ok(()),
        }
    }

    /// Starts loading the part of the index that a lookup of `hash` reads first, so that
    /// lookups of several keys wait for memory together instead of one after another.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if self.delta.len > 0 {
            self.delta.prefetch(hash);
        }
        if let Some(b) = &self.base {
            b.prefetch(hash);
        }
    }

    /// Where the base has `key`, if it does.
    #[inline]
    fn base_find(&self, data: &[u8], hash: u64, key: &[u8]) -> Option<u64> {
        self.base.as_ref()?.find(data, hash, key).map(|(_, o)| o)
    }

    /// Points `key` at the Put at `offset` (which `data` must contain). Returns the offset
    /// of the entry it replaced, if any.
    pub fn insert(&mut self, data: &[u8], hash: u64, key: &[u8], offset: u64) -> Option<u64> {
        let len = header_at(data, offset).len();
        self.put(data, hash, key, offset, len)
    }

    fn put(&mut self, data: &[u8], hash: u64, key: &[u8], offset: u64, len: u64) -> Option<u64> {
        self.live_bytes = self.live_bytes.saturating_add(len);
        let prior = match self.delta_find(data, hash, key) {
            Some(i) => {
                let old = std::mem::replace(&mut self.delta.slots[i].offset, offset);
                (old & TOMB == 0).then_some(old)
            }
            None => {
                let prior = self.base_find(data, hash, key);
                self.delta.insert_new(Slot { hash, offset });
                prior
            }
        };
        match prior {
            Some(old) => {
                self.live_bytes = self.live_bytes.saturating_sub(header_at(data, old).len());
            }
            None => self.len += 1,
        }
        prior
    }

    /// Removes `key`, deleted by the Delete entry at `tomb` (which `data` must contain).
    /// Returns the offset of its live entry, if it had one.
    pub fn remove(&mut self, data: &[u8], hash: u64, key: &[u8], tomb: u64) -> Option<u64> {
        let prior = match self.delta_find(data, hash, key) {
            Some(i) => {
                let old = std::mem::replace(&mut self.delta.slots[i].offset, tomb | TOMB);
                (old & TOMB == 0).then_some(old)
            }
            None => {
                let prior = self.base_find(data, hash, key)?;
                // The base still has the key: the delta says it is gone.
                self.delta.insert_new(Slot {
                    hash,
                    offset: tomb | TOMB,
                });
                Some(prior)
            }
        };
        if let Some(old) = prior {
            self.live_bytes = self.live_bytes.saturating_sub(header_at(data, old).len());
            self.len -= 1;
        }
        prior
    }

    /// Forgets every key (a Clear entry): the base, if any, is let go of rather than
    /// shadowed key by key, so this costs nothing in proportion to the keys. The index file
    /// on disk still names them, but the log after its end holds the Clear entry, which
    /// every open that uses that file replays; the next merge writes an index file without
    /// them.
    pub fn clear(&mut self) {
        let cleared_base = self.base.is_some() || self.cleared_base;
        let fresh_from = self.fresh_from;
        *self = Index::default();
        self.cleared_base = cleared_base;
        self.fresh_from = fresh_from;
    }

    /// Whether a Clear let go of the base (see [`Index::clear`]) and no index file was
    /// written since.
    pub fn cleared_base(&self) -> bool {
        self.cleared_base
    }

    /// Makes room for `additional` more keys at once, so that a large batch grows the table
    /// once instead of doubling it step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.delta.reserve(additional);
    }

    /// Returns memory the delta does not need for its current keys, when the size guess
    /// made before a scan was too high.
    pub fn shrink_to_fit(&mut self) {
        self.delta.shrink_to_fit();
    }

    /// Adds a key known not to be in the index yet (compaction copies distinct keys into an
    /// index without a base).
    pub fn insert_unique(&mut self, hash: u64, offset: u64, entry_len: u64) {
        debug_assert!(self.base.is_none());
        self.live_bytes = self.live_bytes.saturating_add(entry_len);
        self.len += 1;
        self.delta.insert_new(Slot { hash, offset });
    }

    /// Applies `ops` (Puts and Deletes, in file order) and empties it. The result is
    /// the same as applying them one by one in file order, but the operations are first
    /// grouped (stably) by the region of the delta table their hash starts probing in, so
    /// that the table is walked from one end to the other instead of at random: at one
    /// million keys that makes building the index several times faster than random
    /// inserts. Keys are read from the file only to tell apart two entries with the same
    /// 64-bit hash, and entry headers only when a live entry is replaced or deleted.
    /// `scratch` is reused memory for the grouping. When `existed` is given,
    /// `existed[op.pos]` is set to whether the operation's key had a value just before it
    /// that had not expired at the time given with it.
    pub fn apply_grouped(
        &mut self,
        data: &[u8],
        ops: &mut Vec<LogOp>,
        scratch: &mut Vec<LogOp>,
        mut existed: Option<(&mut [bool], u64)>,
    ) {
        let puts = ops.iter().filter(|r| r.put_len != 0).count();
        self.delta.reserve(puts);
        let buckets = self.delta.slots.len();
        let table_bytes = buckets * std::mem::size_of::<Slot>();
        let parts = (table_bytes / PARTITION_BYTES).next_power_of_two();
        if parts > 1 && ops.len() >= parts * 4 {
            let shift = buckets.trailing_zeros() - parts.trailing_zeros();
            let part = |h: u64| ((h as usize) & (buckets - 1)) >> shift;
            let mut starts = vec![0usize; parts + 1];
            for r in ops.iter() {
                starts[part(r.hash) + 1] += 1;
            }
            for i in 1..=parts {
                starts[i] += starts[i - 1];
            }
            scratch.clear();
            scratch.resize(ops.len(), LogOp::default());
            for r in ops.iter() {
                let p = part(r.hash);
                scratch[starts[p]] = *r;
                starts[p] += 1;
            }
            std::mem::swap(ops, scratch);
        }
        let cold = self.base.as_ref().filter(|b| b.is_cold()).cloned();
        for i in 0..ops.len() {
            if let (Some(base), 0) = (&cold, i % COLD_WINDOW) {
                will_need_window(base, data, &ops[i..(i + COLD_WINDOW).min(ops.len())]);
            }
            if let Some(ahead) = ops.get(i + PREFETCH_AHEAD) {
                self.prefetch(ahead.hash);
            }
            let r = ops[i];
            let key = key_at(data, r.offset);
            let had = if r.put_len != 0 {
                self.put(data, r.hash, key, r.offset, r.put_len)
            } else {
                self.remove(data, r.hash, key, r.offset)
            };
            if let Some((e, now)) = existed.as_mut() {
                e[r.pos as usize] = had.is_some_and(|p| !crate::format::expired(data, p, || *now));
            }
        }
        ops.clear();
    }

    /// Every live key's slot: the delta's Puts, then the base's keys the delta did not
    /// change.
    pub fn entries<'a>(&'a self, data: &'a [u8]) -> impl Iterator<Item = Slot> + 'a {
        let delta = self.delta.iter().filter(|s| s.offset & TOMB == 0).copied();
        let base = self.base.iter().flat_map(move |b| {
            b.entries(data)
                .filter(move |s| self.delta.len == 0 || !self.changed(data, s))
        });
        delta.chain(base)
    }

    /// Whether the delta has an operation on the key of base slot `s`.
    fn changed(&self, data: &[u8], s: &Slot) -> bool {
        self.delta
            .find(s.hash, |d| {
                key_at(data, entry_of(d)) == key_at(data, s.offset)
            })
            .is_some()
    }

    /// Every live entry's offset, in file order.
    pub fn offsets_sorted(&self, data: &[u8]) -> Vec<u64> {
        let mut v: Vec<u64> = self.entries(data).map(|s| s.offset).collect();
        v.sort_unstable();
        v
    }

    /// A copy of what the index is made of, taken in time in proportion to the keys changed
    /// since the index file (the base is shared), so that a caller holding the state lock
    /// can list every live key after letting go of it ([`Snapshot::live`]).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            base: self.base.clone(),
            delta: self.delta_slots(),
        }
    }

    /// Makes `base` the index's base: it must cover this index's keys as they were at its
    /// end, so every delta operation before that end is dropped (the base has it) and the
    /// later ones are kept.
    pub fn rebase(&mut self, base: Arc<Base>) {
        let kept: Vec<Slot> = self
            .delta
            .iter()
            .filter(|s| entry_of(s) >= base.end)
            .copied()
            .collect();
        let mut delta = Table::filtered(kept.len());
        for s in kept {
            delta.insert_new(s);
        }
        self.delta = delta;
        self.base = Some(base);
        self.cleared_base = false;
        // The new base covers every entry the delta file named: its own first-read checks
        // cover them now.
        self.unchecked = None;
    }
}

/// The index as [`Index::snapshot`] copied it.
pub(crate) struct Snapshot {
    base: Option<Arc<Base>>,
    delta: Vec<Slot>,
}

impl Snapshot {
    /// Every live key's slot (in hash order), for the log in `data` the index described
    /// when the snapshot was taken.
    pub fn live(mut self, data: &[u8]) -> Vec<Slot> {
        self.delta.sort_unstable_by_key(|s| s.hash);
        merged(self.base.as_deref(), &self.delta, data).collect()
    }
}

/// The slots of a new base, in hash order: `base`'s keys that `delta` (from
/// [`Index::delta_slots`], sorted by hash) did not change, and `delta`'s Puts. Lazy, so that a merge holds
/// no copy of the table in memory. (If `base`'s slots are out of hash order, a damaged
/// file, so is the result, which [`base::write`] refuses.)
pub(crate) fn merged<'a>(
    base: Option<&'a Base>,
    delta: &'a [Slot],
    data: &'a [u8],
) -> impl Iterator<Item = Slot> + 'a {
    let mut from_base = base
        .into_iter()
        .flat_map(move |b| b.entries(data))
        .peekable();
    let mut d = 0usize;
    std::iter::from_fn(move || loop {
        let next_delta = delta.get(d).copied();
        match (from_base.peek().copied(), next_delta) {
            (Some(s), Some(x)) if x.hash < s.hash => {
                d += 1;
                if x.offset & TOMB == 0 {
                    return Some(x);
                }
            }
            (Some(s), _) => {
                from_base.next();
                // Keys are read only for the rare base key whose hash the delta has too:
                // a merge reads the old table and the delta, not the log.
                let changed = delta[d..]
                    .iter()
                    .take_while(|x| x.hash == s.hash)
                    .any(|x| key_at(data, entry_of(x)) == key_at(data, s.offset));
                if !changed {
                    return Some(s);
                }
            }
            (None, Some(x)) => {
                d += 1;
                if x.offset & TOMB == 0 {
                    return Some(x);
                }
            }
            (None, None) => return None,
        }
    })
}
