'use strict'

// Output to stdout with backpressure, a reader that goes away (EPIPE) and write errors;
// and how numbers and tables are printed.

const { Failure } = require('./exit')

const OUT_CHUNK = 64 * 1024

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

module.exports = {
  OUT_CHUNK,
  Output,
  print,
  writeError,
  /** Whether an Output has reported a failed write to stdout (main then reports it). */
  get stdoutFailed () { return stdoutFailed },
  bytes,
  table
}
