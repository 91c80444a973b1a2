'use strict'
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const { pipeline } = require('node:stream/promises')
const { Readable } = require('node:stream')
const { Store } = require('..')
const { tmpStore } = require('./helpers.js')

const copying = /^(1|true|yes)$/i.test(process.env.SIMD_R_DRIVE_COPY_VALUES || '')

async function collect (stream) {
  const chunks = []
  for await (const c of stream) chunks.push(c)
  return chunks
}

test('createReadStream yields the value in zero-copy chunks', async (t) => {
  const s = await Store.open(tmpStore())
  const value = crypto.randomBytes(300000)
  await s.put('big', value)
  await s.put('pad', Buffer.alloc(8192))
  const chunks = await collect(s.createReadStream('big', { highWaterMark: 65536 }))
  t.is(chunks.length, 5)
  t.true(Buffer.concat(chunks).equals(value))
  if (!copying) t.is(chunks[0].buffer, chunks[1].buffer, 'slices of one view, not copies')
  const e = await t.throwsAsync(collect(s.createReadStream('missing')))
  t.is(e.code, 'ERR_KEY_NOT_FOUND')
  t.throws(() => s.createReadStream(42), { code: 'ERR_INVALID_ARG_TYPE' })
  await s.close()
})

test('createWriteStream: the value appears atomically when the stream finishes', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  await s.put('big', 'old')
  const value = crypto.randomBytes(5 * 1024 * 1024 + 3)
  const ws = s.createWriteStream('big')
  let seenDuring = null
  const source = Readable.from((function * () {
    for (let i = 0; i < value.length; i += 100000) yield value.subarray(i, i + 100000)
  })())
  source.once('data', () => { seenDuring = s.get('big').toString() })
  await pipeline(source, ws)
  t.is(seenDuring, 'old', 'nothing shows before the stream finishes')
  t.true(s.get('big').equals(value))
  t.deepEqual(fs.readdirSync(path.dirname(p)).filter((f) => f.includes('.upload-')), [], 'the staging file is gone')
  await s.put('after', 'x')
  await s.close()
  const r = await Store.open(p)
  t.true(r.get('big').equals(value))
  t.is(r.get('after').toString(), 'x')
  await r.verify()
  await r.close()
})

test('a destroyed or failing write stream writes nothing', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  const ws = s.createWriteStream('k')
  ws.write(Buffer.alloc(100000, 1))
  await new Promise((resolve) => setTimeout(resolve, 20))
  ws.destroy()
  await new Promise((resolve) => ws.once('close', resolve))
  const failing = new Readable({
    read () { this.destroy(new Error('source broke')) }
  })
  const ws2 = s.createWriteStream('k2')
  await t.throwsAsync(pipeline(failing, ws2), { message: 'source broke' })
  // pipeline() can reject before the stream's destroy() has removed its staging file.
  if (!ws2.closed) await new Promise((resolve) => ws2.once('close', resolve))
  t.false(s.has('k'))
  t.false(s.has('k2'))
  t.deepEqual(fs.readdirSync(path.dirname(p)).filter((f) => f.includes('.upload-')), [])
  await s.close()
})

test('a streamed value commits when its stream finishes, in order with other writes', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  const ws = s.createWriteStream('k')
  ws.end('streamed')
  await s.put('k', 'put-while-streaming') // commits first: the stream has not finished
  await new Promise((resolve, reject) => { ws.once('finish', resolve); ws.once('error', reject) })
  t.is(s.get('k').toString(), 'streamed')
  await s.put('k', 'later')
  t.is(s.get('k').toString(), 'later')
  await s.close()
  const ro = await Store.open(p, { readOnly: true })
  t.throws(() => ro.createWriteStream('x'), { code: 'ERR_STORE_READ_ONLY' })
  await ro.close()
})

test('close() waits for a write stream that was ended and destroys one that was not', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  const ended = s.createWriteStream('ended')
  ended.end(Buffer.alloc(200000, 5))
  const open = s.createWriteStream('open')
  open.write('partial')
  const openErr = new Promise((resolve) => open.once('error', resolve))
  await s.close()
  t.is((await openErr).code, 'ERR_STORE_CLOSED')
  const r = await Store.open(p)
  t.is(r.get('ended').length, 200000)
  t.false(r.has('open'))
  t.deepEqual(fs.readdirSync(path.dirname(p)).filter((f) => f.includes('.upload-')), [])
  await r.close()
})

test('write streams from several worker threads do not collide', async (t) => {
  const { Worker } = require('node:worker_threads')
  const p = tmpStore()
  const s = await Store.open(p)
  const code = `
    const { workerData, parentPort } = require('node:worker_threads')
    const { pipeline } = require('node:stream/promises')
    const { Readable } = require('node:stream')
    const { Store } = require(${JSON.stringify(path.join(__dirname, '..'))})
    ;(async () => {
      const s = await Store.open(workerData.path)
      for (let i = 0; i < 5; i++) {
        const v = Buffer.alloc(50000 + i, workerData.id)
        await pipeline(Readable.from([v.subarray(0, 25000), v.subarray(25000)]), s.createWriteStream('w' + workerData.id + '-' + i))
      }
      await s.close()
      parentPort.postMessage('done')
    })().catch((e) => parentPort.postMessage('error ' + e.code + ' ' + e.message))
  `
  const runs = [1, 2, 3].map((id) => new Promise((resolve) => {
    const w = new Worker(code, { eval: true, workerData: { path: p, id } })
    w.once('message', resolve)
  }))
  t.deepEqual(await Promise.all(runs), ['done', 'done', 'done'])
  for (const id of [1, 2, 3]) {
    for (let i = 0; i < 5; i++) t.true(s.get(`w${id}-${i}`).equals(Buffer.alloc(50000 + i, id)))
  }
  await s.close()
})

test('a write stream destroyed after end() either writes nothing or finishes: never both', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  const value = Buffer.alloc(4 * 1024 * 1024, 7)
  const outcomes = { finished: 0, destroyed: 0 }
  const kept = []
  for (let i = 0; i < 40; i++) {
    const key = `k${i}`
    const ws = s.createWriteStream(key)
    let finished = false
    let errored = false
    ws.on('finish', () => { finished = true })
    ws.on('error', () => { errored = true })
    const closed = new Promise((resolve) => ws.once('close', resolve))
    ws.end(value)
    await new Promise((resolve) => setTimeout(resolve, i % 11))
    ws.destroy(new Error('changed my mind'))
    await closed
    // Let a commit that had been issued settle before looking.
    await s.flush()
    const written = s.has(key)
    t.is(written, finished, `try ${i}: the value is there exactly when 'finish' was emitted`)
    t.is(errored, !finished, `try ${i}: 'error' exactly when it did not finish`)
    if (written) t.true(s.get(key).equals(value))
    outcomes[finished ? 'finished' : 'destroyed']++
    kept.push(written)
  }
  t.log(outcomes)
  t.deepEqual(fs.readdirSync(path.dirname(p)).filter((f) => f.includes('.upload-')), [])
  await s.close()
  const r = await Store.open(p)
  for (let i = 0; i < 40; i++) t.is(r.has(`k${i}`), kept[i], `try ${i} after reopen`)
  await r.verify()
  await r.close()
})
