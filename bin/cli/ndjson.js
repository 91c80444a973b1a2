'use strict'

// The NDJSON of export and import: one line of JSON per entry, base64 keys and values,
// and long values in "continued" parts.

const { Failure } = require('./exit')
const { srd } = require('./stores')

// export writes a value of up to EXPORT_LINE bytes as one line (versions before 0.3 import
// those), and a longer one in parts of EXPORT_PART bytes, one line each: a multiple of 3, so
// that every part but the last is base64 without padding, 1 MiB of it. import then holds
// about a line at a time, never a whole value.
const EXPORT_LINE = 2 * 1024 * 1024
const EXPORT_PART = 768 * 1024
// ... and encodes each line in pieces of this many bytes (a multiple of 3), so that every
// string it makes is small and dies young instead of piling up in V8's large-object space.
const ENCODE_PIECE = 48 * 1024

const NOT_BASE64 = /[^A-Za-z0-9+/=]/

/**
 * Whether `text` is base64 (RFC 4648 alphabet, padded to a multiple of 4, "=" only as the
 * last one or two characters). Checked in linear time without a backtracking regular
 * expression, which overflowed V8's regex stack on values of a few MiB.
 */
function isBase64 (text) {
  if (text.length % 4 !== 0 || NOT_BASE64.test(text)) return false
  const pad = text.indexOf('=')
  if (pad === -1) return true
  return pad >= text.length - 2 && (pad === text.length - 1 || text[text.length - 1] === '=')
}

/** One field of an import line: `<name>64` as base64, or `<name>` as a plain string. */
function field (obj, name, lineNo) {
  const b64 = obj[name + '64']
  const plain = obj[name]
  if (b64 !== undefined && plain !== undefined) throw new Failure(`line ${lineNo}: both "${name}" and "${name}64"`)
  if (b64 !== undefined) {
    if (typeof b64 !== 'string' || !isBase64(b64)) throw new Failure(`line ${lineNo}: "${name}64" is not a base64 string`)
    return Buffer.from(b64, 'base64')
  }
  if (plain !== undefined) {
    if (typeof plain !== 'string') throw new Failure(`line ${lineNo}: "${name}" is not a string`)
    return Buffer.from(plain, 'utf8')
  }
  throw new Failure(`line ${lineNo}: missing "${name}64" (or "${name}")`)
}

function parseObject (line, lineNo) {
  let obj
  try {
    obj = JSON.parse(line)
  } catch (e) {
    throw new Failure(`line ${lineNo}: not valid JSON (${e.message})`)
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new Failure(`line ${lineNo}: not a JSON object`)
  return obj
}

/** The "continued" flag of a line: true, or absent/false. */
function continued (obj, lineNo) {
  const c = obj.continued
  if (c !== undefined && typeof c !== 'boolean') throw new Failure(`line ${lineNo}: "continued" is not true or false`)
  return c === true
}

/** An entry line: `{ key, value, more }`, `more` meaning that "more64" lines follow. */
function parseEntry (obj, lineNo) {
  if (obj.more64 !== undefined) throw new Failure(`line ${lineNo}: "more64" without an entry that is "continued" before it`)
  const key = field(obj, 'key', lineNo)
  const value = field(obj, 'value', lineNo)
  const { MAX_KEY_BYTES, MAX_VALUE_BYTES } = srd()
  if (key.length < 1 || key.length > MAX_KEY_BYTES) throw new Failure(`line ${lineNo}: a key must be 1 to ${MAX_KEY_BYTES} bytes, this one has ${key.length}`)
  if (value.length > MAX_VALUE_BYTES) throw new Failure(`line ${lineNo}: the value is longer than ${MAX_VALUE_BYTES} bytes`)
  return { key, value, more: continued(obj, lineNo) }
}

/** A continuation line of a long value: `{ part, more }`. */
function parseMore (obj, lineNo, from) {
  const b64 = obj.more64
  if (b64 === undefined) throw new Failure(`line ${lineNo}: the entry of line ${from} is "continued", so this line must carry "more64"`)
  if (typeof b64 !== 'string' || !isBase64(b64)) throw new Failure(`line ${lineNo}: "more64" is not a base64 string`)
  for (const name of ['key', 'key64', 'value', 'value64']) {
    if (obj[name] !== undefined) throw new Failure(`line ${lineNo}: a "more64" line carries no "${name}"`)
  }
  return { part: Buffer.from(b64, 'base64'), more: continued(obj, lineNo) }
}

/**
 * The lines of a stream (split at LF, CRLF or CR, as readline splits them), read as the
 * loop asks for them: unlike readline's iterator, which reads on while the loop body waits
 * and queues what it read, this holds at most one line and one chunk.
 */
async function * lines (stream) {
  let parts = []
  let sawCR = false
  const line = (last) => {
    parts.push(last)
    const text = (parts.length === 1 ? parts[0] : Buffer.concat(parts)).toString('utf8')
    parts = []
    return text
  }
  for await (let chunk of stream) {
    if (typeof chunk === 'string') chunk = Buffer.from(chunk, 'utf8')
    let pos = sawCR && chunk.length > 0 && chunk[0] === 0x0a ? 1 : 0
    sawCR = false
    let cr = chunk.indexOf(0x0d, pos)
    for (;;) {
      const nl = chunk.indexOf(0x0a, pos)
      if (cr !== -1 && cr < pos) cr = chunk.indexOf(0x0d, pos)
      let at = nl === -1 ? cr : cr === -1 ? nl : Math.min(nl, cr)
      if (at === -1) break
      yield line(chunk.subarray(pos, at))
      if (chunk[at] === 0x0d) {
        if (at + 1 === chunk.length) sawCR = true
        else if (chunk[at + 1] === 0x0a) at++
      }
      pos = at + 1
    }
    if (pos < chunk.length) parts.push(chunk.subarray(pos))
  }
  if (parts.length > 0) yield line(Buffer.alloc(0))
}

module.exports = { EXPORT_LINE, EXPORT_PART, ENCODE_PIECE, isBase64, parseObject, parseEntry, parseMore, lines }
