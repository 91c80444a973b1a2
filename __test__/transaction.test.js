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

test('transactionSync sees the store and its own writes, commits one batch and returns fn\'s result', async (t) => {
  const s = Store.openSync(tmpStore())
  s.putSync('a', '1')
  const size = s.stats().fileBytes
  const r = s.transactionSync((tx) => {
    t.is(tx.get('a').toString(), '1')
    tx.put('a', '2')
    t.is(tx.get('a').toString(), '2')
    t.is(s.get('a').toString(), '1', 'the store does not see it before the commit')
    tx.put(Buffer.from('b'), 'x')
    t.true(tx.has('b'), 'a string and a Buffer name the same key')
    t.true(tx.delete('b'))
    t.false(tx.has('b'))
    t.is(tx.get('b'), undefined)
    t.false(tx.delete('missing'))
    return 'result'
  })
  t.is(r, 'result')
  t.is(s.get('a').toString(), '2')
  t.is(s.get('b'), undefined)
  // Two puts (32 bytes each), a delete (24) and a commit record (24): one batch.
  t.is(s.stats().fileBytes, size + 32 + 32 + 24 + 24)
  await s.close()
})

test('a throwing fn writes nothing and its error comes out unchanged', async (t) => {
  const s = Store.openSync(tmpStore())
  const size = s.stats().fileBytes
  const boom = new Error('boom')
  const e = t.throws(() => s.transactionSync((tx) => {
    tx.put('a', '1')
    throw boom
  }))
  t.is(e, boom)
  const thrown = { not: 'an error' }
  let caught
  try {
    s.transactionSync(() => { throw thrown })
  } catch (x) {
    caught = x
  }
  t.is(caught, thrown, 'a thrown non-error too')
  t.is(s.get('a'), undefined)
  t.is(s.stats().fileBytes, size)
  await t.throwsAsync(s.transaction(() => { throw boom }), { is: boom })
  t.is(s.stats().fileBytes, size)
  s.putSync('after', 'ok')
  t.is(s.get('after').toString(), 'ok')
  await s.close()
})

test('writes staged before the transaction commit first', async (t) => {
  const s = Store.openSync(tmpStore())
  const p = s.put('n', '1')
  const seen = s.transactionSync((tx) => tx.get('n').toString())
  t.is(seen, '1')
  await p
  await s.close()
})

test('writes to the store, nested transactions and a stale tx are refused, nothing written', async (t) => {
  const p = tmpStore()
  const s = Store.openSync(p)
  const twin = Store.openSync(p)
  const size = s.stats().fileBytes
  let kept
  const err = t.throws(() => s.transactionSync((tx) => {
    kept = tx
    tx.put('a', '1')
    t.throws(() => s.putSync('x', '1'), { code: 'ERR_INVALID_STATE' })
    t.throws(() => s.clearSync(), { code: 'ERR_INVALID_STATE' })
    t.throws(() => s.transactionSync(() => {}), { code: 'ERR_INVALID_STATE' })
    // Another handle of the same engine, on this thread: refused by the engine, not hung.
    t.throws(() => twin.putSync('y', '1'), { code: 'ERR_INVALID_STATE' })
    throw new Error('stop')
  }))
  t.is(err.message, 'stop')
  t.throws(() => kept.get('a'), { code: 'ERR_INVALID_STATE' })
  t.throws(() => kept.put('a', '1'), { code: 'ERR_INVALID_STATE' })
  t.is(s.stats().fileBytes, size)
  await t.throwsAsync(s.put('z', 1), { code: 'ERR_INVALID_ARG_TYPE' })
  await s.close()
  await twin.close()
})

test('an async fn is refused: nothing is written and its rejection is not left unhandled', async (t) => {
  const s = Store.openSync(tmpStore())
  const size = s.stats().fileBytes
  t.throws(() => s.transactionSync(async (tx) => { tx.put('a', '1') }), { code: 'ERR_INVALID_STATE', message: /promise/ })
  t.throws(() => s.transactionSync(async () => { throw new Error('inner') }), { code: 'ERR_INVALID_STATE' })
  await t.throwsAsync(s.transaction(async () => {}), { code: 'ERR_INVALID_STATE' })
  t.throws(() => s.transactionSync('nope'), { code: 'ERR_INVALID_ARG_TYPE', instanceOf: TypeError })
  t.is(s.stats().fileBytes, size)
  t.is(s.get('a'), undefined)
  await s.close()
})

test('transaction resolves at commit, durable with sync: true', async (t) => {
  const p = tmpStore()
  const s = Store.openSync(p, { sync: true })
  const r = await s.transaction((tx) => {
    tx.put('a', '1')
    return 7
  })
  t.is(r, 7)
  t.is(s.get('a').toString(), '1')
  t.is(s.transactionSync((tx) => tx.get('a').toString()), '1')
  await s.close()
})

test('a worker hammering increments in transactions beside the main thread loses no update', async (t) => {
  const p = tmpStore()
  const s = Store.openSync(p)
  s.putSync('counter', '0')
  const workers = [runWorker({ path: p, mode: 'increment', how: 'tx', n: 300 }), runWorker({ path: p, mode: 'increment', how: 'tx', n: 300 })]
  let mine = 0
  const until = Date.now() + 300
  while (Date.now() < until || mine < 100) {
    s.transactionSync((tx) => tx.put('counter', String(Number(tx.get('counter').toString()) + 1)))
    mine++
    if (mine % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  await Promise.all(workers)
  t.is(s.get('counter').toString(), String(600 + mine))
  await s.close()
})
