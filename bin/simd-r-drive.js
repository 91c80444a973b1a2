#!/usr/bin/env node
'use strict'

// The simd-r-drive command line: inspect, read, write, verify, export and import a store
// file. `simd-r-drive --help` lists the commands and exit codes.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { pipeline } = require('node:stream/promises')
const { parseArgs } = require('node:util')
const { isUtf8 } = require('node:buffer')

const ROOT = path.join(__dirname, '..')
const BIN = 'simd-r-drive'

// Exit codes.
const OK = 0
const FAILED = 1 // not found, or a failure that is not the store's (bad input line, missing file)
const STORE_ERROR = 2 // the store refused: corrupt, locked, not a store, I/O
const USAGE = 64 // unknown command, missing or extra argument, unknown option

const IMPORT_BATCH = 10000
const IMPORT_BATCH_BYTES = 64 * 1024 * 1024
const OUT_CHUNK = 64 * 1024
// export writes a value of up to EXPORT_LINE bytes as one line (versions before 0.3 import
// those), and a longer one in parts of EXPORT_PART bytes, one line each: a multiple of 3, so
// that every part but the last is base64 without padding, 1 MiB of it. import then holds
// about a line at a time, never a whole value.
const EXPORT_LINE = 2 * 1024 * 1024
const EXPORT_PART = 768 * 1024
// ... and encodes each line in pieces of this many bytes (a multiple of 3), so that every
// string it makes is small and dies young instead of piling up in V8's large-object space.
const ENCODE_PIECE = 48 * 1024

/** The package itself, loaded on first use (so `--help` and `bench` do not load the addon). */
let lib = null
function srd () {
  if (lib === null) lib = require('..')
  return lib
}

class UsageError extends Error {}

/** A failure with a chosen exit code and a message that is printed as it is. */
class Failure extends Error {
  constructor (message, exitCode = FAILED) {
    super(message)
    this.exitCode = exitCode
  }
}

// ----- help -----

const EXIT_CODES = `Exit codes:
  0   success
  1   not found or failed (missing key, delete of a missing key, malformed import line,
      unreadable --file)
  2   store error (corrupt, locked by a writer, not a store, I/O): printed as
      "error [CODE]: message", CODE being the error's code, e.g. ERR_STORE_CORRUPT
  64  usage error (unknown command or option, missing or extra argument)`

const KEY_ARGS = `<key> is taken as UTF-8, except that hex:<hexadecimal bytes> names those bytes
(as keys prints keys that are not plain text; a key that itself starts with "hex:" is
named that way too). An argument that is not valid UTF-8 is refused (exit 64).`

