'use strict'
// simd-r-drive/keyv beyond what @keyv/test-suite checks (that suite runs in `npm run test:keyv`):
// the stored format, expiry, namespaces, open failures and disconnect.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { Keyv } = require('keyv')
const { Store } = require('..')
const KeyvSimdRDrive = require('../keyv.js')
const { tmpStore, tmpDir } = require('./helpers.js')

const PAST = 1000 // 1970: long expired

/** A value as the adapter stores it: FF 4B, `<expires>:` and the string. */
function stored (expires, value) {
  return Buffer.concat([Buffer.from([0xff, 0x4b]), Buffer.from(`${expires === undefined ? '' : expires}:${value}`)])
}

/** Opens the adapter's file as a plain Store as well (the same engine within this process). */
async function raw (adapter) {
  return Store.open(adapter.opts.path)
}

test('exports: the class, also as .default and .KeyvSimdRDrive', (t) => {
  t.is(typeof KeyvSimdRDrive, 'function')
  t.is(KeyvSimdRDrive.default, KeyvSimdRDrive)
  t.is(KeyvSimdRDrive.KeyvSimdRDrive, KeyvSimdRDrive)
})

test('a simd-r-drive:// URI, a path or an options object name the file', async (t) => {
  const file = tmpStore()
  const a = new KeyvSimdRDrive(`simd-r-drive://${file}`)
  const b = new KeyvSimdRDrive(file, { sync: true })
  const c = new KeyvSimdRDrive({ uri: `simd-r-drive://${file}`, namespace: 'n' })
  const d = new KeyvSimdRDrive({ path: file })
  for (const x of [a, b, c, d]) {
    t.is(x.opts.path, file)
    t.is(x.opts.url, `simd-r-drive://${file}`)
    t.is(x.opts.dialect, 'simd-r-drive')
  }
  t.is(b.opts.sync, true)
  t.is(c.namespace, 'n')
  await a.set('k', 'v')
  t.is(await d.get('k'), 'v')
  t.true(fs.existsSync(file))
  await Promise.all([a, b, c, d].map((x) => x.disconnect()))
  t.throws(() => new KeyvSimdRDrive(), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new KeyvSimdRDrive('simd-r-drive://'), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new KeyvSimdRDrive({ uri: 42 }), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('values are stored as FF 4B, the expiry and the UTF-8 text', async (t) => {
  const a = new KeyvSimdRDrive(tmpStore())
  const s = await raw(a)
  const before = Date.now()
  await a.set('ns:plain', 'héllo ✓')
  await a.set('ns:ttl', '{"value":1}', 60_000)
  t.true(s.get('ns:plain').equals(stored(undefined, 'héllo ✓')))
  const ttl = s.get('ns:ttl')
  t.deepEqual([ttl[0], ttl[1]], [0xff, 0x4b])
  const [expires, rest] = ttl.toString('utf8', 2).split(/:(.*)/s)
  t.is(rest, '{"value":1}')
  t.true(Number(expires) >= before + 60_000 && Number(expires) <= Date.now() + 60_000 + 1)
  // A ttl of 0, a negative one, or none at all: no expiry.
  await a.set('ns:zero', 'z', 0)
  await a.set('ns:neg', 'n', -5)
  t.true(s.get('ns:zero').equals(stored(undefined, 'z')))
  t.true(s.get('ns:neg').equals(stored(undefined, 'n')))
  // Values written by other code (no prefix) read as a whole, without expiry.
  await s.put('ns:foreign', '{"value":"x"}')
  await s.put('ns:colon', 'a:b')
  t.is(await a.get('ns:foreign'), '{"value":"x"}')
  t.is(await a.get('ns:colon'), 'a:b')
  t.is(await a.get('ns:missing'), undefined)
  await Promise.all([a.disconnect(), s.close()])
})

test('only strings are accepted as values; only a positive finite ttl expires, as in Keyv\'s Map store', async (t) => {
  const a = new KeyvSimdRDrive(tmpStore())
  const s = await raw(a)
  await t.throwsAsync(a.set('k', Buffer.from('x')), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(a.set('k', { value: 1 }), { code: 'ERR_INVALID_ARG_TYPE' })
  for (const ttl of [NaN, '100', Infinity, null, -Infinity]) {
    t.true(await a.set('t', 'v', ttl), String(ttl))
    t.true(s.get('t').equals(stored(undefined, 'v')), `${ttl}: no expiry`)
  }
  // Keyv's own Map store: the same ttls give no expiry there either.
  const map = new Keyv()
  for (const ttl of [NaN, '100', Infinity]) {
    await map.set('t', 'v', ttl)
    t.is(await map.get('t'), 'v', String(ttl))
  }
  await s.close()
  await t.throwsAsync(a.setMany([{ key: 'a', value: 'ok' }, { key: 'b', value: 2 }]), { code: 'ERR_INVALID_ARG_TYPE' })
  t.false(await a.has('a'), 'a failed setMany writes nothing')
  await a.disconnect()
})

test('expired entries read as missing and are deleted when read', async (t) => {
  const a = new KeyvSimdRDrive(tmpStore())
  const s = await raw(a)
  const live = stored(Date.now() + 60_000, '"live"')
  await s.putMany([['g', stored(PAST, '"g"')], ['h', stored(PAST, '"h"')], ['m1', stored(PAST, '1')], ['m2', live], ['d', stored(PAST, '"d"')], ['l', live]])
  t.is(await a.get('g'), undefined)
  t.false(s.has('g'))
  t.false(await a.has('h'))
  t.false(s.has('h'))
  t.deepEqual(await a.getMany(['m1', 'm2', 'nope']), [undefined, '"live"', undefined])
  t.false(s.has('m1'))
  t.deepEqual(await a.hasMany(['m2', 'm1']), [true, false])
  t.false(await a.delete('d'), 'deleting an expired entry reports it as missing')
  t.false(s.has('d'))
  t.true(await a.has('l'))
  await Promise.all([a.disconnect(), s.close()])
})

test('a ttl expires entries in real time', async (t) => {
  const a = new KeyvSimdRDrive(tmpStore())
  await a.set('k', 'v', 1000)
  await a.setMany([{ key: 'm', value: 'w', ttl: 1000 }, { key: 'keep', value: 'x' }])
  t.is(await a.get('k'), 'v')
  t.is(await a.get('m'), 'w')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  t.is(await a.get('k'), undefined)
  t.deepEqual(await a.getMany(['m', 'keep']), [undefined, 'x'])
  await a.disconnect()
})

test('delete and deleteMany report whether the keys had values', async (t) => {
  const a = new KeyvSimdRDrive(tmpStore())
  await a.setMany([{ key: 'a', value: '1' }, { key: 'b', value: '2' }, { key: 'c', value: '3' }])
  t.true(await a.delete('a'))
  t.false(await a.delete('a'))
  t.false(await a.deleteMany(['b', 'zz']), 'not every key had a value')
  t.false(await a.has('b'), 'the ones that existed are deleted all the same')
  t.true(await a.deleteMany(['c']))
  t.true(await a.deleteMany([]), 'no keys: every one of them had a value, as Keyv\'s fallback says')
  const keyv = new Keyv({ store: new Map() })
  t.true(await keyv.deleteMany([]), 'Keyv\'s own answer')
  await a.disconnect()
})

test('clear() deletes the namespace\'s keys only; without a namespace, every key', async (t) => {
  const file = tmpStore()
  const one = new KeyvSimdRDrive(file, { namespace: 'one' })
  const two = new KeyvSimdRDrive(file, { namespace: 'two' })
  const all = new KeyvSimdRDrive(file)
  const s = await raw(all)
  await s.putMany([['one:a', ':1'], ['one:b', ':2'], ['one', ':bare'], ['onex:a', ':3'], ['two:a', ':4'], ['other', ':5']])
  await s.put(Buffer.from([0x6f, 0x6e, 0x65, 0x3a, 0xff, 0xfe]), ':not utf-8') // 'one:' + invalid UTF-8
  await one.clear()
  t.deepEqual([...s.keys()].map((k) => k.toString('latin1')).sort(), ['one', 'onex:a', 'other', 'two:a'])
  await two.clear()
  t.deepEqual([...s.keys()].map((k) => k.toString()).sort(), ['one', 'onex:a', 'other'])
  const before = s.stats().fileBytes
  await all.clear()
  t.is(s.size, 0)
  t.is(s.stats().fileBytes, before + 16, 'one clear entry, not a tombstone per key')
  await Promise.all([one, two, all].map((x) => x.disconnect()))
  await s.close()
})

test('iterator(namespace) yields the live entries of a namespace, keys as stored', async (t) => {
  const file = tmpStore()
  const a = new KeyvSimdRDrive(file, { namespace: 'ns' })
  const s = await raw(a)
  await s.putMany([['ns:a', stored(undefined, '1')], ['ns:b', stored(Date.now() + 60_000, '2')], ['ns:old', stored(PAST, '3')], ['other:a', stored(undefined, '4')]])
  const got = []
  for await (const e of a.iterator()) got.push(e)
  t.deepEqual(got.sort(), [['ns:a', '1'], ['ns:b', '2']])
  t.false(s.has('ns:old'), 'the expired entry was deleted')
  const others = []
  for await (const e of a.iterator('other')) others.push(e)
  t.deepEqual(others, [['other:a', '4']])
  const everything = []
  a.namespace = undefined
  for await (const [k] of a.iterator()) everything.push(k)
  t.deepEqual(everything.sort(), ['ns:a', 'ns:b', 'other:a'])
  await Promise.all([a.disconnect(), s.close()])
})

test('the iterator does not delete an entry rewritten after its snapshot', async (t) => {
  const a = new KeyvSimdRDrive(tmpStore())
  const s = await raw(a)
  await s.putMany([['a', stored(undefined, 'first')], ['b', stored(PAST, 'old')]])
  const it = a.iterator()
  t.deepEqual((await it.next()).value, ['a', 'first'])
  // 'b' is expired in the snapshot the iterator holds, but is set again now.
  await a.set('b', 'fresh')
  t.true((await it.next()).done)
  t.is(await a.get('b'), 'fresh')
  await Promise.all([a.disconnect(), s.close()])
})

test('works as a Keyv store: namespaces, ttl, iteration through generateIterator', async (t) => {
  const file = tmpStore()
  const adapter = new KeyvSimdRDrive(`simd-r-drive://${file}`)
  const keyv = new Keyv({ store: adapter, namespace: 'cache' })
  t.is(adapter.namespace, 'cache')
  await keyv.set('user:1', { name: 'Ada' })
  await keyv.set('gone', 'soon', 30)
  t.deepEqual(await keyv.get('user:1'), { name: 'Ada' })
  const s = await adapter.getStore()
  t.true(s.has('cache:user:1'))
  await new Promise((resolve) => setTimeout(resolve, 60))
  t.is(await keyv.get('gone'), undefined)
  t.false(s.has('cache:gone'))
  keyv.iterator = keyv.generateIterator(adapter.iterator.bind(adapter))
  const seen = []
  for await (const [k, v] of keyv.iterator()) seen.push([k, v])
  t.deepEqual(seen, [['user:1', { name: 'Ada' }]])
  await keyv.clear()
  t.is(s.size, 0)
  const c = await (await adapter.getStore()).compact()
  t.true(c.reclaimedBytes > 0)
  await keyv.disconnect()
  t.true(s.closed)
})

test('read-only: reads work, expired entries are skipped without deleting', async (t) => {
  const file = tmpStore()
  const w = await Store.open(file)
  await w.putMany([['k', stored(undefined, 'v')], ['old', stored(PAST, 'x')]])
  await w.close()
  const a = new KeyvSimdRDrive(file, { readOnly: true })
  t.is(await a.get('k'), 'v')
  t.is(await a.get('old'), undefined)
  const seen = []
  for await (const e of a.iterator()) seen.push(e)
  t.deepEqual(seen, [['k', 'v']])
  await t.throwsAsync(a.set('k', 'w'), { code: 'ERR_STORE_READ_ONLY' })
  await a.disconnect()
  const r = await Store.open(file, { readOnly: true })
  t.true(r.has('old'))
  await r.close()
})

test('an open failure rejects every call and is emitted as an error', async (t) => {
  const dir = tmpDir()
  const notAStore = path.join(dir, 'text.srd')
  fs.writeFileSync(notAStore, 'this is not a store file, just text that is long enough to have a header')
  const a = new KeyvSimdRDrive(notAStore)
  const emitted = new Promise((resolve) => a.on('error', resolve))
  t.is((await emitted).code, 'ERR_NOT_A_STORE')
  await t.throwsAsync(a.get('k'), { code: 'ERR_NOT_A_STORE' })
  await t.throwsAsync(a.set('k', 'v'), { code: 'ERR_NOT_A_STORE' })
  await a.disconnect() // nothing to close; does not throw
  // Through Keyv, the error is re-emitted on the Keyv instance and set() reports false.
  const b = new KeyvSimdRDrive({ path: path.join(dir, 'missing.srd'), create: false })
  const keyv = new Keyv({ store: b })
  const errors = []
  keyv.on('error', (e) => errors.push(e))
  t.false(await keyv.set('k', 'v'))
  t.true(errors.length >= 1)
  t.true(errors.every((e) => e.code === errors[0].code && typeof e.code === 'string'))
  t.false(fs.existsSync(path.join(dir, 'missing.srd')))
})

test('disconnect() waits for writes, is idempotent, and later calls reject', async (t) => {
  const file = tmpStore()
  const a = new KeyvSimdRDrive(file)
  const p = a.set('k', 'v')
  const d1 = a.disconnect()
  const d2 = a.disconnect()
  t.is(d1, d2)
  await Promise.all([p, d1])
  await t.throwsAsync(a.get('k'), { code: 'ERR_STORE_CLOSED' })
  const b = new KeyvSimdRDrive(file)
  t.is(await b.get('k'), 'v')
  await b.disconnect()
})

test('values other code wrote are never deleted for "expiring"; the format of 0.2 still reads', async (t) => {
  const a = new KeyvSimdRDrive(tmpStore())
  const s = await raw(a)
  const legacyLive = `${Date.now() + 60_000}:"old live"`
  const legacyExpired = '1600000000000:"old expired"' // 2020, in the format of versions up to 0.2
  await s.putMany([['time', '12:30'], ['ratio', '1:2'], ['bin', Buffer.from([0xff, 0x4b, 0x31])],
    ['v02', ':"plain"'], ['v02live', legacyLive], ['v02old', legacyExpired]])
  t.is(await a.get('time'), '12:30', 'read as a whole, not as expired at 12 ms after the epoch')
  t.is(await a.get('ratio'), '1:2')
  t.deepEqual(await a.getMany(['time', 'ratio']), ['12:30', '1:2'])
  t.deepEqual(await a.hasMany(['time', 'ratio']), [true, true])
  t.is(await a.get('bin'), Buffer.from([0xff, 0x4b, 0x31]).toString('utf8'), 'a marker without "<digits>:" is no entry of ours')
  t.is(await a.get('v02'), '"plain"')
  t.is(await a.get('v02live'), '"old live"')
  t.is(await a.get('v02old'), undefined, 'an expired entry of 0.2 reads as missing')
  for await (const e of a.iterator()) t.not(e[0], 'v02old')
  t.true(s.has('v02old'), '... but is not deleted: other code may have written it')
  for (const k of ['time', 'ratio', 'bin']) t.true(s.has(k), k)
  // Through Keyv as well.
  const keyv = new Keyv({ store: a })
  await s.put('shared', '42:{"value":1}')
  await keyv.get('shared')
  await keyv.getMany(['shared'])
  t.true(s.has('shared'))
  await Promise.all([a.disconnect(), s.close()])
})

test('a keyv.set() started just before keyv.disconnect() is written', async (t) => {
  for (let i = 0; i < 6; i++) {
    const file = tmpStore()
    const keyv = new Keyv({ store: new KeyvSimdRDrive(file) })
    const errors = []
    keyv.on('error', (e) => errors.push(e))
    await keyv.set('warm', 0)
    const p = keyv.set('k', i)
    const m = keyv.setMany([{ key: 'm', value: i }])
    await keyv.disconnect()
    t.true(await p, `run ${i}`)
    t.deepEqual(await m, [true])
    t.deepEqual(errors, [])
    const again = new Keyv({ store: new KeyvSimdRDrive(file) })
    t.is(await again.get('k'), i)
    t.is(await again.get('m'), i)
    await again.disconnect()
  }
  // After disconnect() has resolved, calls reject.
  const a = new KeyvSimdRDrive(tmpStore())
  await a.disconnect()
  await t.throwsAsync(a.set('k', 'v'), { code: 'ERR_STORE_CLOSED' })
})

test('the README\'s Keyv snippet is what test-keyv/types.ts type-checks', (t) => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8')
  const types = fs.readFileSync(path.join(__dirname, '..', 'test-keyv', 'types.ts'), 'utf8')
  const lines = ['keyv.iterator = keyv.generateIterator(store.iterator.bind(store))',
    'for await (const [key, value] of keyv.iterator(keyv.namespace)) console.log(key, value)']
  for (const line of lines) {
    t.true(readme.includes(line), `README: ${line}`)
    t.true(types.includes(line), `types.ts: ${line}`)
  }
})

test('keyv.d.ts type-checks for CommonJS and ES module consumers (tsc --noEmit)', async (t) => {
  const tsc = require.resolve('typescript/bin/tsc')
  const project = path.join(__dirname, '..', 'test-keyv', 'tsconfig.json')
  const r = await new Promise((resolve) => {
    execFile(process.execPath, [tsc, '-p', project], (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, out: stdout + stderr })
    })
  })
  t.is(r.code, 0, r.out)
})
