'use strict'
// The fixed costs of a store that grow (or not) with its size: open + first get in a fresh
// process (warm and with the page cache dropped), memory after open + random gets, close after
// a few writes, a run inside a 128 MB memory cgroup, and the index's bytes per key on disk.
// Every store is used through its public API only (bench/stores.js), so this runs unchanged on
// any build of simd-r-drive.
//
//   node bench/open-costs.js                      1M and 10M keys, 5 fresh processes per figure
//   node bench/open-costs.js --quick              100k and 1M keys, 3 processes per figure
//   node bench/open-costs.js --keys 1000000 --runs 7 --stores simd-r-drive,lmdb
//   npm run bench:open [-- --quick]
//
// Options: --keys N[,N...]  --runs N  --stores a,b  --dir DIR (default: under os.tmpdir())
//   --gets N (random gets for the memory rows, default 1,000,000)  --puts N (default 1,000)
//   --crash-writes N (overwrites before the kill -9 of the "after kill -9" rows, default 100,000)
//   --cgroup-mb N (default 128)  --cgroup-keys N (default: the largest --keys; --quick: the smallest)
//   --cgroup-timeout S (default 180)  --no-cgroup  --keep (leave the stores on disk)  --json
//
// Each store is bulk-loaded once per key count (one process) and reused by all the timing
// processes; its directory is deleted at the end. Scenario "loaded": as the bulk load left it
// (loaded, closed). Scenario "after puts": the same store reopened, given --puts overwrites of
// existing keys in one process (whose close() is the "close after puts" figure), closed again.
// Scenario "after kill -9": a process overwrites --crash-writes random keys and is killed with
// SIGKILL, before each timed open.
// "Page cache dropped" = fsync + posix_fadvise(DONTNEED) (through python3) on every file of
// the store's directory just before the process starts; `fincore` checks what stayed resident.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const { median } = require('./report.js')
const os = require('node:os')
const path = require('node:path')
const { STORES, diskBytes } = require('./stores.js')

const OURS = 'simd-r-drive'
const DEFAULT_STORES = ['simd-r-drive', 'lmdb', 'better-sqlite3']
const STORE_FILE = 'data.srd' // stores.js opens simd-r-drive at <dir>/data.srd
const BATCH = 100000

const key = (i) => 'k' + String(i).padStart(15, '0') // 16 bytes, as in bench/worker.js

// 1 MiB of xorshift32 bytes (deterministic); values are 100-byte windows into it.
const POOL = (() => {
  const b = Buffer.allocUnsafe(1 << 20)
  let x = 0x9e3779b9
  for (let i = 0; i < b.length; i += 4) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    b.writeUInt32LE(x, i)
  }
  return b
})()
const value = (i) => {
  const off = (i * 7919) % (POOL.length - 100)
  return POOL.subarray(off, off + 100)
}

/** A deterministic stream of integers below `n` (xorshift32 from `seed`). */
function randoms (n, seed) {
  let x = (seed * 2654435761) >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x % n
  }
}

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6

/** `RssAnon`, `RssShmem`, `VmRSS` and `VmHWM` of this process, in bytes. */
function procStatus () {
  const text = fs.readFileSync('/proc/self/status', 'utf8')
  const kb = (name) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)
    return m ? Number(m[1]) * 1024 : null
  }
  return { rssAnon: kb('RssAnon'), rssShmem: kb('RssShmem'), vmRss: kb('VmRSS'), vmHwm: kb('VmHWM') }
}

// ---------------------------------------------------------------------------------------------
// Child processes: `node bench/open-costs.js --child <what> <store> <dir> <keys> [arg]` prints
// one JSON line. The store's module is required before any clock starts.

