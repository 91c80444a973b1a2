// Compiled with `tsc --noEmit` by the test suite: the declarations in index.d.ts must
// accept what the README shows and give precise types (no `unknown`, no `any`).
import { Store, CompactResult, StoreStats, MAX_KEY_BYTES, kernel } from '..'

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function expectType<T> (_v: T): void {}
function assertEqual<A, B> (_ok: Equals<A, B>): void {}

async function main (): Promise<void> {
  const store: Store = await Store.open('data.srd', { sync: true })
  const s2 = Store.openSync('data.srd', { readOnly: true, copyValues: false, create: false })
  expectType<string>(store.path)
  expectType<number>(store.size)
  const v = store.get('key')
  assertEqual<typeof v, Buffer | undefined>(true)
  assertEqual<ReturnType<typeof store.getMany>, (Buffer | undefined)[]>(true)
  expectType<boolean>(store.has(new Uint8Array([1])))
  assertEqual<ReturnType<typeof store.put>, Promise<void>>(true)
  assertEqual<ReturnType<typeof store.delete>, Promise<boolean>>(true)
  assertEqual<ReturnType<typeof store.compact>, Promise<CompactResult>>(true)
  assertEqual<ReturnType<typeof store.stats>, StoreStats>(true)
  assertEqual<ReturnType<typeof store.flush>, Promise<void>>(true)
  assertEqual<ReturnType<typeof store.close>, Promise<void>>(true)
  await store.put(Buffer.from('k'), new Float64Array([1, 2]))
  await store.put('k', new DataView(new ArrayBuffer(4)))
  await store.putMany([['a', 'b'], [Buffer.from('c'), new Uint8Array(2)]])
  await store.putMany(new Map<string, string>([['x', 'y']]))
  store.putSync('a', 'b')
  expectType<boolean>(store.deleteSync('a'))
  for (const [k, val] of store) { expectType<Buffer>(k); expectType<Buffer>(val) }
  for (const k of store.keys()) expectType<Buffer>(k)
  for (const val of store.values()) expectType<Buffer>(val)
  for await (const [k] of store.entries()) expectType<Buffer>(k)
  const r = await store.compact()
  expectType<number>(r.reclaimedBytes)
  expectType<'unchanged' | 'appended' | 'replaced'>(s2.refresh())
  expectType<number>(MAX_KEY_BYTES)
  expectType<string>(kernel())
  // @ts-expect-error numbers are not keys
  store.get(1)
  // @ts-expect-error put needs a value
  await store.put('k')
  // @ts-expect-error stores are opened with Store.open
  new Store()
}
void main
