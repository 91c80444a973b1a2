/// <reference types="node" />
// Types of simd-r-drive. Every JSDoc block below is generated from the `# JavaScript:`
// sections of the Rust docs in src/*.rs: edit those, then run `npm run docs`
// (node scripts/sync-docs.js). __test__/docs.test.js fails when this file drifts from them.

/**
 * A key: a string (encoded as UTF-8) or bytes. 1 to `MAX_KEY_BYTES` bytes.
 *
 * A string is encoded as `Buffer.from(string)` encodes it: a lone surrogate (`'\ud800'`,
 * `'\udc00'`, ...) becomes U+FFFD (bytes `EF BF BD`), so strings that differ only in lone
 * surrogates name the same key. Name such keys with bytes to keep them apart.
 */
export type Key = string | Buffer | Uint8Array

/** A value: a string (encoded as UTF-8) or the bytes of any view. 0 to `MAX_VALUE_BYTES` bytes. */
export type Value = string | Buffer | Uint8Array | ArrayBufferView

import { EventEmitter } from 'node:events'

// Result types are generated from the binding's Rust `///` docs (src/*.rs).
import type { CompactResult, StoreStats, VerifyResult, RepairResult, RecoveryReport, BackupResult } from './binding'
export type { CompactResult, StoreStats, VerifyResult, RepairResult, RecoveryReport, BackupResult }

/**
 * The `code` of every error simd-r-drive throws or rejects with: the engine's (see
 * {@link Store}), `ERR_KEY_NOT_FOUND` (a read stream of a missing key), `ERR_OUT_OF_RANGE`
 * and `ERR_INVALID_ENV` (bad options or environment), `ERR_NATIVE_BINDING_MISSING` (no
 * native binary for this platform), `ERR_INTERNAL` (a bug: please report it), and
 * `ABORT_ERR` (an `AbortError`: a long operation stopped by its `signal`, see
 * {@link LongOptions}).
 */
export type StoreErrorCode =
  | 'ERR_NOT_A_STORE' | 'ERR_STORE_VERSION' | 'ERR_STORE_CORRUPT' | 'ERR_STORE_LOCKED'
  | 'ERR_STORE_READ_ONLY' | 'ERR_STORE_CLOSED' | 'ERR_STORE_POISONED' | 'ERR_STORE_IO'
  | 'ERR_STORE_DISK_FULL' | 'ERR_STORE_MOVED' | 'ERR_EXISTS' | 'ERR_INVALID_STATE' | 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_KEY'
  | 'ERR_VALUE_TOO_LARGE' | 'ERR_KEY_NOT_FOUND' | 'ERR_OUT_OF_RANGE' | 'ERR_INVALID_ENV'
  | 'ERR_INVALID_ARG_VALUE' | 'ERR_NATIVE_BINDING_MISSING' | 'ERR_INTERNAL'
  | 'ERR_CURSOR_EXPIRED' | 'ERR_INVALID_CURSOR' | 'ABORT_ERR'

/**
 * An error of simd-r-drive: an `Error` (a `TypeError` or `RangeError` for bad arguments)
 * with a stable `code`.
 */
export interface StoreError extends Error {
  /** What went wrong, stable across versions. */
  code: StoreErrorCode
}

/**
 * Whether `err` is an error of simd-r-drive (an `Error` whose `code` is a
 * {@link StoreErrorCode}), so that `err.code` can be read without a cast.
 */
export declare function isStoreError(err: unknown): err is StoreError

/** Longest key, in bytes: 65535. */
export declare const MAX_KEY_BYTES: number

/** Longest value accepted from JavaScript, in bytes (just under 4 GiB). */
export declare const MAX_VALUE_BYTES: number

/** The SIMD kernel the checksums use on this CPU: `avx2`, `sse2`, `neon` or `scalar`. */
export declare function kernel(): 'avx2' | 'sse2' | 'neon' | 'scalar'

/** A value the `'json'` encoding reads back: what `JSON.parse` gives. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/**
 * A value encoding of your own, as the level ecosystem defines them: `encode` turns a
 * value into what is stored, `decode` turns the stored bytes (a zero-copy `Buffer`, valid
 * as long as you keep it) back into a value.
 */
export interface CustomEncoding<V> {
  /**
   * The bytes (or string, stored as UTF-8) to store for `value`. What it throws rejects the
   * write, and nothing of it is written.
   */
  encode(value: V): Value
  /** The value of the stored bytes `data`. What it throws comes out of the read. */
  decode(data: Buffer): V
  /** What `decode` is given: a `Buffer` (`'buffer'`, `'view'`, or absent). */
  format?: 'buffer' | 'view'
  /** The name {@link Store.valueEncoding} reports (default `'custom'`). */
  name?: string
}

/**
 * A {@link CustomEncoding} whose `decode` is given the stored bytes as a string (UTF-8):
 * level's `format: 'utf8'`.
 */
export interface CustomUtf8Encoding<V> {
  /** The bytes (or string, stored as UTF-8) to store for `value`. */
  encode(value: V): Value
  /** The value of the stored bytes, decoded as UTF-8 into `data`. */
  decode(data: string): V
  /** `'utf8'`: `decode` is given a string. */
  format: 'utf8'
  /** The name {@link Store.valueEncoding} reports (default `'custom'`). */
  name?: string
}

/**
 * How a `Store` handle encodes values ({@link StoreOptions.valueEncoding}): `'binary'` (or
 * `'buffer'`), `'utf8'`, `'json'`, or a {@link CustomEncoding}.
 */
export type ValueEncoding = 'binary' | 'buffer' | 'utf8' | 'json' | CustomEncoding<unknown> | CustomUtf8Encoding<unknown>

/**
 * The type of the values a store opened with the encoding `E` reads: `Buffer` for
 * `'binary'`, `string` for `'utf8'`, {@link Json} for `'json'` (give `Store.open` a second
 * type argument for a type of your own: `Store.open<'json', User>(path, { valueEncoding:
 * 'json' })`), and what `decode` returns for a custom encoding.
 */
