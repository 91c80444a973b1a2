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
//! native binary for this platform), `ERR_INTERNAL` (a bug: please report it), and
//! `ABORT_ERR` (an `AbortError`: a long operation stopped by its `signal`, see
//! {@link LongOptions}).
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
//! process, and follows that writer's appends and compactions by itself (see `follow`), or
//! after {@link Store.refresh}. Writes reject
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
//! and delta files and the staging files of {@link Store.createWriteStream} get the store
//! file's own mode, owner and group. Ignored when the store is already open in this
//! process.
//!
//! # JavaScript: `StoreOptions.verify`
//!
//! What the open verifies, and when (see the README, "What an open checks"). `'full'`: the
//! open reads the whole log and checks every entry's checksum before it returns, as a store
//! without an index file does (time in proportion to the store's size). `'onRead'`: the open
//! checks in constant time that the index file belongs to this log; each entry of up to 64 KiB
//! is verified on its first read (a damaged one fails that read with `ERR_STORE_CORRUPT`),
//! and the rest by {@link Store.verify}. `'background'`: as `'onRead'`, and a thread at idle
//! I/O priority verifies what the index file covers and this file's generation has not
//! verified yet. Default `'background'` for writable stores, `'onRead'` for read-only ones.
//! Ignored when the store is already open in this process.
//!
//! # JavaScript: `StoreOptions.follow`
//!
//! Read-only stores: follow the writer by themselves, as if {@link Store.refresh} were
//! called whenever the writer commits or compacts, emitting `'change'` (and `'replaced'`)
//! events and waking live {@link Store.changes} feeds. `'watch'`: a file-system
//! notification on the store's directory (inotify, FSEvents, ...) with a check every
//! second behind it for notifications that never come; where watching fails, as
//! `'poll'`. `'poll'`: a check every 100 ms. `false`: only {@link Store.refresh}. Default
//! `'watch'` for read-only stores; ignored for writable ones. Neither keeps the process
//! alive; `close()` stops it.
//!
//! # JavaScript: `StoreOptions.lockTimeout`
//!
//! Milliseconds to wait for another writer (in another process) to release the store
//! before failing with `ERR_STORE_LOCKED`, whose message then names the wait. The open
//! retries in growing steps of 5 to 100 ms, on the libuv threadpool for
//! {@link Store.open} (on the calling thread for {@link Store.openSync}). Default: fail at
//! once.
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
//! alone), `ERR_EXISTS` (the path given to {@link Store.backup} exists), `ERR_CURSOR_EXPIRED`
//! (a cursor of {@link Store.changes} from before a compaction, or of another store),
//! `ERR_INVALID_STATE` (a write
//! from inside the read of the entries of {@link Store.putMany} or {@link Store.putManySync},
//! or from inside a transaction's callback, and a transaction object used after its
//! transaction ended), and for bad arguments `ERR_INVALID_ARG_TYPE` (a `TypeError`), `ERR_INVALID_KEY`,
//! `ERR_VALUE_TOO_LARGE` and `ERR_INVALID_CURSOR` (`RangeError`s). `ERR_STORE_IO` and `ERR_STORE_DISK_FULL` errors
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

mod background;
pub mod backup;
pub mod changes;
pub mod conditional;
mod entries;
mod errors;
pub mod expiry;
mod faults;
mod js_docs;
mod js_sub_docs;
pub mod limit;
mod pieces;
pub mod progress;
pub mod read;
mod registry;
pub mod reports;
mod scratch;
pub mod snapshot;
mod staging;
pub mod tasks;
pub mod temp;
mod views;
pub mod write;

use std::cell::RefCell;
use std::collections::HashMap;

use napi::bindgen_prelude::AsyncTask;
use napi::{CleanupEnvHook, Env, Task};
use napi_derive::napi;

