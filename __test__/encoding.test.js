'use strict'
// The views checked here are made from a store's first read on (FIRST_COPIES, lib/read.js).
process.env.SIMD_R_DRIVE_FIRST_COPIES = '0'
const test = require('ava')
const fs = require('node:fs')
const { Store } = require('..')
const { decodeValue } = require('../lib/encoding.js')
const { tmpStore } = require('./helpers.js')

async function drain (readable) {
  const parts = []
  for await (const c of readable) parts.push(c)
  return Buffer.concat(parts)
}

test('the default encoding is binary: zero-copy Buffers, as before', async (t) => {
  const s = await Store.open(tmpStore())
  t.is(s.valueEncoding, 'binary')
  // (A value in the file's last page is copied: padding after them.)
  await s.putMany([['a', 'one'], ['b', Buffer.from('two')], ['pad', Buffer.alloc(16384)]])
  const a = s.get('a')
  t.true(Buffer.isBuffer(a))
  t.is(a.toString(), 'one')
  // Both views lie in the one window over the file's mapping: nothing was copied (unless
  // the suite runs with every value copied).
  if (!/^(1|true|yes)$/i.test(process.env.SIMD_R_DRIVE_COPY_VALUES || '')) t.is(a.buffer, s.get('b').buffer)
  t.is(Store.prototype.get, s.get, 'a binary handle uses the prototype\'s methods')
  await s.close()
})

test('utf8: strings in, strings out, in every read and write', async (t) => {
  const s = await Store.open(tmpStore(), { valueEncoding: 'utf8' })
  t.is(s.valueEncoding, 'utf8')
  await s.put('a', 'héllo')
  s.putSync('b', 42)
  await s.putMany([['c', 'ç'], ['d', true]])
  s.putManySync([['e', Buffer.from('bytes')]])
  t.is(s.get('a'), 'héllo')
  t.is(s.get('b'), '42')
  t.is(s.get('missing'), undefined)
  t.deepEqual(s.getMany(['a', 'c', 'd', 'missing', 'e']), ['héllo', 'ç', 'true', undefined, 'bytes'])
  const keys = Array.from({ length: 12 }, (_, i) => (i % 2 ? 'a' : 'b'))
  t.deepEqual(s.getMany(keys), keys.map((k) => (k === 'a' ? 'héllo' : '42')), 'the batched getMany path decodes once')
  t.deepEqual([...s.values()].sort(), ['42', 'bytes', 'héllo', 'true', 'ç'].sort())
  t.deepEqual(new Map([...s].map(([k, v]) => [k.toString(), v])).get('c'), 'ç')
  const seen = []
  for await (const [k, v] of s.entries()) seen.push([k.toString(), v])
  t.is(seen.length, 5)
  t.true(seen.every(([, v]) => typeof v === 'string'))
  // Raw access stays: getRaw is the zero-copy Buffer, getCopy a copy, streams are bytes.
  t.true(s.getRaw('a').equals(Buffer.from('héllo')))
  t.true(s.getCopy('a').equals(Buffer.from('héllo')))
  t.true((await drain(s.createReadStream('a'))).equals(Buffer.from('héllo')))
  await t.throwsAsync(s.put('x', undefined), { code: 'ERR_INVALID_ARG_TYPE' })
  t.false(s.has('x'))
  await s.close()
})

test('json: values in, values out; what cannot be encoded is refused and writes nothing', async (t) => {
  const s = await Store.open(tmpStore(), { valueEncoding: 'json' })
  const user = { id: 7, name: 'Ada', tags: ['x', 'y'], nested: { ok: true, n: null } }
  await s.put('u', user)
  s.putSync('n', 3.5)
  await s.putMany([['arr', [1, 'two']], ['s', 'str']])
  s.putManySync([['f', false]])
  t.deepEqual(s.get('u'), user)
  t.is(s.get('n'), 3.5)
  t.deepEqual(s.getMany(['arr', 's', 'f', 'nope']), [[1, 'two'], 'str', false, undefined])
  t.is(s.getRaw('s').toString(), '"str"')
  const all = Object.fromEntries([...s].map(([k, v]) => [k.toString(), v]))
  t.deepEqual(all, { u: user, n: 3.5, arr: [1, 'two'], s: 'str', f: false })
  for (const bad of [undefined, () => 1, Symbol('s')]) {
    await t.throwsAsync(s.put('bad', bad), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' })
    t.throws(() => s.putSync('bad', bad), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' })
  }
  await t.throwsAsync(s.putMany([['ok', 1], ['bad', undefined]]), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => s.putManySync([['ok', 1], ['bad', undefined]]), { code: 'ERR_INVALID_ARG_VALUE' })
  t.false(s.has('bad'))
  t.false(s.has('ok'), 'a batch with a value that cannot be encoded writes nothing')
  // Bytes that are not JSON: the decoder's error comes out of the read.
  const raw = await Store.open(s.path)
  await raw.put('garbage', Buffer.from([0xff, 0x00]))
  t.throws(() => s.get('garbage'), { instanceOf: SyntaxError })
  await raw.close()
  await s.close()
})

test('a custom { encode, decode } encoding, with format utf8 handing decode a string', async (t) => {
  const f64 = {
    encode: (n) => new Float64Array([n]),
    decode: (b) => new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + 8))[0]
  }
  const p = tmpStore()
  const s = await Store.open(p, { valueEncoding: f64 })
  t.is(s.valueEncoding, 'custom')
  await s.put('pi', Math.PI)
  t.is(s.get('pi'), Math.PI)
  t.is(s.getRaw('pi').length, 8)
  const upper = { name: 'upper', format: 'utf8', encode: (v) => v.toUpperCase(), decode (v) { return typeof v === 'string' ? v.toLowerCase() : 'not a string' } }
  const u = await Store.open(tmpStore(), { valueEncoding: upper })
  t.is(u.valueEncoding, 'upper')
  await u.put('k', 'MiXeD')
  t.is(u.getRaw('k').toString(), 'MIXED')
  t.is(u.get('k'), 'mixed')
  t.is(decodeValue(u, Buffer.from('ABC')), 'abc', 'decodeValue gives a value in the handle\'s encoding')
  await u.close()
  await s.close()
})

