//! The scratch buffer that JavaScript and the native functions share: result slots, then
//! the key; and the checks of the numbers that cross the boundary.

use crate::errors::coded;

/// Scratch buffer layout shared with `lib/native.js`: result slots, then the key.
pub(crate) const OUT_MAP_ID: usize = 0;
pub(crate) const OUT_OFFSET: usize = 8;
pub(crate) const OUT_LEN: usize = 16;
pub(crate) const OUT_AUX: usize = 24;
pub(crate) const KEY_AT: usize = 32;

pub(crate) fn put_f64(scratch: &mut [u8], at: usize, v: f64) {
    scratch[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn get_f64(scratch: &[u8], at: usize) -> f64 {
    f64::from_le_bytes(scratch[at..at + 8].try_into().expect("8 bytes"))
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
