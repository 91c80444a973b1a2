'use strict'
// Writes let the event loop turn (issue 21, item 16): a loop of awaited puts that commit on
// the event loop resolves as microtasks, and without a yield timers and I/O would never run.
const test = require('ava')
const { Store } = require('..')
const { tmpStore } = require('./helpers.js')

test('an awaited put loop lets a timer fire', async (t) => {
  const s = await Store.open(tmpStore())
  let fired = false
  const started = Date.now()
  setTimeout(() => { fired = true }, 5)
  let puts = 0
  while (!fired && Date.now() - started < 5000) {
    await s.put(`k${puts % 1000}`, 'v')
    puts++
  }
  t.true(fired, `the timer fired (after ${puts} puts, ${Date.now() - started} ms)`)
  await s.close()
})

test('an awaited delete and putMany loop lets I/O callbacks run', async (t) => {
  const s = await Store.open(tmpStore())
  let ran = false
  setImmediate(() => { ran = true })
  const started = Date.now()
  let i = 0
  while (!ran && Date.now() - started < 5000) {
    if (i % 2 === 0) await s.putMany([[`k${i % 100}`, 'v'], ['x', 'y']])
    else await s.delete(`k${(i - 1) % 100}`)
    i++
  }
  t.true(ran)
  await s.close()
})

// The zeros a writable store keeps ahead of its data (a megabyte at a time) are written by
// a thread of the store's, not by the commit that ran out of them: on the event loop, each
// megabyte of zeros held it for a millisecond and more. Counted by the kernel per thread
// (serial: the other tests of this file write on this thread too).
const wroteOnThisThread = () => Number(/^wchar: (\d+)$/m.exec(require('node:fs').readFileSync('/proc/thread-self/io', 'utf8'))[1])
const perThreadIo = (() => { try { wroteOnThisThread(); return true } catch { return false } })()

;(perThreadIo ? test.serial : test.skip)('commits on the event loop write their own bytes, not the preallocated zeros', async (t) => {
  const fs = require('node:fs')
  const p = tmpStore()
  const s = await Store.open(p)
  const value = Buffer.alloc(1000, 7)
  const before = wroteOnThisThread()
  for (let i = 0; i < 5000; i++) await s.put(`k${i}`, value)
  const wrote = wroteOnThisThread() - before
  const data = s.stats().fileBytes
  // ~5 MB of entries committed from this thread; the zeros (a megabyte or two at each
  // megabyte boundary crossed) would have doubled that.
  t.true(wrote >= 5000 * 1000 && wrote < data * 1.1, `wrote ${wrote} bytes for ${data} bytes of data`)
  // They were written all the same, ahead of the data, by the store's own thread.
  for (let i = 0; i < 500 && fs.statSync(p).size <= data + (1 << 20); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.true(fs.statSync(p).size > data + (1 << 20), `${fs.statSync(p).size} bytes on disk for ${data} bytes of data`)
  await s.close()
  t.is(fs.statSync(p).size <= data + 4096, true, 'close trimmed them')
})

// The store's thread holds the engine only while it writes a 64 KiB piece of zeros, and a
// close waits for that piece: the engine closes (trims the zeros, releases its lock) before
// close() resolves, not when the thread next lets go of it on its own.
test('a close while the zeros are being written closes the engine before it resolves', async (t) => {
  const fs = require('node:fs')
  const { runChild } = require('./helpers.js')
  for (let i = 0; i < 20; i++) {
    const p = tmpStore()
    const s = await Store.open(p)
    await s.put('k', Buffer.alloc(100_000, i))
    const data = s.stats().fileBytes
    await s.close()
    t.true(fs.statSync(p).size <= data + 4096, `round ${i}: ${fs.statSync(p).size} bytes on disk for ${data} bytes of data`)
    if (i === 19) t.is((await runChild('try-open.js', [p])).stdout.trim(), 'opened')
  }
})

// Releasing one handle of an engine that other handles keep open must not wait on the event
// loop for the zeros thread, which itself would wait for the writer lock that another
// handle's long batch holds: the release returns before that batch commits.
test.serial('closing one handle does not wait for another handle\'s batch behind the zeros', async (t) => {
  const native = require('../lib/native.js')
  const release = native.releaseStore
  let rounds = 0
  try {
    for (let round = 0; round < 5; round++) {
      const p = tmpStore()
      const w = await Store.open(p)
      const w2 = await Store.open(p)
      const r = await Store.open(p, { readOnly: true })
      const last = 'big-149'
      let committedBefore = null
      let committedAfter = null
      native.releaseStore = (h) => {
        committedBefore = w.has(last)
        release(h)
        committedAfter = w.has(last)
      }
      // 60 MB that runs past the zeros (its commit starts their thread), then 300 MB that
      // waits for the writer lock meanwhile and holds it for its whole commit.
      const first = w.putMany(Array.from({ length: 30 }, (_, i) => [`a-${i}`, Buffer.alloc(2 << 20, i)]))
      const big = w2.putMany(Array.from({ length: 150 }, (_, i) => [`big-${i}`, Buffer.alloc(2 << 20, i)]))
      await first
      await r.close()
      native.releaseStore = release
      await big
      await w.close()
      await w2.close()
      // A round counts when the big batch had not committed as the release began.
      if (committedBefore === false) {
        rounds++
        t.false(committedAfter, `round ${round}: the release returned only after the other handle's 300 MB batch committed`)
      }
    }
  } finally {
    native.releaseStore = release
  }
  t.true(rounds > 0, 'the big batch was still being written as the read-only handle closed, in some round')
  t.log(`${rounds} of 5 rounds closed while the big batch was in flight`)
})
