//! Progress reports and cancellation of long operations ([`crate::Store::compact_with`],
//! [`crate::Store::verify_with`], [`crate::Store::backup_with`], [`crate::repair_with`]).
//!
//! An operation given a [`Progress`] calls its report function with `(bytes_done,
//! bytes_total)` as it goes (about every few megabytes: throttling to a rate is the
//! caller's business) and once more at the end with `bytes_done == bytes_total`, and checks
//! the cancel flag between chunks of work: once the flag is set it stops at the next check
//! where stopping leaves everything as it was, and fails with [`Error::Aborted`].

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// Bytes of work between two progress reports and cancel checks.
pub(crate) const STEP: u64 = 4 << 20;

/// How a long operation reports its progress and learns that it should stop. The default
/// does neither.
#[derive(Clone, Copy, Default)]
pub struct Progress<'a> {
    report: Option<&'a dyn Fn(u64, u64)>,
    cancel: Option<&'a AtomicBool>,
}

impl std::fmt::Debug for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("report", &self.report.is_some())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl<'a> Progress<'a> {
    /// Neither reports nor cancellation.
    pub fn none() -> Self {
        Self::default()
    }

    /// Calls `report(bytes_done, bytes_total)` as the operation goes, and at its end.
    pub fn on_progress(mut self, report: &'a dyn Fn(u64, u64)) -> Self {
        self.report = Some(report);
        self
    }

    /// Stops the operation (with [`Error::Aborted`]) once `flag` is set, at the next point
    /// where stopping is safe.
    pub fn cancel_flag(mut self, flag: &'a AtomicBool) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Whether the cancel flag is set.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Acquire))
    }

    /// The cancel flag, if any.
    pub(crate) fn cancel(&self) -> Option<&'a AtomicBool> {
        self.cancel
    }

    /// Reports `done` of `total` bytes.
    pub(crate) fn report(&self, done: u64, total: u64) {
        if let Some(r) = self.report {
            r(done.min(total), total);
        }
    }

    /// Fails with [`Error::Aborted`] (`what` says what stopped and what was left as it
    /// was) if the cancel flag is set.
    pub(crate) fn check(&self, what: &'static str) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Aborted { what })
        } else {
            Ok(())
        }
    }
}
