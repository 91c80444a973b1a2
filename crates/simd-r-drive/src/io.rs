//! The storage seam: every call that changes the disk goes through a [`Backend`].
//!
//! [`OsBackend`] does the real thing. [`FailAfter`] wraps another backend and makes the
//! N-th matching call fail, which is how tests prove that a failed write, sync or rename
//! never loses acknowledged data. Reads go through the memory map and the file handle
//! directly; they change nothing.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(windows)]
fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
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

/// How an injected failure behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with this raw OS error (e.g. `libc::EIO`) and does nothing.
    Errno(i32),
    /// A write puts the first half of its bytes on disk, then fails with this raw OS
    /// error (as a full disk does). Other calls fail as with [`Fault::Errno`].
    PartialWrite(i32),
}

/// A backend that passes calls to `inner` until the N-th call of the chosen kinds, which
/// fails; every later call of those kinds fails too (a disk that stays broken).
#[derive(Debug)]
pub struct FailAfter {
    inner: Arc<dyn Backend>,
    ops: Vec<IoOp>,
    remaining: AtomicU64,
    fault: Fault,
    seen: AtomicU64,
}

impl FailAfter {
    /// Lets `n` calls among `ops` succeed, then fails every further one with `fault`.
    pub fn new(inner: Arc<dyn Backend>, ops: &[IoOp], n: u64, fault: Fault) -> Self {
        FailAfter {
            inner,
            ops: ops.to_vec(),
            remaining: AtomicU64::new(n),
            fault,
            seen: AtomicU64::new(0),
        }
    }

    /// How many calls of the chosen kinds were made, failed ones included.
    pub fn calls(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }

    /// Whether the fault has fired.
    pub fn tripped(&self) -> bool {
        self.remaining.load(Ordering::SeqCst) == 0 && self.calls() > 0
    }

    fn check(&self, op: IoOp) -> Option<Fault> {
        if !self.ops.contains(&op) {
            return None;
        }
        self.seen.fetch_add(1, Ordering::SeqCst);
        let ok = self
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1))
            .is_ok();
        if ok {
            None
        } else {
            Some(self.fault)
        }
    }
}

fn errno(fault: Fault) -> io::Error {
    match fault {
        Fault::Errno(e) | Fault::PartialWrite(e) => io::Error::from_raw_os_error(e),
    }
}

impl Backend for FailAfter {
    fn write_at(&self, file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
        match self.check(IoOp::Write) {
            None => self.inner.write_at(file, buf, offset),
            Some(Fault::PartialWrite(e)) => {
                self.inner.write_at(file, &buf[..buf.len() / 2], offset)?;
                Err(io::Error::from_raw_os_error(e))
            }
            Some(f) => Err(errno(f)),
        }
    }

    fn sync_data(&self, file: &File) -> io::Result<()> {
        match self.check(IoOp::Sync) {
            None => self.inner.sync_data(file),
            Some(f) => Err(errno(f)),
        }
    }

    fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        match self.check(IoOp::SetLen) {
            None => self.inner.set_len(file, len),
            Some(f) => Err(errno(f)),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        match self.check(IoOp::Rename) {
            None => self.inner.rename(from, to),
            Some(f) => Err(errno(f)),
        }
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        match self.check(IoOp::SyncDir) {
            None => self.inner.sync_dir(dir),
            Some(f) => Err(errno(f)),
        }
    }
}
