'use strict'
const test = require('ava')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Worker } = require('node:worker_threads')
const { Store } = require('..')

const LIB = path.join(__dirname, '..')

/** The temporary store's own directory (what is removed). */
const dirOf = (s) => path.dirname(s.path)

async function until (cond, ms = 10000) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) return false
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return true
}

/** Runs `code` in a child Node process; resolves with the child once it printed a line, and that line. */
function child (code) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SRD_LIB: LIB } })
    let out = ''
    c.stdout.on('data', (d) => {
      out += d
      const nl = out.indexOf('\n')
      if (nl >= 0) resolve({ c, line: out.slice(0, nl) })
    })
    c.on('error', reject)
    c.on('exit', (code) => { if (!out.includes('\n')) reject(new Error(`child exited with ${code} before printing`)) })
  })
}

const exited = (c) => new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', resolve)))

test('Store.temp opens a fresh store in the OS temp directory and removes it on close', async (t) => {
  const s = await Store.temp()
  t.is(path.dirname(dirOf(s)), os.tmpdir())
  t.regex(path.basename(dirOf(s)), new RegExp(`^simd-r-drive-temp-${process.pid}-[0-9]+-[0-9a-f]{16}$`))
  t.is(path.basename(s.path), 'store')
  t.is(s.size, 0)
  await s.put('a', '1')
  t.is(s.get('a').toString(), '1')
  t.is((fs.statSync(dirOf(s)).mode & 0o777), 0o700)
  const other = await Store.temp()
  t.not(other.path, s.path, 'each call makes a new store')
  await s.close()
  t.false(fs.existsSync(dirOf(s)))
  t.true(fs.existsSync(other.path))
  await other.close()
  t.false(fs.existsSync(dirOf(other)))
})

