'use strict'
// Per-operation costs of the Node API on this machine (one process, medians of 5 rounds):
//   node bench/per-op.js
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Store } = require('..')

const dir = fs.mkdtempSync(path.join(process.env.BENCH_DIR || os.tmpdir(), 'srd-perop-'))
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))

function median (xs) { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1] }

async function measure (label, rounds, fn) {
  const times = []
  for (let r = 0; r < rounds; r++) times.push(await fn())
  console.log(`${label.padEnd(44)} ${median(times).toFixed(0).padStart(8)} ns/op  (min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)})`)
}

async function getCost (size, count, ops) {
  const s = await Store.open(path.join(dir, `get-${size}.srd`))
  const keys = Array.from({ length: count }, (_, i) => `key-${String(i).padStart(12, '0')}`)
  await s.putMany(keys.map((k, i) => [k, Buffer.alloc(size, i & 0xff)]))
  await s.put('pad', Buffer.alloc(8192)) // every measured value sits in a completed page
  await measure(`sync get, ${size} B values (${count} keys, random)`, 5, () => {
    let x = 0
    const t = process.hrtime.bigint()
    for (let i = 0; i < ops; i++) {
      const v = s.get(keys[(i * 7919) % count])
      x += v[0] + v[v.length - 1]
    }
    const ns = Number(process.hrtime.bigint() - t) / ops
    return x >= 0 ? ns : 0
  })
  await s.close()
}

async function main () {
  await getCost(100, 10000, 1000000)
  await getCost(4096, 10000, 200000)
  await getCost(1 << 20, 200, 20000)
  const s = await Store.open(path.join(dir, 'put.srd'))
  const v = Buffer.alloc(100, 1)
  let n = 0
  await measure('awaited put, 100 B (10,000 in a row)', 5, async () => {
    const t = process.hrtime.bigint()
    for (let i = 0; i < 10000; i++) await s.put(`p${n++}`, v)
    return Number(process.hrtime.bigint() - t) / 10000
  })
  await measure('putMany per entry (100,000 entries, 100 B)', 5, async () => {
    const entries = Array.from({ length: 100000 }, (_, i) => [`m${n++}-${i}`, v])
    const t = process.hrtime.bigint()
    await s.putMany(entries)
    return Number(process.hrtime.bigint() - t) / 100000
  })
  const d = await Store.open(path.join(dir, 'durable.srd'), { sync: true })
  await measure('awaited put with sync: true (200 in a row)', 3, async () => {
    const t = process.hrtime.bigint()
    for (let i = 0; i < 200; i++) await d.put(`d${n++}`, v)
    return Number(process.hrtime.bigint() - t) / 200
  })
  await d.close()
  await s.close()
}

main()
