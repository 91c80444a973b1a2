// Type check (tsc, from __test__/keyv.test.js): simd-r-drive/keyv as a CommonJS consumer sees it.
import { Keyv } from 'keyv'
import KeyvSimdRDrive = require('simd-r-drive/keyv')
const { createKeyv } = KeyvSimdRDrive
import type { Store } from 'simd-r-drive'

async function main (): Promise<void> {
  const adapter = new KeyvSimdRDrive('simd-r-drive://cache.srd', { sync: true })
  const keyv = new Keyv<{ n: number }>({ store: adapter, namespace: 'app' })
  await keyv.set('a', { n: 1 }, 1000)
  const v: { n: number } | undefined = await keyv.get('a')
  keyv.iterator = keyv.generateIterator(adapter.iterator.bind(adapter))

  const other = new KeyvSimdRDrive.KeyvSimdRDrive({ path: 'cache.srd', readOnly: true })
  const s: string | undefined = await other.get('app:a')
  const many: Array<string | undefined> = await other.getMany(['x'])
  const ok: boolean = await other.set('k', 'v', 10)
  for await (const [key, value] of other.iterator('app')) console.log(key.length, value.length)
  const store: Store = await other.getStore()
  await store.compact()
  adapter.on('error', (err: Error) => console.error(err))
  await adapter.disconnect()
  console.log(v, s, many, ok)

  // The README's snippet, as it is there (Keyv 5 types iterator() as optional).
  await readme()
  // readonly arrays and tuples are accepted where the adapter only reads its argument.
  const keys = ['a', 'b'] as const
  const ro: readonly string[] = keys
  await other.getMany(keys)
  await other.hasMany(ro)
  await other.deleteMany(keys)
  await other.setMany([{ key: 'a', value: 'b' }] as const)
}

async function readme (): Promise<void> {
  const keyv = createKeyv('simd-r-drive://cache.srd', { namespace: 'cache' })
  await keyv.set('user:1', { name: 'Ada' }, 60_000)
  for await (const [key, value] of keyv.iterator!(keyv.namespace)) console.log(key, value)
  const typed: Keyv = KeyvSimdRDrive.createKeyv({ path: 'cache.srd', sync: true, ttl: 1000, Keyv })
  await typed.disconnect()
  // The store's capabilities, as Keyv 6 reads them.
  const caps: true = new KeyvSimdRDrive('cache.srd').capabilities.expires
  console.log(caps)
}
void main()
