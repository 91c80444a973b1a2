// simd-r-drive/keyv: the Keyv storage adapter (ES modules). Types and documentation: keyv.d.ts.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const KeyvSimdRDrive = require('./keyv.js')
const { createKeyv } = KeyvSimdRDrive

export { KeyvSimdRDrive, createKeyv }
export default KeyvSimdRDrive
