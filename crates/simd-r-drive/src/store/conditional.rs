//! Conditional writes ([`Store::write_if`], [`Store::put_if_absent`],
//! [`Store::compare_and_set`]) and versions ([`Store::version_of`]).
//!
//! A condition is checked by the single writer, under the writer lock, against the index
//! and the operations of the same batch before it: two callers racing for a key (from
//! two threads, or two operations of one batch) never both win. An operation whose
//! condition fails writes nothing; the others of its batch are still committed.
//!
//! A version is `base + offset` for an entry written in place (the base is in the file
//! header, FORMAT.md), or the explicit version a copied entry carries (compaction, repair):
//! every write of a key gives it a version larger than any it had before, so a version
//! tells A→B→A apart, and it survives compaction and reopening.

use std::collections::HashMap;

use crate::error::Result;
use crate::format;

use super::{Op, State, Store};

/// What must hold for a conditional operation to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition<'a> {
    /// The key has no value.
    Absent,
    /// The key's value is exactly these bytes.
    Value(&'a [u8]),
    /// The key has a value whose version ([`Store::version_of`]) is this one.
    Version(u64),
}

/// What [`Store::write_if`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionalCommit {
    /// For each operation, whether it was written (its condition held, or it had none).
    pub wrote: Vec<bool>,
    /// For each operation that was written, whether its key had a value just before it
    /// (`false` for those not written).
    pub existed: Vec<bool>,
    /// The commit's sequence number (that of the latest commit when nothing was written).
    pub seq: u64,
}

/// A key's state as the operations before it in the batch left it.
#[derive(Clone, Copy)]
enum Pending<'a> {
    /// Put in this batch: a value, and a version no caller can know yet.
    Put(&'a [u8]),
    /// Deleted in this batch.
    Deleted,
}

impl State {
    /// The value bytes and version of `key` (whose hash is `hash`) in the committed state
    /// at time `now` (an expired value is none).
    fn current(&self, hash: u64, key: &[u8], now: u64) -> Option<(&[u8], u64)> {
        let data = self.map.bytes(self.end);
        let off = self.index.find(data, hash, key)?;
        if format::expired(data, off, || now) {
            return None;
        }
        Some((
            format::value_at(data, off),
            format::entry_version(data, off),
        ))
    }
}

impl Store {
    /// The version of `key`'s value, or `None` if it has none: a number that every write
    /// of the key (a put of any value, even the same bytes; a delete and a new put)
    /// replaces with a larger one, and that compaction, repair and reopening keep. Give it
    /// to [`Condition::Version`] to write only if nobody wrote the key since it was read.
    pub fn version_of(&self, key: &[u8]) -> Result<Option<u64>> {
        self.check_open()?;
        Self::validate(key, None)?;
        let hash = self.hash(key);
        let now = self.now_ms();
        let s = self.state.read();
        Ok(s.current(hash, key, now).map(|(_, v)| v))
    }

    /// Sets `key` to `value` if it has no value. Returns whether it wrote.
    pub fn put_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool> {
        let c = self.write_if(&[(Op::Put { key, value }, Some(Condition::Absent))])?;
        Ok(c.wrote[0])
    }

    /// Sets `key` to `value` (deletes it when `value` is `None`) if `expected` holds.
    /// Returns whether it wrote.
    pub fn compare_and_set(
        &self,
        key: &[u8],
        expected: Condition<'_>,
        value: Option<&[u8]>,
    ) -> Result<bool> {
        let op = match value {
            Some(value) => Op::Put { key, value },
            None => Op::Delete { key },
        };
        Ok(self.write_if(&[(op, Some(expected))])?.wrote[0])
    }

    /// Commits the operations of `ops` whose condition holds (or that have none) as one
    /// batch. Each condition is checked under the writer lock against the committed state
    /// and the written operations before it in `ops`; a version condition on a key that an
    /// earlier operation of `ops` writes fails (that write's version is new). With
    /// [`crate::StoreOptions::sync`], returns once the batch is durable.
    pub fn write_if(&self, ops: &[(Op<'_>, Option<Condition<'_>>)]) -> Result<ConditionalCommit> {
        self.write_if_inner(ops, true)
            .map(|c| c.expect("a waiting write always commits"))
    }

