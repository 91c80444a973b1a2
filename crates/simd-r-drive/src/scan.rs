//! Walking the entries of a file: recovery at open, catching up a read-only follower,
//! verification and salvage.
//!
//! Recovery is one forward pass over the file, so it is linear in the file's size.
//! Entries become visible a batch at a time: an entry joins the index only when the commit
//! marker of its batch has been read and verified (the entry's own commit flag for a
//! single-entry batch, or a commit record naming the batch's first offset).
//!
//! When an entry fails to verify at offset `p`, strict mode decides between an unfinished
//! tail and corruption:
//! - nothing after `p` verifies: an unfinished tail; everything from the last commit on
//!   is dropped;
//! - what verifies after `p` only completes the very batch that `p` is part of, and nothing
//!   verifies after that batch's commit: the last batch was torn (a crash wrote its pages
//!   out of order); it is dropped as an unfinished tail;
//! - otherwise valid, committed data follows the damage. If a sync mark after the damage
//!   says that the damaged bytes had been made durable, that is corruption, and the scan
//!   reports it instead of dropping the data after it. If no sync mark covers them, they
//!   were written after the last sync, where a power loss may have written pages back in
//!   any order: the damage starts an unsynced tail, dropped like an unfinished one (the
//!   writer keeps a copy of the dropped bytes, see `Store::open`).
//!
//! One scan hashes at most twice the file's length (plus [`BUDGET_SLACK`]), however the
//! file is made: each candidate entry costs its claimed length, charged to one [`Budget`]
//! shared by the walk and every look-ahead after damage (so a crafted tail of fake headers
//! that each claim the rest of the file cannot make recovery quadratic). When the budget
//! runs out, strict mode reports the damage (the safe answer: it never drops data it could
//! not rule on), and salvage skips the rest of the file as damaged (repair then keeps the
//! original as `<store>.damaged`). Real files come nowhere near it: the walk hashes each
//! entry once, and a look-ahead after real damage stops at the next complete batch.

use crate::format::{self, BadEntry, EntryHeader, EntryKind, ALIGN, ENTRY_HEADER_LEN};

/// How a scan treats an entry that fails to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Opening a store: damage before valid data is an error, unless `marks` (the file's
    /// version has sync marks) and no sync mark covers the damage (an unsynced tail).
    /// Version 1 files cannot say what was synced, so all such damage is an error there.
    /// `live`: the file may have a writer in another process appending to it as it is read
    /// (a read-only open). Its half-copied batch can look like damage with valid data after
    /// it, when the look-ahead reads what the writer wrote meanwhile; so damage is read
    /// again before it is reported (see [`settled_damage`]).
    Strict { marks: bool, live: bool },
    /// A read-only follower reading what a live writer appends: stop at the first entry
    /// that does not verify (it may still be being written) and try again later.
    Follow,
    /// Repair: skip damage and keep every entry that verifies.
    Salvage,
}

/// What a scan found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// End of the last complete batch: everything before it verified and was applied.
    pub committed_end: u64,
    /// Entries applied (commit records not counted).
    pub entries: u64,
    /// Where an unfinished tail starts and why it stopped the scan, if there was one.
    pub tail: Option<(u64, &'static str)>,
    /// Damaged byte ranges skipped (salvage only).
    pub skipped: Vec<(u64, u64)>,
    /// Strict mode only: where the damage is when the tail was dropped although valid data
    /// follows it, because no sync mark covers the damaged bytes (see the module docs).
    pub unsynced_damage: Option<u64>,
    /// The last sync mark among the complete batches: its offset and recorded durable end.
    pub last_mark: Option<(u64, u64)>,
}

/// Damage found before valid data (strict mode only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    pub offset: u64,
    pub reason: &'static str,
}

/// Bytes a scan may hash beyond twice the file's length (small files, rounding).
pub(crate) const BUDGET_SLACK: u64 = 64 << 10;

/// Why a candidate entry was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    /// It does not verify.
    Bad(BadEntry),
    /// Verifying it would exceed the scan's hashing budget; it was not hashed.
    OverBudget,
}

