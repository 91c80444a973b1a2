'use strict'
// The numbers that cross the boundary to the native layer, named as src/scratch.rs and
// src/staging.rs name them (__test__/scratch.test.js checks that the two agree).

// Slots are 8-byte floats, read through a Float64Array and named by index.
const SLOT_BYTES = 8

// The scratch buffer: OUT_SLOTS result slots, then the key (from byte KEY_AT).
/** Result slot: identity of the mapping the located value is in. */
const OUT_MAP_ID = 0
/** Result slot: offset of the located value in the file. */
const OUT_OFFSET = 1
/** Result slot: length of the located value. */
const OUT_LEN = 2
/** Result slot: where a window made by `window` starts, or a WINDOW_* sentinel. */
const OUT_AUX = 3
/** Number of result slots. */
const OUT_SLOTS = 4
/** Byte at which the key starts, after the result slots. */
const KEY_AT = 32

// What `locate` returns, and the state slot of a `locateMany` record.
/** The key has no value. */
const LOCATE_ABSENT = 0
/** The value can be viewed in place. */
const LOCATE_IN_PLACE = 1
/** The value ends in the last, still growing page of the file: copy it. */
const LOCATE_COPY = 2

// What `window` writes into OUT_AUX when it makes no window.
/** The store moved to another mapping since `locate`: locate again (or copy). */
const WINDOW_MOVED = -1
/** This runtime does not allow external buffers: copy instead. */
const WINDOW_NOT_ALLOWED = -2

/** What `tryWriteBatch` and `writeEntries` return when they wrote nothing. */
const NOT_WRITTEN = -1

// A `locateMany` record, one per key: FOUND_SLOTS slots.
const FOUND_STATE = 0
const FOUND_MAP_ID = 1
const FOUND_OFFSET = 2
const FOUND_LEN = 3
const FOUND_SLOTS = 4

// A snapshot entry written by `Snapshot.nextBatch`: ENTRY_SLOTS slots.
const ENTRY_KEY_OFFSET = 0
const ENTRY_KEY_LEN = 1
const ENTRY_VALUE_OFFSET = 2
const ENTRY_VALUE_LEN = 3
const ENTRY_SLOTS = 4

// The staging format of a batch (src/staging.rs): per operation a header of OP_HEADER_LEN
// bytes (kind, 0, key length u16le, value length u32le), then the key and the value.
/** `kind` of a staged Put. */
const OP_PUT = 1
/** `kind` of a staged Delete. */
const OP_DELETE = 2
/** `kind` of a staged Put with an expiry: a u64le (ms since the epoch) follows the value. */
const OP_PUT_EXPIRING = 3
/** Length of the fixed part of one staged operation. */
const OP_HEADER_LEN = 8
// The second byte of a staged operation: its condition (0 none). COND_VALUE is followed,
// after the value, by the expected bytes (length u32le, bytes); COND_VERSION by a u64le.
/** Written only if the key has no value. */
const COND_ABSENT = 1
/** Written only if the key's value is the bytes that follow. */
const COND_VALUE = 2
/** Written only if the key's version is the u64 that follows. */
const COND_VERSION = 3

module.exports = {
  SLOT_BYTES,
  OUT_MAP_ID,
  OUT_OFFSET,
  OUT_LEN,
  OUT_AUX,
  OUT_SLOTS,
  KEY_AT,
  LOCATE_ABSENT,
  LOCATE_IN_PLACE,
  LOCATE_COPY,
  WINDOW_MOVED,
  WINDOW_NOT_ALLOWED,
  NOT_WRITTEN,
  FOUND_STATE,
  FOUND_MAP_ID,
  FOUND_OFFSET,
  FOUND_LEN,
  FOUND_SLOTS,
  ENTRY_KEY_OFFSET,
  ENTRY_KEY_LEN,
  ENTRY_VALUE_OFFSET,
  ENTRY_VALUE_LEN,
  ENTRY_SLOTS,
  OP_PUT,
  OP_DELETE,
  OP_PUT_EXPIRING,
  OP_HEADER_LEN,
  COND_ABSENT,
  COND_VALUE,
  COND_VERSION
}
