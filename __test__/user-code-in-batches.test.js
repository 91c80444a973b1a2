'use strict'
// User code that runs while a batch is being built (accessors, iterators, byteLength
// getters, Proxies) can neither lose a write nor make the store write bytes it was not
// given (issue 21, items 1-3).
const test = require('ava')
const { Store } = require('..')
const { tmpStore } = require('./helpers.js')

async function reopened (s) {
  const p = s.path
  await s.close()
  return Store.open(p)
}

for (const inner of ['flush', 'putSync', 'compact', 'close']) {
  test(`putMany whose getter calls ${inner}() writes its entries or rejects, never resolves without them`, async (t) => {
    const s = await Store.open(tmpStore())
    const first = s.put('first', '1')
    let innerResult = null
    const pair = ['a', null]
    Object.defineProperty(pair, 1, {
      get () {
        try {
          const r = inner === 'putSync' ? s.putSync('sync', 'x') : s[inner]()
          if (r && typeof r.then === 'function') innerResult = r.then(() => 'ok', (e) => e.code)
          else innerResult = Promise.resolve('ok')
        } catch (e) {
          innerResult = Promise.resolve(e.code)
        }
        return 'VALUE'
      }
    })
    const many = s.putMany([pair, ['b', 'v']])
    const outcome = await many.then(() => 'resolved', (e) => e.code)
    await first
    const innerOutcome = await innerResult
    if (inner === 'close') {
      t.is(outcome, 'ERR_STORE_CLOSED', 'the store closed while putMany read its entries')
      const r = await Store.open(s.path)
      t.is(r.get('first').toString(), '1')
      t.is(r.get('a'), undefined)
      await r.close()
      return
    }
    if (inner === 'putSync' || inner === 'compact') {
      t.is(innerOutcome, 'ERR_INVALID_STATE', 'a write from inside the read is refused')
    } else {
      t.is(innerOutcome, 'ok')
    }
    t.is(outcome, 'resolved')
    t.is(s.get('a').toString(), 'VALUE')
    t.is(s.get('b').toString(), 'v')
    const r = await reopened(s)
    t.is(r.get('first').toString(), '1')
    t.is(r.get('a').toString(), 'VALUE')
    t.is(r.get('b').toString(), 'v')
    await r.close()
  })
}

test('a write made from inside putMany\'s iterable is refused, not dropped, and its promise settles', async (t) => {
  const s = await Store.open(tmpStore())
  let innerPromise
  const many = s.putMany((function * () {
    innerPromise = s.put('inner', 'x')
    yield ['outer', 'y']
  })())
  const innerOutcome = await Promise.race([
    innerPromise.then(() => 'resolved', (e) => e.code),
    new Promise((resolve) => setTimeout(() => resolve('pending'), 1000))
  ])
  t.is(innerOutcome, 'ERR_INVALID_STATE')
  await many
  // The store still takes writes from both paths afterwards, each committed.
  await s.put('later', 'z')
  const r = await reopened(s)
  t.is(r.get('outer').toString(), 'y')
  t.is(r.get('inner'), undefined)
  t.is(r.get('later').toString(), 'z')
  await r.close()
})

test('putMany reads each entry once: a getter that changes its answer cannot store stale bytes', async (t) => {
  const s = await Store.open(tmpStore())
  await s.put('other', Buffer.alloc(400, 0x41))
  let reads = 0
  const pair = ['k', null]
  Object.defineProperty(pair, 1, {
    get () {
      reads++
      return reads === 1 ? Buffer.alloc(300, 0x42) : Buffer.from('x')
    }
  })
  let keyReads = 0
  const keyPair = [null, 'v']
  Object.defineProperty(keyPair, 0, {
    get () {
      keyReads++
      return keyReads === 1 ? 'a-key' : 'a-muc'
    }
  })
  await s.putMany([pair, keyPair])
  t.is(reads, 1)
  t.is(keyReads, 1)
  t.true(s.get('k').equals(Buffer.alloc(300, 0x42)))
  t.is(s.get('a-key').toString(), 'v')
  t.is(s.get('a-muc'), undefined)
  // The same getters through putManySync (the staged path, for an empty value, and the
  // direct one).
  reads = 0
  keyReads = 0
  s.putManySync([pair, keyPair, ['empty', '']])
  t.is(reads, 1)
  t.is(keyReads, 1)
  t.true(s.get('k').equals(Buffer.alloc(300, 0x42)))
  t.is(s.get('empty').length, 0)
  const r = await reopened(s)
  t.true(r.get('k').equals(Buffer.alloc(300, 0x42)))
  t.is(r.get('a-muc'), undefined)
  await r.verify()
  await r.close()
})

