//! Expiry in the binding: the store's clock and each key's expiry time (see the engine's
//! `Store::expires_at`), and the test clock.
//!
//! # JavaScript: `WriteOptions`
//!
//! Options of one put: when its value expires. Give at most one of `ttl` and `expiresAt`
//! (both: a `TypeError`, `ERR_INVALID_ARG_VALUE`); each is a whole number of milliseconds
//! from 0 to 2 ** 53 - 1: anything else is a `RangeError` (`ERR_OUT_OF_RANGE`: negative,
//! `NaN`, fractional, infinite) or a `TypeError` (`ERR_INVALID_ARG_TYPE`: not a number),
//! and nothing is written.
//!
//! # JavaScript: `WriteOptions.ttl`
//!
//! Milliseconds from now, by the store's clock ({@link Store.now}), until the value
//! expires. `0` writes a value that is expired at once.
//!
//! # JavaScript: `WriteOptions.expiresAt`
//!
//! When the value expires, in milliseconds since the Unix epoch (as `Date.now()` gives).
//!
//! # JavaScript: `StoreOptions.expirySweep`
//!
//! Whether a writable store removes expired entries by itself (default `true`): from its
//! open (of a log of at most 64 MiB: the first pass finds out whether the file holds
//! entries with an expiry) and from each write of an entry with an expiry, it walks 8 MiB
//! of its log a second on the threadpool and writes an expiry record for each entry whose
//! expiry has passed, as {@link Store.clearExpired} does, until a whole pass finds no entry
//! with an expiry. `false`: only `clearExpired()` and compaction remove them. Ignored for
//! read-only stores.
//!
//! # JavaScript: `Entry`
//!
//! One entry of {@link Store.putMany}: a `[key, value]` pair, or a `[key, value, options]`
//! triple whose {@link WriteOptions} give the value's expiry.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi::{Env, Task};
use napi_derive::napi;

use crate::errors::OrThrow;
use crate::registry;

/// The environment variable that moves the clock of stores opened while it is set: its
/// value (ms, may be negative) is added to the system clock, read again at each use. For
/// tests only.
pub const TEST_CLOCK_OFFSET: &str = "SIMD_R_DRIVE_TEST_CLOCK_OFFSET_MS";

/// The test clock, when [`TEST_CLOCK_OFFSET`] is set when a store is opened.
pub fn test_clock() -> Option<Arc<dyn Fn() -> u64 + Send + Sync>> {
    std::env::var_os(TEST_CLOCK_OFFSET)?;
    Some(Arc::new(|| {
        let offset: i64 = std::env::var(TEST_CLOCK_OFFSET)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        simd_r_drive::system_clock_ms().saturating_add_signed(offset)
    }))
}

/// The store's time now, in ms since the Unix epoch: the clock expiry is judged by.
///
/// # JavaScript: `Store.now`
///
/// The store's time now, in milliseconds since the Unix epoch: the clock that `ttl` is
/// counted from and expiry is judged by (the system clock; it never goes back while the
/// store is open).
#[napi]
pub fn now_ms(h: u32) -> napi::Result<f64> {
    let handle = registry::borrow(h)?;
    Ok(handle.store.now_ms() as f64)
}

/// When `key`'s value expires (ms since the Unix epoch), or `null`.
///
/// # JavaScript: `Store.expiresAt`
///
/// When `key`'s value expires, in milliseconds since the Unix epoch, or `undefined` if it
/// has no value or was written without `ttl`/`expiresAt`.
#[napi]
pub fn expires_at(h: u32, key: Buffer) -> napi::Result<Option<f64>> {
    let handle = registry::borrow(h)?;
    Ok(handle.store.expires_at(&key).or_throw()?.map(|t| t as f64))
}

/// Bytes of log one automatic sweep step walks (see `expiry_sweep_step`).
const SWEEP_STEP: u64 = 8 << 20;

/// The expiry sweep on the libuv threadpool: one step of it, or a whole pass.
pub struct SweepTask {
    handle: Arc<registry::Handle>,
    whole: bool,
}

impl Task for SweepTask {
    type Output = u64;
    type JsValue = f64;
    fn compute(&mut self) -> napi::Result<u64> {
        let store = &self.handle.store;
        let removed = if self.whole {
            store.clear_expired().or_throw()?
        } else if store.expiry_sweep_due() {
            store
                .sweep_expired(SWEEP_STEP)
                .map(|s| s.removed)
                .or_throw()?
        } else {
            0
        };
        if removed > 0 {
            // Expiry records are commits: the index merge and automatic compaction may
            // now be due (their bytes count as reclaimable).
            crate::write::after_commit(store);
        }
        Ok(removed)
    }
    fn resolve(&mut self, _env: Env, removed: u64) -> napi::Result<f64> {
        Ok(removed as f64)
    }
}

/// Removes every entry whose expiry has passed, on the threadpool; resolves with how many.
///
/// # JavaScript: `Store.clearExpired`
///
/// Removes every entry whose expiry has passed, in one pass over the log on the
/// threadpool (writers go on meanwhile, between its steps of 16 MiB), and resolves with how
/// many it removed. Each removal is an expiry record in the log (FORMAT.md, "Entries"): the
/// key leaves `size`, `stats().liveBytes` and the index, its bytes count in
/// `stats().reclaimableBytes` (so automatic compaction can come due for them), and the
/// change feed shows `{ type: 'expire', key }`. A writable store also does this by itself,
/// a step a second, while its file may hold entries with an expiry (`expirySweep: false`
/// on open turns that off). Fails on a read-only store.
#[napi(ts_return_type = "Promise<number>")]
pub fn clear_expired(h: u32) -> napi::Result<AsyncTask<SweepTask>> {
    let handle = registry::get(h)?;
    if handle.read_only {
        return Err(crate::errors::to_napi(simd_r_drive::Error::ReadOnly));
    }
    Ok(AsyncTask::new(SweepTask {
        handle,
        whole: true,
    }))
}

/// One step of the automatic expiry sweep (8 MiB of log) on the threadpool, if one is due
/// (the engine's `Store::expiry_sweep_due`); resolves with how many entries it removed.
#[napi(ts_return_type = "Promise<number>")]
pub fn expiry_sweep_step(h: u32) -> napi::Result<AsyncTask<SweepTask>> {
    Ok(AsyncTask::new(SweepTask {
        handle: registry::get(h)?,
        whole: false,
    }))
}

/// Whether the automatic expiry sweep has work to look for (see `expiry_sweep_step`).
#[napi]
pub fn expiry_sweep_due(h: u32) -> napi::Result<bool> {
    Ok(registry::borrow(h)?.store.expiry_sweep_due())
}
