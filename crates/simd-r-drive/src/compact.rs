//! Online compaction: rewrite the live entries into a new file while reads and writes go
//! on, then swap the new file in.
//!
//! 1. Under the state's read lock, note the end of the committed data and the offset of
//!    every live entry; copy those entries into `<store>.compact` without holding any lock.
//! 2. Copy the batches appended meanwhile (the tail), again without holding a lock.
//! 3. Sync what was copied so far (writers still run), then take the writer lock (writers
//!    wait from here on), copy the last of the tail, sync the new file again (only that
//!    tail is left to write out), rename it over the store file and sync the directory.
//! 4. Swap the in-memory state to the new file. Values read before keep the old mapping,
//!    and with it the old file's bytes, alive.
//!
//! Steps 1 and 2 and the sync before step 3 run on a thread of their own at a low CPU
//! priority (nice 10 on Linux), writing at most 256 KiB per system call, so that they keep
//! another thread (an event loop's) waiting for a CPU as little as they can; the caller's
//! thread passes their progress on, then runs steps 3 and 4 at its own priority.
//!
//! A crash before the rename leaves the old store and a temporary file that the next open
//! deletes; a crash after it leaves the new store, which holds everything the old one did.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::files::{self, file_id, parent_dir, FileId};
use crate::format::{self, EntryKind, HEADER_LEN};
use crate::index::Index;
use crate::io::Backend;
use crate::mapping::Mapping;
use crate::progress::{Progress, STEP};
use crate::store::{State, Store};

/// Flush the copy buffer once it holds this much, and write it in pieces of at most this
/// size. The copying thread has a low priority, but a kernel without preemption
/// (`PREEMPT_NONE`, the usual server setting) lets no other thread take its CPU while it is
/// inside a system call: a 4 MiB write, copying into the page cache, kept an event loop
/// that woke on its CPU waiting 4-6 ms (the rest of a 250 Hz tick). A write of this size
/// takes a tenth of that.
pub(crate) const CHUNK: usize = 256 << 10;

/// A cancellable compaction checks its flag before every this many entries it copies (and
/// after every chunk it writes).
const CANCEL_CHECK_EVERY: usize = 256;

/// What a cancelled compaction says (see [`Error::Aborted`]).
const ABORTED: &str =
    "compaction stopped; the store is the file it was, and the compaction file was removed";

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionReport {
    /// File bytes in use before.
    pub bytes_before: u64,
    /// File bytes in use after.
    pub bytes_after: u64,
    /// Bytes reclaimed (`bytes_before - bytes_after`, or 0 if writes meanwhile grew it).
    pub reclaimed_bytes: u64,
    /// Live entries copied.
    pub entries: u64,
    /// Batches written by others while the compaction ran, copied at the end.
    pub tail_entries: u64,
    /// How long writers were held up in the final step.
    pub writer_pause: Duration,
    /// Total time taken.
    pub duration: Duration,
}

/// What steps 1 and 2 of a compaction leave for the final step ([`Store::copy_bulk`]).
struct Bulk {
    /// The new file's index so far.
    index: Index,
    /// Live entries copied in step 1.
    kept: u64,
    /// End of the old file's data copied so far.
    copied: u64,
    /// Entries of batches copied in step 2.
    tail_entries: u64,
    /// Length of the new file with its preallocated zeros.
    allocated: u64,
}

/// How often the compacting thread's progress is passed on, at most, while the bulk runs.
const PROGRESS_POLL: Duration = Duration::from_millis(20);

