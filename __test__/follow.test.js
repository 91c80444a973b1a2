'use strict'
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Store } = require('..')
const { tmpStore, runChild } = require('./helpers.js')

/** Starts the follower fixture; `lines` collects its output lines. */
function follower (p, mode) {
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'live-follower.js'), p, String(mode)], { stdio: ['ignore', 'pipe', 'inherit'] })
  child.lines = []
  let buf = ''
  child.stdout.on('data', (d) => {
    buf += d
    const parts = buf.split('\n')
    buf = parts.pop()
    child.lines.push(...parts)
  })
  return child
}

/** Waits until the follower printed a line matching `re` (at most 10 s). */
async function until (child, re) {
  for (let i = 0; i < 1000; i++) {
    const line = child.lines.find((l) => re.test(l))
    if (line !== undefined) return line
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`no line matching ${re} in ${JSON.stringify(child.lines)}`)
}

/** The log offset in a cursor (this test knows the cursor's layout; users must not). */
const offsetOf = (cursor) => parseInt(cursor.slice(-16), 16)

for (const mode of ['watch', 'poll']) {
  test(`a read-only store in another process follows the writer by itself (follow: '${mode}')`, async (t) => {
    const p = tmpStore()
    const s = await Store.open(p)
    await s.put('first', '0')
    const f = follower(p, mode)
    try {
      await until(f, /^READY/)
      await s.put('a', '1')
      t.is(await until(f, /put:a/), 'CHANGE put:a present', "the follower's store had the change when the event came")
      await s.putMany([['b', '2'], ['c', '3']])
      s.delete('a')
      await until(f, /delete:a/)
      t.true(f.lines.includes('CHANGE put:b,put:c present'), f.lines.join('\n'))
      t.true(f.lines.includes('CHANGE delete:a absent'), f.lines.join('\n'))
      await s.compact()
      await s.put('after', 'yes')
      await until(f, /^REPLACED/)
      // Seen in the new file at once, or as a change after it.
      if (!f.lines.includes('REPLACED present')) await until(f, /put:after present/)
      t.pass()
    } finally {
      f.kill('SIGKILL')
      await s.close()
    }
  })
}

test('follow: false leaves a read-only store where it is until refresh()', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  const f = follower(p, false)
  try {
    await until(f, /^READY/)
    await s.put('a', '1')
    await new Promise((resolve) => setTimeout(resolve, 600))
    t.deepEqual(f.lines, ['READY'])
  } finally {
    f.kill('SIGKILL')
    await s.close()
  }
  t.throws(() => Store.openSync(p, { readOnly: true, follow: 'yes' }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => Store.openSync(p, { readOnly: true, follow: 1 }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
})

test('a follower never sees a batch its writer left unfinished, and sees it once completed; it notices a different file put at the path', async (t) => {
  const p = tmpStore()
  const s = await Store.open(p)
  await s.put('a', '1')
  await s.close()
  // The bytes of a two-entry batch at the end of this file, made in a copy of it.
  const copy = p + '.copy'
  fs.copyFileSync(p, copy)
  const end = fs.statSync(p).size
  const c = await Store.open(copy)
  t.is(offsetOf(c.cursor()), end)
  await c.putMany([['t1', 'x'], ['t2', 'y']])
  const batchEnd = offsetOf(c.cursor())
  await c.close()
  const batch = fs.readFileSync(copy).subarray(end, batchEnd)
  const f = follower(p, 'watch')
  try {
    await until(f, /^READY/)
    // What a writer killed in the middle of the batch leaves: its first entry (32 bytes,
    // verifying at its offset) without the commit record.
    fs.appendFileSync(p, batch.subarray(0, 32))
    await new Promise((resolve) => setTimeout(resolve, 400))
    t.deepEqual(f.lines, ['READY'], 'nothing of the unfinished batch')
    fs.appendFileSync(p, batch.subarray(32))
    t.is(await until(f, /^CHANGE/), 'CHANGE put:t1,put:t2 present')
    // Another store renamed over the path: the follower says so.
    const other = tmpStore()
    const o = await Store.open(other)
    await o.put('after', 'other store')
    await o.close()
    fs.renameSync(other, p)
    t.is(await until(f, /^REPLACED/), 'REPLACED present')
  } finally {
    f.kill('SIGKILL')
  }
})

for (const mode of ['watch', 'poll']) {
  test(`a following read-only Store dropped without close() is still collected (follow: '${mode}')`, async (t) => {
    const p = tmpStore()
    const s = await Store.open(p)
    await s.put('k', 'v')
    const r = await runChild('gc-follower.js', [p, mode])
    t.is(r.stdout.trim(), 'collected', r.stderr)
    await s.close()
  })
}