const COMMANDS = {
  info: {
    usage: 'info <store> [--json]',
    summary: 'format version, entry count, sizes and checksum kernel',
    help: `Prints the store's format version (read from the file header), live entries, file
bytes, live bytes, bytes compaction would reclaim, index bytes (heap memory of the
in-memory index) and the checksum kernel of this CPU. Opens the store read-only, so it
works beside a running writer.

Options:
  --json   one JSON object: path, formatVersion, entries, fileBytes, liveBytes,
           reclaimableBytes, indexBytes, kernel`,
    options: { json: { type: 'boolean' } },
    args: ['store'],
    run: info
  },
  get: {
    usage: 'get <store> <key> [--hex]',
    summary: 'write a value to stdout',
    help: `Writes the raw bytes of the value of <key> to stdout, with no newline added. Exits
with 1 if the key is missing. Opens the store read-only.

${KEY_ARGS}

Options:
  --hex    print the value as hexadecimal followed by a newline`,
    options: { hex: { type: 'boolean' } },
    args: ['store', 'key'],
    run: get
  },
  put: {
    usage: 'put <store> <key> [value | --file <path>]',
    summary: 'set a value (from the argument, a file or stdin)',
    help: `Sets <key> to [value] (as UTF-8), to the bytes of --file <path>, or, when neither is
given, to everything read from stdin (binary-safe). A value from a file or stdin is
streamed into the store, never held in memory whole (up to MAX_VALUE_BYTES, just under
4 GiB). Creates the store if it does not exist, and makes the write durable (fdatasync)
before exiting.

${KEY_ARGS}

Options:
  -f, --file <path>   read the value from this file`,
    options: { file: { type: 'string', short: 'f' } },
    args: ['store', 'key'],
    optional: ['value'],
    run: put
  },
  delete: {
    usage: 'delete <store> <key>',
    summary: 'delete a key (exit 1 if it did not exist)',
    help: `Deletes <key> and makes the deletion durable. Exits with 0 if the key existed and
with 1 if it did not. The store must exist.

${KEY_ARGS}`,
    options: {},
    args: ['store', 'key'],
    run: del
  },
  keys: {
    usage: 'keys <store> [--prefix <p>] [--hex]',
    summary: 'list keys, one per line',
    help: `Prints every live key, one per line, in no particular order. Keys are printed as
UTF-8; a key that is not valid UTF-8, contains a line break or starts with "hex:" is
printed as hex:<hexadecimal bytes>. Every line names its key unambiguously and can be
given as it is to get, put and delete. Opens the store read-only. Stops quietly when the
reader goes away (for example | head).

Options:
  -p, --prefix <p>   only keys starting with the bytes of <p> (UTF-8, or hex:<hex>)
  --hex              print every key as hex:<hexadecimal bytes>`,
    options: { prefix: { type: 'string', short: 'p' }, hex: { type: 'boolean' } },
    args: ['store'],
    run: keys
  },
  compact: {
    usage: 'compact <store> [--json]',
    summary: 'rewrite the store without dead entries',
    help: `Rewrites the store without overwritten and deleted entries and prints the bytes
before and after, the bytes reclaimed and how long it took. On a terminal, an elapsed
time line is shown on stderr meanwhile. The store must exist; a writer in another
process makes this fail with ERR_STORE_LOCKED.

Options:
  --json   the compaction result as one JSON object: bytesBefore, bytesAfter,
           reclaimedBytes, entries, tailEntries, writerPauseMs, durationMs`,
    options: { json: { type: 'boolean' } },
    args: ['store'],
    run: compact
  },
  repair: {
    usage: 'repair <store> [--json]',
    summary: 'rebuild a damaged store from every entry that verifies',
    help: `What to do after ERR_STORE_CORRUPT: rebuilds the store from every entry whose
checksum still verifies, skipping damaged ranges, and prints what it kept and skipped.
When something was skipped, the damaged original stays as <store>.damaged. The store
must not be open anywhere (ERR_STORE_LOCKED otherwise); a file that is not a store is
never touched (ERR_NOT_A_STORE).

Options:
  --json   the result as one JSON object: entriesKept, liveKeys, skipped ([start, end)
           byte ranges), droppedTailBytes, backup`,
    options: { json: { type: 'boolean' } },
    args: ['store'],
    run: repair
  },
  verify: {
    usage: 'verify <store>',
    summary: 'check every checksum',
    help: `Opens the store read-only, which verifies the checksum of every entry, then reads
every live key and value. Prints "ok: N entries, B bytes verified" (B: the bytes of
the file checked), or the error and exits with 2 (ERR_STORE_CORRUPT names the byte
offset of the damage). Works beside a running writer and never modifies the store.

An unfinished last write (a crash cut it short, or a writer is writing it) is not
damage: it is left out, and the next writable open drops it.`,
    options: {},
    args: ['store'],
    run: verify
  },
  export: {
    usage: 'export <store>',
    summary: 'write every entry to stdout as NDJSON',
    help: `Writes one line of JSON per live entry to stdout, in no particular order:

  {"key64":"<key, base64>","value64":"<value, base64>"}

Base64 (RFC 4648, with padding) keeps any bytes exact. A value longer than
${EXPORT_LINE / 1024 / 1024} MiB is written in parts of ${EXPORT_PART / 1024} KiB, one line each, so that no line has
to hold all of it:

  {"key64":"<key>","value64":"<part 1>","continued":true}
  {"more64":"<part 2>","continued":true}
  {"more64":"<last part>"}

Any value the store holds (up to MAX_VALUE_BYTES) can be exported. Opens the store
read-only. Stops quietly when the reader goes away.`,
    options: {},
    args: ['store'],
    run: exportCmd
  },
  import: {
    usage: 'import <store> [file]',
    summary: 'read NDJSON entries (from a file or stdin)',
    help: `Reads lines in the format of export from [file], or from stdin when no file is given,
and writes them in batches of at most ${IMPORT_BATCH} entries and ${IMPORT_BATCH_BYTES / 1024 / 1024} MiB with putMany (each
batch atomic). Instead of "key64"/"value64" a line may carry "key"/"value" as plain
strings (stored as UTF-8). A "continued" value is streamed into the store from its
"more64" lines as its own write. Empty lines are skipped. Prints the number of entries
imported. Creates the store if it does not exist.

A malformed line stops the import with its line number and exit code 1: nothing from the
batch it belongs to is written, and the batches before it stay imported.`,
    options: {},
    args: ['store'],
    optional: ['file'],
    run: importCmd
  },
  bench: {
    usage: 'bench',
    summary: 'run the quick benchmark (source checkout only)',
    help: `Runs node bench/run.js with BENCH_QUICK=1 from the package root. Only works from a
source checkout of simd-r-drive, where bench/ exists; exits with its exit code.`,
    options: {},
    args: [],
    run: bench
  }
}

