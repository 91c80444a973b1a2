'use strict'

const { constants: bufferConstants } = require('node:buffer')
// node:fs/promises, node:crypto and node:stream are loaded on first use by the stream
// methods: together they take longer to load than opening a large store does.
const lazy = (id) => { let m = null; return () => (m ??= require(id)) }
const fsp = lazy('node:fs/promises')
const crypto = lazy('node:crypto')
const stream = lazy('node:stream')
const native = require('./native.js')
const errors = require('./errors.js')

/** Longest key, in bytes (UTF-8 for strings). */
const MAX_KEY_BYTES = 65535
/** Longest value, in bytes. */
const MAX_VALUE_BYTES = Math.min(2 ** 32 - 1, bufferConstants.MAX_LENGTH) - MAX_KEY_BYTES - 8

// Layout of the scratch buffer shared with the native layer (see src/lib.rs).
const KEY_AT = 32
const OUT_MAP_ID = 0
const OUT_OFFSET = 1
const OUT_LEN = 2
const OUT_AUX = 3

/** Batches larger than this are committed on the libuv threadpool. */
const INLINE_MAX_BYTES = 1 << 20

function positiveIntFromEnv (name, fallback, max) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 4096 || n % 4096 !== 0 || n > max) {
    throw errors.rangeError('ERR_INVALID_ENV', `${name} must be a multiple of 4096 from 4096 to ${max}, got ${JSON.stringify(raw)}`)
  }
  return n
}

// Values are served as slices of "windows": external Buffers over a private mapping of
// the store file, each covering STRIDE bytes plus OVERLAP bytes so that a value starting
// in one stride is found whole in its window. A Buffer is limited to 4 GiB (the native
// side refuses longer windows: MAX_VIEW_BYTES in src/views.rs), so stores larger than that
// use several windows. Tests shrink the stride to exercise many windows.
const MAX_OVERLAP = 64 * 1024 * 1024
const MAX_WINDOW = Math.min(bufferConstants.MAX_LENGTH, 2 ** 32)
const STRIDE = positiveIntFromEnv('SIMD_R_DRIVE_WINDOW_BYTES', 1024 * 1024 * 1024, MAX_WINDOW - MAX_OVERLAP)
const OVERLAP = Math.min(STRIDE, MAX_OVERLAP)

/** Where external Buffers are not allowed (Electron), every value is copied. */
let copyEverywhere = /^(1|true|yes)$/i.test(process.env.SIMD_R_DRIVE_COPY_VALUES || '')

// One scratch buffer per JavaScript thread: the key goes in, the value's location comes out.
const scratch = Buffer.allocUnsafeSlow(KEY_AT + MAX_KEY_BYTES)
const out = new Float64Array(scratch.buffer, scratch.byteOffset, 4)
const hasUtf8Write = typeof scratch.utf8Write === 'function'

/**
 * The cached windows of one mapping, by stride index. A window made for one value alone (it
 * did not fit in its stride's window) is not kept.
 */
class Windows {
  constructor (mapId) {
    this.mapId = mapId
    this.byStride = []
  }

  /** `[off, off + len)` from a cached window, or undefined. */
  hit (off, len) {
    const w = this.byStride[Math.floor(off / STRIDE)]
    if (w !== undefined && off + len <= w.end) return w.buf.subarray(off - w.start, off - w.start + len)
    return undefined
  }

  /** Keeps a new window that starts at `start`, and returns `[off, off + len)` from it. */
  keep (buf, start, off, len) {
    if (buf.length !== len || start !== off) this.byStride[Math.floor(start / STRIDE)] = { start, end: start + buf.length, buf }
    return buf.subarray(off - start, off - start + len)
  }
}

const OP_PUT = 1
const OP_DELETE = 2
/** From this many keys on, getMany looks them up in one native call. */
const GET_MANY_BATCHED = 8
const EMPTY = Buffer.alloc(0)

