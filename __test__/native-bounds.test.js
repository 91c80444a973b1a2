'use strict'
// The native functions are public API (binding.js can be required by path): numbers from
// JavaScript that point outside the file, or are no byte offsets at all, must give coded
// errors and never touch memory outside the file.
const test = require('ava')
const fs = require('node:fs')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const native = require('../binding.js')
const { fromNative } = require('../lib/errors.js')
const { tmpStore } = require('./helpers.js')

const KEY_AT = 32
const OUT_AUX = 3

/** Calls `f` and returns the coded error it throws (fails the test if it returns). */
function codedThrow (t, f) {
  let e
  try {
    f()
  } catch (err) {
    e = fromNative(err)
  }
  t.truthy(e, 'expected a throw')
  return e && e.code
}

/** A store of about `bytes` bytes of data, opened natively; the handle and a located scratch. */
function opened (bytes = 1 << 20) {
  const p = tmpStore()
  const h = native.openStore(p, false, true, undefined)
  const staging = [] // flat: key, value, key, value, ...
  const value = Buffer.alloc(64 * 1024, 7)
  for (let i = 0; i * value.length < bytes; i++) staging.push(`k${i}`, value)
  native.writeEntries(h, 0, staging, Buffer.prototype, Uint8Array.prototype)
  const scratch = Buffer.alloc(KEY_AT + 64)
  const out = new Float64Array(scratch.buffer, scratch.byteOffset, 4)
  const n = scratch.write('k0', KEY_AT)
  t0(native.locate(h, scratch, n))
  return { p, h, scratch, out }
}

function t0 (found) {
  if (found !== 1) throw new Error(`locate returned ${found}`)
}

const BAD = [2 ** 64 - 4096, -1, NaN, Infinity, -Infinity, 1.5, 2 ** 53]

test('window() refuses scratch offsets and lengths that are no byte ranges of the file', (t) => {
  const { h, scratch, out } = opened()
  const good = [out[1], out[2]]
  for (const bad of BAD) {
    out[1] = bad
    out[2] = 8192
    t.is(codedThrow(t, () => native.window(h, scratch, 4096, 4096)), 'ERR_OUT_OF_RANGE', `offset ${bad}`)
    out[1] = good[0]
    out[2] = bad
    t.is(codedThrow(t, () => native.window(h, scratch, 4096, 4096)), 'ERR_OUT_OF_RANGE', `length ${bad}`)
  }
  // Far past the end of the file and of the mapping.
  out[1] = 2 ** 52
  out[2] = 2 ** 52
  const r = native.window(h, scratch, 4096, 4096)
  t.is(r, null)
  t.is(out[OUT_AUX], -1)
  // Past the stable end: no window, "locate again".
  out[1] = 64 << 20
  out[2] = 16
  t.is(native.window(h, scratch, 4096, 4096), null)
  t.is(out[OUT_AUX], -1)
  // The located value still works.
  out[1] = good[0]
  out[2] = good[1]
  const w = native.window(h, scratch, 4096, 4096)
  t.true(Buffer.isBuffer(w))
  t.true(w.length >= good[1])
  native.releaseStore(h)
})

test('window() refuses strides and overlaps that are no positive integers, or make a window above 4 GiB', (t) => {
  const { h, scratch } = opened()
  for (const bad of [...BAD, 0]) {
    t.is(codedThrow(t, () => native.window(h, scratch, bad, 4096)), 'ERR_OUT_OF_RANGE', `stride ${bad}`)
  }
  for (const bad of BAD) {
    t.is(codedThrow(t, () => native.window(h, scratch, 4096, bad)), 'ERR_OUT_OF_RANGE', `overlap ${bad}`)
  }
  // A window longer than a Buffer may be (buffer.constants.MAX_LENGTH is 4 GiB on Node 20)
  // is refused before N-API is asked for it, whatever the store's size.
  t.is(codedThrow(t, () => native.window(h, scratch, 2 ** 32, 64 << 20)), 'ERR_OUT_OF_RANGE')
  t.is(codedThrow(t, () => native.window(h, scratch, 2 ** 32 - 4096, 8192)), 'ERR_OUT_OF_RANGE')
  t.true(Buffer.isBuffer(native.window(h, scratch, 2 ** 32 - (64 << 20), 64 << 20)))
  native.releaseStore(h)
})

test('window() takes a tail start only where it can serve the value, and refuses one that is no byte offset', (t) => {
  const { h, scratch, out } = opened()
  t0(native.locate(h, scratch, scratch.write('k3', KEY_AT)))
  const value = [out[1], out[2]]
  for (const bad of BAD) {
    t.is(codedThrow(t, () => native.window(h, scratch, 1 << 30, 4096, bad)), 'ERR_OUT_OF_RANGE', `from ${bad}`)
  }
  // A tail from the value's own start, and from before it: it starts there and reaches the stable end.
  for (const from of [value[0], value[0] - 4096]) {
    const w = native.window(h, scratch, 1 << 30, 4096, from)
    t.is(out[OUT_AUX], from)
    t.is(w[value[0] - from], 7, 'the first byte of the value')
    t.is(w.length, native.window(h, scratch, 1 << 30, 4096).length - from, 'the same end as the whole window')
  }
  // A start past the value, or (with a stride of 64 KiB) before the value's stride, cannot
  // serve it: the window starts at the stride, as without one.
  out[1] = value[0] + (64 << 10)
  for (const from of [out[1] + 8, 0, 2 ** 52]) {
    const w = native.window(h, scratch, 64 << 10, 4096, from)
    t.true(Buffer.isBuffer(w))
    t.is(out[OUT_AUX], Math.floor(out[1] / (64 << 10)) * (64 << 10), `from ${from}`)
  }
  native.releaseStore(h)
})

