'use strict'

// simd-r-drive/keyv: a Keyv storage adapter over a simd-r-drive store. Types and
// documentation: keyv.d.ts.
//
// Keyv hands the adapter keys as `namespace:key` and values already serialized to strings.
// Each value is stored as the bytes FF 4B, then `<expires>:` in ASCII (`<expires>`: the
// expiry in milliseconds since the epoch, empty when the entry does not expire), then the
// string as UTF-8. FF never occurs in UTF-8, so no text that other code stores is taken for
// one of these; only such values are ever deleted for having expired.
//
// Values without the marker are read as a whole, without expiry, except the format of
// versions up to 0.2 (`<expires>:<string>` as UTF-8 text): `:<string>` reads as the string,
// and `<expires>:<string>` with an `<expires>` of 13 to 16 digits (a time after 2001, as
// those versions wrote) as an entry that reads as missing once expired. Neither is ever
// deleted by the adapter, as other code may have written it.

const { EventEmitter } = require('node:events')
const { Store } = require('./lib/store.js')
const errors = require('./lib/errors.js')

const SCHEME = 'simd-r-drive://'
const STORE_OPTIONS = ['readOnly', 'sync', 'create', 'copyValues']
const COLON = 0x3a
/** The first two bytes of every value this adapter writes (0xFF is never in UTF-8). */
const MARK0 = 0xff
const MARK1 = 0x4b
/** Digits of the longest expiry (8.64e15 ms, the last time a Date can hold). */
const MAX_DIGITS = 16
/** Fewest digits of an expiry in the format of versions up to 0.2: 1e12 ms is in 2001. */
const LEGACY_MIN_DIGITS = 13

/** Where `<digits>:` starting at `from` ends (the colon's index), or -1. */
function digitsThenColon (buf, from) {
  const end = Math.min(buf.length, from + MAX_DIGITS + 1)
  for (let i = from; i < end; i++) {
    const c = buf[i]
    if (c === COLON) return i
    if (c < 0x30 || c > 0x39) return -1
  }
  return -1
}

/**
 * Splits a stored value into its expiry (a number, or undefined), its string, and whether
 * this adapter wrote it (`owned`: only such values are deleted when they have expired).
 * @param {Buffer} buf
 */
function decode (buf) {
  if (buf.length >= 3 && buf[0] === MARK0 && buf[1] === MARK1) {
    const colon = digitsThenColon(buf, 2)
    if (colon !== -1) {
      return {
        expires: colon === 2 ? undefined : Number(buf.toString('latin1', 2, colon)),
        value: buf.toString('utf8', colon + 1),
        owned: true
      }
    }
  }
  const colon = digitsThenColon(buf, 0)
  if (colon === 0) return { expires: undefined, value: buf.toString('utf8', 1), owned: false }
  if (colon >= LEGACY_MIN_DIGITS) {
    return { expires: Number(buf.toString('latin1', 0, colon)), value: buf.toString('utf8', colon + 1), owned: false }
  }
  return { expires: undefined, value: buf.toString('utf8'), owned: false }
}

/** Expired once the clock is past the expiry, as Keyv itself decides. */
function isExpired (entry, now) {
  return entry.expires !== undefined && now > entry.expires
}

/** Latest time a JavaScript Date can hold; later expiries are stored as none. */
const MAX_TIME = 8.64e15

/**
 * The expiry for a TTL in milliseconds, or undefined for none. Only a positive finite
 * number expires; anything else (undefined, null, 0, negative, NaN, Infinity, a string)
 * means no expiry, as with Keyv's own Map store (Keyv computes `expires` only for numbers).
 */
function expiryOf (ttl) {
  if (typeof ttl !== 'number' || !(ttl > 0) || ttl === Infinity) return undefined
  const expires = Math.ceil(Date.now() + ttl)
  return expires > MAX_TIME ? undefined : expires
}

