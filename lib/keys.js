'use strict'
// Checks of keys and values, and the scratch buffer keys are encoded into for reads.

const { constants: bufferConstants } = require('node:buffer')
const errors = require('./errors.js')
const { KEY_AT, OUT_SLOTS } = require('./scratch.js')

/** Longest key, in bytes (UTF-8 for strings). */
const MAX_KEY_BYTES = 65535
/** Longest value, in bytes. */
const MAX_VALUE_BYTES = Math.min(2 ** 32 - 1, bufferConstants.MAX_LENGTH) - MAX_KEY_BYTES - 8

// One scratch buffer per JavaScript thread: the key goes in, the value's location comes out.
const scratch = Buffer.allocUnsafeSlow(KEY_AT + MAX_KEY_BYTES)
const out = new Float64Array(scratch.buffer, scratch.byteOffset, OUT_SLOTS)
const hasUtf8Write = typeof scratch.utf8Write === 'function'

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

function valueTooLarge (n) {
  return errors.rangeError('ERR_VALUE_TOO_LARGE', `A value may be at most ${MAX_VALUE_BYTES} bytes; this one is ${n}.`)
}

/** Length in bytes of a checked key or value (a string, or a real `Uint8Array`). */
function byteLength (v) {
  return typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : bytesLength(v)
}

function describeKey (key) {
  return typeof key === 'string' ? JSON.stringify(key) : `a ${key.byteLength}-byte key`
}

module.exports = {
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  scratch,
  out,
  hasUtf8Write,
  isBytes,
  bytesLength,
  keyToScratch,
  checkKey,
  checkValue,
  byteLength,
  describeKey
}
