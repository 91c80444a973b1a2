'use strict'
// The NDJSON of export and import (bin/cli/ndjson.js) on its own, without a store: what
// encodeEntry writes, Decoder reads back to the same bytes, and each line Decoder refuses
// is named by its number.
const test = require('ava')
const crypto = require('node:crypto')
const { Readable } = require('node:stream')
const {
  EXPORT_LINE, EXPORT_PART, ENCODE_PIECE, NdjsonError, encodeEntry, Decoder, isBase64, lines
} = require('../bin/cli/ndjson')

const LIMITS = { maxKeyBytes: 4096, maxValueBytes: 64 * 1024 * 1024 }

/** The text encodeEntry makes for every entry, one after another. */
function encode (entries) {
  let text = ''
  for (const [k, v] of entries) for (const piece of encodeEntry(k, v)) text += piece
  return text
}

/** The entries Decoder reads from `text`, long values put together from their parts. */
function decode (text, limits = LIMITS) {
  const d = new Decoder(limits)
  const out = []
  let long = null
  const all = text.split('\n')
  if (all[all.length - 1] === '') all.pop() // after the last line's "\n", as lines() reads it
  for (const line of all) {
    const got = d.next(line)
    if (got === null) continue
    if (got.part !== undefined) {
      long.parts.push(got.part)
      if (!got.continued) {
        out.push([long.key, Buffer.concat(long.parts)])
        long = null
      }
    } else if (got.continued) {
      long = { key: got.key, parts: [got.value] }
    } else {
      out.push([got.key, got.value])
    }
  }
  d.end()
  return out
}

/** The NdjsonError that decoding `text` throws. */
function refusal (t, text, limits = LIMITS) {
  return t.throws(() => decode(text, limits), { instanceOf: NdjsonError })
}

test('binary, invalid UTF-8, empty and JSON-special keys and values round-trip exactly', (t) => {
  const entries = [
    [Buffer.from('plain'), Buffer.from('héllo wörld')],
    [Buffer.from([0xff, 0xfe, 0x00, 0x80]), Buffer.from([0xc3, 0x28, 0xa0, 0xa1])], // not UTF-8
    [Buffer.from('empty'), Buffer.alloc(0)],
    [Buffer.from('line\nbreak\r"quote"\\'), Buffer.from('{"key64":"x"}\n\n')],
    [crypto.randomBytes(4096), crypto.randomBytes(1000)]
  ]
  const text = encode(entries)
  t.is(text.split('\n').length, entries.length + 1, 'one line each')
  t.deepEqual(decode(text), entries)
  t.is(encode([[Buffer.from('k'), Buffer.from('v')]]), '{"key64":"aw==","value64":"dg=="}\n')
})

test('values up to EXPORT_LINE are one line, in pieces of ENCODE_PIECE; the pieces make the base64 of the whole', (t) => {
  for (const size of [ENCODE_PIECE, ENCODE_PIECE + 1, 3 * ENCODE_PIECE + 2, EXPORT_LINE]) {
    const key = Buffer.from(`v${size}`)
    const value = crypto.randomBytes(size)
    const pieces = [...encodeEntry(key, value)]
    t.is(pieces.length, size <= ENCODE_PIECE ? 1 : 2 + Math.ceil(size / ENCODE_PIECE), `${size} bytes`)
    t.true(pieces.every((p) => p.length <= Math.ceil(ENCODE_PIECE / 3) * 4 + 64))
    const text = pieces.join('')
    t.is(text, JSON.stringify({ key64: key.toString('base64'), value64: value.toString('base64') }) + '\n')
    t.deepEqual(decode(text), [[key, value]])
  }
})

test('a value over EXPORT_LINE is split into "continued" parts of EXPORT_PART, one line each, and put back together', (t) => {
  const key = Buffer.from('long')
  const value = crypto.randomBytes(3 * EXPORT_PART + 5) // over EXPORT_LINE: four parts, the last of 5 bytes
  const text = encode([[Buffer.from('before'), Buffer.from('1')], [key, value], [Buffer.from('after'), Buffer.from('2')]])
  const rows = text.trimEnd().split('\n').map((l) => JSON.parse(l))
  const parts = rows.slice(1, -1)
  t.is(parts.length, 4)
  t.deepEqual(parts.map((r) => r.continued), [true, true, true, undefined])
  t.is(parts[0].key64, key.toString('base64'))
  t.deepEqual(parts.slice(1).map((r) => Object.keys(r)), [['more64', 'continued'], ['more64', 'continued'], ['more64']])
  const sizes = [parts[0].value64, ...parts.slice(1).map((r) => r.more64)].map((b) => Buffer.from(b, 'base64').length)
  t.deepEqual(sizes, [EXPORT_PART, EXPORT_PART, EXPORT_PART, value.length - 3 * EXPORT_PART])
  t.true(parts.slice(0, -1).every((r) => !(r.value64 || r.more64).includes('=')), 'no padding but in the last part')
  t.deepEqual(decode(text), [[Buffer.from('before'), Buffer.from('1')], [key, value], [Buffer.from('after'), Buffer.from('2')]])
})

