'use strict'
// What `npm publish` would ship: the main package and this platform's binary package are
// packed, installed offline into a fresh project away from this checkout, and used there.
// The main package declares no optionalDependencies in a source checkout (the release flow's
// `napi pre-publish` adds them), so this also shows that the loader finds the platform package
// by name once it is installed. The second test runs that pre-publish step (without
// publishing anything) on a packed copy and installs what it makes, as the release does.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { tmpDir } = require('./helpers.js')

const ROOT = path.join(__dirname, '..')
const NAPI = require.resolve('@napi-rs/cli/package.json').replace(/package\.json$/, path.join('dist', 'cli.js'))
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))

/** This machine's napi-rs platform name, e.g. linux-x64-gnu. */
function platformId () {
  const { platform, arch } = process
  if (platform === 'linux') return `linux-${arch}-${process.report.getReport().header.glibcVersionRuntime ? 'gnu' : 'musl'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/** The environment of a user's shell: nothing from the npm run this test may be under. */
function cleanEnv () {
  const keep = new Set(['npm_config_cache', 'npm_config_userconfig', 'npm_config_globalconfig', 'npm_config_registry'])
  const env = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) && !keep.has(k.toLowerCase())) continue
    if (k === 'NODE_PATH' || k.startsWith('NAPI_RS_')) continue
    env[k] = v
  }
  return env
}

function run (cmd, args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: cleanEnv(), shell: process.platform === 'win32' && cmd === 'npm' })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

async function npm (t, args, cwd) {
  const r = await run('npm', args, cwd)
  if (r.code !== 0) t.fail(`npm ${args.join(' ')} exited with ${r.code}:\n${r.stdout}\n${r.stderr}`)
  return r
}

const CHECK_CJS = `
const assert = require('node:assert')
const path = require('node:path')
const { Store, kernel } = require('simd-r-drive')
const KeyvSimdRDrive = require('simd-r-drive/keyv')
const here = (p) => path.join(__dirname, p)
assert.ok(require.resolve('simd-r-drive').startsWith(here('node_modules')), require.resolve('simd-r-drive'))
;(async () => {
  const store = await Store.open(here('data.srd'))
  for (let i = 0; i < 100; i++) await store.put('k' + (i % 10), 'value ' + i)
  assert.strictEqual(store.get('k3').toString(), 'value 93')
  const c = await store.compact()
  assert.ok(c.reclaimedBytes > 0)
  assert.strictEqual(store.size, 10)
  await store.close()
  const adapter = new KeyvSimdRDrive('simd-r-drive://' + here('data.srd'))
  await adapter.set('cache:x', '{"value":1}', 60000)
  assert.strictEqual(await adapter.get('cache:x'), '{"value":1}')
  await adapter.disconnect()
  const addon = Object.keys(require.cache).find((p) => p.endsWith('.node'))
  console.log(JSON.stringify({ kernel: kernel(), addon }))
})().catch((err) => { console.error(err); process.exit(1) })
`

const CHECK_MJS = `
import assert from 'node:assert'
import { fileURLToPath } from 'node:url'
import { Store } from 'simd-r-drive'
import KeyvSimdRDrive from 'simd-r-drive/keyv'
const file = fileURLToPath(new URL('data.srd', import.meta.url))
const store = await Store.open(file)
assert.strictEqual(store.get('k3').toString(), 'value 93', 'what check.cjs wrote')
await store.put('esm', 'yes')
await store.compact()
await store.close()
const adapter = new KeyvSimdRDrive({ path: file })
assert.strictEqual(await adapter.get('esm'), 'yes')
await adapter.disconnect()
console.log('esm ok')
`

test('npm pack: both tarballs install offline into a fresh project and work there', async (t) => {
  t.timeout(90_000)
  const id = platformId()
  const binary = `${pkg.napi.binaryName}.${id}.node`
  const platformDir = path.join(ROOT, 'npm', id)
  if (!fs.existsSync(path.join(ROOT, binary)) || !fs.existsSync(platformDir)) {
    t.fail(`needs ${binary} (npm run build) and npm/${id}`)
    return
  }
  const work = tmpDir()
  const packs = path.join(work, 'packs')
  fs.mkdirSync(packs)

  // The main package: only what "files" lists (no binary, no sources, no tests).
  const main = JSON.parse((await npm(t, ['pack', '--ignore-scripts', '--json', '--pack-destination', packs], ROOT)).stdout)[0]
  const shipped = main.files.map((f) => f.path)
  for (const f of ['package.json', 'LICENSE', 'index.js', 'index.mjs', 'index.d.ts', 'keyv.js', 'keyv.mjs', 'keyv.d.ts', 'binding.js', 'binding.d.ts', 'lib/store.js', 'bin/simd-r-drive.js']) {
    t.true(shipped.includes(f), `${f} is in the tarball`)
  }
  t.deepEqual(shipped.filter((f) => /\.node$|^(src|crates|__test__|test-keyv|target|npm)\//.test(f)), [])

  // The platform package, as napi-rs lays it out: npm/<platform>/ plus the binary.
  const plat = path.join(work, id)
  fs.mkdirSync(plat)
  for (const f of fs.readdirSync(platformDir)) fs.copyFileSync(path.join(platformDir, f), path.join(plat, f))
  fs.copyFileSync(path.join(ROOT, binary), path.join(plat, binary))
  fs.copyFileSync(path.join(ROOT, 'LICENSE'), path.join(plat, 'LICENSE'))
  const platPack = JSON.parse((await npm(t, ['pack', '--ignore-scripts', '--json', '--pack-destination', packs], plat)).stdout)[0]
  t.true(platPack.files.some((f) => f.path === binary))
  t.true(platPack.files.some((f) => f.path === 'LICENSE'), 'the platform package ships LICENSE')

  // A fresh project that knows nothing of this checkout.
  const proj = path.join(work, 'project')
  fs.mkdirSync(proj)
  fs.writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
  const tarballs = [main.filename, platPack.filename].map((f) => path.join(packs, f))
  await npm(t, ['install', '--offline', '--no-audit', '--no-fund', ...tarballs], proj)
  const installed = JSON.parse(fs.readFileSync(path.join(proj, 'node_modules', 'simd-r-drive', 'package.json'), 'utf8'))
  t.is(installed.optionalDependencies, undefined)
  t.deepEqual(fs.readdirSync(path.join(proj, 'node_modules', 'simd-r-drive')).filter((f) => f.endsWith('.node')), [])

  fs.writeFileSync(path.join(proj, 'check.cjs'), CHECK_CJS)
  fs.writeFileSync(path.join(proj, 'check.mjs'), CHECK_MJS)
  const cjs = await run(process.execPath, ['check.cjs'], proj)
  t.is(cjs.code, 0, cjs.stderr)
  const { addon } = JSON.parse(cjs.stdout)
  t.true(addon.startsWith(path.join(fs.realpathSync(proj), 'node_modules', `${pkg.name}-${id}`) + path.sep), addon)
  const esm = await run(process.execPath, ['check.mjs'], proj)
  t.is(esm.code, 0, esm.stderr)
  t.is(esm.stdout.trim(), 'esm ok')

  // The command line from the installed package.
  const cli = await run(process.execPath, [path.join('node_modules', 'simd-r-drive', 'bin', 'simd-r-drive.js'), 'get', 'data.srd', 'esm'], proj)
  t.is(cli.code, 0, cli.stderr)
  t.is(cli.stdout, 'yes')
})

test('release: napi pre-publish adds optionalDependencies; that package installs offline with its platform package', async (t) => {
  t.timeout(120_000)
  const id = platformId()
  const binary = `${pkg.napi.binaryName}.${id}.node`
  if (!fs.existsSync(path.join(ROOT, binary))) {
    t.fail(`needs ${binary} (npm run build)`)
    return
  }
  const work = tmpDir()
  const packs = path.join(work, 'packs')
  fs.mkdirSync(packs)
  // What the release job has before `napi pre-publish`: the package, and npm/<platform>/
  // with each binary moved in (`napi artifacts`) and the LICENSE copied in. Binaries of other
  // platforms are stand-ins: nothing here loads them.
  const checkout = JSON.parse((await npm(t, ['pack', '--ignore-scripts', '--json', '--pack-destination', packs], ROOT)).stdout)[0]
  const stage = path.join(work, 'release')
  fs.mkdirSync(stage)
  const untar = await run('tar', ['-xzf', path.join(packs, checkout.filename), '-C', stage, '--strip-components=1'], work)
  t.is(untar.code, 0, untar.stderr)
  fs.rmSync(path.join(packs, checkout.filename))
  for (const dir of fs.readdirSync(path.join(ROOT, 'npm'))) {
    const to = path.join(stage, 'npm', dir)
    fs.mkdirSync(to, { recursive: true })
    for (const f of fs.readdirSync(path.join(ROOT, 'npm', dir))) fs.copyFileSync(path.join(ROOT, 'npm', dir, f), path.join(to, f))
    fs.copyFileSync(path.join(ROOT, 'LICENSE'), path.join(to, 'LICENSE'))
    const main = JSON.parse(fs.readFileSync(path.join(to, 'package.json'), 'utf8')).main
    if (dir === id) fs.copyFileSync(path.join(ROOT, binary), path.join(to, main))
    else fs.writeFileSync(path.join(to, main), 'stand-in')
  }
  // The release workflow's step, minus the publishing of the platform packages.
  const pre = await run(process.execPath, [NAPI, 'pre-publish', '-t', 'npm', '--no-gh-release', '--skip-optional-publish'], stage)
  t.is(pre.code, 0, pre.stdout + pre.stderr)
  const released = JSON.parse(fs.readFileSync(path.join(stage, 'package.json'), 'utf8'))
  const expected = {}
  for (const dir of fs.readdirSync(path.join(ROOT, 'npm'))) {
    const sub = JSON.parse(fs.readFileSync(path.join(ROOT, 'npm', dir, 'package.json'), 'utf8'))
    t.is(sub.version, pkg.version, `npm/${dir} has the package's version`)
    expected[sub.name] = pkg.version
  }
  t.deepEqual(released.optionalDependencies, expected, 'one optional dependency per target, at this version')
  t.is(Object.keys(expected).length, pkg.napi.targets.length)

  const mainPack = JSON.parse((await npm(t, ['pack', '--ignore-scripts', '--json', '--pack-destination', packs], stage)).stdout)[0]
  t.true(mainPack.files.some((f) => f.path === 'LICENSE'))
  const platPack = JSON.parse((await npm(t, ['pack', '--ignore-scripts', '--json', '--pack-destination', packs], path.join(stage, 'npm', id))).stdout)[0]
  t.true(platPack.files.some((f) => f.path === 'LICENSE'))

  // Installed as a user's `npm install` would, with the registry out of reach: the platform
  // package satisfies its optional dependency; the other platforms' are skipped.
  const proj = path.join(work, 'project')
  fs.mkdirSync(proj)
  fs.writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
  await npm(t, ['install', '--offline', '--no-audit', '--no-fund', ...[mainPack.filename, platPack.filename].map((f) => path.join(packs, f))], proj)
  const installed = JSON.parse(fs.readFileSync(path.join(proj, 'node_modules', 'simd-r-drive', 'package.json'), 'utf8'))
  t.deepEqual(installed.optionalDependencies, expected)
  t.true(fs.existsSync(path.join(proj, 'node_modules', 'simd-r-drive', 'LICENSE')))
  fs.writeFileSync(path.join(proj, 'check.cjs'), CHECK_CJS)
  const cjs = await run(process.execPath, ['check.cjs'], proj)
  t.is(cjs.code, 0, cjs.stderr)
  const { addon } = JSON.parse(cjs.stdout)
  t.true(addon.startsWith(path.join(fs.realpathSync(proj), 'node_modules', `${pkg.name}-${id}`) + path.sep), addon)
})
