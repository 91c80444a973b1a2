'use strict'
// index.d.ts's JSDoc is generated from the Rust docs of src/lib.rs (scripts/sync-docs.js):
// these tests fail when the two drift apart. They do not load the native addon.
const test = require('ava')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile } = require('node:child_process')

const ROOT = path.join(__dirname, '..')
const SCRIPT = path.join(ROOT, 'scripts', 'sync-docs.js')
const DTS = path.join(ROOT, 'index.d.ts')
const RUST = path.join(ROOT, 'src', 'lib.rs')

function run (args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, ...args], { cwd: ROOT }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, out: stdout + stderr })
    })
  })
}

/** Copies of index.d.ts and src/lib.rs in a temporary directory, edited by `edit`. */
function copies (t, edit = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srd-docs-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const dts = path.join(dir, 'index.d.ts')
  const rust = path.join(dir, 'lib.rs')
  const apply = (file, source, f) => {
    const text = f ? f(source) : source
    if (f) t.not(text, source, `the edit of ${file} changed nothing`)
    fs.writeFileSync(file, text)
  }
  apply(dts, fs.readFileSync(DTS, 'utf8'), edit.dts)
  apply(rust, fs.readFileSync(RUST, 'utf8'), edit.rust)
  return { dts, rust, args: ['--dts', dts, '--rust', rust] }
}

test('index.d.ts carries the Rust docs of src/lib.rs (npm run docs)', async (t) => {
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