test('a bad valueEncoding is refused with a coded TypeError before anything is opened', async (t) => {
  const p = tmpStore()
  for (const [bad, code] of [
    ['yaml', 'ERR_INVALID_ARG_VALUE'],
    ['', 'ERR_INVALID_ARG_VALUE'],
    [42, 'ERR_INVALID_ARG_TYPE'],
    [null, 'ERR_INVALID_ARG_TYPE'],
    [{ encode: () => 'x' }, 'ERR_INVALID_ARG_VALUE'],
    [{ encode: 'x', decode: () => 1 }, 'ERR_INVALID_ARG_VALUE'],
    [{ encode: (v) => v, decode: (v) => v, format: 'hex' }, 'ERR_INVALID_ARG_VALUE']
  ]) {
    await t.throwsAsync(Store.open(p, { valueEncoding: bad }), { instanceOf: TypeError, code, message: /valueEncoding/ })
    t.throws(() => Store.openSync(p, { valueEncoding: bad }), { instanceOf: TypeError, code })
  }
  t.false(fs.existsSync(p), 'nothing was created')
})

test('the encoding belongs to the handle: one engine, a different encoding for each handle', async (t) => {
  const p = tmpStore()
  const json = await Store.open(p, { valueEncoding: 'json' })
  const bin = await Store.open(p)
  const text = Store.openSync(p, { valueEncoding: 'utf8' })
  await json.put('k', { a: 1 })
  t.deepEqual(json.get('k'), { a: 1 })
  t.true(Buffer.isBuffer(bin.get('k')))
  t.is(bin.get('k').toString(), '{"a":1}')
  t.is(text.get('k'), '{"a":1}')
  text.putSync('k', '[2]')
  t.deepEqual(json.get('k'), [2])
  t.is(json.stats().seq, bin.stats().seq, 'the same engine')
  await json.close()
  t.is(text.get('k'), '[2]')
  await text.close()
  await bin.close()
})

test('an encoded handle reads copies right with copyValues, and batched getMany', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p, { valueEncoding: 'json', copyValues: true })
  const entries = Array.from({ length: 20 }, (_, i) => [`k${i}`, { i }])
  await s.putMany(entries)
  t.deepEqual(s.getMany(entries.map(([k]) => k)), entries.map(([, v]) => v))
  await s.close()
  const z = await Store.open(p, { valueEncoding: 'json' })
  t.deepEqual(z.getMany(entries.map(([k]) => k)), entries.map(([, v]) => v))
  await z.close()
})

test('conditional writes and transactions encode and decode in the handle\'s encoding', async (t) => {
  const s = await Store.open(tmpStore(), { valueEncoding: 'json' })
  t.true(await s.putIfAbsent('u', { n: 1 }))
  t.false(await s.putIfAbsent('u', { n: 99 }))
  t.deepEqual(s.get('u'), { n: 1 })
  // expected is a value, encoded as the handle encodes: compared with the stored bytes.
  t.false(s.compareAndSetSync('u', { n: 2 }, { n: 3 }))
  t.true(s.compareAndSetSync('u', { n: 1 }, { n: 2 }))
  // A JSON object with a "version" key is a value, not a version token...
  t.false(await s.compareAndSet('u', { version: 1 }, { n: 5 }))
  // ...while { version: bigint } (which JSON cannot encode) is a version.
  t.true(await s.compareAndSet('u', { version: s.versionOf('u') }, { n: 4 }))
  t.deepEqual(s.get('u'), { n: 4 })
  t.true(s.compareAndSetSync('u', { n: 4 }, undefined), 'a value of undefined deletes')
  t.is(s.get('u'), undefined)
  t.true(s.putIfAbsentSync('v', [1, 2]))
  t.deepEqual(s.getRaw('v').toString(), '[1,2]')
  const got = s.transactionSync((tx) => {
    const before = tx.get('v')
    tx.put('v', [...before, 3])
    return tx.get('v')
  })
  t.deepEqual(got, [1, 2, 3], 'tx.get decodes what the transaction wrote')
  t.deepEqual(s.get('v'), [1, 2, 3])
  t.is(s.getRaw('v').toString(), '[1,2,3]')
  t.throws(() => s.transactionSync((tx) => tx.put('w', () => {})), { code: 'ERR_INVALID_ARG_VALUE' })
  t.is(s.get('w'), undefined, 'a value JSON cannot encode writes nothing')
  await s.close()
})
