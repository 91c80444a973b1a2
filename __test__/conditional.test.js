'use strict'
const test = require('ava')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const { Store } = require('..')
const { tmpStore } = require('./helpers.js')

function runWorker (data) {
  return new Promise((resolve, reject) => {
    const w = new Worker(path.join(__dirname, 'fixtures', 'contender.js'), { workerData: data })
    w.once('message', resolve)
    w.once('error', reject)
  })
}

test('putIfAbsent writes only a missing key, sync and async', async (t) => {
  const s = Store.openSync(tmpStore())
  t.true(s.putIfAbsentSync('k', 'a'))
  t.false(s.putIfAbsentSync('k', 'b'))
  t.is(s.get('k').toString(), 'a')
  t.true(await s.putIfAbsent('j', 'a'))
  t.false(await s.putIfAbsent('j', 'b'))
  t.is(s.get('j').toString(), 'a')
  await s.close()
})

test('two putIfAbsent calls of one tick never both win, and the batch still commits the rest', async (t) => {
  const s = Store.openSync(tmpStore())
  const first = s.putIfAbsent('k', 'first')
  const plain = s.put('other', 'x')
  const second = s.putIfAbsent('k', 'second')
  const del = s.delete('nothing')
  t.deepEqual(await Promise.all([first, second]), [true, false])
  await plain
  t.false(await del)
  t.is(s.get('k').toString(), 'first')
  t.is(s.get('other').toString(), 'x')
  await s.close()
})

test('compareAndSet compares bytes, absence and versions, and deletes with undefined', async (t) => {
  const s = Store.openSync(tmpStore())
  t.true(s.compareAndSetSync('k', undefined, 'A'))
  t.false(s.compareAndSetSync('k', undefined, 'B'))
  t.false(s.compareAndSetSync('k', 'B', 'C'))
  t.true(s.compareAndSetSync('k', Buffer.from('A'), 'B'))
  const v = s.versionOf('k')
  t.is(typeof v, 'bigint')
  t.true(await s.compareAndSet('k', { version: v }, 'A'))
  // A→B→A: the bytes are the same again, the version is not.
  t.not(s.versionOf('k'), v)
  t.false(await s.compareAndSet('k', { version: v }, 'X'))
  t.true(s.compareAndSetSync('k', 'A', undefined))
  t.is(s.get('k'), undefined)
  t.is(s.versionOf('k'), undefined)
  t.false(s.compareAndSetSync('k', { version: v }, 'Y'))
  await s.close()
})

test('versions change with every write and survive compaction and reopening', async (t) => {
  const p = tmpStore()
  let s = Store.openSync(p)
  s.putSync('a', '1')
  const a1 = s.versionOf('a')
  s.putSync('b', '1')
  t.is(s.versionOf('a'), a1, 'another key\'s write leaves it')
  s.putSync('a', '1')
  const a2 = s.versionOf('a')
  t.true(a2 > a1, 'the same bytes again get a new version')
  for (let i = 0; i < 100; i++) s.putSync(`x${i}`, 'y')
  const before = { a: s.versionOf('a'), b: s.versionOf('b'), x5: s.versionOf('x5') }
  await s.compact()
  t.deepEqual({ a: s.versionOf('a'), b: s.versionOf('b'), x5: s.versionOf('x5') }, before)
  await s.close()
  s = Store.openSync(p)
  t.deepEqual({ a: s.versionOf('a'), b: s.versionOf('b'), x5: s.versionOf('x5') }, before)
  s.putSync('a', '1')
  t.true(s.versionOf('a') > before.x5, 'a write after compaction is newer than any before')
  await s.close()
})

test('conditional writes refuse bad arguments with coded errors and write nothing', async (t) => {
  const s = Store.openSync(tmpStore())
  const size = s.stats().fileBytes
  t.throws(() => s.putIfAbsentSync('', 'v'), { code: 'ERR_INVALID_KEY' })
  t.throws(() => s.putIfAbsentSync('k', 5), { code: 'ERR_INVALID_ARG_TYPE', instanceOf: TypeError })
  t.throws(() => s.compareAndSetSync('k', 5, 'v'), { code: 'ERR_INVALID_ARG_TYPE', instanceOf: TypeError })
  t.throws(() => s.compareAndSetSync('k', { version: 'x' }, 'v'), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => s.compareAndSetSync('k', { version: -1n }, 'v'), { code: 'ERR_OUT_OF_RANGE', instanceOf: RangeError })
  t.throws(() => s.compareAndSetSync('k', { version: 1n << 64n }, 'v'), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => s.compareAndSetSync('k', { version: 1.5 }, 'v'), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => s.compareAndSetSync('k', undefined, 7), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(s.compareAndSet('k', null, 'v'), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(s.putIfAbsent('k', {}), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => s.versionOf(''), { code: 'ERR_INVALID_KEY' })
  t.is(s.stats().fileBytes, size)
  t.is(s.get('k'), undefined)
  await s.close()
  t.throws(() => s.versionOf('k'), { code: 'ERR_STORE_CLOSED' })
  await t.throwsAsync(s.putIfAbsent('k', 'v'), { code: 'ERR_STORE_CLOSED' })
})

test('worker threads claiming the same keys: exactly one winner per key', async (t) => {
  const p = tmpStore()
  const s = Store.openSync(p)
  const keys = 300
  const runs = [
    runWorker({ path: p, mode: 'claim', how: 'absent', keys, id: 'w0' }),
    runWorker({ path: p, mode: 'claim', how: 'cas', keys, id: 'w1' }),
    runWorker({ path: p, mode: 'claim-async', keys, id: 'w2' }),
    runWorker({ path: p, mode: 'claim', how: 'absent', keys, id: 'w3' })
  ]
  // The main thread claims too, through the per-tick batch.
  const mine = await Promise.all(Array.from({ length: keys }, (_, i) => s.putIfAbsent(`claim${i}`, 'main')))
  const results = await Promise.all(runs)
  const winners = new Array(keys).fill(0)
  results.forEach((won, w) => {
    for (const i of won) {
      winners[i]++
      t.is(s.get(`claim${i}`).toString(), `w${w}`)
    }
  })
  mine.forEach((won, i) => {
    if (won) {
      winners[i]++
      t.is(s.get(`claim${i}`).toString(), 'main')
    }
  })
  t.deepEqual(winners, new Array(keys).fill(1))
  await s.close()
})

test('worker threads incrementing by compareAndSet on a version lose no update', async (t) => {
  const p = tmpStore()
  const s = Store.openSync(p)
  s.putSync('counter', '0')
  await Promise.all([0, 1, 2].map(() => runWorker({ path: p, mode: 'increment', how: 'version', n: 200 })))
  t.is(s.get('counter').toString(), '600')
  await s.close()
})