export type Decoded<E> = E extends 'utf8' ? string
  : E extends 'json' ? Json
    : E extends { format: 'utf8', decode(data: string): infer V } ? V
      : E extends { decode(data: Buffer): infer V } ? V
        : Buffer

/**
 * What the writes of a `Store<V>` accept: any {@link Value} for a binary store, a string
 * (or bytes) for `'utf8'`, a `V` otherwise.
 */
export type Encodable<V> = [V] extends [Buffer] ? Value : [V] extends [string] ? string | Value : V

/** How to open a store. */
/**
 * Options of one put: when its value expires. Give at most one of `ttl` and `expiresAt`
 * (both: a `TypeError`, `ERR_INVALID_ARG_VALUE`); each is a whole number of milliseconds
 * from 0 to 2 ** 53 - 1: anything else is a `RangeError` (`ERR_OUT_OF_RANGE`: negative,
 * `NaN`, fractional, infinite) or a `TypeError` (`ERR_INVALID_ARG_TYPE`: not a number),
 * and nothing is written.
 */
export interface WriteOptions {
  /**
   * Milliseconds from now, by the store's clock ({@link Store.now}), until the value
   * expires. `0` writes a value that is expired at once.
   */
  ttl?: number
  /** When the value expires, in milliseconds since the Unix epoch (as `Date.now()` gives). */
  expiresAt?: number
}

/**
 * One entry of {@link Store.putMany}: a `[key, value]` pair, or a `[key, value, options]`
 * triple whose {@link WriteOptions} give the value's expiry.
 */
export type Entry<V> = readonly [Key, Encodable<V>] | readonly [Key, Encodable<V>, WriteOptions | undefined]

/** How to open a store. */
export interface StoreOptions<E extends ValueEncoding = ValueEncoding> {
  /**
   * Open without writing: takes no writer lock, so it works beside a writer in another
   * process, and follows that writer's appends and compactions by itself (see `follow`), or
   * after {@link Store.refresh}. Writes reject
   * with `ERR_STORE_READ_ONLY`. Default `false`.
   */
  readOnly?: boolean
  /**
   * Make every commit durable (`fdatasync`) before its promise resolves. Commits issued
   * together share one sync. Default `false`: a resolved write has reached the operating
   * system (it survives a crash of the process, not a power loss); call
   * {@link Store.flush} for durability.
   */
  sync?: boolean
  /** Create the file if it does not exist. Default `true`. */
  create?: boolean
  /**
   * Permission bits of the files a writable open creates: a new store file, its lock file
   * and other files beside it (default `0o666`, less the process's umask, as for any new
   * file: usually `0o644`). Use `0o600` for a store of secrets. An existing store keeps
   * its mode; the files that replace it (compaction, {@link Store.repair}), its index
   * and delta files and the staging files of {@link Store.createWriteStream} get the store
   * file's own mode, owner and group. Ignored when the store is already open in this
   * process.
   */
  mode?: number
  /**
   * What the open verifies, and when (see the README, "What an open checks"). `'full'`: the
   * open reads the whole log and checks every entry's checksum before it returns, as a store
   * without an index file does (time in proportion to the store's size). `'onRead'`: the open
   * checks in constant time that the index file belongs to this log; each entry of up to 64 KiB
   * is verified on its first read (a damaged one fails that read with `ERR_STORE_CORRUPT`),
   * and the rest by {@link Store.verify}. `'background'`: as `'onRead'`, and a thread at idle
   * I/O priority verifies what the index file covers and this file's generation has not
   * verified yet. Default `'background'` for writable stores, `'onRead'` for read-only ones.
   * Ignored when the store is already open in this process.
   */
  verify?: 'full' | 'onRead' | 'background'
  /**
   * Return copies instead of zero-copy views from reads. Also forced for the whole
   * process by `SIMD_R_DRIVE_COPY_VALUES=1`, and automatically where the runtime does not
   * allow external buffers (Electron). Default `false`.
   */
  copyValues?: boolean
  /**
   * How this handle encodes values (see the README, "Value encodings"): `'binary'` (the
   * default; alias `'buffer'`: zero-copy `Buffer`s), `'utf8'` (strings; numbers and booleans
   * are written as `String(value)`, bytes as they are), `'json'` (`JSON.stringify` to write,
   * `JSON.parse` to read; a value it cannot encode, such as `undefined`, is refused with
   * `ERR_INVALID_ARG_VALUE` and nothing is written), or a custom `{ encode, decode }`. `get`,
   * `getMany`, `values`, `entries` and iteration decode; `put`, `putMany`, `putSync` and
   * `putManySync` encode. Keys, {@link Store.getRaw}, {@link Store.getCopy} and the streams
   * are raw bytes whatever the encoding. The encoding belongs to the handle: a path opened
   * twice in this process shares one engine, each handle with its own encoding. Anything
   * else is refused with a `TypeError` (`ERR_INVALID_ARG_VALUE`, or `ERR_INVALID_ARG_TYPE`)
   * before the store is opened.
   */
  valueEncoding?: E
  /**
   * Read-only stores: follow the writer by themselves, as if {@link Store.refresh} were
   * called whenever the writer commits or compacts, emitting `'change'` (and `'replaced'`)
   * events and waking live {@link Store.changes} feeds. `'watch'`: a file-system
   * notification on the store's directory (inotify, FSEvents, ...) with a check every
   * second behind it for notifications that never come; where watching fails, as
   * `'poll'`. `'poll'`: a check every 100 ms. `false`: only {@link Store.refresh}. Default
   * `'watch'` for read-only stores; ignored for writable ones. Neither keeps the process
   * alive; `close()` stops it.
   */
  follow?: 'watch' | 'poll' | false
  /**
   * Milliseconds to wait for another writer (in another process) to release the store
   * before failing with `ERR_STORE_LOCKED`, whose message then names the wait. The open
   * retries in growing steps of 5 to 100 ms, on the libuv threadpool for
   * {@link Store.open} (on the calling thread for {@link Store.openSync}). Default: fail at
   * once.
   */
  lockTimeout?: number
  /**
   * Automatic compaction (see the README, "Automatic compaction"). On by default: after a
   * commit, once the bytes compaction would reclaim (`stats().reclaimableBytes`) reach both
   * `minReclaimableBytes` (default 64 MiB) and `minRatio` of the file (default 0.5), the store
   * compacts on a thread of its own, one compaction at a time; `stats().autoCompactions` and
   * `stats().autoReclaimedBytes` count what it did. `close()` abandons one in flight (the old
   * file stays the store). After `ERR_STORE_DISK_FULL` it waits 1 s, doubling to 5 min, before
   * it tries again. `false` turns it off. Applies to the file's engine in this process, shared
   * by every `Store` of the path (the last writable open that gives the option sets it);
   * ignored for read-only stores.
   */
  autoCompact?: false | { minReclaimableBytes?: number, minRatio?: number }
  /**
   * Called on this thread after automatic compactions of the file (by any `Store` of the
   * path in this process) with what they did since the last call: `compactions` (usually 1),
   * `reclaimedBytes` and the new `fileBytes`. Called until `close()`; a throw from it is
   * uncaught, as from an event listener. Ignored for read-only stores.
   */
  onAutoCompact?: (report: { compactions: number, reclaimedBytes: number, fileBytes: number }) => void
  /**
   * Whether a writable store removes expired entries by itself (default `true`): from its
   * open (of a log of at most 64 MiB: the first pass finds out whether the file holds
   * entries with an expiry) and from each write of an entry with an expiry, it walks 8 MiB
   * of its log a second on the threadpool and writes an expiry record for each entry whose
   * expiry has passed, as {@link Store.clearExpired} does, until a whole pass finds no entry
   * with an expiry. `false`: only `clearExpired()` and compaction remove them. Ignored for
   * read-only stores.
   */
  expirySweep?: boolean
  /**
   * A size limit, in bytes, on the live data (see the README, "A size limit"): the bytes of
   * the live entries on disk, as `stats().liveBytes` counts them (each key and value padded
   * to 8 bytes, plus 16 bytes of fields, 8 more with an expiry and 8 more in a copy
   * compaction made; an expired entry counts until it is evicted or compacted away). A write that would take the live data past it evicts the oldest live entries in
   * log order, the order they were last written (FIFO, not LRU: reads do not keep an entry),
   * in the write's own batch, until it fits; evicted keys read as missing at once, here, after
   * a crash or reopen and in read-only followers, and the change feed shows them as
   * `{ type: 'evict', key }`. A write whose puts alone take more than `maxBytes` on disk is
   * refused with a `RangeError` of code `ERR_VALUE_TOO_LARGE`, and nothing is written.
   * `stats().evictedEntries` and `stats().evictedBytes` count the evictions. A positive safe
   * integer; absent: no limit. Applies to the file's engine in this process, shared by every
   * `Store` of the path (the last writable open that gives the option sets it); ignored for
   * read-only stores.
   */
  maxBytes?: number
}

