'use strict'
// The command line (bin/simd-r-drive.js), run as a child process.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const { spawn } = require('node:child_process')
const { Store, kernel } = require('..')
const { tmpStore, tmpDir, withoutClosingMark, corruptStore, CLI: BIN, cli } = require('./helpers.js')

async function fill (file, entries) {
  const s = await Store.open(file)
  await s.putMany(entries)
  await s.close()
}

async function read (file) {
  const s = await Store.open(file, { readOnly: true })
  const m = new Map()
  for (const [k, v] of s) m.set(k.toString('hex'), Buffer.from(v))
  await s.close()
  return m
}

test('put and get: argument, binary stdin, --file and --hex', async (t) => {
  const p = tmpStore()
  let r = await cli(['put', p, 'greeting', 'héllo'])
  t.is(r.code, 0, r.err)
  r = await cli(['get', p, 'greeting'])
  t.is(r.code, 0)
  t.is(r.out, 'héllo')

  const bytes = crypto.randomBytes(100 * 1024 + 7)
  r = await cli(['put', p, 'blob'], { input: bytes })
  t.is(r.code, 0, r.err)
  r = await cli(['get', p, 'blob'])
  t.is(r.code, 0)
  t.true(r.stdout.equals(bytes))

  const f = path.join(tmpDir(), 'value.bin')
  const fromFile = crypto.randomBytes(3000)
  fs.writeFileSync(f, fromFile)
  r = await cli(['put', p, 'file', '--file', f])
  t.is(r.code, 0, r.err)
  t.true((await cli(['get', p, 'file'])).stdout.equals(fromFile))

  r = await cli(['get', p, 'greeting', '--hex'])
  t.is(r.out, Buffer.from('héllo').toString('hex') + '\n')

  // A key and a value that start with "-" after "--"; an empty value from stdin.
  t.is((await cli(['put', p, '--', '-k', '-v'])).code, 0)
  t.is((await cli(['get', p, '--', '-k'])).out, '-v')
  t.is((await cli(['put', p, 'empty'], { input: Buffer.alloc(0) })).code, 0)
  r = await cli(['get', p, 'empty'])
  t.is(r.code, 0)
  t.is(r.stdout.length, 0)

  r = await cli(['put', p, 'x', 'v', '--file', f])
  t.is(r.code, 64)
  r = await cli(['put', p, 'x', '--file', path.join(tmpDir(), 'missing')])
  t.is(r.code, 1)
  t.regex(r.err, /ENOENT/)
})

test('get of a missing key exits 1 with a message on stderr', async (t) => {
  const p = tmpStore()
  await fill(p, [['a', '1']])
  const r = await cli(['get', p, 'nope'])
  t.is(r.code, 1)
  t.is(r.stdout.length, 0)
  t.regex(r.err, /not found: nope/)
})

test('delete exits 0 for an existing key and 1 for a missing one', async (t) => {
  const p = tmpStore()
  await fill(p, [['a', '1'], ['b', '2']])
  t.is((await cli(['delete', p, 'a'])).code, 0)
  const again = await cli(['delete', p, 'a'])
  t.is(again.code, 1)
  t.regex(again.err, /not found/)
  const m = await read(p)
  t.false(m.has(Buffer.from('a').toString('hex')))
  t.true(m.has(Buffer.from('b').toString('hex')))
  // delete does not create a store.
  const missing = path.join(tmpDir(), 'none.srd')
  t.is((await cli(['delete', missing, 'a'])).code, 2)
  t.false(fs.existsSync(missing))
})

