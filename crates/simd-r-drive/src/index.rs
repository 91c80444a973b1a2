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

use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Global, Layout};
use allocator_api2::boxed::Box as AllocBox;

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

/// How many operations ahead of the one being applied a batch loads the table line of
/// (see [`Index::prefetch`]), so that the cache misses of several inserts overlap.
pub(crate) const PREFETCH_AHEAD: usize = 8;

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

impl TableAlloc {
    /// Asks for huge pages over the whole 2 MiB pages inside `block`, if it is large.
    fn advise(block: NonNull<[u8]>, size: usize) {
        if size >= HUGE_TABLE {
            advise_pages(
                block.as_ptr() as *mut u8 as usize,
                size,
                HUGE_PAGE,
                HUGE_PAGE_ADVICE,
            );
        }
    }
}

#[cfg(target_os = "linux")]
const HUGE_PAGE_ADVICE: libc::c_int = libc::MADV_HUGEPAGE;
#[cfg(not(target_os = "linux"))]
const HUGE_PAGE_ADVICE: i32 = 0;
#[cfg(target_os = "linux")]
const POPULATE_ADVICE: libc::c_int = libc::MADV_POPULATE_WRITE;
#[cfg(not(target_os = "linux"))]
const POPULATE_ADVICE: i32 = 0;

/// Gives the kernel `advice` (an `MADV_*` hint that neither reads nor changes memory)
/// over the whole `page`-aligned pages inside the `size` bytes at `start`, memory of a
/// table's allocation that the caller owns. Only on Linux; elsewhere it does nothing.
/// Kernels that do not know the advice refuse it, which changes nothing.
fn advise_pages(start: usize, size: usize, page: usize, advice: i32) {
    #[cfg(target_os = "linux")]
    {
        let first = start.next_multiple_of(page);
        let last = (start + size) / page * page;
        if last > first {
            // SAFETY: [first, last) lies inside the allocation the caller owns; the advice
            // given here (huge pages, or mapping the pages in) changes how the kernel backs
            // them, never their contents or addresses.
            unsafe {
                libc::madvise(first as *mut libc::c_void, last - first, advice);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, size, page, advice);
}

// SAFETY: every call is forwarded to `Global` with the same arguments, so the allocator's
// contract holds as it does for `Global`. The advice given in between only changes how the
// kernel backs the pages, never their contents or addresses.
unsafe impl Allocator for TableAlloc {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let block = Global.allocate(layout)?;
        Self::advise(block, layout.size());
        Ok(block)
    }

    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        // A large zeroed block is usually fresh pages that the kernel zeroes on first
        // touch: a table costs memory only where it is filled.
        let block = Global.allocate_zeroed(layout)?;
        Self::advise(block, layout.size());
        Ok(block)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: `ptr` was allocated by `allocate` or `allocate_zeroed` above, that is by
        // `Global`, with `layout`.
        unsafe { Global.deallocate(ptr, layout) }
    }
}

/// Most slots one insert from an index checkpoint may step over (see
/// [`Index::from_checkpoint`]). Well-spread hashes in a table at most 3/4 full step over
/// about a hundred at worst (118 when a table of 2^20 slots is filled to its limit).
pub(crate) const MAX_CHECKPOINT_STEPS: usize = 1024;

/// Slots of the smallest table.
const MIN_SLOTS: usize = 16;

/// An open-addressing table of [`Slot`]s (see the module documentation). A slot whose
/// offset is 0 is empty: no entry starts at offset 0, where the file header is.
struct Table {
    slots: AllocBox<[Slot], TableAlloc>,
    /// `slots.len() - 1`; the home bucket of a hash is `hash & mask`.
    mask: usize,
    len: usize,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("slots", &self.slots.len())
            .field("len", &self.len)
            .finish()
    }
}

impl Default for Table {
    fn default() -> Table {
        Table::with_capacity(0)
    }
}

impl Table {
    /// Slots needed to hold `n` keys at no more than 3/4 full.
    fn slots_for(n: usize) -> usize {
        (n.saturating_mul(4) / 3 + 1)
            .next_power_of_two()
            .max(MIN_SLOTS)
    }

    /// Most keys a table of `slots` slots holds before it grows.
    fn limit(slots: usize) -> usize {
        slots / 4 * 3
    }

    fn with_capacity(n: usize) -> Table {
        Self::with_slots(Self::slots_for(n))
    }

