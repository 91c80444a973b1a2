'use strict'
// Expiry options of writes: `{ ttl }` (ms from now, by the store's clock) or
// `{ expiresAt }` (ms since the Unix epoch), checked before anything is staged.

const native = require('./native.js')
const errors = require('./errors.js')

/** Largest expiry time: beyond it a number of ms is no longer exact in a double. */
const MAX_TIME = Number.MAX_SAFE_INTEGER

/**
 * Reads the write options `options` (read once: `ttl`, then `expiresAt`). Returns
 * `undefined` for none or no expiry, `{ ttl }` or `{ expiresAt }` otherwise; throws a coded
 * TypeError or RangeError for a bad one. `name` names the argument in messages.
 */
function readExpiry (options, name) {
  if (options === undefined || options === null) return undefined
  if (typeof options !== 'object') throw errors.invalidArgType(name, 'an object', options)
  const ttl = options.ttl
  const expiresAt = options.expiresAt
  if (ttl !== undefined && expiresAt !== undefined) {
    const err = new TypeError(`${name} may give ttl or expiresAt, not both`)
    err.code = 'ERR_INVALID_ARG_VALUE'
    throw err
  }
  if (ttl !== undefined) return { ttl: checkTime(ttl, `${name}.ttl`) }
  if (expiresAt !== undefined) return { expiresAt: checkTime(expiresAt, `${name}.expiresAt`) }
  return undefined
}

function checkTime (v, name) {
  if (typeof v !== 'number') throw errors.invalidArgType(name, 'a number of milliseconds', v)
  if (!Number.isInteger(v) || v < 0 || v > MAX_TIME) {
    throw errors.rangeError('ERR_OUT_OF_RANGE', `${name} must be a whole number of milliseconds from 0 to 2 ** 53 - 1, got ${v}`)
  }
  return v
}

/** The absolute expiry time (ms since the epoch) of `e` (from `readExpiry`) at `now`. */
function expiryTime (e, now) {
  if (e.expiresAt !== undefined) return e.expiresAt
  const at = now + e.ttl
  if (at > MAX_TIME) throw errors.rangeError('ERR_OUT_OF_RANGE', `ttl ${e.ttl} ends after 2 ** 53 - 1 ms since the epoch`)
  return at
}

/** The expiry members of Store (mixed into its prototype by store.js). */
class Expiries {
  /** When `key`'s value expires (ms since the epoch), or `undefined`. */
  expiresAt (key) {
    const h = this._open()
    const { keyBuffer } = require('./conditional.js')
    const { checkKey } = require('./keys.js')
    const v = errors.native(() => native.expiresAt(h, keyBuffer(checkKey(key))))
    return v === null ? undefined : v
  }

  /** The store's time now (ms since the epoch), which `ttl` counts from. */
  now () {
    const h = this._open()
    return errors.native(() => native.nowMs(h))
  }
}

module.exports = { readExpiry, expiryTime, Expiries }