// The built-in accessors of views, called directly. A subclass or an own property can
// redefine `byteLength` and friends, and user code must never decide how many bytes are read
// or written: these ignore such overrides, run no JavaScript, and work on real views only.
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype)
const intrinsic = (proto, name) => Object.getOwnPropertyDescriptor(proto, name).get
const taTag = intrinsic(TypedArrayPrototype, Symbol.toStringTag)
const taLength = intrinsic(TypedArrayPrototype, 'byteLength')
const taOffset = intrinsic(TypedArrayPrototype, 'byteOffset')
const taBuffer = intrinsic(TypedArrayPrototype, 'buffer')
const dvLength = intrinsic(DataView.prototype, 'byteLength')
const dvOffset = intrinsic(DataView.prototype, 'byteOffset')
const dvBuffer = intrinsic(DataView.prototype, 'buffer')

/** Whether `v` is a real `Uint8Array` (a `Buffer` is one), whatever its prototype says. */
function isBytes (v) {
  return taTag.call(v) === 'Uint8Array'
}

/** Byte length of a real typed array (0 once detached), never its own `byteLength`. */
function bytesLength (v) {
  return taLength.call(v)
}

/** Encodes a key into the scratch buffer; returns its length in bytes. */
function keyToScratch (key) {
  let n
  if (typeof key === 'string') {
    if (key.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw keyTooLong(key)
    n = hasUtf8Write ? scratch.utf8Write(key, KEY_AT) : scratch.write(key, KEY_AT, 'utf8')
  } else if (isBytes(key)) {
    n = bytesLength(key)
    if (n > MAX_KEY_BYTES) throw keyTooLong(key)
    scratch.set(key, KEY_AT)
  } else {
    throw errors.invalidArgType('key', 'a string, Buffer or Uint8Array', key)
  }
  if (n === 0) throw errors.rangeError('ERR_INVALID_KEY', 'A key must not be empty.')
  return n
}

function keyTooLong (key) {
  const n = typeof key === 'string' ? Buffer.byteLength(key, 'utf8') : bytesLength(key)
  return errors.rangeError('ERR_INVALID_KEY', `A key may be at most ${MAX_KEY_BYTES} bytes; this one is ${n}.`)
}

/** A key as bytes for staging: a Uint8Array, or a string (encoded while staging). */
function checkKey (key) {
  if (typeof key === 'string') {
    if (key.length === 0) throw errors.rangeError('ERR_INVALID_KEY', 'A key must not be empty.')
    if (key.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw keyTooLong(key)
    return key
  }
  if (isBytes(key)) {
    const n = bytesLength(key)
    if (n === 0) throw errors.rangeError('ERR_INVALID_KEY', 'A key must not be empty.')
    if (n > MAX_KEY_BYTES) throw keyTooLong(key)
    return key
  }
  throw errors.invalidArgType('key', 'a string, Buffer or Uint8Array', key)
}

/**
 * A value as bytes for staging: a string, or a real `Uint8Array` over the value's bytes (the
 * view itself, or a new `Uint8Array` over another view's memory, bounded by the built-in
 * accessors).
 */
function checkValue (value) {
  if (typeof value === 'string') {
    if (value.length > MAX_VALUE_BYTES / 3 && Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES) throw valueTooLarge(Buffer.byteLength(value, 'utf8'))
    return value
  }
  const bytes = viewBytes(value)
  const n = bytesLength(bytes)
  if (n > MAX_VALUE_BYTES) throw valueTooLarge(n)
  if (n === 0 && isDetached(bytes)) {
    throw errors.invalidArgType('value', 'a view of an attached ArrayBuffer', value)
  }
  return bytes
}

/** The bytes of any real view (typed array or `DataView`) as a `Uint8Array`. */
function viewBytes (value) {
  const tag = taTag.call(value)
  if (tag === 'Uint8Array') return value
  try {
    if (tag !== undefined) return new Uint8Array(taBuffer.call(value), taOffset.call(value), taLength.call(value))
    if (ArrayBuffer.isView(value)) return new Uint8Array(dvBuffer.call(value), dvOffset.call(value), dvLength.call(value))
  } catch {
    // A view of a detached buffer: its accessors throw.
    throw errors.invalidArgType('value', 'a view of an attached ArrayBuffer', value)
  }
  throw errors.invalidArgType('value', 'a string, Buffer, TypedArray or DataView', value)
}

/** Whether a (zero-length) typed array's ArrayBuffer was transferred away. */
function isDetached (view) {
  try {
    new Uint8Array(taBuffer.call(view), 0, 0) // eslint-disable-line no-new
    return false
  } catch {
    return true
  }
}

function copyOrUndefined (v) {
  return v === null ? undefined : v
}

function valueTooLarge (n) {
  return errors.rangeError('ERR_VALUE_TOO_LARGE', `A value may be at most ${MAX_VALUE_BYTES} bytes; this one is ${n}.`)
}

/** Length in bytes of a checked key or value (a string, or a real `Uint8Array`). */
function byteLength (v) {
  return typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : bytesLength(v)
}

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
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    // A put's caller gets this promise; nothing is unhandled if nobody awaits it.
    this.promise.catch(() => {})
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
    this.reserve(8 + keyLen + valueLen)
    this.put(kind, key, keyLen, value, valueLen)
    if (kind === OP_DELETE) this.hasDelete = true
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
    at += 8
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
      total += 8 + kl + vl
    }
    this.reserve(total)
    for (let i = 0; i < n; i++) this.put(OP_PUT, flat[2 * i], lengths[2 * i], flat[2 * i + 1], lengths[2 * i + 1])
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

const registry = new FinalizationRegistry((h) => {
  native.releaseStore(h)
})

function checkOptions (options) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object') throw errors.invalidArgType('options', 'an object', options)
  for (const name of ['readOnly', 'sync', 'create', 'copyValues']) {
    const v = options[name]
    if (v !== undefined && typeof v !== 'boolean') throw errors.invalidArgType(`options.${name}`, 'a boolean', v)
  }
  const mode = options.mode
  if (mode !== undefined) {
    if (typeof mode !== 'number') throw errors.invalidArgType('options.mode', 'a number', mode)
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw errors.rangeError('ERR_OUT_OF_RANGE', `options.mode must be an integer from 0 to 0o7777, got ${mode}`)
  }
  return options
}

