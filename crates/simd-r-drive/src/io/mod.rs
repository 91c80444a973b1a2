//! The storage seam: every call that changes the disk goes through a [`Backend`].
//!
//! [`OsBackend`] does the real thing. [`FailAfter`] wraps another backend and makes the
//! N-th matching call fail, which is how tests prove that a failed write, sync or rename
//! never loses acknowledged data. Reads go through the memory map and the file handle
//! directly; they change nothing.

use std::fs::File;
use std::io;
use std::path::Path;

/// A call the engine makes that changes what is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoOp {
    /// Writing bytes at an offset of a file.
    Write,
    /// `fdatasync` of a file.
    Sync,
    /// Changing a file's length (recovery truncating a torn tail).
    SetLen,
    /// Renaming a file over another (compaction, repair, creation).
    Rename,
    /// `fsync` of a directory, to make a rename or creation durable.
    SyncDir,
}

/// Performs the engine's mutating file-system calls.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Writes all of `buf` at `offset` of `file`.
    fn write_at(&self, file: &File, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes `file`'s data durable (`fdatasync`).
    fn sync_data(&self, file: &File) -> io::Result<()>;
    /// Sets `file`'s length.
    fn set_len(&self, file: &File, len: u64) -> io::Result<()>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the directory `dir`'s entries durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real operating system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsBackend;

impl Backend for OsBackend {
    fn write_at(&self, file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
        write_all_at(file, buf, offset)
    }

    fn sync_data(&self, file: &File) -> io::Result<()> {
        file.sync_data()
    }

    fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        file.set_len(len)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            File::open(dir)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            // Windows makes renames durable with the file system's own journal; there is
            // no directory handle to flush.
            let _ = dir;
            Ok(())
        }
    }
}

#[cfg(unix)]
pub(crate) fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(windows)]
pub(crate) fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_write(buf, offset) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes at `offset` (fewer only at end of file; returns how many).
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(file, &mut buf[done..], offset + done as u64);
        #[cfg(windows)]
        let n =
            std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], offset + done as u64);
        match n {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

mod faults;
pub use faults::{FailAfter, Fault};

#[cfg(unix)]
pub use crash::{Crash, CrashBackend, CrashData, CrashNames, CrashPoint};

/// Simulated power loss (unix: files are told apart by device and inode).
#[cfg(unix)]
mod crash;
