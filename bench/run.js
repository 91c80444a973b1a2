'use strict'
// The benchmark: every store x workload x repetition in its own Node process on a fresh
// directory, stores interleaved (A B C D A B C D ...), medians reported with min-max.
//
//   npm run bench                 full run; writes bench/RESULTS.md
//   BENCH_QUICK=1 npm run bench   about two minutes; prints the table only
//   BENCH_STORES=simd-r-drive,lmdb BENCH_ONLY=r1,w2 npm run bench   a subset
//   BENCH_ONLY=open npm run bench  only the open / memory / close rows of bench/open-costs.js
//     (1M and 10M keys, 5 processes each; quick: 100k and 1M, 3; BENCH_OPEN_KEYS=100000,1000000
//     and BENCH_OPEN_RUNS=3 set them; run it alone with npm run bench:open -- --help)
//   BENCH_ONLY=cache npm run bench  only the cache workload of bench/cache.js (through Keyv;
//     run it alone with node bench/cache.js --help)

const { spawnSync, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const sizes = require('./sizes.js')
const { STORES } = require('./stores.js')
const openCosts = require('./open-costs.js')
const cacheBench = require('./cache.js')
const { figure, median } = require('./report.js')

const OURS = 'simd-r-drive'
const storeNames = (process.env.BENCH_STORES || Object.keys(STORES).join(',')).split(',')
const dataRoot = process.env.BENCH_DIR || path.join(__dirname, 'data')

// Each row: a workload, the metric it reports, whether higher is better, and how to show it.
const ROWS = [
  { w: 'w1', m: 'opsPerSec', label: `W1 bulk load ${fmtCount(sizes.N)} × (16 B key, 100 B value), entries/s` },
  { w: 'w1', m: 'diskBytes', lower: true, unit: 'MB', label: 'W1 file size on disk, MB' },
  { w: 'w1', m: 'peakRssBytes', lower: true, unit: 'MB', label: 'W1 peak RSS, MB' },
  { w: 'w2', m: 'opsPerSec', label: `W2 ${fmtCount(sizes.WRITES)} awaited puts, default durability, ops/s` },
  { w: 'w2sync', m: 'opsPerSec', label: `W2 ${fmtCount(sizes.SYNC_WRITES)} awaited puts, fsync each, ops/s` },
  { w: 'w3', m: 'opsPerSec', label: `W3 ${fmtCount(sizes.WRITES)} durable puts, 1000 in flight, ops/s` },
  { w: 'r1', m: 'opsPerSec', label: 'R1 random sync get, 100 B (lmdb getBinary), ops/s' },
  { w: 'r1fast', m: 'opsPerSec', label: 'R1 random sync get, 100 B (lmdb getBinaryFast), ops/s', only: [OURS, 'lmdb'] },
  { w: 'r1json', m: 'opsPerSec', label: 'R1 random sync get, small JSON object ({ id, name, tags }), JSON encoding both sides (lmdb encoding: \'json\'), ops/s', only: [OURS, 'lmdb'] },
  { w: 'r1async', m: 'opsPerSec', label: 'R1 random awaited async get, 100 B, ops/s' },
  { w: 'r2k4', m: 'opsPerSec', label: 'R2 random get, 4 KiB values, ops/s' },
  { w: 'r2m1', m: 'opsPerSec', label: 'R2 random get, 1 MiB values, ops/s' },
  { w: 's1', m: 'opsPerSec', label: 'S1 full scan, entries/s' },
  { w: 'o1', m: 'warmMs', lower: true, label: 'O1 open + one read, warm cache, ms' },
  { w: 'o1', m: 'coldMs', lower: true, label: 'O1 open + one read, after fadvise(DONTNEED), ms' },
  { w: 'c1', m: 'mbPerSec', label: 'C1 compaction after overwriting half, MB/s' },
  { w: 'c1', m: 'worstDelayMs', lower: true, label: 'C1 worst event-loop delay during compaction, ms' }
]

function fmtCount (n) {
  return n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n)
}

function runOne (store, workload, rep) {
  const dir = path.join(dataRoot, `${store}-${workload}-${rep}`)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'worker.js'), store, workload, dir], {
    encoding: 'utf8',
    env: { ...process.env },
    maxBuffer: 1 << 20
  })
  fs.rmSync(dir, { recursive: true, force: true })
  if (r.status !== 0) {
    process.stderr.write(`  ${store} ${workload}: failed\n${r.stderr}\n`)
    return undefined
  }
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

