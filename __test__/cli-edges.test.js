'use strict'
// The command line at its edges: long values, keys that are not plain text, write errors on
// stdout, a missing native binary.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const { spawn } = require('node:child_process')
const { Store } = require('..')
const { tmpStore, tmpDir, runProcess: run, CLI: BIN, cli } = require('./helpers.js')

const MiB = 1024 * 1024

/** Runs the CLI with stdout into a closed pipe or /dev/full; resolves with { code, err }. */
function cliInto (args, target) {
  const dir = tmpDir()
  const errFile = path.join(dir, 'stderr')
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
  const script = target === 'closed pipe'
    ? `${quoted} 2>'${errFile}' | true; echo "\${PIPESTATUS[0]}"`
    : `${quoted} 2>'${errFile}' >/dev/full; echo "$?"`
  return run('bash', ['-c', script]).then((r) => ({ code: Number(r.out.trim()), err: fs.readFileSync(errFile, 'utf8') }))
}

async function fill (file, entries) {
  const s = await Store.open(file)
  await s.putMany(entries)
  await s.close()
}

async function readValue (file, key) {
  const s = await Store.open(file, { readOnly: true })
  try {
    const v = s.get(key)
    return v === undefined ? undefined : Buffer.from(v)
  } finally {
    await s.close()
  }
}

// ----- item 1: base64 of long values -----

test('import takes a line whose value is over 3.2 MiB (the base64 check does not overflow the regex stack)', async (t) => {
  const p = tmpStore()
  const value = crypto.randomBytes(4 * MiB)
  const r = await cli(['import', p], { input: JSON.stringify({ key: 'big', value64: value.toString('base64') }) + '\n' })
  t.is(r.code, 0, r.err)
  t.is(r.out, 'imported 1 entries\n')
  t.true((await readValue(p, 'big')).equals(value))
})

test('import still refuses malformed base64 (padding, alphabet, length)', async (t) => {
  const p = tmpStore()
  for (const bad of ['Q===', 'QQ=A', '=QQ=', 'QQ', 'Q!==', 'QQ==QQ==']) {
    const r = await cli(['import', p], { input: JSON.stringify({ key: 'k', value64: bad }) + '\n' })
    t.is(r.code, 1, bad)
    t.regex(r.err, /line 1: "value64" is not a base64 string/, bad)
  }
  for (const good of ['', 'QQ==', 'QUI=', 'QUJD']) {
    const r = await cli(['import', p], { input: JSON.stringify({ key: 'k', value64: good }) + '\n' })
    t.is(r.code, 0, good)
    t.true((await readValue(p, 'k')).equals(Buffer.from(good, 'base64')), good)
  }
})

// ----- item 2: long values stream both ways; import batches by bytes -----

test('export writes a value over 2 MiB as "continued" parts of 768 KiB; import streams them back exactly', async (t) => {
  const a = tmpStore()
  const big = crypto.randomBytes(30 * MiB + 5)
  const two = crypto.randomBytes(2 * MiB)
  await fill(a, [['big', big], ['two', two], ['small', 'x'], [Buffer.from([0xff, 0]), Buffer.alloc(0)]])
  const exp = await cli(['export', a])
  t.is(exp.code, 0, exp.err)
  const lines = exp.out.split('\n').filter(Boolean).map((l) => JSON.parse(l))
  const parts = Math.ceil(big.length / (768 * 1024))
  t.is(lines.length, 3 + parts, `the long value takes ${parts} lines, the 2 MiB one one line`)
  const first = lines.findIndex((l) => l.continued === true && l.key64 !== undefined)
  t.deepEqual(Object.keys(lines[first]), ['key64', 'value64', 'continued'])
  for (let i = 1; i < parts - 1; i++) t.deepEqual(Object.keys(lines[first + i]), ['more64', 'continued'])
  t.deepEqual(Object.keys(lines[first + parts - 1]), ['more64'])
  t.is(Buffer.from(lines[first].value64, 'base64').length, 768 * 1024)
  t.true(exp.out.split('\n').every((l) => l.length <= 2 * 1024 * 1024 * 4 / 3 + 100), 'no line longer than the base64 of 2 MiB')
  const b = tmpStore()
  const imp = await cli(['import', b], { input: exp.stdout })
  t.is(imp.code, 0, imp.err)
  t.is(imp.out, 'imported 4 entries\n')
  t.true((await readValue(b, 'big')).equals(big))
  t.true((await readValue(b, 'two')).equals(two))
  t.true((await readValue(b, Buffer.from([0xff, 0]))).equals(Buffer.alloc(0)))
})

