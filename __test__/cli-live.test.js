'use strict'
const test = require('ava')
const fs = require('node:fs')
const { spawn } = require('node:child_process')
const { Store } = require('..')
const { tmpStore, CLI } = require('./helpers.js')

/** Starts the CLI with `args`; `child.out` collects stdout. */
function start (args) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.out = ''
  child.err = ''
  child.stdout.on('data', (d) => { child.out += d })
  child.stderr.on('data', (d) => { child.err += d })
  child.done = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
  return child
}

async function until (what, cond) {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`timed out waiting for ${what}`)
}

const b64 = (s) => Buffer.from(s).toString('base64')

async function contents (p) {
  const s = await Store.open(p, { readOnly: true, follow: false })
  const out = [...s.entries()].map(([k, v]) => [String(k), String(v)]).sort()
  await s.close()
  return out
}

test('tail prints each committed batch as NDJSON from --since, and goes on after a compaction', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  await s.put('before', 'x')
  const child = start(['tail', p, '--since', s.cursor()])
  await s.put('a', '1')
  await s.putMany([['b', '2'], ['c', '3']])
  await s.delete('a')
  await until('three lines', () => child.out.split('\n').length > 3)
  const lines = child.out.trim().split('\n').map((l) => JSON.parse(l))
  t.deepEqual(lines.map((l) => l.changes), [
    [{ type: 'put', key64: b64('a'), value64: b64('1') }],
    [{ type: 'put', key64: b64('b'), value64: b64('2') }, { type: 'put', key64: b64('c'), value64: b64('3') }],
    [{ type: 'delete', key64: b64('a') }]
  ])
  t.is(lines[2].cursor, s.cursor())
  await s.compact()
  await until('the replaced line', () => child.out.includes('"replaced":true'))
  await s.put('d', '4')
  await until('the line after it', () => child.out.includes(b64('d')))
  await s.clear()
  await until('the clear line', () => child.out.includes('"type":"clear"'))
  t.deepEqual(JSON.parse(child.out.trim().split('\n').pop()).changes, [{ type: 'clear' }])
  child.kill('SIGINT')
  t.deepEqual(await child.done, { code: 0, signal: null })
  await s.close()
})

test('tail prints a key the writer\'s size limit evicted as {"type":"evict"}', async (t) => {
  const p = tmpStore()
  // 370 bytes: room for two of these 128-byte entries, and the file (504 bytes) stays below
  // the 1.5 × 370 at which the limit compacts (a compaction would expire the cursor).
  const s = await Store.open(p, { maxBytes: 370, autoCompact: false })
  const child = start(['tail', p, '--since', s.cursor()])
  const v = 'v'.repeat(100)
  await s.put('a', v)
  await s.put('b', v)
  await s.put('c', v)
  await until('three lines', () => child.out.split('\n').length > 3).catch((e) => { throw new Error(e.message + ': ' + child.err + child.out) })
  const lines = child.out.trim().split('\n').map((l) => JSON.parse(l))
  t.deepEqual(lines[2].changes, [{ type: 'put', key64: b64('c'), value64: b64(v) }, { type: 'evict', key64: b64('a') }])
  child.kill('SIGINT')
  t.deepEqual(await child.done, { code: 0, signal: null })
  await s.close()
})

test('tail stops quietly when its reader goes away, and refuses an expired cursor', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  const since = s.cursor()
  const child = spawn('bash', ['-c', `"${process.execPath}" "${CLI}" tail "${p}" --since ${since} | head -n 1; echo "status \${PIPESTATUS[0]}"`], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => { out += d })
  child.stderr.on('data', (d) => { err += d })
  const done = new Promise((resolve) => child.on('close', resolve))
  await s.put('one', '1')
  await until('the first line', () => out.includes('cursor'))
  // head has exited: the next line finds the pipe closed.
  for (let i = 0; i < 20 && !out.includes('status'); i++) {
    await s.put(`more${i}`, 'x')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await done
  t.regex(out, /status 0/)
  t.is(err, '')
  await s.compact()
  const expired = start(['tail', p, '--since', since])
  const r = await expired.done
  t.is(r.code, 2)
  t.regex(expired.err, /ERR_CURSOR_EXPIRED/)
  await s.close()
})

test('replicate keeps a second store equal to the first, resuming from its side file', async (t) => {
  const src = tmpStore('source.srd')
  const dst = tmpStore('replica.srd')
  const s = await Store.open(src)
  await s.put('a', '1')
  await s.putMany([['b', '2'], ['c', '3']])
  let child = start(['replicate', src, dst])
  await s.delete('a')
  const equal = async () => JSON.stringify(await contents(dst).catch(() => null)) === JSON.stringify(await contents(src))
  for (let i = 0; i < 500 && !await equal(); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.deepEqual(await contents(dst), [['b', '2'], ['c', '3']])
  child.kill('SIGTERM')
  t.is((await child.done).code, 0, child.err)
  const saved = fs.readFileSync(dst + '.srd-replica-cursor', 'utf8')
  t.is(saved, s.cursor(), 'the side file holds the cursor of the last batch applied')
  // Meanwhile: more writes, then a compaction; a restart resumes and then rebuilds.
  await s.put('d', '4')
  child = start(['replicate', src, dst])
  await until('the resumed write', () => child.err.includes('from srd1'))
  for (let i = 0; i < 500 && !await equal(); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.deepEqual(await contents(dst), [['b', '2'], ['c', '3'], ['d', '4']])
  await s.put('c', 'changed')
  await s.delete('b')
  await s.compact()
  await s.put('e', '5')
  for (let i = 0; i < 500 && !await equal(); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.deepEqual(await contents(dst), [['c', 'changed'], ['d', '4'], ['e', '5']])
  t.regex(child.err, /rebuilding the replica/)
  // A clear of the source clears the replica (one 'clear' change), and writes go on after it.
  await s.clear()
  await s.put('f', '6')
  for (let i = 0; i < 500 && !await equal(); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.deepEqual(await contents(dst), [['f', '6']])
  child.kill('SIGINT')
  t.is((await child.done).code, 0, child.err)
  await s.close()
})
