'use strict'
// The cache workload (issue 17 item 6): one fixed, seeded trace over 1M keys (Zipf s = 0.99,
// 200-byte values), 90% reads and 10% writes with TTLs, through Keyv 5, replayed against
//   simd-r-drive      this package's adapter (simd-r-drive/keyv)
//   @keyv/sqlite      Keyv's SQLite adapter (sqlite3), WAL with synchronous=NORMAL
//   lmdb              lmdb-js behind a minimal Keyv store (KeyvLmdb below), noSync
// and, with `maxBytes` below the working set, simd-r-drive's hit rate beside that of an
// ideal FIFO cache of the same byte budget (simulated here over the same trace), and its
// peak disk use (sampled). Every store × run is a process of its own on a fresh directory,
// stores interleaved (A B C D A B C D ...); medians with min–max.
//
//   node bench/cache.js              full: 1M keys, 1M operations, 3 runs (npm run bench runs it too)
//   node bench/cache.js --quick      seconds: 20k keys, 40k operations, 1 run (BENCH_QUICK=1 too)
//   node bench/cache.js --json       the results as JSON (stdout) instead of the table
//   options: --keys N --ops N --runs N --budget F (maxBytes as a fraction of the working
//   set, default 0.25) --stores a,b (also 'simd-r-drive zero-copy') --dir D (default bench/data)
//
// The preload (every key once, before the timed trace) goes the fastest way each store has
// and is not timed; the trace is one caller awaiting each Keyv call in turn. No store syncs
// to disk per write (a cache need not): simd-r-drive's default, SQLite's WAL with
// synchronous=NORMAL, lmdb's noSync. The TTLs (30 min to 2 h) outlast the run, so every miss
// in the maxBytes run is an eviction's.

const { spawnSync } = require('node:child_process')
const { EventEmitter } = require('node:events')
const fs = require('node:fs')
const path = require('node:path')
const { figure, median, prng } = require('./report.js')

const ZIPF_S = 0.99
const VALUE_BYTES = 200
const READ_SHARE = 0.9
const TTL_MIN_MS = 30 * 60_000
const TTL_MAX_MS = 2 * 3_600_000
const SEED = 0x5eed17
/** Keys are `k` and 7 digits; Keyv 5 stores them as `keyv:k0000042`. */
const KEY_DIGITS = 7
const PRELOAD_CHUNK = 1000
const SAMPLE_EVERY = 1000

const STORE_NAMES = ['simd-r-drive', '@keyv/sqlite', 'lmdb']
const OURS = 'simd-r-drive'
/** Also there on request (--stores): this adapter with `copyValues: false` (zero-copy reads). */
const OURS_ZERO_COPY = 'simd-r-drive zero-copy'
const BUDGETED = 'simd-r-drive maxBytes'

// --- The trace ---------------------------------------------------------------------------

/**
 * The trace: `ops` operations over `keys` keys. `isWrite[i]` (1: a write), `key[i]` (the
 * key's number), `ttl[i]` (ms, writes only). Ranks are Zipf-distributed (rank r with
 * probability ∝ 1 / r^s) and mapped to key numbers by a fixed permutation, so that the hot
 * keys are spread over the key space rather than first in the preload.
 */
function makeTrace ({ keys, ops, seed = SEED, s = ZIPF_S }) {
  const cdf = new Float64Array(keys)
  let sum = 0
  for (let r = 0; r < keys; r++) {
    sum += 1 / Math.pow(r + 1, s)
    cdf[r] = sum
  }
  for (let r = 0; r < keys; r++) cdf[r] /= sum
  const rand = prng(seed)
  const isWrite = new Uint8Array(ops)
  const key = new Uint32Array(ops)
  const ttl = new Uint32Array(ops)
  // A multiplier coprime with `keys` makes rank -> key number a permutation.
  let mult = 999_983
  while (gcd(mult, keys) !== 1) mult += 2
  for (let i = 0; i < ops; i++) {
    const u = rand()
    let lo = 0
    let hi = keys - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cdf[mid] > u) hi = mid
      else lo = mid + 1
    }
    key[i] = (lo * mult + 12_345) % keys
    if (rand() >= READ_SHARE) {
      isWrite[i] = 1
      ttl[i] = TTL_MIN_MS + Math.floor(rand() * (TTL_MAX_MS - TTL_MIN_MS))
    }
  }
  return { keys, ops, isWrite, key, ttl }
}

