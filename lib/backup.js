'use strict'

// Store#backup: an online copy of the store (the engine's Store::backup), made on the
// libuv threadpool.

const native = require('./native.js')
const errors = require('./errors.js')
const { checkLongOptions, runLong } = require('./progress.js')

function checkDest (path) {
  if (typeof path !== 'string' || path.length === 0) throw errors.invalidArgType('path', 'a non-empty string', path)
  if (path.includes('\0')) throw errors.invalidArgType('path', 'a string without null bytes', path)
}

/** The members of Store that make backups (mixed into Store's prototype). */
class Backups {
  backup (path, options) {
    return errors.nativeAsync(() => {
      const h = this._open()
      checkDest(path)
      const o = checkLongOptions(options)
      // Writes of this tick are committed first; the copy starts once they and those issued
      // before this call that are still on the threadpool have committed (by ticket: a
      // compaction under way is not waited for).
      if (this._batch !== null) this._flushBatch()
      const ticket = this._ticket
      return this._track(runLong(o, (work) => native.backup(h, path, ticket, work)))
    })
  }
}

module.exports = { Backups }
