#!/bin/sh
# Regenerate results/time-wait.md and results/time-wait/: the TIME-WAIT settings
# matrix (full grid, about 20 minutes), both hazards, the charts, with the commands
# that produced them. Root only (test beds). Usage: scripts/results-time-wait.sh
# With SKIP_MATRIX=1 the matrix already in results/time-wait/ is kept and only the
# hazards are run again and the report assembled.
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "results-time-wait.sh needs root (it builds test beds)" >&2; exit 2; }
# What the runs are made from: the commit, and whether the tree differed from it.
rev="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo '+dirty')"
cargo build --profile ci --locked --quiet
bin="${CARGO_TARGET_DIR:-target}/ci/synfin"
dir=results/time-wait
mkdir -p "$dir"
if [ "${SKIP_MATRIX:-0}" != 1 ]; then
  "$bin" tw-matrix --out "$dir" >/dev/null
fi
mkdir -p "$dir/quick"
"$bin" tw-matrix --quick --out "$dir/quick" >/dev/null
"$bin" hazard old-duplicate >"$dir/old-duplicate.txt"
"$bin" hazard old-duplicate --format json >"$dir/old-duplicate.json"
"$bin" hazard lost-last-ack >"$dir/lost-last-ack.txt"
"$bin" hazard lost-last-ack --format json >"$dir/lost-last-ack.json"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
  echo "# TIME-WAIT results"
  echo
  echo "Produced by \`scripts/results-time-wait.sh\` on $(date -u +%Y-%m-%d) at commit $rev,"
  echo "kernel \`$(uname -r)\`, $(nproc) cores, synfin built with \`cargo build --profile ci\`."
  echo "The machine is a 2-core VM shared with other jobs: rates"
  echo "are indicative and differ from run to run; the TIME-WAIT counts and the hazard outcomes are what"
  echo "to read here."
  echo
  echo "## The settings side by side: \`synfin tw-matrix --out results/time-wait\`"
  echo
  echo "Each row is one cell on a test bed of its own (fresh namespaces: no TIME-WAIT carried over),"
  echo "the kernel's TCP server (\`serve --io socket\`, one thread, CPU 1) in the DUT namespace, 64-byte"
  echo "requests and 256-byte responses, closed loop with 50 connections open at once, the client on CPU 0."
  echo "\`socket\` is the kernel's client (\`run --io socket\`), \`xdp\` synfin's own TCP over AF_XDP"
  echo "(\`run --io xdp\`) with its TIME-WAIT policy. The sysctls of each row are set in the test bed's"
  echo "namespaces only, recorded in the JSON with their original values, and put back. \"TW gen/DUT peak\""
  echo "are the highest TIME-WAIT counts sampled once a second on each side (the kernel's sockets,"
  echo "\`/proc/net/sockstat\` of the namespace; for the AF_XDP client its own TIME-WAIT records)."
  echo
  if [ -n "${MATRIX_NOTE:-}" ]; then echo "$MATRIX_NOTE"; echo; fi
  sed -n '1,$p' "$dir/tw-matrix.txt"
  echo
  echo "### Charts"
  echo
  echo "TIME-WAIT count over time on the side that holds it, and completed connections per second, one line"
  echo "per setting (or policy), per client, close mode and number of source addresses:"
  echo
  for f in "$dir"/tw-*.svg; do
    b=$(basename "$f" .svg)
    echo "- $b: ![$b](time-wait/$b.svg) ![rate](time-wait/rate-${b#tw-}.svg)"
  done
  echo
  echo "The whole result, with every row's sysctls (set, original, restored), failures by cause and"
  echo "errno, the DUT's counters and the per-second samples: [time-wait/tw-matrix.json](time-wait/tw-matrix.json)."
  echo
  echo "## The quick grid: \`synfin tw-matrix --quick --out results/time-wait/quick\`"
  echo
  echo "One source address and 1,024 source ports (32768–33791), 4 s a cell: TIME-WAIT is the limit within"
  echo "a second whatever the machine's speed. The AF_XDP client's policies differ only here: in the full"
  echo "grid, at the rates this shared machine reached, it never ran through the 28,232 default ports in 15 s."
  echo
  cat "$dir/quick/tw-matrix.txt"
  echo
  for f in "$dir"/quick/tw-*.svg; do
    b=$(basename "$f" .svg)
    echo "- quick $b: ![$b](time-wait/quick/$b.svg) ![rate](time-wait/quick/rate-${b#tw-}.svg)"
  done
  echo
  echo "## Hazard 1, the old duplicate: \`synfin hazard old-duplicate\`"
  echo
  echo "Connection A on tuple T (198.18.1.0:41000+ → 198.19.0.1:8080) sends two 100-byte segments; a copy"
  echo "of the second is held back. A closes (client FIN first; the DUT closes passively and keeps no"
  echo "TIME-WAIT). synfin reopens T at once (policy \`none\`) with the ISN that puts the held segment's"
  echo "sequence number exactly at the new connection's RCV.NXT, delivers the held copy unchanged (its old"
  echo "ACK number and timestamps), and the DUT's recording server reports whether its bytes arrived in the"
  echo "new connection. \"DUT sends\": bytes the server writes on each connection before reading (the client"
  echo "acknowledges them). \"DUT ISN moved\": the DUT's ISN for B minus its ISN for A."
  echo
  cat "$dir/old-duplicate.txt"
  echo
  echo '<details><summary>JSON</summary>'
  echo
  echo '```json'
  cat "$dir/old-duplicate.json"
  echo '```'
  echo '</details>'
  echo
  echo "## Hazard 2, the lost last ACK: \`synfin hazard lost-last-ack\`"
  echo
  echo "\`last_ack\`: the client's FIN first, then the DUT's FIN, whose ACK synfin withholds — the DUT sits in"
  echo "LAST-ACK (\"state seen\", read from the DUT's \`/proc/net/tcp\`); then a SYN on the same 4-tuple (ISN"
  echo "above the old one), repeated every 200 ms until a SYN-ACK or 3 s. The client answers what the DUT"
  echo "sends with an RST (as Linux's SYN-SENT does to an unacceptable ACK), with the withheld ACK when"
  echo "the DUT retransmits its FIN (a late, not lost, ACK), or not at all. \`time_wait\`: the mirror, the"
  echo "DUT closes first and holds the tuple in TIME-WAIT; the new SYN's ISN is above or below the old"
  echo "connection's, with or without timestamps, under \`tcp_rfc1337\` 0 and 1. \"answers\": what the DUT"
  echo "sent, with milliseconds since the first SYN."
  echo
  cat "$dir/lost-last-ack.txt"
  echo
  echo '<details><summary>JSON</summary>'
  echo
  echo '```json'
  cat "$dir/lost-last-ack.json"
  echo '```'
  echo '</details>'
} >"$tmp"
mv "$tmp" results/time-wait.md
echo "wrote results/time-wait.md"
