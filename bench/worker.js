'use strict'
// Runs one workload on one store in a fresh directory and prints one JSON line of results.
//   node bench/worker.js <store> <workload> <dir>

const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { STORES, diskBytes } = require('./stores.js')
const sizes = require('./sizes.js')

const [storeName, workload, dir] = process.argv.slice(2)
const store = STORES[storeName]
if (!store) throw new Error(`unknown store ${storeName}`)

const key = (i) => 'k' + String(i).padStart(15, '0') // 16 bytes

// Random-looking values cut from one pool of xorshift bytes (deterministic).
function pool (bytes) {
  const b = Buffer.allocUnsafe(bytes + 8)
  let x = 0x9e3779b97f4a7c15n
  for (let i = 0; i < b.length; i += 8) {
    x ^= (x << 13n) & 0xffffffffffffffffn
    x ^= x >> 7n
    x ^= (x << 17n) & 0xffffffffffffffffn
    b.writeBigUInt64LE(x, i)
  }
  return b
}
const POOL = pool(1 << 20)
const value = (i, size = 100) => {
  if (size <= POOL.length - 1024) {
    const off = (i * 7919) % (POOL.length - size)
    return POOL.subarray(off, off + size)
  }
  const v = Buffer.alloc(size, i & 0xff)
  POOL.copy(v, 0, 0, Math.min(size, POOL.length))
  return v
}
const entries = (n, size = 100) => Array.from({ length: n }, (_, i) => [key(i), value(i, size)])

function now () { return process.hrtime.bigint() }
function secs (t0) { return Number(process.hrtime.bigint() - t0) / 1e9 }

// A deterministic random order of reads.
function readOrder (n, count) {
  const order = new Uint32Array(count)
  let x = 12345
  for (let i = 0; i < count; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    order[i] = x % n
  }
  return order
}

async function loaded (n, size = 100, opts) {
  const db = await store.open(dir, opts)
  await db.bulk(entries(n, size))
  return db
}

function readLoop (get, n, count) {
  const keys = Array.from({ length: n }, (_, i) => key(i))
  const order = readOrder(n, count)
  let touched = 0
  const t0 = now()
  for (let i = 0; i < count; i++) {
    const v = get(keys[order[i]])
    touched += v[0] + v[v.length - 1]
  }
  const s = secs(t0)
  if (touched < 0) throw new Error('unreachable')
  return count / s
}

async function putLoop (db, count, inFlight) {
  const t0 = now()
  if (inFlight <= 1) {
    for (let i = 0; i < count; i++) await db.put(key(i), value(i))
  } else {
    let next = 0
    const lane = async () => {
      while (next < count) {
        const i = next++
        await db.put(key(i), value(i))
      }
    }
    await Promise.all(Array.from({ length: inFlight }, lane))
  }
  return count / secs(t0)
}

