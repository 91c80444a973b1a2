'use strict'
// The demo: opens (or creates) a store in the working directory, writes, reads without
// copying, deletes, compacts, and prints what it did and how fast.
//
//   node demo.js [path]        (default: ./demo.srd)

const path = require('node:path')
const { Store, kernel } = require('.')

const N = Number(process.env.DEMO_ENTRIES || 200000)

function rate (n, ns) {
  const perSec = n / (Number(ns) / 1e9)
  return perSec >= 1e6 ? `${(perSec / 1e6).toFixed(2)} M/s` : `${(perSec / 1e3).toFixed(1)} k/s`
}

function perOp (n, ns) {
  return `${(Number(ns) / n).toFixed(0)} ns/op`
}

function mib (bytes) {
  return `${(bytes / 1048576).toFixed(1)} MiB`
}

async function main () {
  const file = path.resolve(process.argv[2] || 'demo.srd')
  let t = process.hrtime.bigint()
  const store = await Store.open(file)
  console.log(`opened ${file} in ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms ` +
    `(${store.size} keys already there; checksum kernel: ${kernel()})`)

  // Bulk load: one atomic batch of N entries, 16-byte keys and 100-byte values.
  const value = Buffer.alloc(100)
  const entries = []
  for (let i = 0; i < N; i++) {
    const v = Buffer.from(value)
    v.writeUInt32LE(i, 0)
    entries.push([`key-${String(i).padStart(12, '0')}`, v])
  }
  t = process.hrtime.bigint()
  await store.putMany(entries)
  console.log(`putMany: ${N} entries in one atomic batch, ${rate(N, process.hrtime.bigint() - t)}`)

  // Individually awaited puts (each one has reached the OS when it resolves).
  t = process.hrtime.bigint()
  for (let i = 0; i < 10000; i++) await store.put(`single-${i}`, value)
  console.log(`put (awaited one by one): 10000 in ${perOp(10000, process.hrtime.bigint() - t)}`)

  // Zero-copy reads: each Buffer views the file's memory map.
  const keys = entries.map((e) => e[0])
  let sum = 0
  t = process.hrtime.bigint()
  for (let i = 0; i < 1000000; i++) {
    const v = store.get(keys[(i * 7919) % N])
    sum += v[0] + v[99]
  }
  console.log(`get (zero-copy, random): 1000000 reads, ${perOp(1e6, process.hrtime.bigint() - t)} (checksum ${sum})`)
  const v = store.get(keys[42])
  const f64 = new Float64Array(v.buffer, v.byteOffset, Math.floor(v.length / 8))
  console.log(`a value viewed as a Float64Array without copying: byteOffset % 8 = ${v.byteOffset % 8}, ${f64.length} doubles`)

  // Overwrite and delete half, then compact.
  t = process.hrtime.bigint()
  const dels = []
  for (let i = 0; i < N; i += 2) dels.push(store.delete(keys[i]))
  const deleted = (await Promise.all(dels)).filter(Boolean).length
  console.log(`delete: ${deleted} keys in one tick (one batch), ${rate(deleted, process.hrtime.bigint() - t)}`)
  const before = store.stats()
  const r = await store.compact()
  console.log(`compact: ${mib(r.bytesBefore)} -> ${mib(r.bytesAfter)} (reclaimed ${mib(r.reclaimedBytes)}) ` +
    `in ${r.durationMs.toFixed(0)} ms on the threadpool, writers paused ${r.writerPauseMs.toFixed(1)} ms`)
  console.log(`the value read before compaction is still valid: ${v.readUInt32LE(0) === 42}`)

  t = process.hrtime.bigint()
  await store.flush()
  console.log(`flush (fdatasync): ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms`)
  const s = store.stats()
  console.log(`now: ${s.entries} live keys, file ${mib(s.fileBytes)}, index ${mib(s.indexFileBytes)} in its file (page cache) + ${mib(s.indexBytes)} in memory ` +
    `(was ${before.entries} keys, ${mib(before.reclaimableBytes)} reclaimable)`)
  await store.close()
  console.log('closed; run it again to see the data reopened')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
