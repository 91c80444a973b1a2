'use strict'

// Opening and closing the store the command names.

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
  // A command is over in moments: no background verifier (reads still verify on first use).
  return srd().Store.open(file, { create, verify: 'onRead' })
}

/** Runs `fn(store)` and closes the store afterwards, whatever happened. */
async function withStore (store, fn) {
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

module.exports = { srd, openRead, openWrite, withStore }
