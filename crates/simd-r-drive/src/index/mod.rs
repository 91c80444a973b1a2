//! The in-memory index: key hash and file offset of every live key's latest entry.
//!
//! Keys are not kept in memory; they are stored in the file and compared through the
//! mapping, so two keys whose hashes collide are two separate slots and each finds its own
//! entry.
//!
//! The table is a flat array of 16-byte slots (hash, offset) with open addressing: linear
//! probing in Robin Hood order (a slot never sits further from its home bucket than the
//! slot after it) and backward-shift deletion, so no tombstones build up. The hash sits
//! in the slot, so a lookup reads one table cache line (rarely two) and then the entry,
//! and a caller can prefetch that line from the hash alone ([`Index::prefetch`]). The
//! number of slots is a power of two filled to at most 3/4 (at 7/8, the clusters that
//! linear probing builds make some inserts step over hundreds of slots): between about
//! 21.3 and 42.7 bytes per key (33.6 for one million keys). After recovery the table is
//! shrunk to that minimum if the size guess made before the scan was too high.

mod table;

use crate::format::{self, key_at, EntryHeader};

use table::Table;
pub(crate) use table::MAX_CHECKPOINT_STEPS;

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

/// The index plus the bookkeeping that stats need.
#[derive(Debug, Default)]
pub(crate) struct Index {
    table: Table,
    /// Sum of the on-disk lengths of the live entries.
    live_bytes: u64,
}

#[inline]
fn header_at(data: &[u8], offset: u64) -> EntryHeader {
    format::read_header_trusted(&data[offset as usize..])
}

impl Index {
    pub fn with_capacity(n: usize) -> Index {
        Index {
            table: Table::with_capacity(n),
            live_bytes: 0,
        }
    }

    /// Number of live keys.
    #[inline]
    pub fn len(&self) -> usize {
        self.table.len
    }

    /// Sum of the on-disk lengths of live entries.
    #[inline]
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// Heap bytes held by the table.
    pub fn allocation_size(&self) -> usize {
        self.table.allocation_size()
    }

    /// Offset of `key`'s live entry. `data` is the verified file contents.
    #[inline]
    pub fn find(&self, data: &[u8], hash: u64, key: &[u8]) -> Option<u64> {
        self.table
            .find(hash, |s| key_at(data, s.offset) == key)
            .map(|i| self.table.slots[i].offset)
    }

    /// Offset of the first live entry whose key hash is `hash`, found without reading the
    /// file (keys are not compared). The caller must check the key at the offset and fall
    /// back to [`Index::find`] when it differs (a 64-bit hash collision).
    #[inline]
    pub fn find_hash(&self, hash: u64) -> Option<u64> {
        self.table
            .find(hash, |_| true)
            .map(|i| self.table.slots[i].offset)
    }

