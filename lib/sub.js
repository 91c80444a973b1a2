'use strict'

// Sub-stores (`store.sub(prefix)`): a view of the keys of one store that begin with a prefix.
// A sub-store has no state of its own besides its prefix and its value encoding: every call
// prefixes the key and goes to the store's own (prototype) members, which check, stage and
// commit as for any key of the store, so a sub's writes share the store's per-tick batch,
// its writer, its conditions and its change feed. The prefix is raw bytes: `sub('a')` also
// sees the keys of `sub('ab')` (as keys starting with 'b'), so a prefix should end with a
// separator that its keys do not start with, e.g. 'users:'.
//
// The index is a hash table, so finding a prefix's keys (iteration and `clear`) means
// scanning all live keys of the store; `size` is not offered for that reason (count with a
// loop over `keys()`, which is the same scan, said out loud).

const errors = require('./errors.js')
const { MAX_KEY_BYTES, checkKey, bytesLength } = require('./keys.js')
const { Reads } = require('./read.js')
const { Writes } = require('./write.js')
const { Conditional } = require('./conditional.js')
const { Expiries } = require('./expiry.js')
const { resolveEncoding, isVersion } = require('./encoding.js')

const R = Reads.prototype
const W = Writes.prototype
const C = Conditional.prototype
const E = Expiries.prototype

function asBuffer (k) {
  if (typeof k === 'string') return Buffer.from(k, 'utf8')
  return Buffer.from(k.buffer, k.byteOffset, bytesLength(k))
}

/** `prefix` checked: `{ str, buf }` (`str` null for a bytes prefix; `buf` its own copy). */
function checkPrefix (prefix) {
  if (typeof prefix !== 'string' && !(prefix instanceof Uint8Array)) throw errors.invalidArgType('prefix', 'a string, Buffer or Uint8Array', prefix)
  const buf = Buffer.from(asBuffer(prefix))
  if (buf.length === 0) throw errors.rangeError('ERR_INVALID_KEY', 'A sub-store prefix must not be empty (the store itself is the sub-store of every key).')
  if (buf.length >= MAX_KEY_BYTES) throw errors.rangeError('ERR_INVALID_KEY', `A sub-store prefix must be shorter than the longest key (${MAX_KEY_BYTES} bytes), so that a key fits after it; this one is ${buf.length} bytes.`)
  return { str: typeof prefix === 'string' ? prefix : null, buf }
}

function checkSubOptions (options) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object') throw errors.invalidArgType('options', 'an object', options)
  return options
}

function tooLong (prefixLen, n) {
  return errors.rangeError('ERR_INVALID_KEY', `A key may be at most ${MAX_KEY_BYTES} bytes including its sub-store's ${prefixLen}-byte prefix; this one is ${n} bytes with the prefix: use a shorter key or prefix.`)
}

function rejecting (fn) {
  try {
    return fn()
  } catch (e) {
    return Promise.reject(e)
  }
}

/** A view of the keys of a store that begin with a prefix. See index.d.ts (`SubStore`). */
class SubStore {
  /** @private Made by `Store#sub` and `SubStore#sub`. */
  constructor (root, str, buf, encoding) {
    this._root = root
    this._str = str
    this._buf = buf
    this._encoding = encoding
  }

  get prefix () { return this._str !== null ? this._str : Buffer.from(this._buf) }

  get store () { return this._root }

  get valueEncoding () { return this._encoding.name }

  sub (prefix, options) {
    return makeSub(this._root, this, prefix, options)
  }

  /** The store's key for `key` of this sub-store (checked: type, empty, full length). */
  _key (key) {
    const k = checkKey(key)
    const plen = this._buf.length
    if (typeof k === 'string' && this._str !== null) {
      const full = this._str + k
      if (full.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(full, 'utf8') > MAX_KEY_BYTES) throw tooLong(plen, Buffer.byteLength(full, 'utf8'))
      return full
    }
    const kb = asBuffer(k)
    if (plen + kb.length > MAX_KEY_BYTES) throw tooLong(plen, plen + kb.length)
    return Buffer.concat([this._buf, kb], plen + kb.length)
  }

  _decode (v) { return v === undefined ? undefined : this._encoding.decode(v) }

  _encode (v) { return this._encoding.encode(v) }

  /** `entries` as the store's pairs: prefixed keys, encoded values (read once, here). */
  _entries (entries) {
    if (entries === null || entries === undefined || typeof entries[Symbol.iterator] !== 'function') {
      throw errors.invalidArgType('entries', 'an iterable of [key, value] pairs', entries)
    }
    const list = Array.isArray(entries) ? entries : Array.from(entries)
    const out = new Array(list.length)
    for (let i = 0; i < list.length; i++) {
      const e = list[i]
      if (!Array.isArray(e) || e.length < 2) throw errors.invalidArgType(`entries[${i}]`, 'a [key, value] pair', e)
      out[i] = e.length > 2 ? [this._key(e[0]), this._encode(e[1]), e[2]] : [this._key(e[0]), this._encode(e[1])]
    }
    return out
  }