    /// Like [`Store::write_if`], but writes nothing and returns `Ok(None)` at once when the
    /// writer lock is taken (see [`Store::try_write`]).
    pub fn try_write_if(
        &self,
        ops: &[(Op<'_>, Option<Condition<'_>>)],
    ) -> Result<Option<ConditionalCommit>> {
        self.write_if_inner(ops, false)
    }

    fn write_if_inner(
        &self,
        ops: &[(Op<'_>, Option<Condition<'_>>)],
        wait: bool,
    ) -> Result<Option<ConditionalCommit>> {
        for (op, _) in ops {
            match op {
                Op::Put { key, value } | Op::PutExpiring { key, value, .. } => {
                    Self::validate(key, Some(value))?
                }
                Op::Delete { key } => Self::validate(key, None)?,
            }
        }
        self.check_writable()?;
        let hashes: Vec<u64> = ops.iter().map(|(op, _)| self.hash(op.key())).collect();
        if self.max_bytes().is_some() {
            self.check_fits(
                ops.iter()
                    .filter_map(|(op, _)| super::evict::put_len(op))
                    .sum(),
            )?;
        }
        let Some(buf) = self.writer_for_append(wait)? else {
            return Ok(None);
        };
        // Under the writer lock the committed state cannot change: decide every condition.
        let wrote = {
            let now = self.now_ms();
            let s = self.state.read();
            decide(&s, ops, &hashes, now)
        };
        let chosen: Vec<Op<'_>> = (ops.iter().zip(&wrote))
            .filter(|(_, &w)| w)
            .map(|((op, _), _)| *op)
            .collect();
        let mut existed = vec![false; ops.len()];
        if chosen.is_empty() {
            let seq = self.state.read().seq;
            return Ok(Some(ConditionalCommit {
                wrote,
                existed,
                seq,
            }));
        }
        let chosen_hashes: Vec<u64> = (hashes.iter().zip(&wrote))
            .filter(|(_, &w)| w)
            .map(|(&h, _)| h)
            .collect();
        self.check_writable()?;
        let commit = self.append(buf, &chosen, &chosen_hashes)?;
        let mut it = commit.existed.iter();
        for (e, _) in existed.iter_mut().zip(&wrote).filter(|(_, &w)| w) {
            *e = *it.next().expect("one flag per written operation");
        }
        if self.sync_commits {
            self.wait_durable(commit.seq)?;
        }
        Ok(Some(ConditionalCommit {
            wrote,
            existed,
            seq: commit.seq,
        }))
    }
}

/// Which operations of `ops` are written: each whose condition holds in `s` as changed by
/// the written operations before it.
/// An expired value (at time `now`) counts as absent.
fn decide(
    s: &State,
    ops: &[(Op<'_>, Option<Condition<'_>>)],
    hashes: &[u64],
    now: u64,
) -> Vec<bool> {
    let mut pending: HashMap<&[u8], Pending<'_>> = HashMap::new();
    let mut wrote = Vec::with_capacity(ops.len());
    for ((op, cond), &hash) in ops.iter().zip(hashes) {
        let key = op.key();
        let holds = match cond {
            None => true,
            Some(cond) => {
                let (value, version) = match pending.get(key) {
                    Some(Pending::Put(v)) => (Some(*v), None),
                    Some(Pending::Deleted) => (None, None),
                    None => match s.current(hash, key, now) {
                        Some((v, ver)) => (Some(v), Some(ver)),
                        None => (None, None),
                    },
                };
                match cond {
                    Condition::Absent => value.is_none(),
                    Condition::Value(want) => value == Some(*want),
                    Condition::Version(want) => version == Some(*want),
                }
            }
        };
        if holds {
            let after = match op {
                Op::Put { value, .. } => Pending::Put(value),
                Op::PutExpiring {
                    value, expires_at, ..
                } if *expires_at > now => Pending::Put(value),
                Op::PutExpiring { .. } | Op::Delete { .. } => Pending::Deleted,
            };
            pending.insert(key, after);
        }
        wrote.push(holds);
    }
    wrote
}