test('keys: all, --prefix, non-UTF-8 keys as hex:, --hex', async (t) => {
  const p = tmpStore()
  const odd = Buffer.from([0xff, 0xfe, 0x00, 0x41])
  await fill(p, [['user:1', 'a'], ['user:2', 'b'], ['group:1', 'c'], ['ключ', 'd'], [odd, 'e'], ['two\nlines', 'f']])
  let r = await cli(['keys', p])
  t.is(r.code, 0, r.err)
  t.deepEqual(r.out.split('\n').sort(), ['', 'group:1', 'hex:' + Buffer.from('two\nlines').toString('hex'), 'hex:fffe0041', 'user:1', 'user:2', 'ключ'])
  r = await cli(['keys', p, '--prefix', 'user:'])
  t.deepEqual(r.out.split('\n').sort(), ['', 'user:1', 'user:2'])
  r = await cli(['keys', p, '-p', 'клю'])
  t.is(r.out, 'ключ\n')
  r = await cli(['keys', p, '--prefix', 'user:1', '--hex'])
  t.is(r.out, 'hex:' + Buffer.from('user:1').toString('hex') + '\n')
  r = await cli(['keys', p, '--prefix', 'zzz'])
  t.is(r.code, 0)
  t.is(r.out, '')
})

test('keys stops quietly when the reader closes the pipe early', async (t) => {
  const p = tmpStore()
  const entries = []
  for (let i = 0; i < 60000; i++) entries.push([`key-${i}-${'x'.repeat(20)}`, ''])
  await fill(p, entries)
  const { code, err, got } = await new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'keys', p], { stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    let got = 0
    child.stderr.on('data', (d) => { err += d })
    child.stdout.once('data', (d) => {
      got = d.length
      child.stdout.destroy()
    })
    child.on('close', (code) => resolve({ code, err, got }))
  })
  t.true(got > 0)
  t.is(err, '')
  t.is(code, 0)
})

test('info --json reports the header version, stats and kernel', async (t) => {
  const p = tmpStore()
  await fill(p, [['a', 'x'.repeat(100)], ['b', 'y']])
  const s = await Store.open(p)
  await s.put('a', 'z') // leaves something to reclaim
  await s.close()
  const r = await cli(['info', p, '--json'])
  t.is(r.code, 0, r.err)
  const info = JSON.parse(r.out)
  t.is(info.formatVersion, 3)
  t.is(info.entries, 2)
  t.is(info.fileBytes, fs.statSync(p).size)
  t.true(info.reclaimableBytes > 0)
  // Compaction would keep the header, the live entries (each with an 8-byte version) and
  // one 24-byte sync mark.
  t.is(info.fileBytes, 64 + info.liveBytes + 8 * info.entries + 24 + info.reclaimableBytes)
  t.true(info.indexBytes > 0)
  t.is(info.kernel, kernel())
  t.is(info.path, p)

  // The version comes from the file: a version-3 header is what the engine wrote.
  const head = fs.readFileSync(p).subarray(0, 10)
  t.is(head.toString('latin1', 0, 8), 'SIMDRDRV')
  t.is(head.readUInt16LE(8), info.formatVersion)

  const text = await cli(['info', p])
  t.is(text.code, 0)
  t.regex(text.out, /format version\s+3\n/)
  t.regex(text.out, /live entries\s+2\n/)
  t.regex(text.out, new RegExp(`checksum kernel\\s+${kernel()}`))
})