function encode (value, ttl) {
  if (typeof value !== 'string') {
    throw errors.invalidArgType('value', 'a string (Keyv serializes values before handing them to the adapter)', value)
  }
  const expires = expiryOf(ttl)
  const head = expires === undefined ? ':' : expires + ':'
  const buf = Buffer.allocUnsafe(2 + head.length + Buffer.byteLength(value, 'utf8'))
  buf[0] = MARK0
  buf[1] = MARK1
  buf.write(head, 2, 'latin1')
  buf.write(value, 2 + head.length, 'utf8')
  return buf
}

function parseTarget (target) {
  if (typeof target !== 'string' || target === '') {
    throw errors.invalidArgType('path', 'a non-empty string (a file path or a simd-r-drive:// URI)', target)
  }
  const path = target.startsWith(SCHEME) ? target.slice(SCHEME.length) : target
  if (path === '') throw errors.invalidArgType('path', 'a non-empty string (a file path or a simd-r-drive:// URI)', path)
  return path
}

/**
 * A Keyv storage adapter that keeps its entries in one simd-r-drive store file.
 *
 * `new KeyvSimdRDrive('simd-r-drive://cache.srd')`, `new KeyvSimdRDrive('cache.srd', { sync: true })`
 * or `new KeyvSimdRDrive({ uri, path, namespace, readOnly, sync, create, copyValues })`.
 */