test('window() refuses a scratch buffer too short for its result slots', (t) => {
  const { h } = opened()
  t.is(codedThrow(t, () => native.window(h, Buffer.alloc(8), 4096, 4096)), 'ERR_INVALID_ARG_VALUE')
  native.releaseStore(h)
})

test('snapshot.copy() refuses ranges outside the file: huge, negative, fractional, past the end of a 2 MiB file', (t) => {
  const { p, h } = opened(2 << 20)
  const snap = native.snapshot(h)
  t.true(fs.statSync(p).size < 8 << 20)
  t.is(codedThrow(t, () => snap.copy(2 ** 64 - 4096, 8192)), 'ERR_OUT_OF_RANGE')
  t.is(codedThrow(t, () => snap.copy(8 << 20, 16)), 'ERR_OUT_OF_RANGE')
  t.is(codedThrow(t, () => snap.copy(2 ** 52, 2 ** 52)), 'ERR_OUT_OF_RANGE')
  for (const bad of BAD) {
    t.is(codedThrow(t, () => snap.copy(bad, 16)), 'ERR_OUT_OF_RANGE', `offset ${bad}`)
    t.is(codedThrow(t, () => snap.copy(64, bad)), 'ERR_OUT_OF_RANGE', `length ${bad}`)
  }
  // A real entry still copies.
  const f = new Float64Array(4)
  t.is(snap.nextBatch(Buffer.from(f.buffer)), 1)
  t.is(snap.copy(f[0], f[1]).toString(), 'k0')
  t.true(snap.copy(f[2], f[3]).equals(Buffer.alloc(64 * 1024, 7)))
  native.releaseStore(h)
})

test('snapshot.window() refuses bad numbers, and gives no window past the stable end', (t) => {
  const { h } = opened()
  const snap = native.snapshot(h)
  const own = Buffer.alloc(KEY_AT)
  const out = new Float64Array(own.buffer, own.byteOffset, 4)
  for (const bad of BAD) {
    t.is(codedThrow(t, () => snap.window(own, bad, 16, 4096, 4096)), 'ERR_OUT_OF_RANGE', `offset ${bad}`)
    t.is(codedThrow(t, () => snap.window(own, 64, bad, 4096, 4096)), 'ERR_OUT_OF_RANGE', `length ${bad}`)
    t.is(codedThrow(t, () => snap.window(own, 64, 16, bad, 4096)), 'ERR_OUT_OF_RANGE', `stride ${bad}`)
  }
  t.is(codedThrow(t, () => snap.window(own, 64, 16, 2 ** 32, 4096)), 'ERR_OUT_OF_RANGE')
  t.is(codedThrow(t, () => snap.window(Buffer.alloc(4), 64, 16, 4096, 4096)), 'ERR_INVALID_ARG_VALUE')
  t.is(snap.window(own, 64 << 20, 16, 4096, 4096), null)
  t.is(out[OUT_AUX], -1)
  t.true(Buffer.isBuffer(snap.window(own, 64, 16, 4096, 4096)))
  native.releaseStore(h)
})

test('SIMD_R_DRIVE_WINDOW_BYTES above 4 GiB - 64 MiB (windows would pass buffer.constants.MAX_LENGTH) is ERR_INVALID_ENV', (t) => {
  const load = (v) => spawnSync(process.execPath, ['-e', `
    try { require(${JSON.stringify(path.join(__dirname, '..'))}); console.log('loaded') } catch (e) { console.log(e.code + ' ' + e.message) }
  `], { env: { ...process.env, SIMD_R_DRIVE_WINDOW_BYTES: String(v) }, encoding: 'utf8' })
  for (const v of [2 ** 32 - (64 << 20) + 4096, 2 ** 32, 8 * 2 ** 30]) {
    const r = load(v)
    t.is(r.status, 0, r.stderr)
    t.regex(r.stdout, /^ERR_INVALID_ENV SIMD_R_DRIVE_WINDOW_BYTES/, `value ${v}`)
  }
  t.is(load(2 ** 32 - (64 << 20)).stdout.trim(), 'loaded')
})

test('write functions refuse tickets and sequence numbers that are no integers, instead of waiting forever', async (t) => {
  const { h } = opened()
  const staging = Buffer.from([1, 0, 1, 0, 1, 0, 0, 0, 0x6b, 0x76]) // Put "k" -> "v"
  for (const bad of [NaN, -1, 1.5, Infinity, 2 ** 64]) {
    t.is(codedThrow(t, () => native.writeBatch(h, bad, staging, 1)), 'ERR_OUT_OF_RANGE', `writeBatch ticket ${bad}`)
    t.is(codedThrow(t, () => native.tryWriteBatch(h, bad, staging, 1)), 'ERR_OUT_OF_RANGE', `tryWriteBatch ticket ${bad}`)
    t.is(codedThrow(t, () => native.writeEntries(h, bad, ['k', 'v'], Buffer.prototype, Uint8Array.prototype)), 'ERR_OUT_OF_RANGE', `writeEntries ticket ${bad}`)
    t.is(codedThrow(t, () => native.writeBatchAsync(h, bad, staging, 1, false)), 'ERR_OUT_OF_RANGE', `writeBatchAsync ticket ${bad}`)
    t.is(codedThrow(t, () => native.waitDurable(h, bad)), 'ERR_OUT_OF_RANGE', `waitDurable seq ${bad}`)
  }
  // The next real ticket still commits.
  t.true(native.writeBatch(h, 1, staging, 1) >= 0)
  native.releaseStore(h)
})
