'use strict'
// putManySync reads an array of [key, value] pairs in place (src/entries.rs) and falls back
// to staging in JavaScript for anything else. These tests hold the two paths to the same
// results, the same errors, and the same all-or-nothing batch.
const test = require('ava')
const { Store } = require('..')
const { tmpStore } = require('./helpers.js')

const bytes = (v) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength))

/** Keys and values of every kind the direct path reads, at the lengths where it changes course. */
function mixedEntries () {
  const pool = Buffer.alloc(4096)
  for (let i = 0; i < pool.length; i++) pool[i] = (i * 131 + 7) & 0xff
  const out = [
    ['ascii', 'value'],
    ['ключ-😀', 'значение-😀'],
    ['lone \uD800 surrogate', 'value with \uDC00 lone low surrogate'],
    [Buffer.from([0, 1, 2, 255]), pool.subarray(3, 200)],
    [new Uint8Array([9, 8, 7]), new Uint8Array(pool.buffer, pool.byteOffset + 1000, 77)],
    ['x'.repeat(65535), 'the longest ASCII key'],
    ['é'.repeat(32767) + 'a', 'the longest two-byte key'],
    ['big string value', 'ü'.repeat(300000)],
    ['big buffer value', Buffer.alloc(3 << 20, 0x5a)]
  ]
  // Strings around the native side's first-try buffer of 256 bytes, in 1-, 2-, 3- and 4-byte
  // characters, so that some end exactly at the edge and some are cut in the middle of one.
  for (let n = 248; n <= 260; n++) {
    out.push(['a'.repeat(n), 'é'.repeat(n)])
    out.push(['é'.repeat(n >> 1) + 'k' + n, '€'.repeat(n / 3 | 0) + 'v' + n])
    out.push(['😀'.repeat(n >> 2) + 'k' + n, '😀'.repeat(n >> 2) + 'x'.repeat(n & 3)])
  }
  return out
}

test('putManySync stores exactly what putMany stores, for every kind of key and value', async (t) => {
  const entries = mixedEntries()
  const direct = await Store.open(tmpStore())
  const staged = await Store.open(tmpStore())
  direct.putManySync(entries)
  await staged.putMany(entries)
  t.is(direct.size, staged.size)
  for (const [k, v] of entries) {
    // (Buffer#equals: ava's deepEqual takes seconds on values of megabytes.)
    t.true(bytes(v).equals(direct.get(k)), `direct: ${String(k).slice(0, 20)}`)
    t.true(bytes(v).equals(staged.get(k)), `staged: ${String(k).slice(0, 20)}`)
  }
  t.deepEqual([...direct.keys()].map((k) => k.toString('hex')).sort(), [...staged.keys()].map((k) => k.toString('hex')).sort())
  await direct.close()
  await staged.close()
})

test('a large putManySync (read and written on two threads) stores what putMany stores', async (t) => {
  // Several chunks of the pipelined path (src/entries.rs), every kind in each of them.
  const mixed = mixedEntries().filter(([k, v]) => k.length < 1000 && v.length < 1 << 16)
  const entries = Array.from({ length: 30000 }, (_, i) => {
    const [k, v] = mixed[i % mixed.length]
    const key = typeof k === 'string' ? k + '#' + i : Buffer.concat([Buffer.from(k), Buffer.from('#' + i)])
    return [key, v]
  })
  const direct = await Store.open(tmpStore())
  const staged = await Store.open(tmpStore())
  direct.putManySync(entries)
  await staged.putMany(entries)
  t.is(direct.size, entries.length)
  t.is(direct.size, staged.size)
  for (const [k, v] of entries) {
    if (!bytes(v).equals(direct.get(k))) t.fail(`direct: ${String(k).slice(0, 20)}`)
    if (!bytes(v).equals(staged.get(k))) t.fail(`staged: ${String(k).slice(0, 20)}`)
  }
  await direct.close()
  await staged.close()
})

test('putManySync writes one batch: the last value of a repeated key wins, and it survives a reopen', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  s.putManySync([['k', 'one'], ['other', 'x'], ['k', 'two']])
  t.is(s.get('k').toString(), 'two')
  t.is(s.size, 2)
  await s.close()
  const r = await Store.open(p)
  t.is(r.get('k').toString(), 'two')
  t.is(r.get('other').toString(), 'x')
  await r.close()
})

test('entries the direct path does not read are staged in JavaScript and give the same results', async (t) => {
  const s = await Store.open(tmpStore())
  const f = new Float32Array([1.5, -2])
  s.putManySync([
    ['empty', Buffer.alloc(0)],
    ['empty string', ''],
    ['float', f],
    ['clamped', new Uint8ClampedArray([1, 2, 300])],
    ['view', new DataView(new ArrayBuffer(4), 1, 2)]
  ])
  t.is(s.get('empty').length, 0)
  t.is(s.get('empty string').length, 0)
  t.deepEqual(s.get('float'), Buffer.from(f.buffer))
  t.deepEqual([...s.get('clamped')], [1, 2, 255])
  t.deepEqual([...s.get('view')], [0, 0])
  // An iterable that is not an array goes the staged way too.
  s.putManySync(new Map([['from map', 'm']]))
  t.is(s.get('from map').toString(), 'm')
  await s.close()
})