test('export then import round-trips binary keys and values exactly', async (t) => {
  const src = tmpStore()
  const entries = [
    [Buffer.from([0xff, 0x00, 0x0a, 0x22]), crypto.randomBytes(1000)],
    ['plain', 'text value'],
    ['empty', Buffer.alloc(0)],
    ['quote"and\\back', Buffer.from('{"not":"json"}\n')]
  ]
  for (let i = 0; i < 200; i++) entries.push([crypto.randomBytes(1 + (i % 40)), crypto.randomBytes(i * 13)])
  await fill(src, entries)
  const exported = await cli(['export', src])
  t.is(exported.code, 0, exported.err)
  const lines = exported.out.trimEnd().split('\n')
  t.is(lines.length, (await read(src)).size)
  for (const line of lines) t.deepEqual(Object.keys(JSON.parse(line)), ['key64', 'value64'])

  // From stdin
  const dst = tmpStore()
  const imported = await cli(['import', dst], { input: exported.stdout })
  t.is(imported.code, 0, imported.err)
  t.regex(imported.out, new RegExp(`imported ${lines.length} entries`))
  const a = await read(src)
  const b = await read(dst)
  t.is(b.size, a.size)
  for (const [k, v] of a) t.true(b.get(k).equals(v), k)

  // From a file
  const f = path.join(tmpDir(), 'dump.ndjson')
  fs.writeFileSync(f, exported.stdout)
  const dst2 = tmpStore()
  t.is((await cli(['import', dst2, f])).code, 0)
  const c = await read(dst2)
  t.is(c.size, a.size)
  for (const [k, v] of a) t.true(c.get(k).equals(v), k)
})

test('import accepts plain "key"/"value" strings and skips empty lines', async (t) => {
  const p = tmpStore()
  const input = '{"key":"ключ","value":"значение"}\n\n{"key64":"YQ==","value":"b"}\r\n'
  const r = await cli(['import', p], { input })
  t.is(r.code, 0, r.err)
  t.regex(r.out, /imported 2 entries/)
  t.is((await cli(['get', p, 'ключ'])).out, 'значение')
  t.is((await cli(['get', p, 'a'])).out, 'b')
})

test('import of a malformed line reports its line number, exits 1 and writes nothing of its batch', async (t) => {
  const p = tmpStore()
  const good = JSON.stringify({ key64: Buffer.from('k1').toString('base64'), value64: Buffer.from('v1').toString('base64') })
  for (const [bad, why] of [
    ['{"key64": "a2V5", "value64": ', /not valid JSON/],
    ['{"key64":"%%%","value64":"dg=="}', /base64/],
    ['{"value64":"dg=="}', /missing "key64"/],
    ['{"key64":"","value64":"dg=="}', /1 to 65535 bytes/],
    ['[1,2]', /not a JSON object/]
  ]) {
    const r = await cli(['import', p], { input: `${good}\n\n${bad}\n${good}\n` })
    t.is(r.code, 1, bad)
    t.regex(r.err, /line 3\b/, bad)
    t.regex(r.err, why, bad)
    t.is(r.out, '')
  }
  // Line 1 was in the failing batch: not written.
  t.is((await read(p)).size, 0)
  const missingFile = await cli(['import', p, path.join(tmpDir(), 'nope.ndjson')])
  t.is(missingFile.code, 1)
})

test('verify: ok on a good store, exit 2 and ERR_STORE_CORRUPT after a flipped byte', async (t) => {
  const p = tmpStore()
  const entries = []
  for (let i = 0; i < 20; i++) entries.push([`key${i}`, Buffer.alloc(100, i)])
  const s = await Store.open(p)
  for (const [k, v] of entries) await s.put(k, v)
  await s.close()

  let r = await cli(['verify', p])
  t.is(r.code, 0, r.err)
  t.is(r.out, `ok: 20 entries, ${fs.statSync(p).size} bytes verified\n`)

  const bytes = fs.readFileSync(p)
  bytes[64 + 40] ^= 0xff
  fs.writeFileSync(p, bytes)
  r = await cli(['verify', p])
  t.is(r.code, 2)
  t.regex(r.err, /^error \[ERR_STORE_CORRUPT\]: .*offset 64\b/)
  t.true(r.err.includes(p))
  t.is(r.out, '')
  t.true(fs.readFileSync(p).equals(bytes), 'verify left the file as it was')
})

