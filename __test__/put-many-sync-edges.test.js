'use strict'
// Edge cases from an independent review of putManySync's direct path (src/entries.rs): each
// holds it to what the staged path (Batch.addFlat, which putMany uses) does with the same input.
const test = require('ava')
const vm = require('node:vm')
const { spawnSync } = require('node:child_process')
const { Worker } = require('node:worker_threads')
const { Store } = require('..')
const { tmpStore } = require('./helpers.js')

/** What putMany (always staged) does with `entries`: 'ok' or the error's code. */
async function staged (entries) {
  const s = await Store.open(tmpStore())
  try {
    await s.putMany(entries)
    return 'ok'
  } catch (e) {
    return e.code ?? e.message
  } finally {
    await s.close()
  }
}

async function direct (entries) {
  const s = await Store.open(tmpStore())
  try {
    s.putManySync(entries)
    return 'ok'
  } catch (e) {
    return e.code ?? e.message
  } finally {
    await s.close()
  }
}

// A real Uint8Array is a key whatever its realm or prototype (the built-in accessors tell
// it apart from an object that only inherits from Uint8Array.prototype); both paths agree,
// and store the same bytes.
async function storedKeys (write, entries) {
  const s = await Store.open(tmpStore())
  try {
    await write(s, entries)
    return [...s.keys()].map((k) => k.toString('hex'))
  } finally {
    await s.close()
  }
}

test('a Uint8Array key from another realm is taken by putManySync as by putMany', async (t) => {
  const key = vm.runInNewContext('new Uint8Array([1, 2, 3])')
  t.is(await staged([[key, 'v']]), 'ok')
  t.is(await direct([[key, 'v']]), 'ok')
  t.deepEqual(await storedKeys((s, e) => s.putMany(e), [[key, 'v']]), ['010203'])
  t.deepEqual(await storedKeys((s, e) => s.putManySync(e), [[key, 'v']]), ['010203'])
})

test('a Uint8Array key without its prototype is taken by putManySync as by putMany', async (t) => {
  const mk = () => { const u = new Uint8Array([1, 2]); Object.setPrototypeOf(u, null); return [[u, 'v']] }
  t.is(await staged(mk()), 'ok')
  t.is(await direct(mk()), 'ok')
  t.deepEqual(await storedKeys((s, e) => s.putManySync(e), mk()), ['0102'])
  // What only looks like one is refused by both.
  const fake = () => [[Object.create(Uint8Array.prototype), 'v']]
  t.is(await staged(fake()), 'ERR_INVALID_ARG_TYPE')
  t.is(await direct(fake()), 'ERR_INVALID_ARG_TYPE')
})

test.serial('a pair of length 1 is refused even when index 1 is inherited', async (t) => {
  Array.prototype[1] = 'inherited' // eslint-disable-line no-extend-native
  try {
    t.is(await staged([['k']]), 'ERR_INVALID_ARG_TYPE')
    t.is(await direct([['k']]), 'ERR_INVALID_ARG_TYPE')
  } finally {
    delete Array.prototype[1]
  }
})

test('the first bad entry is reported before accessors of later entries run', async (t) => {
  let ran = 0
  const mk = () => {
    const e = [[42, 'bad key'], ['k', 'v']]
    Object.defineProperty(e, 1, { get () { ran++; throw new Error('later accessor') } })
    return e
  }
  t.is(await staged(mk()), 'ERR_INVALID_ARG_TYPE')
  t.is(ran, 0)
  t.is(await direct(mk()), 'ERR_INVALID_ARG_TYPE')
  t.is(ran, 0)
})

test('an error thrown by an accessor comes out of putManySync as the same object', async (t) => {
  const s = await Store.open(tmpStore())
  const mine = new Error('[MY_CODE] thrown by my getter')
  const e = [['a', '1']]
  Object.defineProperty(e, 0, { get () { throw mine } })
  const caught = t.throws(() => s.putManySync(e))
  t.is(caught, mine)
  await s.close()
})