const children = {
  async load (store, dir, n) {
    const t0 = process.hrtime.bigint()
    const db = await store.open(dir)
    for (let i = 0; i < n; i += BATCH) {
      const batch = []
      for (let j = i; j < Math.min(n, i + BATCH); j++) batch.push([key(j), value(j)])
      await db.bulk(batch)
    }
    await db.close()
    return { loadMs: ms(t0) }
  },
  async open (store, dir, n) {
    const k = key(n - 1)
    const t0 = process.hrtime.bigint()
    const db = await store.open(dir)
    const openMs = ms(t0)
    const v = db.get(k)
    const openGetMs = ms(t0)
    if (!v || v.length !== 100) throw new Error(`first get of ${k}: no 100-byte value`)
    const replayed = db.replayed ? db.replayed() : null
    await db.close()
    return { openMs, openGetMs, replayed }
  },
  // Overwrites `count` random existing keys (in batches), then dies by SIGKILL: what the
  // next open finds is a crash with that many writes since the last close.
  async crash (store, dir, n, count, seed) {
    const db = await store.open(dir)
    const next = randoms(n, seed)
    for (let i = 0; i < count; i += BATCH) {
      const batch = []
      for (let j = i; j < Math.min(count, i + BATCH); j++) {
        const x = next()
        batch.push([key(x), value(x + seed)])
      }
      await db.bulk(batch)
    }
    process.kill(process.pid, 'SIGKILL')
  },
  async puts (store, dir, n, count, seed) {
    const db = await store.open(dir)
    const next = randoms(n, seed)
    for (let i = 0; i < count; i++) {
      const j = next()
      await db.put(key(j), value(j + seed + 1))
    }
    const t0 = process.hrtime.bigint()
    await db.close()
    return { closeMs: ms(t0) }
  },
  async mem (store, dir, n, gets) {
    const t0 = process.hrtime.bigint()
    const db = await store.open(dir)
    const next = randoms(n, 12345)
    let touched = 0
    for (let i = 0; i < gets; i++) {
      const v = db.get(key(next()))
      if (!v || v.length !== 100) throw new Error(`get ${i}: no 100-byte value`)
      touched += v[0] + v[99]
    }
    const runMs = ms(t0)
    if (touched < 0) throw new Error('unreachable')
    if (global.gc) global.gc()
    const status = procStatus() // before close: what the open store holds
    await db.close()
    return { runMs, ...status }
  }
}

// The bench's own cost: the memory child's loop with no store behind it (a get copies 100
// bytes, as lmdb's getBinary and SQLite do).
const NO_STORE = {
  async open () {
    return { get: (k) => Buffer.from(value(k.charCodeAt(15))), close () {} }
  }
}

async function child (argv) {
  const [what, storeName, dir, n, arg, seed] = argv
  const store = storeName === 'none' ? NO_STORE : STORES[storeName]
  if (!store || !children[what]) throw new Error(`usage: --child <${Object.keys(children).join('|')}> <store> <dir> <keys> [arg]`)
  // Load the store's module (and native addon) now, so that no clock below includes it.
  if (store !== NO_STORE) require(storeName === OURS ? '..' : storeName)
  const r = await children[what](store, dir, Number(n), Number(arg), Number(seed || 0))
  process.stdout.write(JSON.stringify(r) + '\n')
}

// ---------------------------------------------------------------------------------------------
// The parent.

