//! The change feed: reading committed batches back from the log, in commit order, from a
//! [`Cursor`], and telling watchers that something was committed.
//!
//! The log already is the history of the store's changes. A reader walks it from a cursor
//! (the store file's generation identifier and a log offset at the end of a batch) to the
//! end of the committed data, with the same per-entry step as recovery
//! (`scan::committed_step`: each entry's checksum is verified, and batch boundaries are
//! the commit markers), and hands out each batch's puts and deletes as byte ranges of the
//! file. Nothing past the committed end is ever read, so an unfinished batch is never seen.
//!
//! A cursor names one store file: compaction (and repair) writes a new file with a new
//! generation identifier, and a cursor of another generation is refused with
//! [`Error::CursorExpired`]. After a compaction, the new file holds every live key once,
//! so a feed read from its start rebuilds the store's state exactly.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{EntryKind, ALIGN, HEADER_LEN};
use crate::scan;
use crate::store::Store;
use crate::window::PrivateMap;

/// A position in a store's history: the generation identifier of the store file and the
/// log offset just after a committed batch. Its text form ([`Cursor::encode`]) is opaque
/// to users; it stays valid across close and reopen, until the file is compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// The generation identifier of the store file (zeros for files of format versions 1
    /// and 2, which have none).
    pub generation: [u8; 16],
    /// The log offset where the next batch starts.
    pub offset: u64,
}

/// Prefix of the text form of a cursor (a version for the encoding itself).
const CURSOR_PREFIX: &str = "srd1";
/// Length of the text form: the prefix, 32 hex digits of generation, 16 of offset.
const CURSOR_TEXT_LEN: usize = 4 + 32 + 16;

impl Cursor {
    /// The cursor's text form: `srd1`, then the generation identifier and the offset in
    /// lowercase hex (52 ASCII characters).
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(CURSOR_TEXT_LEN);
        s.push_str(CURSOR_PREFIX);
        for b in self.generation {
            s.push_str(&format!("{b:02x}"));
        }
        s.push_str(&format!("{:016x}", self.offset));
        s
    }

    /// Parses the text form made by [`Cursor::encode`], or fails with
    /// [`Error::InvalidCursor`].
    pub fn parse(text: &str) -> Result<Cursor> {
        let bad = |why: &'static str| Error::InvalidCursor { reason: why };
        if text.len() != CURSOR_TEXT_LEN || !text.is_ascii() {
            return Err(bad("it is not 52 ASCII characters long"));
        }
        let (prefix, rest) = text.split_at(4);
        if prefix != CURSOR_PREFIX {
            return Err(bad("it does not start with srd1"));
        }
        let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|_| bad("it is not hexadecimal"));
        if !rest
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        {
            return Err(bad("it is not lowercase hexadecimal"));
        }
        let mut generation = [0u8; 16];
        for (i, g) in generation.iter_mut().enumerate() {
            *g = hex(&rest[2 * i..2 * i + 2])? as u8;
        }
        let offset = hex(&rest[32..])?;
        if offset < HEADER_LEN || offset % ALIGN != 0 {
            return Err(bad("its offset is not the start of an entry"));
        }
        Ok(Cursor { generation, offset })
    }
}

/// What one change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The key was set to the value.
    Put,
    /// The key was deleted (the value range is empty).
    Delete,
    /// The key's value had expired and the expiry sweep removed it
    /// ([`crate::Store::sweep_expired`]: an expiry record; the value range is empty).
    Expire,
    /// The size limit evicted the key ([`crate::StoreOptions::max_bytes`]: an eviction
    /// record; the value range is empty).
    Evict,
    /// Every key was removed ([`crate::Store::clear`]: a Clear entry; the key and value
    /// ranges are empty).
    Clear,
}

/// One put or delete of a committed batch, as byte ranges `(offset, length)` of the store
/// file (see [`ChangeRead::map`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// Put or delete.
    pub kind: ChangeKind,
    /// Where the key lies.
    pub key: (u64, usize),
    /// Where the value lies (length 0 for a delete).
    pub value: (u64, usize),
}

