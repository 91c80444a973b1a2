'use strict'
// The generated loader (binding.js) where no binary for this platform can be loaded: no
// .node file beside it and no platform package installed.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { tmpDir } = require('./helpers.js')

const ROOT = path.join(__dirname, '..')

/** The platform package napi-rs names for this machine, e.g. simd-r-drive-linux-x64-gnu. */
function platformPackage () {
  const { platform, arch } = process
  let abi = ''
  if (platform === 'linux') {
    const report = process.report.getReport()
    abi = report.header.glibcVersionRuntime ? '-gnu' : '-musl'
  } else if (platform === 'win32') {
    abi = '-msvc'
  }
  return `simd-r-drive-${platform}-${arch}${abi}`
}

/** Requires a copy of binding.js in an empty directory; reports what it threw. */
function loadAlone () {
  const dir = tmpDir()
  fs.copyFileSync(path.join(ROOT, 'binding.js'), path.join(dir, 'binding.js'))
  fs.mkdirSync(path.join(dir, 'lib'))
  fs.copyFileSync(path.join(ROOT, 'lib', 'native.js'), path.join(dir, 'lib', 'native.js'))
  fs.writeFileSync(path.join(dir, 'wrapped.js'), `
try {
  require('./lib/native.js')
  console.log(JSON.stringify({ loaded: true }))
} catch (err) {
  console.log(JSON.stringify({ loaded: false, message: err.message, code: err.code, cause: err.cause && err.cause.message }))
}
`)
  const script = `
try {
  require('./binding.js')
  console.log(JSON.stringify({ loaded: true }))
} catch (err) {
  const chain = []
  for (let e = err; e; e = e.cause) chain.push(e.message)
  console.log(JSON.stringify({ loaded: false, message: err.message, chain }))
}
`
  fs.writeFileSync(path.join(dir, 'load.js'), script)
  fs.writeFileSync(path.join(dir, 'uncaught.js'), "require('./binding.js')\n")
  const env = { ...process.env }
  for (const name of Object.keys(env)) {
    if (name.startsWith('NAPI_RS_') || name === 'NODE_PATH') delete env[name]
  }
  const run = (file) => new Promise((resolve) => {
    execFile(process.execPath, [file], { cwd: dir, env }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr })
    })
  })
  return Promise.all([run('load.js'), run('uncaught.js'), run('wrapped.js')])
}

const results = loadAlone()

test('the load error\'s cause chain names the platform package to install', async (t) => {
  const [caught] = await results
  t.is(caught.code, 0, caught.stderr)
  const r = JSON.parse(caught.stdout)
  t.false(r.loaded)
  t.regex(r.message, /Cannot find native binding/)
  const pkg = platformPackage()
  // napi-rs keeps the reasons in the `cause` chain: the local .node file, then the package.
  t.true(r.chain.some((m) => m.includes(`Cannot find module '${pkg}'`)), r.chain.join('\n'))
  t.true(r.chain.some((m) => m.includes('simd-r-drive.') && m.includes('.node')), r.chain.join('\n'))
})

test('uncaught, the printed error shows the platform package', async (t) => {
  const [, uncaught] = await results
  t.not(uncaught.code, 0)
  t.true(uncaught.stderr.includes(platformPackage()), uncaught.stderr)
})

test('the package\'s loader names the platform package to install in its message', async (t) => {
  const [, , wrapped] = await results
  t.is(wrapped.code, 0, wrapped.stderr)
  const r = JSON.parse(wrapped.stdout)
  t.false(r.loaded)
  t.is(r.code, 'ERR_NATIVE_BINDING_MISSING')
  t.true(r.message.includes(platformPackage()), r.message)
  t.regex(r.cause, /Cannot find native binding/)
  // The loader computes the same name as this test.
  t.is(require('../lib/native.js').platformPackage(), platformPackage())
})
