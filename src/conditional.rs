//! Versions, `clear` and transactions: the native side of `lib/transaction.js` and of the
//! conditional writes of `lib/write.js` (which commit through `write_batch`, their
//! conditions staged with the operations, see `staging.rs`).
//!
//! # JavaScript: `Store.putIfAbsent`
//!
//! Sets `key` to `value` only if it has no value; resolves to whether it wrote. The
//! condition is checked when the write commits, by the store's one writer (against the
//! store and the operations before it in the same tick's batch), so two callers racing
//! for a key (in this thread or in worker threads) never both win. A failed condition
//! writes nothing; the other writes of the batch commit all the same. A key whose value
//! expired is absent; `options` ({@link WriteOptions}) give the new value an expiry.
//!
//! # JavaScript: `Store.putIfAbsentSync`
//!
//! Like {@link Store.putIfAbsent}, committed before returning (after anything staged
//! before it); returns whether it wrote.
//!
//! # JavaScript: `Store.compareAndSet`
//!
//! Writes `value` to `key` (deletes it when `value` is `undefined`) only if `expected`
//! holds: `undefined` for "the key has no value", the bytes (or string) the value must
//! equal, or `{ version }`, a version from {@link Store.versionOf} the key must still
//! have. Resolves to whether it wrote. Checked at commit, as {@link Store.putIfAbsent}
//! is. Comparing bytes cannot tell a value that changed and changed back (A→B→A) from
//! one that never changed, and costs the value's length; a version can and does not. A
//! key whose value expired has no value; `options` ({@link WriteOptions}) give the new
//! value an expiry (a `ttl` counts from this call; they are checked for a delete too, and
//! give it none).
//!
//! # JavaScript: `Store.compareAndSetSync`
//!
//! Like {@link Store.compareAndSet}, committed before returning; returns whether it wrote.
//!
//! # JavaScript: `Store.clearSync`
//!
//! Like {@link Store.clear}, committed before returning (after anything staged before it).
//!
//! # JavaScript: `Transaction`
//!
//! The reads and writes of one {@link Store.transactionSync} call. Reads see the store
//! plus the transaction's own writes; writes are staged and commit together when the
//! callback returns. Using it after its callback has returned throws
//! `ERR_INVALID_STATE`.
//!
//! # JavaScript: `Transaction.get`
//!
//! The value of `key` as the store and this transaction's writes leave it, or
//! `undefined`. A value this transaction wrote is returned as a `Buffer` copy.
//!
//! # JavaScript: `Transaction.has`
//!
//! Whether `key` has a value, as {@link Transaction.get} sees it.
//!
//! # JavaScript: `Transaction.put`
//!
//! Stages setting `key` to `value` (copied now). `options` ({@link WriteOptions}) give it
//! an expiry (a `ttl` counts from this call); once that has passed, {@link Transaction.get}
//! sees no value either.
//!
//! # JavaScript: `Transaction.delete`
//!
//! Stages deleting `key`; returns whether it had a value (as {@link Transaction.get} sees
//! it). A key without a value stages nothing.
//!
//! # JavaScript: `Store.transaction`
//!
//! {@link Store.transactionSync} for async code: runs the synchronous `fn` at once, and
//! resolves to its result when the transaction has committed (once it is durable, with
//! `sync: true`); rejects with its error, unchanged, when it throws (nothing is written).
//! `fn` cannot `await`: everything between its reads and the commit happens while the
//! store's writer waits for it.

use napi::bindgen_prelude::{AsyncTask, BigInt, Buffer, Function};
use napi::{Env, Task};
use napi_derive::napi;
use simd_r_drive::Op;

use crate::errors::{coded, OrThrow};
use crate::registry;
use crate::scratch::byte_number;
use crate::staging;
use crate::write::{after_commit, writable};

/// What `transaction_sync` returns when the callback gave up (JavaScript rethrows its
/// error): nothing was written.
const ABORTED: f64 = -2.0;

/// The version of `key`'s value (see `Store::version_of` in the engine), or `null`.
///
/// # JavaScript: `Store.versionOf`
///
/// The version of `key`'s value, or `undefined` if it has none: a `bigint` that every
/// write of the key (a put of any value, even the same bytes again, or a delete and a new
/// put) replaces with a larger one, and that compaction, {@link Store.repair} and
/// reopening keep. Give it to {@link Store.compareAndSet} as `{ version }` to write only
/// if nobody wrote the key since. A version is the position of the key's entry in the
/// store's history of files; it is no count of writes, and only its order and identity
/// mean anything.
#[napi]
pub fn version_of(h: u32, key: Buffer) -> napi::Result<Option<BigInt>> {
    let handle = registry::borrow(h)?;
    Ok(handle.store.version_of(&key).or_throw()?.map(BigInt::from))
}