thread_local! {
    /// Cleanup hooks of the handles opened on this JavaScript thread, so that a worker
    /// that ends without closing its stores still releases them.
    static HOOKS: RefCell<HashMap<u32, CleanupEnvHook<u32>>> = RefCell::new(HashMap::new());
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
// One argument per open option, as JavaScript passes them.
#[allow(clippy::too_many_arguments)]
#[napi]
pub fn open_store(
    env: Env,
    path: String,
    read_only: bool,
    create: bool,
    fault: Option<String>,
    mode: Option<u32>,
    verify: Option<String>,
    lock_timeout: Option<u32>,
) -> napi::Result<u32> {
    let verify = registry::Verify::parse(verify.as_deref())?;
    let id = registry::open(
        &path,
        read_only,
        create,
        fault.as_deref(),
        mode,
        verify,
        lock_timeout,
    )?;
    register(&env, id)
}

/// Opening on the libuv threadpool (an open without an index file reads the whole log).
pub struct OpenTask {
    path: String,
    read_only: bool,
    create: bool,
    fault: Option<String>,
    mode: Option<u32>,
    verify: registry::Verify,
    lock_timeout: Option<u32>,
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
            self.verify,
            self.lock_timeout,
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
/// open store. A second writer in another process gets `ERR_STORE_LOCKED`, at once or,
/// with `lockTimeout`, once that wait is over (the wait runs on the threadpool).
#[napi]
pub fn open_store_async(
    path: String,
    read_only: bool,
    create: bool,
    fault: Option<String>,
    mode: Option<u32>,
    verify: Option<String>,
    lock_timeout: Option<u32>,
) -> napi::Result<AsyncTask<OpenTask>> {
    Ok(AsyncTask::new(OpenTask {
        path,
        read_only,
        create,
        fault,
        mode,
        verify: registry::Verify::parse(verify.as_deref())?,
        lock_timeout,
    }))
}

/// The engine's path of the store: absolute, resolved when it was opened (the path the
/// JavaScript `Store` was given may be relative to a directory that is no longer current).
/// Files the JavaScript layer puts beside the store (`.upload-*`) go beside this one.
#[napi]
pub fn store_path(h: u32) -> napi::Result<String> {
    let handle = registry::borrow(h)?;
    Ok(handle.store.path().to_string_lossy().into_owned())
}

/// The prefix of the files where `createWriteStream` stages a value (`<path>.upload-`, from
/// the engine, which removes a crashed writer's leftovers): the JavaScript layer appends a
/// name unique to its process and thread.
#[napi]
pub fn upload_prefix(h: u32) -> napi::Result<String> {
    let handle = registry::borrow(h)?;
    Ok(handle.store.upload_prefix().to_string_lossy().into_owned())
}

/// Releases a handle; the engine closes when its last handle and task are gone.
///
/// # JavaScript: `Store.close`
///
/// Waits for in-flight writes, a `compact()` and ended write streams (unfinished ones are
/// destroyed; an automatic compaction in flight is abandoned instead, leaving the old file
/// the store and removing its temporary file), makes everything written durable (`fdatasync`), saves what changed since
/// the index file of a store of 50,000 keys or more (`<path>.srd-index`; the number is the
/// engine's default `StoreOptions::checkpoint_min_keys`) as a delta file `<path>.srd-delta`,
/// or merges it into a new index file when much changed, so that the next open reads
/// neither the whole file nor what changed (it costs what changed, not the store's size),
/// then closes this store. The
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

/// The SIMD kernel in use for checksums (`avx2`, `sse2`, `neon` or `scalar`).
///
/// # JavaScript: `kernel`
///
/// The SIMD kernel the checksums use on this CPU: `avx2`, `sse2`, `neon` or `scalar`.
#[napi(ts_return_type = "'avx2' | 'sse2' | 'neon' | 'scalar'")]
pub fn kernel() -> String {
    format!("{:?}", simd_r_drive::simd::selected()).to_lowercase()
}
