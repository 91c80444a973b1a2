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
    if Arc::strong_count(&map) == 1 {
        // The last view of a mapping: unmapping hundreds of megabytes of touched pages
        // takes milliseconds, so it happens off the JavaScript thread.
        let _ = std::thread::Builder::new()
            .name("simd-r-drive-unmap".into())
            .spawn(move || drop(map));
    }
}

/// What [`view`] made.
pub enum View {
    /// An external `Buffer` over the mapping.
    Made(Raw),
    /// This runtime forbids external buffers (Electron's memory cage): copy instead.
    NotAllowed,
}

/// An external `Buffer` over bytes `[start, start + len)` of `map`, which keeps the
/// mapping alive until JavaScript collects the buffer.
///
/// The caller guarantees that the range lies below a stable end the engine reported for
/// `map` (completely written pages inside the file), so JavaScript may read and write it.
pub fn view(env: &Env, map: &Arc<PrivateMap>, start: u64, len: usize) -> napi::Result<View> {
    assert!(start as usize + len <= map.len(), "view out of the mapping");
    let hint = Box::into_raw(Box::new(map.clone()));
    let mut out = ptr::null_mut();
    // SAFETY: the range is inside the mapping (asserted above) and the mapping stays
    // mapped while the buffer lives: the finalizer drops the `Arc` it owns only after
    // the buffer is collected. Writes from JavaScript land in private copy-on-write pages.
    let status = unsafe {
        sys::napi_create_external_buffer(
            env.raw(),
            len,
            map.as_ptr().add(start as usize).cast(),
            Some(release_mapping),
            hint.cast(),
            &mut out,
        )
    };
    if status == sys::Status::napi_ok {
        return Ok(View::Made(Raw(out)));
    }
    // SAFETY: the buffer was not made, so the finalizer will never run: reclaim the hint.
    drop(unsafe { Box::from_raw(hint) });
    if status == sys::Status::napi_no_external_buffers_allowed {
        return Ok(View::NotAllowed);
    }
    Err(crate::errors::coded(
        "ERR_INTERNAL",
        &format!("napi_create_external_buffer failed with status {status}"),
    ))
}

/// A new JavaScript-owned `Buffer` holding a copy of `bytes`.
pub fn copy(env: &Env, bytes: &[u8]) -> napi::Result<Raw> {
    let mut out = ptr::null_mut();
    let mut data = ptr::null_mut();
    // SAFETY: `bytes` is valid for reads of its length for the duration of the call.
    let status = unsafe {
        sys::napi_create_buffer_copy(
            env.raw(),
            bytes.len(),
            bytes.as_ptr().cast(),
            &mut data,
            &mut out,
        )
    };
    if status != sys::Status::napi_ok {
        return Err(crate::errors::coded(
            "ERR_INTERNAL",
            &format!("napi_create_buffer_copy failed with status {status}"),
        ));
    }
    Ok(Raw(out))
}
