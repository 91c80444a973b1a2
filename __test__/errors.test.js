'use strict'
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { Store, MAX_KEY_BYTES } = require('..')
const { tmpStore, tmpDir, corruptStore } = require('./helpers.js')

test('wrong argument types are TypeErrors with ERR_INVALID_ARG_TYPE and write nothing', async (t) => {
  const s = await Store.open(tmpStore())
  const before = s.stats()
  for (const bad of [1, null, undefined, {}, [], true, Symbol('k')]) {
    t.throws(() => s.get(bad), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
    t.throws(() => s.has(bad), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
    await t.throwsAsync(s.put(bad, 'v'), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
    await t.throwsAsync(s.delete(bad), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
    t.throws(() => s.putSync(bad, 'v'), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  }
  for (const bad of [1, null, undefined, {}, [1, 2]]) {
    await t.throwsAsync(s.put('k', bad), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  }
  for (const bad of [1, null, undefined, {}]) {
    await t.throwsAsync(s.putMany(bad), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  }
  // One bad entry: nothing of the batch is written.
  await t.throwsAsync(s.putMany([['a', '1'], ['b', 2]]), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => s.putManySync([['a', '1'], 'oops']), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => s.getMany('k'), { code: 'ERR_INVALID_ARG_TYPE' })
  t.deepEqual(s.stats(), before)
  t.false(s.has('a'))
  await s.close()
})

test('empty and oversized keys are RangeErrors with ERR_INVALID_KEY', async (t) => {
  const s = await Store.open(tmpStore())
  for (const bad of ['', Buffer.alloc(0), 'x'.repeat(MAX_KEY_BYTES + 1), Buffer.alloc(MAX_KEY_BYTES + 1), 'é'.repeat(40000)]) {
    t.throws(() => s.get(bad), { instanceOf: RangeError, code: 'ERR_INVALID_KEY' })
    await t.throwsAsync(s.put(bad, 'v'), { instanceOf: RangeError, code: 'ERR_INVALID_KEY' })
  }
  // The longest key works.
  const longest = Buffer.alloc(MAX_KEY_BYTES, 'k')
  await s.put(longest, 'ok')
  t.is(s.get(longest).toString(), 'ok')
  t.is(s.size, 1)
  await s.close()
})

test('a detached ArrayBuffer as a value is refused', async (t) => {
  const s = await Store.open(tmpStore())
  const ab = new ArrayBuffer(8)
  const view = new Uint8Array(ab)
  structuredClone(ab, { transfer: [ab] })
  await t.throwsAsync(s.put('k', view), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  // A view of a SharedArrayBuffer is copied like any other.
  const shared = new Uint8Array(new SharedArrayBuffer(4)).fill(3)
  await s.put('shared', shared)
  t.deepEqual([...s.get('shared')], [3, 3, 3, 3])
  await s.close()
})

test('bad options and paths', async (t) => {
  await t.throwsAsync(Store.open(123), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(Store.open(''), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(Store.open(tmpStore(), { sync: 'yes' }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => Store.openSync(tmpStore(), 5), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new Store(), { instanceOf: TypeError })
  const missing = path.join(tmpDir(), 'nope.srd')
  await t.throwsAsync(Store.open(missing, { create: false }), { code: 'ERR_STORE_IO' })
  await t.throwsAsync(Store.open(path.join(tmpDir(), 'no', 'such', 'dir.srd')), { code: 'ERR_STORE_IO' })
})

test('a file that is not a store is refused with ERR_NOT_A_STORE and left untouched', async (t) => {
  const p = path.join(tmpDir(), 'photo.jpg')
  const content = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(5000, 7)])
  fs.writeFileSync(p, content)
  await t.throwsAsync(Store.open(p), { code: 'ERR_NOT_A_STORE' })
  t.throws(() => Store.openSync(p, { readOnly: true }), { code: 'ERR_NOT_A_STORE' })
  t.true(fs.readFileSync(p).equals(content))
})

test('a file of a newer format version is refused with ERR_STORE_VERSION', async (t) => {
  const p = tmpStore()
  await (await Store.open(p)).close()
  const bytes = fs.readFileSync(p)
  bytes.writeUInt16LE(99, 8)
  fs.writeFileSync(p, bytes)
  await t.throwsAsync(Store.open(p), { code: 'ERR_STORE_VERSION' })
  t.true(fs.readFileSync(p).equals(bytes))
})

test('corruption in the middle is ERR_STORE_CORRUPT naming the offset', async (t) => {
  const p = tmpStore()
  const bytes = await corruptStore(p)
  const err = await t.throwsAsync(Store.open(p), { code: 'ERR_STORE_CORRUPT' })
  t.regex(err.message, /offset 64\b/)
  // A read-only open is as strict: the damage is reported, not silently hidden.
  await t.throwsAsync(Store.open(p, { readOnly: true }), { code: 'ERR_STORE_CORRUPT' })
  t.true(fs.readFileSync(p).equals(bytes), 'the damaged file is left as it was')
})

test('read-only stores refuse writes with ERR_STORE_READ_ONLY', async (t) => {
  const p = tmpStore()
  const w = await Store.open(p)
  w.putSync('k', 'v')
  await w.close()
  const r = await Store.open(p, { readOnly: true })
  await t.throwsAsync(r.put('a', 'b'), { code: 'ERR_STORE_READ_ONLY' })
  await t.throwsAsync(r.delete('k'), { code: 'ERR_STORE_READ_ONLY' })
  await t.throwsAsync(r.compact(), { code: 'ERR_STORE_READ_ONLY' })
  t.throws(() => r.putSync('a', 'b'), { code: 'ERR_STORE_READ_ONLY' })
  t.is(r.get('k').toString(), 'v')
  await r.close()
})

test('verify() checks every checksum of an open store and names the first bad offset', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  for (let i = 0; i < 20; i++) await s.put(`k${i}`, Buffer.alloc(100, i))
  const ok = await s.verify()
  t.true(ok.entries >= 20)
  t.true(ok.bytes > 20 * 100)
  // Damage the file behind the open store's back (bit rot, another program).
  const fd = fs.openSync(p, 'r+')
  fs.writeSync(fd, Buffer.from([0xff]), 0, 1, 64 + 40)
  fs.closeSync(fd)
  const e = await t.throwsAsync(s.verify(), { code: 'ERR_STORE_CORRUPT' })
  t.regex(e.message, /offset 64\b/)
  await s.close()
  await t.throwsAsync(s.verify(), { code: 'ERR_STORE_CLOSED' })
})

test('Store.repair() makes a damaged store open again, keeping every entry that verifies', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  for (let i = 0; i < 20; i++) await s.put(`k${i}`, Buffer.alloc(100, i))
  await s.close()
  const bytes = fs.readFileSync(p)
  bytes[64 + 40] ^= 0xff // inside k0's value
  fs.writeFileSync(p, bytes)
  await t.throwsAsync(Store.open(p), { code: 'ERR_STORE_CORRUPT' })
  const held = await Store.open(p, { readOnly: true }).catch((e) => e)
  t.is(held.code, 'ERR_STORE_CORRUPT')
  const r = await Store.repair(p)
  t.is(r.liveKeys, 19)
  t.is(r.skipped.length, 1)
  t.truthy(r.backup)
  t.true(fs.readFileSync(r.backup).equals(bytes), 'the damaged original is kept')
  const again = await Store.open(p)
  t.is(again.size, 19)
  t.is(again.get('k0'), undefined)
  t.is(again.get('k19')[0], 19)
  await again.close()
  // A file that is not a store is never touched; a missing one is an I/O error.
  const other = path.join(tmpDir(), 'other.bin')
  fs.writeFileSync(other, 'not a store')
  await t.throwsAsync(Store.repair(other), { code: 'ERR_NOT_A_STORE' })
  t.is(fs.readFileSync(other, 'utf8'), 'not a store')
  await t.throwsAsync(Store.repair(123), { code: 'ERR_INVALID_ARG_TYPE' })
})
