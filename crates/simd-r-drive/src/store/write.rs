//! Writes: [`Store::put`], [`Store::delete`], [`Store::write`], [`Store::try_write`] and
//! [`Store::write_each`], and appending one batch under the writer lock, the encoding and
//! writing they share.
//!
//! Entries are encoded into the writer lock's buffer and written a piece at a time; the
//! batch's commit marker is written last, so until [`Appending::finish`] has written it
//! nothing of the batch is visible to recovery, followers or this store's readers.

use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::MutexGuard;

use crate::error::{Error, Result};
use crate::format::{self, EntryKind};
use crate::index::{Index, LogOp, PREFETCH_AHEAD};
use crate::mapping::Mapping;

use super::{Commit, Op, Store};

/// The encode buffer is kept between writes up to this capacity.
const KEEP_WRITE_BUFFER: usize = 8 << 20;

/// A batch whose entries take more than this many bytes is written in pieces of about
/// this size (each one `write`), so that a bulk load of any size needs a write buffer of
/// this size instead of one as large as the batch.
const WRITE_PIECE: usize = 4 << 20;

/// A batch being appended. Holds the writer lock.
pub(crate) struct Appending<'s> {
    store: &'s Store,
    buf: MutexGuard<'s, Vec<u8>>,
    file: Arc<File>,
    map: Arc<Mapping>,
    /// The durable end recorded by the sync mark written ahead of the batch, if any.
    mark: Option<u64>,
    /// The end of the data when the batch began (where the mark, if any, starts).
    end: u64,
    /// Offset of the batch's first entry.
    batch_start: u64,
    /// File offset of `buf[0]`.
    base: u64,
    /// The batch has one operation, which carries its own commit flag.
    single: bool,
}

/// A batch whose bytes are all written, still holding the writer lock: [`Appended::commit`]
/// records it in the store's state and only then releases the lock, so that the next
/// writer, or a compaction's final step, sees the batch as part of the store. (A writer
/// that took the lock before that would write over the batch at the old end, and a
/// compaction would swap in a state without it.)
pub(crate) struct Appended<'s> {
    store: &'s Store,
    map: Arc<Mapping>,
    new_end: u64,
    mark: Option<u64>,
    /// The eviction cursor once the batch is committed, if the batch moves it.
    evict_cursor: Option<u64>,
    _writer: MutexGuard<'s, Vec<u8>>,
}

impl Appended<'_> {
    /// Moves the eviction cursor to `cursor` when the batch is committed.
    pub fn set_evict_cursor(&mut self, cursor: u64) {
        self.evict_cursor = Some(cursor);
    }

    /// Makes the batch part of the store: its mapping, sync mark, end and sequence
    /// number, and its index entries, which `apply` adds given the index and the file's
    /// bytes up to the batch's end. Returns the commit's sequence number and what `apply`
    /// returned; the writer lock is released after that.
    pub fn commit<R>(self, apply: impl FnOnce(&mut Index, &[u8]) -> R) -> (u64, R) {
        let mut s = self.store.state.write();
        let st = &mut *s;
        st.map = self.map;
        if let Some(durable_end) = self.mark {
            st.marked_end = durable_end;
        }
        let out = apply(&mut st.index, st.map.bytes(self.new_end));
        if let Some(cursor) = self.evict_cursor {
            st.evict_cursor = cursor;
        }
        st.end = self.new_end;
        st.seq += 1;
        let seq = st.seq;
        drop(s);
        self.store.watchers.notify();
        (seq, out)
    }
}

/// The index update of one operation of a batch: the `pos`th, at file `offset`, whose key
/// hashes to `hash`.
pub(crate) fn log_op(op: &Op<'_>, hash: u64, offset: u64, pos: usize) -> LogOp {
    let (key, value_len) = match op {
        Op::Put { key, value } => (key, Some(value.len())),
        Op::PutExpiring { key, value, .. } => (key, Some(value.len())),
        Op::Delete { key } => (key, None),
    };
    let expiry_len = if matches!(op, Op::PutExpiring { .. }) {
        8
    } else {
        0
    };
    let len = format::entry_len(key.len(), value_len.unwrap_or(0)) + expiry_len;
    LogOp {
        hash,
        offset,
        put_len: if value_len.is_some() { len } else { 0 },
        pos: pos as u32,
    }
}

