//! The in-memory index: key hash and file offset of every live key's latest entry.
//!
//! Keys are not kept in memory; they are stored in the file and compared through the
//! mapping, so two keys whose hashes collide are two separate slots and each finds its own
//! entry. A slot is 16 bytes plus one control byte; the table has a power-of-two number of
//! slots filled to at most 7/8, so a minimally sized table takes between about 19.5 and
//! 39 bytes per key (35.7 for one million keys). After recovery the table is shrunk to
//! that minimum if the size guess made before the scan was too high.

use hashbrown::HashTable;

use crate::format::{self, key_at, EntryHeader};

/// One live key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub hash: u64,
    pub offset: u64,
}

/// The index plus the bookkeeping that stats need.
#[derive(Debug, Default)]
pub(crate) struct Index {
    table: HashTable<Slot>,
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
            table: HashTable::with_capacity(n),
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
                self.live_bytes -= header_at(data, old).len();
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

    /// Adds a key known not to be in the index yet (compaction copies distinct keys).
    pub fn insert_unique(&mut self, hash: u64, offset: u64, entry_len: u64) {
        self.live_bytes += entry_len;
        self.table
            .insert_unique(hash, Slot { hash, offset }, |s| s.hash);
    }

    /// Removes `key`. Returns the offset of its live entry, if it had one.
    pub fn remove(&mut self, data: &[u8], hash: u64, key: &[u8]) -> Option<u64> {
        match self
            .table
            .find_entry(hash, |s| s.hash == hash && key_at(data, s.offset) == key)
        {
            Ok(e) => {
                let (slot, _) = e.remove();
                self.live_bytes -= header_at(data, slot.offset).len();
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
