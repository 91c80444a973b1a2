//! Work on the libuv threadpool that is not a write: durability, compaction, verification
//! and repair.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, External};
use napi::{Env, Task};
use napi_derive::napi;

use crate::errors::OrThrow;
use crate::progress::{shared, Work};
use crate::registry;
use crate::reports::{CompactResult, RepairResult, VerifyResult};
use crate::scratch::byte_number;
use crate::write::writable;

/// What a [`DurableTask`] waits for.
enum Durable {
    /// Commit `seq` is durable.
    Commit(u64),
    /// Everything committed so far is durable.
    All,
    /// As `All`, then what changed since the index file is saved (merged into a new one,
    /// or as a delta file: the engine's `Store::save_index`), as a close does.
    Checkpoint,
}

/// Waiting for durability on the libuv threadpool.
pub struct DurableTask {
    handle: Arc<registry::Handle>,
    what: Durable,
}

impl Task for DurableTask {
    type Output = ();
    type JsValue = ();
    fn compute(&mut self) -> napi::Result<()> {
        let store = &self.handle.store;
        match self.what {
            Durable::Commit(seq) => store.wait_durable(seq).or_throw(),
            Durable::All => store.flush().or_throw(),
            Durable::Checkpoint => {
                // A close: an automatic compaction in flight is cancelled, not waited for
                // to finish (only for its cancellation, within 256 entries or 4 MiB copied).
                store.abandon_auto_compaction();
                store.save_index().map(drop).or_throw()
            }
        }
    }
    fn resolve(&mut self, _env: Env, _: ()) -> napi::Result<()> {
        Ok(())
    }
}

/// Resolves once commit `seq` is durable (`fdatasync`, shared with concurrent callers).
#[napi(ts_return_type = "Promise<void>")]
pub fn wait_durable(h: u32, seq: f64) -> napi::Result<AsyncTask<DurableTask>> {
    Ok(AsyncTask::new(DurableTask {
        handle: registry::get(h)?,
        what: Durable::Commit(byte_number("seq", seq, 0)?),
    }))
}

/// Resolves once everything committed so far is durable.
///
/// # JavaScript: `Store.flush`
///
/// Resolves once everything written so far is durable (`fdatasync`). On a read-only
/// store it resolves at once.
#[napi(ts_return_type = "Promise<void>")]
pub fn flush(h: u32) -> napi::Result<AsyncTask<DurableTask>> {
    Ok(AsyncTask::new(DurableTask {
        handle: registry::get(h)?,
        what: Durable::All,
    }))
}

/// Makes everything committed so far durable, then saves the index beside the store
/// (`<store>.srd-index`) if the store is large enough for that to speed up the next open
/// (`StoreOptions::checkpoint_min_keys` in the engine). `close()` calls it.
#[napi(ts_return_type = "Promise<void>")]
pub fn checkpoint(h: u32) -> napi::Result<AsyncTask<DurableTask>> {
    Ok(AsyncTask::new(DurableTask {
        handle: registry::get(h)?,
        what: Durable::Checkpoint,
    }))
}

/// Makes everything committed so far durable, on the calling thread.
#[napi]
pub fn flush_sync(h: u32) -> napi::Result<()> {
    registry::get(h)?.store.flush().or_throw()
}

/// Compaction on the libuv threadpool.
pub struct CompactTask {
    handle: Arc<registry::Handle>,
    work: Arc<Work>,
}

impl Task for CompactTask {
    type Output = simd_r_drive::CompactionReport;
    type JsValue = CompactResult;
    fn compute(&mut self) -> napi::Result<Self::Output> {
        let store = &self.handle.store;
        // (The engine copies on a thread of its own, at a low priority.)
        self.work.run(|p| store.compact_with(p)).or_throw()
    }
    fn resolve(&mut self, _env: Env, r: Self::Output) -> napi::Result<CompactResult> {
        Ok(CompactResult {
            bytes_before: r.bytes_before as f64,
            bytes_after: r.bytes_after as f64,
            reclaimed_bytes: r.reclaimed_bytes as f64,
            entries: r.entries as f64,
            tail_entries: r.tail_entries as f64,
            writer_pause_ms: r.writer_pause.as_secs_f64() * 1e3,
            duration_ms: r.duration.as_secs_f64() * 1e3,
        })
    }
}

