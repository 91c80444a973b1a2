'use strict'
// Latency from a writer's commit to a read-only follower's 'change' event in another
// process.   node bench/follow-latency.js   (FOLLOW_COMMITS sets the commits per mode)
//
// This process writes; a child process opens the store read-only (follow: 'watch', then
// 'poll') and answers each 'change' event with the event's arrival time. Each commit is a
// put of one key whose value is the time put was called (it commits in the same tick) (process.hrtime.bigint(),
// CLOCK_MONOTONIC on Linux: the same clock in both processes); commits are spaced 20 ms
// apart so each is one event. Prints p50, p99 and max per mode.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { fork } = require('node:child_process')

const COMMITS = Number(process.env.FOLLOW_COMMITS || 300)

if (process.argv[2] === 'child') follower()
else main()

function follower () {
  const { Store } = require('..')
  ;(async () => {
    const s = await Store.open(process.argv[3], { readOnly: true, follow: process.argv[4] })
    s.on('change', (e) => {
      const at = process.hrtime.bigint()
      for (const c of e.changes) if (c.type === 'put') process.send({ sent: c.value.readBigUInt64LE(0).toString(), at: at.toString() })
    })
    process.send('ready')
    process.on('message', (m) => { if (m === 'stop') s.close().then(() => process.exit(0)) })
  })()
}

function pct (sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}

async function run (mode) {
  const { Store } = require('..')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srd-follow-'))
  const p = path.join(dir, 'data.srd')
  const s = await Store.open(p)
  await s.put('seed', Buffer.alloc(8))
  const child = fork(__filename, ['child', p, mode])
  const lat = []
  await new Promise((resolve) => child.once('message', resolve))
  child.on('message', (m) => { if (m !== 'ready') lat.push(Number(BigInt(m.at) - BigInt(m.sent)) / 1e6) })
  const v = Buffer.alloc(8)
  for (let i = 0; i < COMMITS; i++) {
    // The value is copied when put is called; the batch commits at the end of this tick.
    v.writeBigUInt64LE(process.hrtime.bigint())
    await s.put(`k${i}`, v)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  await new Promise((resolve) => setTimeout(resolve, 1500))
  child.send('stop')
  await new Promise((resolve) => child.once('exit', resolve))
  await s.close()
  fs.rmSync(dir, { recursive: true, force: true })
  if (process.env.FOLLOW_DEBUG) console.log(lat.map((x) => x.toFixed(1)).join(' '))
  lat.sort((a, b) => a - b)
  return { mode, events: lat.length, p50: pct(lat, 0.5), p99: pct(lat, 0.99), max: lat[lat.length - 1] }
}

async function main () {
  for (const mode of ['watch', 'poll']) {
    const r = await run(mode)
    console.log(`follow: '${r.mode}'  ${r.events}/${COMMITS} events  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  max ${r.max.toFixed(2)} ms`)
  }
}
