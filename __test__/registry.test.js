'use strict'
// The process-wide table of open engines: opens of different paths never wait for each
// other, and an open racing the close of the last Store of a path never sees its lock.
const test = require('ava')
const fs = require('node:fs')
const { Worker } = require('node:worker_threads')
const { Store } = require('..')
const { tmpStore } = require('./helpers.js')

/** Opens `p` with the test fault `gate:<gate>`: the open waits until `gate` exists. */
function gatedOpen (p, gate, options) {
  process.env.SIMD_R_DRIVE_TEST_FAULT = `gate:${gate}`
  try {
    return Store.open(p, options)
  } finally {
    delete process.env.SIMD_R_DRIVE_TEST_FAULT
  }
}

test('an open in progress on the threadpool does not hold up openSync, open or close of another path', async (t) => {
  const big = tmpStore()
  const gate = `${big}.gate`
  const other = tmpStore()
  const s0 = Store.openSync(other)
  s0.putSync('a', '1')
  const opening = gatedOpen(big, gate)
  // The threadpool task has started (its open reads the fault when it is made, and waits at
  // the gate until the file exists); give it a moment to be inside.
  await new Promise((resolve) => setTimeout(resolve, 100))
  const s1 = Store.openSync(other, { readOnly: true })
  const s2 = Store.openSync(tmpStore())
  await s0.close()
  // The gated open is still waiting: everything above ran while it was in progress.
  t.false(fs.existsSync(`${gate}.passed`), 'openSync waited for an open of another path')
  fs.writeFileSync(gate, '')
  const s = await opening
  t.true(fs.existsSync(`${gate}.passed`))
  t.is(s1.get('a').toString(), '1')
  await Promise.all([s.close(), s1.close(), s2.close()])
})

test('a second open of a path that is being opened waits for the first and shares its engine', async (t) => {
  const p = tmpStore()
  const gate = `${p}.gate`
  const first = gatedOpen(p, gate)
  await new Promise((resolve) => setTimeout(resolve, 100))
  const second = Store.open(p)
  const readOnly = Store.open(p, { readOnly: true })
  await new Promise((resolve) => setTimeout(resolve, 50))
  fs.writeFileSync(gate, '')
  const [a, b, r] = await Promise.all([first, second, readOnly])
  await a.put('k', 'v')
  t.is(b.get('k').toString(), 'v')
  t.is(r.get('k').toString(), 'v', 'the read-only open shares the writer that was opening')
  await Promise.all([a.close(), b.close(), r.close()])
})

test.serial('worker threads looping open, put, close on one path never get ERR_STORE_LOCKED, and every put is kept', async (t) => {
  const p = tmpStore()
  const ROUNDS = 500
  const code = `
    const { workerData, parentPort } = require('node:worker_threads')
    const { Store } = require(${JSON.stringify(require.resolve('..'))})
    ;(async () => {
      const failures = []
      for (let i = 0; i < workerData.rounds; i++) {
        let s
        try {
          s = Store.openSync(workerData.path)
        } catch (e) {
          failures.push(e.code || e.message)
          continue
        }
        s.putSync('w' + workerData.id + '-' + i, String(i))
        await s.close()
      }
      parentPort.postMessage(failures)
    })()
  `
  const run = (id) => new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { path: p, id, rounds: ROUNDS } })
    w.once('message', resolve)
    w.once('error', reject)
  })
  const failures = (await Promise.all([run(0), run(1)])).flat()
  t.deepEqual(failures, [])
  const s = Store.openSync(p)
  t.is(s.size, 2 * ROUNDS - failures.length)
  for (const id of [0, 1]) {
    for (let i = 0; i < ROUNDS; i++) t.is(s.get(`w${id}-${i}`)?.toString(), String(i))
  }
  await s.close()
})
