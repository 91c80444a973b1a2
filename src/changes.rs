//! The change feed and commit notifications for JavaScript: thin wrappers over the
//! engine's `ChangeReader`, `Store::cursor` and `Store::watch` (`lib/changes.js` builds
//! `store.changes()` and the `'change'` events on them).
//!
//! A read writes its parts into a buffer of `f64` records of `CHANGE_SLOTS` slots: a part
//! record `[PART, changes, more, 0, 0]` followed by that many change records
//! `[kind, keyOffset, keyLength, valueOffset, valueLength]` (kind `PUT` or `DELETE`);
//! the byte ranges are turned into `Buffer`s by `window` and `copy` as a snapshot's are.
//!
//! # JavaScript: `Cursor`
//!
//! A position in a store's history, as a string (52 ASCII characters; treat it as opaque,
//! store it as it is). It names the store file (the random generation identifier in its
//! header, see FORMAT.md) and the end of a committed batch, and stays valid across close
//! and reopen until the store is compacted or repaired; after that it is refused with
//! `ERR_CURSOR_EXPIRED`. A malformed cursor is a `RangeError` with code
//! `ERR_INVALID_CURSOR`.
//!
//! # JavaScript: `Change`
//!
//! One put or delete of a committed batch. `value` is `undefined` for a delete; for a put
//! it is a `Buffer` like those `get` returns (zero-copy, valid after later writes,
//! compaction and close).
//!
//! # JavaScript: `Change.type`
//!
//! `'put'` (the key was set to `value`), `'delete'`, `'expire'` (the expiry sweep removed
//! the key, whose value had expired), `'evict'` (the writer's size limit, `maxBytes`,
//! evicted the key) or `'clear'` (every key was removed; `key` is empty).
//!
//! # JavaScript: `Change.key`
//!
//! The key, as a `Buffer`.
//!
//! # JavaScript: `Change.value`
//!
//! The value of a put; `undefined` for a delete.
//!
//! # JavaScript: `ChangeBatch`
//!
//! One committed batch of a change feed (or of a `'change'` event): its changes in the
//! order they were written, and the cursor after it. A batch of more than 1,024 changes or
//! 16 MiB of keys and values comes in several items, all but the last with `more: true`;
//! their `cursor` is the one before the batch, so that resuming from any of them replays
//! the whole batch. Apply the items up to the one without `more` as one batch.
//!
//! # JavaScript: `ChangeBatch.cursor`
//!
//! Where to resume after this item: `changes({ since: cursor })` starts with the next
//! batch (for an item with `more`, with this batch again, whole).
//!
//! # JavaScript: `ChangeBatch.more`
//!
//! More items of the same batch follow (a batch larger than one item).
//!
//! # JavaScript: `ChangeBatch.changes`
//!
//! The batch's puts and deletes, in the order they were written.
//!
//! # JavaScript: `StoreEvents`
//!
//! The events of a {@link Store} (an `EventEmitter`). Listeners are called from the event
//! loop after the commits they tell of, in commit order; nothing is watched, and writes
//! cost nothing extra, while no `'change'` or `'replaced'` listener is registered.
//! Listeners do not keep the process alive. A listener that throws does not keep the
//! other listeners from the event, nor the store from its writes: its error surfaces as
//! an uncaught exception (`process.on('uncaughtException')`), as an emitter's error in an
//! I/O callback does.
//!
//! # JavaScript: `StoreEvents.change`
//!
//! After each commit: what the batch changed, as a {@link ChangeBatch} (the same items
//! {@link Store.changes} returns). Every `Store` of the engine hears it, in any thread of
//! the process, and a read-only store that follows a writer in another process (see
//! `StoreOptions.follow`) hears the writer's commits.
//!
//! # JavaScript: `StoreEvents.replaced`
//!
//! The store file was replaced: compacted (by this process or, for a read-only store, by
//! the writer it follows), or another file was put at the path. The events go on from
//! `cursor`, the present of the new file; what changed between is not told key by key:
//! a replica reads `changes()` from the start again.
//!
//! # JavaScript: `StoreEvents.error`
//!
//! A read-only store that follows its writer could not catch up (the file went away, or
//! was damaged); it tries again at the next notification. Without an `'error'` listener
//! such failures are not reported (and do not throw).
//!
//! # JavaScript: `ChangesOptions`
//!
//! What {@link Store.changes} reads.
//!
//! # JavaScript: `ChangesOptions.since`
//!
//! Start after this cursor (from a {@link ChangeBatch} or {@link Store.cursor}). Default:
//! the oldest change still in the log (after a compaction, every live key once).
//!
//! # JavaScript: `ChangesOptions.live`
//!
//! After the present, wait for new commits instead of ending. Default `false`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{BufferSlice, Function};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::Env;
use napi_derive::napi;
use simd_r_drive::{ChangeKind, ChangeLimits, ChangeRead, ChangeReader, Cursor};

