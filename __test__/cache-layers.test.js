'use strict'
// simd-r-drive/keyv under the caches built on Keyv 5: cache-manager 7 and cacheable 2, alone
// and as the local layer below a shared Redis (@keyv/redis 5 against a redis-server these
// tests start on a loopback port and stop). Without redis-server the Redis tests are
// skipped (with a message), except under CI=true, where they fail.
const test = require('ava')
const { Keyv } = require('keyv')
const KeyvRedis = require('@keyv/redis').default
const { tmpStore, tmpDir } = require('./helpers.js')
const KeyvSimdRDrive = require('../keyv.js')
const { findRedisServer, startRedis } = require('./redis.js')

// Both are ES modules with a CommonJS build; loaded the way their READMEs show.
const { createCache } = require('cache-manager')
const { Cacheable } = require('cacheable')

test('cache-manager 7: set, get, ttl, wrap, mget, del and clear, stored plain with the store\'s expiry', async (t) => {
  const keyv = KeyvSimdRDrive.createKeyv(tmpStore(), { namespace: 'cm' })
  const cache = createCache({ stores: [keyv], ttl: 60_000 })
  const s = await keyv.opts.store.getStore()
  const before = s.now()
  await cache.set('page:/', '<html>…</html>')
  t.is(await cache.get('page:/'), '<html>…</html>')
  const raw = s.get('cm:page:/')
  t.deepEqual(JSON.parse(raw.toString()).value, '<html>…</html>', 'Keyv\'s serialized value, nothing in front')
  t.true(s.expiresAt('cm:page:/') >= before + 60_000, 'cache-manager\'s ttl is the store\'s expiry')
  await cache.set('short', 1, 300)
  t.true(s.expiresAt('cm:short') <= s.now() + 300)
  let calls = 0
  const load = async () => { calls++; return { id: 42 } }
  t.deepEqual(await cache.wrap('api:42', load), { id: 42 })
  t.deepEqual(await cache.wrap('api:42', load), { id: 42 })
  t.is(calls, 1, 'the second wrap hit the cache')
  t.deepEqual(await cache.mget(['page:/', 'api:42', 'none']), ['<html>…</html>', { id: 42 }, undefined])
  t.true(await cache.del('page:/'))
  t.is(await cache.get('page:/'), undefined)
  await new Promise((resolve) => setTimeout(resolve, 350))
  t.is(await cache.get('short'), undefined, 'expired')
  t.false(s.has('cm:short'), 'the store itself hides it')
  await cache.clear()
  t.is(await cache.get('api:42'), undefined)
  await cache.disconnect()
  t.true(s.closed)
})

test('cacheable 2: the adapter as the primary layer; set, get, ttl shorthand, getOrSet, wrap, delete', async (t) => {
  const adapter = new KeyvSimdRDrive(tmpStore())
  const cache = new Cacheable({ primary: adapter, ttl: '1h' })
  const s = await adapter.getStore()
  const before = s.now()
  await cache.set('session:7', { user: 'ada' })
  t.deepEqual(await cache.get('session:7'), { user: 'ada' })
  const keys = [...s.keys()].map(String)
  t.is(keys.length, 1)
  t.true(s.expiresAt(keys[0]) >= before + 3_600_000, 'the 1h ttl is the store\'s expiry')
  t.deepEqual(JSON.parse(s.get(keys[0]).toString()).value, { user: 'ada' })
  let calls = 0
  t.is(await cache.getOrSet('n', async () => { calls++; return 7 }), 7)
  t.is(await cache.getOrSet('n', async () => { calls++; return 8 }), 7)
  const square = cache.wrap(async (n) => { calls++; return n * n }, { keyPrefix: 'square' })
  t.is(await square(12), 144)
  t.is(await square(12), 144)
  t.is(calls, 2)
  t.true(await cache.delete('session:7'))
  t.is(await cache.get('session:7'), undefined)
  await cache.set('brief', 'x', 200)
  await new Promise((resolve) => setTimeout(resolve, 250))
  t.is(await cache.get('brief'), undefined)
  await cache.disconnect()
})