/// Runs `bulk` (the copying of a compaction) on a thread of its own at a low CPU priority
/// (see [`lower_priority`]), with the cancel flag of `progress`; its reports are passed on to `progress` on the calling thread, in
/// order. The final step of a compaction, which holds the writer lock, stays on the
/// calling thread and keeps its priority, so that CPU-bound work elsewhere cannot hold
/// writers up behind it. Runs `bulk` on the calling thread if no thread can be had.
fn in_background<R: Send>(
    progress: &Progress<'_>,
    bulk: impl FnOnce(&Progress<'_>) -> R + Send,
) -> R {
    let reports = parking_lot::Mutex::new(Vec::new());
    let caller = std::thread::current();
    let cancel = progress.cancel();
    let pass_on = |reports: &parking_lot::Mutex<Vec<(u64, u64)>>| {
        for (done, total) in std::mem::take(&mut *reports.lock()) {
            progress.report(done, total);
        }
    };
    let slot = parking_lot::Mutex::new(Some(bulk));
    let done = std::thread::scope(|s| {
        let t = std::thread::Builder::new()
            .name("srd-compact".into())
            .spawn_scoped(s, || {
                lower_priority();
                let report = |done: u64, total: u64| {
                    reports.lock().push((done, total));
                    caller.unpark();
                };
                let mut p = Progress::none().on_progress(&report);
                if let Some(flag) = cancel {
                    p = p.cancel_flag(flag);
                }
                let bulk = slot.lock().take().expect("taken once");
                bulk(&p)
            })
            .ok()?;
        while !t.is_finished() {
            std::thread::park_timeout(PROGRESS_POLL);
            pass_on(&reports);
        }
        let r = t.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        pass_on(&reports);
        Some(r)
    });
    match done {
        Some(r) => r,
        None => (slot.into_inner().expect("not taken"))(progress),
    }
}

/// The nice value of the copying thread: it gets about a tenth of a core that a thread at
/// 0 (an event loop) also wants, and all of one nobody else wants.
pub const COMPACTION_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to [`COMPACTION_NICE`] (Linux only; a refusal
/// changes nothing). For threads made for the work: an unprivileged thread cannot take it
/// back. Not `SCHED_IDLE`, which would keep the event loop's CPU freer still: under it a
/// machine whose cores are all busy gives the copy almost no time (a weight of 3 against
/// 1024), and writers that must wait for the compaction (a size limit's, `compact()`,
/// `close()`) would wait as long. Most of what the loop waited for was the copy's 4 MiB
/// writes, which no preemption interrupts; it writes 256 KiB at a time now ([`CHUNK`]).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain integers; on Linux `PRIO_PROCESS` with 0 names the calling thread
    // alone. A failure leaves the priority as it was, which is harmless.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, COMPACTION_NICE);
    }
}

/// The new file being written.
struct Output<'a> {
    path: &'a Path,
    backend: &'a dyn Backend,
    file: File,
    buf: Vec<u8>,
    /// File offset where `buf` will be written.
    written: u64,
}

impl Output<'_> {
    fn end(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // (An entry larger than a chunk fills the buffer past it.)
        for piece in self.buf.chunks(CHUNK) {
            self.backend.write_at(&self.file, piece, self.written)?;
            self.written += piece.len() as u64;
        }
        self.buf.clear();
        Ok(())
    }

    /// Appends an entry; a Put gets `version` explicitly, the version it had in the old
    /// file, which its new offset would not give, and keeps its expiry.
    fn push(
        &mut self,
        kind: EntryKind,
        commit: bool,
        (version, expiry): (Option<u64>, Option<u64>),
        key: &[u8],
        value: &[u8],
    ) -> std::io::Result<u64> {
        let off = format::encode_entry_extended(
            &mut self.buf,
            self.written,
            kind,
            commit,
            version,
            expiry,
            key,
            value,
        );
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(off)
    }

    /// Appends an expiry record of `key` (a Delete that keeps its [`format::FLAG_EXPIRED`],
    /// so that the change feed of the new file still says the key expired).
    fn push_expiry_record(&mut self, commit: bool, key: &[u8]) -> std::io::Result<u64> {
        let off = format::encode_expiry_record(&mut self.buf, self.written, commit, key);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(off)
    }

    /// Appends an eviction record of `key`; the evicted Put's offset, which is of the old
    /// file, becomes 0 (unknown).
    fn push_eviction(&mut self, commit: bool, key: &[u8]) -> std::io::Result<u64> {
        let off = format::encode_eviction(&mut self.buf, self.written, commit, key, 0);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(off)
    }

    fn push_commit(&mut self, batch_start: u64) -> std::io::Result<()> {
        format::encode_commit(&mut self.buf, self.written, batch_start);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }
}

