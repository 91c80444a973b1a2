//! The expiry sweep ([`Store::sweep_expired`], [`Store::clear_expired`]): expired entries
//! leave the index, in the log as expiry records, so that their bytes count as reclaimable
//! (and automatic compaction can come due for them) and the change feed can say that a key
//! expired.
//!
//! The sweep walks the log in steps of a byte budget from a cursor of the current file
//! (the header's end after an open or a compaction), reading entries with no lock held. For
//! each live Put whose expiry has passed by the store's clock it writes an expiry record (a
//! Delete with `FLAG_EXPIRED`, FORMAT.md "Entries") in one batch per step, re-checked under
//! the writer lock. Nothing per key is kept in memory beyond that step's batch. A clock that
//! goes back later cannot bring a swept key back: its record is a tombstone.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::format::{self, EntryKind, HEADER_LEN};

use super::Store;

/// Bytes of log one step of [`Store::clear_expired`] walks.
const CLEAR_STEP: u64 = 16 << 20;

/// The largest log whose open starts an automatic pass of the sweep by itself (see
/// [`SweepState::new`]): 8 steps of the bindings' 8 MiB.
pub(crate) const OPEN_PASS_MAX_LOG: u64 = 64 << 20;

/// What one step of the sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Expired entries it removed (one expiry record each).
    pub removed: u64,
    /// Whether the step reached the end of the log (the next step starts a new pass at the
    /// header).
    pub wrapped: bool,
}

/// The sweep's place and counts, one per open store.
#[derive(Debug, Default)]
pub(crate) struct SweepState {
    /// The file generation and offset the next step starts at, and whether the pass under
    /// way has met an entry with an expiry (expired or not).
    cursor: Mutex<Cursor>,
    /// Writes with an expiry since open: while none was made and the last full pass met
    /// none, [`Store::expiry_sweep_due`] is false.
    expiring_writes: AtomicU64,
    /// Whether the store may hold entries with an expiry (see [`Store::expiry_sweep_due`]).
    wanted: AtomicBool,
    /// Entries the sweep removed since open.
    pub(crate) removed: AtomicU64,
}

#[derive(Debug, Default)]
struct Cursor {
    generation: u64,
    pos: u64,
    saw_expiring: bool,
    writes_at_pass_start: u64,
}

impl SweepState {
    /// The state of a store just opened with a log of `log_bytes`: a writable one whose log
    /// is at most [`OPEN_PASS_MAX_LOG`] wants a first pass, which finds out whether the
    /// file holds entries with an expiry (a pass that meets none turns the automatic sweep
    /// off until the next write of one). A larger log is not walked for that: the sweep
    /// starts with the first write of an entry with an expiry (or a
    /// [`Store::clear_expired`]), so that a big store that does not use expiry does not
    /// read its whole log after every open.
    pub(crate) fn new(writable: bool, log_bytes: u64) -> Self {
        SweepState {
            wanted: AtomicBool::new(writable && log_bytes <= OPEN_PASS_MAX_LOG),
            ..Default::default()
        }
    }

    /// Notes a write of an entry with an expiry: the sweep is wanted from now on.
    pub(crate) fn note_expiring_write(&self) {
        self.expiring_writes.fetch_add(1, Ordering::AcqRel);
        if !self.wanted.load(Ordering::Relaxed) {
            self.wanted.store(true, Ordering::Release);
        }
    }
}

impl Store {
    /// Whether an automatic sweep step should run: the store is writable and open, and
    /// the file may hold entries with an expiry: from the open (of a log of at most
    /// [`OPEN_PASS_MAX_LOG`]; the first pass finds out) until a whole pass meets none, and
    /// again from the next write of one. Bindings ask on a timer.
    pub fn expiry_sweep_due(&self) -> bool {
        !self.read_only
            && !self.is_closed()
            && !self.is_poisoned()
            && self.sweep.wanted.load(Ordering::Acquire)
    }

