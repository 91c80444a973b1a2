'use strict'
// Loads the native addon through the generated loader (binding.js). When no binary for this
// platform can be loaded, the error says which package to install (napi-rs's own message
// keeps that only in its `cause` chain).

/** The per-platform package that carries the binary for this machine. */
function platformPackage () {
  const { platform, arch } = process
  let abi = ''
  if (platform === 'linux') {
    const header = process.report && process.report.getReport().header
    abi = header && header.glibcVersionRuntime ? '-gnu' : '-musl'
  } else if (platform === 'win32') {
    abi = '-msvc'
  }
  return `simd-r-drive-${platform}-${arch}${abi}`
}

function load () {
  try {
    return require('../binding.js')
  } catch (cause) {
    const pkg = platformPackage()
    const err = new Error(
      `simd-r-drive could not load its native binary for ${process.platform}-${process.arch}. ` +
      `Install the package ${pkg} (npm installs it as an optional dependency of simd-r-drive: ` +
      'check that optional dependencies were not omitted, e.g. by --omit=optional or a lockfile made on another platform), ' +
      'or build from source with a Rust toolchain (npm run build in a checkout). The loader\'s own reasons are in `cause`.',
      { cause }
    )
    err.code = 'ERR_NATIVE_BINDING_MISSING'
    throw err
  }
}

module.exports = load()
module.exports.platformPackage = platformPackage
