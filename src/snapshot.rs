//! Point-in-time snapshots of the live entries, for iteration.

use napi::bindgen_prelude::BufferSlice;
use napi::Env;
use napi_derive::napi;
use simd_r_drive::RangeSnapshot;

use crate::errors::OrThrow;
use crate::read::{window_over, window_shape};
use crate::registry;
use crate::scratch::{
    byte_number, check_slots, put_slot, ENTRY_KEY_LEN, ENTRY_KEY_OFFSET, ENTRY_SLOTS,
    ENTRY_VALUE_LEN, ENTRY_VALUE_OFFSET, OUT_AUX, SLOT_BYTES, WINDOW_MOVED,
};
use crate::views::{self, Raw};

/// A point-in-time list of live entries, for iteration.
#[napi]
pub struct Snapshot {
    inner: std::mem::ManuallyDrop<RangeSnapshot>,
    next: usize,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // SAFETY: `inner` is taken once, here, and never used again.
        let inner = unsafe { std::mem::ManuallyDrop::take(&mut self.inner) };
        // Collected on the JavaScript thread: the mapping of a replaced file, if this was
        // its last reference, is released on a thread of its own.
        views::release(inner.map);
    }
}

/// Takes a snapshot of the live entries of a store.
///
/// # JavaScript: `Store.keys`
///
/// The live keys, from a snapshot taken when iteration starts (zero-copy).
///
/// # JavaScript: `Store.values`
///
/// The live values, from a snapshot taken when iteration starts (zero-copy).
///
/// # JavaScript: `Store.entries`
///
/// The live `[key, value]` pairs, from a snapshot taken when iteration starts.
///
/// # JavaScript: `Store[Symbol.iterator]`
///
/// Same as {@link Store.entries}.
#[napi]
pub fn snapshot(h: u32) -> napi::Result<Snapshot> {
    let handle = registry::get(h)?;
    Ok(Snapshot {
        inner: std::mem::ManuallyDrop::new(handle.store.snapshot_ranges().or_throw()?),
        next: 0,
    })
}

#[napi]
impl Snapshot {
    /// Identity of the mapping the entries point into.
    #[napi(getter)]
    pub fn map_id(&self) -> f64 {
        self.inner.map.id() as f64
    }

    /// Entries in the snapshot.
    #[napi(getter)]
    pub fn length(&self) -> u32 {
        self.inner.entries.len() as u32
    }

    /// Writes up to `out.length / 32` entries of `ENTRY_SLOTS` doubles into `out`
    /// (`ENTRY_KEY_OFFSET`, `ENTRY_KEY_LEN`, `ENTRY_VALUE_OFFSET`, `ENTRY_VALUE_LEN`) and
    /// returns how many it wrote (0 at the end).
    #[napi]
    pub fn next_batch(&mut self, mut out: BufferSlice) -> u32 {
        let room = out.len() / (ENTRY_SLOTS * SLOT_BYTES);
        let take = room.min(self.inner.entries.len() - self.next);
        for (i, e) in self.inner.entries[self.next..self.next + take]
            .iter()
            .enumerate()
        {
            let at = i * ENTRY_SLOTS;
            put_slot(&mut out, at + ENTRY_KEY_OFFSET, e.key.0 as f64);
            put_slot(&mut out, at + ENTRY_KEY_LEN, e.key.1 as f64);
            put_slot(&mut out, at + ENTRY_VALUE_OFFSET, e.value.0 as f64);
            put_slot(&mut out, at + ENTRY_VALUE_LEN, e.value.1 as f64);
        }
        self.next += take;
        take as u32
    }

    /// A window over the snapshot's mapping covering `[offset, offset + len)` (see
    /// `window`; a tail from `from`, if given), its start written to the `OUT_AUX` slot of `scratch`; `undefined` if the
    /// range must be copied (`OUT_AUX` is `WINDOW_MOVED`) or external buffers are not allowed
    /// (`WINDOW_NOT_ALLOWED`).
    #[napi(ts_return_type = "Buffer | null")]
    #[allow(clippy::too_many_arguments)] // each is one argument of the JavaScript method
    pub fn window(
        &self,
        env: Env,
        mut scratch: BufferSlice,
        offset: f64,
        len: f64,
        stride: f64,
        overlap: f64,
        from: Option<f64>,
    ) -> napi::Result<Option<Raw>> {
        check_slots(&scratch)?;
        let offset = byte_number("the offset", offset, 0)?;
        let len = byte_number("the length", len, 0)?;
        let shape = window_shape(stride, overlap, from)?;
        // (Both are below 2^53: the sum does not overflow.)
        if offset + len > self.inner.stable_end {
            put_slot(&mut scratch, OUT_AUX, WINDOW_MOVED);
            return Ok(None);
        }
        let map = &self.inner.map;
        window_over(
            &env,
            map,
            self.inner.stable_end,
            &mut scratch,
            (offset, len),
            &shape,
        )
    }

    /// A copy of `[offset, offset + len)` of the snapshot's file, a range below the end of
    /// its data when the snapshot was taken (`ERR_OUT_OF_RANGE` otherwise).
    #[napi(ts_return_type = "Buffer")]
    pub fn copy(&self, env: Env, offset: f64, len: f64) -> napi::Result<Raw> {
        let offset = byte_number("the offset", offset, 0)?;
        let len = byte_number("the length", len, 0)?;
        views::copy_mapped(&env, &self.inner.map, self.inner.end, offset, len)
    }
}