function mainHelp () {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length))
  const lines = Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`)
  return `Usage: ${BIN} <command> <store> [arguments] [options]

Inspect and edit a simd-r-drive store file.

Commands:
${lines.join('\n')}
  help [command]${' '.repeat(Math.max(0, width - 14))}  this help, or the help of one command

Options:
  -h, --help      help (also after a command: ${BIN} get --help)
  --version       the package version

info, get, keys, export and verify open the store read-only, so they work beside a
running writer. put, delete, compact and import open it for writing; a writer in another
process makes them fail with ERR_STORE_LOCKED. Put "--" before a key or value that
starts with "-".

${EXIT_CODES}
`
}

function commandHelp (name) {
  const c = COMMANDS[name]
  return `Usage: ${BIN} ${c.usage}

${c.help}

${EXIT_CODES}
`
}

// ----- output -----

/**
 * Buffered writes to a stream that wait for 'drain' when the stream asks for it, and that
 * report when the reader went away (EPIPE) instead of throwing.
 */
class Output {
  constructor (stream) {
    this.stream = stream
    this.gone = false
    this.error = null
    this.parts = []
    this.size = 0
    this.last = null
    this.onError = (e) => this.failed(e)
    stream.on('error', this.onError)
  }

  failed (e) {
    if (!e) return
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') this.gone = true
    else if (this.error === null) this.error = writeError(e)
  }

  /** Queues `text`; resolves to false once nobody reads any more. */
  async write (text) {
    this.parts.push(text)
    this.size += text.length
    if (this.size >= OUT_CHUNK) return this.flush()
    return !this.gone
  }

  /** Writes what is queued; resolves to false once nobody reads any more. */
  async flush () {
    if (this.error) throw this.error
    if (this.gone || this.stream.destroyed) {
      this.gone = true
      return false
    }
    if (this.parts.length === 0) return true
    const chunk = this.parts.length === 1 ? this.parts[0] : this.parts.join('')
    this.parts = []
    this.size = 0
    this.last = new Promise((resolve) => {
      const more = this.stream.write(chunk, (e) => { this.failed(e); resolve() })
      if (!more && !this.stream.destroyed) drained(this.stream).then(() => resolve())
    })
    await this.last
    if (this.error) throw this.error
    if (this.stream.destroyed) this.gone = true
    return !this.gone
  }

  /**
   * Writes what is queued and waits until the stream has taken all of it: throws the
   * error of a failed write (ENOSPC, EIO, ...); a reader that went away is not an error.
   */
  async end () {
    await this.flush()
    if (this.last !== null) await this.last
    this.stream.off('error', this.onError)
    if (this.error) throw this.error
  }
}

/** Writes `text` to stdout; a closed pipe ends it quietly, other write errors are thrown. */
async function print (text) {
  const out = new Output(process.stdout)
  await out.write(text)
  await out.end()
}

/** A failed write to stdout, reported as `error [CODE]: ...` with exit code 1. */
let stdoutFailed = false
function writeError (e) {
  stdoutFailed = true
  const err = new Failure(`error [${e.code || 'ERR_WRITE'}]: cannot write to stdout: ${e.message}`)
  err.cause = e
  return err
}

function drained (stream) {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done)
      stream.off('error', done)
      stream.off('close', done)
      resolve()
    }
    stream.on('drain', done)
    stream.on('error', done)
    stream.on('close', done)
  })
}

function humanBytes (n) {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = -1
  do {
    v /= 1024
    i++
  } while (v >= 1024 && i < units.length - 1)
  return `${v.toFixed(1)} ${units[i]}`
}

function bytes (n) {
  return n < 1024 ? `${n}` : `${n} (${humanBytes(n)})`
}

function table (rows) {
  const width = Math.max(...rows.map((r) => r[0].length))
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n'
}

// ----- stores -----

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

// ----- keys on the command line -----

const HEX_PREFIX = 'hex:'
const NOT_HEX = /[^0-9a-fA-F]/

/**
 * The bytes a key argument names: `hex:<hexadecimal>` names those bytes (the form `keys`
 * prints for keys that are not plain text, and the way to name a key that itself starts
 * with "hex:"); anything else is the UTF-8 of the argument.
 */
function keyBytes (text, what) {
  if (text.startsWith(HEX_PREFIX)) {
    const hex = text.slice(HEX_PREFIX.length)
    if (hex.length % 2 !== 0 || NOT_HEX.test(hex)) {
      throw new UsageError(`${what} ${JSON.stringify(text)}: after "${HEX_PREFIX}" give the bytes as pairs of hexadecimal digits`)
    }
    return Buffer.from(hex, 'hex')
  }
  return Buffer.from(text, 'utf8')
}

/** How `keys` prints a key: as UTF-8 when that reads back as the same key, else hex:. */
function keyText (key, hex) {
  if (!hex && isUtf8(key) && !key.includes(10) && !key.includes(13) &&
    !(key.length >= 4 && key.toString('latin1', 0, 4) === HEX_PREFIX)) return key.toString('utf8')
  return HEX_PREFIX + key.toString('hex')
}

/** The arguments as the operating system passed them (Linux), or null where that is unknown. */
function rawArgv (count) {
  try {
    const parts = fs.readFileSync('/proc/self/cmdline').toString('latin1').split('\0')
    parts.pop() // after the last NUL
    if (parts.length < count) return null
    return parts.slice(parts.length - count).map((p) => Buffer.from(p, 'latin1'))
  } catch {
    return null
  }
}

/**
 * Refuses an argument that was not valid UTF-8: Node turns such bytes into U+FFFD, and a
 * key or value must not be stored as something other than what was typed. Only arguments
 * holding U+FFFD are checked; where the raw bytes cannot be read back (not Linux), U+FFFD
 * itself is refused.
 */
function checkUtf8Args (argv) {
  let raw
  argv.forEach((arg, i) => {
    if (!arg.includes('\ufffd')) return
    if (raw === undefined) raw = rawArgv(argv.length)
    if (raw !== null && isUtf8(raw[i])) return
    throw new UsageError(`argument ${i + 1} (${JSON.stringify(arg)}) is not valid UTF-8${raw === null ? ' (or holds U+FFFD)' : ''}; ` +
      `give a key as ${HEX_PREFIX}<hexadecimal bytes>, a value with --file or on stdin`)
  })
}

function readStream (file) {
  return file === undefined ? process.stdin : fs.createReadStream(file)
}

// ----- commands -----

async function info ({ store: file }, opts) {
  const s = await openRead(file)
  const st = await withStore(s, (s) => s.stats())
  const result = {
    path: file,
    formatVersion: headerVersion(file),
    entries: st.entries,
    fileBytes: st.fileBytes,
    liveBytes: st.liveBytes,
    reclaimableBytes: st.reclaimableBytes,
    indexBytes: st.indexBytes,
    kernel: srd().kernel()
  }
  if (opts.json) {
    await print(JSON.stringify(result) + '\n')
    return OK
  }
  await print(table([
    ['path', result.path],
    ['format version', String(result.formatVersion)],
    ['live entries', String(result.entries)],
    ['file bytes', bytes(result.fileBytes)],
    ['live bytes', bytes(result.liveBytes)],
    ['reclaimable bytes', bytes(result.reclaimableBytes)],
    ['index bytes', bytes(result.indexBytes)],
    ['checksum kernel', result.kernel]
  ]))
  return OK
}

async function get ({ store: file, key }, opts) {
  const s = await openRead(file)
  const value = await withStore(s, (s) => s.get(keyBytes(key, 'key')))
  if (value === undefined) throw new Failure(`not found: ${key}`)
  const out = new Output(process.stdout)
  if (opts.hex) {
    // In slices: the hex of a value over ~256 MiB is longer than a string can be.
    for (let i = 0; i < value.length; i += OUT_CHUNK) {
      if (!await out.write(value.toString('hex', i, i + OUT_CHUNK))) return OK
    }
    await out.write('\n')
  } else {
    await out.write(value)
  }
  await out.end()
  return OK
}

async function put ({ store: file, key, value }, opts) {
  if (value !== undefined && opts.file !== undefined) throw new UsageError('put takes a value or --file, not both')
  const k = keyBytes(key, 'key')
  // A value from --file or stdin is streamed into the store (createWriteStream), never
  // held in memory whole, so its size is limited only by MAX_VALUE_BYTES.
  let input = null
  if (opts.file !== undefined) {
    let fd
    try {
      fd = fs.openSync(opts.file, 'r')
      if (!fs.fstatSync(fd).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' })
    } catch (e) {
      if (fd !== undefined) fs.closeSync(fd)
      throw new Failure(`error [${e.code}]: cannot read --file ${opts.file}: ${e.message}`)
    }
    input = fs.createReadStream(null, { fd, highWaterMark: 1024 * 1024 })
  } else if (value === undefined) {
    if (process.stdin.isTTY) process.stderr.write('reading the value from stdin (end it with Ctrl-D)\n')
    input = process.stdin
  }
  let s
  try {
    s = await openWrite(file, true)
  } catch (e) {
    if (input !== null && input !== process.stdin) input.destroy()
    throw e
  }
  await withStore(s, async (s) => {
    if (input === null) {
      await s.put(k, Buffer.from(value, 'utf8'))
    } else {
      await pipeline(input, s.createWriteStream(k))
    }
    await s.flush()
  })
  return OK
}

async function del ({ store: file, key }) {
  const s = await openWrite(file, false)
  const existed = await withStore(s, async (s) => {
    const existed = await s.delete(keyBytes(key, 'key'))
    await s.flush()
    return existed
  })
  if (!existed) throw new Failure(`not found: ${key}`)
  return OK
}

async function keys ({ store: file }, opts) {
  const prefix = opts.prefix === undefined ? null : keyBytes(opts.prefix, '--prefix')
  const out = new Output(process.stdout)
  const s = await openRead(file)
  await withStore(s, async (s) => {
    for (const key of s.keys()) {
      if (prefix !== null && (key.length < prefix.length || key.compare(prefix, 0, prefix.length, 0, prefix.length) !== 0)) continue
      if (!await out.write(keyText(key, opts.hex) + '\n')) return
    }
    await out.end()
  })
  return OK
}

async function repair ({ store: file }, opts) {
  if (!fs.existsSync(file)) throw new Failure(`error: ${file} does not exist`, FAILED)
  const r = await srd().Store.repair(file)
  if (opts.json) {
    await print(JSON.stringify(r) + '\n')
    return OK
  }
  const skipped = r.skipped.map(([a, b]) => `${a}..${b}`).join(', ')
  await print(`repaired: ${r.entriesKept} entries kept, ${r.liveKeys} live keys` +
    (r.skipped.length ? `; skipped damaged bytes ${skipped}; the damaged original is ${r.backup}` : '; nothing was damaged') +
    (r.droppedTailBytes ? `; dropped ${r.droppedTailBytes} bytes of an unfinished last write` : '') + '\n')
  return OK
}

async function compact ({ store: file }, opts) {
  const s = await openWrite(file, false)
  let timer = null
  if (process.stderr.isTTY) {
    const frames = ['|', '/', '-', '\\']
    const start = Date.now()
    let i = 0
    const draw = () => {
      const secs = ((Date.now() - start) / 1000).toFixed(1)
      process.stderr.write(`\r${frames[i++ % frames.length]} compacting ${file}  ${secs} s`)
    }
    draw()
    timer = setInterval(draw, 100)
  }
  let r
  try {
    r = await withStore(s, (s) => s.compact())
  } finally {
    if (timer !== null) {
      clearInterval(timer)
      process.stderr.write('\r\x1b[2K')
    }
  }
  if (opts.json) {
    await print(JSON.stringify(r) + '\n')
    return OK
  }
  await print(`reclaimed ${bytes(r.reclaimedBytes)} bytes: ${r.bytesBefore} -> ${r.bytesAfter} bytes, ` +
    `${r.entries} ${r.entries === 1 ? 'entry' : 'entries'} kept, in ${r.durationMs.toFixed(1)} ms\n`)
  return OK
}

async function verify ({ store: file }) {
  // Opening checks every checksum (damage followed by valid data is ERR_STORE_CORRUPT);
  // verify() checks them again on the open file, then every live entry is read.
  const s = await openRead(file)
  const { report, entries, end } = await withStore(s, async (s) => {
    const report = await s.verify()
    const st = s.stats()
    let n = 0
    let touched = 0
    for (const [k, v] of s.entries()) {
      // Read the first and last byte of the key and the value.
      touched += k[0] ^ k[k.length - 1]
      if (v.length > 0) touched += v[0] ^ v[v.length - 1]
      n++
    }
    if (touched < 0 || n !== st.entries) {
      throw new Failure(`error: the index lists ${st.entries} entries but iteration found ${n}`, STORE_ERROR)
    }
    return { report, entries: n, end: st.fileBytes }
  })
  const size = fs.statSync(file).size
  const note = size > end
    ? ` (${size - end} bytes after the last complete write were not counted: an unfinished last write, ` +
      'which the next writable open drops, or space a running writer set aside)'
    : ''
  await print(`ok: ${entries} entries, ${report.bytes} bytes verified${note}\n`)
  return OK
}

async function exportCmd ({ store: file }) {
  const out = new Output(process.stdout)
  const s = await openRead(file)
  await withStore(s, async (s) => {
    /** Writes the base64 of v[from, to) in small pieces; false once nobody reads. */
    const base64 = async (v, from, to) => {
      for (let at = from; at < to; at += ENCODE_PIECE) {
        if (!await out.write(v.toString('base64', at, Math.min(to, at + ENCODE_PIECE)))) return false
      }
      return true
    }
    for (const [k, v] of s.entries()) {
      if (v.length <= ENCODE_PIECE) {
        if (!await out.write(`{"key64":"${k.toString('base64')}","value64":"${v.toString('base64')}"}\n`)) return
        continue
      }
      // One line, or parts, one line each, so that no line has to hold all of it: the first
      // has the key (and "continued":true when more follow), the others "more64", and all
      // but the last "continued":true.
      const part = v.length <= EXPORT_LINE ? EXPORT_LINE : EXPORT_PART
      for (let at = 0; at < v.length; at += part) {
        const end = Math.min(v.length, at + part)
        const more = end < v.length ? ',"continued":true' : ''
        if (!await out.write(at === 0 ? `{"key64":"${k.toString('base64')}","value64":"` : '{"more64":"')) return
        if (!await base64(v, at, end)) return
        if (!await out.write(`"${more}}\n`)) return
      }
    }
    await out.end()
  })
  return OK
}

