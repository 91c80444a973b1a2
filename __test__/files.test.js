'use strict'
// Files, paths and locks: relative paths, what an open does to what is at the path, file
// modes and owners, a second writer beside a live one, a store moved while open, and the
// operating system's detail on I/O errors.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { spawn, execFileSync } = require('node:child_process')
const { Store } = require('..')
const { tmpDir, tmpStore, runChild } = require('./helpers')

const isRoot = process.getuid && process.getuid() === 0

/** Tests that run a child as another user need root; elsewhere they say so and pass. */
function skippedWithoutRoot (t) {
  if (isRoot) return false
  t.log('skipped: needs root to run the child as another user')
  t.pass()
  return true
}

/** Runs a fixture in a child process, killed (and the test failed) after `ms`. */
function runWithin (ms, script, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, ms)
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, timedOut }) })
    // A child that cannot start (e.g. a Node binary that user may not run) fails the test
    // that asked for it, not the whole file.
    child.on('error', (e) => { clearTimeout(timer); resolve({ code: null, stdout, stderr: `${stderr}${e.stack}`, timedOut }) })
  })
}

const modeOf = (p) => fs.statSync(p).mode & 0o7777

// ----- item 4 -----

test('a relative path keeps naming the same store after process.chdir()', async (t) => {
  // In a child process: chdir would move every test of this file.
  const d = tmpDir()
  const x1 = path.join(d, 'x1')
  const x2 = path.join(d, 'x2')
  fs.mkdirSync(x1)
  fs.mkdirSync(x2)
  const r = await runChild('chdir.js', [x1, x2])
  t.is(r.stdout.trim(), 'ok', r.stderr)
  t.deepEqual(fs.readdirSync(x2), [])
  t.true(fs.readdirSync(x1).includes('rel.srd'))
  t.true(fs.readdirSync(x1).includes('rel.srd.lock'))
  const s = await Store.open(path.join(x1, 'rel.srd'))
  t.is(s.get('before').toString(), '2')
  t.is(s.get('after').toString(), '3')
  t.true(s.get('streamed').equals(Buffer.alloc(100000, 7)))
  await s.close()
})

// ----- item 6 -----

test('a character device is refused with ERR_NOT_A_STORE and stays a device', async (t) => {
  // A node of the null device of our own (a regression must not destroy /dev/null); where
  // device nodes cannot be made, /dev/null itself.
  let p = path.join(tmpDir(), 'null')
  try {
    execFileSync('mknod', [p, 'c', '1', '3'], { stdio: 'ignore' })
  } catch {
    p = '/dev/null'
  }
  await t.throwsAsync(Store.open(p), { code: 'ERR_NOT_A_STORE', message: /character device/ })
  t.throws(() => Store.openSync(p), { code: 'ERR_NOT_A_STORE' })
  await t.throwsAsync(Store.open(p, { readOnly: true }), { code: 'ERR_NOT_A_STORE' })
  t.true(fs.statSync(p).isCharacterDevice())
  t.false(fs.existsSync(`${p}.lock`))
})

test('a FIFO is refused at once by open, openSync and a read-only open', async (t) => {
  const p = path.join(tmpDir(), 'pipe.srd')
  execFileSync('mkfifo', [p])
  const r = await runWithin(10000, 'open-kinds.js', [p])
  t.false(r.timedOut, 'opening a FIFO hung')
  const out = JSON.parse(r.stdout)
  t.is(out.open, 'ERR_NOT_A_STORE')
  t.is(out.openSync, 'ERR_NOT_A_STORE')
  t.is(out.readOnly, 'ERR_NOT_A_STORE')
  t.regex(out.openMessage, /FIFO/)
  t.true(fs.statSync(p).isFIFO())
  t.deepEqual(fs.readdirSync(path.dirname(p)), ['pipe.srd'])
})

test('a directory is refused with ERR_NOT_A_STORE', async (t) => {
  const p = path.join(tmpDir(), 'dir.srd')
  fs.mkdirSync(p)
  await t.throwsAsync(Store.open(p), { code: 'ERR_NOT_A_STORE', message: /directory/ })
  await t.throwsAsync(Store.open(p, { readOnly: true }), { code: 'ERR_NOT_A_STORE' })
  t.deepEqual(fs.readdirSync(path.dirname(p)), ['dir.srd'])
})

test('an empty file becomes a store in place: same inode, mode and hard links', async (t) => {
  const d = tmpDir()
  const p = path.join(d, 's.srd')
  fs.writeFileSync(p, '')
  fs.chmodSync(p, 0o600)
  fs.linkSync(p, path.join(d, 'link.srd'))
  const ino = fs.statSync(p).ino
  await t.throwsAsync(Store.open(p, { readOnly: true }), { code: 'ERR_NOT_A_STORE', message: /empty file.*writable open/ })
  const s = await Store.open(p)
  await s.put('k', 'v')
  await s.close()
  const st = fs.statSync(p)
  t.is(st.ino, ino)
  t.is(st.mode & 0o7777, 0o600)
  t.is(st.nlink, 2)
  const r = await Store.open(path.join(d, 'link.srd'), { readOnly: true })
  t.is(r.get('k').toString(), 'v')
  await r.close()
})

