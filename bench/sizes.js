'use strict'
// Workload sizes. BENCH_QUICK=1 shrinks everything for a run of about two minutes; each
// size can also be set on its own (BENCH_N=..., and so on).
const quick = /^(1|true|yes)$/i.test(process.env.BENCH_QUICK || '')
const num = (name, full, small) => {
  const v = process.env[name]
  return v ? Number(v) : (quick ? small : full)
}
module.exports = {
  quick,
  N: num('BENCH_N', 1000000, 100000),
  READS: num('BENCH_READS', 1000000, 200000),
  ASYNC_READS: num('BENCH_ASYNC_READS', 100000, 20000),
  WRITES: num('BENCH_WRITES', 10000, 2000),
  SYNC_WRITES: num('BENCH_SYNC_WRITES', 2000, 300),
  N_4K: num('BENCH_N_4K', 100000, 20000),
  READS_4K: num('BENCH_READS_4K', 200000, 50000),
  READS_1M: num('BENCH_READS_1M', 2000, 500),
  REPS: num('BENCH_REPS', 3, 3)
}
