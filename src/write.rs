//! The write path: batches committed on the calling thread or the threadpool, in ticket
//! order, and values streamed from a staged file.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer, BufferSlice};
use napi::{Env, Task};
use napi_derive::napi;

use crate::errors::{self, coded, OrThrow};
use crate::scratch::{byte_number, NOT_WRITTEN};
use crate::{entries, registry, staging};

/// Whether the engine is compacting or copying a streamed value: a write made now could
/// wait for it, so JavaScript sends writes to the threadpool meanwhile.
#[napi]
pub fn busy(h: u32) -> napi::Result<bool> {
    Ok(registry::borrow(h)?.store.is_busy())
}

pub(crate) fn writable(handle: &registry::Handle) -> napi::Result<()> {
    if handle.read_only {
        return Err(errors::to_napi(simd_r_drive::Error::ReadOnly));
    }
    Ok(())
}

/// Commits `count` staged operations as one batch, on the calling thread, once every
/// write with a smaller `ticket` has committed. Writes, for each
/// operation, whether its key had a value before into `existed` (if given). Returns the
/// commit's sequence number.
///
/// # JavaScript: `Store.put`
///
/// Sets `key` to `value`. Puts, deletes and putMany calls made in the same tick are
/// committed as one batch. The value is copied when `put` is called. With `{ ttl }` or
/// `{ expiresAt }` ({@link WriteOptions}) the value expires: from then on every read
/// treats the key as absent.
///
/// # JavaScript: `Store.putMany`
///
/// Sets every `[key, value]` of `entries` atomically: after a crash all or none are there.
/// An entry may be a `[key, value, { ttl }]` or `[key, value, { expiresAt }]` triple
/// ({@link Entry}): that value expires (every `ttl` of one call counts from the same
/// time). `entries` (an array or any iterable) is read once, when `putMany` is called, and every
/// key and value is copied then. A write on this store made from inside that read (by an
/// accessor, Proxy or iterator of `entries`) is refused with `ERR_INVALID_STATE`.
///
/// # JavaScript: `Store.delete`
///
/// Deletes `key`; resolves to whether it had a value.
///
/// # JavaScript: `Store.putSync`
///
/// Like {@link Store.put}, committed before returning (after anything staged before it).
///
/// # JavaScript: `Store.putManySync`
///
/// Like {@link Store.putMany}, committed before returning. While it reads `entries`, a
/// write on this store made from inside that read (by an accessor, Proxy or iterator of
/// `entries`) throws `ERR_INVALID_STATE`.
///
/// # JavaScript: `Store.deleteSync`
///
/// Like {@link Store.delete}, committed before returning.
#[napi]
pub fn write_batch(
    h: u32,
    ticket: f64,
    staging: BufferSlice,
    count: u32,
    existed: Option<BufferSlice>,
) -> napi::Result<f64> {
    commit_on_this_thread(h, ticket, &staging, count, existed, Lock::Wait)
}

/// `write_batch` and `try_write_batch`: the commit of [`commit_staged`] on the calling
/// thread, its `existed` flags written for JavaScript; `NOT_WRITTEN` if it was declined.
fn commit_on_this_thread(
    h: u32,
    ticket: f64,
    staging: &[u8],
    count: u32,
    existed: Option<BufferSlice>,
    lock: Lock,
) -> napi::Result<f64> {
    let handle = registry::get(h)?;
    let ticket = byte_number("ticket", ticket, 0)?;
    match commit_staged(&handle, ticket, staging, count, lock)? {
        Some(commit) => Ok(committed(&commit, existed)),
        None => Ok(NOT_WRITTEN),
    }
}

/// How [`commit_staged`] takes the engine's writer lock.
#[derive(Clone, Copy)]
enum Lock {
    /// Wait for it: the batch is always committed.
    Wait,
    /// Only if it is free now: otherwise nothing is written and the ticket stays unused.
    Try,
}

