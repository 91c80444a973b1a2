'use strict'
const test = require('ava')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const { Store } = require('..')
const { tmpStore, runChild, startChild } = require('./helpers.js')

/** The feed's items as `[type, key, value]` triples per batch. */
async function collect (feed) {
  const out = []
  for await (const item of feed) out.push(item.changes.map((c) => [c.type, String(c.key), c.value === undefined ? undefined : String(c.value)]))
  return out
}

const tick = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits (at most 10 s) until `cond()` holds: events come from the event loop, later. */
async function until (cond) {
  for (let i = 0; i < 1000 && !cond(); i++) await tick(10)
}

test('changes() returns each committed batch in commit order, then ends at the present', async (t) => {
  const s = await Store.open(tmpStore())
  await s.put('a', '1')
  await s.putMany([['b', '2'], ['c', '3']])
  s.delete('a')
  await s.put('d', '')
  const present = s.cursor()
  await s.flush() // a sync mark: no batch of changes
  t.deepEqual(await collect(s.changes()), [
    [['put', 'a', '1']],
    [['put', 'b', '2'], ['put', 'c', '3']],
    [['delete', 'a', undefined], ['put', 'd', '']]
  ])
  const items = []
  for await (const item of s.changes()) items.push(item)
  t.is(typeof items[0].cursor, 'string')
  t.false(items[0].more)
  t.true(Buffer.isBuffer(items[0].changes[0].key))
  t.true(Buffer.isBuffer(items[0].changes[0].value))
  // The last item's cursor is the present as it was; a feed from there or from the
  // present (after the sync mark) has nothing yet.
  t.is(items[2].cursor, present)
  t.deepEqual(await collect(s.changes({ since: present })), [])
  t.deepEqual(await collect(s.changes({ since: s.cursor() })), [])
  await s.close()
})

test('clear() is one change of its own in the feed and in events; an encoded handle gets decoded values', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  const json = await Store.open(p, { valueEncoding: 'json' })
  const seen = []
  json.on('change', (b) => seen.push(b.changes.map((c) => [c.type, String(c.key), c.value])))
  const start = s.cursor()
  await json.put('a', { n: 1 })
  await s.clear()
  await json.put('b', [2])
  await until(() => seen.length === 3)
  t.deepEqual(seen, [[['put', 'a', { n: 1 }]], [['clear', '', undefined]], [['put', 'b', [2]]]])
  const items = []
  for await (const item of json.changes({ since: start })) items.push(item.changes.map((c) => [c.type, String(c.key), c.value]))
  t.deepEqual(items, seen, 'the feed says what the events said')
  // The binary handle reads the same feed as bytes.
  const raw = []
  for await (const item of s.changes({ since: start })) raw.push(item.changes.map((c) => c.value === undefined ? null : c.value.toString()))
  t.deepEqual(raw, [['{"n":1}'], [null], ['[2]']])
  await json.close()
  await s.close()
})

test('a cursor resumes after its batch, across close and reopen', async (t) => {
  const p = tmpStore()
  let s = await Store.open(p)
  await s.put('a', '1')
  await s.put('b', '2')
  const feed = s.changes()
  const first = (await feed.next()).value.cursor
  await feed.return() // releases the feed
  await s.close()
  s = await Store.open(p)
  await s.put('c', '3')
  t.deepEqual(await collect(s.changes({ since: first })), [[['put', 'b', '2']], [['put', 'c', '3']]])
  await s.close()
})

test('a live feed waits for new commits, and return() or close() ends it', async (t) => {
  const s = await Store.open(tmpStore())
  const feed = s.changes({ since: s.cursor(), live: true })
  setTimeout(() => { s.put('x', '1') }, 30)
  const first = await feed.next()
  t.false(first.done)
  t.is(String(first.value.changes[0].key), 'x')
  s.putSync('y', '2')
  t.is(String((await feed.next()).value.changes[0].key), 'y')
  t.deepEqual(await feed.return(), { done: true, value: undefined })
  t.true((await feed.next()).done)
  t.is(s._live.watch, null, 'nothing is watched once the feed is gone')
  const waiting = s.changes({ since: s.cursor(), live: true })
  const next = waiting.next()
  await tick()
  await s.close()
  t.true((await next).done, 'close ends a waiting live feed')
})

