'use strict'
// I/O faults injected through the engine's storage seam (SIMD_R_DRIVE_TEST_FAULT, read when
// a store is opened): the failing call reports a clear code, the store refuses writes until
// reopened (except after a full disk in a write: see full-disk.test.js), and reopening loses
// nothing that was acknowledged.
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

async function writeUntilFailure (s, prefix) {
  const acked = []
  for (let i = 0; i < 10000; i++) {
    try {
      await s.put(`${prefix}${i}`, Buffer.alloc(1000, i & 0xff))
      acked.push(i)
    } catch (e) {
      return { acked, error: e }
    }
  }
  return { acked, error: null }
}

test('a disk that stays full: ERR_STORE_DISK_FULL for every write, reads go on, nothing acknowledged lost', async (t) => {
  const p = tmpStore()
  const s = openFaulty(p, 'write:3:ENOSPC')
  const { acked, error } = await writeUntilFailure(s, 'k')
  t.truthy(error)
  t.is(error.code, 'ERR_STORE_DISK_FULL')
  t.regex(error.message, /No space left|ENOSPC|os error 28/i)
  // Three writes succeed: the header, the first put, then either the zeros kept ahead of
  // the data (a thread of their own writes them) or the second put, whichever comes first.
  t.true(acked.length >= 1 && acked.length <= 2, `${acked.length} puts acknowledged`)
  await t.throwsAsync(s.put('more', 'x'), { code: 'ERR_STORE_DISK_FULL' })
  t.throws(() => s.putSync('more', 'x'), { code: 'ERR_STORE_DISK_FULL' })
  t.is(s.get('k0').length, 1000, 'reads go on')
  await s.close()
  const r = await Store.open(p)
  for (const i of acked) t.true(r.get(`k${i}`).equals(Buffer.alloc(1000, i & 0xff)))
  t.is(r.get(`k${acked.length}`), undefined, 'the failed write is not there')
  await r.put('after', 'reopen')
  await r.close()
})

test('a failing fsync under sync: true rejects with ERR_STORE_IO and poisons the store', async (t) => {
  const p = tmpStore()
  const s = openFaulty(p, 'sync:2:EIO', { sync: true })
  await s.put('a', '1') // creation synced the header; this is the second sync
  const e = await t.throwsAsync(s.put('b', '2'))
  t.is(e.code, 'ERR_STORE_IO')
  await t.throwsAsync(s.flush(), { code: 'ERR_STORE_POISONED' })
  await t.throwsAsync(s.put('c', '3'), { code: 'ERR_STORE_POISONED' })
  // 'b' reached the OS (reads see it) but no sync can now prove it reached the disk.
  await t.throwsAsync(s.close(), { code: 'ERR_STORE_IO', message: /may not be durable/ })
  const r = await Store.open(p)
  t.is(r.get('a').toString(), '1')
  t.false(r.has('c'))
  await r.close()
})

test('close() after a failed fsync rejects: the writes acknowledged before it may not be durable', async (t) => {
  const p = tmpStore()
  const s = openFaulty(p, 'sync:1:EIO') // creation synced the header
  await s.put('a', '1')
  const e = await t.throwsAsync(s.flush())
  t.is(e.code, 'ERR_STORE_IO')
  await t.throwsAsync(s.flush(), { code: 'ERR_STORE_POISONED' })
  const c = await t.throwsAsync(s.close())
  t.is(c.code, 'ERR_STORE_IO')
  t.regex(c.message, /may not be durable/)
  t.true(s.closed)
})

test('a full disk during compaction: the compaction fails, the store keeps every acknowledged write', async (t) => {
  const p = tmpStore()
  const seed = await Store.open(p)
  for (let i = 0; i < 200; i++) await seed.put(`k${i}`, Buffer.alloc(5000, i & 0xff))
  for (let i = 0; i < 200; i += 2) await seed.put(`k${i}`, Buffer.alloc(5000, 0xee))
  await seed.close()
  // The compaction's own writes come after the first one: fail its second.
  const s = openFaulty(p, 'write:1:ENOSPC')
  const e = await t.throwsAsync(s.compact())
  t.is(e.code, 'ERR_STORE_DISK_FULL')
  await t.throwsAsync(s.put('x', 'y'), { code: 'ERR_STORE_DISK_FULL' })
  t.is(s.get('k1')[0], 1)
  await s.close()
  const r = await Store.open(p)
  for (let i = 0; i < 200; i++) t.is(r.get(`k${i}`)[4999], i % 2 === 0 ? 0xee : i & 0xff)
  await r.compact()
  t.is(r.size, 200)
  await r.close()
})

test('a failing rename at the end of compaction leaves the old store whole', async (t) => {
  const p = tmpStore()
  const seed = await Store.open(p)
  for (let i = 0; i < 100; i++) await seed.put(`k${i}`, `v${i}`)
  await seed.close()
  const s = openFaulty(p, 'rename:0:EIO')
  const e = await t.throwsAsync(s.compact())
  t.is(e.code, 'ERR_STORE_IO')
  await s.close()
  const r = await Store.open(p)
  t.is(r.size, 100)
  t.is(r.get('k42').toString(), 'v42')
  await r.close()
})

test('a malformed fault specification is refused', (t) => {
  t.throws(() => openFaulty(tmpStore(), 'write:many:ENOSPC'), { code: 'ERR_INVALID_ENV' })
})