    /// Starts loading the part of the table that a lookup of `hash` reads first, so that
    /// lookups of several keys wait for memory together instead of one after another.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        self.table.prefetch(hash);
    }

    /// Points `key` at the entry at `offset` (which `data` must contain). Returns the
    /// offset of the entry it replaced, if any.
    pub fn insert(&mut self, data: &[u8], hash: u64, key: &[u8], offset: u64) -> Option<u64> {
        self.live_bytes = self
            .live_bytes
            .saturating_add(header_at(data, offset).len());
        match self.table.find(hash, |s| key_at(data, s.offset) == key) {
            Some(i) => Some(self.replace(data, i, offset)),
            None => {
                self.table.insert_new(Slot { hash, offset });
                None
            }
        }
    }

    /// Points slot `i` at `offset`; returns the offset it held.
    fn replace(&mut self, data: &[u8], i: usize, offset: u64) -> u64 {
        let old = std::mem::replace(&mut self.table.slots[i].offset, offset);
        self.live_bytes = self.live_bytes.saturating_sub(header_at(data, old).len());
        old
    }

    /// Removes slot `i`; returns the offset it held.
    fn remove_slot(&mut self, data: &[u8], i: usize) -> u64 {
        let slot = self.table.remove_at(i);
        self.live_bytes = self
            .live_bytes
            .saturating_sub(header_at(data, slot.offset).len());
        slot.offset
    }

    /// Makes room for `additional` more keys at once, so that a large batch grows the table
    /// once instead of doubling it step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.table.reserve(additional);
    }

    /// Returns memory the table does not need for its current keys, when the size guess
    /// made before a scan was too high.
    pub fn shrink_to_fit(&mut self) {
        self.table.shrink_to_fit();
    }

    /// An index of `n` distinct keys with `live_bytes` of live entries, from an index
    /// checkpoint. Slots in the order of a table of about the same size are inserted front
    /// to back, which is several times faster than inserting them at random.
    ///
    /// Returns `None` when an insert has to step over more than [`MAX_CHECKPOINT_STEPS`]
    /// slots: the hashes crowd into one part of the table, as the hashes of real keys do
    /// not, and building the table would take time quadratic in their number. The caller
    /// then rebuilds the index from the log, which hashes the keys themselves.
    pub fn from_checkpoint(
        n: usize,
        live_bytes: u64,
        slots: impl Iterator<Item = Slot>,
    ) -> Option<Index> {
        let mut table = Table::with_capacity(n);
        table.populate();
        for s in slots {
            if table.insert_new(s) > MAX_CHECKPOINT_STEPS {
                return None;
            }
        }
        Some(Index { table, live_bytes })
    }

    /// Adds a key known not to be in the index yet (compaction copies distinct keys).
    pub fn insert_unique(&mut self, hash: u64, offset: u64, entry_len: u64) {
        self.live_bytes = self.live_bytes.saturating_add(entry_len);
        self.table.insert_new(Slot { hash, offset });
    }

    /// Applies `ops` (Puts and Deletes, in file order) and empties it. The result is
    /// the same as applying them one by one in file order, but the operations are first
    /// grouped (stably) by the region of the table their hash starts probing in, so that
    /// the table is walked from one end to the other instead of at random: at one million
    /// keys that makes building the index several times faster than random inserts. Keys
    /// are read from the file only to tell apart two entries with the same 64-bit hash, and
    /// entry headers only when a live entry is replaced or deleted. `scratch` is reused
    /// memory for the grouping. When `existed` is given, `existed[op.pos]` is set to whether
    /// the operation's key had a value just before it.
    pub fn apply_grouped(
        &mut self,
        data: &[u8],
        ops: &mut Vec<LogOp>,
        scratch: &mut Vec<LogOp>,
        mut existed: Option<&mut [bool]>,
    ) {
        let puts = ops.iter().filter(|r| r.put_len != 0).count();
        self.table.reserve(puts);
        let buckets = self.table.slots.len();
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
        for i in 0..ops.len() {
            if let Some(ahead) = ops.get(i + PREFETCH_AHEAD) {
                self.table.prefetch(ahead.hash);
            }
            let r = ops[i];
            let had = self.apply_one(data, r);
            if let Some(e) = existed.as_deref_mut() {
                e[r.pos as usize] = had;
            }
        }
        ops.clear();
    }

    /// Applies one operation; returns whether its key had a value.
    fn apply_one(&mut self, data: &[u8], r: LogOp) -> bool {
        let LogOp {
            hash,
            offset,
            put_len,
            ..
        } = r;
        let found = self
            .table
            .find(hash, |s| key_at(data, s.offset) == key_at(data, offset));
        match (found, put_len != 0) {
            (Some(i), true) => {
                self.live_bytes = self.live_bytes.saturating_add(put_len);
                self.replace(data, i, offset);
                true
            }
            (None, true) => {
                self.live_bytes = self.live_bytes.saturating_add(put_len);
                self.table.insert_new(Slot { hash, offset });
                false
            }
            (Some(i), false) => {
                self.remove_slot(data, i);
                true
            }
            (None, false) => false,
        }
    }

    /// Removes `key`. Returns the offset of its live entry, if it had one.
    pub fn remove(&mut self, data: &[u8], hash: u64, key: &[u8]) -> Option<u64> {
        let i = self.table.find(hash, |s| key_at(data, s.offset) == key)?;
        Some(self.remove_slot(data, i))
    }

    /// Every live entry's offset, in file order.
    pub fn offsets_sorted(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.table.iter().map(|s| s.offset).collect();
        v.sort_unstable();
        v
    }

    /// Every live slot.
    pub fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.table.iter()
    }
}
