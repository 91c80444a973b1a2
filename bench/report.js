'use strict'
// What the benchmarks share when they report: medians and figures in table cells, and the
// seeded generator their traces come from.

/** The median of the numbers `xs` (the mean of the middle two for an even count). */
function median (xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/**
 * `v` as a table cell: 'n/a' when missing; `unit` 'MB' divides bytes by 10^6 and '%' shows a
 * fraction as a percentage; thousands as k and millions as M.
 */
function figure (v, unit) {
  if (v === undefined || v === null || Number.isNaN(v)) return 'n/a'
  if (unit === '%') return `${(v * 100).toFixed(2)}%`
  if (unit === 'MB') v = v / 1e6
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`
  if (v >= 10) return v.toFixed(0)
  return v.toFixed(2)
}

/** A seeded 32-bit generator (mulberry32) of numbers in [0, 1): one seed, one sequence. */
function prng (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

module.exports = { figure, median, prng }
