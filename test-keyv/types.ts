// Type check (tsc, from __test__/keyv.test.js): simd-r-drive/keyv as a CommonJS consumer sees it.
import { Keyv } from 'keyv'
import KeyvSimdRDrive = require('simd-r-drive/keyv')
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

  // The README's snippet, as it is there (Keyv 5 types iterator() as optional, taking one argument).
  const store2 = new KeyvSimdRDrive('simd-r-drive://cache.srd')
  await readme(store2)
  // readonly arrays and tuples are accepted where the adapter only reads its argument.
  const keys = ['a', 'b'] as const
  const ro: readonly string[] = keys
  await other.getMany(keys)
  await other.hasMany(ro)
  await other.deleteMany(keys)
  await other.setMany([{ key: 'a', value: 'b' }] as const)
}

async function readme (store: KeyvSimdRDrive): Promise<void> {
  const keyv = new Keyv({ store, namespace: 'cache' })
  keyv.iterator = keyv.generateIterator(store.iterator.bind(store))
  for await (const [key, value] of keyv.iterator(keyv.namespace)) console.log(key, value)
}
void main()
