'use strict'

// Keys on the command line: hex:<hexadecimal bytes>, and arguments that are not UTF-8.

const fs = require('node:fs')
const { isUtf8 } = require('node:buffer')
const { UsageError } = require('./exit')

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

module.exports = { HEX_PREFIX, keyBytes, keyText, checkUtf8Args }
