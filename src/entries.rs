//! `putManySync`'s direct path: the `[key, value]` pairs of a JavaScript array become engine
//! operations without the staging copy that `put` makes.
//!
//! It runs in two phases, so that the bytes it borrows stay valid:
//!
//! 1. [`collect`] takes each key and value handle from the flat array that `lib/store.js`
//!    read the caller's entries into (the caller's accessors ran there, once each). Nothing
//!    is read from a value yet.
//! 2. [`extract`] reads the bytes: strings are encoded into an arena, and `Uint8Array`s
//!    (`Buffer`s) are borrowed where they are. None of the calls it makes runs JavaScript,
//!    and the caller writes the batch before it returns to JavaScript, so no buffer can be
//!    detached or changed by this thread in between. Keys in a `SharedArrayBuffer`, which
//!    another thread can write at any time, are left to the staged path, which copies them.
//!
//! A large batch is read by this thread and written by a second one at once: [`write`] hands
//! the entries over in chunks to [`Store::write_each`], which writes the batch while the rest
//! is read, so that reading and writing overlap.
//!
//! Anything that is not the common case (a key or value of another type, an empty value, a key or value over the limits) makes the call report
//! [`Collected::Irregular`]: JavaScript then stages the batch itself, which checks every
//! entry and throws the same errors as `putMany`.

use std::ffi::c_char;
use std::ptr;

use napi::sys;
use simd_r_drive::{Op, Store};

use crate::errors::OrThrow;

/// Batches of at least this many entries are read and written at once, by two threads.
const PIPELINE_MIN: usize = 4096;
/// Entries read per handover to the writing thread.
const CHUNK: usize = 8192;

/// Longest key, in bytes.
const MAX_KEY: usize = u16::MAX as usize;
/// Longest value `put` accepts (`MAX_VALUE_BYTES` in `lib/store.js`, on 64-bit Node).
const MAX_VALUE: usize = u32::MAX as usize - MAX_KEY - 8;
/// Room tried first for a string's UTF-8 bytes; longer strings are measured first.
const FIRST_TRY: usize = 256;
/// A truncated UTF-8 write leaves at most this many bytes of its buffer unused (V8 never
/// writes part of a character, and a character takes at most 4 bytes).
const MAX_CHAR: usize = 4;

/// `Buffer.prototype` and `Uint8Array.prototype`, from JavaScript.
#[derive(Clone, Copy)]
pub struct Protos(pub [sys::napi_value; 2]);

/// The result of phase 1.
pub enum Collected {
    /// Key and value handles, two per entry.
    Pairs(Vec<sys::napi_value>),
    /// An entry JavaScript must check itself.
    Irregular,
}

/// Where one key or value's bytes are.
#[derive(Clone, Copy)]
enum Bytes {
    /// `len` bytes at `start` in the arena.
    Arena { start: usize, len: usize },
    /// `len` bytes of a JavaScript buffer.
    Borrowed { ptr: *const u8, len: usize },
}

/// The result of phase 2: every entry's key and value bytes.
pub struct Extracted {
    arena: Vec<u8>,
    pairs: Vec<(Bytes, Bytes)>,
}

fn check(env: sys::napi_env, status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        return Ok(());
    }
    let mut pending = false;
    // SAFETY: `env` is the environment of the call running on this thread.
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if pending {
        // An accessor threw: that exception is what the caller sees.
        return Err(napi::Error::new(
            napi::Status::PendingException,
            "an entry threw while it was read",
        ));
    }
    Err(napi::Error::new(
        napi::Status::GenericFailure,
        format!("reading putManySync's entries failed (N-API status {status})"),
    ))
}

