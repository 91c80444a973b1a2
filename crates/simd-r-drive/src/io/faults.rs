//! The fault injector: a backend that makes the N-th matching call fail.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Backend, IoOp};

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
/// fails; every later call of those kinds fails too (a disk that stays broken), unless
/// [`FailAfter::times`] limits how many fail or [`FailAfter::heal`] ends the failures (a
/// disk on which space was freed).
#[derive(Debug)]
pub struct FailAfter {
    inner: Arc<dyn Backend>,
    ops: Vec<IoOp>,
    remaining: AtomicU64,
    fault: Fault,
    seen: AtomicU64,
    /// How many more calls may fail once the fault has fired.
    failures_left: AtomicU64,
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
            failures_left: AtomicU64::new(u64::MAX),
        }
    }

    /// Fails only `times` calls once the fault has fired, then passes calls on again.
    pub fn times(self, times: u64) -> Self {
        self.failures_left.store(times, Ordering::SeqCst);
        self
    }

    /// Ends the failures: every later call is passed on (as when space is freed).
    pub fn heal(&self) {
        self.failures_left.store(0, Ordering::SeqCst);
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
        let failing = !ok
            && self
                .failures_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1))
                .is_ok();
        failing.then_some(self.fault)
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
