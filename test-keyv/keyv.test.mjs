// Runs @keyv/test-suite against simd-r-drive/keyv, through the package's own name.
import * as vitest from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Keyv from 'keyv'
import {
  keyvApiTests,
  keyvValueTests,
  keyvNamespaceTest,
  keyvIteratorTests
} from '@keyv/test-suite'
import KeyvSimdRDrive from 'simd-r-drive/keyv'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srd-keyv-'))
const uri = `simd-r-drive://${path.join(dir, 'keyv.srd')}`

// The suite calls the factory for every Keyv it makes; all of them share one file (and,
// within this process, one open engine).
const made = []
const store = () => {
  const adapter = new KeyvSimdRDrive(uri)
  made.push(adapter)
  return adapter
}

// Keyv 5 wires `keyv.iterator()` only for the adapters it knows by name (sqlite, redis, ...);
// the suite makes its Keyv with `new`, so it gets the line createKeyv() runs for it.
class IterableKeyv extends Keyv {
  constructor (...args) {
    super(...args)
    this.iterator = this.generateIterator(this.store.iterator.bind(this.store))
  }
}

vitest.afterAll(async () => {
  await Promise.all(made.map((a) => a.disconnect()))
  fs.rmSync(dir, { recursive: true, force: true })
})

vitest.describe('keyvApiTests', () => keyvApiTests(vitest, Keyv, store))
vitest.describe('keyvValueTests', () => keyvValueTests(vitest, Keyv, store))
vitest.describe('keyvNamespaceTest', () => keyvNamespaceTest(vitest, Keyv, store))
vitest.describe('keyvIteratorTests', () => keyvIteratorTests(vitest, IterableKeyv, store))

vitest.describe('simd-r-drive/keyv with Keyv', () => {
  vitest.it('entries survive reopening the store', async ({ expect }) => {
    const file = path.join(dir, 'reopen.srd')
    const a = new KeyvSimdRDrive(file)
    const keyv = new Keyv({ store: a, namespace: 'app' })
    await keyv.set('user:1', { name: 'Ada' })
    await keyv.set('short', 'lived', 60_000)
    await keyv.disconnect()
    const b = new KeyvSimdRDrive({ path: file })
    const again = new Keyv({ store: b, namespace: 'app' })
    expect(await again.get('user:1')).toEqual({ name: 'Ada' })
    expect(await again.get('short')).toBe('lived')
    await again.disconnect()
  })

  vitest.it('keyv.setMany goes through the adapter in one batch', async ({ expect }) => {
    const keyv = new Keyv({ store: store(), namespace: 'many' })
    expect(await keyv.setMany([{ key: 'a', value: 1 }, { key: 'b', value: 2, ttl: 1000 }])).toEqual([true, true])
    expect(await keyv.get(['a', 'b', 'c'])).toEqual([1, 2, undefined])
    expect(await keyv.has(['a', 'c'])).toEqual([true, false])
  })
})
