'use strict'
const test = require('ava')
const { Store } = require('..')
const { tmpStore, runChild, startChild } = require('./helpers.js')

test('a writer in another process gets ERR_STORE_LOCKED; readers open beside it', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  await s.put('k', 'parent')
  const r = await runChild('try-open.js', [p])
  t.is(r.stdout.trim(), 'ERR_STORE_LOCKED', r.stderr)
  const ro = await runChild('read-value.js', [p, 'k'])
  t.is(ro.stdout.trim(), Buffer.from('parent').toString('hex'))
  await s.close()
  const again = await runChild('try-open.js', [p])
  t.is(again.stdout.trim(), 'opened')
})

test('the parent is locked out while a child holds the store', async (t) => {
  const p = tmpStore()
  const child = await startChild('hold.js', [p], 'HOLDING')
  try {
    await t.throwsAsync(Store.open(p), { code: 'ERR_STORE_LOCKED' })
    // follow: false: this follower catches up only when told to (refresh()).
    const ro = await Store.open(p, { readOnly: true, follow: false })
    t.is(ro.get('held').toString(), 'yes')
    child.stdin.write('append\n')
    await new Promise((resolve) => child.stdout.once('data', resolve))
    t.is(ro.get('appended'), undefined, 'followers see appends after refresh()')
    t.is(ro.refresh(), 'appended')
    t.is(ro.get('appended').toString(), 'later')
    child.stdin.write('compact\n')
    await new Promise((resolve) => child.stdout.once('data', resolve))
    t.is(ro.refresh(), 'replaced')
    t.is(ro.get('after-compaction').toString(), 'yes')
    t.is(ro.get('held').toString(), 'yes')
    await ro.close()
  } finally {
    child.kill('SIGKILL')
  }
  // A killed writer leaves its lock behind for nobody: the parent can write now.
  await new Promise((resolve) => child.on('exit', resolve))
  const s = await Store.open(p)
  t.is(s.get('after-compaction').toString(), 'yes')
  await s.close()
})

test('a Store collected without close() releases its lock and keeps its data', async (t) => {
  const p = tmpStore()
  const r = await runChild('gc-release.js', [p])
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), 'released')
  const s = await Store.open(p)
  t.is(s.get('k').toString(), 'v')
  await s.close()
})

test('acknowledged writes survive kill -9 of the writer', async (t) => {
  const p = tmpStore()
  const child = await startChild('writer.js', [p], 'ACK 200')
  child.kill('SIGKILL')
  await new Promise((resolve) => child.on('exit', resolve))
  const s = await Store.open(p)
  for (let i = 0; i < 200; i++) t.is(s.get(`k${i}`)?.toString(), `value-${i}`)
  await s.close()
})
