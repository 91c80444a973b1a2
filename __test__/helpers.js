'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')

const made = []
process.on('exit', () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true })
})

/** A fresh directory for one test, removed when the process exits. */
function tmpDir () {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'srd-test-'))
  made.push(d)
  return d
}

function tmpStore (name = 'store.srd') {
  return path.join(tmpDir(), name)
}

/** Runs a fixture script in a child Node process; resolves with { code, signal, stdout, stderr }. */
function runChild (script, args = [], env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', path.join(__dirname, 'fixtures', script), ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

/** Runs `cmd args` with `input` on stdin; resolves with { code, stdout (Buffer), out, err }. */
function runProcess (cmd, args, { input, nodeArgs = [] } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...nodeArgs, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    const out = []
    let err = ''
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => { err += d })
    child.on('error', reject)
    child.on('close', (code) => {
      const stdout = Buffer.concat(out)
      resolve({ code, stdout, out: stdout.toString(), err })
    })
    child.stdin.on('error', () => {})
    child.stdin.end(input)
  })
}

/** The command line, bin/simd-r-drive.js. */
const CLI = path.join(__dirname, '..', 'bin', 'simd-r-drive.js')

/** Runs the command line (`bin`, CLI unless told) with `args`, as runProcess does. */
function cli (args, { bin = CLI, ...opts } = {}) {
  return runProcess(process.execPath, [bin, ...args], opts)
}

/** Starts a fixture script and resolves once it prints `line`; returns the child. */
function startChild (script, args, line) {
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', script), ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let buf = ''
    child.stdout.on('data', (d) => {
      buf += d
      if (buf.includes(line)) resolve(child)
    })
    child.on('exit', (code) => reject(new Error(`child exited (${code}) before printing ${line}`)))
  })
}

/**
 * The bytes of a cleanly closed store as a crash before `close()` would have left them:
 * without the 24-byte sync mark that `close()` appends (FORMAT.md, "Sync marks"). Tests
 * that simulate a torn last write start from these.
 */
function withoutClosingMark (bytes) {
  const at = bytes.length - 24
  if (at < 64 || bytes[at + 8] !== 4 || bytes[at + 9] !== 1) throw new Error('no closing sync mark at the end')
  return Buffer.from(bytes.subarray(0, at))
}

/**
 * Writes a store at `p` of 20 entries (`k0` to `k19`, 100 bytes each), closes it, then
 * flips one byte inside the first entry's value (offset 64 + 40): damage followed by valid
 * data, which opening reports as ERR_STORE_CORRUPT at offset 64. Returns the damaged bytes.
 */
async function corruptStore (p) {
  const { Store } = require('..')
  const s = await Store.open(p)
  for (let i = 0; i < 20; i++) await s.put(`k${i}`, Buffer.alloc(100, i))
  await s.close()
  const bytes = fs.readFileSync(p)
  bytes[64 + 40] ^= 0xff // inside the first entry's value
  fs.writeFileSync(p, bytes)
  return bytes
}

module.exports = { tmpDir, tmpStore, runChild, startChild, runProcess, CLI, cli, withoutClosingMark, corruptStore }
