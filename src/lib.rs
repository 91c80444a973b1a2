//! The Node.js binding of simd-r-drive: thin N-API functions over the engine crate.
//!
//! The public JavaScript API (`Store`, in `lib/store.js`) is written in JavaScript on top
//! of these functions so that the hot read path costs one call with integer arguments and
//! a `subarray` of a cached window. Everything here converts arguments, maps errors and
//! schedules work on the libuv threadpool; the storage logic lives in the engine.
//!
//! The documentation of that JavaScript API lives in this file too, in sections headed
//! `# JavaScript: <name>`: a member of `Store` is documented on the native function its
//! JavaScript code calls, and the items below (types, options, constants, and members that
//! call no native function) here. `scripts/sync-docs.js` (`npm run docs`) writes these
//! sections into `index.d.ts` as its JSDoc, and `__test__/docs.test.js` fails when
//! `index.d.ts` differs from them or a member has none.
//!
//! # JavaScript: `Key`
//!
//! A key: a string (encoded as UTF-8) or bytes. 1 to `MAX_KEY_BYTES` bytes.
//!
//! A string is encoded as `Buffer.from(string)` encodes it: a lone surrogate (`'\ud800'`,
//! `'\udc00'`, ...) becomes U+FFFD (bytes `EF BF BD`), so strings that differ only in lone
//! surrogates name the same key. Name such keys with bytes to keep them apart.
//!
//! # JavaScript: `StoreErrorCode`
//!
//! The `code` of every error simd-r-drive throws or rejects with: the engine's (see
//! {@link Store}), `ERR_KEY_NOT_FOUND` (a read stream of a missing key), `ERR_OUT_OF_RANGE`
//! and `ERR_INVALID_ENV` (bad options or environment), `ERR_NATIVE_BINDING_MISSING` (no
//! native binary for this platform), `ERR_INTERNAL` (a bug: please report it).
//!
//! # JavaScript: `StoreError`
//!
//! An error of simd-r-drive: an `Error` (a `TypeError` or `RangeError` for bad arguments)
//! with a stable `code`.
//!
//! # JavaScript: `StoreError.code`
//!
//! What went wrong, stable across versions.
//!
//! # JavaScript: `isStoreError`
//!
//! Whether `err` is an error of simd-r-drive (an `Error` whose `code` is a
//! {@link StoreErrorCode}), so that `err.code` can be read without a cast.
//!
//! # JavaScript: `Value`
//!
//! A value: a string (encoded as UTF-8) or the bytes of any view. 0 to `MAX_VALUE_BYTES` bytes.
//!
//! # JavaScript: `MAX_KEY_BYTES`
//!
//! Longest key, in bytes: 65535.
//!
//! # JavaScript: `MAX_VALUE_BYTES`
//!
//! Longest value accepted from JavaScript, in bytes (just under 4 GiB).
//!
//! # JavaScript: `StoreOptions`
//!
//! How to open a store.
//!
//! # JavaScript: `StoreOptions.readOnly`
//!
//! Open without writing: takes no writer lock, so it works beside a writer in another
//! process, and sees that writer's appends after {@link Store.refresh}. Writes reject
//! with `ERR_STORE_READ_ONLY`. Default `false`.
//!
//! # JavaScript: `StoreOptions.sync`
//!
//! Make every commit durable (`fdatasync`) before its promise resolves. Commits issued
//! together share one sync. Default `false`: a resolved write has reached the operating
//! system (it survives a crash of the process, not a power loss); call
//! {@link Store.flush} for durability.
//!
//! # JavaScript: `StoreOptions.create`
//!
//! Create the file if it does not exist. Default `true`.
//!
//! # JavaScript: `StoreOptions.mode`
//!
//! Permission bits of the files a writable open creates: a new store file, its lock file
//! and other files beside it (default `0o666`, less the process's umask, as for any new
//! file: usually `0o644`). Use `0o600` for a store of secrets. An existing store keeps
//! its mode; the files that replace it (compaction, {@link Store.repair}), its index
//! checkpoint and the staging files of {@link Store.createWriteStream} get the store
//! file's own mode, owner and group. Ignored when the store is already open in this
//! process.
//!
//! # JavaScript: `StoreOptions.copyValues`
//!
//! Return copies instead of zero-copy views from reads. Also forced for the whole
//! process by `SIMD_R_DRIVE_COPY_VALUES=1`, and automatically where the runtime does not
//! allow external buffers (Electron). Default `false`.
//!
//! # JavaScript: `StoreIterator`
//!
//! An iterator that also works with `for await`.
//!
//! # JavaScript: `Store`
//!
//! An open store: one file of key → value entries with an in-memory index.
//!
//! Reads are synchronous and return `Buffer`s that view the file's memory map without
//! copying. Writes made in the same tick are committed together as one batch (one write,
//! and with `sync` one `fdatasync`). Compaction runs on the libuv threadpool.
//!
//! Errors have a stable `code`: `ERR_STORE_LOCKED`, `ERR_NOT_A_STORE`,
//! `ERR_STORE_CORRUPT`, `ERR_STORE_VERSION`, `ERR_STORE_CLOSED`, `ERR_STORE_READ_ONLY`,
//! `ERR_STORE_POISONED`, `ERR_STORE_IO`, `ERR_STORE_DISK_FULL`, `ERR_STORE_MOVED` (the store
//! file was moved, removed or replaced while open: {@link Store.compact} left the path
//! alone), `ERR_INVALID_STATE` (a write
//! from inside the read of the entries of {@link Store.putMany} or {@link Store.putManySync}), and for bad arguments `ERR_INVALID_ARG_TYPE` (a `TypeError`), `ERR_INVALID_KEY`
//! and `ERR_VALUE_TOO_LARGE` (`RangeError`s). `ERR_STORE_IO` and `ERR_STORE_DISK_FULL` errors
//! also have `errno` (negative, as Node's `SystemError`s: `-13`), `syscall`, `path` and
//! `systemCode` (`'EACCES'`).
//!
//! # JavaScript: `Store.path`
//!
//! The path the store was opened with (as given; the store itself resolved it to an
//! absolute path when it was opened, so a later `process.chdir()` changes nothing).
//!
//! # JavaScript: `Store.readOnly`
//!
//! Whether the store was opened read-only.
//!
//! # JavaScript: `Store.closed`
//!
//! Whether {@link Store.close} was called.

