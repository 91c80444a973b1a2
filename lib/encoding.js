'use strict'

// Value encodings (`Store.open(path, { valueEncoding })`), in one place: what each encoding
// turns values into before they are written and back after they are read. The level
// ecosystem's encodings are the model: 'binary' (alias 'buffer'), 'utf8', 'json', or a
// custom `{ encode, decode, format? }`.
//
// An encoding belongs to a `Store` handle, not to the engine: two handles of one path (which
// share one engine) can read the same bytes with different encodings. A binary handle keeps
// the prototype's methods untouched (the zero-copy read path costs nothing more); any other
// handle gets its own `get`, `getMany`, `values`, `entries`, `[Symbol.iterator]`, `put`,
// `putMany`, `putSync`, `putManySync`, `putIfAbsent(Sync)` and `compareAndSet(Sync)`, which
// call the prototype's and encode or decode around them (a transaction's `tx` encodes and
// decodes through `encodeValue`/`decodeValue`). Keys, `getCopy`, `getRaw`, `createReadStream` and `createWriteStream` are
// raw bytes whatever the encoding. `decodeValue(store, bytes)` is what other readers of
// values (the change feed) call to give a handle's values in its encoding.

const errors = require('./errors.js')
const { Reads } = require('./read.js')

const rawGet = Reads.prototype.get

function identity (v) { return v }

function invalidValue (name, message) {
  const err = new TypeError(`The "${name}" option ${message}`)
  Object.defineProperty(err, 'code', { value: 'ERR_INVALID_ARG_VALUE', enumerable: true, writable: true, configurable: true })
  return err
}

const BINARY = Object.freeze({ name: 'binary', binary: true, encode: identity, decode: identity })

/** utf8: strings as they are, bytes as they are; numbers, booleans and bigints as `String(v)`. */
function encodeUtf8 (v) {
  return typeof v === 'string' || typeof v === 'object' || v === undefined ? v : String(v)
}

function decodeUtf8 (b) { return b.toString('utf8') }

function encodeJson (v) {
  const s = JSON.stringify(v)
  if (typeof s !== 'string') throw invalidValue('value', `cannot be encoded as JSON (JSON.stringify gave ${String(s)} for type ${typeof v})`)
  return s
}

function decodeJson (b) { return JSON.parse(b.toString('utf8')) }

const NAMED = new Map([
  ['binary', BINARY],
  ['buffer', BINARY],
  ['utf8', Object.freeze({ name: 'utf8', binary: false, encode: encodeUtf8, decode: decodeUtf8 })],
  ['json', Object.freeze({ name: 'json', binary: false, encode: encodeJson, decode: decodeJson })]
])

const FORMATS = ['buffer', 'view', 'utf8']

/**
 * The encoding `option` (the `valueEncoding` option) names: one of the named encodings, or a
 * custom `{ encode, decode, format?, name? }` (`format: 'utf8'` hands `decode` a string, any
 * other a Buffer). Throws a coded TypeError for anything else, before the store is opened.
 */
function resolveEncoding (option) {
  if (option === undefined) return BINARY
  if (typeof option === 'string') {
    const e = NAMED.get(option)
    if (e === undefined) throw invalidValue('options.valueEncoding', `must be 'binary', 'buffer', 'utf8', 'json' or an object with encode and decode functions, got ${JSON.stringify(option)}`)
    return e
  }
  if (option === null || typeof option !== 'object') throw errors.invalidArgType('options.valueEncoding', 'a string or an object with encode and decode functions', option)
  const { encode, decode, format, name } = option
  if (typeof encode !== 'function' || typeof decode !== 'function') {
    throw invalidValue('options.valueEncoding', `must have encode and decode functions (got encode: ${typeof encode}, decode: ${typeof decode})`)
  }
  if (format !== undefined && !FORMATS.includes(format)) {
    throw invalidValue('options.valueEncoding.format', `must be 'buffer', 'view' or 'utf8', got ${JSON.stringify(format)}`)
  }
  return Object.freeze({
    name: typeof name === 'string' ? name : 'custom',
    binary: false,
    encode: (v) => encode.call(option, v),
    decode: format === 'utf8' ? (b) => decode.call(option, b.toString('utf8')) : (b) => decode.call(option, b)
  })
}