/// The bytes one scan may still hash, and the last entry it verified (so that the walk
/// does not hash again an entry that a look-ahead verified).
struct Budget {
    left: u64,
    verified: Option<(u64, EntryHeader)>,
}

impl Budget {
    fn for_file(len: u64) -> Budget {
        Budget {
            left: len.saturating_mul(2).saturating_add(BUDGET_SLACK),
            verified: None,
        }
    }

    /// [`format::verify_entry`], charged to the budget: an impossible header costs
    /// nothing, a plausible one its claimed length.
    fn verify(&mut self, data: &[u8], pos: u64) -> Result<EntryHeader, Fail> {
        if let Some((at, h)) = self.verified {
            if at == pos {
                return Ok(h);
            }
        }
        let h = format::plausible_entry(data, pos).map_err(Fail::Bad)?;
        if h.len() > self.left {
            return Err(Fail::OverBudget);
        }
        self.left -= h.len();
        format::verify_checksum(data, pos, &h).map_err(Fail::Bad)?;
        self.verified = Some((pos, h));
        Ok(h)
    }
}

/// One step of the walk: an entry that verified, and whether (and where) it closes a batch.
fn step(
    data: &[u8],
    pos: u64,
    pending_start: Option<u64>,
    budget: &mut Budget,
) -> Result<(EntryHeader, Option<u64>), Fail> {
    let h = budget.verify(data, pos)?;
    let bad = |why| Err(Fail::Bad(BadEntry::Header(why)));
    if h.kind == EntryKind::SyncMark && format::sync_mark_end(data, pos) > pos {
        return bad("a sync mark past its own offset");
    }
    match h.kind {
        EntryKind::Commit => {
            let start = format::commit_batch_start(data, pos);
            if pending_start != Some(start) {
                return bad("a commit record that does not match its batch");
            }
            Ok((h, Some(start)))
        }
        _ if h.commit => {
            if pending_start.is_some() {
                return bad("a committed entry inside an open batch");
            }
            Ok((h, Some(pos)))
        }
        _ => Ok((h, None)),
    }
}

/// One entry of a walk over data already known to be committed (below a store's end): the
/// entry at `pos`, verified, and where the batch it closes started, if it closes one
/// (`pending_start` is the start of the open batch `pos` is inside, if any). The change
/// feed walks the log with it, so batches are told apart exactly as recovery does.
pub(crate) fn committed_step(
    data: &[u8],
    pos: u64,
    pending_start: Option<u64>,
) -> Result<(EntryHeader, Option<u64>), &'static str> {
    let mut budget = Budget::for_file(data.len() as u64);
    step(data, pos, pending_start, &mut budget).map_err(|f| match f {
        Fail::Bad(bad) => bad.describe(),
        Fail::OverBudget => "an entry longer than the file",
    })
}

/// Scans `data` (the file's bytes from offset 0; its length is the file's length) from
/// `start`, calling `apply(offset, header)` for each Put, Delete or Clear of each complete
/// batch, in order.
pub(crate) fn scan(
    data: &[u8],
    start: u64,
    mode: Mode,
    mut apply: impl FnMut(u64, &EntryHeader),
) -> Result<Outcome, Damage> {
    scan_until(data, start, mode, |off, h| {
        apply(off, h);
        true
    })
}

