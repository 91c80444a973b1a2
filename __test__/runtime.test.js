'use strict'
// What may differ between the Node versions users run (the matrix of scripts/test-matrix.sh
// runs this file on each): external Buffers, structured cloning and transfer of a returned
// Buffer, and Buffers sent to workers. Worker termination is in workers.test.js.
// The views checked here are made from a store's first read on (FIRST_COPIES, lib/read.js).
process.env.SIMD_R_DRIVE_FIRST_COPIES = '0'
const test = require('ava')
const { Worker, MessageChannel } = require('node:worker_threads')
const { Store } = require('..')
const { tmpStore } = require('./helpers.js')

const copying = /^(1|true|yes)$/i.test(process.env.SIMD_R_DRIVE_COPY_VALUES || '')
const major = Number(process.versions.node.split('.')[0])

async function filled () {
  const s = await Store.open(tmpStore())
  for (let i = 0; i < 100; i++) await s.put(`k${i}`, Buffer.alloc(1000, i))
  await s.put('pad', Buffer.alloc(8192)) // the values above leave the still-growing last page
  return s
}

async function collect () {
  for (let i = 0; i < 4; i++) {
    global.gc()
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

test('a returned Buffer is a view of the store (external) and outlives the store and GC', async (t) => {
  const s = await filled()
  const v = s.get('k5')
  if (!copying) t.true(v.buffer.byteLength > v.length, 'a slice of a window over the file')
  await s.close()
  await collect()
  t.true(v.equals(Buffer.alloc(1000, 5)))
})

test('structuredClone of a returned Buffer has its bytes (and copies the whole window it views)', async (t) => {
  const s = await filled()
  const v = s.get('k7')
  const c = structuredClone(v)
  t.true(Buffer.from(c.buffer, c.byteOffset, c.byteLength).equals(v))
  t.is(c.buffer.byteLength, v.buffer.byteLength, 'the clone copies the whole ArrayBuffer, as for any view')
  await s.close()
})

test('transferring a returned Buffer\'s ArrayBuffer never detaches the store\'s memory', async (t) => {
  const s = await filled()
  const v = s.get('k9')
  const [off, len] = [v.byteOffset, v.length]
  let outcome
  try {
    const moved = structuredClone(v.buffer, { transfer: [v.buffer] })
    outcome = 'moved'
    t.true(Buffer.from(moved, off, len).equals(Buffer.alloc(1000, 9)))
  } catch (e) {
    outcome = e.name
  }
  if (copying) {
    // A copy is an ordinary buffer of the caller's: it moves, and the store is unaffected.
    t.is(outcome, 'moved')
    t.is(v.length, 0)
  } else {
    // Node 22 and later refuse to transfer an external ArrayBuffer; Node 20 copies it and
    // leaves the original attached.
    t.is(outcome, major >= 22 ? 'DataCloneError' : 'moved')
    t.is(v.length, 1000, 'the view is still attached')
    t.true(v.equals(Buffer.alloc(1000, 9)))
  }
  t.true(s.get('k9').equals(Buffer.alloc(1000, 9)))
  await s.close()
  await collect()
  if (!copying) t.true(v.equals(Buffer.alloc(1000, 9)))
})

test('getCopy gives a Buffer whose memory can be transferred on every version', async (t) => {
  const s = await filled()
  const c = s.getCopy('k3')
  const { port1, port2 } = new MessageChannel()
  const got = new Promise((resolve) => port2.once('message', resolve))
  port1.postMessage(c, [c.buffer])
  const m = await got
  t.is(c.length, 0, 'moved away')
  t.true(Buffer.from(m.buffer, m.byteOffset, m.byteLength).equals(Buffer.alloc(1000, 3)))
  port1.close()
  port2.close()
  await s.close()
})

test('a returned Buffer posted to a worker arrives with its bytes', async (t) => {
  const s = await filled()
  const w = new Worker(`
    const { parentPort } = require('node:worker_threads')
    parentPort.once('message', (v) => parentPort.postMessage(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex', 0, 4) + ':' + v.byteLength))
  `, { eval: true })
  const answer = new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
  w.postMessage(s.get('k2'))
  t.is(await answer, '02020202:1000')
  await w.terminate()
  await s.close()
})
