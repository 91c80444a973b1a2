'use strict'
// index.d.ts's JSDoc is generated from the Rust docs of src/*.rs (scripts/sync-docs.js):
// these tests fail when the two drift apart. They do not load the native addon.
const test = require('ava')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile } = require('node:child_process')

const ROOT = path.join(__dirname, '..')
const SCRIPT = path.join(ROOT, 'scripts', 'sync-docs.js')
const DTS = path.join(ROOT, 'index.d.ts')
const RUST = path.join(ROOT, 'src')

function run (args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, ...args], { cwd: ROOT }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, out: stdout + stderr })
    })
  })
}

/**
 * Copies of index.d.ts and of the .rs files of src/ in a temporary directory, edited by
 * `edit` (`edit.rust` is applied to every .rs file, and must change one of them).
 */
function copies (t, edit = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srd-docs-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const dts = path.join(dir, 'index.d.ts')
  const rust = path.join(dir, 'src')
  const apply = (file, source, f) => {
    const text = f ? f(source) : source
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, text)
    return text !== source
  }
  if (apply(dts, fs.readFileSync(DTS, 'utf8'), edit.dts) === false && edit.dts) t.fail('the edit of index.d.ts changed nothing')
  let changed = false
  for (const f of rustFiles(RUST)) {
    if (apply(path.join(rust, path.relative(RUST, f)), fs.readFileSync(f, 'utf8'), edit.rust)) changed = true
  }
  if (edit.rust && !changed) t.fail('the edit of the .rs files changed nothing')
  return { dts, rust, args: ['--dts', dts, '--rust', rust] }
}

/** The .rs files under `dir`. */
function rustFiles (dir) {
  return fs.readdirSync(dir, { recursive: true }).filter((f) => f.endsWith('.rs')).map((f) => path.join(dir, f))
}

test('index.d.ts carries the Rust docs of src/ (npm run docs)', async (t) => {
  const r = await run(['--check'])
  t.is(r.code, 0, r.out)
})

test('the check passes on unchanged copies (the paths options work)', async (t) => {
  const c = copies(t)
  const r = await run(['--check', ...c.args])
  t.is(r.code, 0, r.out)
})

test('the check fails on a changed doc line and names the member; a rewrite restores it', async (t) => {
  const c = copies(t, { dts: (s) => s.replace('/** Number of live keys. */', '/** Number of keys. */') })
  const r = await run(['--check', ...c.args])
  t.is(r.code, 1, r.out)
  t.regex(r.out, /`Store\.size`/)
  t.regex(r.out, /Number of keys\./)

  const w = await run(c.args)
  t.is(w.code, 0, w.out)
  t.is(fs.readFileSync(c.dts, 'utf8'), fs.readFileSync(DTS, 'utf8'))
  const again = await run(['--check', ...c.args])
  t.is(again.code, 0, again.out)
})

test('the check fails when the Rust doc changes and index.d.ts does not', async (t) => {
  const c = copies(t, { rust: (s) => s.replace('/// Whether `key` has a value.\n', '/// Whether `key` has a live value.\n') })
  const r = await run(['--check', ...c.args])
  t.is(r.code, 1, r.out)
  t.regex(r.out, /`Store\.has`/)
})

test('the check fails when a member of index.d.ts has no JSDoc', async (t) => {
  const c = copies(t, { dts: (s) => s.replace('  /** Sizes and counts. */\n', '') })
  const r = await run(['--check', ...c.args])
  t.is(r.code, 1, r.out)
  t.regex(r.out, /`Store\.stats` has no JSDoc/)
})

test('the check and the rewrite fail when a Store member has no Rust doc', async (t) => {
  const c = copies(t, {
    dts: (s) => s.replace('  close(): Promise<void>\n', '  close(): Promise<void>\n  frobnicate(): void\n'),
    rust: (s) => s.replace('/// # JavaScript: `Store.getCopy`\n', '/// # Not for JavaScript\n')
  })
  const before = fs.readFileSync(c.dts, 'utf8')
  for (const args of [['--check', ...c.args], c.args]) {
    const r = await run(args)
    t.is(r.code, 1, r.out)
    t.regex(r.out, /`Store\.frobnicate` has no Rust doc/)
    t.regex(r.out, /`Store\.getCopy` has no Rust doc/)
  }
  t.is(fs.readFileSync(c.dts, 'utf8'), before, 'nothing was written')
})

test('the check fails on a Rust doc section for something index.d.ts does not declare', async (t) => {
  const c = copies(t, { dts: (s) => s.replace('  /** Whether `key` has a value. */\n  has(key: Key): boolean\n', '') })
  const r = await run(['--check', ...c.args])
  t.is(r.code, 1, r.out)
  t.regex(r.out, /`Store\.has` is documented but/)
})

test('sections are read from every .rs file under src/, and a name documented in two files fails', async (t) => {
  // A section moved from lib.rs into a new module of its own is still found.
  const moved = '/// # JavaScript: `Store.getCopy`\n///\n/// A copy of the value of `key` that the caller owns, or `undefined`.\n'
  const c = copies(t, { rust: (s) => s.replace(moved, '') })
  fs.writeFileSync(path.join(c.rust, 'moved.rs'), `${moved}pub fn get_copy() {}\n`)
  fs.mkdirSync(path.join(c.rust, 'nested'))
  const r = await run(['--check', ...c.args])
  t.is(r.code, 0, r.out)
  // Documented again in a nested module: both places are named.
  fs.writeFileSync(path.join(c.rust, 'nested', 'again.rs'), `${moved}pub fn get_copy() {}\n`)
  const twice = await run(['--check', ...c.args])
  t.is(twice.code, 1, twice.out)
  t.regex(twice.out, /again\.rs:1: `Store\.getCopy` is documented twice \(also at [^)]*moved\.rs:1\)/)
})

test('the checkpoint threshold is stated once in src/, and is the engine\'s default', (t) => {
  // The engine's constant, wherever its module is.
  const engine = path.join(ROOT, 'crates', 'simd-r-drive', 'src')
  let threshold = null
  for (const f of rustFiles(engine)) {
    const m = /const DEFAULT_CHECKPOINT_MIN_KEYS: usize = ([0-9_]+);/.exec(fs.readFileSync(f, 'utf8'))
    if (m !== null) threshold = Number(m[1].replace(/_/g, ''))
  }
  t.true(Number.isSafeInteger(threshold), 'found DEFAULT_CHECKPOINT_MIN_KEYS in the engine')
  const stated = threshold.toLocaleString('en-US')
  // Every number of keys the binding's docs state, and where.
  const mentions = []
  for (const f of rustFiles(RUST)) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/\b([0-9]{1,3}(?:,[0-9]{3})+)\+? keys\b/g)) mentions.push(`${path.basename(f)}: ${m[1]}`)
  }
  t.is(mentions.length, 1, `stated once: ${mentions.join('; ')}`)
  t.true(mentions[0].endsWith(stated), `${mentions[0]} is the engine's ${stated}`)
  t.regex(fs.readFileSync(DTS, 'utf8'), new RegExp(`the index file of a store of ${stated} keys or more`))
})
