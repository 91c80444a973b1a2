// Type check (tsc, from __test__/keyv.test.js): simd-r-drive/keyv as an ES module consumer sees it.
import Keyv from 'keyv'
import KeyvSimdRDrive, { KeyvSimdRDrive as Named, createKeyv } from 'simd-r-drive/keyv'
import { Store } from 'simd-r-drive'

const adapter: Named = new KeyvSimdRDrive({ uri: 'simd-r-drive://cache.srd' })
const keyv = new Keyv({ store: adapter })
await keyv.set('k', 'v')
const store: Store = await adapter.getStore()
console.log(store.size, adapter.namespace, adapter.opts.url)
// @ts-expect-error values handed to the adapter are strings
await adapter.set('k', 1)
const made = createKeyv('simd-r-drive://cache.srd')
await made.set('k', 1)
