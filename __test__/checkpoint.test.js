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
  t.is(s.stats().indexFileBytes, fs.statSync(`${p}.srd-index`).size, 'stats() counts the index file')
  await s.close()
  // A small store gets none.
  const q = tmpStore()
  const small = await Store.open(q)
  await small.put('a', '1')
  await small.close()
  t.false(fs.existsSync(`${q}.srd-index`))
  const again = await Store.open(q)
  t.is(again.stats().indexFileBytes, 0)
  await again.close()
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

test('the default open uses the index file in constant time; verify: "full" reads the whole log', async (t) => {
  const p = tmpStore()
  await bigStore(p)
  const lazy = await Store.open(p, { readOnly: true })
  t.is(lazy.recovery().checkpointKeys, KEYS)
  t.is(lazy.recovery().entries, 0)
  const full = await Store.open(p + '', { readOnly: true, verify: 'full' })
  // The same path is one engine in this process: the option applies to the first open.
  t.is(full.recovery().checkpointKeys, KEYS)
  await lazy.close()
  await full.close()
  const strict = await Store.open(p, { verify: 'full' })
  t.is(strict.recovery().checkpointKeys, undefined)
  t.is(strict.recovery().entries, KEYS)
  t.is(strict.size, KEYS)
  await strict.close()
  for (const bad of ['lazy', 'FULL', 1, true]) {
    const err = t.throws(() => Store.openSync(p, { verify: bad }))
    t.is(err.code, typeof bad === 'string' ? 'ERR_INVALID_ARG_VALUE' : 'ERR_INVALID_ARG_TYPE')
  }
})

test('a damaged entry fails its first read with ERR_STORE_CORRUPT; verify() and verify: "full" report it', async (t) => {
  const p = tmpStore()
  const marker = Buffer.from('the victim value, found by its bytes in the file')
  {
    const s = await Store.open(p)
    await s.put('victim', marker)
    await s.close()
  }
  await bigStore(p)
  const bytes = fs.readFileSync(p)
  const at = bytes.indexOf(marker)
  t.true(at > 64)
  const fd = fs.openSync(p, 'r+')
  fs.writeSync(fd, Buffer.from([bytes[at + 4] ^ 0x20]), 0, 1, at + 4)
  fs.closeSync(fd)
  const s = await Store.open(p, { readOnly: true })
  t.is(s.recovery().checkpointKeys, KEYS + 1, 'the open does not read the damaged entry')
  const err = t.throws(() => s.get('victim'))
  t.is(err.code, 'ERR_STORE_CORRUPT')
  t.deepEqual(s.get('k:7'), value(7), 'other keys read on')
  const v = await t.throwsAsync(s.verify())
  t.is(v.code, 'ERR_STORE_CORRUPT')
  await s.close()
  const strict = await t.throwsAsync(Store.open(p, { readOnly: true, verify: 'full' }))
  t.is(strict.code, 'ERR_STORE_CORRUPT')
})
