//! Walking the entries of a file: recovery at open, catching up a read-only follower,
//! verification and salvage.
//!
//! Recovery is one forward pass over the file, so it is linear in the file's size.
//! Entries become visible a batch at a time: an entry joins the index only when the commit
//! marker of its batch has been read and verified. When an entry fails to verify, the pass
//! looks for any verifying entry after it. If there is none, the failure is an unfinished
//! tail (a write the process or machine did not finish) and everything from the last
//! commit on is dropped. If there is one, valid data follows the damage: that is
//! corruption, and the scan reports it instead of dropping the data after it.

use crate::format::{self, BadEntry, EntryHeader, ALIGN, ENTRY_HEADER_LEN};

/// How a scan treats an entry that fails to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Opening a store: damage before valid data is an error.
    Strict,
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
    /// Entries applied.
    pub entries: u64,
    /// Where an unfinished tail starts and why it stopped the scan, if there was one.
    pub tail: Option<(u64, &'static str)>,
    /// Damaged byte ranges skipped (salvage only).
    pub skipped: Vec<(u64, u64)>,
}

/// Damage found before valid data (strict mode only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    pub offset: u64,
    pub reason: &'static str,
}

/// Scans `data` (the file's bytes from offset 0; its length is the file's length) from
/// `start`, calling `apply(offset, header)` for each entry of each complete batch, in order.
pub(crate) fn scan(
    data: &[u8],
    start: u64,
    mode: Mode,
    mut apply: impl FnMut(u64, &EntryHeader),
) -> Result<Outcome, Damage> {
    let len = data.len() as u64;
    let mut out = Outcome {
        committed_end: start,
        ..Outcome::default()
    };
    let mut pending: Vec<(u64, EntryHeader)> = Vec::new();
    let mut pos = start;
    loop {
        if pos >= len {
            if !pending.is_empty() {
                out.tail = Some((out.committed_end, "a batch without its commit marker"));
            }
            break;
        }
        match format::verify_entry(data, pos) {
            Ok(h) => {
                pending.push((pos, h));
                pos += h.len();
                if h.commit {
                    for (off, h) in pending.drain(..) {
                        apply(off, &h);
                        out.entries += 1;
                    }
                    out.committed_end = pos;
                }
            }
            Err(bad) => match mode {
                Mode::Follow => {
                    out.tail = Some((out.committed_end, bad.describe()));
                    break;
                }
                Mode::Strict => {
                    if let Some(_next) = next_valid(data, pos + ALIGN, Some(budget(len, pos))) {
                        return Err(Damage {
                            offset: pos,
                            reason: bad.describe(),
                        });
                    }
                    out.tail = Some((out.committed_end, bad.describe()));
                    break;
                }
                Mode::Salvage => {
                    // Keep what verified of the interrupted batch, then skip the damage.
                    for (off, h) in pending.drain(..) {
                        apply(off, &h);
                        out.entries += 1;
                    }
                    match next_valid(data, pos + ALIGN, None) {
                        Some(Found::At(next)) => {
                            out.skipped.push((pos, next));
                            pos = next;
                        }
                        _ => {
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

/// How many bytes a resynchronising search may hash before it gives up and assumes the
/// worst (that valid data follows). Only crafted files come near it.
fn budget(len: u64, pos: u64) -> u64 {
    2 * (len - pos) + (1 << 20)
}

/// Result of looking for the next entry that verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// An entry verifies at this offset.
    At(u64),
    /// The search budget ran out before the end: treat as if valid data followed.
    Exhausted,
}

/// Finds the first aligned offset at or after `from` where an entry verifies.
fn next_valid(data: &[u8], from: u64, budget: Option<u64>) -> Option<Found> {
    let len = data.len() as u64;
    let mut spent = 0u64;
    let mut q = from;
    while q + ENTRY_HEADER_LEN <= len {
        match format::verify_entry(data, q) {
            Ok(_) => return Some(Found::At(q)),
            Err(BadEntry::Checksum) => {
                // Only plausible headers get as far as hashing; count what it cost.
                let h = format::read_header_trusted(&data[q as usize..]);
                spent += h.len();
                if let Some(b) = budget {
                    if spent > b {
                        return Some(Found::Exhausted);
                    }
                }
            }
            Err(_) => {}
        }
        q += ALIGN;
    }
    None
}
