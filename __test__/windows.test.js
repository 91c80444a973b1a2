'use strict'
// Zero-copy windows over a file that grows under its readers: each value reads back right,
// and the windows made for it stay few and short. V8 counts each external Buffer's whole
// length as memory to collect for (a full collection per 64 MiB of them), so remaking a
// window over the whole file whenever a read passed its end brought on a full collection
// at nearly every read of a value written since.
// The windows counted here are made from a store's first read on (FIRST_COPIES, lib/read.js).
process.env.SIMD_R_DRIVE_FIRST_COPIES = '0'
const test = require('ava')
const { Store } = require('..')
const native = require('../lib/native.js')
const { Windows, STRIDE, OVERLAP } = require('../lib/read.js')
const { tmpStore } = require('./helpers.js')

const copying = /^(1|true|yes)$/i.test(process.env.SIMD_R_DRIVE_COPY_VALUES || '')

test('a file read while it grows gets tail windows that cover it, counted a few times over, not once per read', (t) => {
  // The native side (window_over in src/read.rs), simulated over a Buffer that stands for
  // the file: a window from `from` (else from the stride's start) to the stable end or the
  // stride's end, or over the value alone if that cuts it.
  const file = Buffer.alloc(8 << 20)
  for (let i = 0; i < file.length; i += 4) file.writeUInt32LE(i, i)
  let stableEnd = 1 << 20
  let made = 0
  const windows = new Windows(1)
  const read = (off, len) => {
    const cached = windows.hit(off, len)
    if (cached !== undefined) return cached
    const strideStart = Math.floor(off / STRIDE) * STRIDE
    const from = windows.tailFrom(off, len)
    t.true(from === undefined || (from >= strideStart && from <= off), 'a tail starts in the stride, at or before the value')
    let start = from ?? strideStart
    let end = Math.min(strideStart + STRIDE + OVERLAP, stableEnd)
    if (off + len > end) { start = off; end = off + len }
    made += end - start
    return windows.keep(file.subarray(start, end), start, off, len)
  }
  let x = 7
  const rnd = (n) => { x = (x * 1103515245 + 12345) >>> 0; return (x >>> 8) % n }
  for (let i = 0; i < 20000; i++) {
    stableEnd += 4 * (1 + rnd(64)) // the file grows by 4 to 256 bytes
    // The value just written, or one anywhere below the stable end (4-byte aligned).
    const len = 4 * (1 + rnd(8))
    const off = rnd(4) === 0 ? stableEnd - len : 4 * rnd((stableEnd - len) / 4)
    const v = read(off, len)
    if (v.readUInt32LE(0) !== off) {
      t.fail(`read at ${off} returned the bytes of ${v.readUInt32LE(0)}`)
      return
    }
    t.true(v.length === len)
  }
  const grown = stableEnd - (1 << 20)
  const tails = Math.max(...windows.byStride.filter(Boolean).map((w) => w.tails.length))
  t.log(`grew ${grown} bytes; windows made: ${made} bytes (${(made / stableEnd).toFixed(1)} x the file), ${tails} tails kept`)
  // Remaking the whole window at each read past its end made 35 GB of windows here (tried
  // with tailFrom always undefined); tails count each byte added a few dozen times at most.
  t.true(made < (1 << 20) + 40 * grown, `${made} bytes of windows`)
  t.true(tails <= 40, `${tails} tails`)
})

test('a store read right after each write makes windows of what it added, not of the whole file', async (t) => {
  if (copying) return t.pass('values are copied: no windows')
  const s = await Store.open(tmpStore())
  await s.putMany(Array.from({ length: 2000 }, (_, i) => [`old${i}`, Buffer.alloc(1000, i & 0xff)]))
  const window = native.window
  let made = 0
  let count = 0
  native.window = (...args) => {
    const w = window(...args)
    if (w != null) { made += w.length; count++ }
    return w
  }
  try {
    for (let i = 0; i < 2000; i++) {
      s.putSync(`new${i}`, Buffer.alloc(1000, i & 0xff))
      // A value written a few puts ago: past the last page, which is copied, so it is viewed.
      if (i >= 8) {
        const v = s.get(`new${i - 8}`)
        t.is(v[999], (i - 8) & 0xff)
      }
      const old = s.get(`old${(i * 7919) % 2000}`)
      t.is(old[0], ((i * 7919) % 2000) & 0xff)
    }
  } finally {
    native.window = window
  }
  const size = s.stats().fileBytes
  t.log(`${count} windows, ${made} bytes (${(made / size).toFixed(1)} x the ${size}-byte file)`)
  // A window over the whole file per read past its end made 771 MB here (251 windows).
  t.true(made < 20 * size, `${made} bytes of windows for a ${size}-byte file`)
  await s.close()
})
