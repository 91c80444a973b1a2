//! The policy and the state of automatic compaction that a store holds (apart from
//! `auto_compact.rs`, which runs compactions, so that the store's state does not import
//! the code that compacts it).

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

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
pub(crate) struct Claim {
    /// One is claimed or running.
    pub(crate) claimed: AtomicBool,
    /// The cancellation flag of the one claimed or running, if any.
    pub(crate) running: Mutex<Option<Arc<AtomicBool>>>,
}

/// The automatic-compaction state of a store.
#[derive(Debug, Default)]
pub(crate) struct AutoCompact {
    /// `None`: automatic compaction is off.
    pub(crate) policy: Mutex<Option<AutoCompactPolicy>>,
    pub(crate) claim: Arc<Claim>,
    /// After a full disk: not due before this instant, and the wait that set it.
    pub(crate) backoff: Mutex<Option<(Instant, Duration)>>,
    /// Automatic compactions that replaced the file.
    pub(crate) done: AtomicU64,
    /// Bytes they reclaimed.
    pub(crate) reclaimed: AtomicU64,
    /// Automatic compactions cancelled before they replaced the file.
    pub(crate) cancelled: AtomicU64,
    /// Automatic compactions that failed (a full disk, or anything else).
    pub(crate) failed: AtomicU64,
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
