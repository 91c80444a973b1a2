'use strict'

const native = require('./native.js')
const errors = require('./errors.js')
const { MAX_KEY_BYTES, MAX_VALUE_BYTES } = require('./keys.js')
const { FIRST_COPIES, Reads, Windows } = require('./read.js')
const { Writes } = require('./write.js')
const { Streams } = require('./streams.js')
const { Conditional } = require('./conditional.js')
const { Expiries } = require('./expiry.js')
const { Transactions } = require('./transaction.js')
const { Backups } = require('./backup.js')
const { Encodings, resolveEncoding, applyEncoding } = require('./encoding.js')
const { temp } = require('./temp.js')
const { Subs } = require('./sub.js')
const { checkLongOptions, runLong } = require('./progress.js')
const { EventEmitter } = require('node:events')
const { Changes, Live } = require('./changes.js')
const { checkFollow, follow } = require('./follow.js')

const registry = new FinalizationRegistry((h) => {
  native.releaseStore(h)
})

/** The values of `StoreOptions.verify`. */
const VERIFY_MODES = ['full', 'onRead', 'background']
/** How often a writable store steps its expiry sweep (see `_startSweeper`). */
const SWEEP_EVERY_MS = 1000

function checkOptions (options) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object') throw errors.invalidArgType('options', 'an object', options)
  for (const name of ['readOnly', 'sync', 'create', 'copyValues', 'expirySweep']) {
    const v = options[name]
    if (v !== undefined && typeof v !== 'boolean') throw errors.invalidArgType(`options.${name}`, 'a boolean', v)
  }
  const mode = options.mode
  if (mode !== undefined) {
    if (typeof mode !== 'number') throw errors.invalidArgType('options.mode', 'a number', mode)
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw errors.rangeError('ERR_OUT_OF_RANGE', `options.mode must be an integer from 0 to 0o7777, got ${mode}`)
  }
  const verify = options.verify
  if (verify !== undefined && !VERIFY_MODES.includes(verify)) {
    if (typeof verify !== 'string') throw errors.invalidArgType('options.verify', 'a string', verify)
    throw errors.coded('ERR_INVALID_ARG_VALUE', `options.verify must be 'full', 'onRead' or 'background', got ${JSON.stringify(verify)}`)
  }
  checkFollow(options.follow)
  const lockTimeout = options.lockTimeout
  if (lockTimeout !== undefined) {
    if (typeof lockTimeout !== 'number') throw errors.invalidArgType('options.lockTimeout', 'a number', lockTimeout)
    if (!Number.isInteger(lockTimeout) || lockTimeout < 0 || lockTimeout > 2 ** 32 - 1) throw errors.rangeError('ERR_OUT_OF_RANGE', `options.lockTimeout must be an integer number of milliseconds from 0 to 2 ** 32 - 1, got ${lockTimeout}`)
  }
  checkAutoCompact(options.autoCompact)
  const maxBytes = options.maxBytes
  if (maxBytes !== undefined) {
    if (typeof maxBytes !== 'number') throw errors.invalidArgType('options.maxBytes', 'a number', maxBytes)
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw errors.rangeError('ERR_OUT_OF_RANGE', `options.maxBytes must be a positive safe integer (bytes), got ${maxBytes}`)
  }
  const onAuto = options.onAutoCompact
  if (onAuto !== undefined && typeof onAuto !== 'function') throw errors.invalidArgType('options.onAutoCompact', 'a function', onAuto)
  return options
}