/// The one commit of a staged batch, behind `write_batch`, `try_write_batch` and
/// [`WriteTask`]: in the turn of `ticket`, checks that the handle may write, parses the
/// `count` staged operations and commits them as one batch. `None` when `lock` is
/// [`Lock::Try`] and the writer lock was taken (the ticket is then left for a later call).
fn commit_staged(
    handle: &registry::Handle,
    ticket: u64,
    staging: &[u8],
    count: u32,
    lock: Lock,
) -> napi::Result<Option<simd_r_drive::Commit>> {
    let commit = || {
        writable(handle)?;
        let staged = staging::parse_staged(staging, Some(count))?;
        let Some(conds) = staged.conds else {
            let ops = staged.ops;
            return match lock {
                Lock::Wait => handle.store.write(&ops).map(Some).or_throw(),
                Lock::Try => handle.store.try_write(&ops).or_throw(),
            };
        };
        // Conditions are decided by the engine under its writer lock (see
        // `Store::write_if`); each conditional operation's flag says whether it wrote.
        let ops: Vec<_> = staged.ops.into_iter().zip(conds).collect();
        let done = match lock {
            Lock::Wait => handle.store.write_if(&ops).map(Some).or_throw()?,
            Lock::Try => handle.store.try_write_if(&ops).or_throw()?,
        };
        Ok(done.map(|c| simd_r_drive::Commit {
            existed: (ops.iter().zip(c.wrote.iter().zip(&c.existed)))
                .map(
                    |((_, cond), (&wrote, &existed))| {
                        if cond.is_some() {
                            wrote
                        } else {
                            existed
                        }
                    },
                )
                .collect(),
            seq: c.seq,
        }))
    };
    // A declined commit (`Ok(None)`) leaves the ticket unused; anything else takes its turn.
    let done = handle
        .in_turn_if(ticket, || commit().transpose())
        .transpose();
    if matches!(done, Ok(Some(_))) {
        after_commit(&handle.store);
    }
    done
}

/// After a commit: starts the background work it made due, each on a thread of its own
/// that neither the event loop nor the threadpool waits for: the zeros kept ahead of the
/// data (`zeros_if_due`), an automatic compaction (`tasks::compact_if_due`), and an index
/// merge once enough changed since the index file (the engine's `Store::index_merge_due`),
/// so that the changes kept in memory and what a later open (after a crash too) replays
/// stay bounded.
pub(crate) fn after_commit(store: &Arc<registry::Engine>) {
    zeros_if_due(store);
    crate::tasks::compact_if_due(store);
    if !store.claim_background_merge() {
        return;
    }
    let engine = store.clone();
    let spawned = std::thread::Builder::new()
        .name("srd-index-merge".into())
        .spawn(move || {
            crate::background::lower_priority();
            let _ = engine.run_background_merge();
        });
    if spawned.is_err() {
        // No thread to be had: merge here rather than keep the claim forever.
        let _ = store.run_background_merge();
    }
}

/// The first pause of the zeros thread when a writer holds the lock (see `zeros_if_due`).
const ZEROS_PAUSE_FIRST: std::time::Duration = std::time::Duration::from_micros(50);

/// The longest pause of the zeros thread when a writer holds the lock.
const ZEROS_PAUSE_MOST: std::time::Duration = std::time::Duration::from_millis(2);

/// Writes the zeros kept ahead of the data (the engine's `Store::extend_zeros_piece`) on a
/// thread of its own when `Store::claim_zeros` says they run short, so that no commit on
/// the event loop writes a megabyte of them. A piece at a time, holding the engine only
/// while a piece runs (`pieces::Pieces`): a close is never kept waiting for the rest, nor
/// for a writer of another handle (a piece that finds the writer lock taken is tried again
/// after a pause, from `ZEROS_PAUSE_FIRST` doubling up to `ZEROS_PAUSE_MOST`). At
/// normal priority, unlike the other background work: each piece holds the writer lock,
/// and a thread at a low priority could be made to wait for a CPU while holding it.
fn zeros_if_due(store: &Arc<registry::Engine>) {
    if !store.claim_zeros() {
        return;
    }
    let engine = Arc::downgrade(store);
    let pieces = store.pieces.clone();
    let spawned = std::thread::Builder::new()
        .name("srd-zeros".into())
        .spawn(move || {
            // Until the zeros are written or the engine closes. While a writer holds the
            // lock, the thread waits outside the gate, holding nothing a close waits for.
            let mut pause = ZEROS_PAUSE_FIRST;
            loop {
                match pieces.run(&engine, |e| e.try_extend_zeros_piece()) {
                    Some(Some(true)) => pause = ZEROS_PAUSE_FIRST,
                    Some(None) => {
                        std::thread::sleep(pause);
                        pause = (pause * 2).min(ZEROS_PAUSE_MOST);
                    }
                    Some(Some(false)) | None => break,
                }
            }
        });
    if spawned.is_err() {
        // No thread to be had: write them here (releasing the claim), as commits did.
        store.extend_zeros();
    }
}

