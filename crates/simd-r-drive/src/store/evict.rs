//! The size limit ([`super::StoreOptions::max_bytes`]): which live entries a write evicts,
//! the eviction records that say so in the log, and the compaction the limit forces.
//!
//! Eviction is FIFO in log order: the writer keeps a cursor into the log
//! ([`State::evict_cursor`]) before which no live entry starts, and a write that would take
//! the live data past the limit walks the log from there, evicting each live Put it meets
//! (one eviction record each, in the write's own batch) until the live data fits. Every
//! byte of the log is walked at most once per file: a compaction starts the cursor again at
//! the header of the new file, whose entries keep their log order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::format::{self, EntryKind};

use super::{Op, State, Store};

/// Entries the size limit evicted since open, and their bytes on disk.
#[derive(Debug, Default)]
pub(crate) struct Evicted {
    pub(crate) entries: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

/// What a batch evicts to fit the size limit.
#[derive(Debug, Default)]
pub(crate) struct Evictions {
    /// The evicted Puts: offset, length on disk and key hash, in log order.
    pub(crate) puts: Vec<(u64, u64, u64)>,
    /// The eviction cursor once the batch is committed.
    pub(crate) cursor: u64,
}

impl Evictions {
    /// Whether nothing is evicted.
    pub(crate) fn is_empty(&self) -> bool {
        self.puts.is_empty()
    }
}

/// The bytes on disk of the entry `op` writes, if it is a Put.
pub(crate) fn put_len(op: &Op<'_>) -> Option<u64> {
    match op {
        Op::Put { key, value } => Some(format::entry_len(key.len(), value.len())),
        Op::PutExpiring { key, value, .. } => Some(format::entry_len(key.len(), value.len()) + 8),
        Op::Delete { .. } => None,
    }
}

/// Past this end of the data, a write compacts before it appends: `2 × max + 88`, where a
/// compacted file of at most `4/3 × max` live bytes (each copy gains an 8-byte version,
/// entries are at least 24 bytes) plus its header and sync mark (88 bytes) always fits.
pub(crate) fn compaction_limit(max: u64) -> u64 {
    max.saturating_mul(2).saturating_add(88)
}

impl Store {
    /// The size limit, if any (see [`super::StoreOptions::max_bytes`]).
    pub fn max_bytes(&self) -> Option<u64> {
        match self.max_bytes.load(Ordering::Acquire) {
            0 => None,
            max => Some(max),
        }
    }

    /// Replaces the size limit (`None`: no limit; 0 is taken as 1). A lower limit takes
    /// effect at the next write, which evicts down to it. Ignored by a read-only store.
    pub fn set_max_bytes(&self, max: Option<u64>) {
        if !self.read_only {
            self.max_bytes
                .store(max.map_or(0, |m| m.max(1)), Ordering::Release);
        }
    }

    /// Where the next eviction starts walking the log (no live entry starts before it).
    /// For tests of its recovery across a reopen.
    #[doc(hidden)]
    pub fn eviction_cursor(&self) -> u64 {
        self.state.read().evict_cursor
    }

    /// Refuses a write whose Puts take `bytes` on disk when that is more than the size
    /// limit: no eviction could make it fit.
    pub(crate) fn check_fits(&self, bytes: u64) -> Result<()> {
        match self.max_bytes() {
            Some(max) if bytes > max => Err(Error::OverMaxBytes {
                bytes,
                max_bytes: max,
            }),
            _ => Ok(()),
        }
    }

