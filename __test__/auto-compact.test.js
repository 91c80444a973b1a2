'use strict'
const fs = require('node:fs')
const test = require('ava')
const { Store } = require('..')
const { tmpStore, runChild } = require('./helpers.js')

const value = (round, i, len = 4096) => Buffer.alloc(len, `${round}-${i}|`)

/** Writes `keys` keys `rounds + 1` times (the last round's values stay live). */
async function fill (s, keys, rounds, len) {
  for (let r = 0; r <= rounds; r++) {
    const batch = []
    for (let i = 0; i < keys; i++) batch.push([`k${i}`, value(r, i, len)])
    await s.putMany(batch)
  }
}

/** Resolves with what `check` returns once that is truthy (it is called every 5 ms). */
async function until (what, check, ms = 20000) {
  const deadline = Date.now() + ms
  for (;;) {
    const found = check()
    if (found) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Checks every key's value with Buffer.equals (t.deepEqual of 64 KiB Buffers takes ~20 ms each). */
function assertValues (t, s, keys, round, len) {
  const wrong = []
  for (let i = 0; i < keys; i++) {
    const v = s.get(`k${i}`)
    if (v === undefined || !v.equals(value(round, i, len))) wrong.push(`k${i}`)
  }
  t.deepEqual(wrong.slice(0, 10), [], `${wrong.length} of ${keys} values are wrong`)
}

test('a store whose overwrites pass the threshold compacts by itself', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p, { autoCompact: { minReclaimableBytes: 64 * 1024, minRatio: 0.7 } })
  t.is(s.stats().autoCompactions, 0)
  await fill(s, 200, 3, 4096)
  // (3/4 of the file is dead only after the last round: one compaction, at the end.)
  await until('an automatic compaction', () => s.stats().autoCompactions >= 1)
  const st = s.stats()
  t.true(st.generation >= 1)
  t.true(st.autoReclaimedBytes > 200 * 4096, `reclaimed ${st.autoReclaimedBytes}`)
  // The file holds one copy of each value, no more.
  t.true(st.fileBytes < 2 * 200 * 4096, `${st.fileBytes} bytes`)
  assertValues(t, s, 200, 3, 4096)
  await s.close()
  t.true(fs.statSync(p).size < 2 * 200 * 4096)
  t.false(fs.existsSync(`${p}.compact`))
  const again = await Store.open(p)
  assertValues(t, again, 200, 3, 4096)
  await again.close()
})