function parseArgs (argv) {
  const o = {
    keys: null,
    runs: null,
    stores: DEFAULT_STORES,
    dir: null,
    gets: 1000000,
    puts: 1000,
    crashWrites: 100000,
    cgroupMb: 128,
    cgroupKeys: null,
    cgroupTimeout: 180,
    cgroup: true,
    keep: false,
    json: false,
    quick: false
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${a} needs a value`)
      return v
    }
    const nums = (v) => v.split(',').map((x) => {
      const k = Number(x.replace(/_/g, ''))
      if (!Number.isInteger(k) || k < 1) throw new Error(`${a}: not a positive integer: ${x}`)
      return k
    })
    if (a === '--quick') o.quick = true
    else if (a === '--keys') o.keys = nums(val())
    else if (a === '--runs') o.runs = nums(val())[0]
    else if (a === '--stores') o.stores = val().split(',')
    else if (a === '--dir') o.dir = val()
    else if (a === '--gets') o.gets = nums(val())[0]
    else if (a === '--puts') o.puts = nums(val())[0]
    else if (a === '--crash-writes') o.crashWrites = nums(val())[0]
    else if (a === '--cgroup-mb') o.cgroupMb = nums(val())[0]
    else if (a === '--cgroup-keys') o.cgroupKeys = nums(val())[0]
    else if (a === '--cgroup-timeout') o.cgroupTimeout = nums(val())[0]
    else if (a === '--no-cgroup') o.cgroup = false
    else if (a === '--keep') o.keep = true
    else if (a === '--json') o.json = true
    else if (a === '--help' || a === '-h') o.help = true
    else throw new Error(`unknown option ${a} (see --help)`)
  }
  return o
}

/** Fills in the defaults that depend on --quick. */
function withDefaults (o) {
  const r = { ...o }
  r.keys ||= r.quick ? [100000, 1000000] : [1000000, 10000000]
  r.runs ||= r.quick ? 3 : 5
  // Quick: the cgroup run at the smallest size, which fits in the limit (a store larger than
  // the limit thrashes for minutes); full: at the largest, as issue 15 asks.
  r.cgroupKeys ||= r.quick ? Math.min(...r.keys) : Math.max(...r.keys)
  for (const s of r.stores) if (!STORES[s]) throw new Error(`unknown store ${s} (one of ${Object.keys(STORES).join(', ')})`)
  return r
}

function log (msg) { process.stderr.write(msg + '\n') }

// The memory children run with a 1 MB young generation: with Node's default (16 MB
// semi-spaces) the loop's own garbage (1M key strings and values) holds about 35 MB of
// anonymous memory after gc(), which would drown what the stores hold.
const MEM_FLAGS = ['--max-semi-space-size=1']

function runChild (args, { timeoutMs = 0, prefix = null } = {}) {
  const flags = args[0] === 'mem' ? MEM_FLAGS : []
  const nodeArgs = ['--expose-gc', ...flags, __filename, '--child', ...args.map(String)]
  const cmd = prefix ? prefix.cmd : process.execPath
  const argv = prefix ? [...prefix.args, process.execPath, ...nodeArgs] : nodeArgs
  const t0 = process.hrtime.bigint()
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 20, timeout: timeoutMs || undefined, killSignal: 'SIGKILL' })
  const wallMs = ms(t0)
  const out = { status: r.status, signal: r.signal, wallMs, stderr: r.stderr, error: r.error }
  if (r.status === 0) out.result = JSON.parse(r.stdout.trim().split('\n').pop())
  return out
}

function mustChild (args) {
  const r = runChild(args, { timeoutMs: 30 * 60 * 1000 })
  if (!r.result) throw new Error(`child ${args.join(' ')} failed (${r.signal || r.status}):\n${r.stderr}`)
  return r.result
}

const DROP = `
import os, sys
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        fd = os.open(os.path.join(root, f), os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError:
            pass
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
`

/** Drops the page cache of every file under `dir`; false when that is not possible here. */
function dropCache (dir) {
  const r = spawnSync('python3', ['-c', DROP, dir])
  return r.status === 0
}

/** Every file under `dir` (recursively: lmdb keeps its files in a directory of its own). */
function walk (dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? walk(p) : e.isFile() ? [p] : []
  })
}

/** Bytes of the files under `dir` still in the page cache (`fincore`), or null without it. */
function residentBytes (dir) {
  const files = walk(dir)
  if (files.length === 0) return 0
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'RES', ...files], { encoding: 'utf8' })
  if (r.status !== 0) return null
  return r.stdout.trim().split('\n').reduce((a, l) => a + Number(l.trim() || 0), 0)
}

/** The files `<store>.srd-index*` beside simd-r-drive's store, with their sizes. */
function indexFiles (dir) {
  return fs.readdirSync(dir)
    .filter((f) => f.startsWith(STORE_FILE + '.srd-index'))
    .map((f) => ({ name: f, bytes: fs.statSync(path.join(dir, f)).size }))
}

/** Sizes of every file of a store's directory (names relative to it). */
function listFiles (dir) {
  return walk(dir).map((f) => ({ name: path.relative(dir, f), bytes: fs.statSync(f).size }))
}

// --- cgroups --------------------------------------------------------------------------------

/** The number after `name` at the start of a line of a cgroup's memory.stat, or null. */
function statField (text, name) {
  const m = text && new RegExp(`^${name} (\\d+)$`, 'm').exec(text)
  return m ? Number(m[1]) : null
}

function mounts () {
  return fs.readFileSync('/proc/mounts', 'utf8').trim().split('\n').map((l) => {
    const [dev, where, type, opts] = l.split(' ')
    return { dev, where, type, opts: opts.split(',') }
  })
}

/**
 * Creates a memory cgroup limited to `bytes` for one child process. Prefers cgroup v2 (a child
 * of the unified hierarchy's root, with the memory controller enabled in the root's
 * `cgroup.subtree_control`); falls back to cgroup v1's memory controller, in a child of this
 * process's own memory cgroup. Returns `{ ok: false, why }` when neither can be used.
 */
function makeCgroup (bytes) {
  const name = `srd-open-costs-${process.pid}`
  const reasons = []
  let all
  try { all = mounts() } catch (e) { return { ok: false, why: `cannot read /proc/mounts: ${e.message}` } }
  for (const m of all.filter((x) => x.type === 'cgroup2')) {
    const root = m.where
    let controllers = ''
    try { controllers = fs.readFileSync(path.join(root, 'cgroup.controllers'), 'utf8') } catch {}
    if (!controllers.split(/\s+/).includes('memory')) {
      reasons.push(`cgroup2 at ${root} has no memory controller (controllers: ${controllers.trim() || 'none'}; it is bound to a cgroup v1 hierarchy)`)
      continue
    }
    try {
      const sub = fs.readFileSync(path.join(root, 'cgroup.subtree_control'), 'utf8')
      if (!sub.split(/\s+/).includes('memory')) fs.writeFileSync(path.join(root, 'cgroup.subtree_control'), '+memory')
      const dir = path.join(root, name)
      fs.mkdirSync(dir)
      try {
        fs.writeFileSync(path.join(dir, 'memory.max'), String(bytes))
        if (fs.existsSync(path.join(dir, 'memory.swap.max'))) fs.writeFileSync(path.join(dir, 'memory.swap.max'), '0')
      } catch (e) { fs.rmdirSync(dir); throw e }
      return {
        ok: true,
        kind: `cgroup v2 ${dir}, memory.max = ${bytes}`,
        dir,
        procs: path.join(dir, 'cgroup.procs'),
        read () {
          const read = (f) => { try { return fs.readFileSync(path.join(dir, f), 'utf8') } catch { return null } }
          const events = Object.fromEntries((read('memory.events') || '').trim().split('\n').filter(Boolean).map((l) => {
            const [k, v] = l.split(' ')
            return [k, Number(v)]
          }))
          const peak = read('memory.peak')
          return { peakBytes: peak === null ? null : Number(peak), oom: events.oom ?? null, oomKill: events.oom_kill ?? null, majorFaults: statField(read('memory.stat'), 'pgmajfault'), events }
        },
        remove () { fs.rmdirSync(dir) }
      }
    } catch (e) {
      reasons.push(`cgroup2 at ${root}: ${e.message}`)
    }
  }
  const v1 = all.find((x) => x.type === 'cgroup' && x.opts.includes('memory'))
  if (v1) {
    try {
      const own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')
        .map((l) => l.split(':')).find((p) => p.length >= 3 && p[1].split(',').includes('memory'))
      const parent = path.join(v1.where, own ? own.slice(2).join(':') : '/')
      const dir = path.join(parent, name)
      fs.mkdirSync(dir)
      try {
        fs.writeFileSync(path.join(dir, 'memory.limit_in_bytes'), String(bytes))
      } catch (e) { fs.rmdirSync(dir); throw e }
      return {
        ok: true,
        kind: `cgroup v1 memory controller ${dir}, memory.limit_in_bytes = ${bytes} (${reasons.join('; ') || 'no usable cgroup2'})`,
        dir,
        procs: path.join(dir, 'cgroup.procs'),
        read () {
          const read = (f) => { try { return fs.readFileSync(path.join(dir, f), 'utf8') } catch { return null } }
          const oc = Object.fromEntries((read('memory.oom_control') || '').trim().split('\n').filter(Boolean).map((l) => {
            const [k, v] = l.split(' ')
            return [k, Number(v)]
          }))
          const peak = read('memory.max_usage_in_bytes')
          const failcnt = read('memory.failcnt')
          return {
            peakBytes: peak === null ? null : Number(peak),
            oom: null,
            oomKill: oc.oom_kill ?? null,
            majorFaults: statField(read('memory.stat'), 'pgmajfault'),
            events: { failcnt: failcnt === null ? null : Number(failcnt), ...oc }
          }
        },
        remove () { fs.rmdirSync(dir) }
      }
    } catch (e) {
      reasons.push(`cgroup v1 memory at ${v1.where}: ${e.message}`)
    }
  } else {
    reasons.push('no cgroup v1 memory hierarchy mounted')
  }
  return { ok: false, why: reasons.join('; ') }
}

/** Runs the memory child (open + random gets) inside a fresh memory cgroup. */
function cgroupRun (store, dir, n, o) {
  const cg = makeCgroup(o.cgroupMb * 1024 * 1024)
  if (!cg.ok) return { ran: false, why: cg.why }
  try {
    // Pages already cached are charged to whoever read them first: drop them, so that what
    // this child reads is charged to its own group.
    dropCache(dir)
    // The shell joins the group, then execs Node, so the whole process lives in it.
    const prefix = { cmd: 'sh', args: ['-c', 'echo $$ > "$0" && exec "$@"', cg.procs] }
    const r = runChild(['mem', store, dir, n, o.gets], { timeoutMs: o.cgroupTimeout * 1000, prefix })
    const stats = cg.read()
    const completed = r.status === 0 && !!r.result
    const timedOut = !completed && r.error && r.error.code === 'ETIMEDOUT'
    return {
      ran: true,
      kind: cg.kind,
      completed,
      timedOut: !!timedOut,
      exit: r.signal || r.status,
      ms: completed ? r.result.runMs : r.wallMs,
      stderr: completed ? undefined : (r.stderr || '').slice(-400),
      ...stats
    }
  } finally {
    cg.remove()
  }
}

// --- measuring ------------------------------------------------------------------------------

/**
 * Loads every store at every key count and measures it. Returns the samples:
 * `{ options, machine, bare: {...}, sizes: { [keys]: { [store]: {...} } } }`.
 */
function measure (options) {
  const o = withDefaults(options)
  if (o.dir) fs.mkdirSync(o.dir, { recursive: true })
  const base = o.dir ? path.resolve(o.dir) : fs.mkdtempSync(path.join(os.tmpdir(), 'srd-open-costs-'))
  const made = []
  const cleanup = () => {
    if (o.keep) return
    for (const d of made) fs.rmSync(d, { recursive: true, force: true })
    if (!o.dir) fs.rmSync(base, { recursive: true, force: true })
  }
  const onSignal = () => { cleanup(); process.exit(130) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const out = { options: o, machine: machine(base, o.stores), bare: null, sizes: {}, notes: [] }
  const started = Date.now()
  try {
    // A bare Node process: nothing required, nothing opened.
    const bare = []
    for (let r = 0; r < o.runs; r++) {
      const b = spawnSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify((${procStatus})()))`], { encoding: 'utf8' })
      if (b.status === 0) bare.push(JSON.parse(b.stdout))
    }
    out.bare = { anonShmem: bare.map((b) => b.rssAnon + b.rssShmem), vmRss: bare.map((b) => b.vmRss) }
    // The memory child's loop with no store (key 0 is never read: the fake get ignores it).
    out.harness = []
    for (let r = 0; r < o.runs; r++) out.harness.push(mustChild(['mem', 'none', base, 1000000, o.gets]))
    const canDrop = dropCache(base)
    if (!canDrop) out.notes.push('python3 posix_fadvise failed: the "page cache dropped" figures are missing.')

    for (const n of o.keys) {
      const per = (out.sizes[n] = {})
      const dirs = {}
      for (const s of o.stores) {
        const dir = path.join(base, `${s}-${n}`)
        fs.rmSync(dir, { recursive: true, force: true })
        fs.mkdirSync(dir, { recursive: true })
        made.push(dir)
        dirs[s] = dir
        log(`${s} ${n} keys: bulk load`)
        const { loadMs } = mustChild(['load', s, dir, n])
        per[s] = {
          loadMs,
          diskBytes: diskBytes(dir),
          files: listFiles(dir),
          index: s === OURS ? indexFiles(dir) : null,
          loaded: { warm: [], cold: [], residentAfterDrop: [] },
          afterPuts: { warm: [], cold: [], residentAfterDrop: [] },
          afterCrash: { warm: [], cold: [] },
          closeMs: [],
          mem: [],
          cgroup: null
        }
        log(`  ${(loadMs / 1000).toFixed(1)} s, ${(per[s].diskBytes / 1e6).toFixed(0)} MB: ${per[s].files.map((f) => `${f.name} ${f.bytes}`).join(', ')}`)
      }

      const openSeries = (scenario) => {
        for (const s of o.stores) mustChild(['open', s, dirs[s], n]) // warm-up, not counted
        for (let r = 0; r < o.runs; r++) {
          for (const s of o.stores) {
            const x = mustChild(['open', s, dirs[s], n])
            per[s][scenario].warm.push(x)
            log(`${s} ${n} ${scenario} warm: open ${x.openMs.toFixed(2)} ms, open + get ${x.openGetMs.toFixed(2)} ms`)
          }
        }
        if (!canDrop) return
        for (let r = 0; r < o.runs; r++) {
          for (const s of o.stores) {
            dropCache(dirs[s])
            per[s][scenario].residentAfterDrop.push(residentBytes(dirs[s]))
            const x = mustChild(['open', s, dirs[s], n])
            per[s][scenario].cold.push(x)
            log(`${s} ${n} ${scenario} cold: open ${x.openMs.toFixed(2)} ms, open + get ${x.openGetMs.toFixed(2)} ms`)
          }
        }
      }
      const closeAfterPuts = (s, r) => {
        const x = mustChild(['puts', s, dirs[s], n, o.puts, r + 1])
        per[s].closeMs.push(x.closeMs)
        log(`${s} ${n} close after ${o.puts} puts: ${x.closeMs.toFixed(2)} ms`)
      }

      openSeries('loaded')
      // The first close-after-puts process makes scenario "after puts"; the others follow its
      // measurements (each adds --puts more overwrites).
      for (const s of o.stores) closeAfterPuts(s, 0)
      for (const s of o.stores) per[s].indexAfterPuts = s === OURS ? indexFiles(dirs[s]) : null
      openSeries('afterPuts')
      for (let r = 1; r < o.runs; r++) for (const s of o.stores) closeAfterPuts(s, r)

      // Open after a kill -9 that followed --crash-writes overwrites (a fresh crash before
      // each open: the open's close saves the index again).
      for (const drop of canDrop ? [false, true] : [false]) {
        for (let r = 0; r < o.runs; r++) {
          for (const s of o.stores) {
            const c = runChild(['crash', s, dirs[s], n, o.crashWrites, 1000 + r * 2 + (drop ? 1 : 0)])
            if (c.signal !== 'SIGKILL') throw new Error(`crash child of ${s} ended with ${c.signal || c.status}:\n${c.stderr}`)
            if (drop) dropCache(dirs[s])
            const x = mustChild(['open', s, dirs[s], n])
            per[s].afterCrash[drop ? 'cold' : 'warm'].push(x)
            log(`${s} ${n} after kill -9 (${drop ? 'cold' : 'warm'}): open + get ${x.openGetMs.toFixed(2)} ms${x.replayed === null ? '' : `, ${x.replayed} entries replayed`}`)
          }
        }
      }

      for (let r = 0; r < o.runs; r++) {
        for (const s of o.stores) {
          const x = mustChild(['mem', s, dirs[s], n, o.gets])
          per[s].mem.push(x)
          log(`${s} ${n} memory after open + ${o.gets} gets: anon+shmem ${(x.rssAnon + x.rssShmem) / 1e6} MB, RSS ${x.vmRss / 1e6} MB (${(x.runMs / 1000).toFixed(2)} s)`)
        }
      }

      if (o.cgroup && n === o.cgroupKeys) {
        for (const s of o.stores) {
          log(`${s} ${n} in a ${o.cgroupMb} MB memory cgroup: open + ${o.gets} gets`)
          per[s].cgroup = cgroupRun(s, dirs[s], n, o)
          log(`  ${JSON.stringify(per[s].cgroup)}`)
        }
      }

      if (!o.keep) {
        for (const s of o.stores) fs.rmSync(dirs[s], { recursive: true, force: true })
      }
    }
  } finally {
    cleanup()
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
  }
  out.minutes = (Date.now() - started) / 60000
  if (o.cgroup && !o.keys.includes(o.cgroupKeys)) out.notes.push(`--cgroup-keys ${o.cgroupKeys} is not among --keys: no cgroup run.`)
  return out
}

