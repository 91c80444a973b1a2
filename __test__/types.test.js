'use strict'
const test = require('ava')
const path = require('node:path')
const { execFile } = require('node:child_process')

test('index.d.ts type-checks the documented usage (tsc --noEmit)', async (t) => {
  const tsc = require.resolve('typescript/bin/tsc')
  const r = await new Promise((resolve) => {
    execFile(process.execPath, [tsc, '-p', path.join(__dirname, 'tsconfig.json')], (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, out: stdout + stderr })
    })
  })
  t.is(r.code, 0, r.out)
})
