'use strict'
// A full disk is not fatal (issue 16): a write that fails with ENOSPC rejects exactly the
// promises of its batch with ERR_STORE_DISK_FULL, poisons nothing, and later writes succeed
// once there is space, without a reopen. Injected through the engine's storage seam:
// `write:<n>:ENOSPC:<k>` lets n writes through, fails the next k (each puts half of its
// bytes on disk first, as a full disk does), then lets every later one through.
const fs = require('node:fs')
const test = require('ava')
const { Store } = require('..')
const { tmpStore } = require('./helpers.js')

function openFaulty (path, spec, options) {
  process.env.SIMD_R_DRIVE_TEST_FAULT = spec
  try {
    return Store.openSync(path, options)
  } finally {
    delete process.env.SIMD_R_DRIVE_TEST_FAULT
  }
}

const value = (i, n = 1000) => Buffer.alloc(n, i & 0xff)

test('a batch that hits a full disk rejects exactly its own promises; the next batches commit', async (t) => {
  const p = tmpStore()
  // Creating the store writes its header and the first batch its entries; then a thread of
  // the store's own writes the preallocated zeros up to 2 MiB, in 32 writes of at most
  // 64 KiB (the engine's BACKGROUND_PIECE), awaited below; the second batch's write, the
  // 35th, fails (the zero-fill of what it left, the next write, is let through).
  const s = openFaulty(p, 'write:34:ENOSPC:1')
  const first = [s.put('a0', value(0)), s.put('a1', value(1)), s.putMany([['a2', value(2)]])]
  await Promise.all(first)
  for (let i = 0; i < 500 && fs.statSync(p).size < 2 << 20; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.is(fs.statSync(p).size, 2 << 20, 'the zeros were written off the event loop')
  const failed = [s.put('b0', value(3)), s.put('b1', value(4)), s.delete('a0'), s.putMany([['b2', value(5)]])]
  const settled = await Promise.allSettled(failed)
  for (const r of settled) {
    t.is(r.status, 'rejected')
    t.is(r.reason.code, 'ERR_STORE_DISK_FULL')
    t.regex(r.reason.message, /the store stays open/)
  }
  t.is(s.get('a0').length, 1000, 'the failed delete did nothing')
  t.false(s.has('b0'))
  // The next tick's batch commits: space is free again.
  await Promise.all([s.put('c0', value(6)), s.put('c1', value(7))])
  t.true(await s.delete('a1'))
  s.putSync('d', 'sync')
  s.putManySync([['e0', 'x'], ['e1', 'y']])
  await s.compact()
  await s.close()
  const r = await Store.open(p)
  t.deepEqual([...r.keys()].map(String).sort(), ['a0', 'a2', 'c0', 'c1', 'd', 'e0', 'e1'])
  t.true(r.get('c1').equals(value(7)))
  await r.close()
})

test('putManySync and putSync that hit a full disk throw ERR_STORE_DISK_FULL; the store goes on', async (t) => {
  const p = tmpStore()
  // The header; then the batch's first piece fails, the zero-fill of its half, and the
  // putSync; the zero-fill after that is let through.
  const s = openFaulty(p, 'write:1:ENOSPC:3')
  const big = []
  for (let i = 0; i < 12; i++) big.push([`big${i}`, value(i, 1 << 20)])
  t.throws(() => s.putManySync(big), { code: 'ERR_STORE_DISK_FULL' })
  t.throws(() => s.putSync('one', 'x'), { code: 'ERR_STORE_DISK_FULL' })
  t.is(s.size, 0)
  s.putManySync(big.slice(0, 6))
  s.putSync('one', 'x')
  t.is(s.size, 7)
  await s.close()
  const r = await Store.open(p)
  t.is(r.size, 7)
  t.true(r.get('big5').equals(value(5, 1 << 20)))
  await r.close()
})

test('a compaction that hits a full disk rejects with ERR_STORE_DISK_FULL, deletes its file, and poisons nothing', async (t) => {
  const p = tmpStore()
  const seed = await Store.open(p)
  for (let i = 0; i < 100; i++) await seed.put(`k${i}`, value(i, 5000))
  for (let i = 0; i < 100; i += 2) await seed.put(`k${i}`, value(0xee, 5000))
  await seed.close()
  const s = openFaulty(p, 'write:1:ENOSPC:1')
  const e = await t.throwsAsync(s.compact())
  t.is(e.code, 'ERR_STORE_DISK_FULL')
  t.false(require('node:fs').existsSync(`${p}.compact`))
  await s.put('after', 'ok')
  await s.flush()
  const report = await s.compact()
  t.true(report.reclaimedBytes > 0)
  await s.close()
  const r = await Store.open(p)
  t.is(r.size, 101)
  t.is(r.get('k2')[0], 0xee)
  await r.close()
})

test('a stream whose value hits a full disk fails; the store goes on', async (t) => {
  const p = tmpStore()
  const s = openFaulty(p, 'write:1:ENOSPC:1')
  const w = s.createWriteStream('streamed')
  const failed = new Promise((resolve) => w.on('error', resolve))
  w.end(value(9, 3 << 20))
  const e = await failed
  t.is(e.code, 'ERR_STORE_DISK_FULL')
  t.false(s.has('streamed'))
  const again = s.createWriteStream('streamed')
  await new Promise((resolve, reject) => {
    again.on('finish', resolve)
    again.on('error', reject)
    again.end(value(9, 3 << 20))
  })
  t.true(s.get('streamed').equals(value(9, 3 << 20)))
  await s.close()
})

test('a failed fsync reporting ENOSPC still poisons the store', async (t) => {
  const p = tmpStore()
  const s = openFaulty(p, 'sync:1:ENOSPC:1')
  await s.put('a', '1')
  const e = await t.throwsAsync(s.flush())
  t.is(e.code, 'ERR_STORE_DISK_FULL')
  t.regex(e.message, /reopen/)
  await t.throwsAsync(s.put('b', '2'), { code: 'ERR_STORE_POISONED' })
  await t.throwsAsync(s.close(), { code: 'ERR_STORE_IO', message: /may not be durable/ })
})
