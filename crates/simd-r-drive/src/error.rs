//! The engine's one error type.
//!
//! Every failure the engine can report is a variant of [`Error`]. Each message says what
//! happened and what the caller can do about it; [`Error::code`] gives a stable,
//! machine-readable code that bindings expose unchanged (the Node addon sets it as
//! `err.code`).

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The steps of a writable open that need write permission: refused, they are answered
/// with the advice to open the store read-only.
const WRITABLE_OPEN_OPS: [&str; 3] = [
    "opening for writing",
    "opening the lock file",
    "creating the store file",
];

/// The steps whose failure on a full disk leaves an open store usable (see
/// `Store::write_failed`): appends, and compaction's new file before its rename.
pub(crate) const KEEPS_THE_STORE_USABLE: [&str; 3] = [
    "writing",
    "writing the compaction file",
    "creating the compaction file",
];

/// What [`Error::NotAStoreFile`] says of an empty file.
pub(crate) const EMPTY_FILE: &str = "an empty file";

/// Everything that can go wrong in the engine.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The file exists but does not start with a simd-r-drive header. The file was not modified.
    NotAStore {
        /// The file that was opened.
        path: PathBuf,
    },
    /// The path names something that cannot be a store: a directory, a device, a FIFO or
    /// a socket, or (for a read-only open) an empty file. Nothing was opened for writing,
    /// created or modified.
    NotAStoreFile {
        /// The path that was opened.
        path: PathBuf,
        /// What is there ("a directory", "a character device", "an empty file", ...).
        what: &'static str,
    },
    /// The store file was renamed away, removed or replaced (or its directory was) while the
    /// store was open. An operation that would have renamed a new file over the path
    /// (compaction, the index checkpoint) was refused and left the path alone. Reads and
    /// writes of the open store go on, in the file it has open.
    Moved {
        /// The store's path.
        path: PathBuf,
    },
    /// A file that must be new (the destination of [`crate::Store::backup`]) already
    /// exists. It was left untouched.
    Exists {
        /// The path that exists.
        path: PathBuf,
    },
    /// A long operation stopped because its cancel flag was set
    /// ([`crate::Progress::cancel_flag`]): an `AbortSignal` fired, or the store is closing.
    /// What it had done was undone (`what` says what was left as it was).
    Aborted {
        /// What stopped, and what it left as it was.
        what: &'static str,
    },
    /// The file was written by a newer version of the format than this build understands.
    UnsupportedVersion {
        /// The file that was opened.
        path: PathBuf,
        /// The format version found in the header.
        found: u16,
        /// The newest format version this build reads.
        supported: u16,
    },
    /// Stored bytes failed verification somewhere other than the unfinished tail.
    Corrupt {
        /// The file that was opened.
        path: PathBuf,
        /// Byte offset of the first entry that failed verification.
        offset: u64,
        /// What was wrong there.
        reason: String,
    },
    /// Another writer (in this process or another) holds the store open.
    Locked {
        /// The store's path.
        path: PathBuf,
    },
    /// Another writer still held the store after waiting the open's lock timeout for it.
    LockTimeout {
        /// The store's path.
        path: PathBuf,
        /// How long the open waited, in milliseconds.
        waited_ms: u64,
    },
    /// A change-feed cursor names another store file than the store's: it is from before
    /// a compaction (or repair) of the store, or of another store, or past the end of a
    /// writer's log (a power loss dropped what it named). Nothing was read.
    CursorExpired {
        /// The store's path.
        path: PathBuf,
    },
    /// A change-feed cursor is malformed, or does not point at the start of a batch.
    InvalidCursor {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A write was attempted on a store opened read-only.
    ReadOnly,
    /// The store was closed.
    Closed,
    /// An earlier write or sync failed, so the file's tail is in an unknown state.
    Poisoned {
        /// The error that poisoned the store.
        cause: String,
    },
    /// A key was empty or longer than [`crate::MAX_KEY_LEN`].
    InvalidKey {
        /// The length of the rejected key.
        len: usize,
    },
    /// A value was longer than [`crate::MAX_VALUE_LEN`].
    ValueTooLarge {
        /// The length of the rejected value.
        len: usize,
    },
    /// A write whose Puts alone take more bytes on disk than the store's size limit
    /// ([`crate::StoreOptions::max_bytes`]): no eviction could make it fit, so nothing was
    /// written. Code `ERR_VALUE_TOO_LARGE`, as for a value longer than the format allows.
    OverMaxBytes {
        /// Bytes the write's Put entries take on disk (FORMAT.md, "Entries").
        bytes: u64,
        /// The store's size limit.
        max_bytes: u64,
    },
    /// A call that the state of the store does not allow now: a write (or flush, close,
    /// compaction, transaction) made on the thread that runs a [`crate::Store::transaction`]
    /// of the same store, from inside it, which would wait for that transaction forever.
    InvalidState {
        /// What was refused, and what to do instead.
        what: &'static str,
    },
    /// An operating-system I/O call failed.
    Io {
        /// What the engine was doing.
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl Error {
    /// A stable code for this error, the same in every binding
    /// (`ERR_STORE_LOCKED`, `ERR_NOT_A_STORE`, ...). Codes are never renamed.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotAStore { .. } | Error::NotAStoreFile { .. } => "ERR_NOT_A_STORE",
            Error::Moved { .. } => "ERR_STORE_MOVED",
            Error::Exists { .. } => "ERR_EXISTS",
            Error::Aborted { .. } => "ABORT_ERR",
            Error::UnsupportedVersion { .. } => "ERR_STORE_VERSION",
            Error::Corrupt { .. } => "ERR_STORE_CORRUPT",
            Error::Locked { .. } | Error::LockTimeout { .. } => "ERR_STORE_LOCKED",
            Error::CursorExpired { .. } => "ERR_CURSOR_EXPIRED",
            Error::InvalidCursor { .. } => "ERR_INVALID_CURSOR",
            Error::ReadOnly => "ERR_STORE_READ_ONLY",
            Error::Closed => "ERR_STORE_CLOSED",
            Error::Poisoned { .. } => "ERR_STORE_POISONED",
            Error::InvalidKey { .. } => "ERR_INVALID_KEY",
            Error::ValueTooLarge { .. } | Error::OverMaxBytes { .. } => "ERR_VALUE_TOO_LARGE",
            Error::InvalidState { .. } => "ERR_INVALID_STATE",
            Error::Io { .. } if self.is_disk_full() => "ERR_STORE_DISK_FULL",
            Error::Io { .. } => "ERR_STORE_IO",
        }
    }

    /// Whether this is an I/O error of a full disk or an exhausted quota (`ENOSPC`,
    /// `EDQUOT`: code `ERR_STORE_DISK_FULL`). A write that fails so leaves the store usable:
    /// writes succeed again once there is space. A sync that fails so poisons it, as any
    /// failed sync does.
    pub fn is_disk_full(&self) -> bool {
        matches!(
            self,
            Error::Io { source, .. }
                if matches!(source.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        )
    }

    /// For an I/O error, the operating system's error number (`errno`, e.g. 13 for
    /// `EACCES`), when the failure came from the operating system.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// For an I/O error, the system call that failed (`open`, `read`, `write`, `fdatasync`,
    /// `fsync`, `rename`, `mmap`, `flock`, `ftruncate`, `stat`, `link`), as Node names them.
    pub fn syscall(&self) -> Option<&'static str> {
        match self {
            Error::Io { op, .. } => Some(syscall_of(op)),
            _ => None,
        }
    }

    /// The file the error is about, where there is one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Error::NotAStore { path }
            | Error::NotAStoreFile { path, .. }
            | Error::Moved { path }
            | Error::Exists { path }
            | Error::UnsupportedVersion { path, .. }
            | Error::Corrupt { path, .. }
            | Error::Locked { path }
            | Error::LockTimeout { path, .. }
            | Error::CursorExpired { path }
            | Error::Io { path, .. } => Some(path),
            _ => None,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        Error::Corrupt {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}

/// The system call behind the engine operation `op` (see [`Error::syscall`]).
fn syscall_of(op: &str) -> &'static str {
    let starts = |p: &str| op.starts_with(p);
    if starts("opening") || starts("creating") {
        "open"
    } else if starts("locking") {
        "flock"
    } else if starts("mapping") {
        "mmap"
    } else if starts("syncing the directory") {
        "fsync"
    } else if starts("fdatasync") || starts("syncing") {
        "fdatasync"
    } else if starts("checking") {
        "stat"
    } else if starts("reading the file size") || starts("reading the compacted") {
        "fstat"
    } else if starts("reading") {
        "read"
    } else if starts("truncating") {
        "ftruncate"
    } else if starts("renaming") || starts("replacing") || starts("moving") {
        "rename"
    } else if starts("keeping") {
        "link"
    } else {
        "write"
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotAStore { path } => write!(
                f,
                "{} is not a simd-r-drive store (no store header); it was left untouched. \
                 Check the path, or pick a new file name for a new store",
                path.display()
            ),
            Error::NotAStoreFile { path, what } => {
                write!(
                    f,
                    "{} is {what}, not a simd-r-drive store; it was left untouched",
                    path.display()
                )?;
                if *what == EMPTY_FILE {
                    write!(f, " (a writable open makes an empty file a store)")?;
                } else {
                    write!(f, ". Check the path")?;
                }
                Ok(())
            }
            Error::Moved { path } => write!(
                f,
                "the store file at {} was moved, removed or replaced while open (or its \
                 directory was); the path was left alone. Close the store and reopen it",
                path.display()
            ),
            Error::Exists { path } => write!(
                f,
                "{} already exists; it was left untouched. A backup is written only to a new \
                 path: remove that file or pick another name",
                path.display()
            ),
            Error::Aborted { what } => write!(
                f,
                "the operation was aborted: {what}. Run it again to finish it"
            ),
            Error::UnsupportedVersion {
                path,
                found,
                supported,
            } => write!(
                f,
                "{} uses store format version {found}, but this build reads versions up to \
                 {supported}; upgrade simd-r-drive to open it",
                path.display()
            ),
            Error::Corrupt {
                path,
                offset,
                reason,
            } => write!(
                f,
                "{} is corrupt at byte offset {offset} ({reason}); valid data follows, so \
                 nothing was truncated. Run repair to keep every entry that still verifies",
                path.display()
            ),
            Error::Locked { path } => write!(
                f,
                "{} is already open for writing (in this process or another); close the other \
                 writer or open with read-only",
                path.display()
            ),
            Error::LockTimeout { path, waited_ms } => write!(
                f,
                "{} was still open for writing (in this process or another) after waiting \
                 the lock timeout of {waited_ms} ms; close the other writer, wait longer, or \
                 open with read-only",
                path.display()
            ),
            Error::CursorExpired { path } => write!(
                f,
                "the change-feed cursor is not of the current file of {}: the store was \
                 compacted or repaired since the cursor was taken (or the cursor is of another \
                 store). To resync, clear the replica and read the changes again without a \
                 cursor: the compacted log holds every live key once",
                path.display()
            ),
            Error::InvalidCursor { reason } => write!(
                f,
                "invalid change-feed cursor: {reason}; pass a cursor from a change or from \
                 store.cursor() as it was given"
            ),
            Error::ReadOnly => write!(
                f,
                "the store was opened read-only; reopen it without read-only to write"
            ),
            Error::Closed => write!(f, "the store is closed; open it again to use it"),
            Error::Poisoned { cause } => write!(
                f,
                "an earlier write failed ({cause}); the store refuses writes until it is \
                 closed and reopened, which recovers every acknowledged write"
            ),
            Error::InvalidKey { len } => write!(
                f,
                "invalid key of {len} bytes: keys must be 1 to {} bytes long",
                crate::MAX_KEY_LEN
            ),
            Error::InvalidState { what } => write!(f, "{what}"),
            Error::OverMaxBytes { bytes, max_bytes } => write!(
                f,
                "this write takes {bytes} bytes on disk, more than the store's size limit \
                 (maxBytes) of {max_bytes} bytes: nothing was written"
            ),
            Error::ValueTooLarge { len } => write!(
                f,
                "value of {len} bytes is too large: values may be at most {} bytes",
                crate::MAX_VALUE_LEN
            ),
            Error::Io { op, path, source } => {
                write!(f, "{op} failed on {}: {source}", path.display())?;
                match source.raw_os_error() {
                    Some(libc::ENOSPC) | Some(libc::EDQUOT)
                        if KEEPS_THE_STORE_USABLE.contains(op) =>
                    {
                        write!(
                            f,
                            " (nothing of this write was stored; free disk space and write \
                             again: the store stays open)"
                        )?
                    }
                    Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
                        write!(f, " (free disk space, then reopen the store)")?
                    }
                    Some(libc::EROFS) => write!(
                        f,
                        " (the file system is read-only: open the store with readOnly: true \
                         to read it)"
                    )?,
                    Some(libc::EACCES) | Some(libc::EPERM) if WRITABLE_OPEN_OPS.contains(op) => {
                        write!(
                            f,
                            " (no permission to write there: open the store with readOnly: \
                             true to read it)"
                        )?
                    }
                    _ => {}
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
