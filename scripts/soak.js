#!/usr/bin/env node
'use strict'
// The soak: the whole store under faults, for minutes.
//
//   npm run soak -- --minutes N [--kill-every S] [--compact-every S] [--readers R] [--dir D]
//
// (`--self-check` makes each writer also put one value that is not what it claims to be, or
// resurrect an older one: the soak must then fail, which shows that its checks can.)
//
// A writer process commits awaited puts and putMany batches and compacts every few seconds;
// the parent kills it with SIGKILL every few seconds and starts a new one, which first checks
// that every write the killed one acknowledged (reported to the parent over IPC as soon as
// its promise resolved) is there, at that version or a later one. Three read-only follower
// processes refresh and read all the while. Every value describes itself (key, writer
// generation, sequence number, length, checksum), so a follower can tell a value that was
// never written (torn, misplaced, garbage), and one that went back to an older version.
// Reports operations, kills, compactions and the peak RSS of every process; exits 1 on any
// violation, or when fewer kills or compactions happened than the settings imply.
const { fork } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const KEYS = 2000
const MAGIC = 0x4b414f53 // 'SOAK'
const HEAD = 24

function parseArgs (argv) {
  const o = { minutes: 1, killEvery: 4, compactEvery: 1.5, readers: 3, dir: null, role: 'parent', gen: 0, acked: null, selfCheck: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`soak: ${a} needs a value`)
      return argv[++i]
    }
    if (a === '--minutes') o.minutes = Number(next())
    else if (a === '--kill-every') o.killEvery = Number(next())
    else if (a === '--compact-every') o.compactEvery = Number(next())
    else if (a === '--readers') o.readers = Number(next())
    else if (a === '--dir') o.dir = next()
    else if (a === '--role') o.role = next()
    else if (a === '--gen') o.gen = Number(next())
    else if (a === '--acked') o.acked = next()
    else if (a === '--self-check') o.selfCheck = true
    else throw new Error(`soak: unknown argument ${a}`)
  }
  for (const k of ['minutes', 'killEvery', 'compactEvery', 'readers']) {
    if (!(o[k] > 0)) throw new Error(`soak: --${k} must be a positive number`)
  }
  return o
}

function sum (buf) {
  return crypto.createHash('sha256').update(buf).digest().readUInt32LE(0)
}

/** The checksum of value `v` of `key`: of the key, the header before it and the payload. */
function checksum (key, v) {
  return sum(Buffer.concat([Buffer.from(key), v.subarray(0, 20), v.subarray(HEAD)]))
}

/** The value of `key` written by generation `gen` as its `seq`th write. */
function encode (key, gen, seq, len) {
  const v = Buffer.alloc(HEAD + len)
  v.writeUInt32LE(MAGIC, 0)
  v.writeUInt32LE(gen, 4)
  v.writeUInt32LE(seq, 8)
  v.writeUInt32LE(len, 12)
  // Payload: deterministic in (gen, seq), so bytes from elsewhere cannot pass for it.
  crypto.createHash('sha256').update(`${gen}:${seq}`).digest().copy(v, HEAD, 0, Math.min(32, len))
  for (let i = HEAD + 32; i < HEAD + len; i++) v[i] = (i * 31 + seq) & 0xff
  v.writeUInt32LE(checksum(key, v), 20)
  return v
}

/** `[gen, seq]` of a value read under `key`, or a string saying why it was never written. */
function decode (key, v) {
  if (v.length < HEAD) return `a value of ${v.length} bytes`
  if (v.readUInt32LE(0) !== MAGIC) return 'no soak magic'
  const gen = v.readUInt32LE(4)
  const seq = v.readUInt32LE(8)
  const len = v.readUInt32LE(12)
  if (v.length !== HEAD + len) return `length ${v.length}, the value says ${HEAD + len}`
  if (checksum(key, v) !== v.readUInt32LE(20)) return 'checksum mismatch (torn, garbage, or the value of another key)'
  if (!encode(key, gen, seq, len).equals(v)) return 'not the value the writer would have written'
  return [gen, seq]
}

const newer = (a, b) => a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1])

function rss () {
  return process.memoryUsage().rss
}

// ----- writer -----

