//! Operating-system file locks: one writer per store, readers marked with a shared lock.
//!
//! The writer holds an exclusive lock on a small side file, `<store>.lock`, for as long as
//! it has the store open. The lock is not on the store file itself because compaction
//! replaces the store file with a new one; a lock on the side file is unaffected. The
//! locks are `flock`-style, held per open file description, so a second open of the same
//! store in the same process conflicts just as one in another process does.
//!
//! A read-only store holds a shared lock on the store file it has mapped, which keeps
//! [`crate::repair`] (which needs the file to itself) from running under it.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Path of the writer's lock file for the store at `path`.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    with_suffix(path, ".lock")
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Takes the writer lock of the store at `path`, or fails with [`Error::Locked`].
pub(crate) fn acquire_writer(path: &Path) -> Result<File> {
    let lp = lock_path(path);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lp)
        .map_err(|e| Error::io("opening the lock file", &lp, e))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(TryLockError::WouldBlock) => Err(Error::Locked {
            path: path.to_path_buf(),
        }),
        Err(TryLockError::Error(e)) => Err(Error::io("locking", &lp, e)),
    }
}

/// Takes a shared lock on an open store file, or fails with [`Error::Locked`] when
/// something holds it exclusively (a repair).
pub(crate) fn acquire_shared(file: &File, path: &Path) -> Result<()> {
    // A writer holds the file exclusively only for a moment (while it trims its tail); a
    // repair holds it for its whole run. Wait out the first, report the second.
    for _ in 0..100 {
        match file.try_lock_shared() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(1))
            }
            Err(TryLockError::Error(e)) => return Err(Error::io("locking", path, e)),
        }
    }
    Err(Error::Locked {
        path: path.to_path_buf(),
    })
}

/// Takes an exclusive lock on an open store file (no reader may hold it).
pub(crate) fn acquire_exclusive(file: &File, path: &Path) -> Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(Error::Locked {
            path: path.to_path_buf(),
        }),
        Err(TryLockError::Error(e)) => Err(Error::io("locking", path, e)),
    }
}

/// Takes an exclusive lock on an open store file if nobody holds it (no reader has the file
/// open); the caller unlocks it when done. Returns whether it got the lock.
pub(crate) fn try_exclusive(file: &File) -> bool {
    file.try_lock().is_ok()
}