test('a getter whose second answer is longer neither rejects putMany nor breaks a put of the same tick', async (t) => {
  const s = await Store.open(tmpStore())
  let reads = 0
  const pair = ['k', null]
  Object.defineProperty(pair, 1, {
    get () {
      reads++
      return reads === 1 ? 'x' : Buffer.alloc(5000, 1)
    }
  })
  const before = s.put('same-tick', 'ok')
  await s.putMany([pair])
  await before
  t.is(s.get('k').toString(), 'x')
  t.is(s.get('same-tick').toString(), 'ok')
  await s.close()
})

test('a byteLength getter of a subclass, or an own byteLength, decides nothing', async (t) => {
  const s = await Store.open(tmpStore())
  await s.put('pad', Buffer.alloc(8000, 0x55))
  class Liar extends Uint8Array { get byteLength () { return 5000 } }
  const liar = new Liar(3).fill(7)
  const own = Buffer.from('abc')
  Object.defineProperty(own, 'byteLength', { get () { return 4000 } })
  await s.put('liar', liar)
  await s.putMany([['liar-many', liar], ['own', own]])
  s.putSync('liar-sync', liar)
  s.putManySync([['liar-msync', liar], [own, 'own-key']])
  for (const k of ['liar', 'liar-many', 'liar-sync', 'liar-msync']) {
    t.deepEqual([...s.get(k)], [7, 7, 7], k)
  }
  t.is(s.get('own').toString(), 'abc')
  t.is(s.get('abc').toString(), 'own-key')
  t.true(s.has(own))
  const r = await reopened(s)
  t.deepEqual([...r.get('liar-msync')], [7, 7, 7])
  await r.verify()
  await r.close()
})

test('a resizable ArrayBuffer shrunk by a later accessor stores what it holds then, no stale bytes', async (t) => {
  const s = await Store.open(tmpStore())
  await s.put('pad', Buffer.alloc(8000, 0x66))
  for (const how of ['putMany', 'putManySync']) {
    const ab = new ArrayBuffer(300, { maxByteLength: 300 })
    const view = new Uint8Array(ab).fill(9)
    const later = ['later', null]
    Object.defineProperty(later, 1, { get () { ab.resize(10); return 'L' } })
    if (how === 'putMany') await s.putMany([['shrunk', view], later])
    else s.putManySync([['shrunk', view], later])
    const got = s.get('shrunk')
    t.is(got.length, 10, how)
    t.true(got.equals(Buffer.alloc(10, 9)), how)
  }
  await s.verify()
  await s.close()
})

test('Object.create(Uint8Array.prototype) and a DataView over a detached buffer are ERR_INVALID_ARG_TYPE', async (t) => {
  const s = await Store.open(tmpStore())
  const fake = Object.create(Uint8Array.prototype)
  const ab = new ArrayBuffer(8)
  const dv = new DataView(ab)
  structuredClone(ab, { transfer: [ab] })
  for (const [name, call] of [
    ['get key', () => s.get(fake)],
    ['has key', () => s.has(fake)],
    ['getCopy key', () => s.getCopy(fake)],
    ['putSync key', () => s.putSync(fake, 'v')],
    ['putSync value', () => s.putSync('k', fake)],
    ['putSync detached DataView', () => s.putSync('k', dv)],
    ['putManySync key', () => s.putManySync([[fake, 'v']])],
    ['putManySync value', () => s.putManySync([['k', fake]])]
  ]) {
    t.throws(call, { code: 'ERR_INVALID_ARG_TYPE', instanceOf: TypeError }, name)
  }
  for (const [name, call] of [
    ['put key', () => s.put(fake, 'v')],
    ['put value', () => s.put('k', fake)],
    ['put detached DataView', () => s.put('k', dv)],
    ['putMany value', () => s.putMany([['k', fake]])]
  ]) {
    await t.throwsAsync(call(), { code: 'ERR_INVALID_ARG_TYPE', instanceOf: TypeError }, name)
  }
  t.is(s.size, 0)
  await s.close()
})
