'use strict'

// The commands: each takes its arguments and options and resolves to an exit code.

const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { pipeline } = require('node:stream/promises')
const { OK, FAILED, STORE_ERROR, UsageError, Failure } = require('./exit')
const { OUT_CHUNK, Output, print, bytes, table } = require('./output')
const { srd, openRead, openWrite, withStore } = require('./stores')
const { keyBytes, keyText } = require('./keys')
const { NdjsonError, encodeEntry, Decoder, lines } = require('./ndjson')
const { ProgressBar } = require('./progress')

const ROOT = path.join(__dirname, '..', '..')

const IMPORT_BATCH = 10000
const IMPORT_BATCH_BYTES = 64 * 1024 * 1024

function readStream (file) {
  return file === undefined ? process.stdin : fs.createReadStream(file)
}

// ----- commands -----

async function info ({ store: file }, opts) {
  const s = await openRead(file)
  const st = await withStore(s, (s) => s.stats())
  const result = {
    path: file,
    formatVersion: st.formatVersion,
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
  const bar = new ProgressBar(`repairing ${file}`)
  let r
  try {
    r = await srd().Store.repair(file, bar.options)
  } finally {
    bar.end()
  }
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
  const bar = new ProgressBar(`compacting ${file}`)
  let r
  try {
    r = await withStore(s, (s) => s.compact(bar.options))
  } finally {
    bar.end()
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
  const bar = new ProgressBar(`verifying ${file}`)
  const { report, entries, end } = await withStore(s, async (s) => {
    const report = await s.verify(bar.options)
    const st = s.stats()
    let n = 0
    let touched = 0
    bar.label = `reading ${file}`
    for (const [k, v] of s.entries()) {
      // Read the first and last byte of the key and the value.
      touched += k[0] ^ k[k.length - 1]
      if (v.length > 0) touched += v[0] ^ v[v.length - 1]
      n++
      if ((n & 1023) === 0) bar.update(n, st.entries, 'entries')
    }
    bar.update(n, st.entries, 'entries')
    bar.end()
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
  const bar = new ProgressBar(`exporting ${file}`)
  try {
    await withStore(s, async (s) => {
      const total = s.size
      let n = 0
      for (const [k, v] of s.entries()) {
        for (const piece of encodeEntry(k, v)) {
          if (!await out.write(piece)) return
        }
        if ((++n & 255) === 0) bar.update(n, total, 'entries')
      }
      bar.update(n, total, 'entries')
      await out.end()
    })
  } finally {
    bar.end()
  }
  return OK
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
  // Bytes of the input read, of its size: known for a file argument (stdin has no size).
  const bar = new ProgressBar(`importing ${input}`)
  const inputBytes = input === undefined ? 0 : fs.statSync(input).size
  const shown = () => { if (input !== undefined) bar.update(stream.bytesRead, inputBytes) }
  try {
    await withStore(s, async (s) => {
      const rl = lines(stream)
      const { MAX_KEY_BYTES, MAX_VALUE_BYTES } = srd()
      const decoder = new Decoder({ maxKeyBytes: MAX_KEY_BYTES, maxValueBytes: MAX_VALUE_BYTES })
      let batch = []
      let batchBytes = 0
      // The write stream of a long value being streamed into the store.
      let long = null
      const commit = async () => {
        if (batch.length === 0) return
        await s.putMany(batch)
        imported += batch.length
        batch = []
        batchBytes = 0
        shown()
      }
      try {
        let read = 0
        for await (const line of rl) {
          if ((++read & 255) === 0) shown()
          const got = decoder.next(line)
          if (got === null) continue
          if (got.part !== undefined) {
            await writeChunk(long, got.part)
            if (!got.continued) {
              const ws = long
              long = null
              await new Promise((resolve, reject) => ws.end((e) => e ? reject(e) : resolve()))
              imported++
            }
            continue
          }
          if (got.continued) {
            // Its own write, after the entries before it (a later line for the same key wins).
            await commit()
            long = s.createWriteStream(got.key)
            long.on('error', () => {}) // reported through writeChunk and end
            await writeChunk(long, got.value)
            continue
          }
          batch.push([got.key, got.value])
          batchBytes += got.key.length + got.value.length
          if (batch.length >= IMPORT_BATCH || batchBytes >= IMPORT_BATCH_BYTES) await commit()
        }
        decoder.end()
        await commit()
        shown()
      } finally {
        bar.end()
        await rl.return()
        // A long value cut short is dropped: nothing of it is written.
        if (long !== null) long.destroy()
        await s.flush()
      }
    })
  } catch (e) {
    if (e instanceof NdjsonError) throw new Failure(`error: ${e.message}; ${imported} entries imported before it`)
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

module.exports = {
  IMPORT_BATCH,
  IMPORT_BATCH_BYTES,
  info,
  get,
  put,
  del,
  keys,
  repair,
  compact,
  verify,
  exportCmd,
  importCmd,
  bench
}