/**
 * A position in a store's history, as a string (52 ASCII characters; treat it as opaque,
 * store it as it is). It names the store file (the random generation identifier in its
 * header, see FORMAT.md) and the end of a committed batch, and stays valid across close
 * and reopen until the store is compacted or repaired; after that it is refused with
 * `ERR_CURSOR_EXPIRED`. A malformed cursor is a `RangeError` with code
 * `ERR_INVALID_CURSOR`.
 */
export type Cursor = string

/**
 * One put or delete of a committed batch. `value` is `undefined` for a delete; for a put
 * it is a `Buffer` like those `get` returns (zero-copy, valid after later writes,
 * compaction and close).
 */
export interface Change<V = Buffer> {
  /**
   * `'put'` (the key was set to `value`), `'delete'`, `'expire'` (the expiry sweep removed
   * the key, whose value had expired), `'evict'` (the writer's size limit, `maxBytes`,
   * evicted the key) or `'clear'` (every key was removed; `key` is empty).
   */
  type: 'put' | 'delete' | 'expire' | 'evict' | 'clear'
  /** The key, as a `Buffer`. */
  key: Buffer
  /** The value of a put; `undefined` for a delete. */
  value: V | undefined
}

/**
 * One committed batch of a change feed (or of a `'change'` event): its changes in the
 * order they were written, and the cursor after it. A batch of more than 1,024 changes or
 * 16 MiB of keys and values comes in several items, all but the last with `more: true`;
 * their `cursor` is the one before the batch, so that resuming from any of them replays
 * the whole batch. Apply the items up to the one without `more` as one batch.
 */
export interface ChangeBatch<V = Buffer> {
  /**
   * Where to resume after this item: `changes({ since: cursor })` starts with the next
   * batch (for an item with `more`, with this batch again, whole).
   */
  cursor: Cursor
  /** More items of the same batch follow (a batch larger than one item). */
  more: boolean
  /** The batch's puts and deletes, in the order they were written. */
  changes: Array<Change<V>>
}

/** What {@link Store.changes} reads. */
export interface ChangesOptions {
  /**
   * Start after this cursor (from a {@link ChangeBatch} or {@link Store.cursor}). Default:
   * the oldest change still in the log (after a compaction, every live key once).
   */
  since?: Cursor
  /** After the present, wait for new commits instead of ending. Default `false`. */
  live?: boolean
}

/**
 * The events of a {@link Store} (an `EventEmitter`). Listeners are called from the event
 * loop after the commits they tell of, in commit order; nothing is watched, and writes
 * cost nothing extra, while no `'change'` or `'replaced'` listener is registered.
 * Listeners do not keep the process alive. A listener that throws does not keep the
 * other listeners from the event, nor the store from its writes: its error surfaces as
 * an uncaught exception (`process.on('uncaughtException')`), as an emitter's error in an
 * I/O callback does.
 */
