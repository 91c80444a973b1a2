'use strict'
// The expiry sweep through the binding: clearExpired() removes expired entries as expiry
// records (stats, the change feed's 'expire', 'change' events, followers, the CLI's tail),
// they stay gone after a reopen with the clock moved back, the automatic sweep of a
// writable store does the same by itself, and expirySweep: false turns it off. The clock is
// moved with SIMD_R_DRIVE_TEST_CLOCK_OFFSET_MS, as in expiry.test.js (read at each use by a
// store opened while it is set).

const test = require('ava')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Store } = require('../index.js')
const { CLI } = require('./helpers.js')

const OFFSET = 'SIMD_R_DRIVE_TEST_CLOCK_OFFSET_MS'
process.env[OFFSET] = '0'

function tmp (t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srd-sweep-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, 's.srd')
}

function move (ms) {
  process.env[OFFSET] = String(ms)
}

async function until (what, cond, ms = 10_000) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (cond()) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`timed out waiting for ${what}`)
}

async function feed (s, since) {
  const out = []
  for await (const item of s.changes({ since })) {
    for (const c of item.changes) out.push([c.type, String(c.key)])
  }
  return out
}

test.serial('clearExpired removes expired entries: stats, the feed says expire, and they stay gone after a reopen with the clock back', async (t) => {
  move(0)
  const p = tmp(t)
  const s = await Store.open(p, { expirySweep: false, autoCompact: false })
  const start = s.cursor()
  const many = []
  for (let i = 0; i < 500; i++) many.push([`k${i}`, Buffer.alloc(100, i), { ttl: 1000 }])
  await s.putMany(many)
  await s.put('stays', 'x')
  await s.put('gone', 'y')
  await s.delete('gone')
  const follower = await Store.open(p, { readOnly: true })
  const followed = []
  follower.on('change', (c) => { for (const x of c.changes) followed.push([x.type, String(x.key)]) })
  t.is(await s.clearExpired(), 0, 'nothing has expired yet')
  const before = s.stats()
  t.is(before.expiredEntries, 0)

  move(5000)
  t.is(s.size, 501, 'expired but not swept: still counted')
  t.is(s.stats().liveBytes, before.liveBytes)
  t.is(await s.clearExpired(), 500)
  const after = s.stats()
  t.is(after.expiredEntries, 500)
  t.is(s.size, 1)
  t.true(after.liveBytes < before.liveBytes / 50, `${after.liveBytes} against ${before.liveBytes}`)
  t.true(after.reclaimableBytes > before.reclaimableBytes + 500 * 100)
  t.is(await s.clearExpired(), 0)

  const changes = await feed(s, start)
  t.is(changes.filter(([type]) => type === 'expire').length, 500)
  t.deepEqual(changes.filter(([type]) => type !== 'put'), [['delete', 'gone'], ...many.map(([k]) => ['expire', k])])
  await until('the follower', () => follower.size === 1)
  await until("the follower's change events", () => followed.length === 500)
  t.deepEqual(followed, many.map(([k]) => ['expire', k]))
  await follower.close()
  await s.close()

  // The clock back before the expiry: nothing comes back.
  move(0)
  const again = await Store.open(p, { expirySweep: false })
  t.is(again.size, 1)
  t.is(again.get('k0'), undefined)
  t.is(again.get('k499'), undefined)
  t.is(again.get('stays').toString(), 'x')
  await again.close()
  const ro = await Store.open(p, { readOnly: true })
  await t.throwsAsync(ro.clearExpired(), { code: 'ERR_STORE_READ_ONLY' })
  await ro.close()
})

test.serial('the automatic sweep removes expired entries by itself, and the change event says expire', async (t) => {
  move(0)
  const p = tmp(t)
  const s = await Store.open(p)
  const seen = []
  s.on('change', (c) => { for (const x of c.changes) seen.push([x.type, String(x.key)]) })
  await s.put('a', '1', { ttl: 500 })
  await s.put('b', '2')
  move(2000)
  await until('the sweep', () => s.stats().expiredEntries === 1)
  t.is(s.size, 1)
  await until('the change event', () => seen.some(([type]) => type === 'expire'))
  t.deepEqual(seen.filter(([type]) => type === 'expire'), [['expire', 'a']])
  await s.close()
  move(0)
})

test.serial('expirySweep: false leaves expired entries to clearExpired, and bad values are refused', async (t) => {
  move(0)
  const p = tmp(t)
  const s = await Store.open(p, { expirySweep: false })
  await s.put('a', '1', { ttl: 500 })
  move(2000)
  await new Promise((resolve) => setTimeout(resolve, 2500))
  t.is(s.stats().expiredEntries, 0)
  t.is(s.size, 1, 'expired, still counted: nothing swept it')
  t.is(await s.clearExpired(), 1)
  t.is(s.size, 0)
  await s.close()
  move(0)
  for (const bad of ['yes', 1, null]) {
    const e = await t.throwsAsync(Store.open(tmp(t), { expirySweep: bad }))
    t.is(e.code, 'ERR_INVALID_ARG_TYPE', String(bad))
  }
})

test.serial('tail prints an expiry as {"type":"expire"}', async (t) => {
  move(0)
  const p = tmp(t)
  const s = await Store.open(p, { expirySweep: false })
  await s.put('a', '1', { ttl: 500 })
  const child = spawn(process.execPath, [CLI, 'tail', p, '--since', s.cursor()], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, [OFFSET]: '0' } })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  const done = new Promise((resolve) => child.on('close', (code) => resolve(code)))
  move(2000)
  t.is(await s.clearExpired(), 1)
  await until('the expire line', () => out.includes('expire'))
  t.deepEqual(JSON.parse(out.trim().split('\n').pop()).changes, [{ type: 'expire', key64: Buffer.from('a').toString('base64') }])
  child.kill('SIGINT')
  t.is(await done, 0)
  await s.close()
  move(0)
})

test.serial('swept bytes make automatic compaction due: a cache whose keys only expire compacts by itself', async (t) => {
  move(0)
  const p = tmp(t)
  const s = await Store.open(p, { expirySweep: false, autoCompact: { minReclaimableBytes: 4096, minRatio: 0.5 } })
  const many = []
  for (let i = 0; i < 500; i++) many.push([`k${i}`, Buffer.alloc(100, i), { ttl: 1000 }])
  await s.putMany(many)
  move(5000)
  await s.put('stays', 'x')
  t.is(s.stats().autoCompactions, 0, 'expired, unswept: nothing reclaimable')
  t.is(await s.clearExpired(), 500)
  await until('the automatic compaction', () => s.stats().autoCompactions === 1)
  t.is(s.size, 1)
  t.true(s.stats().fileBytes < 1024, `${s.stats().fileBytes} bytes`)
  await s.close()
  move(0)
})

test.serial('a store reopened with expired entries sweeps them by itself', async (t) => {
  move(0)
  const p = tmp(t)
  const s = await Store.open(p)
  await s.putMany([['a', '1', { ttl: 500 }], ['b', '2', { ttl: 500 }], ['c', '3']])
  await s.close()
  move(2000)
  const again = await Store.open(p)
  t.is(again.size, 3, 'expired, not swept yet')
  await until('the first pass', () => again.stats().expiredEntries === 2)
  t.is(again.size, 1)
  await again.close()
  move(0)
})
