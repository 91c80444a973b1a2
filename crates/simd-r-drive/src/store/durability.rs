//! Durability: waiting for and forcing `fdatasync`, sync marks, index checkpoints and
//! closing.

use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::files::FileId;
use crate::format;
use crate::lock;
use crate::mapping::Mapping;

use super::Store;

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

    /// Makes everything written so far durable, as [`Store::flush`] does, then saves the
    /// index beside the store (`<store>.srd-index`) if the store has at least
    /// [`crate::StoreOptions::checkpoint_min_keys`] live keys and the checkpoint there is not
    /// already up to date, so that the next open does not have to scan the whole log.
    /// [`Store::close`] does this too. Returns whether a checkpoint was written; failing to
    /// write one is not an error (opens then scan the log, as without one). On a poisoned
    /// store it makes what was committed before the failure durable, as [`Store::close`]
    /// does, then fails with [`Error::Poisoned`] (or with the error of that sync).
    ///
    /// Writers wait only while the writes made since the sync that starts it are synced, a
    /// sync mark is appended and the index is copied (16 bytes per live key); the checkpoint
    /// of that copy is then verified and written while reads and writes go on. Writes made
    /// meanwhile are not in it: the next open reads them from the log after its end.
    pub fn checkpoint(&self) -> Result<bool> {
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
            self.checkpoint_copy()
        };
        Ok(copy.is_some_and(|c| self.save_checkpoint(c)))
    }

    /// Copies what an index checkpoint needs, if one is due. The caller holds the
    /// `checkpointing` lock and the writer lock, and has just synced and marked the log, so
    /// that the copy describes a log that ends with a mark recording all of it.
    fn checkpoint_copy(&self) -> Option<CheckpointCopy> {
        let s = self.state.read();
        if !s.sync_marks
            || s.checkpoint_end == s.end
            || s.index.len() < self.checkpoint_min_keys
            || !checkpoint::ends_with_full_mark(s.map.bytes(s.end), s.end)
        {
            return None;
        }
        Some(CheckpointCopy {
            map: s.map.clone(),
            end: s.end,
            file: s.file.clone(),
            file_id: s.file_id,
            generation: s.generation,
            index: checkpoint::IndexCopy::of(&s.index),
        })
    }

    /// Writes the index checkpoint of `copy` (the caller holds the `checkpointing` lock,
    /// and needs no other). Returns whether it wrote one that describes the store's current
    /// file. Every entry is verified first, so that a checkpoint never vouches for bytes
    /// that were damaged while the store was open; if one does not verify, no checkpoint is
    /// left beside the store, and the next open reads (and reports) the whole log.
    fn save_checkpoint(&self, copy: CheckpointCopy) -> bool {
        // Written (or removed) beside the path only while the path still names this
        // store's file: a checkpoint beside a file that replaced it is not ours to touch.
        let Ok(like) = copy.file.metadata() else {
            return false;
        };
        if self.check_in_place(copy.file_id).is_err() {
            return false;
        }
        // Readers and writers go on meanwhile: the log before `copy.end` never changes, and
        // `copy.map` keeps it mapped even if a compaction replaces the file.
        let data = copy.map.bytes(copy.end);
        let Some(log_hash) = checkpoint::verified_log_hash(data, copy.end) else {
            let _ = std::fs::remove_file(checkpoint::path_for(&self.path));
            return false;
        };
        let file = checkpoint::StoreFile {
            path: &self.path,
            inode: copy.file_id.1,
            data,
        };
        let written = checkpoint::write(
            &file,
            &like,
            self.backend.as_ref(),
            self.hasher,
            copy.end,
            copy.index,
            log_hash,
        );
        if written.is_err() {
            return false;
        }
        let mut s = self.state.write();
        // After a compaction the checkpoint is of the replaced file; the compaction removes
        // it once this returns (it waits for the `checkpointing` lock).
        if s.generation != copy.generation {
            return false;
        }
        s.checkpoint_end = copy.end;
        true
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
                if let Some(copy) = self.checkpoint_copy() {
                    self.save_checkpoint(copy);
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

/// What an index checkpoint is made of, copied under the locks (see `Store::checkpoint_copy`).
struct CheckpointCopy {
    /// Maps the log the copy describes, up to `end` at least.
    map: Arc<Mapping>,
    end: u64,
    /// The store file the copy describes, and its identity (device, inode).
    file: Arc<File>,
    file_id: FileId,
    generation: u64,
    index: checkpoint::IndexCopy,
}