impl<'s> Appending<'s> {
    /// Starts a batch of `single` or several operations; `buf` is the writer lock's guard.
    pub fn begin(store: &'s Store, mut buf: MutexGuard<'s, Vec<u8>>, single: bool) -> Result<Self> {
        // Re-check under the writer lock: close() and failures take it too.
        store.check_writable()?;
        let (file, end, map, mark) = {
            let s = store.state.read();
            (s.file.clone(), s.end, s.map.clone(), s.pending_mark())
        };
        buf.clear();
        // A sync mark goes first when a sync has made more of the file durable than the
        // last mark records; it is a batch of its own.
        if let Some(durable_end) = mark {
            format::encode_sync_mark(&mut buf, end, durable_end);
        }
        let batch_start = end + buf.len() as u64;
        Ok(Appending {
            store,
            buf,
            file,
            map,
            mark,
            end,
            batch_start,
            base: end,
            single,
        })
    }

    /// Encodes `op` as the batch's next entry and returns its offset. Writes what is
    /// encoded so far once it reaches a piece.
    pub fn encode(&mut self, op: Op<'_>) -> Result<u64> {
        let (kind, key, value, expiry) = match op {
            Op::Put { key, value } => (EntryKind::Put, key, value, None),
            Op::PutExpiring {
                key,
                value,
                expires_at,
            } => (EntryKind::Put, key, value, Some(expires_at)),
            Op::Delete { key } => (EntryKind::Delete, key, &[][..], None),
        };
        if expiry.is_some() {
            self.store.sweep.note_expiring_write();
        }
        let offset = self.base + self.buf.len() as u64;
        format::encode_entry_extended(
            &mut self.buf,
            self.base,
            kind,
            self.single,
            None,
            expiry,
            key,
            value,
        );
        if !self.single && self.buf.len() >= WRITE_PIECE {
            // More of the batch follows, and its commit marker last: until that is written,
            // recovery and readers treat these bytes as an unfinished batch, so writing
            // them now changes nothing anyone sees. (The one entry of a single-operation
            // batch carries its own commit flag: it is written by `finish`, once the
            // batch is not given up.)
            self.write(self.base)?;
            self.base += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(offset)
    }

    /// Encodes one expiry record per key of `keys` as the batch's next entries, and returns
    /// each record's offset.
    pub fn encode_expiry_records(&mut self, keys: &[&[u8]]) -> Result<Vec<u64>> {
        let mut offsets = Vec::with_capacity(keys.len());
        for key in keys {
            offsets.push(self.base + self.buf.len() as u64);
            format::encode_expiry_record(&mut self.buf, self.base, self.single, key);
            if !self.single && self.buf.len() >= WRITE_PIECE {
                // As in `encode`: the commit marker comes last.
                self.write(self.base)?;
                self.base += self.buf.len() as u64;
                self.buf.clear();
            }
        }
        Ok(offsets)
    }

    /// Encodes the eviction records of `plan` as the batch's next entries (after its own
    /// operations), and returns each record's offset with its key's hash.
    pub fn encode_evictions(&mut self, plan: &super::evict::Evictions) -> Result<Vec<(u64, u64)>> {
        let map = self.map.clone();
        let data = map.bytes(self.end);
        let mut records = Vec::with_capacity(plan.puts.len());
        for &(put, _, hash) in &plan.puts {
            let key = format::key_at(data, put);
            let offset = self.base + self.buf.len() as u64;
            format::encode_eviction(&mut self.buf, self.base, self.single, key, put);
            records.push((offset, hash));
            if !self.single && self.buf.len() >= WRITE_PIECE {
                // As in `encode`: the commit marker comes last.
                self.write(self.base)?;
                self.base += self.buf.len() as u64;
                self.buf.clear();
            }
        }
        Ok(records)
    }

    /// Encodes a Clear entry, the one entry of its batch (begun with `single`).
    pub fn encode_clear(&mut self) -> u64 {
        debug_assert!(self.single);
        format::encode_entry(&mut self.buf, self.base, EntryKind::Clear, true, &[], &[])
    }

    /// Writes the buffer at `at`. On failure the end of the data stays where the batch
    /// began: what the write left past it is cleared where that needs no space (see
    /// [`Store::clear_after_failed_write`]), and only an error other than a full disk
    /// poisons the store.
    fn write(&self, at: u64) -> Result<()> {
        let s = self.store;
        s.backend.write_at(&self.file, &self.buf, at).map_err(|e| {
            s.clear_after_failed_write(&self.file, self.end, at + self.buf.len() as u64);
            s.write_failed(Error::io("writing", &s.path, e))
        })
    }

    /// Writes the rest of the batch and its commit record (then preallocated zeros, if
    /// due), and maps the file as far as the batch reaches. The caller then updates the
    /// index.
    pub fn finish(mut self) -> Result<Appended<'s>> {
        let s = self.store;
        if !self.single {
            format::encode_commit(&mut self.buf, self.base, self.batch_start);
        }
        let new_end = self.base + self.buf.len() as u64;
        let allocated = s.allocated.load(Ordering::Acquire);
        self.write(self.base)?;
        s.allocated.fetch_max(new_end, Ordering::AcqRel);
        if s.preallocate > 0 && !s.zeros_in_background && new_end > allocated {
            // In a write of their own after the batch's: a disk too full for them fails no
            // batch that fits.
            match s.write_zeros_ahead(&self.file, new_end, &mut self.buf) {
                Some(target) => {
                    s.allocated.fetch_max(target, Ordering::AcqRel);
                }
                // Zeros past the end of the data, however many landed: the next batch
                // that reaches past them tries again.
                None => s.count_file_length(&self.file),
            }
        }
        if self.buf.capacity() > KEEP_WRITE_BUFFER {
            *self.buf = Vec::new();
        }
        let map = if new_end > self.map.reserved() {
            match Mapping::new(&self.file, new_end, true) {
                Ok(m) => {
                    // Its private twin too, if the old mapping had one (a binding reads
                    // through it): made by the writer, not by the next reader.
                    if self.map.has_private() {
                        let _ = m.private(&self.file);
                    }
                    Arc::new(m)
                }
                Err(e) => return Err(s.poison_with(Error::io("mapping the file", &s.path, e))),
            }
        } else {
            self.map
        };
        Ok(Appended {
            store: s,
            map,
            new_end,
            mark: self.mark,
            evict_cursor: None,
            _writer: self.buf,
        })
    }

