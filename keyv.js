'use strict'

// simd-r-drive/keyv: a Keyv storage adapter over a simd-r-drive store. Types and
// documentation: keyv.d.ts.
//
// Keyv hands the adapter keys as `namespace:key` and values already serialized to strings.
// Each value is stored as UTF-8 text `<expires>:<string>`, where `<expires>` is the expiry
// time in milliseconds since the epoch, or empty when the entry does not expire. A value
// without such a prefix (written by other code) is read as a whole, without expiry.

const { EventEmitter } = require('node:events')
const { Store } = require('./lib/store.js')
const errors = require('./lib/errors.js')

const SCHEME = 'simd-r-drive://'
const STORE_OPTIONS = ['readOnly', 'sync', 'create', 'copyValues']
const COLON = 0x3a

/**
 * Splits a stored value into its expiry (a number, or undefined) and its string.
 * @param {Buffer} buf
 */
function decode (buf) {
  const end = Math.min(buf.length, 17)
  for (let i = 0; i < end; i++) {
    const c = buf[i]
    if (c === COLON) {
      return {
        expires: i === 0 ? undefined : Number(buf.toString('latin1', 0, i)),
        value: buf.toString('utf8', i + 1)
      }
    }
    if (c < 0x30 || c > 0x39) break
  }
  return { expires: undefined, value: buf.toString('utf8') }
}

/** Expired once the clock is past the expiry, as Keyv itself decides. */
function isExpired (entry, now) {
  return entry.expires !== undefined && now > entry.expires
}

/** Latest time a JavaScript Date can hold; later expiries are stored as none. */
const MAX_TIME = 8.64e15

/** The expiry for a TTL in milliseconds, or undefined for none. */
function expiryOf (ttl) {
  if (ttl === undefined || ttl === null) return undefined
  if (typeof ttl !== 'number' || Number.isNaN(ttl)) throw errors.invalidArgType('ttl', 'a number of milliseconds', ttl)
  if (ttl <= 0) return undefined
  const expires = Math.ceil(Date.now() + ttl)
  return expires > MAX_TIME ? undefined : expires
}

function encode (value, ttl) {
  if (typeof value !== 'string') {
    throw errors.invalidArgType('value', 'a string (Keyv serializes values before handing them to the adapter)', value)
  }
  const expires = expiryOf(ttl)
  return (expires === undefined ? ':' : expires + ':') + value
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
    if (this._closing) {
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
      if (!store.readOnly) pending.push(store.delete(key))
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

  /** Deletes every key of `keys` in one batch; resolves to whether every one of them had a value. */
  async deleteMany (keys) {
    const results = await this._deleteAll(keys)
    return results.length > 0 && results.every(Boolean)
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
    const prefix = this.namespace ? Buffer.from(this.namespace + ':', 'utf8') : null
    const doomed = []
    for (const key of store.keys()) {
      if (prefix === null || (key.length >= prefix.length && prefix.equals(key.subarray(0, prefix.length)))) {
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

  /** Closes the store (after in-flight writes, and calls made before it). Idempotent. */
  disconnect () {
    if (!this._closing) {
      this._closing = this._opening.then((store) => store.close(), () => {})
    }
    return this._closing
  }
}

module.exports = KeyvSimdRDrive
module.exports.KeyvSimdRDrive = KeyvSimdRDrive
module.exports.default = KeyvSimdRDrive