/// Phase 1: the key and value handles of `flat`, the plain array `[key0, value0, key1,
/// value1, ...]` that `lib/store.js` reads the caller's entries into (each once, where the
/// caller's accessors run). Reading its elements runs no JavaScript.
///
/// # Safety
/// `env` and `flat` are the environment and an argument of the native call running on this
/// thread, and the returned handles are used only before that call returns.
pub unsafe fn collect(env: sys::napi_env, flat: sys::napi_value) -> napi::Result<Collected> {
    // SAFETY (all calls below): `env` and every handle passed are live in the current call
    // (the caller's contract).
    let Some(len) = (unsafe { array_len(env, flat) })? else {
        return Ok(Collected::Irregular);
    };
    if len % 2 != 0 {
        return Ok(Collected::Irregular);
    }
    let mut handles = Vec::with_capacity(len as usize);
    for i in 0..len {
        let item = unsafe { element(env, flat, i) }?;
        // A key or value of a type the direct path never takes ends the read here.
        if !unsafe { readable_type(env, item)? } {
            return Ok(Collected::Irregular);
        }
        handles.push(item);
    }
    Ok(Collected::Pairs(handles))
}

/// The length of `value` if it is an `Array`. Runs no JavaScript.
///
/// # Safety
/// `value` is live in the current call on this thread.
unsafe fn array_len(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Option<u32>> {
    let mut is_array = false;
    // SAFETY: `env` and `value` are live (the caller's contract); out-pointers are locals.
    check(env, unsafe {
        sys::napi_is_array(env, value, &mut is_array)
    })?;
    if !is_array {
        return Ok(None);
    }
    let mut len = 0u32;
    check(env, unsafe {
        sys::napi_get_array_length(env, value, &mut len)
    })?;
    Ok(Some(len))
}

/// Element `i` of `object`. Runs JavaScript only if `object` has an accessor there (the
/// flat array of [`collect`] has none).
///
/// # Safety
/// `object` is live in the current call on this thread.
unsafe fn element(
    env: sys::napi_env,
    object: sys::napi_value,
    i: u32,
) -> napi::Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: `env` and `object` are live (the caller's contract); the out-pointer is a local.
    check(env, unsafe {
        sys::napi_get_element(env, object, i, &mut out)
    })?;
    Ok(out)
}

/// Whether `value` is a string or an object: the types phase 2 may take (it checks the
/// rest: a `Uint8Array` with the right prototype over a plain buffer, the lengths). Runs no
/// JavaScript.
///
/// # Safety
/// `value` is live in the current call on this thread.
unsafe fn readable_type(env: sys::napi_env, value: sys::napi_value) -> napi::Result<bool> {
    let mut ty = 0;
    // SAFETY: `env` and `value` are live (the caller's contract); the out-pointer is a local.
    check(env, unsafe { sys::napi_typeof(env, value, &mut ty) })?;
    Ok(ty == sys::ValueType::napi_string || ty == sys::ValueType::napi_object)
}

/// Phase 2: the bytes of every key and value that phase 1 collected. Runs no JavaScript.
/// `None` if an entry is irregular.
///
/// A typed-array key is taken only if its prototype is one of `protos` (`Buffer.prototype`
/// and `Uint8Array.prototype`): anything else, such as a `Uint8Array` of another realm,
/// goes to the staged path, which decides with `instanceof`. Keys in a
/// `SharedArrayBuffer` are left to the staged path too.
///
/// # Safety
/// As for [`collect`], and `handles` came from it in the same call. The borrowed bytes stay
/// valid only until JavaScript runs again: the caller must be done with [`Extracted::ops`]
/// before it returns.
pub unsafe fn extract(
    env: sys::napi_env,
    handles: &[sys::napi_value],
    protos: Protos,
) -> napi::Result<Option<Extracted>> {
    let mut out = Extracted {
        arena: Vec::new(),
        pairs: Vec::with_capacity(handles.len() / 2),
    };
    for pair in handles.chunks_exact(2) {
        // SAFETY: the caller's contract covers the handles.
        let key = unsafe { out.bytes_of(env, pair[0], MAX_KEY, Some(protos)) }?;
        let value = unsafe { out.bytes_of(env, pair[1], MAX_VALUE, None) }?;
        match (key, value) {
            (Some(k), Some(v)) if len(k) > 0 && len(v) > 0 => out.pairs.push((k, v)),
            // An empty key is an error, and an empty view may be detached (an error too):
            // JavaScript tells them apart.
            _ => return Ok(None),
        }
    }
    Ok(Some(out))
}

fn len(b: Bytes) -> usize {
    match b {
        Bytes::Arena { len, .. } | Bytes::Borrowed { len, .. } => len,
    }
}

impl Extracted {
    /// The bytes of a string (encoded as UTF-8 into the arena) or of a `Uint8Array` over a
    /// plain `ArrayBuffer` (borrowed), whose prototype is one of `protos` if given; `None`
    /// for anything else or for more than `max` bytes.
    ///
    /// # Safety
    /// `value` is live in the current call on this thread.
    unsafe fn bytes_of(
        &mut self,
        env: sys::napi_env,
        value: sys::napi_value,
        max: usize,
        protos: Option<Protos>,
    ) -> napi::Result<Option<Bytes>> {
        let mut ty = 0;
        // SAFETY (this and the calls below): `env` and `value` are live (the caller's
        // contract); out-pointers point to locals or to reserved arena room.
        check(env, unsafe { sys::napi_typeof(env, value, &mut ty) })?;
        if ty == sys::ValueType::napi_string {
            let start = self.arena.len();
            self.arena.reserve(FIRST_TRY);
            let mut n = 0usize;
            // (Node passes the size on to V8 as an `int`.)
            let room = (self.arena.capacity() - start).min(i32::MAX as usize);
            check(env, unsafe {
                sys::napi_get_value_string_utf8(
                    env,
                    value,
                    self.arena.as_mut_ptr().add(start) as *mut c_char,
                    room,
                    &mut n,
                )
            })?;
            if n + MAX_CHAR >= room {
                // Possibly cut short: measure, then encode it whole.
                check(env, unsafe {
                    sys::napi_get_value_string_utf8(env, value, ptr::null_mut(), 0, &mut n)
                })?;
                if n > max {
                    return Ok(None);
                }
                self.arena.reserve(n + 1);
                check(env, unsafe {
                    sys::napi_get_value_string_utf8(
                        env,
                        value,
                        self.arena.as_mut_ptr().add(start) as *mut c_char,
                        n + 1,
                        &mut n,
                    )
                })?;
            }
            if n > max {
                return Ok(None);
            }
            // SAFETY: the call above initialised `n` bytes at `start`, within capacity.
            unsafe { self.arena.set_len(start + n) };
            return Ok(Some(Bytes::Arena { start, len: n }));
        }
        let mut is_typed = false;
        check(env, unsafe {
            sys::napi_is_typedarray(env, value, &mut is_typed)
        })?;
        if !is_typed {
            return Ok(None);
        }
        let mut kind = 0;
        let mut n = 0usize;
        let mut data = ptr::null_mut();
        let mut buffer = ptr::null_mut();
        // The buffer is looked up for keys only (below): a handle per value costs W1 time.
        let buffer_out = if protos.is_some() {
            &mut buffer as *mut sys::napi_value
        } else {
            ptr::null_mut()
        };
        check(env, unsafe {
            sys::napi_get_typedarray_info(
                env,
                value,
                &mut kind,
                &mut n,
                &mut data,
                buffer_out,
                ptr::null_mut(),
            )
        })?;
        if kind != sys::TypedarrayType::uint8_array || n > max || data.is_null() {
            return Ok(None);
        }
        if let Some(Protos(protos)) = protos {
            // Keys only. A key in a `SharedArrayBuffer` is left to the staged path, which
            // copies it: another thread may write it while it is read, and the engine reads
            // a key twice (to hash it and to copy it). A value is read once, into the
            // entry that its checksum covers, so a racing write there leaves a consistent
            // entry (as the staged path's copy would).
            let mut plain = false;
            check(env, unsafe {
                sys::napi_is_arraybuffer(env, buffer, &mut plain)
            })?;
            if !plain {
                return Ok(None);
            }
            // The staged path takes any view as a value, but only an
            // `instanceof Uint8Array` as a key.
            let mut proto = ptr::null_mut();
            check(env, unsafe {
                sys::napi_get_prototype(env, value, &mut proto)
            })?;
            let mut known = false;
            for p in protos {
                check(env, unsafe {
                    sys::napi_strict_equals(env, proto, p, &mut known)
                })?;
                if known {
                    break;
                }
            }
            if !known {
                return Ok(None);
            }
        }
        Ok(Some(Bytes::Borrowed {
            ptr: data as *const u8,
            len: n,
        }))
    }

    /// One Put per entry, in order.
    ///
    /// # Safety
    /// No JavaScript has run since [`extract`] returned this, and the operations are used
    /// only before the native call that made it returns.
    pub unsafe fn ops(&self) -> Vec<Op<'_>> {
        let slice = |b: Bytes| -> &[u8] {
            match b {
                Bytes::Arena { start, len } => &self.arena[start..start + len],
                // SAFETY: `ptr` is the data of a `Uint8Array` of `len` bytes over a plain
                // (not shared) `ArrayBuffer`, still reachable from a handle of this call.
                // Without JavaScript running it can be neither detached, freed nor written
                // (the caller's contract). Asking for the data moved an on-heap typed array's
                // bytes off the heap, and a garbage collection does not move an array
                // buffer's data.
                Bytes::Borrowed { ptr, len } => unsafe { std::slice::from_raw_parts(ptr, len) },
            }
        };
        self.pairs
            .iter()
            .map(|&(k, v)| Op::Put {
                key: slice(k),
                value: slice(v),
            })
            .collect()
    }
}