    /// One step of the expiry sweep: walks at most `budget` bytes of the log from where the
    /// last step stopped, and removes every live entry it meets whose expiry has passed,
    /// writing an expiry record for each (one batch; durable first on a store opened with
    /// `sync`). Removed entries leave [`super::Stats::live_bytes`] and [`Store::len`] and
    /// count in `reclaimable_bytes`; the change feed shows them as
    /// [`crate::ChangeKind::Expire`]. Stops early at an entry that does not check out
    /// (verification reports such damage). Fails with [`Error::ReadOnly`] on a read-only
    /// store.
    pub fn sweep_expired(&self, budget: u64) -> Result<Sweep> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let mut cur = self.sweep.cursor.lock();
        let (map, end, generation) = {
            let s = self.state.read();
            (s.map.clone(), s.end, s.generation)
        };
        if cur.generation != generation || cur.pos < HEADER_LEN || cur.pos > end {
            *cur = Cursor {
                generation,
                pos: HEADER_LEN,
                saw_expiring: false,
                writes_at_pass_start: self.sweep.expiring_writes.load(Ordering::Acquire),
            };
        }
        let data = map.bytes(end);
        let now = self.now_ms();
        let stop = cur.pos.saturating_add(budget.max(1));
        let mut pos = cur.pos;
        let mut found: Vec<(u64, u64)> = Vec::new();
        let mut damaged = false;
        while pos < end && pos < stop {
            let Ok(h) = format::plausible_entry(data, pos) else {
                damaged = true;
                break;
            };
            if h.kind == EntryKind::Put {
                if let Some(at) = format::entry_expiry(data, pos) {
                    cur.saw_expiring = true;
                    if at <= now {
                        // Only the key's live entry: a dead Put costs nothing to keep.
                        let key = format::key_at(data, pos);
                        let hash = self.hash(key);
                        let s = self.state.read();
                        if s.generation != generation {
                            break;
                        }
                        if s.index.find(data, hash, key) == Some(pos) {
                            found.push((pos, hash));
                        }
                    }
                }
            }
            pos += h.len();
        }
        let removed = if found.is_empty() {
            0
        } else {
            self.write_expiry_records(generation, &found, now)?
        };
        self.sweep.removed.fetch_add(removed, Ordering::AcqRel);
        let wrapped = pos >= end || damaged;
        if wrapped {
            if !cur.saw_expiring
                && self.sweep.expiring_writes.load(Ordering::Acquire) == cur.writes_at_pass_start
            {
                self.sweep.wanted.store(false, Ordering::Release);
            }
            cur.pos = HEADER_LEN;
            cur.saw_expiring = false;
            cur.writes_at_pass_start = self.sweep.expiring_writes.load(Ordering::Acquire);
        } else {
            cur.pos = pos;
        }
        Ok(Sweep { removed, wrapped })
    }

    /// A whole pass of the expiry sweep, from the header to the end of the log, in steps
    /// of 16 MiB (writers go on between them); returns how many expired entries it
    /// removed. A compaction meanwhile ends it early (the compaction dropped what had
    /// expired by its start).
    pub fn clear_expired(&self) -> Result<u64> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let generation = self.state.read().generation;
        {
            let mut cur = self.sweep.cursor.lock();
            *cur = Cursor {
                generation,
                pos: HEADER_LEN,
                saw_expiring: false,
                writes_at_pass_start: self.sweep.expiring_writes.load(Ordering::Acquire),
            };
        }
        let mut total = 0;
        loop {
            let step = self.sweep_expired(CLEAR_STEP)?;
            total += step.removed;
            if step.wrapped || self.state.read().generation != generation {
                return Ok(total);
            }
        }
    }

    /// Writes expiry records for the entries `found` (offset and key hash, in the file of
    /// `generation`) that are still their key's live entry and still expired, in one batch
    /// under the writer lock; returns how many it wrote.
    fn write_expiry_records(&self, generation: u64, found: &[(u64, u64)], now: u64) -> Result<u64> {
        // As any append: under a size limit, a file past what a write may append to is
        // compacted first (which drops what has expired, and ends this step: see below).
        let buf = self
            .writer_for_append(true)?
            .expect("a waiting write always gets the lock");
        let (map, end) = {
            let s = self.state.read();
            if s.generation != generation {
                // Compacted meanwhile: these offsets are of the old file.
                return Ok(0);
            }
            (s.map.clone(), s.end)
        };
        let data = map.bytes(end);
        let keep: Vec<(u64, u64)> = {
            let s = self.state.read();
            found
                .iter()
                .copied()
                .filter(|&(off, hash)| {
                    s.index.find(data, hash, format::key_at(data, off)) == Some(off)
                        && format::expired(data, off, || now)
                })
                .collect()
        };
        if keep.is_empty() {
            return Ok(0);
        }
        let keys: Vec<&[u8]> = keep
            .iter()
            .map(|&(off, _)| format::key_at(data, off))
            .collect();
        let mut appending = super::write::Appending::begin(self, buf, keys.len() == 1)?;
        let records = appending.encode_expiry_records(&keys)?;
        let done = appending.finish()?;
        let (seq, ()) = done.commit(|index, data| {
            for (&record, &(_, hash)) in records.iter().zip(&keep) {
                let key = format::key_at(data, record);
                index.remove(data, hash, key, record);
            }
        });
        if self.sync_commits {
            self.wait_durable(seq)?;
        }
        Ok(keep.len() as u64)
    }
}