export interface StoreEvents<V = Buffer> {
  /**
   * After each commit: what the batch changed, as a {@link ChangeBatch} (the same items
   * {@link Store.changes} returns). Every `Store` of the engine hears it, in any thread of
   * the process, and a read-only store that follows a writer in another process (see
   * `StoreOptions.follow`) hears the writer's commits.
   */
  change: [batch: ChangeBatch<V>]
  /**
   * The store file was replaced: compacted (by this process or, for a read-only store, by
   * the writer it follows), or another file was put at the path. The events go on from
   * `cursor`, the present of the new file; what changed between is not told key by key:
   * a replica reads `changes()` from the start again.
   */
  replaced: [event: { cursor: Cursor }]
  /**
   * A read-only store that follows its writer could not catch up (the file went away, or
   * was damaged); it tries again at the next notification. Without an `'error'` listener
   * such failures are not reported (and do not throw).
   */
  error: [err: StoreError]
}

/**
 * The reads and writes of one {@link Store.transactionSync} call. Reads see the store
 * plus the transaction's own writes; writes are staged and commit together when the
 * callback returns. Using it after its callback has returned throws
 * `ERR_INVALID_STATE`.
 */
export interface Transaction<V = Buffer> {
  /**
   * The value of `key` as the store and this transaction's writes leave it, or
   * `undefined`. A value this transaction wrote is returned as a `Buffer` copy.
   */
  get(key: Key): V | undefined
  /** Whether `key` has a value, as {@link Transaction.get} sees it. */
  has(key: Key): boolean
  /**
   * Stages setting `key` to `value` (copied now). `options` ({@link WriteOptions}) give it
   * an expiry (a `ttl` counts from this call); once that has passed, {@link Transaction.get}
   * sees no value either.
   */
  put(key: Key, value: Encodable<V>, options?: WriteOptions): void
  /**
   * Stages deleting `key`; returns whether it had a value (as {@link Transaction.get} sees
   * it). A key without a value stages nothing.
   */
  delete(key: Key): boolean
}

/**
 * How far a long operation is: `bytesDone` of `bytesTotal` (bytes of the store file read
 * by {@link Store.compact}, {@link Store.verify} and {@link Store.repair}; bytes copied by
 * {@link Store.backup}).
 */
export interface Progress {
  /** Bytes done so far (at most `bytesTotal`; equal to it in the last call). */
  bytesDone: number
  /** Bytes to do in all. */
  bytesTotal: number
}

/**
 * The options of the long operations ({@link Store.compact}, {@link Store.verify},
 * {@link Store.backup}, {@link Store.repair}). Anything else than an object, a function
 * and an `AbortSignal` is refused with `ERR_INVALID_ARG_TYPE` before anything runs.
 */
export interface LongOptions {
  /**
   * Called on this thread with a {@link Progress} as the work goes on: at most five times a
   * second, and once at the end of a success (`bytesDone === bytesTotal`); never after the
   * promise settled. If it throws, the operation is stopped as by `signal` and the promise
   * rejects with what it threw.
   */
  onProgress?: (progress: Progress) => void
  /**
   * Stops the operation where that is safe, and the promise rejects with an `AbortError`
   * (`name` `'AbortError'`, `code` `'ABORT_ERR'`, `cause` the signal's reason). A compaction
   * stops at any point before its final step (the store stays the old file, unchanged, and
   * the compaction file is removed); a backup before its copy is placed (the temporary copy
   * is removed, nothing appears at its path); a repair before it renames anything (the
   * store file is as it was, the repair file removed); a verification anywhere. Past that
   * point the operation completes and the signal is ignored. A signal already aborted
   * rejects at once, and nothing runs.
   */
  signal?: AbortSignal
}

/** The options of {@link Store.sub} and {@link SubStore.sub}. */
export interface SubStoreOptions<E extends ValueEncoding = ValueEncoding> {
  /**
   * The sub-store's own value encoding (as {@link StoreOptions.valueEncoding}); by default
   * it keeps its parent's.
   */
  valueEncoding?: E
}

/**
 * A view of the keys of a store that begin with a prefix (made by {@link Store.sub}): its
 * key `k` is the store's key `prefix + k`. Its reads, writes and `clear` work on its own
 * keys and its iteration yields only them, without the prefix. The prefix is raw bytes:
 * `sub('a')` also sees the keys of `sub('ab')`, so end a prefix with a separator its keys
 * do not start with (`'users:'`). The store's index is a hash table: iteration and
 * `clear` scan all live keys of the store. There is no `size` (it would be that scan).
 */