    /// Gives the batch up: the end of the data stays where the batch began, and the
    /// pieces already written are zeroed again where that needs no space (see
    /// [`Store::clear_after_failed_write`]). The store is as it was.
    fn abandon(self) {
        self.store
            .clear_after_failed_write(&self.file, self.end, self.base);
    }
}

impl Store {
    /// After a write past the end of the data failed (or its batch was given up), clears
    /// what it may have left in `[from, to)`, as a best effort: zeros are written only
    /// within the file's current length, where they overwrite space the file already has
    /// (on a copy-on-write file system even that may need space, and fail). Whatever
    /// remains is harmless: the end of the data stays at `from`, so followers and recovery
    /// see an unfinished tail there (no commit marker of a failed write ever lands: it is
    /// the last byte of its write), and the next append overwrites it. The file's length
    /// is counted as allocated, so that `close` trims it with the preallocated zeros.
    pub(crate) fn clear_after_failed_write(&self, file: &File, from: u64, to: u64) {
        let Ok(meta) = file.metadata() else { return };
        self.allocated.fetch_max(meta.len(), Ordering::AcqRel);
        let to = to.min(meta.len());
        if to > from {
            let _ = crate::files::zero_fill(self.backend.as_ref(), file, from, to);
        }
    }

    /// Counts the store file's current length as allocated (after a write of
    /// preallocated zeros failed part way).
    pub(super) fn count_file_length(&self, file: &File) {
        if let Ok(meta) = file.metadata() {
            self.allocated.fetch_max(meta.len(), Ordering::AcqRel);
        }
    }
}