    /// What the batch `ops` (whose key hashes are `hashes`) must evict so that the live
    /// data fits the size limit once it is committed, given the committed state `s` (read
    /// under the writer lock, so that it cannot change before the batch is). Fails with
    /// [`Error::OverMaxBytes`] when the batch's Puts alone are over the limit.
    pub(crate) fn plan_evictions(
        &self,
        s: &State,
        ops: &[Op<'_>],
        hashes: &[u64],
    ) -> Result<Evictions> {
        let Some(max) = self.max_bytes() else {
            return Ok(Evictions::default());
        };
        let data = s.map.bytes(s.end);
        // The live bytes once the batch is applied: each operation replaces (or removes)
        // what its key had, counting the batch's own earlier operations on that key.
        let mut touched: HashMap<&[u8], Option<u64>> = HashMap::new();
        let mut live = s.index.live_bytes() as i128;
        let mut puts = 0u64;
        for (op, &hash) in ops.iter().zip(hashes) {
            let key = op.key();
            let prior = match touched.get(key) {
                Some(len) => len.unwrap_or(0),
                None => s.index.find(data, hash, key).map_or(0, |off| {
                    format::read_header_trusted(&data[off as usize..]).len()
                }),
            };
            let new = put_len(op);
            puts = puts.saturating_add(new.unwrap_or(0));
            live += new.unwrap_or(0) as i128 - prior as i128;
            touched.insert(key, new);
        }
        self.check_fits(puts)?;
        self.scan_evictions(s, live, max, |key| touched.contains_key(key))
    }

    /// Walks the log from the eviction cursor, evicting live Puts (except those of keys
    /// `spared` says the batch writes itself) until `live` is at most `max`.
    fn scan_evictions(
        &self,
        s: &State,
        mut live: i128,
        max: u64,
        spared: impl Fn(&[u8]) -> bool,
    ) -> Result<Evictions> {
        let mut plan = Evictions {
            puts: Vec::new(),
            cursor: s.evict_cursor,
        };
        if live <= max as i128 {
            return Ok(plan);
        }
        let data = s.map.bytes(s.end);
        let mut pos = s.evict_cursor.max(format::HEADER_LEN);
        while live > max as i128 && pos < s.end {
            // Entries before the end were verified, or (before an index file's end) are
            // checked here as far as walking them needs: a damaged one stops the walk.
            let h = format::plausible_entry(data, pos)
                .map_err(|b| Error::corrupt(&self.path, pos, b.describe()))?;
            if h.kind == EntryKind::Put {
                let key = format::key_at(data, pos);
                let hash = self.hash(key);
                if !spared(key) && s.index.find(data, hash, key) == Some(pos) {
                    plan.puts.push((pos, h.len(), hash));
                    live -= h.len() as i128;
                }
            }
            pos += h.len();
        }
        plan.cursor = pos;
        Ok(plan)
    }

    /// After a commit that could not plan its evictions ahead (a batch fed one operation at
    /// a time, a streamed value): evicts, in a batch of its own, what takes the live data
    /// past the size limit.
    pub(crate) fn evict_to_fit(&self) -> Result<()> {
        let Some(max) = self.max_bytes() else {
            return Ok(());
        };
        let buf = self.writer.lock();
        let plan = {
            let s = self.state.read();
            self.scan_evictions(&s, s.index.live_bytes() as i128, max, |_| false)?
        };
        if plan.is_empty() {
            return Ok(());
        }
        let mut appending = super::write::Appending::begin(self, buf, plan.puts.len() == 1)?;
        let records = appending.encode_evictions(&plan)?;
        let mut done = appending.finish()?;
        done.set_evict_cursor(plan.cursor);
        let (seq, ()) = done.commit(|index, data| apply_evictions(index, data, &records));
        self.count_evictions(&plan);
        if self.sync_commits {
            self.wait_durable(seq)?;
        }
        Ok(())
    }

    /// Counts the committed evictions of `plan` for [`Store::stats`].
    pub(crate) fn count_evictions(&self, plan: &Evictions) {
        if plan.is_empty() {
            return;
        }
        let bytes: u64 = plan.puts.iter().map(|p| p.1).sum();
        self.evicted
            .entries
            .fetch_add(plan.puts.len() as u64, Ordering::AcqRel);
        self.evicted.bytes.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Whether the store file's data is past what the size limit lets a write append to
    /// (see [`compaction_limit`]).
    pub(crate) fn over_compaction_limit(&self) -> bool {
        self.max_bytes()
            .is_some_and(|max| self.state.read().end > compaction_limit(max))
    }

    /// Compacts when the store file's data is past what the size limit lets a write append
    /// to; waits for a compaction running already (an automatic one) and checks again after
    /// it. Called by writes before they take the writer lock.
    pub(crate) fn compact_for_limit(&self) -> Result<()> {
        if !self.over_compaction_limit() {
            return Ok(());
        }
        let one = self.compaction.lock();
        if !self.over_compaction_limit() {
            return Ok(());
        }
        self.compact_locked(one, &crate::Progress::none())
            .map(|_| ())
    }
}

/// The eviction cursor of a file a writer opens: the largest that the index and delta files
/// recorded (`hint`) or that an eviction record in the log replayed after them,
/// `[replayed, end)` of `data`, names (each names a Put before which nothing was live when
/// it was written, and nothing written later lies before it), or the header's end.
pub(crate) fn recover_cursor(data: &[u8], hint: u64, replayed: u64, end: u64) -> u64 {
    let mut cursor = hint.max(format::HEADER_LEN);
    let mut pos = replayed.max(format::HEADER_LEN);
    while pos < end {
        let Ok(h) = format::plausible_entry(data, pos) else {
            break;
        };
        if format::is_eviction(&h) {
            cursor = cursor.max(format::evicted_offset(data, pos));
        }
        pos += h.len();
    }
    cursor.min(end)
}

/// Applies committed eviction records to the index: `records` pairs each record's offset
/// with its key's hash.
pub(crate) fn apply_evictions(
    index: &mut crate::index::Index,
    data: &[u8],
    records: &[(u64, u64)],
) {
    for &(record, hash) in records {
        let key = format::key_at(data, record);
        index.remove(data, hash, key, record);
    }
}