use crate::errors::OrThrow;
use crate::read::{window_over, window_shape};
use crate::registry;
use crate::scratch::{byte_number, check_slots, put_slot, OUT_AUX, SLOT_BYTES, WINDOW_MOVED};
use crate::views::{self, Raw};

/// Slots per record of a read (`CHANGE_SLOTS` in `lib/changes.js`).
const CHANGE_SLOTS: usize = 5;
/// Record kinds (the first slot).
const PART: f64 = 0.0;
const PUT: f64 = 1.0;
const DELETE: f64 = 2.0;
const CLEAR: f64 = 3.0;
/// An expiry record's change.
const EXPIRE: f64 = 5.0;
const EVICT: f64 = 4.0;

/// The limits of one read, and so the size of the buffer it needs: one part record per
/// change at most, plus one.
const LIMITS: ChangeLimits = ChangeLimits {
    changes: 1024,
    bytes: 16 << 20,
};

/// Bytes of the buffer a read writes into (`CHANGE_BUFFER_BYTES` in `lib/changes.js`).
const BUFFER_BYTES: usize = (2 * LIMITS.changes + 1) * CHANGE_SLOTS * SLOT_BYTES;

/// A change feed of one store handle.
#[napi]
pub struct ChangeFeed {
    h: u32,
    reader: ChangeReader,
    last: Option<ChangeRead>,
}

fn parse(since: Option<String>) -> napi::Result<Option<Cursor>> {
    since.map(|s| Cursor::parse(&s)).transpose().or_throw()
}

/// Opens a change feed after `since` (a cursor), or from the oldest change in the log.
///
/// # JavaScript: `Store.changes`
///
/// The committed batches, in commit order, as an async iterator of {@link ChangeBatch}es:
/// from `since` (or the oldest change in the log) to the present, then, with `live`, each
/// new commit as it happens (in-process commits wake it at once; a read-only store sees a
/// writer in another process as it follows it, see `StoreOptions.follow`). A batch that is
/// not committed is never returned. A slow consumer holds at most one item (1,024 changes
/// or 16 MiB of keys and values) besides what it keeps; values are views of the memory map.
/// `break` (or `return()`) releases everything. A live feed keeps the process running
/// while it waits, as a socket would.
///
/// After the store was compacted (by this process or the writer a read-only store
/// follows), or with a cursor of another store, the iterator fails with
/// `ERR_CURSOR_EXPIRED`: clear the replica and read `changes()` again without `since` (the
/// compacted log holds every live key once, so it rebuilds the state exactly).
#[napi]
pub fn changes_open(h: u32, since: Option<String>) -> napi::Result<ChangeFeed> {
    let since = parse(since)?;
    let handle = registry::borrow(h)?;
    let reader = handle.store.changes(since).or_throw()?;
    Ok(ChangeFeed {
        h,
        reader,
        last: None,
    })
}

/// The cursor of the present.
///
/// # JavaScript: `Store.cursor`
///
/// The {@link Cursor} of the present: a feed started from it returns the batches
/// committed after this call.
#[napi]
pub fn store_cursor(h: u32) -> napi::Result<String> {
    let handle = registry::borrow(h)?;
    Ok(handle.store.cursor().or_throw()?.encode())
}

/// Checks a cursor's text form (`ERR_INVALID_CURSOR` otherwise).
#[napi]
pub fn check_cursor(cursor: String) -> napi::Result<()> {
    Cursor::parse(&cursor).or_throw().map(|_| ())
}

#[napi]
impl ChangeFeed {
    /// Bytes of the buffer `read` needs.
    #[napi(getter)]
    pub fn buffer_bytes(&self) -> u32 {
        BUFFER_BYTES as u32
    }

    /// Where the feed stands: the cursor after the last batch read whole.
    #[napi(getter)]
    pub fn position(&self) -> String {
        self.reader.cursor().encode()
    }

