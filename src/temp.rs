//! Temporary stores (`Store.temp`, `lib/temp.js`): the directory of one is removed when its
//! engine closes (the registry's [`registry::mark_temporary`]) or the process exits.

use std::path::PathBuf;

use napi_derive::napi;

use crate::registry;

/// Makes the store of handle `h` temporary: `dir` is removed once the engine has closed,
/// when the last handle of its path in this process (in any thread) is released.
///
/// # JavaScript: `Store.temp`
///
/// Opens a fresh, empty store in the OS temporary directory
/// (`<os.tmpdir()>/simd-r-drive-temp-<pid>-<start>-<random>/store`, the directory mode
/// `0o700`), for tests: its directory is removed when the last handle of its path in this
/// process closes (other `Store.open`s of {@link Store.path}, in any thread, keep it; a
/// worker that ends releases its handles), or when the process exits (an `'exit'`
/// handler), closed or not. What a process killed meanwhile (`kill -9`) left behind is
/// removed by a later `Store.temp` once that process is gone (its pid and start time name
/// it, so a live process's store, or a new process that got the same pid, is never taken
/// for it). Buffers read from it stay valid after it is removed on Unix (an unlinked file
/// stays readable while mapped); on Windows a mapped file cannot be deleted, and what was
/// left is removed by a later `Store.temp`. `close()` does not sync a temporary store. Takes
/// the options of {@link Store.open} but `readOnly` and `create` (`ERR_INVALID_ARG_VALUE`).
#[napi]
pub fn mark_temporary(h: u32, dir: String) -> napi::Result<()> {
    registry::mark_temporary(h, PathBuf::from(dir))
}

/// Removes the directory of every temporary store of this process, open or not: called as
/// the process exits. Returns how many were removed.
#[napi]
pub fn remove_temporaries() -> u32 {
    registry::remove_temporaries()
}