const workloads = {
  async w1 () {
    const db = await store.open(dir)
    const data = entries(sizes.N)
    const t0 = now()
    await db.bulk(data)
    const rate = sizes.N / secs(t0)
    await db.close()
    return { opsPerSec: rate, diskBytes: diskBytes(dir), peakRssBytes: process.resourceUsage().maxRSS * 1024 }
  },
  async w2 () {
    const db = await store.open(dir)
    const r = await putLoop(db, sizes.WRITES, 1)
    await db.close()
    return { opsPerSec: r }
  },
  async w2sync () {
    const db = await store.open(dir, { sync: true })
    const r = await putLoop(db, sizes.SYNC_WRITES, 1)
    await db.close()
    return { opsPerSec: r }
  },
  async w3 () {
    const db = await store.open(dir, { sync: true })
    const r = await putLoop(db, sizes.WRITES, 1000)
    await db.close()
    return { opsPerSec: r }
  },
  async r1 () {
    const db = await loaded(sizes.N)
    const r = readLoop(db.get, sizes.N, sizes.READS)
    await db.close()
    return { opsPerSec: r }
  },
  async r1fast () {
    const db = await loaded(sizes.N)
    if (!db.getFast) return null
    const r = readLoop(db.getFast, sizes.N, sizes.READS)
    await db.close()
    return { opsPerSec: r }
  },
  async r1json () {
    // `get` of a small JSON object, decoded: both stores with their JSON encoding.
    const db = await store.open(dir, { json: true })
    if (db.json !== true) { await db.close(); return null }
    const n = sizes.N
    const keys = Array.from({ length: n }, (_, i) => key(i))
    const objects = keys.map((k, i) => [k, { id: i, name: `user-${i}`, tags: ['red', 'green', 'blue'] }])
    await db.bulk(objects)
    const get = db.getDecoded || db.get
    const order = readOrder(n, sizes.READS)
    let touched = 0
    const t0 = now()
    for (let i = 0; i < order.length; i++) {
      const v = get(keys[order[i]])
      touched += v.id + v.tags.length
    }
    const r = order.length / secs(t0)
    await db.close()
    if (touched < 0) throw new Error('unreachable')
    return { opsPerSec: r }
  },
  async r1async () {
    const db = await loaded(sizes.N)
    if (!db.getAsync) return null
    const keys = Array.from({ length: sizes.N }, (_, i) => key(i))
    const order = readOrder(sizes.N, sizes.ASYNC_READS)
    const t0 = now()
    let touched = 0
    for (let i = 0; i < order.length; i++) {
      const v = await db.getAsync(keys[order[i]])
      touched += v[0] + v[v.length - 1]
    }
    const r = order.length / secs(t0)
    await db.close()
    return touched >= 0 ? { opsPerSec: r } : null
  },
  async r2k4 () {
    const db = await loaded(sizes.N_4K, 4096)
    const r = readLoop(db.get, sizes.N_4K, sizes.READS_4K)
    await db.close()
    return { opsPerSec: r }
  },
  async r2m1 () {
    const db = await store.open(dir)
    for (let i = 0; i < 200; i += 20) await db.bulk(entries(200, 1 << 20).slice(i, i + 20))
    const r = readLoop(db.get, 200, sizes.READS_1M)
    await db.close()
    return { opsPerSec: r }
  },
  async s1 () {
    const db = await loaded(sizes.N)
    let n = 0
    let touched = 0
    const visit = (k, v) => { n++; touched += v[0] + k[0] }
    const t0 = now()
    if (db.scan) db.scan(visit)
    else await db.scanAsync(visit)
    const r = n / secs(t0)
    await db.close()
    if (n !== sizes.N || touched < 0) throw new Error(`scanned ${n} of ${sizes.N}`)
    return { opsPerSec: r }
  },
  async o1 () {
    const db = await loaded(sizes.N)
    await db.close()
    const child = () => {
      const r = spawnSync(process.execPath, [path.join(__dirname, 'open-one.js'), storeName, dir, key(sizes.N - 1)], { encoding: 'utf8' })
      if (r.status !== 0) throw new Error(r.stderr)
      return Number(r.stdout.trim())
    }
    child() // the first open after a load may still be settling files
    const warmMs = child()
    const drop = spawnSync('python3', ['-c', `
import os, sys
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        fd = os.open(os.path.join(root, f), os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
`, dir])
    const coldMs = drop.status === 0 ? child() : null
    return { warmMs, coldMs }
  },
  async c1 () {
    const db = await loaded(sizes.N)
    if (!db.compact) { await db.close(); return null }
    const half = entries(sizes.N).filter((_, i) => i % 2 === 0).map(([k], i) => [k, value(i + 1)])
    await db.bulk(half)
    const before = diskBytes(dir)
    // The event loop's worst stall: the longest gap between two turns of a setImmediate
    // loop, counting a compaction that blocks the loop from start to end.
    let running = true
    let worst = 0n
    let last = now()
    const ticker = (async () => {
      while (running) {
        await new Promise((resolve) => setImmediate(resolve))
        const t = now()
        if (t - last > worst) worst = t - last
        last = t
      }
    })()
    const t0 = now()
    last = t0
    await db.compact()
    const s = secs(t0)
    const end = now()
    if (end - last > worst) worst = end - last
    running = false
    await ticker
    await db.close()
    return { mbPerSec: before / 1e6 / s, seconds: s, worstDelayMs: Number(worst) / 1e6, bytesBefore: before, bytesAfter: diskBytes(dir) }
  }
}

workloads[workload]().then((r) => {
  process.stdout.write(JSON.stringify(r) + '\n')
}, (e) => {
  console.error(e)
  process.exit(1)
})