/// [`scan`], whose `apply` returns whether to go on: once it returns `false`, the scan
/// stops after the rest of that batch has been applied, and returns what it found so far
/// (a caller that stops it, to cancel, knows to ignore that partial outcome).
pub(crate) fn scan_until(
    data: &[u8],
    start: u64,
    mode: Mode,
    mut apply: impl FnMut(u64, &EntryHeader) -> bool,
) -> Result<Outcome, Damage> {
    let mut go_on = true;
    let len = data.len() as u64;
    let mut out = Outcome {
        committed_end: start,
        ..Outcome::default()
    };
    let mut pending: Vec<(u64, EntryHeader)> = Vec::new();
    let mut budget = Budget::for_file(len);
    let mut pos = start;
    let mut asked = 0;
    // Live strict mode: the offset of damage last found to have been a write in progress.
    let mut resettled = None;
    loop {
        crate::mapping::read_ahead(data, pos, &mut asked);
        if pos >= len {
            if !pending.is_empty() {
                out.tail = Some((out.committed_end, "a batch without its commit marker"));
            }
            break;
        }
        match step(data, pos, pending.first().map(|p| p.0), &mut budget) {
            Ok((h, closes)) => {
                if matches!(
                    h.kind,
                    EntryKind::Put | EntryKind::Delete | EntryKind::Clear
                ) {
                    pending.push((pos, h));
                } else if h.kind == EntryKind::SyncMark {
                    out.last_mark = Some((pos, format::sync_mark_end(data, pos)));
                }
                pos += h.len();
                if closes.is_some() {
                    for (off, h) in pending.drain(..) {
                        go_on &= apply(off, &h);
                        out.entries += 1;
                    }
                    out.committed_end = pos;
                    if !go_on {
                        break;
                    }
                }
            }
            Err(Fail::OverBudget) => match mode {
                // Not reached: the walk alone hashes each byte at most once before it
                // stops (strict, follow), and look-aheads stop within the budget.
                Mode::Strict { .. } | Mode::Follow => {
                    return Err(Damage {
                        offset: pos,
                        reason: "damage that recovery could not rule on within its budget",
                    });
                }
                Mode::Salvage => {
                    for (off, h) in pending.drain(..) {
                        apply(off, &h);
                        out.entries += 1;
                    }
                    out.skipped.push((pos, len));
                    break;
                }
            },
            Err(Fail::Bad(bad)) => match mode {
                Mode::Follow => {
                    out.tail = Some((out.committed_end, bad.describe()));
                    break;
                }
                Mode::Strict { marks, live } => {
                    if valid_data_follows(data, out.committed_end, pos, &mut budget) {
                        let pending_start = pending.first().map(|p| p.0);
                        if live
                            && resettled != Some(pos)
                            && !settled_damage(data, pos, pending_start, &mut budget)
                        {
                            // A write that was in progress, finished now: walk on over it
                            // (once per offset, so the walk always moves on).
                            resettled = Some(pos);
                            continue;
                        }
                        if !marks || synced_past(data, pos, &mut budget) {
                            return Err(Damage {
                                offset: pos,
                                reason: bad.describe(),
                            });
                        }
                        out.unsynced_damage = Some(pos);
                        out.tail = Some((
                            out.committed_end,
                            "damage in data written after the last sync (a power loss can \
                             write such data back out of order)",
                        ));
                        break;
                    }
                    out.tail = Some((out.committed_end, bad.describe()));
                    break;
                }
                Mode::Salvage => {
                    // Keep what verified of the interrupted batch, then skip the damage.
                    for (off, h) in pending.drain(..) {
                        go_on &= apply(off, &h);
                        out.entries += 1;
                    }
                    if !go_on {
                        break;
                    }
                    match next_valid(data, pos + ALIGN, &mut budget) {
                        Some(Found::At(next)) => {
                            out.skipped.push((pos, next));
                            pos = next;
                        }
                        Some(Found::Exhausted) => {
                            out.skipped.push((pos, len));
                            break;
                        }
                        None => {
                            out.tail = Some((pos, bad.describe()));
                            break;
                        }
                    }
                }
            },
        }
    }
    Ok(out)
}