// --- reporting ------------------------------------------------------------------------------

function num (v, unit) {
  if (v === undefined || v === null || Number.isNaN(v)) return 'n/a'
  if (unit === 'MB') v = v / 1e6
  const a = Math.abs(v)
  if (a >= 1e4) return `${(v / 1e3).toFixed(0)}k`
  if (a >= 100) return v.toFixed(0)
  if (a >= 10) return v.toFixed(1)
  return v.toFixed(2)
}

function fmtCount (n) {
  return n >= 1e6 && n % 1e5 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 100 === 0 ? `${n / 1e3}k` : String(n)
}

/**
 * The table's rows for the stores given (in that order; a store that was not measured shows
 * n/a): `[{ label, cells: [string], ratio: string }]`. `ratio` is simd-r-drive's advantage over
 * the best other store (above 1 = faster or smaller), for numeric rows.
 */
function rows (res, storeNames) {
  const o = res.options
  const out = []
  const bareAnon = res.bare && res.bare.anonShmem.length ? median(res.bare.anonShmem) : null
  const numericRow = (label, unit, samples) => {
    const cells = []
    const med = {}
    for (const s of storeNames) {
      const xs = (samples(s) || []).filter((v) => typeof v === 'number' && !Number.isNaN(v))
      if (xs.length === 0) { cells.push('n/a'); continue }
      med[s] = median(xs)
      const lo = Math.min(...xs)
      const hi = Math.max(...xs)
      cells.push(xs.length === 1 ? num(med[s], unit) : `${num(med[s], unit)} (${num(lo, unit)}–${num(hi, unit)})`)
    }
    const peers = storeNames.filter((s) => s !== OURS && med[s] !== undefined && med[s] > 0)
    let ratio = 'n/a'
    if (med[OURS] > 0 && peers.length > 0) ratio = `${(Math.min(...peers.map((p) => med[p])) / med[OURS]).toFixed(2)}×`
    out.push({ label, cells, ratio })
  }
  for (const n of o.keys) {
    const per = res.sizes[n] || {}
    const k = fmtCount(n)
    const get = (s) => per[s]
    for (const [scenario, what] of [['loaded', 'bulk-loaded'], ['afterPuts', `after ${fmtCount(o.puts)} puts`]]) {
      numericRow(`O2 open + first get, ${k} keys, ${what}, warm, ms`, '', (s) => get(s)?.[scenario].warm.map((x) => x.openGetMs))
      numericRow(`O2 open + first get, ${k} keys, ${what}, page cache dropped, ms`, '', (s) => get(s)?.[scenario].cold.map((x) => x.openGetMs))
    }
    const crashed = `after kill -9 with ${fmtCount(o.crashWrites)} writes since the last close`
    numericRow(`O3 open + first get, ${k} keys, ${crashed}, warm, ms`, '', (s) => get(s)?.afterCrash.warm.map((x) => x.openGetMs))
    numericRow(`O3 open + first get, ${k} keys, ${crashed}, page cache dropped, ms`, '', (s) => get(s)?.afterCrash.cold.map((x) => x.openGetMs))
    numericRow(`O3 entries that open replayed, ${k} keys (the writes since the index files last covered the log)`, '', (s) => get(s)?.afterCrash.warm.concat(get(s).afterCrash.cold).map((x) => x.replayed))
    const gets = fmtCount(o.gets)
    numericRow(`M1 RssAnon + RssShmem after open + ${gets} random gets, ${k} keys, MB`, 'MB', (s) => get(s)?.mem.map((x) => x.rssAnon + x.rssShmem))
    numericRow(`M1 the same minus a bare Node process (${num(bareAnon, 'MB')} MB), ${k} keys, MB`, 'MB', (s) => bareAnon === null ? null : get(s)?.mem.map((x) => x.rssAnon + x.rssShmem - bareAnon))
    numericRow(`M1 total RSS after open + ${gets} random gets, ${k} keys, MB`, 'MB', (s) => get(s)?.mem.map((x) => x.vmRss))
    numericRow(`C2 close() after ${fmtCount(o.puts)} puts, ${k} keys, ms`, '', (s) => get(s)?.closeMs)
    numericRow(`I1 index on disk (${STORE_FILE}.srd-index*) after bulk load, ${k} keys, bytes/key`, '', (s) => s === OURS && get(s) ? [get(s).index.reduce((a, f) => a + f.bytes, 0) / n] : null)
    numericRow(`I1 index on disk (${STORE_FILE}.srd-index*) after ${fmtCount(o.puts)} puts, ${k} keys, bytes/key`, '', (s) => s === OURS && get(s)?.indexAfterPuts ? [get(s).indexAfterPuts.reduce((a, f) => a + f.bytes, 0) / n] : null)
    numericRow(`D1 all files after bulk load, ${k} keys, bytes/key`, '', (s) => get(s) ? [get(s).diskBytes / n] : null)
    if (o.cgroup && n === o.cgroupKeys) {
      const cells = storeNames.map((s) => {
        const c = get(s)?.cgroup
        if (!c) return 'n/a'
        if (!c.ran) return 'cgroups not usable'
        const peak = c.peakBytes === null ? 'peak n/a' : `peak ${num(c.peakBytes, 'MB')} MB`
        const ooms = `oom_kill ${c.oomKill ?? 'n/a'}, ${c.majorFaults ?? 'n/a'} major faults`
        if (c.completed) return `completed, ${num(c.ms / 1000)} s, ${peak}, ${ooms}`
        if (c.timedOut) return `timed out after ${num(c.ms / 1000)} s, ${peak}, ${ooms}`
        return `failed (${c.exit}) after ${num(c.ms / 1000)} s, ${peak}, ${ooms}`
      })
      out.push({ label: `G1 open + ${gets} random gets in a ${o.cgroupMb} MB memory cgroup, ${k} keys`, cells, ratio: 'n/a' })
    }
  }
  return out
}

