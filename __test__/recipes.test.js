'use strict'
// The README's recipes (the ```js blocks after a `<!-- recipe: name -->` line) run as they
// are, each in a Node process of its own in an empty directory, and print what their
// `// → ...` comments say, line by line. The Keyv 6 recipe needs Node >= 22.19 (its
// `keyv` is the devDependency keyv6 here), the Redis one a redis-server (started by the
// test; without one it is skipped, or fails under CI=true).
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { tmpDir } = require('./helpers.js')
const { findRedisServer, startRedis } = require('./redis.js')

const ROOT = path.join(__dirname, '..')
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')

/** The recipes: `{ name, code, expected }` (expected: the `// →` comments in order). */
function recipes (text) {
  const out = []
  for (const m of text.matchAll(/<!-- recipe: ([a-z0-9-]+) -->\n```js\n([\s\S]*?)```\n/g)) {
    const code = m[2]
    const expected = [...code.matchAll(/\/\/ → (.*)$/gm)].map((e) => e[1].trim())
    out.push({ name: m[1], code, expected })
  }
  return out
}

/**
 * Runs `code` as an ES module placed in the package (so that `simd-r-drive/keyv` resolves
 * to this checkout), from an empty directory. Resolves to `{ code, stdout, stderr }`.
 */
function run (name, code, env = {}) {
  const file = path.join(__dirname, `.recipe-${name}-${process.pid}.mjs`)
  fs.writeFileSync(file, code)
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { cwd: tmpDir(), env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      fs.rmSync(file, { force: true })
      resolve({ code: err ? (err.code ?? err.signal) : 0, stdout, stderr })
    })
  })
}

const all = recipes(README)
const byName = Object.fromEntries(all.map((r) => [r.name, r]))

test('the README has the Keyv, Keyv 6, cache-manager, cacheable and Redis recipes, each with what it prints', (t) => {
  t.deepEqual(all.map((r) => r.name), ['keyv', 'keyv6', 'cache-manager', 'cacheable', 'redis'])
  for (const r of all) t.true(r.expected.length >= 2, r.name)
})

async function check (t, r, env, transform = (c) => c) {
  const res = await run(r.name, transform(r.code), env)
  t.is(res.code, 0, res.stderr)
  t.deepEqual(res.stdout.trimEnd().split('\n'), r.expected, res.stderr)
}

for (const name of ['keyv', 'cache-manager', 'cacheable']) {
  test(`recipe ${name}`, (t) => check(t, byName[name]))
}

const [major, minor] = process.versions.node.split('.').map(Number)
if (major > 22 || (major === 22 && minor >= 19) || process.env.SIMD_R_DRIVE_REQUIRE_KEYV6 === '1') {
  test('recipe keyv6 (Keyv 6 as the devDependency keyv6)', (t) =>
    check(t, byName.keyv6, {}, (c) => c.replace("from 'keyv'", "from 'keyv6'")))
} else {
  test.skip(`recipe keyv6 (needs Node >= 22.19; this is ${process.version})`, () => {})
}

const redisServer = findRedisServer()
if (redisServer !== null) {
  test('recipe redis (against a redis-server of its own)', async (t) => {
    const server = await startRedis(redisServer, tmpDir())
    t.teardown(() => server.stop())
    await check(t, byName.redis, { REDIS_URL: server.url })
  })
} else if (process.env.CI === 'true') {
  test('recipe redis: redis-server is installed (CI=true)', (t) => t.fail('redis-server not found'))
} else {
  console.log('recipes: redis-server is not installed: the Redis recipe is skipped')
  test.skip('recipe redis (needs redis-server)', () => {})
}
