'use strict'
// The read members of Store (mixed into its prototype by store.js): zero-copy windows,
// copies, lookups, reports and iteration.

const { constants: bufferConstants } = require('node:buffer')
const native = require('./native.js')
const errors = require('./errors.js')
const { checkLongOptions, runLong } = require('./progress.js')
const {
  OUT_MAP_ID, OUT_OFFSET, OUT_LEN, OUT_AUX, OUT_SLOTS, KEY_AT, SLOT_BYTES,
  LOCATE_ABSENT, LOCATE_IN_PLACE, LOCATE_COPY, WINDOW_NOT_ALLOWED,
  FOUND_STATE, FOUND_MAP_ID, FOUND_OFFSET, FOUND_LEN, FOUND_SLOTS,
  ENTRY_KEY_OFFSET, ENTRY_KEY_LEN, ENTRY_VALUE_OFFSET, ENTRY_VALUE_LEN, ENTRY_SLOTS,
  OP_DELETE
} = require('./scratch.js')
const { scratch, out, keyToScratch, checkKey } = require('./keys.js')
const { Batch, EMPTY } = require('./write.js')

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

/**
 * A store's first reads of values up to FIRST_COPY_MAX bytes are copies, until
 * FIRST_COPIES of them have been made or a larger value needed a window: its first window,
 * an external Buffer as long as the file (up to a stride), makes V8 collect for that much
 * external memory at once, 0.5-4 ms on the read that makes it (bench/first-window.js), which
 * a process that reads a few values (a CLI, an app's start) never earns back. A copy of a
 * small value costs about what a view does. `SIMD_R_DRIVE_FIRST_COPIES=0` makes windows
 * from the first read.
 */
const FIRST_COPIES = countFromEnv('SIMD_R_DRIVE_FIRST_COPIES', 1024)
const FIRST_COPY_MAX = 16 * 1024

function countFromEnv (name, fallback) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = /^[0-9]+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n)) throw errors.rangeError('ERR_INVALID_ENV', `${name} must be a whole number, got ${JSON.stringify(raw)}`)
  return n
}

/** Where external Buffers are not allowed (Electron), every value is copied. */
let copyEverywhere = /^(1|true|yes)$/i.test(process.env.SIMD_R_DRIVE_COPY_VALUES || '')

/**
 * The cached windows of one mapping, by stride index: for each stride, the window made from
 * its start (as far as the file's stable end reached then) and the tails made after it as
 * the file grew, in file order, each from where the ones before it stopped (or from the
 * value it was made for) to the stable end of its time. V8 counts each new external Buffer's
 * whole length as memory to collect for, and a full collection follows each 64 MiB of it:
 * remaking the stride's window whenever a read passed its end counted the whole file again
 * at nearly every such read. A tail counts only what it adds. A new tail takes over the
 * newest ones unless they are more than twice its size, so that sizes fall geometrically
 * toward the newest (a few dozen tails at most) and each byte is counted a logarithmic
 * number of times. A window made for one value alone (it did not fit in its stride's
 * window) is not kept.
 */
class Windows {
  constructor (mapId) {
    this.mapId = mapId
    this.byStride = []
  }

  /** `[off, off + len)` from a cached window, or undefined. */
  hit (off, len) {
    const w = this.byStride[Math.floor(off / STRIDE)]
    if (w === undefined) return undefined
    if (off + len <= w.end) return w.buf.subarray(off - w.start, off - w.start + len)
    const tails = w.tails
    for (let i = tails.length - 1; i >= 0; i--) {
      const t = tails[i]
      if (t.start <= off) return off + len <= t.end ? t.buf.subarray(off - t.start, off - t.start + len) : undefined
    }
    return undefined
  }

  /**
   * Where the window to make for `[off, off + len)` should start, when it is not cached:
   * undefined when its stride has no window yet (the window then starts at the stride),
   * else the start of a tail (see the class comment).
   */
  tailFrom (off, len) {
    const w = this.byStride[Math.floor(off / STRIDE)]
    if (w === undefined) return undefined
    const tails = w.tails
    let from = Math.min(off, tails.length > 0 ? tails[tails.length - 1].end : w.end)
    for (let i = tails.length - 1; i >= 0; i--) {
      const t = tails[i]
      if (t.start >= from) continue
      if (t.end - t.start > 2 * (off + len - from)) break
      from = t.start
    }
    return from
  }