/// Phase 2 and the write: reads the bytes of the pairs in `handles` (from [`collect`]) and
/// commits them to `store` as one batch of Puts. Returns the commit's sequence number, or
/// `None` (nothing written) if an entry is irregular.
///
/// # Safety
/// As for [`extract`]: the handles came from [`collect`] in the current call, and no
/// JavaScript runs until this returns.
pub unsafe fn write(
    env: sys::napi_env,
    handles: &[sys::napi_value],
    protos: Protos,
    store: &Store,
) -> napi::Result<Option<u64>> {
    let count = handles.len() / 2;
    if count >= PIPELINE_MIN {
        // SAFETY: the caller's contract.
        if let Some(done) = unsafe { write_pipelined(env, handles, protos, store) } {
            return done;
        }
    }
    // SAFETY: the caller's contract.
    let Some(x) = (unsafe { extract(env, handles, protos) })? else {
        return Ok(None);
    };
    // SAFETY: no JavaScript runs before `ops` is dropped (the caller's contract).
    let ops = unsafe { x.ops() };
    Ok(Some(store.write(&ops).or_throw()?.seq))
}

/// Entries read by this thread, handed to the writing thread.
struct Chunk(Extracted);

// SAFETY: a chunk holds bytes it owns and pointers into JavaScript buffers. Those stay
// valid and unchanged by this process's JavaScript until the native call that made the
// chunk returns (the contract of `extract`), and that call waits for the writing thread
// (a scoped thread) before it returns; the writing thread only reads them.
unsafe impl Send for Chunk {}