/** The fault-injection spec of the test suite (src/faults.rs), read when `open` is called. */
function testFault () {
  return process.env.SIMD_R_DRIVE_TEST_FAULT || undefined
}

function checkPath (path) {
  if (typeof path !== 'string' || path.length === 0) throw errors.invalidArgType('path', 'a non-empty string', path)
  if (path.includes('\0')) throw errors.invalidArgType('path', 'a string without null bytes', path)
}

/**
 * An open store. See index.d.ts for the documentation of every member.
 */
class Store {
  /** @private Use `Store.open` or `Store.openSync`. */
  constructor (token, h, path, options) {
    if (token !== OPEN) throw new TypeError('Use Store.open() or Store.openSync() to open a store.')
    this._h = h
    this._path = path
    this._readOnly = options.readOnly === true
    this._sync = options.sync === true
    this._copy = options.copyValues === true
    this._windows = new Windows(-1)
    this._batch = null
    this._spare = Buffer.allocUnsafeSlow(4096)
    this._ticket = 0
    this._inflight = new Set()
    this._streams = new Set()
    this._asyncWrites = 0
    this._compacting = 0
    this._readingEntries = false
    this._closing = null
    this._flushBound = () => this._flushBatch()
    registry.register(this, h, this)
  }

  static async open (path, options) {
    checkPath(path)
    const o = checkOptions(options)
    let h
    try {
      h = await native.openStoreAsync(path, o.readOnly === true, o.create !== false, testFault(), o.mode)
    } catch (e) {
      throw errors.fromNative(e)
    }
    return new Store(OPEN, h, path, o)
  }

