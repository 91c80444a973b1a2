//! Automatic compaction: when it is due ([`Store::auto_compaction_due`]), one at a time,
//! cancellable by [`Store::cancel_auto_compaction`], backing off after a full disk.
//!
//! The engine only decides and runs; a binding asks after its commits and runs the
//! compaction it claimed off its event loop (the Node addon: on a thread of its own).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::compact::CompactionReport;
use crate::error::{Error, Result};
use crate::store::Store;

/// When an automatic compaction is due: once the bytes compaction would reclaim
/// ([`crate::Stats::reclaimable_bytes`]) reach both `min_reclaimable_bytes` and
/// `min_ratio` of the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoCompactPolicy {
    /// Reclaimable bytes needed (default 64 MiB).
    pub min_reclaimable_bytes: u64,
    /// Reclaimable share of the file needed, from 0 to 1 (default 0.5: half the file).
    pub min_ratio: f64,
    /// How long automatic compaction waits after a compaction failed for a full disk
    /// (`ERR_STORE_DISK_FULL`) before it is due again; doubled after each further such
    /// failure, up to [`MAX_BACKOFF`], and reset by a compaction that succeeds (default 1 s).
    pub disk_full_backoff: Duration,
}

/// The longest wait after repeated full-disk failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl Default for AutoCompactPolicy {
    fn default() -> Self {
        AutoCompactPolicy {
            min_reclaimable_bytes: 64 << 20,
            min_ratio: 0.5,
            disk_full_backoff: Duration::from_secs(1),
        }
    }
}

/// The claim of automatic compaction, shared with the [`AutoCompaction`] that holds it.
#[derive(Debug, Default)]
struct Claim {
    /// One is claimed or running.
    claimed: AtomicBool,
    /// The cancellation flag of the one claimed or running, if any.
    running: Mutex<Option<Arc<AtomicBool>>>,
}

/// The automatic-compaction state of a store.
#[derive(Debug, Default)]
pub(crate) struct AutoCompact {
    /// `None`: automatic compaction is off.
    policy: Mutex<Option<AutoCompactPolicy>>,
    claim: Arc<Claim>,
    /// After a full disk: not due before this instant, and the wait that set it.
    backoff: Mutex<Option<(Instant, Duration)>>,
    /// Automatic compactions that replaced the file.
    done: AtomicU64,
    /// Bytes they reclaimed.
    reclaimed: AtomicU64,
    /// Automatic compactions cancelled before they replaced the file.
    cancelled: AtomicU64,
    /// Automatic compactions that failed (a full disk, or anything else).
    failed: AtomicU64,
}

impl AutoCompact {
    pub(crate) fn new(policy: Option<AutoCompactPolicy>) -> Self {
        AutoCompact {
            policy: Mutex::new(policy),
            ..Default::default()
        }
    }
}

/// What automatic compaction did since the store was opened, from
/// [`Store::auto_compaction_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AutoCompactStats {
    /// Automatic compactions that replaced the file.
    pub compactions: u64,
    /// Bytes they reclaimed, in total.
    pub reclaimed_bytes: u64,
    /// Automatic compactions cancelled (by [`Store::cancel_auto_compaction`]) before they
    /// replaced the file.
    pub cancelled: u64,
    /// Automatic compactions that failed (for a full disk, automatic compaction then backs
    /// off: see [`AutoCompactPolicy::disk_full_backoff`]).
    pub failed: u64,
}

/// An automatic compaction claimed by [`Store::claim_auto_compaction`]: run it with
/// [`Store::run_auto_compaction`] (on another thread too: it is `Send` and borrows
/// nothing). Dropping it unrun releases the claim. A cancellation
/// ([`Store::cancel_auto_compaction`]) between the claim and the run is not lost: the run
/// then fails with [`Error::Cancelled`] at once.
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
    /// the policy is on and its thresholds are met, none is running, and no full-disk
    /// backoff is waiting. Bindings ask after commits (as [`Store::index_merge_due`]).
    pub fn auto_compaction_due(&self) -> bool {
        if self.read_only || self.is_poisoned() || self.is_closed() {
            return false;
        }
        let Some(policy) = self.auto_compact_policy() else {
            return false;
        };
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
        reclaimable > 0
            && reclaimable >= policy.min_reclaimable_bytes
            && reclaimable as f64 >= policy.min_ratio * st.file_bytes as f64
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
    /// again until the backoff has passed. A cancelled one fails with [`Error::Cancelled`],
    /// leaving the store as it was.
    pub fn run_auto_compaction(&self, claim: &AutoCompaction) -> Result<Option<CompactionReport>> {
        let cancel = claim.cancel.clone();
        let policy = self.auto_compact_policy().unwrap_or_default();
        let result = match self.compaction.try_lock() {
            // A compaction is running: it reclaims the space.
            None => return Ok(None),
            Some(one) => self.compact_locked(one, &cancel),
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
            Err(Error::Cancelled) => {
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