export interface SubStore<V = Buffer> extends Iterable<[Buffer, V]> {
  /**
   * The full prefix of this sub-store's keys (its parents' too): a string when every prefix
   * given was a string, else a `Buffer` copy.
   */
  readonly prefix: string | Buffer
  /** The store this sub-store is a view of. */
  readonly store: Store<unknown>
  /** The name of this sub-store's value encoding (its parent's unless given its own). */
  readonly valueEncoding: string
  /** A sub-store of this one: its prefix is this one's followed by `prefix`. */
  sub(prefix: Key): SubStore<V>
  /** A sub-store of this one: its prefix is this one's followed by `prefix`. */
  sub<E extends ValueEncoding, T = Decoded<E>>(prefix: Key, options: SubStoreOptions<E>): SubStore<T>
  /**
   * {@link Store.get} of `prefix + key`, decoded in this sub-store's encoding. A key longer
   * than {@link MAX_KEY_BYTES} once prefixed throws a `RangeError` (`ERR_INVALID_KEY`), as
   * every member taking a key does.
   */
  get(key: Key): V | undefined
  /** {@link Store.getMany} of the prefixed keys. */
  getMany(keys: readonly Key[]): (V | undefined)[]
  /** {@link Store.has} of `prefix + key`. */
  has(key: Key): boolean
  /** {@link Store.versionOf} of `prefix + key`. */
  versionOf(key: Key): bigint | undefined
  /** {@link Store.put} of `prefix + key`: staged in the store's batch of this tick. */
  put(key: Key, value: Encodable<V>, options?: WriteOptions): Promise<void>
  /** {@link Store.putMany} of the prefixed pairs. */
  putMany(entries: Iterable<Entry<V>>): Promise<void>
  /** {@link Store.delete} of `prefix + key`. */
  delete(key: Key): Promise<boolean>
  /** {@link Store.putSync} of `prefix + key`. */
  putSync(key: Key, value: Encodable<V>, options?: WriteOptions): void
  /** {@link Store.putManySync} of the prefixed pairs. */
  putManySync(entries: Iterable<Entry<V>>): void
  /** {@link Store.deleteSync} of `prefix + key`. */
  deleteSync(key: Key): boolean
  /** {@link Store.putIfAbsent} of `prefix + key`. */
  putIfAbsent(key: Key, value: Encodable<V>, options?: WriteOptions): Promise<boolean>
  /** {@link Store.putIfAbsentSync} of `prefix + key`. */
  putIfAbsentSync(key: Key, value: Encodable<V>, options?: WriteOptions): boolean
  /** {@link Store.expiresAt} of `prefix + key`. */
  expiresAt(key: Key): number | undefined
  /**
   * {@link Store.compareAndSet} of `prefix + key` (`expected` and `value` in this
   * sub-store's encoding; `options` as the store's).
   */
  compareAndSet(key: Key, expected: Encodable<V> | { version: bigint } | undefined, value: Encodable<V> | undefined, options?: WriteOptions): Promise<boolean>
  /** {@link Store.compareAndSetSync} of `prefix + key`. */
  compareAndSetSync(key: Key, expected: Encodable<V> | { version: bigint } | undefined, value: Encodable<V> | undefined, options?: WriteOptions): boolean
  /**
   * Deletes every key of this sub-store, and no other: one transaction (see
   * {@link Store.transaction}) scans the store's keys and deletes those with the prefix, so
   * no write lands between the scan and the deletes and they commit as one batch (all or
   * nothing, also across a crash). Costs a scan of all live keys of the store.
   */
  clear(): Promise<void>
  /** {@link SubStore.clear}, committed before it returns. */
  clearSync(): void
  /**
   * The keys of this sub-store, without the prefix (zero-copy `Buffer`s): a scan of all
   * live keys of the store, which keeps those with the prefix.
   */
  keys(): StoreIterator<Buffer>
  /** The values of this sub-store's keys, decoded (a scan, as {@link SubStore.keys}). */
  values(): StoreIterator<V>
  /**
   * `[key, value]` pairs of this sub-store, keys without the prefix (a scan, as
   * {@link SubStore.keys}).
   */
  entries(): StoreIterator<[Buffer, V]>
  /** Same as {@link SubStore.entries}. */
  [Symbol.iterator](): StoreIterator<[Buffer, V]>
}

/**
 * The options of {@link Store.temp}: those of {@link Store.open}, but `readOnly` and
 * `create` (a temporary store is always new and writable).
 */
export type TempStoreOptions<E extends ValueEncoding = ValueEncoding> = Omit<StoreOptions<E>, 'readOnly' | 'create'>

/** An iterator that also works with `for await`. */
export interface StoreIterator<T> extends IterableIterator<T> {}

/**
 * An open store: one file of key → value entries with an in-memory index.
 *
 * Reads are synchronous and return `Buffer`s that view the file's memory map without
 * copying. Writes made in the same tick are committed together as one batch (one write,
 * and with `sync` one `fdatasync`). Compaction runs on the libuv threadpool.
 *
 * Errors have a stable `code`: `ERR_STORE_LOCKED`, `ERR_NOT_A_STORE`,
 * `ERR_STORE_CORRUPT`, `ERR_STORE_VERSION`, `ERR_STORE_CLOSED`, `ERR_STORE_READ_ONLY`,
 * `ERR_STORE_POISONED`, `ERR_STORE_IO`, `ERR_STORE_DISK_FULL`, `ERR_STORE_MOVED` (the store
 * file was moved, removed or replaced while open: {@link Store.compact} left the path
 * alone), `ERR_EXISTS` (the path given to {@link Store.backup} exists), `ERR_CURSOR_EXPIRED`
 * (a cursor of {@link Store.changes} from before a compaction, or of another store),
 * `ERR_INVALID_STATE` (a write
 * from inside the read of the entries of {@link Store.putMany} or {@link Store.putManySync},
 * or from inside a transaction's callback, and a transaction object used after its
 * transaction ended), and for bad arguments `ERR_INVALID_ARG_TYPE` (a `TypeError`), `ERR_INVALID_KEY`,
 * `ERR_VALUE_TOO_LARGE` and `ERR_INVALID_CURSOR` (`RangeError`s). `ERR_STORE_IO` and `ERR_STORE_DISK_FULL` errors
 * also have `errno` (negative, as Node's `SystemError`s: `-13`), `syscall`, `path` and
 * `systemCode` (`'EACCES'`).
 */
export declare class Store<V = Buffer> extends EventEmitter<StoreEvents<V>> implements Iterable<[Buffer, V]> {
  private constructor()