/// Strict mode's decision after damage at `damage` (the last commit ended at
/// `committed_end`): does valid data that is not part of the final, torn batch follow?
/// Runs out of budget as `true` (report, do not drop).
fn valid_data_follows(data: &[u8], committed_end: u64, damage: u64, budget: &mut Budget) -> bool {
    let len = data.len() as u64;
    let mut from = damage + ALIGN;
    loop {
        let q = match next_valid(data, from, budget) {
            None => return false,
            Some(Found::Exhausted) => return true,
            Some(Found::At(q)) => q,
        };
        // Walk the run of verifying entries that starts at q.
        let mut r = q;
        loop {
            if r >= len {
                // The run ends at the end of the file without a commit: part of the tail.
                return false;
            }
            match budget.verify(data, r) {
                Ok(h) => {
                    let closes = match h.kind {
                        EntryKind::Commit => Some(format::commit_batch_start(data, r)),
                        _ if h.commit => Some(r),
                        _ => None,
                    };
                    r += h.len();
                    if let Some(batch_start) = closes {
                        // A batch closes at r. It is the torn final batch only if it began
                        // at the last commit (so the damage lies inside it) and nothing
                        // verifies after it.
                        if batch_start != committed_end || batch_start > damage {
                            return true;
                        }
                        return next_valid(data, r, budget).is_some();
                    }
                }
                Err(Fail::OverBudget) => return true,
                Err(Fail::Bad(_)) => {
                    // Another damaged spot inside the same open run: keep looking.
                    from = r + ALIGN;
                    break;
                }
            }
        }
    }
}

/// How long a live scan waits, in all, for damage to turn into the entry a writer was still
/// copying, before it reports it (the waits: 1, 4, 16 and 64 ms).
const SETTLE_WAITS_MS: [u64; 4] = [1, 4, 16, 64];

/// For a scan of a file a writer may be appending to: whether the damage at `damage` stays
/// after reading it again, immediately and then after short waits. The look-ahead that
/// found valid data after it read bytes the writer wrote after those at `damage` (a writer
/// appends in order), so a write in progress at `damage` has finished by then or soon
/// after; real damage stays. `pending_start` is the start of the open batch `damage` is in,
/// if any. Costs nothing until damage is seen, at most 85 ms then; each reading is charged
/// to the scan's `budget`, and damage that the budget cannot pay to read again is reported.
fn settled_damage(
    data: &[u8],
    damage: u64,
    pending_start: Option<u64>,
    budget: &mut Budget,
) -> bool {
    for wait in std::iter::once(0).chain(SETTLE_WAITS_MS) {
        if wait > 0 {
            std::thread::sleep(std::time::Duration::from_millis(wait));
        }
        // Order the reads below after those of the look-ahead (weakly ordered CPUs).
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        match step(data, damage, pending_start, budget) {
            Ok(_) => return false,
            Err(Fail::OverBudget) => return true,
            Err(Fail::Bad(_)) => {}
        }
    }
    true
}

/// Whether a sync mark after `damage` says that the bytes at `damage` had been made durable
/// before the mark was written: then the damage is not what a power loss does to unsynced
/// data. Runs out of budget as `true` (the safe answer: report, do not drop).
fn synced_past(data: &[u8], damage: u64, budget: &mut Budget) -> bool {
    let mut from = damage + ALIGN;
    loop {
        let mut r = match next_valid(data, from, budget) {
            None => return false,
            Some(Found::Exhausted) => return true,
            Some(Found::At(q)) => q,
        };
        loop {
            match budget.verify(data, r) {
                Ok(h) => {
                    if h.kind == EntryKind::SyncMark {
                        let durable_end = format::sync_mark_end(data, r);
                        if durable_end > damage && durable_end <= r {
                            return true;
                        }
                    }
                    r += h.len();
                }
                Err(Fail::OverBudget) => return true,
                Err(Fail::Bad(_)) => break,
            }
        }
        from = r + ALIGN;
    }
}

/// Result of looking for the next entry that verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// An entry verifies at this offset.
    At(u64),
    /// The budget ran out before the search ended: treat as if valid data followed.
    Exhausted,
}

/// Finds the first aligned offset at or after `from` where an entry verifies. Offsets
/// whose header is impossible are rejected without hashing; plausible ones are charged to
/// `budget`.
fn next_valid(data: &[u8], from: u64, budget: &mut Budget) -> Option<Found> {
    let len = data.len() as u64;
    let mut q = from;
    while q + ENTRY_HEADER_LEN <= len {
        match budget.verify(data, q) {
            Ok(_) => return Some(Found::At(q)),
            Err(Fail::OverBudget) => return Some(Found::Exhausted),
            Err(Fail::Bad(_)) => {}
        }
        q += ALIGN;
    }
    None
}
