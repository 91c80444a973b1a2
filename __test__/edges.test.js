'use strict'
// The package at its edges: the error codes it exports, the key rule for lone surrogates.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { Store, isStoreError } = require('..')
const errors = require('../lib/errors.js')
const { tmpStore } = require('./helpers.js')

const ROOT = path.join(__dirname, '..')

test('isStoreError: true for the errors simd-r-drive throws, false for others', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  await s.close()
  const closed = await t.throwsAsync(s.put('k', 'v'))
  t.true(isStoreError(closed))
  t.is(closed.code, 'ERR_STORE_CLOSED')
  const bad = t.throws(() => Store.openSync(p).get(''))
  t.true(isStoreError(bad))
  t.is(bad.code, 'ERR_INVALID_KEY')
  t.false(isStoreError(new Error('x')))
  t.false(isStoreError(Object.assign(new Error('x'), { code: 'ENOENT' })))
  t.false(isStoreError({ code: 'ERR_STORE_CLOSED' }), 'not an Error')
  t.false(isStoreError(undefined))
  t.is(require('../index.mjs') && typeof isStoreError, 'function')
})

test('StoreErrorCode in index.d.ts lists exactly the codes the code can throw', (t) => {
  const dts = fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8')
  const union = /export type StoreErrorCode =([^]*?)\n\n/.exec(dts)[1]
  const typed = [...union.matchAll(/'(ERR_[A-Z_]+|ABORT_ERR)'/g)].map((m) => m[1]).sort()
  t.deepEqual(typed, [...errors.CODES].sort())
  // Every code that appears in the sources is one of them.
  const inDir = (dir, ext) => fs.readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith(ext)).map((f) => `${dir}/${f}`)
  const sources = [...inDir('lib', '.js'), ...inDir('src', '.rs'), 'crates/simd-r-drive/src/error.rs']
  for (const f of ['lib/store.js', 'lib/errors.js', 'lib/native.js', 'src/lib.rs', 'src/errors.rs']) t.true(sources.includes(f), f)
  const used = new Set()
  for (const f of sources) {
    for (const m of fs.readFileSync(path.join(ROOT, f), 'utf8').matchAll(/["'](ERR_[A-Z_]+)["']/g)) used.add(m[1])
  }
  for (const code of used) t.true(errors.CODES.has(code), `${code} is in StoreErrorCode`)
})

test('lone surrogates: strings that differ only in them name the same key (as Buffer.from encodes them)', async (t) => {
  const s = await Store.open(tmpStore())
  await s.put('\ud800', 'high')
  t.is(s.get('\udc00').toString(), 'high', 'both encode to U+FFFD')
  t.is(s.get('\ufffd').toString(), 'high')
  t.true(s.get(Buffer.from([0xef, 0xbf, 0xbd])) !== undefined)
  t.true(Buffer.from('\ud800').equals(Buffer.from('\udc00')))
  t.is(s.size, 1)
  // Bytes keep them apart.
  await s.put(Buffer.from([0xed, 0xa0, 0x80]), 'a')
  await s.put(Buffer.from([0xed, 0xb0, 0x80]), 'b')
  t.is(s.size, 3)
  // The rule is documented beside the key rules.
  const dts = fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8')
  t.regex(dts, /lone surrogate[^]*?same key[^]*?\*\/\nexport type Key =/)
  await s.close()
})
