//! The reports the store gives JavaScript: statistics, what recovery did, and the results
//! of compaction, verification and repair.

use napi_derive::napi;

use crate::registry;

/// What a compaction did.
#[napi(object)]
pub struct CompactResult {
    /// File bytes in use before.
    pub bytes_before: f64,
    /// File bytes in use after.
    pub bytes_after: f64,
    /// Bytes reclaimed.
    pub reclaimed_bytes: f64,
    /// Live entries copied.
    pub entries: f64,
    /// Entries written by others while the compaction ran, copied at the end.
    pub tail_entries: f64,
    /// How long writers were held up at the end, in milliseconds.
    pub writer_pause_ms: f64,
    /// Total time taken, in milliseconds.
    pub duration_ms: f64,
}

/// What recovery did when the store's file was opened.
#[napi(object)]
pub struct RecoveryReport {
    /// The open created the store file.
    pub created: bool,
    /// Entries read back (replayed) from the log: of all complete batches, or, when the
    /// index file was used, only of those written after it and its delta file.
    pub entries: f64,
    /// Bytes after the last complete batch that the open left aside (a writer dropped them).
    pub dropped_tail_bytes: f64,
    /// Why those bytes were left aside, if there were any.
    #[napi(
        ts_type = "'a batch without its commit marker' | 'a partial entry header' | 'an entry longer than the rest of the file' | 'an entry checksum mismatch' | 'a malformed commit record' | 'a malformed sync mark' | 'a tombstone with a value' | 'an empty key' | 'an unknown entry kind' | 'unknown entry flags' | 'damage in data written after the last sync (a power loss can write such data back out of order)'"
    )]
    pub tail_reason: Option<String>,
    /// Where a writer saved the bytes it dropped when valid entries followed damage in
    /// unsynced data (a power loss): a store image that `Store.repair` turns into a store
    /// of the entries that still verify.
    pub saved_tail: Option<String>,
    /// Offset of that damage, for writable and read-only opens alike.
    pub unsynced_damage_at: Option<f64>,
    /// Live keys the index file `<store>.srd-index` (and the delta file `<store>.srd-delta`
    /// that `close()` saved) gave, when they matched the file (for a large store: see
    /// `Store.close`): the open then read only the log written after them, in constant time,
    /// and entries are verified on their first read and by `Store.verify`. Absent when the
    /// whole log was read.
    pub checkpoint_keys: Option<f64>,
}

/// What recovery did when the engine opened the file.
///
/// # JavaScript: `Store.recovery`
///
/// What recovery did when this store's file was opened (by the first `Store` of this
/// process that opened it): entries read, bytes of an unfinished or torn tail left aside
/// and why, after damage in unsynced data (a power loss) where the dropped bytes were
/// saved (`savedTail`, a store image for `Store.repair`), and how many keys came from the
/// index file (`checkpointKeys`).
#[napi]
pub fn recovery(h: u32) -> napi::Result<RecoveryReport> {
    let handle = registry::borrow(h)?;
    let r = handle.store.recovery();
    Ok(RecoveryReport {
        created: r.created,
        entries: r.entries as f64,
        dropped_tail_bytes: r.dropped_tail_bytes as f64,
        tail_reason: r.tail_reason.map(str::to_owned),
        saved_tail: r
            .saved_tail
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        unsynced_damage_at: r.unsynced_damage_at.map(|o| o as f64),
        checkpoint_keys: r.checkpoint_keys.map(|k| k as f64),
    })
}

/// Sizes and counts of a store.
#[napi(object)]
pub struct StoreStats {
    /// Live keys.
    pub entries: f64,
    /// Bytes of the store file in use (header and every entry, live or not).
    pub file_bytes: f64,
    /// Bytes of the live entries.
    pub live_bytes: f64,
    /// Bytes that compaction would reclaim.
    pub reclaimable_bytes: f64,
    /// Heap bytes held by the in-memory index (the keys changed since the index file).
    pub index_bytes: f64,
    /// Bytes of the index file on disk (`<path>.srd-index`: page cache, shared by every
    /// process that has the store open, not memory of this one's); 0 without one.
    pub index_file_bytes: f64,
    /// How many times compaction replaced the file since the engine was opened.
    pub generation: f64,
    /// Automatic compactions that replaced the file since the engine was opened.
    pub auto_compactions: f64,
    /// Bytes those automatic compactions reclaimed, in total.
    pub auto_reclaimed_bytes: f64,
    /// Expired entries the expiry sweep removed since the engine was opened in this process
    /// (see `clearExpired`).
    pub expired_entries: f64,
    /// Entries the size limit (`maxBytes`) evicted since the engine was opened in this
    /// process (not carried across a reopen).
    pub evicted_entries: f64,
    /// Their bytes on disk (each evicted entry's length), since the engine was opened.
    pub evicted_bytes: f64,
    /// Sequence number of the latest commit.
    pub seq: f64,
    /// Sequence number up to which commits are known to be durable.
    pub durable_seq: f64,
    /// The SIMD kernel in use for checksums: `avx2`, `sse2`, `neon` or `scalar`.
    #[napi(ts_type = "'avx2' | 'sse2' | 'neon' | 'scalar'")]
    pub kernel: String,
    /// Format version of the store file (FORMAT.md, "Header"): 1 or 2 for a file written so;
    /// compaction rewrites it in the current version.
    pub format_version: u32,
}

/// Sizes and counts.
///
/// # JavaScript: `Store.stats`
///
/// Sizes and counts.
#[napi]
pub fn stats(h: u32) -> napi::Result<StoreStats> {
    let handle = registry::borrow(h)?;
    let s = handle.store.stats();
    let auto = handle.store.auto_compaction_stats();
    Ok(StoreStats {
        entries: s.entries as f64,
        file_bytes: s.file_bytes as f64,
        live_bytes: s.live_bytes as f64,
        reclaimable_bytes: s.reclaimable_bytes as f64,
        index_bytes: s.index_bytes as f64,
        index_file_bytes: s.index_file_bytes as f64,
        generation: s.generation as f64,
        auto_compactions: auto.compactions as f64,
        auto_reclaimed_bytes: auto.reclaimed_bytes as f64,
        expired_entries: s.expired_entries as f64,
        evicted_entries: s.evicted_entries as f64,
        evicted_bytes: s.evicted_bytes as f64,
        seq: s.seq as f64,
        durable_seq: handle.store.durable_seq() as f64,
        kernel: format!("{:?}", simd_r_drive::simd::selected()).to_lowercase(),
        format_version: u32::from(s.format_version),
    })
}

/// What a verification checked.
#[napi(object)]
pub struct VerifyResult {
    /// Entries whose checksums were checked (commit records included).
    pub entries: f64,
    /// Bytes of the file checked.
    pub bytes: f64,
}

/// What a repair did.
#[napi(object)]
pub struct RepairResult {
    /// Entries that verified and were kept.
    pub entries_kept: f64,
    /// Live keys in the repaired store.
    pub live_keys: f64,
    /// Damaged byte ranges `[start, end)` that were skipped.
    #[napi(ts_type = "Array<[start: number, end: number]>")]
    pub skipped: Vec<Vec<f64>>,
    /// Bytes of unfinished tail dropped.
    pub dropped_tail_bytes: f64,
    /// Where the damaged original was kept (`<path>.damaged`), if anything was skipped.
    pub backup: Option<String>,
}
