'use strict'
// How much does compaction delay the event loop, next to what this machine does to an idle
// Node process anyway?  node bench/loop-delay.js   (LOOP_DELAY_MB sets the store size)
//
// Prints, each in a fresh process:
//   baseline idle        an event loop with only a 1 ms timer, no store, nothing else running
//   baseline under I/O   the same while another process writes as many bytes to a file
//   compaction <mode>    a store of 64 KiB values (a quarter overwritten) compacted while the
//                        loop does nothing but a 1 ms timer (idle), or turns as fast as it can
//                        doing a get (r), an awaited put (w) or both (rw) in each turn
// with the loop's worst and 99th-percentile delay (perf_hooks, 1 ms resolution) and, for
// compaction, the longest synchronous call into the addon made on the loop's thread.
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { monitorEventLoopDelay, PerformanceObserver } = require('node:perf_hooks')
const { timeNativeCalls } = require('./native-calls.js')

const { constants: perfConstants } = require('node:perf_hooks')
const GC_KINDS = {
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental marking',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks'
}

const MB = Number(process.env.LOOP_DELAY_MB || 1200)
const VALUE = 65536

function report (label, h, extra = '') {
  const ms = (ns) => (ns / 1e6).toFixed(1)
  console.log(`${label.padEnd(22)} worst ${ms(h.max).padStart(6)} ms, p99 ${ms(h.percentile(99)).padStart(5)} ms${extra}`)
}

async function idle (seconds, label) {
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  const end = Date.now() + seconds * 1000
  while (Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 1))
  h.disable()
  report(label, h)
}

/** Writes MB megabytes to a file, 1 MiB at a time, then syncs it (as `dd conv=fdatasync`). */
function writer (file) {
  const fd = fs.openSync(file, 'w')
  const chunk = Buffer.alloc(1 << 20, 1)
  for (let i = 0; i < MB; i++) fs.writeSync(fd, chunk)
  fs.fdatasyncSync(fd)
  fs.closeSync(fd)
}

async function compaction (mode, dir) {
  // Every call into the addon made on this thread is timed while compaction runs.
  let measuring = false
  let longest = 0
  let longestName = ''
  timeNativeCalls((name, ms) => {
    if (measuring && ms > longest) { longest = ms; longestName = name }
  })
  const { Store } = require('..')
  const p = path.join(dir, 'big.srd')
  const n = Math.floor(MB * 1048576 / VALUE)
  const s = await Store.open(p)
  const v = Buffer.alloc(VALUE, 7)
  for (let i = 0; i < n; i += 256) {
    const batch = []
    for (let j = i; j < Math.min(n, i + 256); j++) batch.push([`k${j}`, v])
    await s.putMany(batch)
  }
  const w = Buffer.alloc(VALUE, 9)
  for (let i = 0; i < n; i += 4) await s.put(`k${i}`, w)
  await s.flush()
  // GC pauses of this thread while compaction runs (a finalizer of the store's buffers
  // runs in one, and its external memory can bring one on).
  let gcLongest = 0
  let gcLongestKind = ''
  let gcs = 0
  const gcKinds = {}
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (!measuring) continue
      gcs++
      const kind = GC_KINDS[e.detail?.kind] || String(e.detail?.kind)
      gcKinds[kind] = (gcKinds[kind] || 0) + 1
      if (e.duration > gcLongest) { gcLongest = e.duration; gcLongestKind = kind }
    }
  })
  gc.observe({ entryTypes: ['gc'] })
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  measuring = true
  let done = false
  let ops = 0
  const compacted = s.compact().finally(() => { done = true })
  while (!done) {
    if (mode.includes('w')) await s.put(`x${ops % 100}`, 'a small value')
    if (mode.includes('r')) s.get(`k${(ops * 7919) % n}`)
    // Each operation is its own turn of the loop, as each request of a server would be
    // (an awaited put may resolve without the loop turning).
    if (mode === 'idle') await new Promise((resolve) => setTimeout(resolve, 1))
    else await new Promise((resolve) => setImmediate(resolve))
    ops++
  }
  h.disable()
  const r = await compacted
  await new Promise((resolve) => setImmediate(resolve)) // the last GC entries
  measuring = false
  gc.disconnect()
  await s.close()
  report(`compaction ${mode}`, h, `; ${(r.bytesBefore / 1e9).toFixed(2)} GB in ${r.durationMs.toFixed(0)} ms, ` +
    `${ops} ops; longest addon call on the loop ${longest.toFixed(2)} ms (${longestName}), ` +
    `longest of ${gcs} GC pauses ${gcLongest.toFixed(2)} ms (${gcLongestKind}; ` +
    `${Object.entries(gcKinds).map(([k, c]) => `${c} ${k}`).join(', ')})`)
}

async function child (args) {
  const r = spawnSync(process.execPath, [__filename, ...args], { stdio: 'inherit' })
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed`)
}

async function main () {
  const [role, arg, dir] = process.argv.slice(2)
  if (role === 'idle') return idle(Number(arg), dir || 'baseline idle')
  if (role === 'writer') return writer(arg)
  if (role === 'compaction') return compaction(arg, dir)
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'srd-loop-delay-'))
  try {
    console.log(`${os.cpus()[0].model.trim()}, ${os.cpus().length} cores; ${MB} MB; Node ${process.version}`)
    await child(['idle', '5'])
    const w = spawn(process.execPath, [__filename, 'writer', path.join(tmp, 'load.bin')], { stdio: 'inherit' })
    const done = new Promise((resolve) => w.on('exit', resolve))
    await child(['idle', '5', 'baseline under I/O'])
    await done
    fs.rmSync(path.join(tmp, 'load.bin'), { force: true })
    for (const mode of ['idle', 'r', 'w', 'rw']) {
      const d = fs.mkdtempSync(path.join(tmp, mode + '-'))
      await child(['compaction', mode, d])
      fs.rmSync(d, { recursive: true, force: true })
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

main().catch((e) => { console.error(e); process.exit(1) })
