'use strict'
// Read-modify-write transactions (mixed into Store's prototype by store.js). The engine's
// writer lock is held while the caller's function runs (src/conditional.rs,
// `transaction_sync`); its writes are staged here and committed as one batch when it returns.

const native = require('./native.js')
const errors = require('./errors.js')
const { checkKey, checkValue } = require('./keys.js')
const { Batch, EMPTY } = require('./write.js')
const { OP_PUT, OP_DELETE } = require('./scratch.js')
const { readExpiry, expiryTime } = require('./expiry.js')
const { decodeValue, encodeValue } = require('./encoding.js')

/** What `transaction_sync` returns when the callback gave up: nothing was written. */
const ABORTED = -2

/** A key's identity for the overlay: its bytes, one char per byte. */
function keyId (k) {
  const b = typeof k === 'string' ? Buffer.from(k, 'utf8') : Buffer.from(k.buffer, k.byteOffset, k.byteLength)
  return b.toString('latin1')
}

function ended () {
  return errors.coded('ERR_INVALID_STATE', 'This transaction has ended (its callback returned or threw): use the store, or start a new transaction.')
}

class Transaction {
  /** @private Made by `Store.transactionSync`. */
  constructor (store) {
    this._store = store
    this._batch = new Batch(EMPTY)
    // Key identity to the value this transaction wrote (a Buffer), or null for a delete.
    this._overlay = new Map()
    // Key identity to when the value this transaction wrote expires (ms since the epoch),
    // for those written with an expiry.
    this._expiries = new Map()
    this._done = false
  }

  /**
   * The value this transaction wrote for key identity `id`: a Buffer, `null` for none
   * (deleted, or written with an expiry that has passed), `undefined` if it wrote none.
   */
  _written (id) {
    if (!this._overlay.has(id)) return undefined
    const at = this._expiries.get(id)
    if (at !== undefined && at <= this._store._now()) return null
    return this._overlay.get(id)
  }

  get (key) {
    if (this._done) throw ended()
    const k = checkKey(key)
    const w = this._written(keyId(k))
    if (w !== undefined) return w === null ? undefined : decodeValue(this._store, Buffer.from(w))
    const v = this._store.getRaw(k)
    return v === undefined ? undefined : decodeValue(this._store, v)
  }

  has (key) {
    if (this._done) throw ended()
    const k = checkKey(key)
    const v = this._written(keyId(k))
    if (v !== undefined) return v !== null
    return this._store.has(k)
  }

  put (key, value, options) {
    if (this._done) throw ended()
    const k = checkKey(key)
    const v = checkValue(encodeValue(this._store, value))
    const e = readExpiry(options, 'options')
    const at = e === undefined ? undefined : expiryTime(e, this._store._now())
    if (at === undefined) this._batch.add(OP_PUT, k, v)
    else this._batch.addExpiring(k, v, at)
    const id = keyId(k)
    this._overlay.set(id, typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v))
    if (at === undefined) this._expiries.delete(id)
    else this._expiries.set(id, at)
  }

  delete (key) {
    if (this._done) throw ended()
    const k = checkKey(key)
    if (!this.has(k)) return false
    this._batch.add(OP_DELETE, k, null)
    const id = keyId(k)
    this._overlay.set(id, null)
    this._expiries.delete(id)
    return true
  }
}

function isThenable (v) {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function'
}

class Transactions {
  /**
   * Runs `fn(tx)` under the engine's writer lock and commits what it staged. Returns
   * `{ result, seq }`; throws `fn`'s error unchanged (nothing written).
   */
  _transact (fn) {
    if (typeof fn !== 'function') throw errors.invalidArgType('fn', 'a function', fn)
    const h = this._writable()
    // Writes staged earlier go first.
    if (this._batch !== null) this._flushBatch()
    const tx = new Transaction(this)
    let failure = null
    let failed = false
    let result
    const body = () => {
      this._inTransaction = true
      try {
        result = fn(tx)
        if (isThenable(result)) {
          // Its rejection is this call's error now, not an unhandled one.
          Promise.resolve(result).catch(() => {})
          throw errors.coded('ERR_INVALID_STATE', 'The transaction callback returned a promise (an async function?): its writes after an await could not be part of the transaction, so nothing was written. Pass a synchronous function.')
        }
        if (this._closing !== null || this._h < 0) throw errors.closed()
        return tx._batch.buf.subarray(0, tx._batch.len)
      } catch (e) {
        failed = true
        failure = e
        return null
      } finally {
        this._inTransaction = false
        tx._done = true
      }
    }
    let seq
    try {
      seq = native.transactionSync(h, this._ticket++, body)
    } catch (e) {
      throw errors.fromNative(e)
    }
    if (failed || seq === ABORTED) throw failure
    return { result, seq }
  }

  transactionSync (fn) {
    const { result } = this._transact(fn)
    if (this._sync) errors.native(() => native.flushSync(this._h))
    return result
  }

  transaction (fn) {
    try {
      const { result, seq } = this._transact(fn)
      if (!this._sync) return Promise.resolve(result)
      return this._track(native.waitDurable(this._h, seq)).then(() => result, (e) => { throw errors.fromNative(e) })
    } catch (e) {
      return Promise.reject(e)
    }
  }
}

module.exports = { Transactions, Transaction }