    /// An empty table of `slots` slots, a power of two.
    fn with_slots(slots: usize) -> Table {
        debug_assert!(slots.is_power_of_two());
        let zeroed = AllocBox::<[Slot], _>::new_zeroed_slice_in(slots, TableAlloc);
        Table {
            // SAFETY: a slot is two `u64`s, for which all-zero bytes are a valid value: the
            // empty slot.
            slots: unsafe { zeroed.assume_init() },
            mask: slots - 1,
            len: 0,
        }
    }

    /// Maps every page of a large table at once, for a table about to be filled densely
    /// (a rebuild, a checkpoint): its probes read each slot before writing it, which would
    /// otherwise map each page twice (a shared zero page on the read, a copy on the write).
    /// A table sized on a guess is left to fill lazily.
    fn populate(&mut self) {
        let size = std::mem::size_of_val(&*self.slots);
        if size >= HUGE_TABLE {
            advise_pages(self.slots.as_ptr() as usize, size, 4096, POPULATE_ADVICE);
        }
    }

    /// Keys the table holds before it grows.
    fn capacity(&self) -> usize {
        Self::limit(self.slots.len())
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    /// How far slot `i`, holding `hash`, is from its home bucket.
    #[inline]
    fn distance(&self, i: usize, hash: u64) -> usize {
        i.wrapping_sub(self.home(hash)) & self.mask
    }

    /// Position of the first slot with `hash` for which `eq` holds.
    #[inline]
    fn find(&self, hash: u64, mut eq: impl FnMut(&Slot) -> bool) -> Option<usize> {
        let mut i = self.home(hash);
        let mut d = 0;
        loop {
            let s = &self.slots[i];
            if s.offset == 0 {
                return None;
            }
            if s.hash == hash && eq(s) {
                return Some(i);
            }
            // Robin Hood order: every slot of `hash` would sit before a slot that is closer
            // to its own home than this probe is to `hash`'s.
            if self.distance(i, s.hash) < d {
                return None;
            }
            i = (i + 1) & self.mask;
            d += 1;
        }
    }

    /// Adds `slot`, growing the table first if it is full. The caller knows that no slot
    /// for the same key is in the table. Returns how many slots the insert stepped over.
    fn insert_new(&mut self, slot: Slot) -> usize {
        if self.len >= self.capacity() {
            self.reserve(1);
        }
        self.place(slot)
    }

    /// Puts `slot` in Robin Hood order; room must exist. Returns how many slots it stepped
    /// over to find a free one.
    fn place(&mut self, mut slot: Slot) -> usize {
        let mut i = self.home(slot.hash);
        let mut d = 0;
        let mut steps = 0;
        loop {
            let s = &mut self.slots[i];
            if s.offset == 0 {
                *s = slot;
                self.len += 1;
                return steps;
            }
            let theirs = i.wrapping_sub(s.hash as usize & self.mask) & self.mask;
            if theirs < d {
                std::mem::swap(s, &mut slot);
                d = theirs;
            }
            i = (i + 1) & self.mask;
            d += 1;
            steps += 1;
        }
    }

    /// Removes the slot at `i`, moving the slots after it one step back towards their homes.
    fn remove_at(&mut self, mut i: usize) -> Slot {
        let removed = self.slots[i];
        loop {
            let next = (i + 1) & self.mask;
            let s = self.slots[next];
            if s.offset == 0 || self.distance(next, s.hash) == 0 {
                self.slots[i] = Slot { hash: 0, offset: 0 };
                break;
            }
            self.slots[i] = s;
            i = next;
        }
        self.len -= 1;
        removed
    }

    /// Makes room for `additional` more keys without growing.
    fn reserve(&mut self, additional: usize) {
        let want = self.len.saturating_add(additional);
        if want > self.capacity() {
            self.resize(Self::slots_for(want));
        }
    }

    /// Rebuilds the table with `slots` slots, enough for every key.
    fn resize(&mut self, slots: usize) {
        let mut new = Table::with_slots(slots);
        new.populate();
        // Old slots in order land in the new table nearly in order: the walk is sequential.
        for s in self.iter() {
            new.place(*s);
        }
        *self = new;
    }

    fn shrink_to_fit(&mut self) {
        let slots = Self::slots_for(self.len);
        if slots < self.slots.len() {
            self.resize(slots);
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(|s| s.offset != 0)
    }

    fn allocation_size(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }

    /// Starts loading the table line where a lookup of `hash` begins.
    #[inline]
    fn prefetch(&self, hash: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let p = (&self.slots[self.home(hash)] as *const Slot).cast::<i8>();
            // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has. A prefetch
            // reads nothing the program can observe and never faults; `p` points into the
            // table.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = hash;
    }
}

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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::{Index, Slot, Table, MAX_CHECKPOINT_STEPS};

    /// Checks the table against `model` (key -> hash; a key is stored as the slot's
    /// offset) and the Robin Hood order that early exits rely on.
    fn check(table: &Table, model: &HashMap<u64, u64>) {
        assert_eq!(table.len, model.len());
        assert_eq!(table.iter().count(), model.len());
        assert!(table.len <= table.capacity());
        for (&key, &hash) in model {
            let i = table
                .find(hash, |s| s.offset == key)
                .expect("every key is found");
            assert_eq!(table.slots[i].offset, key);
        }
        for i in 0..table.slots.len() {
            let s = table.slots[i];
            let next = table.slots[(i + 1) & table.mask];
            if s.offset != 0 && next.offset != 0 {
                let (d, dn) = (table.distance(i, s.hash), table.distance(i + 1, next.hash));
                assert!(dn <= d + 1, "slot {} breaks Robin Hood order", i + 1);
            }
            if s.offset == 0 && next.offset != 0 {
                assert_eq!(
                    table.distance(i + 1, next.hash),
                    0,
                    "a gap before a moved slot"
                );
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u64),
        Remove(u64),
        Shrink,
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct keys, and hashes from a tiny set or with equal low bits, so that
        // slots collide, clusters wrap around the table's end, and removals shift them.
        let key = 1u64..40;
        let hash = prop_oneof![0u64..4, (0u64..4).prop_map(|h| h << 32 | 15), any::<u64>()];
        prop_oneof![
            4 => (key.clone(), hash).prop_map(|(k, h)| Op::Insert(k, h)),
            3 => key.prop_map(Op::Remove),
            1 => Just(Op::Shrink),
        ]
    }

    proptest! {
        #[test]
        fn table_matches_a_hashmap(ops in proptest::collection::vec(op(), 1..200)) {
            let mut table = Table::with_capacity(0);
            let mut model: HashMap<u64, u64> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(key, hash) => {
                        let hash = *model.entry(key).or_insert(hash);
                        if table.find(hash, |s| s.offset == key).is_none() {
                            table.insert_new(Slot { hash, offset: key });
                        }
                    }
                    Op::Remove(key) => {
                        if let Some(hash) = model.remove(&key) {
                            let i = table.find(hash, |s| s.offset == key).expect("present");
                            prop_assert_eq!(table.remove_at(i).offset, key);
                        }
                        prop_assert!(model.contains_key(&key)
                            || table.iter().all(|s| s.offset != key));
                    }
                    Op::Shrink => table.shrink_to_fit(),
                }
                check(&table, &model);
            }
        }
    }

