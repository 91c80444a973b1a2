'use strict'
// The write members of Store (mixed into its prototype by store.js): batches staged in one
// tick and committed together, synchronous writes, flush and compaction.

const { constants: bufferConstants } = require('node:buffer')
const native = require('./native.js')
const errors = require('./errors.js')
const { checkLongOptions, runLong } = require('./progress.js')
const { hasUtf8Write, checkKey, checkValue, byteLength } = require('./keys.js')
const { OP_PUT, OP_DELETE, OP_PUT_EXPIRING, OP_HEADER_LEN, NOT_WRITTEN, COND_VALUE, COND_VERSION } = require('./scratch.js')
const { readExpiry, expiryTime } = require('./expiry.js')

/** Batches larger than this are committed on the libuv threadpool. */
const INLINE_MAX_BYTES = 1 << 20

const EMPTY = Buffer.alloc(0)

/**
 * Operations made in one tick, copied into one staging buffer (format in
 * src/staging.rs) and committed together: one write, and with `sync` one fsync.
 */
class Batch {
  constructor (buf) {
    this.buf = buf === null ? Buffer.allocUnsafeSlow(4096) : buf
    this.len = 0
    this.count = 0
    this.hasDelete = false
    // What `put` and `putMany` return: resolves to nothing once the batch has committed.
    this.promise = new Promise((resolve, reject) => {
      this._resolve = resolve
      this._reject = reject
    })
    // A put's caller gets this promise; nothing is unhandled if nobody awaits it.
    this.promise.catch(() => {})
    // Made only for batches with a delete: resolves to one flag per operation, whether its
    // key had a value (a batch of puts alone makes no second promise).
    this.flags = null
  }

  /** Settles the batch as committed; `existed` has a flag per operation. */
  resolve (existed) {
    this._resolve()
    if (this.flags !== null) this.flags.resolve(existed)
  }

  /** Settles the batch as failed. */
  reject (err) {
    this._reject(err)
    if (this.flags !== null) this.flags.reject(err)
  }

  /** A promise of the batch's existed flags (see `flags`). */
  existed () {
    if (this.flags === null) {
      const flags = {}
      flags.promise = new Promise((resolve, reject) => {
        flags.resolve = resolve
        flags.reject = reject
      })
      flags.promise.catch(() => {})
      this.flags = flags
    }
    return this.flags.promise
  }

  reserve (n) {
    const need = this.len + n
    if (need <= this.buf.length) return
    let size = Math.max(need, this.buf.length * 2, 4096)
    size = Math.min(size, bufferConstants.MAX_LENGTH)
    if (size < need) throw errors.rangeError('ERR_VALUE_TOO_LARGE', 'This batch is larger than a Buffer can hold; split it.')
    const grown = Buffer.allocUnsafeSlow(size)
    this.buf.copy(grown, 0, 0, this.len)
    this.buf = grown
  }

  add (kind, key, value) {
    const keyLen = byteLength(key)
    const valueLen = value === null ? 0 : byteLength(value)
    this.reserve(OP_HEADER_LEN + keyLen + valueLen)
    this.put(kind, key, keyLen, value, valueLen)
    if (kind === OP_DELETE) this.hasDelete = true
    return this.count++
  }

  /** Stages a Put that expires at `at` (ms since the epoch). */
  addExpiring (key, value, at) {
    const keyLen = byteLength(key)
    const valueLen = byteLength(value)
    this.reserve(OP_HEADER_LEN + keyLen + valueLen + 8)
    this.put(OP_PUT_EXPIRING, key, keyLen, value, valueLen)
    this.buf.writeBigUInt64LE(BigInt(at), this.len)
    this.len += 8
    return this.count++
  }

  /**
   * Stages an operation written only if `cond` holds (a COND_* of scratch.js; `expected`
   * is the bytes of COND_VALUE or the bigint of COND_VERSION). Its flag (see `existed`)
   * then says whether it wrote. A Put given `expiresAt` (ms since the epoch) expires then.
   */
  addIf (kind, key, value, cond, expected, expiresAt) {
    const keyLen = byteLength(key)
    const valueLen = value === null ? 0 : byteLength(value)
    const expectedLen = cond === COND_VALUE ? byteLength(expected) : 0
    const extra = cond === COND_VALUE ? 4 + expectedLen : cond === COND_VERSION ? 8 : 0
    this.reserve(OP_HEADER_LEN + keyLen + valueLen + extra + 8)
    const start = this.len
    const expiring = kind === OP_PUT && expiresAt !== undefined
    this.put(expiring ? OP_PUT_EXPIRING : kind, key, keyLen, value, valueLen)
    const b = this.buf
    b[start + 1] = cond
    let at = this.len
    if (expiring) {
      // The expiry comes before the condition (src/staging.rs).
      b.writeBigUInt64LE(BigInt(expiresAt), at)
      at += 8
    }
    if (cond === COND_VALUE) {
      b.writeUInt32LE(expectedLen, at)
      at += 4
      if (typeof expected === 'string') at += b.write(expected, at, expectedLen, 'utf8')
      else {
        b.set(expected, at)
        at += expectedLen
      }
    } else if (cond === COND_VERSION) {
      b.writeBigUInt64LE(expected, at)
      at += 8
    }
    this.len = at
    // The flags promise is wanted (as for a delete).
    this.hasDelete = true
    return this.count++
  }

