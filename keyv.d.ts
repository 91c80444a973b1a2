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
  }
}

/**
 * A Keyv storage adapter that keeps its entries in one simd-r-drive store file.
 *
 * Keys are stored as Keyv passes them (`namespace:key`, UTF-8). Values are the strings
 * Keyv serialized, stored as the bytes `FF 4B`, then `<expires>:` (the expiry in
 * milliseconds since the epoch, empty for none), then the string as UTF-8. Expired entries
 * read as missing and are deleted when read; values without that marker (written by other
 * code, or by versions up to 0.2 as `<expires>:<string>`) are never deleted for expiring.
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
   * Sets every entry atomically (all or none after a crash). Typed `void` as Keyv's adapter
   * interface has it; the promise holds `true` for each entry, which Keyv's `setMany` returns.
   */
  setMany(entries: ReadonlyArray<{ key: string; value: string; ttl?: number }>): Promise<void>
  /** Deletes `key`; resolves to whether it had a value that had not expired. */
  delete(key: string): Promise<boolean>
  /**
   * Deletes `keys` in one batch; resolves to whether every one had a value that had not
   * expired (`true` for no keys).
   */
  deleteMany(keys: readonly string[]): Promise<boolean>
  /** Deletes the keys of {@link KeyvSimdRDrive.namespace}, or every key when it is unset. */
  clear(): Promise<void>
  /**
   * `[key, value]` for each entry of `namespace` (default: this adapter's; every entry
   * when unset) that has not expired, from a snapshot taken when iteration starts. Keys
   * come as stored (`namespace:key`).
   */
  iterator(namespace?: string): AsyncGenerator<[string, string], void, unknown>
  /** The open `Store` underneath, e.g. to `compact()` it. */
  getStore(): Promise<Store>
  /**
   * Closes the store after in-flight writes, including calls that reach the adapter before
   * the next turn of the event loop (Keyv's `set()` started just before `disconnect()`
   * does, after its serializer); idempotent. Calls after that reject with `ERR_STORE_CLOSED`.
   */
  disconnect(): Promise<void>
}
