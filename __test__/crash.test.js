'use strict'
// kill -9 loop: a child writer is killed at random moments (also mid-batch and during
// compaction); after each kill the store must hold exactly what was acknowledged, the
// group in flight all or nothing, and accept new writes.
//   CRASH_KILLS=5000 npx ava --timeout=60m __test__/crash.test.js   long mode for release checks
//   CRASH_SEED=1234 ...                                replays a failing run
const test = require('ava')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Store } = require('..')
const { tmpStore } = require('./helpers.js')
const { groups, prng, removes, SMALL_MAX_BYTES } = require('./fixtures/crash-ops.js')

const copying = /^(1|true|yes)$/i.test(process.env.SIMD_R_DRIVE_COPY_VALUES || '')
const KILLS = Number(process.env.CRASH_KILLS || (copying ? 40 : 200))
const SEED = Number(process.env.CRASH_SEED || Math.floor(Math.random() * 1e9))
/** Kills of the rounds with a size limit (the writer evicts). */
const EVICT_KILLS = Number(process.env.CRASH_EVICT_KILLS || (copying ? 20 : 80))

/**
 * Runs one writer round and kills it after `delayMs`; resolves with the acknowledged group
 * count and whether a compaction was under way. The writer says READY on stdout (the delay
 * starts then) and writes its acknowledgements to a file of its own (see crash-writer.js),
 * read once it has died.
 */
function round (file, seed, r, sync, delayMs, maxBytes) {
  return new Promise((resolve, reject) => {
    const limit = maxBytes === undefined ? [] : [String(maxBytes)]
    const acks = path.join(path.dirname(file), 'acks')
    const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'crash-writer.js'), file, String(seed), String(r), sync ? '1' : '0', ...limit],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CRASH_ACKS: acks } })
    let buf = ''
    let err = ''
    let timer = null
    child.stdout.on('data', (d) => {
      buf += d
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (line === 'READY' && timer === null) timer = setTimeout(() => child.kill('SIGKILL'), delayMs)
      }
    })
    child.stderr.on('data', (d) => { err += d })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      let acked = -1
      let compacting = false
      // Only whole lines: the kill may have cut the last write short.
      const lines = fs.existsSync(acks) ? fs.readFileSync(acks, 'utf8').split('\n').slice(0, -1) : []
      for (const line of lines) {
        if (line.startsWith('G ')) acked = Number(line.slice(2))
        else if (line === 'C+') compacting = true
        else if (line === 'C-') compacting = false
        else if (line.startsWith('ERROR')) err += line
      }
      fs.rmSync(acks, { force: true })
      if (signal !== 'SIGKILL') {
        reject(new Error(`writer exited with ${code}: ${err}`))
        return
      }
      resolve({ acked: acked + 1, compacting })
    })
  })
}

test(`acknowledged writes survive ${KILLS} kill -9s (seed ${SEED})`, async (t) => {
  const file = tmpStore()
  const model = new Map() // key -> Buffer, for keys that have a value
  const rnd = prng(SEED)
  let inFlightGroups = 0
  let killedCompacting = 0
  let killedInBatch = 0
  let maxAcked = 0
  for (let r = 0; r < KILLS; r++) {
    const sync = rnd() < 0.25
    const delay = 5 + Math.floor(rnd() * (rnd() < 0.2 ? 400 : 60))
    const { acked, compacting } = await round(file, SEED, r, sync, delay)
    if (compacting) killedCompacting++
    maxAcked = Math.max(maxAcked, acked)
    // Replay the acknowledged groups on the model; the next group may or may not be there.
    const it = groups(SEED, r)
    let g
    for (let i = 0; i < acked; i++) {
      g = it.next().value
      for (const op of g.ops) {
        if (removes(op)) model.delete(op[0])
        else model.set(op[0], op[1])
      }
    }
    const pending = it.next().value
    if (pending.kind === 'batch') killedInBatch++
    const after = new Map(model)
    for (const op of pending.ops) {
      if (removes(op)) after.delete(op[0])
      else after.set(op[0], op[1])
    }
    const s = Store.openSync(file)
    const matches = (m) => {
      // Expired keys count in size until a compaction: count the live keys.
      if ([...s.keys()].length !== m.size) return false
      for (const [k, v] of m) {
        const got = s.get(k)
        if (!got || !got.equals(v)) return false
      }
      return true
    }
    const before = matches(model)
    const applied = !before && pending.ops.length > 0 && matches(after)
    if (!before && !applied) {
      const diff = []
      for (const [k, v] of model) {
        const got = s.get(k)
        if (!got || !got.equals(v)) diff.push(`${k}: expected ${v.length} bytes, got ${got ? got.length + ' other bytes' : 'nothing'}`)
      }
      await s.close()
      t.fail(`seed ${SEED}, round ${r} (sync ${sync}, killed after ${delay} ms, ${acked} groups acknowledged, pending ${pending.kind} of ${pending.ops.length}): ` +
        `store is neither the acknowledged state nor that plus the pending group; size ${s.size} vs ${model.size}; ${diff.slice(0, 5).join('; ')}`)
      return
    }
    if (applied) {
      inFlightGroups++
      model.clear()
      for (const [k, v] of after) model.set(k, v)
    }
    await s.close()
  }
  // The store still takes writes.
  const s = Store.openSync(file)
  await s.put('final', 'ok')
  t.is(s.get('final').toString(), 'ok')
  await s.close()
  t.log(`seed ${SEED}: ${KILLS} kills, ${model.size} live keys at the end, ${killedCompacting} kills during compaction, ${killedInBatch} with a large batch in flight, ${inFlightGroups} in-flight groups found committed, up to ${maxAcked} groups acknowledged per round`)
  t.pass()
})

