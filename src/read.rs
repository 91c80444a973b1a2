//! The read path: locating values for zero-copy windows, copies, lookups and `refresh`.

use std::sync::Arc;

use napi::bindgen_prelude::BufferSlice;
use napi::Env;
use napi_derive::napi;
use simd_r_drive::{PrivateMap, Refresh};

use crate::errors::{coded, OrThrow};
use crate::registry;
use crate::scratch::{
    byte_number, check_slots, get_slot, put_slot, split_key, FOUND_LEN, FOUND_MAP_ID, FOUND_OFFSET,
    FOUND_SLOTS, FOUND_STATE, LOCATE_ABSENT, LOCATE_COPY, LOCATE_IN_PLACE, OUT_AUX, OUT_LEN,
    OUT_MAP_ID, OUT_OFFSET, SLOT_BYTES, WINDOW_MOVED, WINDOW_NOT_ALLOWED,
};
use crate::staging;
use crate::views::{self, Raw, View};

/// How [`window_over`] cuts a window: windows start at multiples of `stride` and reach
/// `overlap` bytes past the next one; a tail window starts at `from` instead.
pub(crate) struct Shape {
    stride: u64,
    overlap: u64,
    /// Where a tail window starts: the caller already holds windows of this stride up to
    /// about there (`Windows.tailFrom` in `lib/read.js`). Used when it lies between the
    /// stride's start and the value's; otherwise the window starts at the stride.
    from: Option<u64>,
}

/// The shape of windows, checked: a stride of at least one byte, windows no longer than a
/// `Buffer` may be (`views::MAX_VIEW_BYTES`), and a tail start that is a byte offset.
pub(crate) fn window_shape(stride: f64, overlap: f64, from: Option<f64>) -> napi::Result<Shape> {
    let stride = byte_number("the window stride", stride, 1)?;
    let overlap = byte_number("the window overlap", overlap, 0)?;
    if stride + overlap > views::MAX_VIEW_BYTES {
        return Err(coded(
            "ERR_OUT_OF_RANGE",
            &format!(
                "a window of {stride} + {overlap} bytes is longer than a Buffer may be ({})",
                views::MAX_VIEW_BYTES
            ),
        ));
    }
    let from = from
        .map(|f| byte_number("the tail window's start", f, 0))
        .transpose()?;
    Ok(Shape {
        stride,
        overlap,
        from,
    })
}

/// Looks up the key in `scratch` and writes where its value is into the result slots.
/// Returns `LOCATE_ABSENT` (0) if the key has no value, `LOCATE_IN_PLACE` (1) if the value
/// can be viewed in place, and `LOCATE_COPY` (2) if it must be copied (it ends in the last,
/// still growing page of the file); the names are those of `src/scratch.rs`.
///
/// # JavaScript: `Store.get`
///
/// The value of `key`, or `undefined`. The `Buffer` views the store's memory map
/// without copying (values in the last, still growing page of the file are copied, and so
/// are a handle's first 1,024 reads of values up to 16 KiB, until a larger value is read:
/// a process that reads a few values then never maps a window of the file) and
/// stays valid after later writes, compaction and `close()`. Writing into it changes a
/// private copy of that memory in this process only: never the file, never other
/// processes; later reads of the same key in this process may see the change until the
/// file is compacted. Use {@link Store.getCopy} for a buffer of your own. A handle opened
/// with a {@link StoreOptions.valueEncoding} returns the value decoded instead.
///
/// # JavaScript: `Store.createReadStream`
///
/// A readable stream of the value of `key` as it is now, in chunks of `highWaterMark` bytes
/// (default 64 KiB) that view the store's memory without copying (chunks of a copy where
/// {@link Store.get} would return one). Errors with `ERR_KEY_NOT_FOUND` if the key has
/// no value.
#[napi]
pub fn locate(h: u32, mut scratch: BufferSlice, key_len: u32) -> napi::Result<u32> {
    let handle = registry::borrow(h)?;
    let (out, key) = split_key(&mut scratch, key_len)?;
    handle
        .store
        .locate_private(key, |found| match found {
            None => LOCATE_ABSENT,
            Some(at) => {
                put_slot(out, OUT_MAP_ID, at.map.id() as f64);
                put_slot(out, OUT_OFFSET, at.offset as f64);
                put_slot(out, OUT_LEN, at.len as f64);
                if at.offset + at.len as u64 <= at.stable_end {
                    LOCATE_IN_PLACE
                } else {
                    LOCATE_COPY
                }
            }
        })
        .or_throw()
}