impl Store {
    /// Rewrites the store without its dead entries. Reads and writes continue while it
    /// runs, and writes made meanwhile are kept. Returns what it reclaimed.
    pub fn compact(&self) -> Result<CompactionReport> {
        self.compact_with(&Progress::none())
    }

    /// [`Store::compact`], reporting `(bytes of the old file copied, its length)` to
    /// `progress` and stopping with [`Error::Aborted`] once its cancel flag is set (it is
    /// checked every 256 entries or 4 MiB copied, and before the final step, which holds
    /// the writer lock, renames and is never abandoned halfway): the store then stays the
    /// old file, unchanged, and the compaction file is removed. Set after the new file has
    /// replaced the old one, it changes nothing.
    pub fn compact_with(&self, progress: &Progress<'_>) -> Result<CompactionReport> {
        self.check_writable()?;
        let one_at_a_time = self.compaction.lock();
        self.compact_locked(one_at_a_time, progress)
    }

    /// [`Store::compact_with`] once the compaction lock is held (`_one_at_a_time`).
    pub(crate) fn compact_locked(
        &self,
        _one_at_a_time: parking_lot::MutexGuard<'_, ()>,
        progress: &Progress<'_>,
    ) -> Result<CompactionReport> {
        let _busy = self.long_op();
        self.check_writable()?;
        let started = Instant::now();
        let tmp = files::with_suffix(&self.path, files::COMPACT_TEMP);
        let mut made = None;
        let result = self.compact_into(&tmp, started, &mut made, progress);
        if result.is_err() {
            // Only the file this compaction made: if the directory was replaced meanwhile,
            // a file of that name there belongs to someone else.
            if let Some(id) = made {
                if std::fs::metadata(&tmp).is_ok_and(|m| file_id(&m) == id) {
                    let _ = std::fs::remove_file(&tmp);
                }
            }
        }
        result
    }

    /// Fails with [`Error::Moved`] unless the store's path still names the file `id`, in
    /// the directory the store was opened in: what a rename over the path would replace.
    pub(crate) fn check_in_place(&self, id: FileId) -> Result<()> {
        let here = |p: &Path| std::fs::metadata(p).map(|m| file_id(&m)).ok();
        if here(&self.path) == Some(id) && here(&parent_dir(&self.path)) == Some(self.dir_id) {
            Ok(())
        } else {
            Err(Error::Moved {
                path: self.path.clone(),
            })
        }
    }