  /**
   * Opens (or creates) the store at `path`, recovering it on the libuv threadpool.
   * Opening a path that is already open in this process (in any thread) shares the one
   * open store. A second writer in another process gets `ERR_STORE_LOCKED`, at once or,
   * with `lockTimeout`, once that wait is over (the wait runs on the threadpool).
   */
  static open<E extends ValueEncoding = 'binary', V = Decoded<E>>(path: string, options?: StoreOptions<E>): Promise<Store<V>>
  /** Like {@link Store.open}, on the calling thread. */
  static openSync<E extends ValueEncoding = 'binary', V = Decoded<E>>(path: string, options?: StoreOptions<E>): Store<V>
  /**
   * Opens a fresh, empty store in the OS temporary directory
   * (`<os.tmpdir()>/simd-r-drive-temp-<pid>-<start>-<random>/store`, the directory mode
   * `0o700`), for tests: its directory is removed when the last handle of its path in this
   * process closes (other `Store.open`s of {@link Store.path}, in any thread, keep it; a
   * worker that ends releases its handles), or when the process exits (an `'exit'`
   * handler), closed or not. What a process killed meanwhile (`kill -9`) left behind is
   * removed by a later `Store.temp` once that process is gone (its pid and start time name
   * it, so a live process's store, or a new process that got the same pid, is never taken
   * for it). Buffers read from it stay valid after it is removed on Unix (an unlinked file
   * stays readable while mapped); on Windows a mapped file cannot be deleted, and what was
   * left is removed by a later `Store.temp`. `close()` does not sync a temporary store. Takes
   * the options of {@link Store.open} but `readOnly` and `create` (`ERR_INVALID_ARG_VALUE`).
   */
  static temp<E extends ValueEncoding = 'binary', V = Decoded<E>>(options?: TempStoreOptions<E>): Promise<Store<V>>
  /**
   * Rebuilds the store at `path` from every entry that still verifies, skipping damaged
   * ranges (what to do after `ERR_STORE_CORRUPT`), on the libuv threadpool. The store must
   * not be open anywhere (`ERR_STORE_LOCKED` otherwise). When something was skipped, the
   * damaged original stays reachable as `<path>.damaged`. A file that is not a store is
   * never touched. `options`: `onProgress` and `signal` (see {@link LongOptions}; aborted
   * before it renames anything, the store file is as it was).
   */
  static repair(path: string, options?: LongOptions): Promise<RepairResult>

  /**
   * The path the store was opened with (as given; the store itself resolved it to an
   * absolute path when it was opened, so a later `process.chdir()` changes nothing).
   */
  readonly path: string
  /** Whether the store was opened read-only. */
  readonly readOnly: boolean
  /**
   * The name of this handle's value encoding: `'binary'`, `'utf8'`, `'json'`, or a custom
   * encoding's `name` (default `'custom'`).
   */
  readonly valueEncoding: string
  /** Whether {@link Store.close} was called. */
  readonly closed: boolean
  /** Number of live keys. */
  readonly size: number

  /**
   * The value of `key`, or `undefined`. The `Buffer` views the store's memory map
   * without copying (values in the last, still growing page of the file are copied, and so
   * are a handle's first 1,024 reads of values up to 16 KiB, until a larger value is read:
   * a process that reads a few values then never maps a window of the file) and
   * stays valid after later writes, compaction and `close()`. Writing into it changes a
   * private copy of that memory in this process only: never the file, never other
   * processes; later reads of the same key in this process may see the change until the
   * file is compacted. Use {@link Store.getCopy} for a buffer of your own. A handle opened
   * with a {@link StoreOptions.valueEncoding} returns the value decoded instead.
   */
  get(key: Key): V | undefined
  /**
   * The stored bytes of `key`'s value as a zero-copy `Buffer` (what `get` returns on a
   * binary store), or `undefined`, whatever this handle's value encoding.
   */
  getRaw(key: Key): Buffer | undefined
  /** A copy of the value of `key` that the caller owns, or `undefined`. */
  getCopy(key: Key): Buffer | undefined
  /**
   * The values of `keys`, as {@link Store.get} returns them. Faster than calling `get` for
   * each key when there are many: the lookups are made together, so that their waits for
   * memory overlap.
   */
  getMany(keys: readonly Key[]): (V | undefined)[]
  /** Whether `key` has a value. */
  has(key: Key): boolean

