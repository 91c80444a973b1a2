'use strict'
// Arguments that look like bytes but are not, and getMany's result for missing keys.
const test = require('ava')
const { Store } = require('..')
const { tmpStore } = require('./helpers.js')

/** Passes `instanceof Uint8Array` but is no typed array (ArrayBuffer.isView is false). */
const fake = () => Object.create(Uint8Array.prototype)

function detachedDataView () {
  const ab = new ArrayBuffer(16)
  const dv = new DataView(ab, 4, 8)
  structuredClone(ab, { transfer: [ab] })
  return dv
}

test('a fake Uint8Array as a key is ERR_INVALID_ARG_TYPE in every read and write, and nothing is written', async (t) => {
  const s = Store.openSync(tmpStore())
  await s.put('a', 'x')
  const code = { code: 'ERR_INVALID_ARG_TYPE', instanceOf: TypeError }
  t.throws(() => s.get(fake()), code)
  t.throws(() => s.getCopy(fake()), code)
  t.throws(() => s.has(fake()), code)
  t.throws(() => s.putSync(fake(), 'v'), code)
  t.throws(() => s.deleteSync(fake()), code)
  t.throws(() => s.putManySync([['b', 'v'], [fake(), 'v']]), code)
  t.throws(() => s.getMany([fake()]), code)
  t.throws(() => s.getMany(Array.from({ length: 8 }, (_, i) => (i === 5 ? fake() : `k${i}`))), code)
  await t.throwsAsync(s.put(fake(), 'v'), code)
  await t.throwsAsync(s.delete(fake()), code)
  await t.throwsAsync(s.putMany([['c', 'v'], [fake(), 'v']]), code)
  t.is(s.size, 1)
  t.deepEqual([...s.keys()].map(String), ['a'])
  await s.close()
})

test('a fake Uint8Array or a DataView over a detached buffer as a value is ERR_INVALID_ARG_TYPE, and nothing is written', async (t) => {
  const s = Store.openSync(tmpStore())
  const code = { code: 'ERR_INVALID_ARG_TYPE', instanceOf: TypeError }
  for (const bad of [fake, detachedDataView]) {
    t.throws(() => s.putSync('k', bad()), code)
    t.throws(() => s.putManySync([['k1', 'v'], ['k2', bad()]]), code)
    await t.throwsAsync(s.put('k', bad()), code)
    await t.throwsAsync(s.putMany([['k1', 'v'], ['k2', bad()]]), code)
  }
  t.is(s.size, 0)
  await s.close()
})

for (const n of [7, 8, 40]) {
  test(`getMany of ${n} keys gives undefined, not holes, for the missing ones`, async (t) => {
    const s = Store.openSync(tmpStore())
    for (let i = 0; i < n; i += 2) s.putSync(`k${i}`, `v${i}`)
    const keys = Array.from({ length: n }, (_, i) => `k${i}`)
    const r = s.getMany(keys)
    t.is(r.length, n)
    t.is(Object.keys(r).length, n)
    for (let i = 0; i < n; i++) {
      t.true(Object.prototype.hasOwnProperty.call(r, i), `index ${i}`)
      if (i % 2 === 0) t.is(String(r[i]), `v${i}`)
      else t.is(r[i], undefined)
    }
    t.deepEqual(r.map((v) => (v === undefined ? 'd' : String(v))), keys.map((k, i) => (i % 2 === 0 ? `v${i}` : 'd')))
    await s.close()
  })
}
