'use strict'
const test = require('ava')
const fs = require('node:fs')
const { Store } = require('..')
const { tmpStore } = require('./helpers.js')

test('put, get, has, delete and size', async (t) => {
  const s = await Store.open(tmpStore())
  t.is(s.size, 0)
  await s.put('a', 'one')
  await s.put(Buffer.from('b'), new Uint8Array([1, 2, 3]))
  t.is(s.get('a').toString(), 'one')
  t.deepEqual([...s.get('b')], [1, 2, 3])
  t.true(Buffer.isBuffer(s.get('a')))
  t.true(s.has('a'))
  t.is(s.get('missing'), undefined)
  t.false(s.has('missing'))
  t.is(s.size, 2)
  t.true(await s.delete('a'))
  t.false(await s.delete('a'))
  t.is(s.get('a'), undefined)
  t.is(s.size, 1)
  await s.close()
})

test('string keys are UTF-8 and equal to their bytes', async (t) => {
  const s = await Store.open(tmpStore())
  await s.put('ключ-😀', 'v')
  t.is(s.get(Buffer.from('ключ-😀', 'utf8')).toString(), 'v')
  t.true(s.has(new Uint8Array(Buffer.from('ключ-😀'))))
  await s.close()
})

test('the empty value and a single zero byte round-trip and are not deletes', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  await s.put('empty', Buffer.alloc(0))
  await s.put('zero', Buffer.from([0]))
  await s.close()
  const r = await Store.open(p)
  t.is(r.get('empty').length, 0)
  t.deepEqual([...r.get('zero')], [0])
  t.is(r.size, 2)
  await r.close()
})

test('typed array and DataView values store their own bytes only', async (t) => {
  const s = await Store.open(tmpStore())
  const big = new Float64Array([1.5, -2, 3])
  await s.put('f64', big)
  await s.put('view', new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2))
  t.deepEqual([...s.get('view')], [8, 7])
  const v = s.get('f64')
  t.is(v.length, 24)
  t.deepEqual([...new Float64Array(v.buffer, v.byteOffset, 3)], [1.5, -2, 3])
  await s.close()
})

test('writes of one tick are one commit; putMany is one atomic batch', async (t) => {
  const s = await Store.open(tmpStore())
  const before = s.stats().seq
  const ps = []
  for (let i = 0; i < 1000; i++) ps.push(s.put(`k${i}`, `v${i}`))
  ps.push(s.delete('k5'))
  await Promise.all(ps)
  t.is(s.stats().seq, before + 1)
  t.is(s.size, 999)
  await s.putMany(new Map([['x', '1'], ['y', '2']]))
  t.is(s.stats().seq, before + 2)
  t.is(s.get('y').toString(), '2')
  await s.close()
})

test('values are copied when put is called', async (t) => {
  const s = await Store.open(tmpStore())
  const v = Buffer.from('before')
  const p = s.put('k', v)
  v.write('after!')
  await p
  t.is(s.get('k').toString(), 'before')
  await s.close()
})

test('sync twins commit at once and keep call order with staged writes', async (t) => {
  const s = await Store.open(tmpStore())
  const p = s.put('k', 'async-first')
  s.putSync('k', 'sync-second')
  await p
  t.is(s.get('k').toString(), 'sync-second')
  s.putManySync([['a', '1'], ['b', '2']])
  t.is(s.size, 3)
  t.true(s.deleteSync('a'))
  t.false(s.deleteSync('a'))
  t.false(s.has('a'))
  await s.close()
})

test('getMany, iterators and snapshots', async (t) => {
  const s = await Store.open(tmpStore())
  const want = new Map()
  for (let i = 0; i < 3000; i++) want.set(`key-${i}`, `value-${i}`.repeat(i % 7))
  await s.putMany(want)
  t.deepEqual(s.getMany(['key-1', 'nope', 'key-2']).map((b) => b && b.toString()), [want.get('key-1'), undefined, want.get('key-2')])
  const seen = new Map()
  for (const [k, v] of s) seen.set(k.toString(), v.toString())
  t.deepEqual(seen, want)
  t.is([...s.keys()].length, 3000)
  t.deepEqual(new Set([...s.values()].map(String)), new Set(want.values()))
  // Iteration is a snapshot: writes after it starts are not seen and are not blocked.
  const it = s.entries()
  it.next()
  await s.put('late', 'x')
  let n = 1
  for (const _ of it) n++ // eslint-disable-line no-unused-vars
  t.is(n, 3000)
  let m = 0
  for await (const [k] of s.entries()) { if (k.length) m++ }
  t.is(m, 3001)
  await s.close()
})

test('data survives close and reopen; stats add up', async (t) => {
  const p = tmpStore()
  const s = Store.openSync(p)
  for (let i = 0; i < 100; i++) await s.put(`k${i}`, Buffer.alloc(100, i))
  for (let i = 0; i < 50; i++) await s.put(`k${i}`, Buffer.alloc(100, 255 - i))
  const st = s.stats()
  t.is(st.entries, 100)
  t.true(st.reclaimableBytes > 0)
  // Compaction would keep the header, the live entries (each with an 8-byte version) and
  // one 24-byte sync mark.
  t.is(st.fileBytes, 64 + st.liveBytes + 8 * st.entries + 24 + st.reclaimableBytes)
  // While open, zeros are kept ahead of the data (cheaper fsyncs); close trims them.
  t.true(fs.statSync(p).size > st.fileBytes)
  await s.close()
  // close() synced, appended a 24-byte sync mark recording that, and trimmed the zeros.
  t.is(fs.statSync(p).size, st.fileBytes + 24)
  const r = Store.openSync(p)
  for (let i = 0; i < 100; i++) t.is(r.get(`k${i}`)[50], i < 50 ? 255 - i : i)
  const c = await r.compact()
  t.true(c.reclaimedBytes > 0)
  t.is(r.stats().reclaimableBytes, 0)
  t.is(r.get('k7')[0], 248)
  await r.close()
})