/// [`write`] on two threads; `None` if no second thread could be started.
///
/// # Safety
/// As for [`write`].
unsafe fn write_pipelined(
    env: sys::napi_env,
    handles: &[sys::napi_value],
    protos: Protos,
    store: &Store,
) -> Option<napi::Result<Option<u64>>> {
    let count = handles.len() / 2;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(2);
        let writer = std::thread::Builder::new()
            .name("simd-r-drive putManySync".into())
            .spawn_scoped(scope, move || {
                store.write_each(count, |batch| {
                    for chunk in rx {
                        // SAFETY: see `Chunk`: the JavaScript buffers are neither changed
                        // nor freed until the native call returns, which is after this.
                        for op in unsafe { chunk.0.ops() } {
                            batch.push(op)?;
                        }
                    }
                    Ok(())
                })
            })
            .ok()?;
        let mut failed = None;
        let mut irregular = false;
        for part in handles.chunks(2 * CHUNK) {
            // SAFETY: the caller's contract.
            match unsafe { extract(env, part, protos) } {
                Ok(Some(x)) => {
                    if tx.send(Chunk(x)).is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Ok(None) => {
                    irregular = true;
                    break;
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        // A short batch is given up by the writer, with nothing committed.
        drop(tx);
        let written = writer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        Some(match (failed, irregular) {
            (Some(e), _) => Err(e),
            (None, true) => Ok(None),
            (None, false) => written.or_throw().map(|c| Some(c.seq)),
        })
    })
}