    /// Reads the next committed batches into `out` (see the module docs) and returns how
    /// many records it wrote (0 at the end of the committed data). The cursors of the parts
    /// are then `cursor(i)`.
    #[napi]
    pub fn read(&mut self, mut out: BufferSlice) -> napi::Result<u32> {
        if out.len() < BUFFER_BYTES {
            return Err(crate::errors::coded(
                "ERR_INVALID_ARG_VALUE",
                &format!("the change buffer must have {BUFFER_BYTES} bytes"),
            ));
        }
        let handle = registry::borrow(self.h)?;
        let read = self.reader.read(&handle.store, LIMITS).or_throw()?;
        drop(handle);
        let mut at = 0;
        for part in &read.parts {
            put_slot(&mut out, at, PART);
            put_slot(&mut out, at + 1, part.changes.len() as f64);
            put_slot(&mut out, at + 2, if part.more { 1.0 } else { 0.0 });
            put_slot(&mut out, at + 3, 0.0);
            put_slot(&mut out, at + 4, 0.0);
            at += CHANGE_SLOTS;
            for c in &part.changes {
                let kind = match c.kind {
                    ChangeKind::Put => PUT,
                    ChangeKind::Delete => DELETE,
                    ChangeKind::Clear => CLEAR,
                    ChangeKind::Expire => EXPIRE,
                    ChangeKind::Evict => EVICT,
                };
                put_slot(&mut out, at, kind);
                put_slot(&mut out, at + 1, c.key.0 as f64);
                put_slot(&mut out, at + 2, c.key.1 as f64);
                put_slot(&mut out, at + 3, c.value.0 as f64);
                put_slot(&mut out, at + 4, c.value.1 as f64);
                at += CHANGE_SLOTS;
            }
        }
        let records = at / CHANGE_SLOTS;
        self.last = Some(read);
        Ok(records as u32)
    }

    /// The cursor of part `i` of the last read.
    #[napi]
    pub fn cursor(&self, i: u32) -> Option<String> {
        let read = self.last.as_ref()?;
        read.parts.get(i as usize).map(|p| p.cursor.encode())
    }

    /// Identity of the mapping the last read's ranges point into (-1 before a read).
    #[napi(getter)]
    pub fn map_id(&self) -> f64 {
        self.last.as_ref().map_or(-1.0, |r| r.map.id() as f64)
    }

    /// A window over the last read's mapping covering `[offset, offset + len)`, as
    /// `Snapshot.window` makes one.
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
        let Some(read) = self.last.as_ref() else {
            put_slot(&mut scratch, OUT_AUX, WINDOW_MOVED);
            return Ok(None);
        };
        if offset + len > read.stable_end {
            put_slot(&mut scratch, OUT_AUX, WINDOW_MOVED);
            return Ok(None);
        }
        window_over(
            &env,
            &read.map,
            read.stable_end,
            &mut scratch,
            (offset, len),
            &shape,
        )
    }

    /// A copy of `[offset, offset + len)` of the last read's file (`ERR_OUT_OF_RANGE`
    /// unless it lies below the end of the data that read saw).
    #[napi(ts_return_type = "Buffer")]
    pub fn copy(&self, env: Env, offset: f64, len: f64) -> napi::Result<Raw> {
        let offset = byte_number("the offset", offset, 0)?;
        let len = byte_number("the length", len, 0)?;
        let Some(read) = self.last.as_ref() else {
            return Err(crate::errors::coded(
                "ERR_OUT_OF_RANGE",
                "nothing was read yet",
            ));
        };
        views::copy_mapped(&env, &read.map, read.end, offset, len)
    }

    /// Lets go of the last read's mapping.
    #[napi]
    pub fn release(&mut self) {
        self.last = None;
    }
}

/// Calls `wake` (with no arguments, on this JavaScript thread) after commits of the store
/// of handle `h`, compactions, and refreshes of a read-only store that found something;
/// commits made before `wake` has run are told once. Does not keep the event loop alive.
/// Returns an id for `unwatch_changes`.
#[napi]
pub fn watch_changes(h: u32, wake: Function<(), ()>) -> napi::Result<f64> {
    let handle = registry::get(h)?;
    let pending = Arc::new(AtomicBool::new(false));
    let clear = pending.clone();
    let tsfn = wake
        .build_threadsafe_function::<()>()
        .weak::<true>()
        .callee_handled::<false>()
        .build_callback(move |_| {
            clear.store(false, Ordering::Release);
            Ok(())
        })?;
    let id = handle.store.watch(Arc::new(move || {
        // Commits while a call is queued are covered by it: JavaScript reads all there is.
        if !pending.swap(true, Ordering::AcqRel) {
            tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }));
    Ok(id as f64)
}

/// Stops the calls of `watch_changes` that returned `id`.
#[napi]
pub fn unwatch_changes(h: u32, id: f64) -> napi::Result<()> {
    let handle = registry::get(h)?;
    handle.store.unwatch(id as u64);
    Ok(())
}
