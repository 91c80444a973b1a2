'use strict'
// The change feed and write events of Store (mixed into its prototype by store.js):
// `changes()`, `cursor()`, and the 'change' / 'replaced' events of the EventEmitter that
// Store is. Both read committed batches from the log through a native change feed
// (src/changes.rs) and are woken by the engine after each commit (a threadsafe function:
// commits of any thread sharing the engine, and refreshes of a read-only store that
// follows a writer, see follow.js). With no 'change' listener and no live feed waiting,
// nothing is watched and writes pay nothing.

const { EventEmitter } = require('node:events')
const native = require('./native.js')
const errors = require('./errors.js')
const { viewer } = require('./read.js')
const { decodeValue } = require('./encoding.js')

/** Slots per record of a native read, and the record kinds (src/changes.rs). */
const CHANGE_SLOTS = 5
const PART = 0
const PUT = 1
const CLEAR = 3
const EXPIRE = 5
const EVICT = 4

/** A timer that keeps the event loop alive while a live feed waits (a socket would). */
const KEEP_ALIVE_MS = 2 ** 31 - 1
function noop () {}

/** Reads items of a native change feed into `queue` (one read: up to 1,024 changes). */
class Reader {
  constructor (store, feed) {
    this.store = store
    this.feed = feed
    this.buf = Buffer.allocUnsafeSlow(feed.bufferBytes)
    this.f = new Float64Array(this.buf.buffer, this.buf.byteOffset, this.buf.length / 8)
    this.view = null
    this.mapId = -1
  }

  /** The next items, or an empty array at the present. Throws converted errors. */
  read () {
    let n
    try {
      n = this.feed.read(this.buf)
    } catch (e) {
      throw errors.fromNative(e)
    }
    const items = []
    if (n === 0) return items
    const mapId = this.feed.mapId
    if (mapId !== this.mapId) {
      this.view = viewer(this.feed, this.store)
      this.mapId = mapId
    }
    const f = this.f
    const view = this.view
    let part = 0
    for (let r = 0; r < n;) {
      let j = r * CHANGE_SLOTS
      if (f[j] !== PART) throw errors.coded('ERR_INTERNAL', 'a change feed record out of step')
      const count = f[j + 1]
      const more = f[j + 2] === 1
      const changes = new Array(count)
      for (let i = 0; i < count; i++) {
        j = (r + 1 + i) * CHANGE_SLOTS
        const kind = f[j]
        if (kind === CLEAR) {
          changes[i] = { type: 'clear', key: Buffer.alloc(0), value: undefined }
          continue
        }
        const key = view(f[j + 1], f[j + 2])
        changes[i] = kind === PUT
          ? { type: 'put', key, value: decodeValue(this.store, view(f[j + 3], f[j + 4])) }
          : { type: kind === EXPIRE ? 'expire' : kind === EVICT ? 'evict' : 'delete', key, value: undefined }
      }
      items.push({ cursor: this.feed.cursor(part), more, changes })
      part++
      r += 1 + count
    }
    return items
  }

  release () {
    this.feed.release()
    this.view = null
  }
}

function openReader (store, since) {
  const h = store._open()
  return new Reader(store, errors.native(() => native.changesOpen(h, since)))
}

function checkChangesOptions (options) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object') throw errors.invalidArgType('options', 'an object', options)
  const { since, live } = options
  if (since !== undefined && since !== null && typeof since !== 'string') throw errors.invalidArgType('options.since', 'a cursor string', since)
  if (typeof since === 'string') errors.native(() => native.checkCursor(since))
  if (live !== undefined && typeof live !== 'boolean') throw errors.invalidArgType('options.live', 'a boolean', live)
  return options
}

/** What `store.changes()` returns: an async iterator of committed batches. */
class ChangeIterator {
  constructor (store, options) {
    this._store = store
    this._live = options.live === true
    this._queue = []
    this._done = false
    this._waiting = null
    // A cursor of another store file fails the iterator, at its first next().
    this._error = null
    try {
      this._reader = openReader(store, options.since == null ? null : options.since)
    } catch (e) {
      this._error = e
      this._done = true
      this._reader = null
      return
    }
    if (this._live) store._liveAcquire()
  }

  [Symbol.asyncIterator] () { return this }

  async next () {
    if (this._error !== null) {
      const e = this._error
      this._error = null
      throw e
    }
    for (;;) {
      if (this._done) return { done: true, value: undefined }
      if (this._queue.length > 0) return { done: false, value: this._queue.shift() }
      if (this._store.closed) {
        this._finish()
        if (this._live) return { done: true, value: undefined }
        throw errors.closed()
      }
      let items
      try {
        items = this._reader.read()
      } catch (e) {
        this._finish()
        throw e
      }
      if (items.length > 0) {
        this._queue = items
        continue
      }
      if (!this._live) {
        this._finish()
        return { done: true, value: undefined }
      }
      await this._wait()
    }
  }

