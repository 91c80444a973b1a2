//! # simd-r-drive
//!
//! An append-only, key-based binary storage engine in one file: an in-memory hash index
//! over a log of checksummed entries, zero-copy reads through a memory map, all-or-nothing
//! batches, crash recovery, tombstone deletes and online compaction.
//!
//! ```
//! # fn main() -> simd_r_drive::Result<()> {
//! # let dir = std::env::temp_dir().join(format!("srd-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! use simd_r_drive::{Op, Store};
//!
//! let store = Store::open(dir.join("data.srd"))?;
//! store.put(b"greeting", b"hello")?;
//! store.write(&[Op::Put { key: b"a", value: b"1" }, Op::Delete { key: b"greeting" }])?;
//! assert_eq!(store.get(b"a")?.as_deref(), Some(&b"1"[..]));
//! assert!(store.get(b"greeting")?.is_none());
//! store.flush()?; // durable now
//! # Ok(()) }
//! ```
//!
//! The on-disk format is specified in `FORMAT.md`.

#![warn(missing_docs)]

mod auto_compact;
mod auto_policy;
mod backup;
mod changes;
mod compact;
mod error;
mod files;
mod follow;
mod format;
mod hash;
mod index;
pub mod io;
mod load;
mod lock;
mod mapping;
mod progress;
mod repair;
mod scan;
pub mod simd;
mod store;
mod stream;
mod watch;
mod window;

pub use auto_compact::AutoCompaction;
pub use auto_policy::{AutoCompactPolicy, AutoCompactStats, MAX_BACKOFF};
pub use backup::BackupReport;
pub use changes::{Change, ChangeKind, ChangeLimits, ChangePart, ChangeRead, ChangeReader, Cursor};
pub use compact::{CompactionReport, COMPACTION_NICE};
pub use error::{Error, Result};
pub use follow::Refresh;
pub use format::{EntryKind, ALIGN, FORMAT_VERSION, HEADER_LEN, MAX_KEY_LEN, MAX_VALUE_LEN};
pub use hash::KeyHasher;
pub use mapping::Value;
pub use progress::Progress;
pub use repair::{repair, repair_with, RepairReport, VerifyReport};
pub use store::{
    system_clock_ms, ClockFn, Commit, Condition, ConditionalCommit, Iter, Op, RecoveryReport,
    Stats, Store, StoreOptions, Sweep, Transaction,
};
pub use window::{page_size, EntryRange, Located, PrivateMap, RangeSnapshot};

/// Bytes of entries whose checksums the calling thread has computed to verify them since
/// it started (recovery at open, repair, verification, followers). Recovery and repair
/// hash at most about twice the file's length whatever the file holds (FORMAT.md,
/// "Recovery"); tests use this to check that bound without timing anything.
pub fn entry_bytes_hashed() -> u64 {
    format::entry_bytes_hashed()
}

/// Bytes an entry with these key and value lengths takes on disk (header, key, value and
/// alignment padding).
pub fn entry_size(key_len: usize, value_len: usize) -> u64 {
    format::entry_len(key_len, value_len)
}

#[cfg(test)]
mod assertions {
    fn send_sync<T: Send + Sync>() {}
    #[test]
    fn store_is_send_and_sync() {
        send_sync::<crate::Store>();
        send_sync::<crate::Value>();
    }
}
