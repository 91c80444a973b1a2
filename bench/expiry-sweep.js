'use strict'
// The expiry sweep's cost: 200,000 puts of 100-byte values with a ttl, the clock moved past
// them (SIMD_R_DRIVE_TEST_CLOCK_OFFSET_MS), then clearExpired() removing them all and, after
// a reopen, a pass that finds nothing. Prints one JSON line per run (3 runs): times in ms.
// Usage: node bench/expiry-sweep.js
const { Store } = require('../index.js')
const fs = require('fs'); const os = require('os'); const path = require('path')
process.env.SIMD_R_DRIVE_TEST_CLOCK_OFFSET_MS = '0'
async function one () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srd-sb-'))
  const p = path.join(dir, 's.srd')
  process.env.SIMD_R_DRIVE_TEST_CLOCK_OFFSET_MS = '0'
  const s = await Store.open(p, { expirySweep: false, autoCompact: false })
  const N = 200000
  for (let b = 0; b < N; b += 10000) {
    const batch = []
    for (let i = b; i < b + 10000; i++) batch.push([`key-${i}`, Buffer.alloc(100, 1), { ttl: 1000 }])
    await s.putMany(batch)
  }
  const file = s.stats().fileBytes
  process.env.SIMD_R_DRIVE_TEST_CLOCK_OFFSET_MS = '5000'
  let t0 = process.hrtime.bigint()
  const removed = await s.clearExpired()
  const removeMs = Number(process.hrtime.bigint() - t0) / 1e6
  await s.close()
  const s2 = await Store.open(p, { expirySweep: false, autoCompact: false })
  t0 = process.hrtime.bigint()
  const foundAfterReopen = await s2.clearExpired()
  const emptyPassMs = Number(process.hrtime.bigint() - t0) / 1e6
  const st = s2.stats()
  await s2.close()
  fs.rmSync(dir, { recursive: true, force: true })
  return { fileBytes: file, removed, removeMs, foundAfterReopen, emptyPassMs, reclaimableBytes: st.reclaimableBytes, liveBytes: st.liveBytes, fileBytesAfter: st.fileBytes }
}
;(async () => { for (let i = 0; i < 3; i++) console.log(JSON.stringify(await one())) })()