/**
 * Whether the store `s` is the FIFO state of the model `m` (keys with values, in the order
 * they were last written) less its oldest entries: some prefix of `m` evicted, the rest
 * there with its values, nothing else. Returns the length of that prefix, or -1.
 */
function evictedPrefix (s, m) {
  const keys = [...m.keys()]
  let first = keys.findIndex((k) => s.has(k))
  if (first < 0) first = keys.length
  for (let i = first; i < keys.length; i++) {
    const got = s.get(keys[i])
    if (!got || !got.equals(m.get(keys[i]))) return -1
  }
  let n = 0
  for (const k of s.keys()) {
    if (!m.has(String(k))) return -1
    n++
  }
  return n === keys.length - first ? first : -1
}

/**
 * Why the store `s` is not the FIFO model `m` less a prefix: the first model key (by its
 * position in last-write order) that is missing or different after one that is present,
 * and the store's keys the model does not have.
 */
function fifoMismatch (s, m) {
  const keys = [...m.keys()]
  const first = keys.findIndex((k) => s.has(k))
  const bad = []
  for (let i = Math.max(first, 0); i < keys.length && bad.length < 3; i++) {
    const got = s.get(keys[i])
    if (!got) bad.push(`${keys[i]} (position ${i} of ${keys.length}) missing`)
    else if (!got.equals(m.get(keys[i]))) bad.push(`${keys[i]} (position ${i} of ${keys.length}) has ${got.length} other bytes`)
  }
  const extra = [...s.keys()].map(String).filter((k) => !m.has(k))
  return `first present at ${first}; ${bad.join(', ') || 'none missing'}; ${extra.length} keys not in the model${extra.length ? ` (${extra.slice(0, 3).join(', ')})` : ''}`
}

/** The contents of the store `file`'s files (the store and its index and delta files), by name. */
function snapshotFiles (file) {
  const dir = path.dirname(file)
  const files = new Map()
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith(path.basename(file))) files.set(name, fs.readFileSync(path.join(dir, name)))
  }
  return files
}

/** Copies the files of a failed round (`snapshots` by label, and as the check left them) for a post-mortem; returns where. */
function keepFailure (file, snapshots, tag) {
  const where = path.join(os.tmpdir(), `simd-r-drive-crash-${tag}-${process.pid}`)
  for (const [label, files] of [...Object.entries(snapshots), ['after', snapshotFiles(file)]]) {
    fs.mkdirSync(path.join(where, label), { recursive: true })
    for (const [name, bytes] of files) fs.writeFileSync(path.join(where, label, name), bytes)
  }
  return where
}

/** Applies the ops of a group to the FIFO model `m`: a write moves its key to the end. */
function applyFifo (m, ops) {
  for (const op of ops) {
    m.delete(op[0])
    if (!removes(op)) m.set(op[0], op[1])
  }
}

test(`with maxBytes, no acknowledged, unexpired, unevicted write is lost to ${EVICT_KILLS} kill -9s (seed ${SEED})`, async (t) => {
  const file = tmpStore()
  let model = new Map() // key -> Buffer, in last-write order
  const rnd = prng(SEED + 1)
  let evictedRounds = 0
  let killedCompacting = 0
  for (let r = 0; r < EVICT_KILLS; r++) {
    const sync = rnd() < 0.25
    const delay = 5 + Math.floor(rnd() * (rnd() < 0.2 ? 400 : 60))
    // The files as the round found them, kept with the files it left if it fails.
    const before = snapshotFiles(file)
    const { acked, compacting } = await round(file, SEED + 1, r, sync, delay, SMALL_MAX_BYTES)
    const killed = snapshotFiles(file)
    if (compacting) killedCompacting++
    const it = groups(SEED + 1, r, true)
    for (let i = 0; i < acked; i++) applyFifo(model, it.next().value.ops)
    const pending = it.next().value
    const after = new Map(model)
    applyFifo(after, pending.ops)
    const s = Store.openSync(file)
    let cut = evictedPrefix(s, model)
    let m = model
    if (cut < 0 && pending.ops.length > 0) {
      cut = evictedPrefix(s, after)
      m = after
    }
    if (cut < 0) {
      const why = `${fifoMismatch(s, model)}; with the pending group: ${fifoMismatch(s, after)}; ` +
        `recovery ${JSON.stringify(s.recovery())}; stats ${JSON.stringify(s.stats())}; killed compacting ${compacting}`
      await s.close()
      const kept = keepFailure(file, { before, killed }, `${SEED + 1}-${r}`)
      t.fail(`seed ${SEED + 1}, round ${r} (sync ${sync}, killed after ${delay} ms, ${acked} groups acknowledged, pending ${pending.kind} of ${pending.ops.length}): ` +
        `the store is not the acknowledged state (nor that plus the pending group) less its oldest entries: ${why}; files before the round, after the kill and after the check kept in ${kept}`)
      return
    }
    if (cut > 0) evictedRounds++
    // Evicted keys are gone for good: the model forgets them.
    model = new Map([...m].slice(cut))
    const st = s.stats()
    // At most the limit once written (a compaction's copies add 8 bytes each until the next write).
    t.true(st.liveBytes <= SMALL_MAX_BYTES + 8 * st.entries, `round ${r}: live ${st.liveBytes}`)
    await s.close()
  }
  t.true(evictedRounds > 0, 'the limit evicted something')
  t.log(`seed ${SEED + 1}: ${EVICT_KILLS} kills with maxBytes ${SMALL_MAX_BYTES}, ${evictedRounds} rounds found entries evicted, ${killedCompacting} kills during compaction, ${model.size} live keys at the end`)
})
