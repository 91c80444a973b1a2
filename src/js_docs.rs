//! The documentation of JavaScript members that call no native function of their own:
//! value encodings (`lib/encoding.js`) and temporary stores (`lib/temp.js`). Written into
//! `index.d.ts` by `npm run docs`, as every `# JavaScript:` section is.
//!
//! # JavaScript: `Json`
//!
//! A value the `'json'` encoding reads back: what `JSON.parse` gives.
//!
//! # JavaScript: `CustomEncoding`
//!
//! A value encoding of your own, as the level ecosystem defines them: `encode` turns a
//! value into what is stored, `decode` turns the stored bytes (a zero-copy `Buffer`, valid
//! as long as you keep it) back into a value.
//!
//! # JavaScript: `CustomEncoding.encode`
//!
//! The bytes (or string, stored as UTF-8) to store for `value`. What it throws rejects the
//! write, and nothing of it is written.
//!
//! # JavaScript: `CustomEncoding.decode`
//!
//! The value of the stored bytes `data`. What it throws comes out of the read.
//!
//! # JavaScript: `CustomEncoding.format`
//!
//! What `decode` is given: a `Buffer` (`'buffer'`, `'view'`, or absent).
//!
//! # JavaScript: `CustomEncoding.name`
//!
//! The name {@link Store.valueEncoding} reports (default `'custom'`).
//!
//! # JavaScript: `CustomUtf8Encoding`
//!
//! A {@link CustomEncoding} whose `decode` is given the stored bytes as a string (UTF-8):
//! level's `format: 'utf8'`.
//!
//! # JavaScript: `CustomUtf8Encoding.encode`
//!
//! The bytes (or string, stored as UTF-8) to store for `value`.
//!
//! # JavaScript: `CustomUtf8Encoding.decode`
//!
//! The value of the stored bytes, decoded as UTF-8 into `data`.
//!
//! # JavaScript: `CustomUtf8Encoding.format`
//!
//! `'utf8'`: `decode` is given a string.
//!
//! # JavaScript: `CustomUtf8Encoding.name`
//!
//! The name {@link Store.valueEncoding} reports (default `'custom'`).
//!
//! # JavaScript: `ValueEncoding`
//!
//! How a `Store` handle encodes values ({@link StoreOptions.valueEncoding}): `'binary'` (or
//! `'buffer'`), `'utf8'`, `'json'`, or a {@link CustomEncoding}.
//!
//! # JavaScript: `Decoded`
//!
//! The type of the values a store opened with the encoding `E` reads: `Buffer` for
//! `'binary'`, `string` for `'utf8'`, {@link Json} for `'json'` (give `Store.open` a second
//! type argument for a type of your own: `Store.open<'json', User>(path, { valueEncoding:
//! 'json' })`), and what `decode` returns for a custom encoding.
//!
//! # JavaScript: `Encodable`
//!
//! What the writes of a `Store<V>` accept: any {@link Value} for a binary store, a string
//! (or bytes) for `'utf8'`, a `V` otherwise.
//!
//! # JavaScript: `StoreOptions.valueEncoding`
//!
//! How this handle encodes values (see the README, "Value encodings"): `'binary'` (the
//! default; alias `'buffer'`: zero-copy `Buffer`s), `'utf8'` (strings; numbers and booleans
//! are written as `String(value)`, bytes as they are), `'json'` (`JSON.stringify` to write,
//! `JSON.parse` to read; a value it cannot encode, such as `undefined`, is refused with
//! `ERR_INVALID_ARG_VALUE` and nothing is written), or a custom `{ encode, decode }`. `get`,
//! `getMany`, `values`, `entries` and iteration decode; `put`, `putMany`, `putSync` and
//! `putManySync` encode. Keys, {@link Store.getRaw}, {@link Store.getCopy} and the streams
//! are raw bytes whatever the encoding. The encoding belongs to the handle: a path opened
//! twice in this process shares one engine, each handle with its own encoding. Anything
//! else is refused with a `TypeError` (`ERR_INVALID_ARG_VALUE`, or `ERR_INVALID_ARG_TYPE`)
//! before the store is opened.
//!
//! # JavaScript: `Store.valueEncoding`
//!
//! The name of this handle's value encoding: `'binary'`, `'utf8'`, `'json'`, or a custom
//! encoding's `name` (default `'custom'`).
//!
//! # JavaScript: `Store.getRaw`
//!
//! The stored bytes of `key`'s value as a zero-copy `Buffer` (what `get` returns on a
//! binary store), or `undefined`, whatever this handle's value encoding.
//!
//! # JavaScript: `TempStoreOptions`
//!
//! The options of {@link Store.temp}: those of {@link Store.open}, but `readOnly` and
//! `create` (a temporary store is always new and writable).