/// Looks up the `count` keys staged in `staging` (as deletes, the staging format of
/// `write_batch`) and writes one record of `FOUND_SLOTS` 8-byte floats per key into `out`:
/// `FOUND_STATE`, a `LOCATE_*` result as `locate` returns it, then `FOUND_MAP_ID`,
/// `FOUND_OFFSET` and `FOUND_LEN` of its value. The lookups overlap their
/// memory latencies, so many keys are found faster than by one `locate` each.
///
/// # JavaScript: `Store.getMany`
///
/// The values of `keys`, as {@link Store.get} returns them. Faster than calling `get` for
/// each key when there are many: the lookups are made together, so that their waits for
/// memory overlap.
#[napi]
pub fn locate_many(
    h: u32,
    staging: BufferSlice,
    count: u32,
    mut out: BufferSlice,
) -> napi::Result<()> {
    let handle = registry::borrow(h)?;
    let ops = staging::parse(&staging, count)?;
    let record = FOUND_SLOTS * SLOT_BYTES;
    if out.len() < ops.len() * record {
        return Err(coded("ERR_INTERNAL", "result buffer too small"));
    }
    let keys: Vec<&[u8]> = ops.iter().map(|op| op.key()).collect();
    handle
        .store
        .locate_many_private(&keys, |i, found| {
            let slots = &mut out[i * record..(i + 1) * record];
            let Some(at) = found else {
                put_slot(slots, FOUND_STATE, LOCATE_ABSENT as f64);
                return;
            };
            let state = if at.offset + at.len as u64 <= at.stable_end {
                LOCATE_IN_PLACE
            } else {
                LOCATE_COPY
            };
            put_slot(slots, FOUND_STATE, state as f64);
            put_slot(slots, FOUND_MAP_ID, at.map.id() as f64);
            put_slot(slots, FOUND_OFFSET, at.offset as f64);
            put_slot(slots, FOUND_LEN, at.len as f64);
        })
        .or_throw()
}

/// Makes a window (an external `Buffer`) over `map` that covers `[offset, offset + len)`,
/// a range below `stable_end`: the window of `stride`-aligned start (or, for a tail, of
/// start `shape.from`) that reaches as far as the stable end allows (up to `stride +
/// overlap` bytes past the stride's start, checked by [`window_shape`]), or, for a value
/// that does not fit in it, a buffer over the value alone. Writes the window's start into
/// the `OUT_AUX` slot (checked by [`check_slots`]).
///
/// Tails exist because V8 counts an external `Buffer`'s whole length as memory it should
/// collect for: remaking a stride's window each time the file grew past it counted the
/// stride again (hundreds of megabytes) and brought on a full collection at almost every
/// such read; a tail counts only what it adds.
pub(crate) fn window_over(
    env: &Env,
    map: &Arc<PrivateMap>,
    stable_end: u64,
    scratch: &mut [u8],
    (offset, len): (u64, u64),
    shape: &Shape,
) -> napi::Result<Option<Raw>> {
    // Offsets are below 2^53 and the shape below 2^33: nothing here overflows.
    let stride_start = offset / shape.stride * shape.stride;
    let mut start = match shape.from {
        Some(from) if (stride_start..=offset).contains(&from) => from,
        _ => stride_start,
    };
    let mut end = (stride_start + shape.stride + shape.overlap).min(stable_end);
    if offset + len > end {
        start = offset;
        end = offset + len;
    }
    // `view` checks the range against the stable end again, whatever the caller did.
    match views::view(env, map, stable_end, start, end - start)? {
        View::Made(buf) => {
            put_slot(scratch, OUT_AUX, start as f64);
            Ok(Some(buf))
        }
        View::NotAllowed => {
            put_slot(scratch, OUT_AUX, WINDOW_NOT_ALLOWED);
            Ok(None)
        }
    }
}