test('a batch larger than one item comes in parts marked more, whose cursor replays it whole', async (t) => {
  const s = await Store.open(tmpStore())
  await s.put('before', 'x')
  const entries = []
  for (let i = 0; i < 2500; i++) entries.push([`k${i}`, `v${i}`])
  await s.putMany(entries)
  await s.put('after', 'y')
  const items = []
  for await (const item of s.changes()) items.push(item)
  // One read holds at most 1,024 changes: the first holds 'before' and 1,023 of the batch.
  t.deepEqual(items.map((i) => [i.more, i.changes.length]), [[false, 1], [true, 1023], [true, 1024], [false, 453], [false, 1]])
  t.is(items[1].cursor, items[0].cursor, 'a part before the last resumes at the start of its batch')
  t.is(items[2].cursor, items[0].cursor)
  t.not(items[3].cursor, items[0].cursor)
  t.is(String(items[3].changes[452].key), 'k2499')
  const replay = []
  for await (const item of s.changes({ since: items[1].cursor })) replay.push(item.changes.length)
  t.deepEqual(replay, [1024, 1024, 452, 1])
  await s.close()
})

test('after a compaction a cursor fails with ERR_CURSOR_EXPIRED, and the feed from the start rebuilds the state', async (t) => {
  const s = await Store.open(tmpStore())
  await s.put('a', '1')
  await s.put('b', '2')
  await s.delete('a')
  const before = s.cursor()
  await s.compact()
  const err = await t.throwsAsync(collect(s.changes({ since: before })), { code: 'ERR_CURSOR_EXPIRED' })
  t.regex(err.message, /clear the replica and read the changes again without a cursor/)
  t.deepEqual(await collect(s.changes()), [[['put', 'b', '2']]])
  // A feed open across the compaction fails at its next read.
  const feed = s.changes({ since: s.cursor(), live: true })
  const next = feed.next()
  await tick()
  await s.put('c', '3')
  t.is(String((await next).value.changes[0].key), 'c')
  await s.compact()
  await t.throwsAsync(feed.next(), { code: 'ERR_CURSOR_EXPIRED' })
  await s.close()
})

