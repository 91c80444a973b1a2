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
import type { CompactResult, StoreStats, VerifyResult, RepairResult, RecoveryReport } from './binding'
export type { CompactResult, StoreStats, VerifyResult, RepairResult, RecoveryReport }

/**
 * The `code` of every error simd-r-drive throws or rejects with: the engine's (see
 * {@link Store}), `ERR_KEY_NOT_FOUND` (a read stream of a missing key), `ERR_OUT_OF_RANGE`
 * and `ERR_INVALID_ENV` (bad options or environment), `ERR_NATIVE_BINDING_MISSING` (no
 * native binary for this platform), `ERR_INTERNAL` (a bug: please report it).
 */
export type StoreErrorCode =
  | 'ERR_NOT_A_STORE' | 'ERR_STORE_VERSION' | 'ERR_STORE_CORRUPT' | 'ERR_STORE_LOCKED'
  | 'ERR_STORE_READ_ONLY' | 'ERR_STORE_CLOSED' | 'ERR_STORE_POISONED' | 'ERR_STORE_IO'
  | 'ERR_STORE_DISK_FULL' | 'ERR_STORE_MOVED' | 'ERR_INVALID_STATE' | 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_KEY'
  | 'ERR_VALUE_TOO_LARGE' | 'ERR_KEY_NOT_FOUND' | 'ERR_OUT_OF_RANGE' | 'ERR_INVALID_ENV'
  | 'ERR_INVALID_ARG_VALUE' | 'ERR_NATIVE_BINDING_MISSING' | 'ERR_INTERNAL'
  | 'ERR_CURSOR_EXPIRED' | 'ERR_INVALID_CURSOR'

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

