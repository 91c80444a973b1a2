'use strict'

// simd-r-drive: the public entry point (CommonJS). Types and documentation: index.d.ts.
const { Store, MAX_KEY_BYTES, MAX_VALUE_BYTES } = require('./lib/store.js')
const native = require('./lib/native.js')
const { isStoreError } = require('./lib/errors.js')

module.exports = {
  Store,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  isStoreError,
  /** The SIMD kernel the checksums use on this CPU: `avx2`, `sse2`, `neon` or `scalar`. */
  kernel: () => native.kernel()
}
