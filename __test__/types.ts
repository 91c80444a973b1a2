// Compiled with `tsc --noEmit` by the test suite: the declarations in index.d.ts must
// accept what the README shows and give precise types (no `unknown`, no `any`).
import { Store, CompactResult, StoreStats, MAX_KEY_BYTES, kernel, isStoreError } from '..'
import type { StoreError, StoreErrorCode, RepairResult, RecoveryReport, Transaction, BackupResult, Json, CustomEncoding, Cursor, Change, ChangeBatch, SubStore, Progress } from '..'

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
  // conditional writes, versions, clear and transactions
  assertEqual<ReturnType<typeof store.putIfAbsent>, Promise<boolean>>(true)
  expectType<boolean>(store.putIfAbsentSync('a', 'b'))
  store.putSync('t', 'v', { ttl: 1000 })
  const at: number | undefined = store.expiresAt('t')
  const clock: number = store.now()
  store.putManySync([['a', 'b'], ['c', 'd', { expiresAt: clock + 5 }]])
  void at
  // @ts-expect-error a ttl is a number
  store.putSync('t', 'v', { ttl: '1000' })
  expectType<boolean>(store.compareAndSetSync('t', undefined, 'v', { ttl: 1000 }))
  expectType<boolean>(await store.compareAndSet('t', 'v', 'w', { expiresAt: clock + 5 }))
  store.transactionSync((tx) => tx.put('t', 'v', { ttl: 1000 }))
  store.createWriteStream('t', { ttl: 1000 }).end('v')
  const subTtl = store.sub('s:')
  expectType<boolean>(subTtl.compareAndSetSync('t', undefined, 'v', { ttl: 1000 }))
  subTtl.putSync('t', 'v', { ttl: 1000 })
  subTtl.putManySync([['a', 'b', { ttl: 5 }]])
  const subAt: number | undefined = subTtl.expiresAt('t')
  void subAt
  // @ts-expect-error a ttl is a number
  store.compareAndSetSync('t', undefined, 'v', { ttl: '1000' })
  // @ts-expect-error a ttl is a number
  store.transactionSync((tx) => tx.put('t', 'v', { ttl: '1000' }))
  const ver = store.versionOf('a')
  assertEqual<typeof ver, bigint | undefined>(true)
  if (ver !== undefined) expectType<boolean>(await store.compareAndSet('a', { version: ver }, 'c'))
  expectType<boolean>(store.compareAndSetSync('a', undefined, 'c'))
  expectType<boolean>(store.compareAndSetSync('a', Buffer.from('c'), undefined))
  // @ts-expect-error a version is a bigint
  store.compareAndSetSync('a', { version: 'x' }, 'c')
  assertEqual<ReturnType<typeof store.clear>, Promise<void>>(true)
  store.clearSync()
  const n: number = store.transactionSync((tx: Transaction) => {
    const got = tx.get('a')
    assertEqual<typeof got, Buffer | undefined>(true)
    expectType<boolean>(tx.has('a'))
    tx.put('a', 'b')
    expectType<boolean>(tx.delete('a'))
    return 1
  })
  expectType<number>(n)
  expectType<string>(await store.transaction(() => 'x'))
  // @ts-expect-error a transaction callback cannot be async
  store.transactionSync(async () => 1)
  for (const [k, val] of store) { expectType<Buffer>(k); expectType<Buffer>(val) }
  for (const k of store.keys()) expectType<Buffer>(k)
  for (const val of store.values()) expectType<Buffer>(val)
  for await (const [k] of store.entries()) expectType<Buffer>(k)
  const r = await store.compact()
  expectType<number>(r.reclaimedBytes)
  expectType<'unchanged' | 'appended' | 'replaced'>(s2.refresh())
  expectType<number>(MAX_KEY_BYTES)
  expectType<string>(kernel())
  // readonly arrays and `as const` tuples of keys
  const ro: readonly string[] = ['a', 'b']
  store.getMany(ro)
  store.getMany(['a', Buffer.from('b')] as const)
  // precise report types
  assertEqual<StoreStats['kernel'], 'avx2' | 'sse2' | 'neon' | 'scalar'>(true)
  assertEqual<ReturnType<typeof kernel>, StoreStats['kernel']>(true)
  assertEqual<RepairResult['skipped'], Array<[start: number, end: number]>>(true)
  const repaired = await Store.repair('data.srd')
  for (const [start, end] of repaired.skipped) expectType<number>(end - start)
  // @ts-expect-error a range has two ends
  expectType<number>(repaired.skipped[0][2])
  const reason: RecoveryReport['tailReason'] = store.recovery().tailReason
  if (reason !== undefined) {
    // @ts-expect-error tailReason is one of the engine's reasons, not any string
    const other: typeof reason = 'something else'
    void other
    expectType<string>(reason)
  }
  // errors: a code to switch on, without a cast
  try {
    await store.put('k', 'v')
  } catch (err) {
    if (isStoreError(err)) {
      assertEqual<typeof err.code, StoreErrorCode>(true)
      if (err.code === 'ERR_STORE_LOCKED') expectType<StoreError>(err)
      // @ts-expect-error not a code of simd-r-drive
      if (err.code === 'ERR_NO_SUCH_CODE') void 0
    }
  }
  // the change feed, write events and followers
  const follower = await Store.open('data.srd', { readOnly: true, follow: 'poll', lockTimeout: 500 })
  const since: Cursor = store.cursor()
  for await (const item of store.changes({ since, live: true })) {
    expectType<ChangeBatch>(item)
    expectType<boolean>(item.more)
    for (const c of item.changes) {
      if (c.type === 'put') expectType<Buffer | undefined>(c.value)
      expectType<Buffer>(c.key)
    }
    break
  }
  follower.on('change', (batch) => expectType<Cursor>(batch.cursor))
  follower.once('replaced', (e) => expectType<string>(e.cursor))
  // @ts-expect-error 'change' listeners get a ChangeBatch
  follower.on('change', (batch: number) => void batch)
  // @ts-expect-error follow is 'watch', 'poll' or false
  await Store.open('data.srd', { follow: true })
  const change: Change | undefined = undefined
  void change
  // @ts-expect-error numbers are not keys
  store.get(1)
  // @ts-expect-error put needs a value
  await store.put('k')
  // @ts-expect-error stores are opened with Store.open
  new Store()

  // backup
  assertEqual<ReturnType<typeof store.backup>, Promise<BackupResult>>(true)
  expectType<boolean>((await store.backup('copy.srd')).indexFile)

  // value encodings: the handle's type follows its encoding
  const bin = await Store.open('data.srd', { valueEncoding: 'binary' })
  assertEqual<typeof bin, Store<Buffer>>(true)
  const text = await Store.open('data.srd', { valueEncoding: 'utf8' })
  assertEqual<typeof text, Store<string>>(true)
  assertEqual<ReturnType<typeof text.get>, string | undefined>(true)
  assertEqual<ReturnType<typeof text.getRaw>, Buffer | undefined>(true)
  assertEqual<ReturnType<typeof text.getCopy>, Buffer | undefined>(true)
  await text.put('k', 'v')
  for (const [k, val] of text) { expectType<Buffer>(k); expectType<string>(val) }
  const json = Store.openSync('data.srd', { valueEncoding: 'json' })
  assertEqual<typeof json, Store<Json>>(true)
  json.putSync('k', { a: [1, 'b', null, { c: true }] })
  interface User { id: number, name: string, tags: string[] }
  const users = await Store.open<'json', User>('data.srd', { valueEncoding: 'json' })
  await users.put('u', { id: 1, name: 'Ada', tags: [] })
  assertEqual<ReturnType<typeof users.getMany>, (User | undefined)[]>(true)
  // @ts-expect-error a User has a name
  await users.put('u', { id: 1, tags: [] })
  for (const u of users.values()) expectType<User>(u)
  // Conditional writes and transactions take and give the handle's values.
  const won: boolean = users.putIfAbsentSync('u', { id: 2, name: 'Bo', tags: ['x'] })
  expectType<boolean>(won)
  const renamed = users.transactionSync((tx) => {
    const u = tx.get('u')
    assertEqual<typeof u, User | undefined>(true)
    if (u) tx.put('u', { ...u, name: 'Ada L.' })
    return u?.name
  })
  assertEqual<typeof renamed, string | undefined>(true)
  // @ts-expect-error a User has a name
  users.compareAndSetSync('u', undefined, { id: 1, tags: [] })
  const f64: CustomEncoding<number> = { encode: (n) => new Float64Array([n]), decode: (b) => b.readDoubleLE(0) }
  const nums = await Store.open('data.srd', { valueEncoding: f64 })
  assertEqual<typeof nums, Store<number>>(true)
  await nums.putMany([['pi', Math.PI]])
  // @ts-expect-error numbers only
  nums.putSync('pi', 'not a number')
  const upper = Store.openSync('data.srd', { valueEncoding: { format: 'utf8', encode: (v: string) => v, decode: (v: string) => v.length } })
  assertEqual<ReturnType<typeof upper.get>, number | undefined>(true)
  expectType<string>(upper.valueEncoding)
  // @ts-expect-error not an encoding
  await Store.open('data.srd', { valueEncoding: 'yaml' })

  // temporary stores
  const tmp = await Store.temp()
  assertEqual<typeof tmp, Store<Buffer>>(true)
  const tmpJson = await Store.temp({ valueEncoding: 'json', sync: true })
  assertEqual<typeof tmpJson, Store<Json>>(true)
  // @ts-expect-error a temporary store is writable
  await Store.temp({ readOnly: true })

  // sub-stores
  const people = tmpJson.sub('people:')
  assertEqual<typeof people, SubStore<Json>>(true)
  await people.put('1', { name: 'ada' })
  expectType<Json | undefined>(people.get('1'))
  expectType<string | Buffer>(people.prefix)
  const raw = tmpJson.sub('raw:', { valueEncoding: 'binary' }).sub(Buffer.from([0]))
  assertEqual<typeof raw, SubStore<Buffer>>(true)
  for (const [k, val] of raw) { expectType<Buffer>(k); expectType<Buffer>(val) }
  expectType<boolean>(await people.putIfAbsent('2', null))
  people.clearSync()
  await people.clear()
  // @ts-expect-error a prefix is a key: a string or bytes
  tmp.sub(1)

  // progress and cancellation of long work
  const ac = new AbortController()
  const seen: Progress[] = []
  await tmp.compact({ onProgress: (p) => { seen.push(p); expectType<number>(p.bytesDone + p.bytesTotal) }, signal: ac.signal })
  await tmp.verify({ signal: ac.signal })
  await tmp.backup('copy.srd', { onProgress: () => {} })
  await Store.repair('data.srd', { signal: AbortSignal.timeout(1000) })
  // @ts-expect-error a signal is an AbortSignal
  await tmp.verify({ signal: true })
  try { await tmp.compact() } catch (e) { if (isStoreError(e) && e.code === 'ABORT_ERR') expectType<string>(e.name) }
}
void main
