'use strict'
// simd-r-drive/keyv beyond what @keyv/test-suite checks (that suite runs in `npm run test:keyv`):
// the stored format (plain values, the store's own expiry), the older formats, expiry,
// namespaces, open failures and disconnect. Keyv 6: keyv6.test.js.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { Keyv } = require('keyv')
const { Store } = require('..')
const KeyvSimdRDrive = require('../keyv.js')
const { tmpStore, tmpDir } = require('./helpers.js')

const PAST = 1000 // 1970: long expired

/** A value in the adapter's FF 4B form (before the store's own expiry): FF 4B, `<expires>:` and the string. */
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
  // Reads copy by default (values become strings at once); copyValues: false is zero-copy.
  t.true((await a.getStore())._copy)
  const z = new KeyvSimdRDrive(file, { copyValues: false })
  t.false((await z.getStore())._copy)
  await z.disconnect()
  await a.set('k', 'v')
  t.is(await d.get('k'), 'v')
  t.true(fs.existsSync(file))
  await Promise.all([a, b, c, d].map((x) => x.disconnect()))
  t.throws(() => new KeyvSimdRDrive(), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new KeyvSimdRDrive('simd-r-drive://'), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new KeyvSimdRDrive({ uri: 42 }), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('values are stored as their UTF-8 bytes alone, the ttl as the store\'s own expiry', async (t) => {
  const a = new KeyvSimdRDrive(tmpStore())
  const s = await raw(a)
  const before = s.now()
  await a.set('ns:plain', 'héllo ✓')
  await a.set('ns:ttl', '{"value":1}', 60_000)
  t.true(s.get('ns:plain').equals(Buffer.from('héllo ✓')), 'byte-exact, no prefix')
  t.is(s.expiresAt('ns:plain'), undefined)
  t.true(s.get('ns:ttl').equals(Buffer.from('{"value":1}')))
  const at = s.expiresAt('ns:ttl')
  t.true(at >= before + 60_000 && at <= s.now() + 60_000, `expires at ${at}`)
  await a.setMany([{ key: 'ns:m1', value: 'one', ttl: 5000 }, { key: 'ns:m2', value: 'two' }])
  t.true(s.get('ns:m1').equals(Buffer.from('one')))
  t.true(s.expiresAt('ns:m1') > before)
  t.is(s.expiresAt('ns:m2'), undefined)
  // A ttl of 0, a negative one, or none at all: no expiry.
  await a.set('ns:zero', 'z', 0)
  await a.set('ns:neg', 'n', -5)
  t.is(s.expiresAt('ns:zero'), undefined)
  t.is(s.expiresAt('ns:neg'), undefined)
  // Values written by other code read as a whole.
  await s.put('ns:foreign', '{"value":"x"}')
  await s.put('ns:colon', 'a:b')
  t.is(await a.get('ns:foreign'), '{"value":"x"}')
  t.is(await a.get('ns:colon'), 'a:b')
  t.is(await a.get('ns:missing'), undefined)
  await Promise.all([a.disconnect(), s.close()])
})

test('values that look like the older formats read back as themselves, also after reopening', async (t) => {
  const file = tmpStore()
  const a = new KeyvSimdRDrive(file)
  const s = await raw(a)
  // Each would read as something else in the older formats: a 0.2 expiry (expired or live),
  // the 0.2 "no expiry" colon, and one like the FF 4B form (it cannot be: FF is no UTF-8).
  const values = {
    old: '1600000000000:"expired in 2020"',
    live: `${Date.now() + 60_000}:"x"`,
    colon: ':"plain"',
    short: '123:foo',
    mark: '\u00ff\u004b12:x', // U+00FF is C3 BF in UTF-8, not the byte FF
    ttl: '1600000000000:with a ttl'
  }
  for (const [k, v] of Object.entries(values)) await a.set(k, v, k === 'ttl' ? 60_000 : undefined)
  for (const [k, v] of Object.entries(values)) t.is(await a.get(k), v, k)
  t.deepEqual(await a.getMany(Object.keys(values)), Object.values(values))
  t.deepEqual(await a.hasMany(Object.keys(values)), Object.keys(values).map(() => true))
  // The values that could be read as an older form carry the store's expiry field as their
  // mark (2 ** 53 - 1 when they have no ttl); '123:foo' has too few digits to need one.
  t.is(s.expiresAt('old'), Number.MAX_SAFE_INTEGER)
  t.is(s.expiresAt('colon'), Number.MAX_SAFE_INTEGER)
  t.is(s.expiresAt('short'), undefined)
  t.true(s.get('old').equals(Buffer.from(values.old)), 'byte-exact')
  // Bytes FF 4B ... that other code writes with an expiry of its own are plain values too.
  const bytes = Buffer.from([0xff, 0x4b, 0x31, 0x3a, 0x78])
  await s.put('bytes', bytes, { ttl: 60_000 })
  t.is(await a.get('bytes'), bytes.toString('utf8'))
  const seen = {}
  for await (const [k, v] of a.iterator()) seen[k] = v
  t.deepEqual(seen, { ...values, bytes: bytes.toString('utf8') })
  await Promise.all([a.disconnect(), s.close()])
  // Reopened, and read-only: the same.
  for (const readOnly of [false, true]) {
    const b = new KeyvSimdRDrive(file, { readOnly })
    for (const [k, v] of Object.entries(values)) t.is(await b.get(k), v, `${k} (readOnly: ${readOnly})`)
    await b.disconnect()
  }
})

test('only strings are accepted as values; only a positive finite ttl expires, as in Keyv\'s Map store', async (t) => {
  const a = new KeyvSimdRDrive(tmpStore())
  const s = await raw(a)
  await t.throwsAsync(a.set('k', Buffer.from('x')), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(a.set('k', { value: 1 }), { code: 'ERR_INVALID_ARG_TYPE' })
  for (const ttl of [NaN, '100', Infinity, null, -Infinity, 2 ** 60]) {
    t.true(await a.set('t', 'v', ttl), String(ttl))
    t.true(s.get('t').equals(Buffer.from('v')))
    t.is(s.expiresAt('t'), undefined, `${ttl}: no expiry`)
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

// Serial: the clock offset applies to every store opened while it is set.
test.serial('expired entries read as missing, by the store\'s own expiry (its clock moved ahead)', async (t) => {
  const file = tmpStore()
  const a = new KeyvSimdRDrive(file)
  await a.setMany([{ key: 'g', value: '"g"', ttl: 60_000 }, { key: 'keep', value: '"k"' }, { key: 'long', value: '"l"', ttl: 3_600_000 }])
  await a.set('old', ':"0.2-looking"', 60_000)
  await a.disconnect()
  // A store opened while the offset is set reads its clock two minutes ahead.
  process.env.SIMD_R_DRIVE_TEST_CLOCK_OFFSET_MS = String(120_000)
  try {
    const b = new KeyvSimdRDrive(file)
    const s = await b.getStore()
    t.is(await b.get('g'), undefined)
    t.false(await b.has('old'))
    t.deepEqual(await b.getMany(['g', 'keep', 'long', 'old']), [undefined, '"k"', '"l"', undefined])
    t.deepEqual(await b.hasMany(['g', 'keep']), [false, true])
    t.false(await b.delete('g'), 'deleting an expired entry reports it as missing')
    const seen = []
    for await (const [k] of b.iterator()) seen.push(k)
    t.deepEqual(seen.sort(), ['keep', 'long'])
    const c = await s.compact()
    t.true(c.reclaimedBytes > 0, 'compaction drops the expired entries')
    await b.disconnect()
  } finally {
    delete process.env.SIMD_R_DRIVE_TEST_CLOCK_OFFSET_MS
  }
})

test('stores written in the FF 4B form and in the text form of 0.2 read as they did; expired FF 4B entries are deleted when read', async (t) => {
  const file = tmpStore()
  const w = await Store.open(file)
  const live = Date.now() + 60_000
  await w.putMany([
    ['g', stored(PAST, '"g"')], ['h', stored(PAST, '"h"')], ['m1', stored(PAST, '1')], ['m2', stored(live, '"live"')],
    ['d', stored(PAST, '"d"')], ['l', stored(live, '"l"')], ['plain03', stored(undefined, '"no expiry"')],
    ['v02', ':"plain"'], ['v02live', `${live}:"old live"`], ['v02old', '1600000000000:"old expired"'],
    ['time', '12:30'], ['ratio', '1:2'], ['bin', Buffer.from([0xff, 0x4b, 0x31])]
  ])
  await w.close()
  const a = new KeyvSimdRDrive(file)
  const s = await raw(a)
  t.is(await a.get('g'), undefined)
  t.false(s.has('g'), 'deleted when read')
  t.false(await a.has('h'))
  t.false(s.has('h'))
  t.deepEqual(await a.getMany(['m1', 'm2', 'nope']), [undefined, '"live"', undefined])
  t.false(s.has('m1'))
  t.deepEqual(await a.hasMany(['m2', 'm1']), [true, false])
  t.false(await a.delete('d'), 'deleting an expired entry reports it as missing')
  t.false(s.has('d'))
  t.true(await a.has('l'))
  t.is(await a.get('plain03'), '"no expiry"')
  t.is(await a.get('v02'), '"plain"')
  t.is(await a.get('v02live'), '"old live"')
  t.is(await a.get('v02old'), undefined, 'an expired entry of 0.2 reads as missing')
  t.true(s.has('v02old'), '... but is not deleted: other code may have written it')
  t.is(await a.get('time'), '12:30', 'read as a whole, not as expired at 12 ms after the epoch')
  t.is(await a.get('ratio'), '1:2')
  t.is(await a.get('bin'), Buffer.from([0xff, 0x4b, 0x31]).toString('utf8'), 'a marker without "<digits>:" is not the FF 4B form')
  const seen = {}
  for await (const [k, v] of a.iterator()) seen[k] = v
  t.deepEqual(seen, { l: '"l"', m2: '"live"', plain03: '"no expiry"', v02: '"plain"', v02live: '"old live"', time: '12:30', ratio: '1:2', bin: Buffer.from([0xff, 0x4b, 0x31]).toString('utf8') })
  // Written again by this version: plain from then on.
  await a.set('l', ':"now plain"')
  t.is(await a.get('l'), ':"now plain"')
  t.true(s.get('l').equals(Buffer.from(':"now plain"')))
  // Through Keyv as well: Keyv's own values in the FF 4B form still parse.
  await s.put('keyv:user', stored(live, '{"value":{"name":"Ada"},"expires":null}'))
  const keyv = new Keyv({ store: a })
  t.deepEqual(await keyv.get('user'), { name: 'Ada' })
  await Promise.all([a.disconnect(), s.close()])
})

test('a value that may be in the FF 4B form is read with its own entry\'s expiry field, even when a write lands in between', async (t) => {
  const a = new KeyvSimdRDrive(tmpStore())
  const st = await a.getStore()
  await st.put('k', stored(PAST, 'old'))
  // A commit between the read of the value and that of its expiry field: the adapter must
  // not pair the old value with the new entry's field.
  const get = st.get
  let reads = 0
  st.get = function (key) {
    const v = get.call(this, key)
    // Every read of the old value: the first tells that it may be in the FF 4B form.
    if (key === 'k' && ++reads === 2) this.putSync('k', ':new', { ttl: 60_000 })
    return v
  }
  t.is(await a.get('k'), ':new')
  st.get = get
  t.true(st.has('k'), 'the new entry was not deleted')
  await a.disconnect()
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
  await s.putMany([['ns:a', '1'], ['ns:b', '2', { ttl: 60_000 }], ['ns:old', '3', { expiresAt: PAST }], ['ns:v03', stored(PAST, '5')], ['other:a', '4']])
  const got = []
  for await (const e of a.iterator()) got.push(e)
  t.deepEqual(got.sort(), [['ns:a', '1'], ['ns:b', '2']])
  t.false(s.has('ns:v03'), 'the expired entry in the FF 4B form was deleted')
  const others = []
  for await (const e of a.iterator('other')) others.push(e)
  t.deepEqual(others, [['other:a', '4']])
  const everything = []
  a.namespace = undefined
  for await (const [k] of a.iterator()) everything.push(k)
  t.deepEqual(everything.sort(), ['ns:a', 'ns:b', 'other:a'])
  await Promise.all([a.disconnect(), s.close()])
})

test('the iterator does not delete an entry in the FF 4B form rewritten after its snapshot, and reads it again', async (t) => {
  const a = new KeyvSimdRDrive(tmpStore())
  const s = await raw(a)
  await s.putMany([['a', 'first'], ['b', stored(PAST, 'old')], ['c', 'last']])
  const it = a.iterator()
  t.deepEqual((await it.next()).value, ['a', 'first'])
  // 'b' is expired in the snapshot the iterator holds, but is set again now: a value that
  // may be in an older form is read again when the iterator comes to it.
  await a.set('b', 'fresh')
  t.deepEqual((await it.next()).value, ['b', 'fresh'])
  t.deepEqual((await it.next()).value, ['c', 'last'])
  t.true((await it.next()).done)
  t.is(await a.get('b'), 'fresh')
  await Promise.all([a.disconnect(), s.close()])
})

test('works as a Keyv store: namespaces, ttl, iteration, through createKeyv', async (t) => {
  const file = tmpStore()
  const keyv = KeyvSimdRDrive.createKeyv(`simd-r-drive://${file}`, { namespace: 'cache' })
  t.true(keyv instanceof Keyv)
  const adapter = keyv.opts.store
  t.true(adapter instanceof KeyvSimdRDrive)
  t.is(adapter.namespace, 'cache')
  await keyv.set('user:1', { name: 'Ada' })
  await keyv.set('gone', 'soon', 250)
  t.deepEqual(await keyv.get('user:1'), { name: 'Ada' })
  const s = await adapter.getStore()
  t.true(s.has('cache:user:1'))
  t.true(s.expiresAt('cache:gone') > 0)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.is(await keyv.get('gone'), undefined)
  t.false(s.has('cache:gone'), 'the store itself hides it once expired')
  const seen = []
  for await (const [k, v] of keyv.iterator()) seen.push([k, v])
  t.deepEqual(seen, [['user:1', { name: 'Ada' }]])
  await keyv.clear()
  const c = await s.compact()
  t.true(c.reclaimedBytes > 0)
  t.is(s.size, 0, 'the expired key as well, once compacted')
  await keyv.disconnect()
  t.true(s.closed)
  // Keyv 5 itself sets up iterator() only for the adapters it knows by name.
  const plain = new Keyv({ store: new KeyvSimdRDrive(tmpStore()) })
  t.is(plain.iterator, undefined)
  await plain.disconnect()
  // Store options and Keyv options side by side; Keyv's class can be given.
  const k2 = KeyvSimdRDrive.createKeyv({ path: tmpStore(), sync: true, ttl: 60_000, Keyv })
  t.is(k2.opts.store.opts.sync, true)
  await k2.set('a', 1)
  t.true((await k2.opts.store.getStore()).expiresAt('keyv:a') > Date.now(), 'Keyv\'s default ttl reaches the store')
  await k2.disconnect()
})

test('read-only: reads work, expired entries are skipped without deleting', async (t) => {
  const file = tmpStore()
  const w = await Store.open(file)
  await w.putMany([['k', 'v'], ['old', stored(PAST, 'x')], ['gone', 'y', { expiresAt: PAST }]])
  await w.close()
  const a = new KeyvSimdRDrive(file, { readOnly: true })
  t.is(await a.get('k'), 'v')
  t.is(await a.get('old'), undefined)
  t.is(await a.get('gone'), undefined)
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
  const lines = ["const keyv = createKeyv('simd-r-drive://cache.srd', { namespace: 'cache' })"]
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