const NOT_BASE64 = /[^A-Za-z0-9+/=]/

/**
 * Whether `text` is base64 (RFC 4648 alphabet, padded to a multiple of 4, "=" only as the
 * last one or two characters). Checked in linear time without a backtracking regular
 * expression, which overflowed V8's regex stack on values of a few MiB.
 */
function isBase64 (text) {
  if (text.length % 4 !== 0 || NOT_BASE64.test(text)) return false
  const pad = text.indexOf('=')
  if (pad === -1) return true
  return pad >= text.length - 2 && (pad === text.length - 1 || text[text.length - 1] === '=')
}

/** One field of an import line: `<name>64` as base64, or `<name>` as a plain string. */
function field (obj, name, lineNo) {
  const b64 = obj[name + '64']
  const plain = obj[name]
  if (b64 !== undefined && plain !== undefined) throw new Failure(`line ${lineNo}: both "${name}" and "${name}64"`)
  if (b64 !== undefined) {
    if (typeof b64 !== 'string' || !isBase64(b64)) throw new Failure(`line ${lineNo}: "${name}64" is not a base64 string`)
    return Buffer.from(b64, 'base64')
  }
  if (plain !== undefined) {
    if (typeof plain !== 'string') throw new Failure(`line ${lineNo}: "${name}" is not a string`)
    return Buffer.from(plain, 'utf8')
  }
  throw new Failure(`line ${lineNo}: missing "${name}64" (or "${name}")`)
}