/** Notes to print under the table: what the cgroup was, what stayed cached, the index files. */
function notes (res) {
  const o = res.options
  const lines = [...res.notes]
  if (res.bare) lines.push(`Bare Node process (node -e, nothing required): RssAnon + RssShmem ${num(median(res.bare.anonShmem), 'MB')} MB, RSS ${num(median(res.bare.vmRss), 'MB')} MB.`)
  if (res.harness?.length) {
    lines.push(`Memory rows: the child runs Node with ${MEM_FLAGS.join(' ')} and calls gc() before reading /proc/self/status; the same loop with no store ` +
      `(each get copies 100 bytes) ends at RssAnon + RssShmem ${num(median(res.harness.map((x) => x.rssAnon + x.rssShmem)), 'MB')} MB, RSS ${num(median(res.harness.map((x) => x.vmRss)), 'MB')} MB.`)
  }
  for (const n of o.keys) {
    for (const [s, r] of Object.entries(res.sizes[n] || {})) {
      const resident = [...r.loaded.residentAfterDrop, ...r.afterPuts.residentAfterDrop].filter((v) => v !== null)
      if (resident.length) lines.push(`${s}, ${fmtCount(n)} keys: at most ${num(Math.max(...resident) / 1024)} KiB of the store's files stayed in the page cache after a drop (fincore); load took ${num(r.loadMs / 1000)} s; files: ${r.files.map((f) => `${f.name} ${f.bytes} B`).join(', ')}.`)
      if (r.cgroup && !r.cgroup.ran) lines.push(`${o.cgroupMb} MB cgroup not run: ${r.cgroup.why}.`)
      else if (r.cgroup) {
        lines.push(`The ${o.cgroupMb} MB memory cgroup: ${r.cgroup.kind.replace(/-\d+,/, '-<pid>,')}; the store's page cache is dropped before each run, so that what the child reads is charged to it.`)
        lines.push(`${s}, ${fmtCount(n)} keys, in the cgroup: ${r.cgroup.completed ? 'completed' : `exit ${r.cgroup.exit}`}; counters ${JSON.stringify(r.cgroup.events)}${r.cgroup.completed ? '' : `; stderr: ${JSON.stringify((r.cgroup.stderr || '').trim().split('\n').pop())}`}.`)
      }
    }
  }
  return [...new Set(lines)]
}