test('plain "key"/"value" strings are taken as UTF-8; empty and blank lines are skipped but counted', (t) => {
  const d = new Decoder(LIMITS)
  t.is(d.next(''), null)
  t.is(d.next('   '), null)
  const got = d.next('{"key":"clé","value":"wert"}')
  t.deepEqual(got, { key: Buffer.from('clé'), value: Buffer.from('wert'), continued: false })
  t.is(d.lineNo, 3)
  const e = t.throws(() => d.next('nope'), { instanceOf: NdjsonError })
  t.is(e.line, 4)
})

test('malformed lines are refused with their line number and what is wrong', (t) => {
  const ok = '{"key64":"aw==","value64":"dg=="}\n'
  const cases = [
    ['not json', /^line 2: not valid JSON \(/],
    ['[1,2]', /^line 2: not a JSON object$/],
    ['null', /^line 2: not a JSON object$/],
    ['{"key":"a","key64":"YQ==","value":"v"}', /^line 2: both "key" and "key64"$/],
    ['{"key64":"a=b=","value":"v"}', /^line 2: "key64" is not a base64 string$/],
    ['{"key64":"YQ","value":"v"}', /^line 2: "key64" is not a base64 string$/],
    ['{"key64":7,"value":"v"}', /^line 2: "key64" is not a base64 string$/],
    ['{"key":7,"value":"v"}', /^line 2: "key" is not a string$/],
    ['{"key":"a"}', /^line 2: missing "value64" \(or "value"\)$/],
    ['{"value":"v"}', /^line 2: missing "key64" \(or "key"\)$/],
    ['{"key":"","value":"v"}', /^line 2: a key must be 1 to 4096 bytes, this one has 0$/],
    ['{"key":"a","value":"v","continued":"yes"}', /^line 2: "continued" is not true or false$/],
    ['{"more64":"YQ=="}', /^line 2: "more64" without an entry that is "continued" before it$/]
  ]
  for (const [line, message] of cases) {
    const e = refusal(t, ok + line + '\n' + ok)
    t.regex(e.message, message, line)
    t.is(e.line, 2)
  }
  t.true(isBase64('') && isBase64('YQ==') && isBase64('YWI=') && isBase64('YWJj'))
  t.false(isBase64('YQ=') || isBase64('Y===') || isBase64('YQ=a') || isBase64('YW-j'))
})

test('the lines of a "continued" value must be "more64" lines, and the input must not end inside one', (t) => {
  const first = '{"key64":"aw==","value64":"YWJj","continued":true}\n'
  let e = refusal(t, first + '{"key":"b","value":"v"}\n')
  t.is(e.message, 'line 2: the entry of line 1 is "continued", so this line must carry "more64"')
  e = refusal(t, first + '\n{"more64":"YWJj","key64":"aw=="}\n')
  t.is(e.message, 'line 3: a "more64" line carries no "key64"')
  t.is(e.line, 3)
  e = refusal(t, first + '{"more64":"%%%%"}\n')
  t.is(e.message, 'line 2: "more64" is not a base64 string')
  e = refusal(t, first + '{"more64":"YWJj","continued":true}\n')
  t.is(e.message, 'line 2: the input ended inside the "continued" value of line 1')
  t.deepEqual(decode(first + '{"more64":"ZGVm"}\n'), [[Buffer.from('k'), Buffer.from('abcdef')]])
})

test('the key and value limits: a key over maxKeyBytes, a value over maxValueBytes, also counted across parts', (t) => {
  const limits = { maxKeyBytes: 3, maxValueBytes: 8 }
  let e = refusal(t, '{"key":"abcd","value":""}\n', limits)
  t.is(e.message, 'line 1: a key must be 1 to 3 bytes, this one has 4')
  e = refusal(t, '{"key":"abc","value":"123456789"}\n', limits)
  t.is(e.message, 'line 1: the value is longer than 8 bytes')
  const parts = '{"key":"k","value":"12345","continued":true}\n{"more64":"YWI=","continued":true}\n{"more64":"YWI="}\n'
  e = refusal(t, parts, limits)
  t.is(e.message, 'line 3: the value of line 1 is longer than 8 bytes')
  t.deepEqual(decode('{"key":"abc","value":"12345678"}\n', limits), [[Buffer.from('abc'), Buffer.from('12345678')]])
})

test('lines splits at LF, CRLF and CR, also when a CRLF or a line falls across chunks', async (t) => {
  const collect = async (chunks) => {
    const got = []
    for await (const l of lines(Readable.from(chunks))) got.push(l)
    return got
  }
  t.deepEqual(await collect([Buffer.from('a\nb\r\nc\rd')]), ['a', 'b', 'c', 'd'])
  t.deepEqual(await collect([Buffer.from('a\r'), Buffer.from('\nb\r'), Buffer.from('c')]), ['a', 'b', 'c'])
  t.deepEqual(await collect([Buffer.from('lo'), Buffer.from('ng\n\n'), Buffer.from('end\n')]), ['long', '', 'end'])
  t.deepEqual(await collect(['strings\nare ', 'bytes\n']), ['strings', 'are bytes'])
  // A UTF-8 character cut by a chunk boundary is put back together.
  const e = Buffer.from('é\n')
  t.deepEqual(await collect([e.subarray(0, 1), e.subarray(1)]), ['é'])
  t.deepEqual(await collect([]), [])
})