test('onAutoCompact is told what automatic compaction did', async (t) => {
  const p = tmpStore()
  const reports = []
  const s = await Store.open(p, { autoCompact: { minReclaimableBytes: 64 * 1024, minRatio: 0.7 }, onAutoCompact: (r) => reports.push(r) })
  await fill(s, 200, 3, 4096)
  await until('the callback', () => reports.length >= 1)
  const st = s.stats()
  t.is(reports.reduce((n, r) => n + r.compactions, 0), st.autoCompactions)
  t.is(reports.reduce((n, r) => n + r.reclaimedBytes, 0), st.autoReclaimedBytes)
  t.true(reports[0].reclaimedBytes > 200 * 4096)
  t.true(reports[0].fileBytes < 2 * 200 * 4096)
  await s.close()
  await t.throwsAsync(Store.open(p, { onAutoCompact: 1 }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
})

test('automatic compaction is off with autoCompact: false, and the default waits for 64 MiB', async (t) => {
  for (const options of [{ autoCompact: false }, {}]) {
    const p = tmpStore()
    const s = await Store.open(p, options)
    await fill(s, 200, 3, 4096)
    await s.put('one more', 'commit')
    await new Promise((resolve) => setTimeout(resolve, 300))
    const st = s.stats()
    t.true(st.reclaimableBytes > st.fileBytes / 2, JSON.stringify(options))
    t.is(st.autoCompactions, 0, JSON.stringify(options))
    t.is(st.generation, 0, JSON.stringify(options))
    assertValues(t, s, 200, 3, 4096)
    await s.close()
  }
})

test('autoCompact options are checked', async (t) => {
  const p = tmpStore()
  await t.throwsAsync(Store.open(p, { autoCompact: 'yes' }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(Store.open(p, { autoCompact: { minRatio: 2 } }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  await t.throwsAsync(Store.open(p, { autoCompact: { minReclaimableBytes: -1 } }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  await t.throwsAsync(Store.open(p, { autoCompact: { minReclaimableBytes: '1' } }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.false(fs.existsSync(p), 'nothing opened')
})

test('close() during an automatic compaction abandons it: it returns promptly, the old file stays the store', async (t) => {
  // 96 MiB live, as much again dead: a compaction long enough to be caught in flight.
  const keys = 1536
  const len = 64 * 1024
  // Caught when its temporary file is seen. A loaded machine can let a whole compaction run
  // between two looks: then the same is tried on a new store, at most three times.
  let caught = null
  for (let attempt = 0; attempt < 3 && caught === null; attempt++) {
    const p = tmpStore(`store-${attempt}.srd`)
    {
      const s = await Store.open(p, { autoCompact: false })
      await fill(s, keys, 1, len)
      await s.close()
    }
    const ino = fs.statSync(p).ino
    const s = await Store.open(p, { autoCompact: { minReclaimableBytes: 1024, minRatio: 0.4 } })
    await s.put('trigger', 'a commit')
    const state = await until('the compaction file (or the end of the compaction)', () =>
      (fs.existsSync(`${p}.compact`) && 'running') || (s.stats().autoCompactions > 0 && 'done'), 60000)
      .catch((e) => { throw new Error(`${e.message}; stats ${JSON.stringify(s.stats())}`) })
    if (state === 'running') caught = { p, ino, s }
    else {
      t.log(`attempt ${attempt}: the compaction ran whole between two looks`)
      await s.close()
    }
  }
  if (caught === null) return t.fail('three automatic compactions ran whole between two looks 5 ms apart')
  const { p, ino, s } = caught
  const started = process.hrtime.bigint()
  await s.close()
  const closeMs = Number(process.hrtime.bigint() - started) / 1e6
  // Reopening waits for the engine to have closed (the abandoned compaction to have ended).
  const again = await Store.open(p, { autoCompact: false })
  t.is(fs.statSync(p).ino, ino, 'the old file is still the store')
  t.false(fs.existsSync(`${p}.compact`), 'no temporary file left')
  t.is(again.get('trigger').toString(), 'a commit')
  assertValues(t, again, keys, 1, len)
  // For the log: how long a whole compaction of the same store takes.
  const r = await again.compact()
  t.log(`close() took ${closeMs.toFixed(1)} ms during an automatic compaction; a whole one takes ${r.durationMs.toFixed(0)} ms`)
  await again.close()
})

test('a read-only follower keeps working across the writer\'s automatic compaction', async (t) => {
  const p = tmpStore()
  const w = await Store.open(p)
  await w.put('before', 'x')
  await w.close()
  const follower = await Store.open(p, { readOnly: true, follow: 'poll' })
  let replaced = 0
  follower.on('replaced', () => { replaced++ })
  // A refresh that fails is retried at the next poll; what failed is told if it never succeeds.
  const refreshErrors = []
  follower.on('error', (e) => { if (refreshErrors.length < 5) refreshErrors.push(`${e.code}: ${e.message}`) })
  const r = await runChild('auto-compact-writer.js', [p])
  t.is(r.code, 0, r.stderr)
  const stats = JSON.parse(r.stdout)
  t.true(stats.autoCompactions >= 1)
  await until('the follower to see the last write', () => follower.get('after') !== undefined)
    .catch((e) => { throw new Error(`${e.message}; follower stats ${JSON.stringify(follower.stats())}; refresh errors: ${refreshErrors.join(' | ') || 'none'}; refreshes ${JSON.stringify(follower._follower.counts)}, last error ${follower._follower.lastError}; at the path: ino ${fs.statSync(p).ino}, ${fs.statSync(p).size} bytes`) })
  t.is(follower.get('after').toString(), 'compaction')
  t.is(follower.get('before').toString(), 'x')
  for (let i = 0; i < 200; i++) t.is(follower.get(`k${i}`).toString(), `v3-${i}`.padEnd(2000, '.'))
  // (Events come through the engine's notification, after the refresh that shows the value.)
  await until('the follower\'s \'replaced\' event', () => replaced >= 1)
  t.true(follower.stats().fileBytes < 2 * 200 * 2000)
  await follower.close()
})
