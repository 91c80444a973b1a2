//! `Store.backup`: the engine's online copy of the store, on the libuv threadpool.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, External};
use napi::{Env, Task};
use napi_derive::napi;

use crate::errors::OrThrow;
use crate::progress::{shared, Work};
use crate::registry;
use crate::scratch::byte_number;

/// What a backup wrote.
#[napi(object)]
pub struct BackupResult {
    /// The copy's absolute path.
    pub path: String,
    /// Bytes of the copy.
    pub bytes: f64,
    /// Live keys in the copy.
    pub keys: f64,
    /// Whether an index file was written beside the copy (`<path>.srd-index`, for a store
    /// large enough to get one when closed: see `Store.close`), so that it opens in
    /// constant time.
    pub index_file: bool,
    /// Total time taken, in milliseconds.
    pub duration_ms: f64,
}

/// A backup on the libuv threadpool.
pub struct BackupTask {
    handle: Arc<registry::Handle>,
    dest: String,
    /// The ticket of the next write through this handle: the writes before it are in the copy.
    ticket: u64,
    work: Arc<Work>,
}

impl Task for BackupTask {
    type Output = simd_r_drive::BackupReport;
    type JsValue = BackupResult;
    fn compute(&mut self) -> napi::Result<Self::Output> {
        self.handle.after(self.ticket);
        let (store, dest) = (&self.handle.store, &self.dest);
        self.work.run(|p| store.backup_with(dest, p)).or_throw()
    }
    fn resolve(&mut self, _env: Env, r: Self::Output) -> napi::Result<BackupResult> {
        Ok(BackupResult {
            path: r.path.to_string_lossy().into_owned(),
            bytes: r.bytes as f64,
            keys: r.keys as f64,
            index_file: r.index_file,
            duration_ms: r.duration.as_secs_f64() * 1e3,
        })
    }
}

/// Copies the store to `dest`, which must not exist, on the libuv threadpool, once the
/// writes through this handle with a ticket before `ticket` have committed.
///
/// # JavaScript: `Store.backup`
///
/// Writes a copy of the store to `path`, a new file, on the libuv threadpool, while reads
/// and writes go on (writers are not held up). The copy holds every write made through
/// this `Store` before the call (writes of this tick are committed first) and every batch
/// committed when the copy starts, and nothing later: a complete prefix of the log, even
/// when a compaction runs meanwhile. It is synced, put at `path` without replacing anything
/// (an existing file, or link, rejects with `ERR_EXISTS` and is left untouched) and its
/// directory synced before the promise resolves. The copy is a store with its own
/// generation identifier and the store file's mode; a store large enough to get an index
/// file when closed (see {@link Store.close}) also gets one for the copy
/// (`<path>.srd-index`), so that the copy opens in constant time. A
/// crash meanwhile may leave `<path>.backup-<pid>-<n>` beside `path`: delete it.
/// `options`: `onProgress` and `signal` (see {@link LongOptions}; aborted, the temporary
/// copy is removed and nothing appears at `path`).
#[napi(
    ts_args_type = "h: number, dest: string, ticket: number, work: ExternalObject<'Work'>",
    ts_return_type = "Promise<BackupResult>"
)]
pub fn backup(
    h: u32,
    dest: String,
    ticket: f64,
    work: &External<Arc<Work>>,
) -> napi::Result<AsyncTask<BackupTask>> {
    Ok(AsyncTask::new(BackupTask {
        handle: registry::get(h)?,
        dest,
        ticket: byte_number("ticket", ticket, 0)?,
        work: shared(work),
    }))
}