/// Like `write_batch`, but returns `NOT_WRITTEN` (-1) at once, writing nothing and leaving
/// `ticket` unused, when the engine's writer lock is taken (a compaction's final step, a streamed value, or
/// a threadpool write). The event loop uses it while a long operation runs, and hands the
/// batch to the threadpool only when it would have to wait.
#[napi]
pub fn try_write_batch(
    h: u32,
    ticket: f64,
    staging: BufferSlice,
    count: u32,
    existed: Option<BufferSlice>,
) -> napi::Result<f64> {
    commit_on_this_thread(h, ticket, &staging, count, existed, Lock::Try)
}

/// Commits the keys and values of the flat array `entries` (`[key0, value0, key1, ...]`,
/// as `readEntries` in `lib/store.js` reads the caller's pairs into it) as one batch of Puts
/// on the calling thread, reading their bytes in place instead of from a staging buffer (see
/// `entries.rs`). Returns the commit's sequence number, or `NOT_WRITTEN` (-1) when an entry is not
/// a string or `Uint8Array` key and a non-empty string or `Uint8Array` value within the
/// limits, or a `Uint8Array` key whose prototype is not one of the two given, or a key
/// over a `SharedArrayBuffer`: nothing is written then, and JavaScript stages the batch itself,
/// which reports the bad entry. Takes its turn as `ticket` in either case, once it has
/// read the array.
#[napi]
pub fn write_entries(
    h: u32,
    ticket: f64,
    entries: napi::bindgen_prelude::Unknown<'_>,
    buffer_prototype: napi::bindgen_prelude::Unknown<'_>,
    uint8_array_prototype: napi::bindgen_prelude::Unknown<'_>,
) -> napi::Result<f64> {
    use napi::JsValue;
    let handle = registry::get(h)?;
    let env = entries.value().env;
    let ticket = byte_number("ticket", ticket, 0)?;
    let pass = || handle.in_turn(ticket, || ());
    // SAFETY: `env` and `entries` belong to this call, on this thread; the handles are used
    // only below, before it returns.
    let protos = entries::Protos([buffer_prototype.raw(), uint8_array_prototype.raw()]);
    let handles = match unsafe { entries::collect(env, entries.raw()) } {
        Ok(entries::Collected::Pairs(handles)) => handles,
        Ok(entries::Collected::Irregular) => {
            pass();
            return Ok(NOT_WRITTEN);
        }
        Err(e) => {
            pass();
            return Err(e);
        }
    };
    let written = handle.in_turn(ticket, || {
        writable(&handle)?;
        // SAFETY: the handles came from `collect` in this call, and no JavaScript runs
        // until the batch is written and this function returns.
        unsafe { entries::write(env, &handles, protos, &handle.store) }
    })?;
    if written.is_some() {
        after_commit(&handle.store);
    }
    Ok(written.map_or(NOT_WRITTEN, |seq| seq as f64))
}

/// Writes into `existed` (when given) one byte per operation of `commit`, 1 if its key had
/// a value before, and returns the commit's sequence number for JavaScript.
fn committed(commit: &simd_r_drive::Commit, existed: Option<BufferSlice>) -> f64 {
    if let Some(mut flags) = existed {
        for (slot, e) in flags.iter_mut().zip(&commit.existed) {
            *slot = *e as u8;
        }
    }
    commit.seq as f64
}

/// A batch committed on the libuv threadpool (large batches, or while compaction runs).
pub struct WriteTask {
    handle: Arc<registry::Handle>,
    ticket: u64,
    staging: Buffer,
    count: u32,
    sync: bool,
}

impl Task for WriteTask {
    type Output = Vec<bool>;
    type JsValue = Buffer;
    fn compute(&mut self) -> napi::Result<Vec<bool>> {
        let handle = &self.handle;
        let Some(commit) =
            commit_staged(handle, self.ticket, &self.staging, self.count, Lock::Wait)?
        else {
            unreachable!("a commit that waits for the writer lock always commits");
        };
        if self.sync {
            self.handle.store.wait_durable(commit.seq).or_throw()?;
        }
        Ok(commit.existed)
    }
    fn resolve(&mut self, _env: Env, existed: Vec<bool>) -> napi::Result<Buffer> {
        Ok(existed
            .into_iter()
            .map(u8::from)
            .collect::<Vec<u8>>()
            .into())
    }
}