function parseObject (line, lineNo) {
  let obj
  try {
    obj = JSON.parse(line)
  } catch (e) {
    throw new Failure(`line ${lineNo}: not valid JSON (${e.message})`)
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new Failure(`line ${lineNo}: not a JSON object`)
  return obj
}

/** The "continued" flag of a line: true, or absent/false. */
function continued (obj, lineNo) {
  const c = obj.continued
  if (c !== undefined && typeof c !== 'boolean') throw new Failure(`line ${lineNo}: "continued" is not true or false`)
  return c === true
}

/** An entry line: `{ key, value, more }`, `more` meaning that "more64" lines follow. */
function parseEntry (obj, lineNo) {
  if (obj.more64 !== undefined) throw new Failure(`line ${lineNo}: "more64" without an entry that is "continued" before it`)
  const key = field(obj, 'key', lineNo)
  const value = field(obj, 'value', lineNo)
  const { MAX_KEY_BYTES, MAX_VALUE_BYTES } = srd()
  if (key.length < 1 || key.length > MAX_KEY_BYTES) throw new Failure(`line ${lineNo}: a key must be 1 to ${MAX_KEY_BYTES} bytes, this one has ${key.length}`)
  if (value.length > MAX_VALUE_BYTES) throw new Failure(`line ${lineNo}: the value is longer than ${MAX_VALUE_BYTES} bytes`)
  return { key, value, more: continued(obj, lineNo) }
}

/** A continuation line of a long value: `{ part, more }`. */
function parseMore (obj, lineNo, from) {
  const b64 = obj.more64
  if (b64 === undefined) throw new Failure(`line ${lineNo}: the entry of line ${from} is "continued", so this line must carry "more64"`)
  if (typeof b64 !== 'string' || !isBase64(b64)) throw new Failure(`line ${lineNo}: "more64" is not a base64 string`)
  for (const name of ['key', 'key64', 'value', 'value64']) {
    if (obj[name] !== undefined) throw new Failure(`line ${lineNo}: a "more64" line carries no "${name}"`)
  }
  return { part: Buffer.from(b64, 'base64'), more: continued(obj, lineNo) }
}

/**
 * The lines of a stream (split at LF, CRLF or CR, as readline splits them), read as the
 * loop asks for them: unlike readline's iterator, which reads on while the loop body waits
 * and queues what it read, this holds at most one line and one chunk.
 */
async function * lines (stream) {
  let parts = []
  let sawCR = false
  const line = (last) => {
    parts.push(last)
    const text = (parts.length === 1 ? parts[0] : Buffer.concat(parts)).toString('utf8')
    parts = []
    return text
  }
  for await (let chunk of stream) {
    if (typeof chunk === 'string') chunk = Buffer.from(chunk, 'utf8')
    let pos = sawCR && chunk.length > 0 && chunk[0] === 0x0a ? 1 : 0
    sawCR = false
    let cr = chunk.indexOf(0x0d, pos)
    for (;;) {
      const nl = chunk.indexOf(0x0a, pos)
      if (cr !== -1 && cr < pos) cr = chunk.indexOf(0x0d, pos)
      let at = nl === -1 ? cr : cr === -1 ? nl : Math.min(nl, cr)
      if (at === -1) break
      yield line(chunk.subarray(pos, at))
      if (chunk[at] === 0x0d) {
        if (at + 1 === chunk.length) sawCR = true
        else if (chunk[at + 1] === 0x0a) at++
      }
      pos = at + 1
    }
    if (pos < chunk.length) parts.push(chunk.subarray(pos))
  }
  if (parts.length > 0) yield line(Buffer.alloc(0))
}

/** Writes `chunk` to a writable stream, waiting for 'drain' when it asks to. */
function writeChunk (ws, chunk) {
  return new Promise((resolve, reject) => {
    const onError = (e) => reject(e)
    ws.once('error', onError)
    const more = ws.write(chunk, (e) => {
      ws.off('error', onError)
      if (e) reject(e)
      else if (more) resolve()
    })
    if (!more) ws.once('drain', () => { ws.off('error', onError); resolve() })
  })
}

async function importCmd ({ store: file, file: input }) {
  if (input !== undefined) {
    try {
      fs.accessSync(input, fs.constants.R_OK)
    } catch (e) {
      throw new Failure(`error [${e.code}]: cannot read ${input}: ${e.message}`)
    }
  }
  const s = await openWrite(file, true)
  const stream = readStream(input)
  let imported = 0
  try {
    await withStore(s, async (s) => {
      const rl = lines(stream)
      let batch = []
      let batchBytes = 0
      // A long value being streamed into the store: its write stream, the line it began
      // on and its bytes so far.
      let long = null
      let lineNo = 0
      const commit = async () => {
        if (batch.length === 0) return
        await s.putMany(batch)
        imported += batch.length
        batch = []
        batchBytes = 0
      }
      const { MAX_VALUE_BYTES } = srd()
      try {
        for await (const line of rl) {
          lineNo++
          if (line.trim() === '') continue
          if (long !== null) {
            const { part, more } = parseMore(parseObject(line, lineNo), lineNo, long.from)
            long.bytes += part.length
            if (long.bytes > MAX_VALUE_BYTES) throw new Failure(`line ${lineNo}: the value of line ${long.from} is longer than ${MAX_VALUE_BYTES} bytes`)
            await writeChunk(long.ws, part)
            if (!more) {
              const ws = long.ws
              long = null
              await new Promise((resolve, reject) => ws.end((e) => e ? reject(e) : resolve()))
              imported++
            }
            continue
          }
          const entry = parseEntry(parseObject(line, lineNo), lineNo)
          if (entry.more) {
            // Its own write, after the entries before it (a later line for the same key wins).
            await commit()
            long = { ws: s.createWriteStream(entry.key), from: lineNo, bytes: entry.value.length }
            long.ws.on('error', () => {}) // reported through writeChunk and end
            await writeChunk(long.ws, entry.value)
            continue
          }
          batch.push([entry.key, entry.value])
          batchBytes += entry.key.length + entry.value.length
          if (batch.length >= IMPORT_BATCH || batchBytes >= IMPORT_BATCH_BYTES) await commit()
        }
        if (long !== null) throw new Failure(`line ${lineNo}: the input ended inside the "continued" value of line ${long.from}`)
        await commit()
      } finally {
        await rl.return()
        // A long value cut short is dropped: nothing of it is written.
        if (long !== null) long.ws.destroy()
        await s.flush()
      }
    })
  } catch (e) {
    if (e instanceof Failure) e.message = `error: ${e.message}; ${imported} entries imported before it`
    throw e
  } finally {
    stream.destroy()
  }
  await print(`imported ${imported} entries\n`)
  return OK
}

async function bench () {
  const script = path.join(ROOT, 'bench', 'run.js')
  if (!fs.existsSync(script)) {
    throw new Failure(`${script} not found: the benchmark only runs from a source checkout of simd-r-drive`)
  }
  const child = spawn(process.execPath, [script], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, BENCH_QUICK: '1' }
  })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve(code === null ? FAILED : code))
  })
}