/** Checks `options.autoCompact`: `undefined`, `false`, `true` or `{ minReclaimableBytes, minRatio }`. */
function checkAutoCompact (a) {
  if (a === undefined || typeof a === 'boolean') return
  if (a === null || typeof a !== 'object') throw errors.invalidArgType('options.autoCompact', 'false or an object', a)
  const { minReclaimableBytes: bytes, minRatio: ratio } = a
  if (bytes !== undefined) {
    if (typeof bytes !== 'number') throw errors.invalidArgType('options.autoCompact.minReclaimableBytes', 'a number', bytes)
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw errors.rangeError('ERR_OUT_OF_RANGE', `options.autoCompact.minReclaimableBytes must be a non-negative integer, got ${bytes}`)
  }
  if (ratio !== undefined) {
    if (typeof ratio !== 'number') throw errors.invalidArgType('options.autoCompact.minRatio', 'a number', ratio)
    if (!(ratio >= 0 && ratio <= 1)) throw errors.rangeError('ERR_OUT_OF_RANGE', `options.autoCompact.minRatio must be a number from 0 to 1, got ${ratio}`)
  }
}

/** Applies `options.autoCompact` (when given) to the engine of the writable handle `h`. */
function applyAutoCompact (h, options) {
  const a = options.autoCompact
  if (a === undefined || options.readOnly === true) return
  if (a === false || a === true) native.setAutoCompact(h, a)
  else native.setAutoCompact(h, true, a.minReclaimableBytes, a.minRatio)
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
class Store extends EventEmitter {
  /** @private Use `Store.open` or `Store.openSync`. */
  constructor (token, h, path, options, encoding) {
    if (token !== OPEN) throw new TypeError('Use Store.open() or Store.openSync() to open a store.')
    super()
    this._h = h
    this._path = path
    this._readOnly = options.readOnly === true
    this._sync = options.sync === true
    this._copy = options.copyValues === true
    this._windows = new Windows(-1)
    this._firstCopies = FIRST_COPIES
    this._batch = null
    this._spare = Buffer.allocUnsafeSlow(4096)
    this._ticket = 0
    this._inflight = new Set()
    this._streams = new Set()
    this._asyncWrites = 0
    this._compacting = 0
    this._readingEntries = false
    this._inTransaction = false
    this._closing = null
    this._flushBound = () => this._flushBatch()
    this._live = new Live()
    this._follower = follow(this, options, h)
    applyAutoCompact(h, options)
    if (options.maxBytes !== undefined && !this._readOnly) native.setMaxBytes(h, options.maxBytes)
    this._autoWatch = null
    this._sweeper = null
    if (!this._readOnly && options.expirySweep !== false) this._startSweeper()
    if (typeof options.onAutoCompact === 'function' && !this._readOnly) this._watchAutoCompact(options.onAutoCompact)
    registry.register(this, h, this)
    applyEncoding(this, encoding)
  }

  static async open (path, options) {
    checkPath(path)
    const o = checkOptions(options)
    const enc = resolveEncoding(o.valueEncoding)
    const h = await errors.nativeAsync(() => native.openStoreAsync(path, o.readOnly === true, o.create !== false, testFault(), o.mode, o.verify, o.lockTimeout))
    return new Store(OPEN, h, path, o, enc)
  }

  static openSync (path, options) {
    checkPath(path)
    const o = checkOptions(options)
    const enc = resolveEncoding(o.valueEncoding)
    const h = errors.native(() => native.openStore(path, o.readOnly === true, o.create !== false, testFault(), o.mode, o.verify, o.lockTimeout))
    return new Store(OPEN, h, path, o, enc)
  }

  static temp (options) {
    return temp((p, o) => Store.open(p, o), options)
  }

  static async repair (path, options) {
    checkPath(path)
    const o = checkLongOptions(options)
    return runLong(o, (work) => native.repair(path, work))
  }

  get path () { return this._path }

  get readOnly () { return this._readOnly }

  get closed () { return this._h < 0 || this._closing !== null }

  _open () {
    if (this._closing !== null || this._h < 0) throw errors.closed()
    return this._h
  }

  _writable () {
    const h = this._open()
    if (this._readOnly) throw errors.readOnly()
    if (this._inTransaction) {
      throw errors.coded('ERR_INVALID_STATE', 'A write to the store from inside its transaction callback (or a nested transaction) cannot be part of that transaction, and the store\'s writer waits for it: write through the callback\'s tx, or after it returns.')
    }
    if (this._readingEntries) {
      throw errors.coded('ERR_INVALID_STATE', 'putMany or putManySync is still reading its entries, and a write made from inside that read (by an accessor, Proxy or iterator of the entries) cannot be ordered before or after that batch; write once the call has returned.')
    }
    return h
  }

  _track (p) {
    this._inflight.add(p)
    p.finally(() => this._inflight.delete(p)).catch(() => {})
    return p
  }

  /**
   * Steps the expiry sweep once a second on the threadpool while it has work to look for
   * (the engine's `expiry_sweep_due`: from the open until a pass meets no entry with an expiry). The
   * timer keeps no process alive; close() stops it and waits for a step in flight.
   */
  _startSweeper () {
    // Through a WeakRef: a timer is a root, and a Store dropped without close() must still
    // be collected (its finalizer releases the handle).
    const ref = new WeakRef(this)
    let running = false
    const timer = setInterval(() => {
      const self = ref.deref()
      if (self === undefined || self._h < 0 || self._closing !== null) {
        clearInterval(timer)
        return
      }
      if (running) return
      const h = self._h
      let due
      try { due = native.expirySweepDue(h) } catch { return }
      if (!due) return
      let p
      try { p = native.expirySweepStep(h) } catch { return }
      running = true
      // A failed step (a full disk, a poisoned store) shows in the writes that come next;
      // the sweep tries again at a later tick.
      self._track(p.then(() => {}, () => {}).finally(() => { running = false }))
    }, SWEEP_EVERY_MS)
    timer.unref()
    this._sweeper = timer
  }

  clearExpired () {
    try {
      const h = this._writable()
      return this._track(errors.nativeAsync(() => native.clearExpired(h)))
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /** Calls `fn` with what automatic compaction did, each time its counters moved. */
  _watchAutoCompact (fn) {
    const h = this._h
    let seen = native.stats(h)
    this._autoWatch = errors.native(() => native.watchChanges(h, () => {
      if (this._autoWatch === null) return
      const now = native.stats(h)
      if (now.autoCompactions === seen.autoCompactions) return
      const report = {
        compactions: now.autoCompactions - seen.autoCompactions,
        reclaimedBytes: now.autoReclaimedBytes - seen.autoReclaimedBytes,
        fileBytes: now.fileBytes
      }
      seen = now
      fn(report)
    }))
  }

  close () {
    if (this._closing !== null) return this._closing
    if (this._h < 0) return Promise.resolve()
    if (this._batch !== null) this._flushBatch()
    if (this._follower !== null) this._follower.stop()
    this._liveStop()
    if (this._sweeper !== null) {
      clearInterval(this._sweeper)
      this._sweeper = null
    }
    // An automatic compaction in flight is abandoned, not waited for (a manual compact()
    // is waited for below): the old file stays the store, its temporary file is removed.
    if (!this._readOnly) native.cancelAutoCompaction(this._h)
    if (this._autoWatch !== null) {
      const id = this._autoWatch
      this._autoWatch = null
      try { native.unwatchChanges(this._h, id) } catch {}
    }
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
      // (A temporary store's files are about to be removed: nothing to make durable.)
      if (!this._readOnly && this._temporary !== true) {
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
}

// The members of read.js, write.js, streams.js, changes.js, conditional.js, transaction.js,
// backup.js, encoding.js, sub.js and expiry.js, defined on Store's prototype as its own are:
// not enumerable.
for (const part of [Reads, Writes, Streams, Changes, Conditional, Transactions, Backups, Encodings, Subs, Expiries]) {
  for (const name of Reflect.ownKeys(part.prototype)) {
    if (name !== 'constructor') Object.defineProperty(Store.prototype, name, Object.getOwnPropertyDescriptor(part.prototype, name))
  }
}

const OPEN = Symbol('open')

module.exports = { Store, MAX_KEY_BYTES, MAX_VALUE_BYTES }
