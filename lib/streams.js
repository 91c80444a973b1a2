'use strict'
// The stream members of Store (mixed into its prototype by store.js).

// node:fs/promises, node:crypto and node:stream are loaded on first use by the stream
// methods: together they take longer to load than opening a large store does.
const lazy = (id) => { let m = null; return () => (m ??= require(id)) }
const fsp = lazy('node:fs/promises')
const crypto = lazy('node:crypto')
const stream = lazy('node:stream')
const native = require('./native.js')
const errors = require('./errors.js')
const { checkKey, describeKey } = require('./keys.js')
const { readExpiry, expiryTime } = require('./expiry.js')

function streamChunk (options) {
  if (options === undefined || options === null) return 64 * 1024
  if (typeof options !== 'object') throw errors.invalidArgType('options', 'an object', options)
  const n = options.highWaterMark
  if (n === undefined) return 64 * 1024
  if (!Number.isSafeInteger(n) || n < 1) throw errors.rangeError('ERR_OUT_OF_RANGE', `options.highWaterMark must be a positive integer, got ${n}`)
  return n
}

class Streams {
  createReadStream (key, options) {
    const chunk = streamChunk(options)
    const value = this.getRaw(key)
    let pos = 0
    return new (stream().Readable)({
      highWaterMark: chunk,
      read () {
        if (value === undefined) {
          this.destroy(errors.coded('ERR_KEY_NOT_FOUND', `No value is stored under ${describeKey(key)}.`))
          return
        }
        if (pos >= value.length) {
          this.push(null)
          return
        }
        // Zero-copy: each chunk is a slice of the value's view of the store.
        this.push(value.subarray(pos, pos + chunk))
        pos += chunk
      }
    })
  }

  createWriteStream (key, options) {
    this._writable()
    const k = checkKey(key)
    // Checked now, and a ttl that would end too late is refused now; it counts from the
    // commit (see `_putFile`).
    const expiry = readExpiry(options, 'options')
    if (expiry !== undefined) expiryTime(expiry, this._now())
    const keyBytes = typeof k === 'string' ? Buffer.from(k, 'utf8') : Buffer.from(k)
    // Beside the store file the engine has open (its path was resolved when it was opened:
    // a relative path given to open may name another directory since a chdir), and
    // unique across processes and threads.
    const real = errors.native(() => native.storePath(this._h))
    const file = `${errors.native(() => native.uploadPrefix(this._h))}${process.pid}-${crypto().randomUUID()}`
    const store = this
    let fh = null
    const drop = async () => {
      if (fh !== null) {
        const h = fh
        fh = null
        await h.close().catch(() => {})
      }
      await fsp().unlink(file).catch(() => {})
    }
    // Once the commit of the value has been issued it cannot be called back: a destroy()
    // that comes meanwhile waits for it, so that the stream either writes nothing (destroyed
    // before the commit) or writes the value and emits 'finish' (see index.d.ts), never
    // destroys itself and writes the value too.
    let committing = false
    let destroyAfter = null
    const ws = new (stream().Writable)({
      construct (callback) {
        // Created private, then given the store file's mode (the value is the store's
        // data, and readable by whoever may read the store).
        fsp().open(file, 'wx', 0o600)
          .then((h) => { fh = h; return fsp().stat(real) })
          .then((st) => fh.chmod(st.mode & 0o7777))
          .then(() => callback(), (e) => drop().then(() => callback(errors.fromSystem(e, 'creating the upload file'))))
      },
      write (chunk, encoding, callback) {
        fh.write(chunk).then(() => callback(), (e) => callback(errors.fromSystem(e, 'writing the upload file')))
      },
      final (callback) {
        const h = fh
        fh = null
        h.close()
          .then(() => {
            if (ws.destroyed) throw errors.closed()
            committing = true
            return store._putFile(keyBytes, file, expiry)
          })
          .then(() => fsp().unlink(file).catch(() => {}))
          .then(() => callback(), (e) => drop().then(() => callback(e)))
          .finally(() => {
            committing = false
            if (destroyAfter !== null) {
              // The commit has settled, and with it the stream: finished (the value is
              // written; the error given to destroy() no longer applies) or failed.
              const [err] = destroyAfter
              destroyAfter = null
              process.nextTick(() => destroy.call(ws, ws.writableFinished ? undefined : err))
            }
          })
      },
      destroy (err, callback) {
        drop().then(() => callback(err))
      }
    })
    const destroy = ws.destroy
    ws.destroy = function (err) {
      if (committing) {
        if (destroyAfter === null) destroyAfter = [err]
        return this
      }
      return destroy.call(this, err)
    }
    // close() waits for streams that were ended and destroys the others.
    this._streams.add(ws)
    ws.once('close', () => this._streams.delete(ws))
    return ws
  }

  /**
   * Commits a staged file as the value of `key`, in order with the other writes; `expiry`
   * (from `readExpiry`) gives it an expiry, a ttl counting from now.
   */
  _putFile (key, file, expiry) {
    // Allowed while closing: close() waits for streams that were ended before it.
    if (this._h < 0) return Promise.reject(errors.closed())
    const h = this._h
    let at
    try {
      at = expiry === undefined ? undefined : expiryTime(expiry, this._now())
    } catch (e) {
      return Promise.reject(e)
    }
    if (this._batch !== null) this._flushBatch()
    const ticket = this._ticket++
    this._asyncWrites++
    let p
    try {
      p = native.putFile(h, ticket, key, file, at, this._sync)
    } catch (e) {
      this._asyncWrites--
      this._ticket--
      return Promise.reject(errors.fromNative(e))
    }
    return this._track(p.finally(() => { this._asyncWrites-- })).catch((e) => { throw errors.fromNative(e) })
  }
}

module.exports = { Streams }
