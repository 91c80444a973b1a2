'use strict'
// Where the first zero-copy get after an open spends its time, in this fresh process:
//   node --trace-gc bench/first-window.js <store file> <key>
// Times `Store.open`, then one `get`, with every call into the addon timed (the first get
// of a mapping makes its window, an external Buffer over the mapped file, in `window`).
// Run it several times: whether V8 reacts to the window's external memory inside that call
// (starting incremental marking) or later (a mark-compact after the get) varies by run.
// A handle's first reads of small values are copies (FIRST_COPIES in lib/read.js): run it
// with SIMD_R_DRIVE_FIRST_COPIES=0 to time the window a first view makes, without to time
// what a first get does now.
const { timeNativeCalls } = require('./native-calls.js')
const calls = []
timeNativeCalls((name, ms) => calls.push(`${name} ${ms.toFixed(2)} ms`))
const { Store } = require('..')
const [file, key] = process.argv.slice(2)
if (!file || !key) {
  console.error('usage: node [--trace-gc] bench/first-window.js <store file> <key>')
  process.exit(2)
}
;(async () => {
  const t0 = process.hrtime.bigint()
  const s = await Store.open(file)
  const t1 = process.hrtime.bigint()
  calls.length = 0
  const v = s.get(key)
  const t2 = process.hrtime.bigint()
  const ms = (a, b) => (Number(b - a) / 1e6).toFixed(2)
  console.log(`open ${ms(t0, t1)} ms, first get ${ms(t1, t2)} ms (${v ? v.length + ' bytes' : 'missing'}): ${calls.join(', ')}`)
  await s.close()
})().catch((e) => {
  console.error(e)
  process.exit(1)
})