  static openSync (path, options) {
    checkPath(path)
    const o = checkOptions(options)
    let h
    try {
      h = native.openStore(path, o.readOnly === true, o.create !== false, testFault(), o.mode)
    } catch (e) {
      throw errors.fromNative(e)
    }
    return new Store(OPEN, h, path, o)
  }

  static async repair (path) {
    checkPath(path)
    try {
      return await native.repair(path)
    } catch (e) {
      throw errors.fromNative(e)
    }
  }

  get path () { return this._path }

  get readOnly () { return this._readOnly }

  get closed () { return this._h < 0 || this._closing !== null }

  get size () {
    return native.size(this._open())
  }

  _open () {
    if (this._closing !== null || this._h < 0) throw errors.closed()
    return this._h
  }

  _writable () {
    const h = this._open()
    if (this._readOnly) throw errors.readOnly()
    if (this._readingEntries) {
      throw errors.coded('ERR_INVALID_STATE', 'putMany or putManySync is still reading its entries, and a write made from inside that read (by an accessor, Proxy or iterator of the entries) cannot be ordered before or after that batch; write once the call has returned.')
    }
    return h
  }

  // ----- reads -----

  get (key) {
    const h = this._open()
    const n = keyToScratch(key)
    try {
      if (copyEverywhere || this._copy) return copyOrUndefined(native.getCopy(h, scratch, n))
      const found = native.locate(h, scratch, n)
      if (found === 0) return undefined
      if (found === 2) return copyOrUndefined(native.getCopy(h, scratch, n))
      if (out[OUT_MAP_ID] === this._windows.mapId) {
        const v = this._windows.hit(out[OUT_OFFSET], out[OUT_LEN])
        if (v !== undefined) return v
      }
      return this._viewSlow(h, n)
    } catch (e) {
      throw errors.fromNative(e)
    }
  }

  /** The located value when no cached window holds it. */
  _viewSlow (h, n) {
    for (;;) {
      const mapId = out[OUT_MAP_ID]
      const off = out[OUT_OFFSET]
      const len = out[OUT_LEN]
      if (len === 0) return Buffer.alloc(0)
      const buf = native.window(h, scratch, STRIDE, OVERLAP)
      const start = out[OUT_AUX]
      if (buf != null) {
        if (mapId !== this._windows.mapId) this._windows = new Windows(mapId)
        return this._windows.keep(buf, start, off, len)
      }
      if (start === -2) {
        copyEverywhere = true
        return copyOrUndefined(native.getCopy(h, scratch, n))
      }
      // The store moved to a new mapping meanwhile: look again.
      const found = native.locate(h, scratch, n)
      if (found === 0) return undefined
      if (found === 2) return copyOrUndefined(native.getCopy(h, scratch, n))
    }
  }

  getCopy (key) {
    const h = this._open()
    const n = keyToScratch(key)
    try {
      return copyOrUndefined(native.getCopy(h, scratch, n))
    } catch (e) {
      throw errors.fromNative(e)
    }
  }

  getMany (keys) {
    if (!Array.isArray(keys)) throw errors.invalidArgType('keys', 'an array', keys)
    const n = keys.length
    const result = new Array(n)
    if (n < GET_MANY_BATCHED || copyEverywhere || this._copy) {
      for (let i = 0; i < n; i++) result[i] = this.get(keys[i])
      return result
    }
    const h = this._open()
    // Keys are staged as deletes: the staging format carries keys, and nothing is written.
    const b = new Batch(EMPTY)
    for (let i = 0; i < n; i++) b.add(OP_DELETE, checkKey(keys[i]), null)
    const found = new Float64Array(4 * n)
    try {
      native.locateMany(h, b.buf.subarray(0, b.len), n, Buffer.from(found.buffer))
    } catch (e) {
      throw errors.fromNative(e)
    }
    for (let i = 0; i < n; i++) {
      const state = found[4 * i]
      if (state === 0) {
        // Set, not skipped: `new Array(n)` has holes, which map() and forEach() skip.
        result[i] = undefined
        continue
      }
      // (A fallback below may have replaced the windows: read them each time.)
      const windows = this._windows
      let v
      if (state === 1 && found[4 * i + 1] === windows.mapId) v = windows.hit(found[4 * i + 2], found[4 * i + 3])
      // Not in a cached window, in the last page of the file, or in a file that compaction
      // has replaced since: the single-key path handles every case.
      result[i] = v === undefined ? this.get(keys[i]) : v
    }
    return result
  }