const redisServer = findRedisServer()
const ci = process.env.CI === 'true'
let redisTest = test
if (redisServer === null) {
  if (ci) {
    test('redis-server is installed (CI=true; .ci/run installs Debian\'s redis-server)', (t) => t.fail('redis-server not found'))
  } else {
    console.log('cache-layers: redis-server is not installed (apt-get install redis-server): the Redis tests are skipped')
  }
  redisTest = test.skip
}

/** A redis-server for one test, stopped when the test ends. */
async function redisFor (t) {
  const server = await startRedis(redisServer, tmpDir())
  t.teardown(() => server.stop())
  return server.url
}

/** The keys and their remaining ttls (ms) in Redis. */
async function redisTtls (url) {
  const adapter = new KeyvRedis(url)
  const client = await adapter.getClient()
  const out = {}
  for (const k of await client.keys('*')) out[k] = await client.pTTL(k)
  await adapter.disconnect()
  return out
}

redisTest('two layers with cacheable: this store local on each machine, Redis shared (@keyv/redis 5, a real redis-server)', async (t) => {
  const url = await redisFor(t)
  const localA = new KeyvSimdRDrive(tmpStore())
  const localB = new KeyvSimdRDrive(tmpStore())
  const a = new Cacheable({ primary: localA, secondary: new KeyvRedis(url), ttl: '10m' })
  const b = new Cacheable({ primary: localB, secondary: new KeyvRedis(url), ttl: '10m' })
  await a.set('report:2026', { rows: 3 })
  const fileA = await localA.getStore()
  const fileB = await localB.getStore()
  t.is(fileA.size, 1, 'in A\'s file')
  const ttls = await redisTtls(url)
  t.is(Object.keys(ttls).length, 1, `in Redis: ${JSON.stringify(ttls)}`)
  t.true(Object.values(ttls)[0] > 590_000, 'with the ttl in Redis too')
  t.is(fileB.size, 0)
  t.deepEqual(await b.get('report:2026'), { rows: 3 }, 'B finds it in Redis')
  t.is(fileB.size, 1, '... and keeps it in its own file')
  const [key] = [...fileB.keys()].map(String)
  t.true(fileB.expiresAt(key) > fileB.now() + 500_000, 'with an expiry in B\'s file')
  // B's own layer answers now, with Redis gone.
  const again = new Cacheable({ primary: localB, ttl: '10m' })
  t.deepEqual(await again.get('report:2026'), { rows: 3 })
  await a.delete('report:2026')
  t.is(fileA.size, 0)
  t.deepEqual(await redisTtls(url), {}, 'deleted in Redis')
  await Promise.all([a.disconnect(), b.disconnect()])
})

redisTest('two layers with cache-manager: stores [this store, Redis]', async (t) => {
  const url = await redisFor(t)
  const localA = KeyvSimdRDrive.createKeyv(tmpStore())
  const localB = KeyvSimdRDrive.createKeyv(tmpStore())
  const shared = () => new Keyv({ store: new KeyvRedis(url) })
  const a = createCache({ stores: [localA, shared()], ttl: 60_000 })
  const b = createCache({ stores: [localB, shared()], ttl: 60_000 })
  await a.set('x', { y: 1 })
  t.deepEqual(await localA.get('x'), { y: 1 })
  t.true(Object.values(await redisTtls(url))[0] > 50_000)
  t.is(await localB.get('x'), undefined)
  t.deepEqual(await b.get('x'), { y: 1 }, 'from Redis')
  let calls = 0
  const load = async () => { calls++; return 'built' }
  t.is(await a.wrap('page', load), 'built')
  t.is(await b.wrap('page', load), 'built')
  t.is(calls, 1, 'B took what A built from Redis')
  await a.disconnect()
  await b.disconnect()
})