test('sync mode: 1000 concurrent durable puts share one fsync', async (t) => {
  const s = await Store.open(tmpStore(), { sync: true })
  const before = s.stats()
  await Promise.all(Array.from({ length: 1000 }, (_, i) => s.put(`k${i}`, 'v')))
  const after = s.stats()
  t.is(after.seq - before.seq, 1)
  t.is(after.durableSeq, after.seq)
  await s.flush()
  await s.close()
})

test('flush makes everything durable', async (t) => {
  const s = await Store.open(tmpStore())
  await s.put('a', '1')
  t.true(s.stats().durableSeq < s.stats().seq)
  await s.flush()
  t.is(s.stats().durableSeq, s.stats().seq)
  await s.close()
})

test('close waits for in-flight work, is idempotent, and later calls fail with ERR_STORE_CLOSED', async (t) => {
  const s = await Store.open(tmpStore())
  const big = Buffer.alloc(4 << 20, 7) // larger than the inline limit: goes to the threadpool
  const w = s.put('big', big)
  const c = s.compact()
  const closing = s.close()
  t.is(s.close(), closing)
  await closing
  await w
  await c
  t.true(s.closed)
  t.throws(() => s.get('big'), { code: 'ERR_STORE_CLOSED' })
  t.throws(() => s.size, { code: 'ERR_STORE_CLOSED' })
  await t.throwsAsync(s.put('a', 'b'), { code: 'ERR_STORE_CLOSED' })
  await t.throwsAsync(s.compact(), { code: 'ERR_STORE_CLOSED' })
  await t.throwsAsync(s.flush(), { code: 'ERR_STORE_CLOSED' })
  t.throws(() => s.putSync('a', 'b'), { code: 'ERR_STORE_CLOSED' })
  t.throws(() => [...s.keys()], { code: 'ERR_STORE_CLOSED' })
  const r = await Store.open(s.path)
  t.is(r.get('big').length, 4 << 20)
  await r.close()
})

test('two Stores on one path in one process share the engine', async (t) => {
  const p = tmpStore()
  const a = await Store.open(p)
  const b = await Store.open(p)
  await a.put('k', 'from a')
  t.is(b.get('k').toString(), 'from a')
  await a.close()
  await b.put('k2', 'still open')
  t.is(b.get('k2').toString(), 'still open')
  const ro = await Store.open(p, { readOnly: true })
  t.is(ro.get('k2').toString(), 'still open')
  await t.throwsAsync(ro.put('x', 'y'), { code: 'ERR_STORE_READ_ONLY' })
  await b.close()
  await ro.close()
})

test('getMany of many keys returns what get returns, key by key', async (t) => {
  const s = await Store.open(tmpStore())
  const want = new Map()
  for (let i = 0; i < 2500; i++) want.set(`k${i}`, i % 11 === 0 ? '' : `value-${i}`.repeat(1 + (i % 5)))
  await s.putMany(want)
  await s.delete('k7')
  // The last value ends in the file's last, still growing page: it is copied, not viewed.
  await s.put('tail', 'last')
  const keys = []
  for (let i = 0; i < 3000; i += 3) keys.push(i % 2 ? `k${i}` : Buffer.from(`k${i}`))
  keys.push('k7', 'nope', 'k1', 'k1', 'tail', new Uint8Array(Buffer.from('k2')))
  const check = () => {
    const got = s.getMany(keys)
    t.is(got.length, keys.length)
    for (let i = 0; i < keys.length; i++) {
      const one = s.get(keys[i])
      t.deepEqual(got[i], one, String(keys[i]))
      if (got[i] !== undefined) t.true(Buffer.isBuffer(got[i]))
    }
    t.is(got[keys.length - 2].toString(), 'last')
    t.is(got[keys.length - 5], undefined)
  }
  check()
  // After a compaction has replaced the file, and after more writes.
  await s.compact()
  check()
  await s.put('k1', 'changed')
  t.is(s.getMany(keys)[keys.length - 4].toString(), 'changed')
  t.throws(() => s.getMany([...keys, '']), { code: 'ERR_INVALID_KEY' })
  t.throws(() => s.getMany([...keys, 42]), { code: 'ERR_INVALID_ARG_TYPE' })
  await s.close()
  t.throws(() => s.getMany(keys), { code: 'ERR_STORE_CLOSED' })
})

test('put and putMany resolve to undefined (Promise<void>); delete resolves to whether the key had a value', async (t) => {
  const s = await Store.open(tmpStore())
  t.is(await s.put('a', '1'), undefined)
  // Several writes of one tick share a batch: each put and putMany still resolves to nothing.
  const [p1, p2, m, d] = await Promise.all([s.put('b', '2'), s.put('c', '3'), s.putMany([['d', '4'], ['e', '5']]), s.delete('a')])
  t.is(p1, undefined)
  t.is(p2, undefined)
  t.is(m, undefined)
  t.is(d, true)
  t.is(await s.putMany([['f', '6']]), undefined, 'a putMany that starts its batch')
  t.is(await s.delete('a'), false)
  // A batch that goes to the threadpool (over 1 MiB) resolves to nothing as well.
  t.is(await s.put('big', Buffer.alloc(2 << 20, 1)), undefined)
  t.is(s.get('f').toString(), '6')
  await s.close()
})
