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

test.serial('compareAndSet(Sync) gives the new value an expiry, also through sub-stores and encodings', async (t) => {
  move(0)
  const s = await Store.open(tmp(t))
  const now = s.now()
  s.putSync('k', 'a')
  t.true(s.compareAndSetSync('k', 'a', 'b', { ttl: 1000 }))
  t.true(s.expiresAt('k') >= now + 1000 && s.expiresAt('k') < now + 60_000)
  t.true(await s.compareAndSet('k', 'b', 'c', { expiresAt: now + 3000 }))
  t.is(s.expiresAt('k'), now + 3000)
  // A failed condition writes nothing, expiry included.
  t.false(s.compareAndSetSync('k', 'zzz', 'd', { ttl: 0 }))
  t.is(s.get('k').toString(), 'c')
  t.is(s.expiresAt('k'), now + 3000)
  // A version condition, and "absent" on a key whose value expired.
  t.true(await s.compareAndSet('v', undefined, 'x', { ttl: 500 }))
  const ver = s.versionOf('v')
  t.true(s.compareAndSetSync('v', { version: ver }, 'y', { ttl: 500 }))
  t.true(s.expiresAt('v') >= now + 500)
  // Without options, the new value has no expiry; a delete takes (checked) options.
  t.true(s.compareAndSetSync('v', 'y', 'z'))
  t.is(s.expiresAt('v'), undefined)
  t.true(s.compareAndSetSync('v', 'z', undefined, { ttl: 10 }))
  t.false(s.has('v'))

  const sub = s.sub('p:')
  t.true(sub.compareAndSetSync('q', undefined, 'Q', { ttl: 1000 }))
  t.true(await sub.compareAndSet('r', undefined, 'R', { expiresAt: now + 1500 }))
  t.is(sub.expiresAt('r'), now + 1500)
  t.true(s.expiresAt('p:q') >= now + 1000)
  const enc = await Store.open(tmp(t), { valueEncoding: 'json' })
  t.true(await enc.compareAndSet('j', undefined, { n: 1 }, { ttl: 1000 }))
  t.true(enc.compareAndSetSync('j', { n: 1 }, { n: 2 }, { ttl: 1000 }))
  t.true(enc.expiresAt('j') > enc.now())

  move(3500)
  for (const k of ['k', 'p:q', 'p:r']) t.is(s.get(k), undefined, k)
  t.is(sub.get('q'), undefined)
  t.is(enc.get('j'), undefined)
  // Expired: absent again for the next compareAndSet.
  t.true(s.compareAndSetSync('k', undefined, 'again'))
  t.is(s.get('k').toString(), 'again')
  await enc.close()
  await s.close()
  move(0)
})

test.serial('createWriteStream takes { ttl } / { expiresAt }; a ttl counts from the commit', async (t) => {
  move(0)
  const p = tmp(t)
  const s = await Store.open(p)
  const now = s.now()
  const big = Buffer.alloc(200_000, 7)
  const write = (key, options, body) => new Promise((resolve, reject) => {
    const ws = s.createWriteStream(key, options)
    ws.on('finish', resolve)
    ws.on('error', reject)
    ws.end(body)
  })
  await write('big', { ttl: 1000 }, big)
  t.true(s.expiresAt('big') >= now + 1000 && s.expiresAt('big') < now + 60_000)
  t.true(s.get('big').equals(big))
  await write('at', { expiresAt: now + 5000 }, 'AT')
  t.is(s.expiresAt('at'), now + 5000)
  await write('plain', undefined, 'P')
  t.is(s.expiresAt('plain'), undefined)
  // The ttl counts from when the stream ends, not from createWriteStream.
  const ws = s.createWriteStream('late', { ttl: 1000 })
  move(10_000)
  await new Promise((resolve, reject) => { ws.on('finish', resolve); ws.on('error', reject); ws.end('L') })
  t.true(s.expiresAt('late') >= s.now() + 900)
  t.is(s.get('late').toString(), 'L')
  t.is(s.get('big'), undefined, 'expired')
  t.is(s.get('at'), undefined, 'expired')
  t.is(s.get('plain').toString(), 'P')
  await s.close()
  // The streamed entry's expiry is on disk.
  const r = await Store.open(p)
  t.is(r.get('big'), undefined)
  t.is(r.get('late').toString(), 'L')
  t.true(r.expiresAt('late') > r.now())
  move(20_000)
  t.is(r.get('late'), undefined)
  await r.close()
  move(0)
})