function gcd (a, b) {
  while (b) [a, b] = [b, a % b]
  return a
}

const keyName = (n) => 'k' + String(n).padStart(KEY_DIGITS, '0')
const valueOf = (n) => String(n).padStart(KEY_DIGITS, '0').padEnd(VALUE_BYTES, '.')

/** A digest of the trace, to show that it is the same everywhere. */
function traceDigest (trace) {
  const h = require('node:crypto').createHash('sha256')
  h.update(trace.isWrite)
  h.update(new Uint8Array(trace.key.buffer))
  h.update(new Uint8Array(trace.ttl.buffer))
  return h.digest('hex').slice(0, 16)
}

/**
 * Hit rate of an ideal FIFO cache of `budget` bytes over the preload and the trace: every
 * entry costs `cost` bytes; a write (re)inserts its key at the back (FIFO by last write, as
 * the store's log order), and the front is evicted while the total exceeds the budget.
 */
function idealFifo (trace, budget, cost) {
  const fifo = new Map()
  let bytes = 0
  const insert = (k) => {
    if (fifo.delete(k)) bytes -= cost
    fifo.set(k, true)
    bytes += cost
    while (bytes > budget) {
      const oldest = fifo.keys().next().value
      fifo.delete(oldest)
      bytes -= cost
    }
  }
  for (let k = 0; k < trace.keys; k++) insert(k)
  let reads = 0
  let hits = 0
  for (let i = 0; i < trace.ops; i++) {
    if (trace.isWrite[i]) insert(trace.key[i])
    else {
      reads++
      if (fifo.has(trace.key[i])) hits++
    }
  }
  return { reads, hits, hitRate: hits / reads }
}

// --- Disk use ----------------------------------------------------------------------------

/**
 * Bytes on disk now (allocated blocks) of the files in `dir` and of files under it that
 * were deleted but are still mapped by this process (a compaction's old file held by
 * live Buffers).
 */
function diskUse (dir) {
  let total = 0
  const seen = new Set()
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      try {
        const st = fs.statSync(p)
        if (e.isDirectory()) walk(p)
        else if (!seen.has(st.ino)) { seen.add(st.ino); total += st.blocks * 512 }
      } catch {} // gone meanwhile (a compaction renamed it)
    }
  }
  walk(dir)
  try {
    for (const line of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
      if (!line.endsWith('(deleted)') || !line.includes(dir)) continue
      try {
        const st = fs.statSync(`/proc/self/map_files/${line.slice(0, line.indexOf(' '))}`)
        if (!seen.has(st.ino)) { seen.add(st.ino); total += st.blocks * 512 }
      } catch {}
    }
  } catch {} // not Linux
  return total
}

// --- The stores, through Keyv 5 ----------------------------------------------------------

/** lmdb-js as a Keyv store, in the fewest lines Keyv takes (Keyv keeps the expiry in the value). */
class KeyvLmdb extends EventEmitter {
  constructor (db) { super(); this.db = db; this.opts = { dialect: 'lmdb', url: 'lmdb://' } }
  async get (key) { return this.db.get(key) }
  async set (key, value) { await this.db.put(key, value); return true }
  async delete (key) { return this.db.remove(key) }
  async clear () { await this.db.clearAsync() }
  async disconnect () { await this.db.close() }
}

