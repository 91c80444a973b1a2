// simd-r-drive: the public entry point (ES modules). Types and documentation: index.d.ts.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const cjs = require('./index.js')

export const { Store, MAX_KEY_BYTES, MAX_VALUE_BYTES, kernel, isStoreError } = cjs
export default cjs
