'use strict'

// simd-r-drive/keyv: a Keyv storage adapter over a simd-r-drive store. Types and
// documentation: keyv.d.ts.
//
// Stored form. Keys are `namespace:key` as UTF-8 (Keyv 5 hands them over so; for Keyv 6 the
// adapter adds the prefix itself, so one file reads the same under both). Values are the
// strings Keyv serialized, stored as their UTF-8 bytes and nothing else; an expiry is the
// store's own (`put(k, v, { expiresAt })`, FORMAT.md flag bit 2), so values stay byte-exact
// (and readable without a copy by other code), and the store hides expired entries and
// compacts them away by itself.
//
// Before the store had an expiry of its own, the adapter stored values with their expiry
// in front: the bytes FF 4B, `<expires>:`, then the string (the FF 4B form), and versions
// up to 0.2 as `<expires>:<string>` text. Which form an entry is in is marked in the entry, never guessed
// from its bytes alone: an entry with the store's expiry field was written in the plain form.
// A value that could be read as one of the older forms (it starts with `:`, with 13 to 16
// digits and `:`, or with FF 4B, digits and `:`) and has no TTL is written with the expiry
// NO_EXPIRY (2 ** 53 - 1 ms, the year 287396) to carry that mark; every other value has the
// field only when it expires. Reading, a value that cannot be in an older form is plain;
// one that can is plain if its entry has the expiry field, and in the older form otherwise
// (as those versions read it: expired ones read as missing, and FF 4B ones, which only
// this adapter ever wrote, are deleted when read expired). So "123:foo", or a value
// starting FF 4B, written by this version reads back as itself, and stores written by
// older versions read as they did, with no migration and no marker key that a size limit
// could evict.

const { EventEmitter } = require('node:events')
const { Store } = require('./lib/store.js')
const errors = require('./lib/errors.js')

const SCHEME = 'simd-r-drive://'
const STORE_OPTIONS = ['readOnly', 'sync', 'create', 'copyValues', 'autoCompact', 'onAutoCompact', 'expirySweep', 'maxBytes']
/** Largest expiry the store takes (ms since the epoch); later ones are stored as none. */
const MAX_TIME = Number.MAX_SAFE_INTEGER
/** The expiry that marks a plain value without a TTL that could be read in an older form. */
const NO_EXPIRY = MAX_TIME

// --- The older forms -------------------------------------------------------------------------

const COLON = 0x3a
/** The first two bytes of every value in the FF 4B form (0xFF is never in UTF-8). */
const MARK0 = 0xff
const MARK1 = 0x4b
/** Digits of the longest expiry those versions wrote (8.64e15 ms, the last time a Date holds). */
const MAX_DIGITS = 16
/** Fewest digits of an expiry in the form of versions up to 0.2: 1e12 ms is in 2001. */
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
 * A value in one of the older forms: `{ start, expires, owned }` (the string's bytes start
 * at `start`; `expires` in ms, or undefined; `owned`: the FF 4B form, which only this adapter
 * wrote), or null for a value in neither.
 * @param {Buffer} buf
 */
function legacyForm (buf) {
  if (buf.length >= 3 && buf[0] === MARK0 && buf[1] === MARK1) {
    const colon = digitsThenColon(buf, 2)
    if (colon !== -1) return { start: colon + 1, expires: colon === 2 ? undefined : Number(buf.toString('latin1', 2, colon)), owned: true }
  }
  const colon = digitsThenColon(buf, 0)
  if (colon === 0) return { start: 1, expires: undefined, owned: false }
  if (colon >= LEGACY_MIN_DIGITS) return { start: colon + 1, expires: Number(buf.toString('latin1', 0, colon)), owned: false }
  return null
}

/**
 * Whether the string `v` could be read as one of the older forms (it cannot start with
 * FF 4B: FF never occurs in UTF-8). The same test as `legacyForm`, on the string.
 */
function looksLegacy (v) {
  const end = Math.min(v.length, MAX_DIGITS + 1)
  for (let i = 0; i < end; i++) {
    const c = v.charCodeAt(i)
    if (c === COLON) return i === 0 || i >= LEGACY_MIN_DIGITS
    if (c < 0x30 || c > 0x39) return false
  }
  return false
}

// --- Keyv's contracts ------------------------------------------------------------------------

/** The storage methods Keyv 6 looks for (its `detectKeyvStorage`). */
const STORAGE_METHODS = ['get', 'getMany', 'has', 'hasMany', 'set', 'setMany', 'delete', 'deleteMany', 'clear', 'disconnect', 'iterator']

