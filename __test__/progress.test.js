'use strict'
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { execFile, execFileSync } = require('node:child_process')
const { Store } = require('..')
const { tmpStore, cli, CLI } = require('./helpers.js')

/** A closed store of about 24 MiB, half of it dead (compaction has work). */
async function bigStore () {
  const p = tmpStore()
  const s = await Store.open(p)
  for (let round = 0; round < 2; round++) {
    const entries = []
    for (let i = 0; i < 3000; i++) entries.push([`k${i}`, Buffer.alloc(4000, (i + round) & 0xff)])
    s.putManySync(entries)
  }
  await s.close()
  return p
}

const names = (p) => fs.readdirSync(path.dirname(p)).sort()

function checkReports (t, calls, ms) {
  t.true(calls.length >= 1)
  for (const c of calls) {
    t.deepEqual(Object.keys(c).sort(), ['bytesDone', 'bytesTotal'])
    t.true(c.bytesDone <= c.bytesTotal)
  }
  for (let i = 1; i < calls.length; i++) t.true(calls[i].bytesDone >= calls[i - 1].bytesDone)
  const last = calls[calls.length - 1]
  t.is(last.bytesDone, last.bytesTotal, 'the last call is the end')
  t.true(last.bytesTotal > 10e6)
  // At most five a second, plus the first and the last.
  t.true(calls.length <= Math.ceil(ms / 200) + 2, `${calls.length} calls in ${ms} ms`)
}

async function timed (f) {
  const t0 = performance.now()
  const r = await f()
  return [r, performance.now() - t0]
}

test('compact, verify, backup and repair report { bytesDone, bytesTotal } up to the end', async (t) => {
  const p = await bigStore()
  const s = await Store.open(p)
  let calls = []
  const onProgress = (c) => calls.push(c)
  const [c, ms1] = await timed(() => s.compact({ onProgress }))
  checkReports(t, calls, ms1)
  t.is(calls[calls.length - 1].bytesTotal, c.bytesBefore)
  calls = []
  const [v, ms2] = await timed(() => s.verify({ onProgress }))
  checkReports(t, calls, ms2)
  t.is(calls[calls.length - 1].bytesTotal, v.bytes)
  calls = []
  const [, ms3] = await timed(() => s.backup(p + '.copy', { onProgress }))
  checkReports(t, calls, ms3)
  await s.close()
  calls = []
  const [r, ms4] = await timed(() => Store.repair(p, { onProgress }))
  checkReports(t, calls, ms4)
  t.is(r.liveKeys, 3000)
  // No call comes after the promise settled.
  const n = calls.length
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.is(calls.length, n)
})

test('an aborted compaction leaves the store as it was and removes its temporary file', async (t) => {
  const p = await bigStore()
  const before = fs.readFileSync(p)
  const s = await Store.open(p)
  const files = names(p)
  const ac = new AbortController()
  const compaction = s.compact({ signal: ac.signal })
  ac.abort(new Error('user pressed stop'))
  const err = await t.throwsAsync(compaction)
  t.is(err.name, 'AbortError')
  t.is(err.code, 'ABORT_ERR')
  t.is(err.cause.message, 'user pressed stop')
  t.deepEqual(names(p), files, 'no .compact file is left')
  t.true(fs.readFileSync(p).subarray(0, before.length).equals(before), 'the store file is as it was')
  t.is(s.get('k7')[0], 8)
  // The store goes on, and a compaction without a signal completes.
  await s.put('after', 'x')
  const r = await s.compact()
  t.true(r.reclaimedBytes > 0)
  t.is(s.get('after').toString(), 'x')
  await s.close()
})

test('an aborted backup removes its copy, and an aborted verify stops', async (t) => {
  const p = await bigStore()
  const s = await Store.open(p)
  const files = names(p)
  // The abort comes from the event loop while the work runs on the threadpool: on a loaded
  // machine the work can finish first (a few milliseconds), so a try whose work won the race
  // must have done all of it, and one of a few tries must see the abort.
  let aborted = null
  for (let attempt = 0; attempt < 5 && aborted === null; attempt++) {
    const ac = new AbortController()
    const copy = `${p}.copy${attempt}`
    const b = s.backup(copy, { signal: ac.signal })
    ac.abort()
    try {
      const r = await b
      t.true(fs.existsSync(copy) && r.bytes > 0, 'a backup that finished first is whole')
      fs.rmSync(copy)
    } catch (err) {
      aborted = err
      t.false(fs.existsSync(copy))
    }
  }
  t.is(aborted?.name, 'AbortError')
  t.is(aborted.code, 'ABORT_ERR')
  t.is(aborted.cause.name, 'AbortError', 'the signal\'s default reason')
  t.deepEqual(names(p), files, 'no temporary copy is left')
  let stopped = null
  for (let attempt = 0; attempt < 5 && stopped === null; attempt++) {
    const ac2 = new AbortController()
    const v = s.verify({ signal: ac2.signal })
    ac2.abort()
    try {
      t.is((await v).entries, 6000, 'a verify that finished first checked everything')
    } catch (err) {
      stopped = err
    }
  }
  t.is(stopped?.name, 'AbortError')
  t.is(stopped.code, 'ABORT_ERR')
  await s.close()
})

