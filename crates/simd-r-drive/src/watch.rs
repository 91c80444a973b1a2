//! Watchers of a store's commits: the callbacks of [`crate::Store::watch`], told after
//! every commit, compaction and follower refresh that found something.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// A callback of [`crate::Store::watch`].
type Wake = Arc<dyn Fn() + Send + Sync>;

/// The callbacks of [`crate::Store::watch`]. With none, a commit pays one atomic load.
#[derive(Default)]
pub(crate) struct Watchers {
    any: AtomicBool,
    next: AtomicU64,
    list: Mutex<Vec<(u64, Wake)>>,
}

impl Watchers {
    pub(crate) fn add(&self, wake: Wake) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut list = self.list.lock();
        list.push((id, wake));
        self.any.store(true, Ordering::Release);
        id
    }

    pub(crate) fn remove(&self, id: u64) {
        let mut list = self.list.lock();
        list.retain(|(i, _)| *i != id);
        self.any.store(!list.is_empty(), Ordering::Release);
    }

    /// Tells every watcher that something was committed. Call with no state lock held.
    #[inline]
    pub(crate) fn notify(&self) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let wakes: Vec<_> = self.list.lock().iter().map(|(_, w)| w.clone()).collect();
        for wake in wakes {
            wake();
        }
    }
}