/// Commits `count` staged operations as one batch on the libuv threadpool, in ticket
/// order with the other writes of the handle; with `sync`,
/// resolves once the batch is durable. Resolves to one byte per operation: 1 if its key
/// had a value before.
/// (The JavaScript write methods, which commit through either, are documented on
/// `write_batch`.)
#[napi(ts_return_type = "Promise<Buffer>")]
pub fn write_batch_async(
    h: u32,
    ticket: f64,
    staging: Buffer,
    count: u32,
    sync: bool,
) -> napi::Result<AsyncTask<WriteTask>> {
    // A closed handle fails here, before JavaScript counts the ticket as issued.
    let handle = registry::get(h)?;
    Ok(AsyncTask::new(WriteTask {
        handle,
        ticket: byte_number("ticket", ticket, 0)?,
        staging,
        count,
        sync,
    }))
}

/// A value streamed from a staged file, committed on the libuv threadpool.
pub struct PutFileTask {
    handle: Arc<registry::Handle>,
    ticket: u64,
    key: Vec<u8>,
    file: String,
    /// When the value expires (ms since the Unix epoch), if it does.
    expires_at: Option<u64>,
    sync: bool,
}

impl Task for PutFileTask {
    type Output = bool;
    type JsValue = bool;
    fn compute(&mut self) -> napi::Result<bool> {
        let handle = &self.handle;
        let commit = handle.in_turn(self.ticket, || {
            writable(handle)?;
            let mut f = std::fs::File::open(&self.file).map_err(|e| {
                coded(
                    "ERR_STORE_IO",
                    &format!("opening the staged value {}: {e}", self.file),
                )
            })?;
            let len = f
                .metadata()
                .map_err(|e| {
                    coded(
                        "ERR_STORE_IO",
                        &format!("reading the staged value {}: {e}", self.file),
                    )
                })?
                .len();
            let store = &handle.store;
            match self.expires_at {
                None => store.put_from_reader(&self.key, len, &mut f),
                Some(at) => store.put_from_reader_expiring(&self.key, len, &mut f, at),
            }
            .or_throw()
        })?;
        if self.sync {
            handle.store.wait_durable(commit.seq).or_throw()?;
        }
        Ok(commit.existed[0])
    }
    fn resolve(&mut self, _env: Env, existed: bool) -> napi::Result<bool> {
        Ok(existed)
    }
}

/// Sets `key` to the contents of the staged file `file` without loading it into memory,
/// in ticket order with the handle's other writes; with `expires_at` (ms since the Unix
/// epoch) the value expires then. Resolves to whether the key had a value.
///
/// # JavaScript: `Store.createWriteStream`
///
/// A writable stream whose bytes become the value of `key` when it finishes, without
/// holding the value in memory (it is staged in `<path>.upload-*` beside the store). The
/// value appears atomically once the stream has finished (the 'finish' event), in order
/// with the store's other writes; if the stream fails or is destroyed, nothing is
/// written. A `destroy()` after `end()` that comes while the value is being committed
/// waits for the commit: the stream then emits 'finish' (the value is written, and the
/// error given to `destroy()` is not emitted) or, if the commit failed, 'error'. Values are
/// limited to 4 GiB - 1 bytes by the format. `options` ({@link WriteOptions}) give the
/// value an expiry; a `ttl` counts from when the stream ends (its value's commit is
/// issued), not from this call. Bad options throw here, as {@link Store.put}'s do, and
/// nothing is staged or written.
#[napi(ts_return_type = "Promise<boolean>")]
pub fn put_file(
    h: u32,
    ticket: f64,
    key: Buffer,
    file: String,
    expires_at: Option<f64>,
    sync: bool,
) -> napi::Result<AsyncTask<PutFileTask>> {
    Ok(AsyncTask::new(PutFileTask {
        handle: registry::get(h)?,
        ticket: byte_number("ticket", ticket, 0)?,
        key: key.to_vec(),
        file,
        expires_at: expires_at
            .map(|at| byte_number("expiresAt", at, 0))
            .transpose()?,
        sync,
    }))
}
