'use strict'

// The NDJSON of export and import: one line of JSON per entry, base64 keys and values,
// and long values in "continued" parts. Knows nothing of the store or of the command line:
// encodeEntry makes the text of an entry, Decoder reads it back line by line, lines splits
// a stream into lines.

// export writes a value of up to EXPORT_LINE bytes as one line (versions before 0.3 import
// those), and a longer one in parts of EXPORT_PART bytes, one line each: a multiple of 3, so
// that every part but the last is base64 without padding, 1 MiB of it. import then holds
// about a line at a time, never a whole value.
const EXPORT_LINE = 2 * 1024 * 1024
const EXPORT_PART = 768 * 1024
// ... and encodes each line in pieces of this many bytes (a multiple of 3), so that every
// string it makes is small and dies young instead of piling up in V8's large-object space.
const ENCODE_PIECE = 48 * 1024

/** A line that is not what export writes: `line` is its number (1 for the first line). */
class NdjsonError extends Error {
  constructor (line, message) {
    super(`line ${line}: ${message}`)
    this.name = 'NdjsonError'
    this.line = line
  }
}

/**
 * The text of one entry, yielded in pieces (each a string to write in turn; together whole
 * lines ending in "\n"). A value of up to ENCODE_PIECE bytes comes as one piece; up to
 * EXPORT_LINE bytes as one line in pieces; a longer one as "continued" parts of EXPORT_PART
 * bytes, one line each: the first with the key, the others with "more64", all but the last
 * with "continued":true. No piece is longer than the base64 of ENCODE_PIECE bytes plus the
 * key's.
 */
function * encodeEntry (key, value) {
  if (value.length <= ENCODE_PIECE) {
    yield `{"key64":"${key.toString('base64')}","value64":"${value.toString('base64')}"}\n`
    return
  }
  const part = value.length <= EXPORT_LINE ? EXPORT_LINE : EXPORT_PART
  for (let at = 0; at < value.length; at += part) {
    const end = Math.min(value.length, at + part)
    const more = end < value.length ? ',"continued":true' : ''
    yield at === 0 ? `{"key64":"${key.toString('base64')}","value64":"` : '{"more64":"'
    for (let p = at; p < end; p += ENCODE_PIECE) yield value.toString('base64', p, Math.min(end, p + ENCODE_PIECE))
    yield `"${more}}\n`
  }
}

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
  if (b64 !== undefined && plain !== undefined) throw new NdjsonError(lineNo, `both "${name}" and "${name}64"`)
  if (b64 !== undefined) {
    if (typeof b64 !== 'string' || !isBase64(b64)) throw new NdjsonError(lineNo, `"${name}64" is not a base64 string`)
    return Buffer.from(b64, 'base64')
  }
  if (plain !== undefined) {
    if (typeof plain !== 'string') throw new NdjsonError(lineNo, `"${name}" is not a string`)
    return Buffer.from(plain, 'utf8')
  }
  throw new NdjsonError(lineNo, `missing "${name}64" (or "${name}")`)
}

function parseObject (line, lineNo) {
  let obj
  try {
    obj = JSON.parse(line)
  } catch (e) {
    throw new NdjsonError(lineNo, `not valid JSON (${e.message})`)
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new NdjsonError(lineNo, 'not a JSON object')
  return obj
}

/** The "continued" flag of a line: true, or absent/false. */
function continued (obj, lineNo) {
  const c = obj.continued
  if (c !== undefined && typeof c !== 'boolean') throw new NdjsonError(lineNo, '"continued" is not true or false')
  return c === true
}

/** An entry line: `{ key, value, more }`, `more` meaning that "more64" lines follow. */
function parseEntry (obj, lineNo, { maxKeyBytes, maxValueBytes }) {
  if (obj.more64 !== undefined) throw new NdjsonError(lineNo, '"more64" without an entry that is "continued" before it')
  const key = field(obj, 'key', lineNo)
  const value = field(obj, 'value', lineNo)
  if (key.length < 1 || key.length > maxKeyBytes) throw new NdjsonError(lineNo, `a key must be 1 to ${maxKeyBytes} bytes, this one has ${key.length}`)
  if (value.length > maxValueBytes) throw new NdjsonError(lineNo, `the value is longer than ${maxValueBytes} bytes`)
  return { key, value, more: continued(obj, lineNo) }
}

/** A continuation line of a long value: `{ part, more }`. */
function parseMore (obj, lineNo, from) {
  const b64 = obj.more64
  if (b64 === undefined) throw new NdjsonError(lineNo, `the entry of line ${from} is "continued", so this line must carry "more64"`)
  if (typeof b64 !== 'string' || !isBase64(b64)) throw new NdjsonError(lineNo, '"more64" is not a base64 string')
  for (const name of ['key', 'key64', 'value', 'value64']) {
    if (obj[name] !== undefined) throw new NdjsonError(lineNo, `a "more64" line carries no "${name}"`)
  }
  return { part: Buffer.from(b64, 'base64'), more: continued(obj, lineNo) }
}

/**
 * Reads export's lines back, one at a time and in order, checking each: next(line) returns
 * null for an empty line, { key, value, continued } for an entry (continued: the rest of
 * the value follows in "more64" lines), { part, continued } for such a line (continued:
 * more parts follow); it throws an NdjsonError naming the line for a line that is not
 * what export writes. end() throws when the input stopped inside a "continued" value. Keys
 * must be 1 to maxKeyBytes bytes, values (all parts together) at most maxValueBytes.
 */
class Decoder {
  constructor ({ maxKeyBytes, maxValueBytes }) {
    this.limits = { maxKeyBytes, maxValueBytes }
    /** The number of the last line read. */
    this.lineNo = 0
    // The "continued" value being read: the line it began on and its bytes so far.
    this.long = null
  }

  next (line) {
    const lineNo = ++this.lineNo
    if (line.trim() === '') return null
    const obj = parseObject(line, lineNo)
    if (this.long !== null) {
      const { part, more } = parseMore(obj, lineNo, this.long.from)
      this.long.bytes += part.length
      if (this.long.bytes > this.limits.maxValueBytes) {
        throw new NdjsonError(lineNo, `the value of line ${this.long.from} is longer than ${this.limits.maxValueBytes} bytes`)
      }
      if (!more) this.long = null
      return { part, continued: more }
    }
    const { key, value, more } = parseEntry(obj, lineNo, this.limits)
    if (more) this.long = { from: lineNo, bytes: value.length }
    return { key, value, continued: more }
  }

  end () {
    if (this.long !== null) throw new NdjsonError(this.lineNo, `the input ended inside the "continued" value of line ${this.long.from}`)
  }
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

module.exports = { EXPORT_LINE, EXPORT_PART, ENCODE_PIECE, NdjsonError, encodeEntry, Decoder, isBase64, lines }