/** A value read by `store` (bytes) in `store`'s encoding: for readers outside this file. */
function decodeValue (store, bytes) {
  return store._encoding.decode(bytes)
}

/** `entries` with each pair's value encoded; anything that is not a pair is left for putMany to refuse. */
function encodeEntries (entries, encode) {
  if (entries === null || entries === undefined || typeof entries[Symbol.iterator] !== 'function') return entries
  const out = []
  for (const e of entries) {
    if (!Array.isArray(e) || e.length < 2) out.push(e)
    else if (e.length > 2) out.push([e[0], encode(e[1]), e[2]]) // with its write options
    else out.push([e[0], encode(e[1])])
  }
  return out
}

/**
 * Whether `expected` (of compareAndSet on an encoded handle) is a version rather than a value:
 * `{ version }` with a bigint, its only own key. JSON cannot encode a bigint, so no JSON
 * value is taken for a version; a number version is a value on such a handle.
 */
function isVersion (expected) {
  return expected !== null && typeof expected === 'object' && !ArrayBuffer.isView(expected) &&
    typeof expected.version === 'bigint' && Object.keys(expected).length === 1
}

/** compareAndSet's `expected` and `value` encoded (`undefined` stays absent / delete). */
function encodeCas (expected, value, encode) {
  return [
    expected === undefined || isVersion(expected) ? expected : encode(expected),
    value === undefined ? undefined : encode(value)
  ]
}

/** A value for `store` to write, encoded in its encoding. */
function encodeValue (store, value) {
  return store._encoding.encode(value)
}

/** Gives `store` (just made) the encoding `enc` (from `resolveEncoding`). */
function applyEncoding (store, enc) {
  store._encoding = enc
  if (enc.binary) return
  const proto = Object.getPrototypeOf(store)
  const { encode, decode } = enc
  const own = {
    get (key) {
      const v = proto.get.call(this, key)
      return v === undefined ? undefined : decode(v)
    },
    getMany (keys) {
      const vs = proto.getMany.call(this, keys)
      for (let i = 0; i < vs.length; i++) if (vs[i] !== undefined) vs[i] = decode(vs[i])
      return vs
    },
    * values () {
      for (const v of proto.values.call(this)) yield decode(v)
    },
    * entries () {
      for (const [k, v] of proto.entries.call(this)) yield [k, decode(v)]
    },
    [Symbol.iterator] () { return this.entries() },
    put (key, value, options) {
      let v
      try {
        v = encode(value)
      } catch (e) {
        return Promise.reject(e)
      }
      return proto.put.call(this, key, v, options)
    },
    putMany (entries) {
      let encoded
      try {
        encoded = encodeEntries(entries, encode)
      } catch (e) {
        return Promise.reject(e)
      }
      return proto.putMany.call(this, encoded)
    },
    putSync (key, value, options) {
      proto.putSync.call(this, key, encode(value), options)
    },
    putManySync (entries) {
      proto.putManySync.call(this, encodeEntries(entries, encode))
    },
    putIfAbsent (key, value, options) {
      let v
      try {
        v = encode(value)
      } catch (e) {
        return Promise.reject(e)
      }
      return proto.putIfAbsent.call(this, key, v, options)
    },
    putIfAbsentSync (key, value, options) {
      return proto.putIfAbsentSync.call(this, key, encode(value), options)
    },
    compareAndSet (key, expected, value, options) {
      let args
      try {
        args = encodeCas(expected, value, encode)
      } catch (e) {
        return Promise.reject(e)
      }
      return proto.compareAndSet.call(this, key, ...args, options)
    },
    compareAndSetSync (key, expected, value, options) {
      return proto.compareAndSetSync.call(this, key, ...encodeCas(expected, value, encode), options)
    }
  }
  for (const name of Reflect.ownKeys(own)) {
    Object.defineProperty(store, name, { value: own[name], writable: true, configurable: true, enumerable: false })
  }
}

/** The members every Store has whatever its encoding (mixed into Store's prototype). */
class Encodings {
  get valueEncoding () { return this._encoding.name }

  getRaw (key) {
    return rawGet.call(this, key)
  }
}

module.exports = { resolveEncoding, applyEncoding, decodeValue, encodeValue, isVersion, Encodings, BINARY }