test('malformed and foreign cursors are refused with a code', async (t) => {
  const s = await Store.open(tmpStore())
  const other = await Store.open(tmpStore())
  await s.put('a', '1')
  for (const bad of ['', 'nope', 'srd1' + 'g'.repeat(48), s.cursor().toUpperCase()]) {
    t.throws(() => s.changes({ since: bad }), { instanceOf: RangeError, code: 'ERR_INVALID_CURSOR' }, bad)
  }
  t.throws(() => s.changes({ since: 42 }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => s.changes({ live: 'yes' }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(s.changes({ since: other.cursor() }).next(), { code: 'ERR_CURSOR_EXPIRED' })
  await s.close()
  await other.close()
  t.throws(() => s.cursor(), { code: 'ERR_STORE_CLOSED' })
})

test("'change' events follow every commit, with the feed's shape; no listener, nothing watched", async (t) => {
  const s = await Store.open(tmpStore())
  t.is(s._live.watch, null)
  await s.put('quiet', '0')
  const events = []
  const listener = (e) => events.push(e)
  s.on('change', listener)
  t.not(s._live.watch, null)
  await s.put('a', '1')
  s.putSync('b', '2')
  s.put('c', '3')
  await s.delete('b')
  await s.putMany([['d', '4'], ['e', '5']])
  await until(() => events.length >= 4)
  t.deepEqual(events.map((e) => e.changes.map((c) => [c.type, String(c.key)])), [
    [['put', 'a']], [['put', 'b']], [['put', 'c'], ['delete', 'b']], [['put', 'd'], ['put', 'e']]
  ])
  t.is(events[3].cursor, s.cursor())
  s.off('change', listener)
  t.is(s._live.watch, null, 'the last listener gone, nothing is watched')
  await s.put('f', '6')
  await tick()
  t.is(events.length, 4)
  let replaced = 0
  s.once('replaced', () => replaced++)
  await s.compact()
  await until(() => replaced > 0)
  await tick()
  t.is(replaced, 1, "a compaction is one 'replaced' event")
  await s.close()
})

test("'change' events reach every Store sharing the engine, in worker threads too", async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  const w = new Worker(path.join(__dirname, 'fixtures', 'worker.js'), { workerData: { path: p, mode: 'listen', count: 2 } })
  const messages = []
  const got = new Promise((resolve, reject) => {
    w.on('message', (m) => { messages.push(m); if (m !== 'ready') resolve(m) })
    w.on('error', reject)
  })
  while (messages.length === 0) await tick()
  const mine = []
  s.on('change', (e) => mine.push(String(e.changes[0].key)))
  await s.put('one', '1')
  await s.put('two', '2')
  t.deepEqual(await got, ['one', 'two'])
  await until(() => mine.length >= 2)
  t.deepEqual(mine, ['one', 'two'])
  await s.close()
})

test('a listener that throws surfaces as an uncaught exception; writes and other listeners go on', async (t) => {
  const r = await runChild('throwing-listener.js', [tmpStore()])
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /UNCAUGHT listener failed/)
  t.regex(r.stdout, /SEEN a,b GOT 2 UNCAUGHT 2/)
})

test('lockTimeout waits for another process to release the writer lock', async (t) => {
  const p = tmpStore()
  const child = await startChild('lock-holder.js', [p, 'stdin'], 'HOLDING')
  await t.throwsAsync(Store.open(p), { code: 'ERR_STORE_LOCKED' })
  // The open waits while the holder holds the lock (it holds it until told to let go)...
  let opened = false
  const opening = Store.open(p, { lockTimeout: 30000 }).then((s) => { opened = true; return s })
  await tick(300)
  t.false(opened, 'no open while the other process holds the lock')
  // ...and succeeds once the holder has closed.
  const released = new Promise((resolve) => child.stdout.on('data', (d) => { if (String(d).includes('RELEASED')) resolve() }))
  child.stdin.write('go\n')
  await released
  const s = await opening
  t.true(opened)
  await s.close()
  child.kill('SIGKILL')
})

test('lockTimeout fails after the wait with ERR_STORE_LOCKED naming it (async and sync)', async (t) => {
  const p = tmpStore()
  const child = await startChild('lock-holder.js', [p, 'never'], 'HOLDING')
  try {
    const started = Date.now()
    const err = await t.throwsAsync(Store.open(p, { lockTimeout: 200 }), { code: 'ERR_STORE_LOCKED' })
    t.true(Date.now() - started >= 200)
    t.regex(err.message, /lock timeout of 200 ms/)
    t.throws(() => Store.openSync(p, { lockTimeout: 50 }), { code: 'ERR_STORE_LOCKED', message: /50 ms/ })
    t.throws(() => Store.openSync(p, { lockTimeout: -1 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
    t.throws(() => Store.openSync(p, { lockTimeout: '1' }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  } finally {
    child.kill('SIGKILL')
  }
})

/** Every live `[key, value]` of the store at `p`, as strings of hex. */
async function contents (p) {
  const s = await Store.open(p, { readOnly: true, follow: false })
  const out = [...s.entries()].map(([k, v]) => [k.toString('hex'), v.toString('hex')]).sort()
  await s.close()
  return out
}

const REPLICA_ROUNDS = Number(process.env.REPLICA_ROUNDS || 4)

test(`a replica kept from the feed equals the source through compactions and ${REPLICA_ROUNDS} rounds of kill -9 of the consumer and the writer`, async (t) => {
  const src = tmpStore('source.srd')
  const dst = tmpStore('replica.srd')
  const cursorFile = dst + '.cursor'
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
  const killed = (child) => {
    child.kill('SIGKILL')
    return new Promise((resolve) => child.on('exit', resolve))
  }
  let resyncs = 0
  const count = (c) => c.stdout.on('data', (d) => { resyncs += (String(d).match(/RESYNC/g) || []).length })
  let consumer = null
  for (let r = 0; r < REPLICA_ROUNDS; r++) {
    // Each round: a writer (recovering what the last one left when killed), the consumer
    // killed at a random moment and started again from its saved cursor, then the writer
    // killed too.
    const writer = await startChild('live-writer.js', [src, '150', String(7 + r)], 'ACK 100')
    if (consumer === null) {
      consumer = await startChild('live-replica.js', [src, dst, cursorFile], 'APPLIED')
      count(consumer)
    }
    await sleep(100 + Math.floor(Math.random() * 400))
    await killed(consumer)
    consumer = await startChild('live-replica.js', [src, dst, cursorFile], 'APPLIED')
    count(consumer)
    await sleep(100 + Math.floor(Math.random() * 400))
    await killed(writer)
  }
  const want = await contents(src)
  t.true(want.length > 0)
  let got
  for (let i = 0; i < 200; i++) {
    got = await contents(dst).catch(() => null)
    if (JSON.stringify(got) === JSON.stringify(want)) break
    await sleep(100)
  }
  await killed(consumer)
  t.deepEqual(got, want)
  t.true(resyncs > 0, 'the consumer resynchronised after compactions')
})