/// Rewrites the store without its dead entries, on the libuv threadpool.
///
/// # JavaScript: `Store.compact`
///
/// Rewrites the store without its dead entries, on the libuv threadpool. Reads and
/// writes go on meanwhile and writes made meanwhile are kept. Rejects with
/// `ERR_STORE_READ_ONLY` on a read-only store. One compaction runs at a time: this waits
/// for an automatic one in flight (see `autoCompact`), and `close()` waits for this one.
/// `options`: `onProgress` and `signal` (see {@link LongOptions}; aborted, the store stays
/// as it was).
#[napi(
    ts_args_type = "h: number, work: ExternalObject<'Work'>",
    ts_return_type = "Promise<CompactResult>"
)]
pub fn compact(h: u32, work: &External<Arc<Work>>) -> napi::Result<AsyncTask<CompactTask>> {
    let handle = registry::get(h)?;
    writable(&handle)?;
    Ok(AsyncTask::new(CompactTask {
        handle,
        work: shared(work),
    }))
}

/// After a commit: when an automatic compaction is due (the engine's
/// `Store::auto_compaction_due`), runs it on a thread of its own, so that neither the event
/// loop nor the threadpool waits for it. The thread holds the engine while it runs; a
/// close cancels it (`cancel_auto_compaction`), which then ends within 256 entries or 4 MiB copied; the close waits only for that.
/// What it did is counted in the engine (`Store::auto_compaction_stats`, in `stats()`).
pub(crate) fn compact_if_due(store: &Arc<registry::Engine>) {
    // Claimed here, before the thread starts: a close from now on cancels it.
    let Some(claim) = store.claim_auto_compaction() else {
        return;
    };
    let engine = store.clone();
    // (If no thread can be had, the claim is dropped with the closure: released.)
    let _ = std::thread::Builder::new()
        .name("srd-auto-compact".into())
        .spawn(move || {
            // (At normal priority: the engine copies on a thread of its own, at a low
            // priority, and the final step, which holds the writer lock, runs here.)
            let _ = engine.run_auto_compaction(&claim);
            // The engine first, then the claim: a close waiting for the claim
            // (`abandon_auto_compaction`) then holds the last reference itself.
            drop(engine);
            drop(claim);
        });
}

/// Sets the automatic-compaction policy of the engine of handle `h` (shared by every
/// `Store` of the path in this process): off unless `on`, otherwise due once the
/// reclaimable bytes reach `min_reclaimable_bytes` (default 64 MiB) and `min_ratio` of the
/// file (default 0.5). JavaScript has checked the numbers.
///
/// # JavaScript: `StoreOptions.autoCompact`
///
/// Automatic compaction (see the README, "Automatic compaction"). On by default: after a
/// commit, once the bytes compaction would reclaim (`stats().reclaimableBytes`) reach both
/// `minReclaimableBytes` (default 64 MiB) and `minRatio` of the file (default 0.5), the store
/// compacts on a thread of its own, one compaction at a time; `stats().autoCompactions` and
/// `stats().autoReclaimedBytes` count what it did. `close()` abandons one in flight (the old
/// file stays the store). After `ERR_STORE_DISK_FULL` it waits 1 s, doubling to 5 min, before
/// it tries again. `false` turns it off. Applies to the file's engine in this process, shared
/// by every `Store` of the path (the last writable open that gives the option sets it);
/// ignored for read-only stores.
///
/// # JavaScript: `StoreOptions.onAutoCompact`
///
/// Called on this thread after automatic compactions of the file (by any `Store` of the
/// path in this process) with what they did since the last call: `compactions` (usually 1),
/// `reclaimedBytes` and the new `fileBytes`. Called until `close()`; a throw from it is
/// uncaught, as from an event listener. Ignored for read-only stores.
#[napi]
pub fn set_auto_compact(
    h: u32,
    on: bool,
    min_reclaimable_bytes: Option<f64>,
    min_ratio: Option<f64>,
) -> napi::Result<()> {
    let handle = registry::borrow(h)?;
    let policy = on.then(|| {
        let d = simd_r_drive::AutoCompactPolicy::default();
        simd_r_drive::AutoCompactPolicy {
            min_reclaimable_bytes: min_reclaimable_bytes
                .map_or(d.min_reclaimable_bytes, |b| b as u64),
            min_ratio: min_ratio.unwrap_or(d.min_ratio),
            ..d
        }
    });
    handle.store.set_auto_compact(policy);
    Ok(())
}

