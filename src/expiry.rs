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
//! # JavaScript: `Entry`
//!
//! One entry of {@link Store.putMany}: a `[key, value]` pair, or a `[key, value, options]`
//! triple whose {@link WriteOptions} give the value's expiry.

use std::sync::Arc;

use napi::bindgen_prelude::Buffer;
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