/** `{ keyv, preload(entries), rawLength(key), stats(), close() }` for `name` in `dir`. */
async function openStore (name, dir, { maxBytes } = {}) {
  const { Keyv } = require('keyv')
  if (name === OURS || name === OURS_ZERO_COPY) {
    const { createKeyv } = require('../keyv.js')
    const options = name === OURS_ZERO_COPY ? { copyValues: false } : {}
    if (maxBytes !== undefined) options.maxBytes = maxBytes
    const keyv = createKeyv(path.join(dir, 'cache.srd'), options)
    const store = await keyv.opts.store.getStore()
    return {
      keyv,
      preload: (entries) => keyv.setMany(entries),
      rawLength: (k) => store.get(k)?.length,
      stats: () => store.stats(),
      close: () => keyv.disconnect()
    }
  }
  if (name === '@keyv/sqlite') {
    const KeyvSqlite = require('@keyv/sqlite').default
    const adapter = new KeyvSqlite(`sqlite://${path.join(dir, 'cache.sqlite')}`)
    await adapter.query('PRAGMA journal_mode = WAL')
    await adapter.query('PRAGMA synchronous = NORMAL')
    const keyv = new Keyv({ store: adapter })
    return {
      keyv,
      async preload (entries) {
        // @keyv/sqlite has no setMany: one transaction per chunk of sets.
        await adapter.query('BEGIN')
        for (const e of entries) await keyv.set(e.key, e.value, e.ttl)
        await adapter.query('COMMIT')
      },
      rawLength: async (k) => (await adapter.get(k))?.length,
      stats: () => null,
      close: () => keyv.disconnect()
    }
  }
  if (name === 'lmdb') {
    const { open } = require('lmdb')
    const db = open({ path: path.join(dir, 'lmdb'), encoding: 'string', compression: false, noSync: true })
    const keyv = new Keyv({ store: new KeyvLmdb(db) })
    return {
      keyv,
      async preload (entries) {
        // Keyv's serialized form, written in one transaction.
        const now = Date.now()
        const serialized = await Promise.all(entries.map((e) => keyv.opts.serialize({ value: e.value, expires: now + e.ttl })))
        await db.transaction(() => {
          for (let i = 0; i < entries.length; i++) db.put(`keyv:${entries[i].key}`, serialized[i])
        })
      },
      rawLength: (k) => db.get(k)?.length,
      stats: () => null,
      close: () => keyv.disconnect()
    }
  }
  throw new Error(`unknown store ${name}`)
}