#![deny(clippy::all)]

mod entries;
mod errors;
mod faults;
mod registry;
mod staging;
mod views;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer, BufferSlice};
use napi::{CleanupEnvHook, Env, Task};
use napi_derive::napi;
use simd_r_drive::{PrivateMap, RangeSnapshot, Refresh};

use errors::{coded, OrThrow};
use views::{Raw, View};

/// Scratch buffer layout shared with `lib/native.js`: result slots, then the key.
const OUT_MAP_ID: usize = 0;
const OUT_OFFSET: usize = 8;
const OUT_LEN: usize = 16;
const OUT_AUX: usize = 24;
const KEY_AT: usize = 32;

thread_local! {
    /// Cleanup hooks of the handles opened on this JavaScript thread, so that a worker
    /// that ends without closing its stores still releases them.
    static HOOKS: RefCell<HashMap<u32, CleanupEnvHook<u32>>> = RefCell::new(HashMap::new());
}

fn put_f64(scratch: &mut [u8], at: usize, v: f64) {
    scratch[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_f64(scratch: &[u8], at: usize) -> f64 {
    f64::from_le_bytes(scratch[at..at + 8].try_into().expect("8 bytes"))
}

/// Largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A byte offset, length or count from JavaScript: refuses (`ERR_OUT_OF_RANGE`) numbers
/// that are not integers from `min` to `Number.MAX_SAFE_INTEGER` (NaN, infinities,
/// negative and fractional numbers), which `as u64` would silently turn into others.
fn byte_number(what: &str, v: f64, min: u64) -> napi::Result<u64> {
    if v.is_finite() && v.fract() == 0.0 && v >= min as f64 && v <= MAX_SAFE_INTEGER {
        return Ok(v as u64);
    }
    Err(coded(
        "ERR_OUT_OF_RANGE",
        &format!("{what} must be an integer from {min} to 2^53 - 1, got {v}"),
    ))
}

/// Checks that `scratch` has room for the result slots before they are read or written.
fn check_slots(scratch: &[u8]) -> napi::Result<()> {
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

/// The `stride` and `overlap` of windows, checked: a stride of at least one byte, and
/// windows no longer than a `Buffer` may be (`views::MAX_VIEW_BYTES`).
fn window_shape(stride: f64, overlap: f64) -> napi::Result<(u64, u64)> {
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
    Ok((stride, overlap))
}

/// Splits the scratch buffer into the result slots and the key of `key_len` bytes.
fn split_key(scratch: &mut [u8], key_len: u32) -> napi::Result<(&mut [u8], &[u8])> {
    let end = KEY_AT + key_len as usize;
    if scratch.len() < end {
        return Err(coded("ERR_INTERNAL", "key longer than the scratch buffer"));
    }
    let (out, rest) = scratch.split_at_mut(KEY_AT);
    Ok((out, &rest[..key_len as usize]))
}

fn register(env: &Env, id: u32) -> napi::Result<u32> {
    let hook = env.add_env_cleanup_hook(id, |id| {
        let _ = HOOKS.try_with(|h| h.borrow_mut().remove(&id));
        registry::release(id);
    });
    match hook {
        Ok(hook) => {
            HOOKS.with(|h| h.borrow_mut().insert(id, hook));
            Ok(id)
        }
        Err(e) => {
            registry::release(id);
            Err(e)
        }
    }
}

/// Opens (or creates) the store at `path` and returns a handle. Shares the engine if the
/// path is already open in this process.
///
/// # JavaScript: `Store.openSync`
///
/// Like {@link Store.open}, on the calling thread.
#[napi]
pub fn open_store(
    env: Env,
    path: String,
    read_only: bool,
    create: bool,
    fault: Option<String>,
    mode: Option<u32>,
) -> napi::Result<u32> {
    let id = registry::open(&path, read_only, create, fault.as_deref(), mode)?;
    register(&env, id)
}

/// Opening on the libuv threadpool (recovery reads the whole file).
pub struct OpenTask {
    path: String,
    read_only: bool,
    create: bool,
    fault: Option<String>,
    mode: Option<u32>,
}

impl Task for OpenTask {
    type Output = u32;
    type JsValue = u32;
    fn compute(&mut self) -> napi::Result<u32> {
        registry::open(
            &self.path,
            self.read_only,
            self.create,
            self.fault.as_deref(),
            self.mode,
        )
    }
    fn resolve(&mut self, env: Env, id: u32) -> napi::Result<u32> {
        register(&env, id)
    }
}

/// Opens the store at `path` on the libuv threadpool.
///
/// # JavaScript: `Store.open`
///
/// Opens (or creates) the store at `path`, recovering it on the libuv threadpool.
/// Opening a path that is already open in this process (in any thread) shares the one
/// open store. A second writer in another process gets `ERR_STORE_LOCKED`.
#[napi]
pub fn open_store_async(
    path: String,
    read_only: bool,
    create: bool,
    fault: Option<String>,
    mode: Option<u32>,
) -> AsyncTask<OpenTask> {
    AsyncTask::new(OpenTask {
        path,
        read_only,
        create,
        fault,
        mode,
    })
}

/// The engine's path of the store: absolute, resolved when it was opened (the path the
/// JavaScript `Store` was given may be relative to a directory that is no longer current).
/// Files the JavaScript layer puts beside the store (`.upload-*`) go beside this one.
#[napi]
pub fn store_path(h: u32) -> napi::Result<String> {
    let handle = registry::borrow(h)?;
    Ok(handle.store.path().to_string_lossy().into_owned())
}

/// Releases a handle; the engine closes when its last handle and task are gone.
///
/// # JavaScript: `Store.close`
///
/// Waits for in-flight writes, compaction and ended write streams (unfinished ones are
/// destroyed), makes everything written durable (`fdatasync`), saves the index beside a
/// store of 50,000 keys or more (`<path>.srd-index`, so that the next open need not read the
/// whole file), then closes this store. The
/// file closes when the last `Store` of this process that has it open closes. Buffers
/// returned by reads stay valid. If the sync fails, the store is closed all the same and
/// the promise rejects with that error. Calling it again returns the same promise.
#[napi]
pub fn release_store(env: Env, h: u32) {
    if let Some(hook) = HOOKS.with(|m| m.borrow_mut().remove(&h)) {
        let _ = env.remove_env_cleanup_hook(hook);
    }
    registry::release(h);
}

/// Looks up the key in `scratch` and writes where its value is into the result slots.
/// Returns 0 if the key has no value, 1 if the value can be viewed in place, and 2 if it
/// must be copied (it ends in the last, still growing page of the file).
///
/// # JavaScript: `Store.get`
///
/// The value of `key`, or `undefined`. The `Buffer` views the store's memory map
/// without copying (values in the last, still growing page of the file are copied) and
/// stays valid after later writes, compaction and `close()`. Writing into it changes a
/// private copy of that memory in this process only: never the file, never other
/// processes; later reads of the same key in this process may see the change until the
/// file is compacted. Use {@link Store.getCopy} for a buffer of your own.
///
/// # JavaScript: `Store.createReadStream`
///
/// A readable stream of the value of `key` as it is now, in zero-copy chunks of
/// `highWaterMark` bytes (default 64 KiB). Errors with `ERR_KEY_NOT_FOUND` if the key has
/// no value.
#[napi]
pub fn locate(h: u32, mut scratch: BufferSlice, key_len: u32) -> napi::Result<u32> {
    let handle = registry::borrow(h)?;
    let (out, key) = split_key(&mut scratch, key_len)?;
    handle
        .store
        .locate_private(key, |found| match found {
            None => 0,
            Some(at) => {
                put_f64(out, OUT_MAP_ID, at.map.id() as f64);
                put_f64(out, OUT_OFFSET, at.offset as f64);
                put_f64(out, OUT_LEN, at.len as f64);
                if at.offset + at.len as u64 <= at.stable_end {
                    1
                } else {
                    2
                }
            }
        })
        .or_throw()
}

/// Looks up the `count` keys staged in `staging` (as deletes, the staging format of
/// `write_batch`) and writes four numbers per key into `out` (8-byte floats): 0 if the key
/// has no value, 1 if it can be viewed in place, 2 if it must be copied (as `locate`
/// returns); then the map id, offset and length of its value. The lookups overlap their
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
    if out.len() < ops.len() * 32 {
        return Err(coded("ERR_INTERNAL", "result buffer too small"));
    }
    let keys: Vec<&[u8]> = ops.iter().map(|op| op.key()).collect();
    handle
        .store
        .locate_many_private(&keys, |i, found| {
            let slot = &mut out[i * 32..i * 32 + 32];
            let Some(at) = found else {
                put_f64(slot, 0, 0.0);
                return;
            };
            let state = if at.offset + at.len as u64 <= at.stable_end {
                1.0
            } else {
                2.0
            };
            put_f64(slot, 0, state);
            put_f64(slot, 8, at.map.id() as f64);
            put_f64(slot, 16, at.offset as f64);
            put_f64(slot, 24, at.len as f64);
        })
        .or_throw()
}

/// Makes a window (an external `Buffer`) over `map` that covers `[offset, offset + len)`,
/// a range below `stable_end`: the window of `stride`-aligned start that reaches as far as
/// the stable end allows (up to `stride + overlap` bytes, checked by [`window_shape`]), or,
/// for a value that does not fit in it, a buffer over the value alone. Writes the window's
/// start into the `OUT_AUX` slot (checked by [`check_slots`]).
fn window_over(
    env: &Env,
    map: &Arc<PrivateMap>,
    stable_end: u64,
    scratch: &mut [u8],
    (offset, len): (u64, u64),
    (stride, overlap): (u64, u64),
) -> napi::Result<Option<Raw>> {
    // Offsets are below 2^53 and the shape below 2^33: nothing here overflows.
    let mut start = offset / stride * stride;
    let mut end = (start + stride + overlap).min(stable_end);
    if offset + len > end {
        start = offset;
        end = offset + len;
    }
    // `view` checks the range against the stable end again, whatever the caller did.
    match views::view(env, map, stable_end, start, end - start)? {
        View::Made(buf) => {
            put_f64(scratch, OUT_AUX, start as f64);
            Ok(Some(buf))
        }
        View::NotAllowed => {
            put_f64(scratch, OUT_AUX, -2.0);
            Ok(None)
        }
    }
}

/// After `locate` returned 1: makes a window of the store's current private mapping
/// around the located value. Writes the window's start to `OUT_AUX`, or -1 if the store
/// moved to another mapping meanwhile (locate again), or -2 if this runtime does not allow
/// external buffers (copy instead).
#[napi(ts_return_type = "Buffer | null")]
pub fn window(
    env: Env,
    h: u32,
    mut scratch: BufferSlice,
    stride: f64,
    overlap: f64,
) -> napi::Result<Option<Raw>> {
    check_slots(&scratch)?;
    let shape = window_shape(stride, overlap)?;
    let offset = byte_number("the value's offset", get_f64(&scratch, OUT_OFFSET), 0)?;
    let len = byte_number("the value's length", get_f64(&scratch, OUT_LEN), 0)?;
    let (map, stable_end) = registry::get(h)?.store.private_map().or_throw()?;
    let map_id = get_f64(&scratch, OUT_MAP_ID);
    // (Both are below 2^53: the sum does not overflow.)
    if map.id() as f64 != map_id || offset + len > stable_end {
        put_f64(&mut scratch, OUT_AUX, -1.0);
        return Ok(None);
    }
    window_over(&env, &map, stable_end, &mut scratch, (offset, len), shape)
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

/// Whether the engine is compacting or copying a streamed value: a write made now could
/// wait for it, so JavaScript sends writes to the threadpool meanwhile.
#[napi]
pub fn busy(h: u32) -> napi::Result<bool> {
    Ok(registry::borrow(h)?.store.is_busy())
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

fn writable(handle: &registry::Handle) -> napi::Result<()> {
    if handle.read_only {
        return Err(errors::to_napi(simd_r_drive::Error::ReadOnly));
    }
    Ok(())
}

/// Commits `count` staged operations as one batch, on the calling thread, once every
/// write with a smaller `ticket` has committed. Writes, for each
/// operation, whether its key had a value before into `existed` (if given). Returns the
/// commit's sequence number.
///
/// # JavaScript: `Store.put`
///
/// Sets `key` to `value`. Puts, deletes and putMany calls made in the same tick are
/// committed as one batch. The value is copied when `put` is called.
///
/// # JavaScript: `Store.putMany`
///
/// Sets every `[key, value]` of `entries` atomically: after a crash all or none are there.
/// `entries` (an array or any iterable) is read once, when `putMany` is called, and every
/// key and value is copied then. A write on this store made from inside that read (by an
/// accessor, Proxy or iterator of `entries`) is refused with `ERR_INVALID_STATE`.
///
/// # JavaScript: `Store.delete`
///
/// Deletes `key`; resolves to whether it had a value.
///
/// # JavaScript: `Store.putSync`
///
/// Like {@link Store.put}, committed before returning (after anything staged before it).
///
/// # JavaScript: `Store.putManySync`
///
/// Like {@link Store.putMany}, committed before returning. While it reads `entries`, a
/// write on this store made from inside that read (by an accessor, Proxy or iterator of
/// `entries`) throws `ERR_INVALID_STATE`.
///
/// # JavaScript: `Store.deleteSync`
///
/// Like {@link Store.delete}, committed before returning.
#[napi]
pub fn write_batch(
    h: u32,
    ticket: f64,
    staging: BufferSlice,
    count: u32,
    existed: Option<BufferSlice>,
) -> napi::Result<f64> {
    let handle = registry::get(h)?;
    let commit = handle.in_turn(byte_number("ticket", ticket, 0)?, || {
        writable(&handle)?;
        let ops = staging::parse(&staging, count)?;
        handle.store.write(&ops).or_throw()
    })?;
    Ok(committed(&commit, existed))
}

/// Like `write_batch`, but returns -1 at once, writing nothing and leaving `ticket` unused,
/// when the engine's writer lock is taken (a compaction's final step, a streamed value, or
/// a threadpool write). The event loop uses it while a long operation runs, and hands the
/// batch to the threadpool only when it would have to wait.
#[napi]
pub fn try_write_batch(
    h: u32,
    ticket: f64,
    staging: BufferSlice,
    count: u32,
    existed: Option<BufferSlice>,
) -> napi::Result<f64> {
    let handle = registry::get(h)?;
    let ticket = byte_number("ticket", ticket, 0)?;
    let done = handle.in_turn_if(ticket, || {
        if let Err(e) = writable(&handle) {
            return Some(Err(e));
        }
        let ops = match staging::parse(&staging, count) {
            Ok(ops) => ops,
            Err(e) => return Some(Err(e)),
        };
        handle.store.try_write(&ops).or_throw().transpose()
    });
    let commit = match done {
        None => return Ok(-1.0),
        Some(c) => c?,
    };
    Ok(committed(&commit, existed))
}

/// Commits the keys and values of the flat array `entries` (`[key0, value0, key1, ...]`,
/// as `readEntries` in `lib/store.js` reads the caller's pairs into it) as one batch of Puts
/// on the calling thread, reading their bytes in place instead of from a staging buffer (see
/// `entries.rs`). Returns the commit's sequence number, or -1 when an entry is not
/// a string or `Uint8Array` key and a non-empty string or `Uint8Array` value within the
/// limits, or a `Uint8Array` key whose prototype is not one of the two given, or a key
/// over a `SharedArrayBuffer`: nothing is written then, and JavaScript stages the batch itself,
/// which reports the bad entry. Takes its turn as `ticket` in either case, once it has
/// read the array.
#[napi]
pub fn write_entries(
    h: u32,
    ticket: f64,
    entries: napi::bindgen_prelude::Unknown<'_>,
    buffer_prototype: napi::bindgen_prelude::Unknown<'_>,
    uint8_array_prototype: napi::bindgen_prelude::Unknown<'_>,
) -> napi::Result<f64> {
    use napi::JsValue;
    let handle = registry::get(h)?;
    let env = entries.value().env;
    let ticket = byte_number("ticket", ticket, 0)?;
    let pass = || handle.in_turn(ticket, || ());
    // SAFETY: `env` and `entries` belong to this call, on this thread; the handles are used
    // only below, before it returns.
    let protos = entries::Protos([buffer_prototype.raw(), uint8_array_prototype.raw()]);
    let handles = match unsafe { entries::collect(env, entries.raw()) } {
        Ok(entries::Collected::Pairs(handles)) => handles,
        Ok(entries::Collected::Irregular) => {
            pass();
            return Ok(-1.0);
        }
        Err(e) => {
            pass();
            return Err(e);
        }
    };
    let written = handle.in_turn(ticket, || {
        writable(&handle)?;
        // SAFETY: the handles came from `collect` in this call, and no JavaScript runs
        // until the batch is written and this function returns.
        unsafe { entries::write(env, &handles, protos, &handle.store) }
    })?;
    Ok(written.map_or(-1.0, |seq| seq as f64))
}

/// Writes into `existed` (when given) one byte per operation of `commit`, 1 if its key had
/// a value before, and returns the commit's sequence number for JavaScript.
fn committed(commit: &simd_r_drive::Commit, existed: Option<BufferSlice>) -> f64 {
    if let Some(mut flags) = existed {
        for (slot, e) in flags.iter_mut().zip(&commit.existed) {
            *slot = *e as u8;
        }
    }
    commit.seq as f64
}

/// A batch committed on the libuv threadpool (large batches, or while compaction runs).
pub struct WriteTask {
    handle: Arc<registry::Handle>,
    ticket: u64,
    staging: Buffer,
    count: u32,
    sync: bool,
}

impl Task for WriteTask {
    type Output = Vec<bool>;
    type JsValue = Buffer;
    fn compute(&mut self) -> napi::Result<Vec<bool>> {
        let handle = &self.handle;
        let commit = handle.in_turn(self.ticket, || {
            writable(handle)?;
            let ops = staging::parse(&self.staging, self.count)?;
            handle.store.write(&ops).or_throw()
        })?;
        if self.sync {
            self.handle.store.wait_durable(commit.seq).or_throw()?;
        }
        Ok(commit.existed)
    }
    fn resolve(&mut self, _env: Env, existed: Vec<bool>) -> napi::Result<Buffer> {
        Ok(existed
            .into_iter()
            .map(u8::from)
            .collect::<Vec<u8>>()
            .into())
    }
}

/// Commits `count` staged operations as one batch on the libuv threadpool, in ticket
/// order with the other writes of the handle; with `sync`,
/// resolves once the batch is durable. Resolves to one byte per operation: 1 if its key
/// had a value before.
/// (The JavaScript write methods, which commit through either, are documented on
/// `write_batch`.)
#[napi(ts_return_type = "Promise<Buffer>")]
pub fn write_batch_async(
    h: u32,
    ticket: f64,
    staging: Buffer,
    count: u32,
    sync: bool,
) -> napi::Result<AsyncTask<WriteTask>> {
    // A closed handle fails here, before JavaScript counts the ticket as issued.
    let handle = registry::get(h)?;
    Ok(AsyncTask::new(WriteTask {
        handle,
        ticket: byte_number("ticket", ticket, 0)?,
        staging,
        count,
        sync,
    }))
}

/// A value streamed from a staged file, committed on the libuv threadpool.
pub struct PutFileTask {
    handle: Arc<registry::Handle>,
    ticket: u64,
    key: Vec<u8>,
    file: String,
    sync: bool,
}

impl Task for PutFileTask {
    type Output = bool;
    type JsValue = bool;
    fn compute(&mut self) -> napi::Result<bool> {
        let handle = &self.handle;
        let commit = handle.in_turn(self.ticket, || {
            writable(handle)?;
            let mut f = std::fs::File::open(&self.file).map_err(|e| {
                coded(
                    "ERR_STORE_IO",
                    &format!("opening the staged value {}: {e}", self.file),
                )
            })?;
            let len = f
                .metadata()
                .map_err(|e| {
                    coded(
                        "ERR_STORE_IO",
                        &format!("reading the staged value {}: {e}", self.file),
                    )
                })?
                .len();
            handle
                .store
                .put_from_reader(&self.key, len, &mut f)
                .or_throw()
        })?;
        if self.sync {
            handle.store.wait_durable(commit.seq).or_throw()?;
        }
        Ok(commit.existed[0])
    }
    fn resolve(&mut self, _env: Env, existed: bool) -> napi::Result<bool> {
        Ok(existed)
    }
}

/// Sets `key` to the contents of the staged file `file` without loading it into memory,
/// in ticket order with the handle's other writes. Resolves to whether the key had a value.
///
/// # JavaScript: `Store.createWriteStream`
///
/// A writable stream whose bytes become the value of `key` when it finishes, without
/// holding the value in memory (it is staged in `<path>.upload-*` beside the store). The
/// value appears atomically once the stream has finished (the 'finish' event), in order
/// with the store's other writes; if the stream fails or is destroyed, nothing is
/// written. A `destroy()` after `end()` that comes while the value is being committed
/// waits for the commit: the stream then emits 'finish' (the value is written, and the
/// error given to `destroy()` is not emitted) or, if the commit failed, 'error'. Values are
/// limited to 4 GiB - 1 bytes by the format.
#[napi(ts_return_type = "Promise<boolean>")]
pub fn put_file(
    h: u32,
    ticket: f64,
    key: Buffer,
    file: String,
    sync: bool,
) -> napi::Result<AsyncTask<PutFileTask>> {
    Ok(AsyncTask::new(PutFileTask {
        handle: registry::get(h)?,
        ticket: byte_number("ticket", ticket, 0)?,
        key: key.to_vec(),
        file,
        sync,
    }))
}

/// What a [`DurableTask`] waits for.
enum Durable {
    /// Commit `seq` is durable.
    Commit(u64),
    /// Everything committed so far is durable.
    All,
    /// As `All`, then the index checkpoint is saved if one is due.
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
            Durable::Checkpoint => store.checkpoint().map(drop).or_throw(),
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

/// What a compaction did.
#[napi(object)]
pub struct CompactResult {
    /// File bytes in use before.
    pub bytes_before: f64,
    /// File bytes in use after.
    pub bytes_after: f64,
    /// Bytes reclaimed.
    pub reclaimed_bytes: f64,
    /// Live entries copied.
    pub entries: f64,
    /// Entries written by others while the compaction ran, copied at the end.
    pub tail_entries: f64,
    /// How long writers were held up at the end, in milliseconds.
    pub writer_pause_ms: f64,
    /// Total time taken, in milliseconds.
    pub duration_ms: f64,
}

/// Compaction on the libuv threadpool.
pub struct CompactTask {
    handle: Arc<registry::Handle>,
}

impl Task for CompactTask {
    type Output = simd_r_drive::CompactionReport;
    type JsValue = CompactResult;
    fn compute(&mut self) -> napi::Result<Self::Output> {
        self.handle.store.compact().or_throw()
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
/// `ERR_STORE_READ_ONLY` on a read-only store.
#[napi(ts_return_type = "Promise<CompactResult>")]
pub fn compact(h: u32) -> napi::Result<AsyncTask<CompactTask>> {
    let handle = registry::get(h)?;
    writable(&handle)?;
    Ok(AsyncTask::new(CompactTask { handle }))
}

/// What recovery did when the store's file was opened.
#[napi(object)]
pub struct RecoveryReport {
    /// The open created the store file.
    pub created: bool,
    /// Entries read back from the log (of all complete batches; when the index checkpoint
    /// was used, only of those written after it).
    pub entries: f64,
    /// Bytes after the last complete batch that the open left aside (a writer dropped them).
    pub dropped_tail_bytes: f64,
    /// Why those bytes were left aside, if there were any.
    #[napi(
        ts_type = "'a batch without its commit marker' | 'a partial entry header' | 'an entry longer than the rest of the file' | 'an entry checksum mismatch' | 'a malformed commit record' | 'a malformed sync mark' | 'a tombstone with a value' | 'an empty key' | 'an unknown entry kind' | 'unknown entry flags' | 'damage in data written after the last sync (a power loss can write such data back out of order)'"
    )]
    pub tail_reason: Option<String>,
    /// Where a writer saved the bytes it dropped when valid entries followed damage in
    /// unsynced data (a power loss): a store image that `Store.repair` turns into a store
    /// of the entries that still verify.
    pub saved_tail: Option<String>,
    /// Offset of that damage, for writable and read-only opens alike.
    pub unsynced_damage_at: Option<f64>,
    /// Keys read from the index checkpoint `<store>.srd-index` that the last `close()` saved
    /// (stores of 50,000 keys or more), when it matched the file: the open then read only
    /// the log written after it, and did not re-verify the checksums of the entries before
    /// it (`Store.verify` does). Absent when the whole log was read.
    pub checkpoint_keys: Option<f64>,
}

/// What recovery did when the engine opened the file.
///
/// # JavaScript: `Store.recovery`
///
/// What recovery did when this store's file was opened (by the first `Store` of this
/// process that opened it): entries read, bytes of an unfinished or torn tail left aside
/// and why, after damage in unsynced data (a power loss) where the dropped bytes were
/// saved (`savedTail`, a store image for `Store.repair`), and how many keys came from the
/// index checkpoint that `close()` saved (`checkpointKeys`).
#[napi]
pub fn recovery(h: u32) -> napi::Result<RecoveryReport> {
    let handle = registry::borrow(h)?;
    let r = handle.store.recovery();
    Ok(RecoveryReport {
        created: r.created,
        entries: r.entries as f64,
        dropped_tail_bytes: r.dropped_tail_bytes as f64,
        tail_reason: r.tail_reason.map(str::to_owned),
        saved_tail: r
            .saved_tail
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        unsynced_damage_at: r.unsynced_damage_at.map(|o| o as f64),
        checkpoint_keys: r.checkpoint_keys.map(|k| k as f64),
    })
}

/// Sizes and counts of a store.
#[napi(object)]
pub struct StoreStats {
    /// Live keys.
    pub entries: f64,
    /// Bytes of the store file in use (header and every entry, live or not).
    pub file_bytes: f64,
    /// Bytes of the live entries.
    pub live_bytes: f64,
    /// Bytes that compaction would reclaim.
    pub reclaimable_bytes: f64,
    /// Heap bytes held by the in-memory index.
    pub index_bytes: f64,
    /// How many times compaction replaced the file since the engine was opened.
    pub generation: f64,
    /// Sequence number of the latest commit.
    pub seq: f64,
    /// Sequence number up to which commits are known to be durable.
    pub durable_seq: f64,
    /// The SIMD kernel in use for checksums: `avx2`, `sse2`, `neon` or `scalar`.
    #[napi(ts_type = "'avx2' | 'sse2' | 'neon' | 'scalar'")]
    pub kernel: String,
}

/// Sizes and counts.
///
/// # JavaScript: `Store.stats`
///
/// Sizes and counts.
#[napi]
pub fn stats(h: u32) -> napi::Result<StoreStats> {
    let handle = registry::borrow(h)?;
    let s = handle.store.stats();
    Ok(StoreStats {
        entries: s.entries as f64,
        file_bytes: s.file_bytes as f64,
        live_bytes: s.live_bytes as f64,
        reclaimable_bytes: s.reclaimable_bytes as f64,
        index_bytes: s.index_bytes as f64,
        generation: s.generation as f64,
        seq: s.seq as f64,
        durable_seq: handle.store.durable_seq() as f64,
        kernel: format!("{:?}", simd_r_drive::simd::selected()).to_lowercase(),
    })
}

/// What a verification checked.
#[napi(object)]
pub struct VerifyResult {
    /// Entries whose checksums were checked (commit records included).
    pub entries: f64,
    /// Bytes of the file checked.
    pub bytes: f64,
}

/// Verification on the libuv threadpool.
pub struct VerifyTask {
    handle: Arc<registry::Handle>,
}

impl Task for VerifyTask {
    type Output = simd_r_drive::VerifyReport;
    type JsValue = VerifyResult;
    fn compute(&mut self) -> napi::Result<Self::Output> {
        self.handle.store.verify().or_throw()
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
/// meanwhile). Rejects with `ERR_STORE_CORRUPT` naming the first bad offset.
#[napi(ts_return_type = "Promise<VerifyResult>")]
pub fn verify(h: u32) -> napi::Result<AsyncTask<VerifyTask>> {
    Ok(AsyncTask::new(VerifyTask {
        handle: registry::get(h)?,
    }))
}

/// What a repair did.
#[napi(object)]
pub struct RepairResult {
    /// Entries that verified and were kept.
    pub entries_kept: f64,
    /// Live keys in the repaired store.
    pub live_keys: f64,
    /// Damaged byte ranges `[start, end)` that were skipped.
    #[napi(ts_type = "Array<[start: number, end: number]>")]
    pub skipped: Vec<Vec<f64>>,
    /// Bytes of unfinished tail dropped.
    pub dropped_tail_bytes: f64,
    /// Where the damaged original was kept (`<path>.damaged`), if anything was skipped.
    pub backup: Option<String>,
}

/// Repair on the libuv threadpool.
pub struct RepairTask {
    path: String,
}

impl Task for RepairTask {
    type Output = simd_r_drive::RepairReport;
    type JsValue = RepairResult;
    fn compute(&mut self) -> napi::Result<Self::Output> {
        simd_r_drive::repair(&self.path, &simd_r_drive::StoreOptions::new()).or_throw()
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
/// never touched.
#[napi(ts_return_type = "Promise<RepairResult>")]
pub fn repair(path: String) -> AsyncTask<RepairTask> {
    AsyncTask::new(RepairTask { path })
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

/// A point-in-time list of live entries, for iteration.
#[napi]
pub struct Snapshot {
    inner: RangeSnapshot,
    next: usize,
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
        inner: handle.store.snapshot_ranges().or_throw()?,
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

    /// Writes up to `out.length / 32` entries as `(keyOffset, keyLength, valueOffset,
    /// valueLength)` doubles into `out` and returns how many it wrote (0 at the end).
    #[napi]
    pub fn next_batch(&mut self, mut out: BufferSlice) -> u32 {
        let room = out.len() / 32;
        let take = room.min(self.inner.entries.len() - self.next);
        for (i, e) in self.inner.entries[self.next..self.next + take]
            .iter()
            .enumerate()
        {
            let at = i * 32;
            put_f64(&mut out, at, e.key.0 as f64);
            put_f64(&mut out, at + 8, e.key.1 as f64);
            put_f64(&mut out, at + 16, e.value.0 as f64);
            put_f64(&mut out, at + 24, e.value.1 as f64);
        }
        self.next += take;
        take as u32
    }

    /// A window over the snapshot's mapping covering `[offset, offset + len)` (see
    /// `window`), its start written to the `OUT_AUX` slot of `scratch`; `undefined` if the
    /// range must be copied (`OUT_AUX` is -1) or external buffers are not allowed (-2).
    #[napi(ts_return_type = "Buffer | null")]
    pub fn window(
        &self,
        env: Env,
        mut scratch: BufferSlice,
        offset: f64,
        len: f64,
        stride: f64,
        overlap: f64,
    ) -> napi::Result<Option<Raw>> {
        check_slots(&scratch)?;
        let offset = byte_number("the offset", offset, 0)?;
        let len = byte_number("the length", len, 0)?;
        let shape = window_shape(stride, overlap)?;
        // (Both are below 2^53: the sum does not overflow.)
        if offset + len > self.inner.stable_end {
            put_f64(&mut scratch, OUT_AUX, -1.0);
            return Ok(None);
        }
        let map = &self.inner.map;
        window_over(
            &env,
            map,
            self.inner.stable_end,
            &mut scratch,
            (offset, len),
            shape,
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

/// The SIMD kernel in use for checksums (`avx2`, `sse2`, `neon` or `scalar`).
///
/// # JavaScript: `kernel`
///
/// The SIMD kernel the checksums use on this CPU: `avx2`, `sse2`, `neon` or `scalar`.
#[napi(ts_return_type = "'avx2' | 'sse2' | 'neon' | 'scalar'")]
pub fn kernel() -> String {
    format!("{:?}", simd_r_drive::simd::selected()).to_lowercase()
}
