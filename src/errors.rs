//! Engine errors to JavaScript errors, in one place.
//!
//! The native layer throws a plain `Error` whose message starts with the engine's stable
//! code in brackets (`[ERR_STORE_LOCKED] ...`); `lib/errors.js` turns it into an `Error`
//! with that `code` property (and a `TypeError`/`RangeError` where Node would throw one).
//! Codes come from [`simd_r_drive::Error::code`] and are never renamed.

use napi::{Error as NapiError, Status};

/// Converts an engine error to the error the native functions throw.
pub fn to_napi(err: simd_r_drive::Error) -> NapiError {
    coded(err.code(), &err.to_string())
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