  has (key) {
    const h = this._open()
    const n = keyToScratch(key)
    try {
      return native.contains(h, scratch, n)
    } catch (e) {
      throw errors.fromNative(e)
    }
  }

  stats () {
    try {
      return native.stats(this._open())
    } catch (e) {
      throw errors.fromNative(e)
    }
  }

  recovery () {
    try {
      return native.recovery(this._open())
    } catch (e) {
      throw errors.fromNative(e)
    }
  }

  verify () {
    try {
      const h = this._open()
      return this._track(native.verify(h)).catch((e) => { throw errors.fromNative(e) })
    } catch (e) {
      return Promise.reject(errors.fromNative(e))
    }
  }

  refresh () {
    try {
      return native.refresh(this._open())
    } catch (e) {
      throw errors.fromNative(e)
    }
  }

  // ----- writes -----

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

  put (key, value) {
    try {
      this._writable()
      const k = checkKey(key)
      const v = checkValue(value)
      const b = this._currentBatch()
      b.add(OP_PUT, k, v)
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
      return b.promise.then((existed) => existed[i] === 1)
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

  putSync (key, value) {
    this._writable()
    const one = new Batch(EMPTY)
    one.add(OP_PUT, checkKey(key), checkValue(value))
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
    if (this._direct(flat) >= 0) return
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
    try {
      return readEntries(entries)
    } finally {
      this._readingEntries = false
    }
  }

  /**
   * putManySync's direct path: the native side reads the flat pairs of `readEntries` (plain
   * values: no JavaScript runs) and commits them, durable first with `sync`. Returns the
   * commit's sequence number, or -1 if it wrote nothing.
   */
  _direct (flat) {
    let seq
    try {
      seq = native.writeEntries(this._h, this._ticket++, flat, Buffer.prototype, Uint8Array.prototype)
      if (seq >= 0 && this._sync) native.flushSync(this._h)
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
    let seq = -1
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
        if (seq >= 0 && b.buf.length <= INLINE_MAX_BYTES) this._spare = b.buf
      }
    }
    if (seq < 0) {
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

  _track (p) {
    this._inflight.add(p)
    p.finally(() => this._inflight.delete(p)).catch(() => {})
    return p
  }

  flush () {
    try {
      const h = this._open()
      if (this._readOnly) return Promise.resolve()
      if (this._batch !== null) this._flushBatch()
      // Wait for threadpool writes issued before this call, then sync.
      const before = Promise.allSettled([...this._inflight])
      return this._track(before.then(() => native.flush(h))).then(() => {}, (e) => { throw errors.fromNative(e) })
    } catch (e) {
      return Promise.reject(errors.fromNative(e))
    }
  }

  compact () {
    try {
      const h = this._writable()
      if (this._batch !== null) this._flushBatch()
      this._compacting++
      const p = native.compact(h)
      const done = p.finally(() => { this._compacting-- })
      return this._track(done).catch((e) => { throw errors.fromNative(e) })
    } catch (e) {
      return Promise.reject(errors.fromNative(e))
    }
  }

  close () {
    if (this._closing !== null) return this._closing
    if (this._h < 0) return Promise.resolve()
    if (this._batch !== null) this._flushBatch()
    this._closing = (async () => {
      const streams = [...this._streams].map((ws) => {
        if (!ws.writableEnded) ws.destroy(errors.closed())
        return new Promise((resolve) => (ws.closed ? resolve() : ws.once('close', resolve)))
      })
      await Promise.all(streams)
      while (this._inflight.size > 0) await Promise.allSettled([...this._inflight])
      const h = this._h
      // Make everything durable (on the threadpool) and record that in the file, so a
      // later open reports damage to it instead of taking it for a torn unsynced tail;
      // then save the index beside a large store, so the next open need not scan the log.
      // On a poisoned store, checkpoint still syncs what was committed before the failure
      // and then rejects with ERR_STORE_POISONED (nothing more to report), or rejects with
      // ERR_STORE_IO when an earlier failed sync means it cannot make those writes durable.
      let failure = null
      if (!this._readOnly) {
        try {
          await native.checkpoint(h)
        } catch (e) {
          const err = errors.fromNative(e)
          if (err.code !== 'ERR_STORE_POISONED' && err.code !== 'ERR_STORE_CLOSED') failure = err
        }
      }
      this._h = -1
      registry.unregister(this)
      this._windows = new Windows(-1)
      native.releaseStore(h)
      if (failure !== null) throw failure
    })()
    return this._closing
  }

  // ----- streams -----

  createReadStream (key, options) {
    const chunk = streamChunk(options)
    const value = this.get(key)
    let pos = 0
    return new (stream().Readable)({
      highWaterMark: chunk,
      read () {
        if (value === undefined) {
          this.destroy(errors.coded('ERR_KEY_NOT_FOUND', `No value is stored under ${describeKey(key)}.`))
          return
        }
        if (pos >= value.length) {
          this.push(null)
          return
        }
        // Zero-copy: each chunk is a slice of the value's view of the store.
        this.push(value.subarray(pos, pos + chunk))
        pos += chunk
      }
    })
  }

  createWriteStream (key) {
    this._writable()
    const k = checkKey(key)
    const keyBytes = typeof k === 'string' ? Buffer.from(k, 'utf8') : Buffer.from(k)
    // Beside the store file the engine has open (its path was resolved when it was opened:
    // a relative path given to open may name another directory since a chdir), and
    // unique across processes and threads.
    let real
    try {
      real = native.storePath(this._h)
    } catch (e) {
      throw errors.fromNative(e)
    }
    const file = `${real}.upload-${process.pid}-${crypto().randomUUID()}`
    const store = this
    let fh = null
    const drop = async () => {
      if (fh !== null) {
        const h = fh
        fh = null
        await h.close().catch(() => {})
      }
      await fsp().unlink(file).catch(() => {})
    }
    // Once the commit of the value has been issued it cannot be called back: a destroy()
    // that comes meanwhile waits for it, so that the stream either writes nothing (destroyed
    // before the commit) or writes the value and emits 'finish' (see index.d.ts), never
    // destroys itself and writes the value too.
    let committing = false
    let destroyAfter = null
    const ws = new (stream().Writable)({
      construct (callback) {
        // Created private, then given the store file's mode (the value is the store's
        // data, and readable by whoever may read the store).
        fsp().open(file, 'wx', 0o600)
          .then((h) => { fh = h; return fsp().stat(real) })
          .then((st) => fh.chmod(st.mode & 0o7777))
          .then(() => callback(), (e) => drop().then(() => callback(errors.fromSystem(e, 'creating the upload file'))))
      },
      write (chunk, encoding, callback) {
        fh.write(chunk).then(() => callback(), (e) => callback(errors.fromSystem(e, 'writing the upload file')))
      },
      final (callback) {
        const h = fh
        fh = null
        h.close()
          .then(() => {
            if (ws.destroyed) throw errors.closed()
            committing = true
            return store._putFile(keyBytes, file)
          })
          .then(() => fsp().unlink(file).catch(() => {}))
          .then(() => callback(), (e) => drop().then(() => callback(e)))
          .finally(() => {
            committing = false
            if (destroyAfter !== null) {
              // The commit has settled, and with it the stream: finished (the value is
              // written; the error given to destroy() no longer applies) or failed.
              const [err] = destroyAfter
              destroyAfter = null
              process.nextTick(() => destroy.call(ws, ws.writableFinished ? undefined : err))
            }
          })
      },
      destroy (err, callback) {
        drop().then(() => callback(err))
      }
    })
    const destroy = ws.destroy
    ws.destroy = function (err) {
      if (committing) {
        if (destroyAfter === null) destroyAfter = [err]
        return this
      }
      return destroy.call(this, err)
    }
    // close() waits for streams that were ended and destroys the others.
    this._streams.add(ws)
    ws.once('close', () => this._streams.delete(ws))
    return ws
  }

  /** Commits a staged file as the value of `key`, in order with the other writes. */
  _putFile (key, file) {
    // Allowed while closing: close() waits for streams that were ended before it.
    if (this._h < 0) return Promise.reject(errors.closed())
    const h = this._h
    if (this._batch !== null) this._flushBatch()
    const ticket = this._ticket++
    this._asyncWrites++
    let p
    try {
      p = native.putFile(h, ticket, key, file, this._sync)
    } catch (e) {
      this._asyncWrites--
      this._ticket--
      return Promise.reject(errors.fromNative(e))
    }
    return this._track(p.finally(() => { this._asyncWrites-- })).catch((e) => { throw errors.fromNative(e) })
  }

  // ----- iteration -----

  keys () { return iterate(this, 0) }

  values () { return iterate(this, 1) }

  entries () { return iterate(this, 2) }

  [Symbol.iterator] () { return iterate(this, 2) }
}

const OPEN = Symbol('open')

function streamChunk (options) {
  if (options === undefined || options === null) return 64 * 1024
  if (typeof options !== 'object') throw errors.invalidArgType('options', 'an object', options)
  const n = options.highWaterMark
  if (n === undefined) return 64 * 1024
  if (!Number.isSafeInteger(n) || n < 1) throw errors.rangeError('ERR_OUT_OF_RANGE', `options.highWaterMark must be a positive integer, got ${n}`)
  return n
}

function describeKey (key) {
  return typeof key === 'string' ? JSON.stringify(key) : `a ${key.byteLength}-byte key`
}

const BATCH = 256

/** Iterates a snapshot of the live entries: keys (0), values (1) or pairs (2). */
function * iterate (store, what) {
  const h = store._open()
  let snap
  try {
    snap = native.snapshot(h)
  } catch (e) {
    throw errors.fromNative(e)
  }
  const copy = copyEverywhere || store._copy
  const batch = Buffer.allocUnsafeSlow(32 * BATCH)
  const f = new Float64Array(batch.buffer, batch.byteOffset, 4 * BATCH)
  const own = Buffer.allocUnsafeSlow(KEY_AT)
  const ownOut = new Float64Array(own.buffer, own.byteOffset, 4)
  const windows = new Windows(snap.mapId)
  const view = (off, len) => {
    try {
      return viewRaw(off, len)
    } catch (e) {
      throw errors.fromNative(e)
    }
  }
  const viewRaw = (off, len) => {
    if (len === 0) return Buffer.alloc(0)
    if (!copy && !copyEverywhere) {
      const cached = windows.hit(off, len)
      if (cached !== undefined) return cached
      const buf = snap.window(own, off, len, STRIDE, OVERLAP)
      const start = ownOut[OUT_AUX]
      if (buf != null) return windows.keep(buf, start, off, len)
      if (start === -2) copyEverywhere = true
    }
    return snap.copy(off, len)
  }
  for (;;) {
    const n = snap.nextBatch(batch)
    if (n === 0) return
    for (let i = 0; i < n; i++) {
      const j = 4 * i
      if (what === 0) yield view(f[j], f[j + 1])
      else if (what === 1) yield view(f[j + 2], f[j + 3])
      else yield [view(f[j], f[j + 1]), view(f[j + 2], f[j + 3])]
    }
  }
}

module.exports = { Store, MAX_KEY_BYTES, MAX_VALUE_BYTES }