/// Cancels the automatic compaction running on the engine of handle `h`, if any (a close
/// does not wait for it): it removes its temporary file and leaves the store as it was.
/// Returns whether one was running.
#[napi]
pub fn cancel_auto_compaction(h: u32) -> napi::Result<bool> {
    Ok(registry::borrow(h)?.store.cancel_auto_compaction())
}

/// Verification on the libuv threadpool.
pub struct VerifyTask {
    handle: Arc<registry::Handle>,
    work: Arc<Work>,
}

impl Task for VerifyTask {
    type Output = simd_r_drive::VerifyReport;
    type JsValue = VerifyResult;
    fn compute(&mut self) -> napi::Result<Self::Output> {
        let store = &self.handle.store;
        self.work.run(|p| store.verify_with(p)).or_throw()
    }
    fn resolve(&mut self, _env: Env, r: Self::Output) -> napi::Result<VerifyResult> {
        Ok(VerifyResult {
            entries: r.entries as f64,
            bytes: r.bytes as f64,
        })
    }
}

/// Re-reads every entry of the store file and checks its checksum, on the libuv
/// threadpool. Rejects with `ERR_STORE_CORRUPT` naming the first bad offset.
///
/// # JavaScript: `Store.verify`
///
/// Re-reads every entry of the file and checks its checksum, on the libuv threadpool,
/// and checks that the index in memory is the one the file gives (when nothing was written
/// meanwhile). Rejects with `ERR_STORE_CORRUPT` naming the first bad offset. `options`:
/// `onProgress` and `signal` (see {@link LongOptions}).
#[napi(
    ts_args_type = "h: number, work: ExternalObject<'Work'>",
    ts_return_type = "Promise<VerifyResult>"
)]
pub fn verify(h: u32, work: &External<Arc<Work>>) -> napi::Result<AsyncTask<VerifyTask>> {
    Ok(AsyncTask::new(VerifyTask {
        handle: registry::get(h)?,
        work: shared(work),
    }))
}

/// Repair on the libuv threadpool.
pub struct RepairTask {
    path: String,
    work: Arc<Work>,
}

impl Task for RepairTask {
    type Output = simd_r_drive::RepairReport;
    type JsValue = RepairResult;
    fn compute(&mut self) -> napi::Result<Self::Output> {
        let opts = simd_r_drive::StoreOptions::new();
        let path = &self.path;
        self.work
            .run(|p| simd_r_drive::repair_with(path, &opts, p))
            .or_throw()
    }
    fn resolve(&mut self, _env: Env, r: Self::Output) -> napi::Result<RepairResult> {
        Ok(RepairResult {
            entries_kept: r.entries_kept as f64,
            live_keys: r.live_keys as f64,
            skipped: r
                .skipped
                .iter()
                .map(|&(a, b)| vec![a as f64, b as f64])
                .collect(),
            dropped_tail_bytes: r.dropped_tail_bytes as f64,
            backup: r.backup.map(|p| p.to_string_lossy().into_owned()),
        })
    }
}

/// Rebuilds the store at `path` from every entry that still verifies, skipping damaged
/// ranges, on the libuv threadpool. The store must not be open anywhere.
///
/// # JavaScript: `Store.repair`
///
/// Rebuilds the store at `path` from every entry that still verifies, skipping damaged
/// ranges (what to do after `ERR_STORE_CORRUPT`), on the libuv threadpool. The store must
/// not be open anywhere (`ERR_STORE_LOCKED` otherwise). When something was skipped, the
/// damaged original stays reachable as `<path>.damaged`. A file that is not a store is
/// never touched. `options`: `onProgress` and `signal` (see {@link LongOptions}; aborted
/// before it renames anything, the store file is as it was).
#[napi(
    ts_args_type = "path: string, work: ExternalObject<'Work'>",
    ts_return_type = "Promise<RepairResult>"
)]
pub fn repair(path: String, work: &External<Arc<Work>>) -> AsyncTask<RepairTask> {
    AsyncTask::new(RepairTask {
        path,
        work: shared(work),
    })
}
