//! Buffers handed to JavaScript: zero-copy views of a private mapping, or copies.

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;

use napi::bindgen_prelude::{ToNapiValue, TypeName, ValueType};
use napi::{sys, Env};
use simd_r_drive::PrivateMap;

/// A JavaScript value made with raw N-API calls, returned as is.
pub struct Raw(sys::napi_value);

impl ToNapiValue for Raw {
    unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        Ok(val.0)
    }
}

impl TypeName for Raw {
    fn type_name() -> &'static str {
        "Buffer"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

unsafe extern "C" fn release_mapping(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the `Box<Arc<PrivateMap>>` leaked in `view` for this buffer, and
    // N-API calls this finalizer exactly once, after the buffer is gone.
    let map = unsafe { Box::from_raw(hint.cast::<Arc<PrivateMap>>()) };
    release(*map);
}

/// Drops `map`, a reference to a mapping held on the JavaScript thread: the last one
/// (its store moved to another file meanwhile) goes to a thread of its own. Unmapping
/// hundreds of megabytes of touched pages takes milliseconds, and the unmap that closes a
/// replaced file's last reference frees its blocks (with a synchronous discard on some
/// file systems, such as ext4 mounted with `discard`: a hundred milliseconds and more per
/// GB, seen here on the thread that unlinked such a file).
pub fn release(map: Arc<PrivateMap>) {
    if Arc::strong_count(&map) == 1 {
        let _ = std::thread::Builder::new()
            .name("simd-r-drive-unmap".into())
            .spawn(move || {
                crate::background::lower_priority();
                drop(map)
            });
    }
}

/// What [`view`] made.
pub enum View {
    /// An external `Buffer` over the mapping.
    Made(Raw),
    /// This runtime forbids external buffers (Electron's memory cage): copy instead.
    NotAllowed,
}

/// Longest external `Buffer` this makes: `buffer.constants.MAX_LENGTH` of Node 20 on 64-bit
/// systems (2^32; later versions allow more). N-API refuses a longer one only after it has
/// taken the finalizer (Node runs or schedules it at once), so the length is checked first.
pub const MAX_VIEW_BYTES: u64 = 1 << 32;

/// `[start, start + len)` as a pointer range inside `map`, if it lies below `end` (which
/// must not pass the end of the file) and inside the mapping.
fn inside(map: &PrivateMap, end: u64, start: u64, len: u64) -> napi::Result<*mut u8> {
    match start.checked_add(len) {
        Some(stop) if stop <= end && stop <= map.len() as u64 => {
            // SAFETY: `start <= stop <= map.len()`, so the result points into the mapping
            // or one past its end.
            Ok(unsafe { map.as_ptr().add(start as usize) })
        }
        _ => Err(crate::errors::coded(
            "ERR_OUT_OF_RANGE",
            &format!("bytes {start} + {len} are not inside the store's data (it ends at {end})"),
        )),
    }
}

/// An external `Buffer` over bytes `[start, start + len)` of `map`, which keeps the
/// mapping alive until JavaScript collects the buffer.
///
/// `stable_end` must be a stable end the engine reported for `map` (completely written
/// pages inside the file, which never change), so that JavaScript may read and write the
/// range; a range that does not lie below it, or is longer than [`MAX_VIEW_BYTES`], is
/// refused with `ERR_OUT_OF_RANGE`.
pub fn view(
    env: &Env,
    map: &Arc<PrivateMap>,
    stable_end: u64,
    start: u64,
    len: u64,
) -> napi::Result<View> {
    let at = inside(map, stable_end, start, len)?;
    if len > MAX_VIEW_BYTES {
        return Err(crate::errors::coded(
            "ERR_OUT_OF_RANGE",
            &format!("a view of {len} bytes is longer than a Buffer may be ({MAX_VIEW_BYTES})"),
        ));
    }
    let hint = Box::into_raw(Box::new(map.clone()));
    let mut out = ptr::null_mut();
    // SAFETY: the range is inside the mapping and below the stable end (checked above), and
    // the mapping stays mapped while the buffer lives: the finalizer drops the `Arc` it
    // owns only after the buffer is collected. Writes from JavaScript land in private
    // copy-on-write pages. `len` fits in `usize`: it is below the mapping's length.
    let status = unsafe {
        sys::napi_create_external_buffer(
            env.raw(),
            len as usize,
            at.cast(),
            Some(release_mapping),
            hint.cast(),
            &mut out,
        )
    };
    if status == sys::Status::napi_ok {
        return Ok(View::Made(Raw(out)));
    }
    if status == sys::Status::napi_no_external_buffers_allowed {
        // SAFETY: Node returns this status before it creates the finalizer, so the
        // finalizer never runs and the hint is still ours.
        drop(unsafe { Box::from_raw(hint) });
        return Ok(View::NotAllowed);
    }
    // Any other failure may come after Node took the finalizer (it runs or schedules it
    // when it refuses the length): the hint is not ours to free any more. At worst it
    // leaks, keeping the mapping mapped; freeing it could unmap it under live views.
    Err(crate::errors::coded(
        "ERR_INTERNAL",
        &format!("napi_create_external_buffer failed with status {status}"),
    ))
}

/// A new JavaScript-owned `Buffer` holding a copy of `[start, start + len)` of `map`, which
/// must lie below `end`, the end of the committed data the engine reported for `map`
/// (`ERR_OUT_OF_RANGE` otherwise).
///
/// The bytes are copied with a raw pointer copy, never through a Rust slice: pages of the
/// range below a stable end may be windows that JavaScript (in any thread of this process)
/// is writing into.
pub fn copy_mapped(
    env: &Env,
    map: &Arc<PrivateMap>,
    end: u64,
    start: u64,
    len: u64,
) -> napi::Result<Raw> {
    let at = inside(map, end, start, len)?;
    // SAFETY: the range is inside the mapping and below the end of the file's data
    // (checked above), so every byte of it is readable while `map` is borrowed.
    unsafe { copy_raw(env, at, len as usize) }
}

/// A new JavaScript-owned `Buffer` holding a copy of `bytes`.
pub fn copy(env: &Env, bytes: &[u8]) -> napi::Result<Raw> {
    // SAFETY: `bytes` is valid for reads of its length for the duration of the call.
    unsafe { copy_raw(env, bytes.as_ptr(), bytes.len()) }
}

/// A new JavaScript-owned `Buffer` of `len` bytes copied from `src`.
///
/// # Safety
///
/// `src` must be valid for reads of `len` bytes for the duration of the call.
unsafe fn copy_raw(env: &Env, src: *const u8, len: usize) -> napi::Result<Raw> {
    let mut out = ptr::null_mut();
    let mut data = ptr::null_mut();
    // SAFETY: plain allocation of a new buffer; `data` and `out` are valid out-pointers.
    let status = unsafe { sys::napi_create_buffer(env.raw(), len, &mut data, &mut out) };
    if status != sys::Status::napi_ok {
        return Err(crate::errors::coded(
            "ERR_INTERNAL",
            &format!("napi_create_buffer of {len} bytes failed with status {status}"),
        ));
    }
    if len > 0 {
        // SAFETY: `data` is the new buffer's memory, `len` bytes that nothing else can see
        // yet; the caller guarantees `src` is readable for `len` bytes; the two cannot
        // overlap, since the buffer was just allocated.
        unsafe { ptr::copy_nonoverlapping(src, data.cast::<u8>(), len) };
    }
    Ok(Raw(out))
}