  get (key) {
    return this._decode(R.get.call(this._root, this._key(key)))
  }

  getMany (keys) {
    if (!Array.isArray(keys)) throw errors.invalidArgType('keys', 'an array', keys)
    const vs = R.getMany.call(this._root, keys.map((k) => this._key(k)))
    for (let i = 0; i < vs.length; i++) vs[i] = this._decode(vs[i])
    return vs
  }

  has (key) {
    return R.has.call(this._root, this._key(key))
  }

  versionOf (key) {
    return C.versionOf.call(this._root, this._key(key))
  }

  put (key, value, options) {
    return rejecting(() => W.put.call(this._root, this._key(key), this._encode(value), options))
  }

  putSync (key, value, options) {
    W.putSync.call(this._root, this._key(key), this._encode(value), options)
  }

  putMany (entries) {
    return rejecting(() => W.putMany.call(this._root, this._entries(entries)))
  }

  putManySync (entries) {
    W.putManySync.call(this._root, this._entries(entries))
  }

  delete (key) {
    return rejecting(() => W.delete.call(this._root, this._key(key)))
  }

  deleteSync (key) {
    return W.deleteSync.call(this._root, this._key(key))
  }

  putIfAbsent (key, value, options) {
    return rejecting(() => C.putIfAbsent.call(this._root, this._key(key), this._encode(value), options))
  }

  putIfAbsentSync (key, value, options) {
    return C.putIfAbsentSync.call(this._root, this._key(key), this._encode(value), options)
  }

  expiresAt (key) {
    return E.expiresAt.call(this._root, this._key(key))
  }

  _cas (key, expected, value) {
    // As on an encoded store: `{ version: bigint }` is a version, anything else a value (a
    // binary sub's encode leaves `{ version }` as it is, which compareAndSet takes for one).
    return [
      this._key(key),
      expected === undefined || isVersion(expected) ? expected : this._encode(expected),
      value === undefined ? undefined : this._encode(value)
    ]
  }

  compareAndSet (key, expected, value, options) {
    return rejecting(() => C.compareAndSet.call(this._root, ...this._cas(key, expected, value), options))
  }

  compareAndSetSync (key, expected, value, options) {
    return C.compareAndSetSync.call(this._root, ...this._cas(key, expected, value), options)
  }

  /**
   * Deletes every key of this sub-store in one transaction: the scan and the deletes run
   * under the writer lock, so no write lands between them, and they commit as one batch.
   */
  clearSync () {
    this._root.transactionSync((tx) => this._clearIn(tx))
  }

  clear () {
    return rejecting(() => this._root.transaction((tx) => this._clearIn(tx)))
  }

  _clearIn (tx) {
    for (const k of this._rawKeys()) tx.delete(k)
  }

  /** The store's keys (Buffers) that begin with the prefix, prefix included. */
  * _rawKeys () {
    const p = this._buf
    for (const k of R.keys.call(this._root)) {
      if (k.length >= p.length && p.compare(k, 0, p.length) === 0) yield k
    }
  }

  * keys () {
    const n = this._buf.length
    for (const k of this._rawKeys()) yield k.subarray(n)
  }

  * values () {
    for (const [, v] of this.entries()) yield v
  }

  * entries () {
    const p = this._buf
    const n = p.length
    for (const [k, v] of R.entries.call(this._root)) {
      if (k.length >= n && p.compare(k, 0, n) === 0) yield [k.subarray(n), this._decode(v)]
    }
  }

  [Symbol.iterator] () { return this.entries() }
}

/** A sub-store of `root` under `parent`'s prefix (none for the store) followed by `prefix`. */
function makeSub (root, parent, prefix, options) {
  root._open()
  const p = checkPrefix(prefix)
  const o = checkSubOptions(options)
  const encoding = o.valueEncoding === undefined ? (parent === null ? root._encoding : parent._encoding) : resolveEncoding(o.valueEncoding)
  if (parent === null) return new SubStore(root, p.str, p.buf, encoding)
  const buf = Buffer.concat([parent._buf, p.buf])
  if (buf.length >= MAX_KEY_BYTES) throw errors.rangeError('ERR_INVALID_KEY', `A sub-store prefix must be shorter than the longest key (${MAX_KEY_BYTES} bytes), so that a key fits after it; this one is ${buf.length} bytes with its parent's.`)
  const str = parent._str !== null && p.str !== null ? parent._str + p.str : null
  return new SubStore(root, str, buf, encoding)
}

/** `Store#sub` (mixed into Store's prototype). */
class Subs {
  sub (prefix, options) {
    return makeSub(this, null, prefix, options)
  }
}

module.exports = { Subs, SubStore }
