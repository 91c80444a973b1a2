'use strict'
const fs = require('node:fs')
const test = require('ava')
const { Store } = require('..')
const { tmpStore, runChild } = require('./helpers.js')

const KEYS = 60000 // above the 50,000 keys from which close() saves the index

function value (i) {
  return Buffer.from(`value ${i} `.repeat(1 + (i % 5)))
}

async function bigStore (p) {
  const s = await Store.open(p)
  const entries = []
  for (let i = 0; i < KEYS; i++) entries.push([`k:${i}`, value(i)])
  await s.putMany(entries)
  await s.close()
}

test('close() saves the index of a large store and the next open reads it', async (t) => {
  const p = tmpStore()
  await bigStore(p)
  t.true(fs.existsSync(`${p}.srd-index`))
  const s = await Store.open(p)
  const rec = s.recovery()
  t.is(rec.checkpointKeys, KEYS)
  t.is(rec.entries, 0)
  t.is(s.size, KEYS)
  for (let i = 0; i < KEYS; i += 997) t.deepEqual(s.get(`k:${i}`), value(i))
  t.is((await s.verify()).entries, KEYS)
  await s.close()
  // A small store gets none.
  const q = tmpStore()
  const small = await Store.open(q)
  await small.put('a', '1')
  await small.close()
  t.false(fs.existsSync(`${q}.srd-index`))
})

test('writes after the checkpoint survive a kill -9 and are read from the log', async (t) => {
  const p = tmpStore()
  await bigStore(p)
  const r = await runChild('append-then-die.js', [p, '500'])
  t.is(r.signal, 'SIGKILL', r.stderr)
  t.is(JSON.parse(r.stdout).checkpointKeys, KEYS)
  const s = await Store.open(p)
  const rec = s.recovery()
  t.is(rec.checkpointKeys, KEYS)
  t.is(rec.entries, 501)
  t.is(s.size, KEYS + 500 - 1)
  t.is(s.get('k:0'), undefined)
  t.deepEqual(s.get('k:1'), value(1))
  for (let i = 0; i < 500; i++) t.is(s.get(`after-${i}`).toString(), String(i))
  await s.verify()
  await s.close()
})

test('compaction writes the index of the new file; a damaged one is ignored', async (t) => {
  const p = tmpStore()
  await bigStore(p)
  const s = await Store.open(p)
  await s.compact()
  // The index file beside the store is the new file's (same generation identifier).
  const gen = (f, at) => fs.readFileSync(f).subarray(at, at + 16).toString('hex')
  t.is(gen(`${p}.srd-index`, 16), gen(p, 20))
  await s.close()
  const opened = await Store.open(p)
  t.is(opened.recovery().checkpointKeys, KEYS)
  t.is(opened.recovery().entries, 0)
  await opened.close()
  // Its header is checked at open: a damaged one is ignored and the log is read.
  const idx = fs.readFileSync(`${p}.srd-index`)
  idx[40] ^= 0xff
  fs.writeFileSync(`${p}.srd-index`, idx)
  const again = await Store.open(p)
  t.is(again.recovery().checkpointKeys, undefined)
  t.is(again.recovery().entries, KEYS)
  t.is(again.size, KEYS)
  t.deepEqual(again.get(`k:${KEYS - 1}`), value(KEYS - 1))
  await again.close()
})