class KeyvSimdRDrive extends EventEmitter {
  constructor (target, options) {
    super()
    let opts
    if (target !== null && typeof target === 'object') {
      opts = { ...target }
    } else {
      opts = { ...(options || {}) }
      if (target !== undefined) opts.uri = target
    }
    const path = parseTarget(opts.path !== undefined ? opts.path : opts.uri)
    const storeOptions = {}
    for (const name of STORE_OPTIONS) if (opts[name] !== undefined) storeOptions[name] = opts[name]

    /** The namespace Keyv sets: `clear()` and `iterator()` keep to keys that start with `namespace:`. */
    this.namespace = opts.namespace
    delete opts.namespace
    /** What the adapter was opened with; `url` and `dialect` are read by Keyv. */
    this.opts = { ...opts, dialect: 'simd-r-drive', path, url: SCHEME + path, uri: SCHEME + path }
    this._closing = null
    this._closed = false
    this._opening = Store.open(path, storeOptions)
    // Every method rejects with an open failure; listeners also hear about it at once.
    this._opening.catch((err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err)
    })
  }

  /**
   * Resolves to the open `Store` underneath (rejects if it could not be opened), e.g. to
   * `compact()` it now and then: deleted and expired entries take space until then.
   */
  getStore () {
    return this._opening
  }

  /**
   * The open store. Returns the opening promise itself, so that a call made before
   * `disconnect()` resumes (and stages its write) before the store closes.
   */
  _ready () {
    if (this._closed) {
      const err = new Error('This KeyvSimdRDrive adapter was disconnected.')
      err.code = 'ERR_STORE_CLOSED'
      return Promise.reject(err)
    }
    return this._opening
  }

  /**
   * Reads `key` and, if it has expired, deletes it in the same turn (so no write can come
   * in between). Returns the decoded entry, or undefined when missing or expired.
   */
  _read (store, key, now, pending) {
    const buf = store.get(key)
    if (buf === undefined) return undefined
    const entry = decode(buf)
    if (isExpired(entry, now)) {
      if (entry.owned && !store.readOnly) pending.push(store.delete(key))
      return undefined
    }
    return entry
  }

  async get (key) {
    const store = await this._ready()
    const pending = []
    const entry = this._read(store, key, Date.now(), pending)
    await Promise.all(pending)
    return entry === undefined ? undefined : entry.value
  }

  async getMany (keys) {
    const store = await this._ready()
    const now = Date.now()
    const pending = []
    const out = keys.map((key) => {
      const entry = this._read(store, key, now, pending)
      return entry === undefined ? undefined : entry.value
    })
    await Promise.all(pending)
    return out
  }

  async has (key) {
    const store = await this._ready()
    const pending = []
    const entry = this._read(store, key, Date.now(), pending)
    await Promise.all(pending)
    return entry !== undefined
  }

  async hasMany (keys) {
    const store = await this._ready()
    const now = Date.now()
    const pending = []
    const out = keys.map((key) => this._read(store, key, now, pending) !== undefined)
    await Promise.all(pending)
    return out
  }

  /** Sets `key` to the string `value`, expiring after `ttl` milliseconds if given. */
  async set (key, value, ttl) {
    const encoded = encode(value, ttl)
    const store = await this._ready()
    await store.put(key, encoded)
    return true
  }

  /** Sets every `{ key, value, ttl }` atomically (all or none after a crash). */
  async setMany (entries) {
    const encoded = entries.map(({ key, value, ttl }) => [key, encode(value, ttl)])
    const store = await this._ready()
    await store.putMany(encoded)
    return encoded.map(() => true)
  }

  /** Deletes `key`; resolves to whether it had a value that had not expired. */
  async delete (key) {
    const store = await this._ready()
    const buf = store.get(key)
    if (buf === undefined) return false
    const live = !isExpired(decode(buf), Date.now())
    const existed = await store.delete(key)
    return existed && live
  }

  /**
   * Deletes every key of `keys` in one batch; resolves to whether every one of them had a
   * value (`true` for no keys, as Keyv's own fallback says).
   */
  async deleteMany (keys) {
    const results = await this._deleteAll(keys)
    return results.every(Boolean)
  }

  async _deleteAll (keys) {
    const store = await this._ready()
    const now = Date.now()
    const live = keys.map((key) => {
      const buf = store.get(key)
      return buf !== undefined && !isExpired(decode(buf), now)
    })
    // Deletes issued in the same tick are committed as one batch.
    const existed = await Promise.all(keys.map((key) => store.delete(key)))
    return existed.map((e, i) => e && live[i])
  }

  /**
   * Deletes the keys of this adapter's namespace (those starting with `namespace:`), or
   * every key of the store when there is no namespace.
   */
  async clear () {
    const store = await this._ready()
    // Every key: one atomic clear entry instead of a tombstone per key.
    if (!this.namespace) return store.clear()
    const prefix = Buffer.from(this.namespace + ':', 'utf8')
    const doomed = []
    for (const key of store.keys()) {
      if (key.length >= prefix.length && prefix.equals(key.subarray(0, prefix.length))) {
        doomed.push(key)
      }
    }
    await Promise.all(doomed.map((key) => store.delete(key)))
  }

  /**
   * Yields `[key, value]` for every entry of `namespace` (default: this adapter's; every
   * entry when there is none) that has not expired, from a snapshot taken when iteration
   * starts. Keys are yielded as stored (`namespace:key`); expired entries are deleted.
   */
  async * iterator (namespace = this.namespace) {
    const store = await this._ready()
    const prefix = namespace ? Buffer.from(namespace + ':', 'utf8') : null
    for (const [key, buf] of store.entries()) {
      if (prefix !== null && !(key.length >= prefix.length && prefix.equals(key.subarray(0, prefix.length)))) continue
      const entry = decode(buf)
      if (isExpired(entry, Date.now())) {
        // The snapshot may be stale by now: re-read, and delete only if still expired.
        const pending = []
        if (!store.closed) this._read(store, key, Date.now(), pending)
        await Promise.all(pending)
        continue
      }
      yield [key.toString('utf8'), entry.value]
    }
  }

  /**
   * Closes the store (after in-flight writes, and calls made before it). Idempotent.
   *
   * Calls that arrive before the next turn of the event loop are still served: Keyv awaits
   * its serializer before it calls `set()`, so `keyv.set(k, v); keyv.disconnect()` reaches
   * the adapter after `disconnect()` and must still be written.
   */
  disconnect () {
    if (!this._closing) {
      this._closing = new Promise((resolve) => setImmediate(resolve))
        .then(() => {
          this._closed = true
          return this._opening
        })
        .then((store) => store.close(), () => {})
    }
    return this._closing
  }
}

module.exports = KeyvSimdRDrive
module.exports.KeyvSimdRDrive = KeyvSimdRDrive
module.exports.default = KeyvSimdRDrive
