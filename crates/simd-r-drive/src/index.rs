//! The in-memory index: key hash and file offset of every live key's latest entry.
//!
//! Keys are not kept in memory; they are stored in the file and compared through the
//! mapping, so two keys whose hashes collide are two separate slots and each finds its own
//! entry. A slot is 16 bytes plus one control byte; the table has a power-of-two number of
//! slots filled to at most 7/8, so a minimally sized table takes between about 19.5 and
//! 39 bytes per key (35.7 for one million keys). After recovery the table is shrunk to
//! that minimum if the size guess made before the scan was too high.

use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Global, Layout};
use hashbrown::HashTable;

use crate::format::{self, key_at, EntryHeader};

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

/// Tables at least this large ask for transparent huge pages.
const HUGE_TABLE: usize = 4 << 20;
/// The size of a transparent huge page on x86_64 and most aarch64 kernels.
const HUGE_PAGE: usize = 2 << 20;

/// The index table's allocator: the global one, plus a request for transparent huge pages
/// (Linux `MADV_HUGEPAGE`) on large tables. A lookup probes the table at random; with 4 KiB
/// pages every probe of a table of many megabytes also misses the CPU's address cache
/// (TLB), and building the table at open takes one page fault per 4 KiB instead of one per
/// 2 MiB. Where huge pages are unavailable or disabled, the advice changes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TableAlloc;

// SAFETY: every call is forwarded to `Global` with the same arguments, so the allocator's
// contract holds as it does for `Global`. The advice given in between only changes how the
// kernel backs the pages, never their contents or addresses.
unsafe impl Allocator for TableAlloc {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let block = Global.allocate(layout)?;
        #[cfg(target_os = "linux")]
        if layout.size() >= HUGE_TABLE {
            let start = block.as_ptr() as *mut u8 as usize;
            let first = start.next_multiple_of(HUGE_PAGE);
            let last = (start + layout.size()) / HUGE_PAGE * HUGE_PAGE;
            if last > first {
                // SAFETY: [first, last) lies inside the block just allocated, which nothing
                // else uses yet; MADV_HUGEPAGE neither reads nor writes memory.
                unsafe {
                    libc::madvise(
                        first as *mut libc::c_void,
                        last - first,
                        libc::MADV_HUGEPAGE,
                    );
                }
            }
        }
        Ok(block)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: `ptr` was allocated by `allocate` above, that is by `Global`, with `layout`.
        unsafe { Global.deallocate(ptr, layout) }
    }
}

/// The index plus the bookkeeping that stats need.
#[derive(Debug, Default)]
pub(crate) struct Index {
    table: HashTable<Slot, TableAlloc>,
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
            table: HashTable::with_capacity_in(n, TableAlloc),
            live_bytes: 0,
        }
    }

    /// Number of live keys.
    #[inline]
    pub fn len(&self) -> usize {
        self.table.len()
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
            .find(hash, |s| s.hash == hash && key_at(data, s.offset) == key)
            .map(|s| s.offset)
    }

    /// Offset of the first live entry whose key hash is `hash`, found without reading the
    /// file (keys are not compared). The caller must check the key at the offset and fall
    /// back to [`Index::find`] when it differs (a 64-bit hash collision).
    #[inline]
    pub fn find_hash(&self, hash: u64) -> Option<u64> {
        self.table.find(hash, |s| s.hash == hash).map(|s| s.offset)
    }

    /// Points `key` at the entry at `offset` (which `data` must contain). Returns the
    /// offset of the entry it replaced, if any.
    pub fn insert(&mut self, data: &[u8], hash: u64, key: &[u8], offset: u64) -> Option<u64> {
        let new_len = header_at(data, offset).len();
        self.live_bytes += new_len;
        match self.table.entry(
            hash,
            |s| s.hash == hash && key_at(data, s.offset) == key,
            |s| s.hash,
        ) {
            hashbrown::hash_table::Entry::Occupied(mut e) => {
                let old = e.get().offset;
                self.live_bytes = self.live_bytes.saturating_sub(header_at(data, old).len());
                e.get_mut().offset = offset;
                Some(old)
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Slot { hash, offset });
                None
            }
        }
    }

    /// Makes room for `additional` more keys at once, so that a large batch grows the table
    /// once instead of doubling it step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.table.reserve(additional, |s| s.hash);
    }

    /// Returns memory the table does not need for its current keys, when the size guess
    /// made before a scan was too high.
    pub fn shrink_to_fit(&mut self) {
        self.table.shrink_to_fit(|s| s.hash);
    }

    /// An index of `n` distinct keys with `live_bytes` of live entries, from an index
    /// checkpoint. Slots in the order of a table of about the same size are inserted front
    /// to back, which is several times faster than inserting them at random.
    pub fn from_checkpoint(n: usize, live_bytes: u64, slots: impl Iterator<Item = Slot>) -> Index {
        let mut table = HashTable::with_capacity_in(n, TableAlloc);
        for s in slots {
            table.insert_unique(s.hash, s, |s: &Slot| s.hash);
        }
        Index { table, live_bytes }
    }

    /// Adds a key known not to be in the index yet (compaction copies distinct keys).
    pub fn insert_unique(&mut self, hash: u64, offset: u64, entry_len: u64) {
        self.live_bytes += entry_len;
        self.table
            .insert_unique(hash, Slot { hash, offset }, |s| s.hash);
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
        self.table.reserve(puts, |s| s.hash);
        // hashbrown keeps 7/8 of a power-of-two number of buckets usable, and starts the
        // probe for a hash at bucket `hash & (buckets - 1)`. Only locality depends on this
        // estimate, never correctness.
        let buckets = (self.table.capacity() * 8 / 7).next_power_of_two().max(1);
        let table_bytes = buckets * (std::mem::size_of::<Slot>() + 1);
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
        for r in ops.drain(..) {
            let had = self.apply_one(data, r);
            if let Some(e) = existed.as_deref_mut() {
                e[r.pos as usize] = had;
            }
        }
    }

    /// Applies one operation; returns whether its key had a value.
    fn apply_one(&mut self, data: &[u8], r: LogOp) -> bool {
        let LogOp {
            hash,
            offset,
            put_len,
            ..
        } = r;
        let same_key = |s: &Slot| s.hash == hash && key_at(data, s.offset) == key_at(data, offset);
        if put_len != 0 {
            self.live_bytes += put_len;
            match self.table.entry(hash, same_key, |s| s.hash) {
                hashbrown::hash_table::Entry::Occupied(mut e) => {
                    self.live_bytes = self
                        .live_bytes
                        .saturating_sub(header_at(data, e.get().offset).len());
                    e.get_mut().offset = offset;
                    true
                }
                hashbrown::hash_table::Entry::Vacant(v) => {
                    v.insert(Slot { hash, offset });
                    false
                }
            }
        } else if let Ok(e) = self.table.find_entry(hash, same_key) {
            let (slot, _) = e.remove();
            self.live_bytes = self
                .live_bytes
                .saturating_sub(header_at(data, slot.offset).len());
            true
        } else {
            false
        }
    }

    /// Removes `key`. Returns the offset of its live entry, if it had one.
    pub fn remove(&mut self, data: &[u8], hash: u64, key: &[u8]) -> Option<u64> {
        match self
            .table
            .find_entry(hash, |s| s.hash == hash && key_at(data, s.offset) == key)
        {
            Ok(e) => {
                let (slot, _) = e.remove();
                self.live_bytes = self
                    .live_bytes
                    .saturating_sub(header_at(data, slot.offset).len());
                Some(slot.offset)
            }
            Err(_) => None,
        }
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
