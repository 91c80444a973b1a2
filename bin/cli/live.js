'use strict'

// The live commands: tail (the change feed as NDJSON) and replicate (a second store kept
// equal to the first through the change feed).

const fs = require('node:fs')
const { OK, STORE_ERROR, Failure } = require('./exit')
const { Output } = require('./output')
const { srd, withStore } = require('./stores')

/** The side file of a replica that holds the cursor of the last batch it applied. */
function cursorFile (target) {
  return target + '.srd-replica-cursor'
}

function storeFailure (e) {
  return new Failure(`error [${e.code}]: ${e.message}`, STORE_ERROR)
}

/** One NDJSON line of a feed item: the cursor, `more` if set, and the changes. */
function itemLine (item) {
  const changes = item.changes.map((c) => c.type === 'put'
    ? `{"type":"put","key64":"${c.key.toString('base64')}","value64":"${c.value.toString('base64')}"}`
    : c.type === 'clear'
      ? '{"type":"clear"}'
      : `{"type":"${c.type === 'expire' || c.type === 'evict' ? c.type : 'delete'}","key64":"${c.key.toString('base64')}"}`)
  return `{"cursor":"${item.cursor}"${item.more ? ',"more":true' : ''},"changes":[${changes.join(',')}]}\n`
}

/** Resolves when SIGINT or SIGTERM arrives (and stops listening for them then). */
function interrupted () {
  let stop
  const p = new Promise((resolve) => { stop = resolve })
  const on = () => stop()
  process.once('SIGINT', on)
  process.once('SIGTERM', on)
  p.then(() => {
    process.off('SIGINT', on)
    process.off('SIGTERM', on)
  })
  return p
}

/** Runs `feed` until it ends, `until` resolves, or `each(item)` returns false. */
async function drain (feed, until, each) {
  until.then(() => feed.return())
  for await (const item of feed) {
    if (!await each(item)) break
  }
}

async function tail ({ store: file }, { since }) {
  const { Store } = srd()
  const s = await Store.open(file, { readOnly: true, create: false })
  const out = new Output(process.stdout)
  const stop = interrupted()
  let stopped = false
  stop.then(() => { stopped = true })
  await withStore(s, async (s) => {
    let from = since === undefined ? s.cursor() : since
    while (!stopped) {
      try {
        await drain(s.changes({ since: from, live: true }), stop, async (item) => {
          if (!await out.write(itemLine(item))) return false
          from = item.cursor
          return out.flush()
        })
        break
      } catch (e) {
        // The writer compacted: say so, and go on from the present of the new file. A
        // cursor given with --since that is already expired is an error.
        if (e.code !== 'ERR_CURSOR_EXPIRED' || from === since) throw storeFailure(e)
        from = s.cursor()
        if (!await out.write(`{"replaced":true,"cursor":"${from}"}\n`) || !await out.flush()) break
      }
    }
    await out.end()
  })
  return OK
}

function readCursor (target) {
  try {
    return fs.readFileSync(cursorFile(target), 'utf8') || null
  } catch (e) {
    if (e.code === 'ENOENT') return null
    throw e
  }
}

function saveCursor (target, cursor) {
  const f = cursorFile(target)
  fs.writeFileSync(f + '.tmp', cursor)
  fs.renameSync(f + '.tmp', f)
}

async function replicate ({ source, target }) {
  const { Store } = srd()
  const src = await Store.open(source, { readOnly: true, create: false })
  // Each batch is durable before its cursor is saved: after any crash the side file names
  // a batch the replica has (at worst one it applies again, harmlessly).
  const dst = await Store.open(target, { sync: true }).catch(async (e) => {
    await src.close()
    throw e
  })
  const stop = interrupted()
  let stopped = false
  stop.then(() => { stopped = true })
  try {
    let since = readCursor(target)
    process.stderr.write(`replicating ${source} to ${target} ${since === null ? 'from the start' : `from ${since}`}; Ctrl-C stops\n`)
    while (!stopped) {
      if (since === null) {
        // Start over: the replica is emptied in one entry, then rebuilt from the feed.
        await dst.clear()
        saveCursor(target, '')
      }
      try {
        let pending = []
        await drain(src.changes({ since, live: true }), stop, async (item) => {
          pending.push(...item.changes)
          if (item.more) return true
          // Writes made in one tick commit as one batch; a clear is a batch of its own.
          if (pending.length === 1 && pending[0].type === 'clear') await dst.clear()
          else await Promise.all(pending.map((c) => c.type === 'put' ? dst.put(c.key, c.value) : dst.delete(c.key)))
          pending = []
          saveCursor(target, item.cursor)
          since = item.cursor
          return true
        })
        break
      } catch (e) {
        if (e.code !== 'ERR_CURSOR_EXPIRED') throw e
        process.stderr.write('the source was compacted: rebuilding the replica\n')
        since = null
      }
    }
  } finally {
    await src.close()
    await dst.close()
  }
  return OK
}

module.exports = { tail, replicate, cursorFile }
