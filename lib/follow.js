'use strict'
// Read-only stores that follow their writer by themselves (StoreOptions.follow): a
// file-system watch on the store's directory (inotify on Linux, FSEvents on macOS,
// ReadDirectoryChangesW on Windows) with a slow timer behind it, or a timer alone. Each
// wake-up runs `refresh()`, whose engine call tells the store's watchers, so 'change'
// events, 'replaced' events and live feeds follow the writer too. Nothing here keeps the
// process alive, and close() stops it.

const fs = require('node:fs')
const pathModule = require('node:path')
const native = require('./native.js')
const errors = require('./errors.js')

/** The values of `StoreOptions.follow`. */
const FOLLOW_MODES = ['watch', 'poll', false]

/** How often 'poll' looks, and how often 'watch' looks anyway (missed notifications). */
const POLL_MS = 100
const WATCH_BACKSTOP_MS = 1000

function checkFollow (follow) {
  if (follow === undefined || FOLLOW_MODES.includes(follow)) return
  if (typeof follow !== 'string' && typeof follow !== 'boolean') throw errors.invalidArgType('options.follow', "'watch', 'poll' or false", follow)
  throw errors.coded('ERR_INVALID_ARG_VALUE', `options.follow must be 'watch', 'poll' or false, got ${JSON.stringify(follow)}`)
}

/** Follows the writer of the read-only `store` in `mode` ('watch' or 'poll'). */
class Follower {
  constructor (store, mode, enginePath) {
    // Weakly: a Store dropped without close() must still be collected (its handle is
    // then released by store.js's FinalizationRegistry); the follower stops when it is.
    this.store = new WeakRef(store)
    this.watcher = null
    this.timer = null
    this.scheduled = false
    // What the refreshes found, for a test that waits on the follower to say why it waited
    // in vain (the keys are refresh()'s results, and what failed).
    this.counts = { unchanged: 0, appended: 0, replaced: 0, failed: 0, closed: 0 }
    this.lastError = null
    this.run = () => this.refresh()
    if (mode === 'watch') {
      const dir = pathModule.dirname(enginePath)
      const name = pathModule.basename(enginePath)
      try {
        // The directory, not the file: compaction renames a new file over the path.
        this.watcher = fs.watch(dir, { persistent: false }, (event, file) => {
          if (file === null || file === name || String(file) === name) this.schedule()
        })
        this.watcher.on('error', () => this.fallBack())
      } catch {
        this.watcher = null
      }
    }
    this.startTimer(this.watcher === null ? POLL_MS : WATCH_BACKSTOP_MS)
  }

  startTimer (ms) {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = setInterval(() => this.schedule(), ms)
    this.timer.unref()
  }

  /** The watch failed (the directory went away, too many watches): poll instead. */
  fallBack () {
    if (this.watcher !== null) {
      try { this.watcher.close() } catch {}
      this.watcher = null
    }
    if (this.timer !== null) this.startTimer(POLL_MS)
  }

  /** One refresh per burst of notifications. */
  schedule () {
    if (this.scheduled) return
    this.scheduled = true
    // Not unref'd: an unref'd immediate does not wake a loop waiting in poll, and would run
    // only at the next timer. It runs once, at once; the process can exit after it.
    setImmediate(this.run)
  }

  refresh () {
    this.scheduled = false
    const store = this.store.deref()
    if (store === undefined) {
      this.stop()
      return
    }
    if (store.closed) {
      this.counts.closed++
      return
    }
    try {
      this.counts[native.refresh(store._h)]++
    } catch (e) {
      this.counts.failed++
      // The file went away or is being replaced: try again at the next wake-up. Listeners
      // of 'error' hear of it; without one, it is not an uncaught error.
      const err = errors.fromNative(e)
      this.lastError = `${err.code}: ${err.message}`
      if (err.code !== 'ERR_STORE_CLOSED' && store.listenerCount('error') > 0) store.emit('error', err)
    }
  }

  stop () {
    if (this.watcher !== null) {
      try { this.watcher.close() } catch {}
      this.watcher = null
    }
    if (this.timer !== null) {
      clearInterval(this.timer)
      this.timer = null
    }
  }
}

/** Starts following for a read-only store opened with `options`, or returns null. */
function follow (store, options, h) {
  if (options.readOnly !== true || options.follow === false) return null
  return new Follower(store, options.follow === 'poll' ? 'poll' : 'watch', native.storePath(h))
}

module.exports = { checkFollow, follow, POLL_MS }