function machine () {
  let cpu = os.cpus()[0]?.model || 'unknown CPU'
  try {
    const m = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))
    if (m) cpu = m[1]
  } catch {}
  let fsType = 'unknown'
  try {
    fsType = execFileSync('stat', ['-f', '-c', '%T', dataRoot], { encoding: 'utf8' }).trim()
  } catch {}
  const versions = storeNames.map((s) => `${s} ${STORES[s].version()}`).join(', ')
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ` +
    `${os.type()} ${os.release()}, filesystem ${fsType}; Node ${process.version}; ${versions}`
}

/** The rows of bench/open-costs.js (open at 1M and 10M keys, memory, close), or null. */
function measureOpenCosts (only) {
  if (only && !only.includes('open')) return null
  const stores = storeNames.filter((s) => openCosts.DEFAULT_STORES.includes(s))
  if (stores.length === 0) return null
  const o = openCosts.parseArgs([
    ...(sizes.quick ? ['--quick'] : []),
    ...(process.env.BENCH_OPEN_KEYS ? ['--keys', process.env.BENCH_OPEN_KEYS] : []),
    ...(process.env.BENCH_OPEN_RUNS ? ['--runs', process.env.BENCH_OPEN_RUNS] : []),
    ...(process.env.BENCH_DIR ? ['--dir', dataRoot] : []),
    '--stores', stores.join(',')
  ])
  return openCosts.measure(o)
}

function main () {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 13).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n')
    return
  }
  fs.mkdirSync(dataRoot, { recursive: true })
  const only = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : null
  const workloads = [...new Set(ROWS.map((r) => r.w))].filter((w) => !only || only.includes(w))
  const results = {}
  const started = Date.now()
  for (let rep = 0; rep < sizes.REPS; rep++) {
    for (const w of workloads) {
      const row = ROWS.find((r) => r.w === w)
      for (const s of storeNames) {
        if (row.only && !row.only.includes(s)) continue
        const r = runOne(s, w, rep)
        process.stderr.write(`rep ${rep + 1}/${sizes.REPS} ${w} ${s}: ${r === undefined ? 'failed' : JSON.stringify(r)}\n`)
        if (r) ((results[w] ||= {})[s] ||= []).push(r)
      }
    }
  }
  const open = measureOpenCosts(only)
  // The cache workload (K rows): its own stores (Keyv adapters) and sizes.
  const cache = !only || only.includes('cache') ? cacheBench.measure(cacheBench.parseArgs(['--dir', dataRoot])) : null
  const peers = storeNames.filter((s) => s !== OURS)
  const lines = []
  lines.push(`| workload | ${storeNames.join(' | ')} | ${OURS} ÷ best peer |`)
  lines.push(`|---|${storeNames.map(() => '---:').join('|')}|---:|`)
  const ratios = []
  for (const row of ROWS) {
    if (!workloads.includes(row.w)) continue
    const cells = []
    const med = {}
    for (const s of storeNames) {
      const rs = (results[row.w]?.[s] || []).map((r) => r[row.m]).filter((v) => typeof v === 'number')
      if (rs.length === 0) { cells.push('n/a'); continue }
      med[s] = median(rs)
      const lo = Math.min(...rs)
      const hi = Math.max(...rs)
      cells.push(`${figure(med[s], row.unit)} (${figure(lo, row.unit)}–${figure(hi, row.unit)})`)
    }
    const peerMeds = peers.map((p) => med[p]).filter((v) => v !== undefined)
    let ratio = 'n/a'
    if (med[OURS] !== undefined && peerMeds.length > 0) {
      const best = row.lower ? Math.min(...peerMeds) : Math.max(...peerMeds)
      const x = row.lower ? best / med[OURS] : med[OURS] / best
      ratio = `${x.toFixed(2)}×`
      ratios.push({ label: row.label, ratio: x })
    }
    lines.push(`| ${row.label} | ${cells.join(' | ')} | ${ratio} |`)
  }
  if (open) {
    for (const r of openCosts.rows(open, storeNames)) lines.push(`| ${r.label} | ${r.cells.join(' | ')} | ${r.ratio} |`)
    lines.push('', `Rows O2–G1 (bench/open-costs.js): each store bulk-loaded once per key count and reused; medians of ${open.options.runs} fresh processes; ` +
      'open + first get timed from just before open to after the first get (Node start and require excluded); "page cache dropped" = fsync + ' +
      'posix_fadvise(DONTNEED) on every file of the store\'s directory.', '', ...openCosts.notes(open).map((l) => `- ${l}`))
  }
  const minutes = ((Date.now() - started) / 60000).toFixed(1)
  const header = [
    `Machine: ${machine()}.`,
    '',
    `Medians of ${sizes.REPS} runs (min–max in parentheses), each store × workload × run in its own process on a fresh directory, stores interleaved; ` +
      `${sizes.quick ? 'quick sizes (BENCH_QUICK=1)' : 'full sizes'}; took ${minutes} min. The last column is simd-r-drive's advantage over the best peer ` +
      '(above 1 = faster or smaller). "Default durability": each store\'s default (lmdb syncs every commit; simd-r-drive and classic-level hand writes to the OS; SQLite WAL with synchronous=NORMAL). ' +
      'Reads touch the first and last byte of every value. R1 async: classic-level\'s `get` promise; simd-r-drive has no separate async read (reads never wait for I/O), so its row awaits the sync `get` inside an async function, as an async caller such as Keyv does.',
    ''
  ]
  if (cache) lines.push('', '### Cache workload (bench/cache.js)', '', ...cacheBench.table(cache))
  const table = header.concat(lines).join('\n') + '\n'
  process.stdout.write('\n' + table)
  if (!sizes.quick && !process.env.BENCH_ONLY && !process.env.BENCH_STORES) {
    fs.writeFileSync(path.join(__dirname, 'RESULTS.md'), `# Benchmark results\n\nProduced by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}.\n\n${table}`)
    process.stdout.write('\nwrote bench/RESULTS.md\n')
  }
}

main()