async function writer (o) {
  const { Store } = require('..')
  const store = path.join(o.dir, 'soak.srd')
  // Every third generation acknowledges only after fdatasync.
  const s = await Store.open(store, { sync: o.gen % 3 === 2 })
  // First: is every write the killed writers acknowledged still there?
  const acked = o.acked ? JSON.parse(fs.readFileSync(o.acked, 'utf8')) : {}
  let checked = 0
  for (const [key, want] of Object.entries(acked)) {
    const v = s.get(key)
    const got = v === undefined ? 'missing' : decode(key, v)
    if (typeof got === 'string' || !newer(got, want)) {
      process.send({ violation: `writer ${o.gen}: acknowledged ${key}@${want} is ${typeof got === 'string' ? got : got.join('@') + ' (older)'}` })
    }
    checked++
  }
  process.send({ verified: checked })
  let seq = 0
  let stop = false
  process.on('message', (m) => { if (m === 'stop') stop = true })
  let lastCompact = Date.now()
  let compacting = null
  const rand = (n) => Math.floor(Math.random() * n)
  const size = () => (rand(10) === 0 ? 20000 + rand(40000) : 50 + rand(2000))
  let samples = 0
  if (o.selfCheck) {
    // A value whose payload was changed after encoding: never written as such.
    const bad = encode('k0', o.gen, ++seq, 100)
    bad[HEAD + 50] ^= 1
    await s.put('k0', bad)
  }
  while (!stop) {
    if (compacting === null && Date.now() - lastCompact >= o.compactEvery * 1000) {
      lastCompact = Date.now()
      compacting = s.compact().then(() => {
        process.send({ compacted: 1 })
        compacting = null
      }, (e) => {
        process.send({ violation: `writer ${o.gen}: compact failed: ${e.code} ${e.message}` })
        compacting = null
      })
    }
    try {
      if (rand(3) === 0) {
        const entries = []
        const used = new Set()
        const n = 2 + rand(30)
        for (let i = 0; i < n; i++) {
          const key = `k${rand(KEYS)}`
          if (used.has(key)) continue
          used.add(key)
          entries.push([key, encode(key, o.gen, ++seq, size())])
        }
        await s.putMany(entries)
        process.send({ batch: entries.map(([k, v]) => [k, o.gen, v.readUInt32LE(8)]) })
      } else {
        const key = `k${rand(KEYS)}`
        const mySeq = ++seq
        await s.put(key, encode(key, o.gen, mySeq, size()))
        process.send({ put: [key, o.gen, mySeq] })
      }
    } catch (e) {
      process.send({ violation: `writer ${o.gen}: write failed: ${e.code} ${e.message}` })
      break
    }
    if (++samples % 200 === 0) process.send({ rss: rss() })
  }
  if (compacting) await compacting
  await s.close()
  process.send({ rss: rss(), closed: true })
  // The IPC channel would keep the process alive.
  process.disconnect()
}

// ----- follower -----

