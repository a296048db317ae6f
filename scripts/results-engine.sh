#!/bin/sh
# Regenerate results/engine.md: instruction counts per lifecycle (callgrind),
# criterion lifecycle throughput, and a full demo report, with the commands that
# produced them. Takes a few minutes. Usage: scripts/results-engine.sh [BASE_REV]
# With BASE_REV, also the lifecycle bench side by side with that commit's
# (scripts/bench-side-by-side.sh BASE_REV 3), the only trustworthy timing comparison
# on a shared machine.
set -eu
cd "$(dirname "$0")/.."
out=results/engine.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo build --release --locked --quiet
bin="${CARGO_TARGET_DIR:-target}/release/synfin"
{
  echo "# Engine results"
  echo
  echo "Produced by \`scripts/results-engine.sh\` on $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'),"
  echo "kernel $(uname -r), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))."
  echo "The machine is a shared, noisy VM: instruction counts are exact and repeatable; times are indicative."
  echo
  echo "## Instructions per full lifecycle (both sides, checksums, histograms)"
  echo
  echo "Command: \`scripts/callgrind-lifecycle.sh MODE\` — callgrind's instruction total of"
  echo "\`synfin run --io mem --virtual-time\` with 110,000 connections minus the total with 10,000, divided by"
  echo "100,000. 64-byte request, 256-byte response, timestamps, window scale and SACK-permitted on, checksums"
  echo "written and verified, four latency histograms recorded. Target: at most 2,000 (client close)."
  echo
  echo "| close mode | segments per lifecycle (both directions) | instructions per lifecycle |"
  echo "|---|---|---|"
  for m in client server rst; do
    line=$(scripts/callgrind-lifecycle.sh "$m" | tail -1)
    per=$(echo "$line" | sed 's/.*per-lifecycle=//')
    # Segments per lifecycle, counted by both sides in a small run of the same mode.
    segs=$("$bin" run --io mem --virtual-time -n 1000 --close "$m" --request-bytes 64 \
      --response-bytes 256 --format json | python3 -c 'import json,sys; v=json.load(sys.stdin); print(round((v["packets"]["tx"]+v["server"]["tx_packets"])/v["connections"]["completed"], 2))')
    echo "| $m | $segs | $per |"
  done
  # Without a delay a whole run happens at virtual time 0 (every latency 0, every
  # TIME-WAIT record due at once); with one the clock moves as in a real run.
  line=$(scripts/callgrind-lifecycle.sh client --delay 100us | tail -1)
  echo "| client, with \`--delay 100us\` (the virtual clock moves: latencies, timers and TIME-WAIT deadlines as in a real run) | as client | $(echo "$line" | sed 's/.*per-lifecycle=//') |"
  echo
  echo "## Other SYN option sets"
  echo
  echo "Command: \`scripts/callgrind-lifecycle.sh client OPTIONS\` — as above, with SYNs (and so SYN-ACKs)"
  echo "offering less: the settings a TIME-WAIT comparison changes (tcp_timestamps) and what a DUT may have"
  echo "turned off. Without timestamps every data segment carries 12 option octets fewer."
  echo
  echo "| run options | instructions per lifecycle |"
  echo "|---|---|"
  for o in "--no-timestamps" "--no-sack" "--wscale 0" "--wscale off" "--no-timestamps --no-sack" "--no-timestamps --wscale off"; do
    # shellcheck disable=SC2086 # the options are words
    line=$(scripts/callgrind-lifecycle.sh client $o | tail -1)
    echo "| \`$o\` | $(echo "$line" | sed 's/.*per-lifecycle=//') |"
  done
  for m in server rst; do
    line=$(scripts/callgrind-lifecycle.sh "$m" --no-timestamps | tail -1)
    echo "| \`--close $m --no-timestamps\` | $(echo "$line" | sed 's/.*per-lifecycle=//') |"
  done
  echo
  echo "## Where the instructions of a client-closed lifecycle go"
  echo
  echo "Command: \`scripts/callgrind-breakdown.sh client\` — the same two runs, each function's own cost"
  echo "differenced; with fat LTO a \"function\" is where the code was inlined, and the second table splits"
  echo "each by the source file of the inlined code (std: integer helpers, byte swaps and bounds checks"
  echo "inlined from the standard library)."
  echo
  scripts/callgrind-breakdown.sh client
  echo
  echo "## Lifecycles per second on one core (criterion)"
  echo
  echo "Command: \`cargo bench --bench lifecycle\` — 20,000 lifecycles per iteration over the in-memory wire,"
  echo "client and server workers on one thread, virtual clock. Target: at least 3 M/s (client close)."
  echo "Load average when the bench started (other jobs share these cores): $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo '```'
  cargo bench --locked --bench lifecycle 2>/dev/null | grep -E '^lifecycle|thrpt:|time:' | grep -v '%' || true
  echo '```'
  echo
  if [ -n "${1:-}" ]; then
    echo "## Side by side with commit $(git rev-parse --short "$1") (criterion)"
    echo
    echo "Command: \`scripts/bench-side-by-side.sh $1 3\` — both builds' lifecycle benches, run alternately."
    echo
    scripts/bench-side-by-side.sh "$1" 3
    echo
  fi
  echo "## An in-memory run (real clock)"
  echo
  echo "Command: \`synfin run --io mem --connections 200k --close client --request-bytes 64 --response-bytes 256\`."
  echo "Both workers share one core and one loop here, so latencies include the other side's batch: they"
  echo "measure the engine's queueing, not a network."
  echo
  echo '```'
  "$bin" run --io mem --connections 200k --close client --request-bytes 64 --response-bytes 256
  echo '```'
  if [ "$(id -u)" = 0 ]; then
    echo
    echo "## The demo: the Linux kernel's TCP stack over AF_XDP on a veth test bed"
    echo
    echo "Command: \`synfin demo --duration 10s\` (what \`scripts/demo.sh\` runs as root): a test bed of two"
    echo "namespaces, the kernel server (\`serve --io socket\`, one thread) in the DUT namespace on CPU 1, synfin's"
    echo "AF_XDP client in the generator namespace on CPU 0, 256 connections open at once, client close."
    echo "On veth the kernel, not the tester, sets the ceiling (FACTS.md)."
    echo
    echo '```'
    "$bin" demo --duration 10s 2>&1
    echo '```'
  fi
} >"$tmp/engine.md"
mkdir -p results
mv "$tmp/engine.md" "$out"
echo "wrote $out"