function methodInfo (obj, name) {
  const f = obj[name]
  if (typeof f !== 'function') return { exists: false, methodType: 'none' }
  return { exists: true, methodType: f.constructor.name === 'AsyncFunction' ? 'async' : 'sync' }
}

/**
 * The store's expiry for a Keyv 5 `ttl` (ms from now, by the store's clock), or undefined:
 * only a positive finite number expires; anything else (undefined, null, 0, negative, NaN,
 * Infinity, a string) means no expiry, as with Keyv's own Map store.
 */
function expiryOfTtl (ttl, now) {
  if (typeof ttl !== 'number' || !(ttl > 0) || ttl === Infinity) return undefined
  const at = now + Math.ceil(ttl)
  return at > MAX_TIME ? undefined : at
}

/** The store's expiry for a Keyv 6 `expires` (ms since the epoch), or undefined for none. */
function expiryOfExpires (expires) {
  if (typeof expires !== 'number' || !Number.isFinite(expires)) return undefined
  const at = Math.max(0, Math.ceil(expires))
  return at > MAX_TIME ? undefined : at
}

function checkValue (value) {
  if (typeof value !== 'string') {
    throw errors.invalidArgType('value', 'a string (Keyv serializes values before handing them to the adapter)', value)
  }
  return value
}

function parseTarget (target) {
  if (typeof target !== 'string' || target === '') {
    throw errors.invalidArgType('path', 'a non-empty string (a file path or a simd-r-drive:// URI)', target)
  }
  const path = target.startsWith(SCHEME) ? target.slice(SCHEME.length) : target
  if (path === '') throw errors.invalidArgType('path', 'a non-empty string (a file path or a simd-r-drive:// URI)', path)
  return path
}

function startsWith (key, prefix) {
  return key.length >= prefix.length && prefix.equals(key.subarray(0, prefix.length))
}

/**
 * The options of `(target, options)` as the adapter and `createKeyv` take them: one options
 * object, or a path or URI (then `options.uri`) and options. A copy: the caller's object is
 * not changed.
 */
function targetOptions (target, options) {
  if (target !== null && typeof target === 'object') return { ...target }
  const opts = { ...(options || {}) }
  if (target !== undefined) opts.uri = target
  return opts
}

/**
 * A Keyv storage adapter that keeps its entries in one simd-r-drive store file.
 *
 * `new KeyvSimdRDrive('simd-r-drive://cache.srd')`, `new KeyvSimdRDrive('cache.srd', { sync: true })`
 * or `new KeyvSimdRDrive({ uri, path, namespace, readOnly, sync, create, copyValues, ... })`
 * (`copyValues` defaults to `true` here: reads copy values, which become strings anyway).
 */
