//! Expiry: the clock a store reads time from, and the calls that write and read an entry's
//! expiry ([`Store::put_expiring`], [`Store::expires_at`]).
//!
//! An entry may carry an expiry (FORMAT.md, "Entries": flag bit 2), a wall-clock time in
//! milliseconds since the Unix epoch; from that time on every read treats the key as
//! absent. Time comes from one clock per store ([`StoreOptions::clock`], the system clock
//! by default), and the store never lets it go backwards while open: it keeps the largest
//! time it has read, so an expired value never comes back while the store is open. A new
//! open starts from the clock again.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::Result;

use super::{Op, Store, StoreOptions};

/// A source of wall-clock time in milliseconds since the Unix epoch.
#[derive(Clone)]
pub struct ClockFn(pub(crate) Arc<dyn Fn() -> u64 + Send + Sync>);

impl std::fmt::Debug for ClockFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClockFn")
    }
}

/// The system clock in milliseconds since the Unix epoch (0 before it).
pub fn system_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A store's clock: its source, and the largest time read from it since open.
pub(crate) struct Clock {
    source: Option<ClockFn>,
    max: AtomicU64,
}

impl Clock {
    /// A clock reading `source`, or the system clock.
    pub(crate) fn new(source: Option<ClockFn>) -> Clock {
        Clock {
            source,
            max: AtomicU64::new(0),
        }
    }

    /// The time now: the source's, or the largest seen before if that is later.
    pub(crate) fn now(&self) -> u64 {
        let t = match &self.source {
            Some(f) => (f.0)(),
            None => system_clock_ms(),
        };
        let prev = self.max.fetch_max(t, Ordering::AcqRel);
        prev.max(t)
    }
}

/// The store's time for one read: read from its clock the first time an entry with an
/// expiry asks for it, then the same for the rest of the read. A read that meets no
/// expiring entry never reads the clock (a clock read and the `fetch_max` behind it were
/// about 2% of a random `get`'s profile).
pub(crate) struct Now<'a> {
    clock: &'a Clock,
    ms: Cell<Option<u64>>,
}

impl Now<'_> {
    /// The time, in milliseconds since the Unix epoch (see [`Clock::now`]).
    #[inline]
    pub(crate) fn ms(&self) -> u64 {
        if let Some(t) = self.ms.get() {
            return t;
        }
        let t = self.clock.now();
        self.ms.set(Some(t));
        t
    }
}

impl StoreOptions {
    /// The clock expiry reads (milliseconds since the Unix epoch); the system clock by
    /// default. For tests that move time. A clock that goes backwards is held at the
    /// largest time it gave while the store is open. Reads call it while they hold the
    /// store's read lock, and only when they meet an entry with an expiry: it must not call
    /// into the store.
    pub fn clock(mut self, clock: Arc<dyn Fn() -> u64 + Send + Sync>) -> Self {
        self.clock = Some(ClockFn(clock));
        self
    }
}

impl Store {
    /// The store's time now, in milliseconds since the Unix epoch (see
    /// [`StoreOptions::clock`]).
    pub fn now_ms(&self) -> u64 {
        self.clock.now()
    }

    /// The store's time for one read, read from the clock only if the read needs it.
    #[inline]
    pub(crate) fn lazy_now(&self) -> Now<'_> {
        Now {
            clock: &self.clock,
            ms: Cell::new(None),
        }
    }

    /// Sets `key` to `value` until `expires_at` (ms since the Unix epoch), after which the
    /// key reads as missing. An `expires_at` already past writes an entry that reads as
    /// missing at once.
    pub fn put_expiring(&self, key: &[u8], value: &[u8], expires_at: u64) -> Result<()> {
        self.write(&[Op::PutExpiring {
            key,
            value,
            expires_at,
        }])
        .map(|_| ())
    }

    /// When `key`'s value expires (ms since the Unix epoch), or `None` if it has no value
    /// or no expiry.
    pub fn expires_at(&self, key: &[u8]) -> Result<Option<u64>> {
        self.check_open()?;
        Self::validate(key, None)?;
        let now = self.now_ms();
        let hash = self.hash(key);
        let s = self.state.read();
        let data = s.map.bytes(s.end);
        Ok(s.index
            .find(data, hash, key)
            .filter(|&off| !crate::format::expired(data, off, || now))
            .and_then(|off| crate::format::entry_expiry(data, off)))
    }
}