/// The operations of a batch being written by [`Store::write_each`], handed over one at a
/// time.
pub struct BatchFeed<'s> {
    appending: Appending<'s>,
    ops: Vec<LogOp>,
    count: usize,
    /// A piece of the batch could not be written: the batch is given up.
    failed: bool,
    /// Bytes on disk of the Puts pushed so far (checked against the size limit).
    put_bytes: u64,
}

impl BatchFeed<'_> {
    /// Adds the batch's next operation. Fails if the operation breaks the format's limits,
    /// if the batch already has the number of operations it was started with, or if a
    /// piece of the batch could not be written; the batch is then given up.
    pub fn push(&mut self, op: Op<'_>) -> Result<()> {
        let value = match op {
            Op::Put { value, .. } | Op::PutExpiring { value, .. } => Some(value),
            Op::Delete { .. } => None,
        };
        Store::validate(op.key(), value)?;
        if self.failed {
            return Err(Error::io(
                "adding to a batch",
                &self.appending.store.path,
                std::io::Error::other("an earlier piece of this batch could not be written"),
            ));
        }
        if self.ops.len() == self.count {
            return Err(Error::io(
                "adding to a batch",
                &self.appending.store.path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("the batch was started with {} operations", self.count),
                ),
            ));
        }
        if let Some(len) = super::evict::put_len(&op) {
            self.put_bytes = self.put_bytes.saturating_add(len);
            self.appending
                .store
                .check_fits(self.put_bytes)
                .inspect_err(|_| self.failed = true)?;
        }
        let hash = self.appending.store.hash(op.key());
        let offset = self
            .appending
            .encode(op)
            .inspect_err(|_| self.failed = true)?;
        self.ops.push(log_op(&op, hash, offset, self.ops.len()));
        Ok(())
    }
}

impl Store {
    /// Commits one batch of exactly `count` operations, which `feed` hands over one at a
    /// time with [`BatchFeed::push`], while the batch is being written: for a batch built
    /// on the fly (from another thread, say) that is never held in memory whole. Like
    /// [`Store::write`], after a crash either every operation is there or none is.
    ///
    /// If `feed` fails, or returns having pushed fewer than `count` operations, nothing is
    /// committed: the bytes already written are zeroed again and the error is returned
    /// (for a short feed, an I/O error of kind `InvalidInput`). Other writers wait while
    /// `feed` runs. `feed` is not called when `count` is 0.
    pub fn write_each(
        &self,
        count: usize,
        feed: impl FnOnce(&mut BatchFeed<'_>) -> Result<()>,
    ) -> Result<Commit> {
        self.check_writable()?;
        if count == 0 {
            return Ok(Commit {
                existed: Vec::new(),
                seq: self.state.read().seq,
            });
        }
        let writer = self
            .writer_for_append(true)?
            .expect("a waiting write always gets the lock");
        let appending = Appending::begin(self, writer, count == 1)?;
        let mut batch = BatchFeed {
            appending,
            ops: Vec::with_capacity(count),
            count,
            failed: false,
            put_bytes: 0,
        };
        let fed = feed(&mut batch);
        let BatchFeed {
            appending,
            mut ops,
            failed,
            ..
        } = batch;
        let short = ops.len() < count;
        if fed.is_err() || short || failed {
            appending.abandon();
            fed?;
            return Err(Error::io(
                "writing a batch",
                &self.path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "the batch was given {} of its {count} operations",
                        ops.len()
                    ),
                ),
            ));
        }
        let mut existed = vec![false; count];
        let now = self.now_ms();
        let (seq, ()) = appending.finish()?.commit(|index, data| {
            index.apply_grouped(data, &mut ops, &mut Vec::new(), Some((&mut existed, now)));
        });
        // Its evictions could not be planned before its operations came: they follow in a
        // batch of their own.
        self.evict_to_fit()?;
        if self.sync_commits {
            self.wait_durable(seq)?;
        }
        Ok(Commit { existed, seq })
    }
}