  /**
   * Sets `key` to `value`. Puts, deletes and putMany calls made in the same tick are
   * committed as one batch. The value is copied when `put` is called. With `{ ttl }` or
   * `{ expiresAt }` ({@link WriteOptions}) the value expires: from then on every read
   * treats the key as absent.
   */
  put(key: Key, value: Encodable<V>, options?: WriteOptions): Promise<void>
  /**
   * Sets every `[key, value]` of `entries` atomically: after a crash all or none are there.
   * An entry may be a `[key, value, { ttl }]` or `[key, value, { expiresAt }]` triple
   * ({@link Entry}): that value expires (every `ttl` of one call counts from the same
   * time). `entries` (an array or any iterable) is read once, when `putMany` is called, and every
   * key and value is copied then. A write on this store made from inside that read (by an
   * accessor, Proxy or iterator of `entries`) is refused with `ERR_INVALID_STATE`.
   */
  putMany(entries: Iterable<Entry<V>>): Promise<void>
  /** Deletes `key`; resolves to whether it had a value. */
  delete(key: Key): Promise<boolean>
  /** Like {@link Store.put}, committed before returning (after anything staged before it). */
  putSync(key: Key, value: Encodable<V>, options?: WriteOptions): void
  /**
   * Like {@link Store.putMany}, committed before returning. While it reads `entries`, a
   * write on this store made from inside that read (by an accessor, Proxy or iterator of
   * `entries`) throws `ERR_INVALID_STATE`.
   */
  putManySync(entries: Iterable<Entry<V>>): void
  /** Like {@link Store.delete}, committed before returning. */
  deleteSync(key: Key): boolean
  /**
   * Sets `key` to `value` only if it has no value; resolves to whether it wrote. The
   * condition is checked when the write commits, by the store's one writer (against the
   * store and the operations before it in the same tick's batch), so two callers racing
   * for a key (in this thread or in worker threads) never both win. A failed condition
   * writes nothing; the other writes of the batch commit all the same. A key whose value
   * expired is absent; `options` ({@link WriteOptions}) give the new value an expiry.
   */
  putIfAbsent(key: Key, value: Encodable<V>, options?: WriteOptions): Promise<boolean>
  /**
   * Like {@link Store.putIfAbsent}, committed before returning (after anything staged
   * before it); returns whether it wrote.
   */
  putIfAbsentSync(key: Key, value: Encodable<V>, options?: WriteOptions): boolean
  /**
   * Writes `value` to `key` (deletes it when `value` is `undefined`) only if `expected`
   * holds: `undefined` for "the key has no value", the bytes (or string) the value must
   * equal, or `{ version }`, a version from {@link Store.versionOf} the key must still
   * have. Resolves to whether it wrote. Checked at commit, as {@link Store.putIfAbsent}
   * is. Comparing bytes cannot tell a value that changed and changed back (A→B→A) from
   * one that never changed, and costs the value's length; a version can and does not. A
   * key whose value expired has no value; `options` ({@link WriteOptions}) give the new
   * value an expiry (a `ttl` counts from this call; they are checked for a delete too, and
   * give it none).
   */
  compareAndSet(key: Key, expected: Encodable<V> | { version: bigint } | undefined, value: Encodable<V> | undefined, options?: WriteOptions): Promise<boolean>
  /** Like {@link Store.compareAndSet}, committed before returning; returns whether it wrote. */
  compareAndSetSync(key: Key, expected: Encodable<V> | { version: bigint } | undefined, value: Encodable<V> | undefined, options?: WriteOptions): boolean
  /**
   * The version of `key`'s value, or `undefined` if it has none: a `bigint` that every
   * write of the key (a put of any value, even the same bytes again, or a delete and a new
   * put) replaces with a larger one, and that compaction, {@link Store.repair} and
   * reopening keep. Give it to {@link Store.compareAndSet} as `{ version }` to write only
   * if nobody wrote the key since. A version is the position of the key's entry in the
   * store's history of files; it is no count of writes, and only its order and identity
   * mean anything.
   */
  versionOf(key: Key): bigint | undefined
  /**
   * When `key`'s value expires, in milliseconds since the Unix epoch, or `undefined` if it
   * has no value or was written without `ttl`/`expiresAt`.
   */
  expiresAt(key: Key): number | undefined
  /**
   * The store's time now, in milliseconds since the Unix epoch: the clock that `ttl` is
   * counted from and expiry is judged by (the system clock; it never goes back while the
   * store is open).
   */
  now(): number
  /**
   * Removes every entry whose expiry has passed, in one pass over the log on the
   * threadpool (writers go on meanwhile, between its steps of 16 MiB), and resolves with how
   * many it removed. Each removal is an expiry record in the log (FORMAT.md, "Entries"): the
   * key leaves `size`, `stats().liveBytes` and the index, its bytes count in
   * `stats().reclaimableBytes` (so automatic compaction can come due for them), and the
   * change feed shows `{ type: 'expire', key }`. A writable store also does this by itself,
   * a step a second, while its file may hold entries with an expiry (`expirySweep: false`
   * on open turns that off). Fails on a read-only store.
   */
  clearExpired(): Promise<number>
  /**
   * Deletes every key, atomically: after a crash (even a kill -9 or a power loss in the
   * middle) the store has all its keys or none. It writes one 16-byte entry whatever the
   * store holds (a store of format version 1 or 2 gets a tombstone per key instead), in
   * order with the other writes; the space comes back at the next {@link Store.compact}.
   * Readers opened `readOnly` see the store empty after their next
   * {@link Store.refresh}.
   */
  clear(): Promise<void>
  /** Like {@link Store.clear}, committed before returning (after anything staged before it). */
  clearSync(): void
  /**
   * Runs `fn(tx)` as one read-modify-write transaction and returns what it returned. Writes
   * staged by `put()` and friends are committed first; then the store's writer waits while
   * `fn` runs, so no other write (from any thread) is ordered between its reads and its
   * commit. `tx.get/has` see the store plus the transaction's own writes, `tx.put/delete`
   * stage writes, and when `fn` returns they commit as one atomic batch (durable before
   * this returns, with `sync: true`). When `fn` throws, nothing is written and the error
   * is thrown unchanged. `fn` must be synchronous: one that returns a promise (an `async`
   * function) is refused with `ERR_INVALID_STATE`, nothing written, since it could not be
   * atomic. Writes to the store itself (not `tx`) and nested transactions inside `fn`
   * throw `ERR_INVALID_STATE`.
   */
  transactionSync<T>(fn: (tx: Transaction<V>) => T extends PromiseLike<unknown> ? never : T): T
  /**
   * {@link Store.transactionSync} for async code: runs the synchronous `fn` at once, and
   * resolves to its result when the transaction has committed (once it is durable, with
   * `sync: true`); rejects with its error, unchanged, when it throws (nothing is written).
   * `fn` cannot `await`: everything between its reads and the commit happens while the
   * store's writer waits for it.
   */
  transaction<T>(fn: (tx: Transaction<V>) => T extends PromiseLike<unknown> ? never : T): Promise<T>
  /**
   * A {@link SubStore}: a view of this store's keys that begin with `prefix` (a non-empty
   * string or bytes, shorter than {@link MAX_KEY_BYTES}), with its own `get`, writes,
   * `clear` and iteration, like level's sublevels. It keeps this handle's value encoding
   * unless given `{ valueEncoding }`. Refuses a bad prefix with `ERR_INVALID_ARG_TYPE`
   * (`TypeError`) or `ERR_INVALID_KEY` (`RangeError`).
   */
  sub(prefix: Key): SubStore<V>
  /**
   * A {@link SubStore}: a view of this store's keys that begin with `prefix` (a non-empty
   * string or bytes, shorter than {@link MAX_KEY_BYTES}), with its own `get`, writes,
   * `clear` and iteration, like level's sublevels. It keeps this handle's value encoding
   * unless given `{ valueEncoding }`. Refuses a bad prefix with `ERR_INVALID_ARG_TYPE`
   * (`TypeError`) or `ERR_INVALID_KEY` (`RangeError`).
   */
  sub<E extends ValueEncoding, T = Decoded<E>>(prefix: Key, options: SubStoreOptions<E>): SubStore<T>
  /**
   * Resolves once everything written so far is durable (`fdatasync`). On a read-only
   * store it resolves at once.
   */
  flush(): Promise<void>