    fn compact_into(
        &self,
        tmp: &Path,
        started: Instant,
        made: &mut Option<FileId>,
        progress: &Progress<'_>,
    ) -> Result<CompactionReport> {
        let cancelled = || progress.check(ABORTED);
        cancelled()?;
        let io_err = |op: &'static str, e: std::io::Error| self.compaction_failed(op, tmp, e);
        // A new file, a new generation: the old file's index can never be taken for its.
        let file_generation = format::new_generation();
        let (map, start_end, snapshot, bytes_before, old_file, old_id) = {
            let s = self.state.read();
            (
                s.map.clone(),
                s.end,
                s.index.snapshot(),
                s.end,
                s.file.clone(),
                s.file_id,
            )
        };
        // Listed with no lock held: writers go on meanwhile.
        let mut slots: Vec<(u64, u64)> = snapshot
            .live(map.bytes(start_end))
            .into_iter()
            .map(|x| (x.offset, x.hash))
            .collect();
        slots.sort_unstable();
        // A store whose file or directory was moved or replaced must not write beside
        // (or over) whatever is at its path now.
        self.check_in_place(old_id)?;
        let old_meta = old_file
            .metadata()
            .map_err(|e| Error::io("reading the file size", &self.path, e))?;
        drop(old_file);
        let file = files::private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp)
            .map_err(|e| io_err("creating the compaction file", e))?;
        *made = file.metadata().ok().map(|m| file_id(&m));
        // The new file will be the store: same permission bits, owner and group.
        files::keep_mode_and_owner(&old_meta, &file)
            .map_err(|e| io_err("creating the compaction file", e))?;
        let mut out = Output {
            path: tmp,
            backend: self.backend.as_ref(),
            file,
            buf: Vec::with_capacity(CHUNK + (1 << 16)),
            written: HEADER_LEN,
        };
        // The version base is known only in the final step (it is written again there);
        // the header written now is never seen as the store's.
        let old_version_base = format::header_version_base(map.bytes(start_end));
        self.backend
            .write_at(
                &out.file,
                &format::encode_header(file_generation, old_version_base),
                0,
            )
            .map_err(|e| io_err("writing the compaction file", e))?;

        // Steps 1 and 2, and the sync before step 3: on a thread of their own, at a low CPU
        // priority (see `in_background`).
        let Bulk {
            mut index,
            kept,
            copied,
            mut tail_entries,
            mut allocated,
        } = in_background(progress, |progress| {
            self.copy_bulk(&mut out, map, &slots, start_end, progress)
        })?;

