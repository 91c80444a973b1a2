'use strict'
// Times every call into the addon: wraps each function of lib/native.js (which the Store
// calls through) so that `record(name, ms)` hears of each call when it returns or throws.
// Require it before '..' is first used, in a process of its own (the wrapping stays).

/** Wraps the addon's functions; `record(name, ms)` is called after each call. */
function timeNativeCalls (record) {
  const native = require('../lib/native.js')
  for (const name of Object.keys(native)) {
    const f = native[name]
    if (typeof f !== 'function') continue
    native[name] = function (...args) {
      const t0 = process.hrtime.bigint()
      try {
        return f.apply(this, args)
      } finally {
        record(name, Number(process.hrtime.bigint() - t0) / 1e6)
      }
    }
  }
}

module.exports = { timeNativeCalls }