/** One run in this process: preload, then the trace through Keyv; returns its figures. */
async function work ({ store, dir, keys, ops, maxBytes }) {
  const trace = makeTrace({ keys, ops })
  const s = await openStore(store, dir, { maxBytes })
  let peak = 0
  let peakFile = 0
  const sample = () => {
    peak = Math.max(peak, diskUse(dir))
    const st = s.stats()
    if (st && typeof st.fileBytes === 'number') peakFile = Math.max(peakFile, st.fileBytes)
  }
  const t0 = process.hrtime.bigint()
  for (let k = 0; k < keys; k += PRELOAD_CHUNK) {
    const entries = []
    for (let j = k; j < Math.min(keys, k + PRELOAD_CHUNK); j++) entries.push({ key: keyName(j), value: valueOf(j), ttl: TTL_MAX_MS })
    await s.preload(entries)
    sample()
  }
  const preloadMs = Number(process.hrtime.bigint() - t0) / 1e6
  const stats0 = s.stats()
  const { keyv } = s
  let reads = 0
  let hits = 0
  const start = process.hrtime.bigint()
  for (let i = 0; i < ops; i++) {
    const k = trace.key[i]
    if (trace.isWrite[i]) {
      if (!await keyv.set(keyName(k), valueOf(k), trace.ttl[i])) throw new Error(`${store}: set failed`)
    } else {
      reads++
      const v = await keyv.get(keyName(k))
      if (v !== undefined) {
        if (v !== valueOf(k)) throw new Error(`${store}: ${keyName(k)} read back wrong`)
        hits++
      }
    }
    if (i % SAMPLE_EVERY === 0) sample()
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  sample()
  const stats = s.stats()
  // The bytes one entry costs in the size limit's count (key, value, expiry), from the store.
  const rawValue = await s.rawLength(`keyv:${keyName(0)}`)
  await s.close()
  return {
    store,
    opsPerSec: ops / seconds,
    seconds,
    preloadMs,
    reads,
    hits,
    hitRate: hits / reads,
    writes: ops - reads,
    peakDiskBytes: peak,
    peakFileBytes: stats ? peakFile : null,
    rawValueBytes: rawValue,
    maxBytes: maxBytes ?? null,
    evictedEntries: stats && typeof stats.evictedEntries === 'number' ? stats.evictedEntries - (stats0.evictedEntries || 0) : null,
    evictedTotal: stats && typeof stats.evictedEntries === 'number' ? stats.evictedEntries : null,
    limitSupported: stats ? typeof stats.evictedEntries === 'number' : null,
    trace: traceDigest(trace)
  }
}

// --- The size limit's accounting ---------------------------------------------------------

const align8 = (n) => (n + 7) & ~7
/** Bytes of one live entry with an expiry, as the store counts them (FORMAT.md, "Entries"). */
function entryCost (keyBytes, valueBytes) {
  return 16 + align8(keyBytes) + align8(valueBytes) + 8
}

// --- Orchestration -----------------------------------------------------------------------

function parseArgs (argv) {
  const quick = argv.includes('--quick') || /^(1|true|yes)$/i.test(process.env.BENCH_QUICK || '')
  const get = (name, dflt) => {
    const i = argv.indexOf(name)
    return i === -1 ? dflt : argv[i + 1]
  }
  return {
    quick,
    json: argv.includes('--json'),
    keys: Number(get('--keys', process.env.BENCH_CACHE_KEYS || (quick ? 20_000 : 1_000_000))),
    ops: Number(get('--ops', process.env.BENCH_CACHE_OPS || (quick ? 40_000 : 1_000_000))),
    runs: Number(get('--runs', process.env.BENCH_CACHE_RUNS || (quick ? 1 : 3))),
    budget: Number(get('--budget', process.env.BENCH_CACHE_BUDGET || 0.25)),
    stores: get('--stores', STORE_NAMES.join(',')).split(','),
    dir: get('--dir', process.env.BENCH_DIR || path.join(__dirname, 'data'))
  }
}

function runWorker (job, dir) {
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  const r = spawnSync(process.execPath, [__filename, '--worker', JSON.stringify({ ...job, dir })], { encoding: 'utf8', maxBuffer: 1 << 20 })
  fs.rmSync(dir, { recursive: true, force: true })
  if (r.status !== 0) {
    process.stderr.write(`cache bench: ${job.store}${job.maxBytes ? ' (maxBytes)' : ''} failed\n${r.stderr}\n`)
    return undefined
  }
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

/** Runs every store (and simd-r-drive with maxBytes) `runs` times, interleaved. */
function measure (o) {
  const started = Date.now()
  fs.mkdirSync(o.dir, { recursive: true })
  const trace = makeTrace({ keys: o.keys, ops: o.ops })
  // The working set: every key, at the bytes one entry of simd-r-drive costs.
  const cost = entryCost(Buffer.byteLength(`keyv:${keyName(0)}`), expectedRawValueBytes())
  const workingSet = o.keys * cost
  const maxBytes = Math.floor(workingSet * o.budget)
  const ideal = idealFifo(trace, maxBytes, cost)
  const configs = [...o.stores.map((store) => ({ name: store, job: { store, keys: o.keys, ops: o.ops } }))]
  const limit = o.stores.includes(OURS) && supportsMaxBytes(o.dir)
  if (limit) configs.push({ name: BUDGETED, job: { store: OURS, keys: o.keys, ops: o.ops, maxBytes } })
  const results = {}
  for (let rep = 0; rep < o.runs; rep++) {
    for (const c of configs) {
      const r = runWorker(c.job, path.join(o.dir, `cache-${c.name.replace(/[^a-z0-9]+/gi, '-')}-${rep}`))
      process.stderr.write(`cache bench run ${rep + 1}/${o.runs} ${c.name}: ${r ? `${Math.round(r.opsPerSec)} ops/s, hit rate ${(r.hitRate * 100).toFixed(2)}%` : 'failed'}\n`)
      if (r) (results[c.name] ||= []).push(r)
    }
  }
  return {
    options: o,
    maxBytesSupported: limit,
    trace: { digest: traceDigest(trace), keys: o.keys, ops: o.ops, writes: trace.isWrite.reduce((a, b) => a + b, 0), zipfS: ZIPF_S, valueBytes: VALUE_BYTES, seed: SEED },
    entryCost: cost,
    workingSetBytes: workingSet,
    maxBytes,
    ideal,
    results,
    minutes: (Date.now() - started) / 60000,
    versions: versions()
  }
}

/** Versions of what the workload runs (read from the installed package.json files). */
function versions () {
  const v = (name) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'node_modules', name, 'package.json'), 'utf8')).version
    } catch {
      return 'not installed'
    }
  }
  return { node: process.version, 'simd-r-drive': require('../package.json').version, keyv: v('keyv'), '@keyv/sqlite': v('@keyv/sqlite'), sqlite3: v('sqlite3'), lmdb: v('lmdb') }
}