test('an aborted repair renames nothing and removes its file', async (t) => {
  const p = await bigStore()
  const before = fs.readFileSync(p)
  const files = names(p)
  const ac = new AbortController()
  const r = Store.repair(p, { signal: ac.signal })
  ac.abort()
  await t.throwsAsync(r, { name: 'AbortError', code: 'ABORT_ERR' })
  t.true(fs.readFileSync(p).equals(before))
  t.deepEqual(names(p), files, 'no .repair file and no .damaged link')
})

test('a signal aborted before the call rejects at once and does nothing', async (t) => {
  const p = await bigStore()
  const s = await Store.open(p)
  const size = s.stats().fileBytes
  const signal = AbortSignal.abort('early')
  const err = await t.throwsAsync(s.compact({ signal }), { name: 'AbortError', code: 'ABORT_ERR' })
  t.is(err.cause, 'early')
  await t.throwsAsync(s.backup(p + '.copy', { signal }), { code: 'ABORT_ERR' })
  await t.throwsAsync(s.verify({ signal }), { code: 'ABORT_ERR' })
  t.is(s.stats().fileBytes, size)
  t.false(fs.existsSync(p + '.copy'))
  await s.close()
  await t.throwsAsync(Store.repair(p, { signal }), { code: 'ABORT_ERR' })
})

test('an onProgress that throws: the promise rejects with its error', async (t) => {
  const p = await bigStore()
  const s = await Store.open(p)
  const boom = new Error('boom')
  const err = await t.throwsAsync(s.verify({ onProgress () { throw boom } }))
  t.is(err, boom)
  // The store is fine.
  t.is((await s.verify()).entries > 0, true)
  await s.close()
})

test('bad options are refused with coded TypeErrors, and nothing runs', async (t) => {
  const p = await bigStore()
  const s = await Store.open(p)
  const size = s.stats().fileBytes
  const type = { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' }
  await t.throwsAsync(s.compact(5), type)
  await t.throwsAsync(s.compact({ onProgress: 'yes' }), type)
  await t.throwsAsync(s.compact({ signal: {} }), type)
  await t.throwsAsync(s.verify({ signal: true }), type)
  await t.throwsAsync(s.backup(p + '.copy', 'fast'), type)
  t.is(s.stats().fileBytes, size, 'no compaction ran')
  t.false(fs.existsSync(p + '.copy'))
  await s.close()
  await t.throwsAsync(Store.repair(p, { onProgress: 1 }), type)
  t.false(names(p).some((n) => n.endsWith('.repair')))
})

// ----- the CLI's progress bar -----

const BAR = /[█░]/

function hasScript () {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Runs the CLI with `args` under a pseudo-terminal (`script`): its stdout and stderr. */
function underTerminal (args) {
  const cmd = [process.execPath, CLI, ...args].map((a) => JSON.stringify(a)).join(' ')
  return new Promise((resolve) => {
    execFile('script', ['-qec', cmd, '/dev/null'], { maxBuffer: 64 << 20 }, (err, stdout) => resolve({ code: err ? err.code : 0, out: stdout }))
  })
}

test('the CLI draws a progress bar on a terminal for compact, verify, repair, import and export, and nothing when stderr is not one', async (t) => {
  const p = await bigStore()
  const dump = p + '.ndjson'
  const exported = await cli(['export', p])
  t.is(exported.code, 0, exported.err)
  fs.writeFileSync(dump, exported.stdout)
  const commands = [
    ['compact', p],
    ['verify', p],
    ['repair', p],
    ['export', p],
    ['import', p + '.imported', dump]
  ]
  for (const args of commands) {
    const piped = await cli(args)
    t.is(piped.code, 0, `${args[0]}: ${piped.err}`)
    t.false(BAR.test(piped.err), `${args[0]} draws nothing when stderr is not a terminal`)
    t.false(piped.err.includes('\r'), `${args[0]}: no carriage returns either`)
    t.false(BAR.test(piped.out))
  }
  if (!hasScript()) {
    t.log('no `script` command here to give the CLI a terminal')
    return
  }
  for (const args of commands) {
    if (args[0] === 'import') fs.rmSync(args[1], { force: true })
    const r = await underTerminal(args)
    t.is(r.code, 0, `${args[0]}: ${r.out.slice(-500)}`)
    t.true(BAR.test(r.out), `${args[0]} draws its bar on the terminal`)
    t.regex(r.out, /100% /, `${args[0]} draws the end`)
  }
})