test('a sparse array of length 2**32-1 throws instead of aborting the process', (t) => {
  const script = `
    const { Store } = require(${JSON.stringify(require.resolve('..'))})
    const s = Store.openSync(${JSON.stringify(tmpStore())})
    const a = []; a.length = 2 ** 32 - 1
    try { s.putManySync(a) } catch (e) { console.log('threw', e.name) }`
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
  t.is(r.signal, null, r.stderr.slice(0, 300))
  t.is(r.status, 0, r.stderr.slice(0, 300))
  t.regex(r.stdout, /threw/)
})

/**
 * Runs `body` while a worker thread keeps rewriting every `step`th byte of `sab` (all with
 * one value, changed each pass).
 */
async function whileRewritten (sab, step, body) {
  const ctl = new Int32Array(new SharedArrayBuffer(4))
  const w = new Worker(`
    const { workerData: { sab, ctl, step } } = require('node:worker_threads')
    const u = new Uint8Array(sab); const c = new Int32Array(ctl.buffer)
    Atomics.store(c, 0, 1)
    let x = 0
    while (Atomics.load(c, 0) === 1) { for (let i = 0; i < u.length; i += step) u[i] = x; x = (x + 1) & 0xff }`,
  { eval: true, workerData: { sab, ctl, step } })
  while (Atomics.load(ctl, 0) !== 1) await new Promise((resolve) => setTimeout(resolve, 5))
  try {
    await body()
  } finally {
    Atomics.store(ctl, 0, 0)
    await w.terminate()
  }
}

test('keys in a SharedArrayBuffer written by another thread leave a consistent index', async (t) => {
  const sab = new SharedArrayBuffer(4000 * 8)
  const s = await Store.open(tmpStore())
  await whileRewritten(sab, 8, () => {
    for (let r = 0; r < 10; r++) {
      s.putManySync(Array.from({ length: 4000 }, (_, i) => [new Uint8Array(sab, i * 8, 8), 'v']))
    }
  })
  // Keys differ only in their first byte: at most 256 distinct keys, each live once and
  // found by get.
  const keys = [...s.keys()]
  t.true(s.size <= 256, `size ${s.size}`)
  t.is(keys.filter((k) => s.get(k) === undefined).length, 0)
  await s.close()
})

test('values in a SharedArrayBuffer written by another thread are stored whole, each as one snapshot', async (t) => {
  // Values are read in place once, into the entry their checksum covers: a racing write
  // can only decide which bytes are stored, never break the entry or the index.
  const sab = new SharedArrayBuffer(4000 * 64)
  const p = tmpStore()
  const s = await Store.open(p)
  await whileRewritten(sab, 1, () => {
    for (let r = 0; r < 10; r++) {
      s.putManySync(Array.from({ length: 4000 }, (_, i) => [`k${i}`, new Uint8Array(sab, i * 64, 64)]))
    }
  })
  t.is(s.size, 4000)
  for (let i = 0; i < 4000; i++) t.is(s.get(`k${i}`).length, 64)
  const checked = await s.verify()
  t.true(checked.entries >= 40000)
  await s.close()
  const r = await Store.open(p)
  t.is(r.size, 4000)
  await r.verify()
  await r.close()
})

test('a large putManySync that is refused for a bad last entry does not poison the store', async (t) => {
  for (const n of [2, 3]) {
    process.env.SIMD_R_DRIVE_TEST_FAULT = `write:${n}:ENOSPC`
    let s
    try {
      s = Store.openSync(tmpStore())
    } finally {
      delete process.env.SIMD_R_DRIVE_TEST_FAULT
    }
    const entries = Array.from({ length: 20000 }, (_, i) => ['k' + i, Buffer.alloc(1024, i)])
    entries.push([42, 'bad'])
    t.throws(() => s.putManySync(entries), { code: 'ERR_INVALID_ARG_TYPE' })
    // The staged path rejects this batch before writing a byte; the store writes on.
    t.notThrows(() => s.putSync('x', 'y'), `write:${n}:ENOSPC`)
    await s.close().catch(() => {})
  }
})