test('verify reports a torn last write as unfinished, not as corruption', async (t) => {
  const p = tmpStore()
  await fill(p, [['a', Buffer.alloc(100, 1)]])
  await fill(p, [['b', Buffer.alloc(100, 2)]])
  // As a crash before close() leaves it (no closing sync mark), with the last write torn.
  const bytes = withoutClosingMark(fs.readFileSync(p))
  bytes[bytes.length - 8] ^= 0xff // inside the last entry's value
  fs.writeFileSync(p, bytes)
  const r = await cli(['verify', p])
  t.is(r.code, 0, r.err)
  t.regex(r.out, /^ok: 1 entries, \d+ bytes verified \(\d+ bytes after the last complete write were not counted: an unfinished last write/)
  t.true(fs.readFileSync(p).equals(bytes))
})

test('a file that is not a store: exit 2 with ERR_NOT_A_STORE, file unchanged', async (t) => {
  const dir = tmpDir()
  const f = path.join(dir, 'notes.txt')
  const content = 'these are my notes, not a store\n'.repeat(10)
  fs.writeFileSync(f, content)
  for (const args of [['put', f, 'k', 'v'], ['info', f], ['get', f, 'k'], ['verify', f], ['import', f]]) {
    const r = await cli(args, { input: '{"key":"a","value":"b"}\n' })
    t.is(r.code, 2, args.join(' '))
    t.regex(r.err, /^error \[ERR_NOT_A_STORE\]: /, args.join(' '))
  }
  t.is(fs.readFileSync(f, 'utf8'), content)
  t.deepEqual(fs.readdirSync(dir), ['notes.txt'])
})

test('beside a writer: reads work, writes fail with ERR_STORE_LOCKED (exit 2)', async (t) => {
  const p = tmpStore()
  const w = await Store.open(p)
  await w.put('a', 'one')
  try {
    const got = await cli(['get', p, 'a'])
    t.is(got.code, 0, got.err)
    t.is(got.out, 'one')
    t.is((await cli(['verify', p])).code, 0)
    const put = await cli(['put', p, 'b', 'two'])
    t.is(put.code, 2)
    t.regex(put.err, /^error \[ERR_STORE_LOCKED\]: /)
    t.is(w.get('b'), undefined)
  } finally {
    await w.close()
  }
})

test('compact prints what it reclaimed; --json gives the numbers', async (t) => {
  const p = tmpStore()
  await fill(p, Array.from({ length: 100 }, (_, i) => [`k${i}`, Buffer.alloc(200, i)]))
  await fill(p, Array.from({ length: 50 }, (_, i) => [`k${i}`, Buffer.alloc(200, 255)]))
  const before = fs.statSync(p).size
  const r = await cli(['compact', p, '--json'])
  t.is(r.code, 0, r.err)
  const c = JSON.parse(r.out)
  t.is(c.bytesBefore, before)
  t.is(c.bytesAfter, fs.statSync(p).size)
  t.true(c.reclaimedBytes > 50 * 200)
  t.is(c.reclaimedBytes, c.bytesBefore - c.bytesAfter)
  t.is(c.entries, 100)
  t.is(typeof c.durationMs, 'number')
  t.is(r.err, '', 'no progress line when stderr is not a terminal')
  t.is((await cli(['get', p, 'k0'])).stdout[0], 255)

  const again = await cli(['compact', p])
  t.is(again.code, 0)
  t.regex(again.out, /^reclaimed 0 bytes: (\d+) -> \1 bytes, 100 entries kept, in [\d.]+ ms\n$/)
})

test('usage errors exit 64', async (t) => {
  const p = tmpStore()
  for (const args of [[], ['frobnicate', p], ['get', p], ['get'], ['info', p, 'extra'], ['keys', p, '--bogus'], ['help', 'nope']]) {
    const r = await cli(args)
    t.is(r.code, 64, args.join(' '))
    t.not(r.err, '', args.join(' '))
    t.is(r.out, '', args.join(' '))
  }
  t.false(fs.existsSync(p))
  const empty = await cli(['put', p, '', 'v'])
  t.is(empty.code, 64)
  t.regex(empty.err, /ERR_INVALID_KEY/)
})

test('--help, help <command>, <command> --help and --version', async (t) => {
  const main = await cli(['--help'])
  t.is(main.code, 0)
  for (const c of ['info', 'get', 'put', 'delete', 'keys', 'compact', 'verify', 'export', 'import', 'bench']) {
    t.regex(main.out, new RegExp(`^  ${c} `, 'm'))
  }
  t.regex(main.out, /Exit codes:[\s\S]*64 {2}usage error/)
  t.is((await cli(['-h'])).out, main.out)
  const one = await cli(['help', 'export'])
  t.is(one.code, 0)
  t.regex(one.out, /"key64"/)
  t.regex(one.out, /"value64"/)
  const flag = await cli(['export', '--help'])
  t.is(flag.out, one.out)
  t.regex((await cli(['import', '-h'])).out, /batches before it stay imported/)
  const v = await cli(['--version'])
  t.is(v.code, 0)
  t.is(v.out, require('../package.json').version + '\n')
})

test('bench outside a source checkout says so and exits 1', async (t) => {
  const dir = tmpDir()
  // All of bin/, as the package ships it (the CLI is more than one file).
  fs.cpSync(path.dirname(BIN), path.join(dir, 'bin'), { recursive: true })
  const bin = path.join(dir, 'bin', 'simd-r-drive.js')
  const r = await cli(['bench'], { bin })
  t.is(r.code, 1)
  t.regex(r.err, /bench[\\/]run\.js not found/)
})

test('repair rebuilds a corrupt store (exit 0), verify then passes; repair of a missing file exits 1', async (t) => {
  const p = tmpStore()
  await corruptStore(p)
  const bad = await cli(['verify', p])
  t.is(bad.code, 2)
  t.regex(bad.err, /ERR_STORE_CORRUPT/)
  const r = await cli(['repair', p, '--json'])
  t.is(r.code, 0, r.err)
  const report = JSON.parse(r.out)
  t.is(report.liveKeys, 19)
  t.is(report.skipped.length, 1)
  const ok = await cli(['verify', p])
  t.is(ok.code, 0, ok.err)
  t.regex(ok.out, /^ok: 19 entries/)
  const missing = await cli(['repair', p + '.nope'])
  t.is(missing.code, 1)
})

test('bench runs the benchmark from a source checkout (tiny sizes)', async (t) => {
  const { execFile } = require('node:child_process')
  const env = {
    ...process.env,
    BENCH_STORES: 'simd-r-drive',
    BENCH_ONLY: 'r1,w2',
    BENCH_N: '2000',
    BENCH_READS: '5000',
    BENCH_WRITES: '200',
    BENCH_REPS: '1',
    BENCH_DIR: tmpDir()
  }
  const r = await new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'bench'], { env }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }))
  })
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /\| R1 random sync get, 100 B .*\| [\d.]+[kM]? \(/)
  t.regex(r.stdout, /\| W2 200 awaited puts/)
  t.regex(r.stdout, /Machine: /)
})

test('compact shows progress on a terminal and prints what it reclaimed', async (t) => {
  const { execFileSync, execFile } = require('node:child_process')
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' })
  } catch {
    t.log('no `script` command here to give the CLI a terminal')
    t.pass()
    return
  }
  const p = tmpStore()
  const s = await Store.open(p)
  for (let i = 0; i < 2000; i++) await s.put(`k${i % 100}`, Buffer.alloc(1000, i & 0xff))
  await s.close()
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} compact ${JSON.stringify(p)}`
  const r = await new Promise((resolve) => {
    execFile('script', ['-qec', cmd, '/dev/null'], (err, stdout) => resolve({ code: err ? err.code : 0, stdout }))
  })
  t.is(r.code, 0, r.stdout)
  t.regex(r.stdout, /compacting /, 'the progress line is drawn on the terminal')
  t.regex(r.stdout, /reclaimed .+ bytes: \d+ -> \d+ bytes/)
})