test('a bad entry anywhere in putManySync throws the staged path\'s error and writes nothing', async (t) => {
  const s = await Store.open(tmpStore())
  s.putManySync([['before', '0']])
  const good = Array.from({ length: 100 }, (_, i) => ['k' + i, 'v' + i])
  const bad = [
    [['x'.repeat(65536), 'v'], 'ERR_INVALID_KEY'],
    [['é'.repeat(32768), 'v'], 'ERR_INVALID_KEY'],
    [['', 'v'], 'ERR_INVALID_KEY'],
    [[Buffer.alloc(0), 'v'], 'ERR_INVALID_KEY'],
    [[42, 'v'], 'ERR_INVALID_ARG_TYPE'],
    [['k', 42], 'ERR_INVALID_ARG_TYPE'],
    [['k', null], 'ERR_INVALID_ARG_TYPE'],
    [['only a key'], 'ERR_INVALID_ARG_TYPE'],
    [{ 0: 'k', 1: 'v', length: 2 }, 'ERR_INVALID_ARG_TYPE']
  ]
  for (const [entry, code] of bad) {
    for (const at of [0, 50, 100]) {
      const entries = [...good.slice(0, at), entry, ...good.slice(at)]
      t.throws(() => s.putManySync(entries), { code }, `${JSON.stringify(entry).slice(0, 40)} at ${at}`)
    }
  }
  // The same in a batch large enough to be written while it is read: the bad entry comes
  // after whole chunks were written, and they are given up.
  const many = Array.from({ length: 20000 }, (_, i) => ['m' + i, 'v' + i])
  for (const [entry, code] of bad) {
    for (const at of [0, 9000, 20000]) {
      const entries = [...many.slice(0, at), entry, ...many.slice(at)]
      t.throws(() => s.putManySync(entries), { code }, `${JSON.stringify(entry).slice(0, 40)} at ${at}`)
    }
  }
  t.is(s.size, 1)
  t.is(s.get('k0'), undefined)
  t.is(s.get('m0'), undefined)
  // The store still takes writes, in order, and holds them after a reopen.
  s.putManySync(good)
  t.is(s.size, 101)
  const p = s.path
  await s.close()
  const r = await Store.open(p)
  t.is(r.size, 101)
  t.is(r.get('k99').toString(), 'v99')
  t.is(r.get('m0'), undefined)
  await r.close()
})

test('after a large putManySync was given up, the store writes on', async (t) => {
  const s = await Store.open(tmpStore())
  s.putManySync([['before', '0']])
  const good = Array.from({ length: 100 }, (_, i) => ['k' + i, 'v' + i])
  t.throws(() => s.putManySync([...Array.from({ length: 20000 }, (_, i) => ['m' + i, 'v' + i]), ['k', 42]]), { code: 'ERR_INVALID_ARG_TYPE' })
  s.putManySync(good)
  t.is(s.size, 101)
  await s.put('after', '1')
  t.is(s.get('after').toString(), '1')
  await s.close()
})

test('a write from an accessor of an entry is refused, and the batch is all or nothing', async (t) => {
  const s = await Store.open(tmpStore())
  const entries = [['a', '1'], ['b', '2']]
  let seen
  Object.defineProperty(entries[1], 1, {
    get () {
      try {
        s.putSync('inner', 'x')
      } catch (e) {
        seen = e
      }
      return '2'
    }
  })
  s.putManySync(entries)
  t.is(seen.code, 'ERR_INVALID_STATE')
  t.is(s.get('inner'), undefined)
  t.is(s.get('b').toString(), '2')
  // An accessor that throws: its error comes out and nothing of the batch is written.
  const throwing = [['c', '3'], ['d', '4']]
  Object.defineProperty(throwing, 1, { get () { throw new Error('from the accessor') } })
  t.throws(() => s.putManySync(throwing), { message: 'from the accessor' })
  t.is(s.get('c'), undefined)
  // The turn of the failed call was given up: later writes still commit.
  await s.put('later', 'ok')
  s.putManySync([['last', 'ok']])
  t.is(s.get('later').toString(), 'ok')
  t.is(s.get('last').toString(), 'ok')
  await s.close()
})

test('an accessor that detaches an earlier entry\'s buffer does not make putManySync read freed memory', async (t) => {
  const s = await Store.open(tmpStore())
  const victim = new Uint8Array(new ArrayBuffer(64)).fill(7)
  const entries = [['victim', victim], ['other', 'x']]
  let detached = false
  Object.defineProperty(entries[1], 1, {
    get () {
      if (!detached) {
        detached = true
        structuredClone(victim.buffer, { transfer: [victim.buffer] })
      }
      return 'x'
    }
  })
  // The detached view is empty and unattached, which the staged path rejects.
  t.throws(() => s.putManySync(entries), { code: 'ERR_INVALID_ARG_TYPE' })
  t.is(s.get('victim'), undefined)
  t.is(s.get('other'), undefined)
  await s.close()
})

test('putManySync commits after the puts of the same tick that came before it', async (t) => {
  const s = await Store.open(tmpStore())
  const first = s.put('k', 'from put')
  s.putManySync([['k', 'from putManySync'], ['j', 'x']])
  await first
  t.is(s.get('k').toString(), 'from putManySync')
  await s.close()
})

test('putManySync follows the store\'s state: read-only and closed stores refuse it', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  s.putManySync([['a', '1']])
  await s.close()
  t.throws(() => s.putManySync([['a', '2']]), { code: 'ERR_STORE_CLOSED' })
  const r = await Store.open(p, { readOnly: true })
  t.throws(() => r.putManySync([['a', '2']]), { code: 'ERR_STORE_READ_ONLY' })
  t.is(r.get('a').toString(), '1')
  await r.close()
})
