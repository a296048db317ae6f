#!/bin/sh
# Instructions per full connection lifecycle (both sides, checksums, histograms),
# measured with callgrind as the difference between a run of 110,000 and one of
# 10,000 connections, divided by 100,000. Everything sized from the options is the
# same in both runs (source range, TIME-WAIT cap), so only per-connection work
# differs. Usage: scripts/callgrind-lifecycle.sh [close-mode [run options...]]
# Extra run options are added to both runs: e.g. `--delay 100us`, so that the virtual
# clock moves (without a delay a whole run happens at virtual time 0: every latency
# is 0, and every TIME-WAIT record has the same deadline).
set -eu
cd "$(dirname "$0")/.."
close="${1:-client}"
[ $# -gt 0 ] && shift
extra="$*"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/synfin"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common="run --io mem --virtual-time --rate max --concurrency 256 --close $close \
  --request-bytes 64 --response-bytes 256 --src 198.18.0.1-198.18.0.4 --tw-cap 250k --format json $extra"
# Each run is made RUNS times (default 3) and its smallest total kept: callgrind
# counts exactly, but the start-up zeroing of the tables (libc memset, nothing per
# connection) varies by up to 2 M instructions from run to run with where mimalloc
# places them (fresh pages need no zeroing), which moved the figure by up to ±20.
runs="${RUNS:-3}"
count() {
  best=
  i=0
  while [ "$i" -lt "$runs" ]; do
    i=$((i + 1))
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1" "$bin" $common -n "$1" >"$tmp/out.$1" 2>"$tmp/err.$1" \
      || { cat "$tmp/err.$1" >&2; exit 1; }
    t=$(grep -E '^summary:|^totals:' "$tmp/cg.$1" | head -1 | awk '{print $2}')
    if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  echo "$best"
}
small=$(count 10000)
large=$(count 110000)
per=$(( (large - small) / 100000 ))
echo "close=$close${extra:+ ($extra)} instructions: 10k=$small 110k=$large per-lifecycle=$per"
