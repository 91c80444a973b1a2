'use strict'
// bench/cache.js (issue 17 item 6) at a tiny size: the trace is fixed and Zipf-shaped, the
// ideal FIFO is what a FIFO does, and a quick run measures every store through Keyv and
// deletes what it wrote. Timings are reported, never checked.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { tmpDir, runProcess } = require('./helpers.js')
const cache = require('../bench/cache.js')

const SCRIPT = path.join(__dirname, '..', 'bench', 'cache.js')

/** Runs the benchmark script with `args`; resolves with { code, out, err }. */
const run = (args) => runProcess(process.execPath, [SCRIPT, ...args])

/** Whether the native package `name` loads in this Node (its ABI). */
function loads (name) {
  try {
    require(name)
    return true
  } catch {
    return false
  }
}

test('the trace is fixed by its seed: 90% reads, Zipf 0.99 over the keys', (t) => {
  const a = cache.makeTrace({ keys: 10_000, ops: 50_000 })
  const b = cache.makeTrace({ keys: 10_000, ops: 50_000 })
  t.is(cache.traceDigest(a), cache.traceDigest(b))
  t.not(cache.traceDigest(cache.makeTrace({ keys: 10_000, ops: 50_000, seed: 1 })), cache.traceDigest(a))
  const writes = a.isWrite.reduce((x, y) => x + y, 0)
  t.true(Math.abs(writes / a.ops - 0.1) < 0.01, `writes ${writes}`)
  for (let i = 0; i < a.ops; i++) {
    if (a.isWrite[i]) t.true(a.ttl[i] >= 30 * 60_000 && a.ttl[i] <= 2 * 3_600_000)
    else if (a.ttl[i] !== 0) t.fail('a read with a ttl')
  }
  // The hottest key's share is 1 / H(10000, 0.99), and that of rank 10 a tenth of it, about.
  const counts = new Map()
  for (const k of a.key) counts.set(k, (counts.get(k) || 0) + 1)
  const byCount = [...counts.values()].sort((x, y) => y - x)
  let h = 0
  for (let r = 1; r <= 10_000; r++) h += 1 / Math.pow(r, 0.99)
  const expected = a.ops / h
  t.true(Math.abs(byCount[0] - expected) < 0.15 * expected, `hottest ${byCount[0]}, expected ${expected.toFixed(0)}`)
  t.true(byCount[9] < byCount[0] / 5 && byCount[9] > byCount[0] / 20, `rank 10: ${byCount[9]}`)
})

test('the ideal FIFO: everything fits, nothing fits, and a small case by hand', (t) => {
  const trace = cache.makeTrace({ keys: 1000, ops: 20_000 })
  t.is(cache.idealFifo(trace, 1000 * 100, 100).hitRate, 1)
  t.is(cache.idealFifo(trace, 50, 100).hits, 0)
  // Keys 0, 1, 2 preloaded into room for 2: 0 is evicted; writing 0 evicts 1.
  const hand = { keys: 3, ops: 5, isWrite: Uint8Array.from([0, 0, 1, 0, 0]), key: Uint32Array.from([0, 1, 0, 0, 1]), ttl: new Uint32Array(5) }
  t.deepEqual(cache.idealFifo(hand, 200, 100), { reads: 4, hits: 2, hitRate: 0.5 })
  t.is(cache.entryCost(13, 236), 16 + 16 + 240 + 8)
})

test('a quick run measures each store through Keyv over the same trace, then deletes its stores', async (t) => {
  const dir = tmpDir()
  const stores = ['simd-r-drive', 'lmdb']
  // sqlite3's native module is built for the Node version that installed it.
  if (loads('sqlite3')) stores.push('@keyv/sqlite')
  else t.log(`sqlite3 does not load under Node ${process.version}: without @keyv/sqlite`)
  const r = await run(['--quick', '--stores', stores.join(','), '--json', '--dir', dir])
  t.is(r.code, 0, r.err)
  const res = JSON.parse(r.out)
  t.true(res.options.quick)
  t.deepEqual([res.trace.keys, res.trace.ops, res.options.runs], [20_000, 40_000, 1])
  for (const s of stores) {
    const [m] = res.results[s]
    t.truthy(m, s)
    t.is(m.trace, res.trace.digest, `${s} replayed the same trace`)
    t.is(m.reads + m.writes, 40_000)
    t.is(m.hits, m.reads, `${s}: every key was preloaded and no ttl ends within the run`)
    t.true(m.opsPerSec > 0)
    t.true(m.peakDiskBytes > 0)
  }
  // The budget's entry cost is what simd-r-drive stores: Keyv's serialized value, as measured.
  const ours = res.results['simd-r-drive'][0]
  t.is(res.entryCost, cache.entryCost(Buffer.byteLength('keyv:k0000000'), ours.rawValueBytes))
  t.is(res.maxBytes, Math.floor(res.workingSetBytes * 0.25))
  t.true(res.ideal.hitRate > 0 && res.ideal.hitRate < 1)
  t.true(res.maxBytesSupported, 'this build has the size limit')
  const [b] = res.results['simd-r-drive maxBytes']
  t.true(b.evictedEntries > 0, 'the limit evicted')
  t.true(b.hitRate < 1)
  // FIFO by last write, as the ideal is computed: the store's hit rate is the ideal's but for
  // the entries' rounding to whole bytes of the budget.
  t.true(Math.abs(b.hitRate - res.ideal.hitRate) < 0.02, `hit rate ${b.hitRate} against the ideal ${res.ideal.hitRate}`)
  // The README's bound on the store file's data: 2 × maxBytes + 88 + the largest batch (a
  // preload chunk of 1,000 entries).
  t.true(b.peakFileBytes <= 2 * res.maxBytes + 88 + 1000 * res.entryCost + 16, `peak file data ${b.peakFileBytes}`)
  t.true(b.peakDiskBytes > 0)
  const table = cache.table(res).join('\n')
  t.regex(table, /K1 .* ops\/s/)
  t.regex(table, /ideal FIFO/)
  t.deepEqual(fs.readdirSync(dir), [], 'the stores were deleted')
})
