'use strict'
// Native expiry through the binding: put/putSync/putMany/putManySync with { ttl } or
// { expiresAt }, expiresAt(key), every read path, followers, compaction, a clock moved by
// SIMD_R_DRIVE_TEST_CLOCK_OFFSET_MS (read by the binding at each use), and bad TTLs.

const test = require('ava')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Store } = require('../index.js')

const OFFSET = 'SIMD_R_DRIVE_TEST_CLOCK_OFFSET_MS'
process.env[OFFSET] = '0'

function tmp (t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srd-expiry-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, 's.srd')
}

function move (ms) {
  process.env[OFFSET] = String(ms)
}

test.serial('ttl and expiresAt expire for every read, then compaction drops them', async (t) => {
  move(0)
  const p = tmp(t)
  const s = await Store.open(p)
  const now = s.now()
  t.true(Math.abs(now - Date.now()) < 60_000)
  await s.put('a', 'A', { ttl: 1000 })
  s.putSync('b', 'B', { expiresAt: now + 5000 })
  await s.putMany([['c', 'C', { ttl: 1000 }], ['d', 'D']])
  s.putManySync([['e', 'E', { ttl: 1000 }], ['f', 'F', undefined]])
  t.true(s.expiresAt('a') >= now + 1000 && s.expiresAt('a') < now + 60_000)
  t.is(s.expiresAt('b'), now + 5000)
  t.is(s.expiresAt('d'), undefined)
  t.is(s.expiresAt('f'), undefined)
  t.is(s.get('a').toString(), 'A')
  const follower = await Store.open(p, { readOnly: true })
  t.is(follower.get('a').toString(), 'A')

  move(2000)
  for (const k of ['a', 'c', 'e']) {
    t.is(s.get(k), undefined, k)
    t.false(s.has(k), k)
    t.is(s.versionOf(k), undefined, k)
    t.is(s.expiresAt(k), undefined, k)
  }
  t.deepEqual(s.getMany(['a', 'b', 'd']).map((v) => v && v.toString()), [undefined, 'B', 'D'])
  t.deepEqual([...s.keys()].map(String).sort(), ['b', 'd', 'f'])
  t.is(follower.get('a'), undefined)
  t.false(follower.has('c'))
  // An expired key is absent for a conditional write.
  t.true(await s.putIfAbsent('a', 'again'))
  t.is(s.get('a').toString(), 'again')
  // putIfAbsent takes an expiry too; while it lives the key is not absent.
  t.true(s.putIfAbsentSync('g', 'G', { ttl: 500 }))
  t.false(await s.putIfAbsent('g', 'other', { ttl: 500 }))
  t.true(s.expiresAt('g') > s.now())
  move(2600)
  t.is(s.get('g'), undefined)
  t.true(await s.putIfAbsent('g', 'G2', { expiresAt: s.now() + 10_000 }))
  t.is(s.get('g').toString(), 'G2')
  await s.delete('g')
  move(2000)

  move(1000) // back: nothing comes back while open
  t.is(s.get('c'), undefined)
  move(2000)
  await s.compact()
  t.is(s.size, 4, 'the expired keys are gone from size after compaction')
  t.deepEqual([...s.keys()].map(String).sort(), ['a', 'b', 'd', 'f'])
  t.is(s.expiresAt('b'), now + 5000)
  await follower.close()
  await s.close()
  move(0)
})

test.serial('expiry holds after reopen', async (t) => {
  move(0)
  const p = tmp(t)
  let s = await Store.open(p)
  await s.put('k', 'v', { ttl: 500 })
  await s.close()
  s = await Store.open(p)
  t.is(s.get('k').toString(), 'v')
  move(600)
  t.is(s.get('k'), undefined)
  await s.close()
  s = await Store.open(p)
  t.is(s.get('k'), undefined)
  await s.close()
  move(0)
})

test.serial('bad ttl and expiresAt are coded errors and write nothing', async (t) => {
  const s = await Store.open(tmp(t))
  const bad = [
    [{ ttl: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ ttl: NaN }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ ttl: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ ttl: Infinity }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ ttl: '100' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ expiresAt: -5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ expiresAt: new Date() }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ ttl: 1, expiresAt: 2 }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    [{ ttl: Number.MAX_SAFE_INTEGER }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['soon', TypeError, 'ERR_INVALID_ARG_TYPE']
  ]
  for (const [options, type, code] of bad) {
    const what = JSON.stringify(options)
    t.throws(() => s.putSync('k', 'v', options), { instanceOf: type, code }, what)
    await t.throwsAsync(s.put('k', 'v', options), { instanceOf: type, code }, what)
    t.throws(() => s.putManySync([['ok', 'v'], ['k', 'v', options]]), { instanceOf: type, code }, what)
    await t.throwsAsync(s.putMany([['ok', 'v'], ['k', 'v', options]]), { instanceOf: type, code }, what)
  }
  await s.flush()
  t.is(s.size, 0, 'nothing was written')
  t.is(s.get('ok'), undefined)
  await s.close()
})