  /** Appends one operation whose lengths are known and whose room is reserved. */
  put (kind, key, keyLen, value, valueLen) {
    const b = this.buf
    let at = this.len
    b[at] = kind
    b[at + 1] = 0
    b[at + 2] = keyLen & 0xff
    b[at + 3] = keyLen >>> 8
    b[at + 4] = valueLen & 0xff
    b[at + 5] = (valueLen >>> 8) & 0xff
    b[at + 6] = (valueLen >>> 16) & 0xff
    b[at + 7] = valueLen >>> 24
    at += OP_HEADER_LEN
    if (typeof key === 'string') {
      if (keyLen === key.length && keyLen <= 64) {
        // ASCII (its UTF-8 length equals its length) and short: a loop beats a call.
        for (let i = 0; i < keyLen; i++) b[at + i] = key.charCodeAt(i)
        at += keyLen
      } else {
        at += hasUtf8Write ? b.utf8Write(key, at, keyLen) : b.write(key, at, keyLen, 'utf8')
      }
    } else {
      b.set(key, at)
      at += keyLen
    }
    if (valueLen > 0) {
      if (typeof value === 'string') {
        at += hasUtf8Write ? b.utf8Write(value, at, valueLen) : b.write(value, at, valueLen, 'utf8')
      } else if (valueLen <= 32) {
        for (let i = 0; i < valueLen; i++) b[at + i] = value[i]
        at += valueLen
      } else {
        b.set(value, at)
        at += valueLen
      }
    }
    this.len = at
  }

  /**
   * Stages every key and value of `flat` (as `readEntries` returns them) as Puts, all
   * checked before anything is staged, so a bad entry leaves the batch as it was. Runs no
   * JavaScript of the caller's: `flat` holds plain values, read by the built-in accessors.
   */
  addFlat (flat) {
    const n = flat.length >> 1
    const lengths = new Float64Array(2 * n)
    let total = 0
    for (let i = 0; i < n; i++) {
      const k = checkKey(flat[2 * i])
      const v = checkValue(flat[2 * i + 1])
      flat[2 * i + 1] = v
      const kl = byteLength(k)
      const vl = byteLength(v)
      lengths[2 * i] = kl
      lengths[2 * i + 1] = vl
      total += OP_HEADER_LEN + kl + vl
    }
    const at = flat.expiries
    if (at !== undefined) total += 8 * n
    this.reserve(total)
    for (let i = 0; i < n; i++) {
      if (at !== undefined && at[i] !== undefined) {
        this.put(OP_PUT_EXPIRING, flat[2 * i], lengths[2 * i], flat[2 * i + 1], lengths[2 * i + 1])
        this.buf.writeBigUInt64LE(BigInt(at[i]), this.len)
        this.len += 8
      } else {
        this.put(OP_PUT, flat[2 * i], lengths[2 * i], flat[2 * i + 1], lengths[2 * i + 1])
      }
    }
    this.count += n
    return n
  }
}

/**
 * Reads the `[key, value]` pairs of `entries` (an array or any iterable) into one flat array
 * `[key0, value0, key1, value1, ...]`, reading each pair, key and value exactly once: this is
 * where the caller's accessors, Proxies and iterators run, and nothing after it reads
 * `entries` again. A pair that is not an array of at least two, or a key or value that is
 * not even an object or a string, is reported at once, before later accessors run; the
 * exact checks come when the flat array is staged or written.
 */
