'use strict'
// Conditional writes, versions and clear (mixed into Store's prototype by store.js). The
// conditions are staged with their operations (lib/write.js `Batch.addIf`) and decided by
// the engine's writer when the batch commits (src/staging.rs, src/write.rs).

const native = require('./native.js')
const errors = require('./errors.js')
const { checkKey, checkValue } = require('./keys.js')
const { Batch, EMPTY } = require('./write.js')
const { readExpiry, expiryTime } = require('./expiry.js')
const { OP_PUT, OP_DELETE, COND_ABSENT, COND_VALUE, COND_VERSION } = require('./scratch.js')

const MAX_VERSION = (1n << 64n) - 1n

/**
 * The condition of `compareAndSet`'s `expected`: `[cond, expected]` for Batch.addIf.
 * `undefined` is "absent", `{ version }` a version, anything else the value's bytes.
 */
function condition (expected) {
  if (expected === undefined) return [COND_ABSENT, null]
  if (typeof expected === 'object' && expected !== null && !ArrayBuffer.isView(expected)) {
    let v = expected.version
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw errors.rangeError('ERR_OUT_OF_RANGE', `expected.version must be a bigint or a safe integer, got ${v}`)
      v = BigInt(v)
    }
    if (typeof v !== 'bigint') throw errors.invalidArgType('expected.version', 'a bigint', v)
    if (v < 0n || v > MAX_VERSION) throw errors.rangeError('ERR_OUT_OF_RANGE', `expected.version must be from 0 to 2^64 - 1, got ${v}`)
    return [COND_VERSION, v]
  }
  if (typeof expected !== 'string' && !ArrayBuffer.isView(expected)) {
    throw errors.invalidArgType('expected', 'undefined, a string, Buffer, TypedArray or DataView, or { version }', expected)
  }
  return [COND_VALUE, checkValue(expected)]
}

/**
 * The staged form of `compareAndSet(key, expected, value, options)` (Batch.addIf's
 * arguments): checked before anything is staged. `options` are checked for a delete too,
 * and give it no expiry.
 */
function casArgs (store, key, expected, value, options) {
  const k = checkKey(key)
  const [cond, exp] = condition(expected)
  const v = value === undefined ? null : checkValue(value)
  const e = readExpiry(options, 'options')
  const at = e === undefined || v === null ? undefined : expiryTime(e, store._now())
  return [v === null ? OP_DELETE : OP_PUT, k, v, cond, exp, at]
}

/** The key's bytes as a Buffer, for a native call that takes one. */
function keyBuffer (k) {
  if (typeof k === 'string') return Buffer.from(k, 'utf8')
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength)
}

class Conditional {
  putIfAbsent (key, value, options) {
    try {
      this._writable()
      const k = checkKey(key)
      const v = checkValue(value)
      const e = readExpiry(options, 'options')
      const at = e === undefined ? undefined : expiryTime(e, this._now())
      const b = this._currentBatch()
      const i = b.addIf(OP_PUT, k, v, COND_ABSENT, null, at)
      return b.existed().then((wrote) => wrote[i] === 1)
    } catch (e) {
      return Promise.reject(e)
    }
  }

  putIfAbsentSync (key, value, options) {
    this._writable()
    const k = checkKey(key)
    const v = checkValue(value)
    const e = readExpiry(options, 'options')
    const b = new Batch(EMPTY)
    b.addIf(OP_PUT, k, v, COND_ABSENT, null, e === undefined ? undefined : expiryTime(e, this._now()))
    return this._commitSync(b)[0] === 1
  }

  compareAndSet (key, expected, value, options) {
    try {
      this._writable()
      const args = casArgs(this, key, expected, value, options)
      const b = this._currentBatch()
      const i = b.addIf(...args)
      return b.existed().then((wrote) => wrote[i] === 1)
    } catch (e) {
      return Promise.reject(e)
    }
  }

  compareAndSetSync (key, expected, value, options) {
    this._writable()
    const args = casArgs(this, key, expected, value, options)
    const b = new Batch(EMPTY)
    b.addIf(...args)
    return this._commitSync(b)[0] === 1
  }

  versionOf (key) {
    const h = this._open()
    const k = checkKey(key)
    const v = errors.native(() => native.versionOf(h, keyBuffer(k)))
    return v === null ? undefined : v
  }

  clearSync () {
    const h = this._writable()
    if (this._batch !== null) this._flushBatch()
    try {
      native.clearSync(h, this._ticket++)
      if (this._sync) native.flushSync(h)
    } catch (e) {
      throw errors.fromNative(e)
    }
  }

  clear () {
    try {
      const h = this._writable()
      if (this._batch !== null) this._flushBatch()
      const ticket = this._ticket++
      this._asyncWrites++
      let p
      try {
        p = native.clear(h, ticket, this._sync)
      } catch (e) {
        this._asyncWrites--
        this._ticket-- // never issued
        throw errors.fromNative(e)
      }
      return this._track(p.then(() => {
        this._asyncWrites--
      }, (e) => {
        this._asyncWrites--
        throw errors.fromNative(e)
      }))
    } catch (e) {
      return Promise.reject(e)
    }
  }
}

module.exports = { Conditional, keyBuffer }
