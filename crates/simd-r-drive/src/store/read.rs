//! Reads: lookups by key, batched lookups, counts, statistics and iteration.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{self, HEADER_LEN};
use crate::index::Probe;
use crate::mapping::{Mapping, Value};

use super::{State, Stats, Store};

/// Asks the CPU to start loading the first bytes of the entry at `off` into its caches.
/// Only a hint: it changes nothing and cannot fail.
#[inline(always)]
fn prefetch_entry(data: &[u8], off: u64) {
    if let Some(entry) = data.get(off as usize..) {
        let p = entry.as_ptr();
        crate::mapping::prefetch(p);
        crate::mapping::prefetch(p.wrapping_add(64));
    }
}

impl Store {
    /// The value of `key`, as a zero-copy handle into the file, or `None`.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Result<Option<Value>> {
        self.check_open()?;
        let hash = self.hash(key);
        let now = self.lazy_now();
        let s = self.state.read();
        Ok(s.value_of(&self.path, hash, key, &now)?
            .map(|(at, len)| Value::new(s.map.clone(), at, len)))
    }

    /// Calls `f` with the bytes of `key`'s value (borrowed from the map, no reference
    /// count taken) and returns what it returns, or `None` if the key has no value.
    #[inline]
    pub fn get_with<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        self.check_open()?;
        let hash = self.hash(key);
        let now = self.lazy_now();
        let s = self.state.read();
        Ok(s.value_of(&self.path, hash, key, &now)?.map(|(at, len)| {
            let at = at as usize;
            f(&s.map.bytes(s.end)[at..at + len])
        }))
    }

    /// Looks up every key of `keys` and calls `f(i, value)` for `keys[i]`, in order, with
    /// the bytes of its value or `None`. Faster than [`Store::get_with`] in a loop when
    /// many keys are wanted at once: the read lock is taken once per group of keys, and the
    /// file reads of a group are started together so that their memory latencies overlap.
    /// `f` runs while a read lock is held (writers wait), so keep it short.
    pub fn get_many_with<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        mut f: impl FnMut(usize, Option<&[u8]>),
    ) -> Result<()> {
        self.lookup_many(keys, |_, data, i, found| {
            f(i, found.map(|off| format::value_at(data, off)));
            Ok(())
        })
    }

    /// Looks up every key of `keys` and calls `f(state, data, i, offset)` for `keys[i]`, in
    /// order, with the offset of its live entry in `data` (the verified file contents).
    /// The read lock is taken once per group of keys, and each group's table lines, then
    /// its entries, are loaded together, so that their memory latencies overlap.
    pub(super) fn lookup_many<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        mut f: impl FnMut(&State, &[u8], usize, Option<u64>) -> Result<()>,
    ) -> Result<()> {
        /// Keys whose index lookups and file reads are started before any is finished.
        const GROUP: usize = 16;
        /// Keys looked up per read-lock acquisition (bounds how long writers wait).
        const PER_LOCK: usize = 1024;
        self.check_open()?;
        let now = self.lazy_now();
        let mut hashes = [0u64; GROUP];
        let mut offsets = [Probe::Miss; GROUP];
        for (c, chunk) in keys.chunks(PER_LOCK).enumerate() {
            let s = self.state.read();
            let data = s.map.bytes(s.end);
            for (g, group) in chunk.chunks(GROUP).enumerate() {
                for (h, k) in hashes.iter_mut().zip(group) {
                    *h = self.hash(k.as_ref());
                    s.index.prefetch(*h);
                }
                for (o, &h) in offsets.iter_mut().zip(&hashes[..group.len()]) {
                    *o = s.index.probe(h);
                    if let Probe::Hit { offset, slot } = *o {
                        prefetch_entry(data, offset);
                        s.index.prefetch_check(slot, offset);
                    }
                }
                let base = c * PER_LOCK + g * GROUP;
                for (j, k) in group.iter().enumerate() {
                    let key = k.as_ref();
                    let corrupt = |(at, why)| Error::corrupt(&self.path, at, why);
                    let found = match offsets[j] {
                        Probe::Hit { offset, slot }
                            if s.index.hit_key(data, offset, slot) == Some(key) =>
                        {
                            s.index.check_read(data, slot, offset).map_err(corrupt)?;
                            Some(offset)
                        }
                        // Another key with the same 64-bit hash, or one deleted since the
                        // base: the full lookup decides.
                        Probe::Hit { .. } | Probe::Slow => {
                            s.index.find_read(data, hashes[j], key).map_err(corrupt)?
                        }
                        Probe::Miss => None,
                    };
                    let found = found.filter(|&off| !format::expired(data, off, || now.ms()));
                    f(&s, data, base + j, found)?;
                }
            }
        }
        Ok(())
    }

    /// Whether `key` has a value.
    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        self.check_open()?;
        let hash = self.hash(key);
        let now = self.lazy_now();
        let s = self.state.read();
        let data = s.map.bytes(s.end);
        Ok(s.index
            .find(data, hash, key)
            .is_some_and(|off| !format::expired(data, off, || now.ms())))
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.state.read().index.len()
    }

    /// Whether the store has no live keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sizes and counts.
    pub fn stats(&self) -> Stats {
        let s = self.state.read();
        let live = s.index.live_bytes();
        Stats {
            entries: s.index.len() as u64,
            file_bytes: s.end,
            live_bytes: live,
            // Compaction gives every copy an 8-byte explicit version: counted for every live
            // key (those that carry one already are counted twice, so this errs low).
            reclaimable_bytes: s.end.saturating_sub(
                live.saturating_add(8 * s.index.len() as u64)
                    .saturating_add(HEADER_LEN + format::SYNC_MARK_LEN),
            ),
            index_bytes: s.index.allocation_size() as u64,
            index_file_bytes: s.index.base().map_or(0, |b| b.file_bytes()),
            generation: s.generation,
            expired_entries: self
                .sweep
                .removed
                .load(std::sync::atomic::Ordering::Acquire),
            evicted_entries: self
                .evicted
                .entries
                .load(std::sync::atomic::Ordering::Acquire),
            evicted_bytes: self
                .evicted
                .bytes
                .load(std::sync::atomic::Ordering::Acquire),
            seq: s.seq,
            format_version: s.format_version,
        }
    }

    /// A point-in-time iterator over every live entry as `(key, value)` handles, in file
    /// order. Taking it copies one offset per key; writers go on meanwhile and their later
    /// changes are not seen by this iterator.
    pub fn iter(&self) -> Result<Iter> {
        self.check_open()?;
        let (map, end, snapshot) = {
            let s = self.state.read();
            (s.map.clone(), s.end, s.index.snapshot())
        };
        let mut offsets: Vec<u64> = snapshot
            .live(map.bytes(end))
            .into_iter()
            .map(|x| x.offset)
            .collect();
        offsets.sort_unstable();
        let data = map.bytes(end);
        let now = self.now_ms();
        offsets.retain(|&off| format::entry_fits(data, off) && !format::expired(data, off, || now));
        Ok(Iter {
            map,
            offsets: offsets.into_iter(),
        })
    }

    // ----- writes -----
}

/// Iterator over live entries, from [`Store::iter`].
pub struct Iter {
    map: Arc<Mapping>,
    offsets: std::vec::IntoIter<u64>,
}

impl Iterator for Iter {
    type Item = (Value, Value);

    fn next(&mut self) -> Option<(Value, Value)> {
        let off = self.offsets.next()?;
        let h = format::read_header_trusted(self.map.slice(off, format::ENTRY_HEADER_LEN as usize));
        let key = Value::new(self.map.clone(), off + h.key_start(), h.key_len);
        let value = Value::new(self.map.clone(), off + h.value_start(), h.value_len);
        Some((key, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.offsets.size_hint()
    }
}

impl ExactSizeIterator for Iter {}