/// One committed batch, or a part of one that was too large for one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePart {
    /// Where to resume so that nothing of the batch is missed: after the batch for its
    /// last (or only) part, at the batch's start for the parts before (`more`).
    pub cursor: Cursor,
    /// More parts of the same batch follow.
    pub more: bool,
    /// The batch's puts and deletes in this part, in the order they were written.
    pub changes: Vec<Change>,
}

/// What one [`ChangeReader::read`] found.
#[derive(Debug)]
pub struct ChangeRead {
    /// The private mapping of the store file the ranges point into (see
    /// [`crate::PrivateMap`]).
    pub map: Arc<PrivateMap>,
    /// End of the completely written pages of that file: ranges below it may be viewed in
    /// place, others are copied.
    pub stable_end: u64,
    /// End of the committed data the parts were read from.
    pub end: u64,
    /// The batches found, in commit order (empty at the end of the log).
    pub parts: Vec<ChangePart>,
}

/// How much one [`ChangeReader::read`] returns at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeLimits {
    /// Changes (puts and deletes) per read.
    pub changes: usize,
    /// Bytes of keys and values per read.
    pub bytes: u64,
}

impl Default for ChangeLimits {
    /// 1,024 changes or 16 MiB of keys and values, whichever comes first (a single change
    /// larger than that is returned alone).
    fn default() -> Self {
        ChangeLimits {
            changes: 1024,
            bytes: 16 << 20,
        }
    }
}

/// Reads committed batches of a store from a cursor on; see [`Store::changes`].
#[derive(Debug, Clone)]
pub struct ChangeReader {
    generation: [u8; 16],
    /// Start of the batch being read (where a split batch resumes).
    batch_start: u64,
    /// Next entry to read.
    pos: u64,
    /// `pos` is inside the batch that starts at `batch_start` (a split batch).
    inside: bool,
    /// The cursor came from the caller and no batch was read from it yet: damage at it
    /// means the cursor is not at a batch boundary.
    unproven: bool,
}

