//! Automatic compaction: when it is due ([`Store::auto_compaction_due`]), one at a time,
//! cancellable by [`Store::cancel_auto_compaction`], backing off after a full disk.
//!
//! The engine only decides and runs; a binding asks after its commits and runs the
//! compaction it claimed off its event loop (the Node addon: on a thread of its own).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auto_policy::Claim;
use crate::auto_policy::{AutoCompactPolicy, AutoCompactStats, MAX_BACKOFF};
use crate::compact::CompactionReport;
use crate::error::{Error, Result};
use crate::store::Store;

/// An automatic compaction claimed by [`Store::claim_auto_compaction`]: run it with
/// [`Store::run_auto_compaction`] (on another thread too: it is `Send` and borrows
/// nothing). Dropping it unrun releases the claim. A cancellation
/// ([`Store::cancel_auto_compaction`]) between the claim and the run is not lost: the run
/// then fails with [`Error::Aborted`] at once.
#[must_use = "run it with Store::run_auto_compaction"]
#[derive(Debug)]
pub struct AutoCompaction {
    claim: Arc<Claim>,
    cancel: Arc<AtomicBool>,
}

impl Drop for AutoCompaction {
    fn drop(&mut self) {
        *self.claim.running.lock() = None;
        self.claim.claimed.store(false, Ordering::Release);
    }
}

impl Store {
    /// The automatic-compaction policy (`None`: off). Opens get the default policy
    /// unless [`crate::StoreOptions::auto_compact`] said otherwise.
    pub fn auto_compact_policy(&self) -> Option<AutoCompactPolicy> {
        *self.auto.policy.lock()
    }

    /// Replaces the automatic-compaction policy (`None` turns it off; one running goes on).
    pub fn set_auto_compact(&self, policy: Option<AutoCompactPolicy>) {
        *self.auto.policy.lock() = policy;
    }

    /// Whether an automatic compaction should run now: the store is writable and open,
    /// the policy is on and its thresholds are met (or, under a size limit, the file has
    /// reached 1.5 × [`crate::StoreOptions::max_bytes`] and a quarter of the limit would be
    /// reclaimed, whether the policy is on or off), none is running, and no full-disk
    /// backoff is waiting. Bindings ask after commits (as [`Store::index_merge_due`]).
    pub fn auto_compaction_due(&self) -> bool {
        if self.read_only || self.is_poisoned() || self.is_closed() {
            return false;
        }
        let policy = self.auto_compact_policy();
        if policy.is_none() && self.max_bytes().is_none() {
            return false;
        }
        if self.auto.claim.claimed.load(Ordering::Acquire) {
            return false;
        }
        if let Some((until, _)) = *self.auto.backoff.lock() {
            if Instant::now() < until {
                return false;
            }
        }
        let st = self.stats();
        let reclaimable = st.reclaimable_bytes;
        // The size limit's trigger, on whatever the policy says: the file has reached
        // 1.5 × the limit and a quarter of the limit would come back.
        let for_limit = self
            .max_bytes()
            .is_some_and(|max| st.file_bytes >= max + max / 2 && reclaimable >= (max / 4).max(1));
        let for_policy = policy.is_some_and(|policy| {
            reclaimable > 0
                && reclaimable >= policy.min_reclaimable_bytes
                && reclaimable as f64 >= policy.min_ratio * st.file_bytes as f64
        });
        for_limit || for_policy
    }

    /// Claims the automatic compaction that [`Store::auto_compaction_due`] calls for:
    /// `Some` for the one caller that should now run it, `None` when none is due or one is
    /// claimed already.
    pub fn claim_auto_compaction(&self) -> Option<AutoCompaction> {
        let claim = &self.auto.claim;
        if !self.auto_compaction_due() || claim.claimed.swap(true, Ordering::AcqRel) {
            return None;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        *claim.running.lock() = Some(cancel.clone());
        Some(AutoCompaction {
            claim: claim.clone(),
            cancel,
        })
    }

    /// Runs the automatic compaction `claim`; dropping `claim` afterwards releases the claim
    /// (a binding drops its reference to the store first, so that a close waiting in
    /// [`Store::abandon_auto_compaction`] then finds the store no longer held). `Ok(None)` when a
    /// compaction (a manual one) is running already: nothing is done. Counts what it did
    /// ([`Store::auto_compaction_stats`]); after a full disk, automatic compaction is not due
    /// again until the backoff has passed. A cancelled one fails with [`Error::Aborted`],
    /// leaving the store as it was.
    pub fn run_auto_compaction(&self, claim: &AutoCompaction) -> Result<Option<CompactionReport>> {
        let cancel = claim.cancel.clone();
        let policy = self.auto_compact_policy().unwrap_or_default();
        let result = match self.compaction.try_lock() {
            // A compaction is running: it reclaims the space.
            None => return Ok(None),
            Some(one) => self.compact_locked(one, &crate::Progress::none().cancel_flag(&cancel)),
        };
        let a = &self.auto;
        match &result {
            Ok(r) => {
                a.done.fetch_add(1, Ordering::AcqRel);
                a.reclaimed.fetch_add(r.reclaimed_bytes, Ordering::AcqRel);
                *a.backoff.lock() = None;
                // Watchers were told of the new file before these counters moved: tell
                // them again, so that one reading the counters sees this compaction.
                self.watchers.notify();
            }
            Err(Error::Aborted { .. }) => {
                a.cancelled.fetch_add(1, Ordering::AcqRel);
            }
            Err(e) => {
                a.failed.fetch_add(1, Ordering::AcqRel);
                if e.is_disk_full() {
                    let mut b = a.backoff.lock();
                    let wait = match *b {
                        Some((_, last)) => (last * 2).min(MAX_BACKOFF),
                        None => policy.disk_full_backoff,
                    };
                    *b = Some((Instant::now() + wait, wait));
                }
            }
        }
        result.map(Some)
    }

    /// Cancels the automatic compaction running, if any: it stops at its next check
    /// (every 256 entries or 4 MiB it copies, and before it replaces the file), removes
    /// its temporary file and leaves the store as it was. Returns whether one was running.
    /// A manual [`Store::compact`] is not affected.
    pub fn cancel_auto_compaction(&self) -> bool {
        match &*self.auto.claim.running.lock() {
            Some(flag) => {
                flag.store(true, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// Cancels the automatic compaction claimed or running (as
    /// [`Store::cancel_auto_compaction`], and any claimed meanwhile), and returns once none
    /// is claimed: what a close does, on a thread that may wait (a cancelled compaction
    /// ends within 256 entries or 4 MiB copied). Returns whether one was.
    pub fn abandon_auto_compaction(&self) -> bool {
        let mut was = false;
        while self.auto.claim.claimed.load(Ordering::Acquire) {
            was |= self.cancel_auto_compaction();
            std::thread::sleep(Duration::from_millis(1));
        }
        was
    }

    /// What automatic compaction did since the store was opened.
    pub fn auto_compaction_stats(&self) -> AutoCompactStats {
        let a = &self.auto;
        AutoCompactStats {
            compactions: a.done.load(Ordering::Acquire),
            reclaimed_bytes: a.reclaimed.load(Ordering::Acquire),
            cancelled: a.cancelled.load(Ordering::Acquire),
            failed: a.failed.load(Ordering::Acquire),
        }
    }
}