  /** Resolves at the next commit (or close) the engine tells of. */
  _wait () {
    return new Promise((resolve) => {
      const keep = setTimeout(noop, KEEP_ALIVE_MS)
      this._waiting = () => {
        clearTimeout(keep)
        this._waiting = null
        resolve()
      }
      this._store._live.waiters.add(this._waiting)
    })
  }

  async return () {
    this._error = null
    this._finish()
    return { done: true, value: undefined }
  }

  _finish () {
    if (this._done) return
    this._done = true
    this._queue = []
    this._reader.release()
    if (this._waiting !== null) {
      this._store._live.waiters.delete(this._waiting)
      this._waiting()
    }
    if (this._live) this._store._liveRelease()
  }
}

/** What one Store knows of the engine's notifications. */
class Live {
  constructor () {
    this.watch = null
    this.feeds = 0
    this.waiters = new Set()
    this.events = null
  }
}

const EMITTER = EventEmitter.prototype

class Changes {
  changes (options) {
    const o = checkChangesOptions(options)
    this._open()
    return new ChangeIterator(this, o)
  }

  cursor () {
    const h = this._open()
    return errors.native(() => native.storeCursor(h))
  }

  on (name, fn) { return this._listeners(EMITTER.on, name, fn) }
  addListener (name, fn) { return this._listeners(EMITTER.addListener, name, fn) }
  once (name, fn) { return this._listeners(EMITTER.once, name, fn) }
  prependListener (name, fn) { return this._listeners(EMITTER.prependListener, name, fn) }
  prependOnceListener (name, fn) { return this._listeners(EMITTER.prependOnceListener, name, fn) }
  off (name, fn) { return this._listeners(EMITTER.off, name, fn) }
  removeListener (name, fn) { return this._listeners(EMITTER.removeListener, name, fn) }
  removeAllListeners (...args) { return this._listeners(EMITTER.removeAllListeners, ...args) }

  /** Runs an EventEmitter method, then watches the engine only while 'change' is listened to. */
  _listeners (method, ...args) {
    const out = method.apply(this, args)
    if (this._h >= 0 && this._closing === null) this._liveUpdate()
    return out
  }

  _liveAcquire () {
    this._live.feeds++
    this._liveUpdate()
  }

  _liveRelease () {
    this._live.feeds--
    if (this._h >= 0 && this._closing === null) this._liveUpdate()
  }

  /** Starts or stops the engine's notifications and the reader of 'change' events. */
  _liveUpdate () {
    const live = this._live
    const listening = this.listenerCount('change') > 0 || this.listenerCount('replaced') > 0
    if (listening && live.events === null) {
      live.events = openReader(this, this.cursor())
    } else if (!listening && live.events !== null) {
      live.events.release()
      live.events = null
    }
    const needed = listening || live.feeds > 0
    if (needed && live.watch === null) {
      const h = this._h
      live.watch = errors.native(() => native.watchChanges(h, () => this._onCommit()))
    } else if (!needed && live.watch !== null) {
      const id = live.watch
      live.watch = null
      try { native.unwatchChanges(this._h, id) } catch {}
    }
  }

  /** Stops everything at close: waiting live feeds end, listeners hear no more. */
  _liveStop () {
    const live = this._live
    if (live.watch !== null) {
      try { native.unwatchChanges(this._h, live.watch) } catch {}
      live.watch = null
    }
    if (live.events !== null) {
      live.events.release()
      live.events = null
    }
    for (const wake of [...live.waiters]) wake()
    live.waiters.clear()
  }

  /** Called by the engine (through a threadsafe function) after commits. */
  _onCommit () {
    const live = this._live
    if (live.waiters.size > 0) {
      const waiters = [...live.waiters]
      live.waiters.clear()
      for (const wake of waiters) wake()
    }
    if (live.events === null || this.closed) return
    let failure = null
    while (live.events !== null) {
      let items
      try {
        items = live.events.read()
      } catch (e) {
        if (e.code !== 'ERR_CURSOR_EXPIRED') {
          if (e.code !== 'ERR_STORE_CLOSED') failure = failure || e
          break
        }
        // The store file was replaced (compaction, or a follower's switch to the
        // writer's compacted file): the events go on from the present of the new file.
        live.events.release()
        live.events = openReader(this, this.cursor())
        failure = this._emitEach('replaced', { cursor: this.cursor() }) || failure
        continue
      }
      if (items.length === 0) break
      for (const item of items) {
        failure = failure || this._emitEach('change', item)
        if (live.events === null) break
      }
    }
    if (failure !== null) process.nextTick(() => { throw failure })
  }

  /**
   * Calls each listener of `name` with `value`, as `emit` does, except that a listener that
   * throws does not keep the later ones from the event (nor the store from its writes):
   * the first error is returned, to surface as an uncaught exception as an emitter's
   * error in an I/O callback does.
   */
  _emitEach (name, value) {
    let failure = null
    for (const fn of this.rawListeners(name)) {
      try {
        fn.call(this, value)
      } catch (err) {
        failure = failure || err
      }
    }
    return failure
  }
}

module.exports = { Changes, Live }