test('the mode option sets the mode of new files; write streams stage with the store\'s mode', async (t) => {
  const p = tmpStore('secret.srd')
  await t.throwsAsync(Store.open(p, { mode: '600' }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(Store.open(p, { mode: 0o10000 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  const s = await Store.open(p, { mode: 0o600 })
  t.is(modeOf(p), 0o600)
  t.is(modeOf(`${p}.lock`), 0o600)
  const ws = s.createWriteStream('k')
  await new Promise((resolve, reject) => ws.write('part', (e) => e ? reject(e) : resolve()))
  const staged = fs.readdirSync(path.dirname(p)).filter((n) => n.includes('.upload-'))
  t.is(staged.length, 1)
  t.is(modeOf(path.join(path.dirname(p), staged[0])), 0o600)
  await new Promise((resolve) => ws.end('!', resolve))
  t.is(s.get('k').toString(), 'part!')
  await s.close()
})

// ----- item 18 -----

test('compaction and repair keep the store file\'s mode, owner and group', async (t) => {
  const p = tmpStore()
  const s0 = await Store.open(p)
  await s0.put('k', 'v')
  await s0.close()
  for (const [mode, owner] of [[0o600, [12345, 12345]], [0o660, [0, 4242]]]) {
    fs.chmodSync(p, mode)
    if (isRoot) fs.chownSync(p, ...owner)
    const check = (what) => {
      const st = fs.statSync(p)
      t.is(st.mode & 0o7777, mode, `mode after ${what}`)
      if (isRoot) t.deepEqual([st.uid, st.gid], owner, `owner after ${what}`)
    }
    const s = await Store.open(p)
    await s.put('k', 'w')
    await s.compact()
    check('compact()')
    await s.close()
    await Store.repair(p)
    check('Store.repair')
  }
})

test('compaction by a user who may not give the file away: the store\'s mode and group, the user\'s own uid', async (t) => {
  if (skippedWithoutRoot(t)) return
  // A group-shared store of root's, compacted by a member of its group.
  const parent = tmpDir()
  fs.chmodSync(parent, 0o755)
  const d = path.join(parent, 'shared')
  fs.mkdirSync(d)
  fs.chownSync(d, 0, 12345)
  fs.chmodSync(d, 0o770)
  const p = path.join(d, 's.srd')
  const s = await Store.open(p)
  await s.put('k', 'v')
  await s.close()
  fs.chownSync(p, 0, 12345)
  fs.chmodSync(p, 0o660)
  fs.chownSync(`${p}.lock`, 0, 12345)
  fs.chmodSync(`${p}.lock`, 0o660)
  const r = await runWithin(20000, 'compact.js', [p], { uid: 12345, gid: 12345 })
  t.is(r.stdout.trim(), 'ok', r.stderr)
  const st = fs.statSync(p)
  t.is(st.mode & 0o7777, 0o660)
  t.is(st.gid, 12345)
  t.is(st.uid, 12345, 'chown to root was refused (EPERM): the file is the compacting user\'s')
  const back = await Store.open(p, { readOnly: true })
  t.is(back.get('k').toString(), 'compacted')
  await back.close()
})

// ----- item 19 -----

test('a second writer fails with ERR_STORE_LOCKED before touching the first one\'s side files', async (t) => {
  const p = tmpStore()
  const a = await Store.open(p)
  await a.put('k', '1')
  await a.put('k', '2')
  fs.unlinkSync(`${p}.lock`)
  const side = [`${p}.compact`, `${p}.upload-1-x`, `${p}.srd-index.tmp`]
  for (const f of side) fs.writeFileSync(f, 'in progress')
  const r = await runChild('try-open.js', [p])
  t.is(r.stdout.trim(), 'ERR_STORE_LOCKED', r.stderr)
  for (const f of side) t.is(fs.readFileSync(f, 'utf8'), 'in progress', f)
  await a.compact()
  await a.put('after', '3')
  await a.close()
  const s = await Store.open(p, { readOnly: true })
  t.is(s.get('k').toString(), '2')
  t.is(s.get('after').toString(), '3')
  await s.close()
})

// ----- item 20 -----

test('compact() refuses with ERR_STORE_MOVED when the store file was renamed away', async (t) => {
  const p = tmpStore()
  const moved = `${p}.moved`
  const s = await Store.open(p)
  await s.put('k', '1')
  await s.put('k', '2')
  fs.renameSync(p, moved)
  await t.throwsAsync(s.compact(), { code: 'ERR_STORE_MOVED', message: /moved, removed or replaced/ })
  t.false(fs.existsSync(p))
  t.false(fs.existsSync(`${p}.compact`))
  await s.put('k2', '3') // not poisoned
  await s.close()
  t.false(fs.existsSync(p))
  const r = await Store.open(moved, { readOnly: true })
  t.is(r.get('k2').toString(), '3')
  await r.close()
})

test('compact() leaves another store put at the path alone', async (t) => {
  const d = tmpDir()
  const p = path.join(d, 's.srd')
  const other = path.join(d, 'other.srd')
  const o = await Store.open(other)
  await o.put('foreign', 'x')
  await o.close()
  const foreign = fs.readFileSync(other)
  const s = await Store.open(p)
  await s.put('k', '1')
  fs.renameSync(other, p)
  await t.throwsAsync(s.compact(), { code: 'ERR_STORE_MOVED' })
  await s.close()
  t.true(fs.readFileSync(p).equals(foreign))
})

// ----- item 21 -----

test('a missing store with create: false: ERR_STORE_IO with errno, syscall and path, and no lock file', async (t) => {
  const d = tmpDir()
  const p = path.join(d, 'missing.srd')
  const e = await t.throwsAsync(Store.open(p, { create: false }), { code: 'ERR_STORE_IO' })
  t.is(e.errno, -2)
  t.is(e.systemCode, 'ENOENT')
  t.is(e.syscall, 'open')
  t.is(e.path, p)
  t.true(e.message.includes(p), e.message)
  t.deepEqual(fs.readdirSync(d), [])
})

test('a writable open on a read-only mount says to open it readOnly', async (t) => {
  const m = path.join(tmpDir(), 'ro')
  fs.mkdirSync(m)
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', m], { stdio: 'ignore' })
  } catch {
    if (process.env.CI) t.fail('cannot mount a tmpfs')
    t.log('skipped: cannot mount a tmpfs here')
    t.pass()
    return
  }
  try {
    const p = path.join(m, 's.srd')
    // Written by another process, so that no mapping of this one keeps the mount busy.
    execFileSync(process.execPath, [path.join(__dirname, '..', 'bin', 'simd-r-drive.js'), 'put', p, 'k', 'v'])
    execFileSync('mount', ['-o', 'remount,ro', m])
    const e = await t.throwsAsync(Store.open(p), { code: 'ERR_STORE_IO', message: /readOnly: true/ })
    t.is(e.errno, -30)
    t.is(e.systemCode, 'EROFS')
    t.is(typeof e.syscall, 'string')
    t.is(e.path, p)
    const r = await Store.open(p, { readOnly: true, copyValues: true })
    t.is(r.get('k').toString(), 'v')
    await r.close()
  } finally {
    execFileSync('umount', ['-l', m])
  }
})

test('a writable open without write permission says to open readOnly; a refused read-only open does not', async (t) => {
  if (skippedWithoutRoot(t)) return
  const parent = tmpDir()
  fs.chmodSync(parent, 0o755)
  const p = path.join(parent, 's.srd')
  const s = await Store.open(p)
  await s.close()
  fs.chownSync(p, 12345, 12345)
  fs.chownSync(parent, 12345, 12345)
  fs.chmodSync(p, 0o444)
  let r = await runWithin(20000, 'open-kinds.js', [p], { uid: 12345, gid: 12345 })
  let out = JSON.parse(r.stdout)
  t.is(out.open, 'ERR_STORE_IO')
  t.regex(out.openMessage, /os error 13.*readOnly: true/)
  t.is(out.readOnly, 'opened')
  fs.chmodSync(p, 0o000)
  r = await runWithin(20000, 'open-kinds.js', [p], { uid: 12345, gid: 12345 })
  out = JSON.parse(r.stdout)
  t.is(out.readOnly, 'ERR_STORE_IO')
  t.regex(out.readOnlyMessage, /os error 13/)
  t.notRegex(out.readOnlyMessage, /readOnly: true/)
})

test('createWriteStream in a read-only directory fails with a coded ERR_STORE_IO', async (t) => {
  if (skippedWithoutRoot(t)) return
  // As root the directory's permissions would not apply: the child runs as another user.
  const parent = tmpDir()
  fs.chmodSync(parent, 0o755)
  const d = path.join(parent, 'd')
  fs.mkdirSync(d)
  fs.chownSync(d, 12345, 12345)
  const r = await runWithin(20000, 'upload-denied.js', [d], { uid: 12345, gid: 12345 })
  t.false(r.timedOut)
  const e = JSON.parse(r.stdout)
  t.truthy(e, r.stderr)
  t.is(e.code, 'ERR_STORE_IO', r.stdout)
  t.is(e.errno, -13)
  t.is(e.systemCode, 'EACCES')
  t.is(e.syscall, 'open')
  t.true(e.path.startsWith(path.join(d, 's.srd.upload-')), e.path)
})
