#!/usr/bin/env node
'use strict'

// The simd-r-drive command line: inspect, read, write, verify, export and import a store
// file. `simd-r-drive --help` lists the commands and exit codes. The
// commands are in cli/commands.js, the NDJSON of export and import in cli/ndjson.js.

const { parseArgs } = require('node:util')
const { OK, FAILED, STORE_ERROR, USAGE, UsageError, Failure } = require('./cli/exit')
const output = require('./cli/output')
const { print, writeError } = output
const { checkUtf8Args } = require('./cli/keys')
const { EXPORT_LINE, EXPORT_PART } = require('./cli/ndjson')
const {
  IMPORT_BATCH, IMPORT_BATCH_BYTES,
  info, get, put, del, keys, compact, repair, verify, exportCmd, importCmd, bench
} = require('./cli/commands')
const { tail, replicate } = require('./cli/live')

const BIN = 'simd-r-drive'

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
  tail: {
    usage: 'tail <store> [--since <cursor>]',
    summary: 'print changes as NDJSON as they are committed',
    help: `Follows the store read-only (beside its writer) and prints each committed batch as
it happens, one line of JSON per batch:

  {"cursor":"<cursor>","changes":[{"type":"put","key64":"<key, base64>","value64":"<value, base64>"},
                                   {"type":"delete","key64":"<key, base64>"}]}

A clear() of the store is a line with the one change {"type":"clear"}. A key that the
expiry sweep removed is {"type":"expire","key64":"<key, base64>"}; one that the writer's
size limit (maxBytes) evicted is {"type":"evict","key64":"<key, base64>"}.
A batch of more than 1,024 changes or 16 MiB comes in several lines, all but the last
with "more":true. Starts at the present, or after --since <cursor> (the cursor of a line
printed before: nothing is missed in between). When the writer compacts, prints
{"replaced":true,"cursor":"<cursor>"} and goes on. Runs until interrupted (Ctrl-C: exit
0); stops quietly when the reader goes away (for example | head). A --since cursor from
before a compaction fails with ERR_CURSOR_EXPIRED (exit 2).

Options:
  --since <cursor>   start after this cursor`,
    options: { since: { type: 'string' } },
    args: ['store'],
    run: tail
  },
  replicate: {
    usage: 'replicate <source> <target>',
    summary: 'keep <target> equal to <source> until interrupted',
    help: `Follows <source> read-only and applies each of its committed batches to <target> as
one batch (made durable), until interrupted (Ctrl-C: exit 0). The cursor of the last
applied batch is kept in the side file <target>.srd-replica-cursor (never as a key of
the target), so a restart resumes where it stopped. Without a side file, and after the
source was compacted, the target is emptied and rebuilt from the source's log. Creates
<target> if it does not exist; write nothing else to it meanwhile.`,
    options: {},
    args: ['source', 'target'],
    run: replicate
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

info, get, keys, export, verify and tail open the store read-only, so they work beside a
running writer (so does replicate, for its source). put, delete, compact and import open it for writing; a writer in another
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
  if (output.stdoutFailed) return // an Output saw it and main reports it
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
