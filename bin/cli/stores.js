'use strict'

// Opening and closing the store the command names.

const fs = require('node:fs')

/** The package itself, loaded on first use (so `--help` and `bench` do not load the addon). */
let lib = null
function srd () {
  if (lib === null) lib = require('../..')
  return lib
}

async function openRead (file) {
  return srd().Store.open(file, { readOnly: true, create: false })
}

async function openWrite (file, create) {
  return srd().Store.open(file, { create })
}

/** Runs `fn(store)` and closes the store afterwards, whatever happened. */
async function withStore (store, fn) {
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

/** The format version in the file header (u16 LE at bytes 8..10), or null without the magic. */
function headerVersion (file) {
  const fd = fs.openSync(file, 'r')
  try {
    const head = Buffer.alloc(10)
    const n = fs.readSync(fd, head, 0, 10, 0)
    if (n < 10 || head.toString('latin1', 0, 8) !== 'SIMDRDRV') return null
    return head.readUInt16LE(8)
  } finally {
    fs.closeSync(fd)
  }
}

module.exports = { srd, openRead, openWrite, withStore, headerVersion }
