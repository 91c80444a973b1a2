//! Progress reports and cancellation of the long operations (compaction, verification,
//! backup, repair): one [`Work`] per call, made by [`new_work`] with the caller's
//! `onProgress` (if any), passed to the operation, and cancelled by [`cancel_work`] when
//! the caller's `AbortSignal` fires. Reports come from the threadpool through a
//! threadsafe function, at most one per [`MIN_GAP`] (the end excepted); `lib/progress.js`
//! drops those that arrive after the promise settled and gives the last one itself.
//!
//! # JavaScript: `Progress`
//!
//! How far a long operation is: `bytesDone` of `bytesTotal` (bytes of the store file read
//! by {@link Store.compact}, {@link Store.verify} and {@link Store.repair}; bytes copied by
//! {@link Store.backup}).
//!
//! # JavaScript: `Progress.bytesDone`
//!
//! Bytes done so far (at most `bytesTotal`; equal to it in the last call).
//!
//! # JavaScript: `Progress.bytesTotal`
//!
//! Bytes to do in all.
//!
//! # JavaScript: `LongOptions`
//!
//! The options of the long operations ({@link Store.compact}, {@link Store.verify},
//! {@link Store.backup}, {@link Store.repair}). Anything else than an object, a function
//! and an `AbortSignal` is refused with `ERR_INVALID_ARG_TYPE` before anything runs.
//!
//! # JavaScript: `LongOptions.onProgress`
//!
//! Called on this thread with a {@link Progress} as the work goes on: at most five times a
//! second, and once at the end of a success (`bytesDone === bytesTotal`); never after the
//! promise settled. If it throws, the operation is stopped as by `signal` and the promise
//! rejects with what it threw.
//!
//! # JavaScript: `LongOptions.signal`
//!
//! Stops the operation where that is safe, and the promise rejects with an `AbortError`
//! (`name` `'AbortError'`, `code` `'ABORT_ERR'`, `cause` the signal's reason). A compaction
//! stops at any point before its final step (the store stays the old file, unchanged, and
//! the compaction file is removed); a backup before its copy is placed (the temporary copy
//! is removed, nothing appears at its path); a repair before it renames anything (the
//! store file is as it was, the repair file removed); a verification anywhere. Past that
//! point the operation completes and the signal is ignored. A signal already aborted
//! rejects at once, and nothing runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use napi::bindgen_prelude::{External, FnArgs, Function};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use simd_r_drive::Progress;

/// Shortest time between two reports (at most five a second), but the one at the end.
const MIN_GAP: Duration = Duration::from_millis(200);

/// The state of one long operation shared by JavaScript and the threadpool.
pub struct Work {
    cancel: AtomicBool,
    /// The last total reported (what the last call at the end gives).
    total: AtomicU64,
    report: Option<Box<dyn Fn(f64, f64) + Send + Sync>>,
    /// When the last report was sent.
    last: Mutex<Option<Instant>>,
}

impl Work {
    /// Runs `f` with a [`Progress`] that forwards throttled reports and sees the cancel flag.
    pub fn run<T>(&self, f: impl FnOnce(&Progress<'_>) -> T) -> T {
        let report = |done: u64, total: u64| {
            self.total.store(total, Ordering::Release);
            let Some(r) = &self.report else { return };
            let now = Instant::now();
            {
                let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
                if done < total && last.is_some_and(|t| now.duration_since(t) < MIN_GAP) {
                    return;
                }
                *last = Some(now);
            }
            r(done as f64, total as f64);
        };
        let progress = Progress::none()
            .on_progress(&report)
            .cancel_flag(&self.cancel);
        f(&progress)
    }
}

/// A long operation's state, for one call of `compact`, `verify`, `backup` or `repair`:
/// `on_progress(bytesDone, bytesTotal)` is called on this JavaScript thread as it goes (it
/// does not keep the event loop alive; the operation's promise does).
#[napi(ts_return_type = "ExternalObject<'Work'>")]
pub fn new_work(
    on_progress: Option<Function<FnArgs<(f64, f64)>, ()>>,
) -> napi::Result<External<Arc<Work>>> {
    let report: Option<Box<dyn Fn(f64, f64) + Send + Sync>> = match on_progress {
        None => None,
        Some(f) => {
            let tsfn = f
                .build_threadsafe_function::<(f64, f64)>()
                .weak::<true>()
                .callee_handled::<false>()
                .build_callback(|ctx| Ok(FnArgs::from(ctx.value)))?;
            Some(Box::new(move |done, total| {
                tsfn.call((done, total), ThreadsafeFunctionCallMode::NonBlocking);
            }))
        }
    };
    Ok(External::new(Arc::new(Work {
        cancel: AtomicBool::new(false),
        total: AtomicU64::new(0),
        report,
        last: Mutex::new(None),
    })))
}

/// Sets the cancel flag of `work`: its operation stops at its next safe point and rejects
/// with `ABORT_ERR`, or finishes if it is past the last one.
#[napi(ts_args_type = "work: ExternalObject<'Work'>")]
pub fn cancel_work(work: &External<Arc<Work>>) {
    work.as_ref().cancel.store(true, Ordering::Release);
}

/// The last total that the operation of `work` reported (0 before any).
#[napi(ts_args_type = "work: ExternalObject<'Work'>")]
pub fn work_total(work: &External<Arc<Work>>) -> f64 {
    work.as_ref().total.load(Ordering::Acquire) as f64
}

/// The shared state behind `work`, for a task to keep.
pub fn shared(work: &External<Arc<Work>>) -> Arc<Work> {
    work.as_ref().clone()
}
