'use strict'
// The package's `exports` as a consumer meets them: by package name, from another directory
// (node_modules/simd-r-drive is a symlink to this checkout), with `require` and `import`.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { tmpDir } = require('./helpers.js')

const ROOT = path.join(__dirname, '..')

function run (dir, file) {
  const env = { ...process.env }
  delete env.NODE_PATH
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { cwd: dir, env }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr })
    })
  })
}

function consumer () {
  const dir = tmpDir()
  fs.mkdirSync(path.join(dir, 'node_modules'))
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'simd-r-drive'), process.platform === 'win32' ? 'junction' : 'dir')
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }))
  return dir
}

test('require("simd-r-drive") and require("simd-r-drive/keyv") by package name', async (t) => {
  const dir = consumer()
  fs.writeFileSync(path.join(dir, 'check.cjs'), `
const assert = require('node:assert')
const path = require('node:path')
const srd = require('simd-r-drive')
const KeyvSimdRDrive = require('simd-r-drive/keyv')
const { KeyvSimdRDrive: Named } = require('simd-r-drive/keyv')
assert.strictEqual(Named, KeyvSimdRDrive)
assert.strictEqual(require('simd-r-drive/package.json').name, 'simd-r-drive')
for (const hidden of ['simd-r-drive/lib/store.js', 'simd-r-drive/binding.js', 'simd-r-drive/keyv.js']) {
  assert.throws(() => require(hidden), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' })
}
;(async () => {
  const file = path.join(__dirname, 'cjs.srd')
  const store = await srd.Store.open(file)
  await store.put('k', 'from cjs')
  assert.strictEqual(store.get('k').toString(), 'from cjs')
  assert.ok(['avx2', 'sse2', 'neon', 'scalar'].includes(srd.kernel()))
  await store.close()
  const adapter = new KeyvSimdRDrive('simd-r-drive://' + file)
  await adapter.set('keyv:a', '"v"', 60000)
  assert.strictEqual(await adapter.get('keyv:a'), '"v"')
  assert.strictEqual(await adapter.get('k'), 'from cjs')
  await adapter.disconnect()
  console.log('cjs ok')
})().catch((err) => { console.error(err); process.exit(1) })
`)
  const r = await run(dir, 'check.cjs')
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), 'cjs ok')
})

test('import "simd-r-drive" and "simd-r-drive/keyv" by package name', async (t) => {
  const dir = consumer()
  fs.writeFileSync(path.join(dir, 'check.mjs'), `
import assert from 'node:assert'
import { fileURLToPath } from 'node:url'
import srdDefault, { Store, kernel, MAX_KEY_BYTES } from 'simd-r-drive'
import KeyvSimdRDrive, { KeyvSimdRDrive as Named } from 'simd-r-drive/keyv'
import { createRequire } from 'node:module'

assert.strictEqual(Named, KeyvSimdRDrive)
assert.strictEqual(srdDefault.Store, Store)
assert.strictEqual(MAX_KEY_BYTES, 65535)
// One class for both module systems.
const require = createRequire(import.meta.url)
assert.strictEqual(require('simd-r-drive/keyv'), KeyvSimdRDrive)
assert.strictEqual(require('simd-r-drive').Store, Store)
await assert.rejects(import('simd-r-drive/lib/store.js'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' })

const file = fileURLToPath(new URL('esm.srd', import.meta.url))
const store = await Store.open(file)
await store.put('k', 'from esm')
assert.strictEqual(store.get('k').toString(), 'from esm')
assert.ok(typeof kernel() === 'string')
await store.close()
const adapter = new KeyvSimdRDrive({ path: file, namespace: 'ns' })
await adapter.set('ns:a', 'x')
assert.deepStrictEqual(await adapter.getMany(['ns:a', 'k']), ['x', 'from esm'])
await adapter.clear()
assert.strictEqual(await adapter.has('ns:a'), false)
assert.strictEqual(await adapter.has('k'), true)
await adapter.disconnect()
console.log('esm ok')
`)
  const r = await run(dir, 'check.mjs')
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), 'esm ok')
})

test('every file that exports and types point at is in the package files', (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  const targets = new Set([pkg.main, pkg.types])
  for (const entry of Object.values(pkg.exports)) {
    for (const target of typeof entry === 'string' ? [entry] : Object.values(entry)) targets.add(target)
  }
  t.deepEqual(Object.keys(pkg.exports), ['.', './keyv', './package.json'])
  for (const target of targets) {
    const rel = path.posix.normalize(target)
    t.true(fs.existsSync(path.join(ROOT, rel)), `${rel} exists`)
    if (rel === 'package.json') continue
    t.true(pkg.files.some((f) => f === rel || (f.endsWith('/') && rel.startsWith(f))), `${rel} is in "files"`)
  }
})
