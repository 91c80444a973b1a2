'use strict'
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const { Store } = require('..')
const { tmpDir, tmpStore } = require('./helpers.js')

/** A worker that opens `path` (sharing the engine) and puts w00000000, w00000001, ... with
 * putSync until told to stop, publishing how many were acknowledged in `shared[0]`. */
const WRITER = `
const { workerData, parentPort } = require('node:worker_threads')
const { Store } = require(workerData.lib)
const s = Store.openSync(workerData.path, { autoCompact: false })
const shared = new Int32Array(workerData.shared)
const value = Buffer.alloc(200, 7)
let i = 0
while (Atomics.load(shared, 1) === 0) {
  value.writeUInt32LE(i, 0)
  s.putSync('w' + String(i).padStart(8, '0'), value)
  i++
  Atomics.store(shared, 0, i)
}
s.close().then(() => parentPort.postMessage(i))
`

function leftovers (dir) {
  return fs.readdirSync(dir).filter((n) => n.includes('.backup-'))
}

async function waitFor (cond) {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 1))
}

test('backup during heavy writes from a worker and a compaction is a verified prefix of the commits', async (t) => {
  const p = tmpStore()
  // The test's own compaction, not an automatic one before it (the overwrites below are
  // more than half the file and 64 MiB).
  const s = await Store.open(p, { autoCompact: false })
  // Dead data for the compaction to skip, and live data for it to copy while the backup runs.
  const big = Buffer.alloc(4096, 1)
  for (let r = 0; r < 10; r++) await s.putMany(Array.from({ length: 2000 }, (_, i) => [`k${i}`, big]))
  const shared = new Int32Array(new SharedArrayBuffer(8))
  const w = new Worker(WRITER, { eval: true, workerData: { lib: path.join(__dirname, '..'), path: p, shared: shared.buffer } })
  const done = new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
  await waitFor(() => Atomics.load(shared, 0) >= 2000)
  const compaction = s.compact()
  const generationBefore = s.stats().generation
  const ackedBefore = Atomics.load(shared, 0)
  const dest = path.join(tmpDir(), 'copy.srd')
  const r = await s.backup(dest)
  const ackedAfter = Atomics.load(shared, 0)
  const generationAfter = s.stats().generation
  await compaction
  Atomics.store(shared, 1, 1)
  const written = await done
  t.log(`backup of ${r.bytes} bytes in ${r.durationMs.toFixed(1)} ms; generation ${generationBefore} -> ${generationAfter} meanwhile; ${ackedBefore} puts acknowledged before the call, ${ackedAfter} when it resolved, ${written} in all`)
  t.true(written > ackedAfter, 'the worker kept writing after the backup')
  // The copy is of the file the compaction was replacing (80 MB with its dead data; the
  // compacted file has 8 MB): the backup read it to the end while it was being replaced.
  t.true(r.bytes > 80e6, String(r.bytes))
  t.is(r.path, dest)
  t.is(r.bytes, fs.statSync(dest).size)
  t.deepEqual(leftovers(path.dirname(dest)), [])

  const c = await Store.open(dest, { readOnly: true })
  await c.verify()
  for (let i = 0; i < 2000; i++) t.true(c.get(`k${i}`).equals(big))
  let n = 0
  for (;;) {
    const v = c.get('w' + String(n).padStart(8, '0'))
    if (v === undefined) break
    if (v.readUInt32LE(0) !== n) t.fail(`w${n} has the value of ${v.readUInt32LE(0)}`)
    n++
  }
  t.true(n >= ackedBefore, `every put acknowledged before the call is there (${n} >= ${ackedBefore})`)
  t.true(n <= ackedAfter + 1, `nothing committed after the backup resolved (${n} <= ${ackedAfter} + 1)`)
  t.is(c.stats().entries, 2000 + n, 'and nothing else: the keys there are a prefix of the puts')
  t.is(r.keys, 2000 + n)
  await c.close()
  await s.close()
})

test('backup includes the writes of this tick and those still on the threadpool', async (t) => {
  const s = await Store.open(tmpStore())
  const big = Buffer.alloc(2 << 20, 3) // over the inline limit: written on the threadpool
  const writes = [s.put('big', big), s.put('small', 'x'), s.delete('nothing')]
  const dest = path.join(tmpDir(), 'copy.srd')
  const r = await s.backup(dest)
  await Promise.all(writes)
  t.is(r.keys, 2)
  const c = await Store.open(dest)
  t.true(c.get('big').equals(big))
  t.is(c.get('small').toString(), 'x')
  await c.close()
  await s.close()
})

test('backup refuses an existing path with ERR_EXISTS and leaves it untouched', async (t) => {
  const s = await Store.open(tmpStore())
  await s.put('a', '1')
  const dir = tmpDir()
  const dest = path.join(dir, 'taken')
  fs.writeFileSync(dest, 'not yours')
  const err = await t.throwsAsync(s.backup(dest), { code: 'ERR_EXISTS', message: /left untouched/ })
  t.is(err.path, undefined) // not an I/O error: no errno or syscall
  t.is(fs.readFileSync(dest, 'utf8'), 'not yours')
  // An existing store is refused the same way.
  const other = path.join(dir, 'other.srd')
  await s.backup(other)
  const before = fs.readFileSync(other)
  await s.put('b', '2')
  await t.throwsAsync(s.backup(other), { code: 'ERR_EXISTS' })
  t.true(fs.readFileSync(other).equals(before))
  t.deepEqual(leftovers(dir), [])
  await t.throwsAsync(s.backup(path.join(dir, 'no', 'such', 'dir')), { code: 'ERR_STORE_IO' })
  await s.close()
})

test('backup refuses bad arguments and a closed store', async (t) => {
  const s = await Store.open(tmpStore())
  for (const bad of [undefined, '', 42, null, 'a\0b']) {
    await t.throwsAsync(s.backup(bad), { code: 'ERR_INVALID_ARG_TYPE', instanceOf: TypeError })
  }
  await s.close()
  await t.throwsAsync(s.backup(path.join(tmpDir(), 'x')), { code: 'ERR_STORE_CLOSED' })
})

test('a backup of a read-only store works and opens', async (t) => {
  const p = tmpStore()
  const w = await Store.open(p)
  await w.put('a', '1')
  await w.close()
  const s = await Store.open(p, { readOnly: true })
  const dest = path.join(tmpDir(), 'copy.srd')
  await s.backup(dest)
  const c = await Store.open(dest)
  t.is(c.get('a').toString(), '1')
  await c.verify()
  await c.close()
  await s.close()
})
