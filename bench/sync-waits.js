'use strict'
// How long can putSync block the event loop while another handle on the same engine holds
// the engine's writer lock?   node bench/sync-waits.js   (SYNC_WAITS_KEYS sets the key count)
//
// One store of SYNC_WAITS_KEYS keys (default 1,000,000; 16-byte keys, 32-byte values) opened
// twice in this process, so both handles share one engine. Handle A calls putSync in a loop
// (yielding to the loop every 64 calls) and records the longest single call while handle B:
//   idle       does nothing (the baseline)
//   close      closes (its close() syncs and writes the index checkpoint of every key)
//   compact    compacts (a quarter of the keys overwritten first)
//   stream     streams a 64 MiB value into the store (createWriteStream)
// Each scenario runs in a fresh store; of ROUNDS rounds (default 3), the one with the longest
// call is printed: that call, the 99.9th percentile, the calls over 5 ms and the duration
// of B's operation. The machine's own noise shows in the idle line.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const KEYS = Number(process.env.SYNC_WAITS_KEYS || 1_000_000)
const ROUNDS = Number(process.env.SYNC_WAITS_ROUNDS || 3)
const STREAM_BYTES = 64 << 20

const { Store } = require('..')

function key (i) { return `key-${String(i).padStart(12, '0')}` }

async function fill (p) {
  const s = await Store.open(p)
  const v = Buffer.alloc(32, 7)
  for (let i = 0; i < KEYS; i += 4096) {
    const batch = []
    for (let j = i; j < Math.min(KEYS, i + 4096); j++) batch.push([key(j), v])
    s.putManySync(batch)
  }
  await s.close()
}

/**
 * putSync in a loop on `a` until `done()`; returns the longest call and the 99.9th
 * percentile in ms, the number of calls, and how many took over 5 ms.
 */
async function hammer (a, done) {
  const v = Buffer.alloc(32, 9)
  const times = []
  while (!done()) {
    for (let j = 0; j < 64; j++) {
      const t0 = process.hrtime.bigint()
      a.putSync(`hot-${times.length % 1000}`, v)
      times.push(Number(process.hrtime.bigint() - t0) / 1e6)
    }
    await new Promise((resolve) => setImmediate(resolve))
  }
  times.sort((x, y) => x - y)
  return {
    worst: times[times.length - 1],
    p999: times[Math.floor(times.length * 0.999)],
    calls: times.length,
    over5: times.filter((t) => t > 5).length
  }
}

async function streamValue (b) {
  const chunk = Buffer.alloc(1 << 20, 5)
  const ws = b.createWriteStream('streamed')
  for (let i = 0; i < STREAM_BYTES / chunk.length; i++) {
    if (!ws.write(chunk)) await new Promise((resolve) => ws.once('drain', resolve))
  }
  await new Promise((resolve, reject) => ws.end((e) => (e ? reject(e) : resolve())))
}

async function scenario (name, dir) {
  const p = path.join(dir, `${name}.srd`)
  await fill(p)
  const a = await Store.open(p)
  const b = await Store.open(p)
  if (name === 'compact') {
    const v = Buffer.alloc(32, 8)
    for (let i = 0; i < KEYS; i += 4 * 4096) {
      const batch = []
      for (let j = i; j < Math.min(KEYS, i + 4 * 4096); j += 4) batch.push([key(j), v])
      a.putManySync(batch)
    }
  }
  // A little traffic first, so that B's close has a checkpoint to write.
  await hammer(a, (() => { let n = 0; return () => n++ > 4 })())
  let finished = false
  const t0 = process.hrtime.bigint()
  const op = name === 'idle'
    ? new Promise((resolve) => setTimeout(resolve, 500))
    : name === 'close'
      ? b.close()
      : name === 'compact'
        ? b.compact()
        : streamValue(b)
  const opDone = op.then(() => { finished = true; return Number(process.hrtime.bigint() - t0) / 1e6 })
  const r = await hammer(a, () => finished)
  const opMs = await opDone
  await a.close()
  if (name !== 'close') await b.close()
  for (const f of fs.readdirSync(dir)) if (f.startsWith(`${name}.srd`)) fs.rmSync(path.join(dir, f))
  return { ...r, opMs }
}

async function main () {
  const dir = fs.mkdtempSync(path.join(process.env.SYNC_WAITS_DIR || os.tmpdir(), 'srd-sync-waits-'))
  try {
    console.log(`${KEYS} keys, worst of ${ROUNDS} rounds`)
    for (const name of ['idle', 'close', 'compact', 'stream']) {
      let worst = null
      for (let r = 0; r < ROUNDS; r++) {
        const x = await scenario(name, dir)
        if (worst === null || x.worst > worst.worst) worst = x
      }
      console.log(`${name.padEnd(8)} longest putSync ${worst.worst.toFixed(2).padStart(7)} ms,` +
        ` p99.9 ${worst.p999.toFixed(2).padStart(6)} ms, ${String(worst.over5).padStart(3)} over 5 ms` +
        ` (${worst.calls} calls while B's operation took ${worst.opMs.toFixed(0)} ms)`)
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((e) => { console.error(e); process.exit(1) })