/// Clears the store on the calling thread, in its ticket's turn. Returns the commit's
/// sequence number.
#[napi]
pub fn clear_sync(h: u32, ticket: f64) -> napi::Result<f64> {
    let handle = registry::get(h)?;
    let ticket = byte_number("ticket", ticket, 0)?;
    let seq = handle.in_turn(ticket, || {
        writable(&handle)?;
        handle.store.clear().or_throw()
    })?;
    after_commit(&handle.store);
    Ok(seq.seq as f64)
}

/// A clear committed on the libuv threadpool.
pub struct ClearTask {
    handle: std::sync::Arc<registry::Handle>,
    ticket: u64,
    sync: bool,
}

impl Task for ClearTask {
    type Output = ();
    type JsValue = ();
    fn compute(&mut self) -> napi::Result<()> {
        let handle = &self.handle;
        let commit = handle.in_turn(self.ticket, || {
            writable(handle)?;
            handle.store.clear().or_throw()
        })?;
        after_commit(&handle.store);
        if self.sync {
            handle.store.wait_durable(commit.seq).or_throw()?;
        }
        Ok(())
    }
    fn resolve(&mut self, _env: Env, _: ()) -> napi::Result<()> {
        Ok(())
    }
}

/// Clears the store on the libuv threadpool, in ticket order; with `sync`, resolves once
/// that is durable.
///
/// # JavaScript: `Store.clear`
///
/// Deletes every key, atomically: after a crash (even a kill -9 or a power loss in the
/// middle) the store has all its keys or none. It writes one 16-byte entry whatever the
/// store holds (a store of format version 1 or 2 gets a tombstone per key instead), in
/// order with the other writes; the space comes back at the next {@link Store.compact}.
/// Readers opened `readOnly` see the store empty after their next
/// {@link Store.refresh}.
#[napi(ts_return_type = "Promise<void>")]
pub fn clear(h: u32, ticket: f64, sync: bool) -> napi::Result<AsyncTask<ClearTask>> {
    Ok(AsyncTask::new(ClearTask {
        handle: registry::get(h)?,
        ticket: byte_number("ticket", ticket, 0)?,
        sync,
    }))
}

/// Runs a transaction: in the turn of `ticket`, takes the engine's writer lock, calls
/// `body` (which runs the caller's function and returns the staged writes, or `null` to
/// give up), and commits what it returned as one batch. Returns the commit's sequence
/// number (that of the latest commit if nothing was staged), or -2 when `body` gave up.
///
/// # JavaScript: `Store.transactionSync`
///
/// Runs `fn(tx)` as one read-modify-write transaction and returns what it returned. Writes
/// staged by `put()` and friends are committed first; then the store's writer waits while
/// `fn` runs, so no other write (from any thread) is ordered between its reads and its
/// commit. `tx.get/has` see the store plus the transaction's own writes, `tx.put/delete`
/// stage writes, and when `fn` returns they commit as one atomic batch (durable before
/// this returns, with `sync: true`). When `fn` throws, nothing is written and the error
/// is thrown unchanged. `fn` must be synchronous: one that returns a promise (an `async`
/// function) is refused with `ERR_INVALID_STATE`, nothing written, since it could not be
/// atomic. Writes to the store itself (not `tx`) and nested transactions inside `fn`
/// throw `ERR_INVALID_STATE`.
#[napi]
pub fn transaction_sync(
    h: u32,
    ticket: f64,
    body: Function<'_, (), Option<Buffer>>,
) -> napi::Result<f64> {
    let handle = registry::get(h)?;
    let ticket = byte_number("ticket", ticket, 0)?;
    let done = handle.in_turn(ticket, || {
        writable(&handle)?;
        handle
            .store
            .transaction(|tx| -> napi::Result<bool> {
                let Some(staged) = body.call(())? else {
                    return Ok(false);
                };
                let staged = staging::parse_staged(&staged, None)?;
                if staged.conds.is_some() {
                    return Err(coded(
                        "ERR_INTERNAL",
                        "a transaction staged a conditional write (a bug in simd-r-drive)",
                    ));
                }
                for op in staged.ops {
                    match op {
                        Op::Put { key, value } => tx.put(key, value).or_throw()?,
                        Op::Delete { key } => {
                            tx.delete(key).or_throw()?;
                        }
                        Op::PutExpiring {
                            key,
                            value,
                            expires_at,
                        } => tx.put_expiring(key, value, expires_at).or_throw()?,
                    }
                }
                Ok(true)
            })
            .or_throw()
    })?;
    let (wrote, commit) = done?;
    if !wrote {
        return Ok(ABORTED);
    }
    if !commit.existed.is_empty() {
        after_commit(&handle.store);
    }
    Ok(commit.seq as f64)
}