function readEntries (entries) {
  if (entries === null || entries === undefined || typeof entries[Symbol.iterator] !== 'function') {
    throw errors.invalidArgType('entries', 'an iterable of [key, value] pairs', entries)
  }
  const list = Array.isArray(entries) ? entries : Array.from(entries)
  const n = list.length
  const flat = []
  for (let i = 0; i < n; i++) {
    const e = list[i]
    if (!Array.isArray(e) || e.length < 2) throw errors.invalidArgType(`entries[${i}]`, 'a [key, value] pair', e)
    const k = e[0]
    const v = e[1]
    if (typeof k !== 'string' && typeof k !== 'object') checkKey(k)
    if (typeof v !== 'string' && typeof v !== 'object') checkValue(v)
    // A third element is the entry's write options ({ ttl } or { expiresAt }).
    const o = e.length > 2 ? readExpiry(e[2], `entries[${i}][2]`) : undefined
    if (o !== undefined) {
      if (flat.expiries === undefined) flat.expiries = []
      flat.expiries[i] = o
    }
    flat.push(k, v)
  }
  return flat
}

// A batch committed on the event loop resolves its promise as a microtask, so a loop of
// awaited puts (`for (const x of items) await store.put(...)`) would never let the event
// loop turn: timers, I/O callbacks and a compaction's completion would all wait for it to
// end. Once inline commits have gone on back to back for YIELD_MS, the next one resolves
// through setImmediate instead, and the loop turns (timers and I/O run) before the caller's
// code goes on.
const YIELD_MS = 1
/** When the current run of inline commits began (-1: the event loop has turned since). */
let burstStart = -1
function endBurst () { burstStart = -1 }

function resolveInline (b, existed) {
  const now = performance.now()
  if (burstStart < 0) {
    burstStart = now
    setImmediate(endBurst)
  } else if (now - burstStart >= YIELD_MS) {
    setImmediate(() => b.resolve(existed))
    return
  }
  b.resolve(existed)
}

class Writes {
  /** The batch of this tick, created (and its commit scheduled) on first use. */
  _currentBatch () {
    let b = this._batch
    if (b === null) {
      b = this._batch = new Batch(this._spare)
      this._spare = null
      queueMicrotask(this._flushBound)
    }
    return b
  }

  put (key, value, options) {
    try {
      this._writable()
      const k = checkKey(key)
      const v = checkValue(value)
      const e = readExpiry(options, 'options')
      const at = e === undefined ? undefined : expiryTime(e, this._now())
      const b = this._currentBatch()
      if (at === undefined) b.add(OP_PUT, k, v)
      else b.addExpiring(k, v, at)
      return b.promise
    } catch (e) {
      return Promise.reject(e)
    }
  }

  delete (key) {
    try {
      this._writable()
      const k = checkKey(key)
      const b = this._currentBatch()
      const i = b.add(OP_DELETE, k, null)
      return b.existed().then((existed) => existed[i] === 1)
    } catch (e) {
      return Promise.reject(e)
    }
  }

  putMany (entries) {
    try {
      this._writable()
      const flat = this._readEntries(entries)
      // The read ran the caller's code, which may have closed the store or committed the
      // tick's batch: look at both again. Nothing below runs the caller's code.
      this._writable()
      // Checked before the tick's batch is touched: a bad entry stages nothing.
      const b = this._batch
      if (b !== null) {
        b.addFlat(flat)
        return b.promise
      }
      const fresh = new Batch(this._spare)
      fresh.addFlat(flat)
      this._spare = null
      this._batch = fresh
      queueMicrotask(this._flushBound)
      return fresh.promise
    } catch (e) {
      return Promise.reject(e)
    }
  }

  putSync (key, value, options) {
    this._writable()
    const k = checkKey(key)
    const v = checkValue(value)
    const e = readExpiry(options, 'options')
    const one = new Batch(EMPTY)
    if (e === undefined) one.add(OP_PUT, k, v)
    else one.addExpiring(k, v, expiryTime(e, this._now()))
    this._commitSync(one)
  }

  putManySync (entries) {
    this._writable()
    const flat = this._readEntries(entries)
    this._writable()
    if (flat.length === 0) return
    // Whatever this tick already staged goes first, so writes land in call order.
    if (this._batch !== null) this._flushBatch()
    // Written in place by the native side (no staging copy); -1 when an entry is not the
    // common case, which the staging below then checks and reports.
    if (flat.expiries === undefined && this._direct(flat) !== NOT_WRITTEN) return
    const b = new Batch(EMPTY)
    b.addFlat(flat)
    this._commitSync(b)
  }

  deleteSync (key) {
    this._writable()
    const b = new Batch(EMPTY)
    b.add(OP_DELETE, checkKey(key), null)
    return this._commitSync(b)[0] === 1
  }

  /**
   * Reads the pairs of `entries` (see `readEntries`). The caller's code that runs meanwhile
   * may not write to this store: such a write could be ordered neither before nor after the
   * batch being read, so it throws `ERR_INVALID_STATE`.
   */
  _readEntries (entries) {
    this._readingEntries = true
    let flat
    try {
      flat = readEntries(entries)
    } finally {
      this._readingEntries = false
    }
    const at = flat.expiries
    if (at !== undefined) {
      // Every ttl of the batch counts from the same time.
      const now = this._now()
      for (let i = 0; i < at.length; i++) if (at[i] !== undefined) at[i] = expiryTime(at[i], now)
    }
    return flat
  }