impl ChangeReader {
    /// Where the reader stands: the cursor after the last batch read whole.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            generation: self.generation,
            offset: self.batch_start,
        }
    }

    /// Reads the committed batches after the reader's position, up to `limits` (a batch
    /// larger than them is returned in parts, see [`ChangePart::more`]), and moves past
    /// them. Returns no parts at the end of the committed data. Fails with
    /// [`Error::CursorExpired`] once the store file is not the one the cursor names (the
    /// store was compacted or repaired, or the cursor is of another store).
    pub fn read(&mut self, store: &Store, limits: ChangeLimits) -> Result<ChangeRead> {
        store.check_open()?;
        let (map, end, private, generation) = {
            let s = store.state.read();
            let private = s
                .map
                .private(&s.file)
                .map_err(|e| Error::io("mapping the file privately", &store.path, e))?
                .clone();
            (
                s.map.clone(),
                s.end,
                private,
                s.file_generation.unwrap_or([0; 16]),
            )
        };
        if generation != self.generation {
            return Err(Error::CursorExpired {
                path: store.path.clone(),
            });
        }
        let mut read = ChangeRead {
            map: private,
            stable_end: crate::window::stable_end(end),
            end,
            parts: Vec::new(),
        };
        if self.pos > end {
            // A follower that has not read as far as the writer the cursor came from: the
            // batches come once it has. A writer whose log ends before the cursor lost
            // data the cursor's reader had seen (a power loss dropped an unsynced tail).
            if store.read_only {
                return Ok(read);
            }
            return Err(Error::CursorExpired {
                path: store.path.clone(),
            });
        }
        let data = map.bytes(end);
        let (mut changes, mut bytes) = (0usize, 0u64);
        let mut part: Vec<Change> = Vec::new();
        while self.pos < end {
            let pending = self.inside.then_some(self.batch_start);
            let (h, closes) = match scan::committed_step(data, self.pos, pending) {
                Ok(step) => step,
                Err(why) if self.unproven => {
                    let _ = why;
                    return Err(Error::InvalidCursor {
                        reason: "it does not point at the start of a batch of this store",
                    });
                }
                Err(why) => return Err(Error::corrupt(&store.path, self.pos, why)),
            };
            let at = self.pos;
            let kind = match h.kind {
                EntryKind::Put => Some(ChangeKind::Put),
                EntryKind::Delete if crate::format::is_expiry_record(&h) => {
                    Some(ChangeKind::Expire)
                }
                EntryKind::Delete if crate::format::is_eviction(&h) => Some(ChangeKind::Evict),
                EntryKind::Delete => Some(ChangeKind::Delete),
                EntryKind::Clear => Some(ChangeKind::Clear),
                _ => None,
            };
            if let Some(kind) = kind {
                let size = (h.key_len + h.value_len) as u64;
                if !part.is_empty() && (changes >= limits.changes || bytes + size > limits.bytes) {
                    // Full: end the read here, mid-batch; the next read goes on from `at`.
                    read.parts.push(ChangePart {
                        cursor: self.cursor(),
                        more: true,
                        changes: std::mem::take(&mut part),
                    });
                    self.inside = true;
                    return Ok(read);
                }
                part.push(Change {
                    kind,
                    key: (at + h.key_start(), h.key_len),
                    value: (at + h.value_start(), h.value_len),
                });
                changes += 1;
                bytes += size;
            }
            self.pos = at + h.len();
            self.inside = closes.is_none();
            if closes.is_some() {
                self.batch_start = self.pos;
                self.unproven = false;
                if !part.is_empty() {
                    read.parts.push(ChangePart {
                        cursor: self.cursor(),
                        more: false,
                        changes: std::mem::take(&mut part),
                    });
                }
                if changes >= limits.changes || bytes >= limits.bytes {
                    break;
                }
            }
        }
        debug_assert!(part.is_empty(), "the committed data ends with a batch");
        Ok(read)
    }
}

impl Store {
    /// The cursor of the present: the generation identifier of the store file and the end
    /// of its committed data. A feed started from it sees the batches committed after.
    pub fn cursor(&self) -> Result<Cursor> {
        self.check_open()?;
        let s = self.state.read();
        Ok(Cursor {
            generation: s.file_generation.unwrap_or([0; 16]),
            offset: s.end,
        })
    }

    /// A reader of the committed batches after `since`, or from the oldest change in the
    /// log (the first entry after the header) without one. Fails with
    /// [`Error::CursorExpired`] when `since` is of another store file (see
    /// [`ChangeReader::read`]).
    pub fn changes(&self, since: Option<Cursor>) -> Result<ChangeReader> {
        let present = self.cursor()?;
        let start = since.unwrap_or(Cursor {
            generation: present.generation,
            offset: HEADER_LEN,
        });
        if start.generation != present.generation {
            return Err(Error::CursorExpired {
                path: self.path.clone(),
            });
        }
        Ok(ChangeReader {
            generation: start.generation,
            batch_start: start.offset,
            pos: start.offset,
            inside: false,
            unproven: start.offset != HEADER_LEN && start.offset != present.offset,
        })
    }

    /// Calls `wake` after every commit of this store from now on (in the committing
    /// thread, with no lock of the store held: keep it short, e.g. wake a thread), after
    /// every refresh of a read-only store that found new batches, and after a compaction or
    /// a follower's switch to a compacted file. Returns an id for [`Store::unwatch`].
    pub fn watch(&self, wake: Arc<dyn Fn() + Send + Sync>) -> u64 {
        self.watchers.add(wake)
    }

    /// Stops the calls of the [`Store::watch`] that returned `id`.
    pub fn unwatch(&self, id: u64) {
        self.watchers.remove(id)
    }
}
