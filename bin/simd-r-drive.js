#!/usr/bin/env node
'use strict'

// The simd-r-drive command line: inspect, read, write, verify, export and import a store
// file. `simd-r-drive --help` lists the commands and exit codes.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')
const { spawn } = require('node:child_process')
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
const OUT_CHUNK = 64 * 1024

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
    help: `Writes the raw bytes of the value of <key> (as UTF-8) to stdout, with no newline
added. Exits with 1 if the key is missing. Opens the store read-only.

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
given, to everything read from stdin (binary-safe). Creates the store if it does not
exist, and makes the write durable (fdatasync) before exiting.

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
with 1 if it did not. The store must exist.`,
    options: {},
    args: ['store', 'key'],
    run: del
  },
  keys: {
    usage: 'keys <store> [--prefix <p>] [--hex]',
    summary: 'list keys, one per line',
    help: `Prints every live key, one per line, in no particular order. Keys are printed as
UTF-8; a key that is not valid UTF-8 or that contains a line break is printed as
hex:<hexadecimal bytes>. Opens the store read-only. Stops quietly when the reader goes
away (for example | head).

Options:
  -p, --prefix <p>   only keys starting with the UTF-8 bytes of <p>
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

Base64 (RFC 4648, with padding) keeps any bytes exact. Opens the store read-only.
Stops quietly when the reader goes away.`,
    options: {},
    args: ['store'],
    run: exportCmd
  },
  import: {
    usage: 'import <store> [file]',
    summary: 'read NDJSON entries (from a file or stdin)',
    help: `Reads lines in the format of export from [file], or from stdin when no file is given,
and writes them in batches of ${IMPORT_BATCH} with putMany (each batch atomic). Instead of
"key64"/"value64" a line may carry "key"/"value" as plain strings (stored as UTF-8).
Empty lines are skipped. Prints the number of entries imported. Creates the store if it
does not exist.

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
    stream.on('error', (e) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') this.gone = true
      else this.error = e
    })
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
    const more = this.stream.write(chunk)
    if (!more && !this.stream.destroyed) await drained(this.stream)
    if (this.error) throw this.error
    if (this.stream.destroyed) this.gone = true
    return !this.gone
  }
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

function readStream (file) {
  return file === undefined ? process.stdin : fs.createReadStream(file)
}

async function readAll (stream) {
  const chunks = []
  for await (const c of stream) chunks.push(c)
  return Buffer.concat(chunks)
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
    process.stdout.write(JSON.stringify(result) + '\n')
    return OK
  }
  process.stdout.write(table([
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
  const value = await withStore(s, (s) => s.get(key))
  if (value === undefined) throw new Failure(`not found: ${key}`)
  const out = new Output(process.stdout)
  await out.write(opts.hex ? value.toString('hex') + '\n' : value)
  await out.flush()
  return OK
}

async function put ({ store: file, key, value }, opts) {
  if (value !== undefined && opts.file !== undefined) throw new UsageError('put takes a value or --file, not both')
  let data
  if (value !== undefined) {
    data = Buffer.from(value, 'utf8')
  } else if (opts.file !== undefined) {
    try {
      data = fs.readFileSync(opts.file)
    } catch (e) {
      throw new Failure(`error [${e.code}]: cannot read --file ${opts.file}: ${e.message}`)
    }
  } else {
    if (process.stdin.isTTY) process.stderr.write('reading the value from stdin (end it with Ctrl-D)\n')
    data = await readAll(process.stdin)
  }
  const s = await openWrite(file, true)
  await withStore(s, async (s) => {
    await s.put(key, data)
    await s.flush()
  })
  return OK
}

async function del ({ store: file, key }) {
  const s = await openWrite(file, false)
  const existed = await withStore(s, async (s) => {
    const existed = await s.delete(key)
    await s.flush()
    return existed
  })
  if (!existed) throw new Failure(`not found: ${key}`)
  return OK
}

function keyText (key, hex) {
  if (!hex && isUtf8(key) && !key.includes(10) && !key.includes(13)) return key.toString('utf8')
  return 'hex:' + key.toString('hex')
}

async function keys ({ store: file }, opts) {
  const prefix = opts.prefix === undefined ? null : Buffer.from(opts.prefix, 'utf8')
  const out = new Output(process.stdout)
  const s = await openRead(file)
  await withStore(s, async (s) => {
    for (const key of s.keys()) {
      if (prefix !== null && (key.length < prefix.length || key.compare(prefix, 0, prefix.length, 0, prefix.length) !== 0)) continue
      if (!await out.write(keyText(key, opts.hex) + '\n')) return
    }
    await out.flush()
  })
  return OK
}

async function repair ({ store: file }, opts) {
  if (!fs.existsSync(file)) throw new Failure(`error: ${file} does not exist`, FAILED)
  const r = await srd().Store.repair(file)
  if (opts.json) {
    process.stdout.write(JSON.stringify(r) + '\n')
    return OK
  }
  const skipped = r.skipped.map(([a, b]) => `${a}..${b}`).join(', ')
  process.stdout.write(`repaired: ${r.entriesKept} entries kept, ${r.liveKeys} live keys` +
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
    process.stdout.write(JSON.stringify(r) + '\n')
    return OK
  }
  process.stdout.write(`reclaimed ${bytes(r.reclaimedBytes)} bytes: ${r.bytesBefore} -> ${r.bytesAfter} bytes, ` +
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
  process.stdout.write(`ok: ${entries} entries, ${report.bytes} bytes verified${note}\n`)
  return OK
}

async function exportCmd ({ store: file }) {
  const out = new Output(process.stdout)
  const s = await openRead(file)
  await withStore(s, async (s) => {
    for (const [k, v] of s.entries()) {
      const line = `{"key64":"${k.toString('base64')}","value64":"${v.toString('base64')}"}\n`
      if (!await out.write(line)) return
    }
    await out.flush()
  })
  return OK
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** One field of an import line: `<name>64` as base64, or `<name>` as a plain string. */
function field (obj, name, lineNo) {
  const b64 = obj[name + '64']
  const plain = obj[name]
  if (b64 !== undefined && plain !== undefined) throw new Failure(`line ${lineNo}: both "${name}" and "${name}64"`)
  if (b64 !== undefined) {
    if (typeof b64 !== 'string' || !BASE64.test(b64)) throw new Failure(`line ${lineNo}: "${name}64" is not a base64 string`)
    return Buffer.from(b64, 'base64')
  }
  if (plain !== undefined) {
    if (typeof plain !== 'string') throw new Failure(`line ${lineNo}: "${name}" is not a string`)
    return Buffer.from(plain, 'utf8')
  }
  throw new Failure(`line ${lineNo}: missing "${name}64" (or "${name}")`)
}

function parseLine (line, lineNo) {
  let obj
  try {
    obj = JSON.parse(line)
  } catch (e) {
    throw new Failure(`line ${lineNo}: not valid JSON (${e.message})`)
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new Failure(`line ${lineNo}: not a JSON object`)
  const key = field(obj, 'key', lineNo)
  const value = field(obj, 'value', lineNo)
  const { MAX_KEY_BYTES, MAX_VALUE_BYTES } = srd()
  if (key.length < 1 || key.length > MAX_KEY_BYTES) throw new Failure(`line ${lineNo}: a key must be 1 to ${MAX_KEY_BYTES} bytes, this one has ${key.length}`)
  if (value.length > MAX_VALUE_BYTES) throw new Failure(`line ${lineNo}: the value is longer than ${MAX_VALUE_BYTES} bytes`)
  return [key, value]
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
      const rl = readline.createInterface({ input: stream, crlfDelay: Infinity })
      let batch = []
      let lineNo = 0
      try {
        for await (const line of rl) {
          lineNo++
          if (line.trim() === '') continue
          batch.push(parseLine(line, lineNo))
          if (batch.length >= IMPORT_BATCH) {
            await s.putMany(batch)
            imported += batch.length
            batch = []
          }
        }
        if (batch.length > 0) {
          await s.putMany(batch)
          imported += batch.length
        }
      } finally {
        rl.close()
        await s.flush()
      }
    })
  } catch (e) {
    if (e instanceof Failure) e.message = `error: ${e.message}; ${imported} entries imported before it`
    throw e
  } finally {
    stream.destroy()
  }
  process.stdout.write(`imported ${imported} entries\n`)
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
    process.stdout.write(mainHelp())
    return OK
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(require('../package.json').version + '\n')
    return OK
  }
  if (first === 'help') {
    const name = argv[1]
    if (name === undefined) {
      process.stdout.write(mainHelp())
      return OK
    }
    if (!Object.hasOwn(COMMANDS, name)) throw new UsageError(`unknown command: ${name}`)
    process.stdout.write(commandHelp(name))
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
    process.stdout.write(commandHelp(first))
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
  const args = {}
  cmd.args.concat(optional).forEach((name, i) => { args[name] = pos[i] })
  return cmd.run(args, parsed.values)
}

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
  } else {
    process.stderr.write(`error${e && e.code ? ` [${e.code}]` : ''}: ${e && e.stack ? e.stack : e}\n`)
    process.exitCode = FAILED
  }
})
