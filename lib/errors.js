'use strict'

/**
 * Errors of simd-r-drive. Every error it throws or rejects with is an `Error` (or a
 * `TypeError`/`RangeError` for bad arguments, like Node's own) with a stable `code`.
 * The native layer reports engine errors as `[CODE] message`; they are turned into
 * proper errors here, in one place.
 */

const CODE = /^\[([A-Z0-9_]+)(?:\|(\{[^\]]*\}))?\] ([\s\S]*)$/

let util
function systemErrorName (errno) {
  util = util || require('node:util')
  try {
    return util.getSystemErrorName(errno)
  } catch {
    return undefined
  }
}

/**
 * Gives `err` what the operating system said about a failed I/O call, as Node's own
 * `SystemError`s have it: `errno` (negative, as in Node: -13 for EACCES), `syscall`,
 * `path`, and `systemCode`, the POSIX name (`'EACCES'`). `code` stays the store's.
 */
function withSystem (err, errno, syscall, path) {
  const props = { errno: -Math.abs(errno), syscall, path, systemCode: systemErrorName(-Math.abs(errno)) }
  for (const [k, v] of Object.entries(props)) {
    if (v !== undefined) Object.defineProperty(err, k, { value: v, enumerable: true, writable: true, configurable: true })
  }
  return err
}

/**
 * A store error for a failed file-system call made by this JavaScript layer (`e` is the
 * `SystemError` Node gave): `ERR_STORE_DISK_FULL` for ENOSPC/EDQUOT, else `ERR_STORE_IO`, with
 * `errno`, `syscall`, `path` and `systemCode` as for the engine's I/O errors and `cause` `e`.
 */
function fromSystem (e, what) {
  if (!e || typeof e.errno !== 'number') return e
  const name = typeof e.code === 'string' ? e.code : systemErrorName(e.errno)
  const code = name === 'ENOSPC' || name === 'EDQUOT' ? 'ERR_STORE_DISK_FULL' : 'ERR_STORE_IO'
  const err = coded(code, `${what} failed on ${e.path}: ${e.message}`)
  Object.defineProperty(err, 'cause', { value: e, enumerable: false, writable: true, configurable: true })
  return withSystem(err, e.errno, e.syscall, e.path)
}

function withCode (err, code) {
  Object.defineProperty(err, 'code', { value: code, enumerable: true, writable: true, configurable: true })
  return err
}

/** A `TypeError` with code `ERR_INVALID_ARG_TYPE`. */
function invalidArgType (name, expected, actual) {
  let got
  if (actual === null) got = 'null'
  else if (typeof actual === 'object') got = `an instance of ${actual.constructor ? actual.constructor.name : 'Object'}`
  else got = `type ${typeof actual}`
  return withCode(new TypeError(`The "${name}" argument must be ${expected}. Received ${got}`), 'ERR_INVALID_ARG_TYPE')
}

/** A `RangeError` with the given code. */
function rangeError (code, message) {
  return withCode(new RangeError(message), code)
}

/**
 * An aborted operation's error, as Node's own are: an `Error` named `'AbortError'` with the
 * code `ABORT_ERR` (and the signal's `reason` as `cause`, when there is one).
 */
function abortError (message = 'The operation was aborted', cause) {
  const err = withCode(new Error(message, cause === undefined ? undefined : { cause }), 'ABORT_ERR')
  Object.defineProperty(err, 'name', { value: 'AbortError', enumerable: false, writable: true, configurable: true })
  return err
}

/** An `Error` with the given code. */
function coded (code, message) {
  return withCode(new Error(message), code)
}

/**
 * Converts an error thrown by the native layer (napi-rs gives them the code
 * `GenericFailure` and a message starting `[ERR_...]`); leaves other errors, such as one an
 * accessor of the caller's threw through a native call, as they are.
 */
function fromNative (err) {
  if (err && typeof err.message === 'string' && err.code === 'GenericFailure') {
    const m = CODE.exec(err.message)
    if (m) {
      // A malformed cursor is a bad argument, as Node's own are; so is a write too large for the size limit.
      const e = m[1] === 'ERR_INVALID_CURSOR' || m[1] === 'ERR_VALUE_TOO_LARGE' ? rangeError(m[1], m[3]) : m[1] === 'ABORT_ERR' ? abortError(m[3]) : coded(m[1], m[3])
      if (err.stack) e.stack = `Error [${m[1]}]: ${m[3]}\n` + err.stack.split('\n').slice(1).join('\n')
      if (m[2] !== undefined) {
        let d
        try { d = JSON.parse(m[2]) } catch {}
        if (d && typeof d.errno === 'number') withSystem(e, d.errno, d.syscall, d.path)
      }
      return e
    }
  }
  return err
}

/**
 * Runs `f` (a native call, off the hot path) and converts what it throws with `fromNative`.
 * The hot read path keeps its own try/catch.
 */
function native (f) {
  try {
    return f()
  } catch (e) {
    throw fromNative(e)
  }
}

/**
 * Runs `f`, which returns a promise of a native task, and converts its rejection (and
 * anything `f` throws: it rejects then) with `fromNative`.
 */
function nativeAsync (f) {
  try {
    return f().catch((e) => { throw fromNative(e) })
  } catch (e) {
    return Promise.reject(fromNative(e))
  }
}

function closed () {
  return coded('ERR_STORE_CLOSED', 'The store is closed. Open it again to use it.')
}

function readOnly () {
  return coded('ERR_STORE_READ_ONLY', 'The store was opened read-only; open it without readOnly to write.')
}

/** Every `code` an error of simd-r-drive can have (`StoreErrorCode` in index.d.ts). */
const CODES = new Set([
  'ERR_NOT_A_STORE', 'ERR_STORE_VERSION', 'ERR_STORE_CORRUPT', 'ERR_STORE_LOCKED',
  'ERR_STORE_READ_ONLY', 'ERR_STORE_CLOSED', 'ERR_STORE_POISONED', 'ERR_STORE_IO',
  'ERR_STORE_DISK_FULL', 'ERR_STORE_MOVED', 'ERR_EXISTS', 'ERR_INVALID_STATE', 'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_KEY', 'ERR_VALUE_TOO_LARGE', 'ERR_KEY_NOT_FOUND', 'ERR_OUT_OF_RANGE',
  'ERR_INVALID_ENV', 'ERR_INVALID_ARG_VALUE', 'ERR_NATIVE_BINDING_MISSING', 'ERR_INTERNAL',
  'ERR_CURSOR_EXPIRED', 'ERR_INVALID_CURSOR', 'ABORT_ERR'
])

/** Whether `err` is an error of simd-r-drive: an `Error` with one of its codes. */
function isStoreError (err) {
  return err instanceof Error && typeof err.code === 'string' && CODES.has(err.code)
}

module.exports = { invalidArgType, rangeError, coded, abortError, fromNative, native, nativeAsync, fromSystem, closed, readOnly, CODES, isStoreError }
