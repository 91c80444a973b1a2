'use strict'
const test = require('ava')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const { Store } = require('..')
const { tmpStore } = require('./helpers.js')

function runWorker (data) {
  return new Promise((resolve, reject) => {
    const w = new Worker(path.join(__dirname, 'fixtures', 'worker.js'), { workerData: data })
    w.once('message', resolve)
    w.once('error', reject)
  })
}

test('a worker opening the same path shares the engine and sees the main thread\'s writes', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  await s.put('main', 'hello')
  const got = await runWorker({ path: p, mode: 'read-then-write' })
  t.is(got, 'hello')
  t.is(s.get('from-worker').toString(), 'hi')
  await s.close()
})

test('many worker readers verify values while the main thread writes and compacts', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  await s.putMany(Array.from({ length: 2000 }, (_, i) => [`k${i}`, Buffer.alloc(64, i & 0xff)]))
  const readers = [0, 1, 2].map(() => runWorker({ path: p, mode: 'verify', ms: 1500 }))
  const stop = Date.now() + 1500
  let round = 0
  while (Date.now() < stop) {
    round++
    const batch = []
    for (let i = round % 7; i < 2000; i += 7) batch.push(s.put(`k${i}`, Buffer.alloc(64, i & 0xff)))
    await Promise.all(batch)
    if (round % 5 === 0) await s.compact()
  }
  const counts = await Promise.all(readers)
  for (const c of counts) t.true(typeof c === 'number' && c > 0, String(c))
  await s.close()
})

test('terminating a worker mid-write neither crashes nor loses acknowledged writes', async (t) => {
  const p = tmpStore()
  const w = new Worker(path.join(__dirname, 'fixtures', 'worker.js'), { workerData: { path: p, mode: 'write-forever' } })
  let acked = 0
  await new Promise((resolve) => w.on('message', (n) => { acked = n; if (n >= 300) resolve() }))
  await w.terminate()
  const s = await Store.open(p)
  for (let i = 0; i < acked; i++) t.is(s.get(`w${i}`)?.toString(), `v${i}`)
  await s.put('after', 'ok')
  await s.close()
  // The worker's handle was released with the worker: another process may write now.
  const again = await Store.open(p)
  t.is(again.get('after').toString(), 'ok')
  await again.close()
})