async function follower (o) {
  const { Store } = require('..')
  const s = await Store.open(path.join(o.dir, 'soak.srd'), { readOnly: true })
  const seen = new Map()
  let reads = 0
  let refreshes = 0
  let replaced = 0
  let stop = false
  process.on('message', (m) => { if (m === 'stop') stop = true })
  const check = (key, v) => {
    reads++
    const got = decode(key, v)
    if (typeof got === 'string') {
      process.send({ violation: `follower ${o.gen}: ${key} holds a value never written: ${got}` })
      return
    }
    const before = seen.get(key)
    if (before && !newer(got, before)) {
      process.send({ violation: `follower ${o.gen}: ${key} went back from ${before.join('@')} to ${got.join('@')}` })
    }
    seen.set(key, got)
  }
  let lastReport = Date.now()
  while (!stop) {
    if (s.refresh() === 'replaced') replaced++
    refreshes++
    if (refreshes % 20 === 0) {
      for (const [k, v] of s.entries()) check(String(k), v)
    } else {
      for (let i = 0; i < 100; i++) {
        const key = `k${Math.floor(Math.random() * KEYS)}`
        const v = s.get(key)
        if (v !== undefined) check(key, v)
      }
    }
    if (Date.now() - lastReport > 500) {
      lastReport = Date.now()
      process.send({ reads, refreshes, replaced, rss: rss() })
    }
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  process.send({ reads, refreshes, replaced, rss: rss(), closed: true })
  await s.close()
  process.disconnect()
}

// ----- parent -----

async function parent (o) {
  const started = Date.now()
  const ms = o.minutes * 60000
  const dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'srd-soak-'))
  const ownDir = o.dir === null
  fs.mkdirSync(dir, { recursive: true })
  const ackFile = path.join(dir, 'acked.json')
  const acked = new Map()
  const violations = []
  const stats = { puts: 0, batches: 0, batchEntries: 0, kills: 0, compactions: 0, verified: 0 }
  const peak = { parent: 0, writer: 0, followers: [] }
  const followerStats = []
  const note = (key, gen, seq) => {
    const was = acked.get(key)
    if (!was || newer([gen, seq], was)) acked.set(key, [gen, seq])
  }
  const spawn = (role, gen, extra = []) => fork(__filename, ['--role', role, '--gen', String(gen), '--dir', dir, ...(o.selfCheck ? ['--self-check'] : []), ...extra], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })

  let gen = 0
  let w = null
  let wExit = null
  // Time spent starting writers (spawn, open, checking the acknowledged writes): on a busy
  // machine it is seconds, in which nothing can be killed or compacted.
  let restartMs = 0
  const startWriter = async () => {
    const t = Date.now()
    await spawnWriter()
    restartMs += Date.now() - t
  }
  const spawnWriter = () => new Promise((resolve) => {
    fs.writeFileSync(ackFile, JSON.stringify(Object.fromEntries(acked)))
    const child = spawn('writer', gen, ['--acked', ackFile])
    w = child
    wExit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
    child.on('message', (m) => {
      if (m.put) { stats.puts++; note(...m.put) }
      if (m.batch) { stats.batches++; stats.batchEntries += m.batch.length; for (const e of m.batch) note(...e) }
      if (m.compacted) stats.compactions++
      if (m.rss) peak.writer = Math.max(peak.writer, m.rss)
      if (m.violation) violations.push(m.violation)
      if (m.verified !== undefined) { stats.verified += m.verified; resolve() }
    })
    wExit.then(({ code, signal }) => {
      if (signal !== 'SIGKILL' && code !== 0) violations.push(`writer ${child.pid} exited with ${code ?? signal}`)
      resolve()
    })
  })
  await startWriter()

  const followers = []
  for (let i = 0; i < o.readers; i++) {
    const f = spawn('follower', i)
    followerStats[i] = { reads: 0, refreshes: 0, replaced: 0 }
    peak.followers[i] = 0
    f.on('message', (m) => {
      if (m.violation) violations.push(m.violation)
      if (m.reads !== undefined) Object.assign(followerStats[i], { reads: m.reads, refreshes: m.refreshes, replaced: m.replaced })
      if (m.rss) peak.followers[i] = Math.max(peak.followers[i], m.rss)
    })
    const exited = new Promise((resolve) => f.on('exit', (code, signal) => {
      if (code !== 0) violations.push(`follower ${i} exited with ${code ?? signal}`)
      resolve()
    }))
    followers.push({ f, exited })
  }

  const sleep = (t) => new Promise((resolve) => setTimeout(resolve, t))
  while (Date.now() - started < ms && violations.length === 0) {
    // Kill at a random point of each period (from half of it to all of it).
    await sleep(o.killEvery * 1000 * (0.5 + Math.random() * 0.5))
    if (Date.now() - started >= ms) break
    w.kill('SIGKILL')
    await wExit
    stats.kills++
    gen++
    await startWriter()
    peak.parent = Math.max(peak.parent, rss())
    if (process.stdout.isTTY) process.stdout.write(`\rsoak: ${Math.round((Date.now() - started) / 1000)} s, ${stats.kills} kills, ${stats.compactions} compactions`)
  }
  // The end: one last kill, and a writer that checks every acknowledged write and closes.
  w.kill('SIGKILL')
  await wExit
  stats.kills++
  gen++
  await startWriter()
  w.send('stop')
  await wExit
  for (const { f } of followers) f.send('stop')
  await Promise.all(followers.map((x) => x.exited))
  peak.parent = Math.max(peak.parent, rss())
  if (process.stdout.isTTY) process.stdout.write('\n')

  const seconds = (Date.now() - started) / 1000
  // What the settings imply for the time writers ran (kills come 0.75 of a period apart on
  // average), with room to spare.
  const running = Math.max(0, o.minutes * 60 - restartMs / 1000)
  const wantKills = Math.floor(running / (o.killEvery * 0.75) * 0.8)
  const wantCompactions = Math.floor(running / o.compactEvery * 0.3)
  const mb = (b) => `${(b / 1048576).toFixed(0)} MB`
  console.log(`soak: ${seconds.toFixed(0)} s in ${dir}`)
  console.log(`  operations: ${stats.puts} puts, ${stats.batches} putMany batches (${stats.batchEntries} entries), ${acked.size} keys acknowledged`)
  console.log(`  writers ran ${running.toFixed(0)} s; restarts took ${(restartMs / 1000).toFixed(0)} s over ${stats.kills} kills`)
  console.log(`  kills: ${stats.kills} (at least ${wantKills} expected), compactions: ${stats.compactions} (at least ${wantCompactions} expected)`)
  console.log(`  restart checks: ${stats.verified} acknowledged keys checked over ${stats.kills} restarts`)
  followerStats.forEach((f, i) => console.log(`  follower ${i}: ${f.reads} values verified, ${f.refreshes} refreshes (${f.replaced} saw a compacted file)`))
  console.log(`  peak RSS: parent ${mb(peak.parent)}, writer ${mb(peak.writer)}, followers ${peak.followers.map(mb).join(', ')}`)
  if (ownDir) fs.rmSync(dir, { recursive: true, force: true })
  let failed = false
  for (const v of violations.slice(0, 20)) console.error(`soak: VIOLATION: ${v}`)
  if (violations.length > 0) failed = true
  if (stats.kills < wantKills) { console.error(`soak: FAILED: ${stats.kills} kills, fewer than ${wantKills}`); failed = true }
  if (stats.compactions < wantCompactions) { console.error(`soak: FAILED: ${stats.compactions} compactions, fewer than ${wantCompactions}`); failed = true }
  if (followerStats.some((f) => f.reads === 0)) { console.error('soak: FAILED: a follower read nothing'); failed = true }
  console.log(failed ? 'soak: FAILED' : 'soak: ok')
  process.exitCode = failed ? 1 : 0
}

const o = parseArgs(process.argv.slice(2))
const roles = { parent, writer, follower }
if (!roles[o.role]) throw new Error(`soak: unknown role ${o.role}`)
roles[o.role](o).catch((e) => {
  if (o.role !== 'parent' && process.send) process.send({ violation: `${o.role} ${o.gen}: ${e.stack}` })
  console.error(e)
  process.exitCode = 1
})
