'use strict'
// Files that are not what they seem: clear errors, no crash, and the file left as it was.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { Store } = require('..')
const { tmpStore, tmpDir, withoutClosingMark } = require('./helpers.js')

async function storeWith (n, size = 100) {
  const p = tmpStore()
  const s = await Store.open(p)
  for (let i = 0; i < n; i++) await s.put(`k${i}`, Buffer.alloc(size, i & 0xff))
  await s.close()
  return p
}

test('a truncated header is ERR_STORE_CORRUPT and the file is untouched', async (t) => {
  const p = await storeWith(3)
  const bytes = fs.readFileSync(p).subarray(0, 20)
  fs.writeFileSync(p, bytes)
  await t.throwsAsync(Store.open(p), { code: 'ERR_STORE_CORRUPT' })
  t.throws(() => Store.openSync(p, { readOnly: true }), { code: 'ERR_STORE_CORRUPT' })
  t.true(fs.readFileSync(p).equals(bytes))
})

test('a length field pointing past the end in the middle of the file is ERR_STORE_CORRUPT, file untouched', async (t) => {
  const p = await storeWith(10)
  const bytes = fs.readFileSync(p)
  // The first entry starts at 64; its value length is the u32 at offset 12 of the entry.
  bytes.writeUInt32LE(0xfffffff0, 64 + 12)
  fs.writeFileSync(p, bytes)
  const e = await t.throwsAsync(Store.open(p), { code: 'ERR_STORE_CORRUPT' })
  t.regex(e.message, /64/)
  t.true(fs.readFileSync(p).equals(bytes))
})

test('a length field pointing past the end in the last entry is a torn tail: read-only opens leave it, writers drop it', async (t) => {
  const p = await storeWith(10)
  // A torn last write means the writer never closed: start from the file without the
  // sync mark close() appends (after a clean close, damage anywhere is corruption).
  const bytes = withoutClosingMark(fs.readFileSync(p))
  const entry = 16 + 8 + 104 // header, key "k9" padded to 8, value padded to 104
  const last = bytes.length - entry
  bytes.writeUInt32LE(0x7ffffff0, last + 12)
  fs.writeFileSync(p, bytes)
  const r = await Store.open(p, { readOnly: true })
  t.is(r.size, 9)
  t.is(r.get('k9'), undefined)
  await r.close()
  t.true(fs.readFileSync(p).equals(bytes), 'a read-only open changes nothing')
  const w = await Store.open(p)
  t.is(w.size, 9)
  t.is(w.get('k8')[0], 8)
  await w.close()
  // The writer cut exactly the torn entry; its close() then appended a 24-byte sync mark.
  const after = fs.readFileSync(p)
  t.is(after.length, last + 24, 'the writer cut exactly the torn entry')
  t.true(after.subarray(0, last).equals(bytes.subarray(0, last)))
})

test('a store path that is a symlink to a file that is not a store: ERR_NOT_A_STORE, target untouched', async (t) => {
  const d = tmpDir()
  const target = path.join(d, 'notes.txt')
  fs.writeFileSync(target, 'dear diary\n'.repeat(100))
  const link = path.join(d, 'store.srd')
  fs.symlinkSync(target, link)
  await t.throwsAsync(Store.open(link), { code: 'ERR_NOT_A_STORE' })
  t.is(fs.readFileSync(target, 'utf8'), 'dear diary\n'.repeat(100))
  t.true(fs.lstatSync(link).isSymbolicLink())
})

test('a store replaced by a symlink to another store follows the link, and compaction keeps the link', async (t) => {
  const real = await storeWith(20)
  const d = tmpDir()
  const link = path.join(d, 'link.srd')
  fs.symlinkSync(real, link)
  const s = await Store.open(link)
  t.is(s.get('k5')[0], 5)
  for (let i = 0; i < 20; i += 2) await s.delete(`k${i}`)
  await s.compact()
  await s.put('new', 'value')
  await s.close()
  t.true(fs.lstatSync(link).isSymbolicLink())
  const r = await Store.open(real)
  t.is(r.size, 11)
  t.is(r.get('new').toString(), 'value')
  await r.close()
})

test('a directory gives ERR_NOT_A_STORE, a path inside a file ERR_STORE_IO', async (t) => {
  const d = tmpDir()
  // Not a regular file, so not a store (issue 21 item 6); nothing is created inside it.
  await t.throwsAsync(Store.open(d), { code: 'ERR_NOT_A_STORE' })
  t.deepEqual(fs.readdirSync(d), [])
  const f = path.join(d, 'file')
  fs.writeFileSync(f, 'x')
  const e = await t.throwsAsync(Store.open(path.join(f, 'store.srd')), { code: 'ERR_STORE_IO' })
  t.is(e.systemCode, 'ENOTDIR')
})

test('a store made read-only on disk: a writer gets ERR_STORE_IO, readers still work, the file is untouched', async (t) => {
  const { execFileSync } = require('node:child_process')
  const p = await storeWith(5)
  const before = fs.readFileSync(p)
  // Root ignores file modes, so as root the file is made immutable instead.
  const root = typeof process.getuid === 'function' && process.getuid() === 0
  if (root) {
    try {
      execFileSync('chattr', ['+i', p], { stdio: 'ignore' })
    } catch {
      t.log('chattr is not available here: nothing can make the file read-only for root')
      t.pass()
      return
    }
    t.teardown(() => execFileSync('chattr', ['-i', p], { stdio: 'ignore' }))
  } else {
    fs.chmodSync(p, 0o444)
  }
  const e = await t.throwsAsync(Store.open(p))
  t.is(e.code, 'ERR_STORE_IO')
  t.regex(e.message, /permission|not permitted/i)
  const r = await Store.open(p, { readOnly: true })
  t.is(r.get('k3')[0], 3)
  await r.close()
  t.true(fs.readFileSync(p).equals(before))
})

test('damage in unsynced data before valid entries: the open keeps what came before, saves the rest, and recovery() says so', async (t) => {
  const p = await storeWith(10)
  // As a power loss could leave a store that was never synced: no sync mark, and a page
  // of an early write lost while later ones reached the disk.
  const bytes = withoutClosingMark(fs.readFileSync(p))
  const entry = 16 + 8 + 104
  const k1 = 64 + entry
  bytes.fill(0, k1 + 24, k1 + 40) // inside the value of k1
  fs.writeFileSync(p, bytes)

  const r = await Store.open(p, { readOnly: true })
  t.is(r.size, 1)
  t.is(r.recovery().unsyncedDamageAt, k1)
  await t.throwsAsync(r.verify(), { code: 'ERR_STORE_CORRUPT' })
  await r.close()
  t.true(fs.readFileSync(p).equals(bytes), 'a read-only open changes nothing')

  const w = await Store.open(p)
  const rec = w.recovery()
  t.is(w.size, 1)
  t.is(rec.droppedTailBytes, bytes.length - k1)
  t.is(rec.unsyncedDamageAt, k1)
  t.is(typeof rec.savedTail, 'string')
  await w.put('after', 'x')
  await w.close()
  // The saved image repairs into a store of the entries that still verify: k2..k9.
  const salvage = rec.savedTail
  await Store.repair(salvage)
  const s = await Store.open(salvage)
  t.is(s.size, 8)
  t.is(s.get('k9')[0], 9)
  t.is(s.get('k1'), undefined)
  await s.close()
  const again = await Store.open(p)
  t.deepEqual([...again.keys()].map(String).sort(), ['after', 'k0'])
  await again.close()
})