/// Batches of at least this many operations update the index grouped by table region
/// (`Index::apply_grouped`) rather than one operation at a time in batch order.
const GROUPED_BATCH: usize = 4096;

impl Store {
    /// Checks one key and value against the format's limits.
    pub fn validate(key: &[u8], value: Option<&[u8]>) -> Result<()> {
        if key.is_empty() || key.len() > format::MAX_KEY_LEN {
            return Err(Error::InvalidKey { len: key.len() });
        }
        if let Some(v) = value {
            if v.len() > format::MAX_VALUE_LEN {
                return Err(Error::ValueTooLarge { len: v.len() });
            }
        }
        Ok(())
    }

    // ----- reads -----

    /// Sets `key` to `value`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(&[Op::Put { key, value }]).map(|_| ())
    }

    /// Deletes `key`. Returns whether it had a value. Deleting a missing key writes nothing.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        Self::validate(key, None)?;
        self.check_writable()?;
        if !self.contains(key)? {
            return Ok(false);
        }
        Ok(self.write(&[Op::Delete { key }])?.existed[0])
    }

    /// Commits `ops` as one batch: one `write` call (one per 4 MiB of a larger batch, its
    /// commit record last); after a crash either every operation is there or none is.
    /// With [`crate::StoreOptions::sync`], returns once the batch is durable.
    pub fn write(&self, ops: &[Op<'_>]) -> Result<Commit> {
        self.write_inner(ops, true)
            .map(|c| c.expect("a waiting write always commits"))
    }

    /// Like [`Store::write`], but when the writer lock is taken (by another write, a streamed
    /// value or the final step of a compaction), or the size limit calls for a compaction
    /// before the write ([`crate::StoreOptions::max_bytes`]), it writes nothing and returns
    /// `Ok(None)` at once instead of waiting. For callers that must not block, such as an event loop that
    /// can hand the batch to a worker thread instead.
    pub fn try_write(&self, ops: &[Op<'_>]) -> Result<Option<Commit>> {
        self.write_inner(ops, false)
    }

    fn write_inner(&self, ops: &[Op<'_>], wait: bool) -> Result<Option<Commit>> {
        for op in ops {
            match op {
                Op::Put { key, value } | Op::PutExpiring { key, value, .. } => {
                    Self::validate(key, Some(value))?
                }
                Op::Delete { key } => Self::validate(key, None)?,
            }
        }
        self.check_writable()?;
        if ops.is_empty() {
            return Ok(Some(Commit {
                existed: Vec::new(),
                seq: self.state.read().seq,
            }));
        }
        let hashes: Vec<u64> = ops.iter().map(|op| self.hash(op.key())).collect();
        if self.max_bytes().is_some() {
            self.check_fits(ops.iter().filter_map(super::evict::put_len).sum())?;
        }
        let Some(buf) = self.writer_for_append(wait)? else {
            return Ok(None);
        };
        let commit = self.append(buf, ops, &hashes)?;
        if self.sync_commits {
            self.wait_durable(commit.seq)?;
        }
        Ok(Some(commit))
    }

    /// The writer lock for an append (`None` when `wait` is false and it is taken). Under
    /// a size limit, checked with the lock held, so that every append starts at most
    /// [`super::evict::compaction_limit`] into the file: past it, the lock is let go and
    /// the store compacts first ([`Store::compact_for_limit`]), then the check is made
    /// again; after two compactions that left the file past it (a limit lowered below the
    /// live data, say: the writes' evictions then shrink it), the write goes on. Without
    /// `wait`, returns `None` instead of compacting.
    pub(crate) fn writer_for_append(
        &self,
        wait: bool,
    ) -> Result<Option<parking_lot::MutexGuard<'_, Vec<u8>>>> {
        let mut compactions = 0;
        loop {
            let guard = if wait {
                self.writer.lock()
            } else {
                match self.writer.try_lock() {
                    Some(g) => g,
                    None => return Ok(None),
                }
            };
            if compactions >= 2 || !self.over_compaction_limit() {
                return Ok(Some(guard));
            }
            drop(guard);
            if !wait {
                return Ok(None);
            }
            self.compact_for_limit()?;
            compactions += 1;
        }
    }

    /// Appends one batch; `buf` is the writer lock's guard (its encode buffer).
    pub(super) fn append(
        &self,
        buf: parking_lot::MutexGuard<'_, Vec<u8>>,
        ops: &[Op<'_>],
        hashes: &[u64],
    ) -> Result<Commit> {
        // Under the writer lock the committed state cannot change: what the size limit
        // evicts is decided now, and its records go in this batch, after its operations.
        let plan = if self.max_bytes().is_some() {
            let s = self.state.read();
            self.plan_evictions(&s, ops, hashes)?
        } else {
            super::evict::Evictions::default()
        };
        let mut appending = Appending::begin(self, buf, ops.len() == 1 && plan.is_empty())?;
        let mut offsets = Vec::with_capacity(ops.len());
        for op in ops {
            offsets.push(appending.encode(*op)?);
        }
        let records = appending.encode_evictions(&plan)?;
        let mut done = appending.finish()?;
        if !plan.is_empty() {
            done.set_evict_cursor(plan.cursor);
        }
        let (seq, existed) = self.apply_appended(done, ops, hashes, &offsets, &records);
        self.count_evictions(&plan);
        Ok(Commit { existed, seq })
    }

    /// Records the appended batch `done` of `ops` (their hashes and offsets, and the
    /// eviction records after them) in the index; returns its sequence number and, for each
    /// operation, whether its key had a value.
    fn apply_appended(
        &self,
        done: Appended<'_>,
        ops: &[Op<'_>],
        hashes: &[u64],
        offsets: &[u64],
        records: &[(u64, u64)],
    ) -> (u64, Vec<bool>) {
        // A key whose value had expired did not exist, for `existed`.
        let now = self.now_ms();
        if ops.len() >= GROUPED_BATCH {
            // A large batch: applied grouped by table region (see `Index::apply_grouped`),
            // its operations staged before the state lock is taken.
            let mut log_ops: Vec<LogOp> = (ops.iter().zip(hashes).zip(offsets))
                .enumerate()
                .map(|(i, ((op, &hash), &offset))| log_op(op, hash, offset, i))
                .collect();
            let mut existed = vec![false; ops.len()];
            let (seq, ()) = done.commit(|index, data| {
                index.apply_grouped(
                    data,
                    &mut log_ops,
                    &mut Vec::new(),
                    Some((&mut existed, now)),
                );
                // Evicted keys are none of the batch's own: the order does not matter.
                super::evict::apply_evictions(index, data, records);
            });
            return (seq, existed);
        }
        done.commit(|index, data| {
            if ops.len() > 64 {
                index.reserve(ops.len());
            }
            let mut existed = Vec::with_capacity(ops.len());
            for (i, ((op, &hash), &offset)) in ops.iter().zip(hashes).zip(offsets).enumerate() {
                if let Some(&ahead) = hashes.get(i + PREFETCH_AHEAD) {
                    index.prefetch(ahead);
                }
                let prior = match op {
                    Op::Put { key, .. } | Op::PutExpiring { key, .. } => {
                        index.insert(data, hash, key, offset)
                    }
                    Op::Delete { key } => index.remove(data, hash, key, offset),
                };
                existed.push(prior.is_some_and(|p| !format::expired(data, p, || now)));
            }
            super::evict::apply_evictions(index, data, records);
            existed
        })
    }

    // ----- durability -----
}
