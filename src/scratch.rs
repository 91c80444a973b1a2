//! The numbers that cross the boundary: the layout of the scratch buffer that JavaScript
//! and the native functions share (result slots, then the key), the records of
//! `locate_many` and of snapshot batches, the sentinels, and the checks of numbers from
//! JavaScript.

use crate::errors::coded;

/// Slots are 8-byte little-endian floats (JavaScript reads them through a `Float64Array`)
/// and are named by index: slot `i` is bytes `8 * i .. 8 * i + 8`. `lib/scratch.js` gives
/// every name below the same value (`__test__/scratch.test.js` checks it).
pub(crate) const SLOT_BYTES: usize = 8;

// The scratch buffer: `OUT_SLOTS` result slots, then the key (from byte `KEY_AT`).

/// Result slot: identity of the mapping the located value is in.
pub(crate) const OUT_MAP_ID: usize = 0;
/// Result slot: offset of the located value in the file.
pub(crate) const OUT_OFFSET: usize = 1;
/// Result slot: length of the located value.
pub(crate) const OUT_LEN: usize = 2;
/// Result slot: where a window made by `window` starts, or one of the `WINDOW_*` sentinels.
pub(crate) const OUT_AUX: usize = 3;
/// Number of result slots.
pub(crate) const OUT_SLOTS: usize = 4;
/// Byte at which the key starts, after the result slots.
pub(crate) const KEY_AT: usize = 32;
const _: () = assert!(KEY_AT == OUT_SLOTS * SLOT_BYTES);

// What `locate` returns, and the state slot of a `locate_many` record.

/// The key has no value.
pub(crate) const LOCATE_ABSENT: u32 = 0;
/// The value lies below the stable end of the mapping: it can be viewed in place.
pub(crate) const LOCATE_IN_PLACE: u32 = 1;
/// The value ends in the last, still growing page of the file: it must be copied.
pub(crate) const LOCATE_COPY: u32 = 2;

// What `window` writes into `OUT_AUX` when it makes no window.

/// The store moved to another mapping since `locate` (or the range is past the snapshot's
/// stable end): locate again, or copy.
pub(crate) const WINDOW_MOVED: f64 = -1.0;
/// This runtime does not allow external buffers: copy instead.
pub(crate) const WINDOW_NOT_ALLOWED: f64 = -2.0;

/// What `try_write_batch` and `write_entries` return when they wrote nothing.
pub(crate) const NOT_WRITTEN: f64 = -1.0;

// A `locate_many` record, one per key: `FOUND_SLOTS` slots.

/// Record slot: a `LOCATE_*` result.
pub(crate) const FOUND_STATE: usize = 0;
/// Record slot: identity of the mapping the value is in.
pub(crate) const FOUND_MAP_ID: usize = 1;
/// Record slot: offset of the value in the file.
pub(crate) const FOUND_OFFSET: usize = 2;
/// Record slot: length of the value.
pub(crate) const FOUND_LEN: usize = 3;
/// Slots per `locate_many` record.
pub(crate) const FOUND_SLOTS: usize = 4;

// A snapshot entry written by `Snapshot::next_batch`: `ENTRY_SLOTS` slots.

/// Entry slot: offset of the key in the snapshot's file.
pub(crate) const ENTRY_KEY_OFFSET: usize = 0;
/// Entry slot: length of the key.
pub(crate) const ENTRY_KEY_LEN: usize = 1;
/// Entry slot: offset of the value.
pub(crate) const ENTRY_VALUE_OFFSET: usize = 2;
/// Entry slot: length of the value.
pub(crate) const ENTRY_VALUE_LEN: usize = 3;
/// Slots per snapshot entry.
pub(crate) const ENTRY_SLOTS: usize = 4;

/// Writes `v` into slot `slot` of `buf`.
pub(crate) fn put_slot(buf: &mut [u8], slot: usize, v: f64) {
    let at = slot * SLOT_BYTES;
    buf[at..at + SLOT_BYTES].copy_from_slice(&v.to_le_bytes());
}

/// Reads slot `slot` of `buf`.
pub(crate) fn get_slot(buf: &[u8], slot: usize) -> f64 {
    let at = slot * SLOT_BYTES;
    f64::from_le_bytes(buf[at..at + SLOT_BYTES].try_into().expect("8 bytes"))
}

/// Largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A byte offset, length or count from JavaScript: refuses (`ERR_OUT_OF_RANGE`) numbers
/// that are not integers from `min` to `Number.MAX_SAFE_INTEGER` (NaN, infinities,
/// negative and fractional numbers), which `as u64` would silently turn into others.
pub(crate) fn byte_number(what: &str, v: f64, min: u64) -> napi::Result<u64> {
    if v.is_finite() && v.fract() == 0.0 && v >= min as f64 && v <= MAX_SAFE_INTEGER {
        return Ok(v as u64);
    }
    Err(coded(
        "ERR_OUT_OF_RANGE",
        &format!("{what} must be an integer from {min} to 2^53 - 1, got {v}"),
    ))
}

/// Checks that `scratch` has room for the result slots before they are read or written.
pub(crate) fn check_slots(scratch: &[u8]) -> napi::Result<()> {
    if scratch.len() < KEY_AT {
        return Err(coded(
            "ERR_INVALID_ARG_VALUE",
            &format!(
                "the scratch buffer must be at least {KEY_AT} bytes, got {}",
                scratch.len()
            ),
        ));
    }
    Ok(())
}

/// Splits the scratch buffer into the result slots and the key of `key_len` bytes.
pub(crate) fn split_key(scratch: &mut [u8], key_len: u32) -> napi::Result<(&mut [u8], &[u8])> {
    let end = KEY_AT + key_len as usize;
    if scratch.len() < end {
        return Err(coded("ERR_INTERNAL", "key longer than the scratch buffer"));
    }
    let (out, rest) = scratch.split_at_mut(KEY_AT);
    Ok((out, &rest[..key_len as usize]))
}
