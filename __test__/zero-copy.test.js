'use strict'
// The views checked here are made from a store's first read on (FIRST_COPIES, lib/read.js).
process.env.SIMD_R_DRIVE_FIRST_COPIES = '0'
const test = require('ava')
const fs = require('node:fs')
const { Store } = require('..')
const { tmpStore, runChild } = require('./helpers.js')

const copying = /^(1|true|yes)$/i.test(process.env.SIMD_R_DRIVE_COPY_VALUES || '')

async function filled (n = 2000, size = 100) {
  const p = tmpStore()
  const s = await Store.open(p)
  await s.putMany(Array.from({ length: n }, (_, i) => [`k${i}`, Buffer.alloc(size, i & 0xff)]))
  return { p, s }
}

test('values are 8-byte aligned: Float64Array views work without copying', async (t) => {
  const s = await Store.open(tmpStore())
  const data = Float64Array.from({ length: 1000 }, (_, i) => i * 0.5)
  await s.put('odd-key-len', Buffer.from(data.buffer))
  await s.put('pad', 'x'.repeat(5000)) // push the value into a completed page
  const v = s.get('odd-key-len')
  t.is(v.byteOffset % 8, 0)
  const view = new Float64Array(v.buffer, v.byteOffset, v.length / 8)
  t.is(view[999], 499.5)
  await s.close()
})

test('reads of a large store come from shared windows, not copies', async (t) => {
  const { s } = await filled()
  const a = s.get('k10')
  const b = s.get('k11')
  t.is(a[0], 10)
  t.is(b[99], 11)
  if (copying) {
    t.not(a.buffer, b.buffer)
  } else {
    t.is(a.buffer, b.buffer, 'both values are views of one window')
  }
  await s.close()
})

test('a write into a returned Buffer never crashes and never reaches the file', async (t) => {
  const { p, s } = await filled(200) // no stored value is all 0xee
  const v = s.get('k20')
  v.fill(0xee) // would be SIGSEGV on a read-only mapping
  await s.close()
  const bytes = fs.readFileSync(p)
  t.is(bytes.indexOf(Buffer.alloc(100, 0xee)), -1, 'the file never sees the write')
  // Another process sees the stored value.
  const r = await runChild('read-value.js', [p, 'k20'])
  t.is(r.stdout.trim(), Buffer.alloc(100, 20).toString('hex'))
  // getCopy is a private, mutable copy.
  const s2 = await Store.open(p)
  const c = s2.getCopy('k21')
  c.fill(1)
  t.is(s2.getCopy('k21')[0], 21)
  await s2.close()
})

test('returned Buffers stay valid after writes, compaction and close', async (t) => {
  const { s } = await filled(3000, 300)
  const held = [s.get('k1'), s.get('k2999'), s.get('k1500')]
  for (let i = 0; i < 3000; i++) await s.put(`k${i}`, Buffer.alloc(300, 1))
  await s.compact()
  await s.put('after', 'x')
  await s.close()
  global.gc && global.gc()
  t.is(held[0][299], 1)
  t.is(held[1][0], 2999 & 0xff)
  t.is(held[2][150], 1500 & 0xff)
})

test('a value written a moment ago reads back (tail page copy, then views)', async (t) => {
  const s = await Store.open(tmpStore())
  for (let i = 0; i < 500; i++) {
    await s.put(`k${i}`, Buffer.alloc(64, i & 0xff))
    t.is(s.get(`k${i}`)[63], i & 0xff)
    if (i > 10) t.is(s.get(`k${i - 10}`)[0], (i - 10) & 0xff)
  }
  await s.close()
})

test('a million gets of 100-byte values do not grow memory without bound', async (t) => {
  const { s } = await filled(10000, 100)
  const keys = Array.from({ length: 10000 }, (_, i) => `k${i}`)
  global.gc && global.gc()
  const rss0 = process.memoryUsage().rss
  let sum = 0
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < 1e6; i++) {
    const v = s.get(keys[i % 10000])
    sum += v[0] + v[99]
  }
  const ns = Number(process.hrtime.bigint() - t0) / 1e6
  const grown = process.memoryUsage().rss - rss0
  t.log(`get 100 B: ${ns.toFixed(0)} ns/op, RSS +${(grown / 1048576).toFixed(1)} MiB`)
  t.true(sum > 0)
  t.true(grown < 512 * 1048576, `RSS grew by ${grown} bytes`)
  await s.close()
})

test('stores spanning many windows read correctly (small test window)', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  // Values from 1 byte to 40 KiB, many straddling 16 KiB window boundaries.
  const entries = []
  for (let i = 0; i < 600; i++) entries.push([`k${i}`, Buffer.alloc((i * 997) % 40000 + 1, i & 0xff)])
  await s.putMany(entries)
  await s.put('tail', 'pad'.repeat(3000))
  await s.close()
  const r = await runChild('check-windows.js', [p], { SIMD_R_DRIVE_WINDOW_BYTES: '16384' })
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), 'ok 600')
})
