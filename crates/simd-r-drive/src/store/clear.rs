//! [`Store::clear`]: every key gone at once, in one entry.

use crate::error::Result;
use crate::format::{self, GENERATION_SINCE};

use super::write::Appending;
use super::{Commit, Op, Store};

impl Store {
    /// Deletes every key, atomically: after a crash the store has all its keys or none.
    /// Writes one Clear entry (FORMAT.md, "Clear"), a batch of its own, so it costs the
    /// same whatever the store holds; the space of the keys comes back at the next
    /// [`Store::compact`]. In a file of format version 1 or 2, which has no Clear entry,
    /// it writes a tombstone for every key in one batch instead. A store without keys is
    /// left as it is. With [`crate::StoreOptions::sync`], returns once the clear is
    /// durable.
    pub fn clear(&self) -> Result<Commit> {
        self.check_writable()?;
        let buf = self.writer.lock();
        let (version, len, seq) = {
            let s = self.state.read();
            (s.format_version, s.index.len(), s.seq)
        };
        if len == 0 {
            return Ok(Commit {
                existed: Vec::new(),
                seq,
            });
        }
        if version < GENERATION_SINCE {
            return self.clear_by_tombstones(buf);
        }
        let mut appending = Appending::begin(self, buf, true)?;
        appending.encode_clear();
        let (seq, ()) = appending.finish()?.commit(|index, _| index.clear());
        if self.sync_commits {
            self.wait_durable(seq)?;
        }
        Ok(Commit {
            existed: vec![true],
            seq,
        })
    }

    /// [`Store::clear`] of a version 1 or 2 file: a tombstone for every live key, one
    /// batch. `buf` is the writer lock's guard.
    fn clear_by_tombstones(&self, buf: parking_lot::MutexGuard<'_, Vec<u8>>) -> Result<Commit> {
        let (map, end, offsets) = {
            let s = self.state.read();
            let data = s.map.bytes(s.end);
            (s.map.clone(), s.end, s.index.offsets_sorted(data))
        };
        let data = map.bytes(end);
        let ops: Vec<Op<'_>> = offsets
            .iter()
            .map(|&off| Op::Delete {
                key: format::key_at(data, off),
            })
            .collect();
        let hashes: Vec<u64> = ops.iter().map(|op| self.hash(op.key())).collect();
        let commit = self.append(buf, &ops, &hashes)?;
        if self.sync_commits {
            self.wait_durable(commit.seq)?;
        }
        Ok(commit)
    }
}