/**
 * Whether this build has the size limit (`maxBytes` on open, `stats().evictedEntries`):
 * asked of a store opened in a child process.
 */
function supportsMaxBytes (dir) {
  const file = path.join(dir, `probe-${process.pid}.srd`)
  const code = `const { Store } = require(${JSON.stringify(path.join(__dirname, '..'))})
    Store.open(${JSON.stringify(file)}, { maxBytes: 1 << 20 }).then(async (s) => {
      const ok = typeof s.stats().evictedEntries === 'number'
      await s.close()
      process.stdout.write(String(ok))
    })`
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' })
  for (const f of fs.readdirSync(dir)) if (f.startsWith(`probe-${process.pid}.srd`)) fs.rmSync(path.join(dir, f), { force: true })
  return r.stdout.trim() === 'true'
}

/** The length of Keyv 5's serialized form of one value of the trace (`{"value":...,"expires":...}`). */
function expectedRawValueBytes () {
  const { Keyv } = require('keyv')
  return Buffer.byteLength(new Keyv().opts.serialize({ value: valueOf(0), expires: Date.now() + TTL_MAX_MS }))
}

function cell (rs, metric, unit) {
  const xs = (rs || []).map((r) => r[metric]).filter((v) => typeof v === 'number')
  if (xs.length === 0) return { text: 'n/a' }
  const m = median(xs)
  const lo = Math.min(...xs)
  const hi = Math.max(...xs)
  return { median: m, text: xs.length > 1 ? `${figure(m, unit)} (${figure(lo, unit)}–${figure(hi, unit)})` : figure(m, unit) }
}

