/// <reference types="node" />
// Types of simd-r-drive/keyv, a Keyv storage adapter over a simd-r-drive store.
import { EventEmitter } from 'node:events'
import type { Store, StoreOptions } from './index'

// keyv.js sets `module.exports` to the class (with `.KeyvSimdRDrive` and `.default` pointing
// back at it), so `require`, a default import and a named import all give the class.
export = KeyvSimdRDrive

declare namespace KeyvSimdRDrive {
  export { KeyvSimdRDrive, KeyvSimdRDrive as default }

  /** How to open the adapter's store. */
  export interface KeyvSimdRDriveOptions extends Omit<StoreOptions, 'valueEncoding'> {
    /** The store file, as a `simd-r-drive://<path>` URI (the rest of the string is the path). */
    uri?: string
    /** The store file, as a path; takes precedence over `uri`. */
    path?: string
    /** The namespace; Keyv sets it to its own when the adapter is handed to it. */
    namespace?: string
    /**
     * Whether reads copy values (default here: `true`, as values become strings at once;
     * `false` reads through the store's zero-copy windows).
     */
    copyValues?: boolean
  }

  /** Options of {@link createKeyv}: the adapter's, Keyv's (passed on to it), and Keyv's class. */
  export interface CreateKeyvOptions<K> extends KeyvSimdRDriveOptions {
    /** The Keyv class (default: `require('keyv').Keyv`, as the application resolves it). */
    Keyv?: new (options: any) => K
    /** Keyv's options: `ttl`, `serialize`, `deserialize`, ... */
    [keyvOption: string]: unknown
  }

  /**
   * A Keyv over a new adapter, with `keyv.iterator()` set up: Keyv 5 does that by itself
   * only for the adapters it knows by name, Keyv 6 for every adapter that has an iterator.
   */
  export function createKeyv<K = import('keyv').Keyv>(uriOrPath: string, options?: Omit<CreateKeyvOptions<K>, 'uri' | 'path'>): K
  export function createKeyv<K = import('keyv').Keyv>(options: CreateKeyvOptions<K>): K
}

/**
 * A Keyv storage adapter that keeps its entries in one simd-r-drive store file.
 *
 * Keys are stored as `namespace:key` (UTF-8), as Keyv 5 passes them (the adapter adds the
 * namespace for Keyv 6). Values are the strings Keyv serialized, stored as their UTF-8 bytes
 * alone; a ttl is the store's own expiry (`Store.expiresAt`), so expired entries read as
 * missing everywhere and compaction drops them. A value that could be read in an older
 * format (starting with `:` or with 13 to 16 digits and `:`) and has no ttl is stored with
 * the expiry 2 ** 53 - 1 ms, which marks it as plain. Entries without the store's expiry
 * field in the older formats (`FF 4B <expires>:`, from before the store had its own expiry,
 * and `<expires>:` of versions up to 0.2)
 * read as those versions read them.
 *
 * Keyv 5 and Keyv 6: Keyv 6 reads {@link KeyvSimdRDrive.capabilities} when it is given the
 * adapter, and the adapter then follows Keyv 6's contract (keys without the namespace,
 * absolute `expires`, `deleteMany` resolving to one boolean per key).
 *
 * The store opens in the background; every method waits for it and rejects if it could
 * not be opened (also emitted as `'error'` when there are listeners).
 */
declare class KeyvSimdRDrive extends EventEmitter {
  /** `'simd-r-drive://path'` or a plain path, and store options. */
  constructor(uriOrPath: string, options?: Omit<KeyvSimdRDrive.KeyvSimdRDriveOptions, 'uri' | 'path'>)
  constructor(options: KeyvSimdRDrive.KeyvSimdRDriveOptions)

  /** Only keys starting with `namespace:` are cleared and iterated; all keys when unset. */
  namespace?: string
  /** What the adapter was opened with; Keyv reads `url` and `dialect`. */
  readonly opts: KeyvSimdRDrive.KeyvSimdRDriveOptions & { path: string; url: string; uri: string; dialect: 'simd-r-drive' }

  /** The value of `key`, or `undefined` when missing or expired. */
  get(key: string): Promise<string | undefined>
  /** The values of `keys`, `undefined` for those missing or expired. */
  getMany(keys: readonly string[]): Promise<Array<string | undefined>>
  /** Whether `key` has a value that has not expired. */
  has(key: string): Promise<boolean>
  /** {@link KeyvSimdRDrive.has} for each of `keys`. */
  hasMany(keys: readonly string[]): Promise<boolean[]>
  /**
   * Sets `key` to `value`; it expires after `ttl` milliseconds when `ttl` is a positive
   * finite number. Any other `ttl` (none, 0, negative, `NaN`, `Infinity`) means no expiry,
   * as with Keyv's own Map store. Resolves to `true`.
   */
  set(key: string, value: string, ttl?: number): Promise<boolean>
  /**
   * What Keyv 6 looks for: the storage methods and `expires: true` (this adapter takes
   * absolute expiry times). Reading it switches the adapter to Keyv 6's contract; it throws
   * `ERR_INVALID_STATE` once the adapter has served calls in Keyv 5's form.
   */
  readonly capabilities: {
    compatible: true
    store: 'keyvStorage'
    methods: Record<string, { exists: boolean; methodType: 'async' | 'sync' | 'none' }>
    expires: true
  }
  /**
   * Sets every entry atomically (all or none after a crash). Typed `void` as Keyv's adapter
   * interface has it; the promise holds `true` for each entry, which Keyv's `setMany` returns.
   */
  setMany(entries: ReadonlyArray<{ key: string; value: string; ttl?: number; expires?: number }>): Promise<void>
  /** Deletes `key`; resolves to whether it had a value that had not expired. */
  delete(key: string): Promise<boolean>
  /**
   * Deletes `keys` in one batch; resolves to whether every one had a value that had not
   * expired (`true` for no keys). Under Keyv 6's contract: to that for each key.
   */
  deleteMany(keys: readonly string[]): Promise<boolean>
  /** Deletes the keys of {@link KeyvSimdRDrive.namespace}, or every key when it is unset. */
  clear(): Promise<void>
  /**
   * `[key, value]` for each entry of `namespace` (default: this adapter's; every entry
   * when unset) that has not expired, from a snapshot taken when iteration starts (a value
   * that may be in an older format is read again when reached). Keys come as stored
   * (`namespace:key`) for Keyv 5, which strips the namespace, and without it for Keyv 6.
   */
  iterator(namespace?: string): AsyncGenerator<[string, string], void, unknown>
  /** The open `Store` underneath, e.g. for `stats()` or to `compact()` it on demand. */
  getStore(): Promise<Store>
  /**
   * Closes the store after in-flight writes, including calls that reach the adapter before
   * the next turn of the event loop (Keyv's `set()` started just before `disconnect()`
   * does, after its serializer); idempotent. Calls after that reject with `ERR_STORE_CLOSED`.
   */
  disconnect(): Promise<void>
}
