'use strict'
const test = require('ava')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Store } = require('..')
const { tmpStore } = require('./helpers.js')

test('clear empties the store in one small entry, sync and async, and reopening agrees', async (t) => {
  const p = tmpStore()
  let s = Store.openSync(p)
  s.putManySync(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v'.repeat(100)]))
  const size = s.stats().fileBytes
  s.clearSync()
  t.is(s.stats().fileBytes, size + 16)
  t.is(s.stats().entries, 0)
  t.is(s.get('k1'), undefined)
  t.deepEqual([...s.keys()], [])
  await s.put('a', '1')
  await s.clear()
  t.is(s.get('a'), undefined)
  // Writes staged before it are cleared too; writes after it are kept.
  s.put('before', '1')
  const c = s.clear()
  const after = s.put('after', '1')
  await Promise.all([c, after])
  t.deepEqual([...s.keys()].map(String), ['after'])
  await s.close()
  s = Store.openSync(p)
  t.deepEqual([...s.keys()].map(String), ['after'])
  const r = await s.compact()
  t.true(r.bytesAfter < 200, `the space came back: ${r.bytesAfter}`)
  await s.close()
  const ro = Store.openSync(p, { readOnly: true })
  await t.throwsAsync(ro.clear(), { code: 'ERR_STORE_READ_ONLY' })
  t.throws(() => ro.clearSync(), { code: 'ERR_STORE_READ_ONLY' })
  await ro.close()
})

test('a read-only follower sees a clear after refresh', async (t) => {
  const p = tmpStore()
  const w = Store.openSync(p)
  w.putSync('a', '1')
  const r = Store.openSync(p, { readOnly: true })
  t.is(r.get('a').toString(), '1')
  w.clearSync()
  w.putSync('b', '2')
  r.refresh()
  t.is(r.get('a'), undefined)
  t.is(r.get('b').toString(), '2')
  await r.close()
  await w.close()
})

test('clear is atomic across kill -9: a reopened store has every key of a round or none', async (t) => {
  const keys = 200
  for (let run = 0; run < 6; run++) {
    const p = tmpStore()
    const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'contender.js'), 'clear-loop', p, String(keys)], { stdio: ['ignore', 'pipe', 'inherit'] })
    await new Promise((resolve) => child.stdout.once('data', resolve))
    await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 150))
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('close', resolve))
    const s = Store.openSync(p)
    const n = s.stats().entries
    t.true(n === 0 || n === keys, `run ${run}: ${n} keys`)
    if (n === keys) {
      const round = s.get('k0').toString()
      for (let i = 0; i < keys; i++) t.is(s.get(`k${i}`).toString(), round)
    }
    await s.close()
  }
})
