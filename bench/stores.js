'use strict'
// One adapter per store, each used the way its own documentation recommends for speed.
// Every adapter offers the same operations; `null` marks what a store does not have.
// `open(dir, { json: true })` opens with a JSON value encoding where the store has one
// (the adapter then says `json: true`).

const fs = require('node:fs')
const path = require('node:path')

/** The installed version of a package (read from its package.json on disk). */
function pkgVersion (name) {
  const file = path.join(__dirname, '..', 'node_modules', name, 'package.json')
  return JSON.parse(fs.readFileSync(file, 'utf8')).version
}

/** simd-r-drive (this package). */
const srd = {
  name: 'simd-r-drive',
  version: () => require('../package.json').version,
  async open (dir, { sync = false, json = false } = {}) {
    const { Store } = require('..')
    const s = await Store.open(path.join(dir, 'data.srd'), { sync, valueEncoding: json ? 'json' : 'binary' })
    // BENCH_CHANGE_LISTENER=1: one 'change' listener that does nothing (what events cost).
    if (process.env.BENCH_CHANGE_LISTENER === '1') s.on('change', () => {})
    return {
      json,
      bulk: (entries) => { s.putManySync(entries) },
      put: (k, v) => s.put(k, v),
      get: (k) => s.get(k),
      getFast: (k) => s.get(k), // get is already the zero-copy fast path
      // No separate async read: reads never wait for I/O, so an async caller (Keyv, say)
      // awaits the sync get.
      getAsync: async (k) => s.get(k),
      scan (visit) { for (const [k, v] of s) visit(k, v) },
      compact: () => s.compact(),
      // Entries the open replayed from the log (after a crash: those written since the
      // index files last covered it).
      replayed: () => s.recovery().entries,
      close: () => s.close()
    }
  }
}

/** lmdb-js: transactionSync + putSync for bulk, getBinary / getBinaryFast for reads. */
const lmdb = {
  name: 'lmdb',
  version: () => pkgVersion('lmdb'),
  async open (dir, { sync = false, json = false } = {}) {
    const { open } = require('lmdb')
    // lmdb-js syncs every commit by default; `sync: false` rows keep that default.
    const db = open({ path: path.join(dir, 'lmdb'), encoding: json ? 'json' : 'binary', compression: false })
    return {
      json,
      // With `encoding: 'json'`, get decodes (getBinary would return the raw bytes).
      getDecoded: (k) => db.get(k),
      bulk: (entries) => db.transactionSync(() => { for (const [k, v] of entries) db.putSync(k, v) }),
      put: (k, v) => db.put(k, v),
      get: (k) => db.getBinary(k),
      getFast: (k) => db.getBinaryFast(k),
      getAsync: null,
      scan (visit) { for (const { key, value } of db.getRange()) visit(key, value) },
      compact: null,
      close: () => db.close(),
      durableByDefault: true,
      _sync: sync
    }
  }
}

/** classic-level (LevelDB): batch for bulk, getSync for reads. */
const level = {
  name: 'classic-level',
  version: () => pkgVersion('classic-level'),
  async open (dir, { sync = false } = {}) {
    const { ClassicLevel } = require('classic-level')
    const db = new ClassicLevel(path.join(dir, 'level'), { keyEncoding: 'utf8', valueEncoding: 'buffer' })
    await db.open()
    const opts = { sync }
    return {
      async bulk (entries) {
        for (let i = 0; i < entries.length; i += 10000) {
          await db.batch(entries.slice(i, i + 10000).map(([key, value]) => ({ type: 'put', key, value })))
        }
      },
      put: (k, v) => db.put(k, v, opts),
      get: (k) => db.getSync(k),
      getFast: null,
      getAsync: (k) => db.get(k),
      async scanAsync (visit) {
        const it = db.iterator()
        for (;;) {
          const entries = await it.nextv(1000)
          if (entries.length === 0) break
          for (const [k, v] of entries) visit(k, v)
        }
        await it.close()
      },
      scan: null,
      async compact () {
        const it = db.keys({ limit: 1 })
        const first = await it.next()
        await it.close()
        const last = await db.keys({ reverse: true, limit: 1 }).all()
        await db.compactRange(first, last[0])
      },
      close: () => db.close()
    }
  }
}

/** better-sqlite3: WAL, prepared statements, one transaction for bulk. */
const sqlite = {
  name: 'better-sqlite3',
  version: () => pkgVersion('better-sqlite3'),
  async open (dir, { sync = false } = {}) {
    const Database = require('better-sqlite3')
    const db = new Database(path.join(dir, 'kv.sqlite'))
    db.pragma('journal_mode = WAL')
    // WAL's recommended setting; FULL syncs the WAL on every commit.
    db.pragma(`synchronous = ${sync ? 'FULL' : 'NORMAL'}`)
    db.exec('CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID')
    const ins = db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)')
    const sel = db.prepare('SELECT v FROM kv WHERE k = ?').pluck()
    const all = db.prepare('SELECT k, v FROM kv').raw()
    const bulk = db.transaction((entries) => { for (const [k, v] of entries) ins.run(k, v) })
    return {
      bulk: (entries) => bulk(entries),
      put: async (k, v) => { ins.run(k, v) },
      get: (k) => sel.get(k),
      getFast: null,
      getAsync: null,
      scan (visit) { for (const [k, v] of all.iterate()) visit(k, v) },
      compact: async () => { db.exec('VACUUM') },
      close: () => db.close()
    }
  }
}

const STORES = { 'simd-r-drive': srd, lmdb, 'classic-level': level, 'better-sqlite3': sqlite }

/** Bytes of every file under `dir`. */
function diskBytes (dir) {
  let total = 0
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) total += diskBytes(p)
    else total += fs.statSync(p).size
  }
  return total
}

module.exports = { STORES, diskBytes }