// ----- main -----

function isStoreError (e) {
  return typeof e.code === 'string' && (e.code.startsWith('ERR_STORE') || e.code === 'ERR_NOT_A_STORE')
}

async function main (argv) {
  const first = argv[0]
  if (first === undefined) {
    process.stderr.write(mainHelp())
    return USAGE
  }
  if (first === '-h' || first === '--help') {
    await print(mainHelp())
    return OK
  }
  if (first === '--version' || first === '-v') {
    await print(require('../package.json').version + '\n')
    return OK
  }
  if (first === 'help') {
    // help [command], with -h/--help allowed anywhere (help --help is this same help).
    const rest = argv.slice(1).filter((a) => a !== '-h' && a !== '--help')
    if (rest.length > 1) throw new UsageError(`help: unexpected argument ${JSON.stringify(rest[1])}`)
    const name = rest[0]
    if (name === undefined) {
      await print(mainHelp())
      return OK
    }
    if (!Object.hasOwn(COMMANDS, name)) throw new UsageError(`unknown command: ${name}`)
    await print(commandHelp(name))
    return OK
  }
  if (!Object.hasOwn(COMMANDS, first)) throw new UsageError(`unknown command: ${first}`)
  const cmd = COMMANDS[first]
  let parsed
  try {
    parsed = parseArgs({
      args: argv.slice(1),
      options: { ...cmd.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true
    })
  } catch (e) {
    throw new UsageError(`${first}: ${e.message}`)
  }
  if (parsed.values.help) {
    await print(commandHelp(first))
    return OK
  }
  const pos = parsed.positionals
  const optional = cmd.optional || []
  if (pos.length < cmd.args.length) {
    throw new UsageError(`${first}: missing <${cmd.args[pos.length]}>\nUsage: ${BIN} ${cmd.usage}`)
  }
  if (pos.length > cmd.args.length + optional.length) {
    throw new UsageError(`${first}: unexpected argument ${JSON.stringify(pos[cmd.args.length + optional.length])}\nUsage: ${BIN} ${cmd.usage}`)
  }
  // Keys, values and prefixes become stored bytes, and a path changed by U+FFFD names
  // another file.
  checkUtf8Args(argv)
  const args = {}
  cmd.args.concat(optional).forEach((name, i) => { args[name] = pos[i] })
  return cmd.run(args, parsed.values)
}

// A write error on stdout or stderr after the last awaited write (or one nobody waited for)
// must not become an unhandled 'error' event: stdout's is reported, stderr's is dropped.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') return
  if (stdoutFailed) return // an Output saw it and main reports it
  process.exitCode = FAILED
  process.stderr.write(writeError(e).message + '\n')
})
process.stderr.on('error', () => {})

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
}, (e) => {
  if (e instanceof UsageError) {
    process.stderr.write(`${BIN}: ${e.message}\nRun "${BIN} --help" for the commands.\n`)
    process.exitCode = USAGE
  } else if (e instanceof Failure) {
    process.stderr.write(e.message + '\n')
    process.exitCode = e.exitCode
  } else if (isStoreError(e)) {
    process.stderr.write(`error [${e.code}]: ${e.message}\n`)
    process.exitCode = STORE_ERROR
  } else if (e && (e.code === 'ERR_INVALID_KEY' || e.code === 'ERR_VALUE_TOO_LARGE' || e.code === 'ERR_INVALID_ARG_TYPE')) {
    process.stderr.write(`error [${e.code}]: ${e.message}\n`)
    process.exitCode = USAGE
  } else if (e && e.code === 'ERR_NATIVE_BINDING_MISSING') {
    // Not the store's fault and not a bug of ours: the message says what to install.
    process.stderr.write(`error [${e.code}]: ${e.message}\n`)
    process.exitCode = FAILED
  } else {
    process.stderr.write(`error${e && e.code ? ` [${e.code}]` : ''}: ${e && e.stack ? e.stack : e}\n`)
    process.exitCode = FAILED
  }
})