test('a "continued" value cut short, or a stray "more64", imports nothing of it', async (t) => {
  const p = tmpStore()
  const head = JSON.stringify({ key: 'a', value: 'one' }) + '\n' +
    JSON.stringify({ key: 'long', value64: 'QUJD', continued: true }) + '\n' +
    JSON.stringify({ more64: 'REVG', continued: true }) + '\n'
  let r = await cli(['import', p], { input: head })
  t.is(r.code, 1)
  t.regex(r.err, /line 3: the input ended inside the "continued" value of line 2; 1 entries imported before it/)
  t.is(await readValue(p, 'long'), undefined)
  t.is((await readValue(p, 'a')).toString(), 'one')
  r = await cli(['import', p], { input: head + JSON.stringify({ key: 'b', value: 'two' }) + '\n' })
  t.is(r.code, 1)
  t.regex(r.err, /line 4: the entry of line 2 is "continued", so this line must carry "more64"/)
  t.is(await readValue(p, 'long'), undefined)
  r = await cli(['import', p], { input: JSON.stringify({ more64: 'QUJD' }) + '\n' })
  t.is(r.code, 1)
  t.regex(r.err, /line 1: "more64" without an entry/)
  r = await cli(['import', p], { input: head + JSON.stringify({ more64: 'R0hJ' }) + '\n' })
  t.is(r.code, 0, r.err)
  t.is((await readValue(p, 'long')).toString(), 'ABCDEFGHI')
  t.deepEqual(fs.readdirSync(path.dirname(p)).filter((f) => f.includes('.upload-')), [])
})

