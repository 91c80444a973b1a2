//! The in-memory open-addressing table behind the index (see the module documentation
//! of `index`).

use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Global, Layout};
use allocator_api2::boxed::Box as AllocBox;

use super::filter::Filter;
use super::Slot;

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

/// Slots of the smallest table.
const MIN_SLOTS: usize = 16;

/// An open-addressing table of [`Slot`]s (see the module documentation). A slot whose
/// offset is 0 is empty: no entry starts at offset 0, where the file header is.
pub(super) struct Table {
    pub(super) slots: AllocBox<[Slot], TableAlloc>,
    /// `slots.len() - 1`; the home bucket of a hash is `hash & mask`.
    mask: usize,
    pub(super) len: usize,
    /// For a table that most lookups miss (the delta over a base): a filter of its hashes
    /// that [`Table::find`] asks first (see `super::filter`).
    filter: Option<Filter>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("slots", &self.slots.len())
            .field("len", &self.len)
            .field("filtered", &self.filter.is_some())
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

    pub(super) fn with_capacity(n: usize) -> Table {
        Self::with_slots(Self::slots_for(n), false)
    }

    /// An empty table for `n` keys that keeps a filter of its hashes, for a table that
    /// most lookups miss: each miss then reads one word of the filter instead of a line
    /// of the table.
    pub(super) fn filtered(n: usize) -> Table {
        Self::with_slots(Self::slots_for(n), true)
    }

    /// An empty table of `slots` slots, a power of two, with a filter if `filtered`.
    pub(super) fn with_slots(slots: usize, filtered: bool) -> Table {
        debug_assert!(slots.is_power_of_two());
        let zeroed = AllocBox::<[Slot], _>::new_zeroed_slice_in(slots, TableAlloc);
        Table {
            // SAFETY: a slot is two `u64`s, for which all-zero bytes are a valid value: the
            // empty slot.
            slots: unsafe { zeroed.assume_init() },
            mask: slots - 1,
            len: 0,
            filter: filtered.then(|| Filter::for_slots(slots)),
        }
    }

    /// Maps every page of a large table at once, for a table about to be filled densely
    /// (a rebuild, a checkpoint): its probes read each slot before writing it, which would
    /// otherwise map each page twice (a shared zero page on the read, a copy on the write).
    /// A table sized on a guess is left to fill lazily.
    pub(super) fn populate(&mut self) {
        let size = std::mem::size_of_val(&*self.slots);
        if size >= HUGE_TABLE {
            advise_pages(self.slots.as_ptr() as usize, size, 4096, POPULATE_ADVICE);
        }
    }

    /// Keys the table holds before it grows.
    pub(super) fn capacity(&self) -> usize {
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
    pub(super) fn find(&self, hash: u64, mut eq: impl FnMut(&Slot) -> bool) -> Option<usize> {
        if !self.may_contain(hash) {
            return None;
        }
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

    /// `false` when the table certainly holds no slot with `hash` (from its filter alone);
    /// `true` when it may, and always for a table without a filter.
    #[inline]
    pub(super) fn may_contain(&self, hash: u64) -> bool {
        self.filter.as_ref().is_none_or(|f| f.may_contain(hash))
    }

    /// Adds `slot`, growing the table first if it is full. The caller knows that no slot
    /// for the same key is in the table. Returns how many slots the insert stepped over.
    pub(super) fn insert_new(&mut self, slot: Slot) -> usize {
        if self.len >= self.capacity() {
            self.reserve(1);
        }
        self.place(slot)
    }

    /// Puts `slot` in Robin Hood order; room must exist. Returns how many slots it stepped
    /// over to find a free one.
    fn place(&mut self, mut slot: Slot) -> usize {
        if let Some(f) = &mut self.filter {
            f.add(slot.hash);
        }
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
    #[cfg(test)]
    pub(super) fn remove_at(&mut self, mut i: usize) -> Slot {
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
    pub(super) fn reserve(&mut self, additional: usize) {
        let want = self.len.saturating_add(additional);
        if want > self.capacity() {
            self.resize(Self::slots_for(want));
        }
    }

    /// Rebuilds the table with `slots` slots, enough for every key.
    fn resize(&mut self, slots: usize) {
        let mut new = Table::with_slots(slots, self.filter.is_some());
        new.populate();
        // Old slots in order land in the new table nearly in order: the walk is sequential.
        for s in self.iter() {
            new.place(*s);
        }
        *self = new;
    }

    pub(super) fn shrink_to_fit(&mut self) {
        let slots = Self::slots_for(self.len);
        if slots < self.slots.len() {
            self.resize(slots);
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(|s| s.offset != 0)
    }

    pub(super) fn allocation_size(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
            + self.filter.as_ref().map_or(0, Filter::allocation_size)
    }

    /// Starts loading the table line where a lookup of `hash` begins, unless the filter
    /// already tells that the lookup will not read it.
    #[inline]
    pub(super) fn prefetch(&self, hash: u64) {
        if self.may_contain(hash) {
            crate::mapping::prefetch((&self.slots[self.home(hash)] as *const Slot).cast());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::super::Slot;
    use super::Table;

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
        fn table_matches_a_hashmap(
            ops in proptest::collection::vec(op(), 1..200),
            filtered in any::<bool>(),
        ) {
            let mut table = if filtered { Table::filtered(0) } else { Table::with_capacity(0) };
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
    fn well_spread_hashes_take_few_steps_at_the_load_limit() {
        // A table filled to its load limit with random hashes: no insert steps far (about
        // a hundred slots at worst at 2^20 slots).
        const BOUND: usize = 256;
        let slots = 1usize << 20;
        let n = Table::limit(slots);
        let mut table = Table::with_slots(slots, false);
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
        assert!(worst < BOUND, "worst insert stepped over {worst}");
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