/** Markdown lines for the results of `measure`. */
function table (res) {
  const o = res.options
  const count = (n) => n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n)
  const names = o.stores
  const lines = []
  lines.push(`| cache workload (K rows) | ${names.join(' | ')} | ${OURS} ÷ best peer |`)
  lines.push(`|---|${names.map(() => '---:').join('|')}|---:|`)
  const row = (label, metric, unit, lower, noRatio) => {
    const cells = names.map((n) => cell(res.results[n], metric, unit))
    const peers = names.map((n, i) => n.startsWith(OURS) ? undefined : cells[i].median).filter((v) => v !== undefined)
    const ours = cells[names.indexOf(OURS)]?.median
    let ratio = 'n/a'
    if (ours !== undefined && peers.length > 0 && !noRatio) {
      const best = lower ? Math.min(...peers) : Math.max(...peers)
      ratio = `${(lower ? best / ours : ours / best).toFixed(2)}×`
    }
    lines.push(`| ${label} | ${cells.map((c) => c.text).join(' | ')} | ${ratio} |`)
  }
  row(`K1 ${count(o.ops)} operations over ${count(o.keys)} keys through Keyv (Zipf ${ZIPF_S}, 90% get / 10% set with TTLs, ${VALUE_BYTES} B values), ops/s`, 'opsPerSec')
  row('K1 hit rate (every key preloaded; no TTL ends within the run)', 'hitRate', '%', false, true)
  row('K1 peak disk use (sampled), MB', 'peakDiskBytes', 'MB', true)
  const b = res.results[BUDGETED]
  lines.push('')
  lines.push(`| ${OURS} with maxBytes = ${figure(res.maxBytes, 'MB')} MB (${o.budget} of the working set, ${figure(res.workingSetBytes, 'MB')} MB = ${count(o.keys)} × ${res.entryCost} B) | measured | ideal FIFO of the same bytes |`)
  lines.push('|---|---:|---:|')
  if (!res.maxBytesSupported || !b) {
    lines.push(`| K2 hit rate | ${res.maxBytesSupported ? 'failed' : 'not measured: this build has no maxBytes (issue 17 item 3)'} | ${figure(res.ideal.hitRate, '%')} |`)
  } else {
    lines.push(`| K2 hit rate | ${cell(b, 'hitRate', '%').text} | ${figure(res.ideal.hitRate, '%')} |`)
    lines.push(`| K2 ops/s | ${cell(b, 'opsPerSec').text} | |`)
    lines.push(`| K2 entries evicted during the trace | ${cell(b, 'evictedEntries').text} | |`)
    lines.push(`| K2 peak data in the store file (sampled \`stats().fileBytes\`), MB | ${cell(b, 'peakFileBytes', 'MB').text} | bound (README, "Disk bound"): 2 × maxBytes + 88 B + one batch = ${figure(2 * res.maxBytes + 88, 'MB')} MB + one batch |`)
    lines.push(`| K2 peak disk use (sampled: the store's files, a compaction's new file, old files still mapped, index files, preallocated zeros), MB | ${cell(b, 'peakDiskBytes', 'MB').text} | bound: 4 × maxBytes + 2.4 batches + 400 B = ${figure(4 * res.maxBytes + 400, 'MB')} MB + 2.4 batches, plus the index files and up to 2 MiB of zeros |`)
  }
  lines.push('')
  lines.push(`Trace ${res.trace.digest} (seed ${res.trace.seed}): ${count(o.keys)} keys, ${count(o.ops)} operations (${res.trace.writes} sets), preloaded first (not timed); ` +
    `medians of ${o.runs} run${o.runs > 1 ? 's' : ''} (min–max), each store × run in its own process on a fresh directory, interleaved; took ${res.minutes.toFixed(1)} min. ` +
    'One caller awaits each Keyv call in turn. No store syncs per write: simd-r-drive\'s default, @keyv/sqlite with WAL and synchronous=NORMAL, lmdb with noSync. ' +
    'lmdb runs behind KeyvLmdb (bench/cache.js, six methods), which leaves expiry to Keyv (expired values stay on disk until read); @keyv/sqlite also keeps the expiry in the value. ' +
    `Versions: ${Object.entries(res.versions || {}).map(([k, x]) => `${k} ${x}`).join(', ')}.`)
  return lines
}

async function main () {
  const argv = process.argv.slice(2)
  if (argv[0] === '--worker') {
    const r = await work(JSON.parse(argv[1]))
    process.stdout.write(JSON.stringify(r) + '\n')
    return
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 23).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n')
    return
  }
  const o = parseArgs(argv)
  const res = measure(o)
  if (o.json) process.stdout.write(JSON.stringify(res, null, 2) + '\n')
  else process.stdout.write(table(res).join('\n') + '\n')
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${err.stack}\n`)
    process.exit(1)
  })
}

module.exports = { makeTrace, traceDigest, idealFifo, entryCost, diskUse, parseArgs, measure, table, KeyvLmdb, STORE_NAMES }
