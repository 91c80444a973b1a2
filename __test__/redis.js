'use strict'
// A redis-server of the tests' own (Debian's package, which .ci/run installs): started on a
// free loopback port with no persistence, stopped by the test that started it.
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { spawn } = require('node:child_process')

/**
 * The redis-server binary: SIMD_R_DRIVE_REDIS_SERVER when set (a path; one that is not
 * there counts as missing), else the first on PATH or in /usr/bin, /usr/sbin; or null.
 */
function findRedisServer () {
  const given = process.env.SIMD_R_DRIVE_REDIS_SERVER
  if (given !== undefined) {
    try {
      fs.accessSync(given, fs.constants.X_OK)
      return given
    } catch {
      return null
    }
  }
  const dirs = [...(process.env.PATH || '').split(path.delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin']
  for (const d of dirs) {
    const f = path.join(d, 'redis-server')
    try {
      fs.accessSync(f, fs.constants.X_OK)
      return f
    } catch {}
  }
  return null
}

/** A loopback port free at the time of asking. */
function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** Resolves once something accepts connections on `port` (or rejects after `ms`). */
function waitForPort (port, ms) {
  const until = Date.now() + ms
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = net.connect(port, '127.0.0.1')
      sock.once('connect', () => { sock.destroy(); resolve() })
      sock.once('error', () => {
        sock.destroy()
        if (Date.now() > until) reject(new Error(`redis-server did not listen on ${port} within ${ms} ms`))
        else setTimeout(attempt, 50)
      })
    }
    attempt()
  })
}

/**
 * Starts redis-server (`bin`) on a free loopback port, without persistence (no RDB
 * snapshots, no AOF, its directory a temporary one). Resolves to `{ url, stop }`; `stop()`
 * ends that process and waits for it.
 */
async function startRedis (bin, dir) {
  // Another process may take the port between asking and binding: try a few.
  let lastErr
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let log = ''
    child.stdout.on('data', (d) => { log += d })
    child.stderr.on('data', (d) => { log += d })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    try {
      await Promise.race([waitForPort(port, 10_000), exited.then(() => { throw new Error(`redis-server exited: ${log}`) })])
    } catch (err) {
      lastErr = err
      child.kill('SIGKILL')
      await exited
      continue
    }
    return {
      url: `redis://127.0.0.1:${port}`,
      async stop () {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
        await exited
      }
    }
  }
  throw lastErr
}

module.exports = { findRedisServer, startRedis }