class KeyvSimdRDrive extends EventEmitter {
  constructor (target, options) {
    super()
    const opts = targetOptions(target, options)
    const path = parseTarget(opts.path !== undefined ? opts.path : opts.uri)
    const storeOptions = {}
    for (const name of STORE_OPTIONS) if (opts[name] !== undefined) storeOptions[name] = opts[name]
    // Every value becomes a string at once, so a zero-copy view would never be handed out;
    // and reading through the store's windows of a large, growing file made the cache
    // workload about six times slower at 1M keys (bench/RESULTS.md, "Cache workload").
    if (storeOptions.copyValues === undefined) storeOptions.copyValues = true

    /** The namespace Keyv sets: `clear()` and `iterator()` keep to keys that start with `namespace:`. */
    this.namespace = opts.namespace
    delete opts.namespace
    /** What the adapter was opened with; `url` and `dialect` are read by Keyv. */
    this.opts = { ...opts, dialect: 'simd-r-drive', path, url: SCHEME + path, uri: SCHEME + path }
    this._closing = null
    this._closed = false
    /** Which Keyv contract the calls follow: 5 (prefixed keys, relative ttl) or 6; fixed on first use. */
    this._contract = undefined
    this._opening = Store.open(path, storeOptions)
    // Every method rejects with an open failure; listeners also hear about it at once.
    this._opening.catch((err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err)
    })
  }

  /**
   * Keyv 6's storage contract: Keyv 6 reads this when it is given the adapter, and then calls
   * it with keys without their namespace and absolute `expires` times; from then on the
   * adapter follows that contract (Keyv 5 never reads it). Throws `ERR_INVALID_STATE` if the
   * adapter has already served calls in Keyv 5's form.
   */
  get capabilities () {
    if (this._contract === 5) {
      throw errors.coded('ERR_INVALID_STATE', 'This KeyvSimdRDrive adapter already serves calls in Keyv 5\'s form; give Keyv 6 an adapter of its own.')
    }
    this._contract = 6
    const methods = {}
    for (const name of STORAGE_METHODS) methods[name] = methodInfo(this, name)
    return { compatible: true, store: 'keyvStorage', methods, expires: true }
  }

  /** Whether calls are in Keyv 6's form (fixes the contract as Keyv 5's on first use otherwise). */
  _v6 () {
    if (this._contract === undefined) this._contract = 5
    return this._contract === 6
  }

  /** The key as stored: Keyv 6 hands keys over without their namespace. */
  _key (key) {
    if (this._v6() && this.namespace) return `${this.namespace}:${key}`
    return key
  }

  /**
   * Resolves to the open `Store` underneath (rejects if it could not be opened), e.g. for its
   * `stats()`, or to `compact()` it on demand (automatic compaction also reclaims the space
   * of deleted and expired entries by itself).
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
   * The string `key` reads as, or undefined when missing or expired. `pending` collects
   * the deletes of expired entries in the FF 4B form (none when it is null).
   */
  _read (store, key, pending) {
    const buf = store.get(key)
    if (buf === undefined) return undefined
    if (legacyForm(buf) === null) return buf.toString('utf8')
    return this._readMarked(store, key, pending)
  }

  /** `_read` of a value that may be in an older form: its entry's expiry field decides. */
  _readMarked (store, key, pending) {
    for (;;) {
      // Version, value and expiry of one entry: read again if a commit came in between.
      const version = store.versionOf(key)
      const buf = store.get(key)
      const expires = store.expiresAt(key)
      if (store.versionOf(key) !== version) continue
      if (buf === undefined) return undefined
      const f = legacyForm(buf)
      if (f === null || expires !== undefined) return buf.toString('utf8')
      if (f.expires !== undefined && store.now() > f.expires) {
        // Only this adapter wrote the FF 4B form: delete it, unless written again meanwhile.
        if (f.owned && pending !== null && !store.readOnly) pending.push(store.compareAndSet(key, { version }, undefined))
        return undefined
      }
      return buf.toString('utf8', f.start)
    }
  }

  async get (key) {
    const k = this._key(key)
    const store = await this._ready()
    const pending = []
    const value = this._read(store, k, pending)
    await Promise.all(pending)
    return value
  }

  async getMany (keys) {
    const ks = keys.map((key) => this._key(key))
    const store = await this._ready()
    const pending = []
    const out = store.getMany(ks).map((buf, i) => {
      if (buf === undefined) return undefined
      if (legacyForm(buf) === null) return buf.toString('utf8')
      return this._readMarked(store, ks[i], pending)
    })
    await Promise.all(pending)
    return out
  }

  async has (key) {
    const k = this._key(key)
    const store = await this._ready()
    const pending = []
    const found = this._read(store, k, pending) !== undefined
    await Promise.all(pending)
    return found
  }

  async hasMany (keys) {
    const ks = keys.map((key) => this._key(key))
    const store = await this._ready()
    const pending = []
    const out = ks.map((k) => this._read(store, k, pending) !== undefined)
    await Promise.all(pending)
    return out
  }

  /** The store's entry for `k`, `v` and the expiry `at`: with the mark when `v` needs it. */
  _entry (k, v, at) {
    if (at === undefined && looksLegacy(v)) at = NO_EXPIRY
    return at === undefined ? [k, v] : [k, v, { expiresAt: at }]
  }

  /**
   * Sets `key` to the string `value`. Keyv 5: `expiry` is a ttl in ms from now; Keyv 6: an
   * absolute `expires` (ms since the epoch). Resolves to `true`.
   */
  async set (key, value, expiry) {
    const k = this._key(key)
    const v = checkValue(value)
    const v6 = this._v6()
    const store = await this._ready()
    const [, , options] = this._entry(k, v, v6 ? expiryOfExpires(expiry) : expiryOfTtl(expiry, store.now()))
    await store.put(k, v, options)
    return true
  }

  /**
   * Sets every `{ key, value, ttl }` (Keyv 5) or `{ key, value, expires }` (Keyv 6)
   * atomically (all or none after a crash). Resolves to `true` for each.
   */
  async setMany (entries) {
    const v6 = this._v6()
    const staged = entries.map((e) => [this._key(e.key), checkValue(e.value), v6 ? e.expires : e.ttl])
    const store = await this._ready()
    const now = store.now()
    await store.putMany(staged.map(([k, v, expiry]) => this._entry(k, v, v6 ? expiryOfExpires(expiry) : expiryOfTtl(expiry, now))))
    return entries.map(() => true)
  }

  /** Deletes `key`; resolves to whether it had a value that had not expired. */
  async delete (key) {
    const k = this._key(key)
    const store = await this._ready()
    const live = this._read(store, k, null) !== undefined
    const existed = await store.delete(k)
    return existed && live
  }

  /**
   * Deletes every key of `keys` in one batch. Keyv 5: resolves to whether every one of them
   * had a value (`true` for no keys, as Keyv's own fallback says); Keyv 6: to that for each.
   */
  async deleteMany (keys) {
    const v6 = this._v6()
    const ks = keys.map((key) => this._key(key))
    const store = await this._ready()
    const live = ks.map((k) => this._read(store, k, null) !== undefined)
    // Deletes issued in the same tick are committed as one batch.
    const existed = await Promise.all(ks.map((k) => store.delete(k)))
    const results = existed.map((e, i) => e && live[i])
    return v6 ? results : results.every(Boolean)
  }

  /**
   * Deletes the keys of this adapter's namespace (those starting with `namespace:`), or
   * every key of the store when there is no namespace.
   */
  async clear () {
    this._v6()
    const store = await this._ready()
    // Every key: one atomic clear entry instead of a tombstone per key.
    if (!this.namespace) return store.clear()
    const prefix = Buffer.from(this.namespace + ':', 'utf8')
    const doomed = []
    for (const key of store.keys()) if (startsWith(key, prefix)) doomed.push(key)
    await Promise.all(doomed.map((key) => store.delete(key)))
  }

  /**
   * Yields `[key, value]` for every entry of `namespace` (default: this adapter's; every
   * entry when there is none) that has not expired, from a snapshot taken when iteration
   * starts (a value that may be in an older form is read again when the iterator reaches
   * it: its entry's expiry field decides). Keyv 5: keys as stored (`namespace:key`; Keyv
   * strips the namespace); Keyv 6: without it.
   */
  async * iterator (namespace = this.namespace) {
    const v6 = this._v6()
    const store = await this._ready()
    const prefix = namespace ? Buffer.from(namespace + ':', 'utf8') : null
    const strip = v6 && prefix !== null ? prefix.length : 0
    for (const [key, buf] of store.entries()) {
      if (prefix !== null && !startsWith(key, prefix)) continue
      let value
      if (legacyForm(buf) === null) {
        value = buf.toString('utf8')
      } else {
        // Its entry's expiry field decides, read now (the snapshot may be stale by now).
        if (store.closed) return
        const pending = []
        value = this._readMarked(store, key, pending)
        await Promise.all(pending)
      }
      if (value !== undefined) yield [key.toString('utf8', strip), value]
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

/**
 * A Keyv over a new adapter, `keyv.iterator()` included: Keyv 5 sets that up by itself only
 * for adapters it knows by name, Keyv 6 for every adapter that has one. `options`: the
 * adapter's (path, store options) and Keyv's (`namespace`, `ttl`, ...); `options.Keyv` is
 * the Keyv class to use (default: `require('keyv')` as the application resolves it).
 */
function createKeyv (target, options) {
  const opts = targetOptions(target, options)
  const KeyvClass = opts.Keyv || require('keyv').Keyv
  delete opts.Keyv
  const adapterOptions = {}
  for (const name of ['uri', 'path', ...STORE_OPTIONS]) {
    if (opts[name] !== undefined) adapterOptions[name] = opts[name]
    delete opts[name]
  }
  const store = new KeyvSimdRDrive(adapterOptions)
  const keyv = new KeyvClass({ ...opts, store })
  // Keyv 5 (it never asked for the adapter's capabilities): wire its iterator as Keyv 6 does.
  if (store._contract !== 6 && typeof keyv.iterator !== 'function' && typeof keyv.generateIterator === 'function') {
    keyv.iterator = keyv.generateIterator(store.iterator.bind(store))
  }
  return keyv
}

module.exports = KeyvSimdRDrive
module.exports.KeyvSimdRDrive = KeyvSimdRDrive
module.exports.default = KeyvSimdRDrive
module.exports.createKeyv = createKeyv
