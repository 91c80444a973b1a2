'use strict'
// bench/open-costs.js (issue 15's open / memory / close rows) at a tiny size: every figure it
// reports is measured, and the stores it built are gone afterwards. Timings are not checked.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { tmpDir, runProcess } = require('./helpers.js')
const openCosts = require('../bench/open-costs.js')

const SCRIPT = path.join(__dirname, '..', 'bench', 'open-costs.js')

/** Whether the native package `name` loads in this Node (its ABI). */
function loads (name) {
  try {
    const Database = require(name)
    new Database(':memory:').close()
    return true
  } catch {
    return false
  }
}

/** Runs the benchmark script with `args`; resolves with { code, out, err }. */
const run = (args) => runProcess(process.execPath, [SCRIPT, ...args])

test('open-costs measures open + first get, memory, close and index size for each store, then deletes its stores', async (t) => {
  const dir = tmpDir()
  // SQLite's native module is built for the Node version that installed it: under the test
  // matrix's other Node versions it cannot load, and the bench is then checked without it.
  const stores = ['simd-r-drive']
  if (loads('better-sqlite3')) stores.push('better-sqlite3')
  else t.log(`better-sqlite3 does not load under Node ${process.version}: simd-r-drive only`)
  const r = await run(['--keys', '60000', '--runs', '1', '--gets', '2000', '--crash-writes', '5000', '--stores', stores.join(','), '--no-cgroup', '--json', '--dir', dir])
  t.is(r.code, 0, r.err)
  const res = JSON.parse(r.out)
  t.deepEqual(res.options.keys, [60000])
  for (const s of stores) {
    const m = res.sizes[60000][s]
    for (const scenario of ['loaded', 'afterPuts']) {
      t.is(m[scenario].warm.length, 1, `${s} ${scenario} warm`)
      t.true(m[scenario].warm[0].openGetMs >= m[scenario].warm[0].openMs, `${s} ${scenario}: open + get includes open`)
      t.true(m[scenario].warm[0].openMs > 0)
      t.is(m[scenario].cold.length, 1, `${s} ${scenario} cold (python3 posix_fadvise)`)
    }
    for (const kind of ['warm', 'cold']) {
      t.is(m.afterCrash[kind].length, 1, `${s} after kill -9, ${kind}`)
      t.true(m.afterCrash[kind][0].openGetMs > 0)
      // The open after the kill replays exactly the 5,000 overwrites the killed process made.
      if (s === 'simd-r-drive') t.is(m.afterCrash[kind][0].replayed, 5000)
    }
    t.is(m.closeMs.length, 1)
    t.true(m.closeMs[0] > 0)
    t.is(m.mem.length, 1)
    t.true(m.mem[0].rssAnon > 0 && m.mem[0].vmRss > m.mem[0].rssAnon, `${s} memory read from /proc/self/status`)
    t.true(m.diskBytes > 60000 * 100, `${s} holds 60,000 values of 100 bytes`)
  }
  // 60,000 keys is above the size at which today's close saves the index beside the store;
  // whatever the engine writes there is counted.
  const index = res.sizes[60000]['simd-r-drive'].index
  t.true(index.length > 0 && index.every((f) => f.name.startsWith('data.srd.srd-index') && f.bytes > 0), JSON.stringify(index))
  t.deepEqual(fs.readdirSync(dir), [], 'the stores are deleted at the end')

  // The rows name every store asked for; one not measured shows n/a.
  const rows = openCosts.rows(res, ['simd-r-drive', 'lmdb', 'better-sqlite3'])
  const open = rows.find((x) => x.label.startsWith('O2 open + first get, 60k keys, bulk-loaded, warm'))
  t.truthy(open)
  t.regex(open.cells[0], /^\d/)
  t.is(open.cells[1], 'n/a')
  if (stores.includes('better-sqlite3')) {
    t.regex(open.cells[2], /^\d/)
    t.regex(open.ratio, /^\d+\.\d\d×$/)
  } else {
    t.is(open.cells[2], 'n/a')
  }
  const idx = rows.find((x) => x.label.startsWith('I1 index on disk') && x.label.includes('after bulk load'))
  t.true(Math.abs(Number(idx.cells[0]) - index.reduce((a, f) => a + f.bytes, 0) / 60000) < 0.1, idx.cells[0])
  t.regex(openCosts.markdown(res), new RegExp(`\\| workload \\| ${stores.join(' \\| ')} \\|`))
})

test('open-costs rejects an unknown option or store before building anything', async (t) => {
  const r = await run(['--keys', '1000', '--bogus'])
  t.is(r.code, 2)
  t.regex(r.err, /unknown option --bogus/)
  t.throws(() => openCosts.measure(openCosts.parseArgs(['--stores', 'nosuch'])), { message: /unknown store nosuch/ })
})
