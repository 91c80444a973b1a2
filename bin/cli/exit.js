'use strict'

// The command line's exit codes, and the two errors that choose one.

// Exit codes.
const OK = 0
const FAILED = 1 // not found, or a failure that is not the store's (bad input line, missing file)
const STORE_ERROR = 2 // the store refused: corrupt, locked, not a store, I/O
const USAGE = 64 // unknown command, missing or extra argument, unknown option

class UsageError extends Error {}

/** A failure with a chosen exit code and a message that is printed as it is. */
class Failure extends Error {
  constructor (message, exitCode = FAILED) {
    super(message)
    this.exitCode = exitCode
  }
}

module.exports = { OK, FAILED, STORE_ERROR, USAGE, UsageError, Failure }