  /** Keeps a new window that starts at `start`, and returns `[off, off + len)` from it. */
  keep (buf, start, off, len) {
    if (buf.length !== len || start !== off) {
      const i = Math.floor(start / STRIDE)
      const w = { start, end: start + buf.length, buf, tails: [] }
      const main = this.byStride[i]
      if (main === undefined || start <= main.start) {
        this.byStride[i] = w
      } else {
        // A tail reaches the stable end: it covers every tail that starts where it does or later.
        const tails = main.tails.filter((t) => t.start < start)
        tails.push(w)
        main.tails = tails
      }
    }
    return buf.subarray(off - start, off - start + len)
  }
}

/** From this many keys on, getMany looks them up in one native call. */
const GET_MANY_BATCHED = 8

function copyOrUndefined (v) {
  return v === null ? undefined : v
}

class Reads {
  get size () {
    return native.size(this._open())
  }

  get (key) {
    const h = this._open()
    const n = keyToScratch(key)
    try {
      if (copyEverywhere || this._copy) return copyOrUndefined(native.getCopy(h, scratch, n))
      const found = native.locate(h, scratch, n)
      if (found === LOCATE_ABSENT) return undefined
      if (found === LOCATE_COPY) return copyOrUndefined(native.getCopy(h, scratch, n))
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
      if (this._firstCopies > 0 && len <= FIRST_COPY_MAX) {
        this._firstCopies--
        return copyOrUndefined(native.getCopy(h, scratch, n))
      }
      const from = mapId === this._windows.mapId ? this._windows.tailFrom(off, len) : undefined
      const buf = native.window(h, scratch, STRIDE, OVERLAP, from)
      const start = out[OUT_AUX]
      if (buf != null) {
        this._firstCopies = 0
        if (mapId !== this._windows.mapId) this._windows = new Windows(mapId)
        return this._windows.keep(buf, start, off, len)
      }
      if (start === WINDOW_NOT_ALLOWED) {
        copyEverywhere = true
        return copyOrUndefined(native.getCopy(h, scratch, n))
      }
      // The store moved to a new mapping meanwhile: look again.
      const found = native.locate(h, scratch, n)
      if (found === LOCATE_ABSENT) return undefined
      if (found === LOCATE_COPY) return copyOrUndefined(native.getCopy(h, scratch, n))
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
      for (let i = 0; i < n; i++) result[i] = this.getRaw(keys[i])
      return result
    }
    const h = this._open()
    // A batch that would use up the first copies makes its window now: copying its first
    // keys as well would only add their cost to the window's.
    if (n >= this._firstCopies) this._firstCopies = 0
    // Keys are staged as deletes: the staging format carries keys, and nothing is written.
    const b = new Batch(EMPTY)
    for (let i = 0; i < n; i++) b.add(OP_DELETE, checkKey(keys[i]), null)
    const found = new Float64Array(FOUND_SLOTS * n)
    try {
      native.locateMany(h, b.buf.subarray(0, b.len), n, Buffer.from(found.buffer))
    } catch (e) {
      throw errors.fromNative(e)
    }
    for (let i = 0; i < n; i++) {
      const at = FOUND_SLOTS * i
      const state = found[at + FOUND_STATE]
      if (state === LOCATE_ABSENT) {
        // Set, not skipped: `new Array(n)` has holes, which map() and forEach() skip.
        result[i] = undefined
        continue
      }
      // (A fallback below may have replaced the windows: read them each time.)
      const windows = this._windows
      let v
      if (state === LOCATE_IN_PLACE && found[at + FOUND_MAP_ID] === windows.mapId) v = windows.hit(found[at + FOUND_OFFSET], found[at + FOUND_LEN])
      if (v === undefined && state === LOCATE_IN_PLACE && this._firstCopies > 0 && found[at + FOUND_LEN] <= FIRST_COPY_MAX) {
        // One of the first copies, made at once (not through get, which would look it up again).
        this._firstCopies--
        const kn = keyToScratch(keys[i])
        try {
          result[i] = copyOrUndefined(native.getCopy(h, scratch, kn))
        } catch (e) {
          throw errors.fromNative(e)
        }
        continue
      }
      // Not in a cached window, in the last page of the file, or in a file that compaction
      // has replaced since: the single-key path handles every case.
      result[i] = v === undefined ? this.getRaw(keys[i]) : v
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
    return errors.native(() => native.stats(this._open()))
  }

  recovery () {
    return errors.native(() => native.recovery(this._open()))
  }

  verify (options) {
    return errors.nativeAsync(() => {
      const o = checkLongOptions(options)
      const h = this._open()
      return this._track(runLong(o, (work) => native.verify(h, work)))
    })
  }

  refresh () {
    return errors.native(() => native.refresh(this._open()))
  }

  keys () { return iterate(this, KEYS) }

  values () { return iterate(this, VALUES) }

  entries () { return iterate(this, ENTRIES) }

  [Symbol.iterator] () { return iterate(this, ENTRIES) }
}

const BATCH = 256

/** What `iterate` yields: keys, values, or `[key, value]` pairs. */
const KEYS = 'keys'
const VALUES = 'values'
const ENTRIES = 'entries'

/**
 * A function `(offset, length) => Buffer` over the mapping of `source` (a native snapshot
 * or change feed, with `window` and `copy`): zero-copy windows as `get` makes them, or
 * copies where `store` copies values.
 */
function viewer (source, store) {
  const copy = copyEverywhere || store._copy
  const own = Buffer.allocUnsafeSlow(KEY_AT)
  const ownOut = new Float64Array(own.buffer, own.byteOffset, OUT_SLOTS)
  const windows = new Windows(source.mapId)
  const viewRaw = (off, len) => {
    if (len === 0) return Buffer.alloc(0)
    if (!copy && !copyEverywhere) {
      const cached = windows.hit(off, len)
      if (cached !== undefined) return cached
      const buf = source.window(own, off, len, STRIDE, OVERLAP, windows.tailFrom(off, len))
      const start = ownOut[OUT_AUX]
      if (buf != null) return windows.keep(buf, start, off, len)
      if (start === WINDOW_NOT_ALLOWED) copyEverywhere = true
    }
    return source.copy(off, len)
  }
  return (off, len) => {
    try {
      return viewRaw(off, len)
    } catch (e) {
      throw errors.fromNative(e)
    }
  }
}

/** Iterates a snapshot of the live entries: its KEYS, VALUES or ENTRIES. */
function * iterate (store, what) {
  const h = store._open()
  let snap
  try {
    snap = native.snapshot(h)
  } catch (e) {
    throw errors.fromNative(e)
  }
  const batch = Buffer.allocUnsafeSlow(ENTRY_SLOTS * SLOT_BYTES * BATCH)
  const f = new Float64Array(batch.buffer, batch.byteOffset, ENTRY_SLOTS * BATCH)
  const view = viewer(snap, store)
  for (;;) {
    const n = snap.nextBatch(batch)
    if (n === 0) return
    for (let i = 0; i < n; i++) {
      const j = ENTRY_SLOTS * i
      if (what === KEYS) yield view(f[j + ENTRY_KEY_OFFSET], f[j + ENTRY_KEY_LEN])
      else if (what === VALUES) yield view(f[j + ENTRY_VALUE_OFFSET], f[j + ENTRY_VALUE_LEN])
      else yield [view(f[j + ENTRY_KEY_OFFSET], f[j + ENTRY_KEY_LEN]), view(f[j + ENTRY_VALUE_OFFSET], f[j + ENTRY_VALUE_LEN])]
    }
  }
}

module.exports = { FIRST_COPIES, Reads, Windows, viewer, STRIDE, OVERLAP }
