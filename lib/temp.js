'use strict'

// Store.temp: a fresh store in the OS temporary directory, removed when its last handle in
// this process closes (the native registry removes the directory when the engine closes,
// whichever thread releases it last) or when the process exits; what a killed process left
// behind is removed by a later Store.temp, once its owner is known to be gone.
//
// Each store lives in a directory of its own, `<os.tmpdir()>/simd-r-drive-temp-<pid>-<start>-<random>`,
// as `store`: `<pid>` and `<start>` name the process that made it (`<start>` is its start
// time in clock ticks after boot, from /proc/<pid>/stat, or 0 where there is no /proc),
// so that a later process that got the same pid is not taken for the owner.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const crypto = require('node:crypto')
const { isMainThread } = require('node:worker_threads')
const native = require('./native.js')
const errors = require('./errors.js')

const PREFIX = 'simd-r-drive-temp-'
const NAME = /^simd-r-drive-temp-([0-9]+)-([0-9]+)-[0-9a-f]+$/

/** The start time of process `pid` (clock ticks after boot, as a string), or null if unknown. */
function startTime (pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces and parentheses): state is
    // field 3 of stat(5), starttime field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null
  } catch {
    return null
  }
}

let ownStart
function ownStartTime () {
  if (ownStart === undefined) ownStart = startTime(process.pid) ?? '0'
  return ownStart
}

/** Whether the process `pid` that started at `start` ('0': unknown) may still run. */
function ownerAlive (pid, start) {
  if (pid === process.pid) return start === ownStartTime()
  try {
    process.kill(pid, 0)
  } catch (e) {
    // EPERM: it exists, as another user's.
    if (e.code !== 'EPERM') return false
  }
  if (start === '0') return true
  const now = startTime(pid)
  // Unknown now (no /proc access): alive, to be safe. Another start time: the pid was reused.
  return now === null || now === start
}

/** Removes the temporary stores in `dir` whose owning process has gone; returns their paths. */
function removeStale (dir = os.tmpdir()) {
  const removed = []
  let names
  try {
    names = fs.readdirSync(dir)
  } catch {
    return removed
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : null
  for (const name of names) {
    const m = NAME.exec(name)
    if (m === null || ownerAlive(Number(m[1]), m[2])) continue
    const p = path.join(dir, name)
    try {
      // Only a real directory (never through a link), and only one of ours.
      const st = fs.lstatSync(p)
      if (!st.isDirectory() || (uid !== null && st.uid !== uid)) continue
      fs.rmSync(p, { recursive: true, force: true })
      removed.push(p)
    } catch {}
  }
  return removed
}

let exitHook = false
function removeAtExit () {
  if (exitHook || !isMainThread) return
  exitHook = true
  // Synchronous, as 'exit' handlers must be: every temporary store of the process (workers'
  // too), closed or not.
  process.on('exit', () => { native.removeTemporaries() })
}

function checkTempOptions (options) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object') throw errors.invalidArgType('options', 'an object', options)
  for (const [name, refused] of [['readOnly', true], ['create', false]]) {
    if (options[name] === refused) {
      const err = new TypeError(`The "options.${name}" option cannot be ${refused} for Store.temp, which always creates a new writable store`)
      throw Object.defineProperty(err, 'code', { value: 'ERR_INVALID_ARG_VALUE', enumerable: true, writable: true, configurable: true })
    }
  }
  return options
}

/** Store.temp(options): see index.d.ts. `open` is Store.open. */
async function temp (open, options) {
  const o = checkTempOptions(options)
  removeStale()
  const base = os.tmpdir()
  const dir = path.join(base, `${PREFIX}${process.pid}-${ownStartTime()}-${crypto.randomBytes(8).toString('hex')}`)
  try {
    fs.mkdirSync(dir, { mode: 0o700 })
  } catch (e) {
    throw errors.fromSystem(e, 'creating the temporary store\'s directory')
  }
  let store
  try {
    store = await open(path.join(dir, 'store'), o)
    errors.native(() => native.markTemporary(store._h, dir))
    store._temporary = true
  } catch (e) {
    if (store !== undefined) await store.close().catch(() => {})
    fs.rmSync(dir, { recursive: true, force: true })
    throw e
  }
  removeAtExit()
  return store
}

module.exports = { temp, removeStale, PREFIX }