/** How to open a store. */
export interface StoreOptions {
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
export interface Change {
  /** `'put'` (the key was set to `value`) or `'delete'`. */
  type: 'put' | 'delete'
  /** The key, as a `Buffer`. */
  key: Buffer
  /** The value of a put; `undefined` for a delete. */
  value: Buffer | undefined
}

/**
 * One committed batch of a change feed (or of a `'change'` event): its changes in the
 * order they were written, and the cursor after it. A batch of more than 1,024 changes or
 * 16 MiB of keys and values comes in several items, all but the last with `more: true`;
 * their `cursor` is the one before the batch, so that resuming from any of them replays
 * the whole batch. Apply the items up to the one without `more` as one batch.
 */
export interface ChangeBatch {
  /**
   * Where to resume after this item: `changes({ since: cursor })` starts with the next
   * batch (for an item with `more`, with this batch again, whole).
   */
  cursor: Cursor
  /** More items of the same batch follow (a batch larger than one item). */
  more: boolean
  /** The batch's puts and deletes, in the order they were written. */
  changes: Change[]
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
export interface StoreEvents {
  /**
   * After each commit: what the batch changed, as a {@link ChangeBatch} (the same items
   * {@link Store.changes} returns). Every `Store` of the engine hears it, in any thread of
   * the process, and a read-only store that follows a writer in another process (see
   * `StoreOptions.follow`) hears the writer's commits.
   */
  change: [batch: ChangeBatch]
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
 * alone), `ERR_CURSOR_EXPIRED` (a cursor of {@link Store.changes} from before a compaction,
 * or of another store), `ERR_INVALID_STATE` (a write
 * from inside the read of the entries of {@link Store.putMany} or {@link Store.putManySync}), and for bad arguments `ERR_INVALID_ARG_TYPE` (a `TypeError`), `ERR_INVALID_KEY`
 * `ERR_VALUE_TOO_LARGE` and `ERR_INVALID_CURSOR` (`RangeError`s). `ERR_STORE_IO` and `ERR_STORE_DISK_FULL` errors
 * also have `errno` (negative, as Node's `SystemError`s: `-13`), `syscall`, `path` and
 * `systemCode` (`'EACCES'`).
 */
export declare class Store extends EventEmitter<StoreEvents> implements Iterable<[Buffer, Buffer]> {
  private constructor()

  /**
   * Opens (or creates) the store at `path`, recovering it on the libuv threadpool.
   * Opening a path that is already open in this process (in any thread) shares the one
   * open store. A second writer in another process gets `ERR_STORE_LOCKED`, at once or,
   * with `lockTimeout`, once that wait is over (the wait runs on the threadpool).
   */
  static open(path: string, options?: StoreOptions): Promise<Store>
  /** Like {@link Store.open}, on the calling thread. */
  static openSync(path: string, options?: StoreOptions): Store
  /**
   * Rebuilds the store at `path` from every entry that still verifies, skipping damaged
   * ranges (what to do after `ERR_STORE_CORRUPT`), on the libuv threadpool. The store must
   * not be open anywhere (`ERR_STORE_LOCKED` otherwise). When something was skipped, the
   * damaged original stays reachable as `<path>.damaged`. A file that is not a store is
   * never touched.
   */
  static repair(path: string): Promise<RepairResult>

  /**
   * The path the store was opened with (as given; the store itself resolved it to an
   * absolute path when it was opened, so a later `process.chdir()` changes nothing).
   */
  readonly path: string
  /** Whether the store was opened read-only. */
  readonly readOnly: boolean
  /** Whether {@link Store.close} was called. */
  readonly closed: boolean
  /** Number of live keys. */
  readonly size: number

  /**
   * The value of `key`, or `undefined`. The `Buffer` views the store's memory map
   * without copying (values in the last, still growing page of the file are copied) and
   * stays valid after later writes, compaction and `close()`. Writing into it changes a
   * private copy of that memory in this process only: never the file, never other
   * processes; later reads of the same key in this process may see the change until the
   * file is compacted. Use {@link Store.getCopy} for a buffer of your own.
   */
  get(key: Key): Buffer | undefined
  /** A copy of the value of `key` that the caller owns, or `undefined`. */
  getCopy(key: Key): Buffer | undefined
  /**
   * The values of `keys`, as {@link Store.get} returns them. Faster than calling `get` for
   * each key when there are many: the lookups are made together, so that their waits for
   * memory overlap.
   */
  getMany(keys: readonly Key[]): (Buffer | undefined)[]
  /** Whether `key` has a value. */
  has(key: Key): boolean

  /**
   * Sets `key` to `value`. Puts, deletes and putMany calls made in the same tick are
   * committed as one batch. The value is copied when `put` is called.
   */
  put(key: Key, value: Value): Promise<void>
  /**
   * Sets every `[key, value]` of `entries` atomically: after a crash all or none are there.
   * `entries` (an array or any iterable) is read once, when `putMany` is called, and every
   * key and value is copied then. A write on this store made from inside that read (by an
   * accessor, Proxy or iterator of `entries`) is refused with `ERR_INVALID_STATE`.
   */
  putMany(entries: Iterable<readonly [Key, Value]>): Promise<void>
  /** Deletes `key`; resolves to whether it had a value. */
  delete(key: Key): Promise<boolean>
  /** Like {@link Store.put}, committed before returning (after anything staged before it). */
  putSync(key: Key, value: Value): void
  /**
   * Like {@link Store.putMany}, committed before returning. While it reads `entries`, a
   * write on this store made from inside that read (by an accessor, Proxy or iterator of
   * `entries`) throws `ERR_INVALID_STATE`.
   */
  putManySync(entries: Iterable<readonly [Key, Value]>): void
  /** Like {@link Store.delete}, committed before returning. */
  deleteSync(key: Key): boolean
  /**
   * Resolves once everything written so far is durable (`fdatasync`). On a read-only
   * store it resolves at once.
   */
  flush(): Promise<void>

  /**
   * A readable stream of the value of `key` as it is now, in zero-copy chunks of
   * `highWaterMark` bytes (default 64 KiB). Errors with `ERR_KEY_NOT_FOUND` if the key has
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
   * limited to 4 GiB - 1 bytes by the format.
   */
  createWriteStream(key: Key): import('node:stream').Writable

  /** The live keys, from a snapshot taken when iteration starts (zero-copy). */
  keys(): StoreIterator<Buffer>
  /** The live values, from a snapshot taken when iteration starts (zero-copy). */
  values(): StoreIterator<Buffer>
  /** The live `[key, value]` pairs, from a snapshot taken when iteration starts. */
  entries(): StoreIterator<[Buffer, Buffer]>
  /** Same as {@link Store.entries}. */
  [Symbol.iterator](): StoreIterator<[Buffer, Buffer]>

  /**
   * Rewrites the store without its dead entries, on the libuv threadpool. Reads and
   * writes go on meanwhile and writes made meanwhile are kept. Rejects with
   * `ERR_STORE_READ_ONLY` on a read-only store.
   */
  compact(): Promise<CompactResult>
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
   * meanwhile). Rejects with `ERR_STORE_CORRUPT` naming the first bad offset.
   */
  verify(): Promise<VerifyResult>
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
  changes(options?: ChangesOptions): AsyncIterableIterator<ChangeBatch>
  /**
   * The {@link Cursor} of the present: a feed started from it returns the batches
   * committed after this call.
   */
  cursor(): Cursor
  /**
   * Waits for in-flight writes, compaction and ended write streams (unfinished ones are
   * destroyed), makes everything written durable (`fdatasync`), saves what changed since
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
