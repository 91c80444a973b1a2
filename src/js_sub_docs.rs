//! The documentation of sub-stores (`lib/sub.js`), which call no native function of their
//! own. Written into `index.d.ts` by `npm run docs`, as every `# JavaScript:` section is.
//!
//! # JavaScript: `SubStoreOptions`
//!
//! The options of {@link Store.sub} and {@link SubStore.sub}.
//!
//! # JavaScript: `SubStoreOptions.valueEncoding`
//!
//! The sub-store's own value encoding (as {@link StoreOptions.valueEncoding}); by default
//! it keeps its parent's.
//!
//! # JavaScript: `SubStore`
//!
//! A view of the keys of a store that begin with a prefix (made by {@link Store.sub}): its
//! key `k` is the store's key `prefix + k`. Its reads, writes and `clear` work on its own
//! keys and its iteration yields only them, without the prefix. The prefix is raw bytes:
//! `sub('a')` also sees the keys of `sub('ab')`, so end a prefix with a separator its keys
//! do not start with (`'users:'`). The store's index is a hash table: iteration and
//! `clear` scan all live keys of the store. There is no `size` (it would be that scan).
//!
//! # JavaScript: `SubStore.prefix`
//!
//! The full prefix of this sub-store's keys (its parents' too): a string when every prefix
//! given was a string, else a `Buffer` copy.
//!
//! # JavaScript: `SubStore.store`
//!
//! The store this sub-store is a view of.
//!
//! # JavaScript: `SubStore.valueEncoding`
//!
//! The name of this sub-store's value encoding (its parent's unless given its own).
//!
//! # JavaScript: `SubStore.sub`
//!
//! A sub-store of this one: its prefix is this one's followed by `prefix`.
//!
//! # JavaScript: `SubStore.get`
//!
//! {@link Store.get} of `prefix + key`, decoded in this sub-store's encoding. A key longer
//! than {@link MAX_KEY_BYTES} once prefixed throws a `RangeError` (`ERR_INVALID_KEY`), as
//! every member taking a key does.
//!
//! # JavaScript: `SubStore.getMany`
//!
//! {@link Store.getMany} of the prefixed keys.
//!
//! # JavaScript: `SubStore.has`
//!
//! {@link Store.has} of `prefix + key`.
//!
//! # JavaScript: `SubStore.versionOf`
//!
//! {@link Store.versionOf} of `prefix + key`.
//!
//! # JavaScript: `SubStore.put`
//!
//! {@link Store.put} of `prefix + key`: staged in the store's batch of this tick.
//!
//! # JavaScript: `SubStore.putMany`
//!
//! {@link Store.putMany} of the prefixed pairs.
//!
//! # JavaScript: `SubStore.delete`
//!
//! {@link Store.delete} of `prefix + key`.
//!
//! # JavaScript: `SubStore.putSync`
//!
//! {@link Store.putSync} of `prefix + key`.
//!
//! # JavaScript: `SubStore.putManySync`
//!
//! {@link Store.putManySync} of the prefixed pairs.
//!
//! # JavaScript: `SubStore.deleteSync`
//!
//! {@link Store.deleteSync} of `prefix + key`.
//!
//! # JavaScript: `SubStore.putIfAbsent`
//!
//! {@link Store.putIfAbsent} of `prefix + key`.
//!
//! # JavaScript: `SubStore.putIfAbsentSync`
//!
//! {@link Store.putIfAbsentSync} of `prefix + key`.
//!
//! # JavaScript: `SubStore.expiresAt`
//!
//! {@link Store.expiresAt} of `prefix + key`.
//!
//! # JavaScript: `SubStore.compareAndSet`
//!
//! {@link Store.compareAndSet} of `prefix + key` (`expected` and `value` in this
//! sub-store's encoding; `options` as the store's).
//!
//! # JavaScript: `SubStore.compareAndSetSync`
//!
//! {@link Store.compareAndSetSync} of `prefix + key`.
//!
//! # JavaScript: `SubStore.clear`
//!
//! Deletes every key of this sub-store, and no other: one transaction (see
//! {@link Store.transaction}) scans the store's keys and deletes those with the prefix, so
//! no write lands between the scan and the deletes and they commit as one batch (all or
//! nothing, also across a crash). Costs a scan of all live keys of the store.
//!
//! # JavaScript: `SubStore.clearSync`
//!
//! {@link SubStore.clear}, committed before it returns.
//!
//! # JavaScript: `SubStore.keys`
//!
//! The keys of this sub-store, without the prefix (zero-copy `Buffer`s): a scan of all
//! live keys of the store, which keeps those with the prefix.
//!
//! # JavaScript: `SubStore.values`
//!
//! The values of this sub-store's keys, decoded (a scan, as {@link SubStore.keys}).
//!
//! # JavaScript: `SubStore.entries`
//!
//! `[key, value]` pairs of this sub-store, keys without the prefix (a scan, as
//! {@link SubStore.keys}).
//!
//! # JavaScript: `SubStore[Symbol.iterator]`
//!
//! Same as {@link SubStore.entries}.
//!
//! # JavaScript: `Store.sub`
//!
//! A {@link SubStore}: a view of this store's keys that begin with `prefix` (a non-empty
//! string or bytes, shorter than {@link MAX_KEY_BYTES}), with its own `get`, writes,
//! `clear` and iteration, like level's sublevels. It keeps this handle's value encoding
//! unless given `{ valueEncoding }`. Refuses a bad prefix with `ERR_INVALID_ARG_TYPE`
//! (`TypeError`) or `ERR_INVALID_KEY` (`RangeError`).
