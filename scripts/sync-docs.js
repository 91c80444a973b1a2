#!/usr/bin/env node
'use strict'

// Writes the JSDoc of index.d.ts from the Rust `///` and `//!` docs of the binding (every
// `.rs` file under src/).
//
// In those files, a doc section headed `# JavaScript: `<name>`` documents one declaration
// of index.d.ts: `Store`, `Store.get`, `Store[Symbol.iterator]`, `StoreOptions.sync`,
// `MAX_KEY_BYTES`, ... The section runs up to the next heading or the end of the doc
// comment. A name is documented once across all the files. In index.d.ts, every top-level
// declaration and every member of a class or interface gets the JSDoc block made from its
// section, replacing the block above it.
//
//   node scripts/sync-docs.js            rewrites index.d.ts (npm run docs)
//   node scripts/sync-docs.js --check    exits 1 and names each declaration whose JSDoc
//                                        differs from the Rust docs or that has none
//   --rust <path>  --dts <file>          other paths than src/ and index.d.ts (a --rust
//                                        directory is read with every .rs file under it)
//
// Both modes fail (and write nothing) when a declaration has no section, or a section
// names nothing that index.d.ts declares.

const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')

function parseArgs (argv) {
  const opts = { check: false, rust: path.join(ROOT, 'src'), dts: path.join(ROOT, 'index.d.ts') }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--check') opts.check = true
    else if (a === '--rust' || a === '--dts') {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a path`)
      opts[a.slice(2)] = path.resolve(argv[++i])
    } else {
      throw new Error(`unknown argument ${a} (expected --check, --rust <path>, --dts <file>)`)
    }
  }
  return opts
}

const DOC_LINE = /^\s*\/\/([/!])(?![/!])(.*)$/
const JS_HEADING = /^#{1,6} JavaScript: `([^`]+)`\s*$/
const ANY_HEADING = /^#{1,6}\s/

/** The `.rs` files at `p` (a file, or every one under a directory), in a stable order. */
function rustFiles (p) {
  if (!fs.statSync(p).isDirectory()) return [p]
  const found = []
  for (const e of fs.readdirSync(p, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const q = path.join(p, e.name)
    if (e.isDirectory()) found.push(...rustFiles(q))
    else if (e.name.endsWith('.rs')) found.push(q)
  }
  return found
}

/**
 * The `# JavaScript:` sections of the Rust docs of `source` (the file `file`), added to
 * `sections`: name → { text, file, line }.
 */
function rustSections (source, file, errors, sections = new Map()) {
  const lines = source.split('\n')
  let current = null
  let kind = null
  const finish = () => {
    if (current === null) return
    const body = current.body
    while (body.length > 0 && body[0].trim() === '') body.shift()
    while (body.length > 0 && body[body.length - 1].trim() === '') body.pop()
    const text = body.join('\n')
    if (text === '') errors.push(`${file}:${current.line}: the section of \`${current.name}\` is empty`)
    else if (text.includes('*/')) errors.push(`${file}:${current.line}: the section of \`${current.name}\` contains */`)
    else if (sections.has(current.name)) {
      const first = sections.get(current.name)
      errors.push(`${file}:${current.line}: \`${current.name}\` is documented twice (also at ${first.file}:${first.line})`)
    } else sections.set(current.name, { text, file, line: current.line })
    current = null
  }
  for (let i = 0; i < lines.length; i++) {
    const m = DOC_LINE.exec(lines[i])
    if (m === null || m[1] !== kind) finish() // a doc comment ends
    kind = m === null ? null : m[1]
    if (m === null) continue
    const content = m[2].startsWith(' ') ? m[2].slice(1) : m[2]
    const h = JS_HEADING.exec(content)
    if (h !== null) {
      finish()
      current = { name: h[1], line: i + 1, body: [] }
    } else if (ANY_HEADING.test(content)) {
      finish()
    } else if (current !== null) {
      current.body.push(content.trimEnd())
    }
  }
  finish()
  return sections
}

const TOP_DECL = /^export (?:declare )?(?:abstract )?(?:const|let|var|function|class|interface|type|enum) ([A-Za-z_$][\w$]*)/
const MEMBER_DECL = /^(\s+)((?:(?:static|readonly|private|protected|public|abstract|get|set)\s+)*)(\[Symbol\.\w+\]|[A-Za-z_$][\w$]*)\??\s*[(:<]/

/**
 * The lines of a .d.ts file cut into pieces: plain lines, JSDoc blocks, and declarations
 * (each with its name, indentation and the JSDoc block right above it, if any).
 */
function parseDts (source) {
  const lines = source.split('\n')
  const items = [] // { kind: 'line', text } | { kind: 'decl', name, indent, text, doc, line }
  let container = null
  let memberIndent = null
  let pendingDoc = null // { lines, line }
  const flushPending = () => {
    if (pendingDoc !== null) for (const text of pendingDoc.lines) items.push({ kind: 'line', text })
    pendingDoc = null
  }
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]
    const trimmed = text.trim()
    if (trimmed.startsWith('/**')) {
      flushPending()
      const block = [text]
      let j = i
      const closes = (k) => lines[k].includes('*/', k === i ? lines[k].indexOf('/**') + 3 : 0)
      while (!closes(j) && j + 1 < lines.length) block.push(lines[++j])
      pendingDoc = { lines: block, line: i + 1 }
      i = j
      continue
    }
    let name = null
    let indent = ''
    const top = TOP_DECL.exec(text)
    if (top !== null) {
      name = top[1]
      container = null
      if (/\{\s*$/.test(text)) {
        container = name
        memberIndent = null
      }
    } else if (container !== null && text === '}') {
      container = null
    } else if (container !== null) {
      const m = MEMBER_DECL.exec(text)
      if (m !== null && (memberIndent === null || m[1] === memberIndent)) {
        memberIndent = m[1]
        const isPrivate = /\bprivate\b/.test(m[2]) || m[3] === 'constructor'
        if (!isPrivate) {
          indent = m[1]
          name = m[3].startsWith('[') ? `${container}${m[3]}` : `${container}.${m[3]}`
        }
      }
    }
    if (name === null) {
      flushPending()
      items.push({ kind: 'line', text })
      continue
    }
    items.push({ kind: 'decl', name, indent, text, doc: pendingDoc, line: i + 1 })
    pendingDoc = null
  }
  flushPending()
  return items
}

/** The JSDoc block of `text` at `indent`: one line if the text is one line. */
function jsdoc (text, indent) {
  const lines = text.split('\n')
  if (lines.length === 1) return [`${indent}/** ${lines[0]} */`]
  return [`${indent}/**`, ...lines.map((l) => (l === '' ? `${indent} *` : `${indent} * ${l}`)), `${indent} */`]
}

/**
 * Syncs `dtsSource` with the sections of `rust` (a list of `{ file, source }`); returns the
 * new text and the problems found.
 */
function sync (rust, dtsSource, files) {
  const errors = []
  const drift = []
  const sections = new Map()
  for (const { file, source } of rust) rustSections(source, file, errors, sections)
  const used = new Set()
  const out = []
  for (const item of parseDts(dtsSource)) {
    if (item.kind === 'line') {
      out.push(item.text)
      continue
    }
    const section = sections.get(item.name)
    if (section === undefined) {
      errors.push(`${files.dts}:${item.line}: \`${item.name}\` has no Rust doc: add a section headed "# JavaScript: \`${item.name}\`" to the /// docs of the native function it calls (in ${files.rust})`)
      if (item.doc !== null) out.push(...item.doc.lines)
      out.push(item.text)
      continue
    }
    used.add(item.name)
    const block = jsdoc(section.text, item.indent)
    const old = item.doc === null ? null : item.doc.lines
    if (old === null) {
      drift.push(`${files.dts}:${item.line}: \`${item.name}\` has no JSDoc (its Rust doc is at ${section.file}:${section.line})`)
    } else if (old.join('\n') !== block.join('\n')) {
      const k = block.findIndex((l, n) => l !== old[n])
      const at = k === -1 ? block.length : k
      drift.push(`${files.dts}:${item.doc.line + at}: the JSDoc of \`${item.name}\` differs from its Rust doc at ${section.file}:${section.line}\n` +
        `    index.d.ts: ${old[at] === undefined ? '(nothing)' : old[at].trim()}\n` +
        `    Rust docs:  ${block[at] === undefined ? '(nothing)' : block[at].trim()}`)
    }
    out.push(...block, item.text)
  }
  for (const [name, section] of sections) {
    if (!used.has(name)) errors.push(`${section.file}:${section.line}: \`${name}\` is documented but ${files.dts} declares no such thing`)
  }
  return { text: out.join('\n'), errors, drift }
}

function main () {
  let opts
  try {
    opts = parseArgs(process.argv.slice(2))
  } catch (e) {
    console.error(`sync-docs: ${e.message}`)
    return 2
  }
  const rel = (p) => path.relative(process.cwd(), p) || p
  const files = { rust: rel(opts.rust), dts: rel(opts.dts) }
  const dtsSource = fs.readFileSync(opts.dts, 'utf8')
  const rust = rustFiles(opts.rust).map((f) => ({ file: rel(f), source: fs.readFileSync(f, 'utf8') }))
  const r = sync(rust, dtsSource, files)
  for (const e of r.errors) console.error(e)
  if (r.errors.length > 0) return 1
  if (opts.check) {
    for (const d of r.drift) console.error(d)
    if (r.drift.length > 0 || r.text !== dtsSource) {
      console.error(`${files.dts} is out of date with the Rust docs of ${files.rust}: run \`npm run docs\``)
      return 1
    }
    return 0
  }
  if (r.text !== dtsSource) {
    fs.writeFileSync(opts.dts, r.text)
    console.log(`sync-docs: rewrote the JSDoc of ${r.drift.length} declaration(s) in ${files.dts}`)
  }
  return 0
}

if (require.main === module) process.exitCode = main()

module.exports = { rustFiles, rustSections, parseDts, jsdoc, sync }
