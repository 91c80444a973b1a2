//! Durability: waiting for and forcing `fdatasync`, sync marks, index checkpoints and
//! closing.

use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::files::{self, FileId};
use crate::format;
use crate::index::{self, base, Slot};
use crate::lock;
use crate::mapping::Mapping;

use super::{State, Store};

impl Store {
    /// Sequence number up to which commits are known to be durable.
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq.load(Ordering::Acquire)
    }

    /// Returns once commit `seq` is durable. Concurrent callers share one `fdatasync`.
    pub fn wait_durable(&self, seq: u64) -> Result<()> {
        if self.durable_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let _g = self.durability.lock();
        if self.durable_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let (file, target, end, generation) = {
            let s = self.state.read();
            (s.file.clone(), s.seq, s.end, s.generation)
        };
        // Checked after reading the state: a compaction whose directory sync failed
        // poisons the store before its state names the new file, so a sync of that file
        // never acknowledges anything.
        if let Some(cause) = self.poison.get() {
            return Err(Error::Poisoned {
                cause: cause.clone(),
            });
        }
        self.sync_and_publish(&file, (target, end, generation))
    }

    /// Syncs `file` (the durability lock held) and publishes that commits up to `seq` and
    /// bytes up to `end` of `generation`'s file are durable; a failed sync poisons the store.
    pub(super) fn sync_and_publish(
        &self,
        file: &File,
        (seq, end, generation): (u64, u64, u64),
    ) -> Result<()> {
        if let Err(e) = self.backend.sync_data(file) {
            return Err(self.poison_durability(Error::io("fdatasync", &self.path, e)));
        }
        {
            let mut s = self.state.write();
            if s.generation == generation && end > s.durable_end {
                s.durable_end = end;
            }
        }
        // Published after the durable end: a `flush` that finds its commits durable then
        // also finds the sync mark due that records them.
        self.durable_seq.fetch_max(seq, Ordering::AcqRel);
        Ok(())
    }

    /// Makes every commit acknowledged so far durable, then appends a sync mark recording
    /// that (FORMAT.md, "Sync marks"), so that damage to those bytes found by a later open is
    /// reported as corruption instead of being taken for a torn unsynced tail.
    pub fn flush(&self) -> Result<()> {
        self.check_open()?;
        self.check_not_in_transaction()?;
        if self.read_only {
            return Ok(());
        }
        let seq = self.state.read().seq;
        self.wait_durable(seq)?;
        let _w = self.writer.lock();
        if self.poison.get().is_none() {
            self.append_mark();
        }
        Ok(())
    }

    /// Makes everything written so far durable, as [`Store::flush`] does, then brings the
    /// index file beside the store (`<store>.srd-index`) up to date: the base table it
    /// holds and the keys changed since are merged into a new one, so that the next open
    /// replays nothing. Done when the store has at least
    /// [`crate::StoreOptions::checkpoint_min_keys`] live keys (or already has an index file)
    /// and anything changed since the index file was written. Returns whether it wrote one;
    /// failing to is not an error (the next open then replays more of the log). On a
    /// poisoned store it makes what was committed before the failure durable, as
    /// [`Store::close`] does, then fails with [`Error::Poisoned`] (or with the error of
    /// that sync). A store of format version 1 or 2 has no index file (compaction upgrades it).
    ///
    /// Writers wait only while the writes made since the sync that starts it are synced, a
    /// sync mark is appended and the keys changed since the last index file are copied (16
    /// bytes each); the new file is then written from the old one and that copy while reads
    /// and writes go on (about 21 bytes per key, read and written in one pass, the log not
    /// read), synced and renamed into place. Writes made meanwhile stay in memory and
    /// are replayed by the next open if no later merge covers them.
    pub fn checkpoint(&self) -> Result<bool> {
        self.merge_index(Due::Asked)
    }

    /// What [`Store::close`] does before it closes, on a store that stays open: makes
    /// everything written durable (as [`Store::flush`]), then saves what changed since the
    /// index file as a delta file (16 bytes per changed key), or merges it into a new index
    /// file when as much changed as starts a background merge ([`Store::index_merge_due`]),
    /// so that the next open replays nothing and this costs time in proportion to what
    /// changed. Bindings call it when a handle
    /// closes. Returns whether it merged. On a poisoned store it behaves as
    /// [`Store::checkpoint`] does.
    pub fn save_index(&self) -> Result<bool> {
        self.merge_index(Due::Close)
    }

    /// Claims the background merge that [`Store::index_merge_due`] calls for: `true` for
    /// the one caller that should now run [`Store::run_background_merge`] (on a thread of
    /// its own), `false` when none is due or one is claimed already.
    pub fn claim_background_merge(&self) -> bool {
        self.index_merge_due() && !self.merge_claimed.swap(true, Ordering::AcqRel)
    }

    /// Runs the merge claimed by [`Store::claim_background_merge`], and releases the claim.
    pub fn run_background_merge(&self) -> Result<bool> {
        let r = self.merge_index(Due::Background);
        self.merge_claimed.store(false, Ordering::Release);
        r
    }

    /// Whether enough has changed since the index file was written that a merge
    /// ([`Store::checkpoint`]) is worth running now, in the background: at least 1/16 of the
    /// keys (and 65,536) changed, or 64 MiB of log written since. Bindings ask after writes
    /// and run the merge on a worker thread, so that the next open (after a crash too)
    /// replays a bounded part of the log and the changes kept in memory stay bounded.
    pub fn index_merge_due(&self) -> bool {
        if self.read_only || self.poison.get().is_some() || self.is_closed() {
            return false;
        }
        let s = self.state.read();
        self.merge_wanted(&s, Due::Background)
    }

    /// Whether `due` calls for a merge of the index in state `s`.
    fn merge_wanted(&self, s: &State, due: Due) -> bool {
        if !s.sync_marks || s.file_generation.is_none() || s.index.base_end() == s.end {
            return false;
        }
        let changed = s.index.delta_len() as u64;
        let since = s.end - s.index.base_end().max(format::HEADER_LEN);
        match (s.index.base(), due) {
            (None, Due::Background) => s.index.len() >= self.checkpoint_min_keys.max(1 << 16),
            // After a clear, the index file beside the store names keys it no longer has:
            // replace it (a small file) rather than replay the log since it at every open.
            (None, _) => s.index.len() >= self.checkpoint_min_keys || s.index.cleared_base(),
            (Some(_), Due::Asked) => true,
            // A close saves a delta file instead (its cost is the change) unless as much
            // changed as would have started a background merge.
            (Some(b), Due::Close | Due::Background) => {
                changed >= (b.keys / 16).max(1 << 16) || since >= BACKGROUND_MERGE_BYTES
            }
        }
    }

    /// The merge behind [`Store::checkpoint`], when `due` calls for one.
    fn merge_index(&self, due: Due) -> Result<bool> {
        if let Err(e) = self.check_writable() {
            if matches!(e, Error::Poisoned { .. }) {
                let _w = self.writer.lock();
                self.sync_after_poison()?;
            }
            return Err(e);
        }
        let _one_at_a_time = self.checkpointing.lock();
        // Again under the lock, which `close` takes too: a close that began since the check
        // above may have finished, and nothing may be written after it.
        self.check_open()?;
        // (A close that merges nothing still saves a delta file, below.)
        if due != Due::Close && !self.merge_wanted(&self.state.read(), due) {
            return Ok(false);
        }
        // The bulk of the sync with no writer lock held, as in `flush`; the one below then
        // has only what was written meanwhile.
        let seq = self.state.read().seq;
        self.wait_durable(seq)?;
        let copy = {
            let _w = self.writer.lock();
            let seq = self.state.read().seq;
            self.wait_durable(seq)?;
            if self.poison.get().is_some() {
                return Ok(false);
            }
            self.append_mark();
            self.copy_or_save_delta(due)
        };
        Ok(copy.is_some_and(|c| self.save(c)))
    }

    /// What a merge due for `due` needs, copied ([`Store::checkpoint_copy`]); for a close
    /// that merges nothing, what a delta file of the changes needs. The caller holds the
    /// `checkpointing` and writer locks and has just synced and marked the log; it writes
    /// the copy with [`Store::save`] once it has let go of the writer lock.
    fn copy_or_save_delta(&self, due: Due) -> Option<Saving> {
        match self.checkpoint_copy(due) {
            Some(copy) => Some(Saving::Merge(copy)),
            None if due == Due::Close => self.delta_copy().map(Saving::Delta),
            None => None,
        }
    }

    /// Copies what a merge needs, if `due` calls for one. The caller holds the
    /// `checkpointing` lock and the writer lock, and has just synced and marked the log, so
    /// that the copy describes a log that ends with a mark recording all of it.
    fn checkpoint_copy(&self, due: Due) -> Option<CheckpointCopy> {
        let s = self.state.read();
        if !self.merge_wanted(&s, due) || !format::ends_with_full_mark(s.map.bytes(s.end), s.end) {
            return None;
        }
        // Everything before the base's end that its own record or the background verifier
        // covers, and everything after it (scanned at open, or written by this process), was
        // verified in this generation.
        let verified_through = match s.index.base() {
            None => s.end,
            Some(b) => {
                let v = b
                    .verified_through
                    .max(self.verified_to.load(Ordering::Acquire));
                if v >= b.end {
                    s.end
                } else {
                    v
                }
            }
        };
        Some(CheckpointCopy {
            map: s.map.clone(),
            end: s.end,
            file: s.file.clone(),
            file_id: s.file_id,
            generation: s.generation,
            file_generation: s.file_generation?,
            base: s.index.base().cloned(),
            // Copied as it lies (16 bytes per changed key) and sorted with no lock held:
            // after a compaction every key is a change, and sorting a million of them under
            // the writer lock stalled writers for 135 ms.
            delta: s.index.delta_slots(),
            keys: s.index.len() as u64,
            live_bytes: s.index.live_bytes(),
            verified_through,
            evict_cursor: s.evict_cursor,
        })
    }

    /// Writes the index file of `copy` (the caller holds the `checkpointing` lock, and needs
    /// no other) and makes it the index's base. Returns whether it did.
    fn save_checkpoint(&self, copy: CheckpointCopy) -> bool {
        // Written beside the path only while the path still names this store's file: an
        // index beside a file that replaced it is not ours to touch.
        let Ok(like) = copy.file.metadata() else {
            return false;
        };
        if self.check_in_place(copy.file_id).is_err() {
            return false;
        }
        // Readers and writers go on meanwhile: the log before `copy.end` never changes, and
        // `copy.map` keeps it mapped even if a compaction replaces the file.
        let data = copy.map.bytes(copy.end);
        let mut delta = copy.delta;
        delta.sort_unstable_by_key(|s| s.hash);
        if let Some(b) = &copy.base {
            b.will_read_all();
        }
        let head = base::Header {
            generation: copy.file_generation,
            end: copy.end,
            live_bytes: copy.live_bytes,
            verified_through: copy.verified_through,
            hash: self.hasher,
            evict_cursor: copy.evict_cursor,
        };
        let tmp = files::with_suffix(&self.path, files::CHECKPOINT_TEMP);
        let dest = files::with_suffix(&self.path, files::CHECKPOINT);
        let write = |slots: &mut dyn Iterator<Item = Slot>| {
            base::write(
                &tmp,
                &dest,
                &like,
                self.backend.as_ref(),
                data,
                &head,
                copy.keys,
                slots,
            )
        };
        let written = write(&mut index::merged(copy.base.as_deref(), &delta, data));
        let written = match written {
            // The old file's slots were out of order (damaged): from every key instead.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                let mut all: Vec<Slot> =
                    index::merged(copy.base.as_deref(), &delta, data).collect();
                all.sort_unstable_by_key(|s| s.hash);
                write(&mut all.into_iter())
            }
            other => other,
        };
        let Ok(new_base) = written else {
            return false;
        };
        let mut s = self.state.write();
        // After a compaction the file is of the replaced store file, which a newer
        // generation's index replaces.
        if s.generation != copy.generation {
            return false;
        }
        s.index.rebase(Arc::new(new_base));
        drop(s);
        // A delta file over the old base no longer matches (and would only be ignored).
        let _ = std::fs::remove_file(files::with_suffix(&self.path, files::DELTA));
        true
    }

    /// Copies what a delta file of the keys changed since the index file needs (`close`,
    /// with the writer lock held and the log just synced and marked), if there is an index
    /// file and anything changed since.
    fn delta_copy(&self) -> Option<DeltaCopy> {
        let s = self.state.read();
        let (Some(base), Some(generation)) = (s.index.base(), s.file_generation) else {
            return None;
        };
        if base.end == s.end
            || *self.delta_saved.lock() == Some((generation, base.end, s.end))
            || !format::ends_with_full_mark(s.map.bytes(s.end), s.end)
        {
            return None;
        }
        Some(DeltaCopy {
            map: s.map.clone(),
            file: s.file.clone(),
            file_id: s.file_id,
            generation,
            base: base.clone(),
            totals: index::delta_file::Totals {
                end: s.end,
                len: s.index.len() as u64,
                live_bytes: s.index.live_bytes(),
                evict_cursor: s.evict_cursor,
            },
            slots: s.index.delta_slots(),
        })
    }

    /// Writes the delta file of `copy` (no lock needed but the `checkpointing` one). Failing
    /// to is not an error: the next open replays the log from the index file's end instead.
    fn save_delta(&self, copy: DeltaCopy) {
        let Ok(like) = copy.file.metadata() else {
            return;
        };
        if self.check_in_place(copy.file_id).is_err() {
            return;
        }
        let saved = index::delta_file::write(
            &files::with_suffix(&self.path, files::DELTA_TEMP),
            &files::with_suffix(&self.path, files::DELTA),
            &like,
            self.backend.as_ref(),
            copy.map.bytes(copy.totals.end),
            copy.generation,
            &copy.base,
            copy.totals,
            &copy.slots,
        );
        *self.delta_saved.lock() =
            saved
                .is_ok()
                .then_some((copy.generation, copy.base.end, copy.totals.end));
    }

    /// Writes what [`Store::copy_or_save_delta`] copied; whether it merged.
    fn save(&self, saving: Saving) -> bool {
        match saving {
            Saving::Merge(copy) => self.save_checkpoint(copy),
            Saving::Delta(copy) => {
                self.save_delta(copy);
                false
            }
        }
    }

    pub(crate) fn mark_durable(&self, seq: u64) {
        self.durable_seq.fetch_max(seq, Ordering::AcqRel);
    }

    // ----- lifecycle -----

    /// Closes the store: waits for in-flight writes and compaction, makes every commit
    /// durable (`fdatasync`), then releases the locks. Handles returned by reads stay
    /// valid. Closing twice is fine. The store is closed even when the sync fails; the
    /// error is returned then. A poisoned store still syncs what was committed before the
    /// failure when the failure was a write or a rename (its file's committed bytes are
    /// whole); after a failed sync it cannot, and `close` fails with [`Error::Io`] saying
    /// that earlier writes may not be durable. (Dropping a store without `close` skips the sync: what was
    /// acknowledged is with the OS, as after a crash of the process.)
    pub fn close(&self) -> Result<()> {
        self.close_with(true)
    }

    pub(super) fn close_with(&self, sync: bool) -> Result<()> {
        self.check_not_in_transaction()?;
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let _c = self.compaction.lock();
        let _k = self.checkpointing.lock();
        let _w = self.writer.lock();
        let mut result = Ok(());
        if sync && !self.read_only && self.poison.get().is_none() {
            let seq = self.state.read().seq;
            result = self.wait_durable(seq);
            if result.is_ok() {
                // As in `flush`: record what the sync made durable.
                self.append_mark();
                // What changed since the index file: merged into a new one when that much
                // changed, else saved as a delta file of its own size, so that the next
                // open replays nothing either way.
                // (The store is closed: nothing writes meanwhile.)
                if let Some(copy) = self.copy_or_save_delta(Due::Close) {
                    self.save(copy);
                }
            }
        } else if sync && !self.read_only {
            result = self.sync_after_poison();
        }
        let s = self.state.read();
        if !self.read_only
            && self.poison.get().is_none()
            && self.allocated.load(Ordering::Acquire) > s.end
        {
            // Trim the preallocated zeros, unless readers have the file mapped (shrinking
            // it under them would kill them with SIGBUS). Zeros left behind are harmless:
            // recovery drops a zero-filled tail.
            if lock::try_exclusive(&s.file) {
                if self.backend.set_len(&s.file, s.end).is_ok() {
                    self.allocated.store(s.end, Ordering::Release);
                }
                let _ = s.file.unlock();
            }
        }
        if self.read_only {
            let _ = s.file.unlock();
        } else {
            lock::unlock_file_itself(&s.file);
        }
        if let Some(f) = self.lock_file.lock().take() {
            let _ = f.unlock();
        }
        result
    }

    /// Appends a sync mark on its own if one is due (the writer lock must be held). The mark
    /// is not synced itself: losing it loses no data. A failed write poisons nothing: the
    /// next append writes the mark again (it is still due), and a mark only informs
    /// recovery.
    pub(super) fn append_mark(&self) {
        let (file, end, mark) = {
            let s = self.state.read();
            (s.file.clone(), s.end, s.pending_mark())
        };
        let Some(durable_end) = mark else { return };
        let mut buf = Vec::with_capacity(format::SYNC_MARK_LEN as usize);
        format::encode_sync_mark(&mut buf, end, durable_end);
        if self.backend.write_at(&file, &buf, end).is_ok() {
            let new_end = end + buf.len() as u64;
            self.allocated.fetch_max(new_end, Ordering::AcqRel);
            let map = self.state.read().map.clone();
            let map = if new_end > map.reserved() {
                // Where mappings are not reserved ahead (not Unix), the mark must be
                // mapped before the store's end may include it. If it cannot be, the end
                // stays where it was and the next append writes over the mark.
                match Mapping::new(&file, new_end, true) {
                    Ok(m) => Arc::new(m),
                    Err(_) => return,
                }
            } else {
                map
            };
            let mut s = self.state.write();
            s.map = map;
            s.end = new_end;
            // A mark that records everything before it needs no other mark until more is
            // written and synced (as an open decides). One that records less (a flush
            // synced, then a batch landed before it took the writer lock) leaves a mark due
            // for that batch, which the next sync makes durable.
            s.marked_end = if durable_end == end {
                new_end
            } else {
                durable_end
            };
        }
    }
}