function machine (dir, storeNames) {
  let cpu = os.cpus()[0]?.model || 'unknown CPU'
  try {
    const m = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))
    if (m) cpu = m[1]
  } catch {}
  let fsType = 'unknown'
  try {
    fsType = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout.trim() || fsType
  } catch {}
  const versions = storeNames.map((s) => `${s} ${STORES[s].version()}`).join(', ')
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ` +
    `${os.type()} ${os.release()}, filesystem ${fsType}; Node ${process.version}; ${versions}`
}

/** The whole report as Markdown, in the style of bench/RESULTS.md. */
function markdown (res) {
  const o = res.options
  const names = o.stores
  const lines = [
    `Machine: ${res.machine}.`,
    '',
    `Medians of ${o.runs} fresh processes (min–max in parentheses); ${o.keys.map(fmtCount).join(' and ')} keys of 16 B with 100 B values, ` +
      `each store bulk-loaded once and reused; took ${num(res.minutes)} min. Open + first get is timed in the child from just before open to after ` +
      'the first get (Node start and require excluded); "page cache dropped" = fsync + posix_fadvise(DONTNEED) on every file of the store\'s directory. ' +
      'The last column is simd-r-drive\'s advantage over the best peer (above 1 = faster or smaller).',
    '',
    `| workload | ${names.join(' | ')} | ${OURS} ÷ best peer |`,
    `|---|${names.map(() => '---:').join('|')}|---:|`
  ]
  for (const r of rows(res, names)) lines.push(`| ${r.label} | ${r.cells.join(' | ')} | ${r.ratio} |`)
  const ns = notes(res)
  if (ns.length) lines.push('', ...ns.map((l) => `- ${l}`))
  return lines.join('\n') + '\n'
}

const HELP = fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 26).map((l) => l.replace(/^\/\/ ?/, '')).join('\n')

if (require.main === module) {
  if (process.argv[2] === '--child') {
    child(process.argv.slice(3)).catch((e) => { console.error(e); process.exit(1) })
  } else {
    let o
    try { o = parseArgs(process.argv.slice(2)) } catch (e) { console.error(e.message); process.exit(2) }
    if (o.help) {
      process.stdout.write(HELP + '\n')
    } else {
      const res = measure(o)
      process.stdout.write(o.json ? JSON.stringify(res, null, 2) + '\n' : '\n' + markdown(res))
    }
  }
}

module.exports = { measure, rows, notes, markdown, parseArgs, DEFAULT_STORES }
