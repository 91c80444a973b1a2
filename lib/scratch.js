'use strict'
// Layout of the scratch buffer shared with the native layer (see src/scratch.rs).

const KEY_AT = 32
const OUT_MAP_ID = 0
const OUT_OFFSET = 1
const OUT_LEN = 2
const OUT_AUX = 3

module.exports = { KEY_AT, OUT_MAP_ID, OUT_OFFSET, OUT_LEN, OUT_AUX }
