'use strict'
// A store's first reads of small values are copies, so that a process that reads a few
// values never makes a window (whose external memory V8 collects for at once); from the
// FIRST_COPIES-th read on, or after a value too large to copy, reads are views again.
const test = require('ava')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { Store } = require('..')
const { FIRST_COPIES } = require('../lib/read.js')
const { tmpStore } = require('./helpers.js')

const copying = /^(1|true|yes)$/i.test(process.env.SIMD_R_DRIVE_COPY_VALUES || '')
/** A view's ArrayBuffer is a window of the mapping: far longer than the value. */
const isView = (buf) => buf.buffer.byteLength > buf.length
/** The copies `s` has left (under SIMD_R_DRIVE_COPY_VALUES every read copies; none counts). */
const left = (t, s, expected, message) => { if (!copying) t.is(s._firstCopies, expected, message) }

async function storeOf (n, len) {
  const p = tmpStore()
  const s = await Store.open(p)
  const batch = []
  for (let i = 0; i < n; i++) batch.push([`k${i}`, Buffer.alloc(len, i & 0xff)])
  batch.push(['small', Buffer.alloc(100, 0x5a)])
  await s.putMany(batch)
  // Padding: the values sit in whole pages before the file's last one (never copied).
  await s.put('pad', Buffer.alloc(64 * 1024))
  await s.close()
  return Store.open(p)
}

test('the first reads of small values are copies, the reads after them views of one window', async (t) => {
  t.is(FIRST_COPIES, 1024)
  const s = await storeOf(FIRST_COPIES + 10, 100)
  const first = []
  for (let i = 0; i < FIRST_COPIES; i++) first.push(s.get(`k${i}`))
  for (let i = 0; i < FIRST_COPIES; i++) t.true(first[i].equals(Buffer.alloc(100, i & 0xff)), `k${i}`)
  t.is(first.filter(isView).length, 0, 'no view among the first reads')
  const later = [s.get(`k${FIRST_COPIES}`), s.get(`k${FIRST_COPIES + 1}`), s.get('k0')]
  if (copying) {
    t.is(later.filter(isView).length, 0, 'SIMD_R_DRIVE_COPY_VALUES copies every value')
  } else {
    t.true(later.every(isView), 'the reads after them are views')
    t.is(later[0].buffer, later[1].buffer, 'of one window')
    t.is(later[0].buffer, later[2].buffer)
  }
  t.true(later[2].equals(Buffer.alloc(100, 0)))
  // Copies stay what they were read as: a write into one reaches nothing else.
  first[0].fill(0xee)
  t.true(s.get('k0').equals(Buffer.alloc(100, 0)))
  // Every handle counts its own reads.
  const other = await Store.open(s.path, { readOnly: true })
  t.false(isView(other.get('k5')))
  await other.close()
  await s.close()
})

test('a value too large to copy is a view from the first read, and the small reads after it too', async (t) => {
  const s = await storeOf(4, 64 * 1024)
  const big = s.get('k1')
  t.true(big.equals(Buffer.alloc(64 * 1024, 1)))
  if (!copying) {
    t.true(isView(big), 'a 64 KiB value is a view at once')
    const after = s.get('small')
    t.true(after.equals(Buffer.alloc(100, 0x5a)))
    t.true(isView(after), 'a small read after the first window is a view')
    t.is(after.buffer, big.buffer)
    // A value written after the window was made is read through a new one (a tail).
    await s.put('later', Buffer.alloc(100, 0x6b))
    await s.put('pad2', Buffer.alloc(64 * 1024))
    const tail = s.get('later')
    t.true(tail.equals(Buffer.alloc(100, 0x6b)))
    t.true(isView(tail), 'a small value past the first window is a view too')
  }
  await s.close()
})

test('getMany copies while copies are left, and one of at least as many keys makes the window at once', async (t) => {
  const s = await storeOf(2100, 100)
  const keys = (from, n) => Array.from({ length: n }, (_, i) => `k${from + i}`)
  const few = s.getMany(keys(0, 10))
  few.forEach((v, i) => t.true(v.equals(Buffer.alloc(100, i & 0xff)), `k${i}`))
  t.is(few.filter(isView).length, 0, 'ten keys: copies')
  left(t, s, FIRST_COPIES - 10, 'each counted once')
  // A sub-store reads through its root handle: the same count.
  s.sub('k').get('20')
  left(t, s, FIRST_COPIES - 11)
  const many = s.getMany(keys(100, FIRST_COPIES - 11))
  many.forEach((v, i) => t.true(v.equals(Buffer.alloc(100, (100 + i) & 0xff)), `k${100 + i}`))
  left(t, s, 0)
  if (!copying) {
    t.true(many.every(isView), 'as many keys as copies are left: views, the window made at once')
    t.is(many[0].buffer, many[many.length - 1].buffer)
  }
  await s.close()
})

test('16 KiB values are copied, larger ones make the window; values of the last page leave the count alone', async (t) => {
  const p = tmpStore()
  const w = await Store.open(p)
  await w.put('at', Buffer.alloc(16 * 1024, 1))
  await w.put('over', Buffer.alloc(16 * 1024 + 1, 2))
  await w.put('pad', Buffer.alloc(64 * 1024))
  await w.put('last', Buffer.alloc(10, 3))
  await w.close()
  const s = await Store.open(p)
  t.true(s.get('last').equals(Buffer.alloc(10, 3)))
  left(t, s, FIRST_COPIES, 'a value in the last page is a copy of its own, not one of the first')
  const at = s.get('at')
  t.true(at.equals(Buffer.alloc(16 * 1024, 1)))
  t.false(isView(at), '16 KiB: a copy')
  left(t, s, FIRST_COPIES - 1)
  const over = s.get('over')
  t.true(over.equals(Buffer.alloc(16 * 1024 + 1, 2)))
  if (!copying) t.true(isView(over), 'one byte more: a view')
  left(t, s, 0)
  await s.close()
})

test('SIMD_R_DRIVE_FIRST_COPIES sets the count; 0 makes views from the first read; a bad value is ERR_INVALID_ENV', async (t) => {
  const p = tmpStore()
  const w = await Store.open(p)
  for (let i = 0; i < 10; i++) await w.put(`k${i}`, Buffer.alloc(100, i))
  await w.put('pad', Buffer.alloc(64 * 1024))
  await w.close()
  const root = path.join(__dirname, '..')
  // Prints, for each of the first ten reads of a fresh handle, 1 for a view and 0 for a copy.
  const script = `const { Store } = require('.'); const s = Store.openSync(${JSON.stringify(p)}, { readOnly: true });
    const v = []; for (let i = 0; i < 10; i++) { const b = s.get('k' + i); v.push(b.buffer.byteLength > b.length ? 1 : 0) }
    process.stdout.write(v.join(''))`
  const run = (value) => spawnSync(process.execPath, ['-e', script], {
    cwd: root,
    env: { ...process.env, SIMD_R_DRIVE_FIRST_COPIES: value, SIMD_R_DRIVE_COPY_VALUES: '' },
    encoding: 'utf8'
  })
  t.is(run('0').stdout, '1111111111')
  t.is(run('7').stdout, '0000000111')
  t.is(run('').stdout, '0000000000', 'unset: the default count')
  for (const bad of ['-1', '1.5', '1e3', '0x10', 'many']) {
    const r = run(bad)
    t.not(r.status, 0, bad)
    t.regex(r.stderr, /SIMD_R_DRIVE_FIRST_COPIES must be a whole number/, bad)
  }
})