  /** The store's clock (ms since the epoch), which a `ttl` counts from. */
  _now () {
    const h = this._h
    return errors.native(() => native.nowMs(h))
  }

  /**
   * putManySync's direct path: the native side reads the flat pairs of `readEntries` (plain
   * values: no JavaScript runs) and commits them, durable first with `sync`. Returns the
   * commit's sequence number, or NOT_WRITTEN (-1) if it wrote nothing.
   */
  _direct (flat) {
    let seq
    try {
      seq = native.writeEntries(this._h, this._ticket++, flat, Buffer.prototype, Uint8Array.prototype)
      if (seq !== NOT_WRITTEN && this._sync) native.flushSync(this._h)
    } catch (e) {
      throw errors.fromNative(e)
    }
    return seq
  }

  /** Commits `b` now, after everything issued before it; durable first with `sync`. */
  _commitSync (b) {
    // Whatever this tick already staged goes first, so writes land in call order.
    if (this._batch !== null) this._flushBatch()
    const existed = Buffer.alloc(b.count)
    try {
      native.writeBatch(this._h, this._ticket++, b.buf.subarray(0, b.len), b.count, existed)
      if (this._sync) native.flushSync(this._h)
    } catch (e) {
      throw errors.fromNative(e)
    }
    return existed
  }

  /** Commits the batch of this tick (a microtask, or an earlier sync write). */
  _flushBatch () {
    const b = this._batch
    if (b === null) return
    this._batch = null
    if (this._h < 0) {
      b.reject(errors.closed())
      return
    }
    const ticket = this._ticket++
    // On the event loop when the batch is small and nothing before it is still on the
    // threadpool. While a compaction (or a streamed value) runs, only if the engine's writer
    // lock is free right now: the batch goes to the threadpool instead of waiting for it.
    let seq = NOT_WRITTEN
    const existed = b.hasDelete ? Buffer.alloc(b.count) : EMPTY
    if (b.len <= INLINE_MAX_BYTES && this._asyncWrites === 0) {
      const write = this._compacting > 0 || native.busy(this._h) ? native.tryWriteBatch : native.writeBatch
      try {
        seq = write(this._h, ticket, b.buf.subarray(0, b.len), b.count, b.hasDelete ? existed : undefined)
      } catch (e) {
        b.reject(errors.fromNative(e))
        return
      } finally {
        // A write here copied the staging buffer: the next batch may reuse it (not so when
        // it goes to the threadpool below, which reads it later).
        if (seq !== NOT_WRITTEN && b.buf.length <= INLINE_MAX_BYTES) this._spare = b.buf
      }
    }
    if (seq === NOT_WRITTEN) {
      // Off the event loop: big batches, batches behind an earlier threadpool write, and
      // batches that would wait for a compaction's final step.
      this._asyncWrites++
      let p
      try {
        p = native.writeBatchAsync(this._h, ticket, b.buf.subarray(0, b.len), b.count, this._sync)
      } catch (e) {
        this._asyncWrites--
        this._ticket-- // never issued
        b.reject(errors.fromNative(e))
        return
      }
      this._track(p.then((existed) => {
        this._asyncWrites--
        b.resolve(existed)
      }, (e) => {
        this._asyncWrites--
        b.reject(errors.fromNative(e))
      }))
      return
    }
    if (!this._sync) {
      resolveInline(b, existed)
      return
    }
    this._track(native.waitDurable(this._h, seq).then(() => b.resolve(existed), (e) => b.reject(errors.fromNative(e))))
  }

  flush () {
    return errors.nativeAsync(() => {
      const h = this._open()
      if (this._readOnly) return Promise.resolve()
      if (this._batch !== null) this._flushBatch()
      // Wait for threadpool writes issued before this call, then sync.
      const before = Promise.allSettled([...this._inflight])
      return this._track(before.then(() => native.flush(h))).then(() => {})
    })
  }

  compact (options) {
    return errors.nativeAsync(() => {
      const o = checkLongOptions(options)
      const h = this._writable()
      if (this._batch !== null) this._flushBatch()
      this._compacting++
      let p
      try {
        p = runLong(o, (work) => native.compact(h, work))
      } catch (e) {
        this._compacting--
        throw e
      }
      return this._track(p.finally(() => { this._compacting-- }))
    })
  }
}

module.exports = { Writes, Batch, EMPTY }
