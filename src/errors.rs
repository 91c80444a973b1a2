//! Engine errors to JavaScript errors, in one place.
//!
//! The native layer throws a plain `Error` whose message starts with the engine's stable
//! code in brackets (`[ERR_STORE_LOCKED] ...`, with the operating system's detail of an
//! I/O error after the code: see [`to_napi`]); `fromNative` in `lib/errors.js` turns it
//! into a plain `Error` with that `code` property. (The `TypeError`s and `RangeError`s of
//! bad arguments are made by the JavaScript layer itself, before any native call.)
//! Codes come from [`simd_r_drive::Error::code`] and are never renamed.

use napi::{Error as NapiError, Status};

/// Converts an engine error to the error the native functions throw. An I/O error also
/// carries what the operating system said, as `[CODE|{"errno":13,"syscall":"open",
/// "path":"..."}] message`: ASCII JSON without brackets, which `lib/errors.js` turns into
/// the `errno`, `syscall`, `path` and `systemCode` properties of the JavaScript error.
pub fn to_napi(err: simd_r_drive::Error) -> NapiError {
    let details = match (err.raw_os_error(), err.syscall(), err.path()) {
        (Some(errno), Some(syscall), Some(path)) => format!(
            "|{{\"errno\":{errno},\"syscall\":{},\"path\":{}}}",
            json_string(syscall),
            json_string(&path.to_string_lossy())
        ),
        _ => String::new(),
    };
    NapiError::new(
        Status::GenericFailure,
        format!("[{}{details}] {err}", err.code()),
    )
}

/// `s` as a JSON string of ASCII characters only, with `[` and `]` escaped too, so that
/// the details never end the bracketed prefix early.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for unit in s.encode_utf16() {
        match unit {
            0x22 => out.push_str("\\\""),
            0x5c => out.push_str("\\\\"),
            0x20..=0x7e if unit != 0x5b && unit != 0x5d => out.push(unit as u8 as char),
            _ => out.push_str(&format!("\\u{unit:04x}")),
        }
    }
    out.push('"');
    out
}

/// An error carrying `code`, for conditions found by the binding itself.
pub fn coded(code: &str, message: &str) -> NapiError {
    NapiError::new(Status::GenericFailure, format!("[{code}] {message}"))
}

/// The store handle is closed or was never valid.
pub fn closed() -> NapiError {
    to_napi(simd_r_drive::Error::Closed)
}

/// Shorthand for results of engine calls.
pub trait OrThrow<T> {
    /// Maps the engine error with [`to_napi`].
    fn or_throw(self) -> napi::Result<T>;
}

impl<T> OrThrow<T> for simd_r_drive::Result<T> {
    fn or_throw(self) -> napi::Result<T> {
        self.map_err(to_napi)
    }
}