test('import splits lines at LF, CRLF and CR, also across reads', async (t) => {
  const p = tmpStore()
  const lines = ['{"key":"a","value":"1"}', '{"key":"b","value":"2"}', '{"key":"c","value":"3"}', '', '{"key":"d","value":"é"}']
  const text = Buffer.from(lines[0] + '\r\n' + lines[1] + '\r' + lines[2] + '\n\n' + lines[4])
  // Fed through a pipe in pieces that cut a CRLF and a two-byte character in half.
  const child = spawn(process.execPath, [BIN, 'import', p], { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  const cut = [text.indexOf('\r\n') + 1, text.length - 2]
  child.stdin.write(text.subarray(0, cut[0]))
  await new Promise((resolve) => setTimeout(resolve, 200))
  child.stdin.write(text.subarray(cut[0], cut[1]))
  await new Promise((resolve) => setTimeout(resolve, 200))
  child.stdin.end(text.subarray(cut[1]))
  const code = await new Promise((resolve) => child.on('close', resolve))
  t.is(code, 0)
  t.is(out, 'imported 4 entries\n')
  t.is((await readValue(p, 'd')).toString(), 'é')
  const r = await cli(['import', p], { input: '{"key":"x","value":"1"}\r\n{"key":"y"}\r\n' })
  t.regex(r.err, /^error: line 2: missing "value64"/, 'CRLF counts as one line break')
})

test('import commits a batch once it holds 64 MiB, whatever the count', async (t) => {
  const p = tmpStore()
  const value = crypto.randomBytes(12 * MiB)
  let input = ''
  for (let i = 0; i < 6; i++) input += JSON.stringify({ key: `k${i}`, value64: value.toString('base64') }) + '\n'
  input += 'not json\n'
  const r = await cli(['import', p], { input })
  t.is(r.code, 1)
  // 6 × 12 MiB reach 64 MiB: that batch was committed before the bad line.
  t.regex(r.err, /line 7: not valid JSON.*; 6 entries imported before it/)
  t.true((await readValue(p, 'k5')).equals(value))
})

test('put --file streams the value: a file over 2 GiB', async (t) => {
  t.timeout(120_000)
  const dir = tmpDir()
  const f = path.join(dir, 'sparse.bin')
  const size = 2 * 1024 * MiB + 3
  const fd = fs.openSync(f, 'w')
  fs.writeSync(fd, Buffer.from('end'), 0, 3, size - 3)
  fs.closeSync(fd)
  const p = path.join(dir, 'big.srd')
  const r = await cli(['put', p, 'big', '--file', f])
  fs.unlinkSync(f)
  t.is(r.code, 0, r.err)
  const s = await Store.open(p, { readOnly: true })
  const v = s.get('big')
  t.is(v.length, size)
  t.is(v.toString('latin1', size - 3), 'end')
  t.is(v[0], 0)
  await s.close()
  fs.unlinkSync(p)
  const dir2 = tmpDir()
  t.is((await cli(['put', path.join(dir2, 's.srd'), 'k', '--file', dir2])).code, 1, 'a directory is not a value')
})

// ----- item 3: any key can be named -----

test('keys names every key unambiguously; get, put and delete take what it prints; non-UTF-8 arguments are refused', async (t) => {
  const p = tmpStore()
  const odd = Buffer.from([0xff, 0xfe, 0x41])
  await fill(p, [['hex:6b31', 'literal'], ['k1', 'plain'], [odd, 'odd'], ['hexa', 'h']])
  const listed = (await cli(['keys', p])).out.split('\n').filter(Boolean).sort()
  t.deepEqual(listed, ['hex:' + Buffer.from('hex:6b31').toString('hex'), 'hex:fffe41', 'hexa', 'k1'].sort())
  const values = {}
  for (const name of listed) {
    const r = await cli(['get', p, name])
    t.is(r.code, 0, `${name}: ${r.err}`)
    values[name] = r.out
  }
  t.deepEqual(Object.values(values).sort(), ['h', 'literal', 'odd', 'plain'])
  t.is((await cli(['get', p, 'hex:6b31'])).out, 'plain', 'hex: names the bytes, here "k1"')
  t.is((await cli(['put', p, 'hex:00ff', 'v'])).code, 0)
  t.is((await readValue(p, Buffer.from([0, 0xff]))).toString(), 'v')
  t.is((await cli(['delete', p, 'hex:fffe41'])).code, 0)
  t.is(await readValue(p, odd), undefined)
  t.is((await cli(['keys', p, '--prefix', 'hex:6865783a'])).out, 'hex:' + Buffer.from('hex:6b31').toString('hex') + '\n')
  for (const bad of ['hex:6', 'hex:zz']) {
    const r = await cli(['get', p, bad])
    t.is(r.code, 64, bad)
    t.regex(r.err, /pairs of hexadecimal digits/)
  }

  // A key argument that is not UTF-8 is refused, not stored as U+FFFD. spawn() passes the
  // bytes of a latin1 string as they are.
  const before = fs.readFileSync(p)
  const r = await run('bash', ['-c', `'${process.execPath}' '${BIN}' put '${p}' $'bad\\xff' v`])
  t.is(r.code, 64, r.err)
  t.regex(r.err, /not valid UTF-8/)
  t.true(fs.readFileSync(p).equals(before))
  const real = await cli(['put', p, 'real\ufffd', 'v'])
  t.is(real.code, 0, 'a real U+FFFD in valid UTF-8 is a key like any other')
  t.is((await readValue(p, 'real\ufffd')).toString(), 'v')
})

// ----- item 4: errors reported, not crashed on -----

for (const target of ['closed pipe', '/dev/full']) {
  test(`info, info --json, verify, --help and help --help into a ${target}`, async (t) => {
    const p = tmpStore()
    await fill(p, [['a', 'b']])
    for (const args of [['info', p], ['info', p, '--json'], ['verify', p], ['--help'], ['help', '--help'], ['get', p, 'a'], ['export', p]]) {
      const r = await cliInto(args, target)
      t.notRegex(r.err, /\n\s+at /, `${args.join(' ')}: no stack trace`)
      if (target === 'closed pipe') {
        t.is(r.code, 0, `${args.join(' ')}: ${r.err}`)
        t.is(r.err, '', args.join(' '))
      } else {
        t.is(r.code, 1, `${args.join(' ')}: ${r.err}`)
        t.is(r.err, 'error [ENOSPC]: cannot write to stdout: ENOSPC: no space left on device, write\n', args.join(' '))
      }
    }
  })
}

test('help --help is the help (exit 0), like --help', async (t) => {
  const main = await cli(['--help'])
  const r = await cli(['help', '--help'])
  t.is(r.code, 0, r.err)
  t.is(r.out, main.out)
  const one = await cli(['help', 'get', '-h'])
  t.is(one.code, 0)
  t.is(one.out, (await cli(['get', '--help'])).out)
})

test('without the native binary: error [ERR_NATIVE_BINDING_MISSING] and exit 1, no stack trace', async (t) => {
  const dir = tmpDir()
  const preload = path.join(dir, 'no-binding.js')
  fs.writeFileSync(preload, `
const Module = require('node:module')
const load = Module._load
Module._load = function (request) {
  if (/binding\\.js$/.test(request)) throw new Error('simulated: no binary for this platform')
  return load.apply(this, arguments)
}
`)
  const p = path.join(dir, 's.srd')
  for (const args of [['info', p], ['put', p, 'k', 'v'], ['get', p, 'k'], ['export', p]]) {
    const r = await run(process.execPath, [BIN, ...args], { nodeArgs: ['--require', preload] })
    t.is(r.code, 1, args.join(' '))
    t.regex(r.err, /^error \[ERR_NATIVE_BINDING_MISSING\]: simd-r-drive could not load its native binary .*Install the package simd-r-drive-/, args.join(' '))
    t.notRegex(r.err, /\n\s+at /)
    t.is(r.err.split('\n').length, 2, 'one line')
  }
  // --help does not need the binary.
  t.is((await run(process.execPath, [BIN, '--help'], { nodeArgs: ['--require', preload] })).code, 0)
})