        // 3. Final step: writers wait while the last of the tail is copied and the new
        // file replaces the old one.
        cancelled()?;
        let buf = self.writer.lock();
        let pause = Instant::now();
        self.check_writable()?;
        // The last point of no return: a cancellation seen here leaves the old file the store.
        cancelled()?;
        let (m, e, seq, generation, current_id) = {
            let s = self.state.read();
            (s.map.clone(), s.end, s.seq, s.generation, s.file_id)
        };
        // The rename below replaces whatever the path names: it must still be this store's
        // file, in the same directory. Otherwise nothing is renamed (the compaction file is
        // removed, if it is still where it was made) and the store goes on as it was.
        self.check_in_place(current_id)?;
        if e > copied {
            tail_entries += self.copy_tail(&mut out, &mut index, &m, copied, e, progress)?;
        }
        drop(m);
        // Every entry of the new file that has no explicit version gets `base + offset`, so
        // the base is past every version the old file gave out (each below its end `e`, or
        // an explicit one from before that is smaller still): a version is never reused.
        let version_base = old_version_base.saturating_add(e);
        out.flush()
            .map_err(|e| io_err("writing the compaction file", e))?;
        self.backend
            .write_at(
                &out.file,
                &format::encode_header(file_generation, version_base),
                0,
            )
            .map_err(|e| io_err("writing the compaction file", e))?;
        // The file ends with a sync mark recording that everything before it is durable:
        // true whenever this file is the store, since the rename below follows the sync.
        // Damage to compacted data is then reported by later opens, never taken for a torn
        // unsynced tail (FORMAT.md, recovery case 4).
        let at = out.end();
        format::encode_sync_mark(&mut out.buf, out.written, at);
        out.flush()
            .map_err(|e| io_err("writing the compaction file", e))?;
        self.backend
            .sync_data(&out.file)
            .map_err(|e| io_err("syncing the compaction file", e))?;
        // Mapped and identified before the rename: once the path names the new file, the
        // store must switch to it, and an error then would leave the store appending to the
        // replaced file, whose writes no open would ever see. Failing here leaves the old
        // file the store (the caller removes the new one).
        let new_end = out.end();
        if new_end > allocated {
            // The final tail outgrew the zeros written above (writers were busy meanwhile).
            allocated = self.preallocate_from(&out.file, new_end);
        }
        let map = Mapping::new(&out.file, new_end, true)
            .map_err(|e| io_err("mapping the compaction file", e))?;
        // A binding that reads through the private twin of the mapping gets the new one's
        // made here, not on its first read after the switch (an mmap on the reader's
        // thread, which would wait for the kernel's mmap lock while the old mapping is
        // released). If it cannot be made now, the first read makes it (or reports why not).
        if self.state.read().map.has_private() {
            let _ = map.private(&out.file);
        }
        let id = out
            .file
            .metadata()
            .map(|m| file_id(&m))
            .map_err(|e| io_err("reading the compaction file", e))?;
        self.backend
            .rename(tmp, &self.path)
            .map_err(|e| io_err("renaming the compaction file over the store", e))?;
        // From here on the path names the new file, so the store must switch to it even
        // if the directory sync below fails.
        // The new file carries the writer's record lock from now on (nobody else can have
        // it open yet, so this cannot fail for a lock conflict).
        let _ = crate::lock::lock_file_itself(&out.file, &self.path);
        let dir = parent_dir(&self.path);
        // Poisoned before the state below names the new file: a commit acknowledged as
        // durable from then on, even one that a waiting sync covers, would be in a file
        // whose name may not survive a power loss (`wait_durable` checks the poison after
        // it reads the state).
        let dir_failed = self
            .backend
            .sync_dir(&dir)
            .err()
            .map(|e| self.poison_durability(Error::io("syncing the directory", dir, e)));
        let map = Arc::new(map);
        let old = {
            let mut s = self.state.write();
            // The new file holds the data and the zeros preallocated past it.
            self.allocated
                .store(allocated.max(new_end), std::sync::atomic::Ordering::Release);
            // Every entry of the new file was verified as it was copied; the background
            // verifier's progress was of the old file.
            self.verified_to
                .store(0, std::sync::atomic::Ordering::Release);
            // A full disk that stopped the zeros of the old file said when to try again
            // in that file's offsets; the new file ends far below them, and compaction is
            // what frees the space.
            self.zeros_retry_at
                .store(0, std::sync::atomic::Ordering::Release);
            std::mem::replace(
                &mut *s,
                State {
                    index,
                    map,
                    file: Arc::new(out.file),
                    end: new_end,
                    seq,
                    generation: generation + 1,
                    file_id: id,
                    // The new file was synced whole before the rename, and ends with its mark.
                    durable_end: new_end,
                    marked_end: new_end,
                    sync_marks: true,
                    format_version: crate::format::FORMAT_VERSION,
                    file_generation: Some(file_generation),
                    evict_cursor: crate::format::HEADER_LEN,
                },
            )
        };
        let writer_pause = pause.elapsed();
        drop(buf);
        self.watchers.notify();
        // Released with no lock held: when nothing else maps the old file any more, this
        // unmaps it and closes its last descriptor, and the kernel then frees the replaced
        // file's pages, which takes about a second per GB here. Readers (the event loop's
        // thread among them) must not wait for that.
        drop(old);
        // The new file's index, so that the next open of it is O(1) too (compaction's
        // index has no base yet). Where none is written (a small store), the old file's
        // index, which no longer matches, is removed; one being written meanwhile of the
        // old file is in place by then (this waits for the `checkpointing` lock).
        if !matches!(self.checkpoint(), Ok(true)) {
            let _k = self.checkpointing.lock();
            if self.state.read().index.base().is_none() {
                let _ = std::fs::remove_file(files::with_suffix(&self.path, files::CHECKPOINT));
            }
        }
        if let Some(e) = dir_failed {
            return Err(e);
        }
        // The new file was synced with every commit up to `seq` in it.
        self.mark_durable(seq);
        progress.report(start_end, start_end);
        Ok(CompactionReport {
            bytes_before,
            bytes_after: new_end,
            reclaimed_bytes: bytes_before.saturating_sub(new_end),
            entries: kept,
            tail_entries,
            writer_pause,
            duration: started.elapsed(),
        })
    }

    /// Writes the preallocated zeros due past `end` into the compaction file `file` (see
    /// [`Store::write_zeros_ahead`]) and returns the length the file then reaches (at least
    /// `end`). A failure writes fewer zeros, or none: the first write after the switch then
    /// writes the rest, as after any failed preallocation.
    fn preallocate_from(&self, file: &File, end: u64) -> u64 {
        let mut zeros = Vec::new();
        match self.write_zeros_ahead(file, end, &mut zeros) {
            Some(target) => target,
            None => file.metadata().map_or(end, |m| m.len().max(end)),
        }
    }

    /// Steps 1 and 2 of a compaction into `out`: copies the live entries listed in `slots`
    /// (offsets in `map`, the old file up to `start_end`, and key hashes), then what was
    /// committed meanwhile, writes the preallocated zeros and syncs the new file.
    fn copy_bulk(
        &self,
        out: &mut Output<'_>,
        map: Arc<Mapping>,
        slots: &[(u64, u64)],
        start_end: u64,
        progress: &Progress<'_>,
    ) -> Result<Bulk> {
        let tmp = out.path;
        let io_err = |op: &'static str, e: std::io::Error| self.compaction_failed(op, tmp, e);
        // 1. Live entries as of the start. Keys are distinct, so no comparisons are needed.
        // Each is verified as it is copied: the copy gets a fresh checksum, so damage that
        // crept into the file since it was read (or that an open from an index checkpoint
        // did not re-read) must stop the compaction here rather than become valid data.
        let mut index = Index::with_capacity(slots.len());
        let data = map.bytes(start_end);
        let mut asked = 0;
        let mut next_report = 0;
        // Entries expired by now are dropped (they read as missing already).
        let now = self.now_ms();
        let mut kept = 0u64;
        for (i, &(off, hash)) in slots.iter().enumerate() {
            if off >= next_report {
                progress.report(off, start_end);
                next_report = off + STEP;
            }
            // (An empty buffer: a 4 MiB chunk was just written.)
            if i % CANCEL_CHECK_EVERY == 0 || out.buf.is_empty() {
                progress.check(ABORTED)?;
            }
            crate::mapping::read_ahead(data, off, &mut asked);
            let h = match format::verify_entry(data, off) {
                Ok(h) if h.kind == EntryKind::Put => h,
                Ok(_) => {
                    return Err(Error::corrupt(
                        &self.path,
                        off,
                        "the index points at an entry that is not a put",
                    ))
                }
                Err(bad) => return Err(Error::corrupt(&self.path, off, bad.describe())),
            };
            let expiry = format::entry_expiry(data, off);
            if expiry.is_some_and(|at| at <= now) {
                continue;
            }
            let ks = (off + h.key_start()) as usize;
            let vs = (off + h.value_start()) as usize;
            let new_off = out
                .push(
                    EntryKind::Put,
                    true,
                    (Some(format::entry_version(data, off)), expiry),
                    &data[ks..ks + h.key_len],
                    &data[vs..vs + h.value_len],
                )
                .map_err(|e| io_err("writing the compaction file", e))?;
            // The copy's length: with its explicit version, longer than the original.
            index.insert_unique(hash, new_off, out.end() - new_off);
            kept += 1;
        }
        out.flush()
            .map_err(|e| io_err("writing the compaction file", e))?;
        drop(map);

        // 2. Catch up with what was written meanwhile, without stopping writers.
        let mut copied = start_end;
        let mut tail_entries = 0;
        for _ in 0..2 {
            let (m, e) = {
                let s = self.state.read();
                (s.map.clone(), s.end)
            };
            if e == copied {
                break;
            }
            progress.check(ABORTED)?;
            tail_entries += self.copy_tail(out, &mut index, &m, copied, e, progress)?;
            copied = e;
        }

        // Make the bulk of the new file durable now, while writers still run, so that the
        // sync inside the final step only has the last few batches to write out.
        out.flush()
            .map_err(|e| io_err("writing the compaction file", e))?;
        // The new file's preallocated zeros, written here by the compaction's own thread:
        // otherwise the first write after the switch would write them, on whatever thread
        // commits it (an event loop's among them). The tail copied below overwrites some.
        let allocated = self.preallocate_from(&out.file, out.end());
        self.backend
            .sync_data(&out.file)
            .map_err(|e| io_err("syncing the compaction file", e))?;
        Ok(Bulk {
            index,
            kept,
            copied,
            tail_entries,
            allocated,
        })
    }

    /// The error of compaction step `op` on `tmp`. A full disk while the new file is
    /// created or written leaves the store as it was (the caller deletes the new file);
    /// any other failure poisons it.
    fn compaction_failed(&self, op: &'static str, tmp: &Path, e: std::io::Error) -> Error {
        let err = Error::io(op, tmp, e);
        if crate::error::KEEPS_THE_STORE_USABLE.contains(&op) {
            self.write_failed(err)
        } else {
            self.poison_with(err)
        }
    }

    /// Re-encodes the committed entries in `[from, to)` of the old file into `out`,
    /// keeping their batch boundaries, and applies them to `index`.
    fn copy_tail(
        &self,
        out: &mut Output<'_>,
        index: &mut Index,
        map: &Mapping,
        from: u64,
        to: u64,
        progress: &Progress<'_>,
    ) -> Result<u64> {
        let tmp = out.path;
        let io_err = |op: &'static str, e: std::io::Error| self.compaction_failed(op, tmp, e);
        let data = map.bytes(to);
        let mut placed = Vec::new();
        let mut off = from;
        // New offset of the first entry of the batch being copied (for its commit record).
        let mut batch_start = None;
        while off < to {
            if placed.len() % CANCEL_CHECK_EVERY == 0 {
                progress.check(ABORTED)?;
            }
            let h = format::read_header_trusted(&data[off as usize..]);
            if h.kind == EntryKind::SyncMark {
                // Offsets in the old file: meaningless in the new one.
                off += h.len();
                continue;
            }
            if h.kind == EntryKind::Commit {
                let start = batch_start.take().expect("a commit record closes a batch");
                out.push_commit(start)
                    .map_err(|e| io_err("writing the compaction file", e))?;
                off += h.len();
                continue;
            }
            let ks = (off + h.key_start()) as usize;
            let vs = (off + h.value_start()) as usize;
            let version = (h.kind == EntryKind::Put).then(|| format::entry_version(data, off));
            let expiry = format::entry_expiry(data, off);
            let key = &data[ks..ks + h.key_len];
            let pushed = if format::is_expiry_record(&h) {
                out.push_expiry_record(h.commit, key)
            } else if format::is_eviction(&h) {
                out.push_eviction(h.commit, key)
            } else {
                out.push(
                    h.kind,
                    h.commit,
                    (version, expiry),
                    key,
                    &data[vs..vs + h.value_len],
                )
            };
            let new_off = pushed.map_err(|e| io_err("writing the compaction file", e))?;
            if !h.commit && batch_start.is_none() {
                batch_start = Some(new_off);
            }
            placed.push(new_off);
            off += h.len();
        }
        out.flush()
            .map_err(|e| io_err("writing the compaction file", e))?;
        let new_map = Mapping::new(&out.file, out.end(), false)
            .map_err(|e| io_err("mapping the compaction file", e))?;
        let new_data = new_map.bytes(out.end());
        for &new_off in &placed {
            // The copy's own header: a Put's now carries its version, which moves its key.
            let h = format::read_header_trusted(&new_data[new_off as usize..]);
            crate::load::apply_entry(index, new_data, self.hasher, new_off, &h);
        }
        Ok(placed.len() as u64)
    }
}
