'use strict'
// simd-r-drive/keyv under Keyv 6 (the devDependency `keyv6`, an alias of keyv@^6), whose
// 6.1 needs Node >= 22.19: on older Node these tests are skipped, and the test matrix
// (scripts/test-matrix.sh) runs them on Node 22 and 24 with SIMD_R_DRIVE_REQUIRE_KEYV6=1,
// which turns the skip into a failure.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { tmpStore } = require('./helpers.js')
const KeyvSimdRDrive = require('../keyv.js')

const [major, minor] = process.versions.node.split('.').map(Number)
const supported = major > 22 || (major === 22 && minor >= 19)
const required = process.env.SIMD_R_DRIVE_REQUIRE_KEYV6 === '1'

if (!supported && !required) {
  test.skip(`Keyv 6 (needs Node >= 22.19; this is ${process.version})`, () => {})
} else if (!supported) {
  test(`Keyv 6 is required here (SIMD_R_DRIVE_REQUIRE_KEYV6=1) but Node is ${process.version}`, (t) => {
    t.fail('Keyv 6 needs Node >= 22.19')
  })
} else {
  const { Keyv } = require('keyv6')
  const { Keyv: Keyv5 } = require('keyv')

  test('keyv6 is Keyv 6', (t) => {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'node_modules', 'keyv6', 'package.json'), 'utf8'))
    t.is(pkg.version.split('.')[0], '6')
  })

  test('Keyv 6 takes the adapter as it is (its contract, not its bridge for older adapters)', async (t) => {
    const adapter = new KeyvSimdRDrive(tmpStore())
    const keyv = new Keyv({ store: adapter, namespace: 'app' })
    t.is(keyv.store, adapter)
    t.is(adapter.namespace, 'app')
    t.true(adapter.capabilities.expires)
    t.is(adapter.capabilities.store, 'keyvStorage')
    for (const m of ['get', 'getMany', 'has', 'hasMany', 'set', 'setMany', 'delete', 'deleteMany', 'clear', 'iterator']) {
      t.true(adapter.capabilities.methods[m].exists, m)
    }
    await keyv.disconnect()
  })

  test('set/get with a ttl: keys stored as namespace:key, the value plain, the expiry the store\'s own', async (t) => {
    const adapter = new KeyvSimdRDrive(tmpStore())
    const keyv = new Keyv({ store: adapter, namespace: 'app' })
    const before = Date.now()
    t.true(await keyv.set('user:1', { name: 'Ada' }, 60_000))
    t.true(await keyv.set('forever', 'x'))
    t.deepEqual(await keyv.get('user:1'), { name: 'Ada' })
    const s = await adapter.getStore()
    const raw = s.get('app:user:1')
    t.truthy(raw, 'stored under namespace:key')
    t.deepEqual(JSON.parse(raw.toString()).value, { name: 'Ada' }, 'the serialized string, nothing in front')
    const at = s.expiresAt('app:user:1')
    t.true(at >= before + 60_000 && at <= Date.now() + 60_001, `expires at ${at}`)
    t.is(s.expiresAt('app:forever'), undefined)
    await keyv.disconnect()
  })

  test('getMany, hasMany, setMany with expires, deleteMany with a boolean per key, delete', async (t) => {
    const adapter = new KeyvSimdRDrive(tmpStore())
    const keyv = new Keyv({ store: adapter, namespace: 'm' })
    t.deepEqual(await keyv.setMany([{ key: 'a', value: 1 }, { key: 'b', value: 2, ttl: 60_000 }]), [true, true])
    const s = await adapter.getStore()
    t.true(s.expiresAt('m:b') > Date.now())
    t.deepEqual(await keyv.getMany(['a', 'b', 'c']), [1, 2, undefined])
    t.deepEqual(await keyv.hasMany(['a', 'c']), [true, false])
    t.true(await keyv.has('a'))
    t.deepEqual(await adapter.deleteMany(['a', 'zz']), [true, false])
    t.true(await keyv.delete('b'))
    t.false(await keyv.delete('b'))
    t.deepEqual(await keyv.getMany(['a', 'b']), [undefined, undefined])
    await keyv.disconnect()
  })

  test('iterator() works without wiring, keys without the namespace; clear() keeps to the namespace', async (t) => {
    const file = tmpStore()
    const one = new Keyv({ store: new KeyvSimdRDrive(file), namespace: 'one' })
    const two = new Keyv({ store: new KeyvSimdRDrive(file), namespace: 'two' })
    await one.set('a', 'A')
    await one.set('b', 'B', 60_000)
    await two.set('a', 'other')
    const seen = []
    for await (const [k, v] of one.iterator()) seen.push([k, v])
    t.deepEqual(seen.sort(), [['a', 'A'], ['b', 'B']])
    await one.clear()
    t.is(await one.get('a'), undefined)
    t.is(await two.get('a'), 'other')
    await Promise.all([one.disconnect(), two.disconnect()])
  })

  test('one file reads the same under Keyv 5 and Keyv 6', async (t) => {
    const file = tmpStore()
    const k5 = new Keyv5({ store: new KeyvSimdRDrive(file), namespace: 'shared' })
    await k5.set('from5', { n: 5 }, 60_000)
    await k5.disconnect()
    const k6 = new Keyv({ store: new KeyvSimdRDrive(file), namespace: 'shared' })
    t.deepEqual(await k6.get('from5'), { n: 5 })
    await k6.set('from6', { n: 6 })
    await k6.disconnect()
    const again = new Keyv5({ store: new KeyvSimdRDrive(file), namespace: 'shared' })
    t.deepEqual(await again.get('from6'), { n: 6 })
    t.deepEqual(await again.get('from5'), { n: 5 })
    await again.disconnect()
  })

  test('values must be strings (serialization on); one that looks like an older form reads back as itself', async (t) => {
    const adapter = new KeyvSimdRDrive(tmpStore())
    const keyv = new Keyv({ store: adapter, serialization: false })
    const errors = []
    keyv.on('error', (e) => errors.push(e))
    // Without serialization Keyv 6 hands over its envelope object: the adapter takes strings only.
    t.false(await keyv.set('k', 'v'))
    t.is(errors[0]?.code, 'ERR_INVALID_ARG_TYPE')
    await keyv.disconnect()
    const b = new KeyvSimdRDrive(tmpStore())
    const direct = new Keyv({ store: b })
    t.is(b.namespace, undefined)
    await b.set('raw', '1600000000000:"x"')
    t.is(await b.get('raw'), '1600000000000:"x"')
    await direct.disconnect()
  })

  test('an adapter that served Keyv 5 is refused by Keyv 6 (ERR_INVALID_STATE), not misread', async (t) => {
    const adapter = new KeyvSimdRDrive(tmpStore())
    const k5 = new Keyv5({ store: adapter })
    await k5.set('a', 1)
    const err = t.throws(() => new Keyv({ store: adapter }))
    t.is(err.code, 'ERR_INVALID_STATE')
    await k5.disconnect()
  })

  test('createKeyv with Keyv 6\'s class', async (t) => {
    const keyv = KeyvSimdRDrive.createKeyv(tmpStore(), { Keyv, namespace: 'c' })
    t.true(keyv instanceof Keyv)
    await keyv.set('x', 1)
    const seen = []
    for await (const e of keyv.iterator()) seen.push(e)
    t.deepEqual(seen, [['x', 1]])
    await keyv.disconnect()
  })
}
