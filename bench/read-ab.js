'use strict'
// Random get and getMany of two builds of simd-r-drive, interleaved in one process (each a
// checkout with its addon built), so that the machine's drift cancels out of their ratio:
//   node bench/read-ab.js <base tree> <new tree> [reopen: 0|1|2]
// Each build bulk-loads 1M keys (16 B, 100 B values) into a store of its own; with reopen=1
// the store is closed and reopened first (reads then go through the index file); with
// reopen=2, as engine_bench does, it is then given 3 rounds of 1,000 puts, each closed and
// reopened (reads then go through the index file and a delta of 3,000 keys). Then 9
// rounds alternate the builds: 300k random gets, then the same keys by getMany of 1,000.
// Prints the medians and the median of the per-round ratios new/base.
const fs = require('fs'); const os = require('os'); const path = require('path')
const trees = { base: path.resolve(process.argv[2]), main: path.resolve(process.argv[3]) }
const N = 1000000
const ROUNDS = 9
const READS = 300000
const key = (i) => 'k' + String(i).padStart(15, '0')
const reopen = Number(process.argv[4] || 0)
;(async () => {
  const stores = {}
  for (const [name, t] of Object.entries(trees)) {
    const { Store } = require(t)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abi-'))
    const p = path.join(dir, 'd.srd')
    let s = await Store.open(p)
    for (let b = 0; b < N; b += 100000) {
      const e = []
      for (let i = b; i < b + 100000; i++) e.push([key(i), Buffer.alloc(100, i & 255)])
      s.putManySync(e)
    }
    if (reopen) { await s.close(); s = await Store.open(p) }
    for (let run = 0; reopen === 2 && run < 3; run++) {
      for (let i = 0; i < 1000; i++) s.putSync(key(((run * 1000 + i) * 7919) % N), Buffer.alloc(100, run))
      await s.close(); s = await Store.open(p)
    }
    stores[name] = { s, dir }
  }
  const keys = Array.from({ length: N }, (_, i) => key(i))
  let x = 12345
  const order = new Uint32Array(READS)
  for (let i = 0; i < READS; i++) { x = (x * 1103515245 + 12345) >>> 0; order[i] = x % N }
  const res = { get: { base: [], main: [] }, getMany: { base: [], main: [] } }
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of (r % 2 ? ['main', 'base'] : ['base', 'main'])) {
      const s = stores[name].s
      let t0 = process.hrtime.bigint(); let touched = 0
      for (let i = 0; i < READS; i++) { const v = s.get(keys[order[i]]); touched += v[0] + v[99] }
      res.get[name].push(READS / (Number(process.hrtime.bigint() - t0) / 1e9))
      t0 = process.hrtime.bigint()
      for (let i = 0; i < READS; i += 1000) {
        const ks = []
        for (let j = i; j < i + 1000; j++) ks.push(keys[order[j]])
        for (const v of s.getMany(ks)) touched += v[0]
      }
      res.getMany[name].push(READS / (Number(process.hrtime.bigint() - t0) / 1e9))
      if (touched < 0) throw new Error('x')
    }
  }
  const med = (a) => { const b = [...a].sort((p, q) => p - q); return b[b.length >> 1] }
  for (const w of ['get', 'getMany']) {
    const ratios = res.get.base.map((_, i) => res[w].main[i] / res[w].base[i])
    console.log(`${w} reopen=${reopen}: base ${Math.round(med(res[w].base))}/s, new ${Math.round(med(res[w].main))}/s, median pair ratio new/base ${med(ratios).toFixed(3)} (pairs ${ratios.map((r) => r.toFixed(2)).join(' ')})`)
  }
  for (const { s, dir } of Object.values(stores)) { await s.close(); fs.rmSync(dir, { recursive: true, force: true }) }
})()
