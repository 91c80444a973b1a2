'use strict'
// What a file system costs the store: prints one JSON line for the directory given.
//   node bench/fs-costs.js <dir>        (scripts/test-matrix.sh bench runs it on each file system)
//
// - appendSyncs/s: 128-byte appends, each followed by fdatasync, to a file that grows (the
//   size change must be journaled at every sync);
// - preallocatedSyncs/s: the same writes into zeros written ahead (what the store does: it keeps
//   1 MiB of zeros past its data, so most syncs need no size change);
// - durablePuts/s: awaited `put`s on a store opened with `sync: true`;
// - compact64MiBMs: compaction of a 64 MiB store of which a quarter is dead;
// - fallocate / punchHole: whether the file system supports preallocation and hole punching
//   (util-linux `fallocate`), which the store does not need but a user's tools may.

const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { Store } = require('..')

const dir = process.argv[2]
if (!dir) throw new Error('usage: node bench/fs-costs.js <dir>')
const SECONDS = Number(process.env.FS_COSTS_SECONDS || 1.5)

function syncsPerSecond (file, preallocate) {
  const fd = fs.openSync(file, 'w+')
  const chunk = Buffer.alloc(128, 1)
  if (preallocate) {
    fs.writeSync(fd, Buffer.alloc(1 << 20), 0, 1 << 20, 0)
    fs.fdatasyncSync(fd)
  }
  let n = 0
  const end = Date.now() + SECONDS * 1000
  while (Date.now() < end) {
    fs.writeSync(fd, chunk, 0, chunk.length, n * chunk.length)
    fs.fdatasyncSync(fd)
    n++
  }
  fs.closeSync(fd)
  fs.rmSync(file)
  return Math.round(n / SECONDS)
}

function supports (args, file) {
  fs.writeFileSync(file, Buffer.alloc(1 << 16, 1))
  const r = spawnSync('fallocate', [...args, file])
  fs.rmSync(file)
  return r.status === 0
}

async function main () {
  const fstype = spawnSync('findmnt', ['-no', 'FSTYPE', '--target', dir], { encoding: 'utf8' }).stdout.trim()
  const out = { fstype }
  out.appendSyncsPerSec = syncsPerSecond(path.join(dir, 'append.bin'), false)
  out.preallocatedSyncsPerSec = syncsPerSecond(path.join(dir, 'prealloc.bin'), true)

  const p = path.join(dir, 'durable.srd')
  const s = await Store.open(p, { sync: true })
  let puts = 0
  const end = Date.now() + SECONDS * 1000
  while (Date.now() < end) await s.put(`k${puts++}`, Buffer.alloc(100, 2))
  out.durablePutsPerSec = Math.round(puts / SECONDS)
  await s.close()

  const c = await Store.open(path.join(dir, 'compact.srd'))
  const value = Buffer.alloc(64 * 1024, 3)
  const n = 1024
  for (let i = 0; i < n; i += 64) await c.putMany(Array.from({ length: 64 }, (_, j) => [`k${i + j}`, value]))
  for (let i = 0; i < n; i += 4) await c.put(`k${i}`, value)
  out.compact64MiBMs = Math.round((await c.compact()).durationMs)
  await c.close()

  out.fallocate = supports(['-l', String(1 << 20)], path.join(dir, 'fa.bin'))
  out.punchHole = supports(['-p', '-o', '0', '-l', '4096'], path.join(dir, 'ph.bin'))
  for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { recursive: true, force: true })
  console.log(JSON.stringify(out))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