// Serial (ava runs serial tests first, alone): no other test's store is in the way of
// checking that the refused calls left nothing.
test.serial('Store.temp takes the options of Store.open, and refuses readOnly and create: false', async (t) => {
  const s = await Store.temp({ valueEncoding: 'json', sync: true })
  await s.put('k', { a: [1] })
  t.deepEqual(s.get('k'), { a: [1] })
  await s.close()
  await t.throwsAsync(Store.temp({ readOnly: true }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' })
  await t.throwsAsync(Store.temp({ create: false }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' })
  await t.throwsAsync(Store.temp('x'), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(Store.temp({ valueEncoding: 'nope' }), { code: 'ERR_INVALID_ARG_VALUE' })
  const mine = new RegExp(`^simd-r-drive-temp-${process.pid}-`)
  t.deepEqual(fs.readdirSync(os.tmpdir()).filter((n) => mine.test(n)), [], 'the refused calls left nothing')
})

test('Buffers read from a temporary store stay valid after it is removed (Unix)', async (t) => {
  if (process.platform === 'win32') return t.pass('a mapped file cannot be deleted on Windows')
  const s = await Store.temp()
  await s.put('v', Buffer.alloc(1000, 0xab))
  await s.put('pad', Buffer.alloc(16384)) // 'v' is in a completed page: a zero-copy view
  const v = s.get('v')
  const copy = s.getCopy('v')
  await s.close()
  t.false(fs.existsSync(dirOf(s)), 'removed')
  t.true(v.equals(copy))
  t.is(v[999], 0xab)
})

test('the store is removed when the last handle of its path closes, not the first', async (t) => {
  const s = await Store.temp()
  const again = await Store.open(s.path)
  await s.put('a', '1')
  await s.close()
  t.true(fs.existsSync(s.path), 'another handle has it open')
  t.is(again.get('a').toString(), '1')
  await again.put('b', '2')
  await again.close()
  t.false(fs.existsSync(dirOf(s)))
})

test('across worker_threads: removed when the worker, holding the last handle, closes it', async (t) => {
  const s = await Store.temp()
  await s.put('from-main', 'm')
  const shared = new Int32Array(new SharedArrayBuffer(4))
  const w = new Worker(`
    const { workerData, parentPort } = require('node:worker_threads')
    const { Store } = require(workerData.lib)
    const s = Store.openSync(workerData.path)
    s.putSync('from-worker', s.get('from-main').toString() + 'w')
    parentPort.postMessage('open')
    const flag = new Int32Array(workerData.shared)
    Atomics.wait(flag, 0, 0)
    s.close().then(() => parentPort.postMessage('closed'))
  `, { eval: true, workerData: { lib: LIB, path: s.path, shared: shared.buffer } })
  const messages = []
  w.on('message', (m) => messages.push(m))
  await until(() => messages.includes('open'))
  await s.close()
  t.true(fs.existsSync(s.path), 'the worker still has it open')
  const seen = await Store.open(s.path)
  t.is(seen.get('from-worker').toString(), 'mw')
  await seen.close()
  Atomics.store(shared, 0, 1)
  Atomics.notify(shared, 0)
  await until(() => messages.includes('closed'))
  t.true(await until(() => !fs.existsSync(dirOf(s))), 'removed once the worker closed the last handle')
  await w.terminate()
})

test('a worker that ends without closing its temporary store still has it removed', async (t) => {
  const w = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads')
    const { Store } = require(workerData.lib)
    Store.temp().then(async (s) => { await s.put('a', '1'); parentPort.postMessage(s.path); setInterval(() => {}, 1000) })
  `, { eval: true, workerData: { lib: LIB } })
  const p = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
  t.true(fs.existsSync(p))
  await w.terminate()
  t.true(await until(() => !fs.existsSync(path.dirname(p))), 'the worker\'s cleanup released the last handle')
})

test('a process that exits without closing removes its temporary stores', async (t) => {
  const { c, line } = await child(`
    const { Store } = require(process.env.SRD_LIB)
    Store.temp().then(async (s) => {
      await s.put('a', '1')
      const t = await Store.temp() // a second one, never closed either
      console.log(JSON.stringify([s.path, t.path]))
      setTimeout(() => process.exit(0), 50)
    })
  `)
  const paths = JSON.parse(line)
  await exited(c)
  t.is(c.exitCode, 0)
  for (const p of paths) t.false(fs.existsSync(path.dirname(p)), p)
})

test('after kill -9, a later Store.temp removes the leftovers, and never a live process\'s store', async (t) => {
  const code = `
    const { Store } = require(process.env.SRD_LIB)
    Store.temp().then(async (s) => { await s.put('a', '1'); console.log(s.path); setInterval(() => {}, 1000) })
  `
  const killed = await child(code)
  const alive = await child(code)
  killed.c.kill('SIGKILL')
  await exited(killed.c)
  t.is(killed.c.signalCode, 'SIGKILL')
  t.true(fs.existsSync(killed.line), 'a killed process leaves its store behind')
  // A leftover of a process whose pid was reused: our pid, another start time.
  const reused = path.join(os.tmpdir(), `simd-r-drive-temp-${process.pid}-1-00000000deadbeef`)
  fs.mkdirSync(reused)
  fs.writeFileSync(path.join(reused, 'store'), 'x')
  // Not a temporary store's name: never touched.
  const foreign = path.join(os.tmpdir(), `simd-r-drive-temp-${killed.c.pid}-x`)
  fs.mkdirSync(foreign)
  const s = await Store.temp()
  t.false(fs.existsSync(path.dirname(killed.line)), 'the killed owner\'s store was removed')
  t.false(fs.existsSync(reused), 'a reused pid is not taken for the owner')
  t.true(fs.existsSync(alive.line), 'the live process\'s store is kept')
  t.true(fs.existsSync(foreign))
  fs.rmSync(foreign, { recursive: true })
  alive.c.kill('SIGTERM')
  await exited(alive.c)
  await s.close()
  // (SIGTERM's default action skips 'exit' handlers: that one is now a leftover too.)
  const later = await Store.temp()
  t.false(fs.existsSync(path.dirname(alive.line)))
  await later.close()
})
