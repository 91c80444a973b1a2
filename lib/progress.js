'use strict'

// Progress reports and cancellation of the long operations (`compact`, `verify`, `backup`,
// `Store.repair`): `{ onProgress, signal }`, checked here, and the native `Work` of one
// call (src/progress.rs), which carries the throttled reports from the threadpool and the
// cancel flag that the signal's 'abort' event sets.

const native = require('./native.js')
const errors = require('./errors.js')

function isAbortSignal (v) {
  return v !== null && typeof v === 'object' && typeof v.aborted === 'boolean' && typeof v.addEventListener === 'function' && typeof v.removeEventListener === 'function'
}

/** `options` of a long operation checked: `{ onProgress, signal }` (each may be undefined). */
function checkLongOptions (options) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object') throw errors.invalidArgType('options', 'an object', options)
  const { onProgress, signal } = options
  if (onProgress !== undefined && typeof onProgress !== 'function') throw errors.invalidArgType('options.onProgress', 'a function', onProgress)
  if (signal !== undefined && !isAbortSignal(signal)) throw errors.invalidArgType('options.signal', 'an AbortSignal', signal)
  return { onProgress, signal }
}

/**
 * Runs a long operation: `start(work)` returns the native promise. `onProgress` is called
 * with `{ bytesDone, bytesTotal }` (at most five times a second, and once at the end of a
 * success); `signal` aborting sets the cancel flag, and the promise then rejects with an
 * `AbortError` (`ABORT_ERR`, `cause` the signal's reason) if the operation stopped. An
 * `onProgress` that throws stops the operation the same way, and the promise rejects with
 * what it threw.
 */
function runLong ({ onProgress, signal }, start) {
  if (signal !== undefined && signal.aborted) return Promise.reject(errors.abortError(undefined, signal.reason))
  let settled = false
  let thrown = null
  let sawEnd = false
  let work = null
  const call = (bytesDone, bytesTotal) => {
    if (settled || thrown !== null) return
    sawEnd = bytesDone === bytesTotal
    try {
      onProgress({ bytesDone, bytesTotal })
    } catch (e) {
      thrown = { e }
      native.cancelWork(work)
    }
  }
  work = native.newWork(onProgress === undefined ? undefined : call)
  const onAbort = () => native.cancelWork(work)
  if (signal !== undefined) signal.addEventListener('abort', onAbort, { once: true })
  const done = () => {
    settled = true
    if (signal !== undefined) signal.removeEventListener('abort', onAbort)
  }
  let p
  try {
    p = start(work)
  } catch (e) {
    done()
    return Promise.reject(errors.fromNative(e))
  }
  return p.then((result) => {
    done()
    if (thrown !== null) throw thrown.e
    if (onProgress !== undefined && !sawEnd) {
      const total = native.workTotal(work)
      onProgress({ bytesDone: total, bytesTotal: total })
    }
    return result
  }, (e) => {
    done()
    if (thrown !== null) throw thrown.e
    const err = errors.fromNative(e)
    if (err.code === 'ABORT_ERR' && signal !== undefined && signal.reason !== undefined && err.cause === undefined) {
      Object.defineProperty(err, 'cause', { value: signal.reason, enumerable: false, writable: true, configurable: true })
    }
    throw err
  })
}

module.exports = { checkLongOptions, runLong }