  /**
   * A readable stream of the value of `key` as it is now, in chunks of `highWaterMark` bytes
   * (default 64 KiB) that view the store's memory without copying (chunks of a copy where
   * {@link Store.get} would return one). Errors with `ERR_KEY_NOT_FOUND` if the key has
   * no value.
   */
  createReadStream(key: Key, options?: { highWaterMark?: number }): import('node:stream').Readable
  /**
   * A writable stream whose bytes become the value of `key` when it finishes, without
   * holding the value in memory (it is staged in `<path>.upload-*` beside the store). The
   * value appears atomically once the stream has finished (the 'finish' event), in order
   * with the store's other writes; if the stream fails or is destroyed, nothing is
   * written. A `destroy()` after `end()` that comes while the value is being committed
   * waits for the commit: the stream then emits 'finish' (the value is written, and the
   * error given to `destroy()` is not emitted) or, if the commit failed, 'error'. Values are
   * limited to 4 GiB - 1 bytes by the format. `options` ({@link WriteOptions}) give the
   * value an expiry; a `ttl` counts from when the stream ends (its value's commit is
   * issued), not from this call. Bad options throw here, as {@link Store.put}'s do, and
   * nothing is staged or written.
   */
  createWriteStream(key: Key, options?: WriteOptions): import('node:stream').Writable

  /** The live keys, from a snapshot taken when iteration starts (zero-copy). */
  keys(): StoreIterator<Buffer>
  /** The live values, from a snapshot taken when iteration starts (zero-copy). */
  values(): StoreIterator<V>
  /** The live `[key, value]` pairs, from a snapshot taken when iteration starts. */
  entries(): StoreIterator<[Buffer, V]>
  /** Same as {@link Store.entries}. */
  [Symbol.iterator](): StoreIterator<[Buffer, V]>

  /**
   * Rewrites the store without its dead entries, on the libuv threadpool. Reads and
   * writes go on meanwhile and writes made meanwhile are kept. Rejects with
   * `ERR_STORE_READ_ONLY` on a read-only store. One compaction runs at a time: this waits
   * for an automatic one in flight (see `autoCompact`), and `close()` waits for this one.
   * `options`: `onProgress` and `signal` (see {@link LongOptions}; aborted, the store stays
   * as it was).
   */
  compact(options?: LongOptions): Promise<CompactResult>
  /**
   * Writes a copy of the store to `path`, a new file, on the libuv threadpool, while reads
   * and writes go on (writers are not held up). The copy holds every write made through
   * this `Store` before the call (writes of this tick are committed first) and every batch
   * committed when the copy starts, and nothing later: a complete prefix of the log, even
   * when a compaction runs meanwhile. It is synced, put at `path` without replacing anything
   * (an existing file, or link, rejects with `ERR_EXISTS` and is left untouched) and its
   * directory synced before the promise resolves. The copy is a store with its own
   * generation identifier and the store file's mode; a store large enough to get an index
   * file when closed (see {@link Store.close}) also gets one for the copy
   * (`<path>.srd-index`), so that the copy opens in constant time. A
   * crash meanwhile may leave `<path>.backup-<pid>-<n>` beside `path`: delete it.
   * `options`: `onProgress` and `signal` (see {@link LongOptions}; aborted, the temporary
   * copy is removed and nothing appears at `path`).
   */
  backup(path: string, options?: LongOptions): Promise<BackupResult>
  /** Sizes and counts. */
  stats(): StoreStats
  /**
   * What recovery did when this store's file was opened (by the first `Store` of this
   * process that opened it): entries read, bytes of an unfinished or torn tail left aside
   * and why, after damage in unsynced data (a power loss) where the dropped bytes were
   * saved (`savedTail`, a store image for `Store.repair`), and how many keys came from the
   * index file (`checkpointKeys`).
   */
  recovery(): RecoveryReport
  /**
   * Re-reads every entry of the file and checks its checksum, on the libuv threadpool,
   * and checks that the index in memory is the one the file gives (when nothing was written
   * meanwhile). Rejects with `ERR_STORE_CORRUPT` naming the first bad offset. `options`:
   * `onProgress` and `signal` (see {@link LongOptions}).
   */
  verify(options?: LongOptions): Promise<VerifyResult>
  /**
   * Read-only stores: catches up with what a writer in another process appended, or
   * follows it to the new file after it compacted. A store opened for writing (or sharing
   * an engine with a writer in this process) is always current and returns `unchanged`.
   */
  refresh(): 'unchanged' | 'appended' | 'replaced'
  /**
   * The committed batches, in commit order, as an async iterator of {@link ChangeBatch}es:
   * from `since` (or the oldest change in the log) to the present, then, with `live`, each
   * new commit as it happens (in-process commits wake it at once; a read-only store sees a
   * writer in another process as it follows it, see `StoreOptions.follow`). A batch that is
   * not committed is never returned. A slow consumer holds at most one item (1,024 changes
   * or 16 MiB of keys and values) besides what it keeps; values are views of the memory map.
   * `break` (or `return()`) releases everything. A live feed keeps the process running
   * while it waits, as a socket would.
   *
   * After the store was compacted (by this process or the writer a read-only store
   * follows), or with a cursor of another store, the iterator fails with
   * `ERR_CURSOR_EXPIRED`: clear the replica and read `changes()` again without `since` (the
   * compacted log holds every live key once, so it rebuilds the state exactly).
   */
  changes(options?: ChangesOptions): AsyncIterableIterator<ChangeBatch<V>>
  /**
   * The {@link Cursor} of the present: a feed started from it returns the batches
   * committed after this call.
   */
  cursor(): Cursor
  /**
   * Waits for in-flight writes, a `compact()` and ended write streams (unfinished ones are
   * destroyed; an automatic compaction in flight is abandoned instead, leaving the old file
   * the store and removing its temporary file), makes everything written durable (`fdatasync`), saves what changed since
   * the index file of a store of 50,000 keys or more (`<path>.srd-index`; the number is the
   * engine's default `StoreOptions::checkpoint_min_keys`) as a delta file `<path>.srd-delta`,
   * or merges it into a new index file when much changed, so that the next open reads
   * neither the whole file nor what changed (it costs what changed, not the store's size),
   * then closes this store. The
   * file closes when the last `Store` of this process that has it open closes. Buffers
   * returned by reads stay valid. If the sync fails, the store is closed all the same and
   * the promise rejects with that error. Calling it again returns the same promise.
   */
  close(): Promise<void>
}
