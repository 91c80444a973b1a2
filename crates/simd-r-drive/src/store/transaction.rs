//! Read-modify-write transactions ([`Store::transaction`]): the writer lock is held while
//! the caller reads and stages writes, and the staged writes commit as one batch, so no
//! other write is ordered between the transaction's reads and its commit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

use super::{Commit, Op, Store};

/// A number naming the calling thread, never 0, never reused while the process runs.
pub(crate) fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    std::thread_local! {
        static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|t| *t)
}

/// The reads and staged writes of a transaction (see [`Store::transaction`]).
pub struct Transaction<'s> {
    store: &'s Store,
    /// Staged writes, in order: a key and its new value (with its expiry, if any), or
    /// `None` for a delete.
    ops: Vec<(Vec<u8>, Option<Staged>)>,
    /// For each key written, the position in `ops` of its latest write.
    latest: HashMap<Vec<u8>, usize>,
}

/// A value staged by a transaction, and when it expires (ms since the Unix epoch).
struct Staged {
    value: Vec<u8>,
    expires_at: Option<u64>,
}

impl Transaction<'_> {
    /// The staged value of `key`'s latest write in this transaction: `Some(None)` for a
    /// delete or a value expired by the store's clock now, `None` if it wrote no `key`.
    fn staged(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        let &i = self.latest.get(key)?;
        Some(match &self.ops[i].1 {
            Some(v) if v.expires_at.is_none_or(|at| at > self.store.now_ms()) => Some(&v.value[..]),
            _ => None,
        })
    }

    /// The value of `key` as the store and this transaction's writes so far leave it
    /// (a copy). A value staged with an expiry that has passed is none.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.staged(key) {
            Some(v) => Ok(v.map(<[u8]>::to_vec)),
            None => Ok(self.store.get_with(key, |v| v.to_vec())?),
        }
    }

    /// Whether `key` has a value, as [`Transaction::get`] sees it.
    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        match self.staged(key) {
            Some(v) => Ok(v.is_some()),
            None => self.store.contains(key),
        }
    }

    /// Stages setting `key` to `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        Store::validate(key, Some(value))?;
        self.stage(key, Some((value.to_vec(), None)));
        Ok(())
    }

    /// Stages setting `key` to `value` until `expires_at` (ms since the Unix epoch), as
    /// [`Store::put_expiring`] does; from then on reads (this transaction's too) see no
    /// value.
    pub fn put_expiring(&mut self, key: &[u8], value: &[u8], expires_at: u64) -> Result<()> {
        Store::validate(key, Some(value))?;
        self.stage(key, Some((value.to_vec(), Some(expires_at))));
        Ok(())
    }

    /// Stages deleting `key`. Returns whether it had a value (as [`Transaction::get`] sees
    /// it); a key without one stages nothing.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        Store::validate(key, None)?;
        if !self.contains(key)? {
            return Ok(false);
        }
        self.stage(key, None);
        Ok(true)
    }

    /// Number of writes staged so far.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    fn stage(&mut self, key: &[u8], value: Option<(Vec<u8>, Option<u64>)>) {
        self.latest.insert(key.to_vec(), self.ops.len());
        let staged = value.map(|(value, expires_at)| Staged { value, expires_at });
        self.ops.push((key.to_vec(), staged));
    }
}

/// Clears the store's transaction thread when the transaction ends, however it ends.
struct Owner<'s>(&'s Store);

impl Drop for Owner<'_> {
    fn drop(&mut self) {
        self.0.tx_thread.store(0, Ordering::Release);
    }
}

impl Store {
    /// Fails with [`Error::InvalidState`] on the thread that runs a transaction of this
    /// store, from inside it: a write, flush, close or compaction would wait for the
    /// transaction's writer lock forever.
    pub(crate) fn check_not_in_transaction(&self) -> Result<()> {
        let t = self.tx_thread.load(Ordering::Acquire);
        if t != 0 && t == thread_token() {
            return Err(Error::InvalidState {
                what: "a write, flush, close or compaction of this store from inside its \
                       transaction would wait for that transaction forever; write through \
                       the transaction, or after it",
            });
        }
        Ok(())
    }

    /// Runs `f` with the writer lock held and commits the writes it staged in its
    /// [`Transaction`] as one batch (one commit marker: after a crash all or none are
    /// there). Inside `f`, reads through the transaction see the store plus its own writes,
    /// and no other writer (thread, compaction's final step) can commit: nothing is ordered
    /// between its reads and its commit. When `f` returns an error, nothing is written and
    /// the result is `Ok(Err(e))`; `Err` is the store's own failure (closed, read-only,
    /// the commit failed). A write on this store from inside `f`, on its thread, fails
    /// with [`Error::InvalidState`] (so does a nested transaction). Returns what `f`
    /// returned and the commit (`existed` has one flag per staged write; no commit is
    /// written when nothing was staged). With [`crate::StoreOptions::sync`], returns once
    /// the batch is durable.
    pub fn transaction<R, E>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> std::result::Result<R, E>,
    ) -> Result<std::result::Result<(R, Commit), E>> {
        self.check_writable()?;
        let buf = self
            .writer_for_append(true)?
            .expect("a waiting write always gets the lock");
        self.check_writable()?;
        let mut tx = Transaction {
            store: self,
            ops: Vec::new(),
            latest: HashMap::new(),
        };
        let out = {
            self.tx_thread.store(thread_token(), Ordering::Release);
            let _owner = Owner(self);
            f(&mut tx)
        };
        let r = match out {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        if tx.ops.is_empty() {
            let seq = self.state.read().seq;
            return Ok(Ok((
                r,
                Commit {
                    existed: Vec::new(),
                    seq,
                },
            )));
        }
        let ops: Vec<Op<'_>> = tx
            .ops
            .iter()
            .map(|(key, staged)| match staged {
                Some(Staged {
                    value,
                    expires_at: None,
                }) => Op::Put { key, value },
                Some(Staged {
                    value,
                    expires_at: Some(at),
                }) => Op::PutExpiring {
                    key,
                    value,
                    expires_at: *at,
                },
                None => Op::Delete { key },
            })
            .collect();
        let hashes: Vec<u64> = ops.iter().map(|op| self.hash(op.key())).collect();
        let commit = self.append(buf, &ops, &hashes)?;
        if self.sync_commits {
            self.wait_durable(commit.seq)?;
        }
        Ok(Ok((r, commit)))
    }
}
