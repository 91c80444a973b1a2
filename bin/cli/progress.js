'use strict'

// The progress bar of the long commands (compact, verify, repair, import, export), drawn
// on stderr when stderr is a terminal; when it is not (a pipe, a file, a CI log) nothing
// is drawn at all.

const WIDTH = 30
const FULL = '█'
const EMPTY = '░'
/** Redraw at most this often (ms); the last state is always drawn. */
const EVERY = 100

class ProgressBar {
  constructor (label, stream = process.stderr) {
    this.stream = stream
    this.on = stream.isTTY === true
    this.label = label
    this.lastDraw = 0
    this.drawn = false
  }

  /** Shows `done` of `total` (`unit` 'bytes' or 'entries'). */
  update (done, total, unit = 'bytes') {
    if (!this.on) return
    const now = Date.now()
    if (done < total && now - this.lastDraw < EVERY) return
    this.lastDraw = now
    const f = total > 0 ? Math.min(1, done / total) : 1
    const n = Math.round(f * WIDTH)
    const pct = (f * 100).toFixed(0).padStart(3)
    this.stream.write(`\r\x1b[2K${this.label} ${FULL.repeat(n)}${EMPTY.repeat(WIDTH - n)} ${pct}% ${done}/${total} ${unit}`)
    this.drawn = true
  }

  /** `{ onProgress }` for the store's long operations. */
  get options () {
    return { onProgress: ({ bytesDone, bytesTotal }) => this.update(bytesDone, bytesTotal) }
  }

  /** Clears the bar's line. */
  end () {
    if (this.on && this.drawn) this.stream.write('\r\x1b[2K')
    this.drawn = false
  }
}

module.exports = { ProgressBar, FULL, EMPTY }
