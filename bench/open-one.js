'use strict'
// Opens a store in this fresh process, reads one key, and prints the milliseconds taken.
//   node bench/open-one.js <store> <dir> <key>
const { STORES } = require('./stores.js')
const [name, dir, key] = process.argv.slice(2)
;(async () => {
  const t0 = process.hrtime.bigint()
  const db = await STORES[name].open(dir)
  const v = db.get(key)
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (!v || v.length === 0) throw new Error('value missing')
  process.stdout.write(`${ms}\n`)
  await db.close()
})().catch((e) => { console.error(e); process.exit(1) })
