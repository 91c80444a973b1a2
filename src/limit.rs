//! The size limit (`StoreOptions.maxBytes`): set on the engine of a handle after a
//! writable open, as the automatic-compaction policy is.

use napi_derive::napi;

use crate::registry;

/// Sets the size limit of the engine of handle `h` (shared by every `Store` of the path
/// in this process) to `max_bytes` bytes, or none when absent. JavaScript has checked the
/// number (a positive safe integer).
///
/// # JavaScript: `StoreOptions.maxBytes`
///
/// A size limit, in bytes, on the live data (see the README, "A size limit"): the bytes of
/// the live entries on disk, as `stats().liveBytes` counts them (each key and value padded
/// to 8 bytes, plus 16 bytes of fields, 8 more with an expiry and 8 more in a copy
/// compaction made; an expired entry counts until it is evicted or compacted away). A write that would take the live data past it evicts the oldest live entries in
/// log order, the order they were last written (FIFO, not LRU: reads do not keep an entry),
/// in the write's own batch, until it fits; evicted keys read as missing at once, here, after
/// a crash or reopen and in read-only followers, and the change feed shows them as
/// `{ type: 'evict', key }`. A write whose puts alone take more than `maxBytes` on disk is
/// refused with a `RangeError` of code `ERR_VALUE_TOO_LARGE`, and nothing is written.
/// `stats().evictedEntries` and `stats().evictedBytes` count the evictions. A positive safe
/// integer; absent: no limit. Applies to the file's engine in this process, shared by every
/// `Store` of the path (the last writable open that gives the option sets it); ignored for
/// read-only stores.
#[napi]
pub fn set_max_bytes(h: u32, max_bytes: Option<f64>) -> napi::Result<()> {
    let handle = registry::borrow(h)?;
    handle.store.set_max_bytes(max_bytes.map(|b| b as u64));
    Ok(())
}
