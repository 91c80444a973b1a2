//! Operating-system file locks: one writer per store, readers marked with a shared lock.
//!
//! The writer holds an exclusive lock on a small side file, `<store>.lock`, for as long as
//! it has the store open, and a record lock on the store file itself ([`lock_file_itself`]),
//! which it takes first: a script that deletes `<store>.lock` cannot let a second writer
//! past the second lock, and no writer touches a side file before it holds both. The lock
//! file also covers a store not created yet, and is unaffected when compaction replaces the
//! store file (the new file gets the record lock as it is renamed in). The locks are held
//! per open file description, so a second open of the same store in the same process
//! conflicts just as one in another process does.
//!
//! A read-only store holds a shared lock on the store file it has mapped, which keeps
//! [`crate::repair`] (which needs the file to itself) from running under it.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Path of the writer's lock file for the store at `path`.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    crate::files::with_suffix(path, crate::files::LOCK)
}

/// Takes the writer lock of the store at `path`, or fails with [`Error::Locked`].
/// A lock file it creates gets the permission bits `mode` (less the umask).
pub(crate) fn acquire_writer(path: &Path, mode: u32) -> Result<File> {
    let lp = lock_path(path);
    let f = crate::files::create_options(mode)
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

/// Byte of the store file on which a writer holds a record lock (far past any data: a
/// lock needs no bytes to exist). The `.lock` file is keyed by the path; this lock is keyed
/// by the file itself, so a second writer reaching the same file through a hard link is
/// refused too.
#[cfg(target_os = "linux")]
const WRITER_BYTE: i64 = 1 << 62;

#[cfg(target_os = "linux")]
fn record_lock(file: &File, kind: libc::c_int) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: `flock` is a plain C struct for which all-zero bytes are a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = WRITER_BYTE;
    fl.l_len = 1;
    // SAFETY: a valid descriptor and a pointer to an initialised `flock` that lives for the
    // call. Open-file-description locks belong to this `File`, not to the process, so a
    // second open in this process conflicts as one in another process does.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(e),
    }
}

/// Takes the writer's record lock on the store file, or fails with [`Error::Locked`].
pub(crate) fn lock_file_itself(file: &File, path: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        match record_lock(file, libc::F_WRLCK as libc::c_int) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::Locked {
                path: path.to_path_buf(),
            }),
            Err(e) => Err(Error::io("locking", path, e)),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, path);
        Ok(())
    }
}

/// Releases the writer's record lock on the store file.
pub(crate) fn unlock_file_itself(file: &File) {
    #[cfg(target_os = "linux")]
    {
        let _ = record_lock(file, libc::F_UNLCK as libc::c_int);
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
    }
}