/// What a merge or a close saves, copied under the locks and written without them.
enum Saving {
    /// A new index file.
    Merge(CheckpointCopy),
    /// A delta file.
    Delta(DeltaCopy),
}

/// What a delta file is made of (see `Store::delta_copy`).
struct DeltaCopy {
    /// Maps the log up to `totals.end` at least.
    map: Arc<Mapping>,
    /// The store file, and its identity (device, inode).
    file: Arc<File>,
    file_id: FileId,
    /// The generation identifier in that file's header.
    generation: [u8; 16],
    base: Arc<base::Base>,
    totals: index::delta_file::Totals,
    slots: Vec<Slot>,
}

/// Why an index merge is considered (see `Store::merge_wanted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// [`Store::checkpoint`], or compaction's new file: whenever anything changed.
    Asked,
    /// `close`: when enough changed that the next open should not replay it.
    Close,
    /// [`Store::index_merge_due`]: when the changes kept in memory grew large.
    Background,
}

/// [`Store::index_merge_due`] (and `close`, which otherwise saves a delta file) once this
/// much log was written since the index file: the most a delta file covers.
const BACKGROUND_MERGE_BYTES: u64 = index::delta_file::MAX_LOG;

/// What a merge of the index is made of, copied under the locks (see
/// `Store::checkpoint_copy`).
struct CheckpointCopy {
    /// Maps the log the copy describes, up to `end` at least.
    map: Arc<Mapping>,
    end: u64,
    /// The store file the copy describes, and its identity (device, inode).
    file: Arc<File>,
    file_id: FileId,
    generation: u64,
    /// The generation identifier in that file's header.
    file_generation: [u8; 16],
    /// The index's base, and its delta (in table order; sorted by hash before the merge).
    base: Option<Arc<base::Base>>,
    delta: Vec<Slot>,
    /// Live keys, and the sum of their entries' lengths.
    keys: u64,
    live_bytes: u64,
    verified_through: u64,
    /// The writer's eviction cursor at the copy.
    evict_cursor: u64,
}
