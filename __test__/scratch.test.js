'use strict'
// The numbers that cross the boundary are named once on each side: src/scratch.rs and
// src/staging.rs in Rust, lib/scratch.js in JavaScript. The two must give every name the
// same value. These tests read the Rust sources; they do not load the native addon.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const scratch = require('../lib/scratch.js')

const ROOT = path.join(__dirname, '..')

/** The `const NAME: type = value;` items of a Rust file, as numbers. */
function rustConsts (file) {
  const source = fs.readFileSync(path.join(ROOT, file), 'utf8')
  const found = new Map()
  for (const m of source.matchAll(/^pub(?:\(crate\))? const ([A-Z][A-Z0-9_]*): [a-z0-9]+ = (-?[0-9_]+(?:\.[0-9]+)?);/gm)) {
    found.set(m[1], Number(m[2].replace(/_/g, '')))
  }
  return found
}

test('lib/scratch.js names every slot, sentinel and record of src/scratch.rs with the same value', (t) => {
  const rust = rustConsts('src/scratch.rs')
  t.true(rust.size >= 20, `read ${rust.size} constants from src/scratch.rs`)
  for (const [name, value] of rust) t.is(scratch[name], value, `${name} in lib/scratch.js`)
})

test('lib/scratch.js names the staging op kinds (puts with an expiry too), conditions and header of src/staging.rs with the same value', (t) => {
  const rust = rustConsts('src/staging.rs')
  t.deepEqual([...rust.keys()].sort(), ['COND_ABSENT', 'COND_VALUE', 'COND_VERSION', 'OP_DELETE', 'OP_HEADER_LEN', 'OP_PUT', 'OP_PUT_EXPIRING'])
  for (const [name, value] of rust) t.is(scratch[name], value, `${name} in lib/scratch.js`)
})

test('lib/scratch.js has nothing that the Rust side does not name', (t) => {
  const rust = new Map([...rustConsts('src/scratch.rs'), ...rustConsts('src/staging.rs')])
  for (const name of Object.keys(scratch)) t.true(rust.has(name), `${name} is named in src/scratch.rs or src/staging.rs`)
  // The layout the slots describe: the key starts after the result slots.
  t.is(scratch.KEY_AT, scratch.OUT_SLOTS * scratch.SLOT_BYTES)
})

test('no other JavaScript module spells a slot or sentinel as a bare number', (t) => {
  // The places that read the native results: each must use the names of lib/scratch.js.
  for (const f of ['lib/read.js', 'lib/write.js', 'lib/keys.js']) {
    const source = fs.readFileSync(path.join(ROOT, f), 'utf8')
    t.notRegex(source, /found === [0-9]|state === [0-9]|start === -[0-9]|seq [<>]=? 0|, 4\)|\[4 \* /, f)
  }
})
