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