/// After `locate` returned `LOCATE_IN_PLACE`: makes a window of the store's current private
/// mapping around the located value (a tail window from `from`, if given; see
/// `window_over`). Writes the window's start to `OUT_AUX`, or
/// `WINDOW_MOVED` (-1) if the store moved to another mapping meanwhile (locate again), or
/// `WINDOW_NOT_ALLOWED` (-2) if this runtime does not allow external buffers (copy instead).
#[napi(ts_return_type = "Buffer | null")]
pub fn window(
    env: Env,
    h: u32,
    mut scratch: BufferSlice,
    stride: f64,
    overlap: f64,
    from: Option<f64>,
) -> napi::Result<Option<Raw>> {
    check_slots(&scratch)?;
    let shape = window_shape(stride, overlap, from)?;
    let offset = byte_number("the value's offset", get_slot(&scratch, OUT_OFFSET), 0)?;
    let len = byte_number("the value's length", get_slot(&scratch, OUT_LEN), 0)?;
    let (map, stable_end) = registry::get(h)?.store.private_map().or_throw()?;
    let map_id = get_slot(&scratch, OUT_MAP_ID);
    // (Both are below 2^53: the sum does not overflow.)
    let made = if map.id() as f64 != map_id || offset + len > stable_end {
        put_slot(&mut scratch, OUT_AUX, WINDOW_MOVED);
        Ok(None)
    } else {
        window_over(&env, &map, stable_end, &mut scratch, (offset, len), &shape)
    };
    // A compaction may have switched files since `private_map`: this may be the last
    // reference to the old file's mapping, not to be unmapped here.
    views::release(map);
    made
}

/// A copy of the value of the key in `scratch`, or `undefined`.
///
/// # JavaScript: `Store.getCopy`
///
/// A copy of the value of `key` that the caller owns, or `undefined`.
#[napi(ts_return_type = "Buffer | null")]
pub fn get_copy(
    env: Env,
    h: u32,
    mut scratch: BufferSlice,
    key_len: u32,
) -> napi::Result<Option<Raw>> {
    let handle = registry::borrow(h)?;
    let (_, key) = split_key(&mut scratch, key_len)?;
    match handle
        .store
        .get_with(key, |bytes| views::copy(&env, bytes))
        .or_throw()?
    {
        Some(made) => made.map(Some),
        None => Ok(None),
    }
}

/// Whether the key in `scratch` has a value.
///
/// # JavaScript: `Store.has`
///
/// Whether `key` has a value.
#[napi]
pub fn contains(h: u32, mut scratch: BufferSlice, key_len: u32) -> napi::Result<bool> {
    let handle = registry::borrow(h)?;
    let (_, key) = split_key(&mut scratch, key_len)?;
    handle.store.contains(key).or_throw()
}

/// Number of live keys.
///
/// # JavaScript: `Store.size`
///
/// Number of live keys.
#[napi]
pub fn size(h: u32) -> napi::Result<u32> {
    let handle = registry::borrow(h)?;
    Ok(handle.store.len() as u32)
}

/// Catches a read-only store up with its writer. Returns `unchanged`, `appended` or
/// `replaced` (the writer compacted).
///
/// # JavaScript: `Store.refresh`
///
/// Read-only stores: catches up with what a writer in another process appended, or
/// follows it to the new file after it compacted. A store opened for writing (or sharing
/// an engine with a writer in this process) is always current and returns `unchanged`.
#[napi]
pub fn refresh(h: u32) -> napi::Result<String> {
    let handle = registry::get(h)?;
    Ok(match handle.store.refresh().or_throw()? {
        Refresh::Unchanged => "unchanged",
        Refresh::Appended(_) => "appended",
        Refresh::Replaced => "replaced",
    }
    .to_string())
}