test.serial('tx.put takes { ttl } / { expiresAt }, in transactionSync and transaction', async (t) => {
  move(0)
  const s = await Store.open(tmp(t))
  const now = s.now()
  s.putSync('old', 'O')
  const seen = s.transactionSync((tx) => {
    tx.put('a', 'A', { ttl: 1000 })
    tx.put('b', 'B', { expiresAt: now + 2000 })
    tx.put('c', 'C')
    // A value written already expired reads as missing inside the transaction too.
    tx.put('old', 'gone', { ttl: 0 })
    return [tx.get('a').toString(), tx.has('a'), tx.get('old'), tx.has('old')]
  })
  t.deepEqual(seen, ['A', true, undefined, false])
  t.true(s.expiresAt('a') >= now + 1000 && s.expiresAt('a') < now + 60_000)
  t.is(s.expiresAt('b'), now + 2000)
  t.is(s.expiresAt('c'), undefined)
  t.is(s.get('old'), undefined)
  await s.transaction((tx) => {
    tx.put('d', 'D', { ttl: 1500 })
    // A later put without options replaces the expiring one, and its expiry.
    tx.put('b', 'B2')
  })
  t.true(s.expiresAt('d') >= now + 1500)
  t.is(s.expiresAt('b'), undefined)
  const enc = await Store.open(tmp(t), { valueEncoding: 'json' })
  enc.transactionSync((tx) => tx.put('j', [1], { ttl: 1000 }))
  t.true(enc.expiresAt('j') > enc.now())
  move(3000)
  t.is(s.get('a'), undefined)
  t.is(s.get('d'), undefined)
  t.is(s.get('b').toString(), 'B2')
  t.is(s.get('c').toString(), 'C')
  t.is(enc.get('j'), undefined)
  t.deepEqual(s.transactionSync((tx) => [tx.get('a'), tx.has('d')]), [undefined, false])
  await enc.close()
  await s.close()
  move(0)
})

test.serial('bad ttl on compareAndSet, createWriteStream and tx.put: coded errors, nothing written', async (t) => {
  const s = await Store.open(tmp(t))
  const sub = s.sub('p:')
  const bad = [
    [{ ttl: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ ttl: NaN }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ ttl: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ ttl: '100' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ expiresAt: -5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ ttl: 1, expiresAt: 2 }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    [{ ttl: Number.MAX_SAFE_INTEGER }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['soon', TypeError, 'ERR_INVALID_ARG_TYPE']
  ]
  for (const [options, type, code] of bad) {
    const what = JSON.stringify(options)
    const err = { instanceOf: type, code }
    t.throws(() => s.compareAndSetSync('k', undefined, 'v', options), err, what)
    await t.throwsAsync(s.compareAndSet('k', undefined, 'v', options), err, what)
    t.throws(() => sub.compareAndSetSync('k', undefined, 'v', options), err, what)
    await t.throwsAsync(sub.compareAndSet('k', undefined, 'v', options), err, what)
    t.throws(() => s.createWriteStream('k', options), err, what)
    t.throws(() => s.transactionSync((tx) => {
      tx.put('ok', 'v')
      tx.put('k', 'v', options)
    }), err, what)
    // Caught inside the callback: the bad put staged nothing, and nothing commits.
    s.transactionSync((tx) => {
      t.throws(() => tx.put('k', 'v', options), err, what)
    })
  }
  await s.flush()
  t.is(s.size, 0, 'nothing was written')
  t.deepEqual(fs.readdirSync(path.dirname(s.path)).filter((f) => f.includes('upload')), [], 'no staging file')
  await s.close()
})