    #[test]
    fn well_spread_hashes_stay_far_below_the_checkpoint_step_bound() {
        // A table filled to its load limit with random hashes, rebuilt from its own slots
        // as an open from a checkpoint does: no insert comes near the bound.
        let slots = 1usize << 20;
        let n = Table::limit(slots);
        let mut table = Table::with_slots(slots);
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut worst = 0;
        for key in 1..=n as u64 {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut h = x;
            h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            worst = worst.max(table.insert_new(Slot {
                hash: h ^ (h >> 31),
                offset: key * 8,
            }));
        }
        assert_eq!(table.slots.len(), slots, "filled to the limit, not grown");
        assert!(
            worst < MAX_CHECKPOINT_STEPS / 4,
            "worst insert stepped over {worst}"
        );
        let rebuilt = Index::from_checkpoint(n, 0, table.iter().copied()).expect("accepted");
        assert_eq!(rebuilt.len(), n);
    }

    #[test]
    fn a_table_grows_and_shrinks_around_its_load_limit() {
        let mut table = Table::with_capacity(0);
        let mut model = HashMap::new();
        for key in 1..=10_000u64 {
            let hash = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            table.insert_new(Slot { hash, offset: key });
            model.insert(key, hash);
        }
        check(&table, &model);
        assert_eq!(table.slots.len(), 16_384);
        for key in 1..=9_000u64 {
            let i = table.find(model[&key], |s| s.offset == key).unwrap();
            table.remove_at(i);
            model.remove(&key);
        }
        table.shrink_to_fit();
        check(&table, &model);
        assert_eq!(table.slots.len(), 2_048);
    }
}
