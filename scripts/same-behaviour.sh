#!/bin/sh
# Behaviour check for hot-path work: fifteen seeded virtual-time runs over the
# in-memory wire (every close mode, loss, duplication, reordering, TIME-WAIT
# policies, large payloads, an empty exchange, SYNs without timestamps, SACK or
# window scaling), run with this tree's build and with REV's, whose JSON reports
# (every counter, every histogram, every per-second row; peak RSS and the start
# time, and what the tables were sized at, left out) must be byte-identical. A
# change meant only to make the engine faster must pass it.
# Usage: scripts/same-behaviour.sh [REV]   (default: HEAD)
set -eu
cd "$(dirname "$0")/.."
rev="${1:-HEAD}"
tmp=$(mktemp -d)
wt="$tmp/base"
trap 'git worktree remove --force "$wt" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add --quiet --detach "$wt" "$rev"
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --locked --quiet
(cd "$wt" && CARGO_TARGET_DIR="$target-base" cargo build --release --locked --quiet)
cases() {
  cat <<'CASES'
-n 20000 --close client --request-bytes 64 --response-bytes 256
-n 20000 --close server --request-bytes 64 --response-bytes 256
-n 20000 --close rst --request-bytes 64 --response-bytes 256
-n 20000 --close client --loss 0.03 --duplicate 0.03 --reorder 0.03 --seed 5 --request-bytes 64 --response-bytes 256
-n 20000 --close server --loss 0.05 --duplicate 0.05 --reorder 0.05 --seed 9 --request-bytes 64 --response-bytes 256
-n 20000 --close rst --loss 0.05 --seed 11 --request-bytes 64 --response-bytes 256
-n 30000 --close client --src 198.18.0.1 --tw-policy reuse --time-wait 3s --seed 3 --request-bytes 64 --response-bytes 256
-n 30000 --close client --src 198.18.0.1 --tw-policy none --time-wait 3s --seed 4 --request-bytes 64 --response-bytes 256
-n 5000 --close client --request-bytes 5000 --response-bytes 20000 --loss 0.02 --seed 6
-n 5000 --close server --request-bytes 0 --response-bytes 0 --seed 7
-n 10000 --close client --no-timestamps --loss 0.02 --duplicate 0.02 --reorder 0.02 --seed 12 --request-bytes 64 --response-bytes 256
-n 10000 --close server --no-sack --wscale 0 --loss 0.02 --seed 13 --request-bytes 64 --response-bytes 256
-n 5000 --close client --no-timestamps --no-sack --mss 536 --loss 0.02 --seed 14 --request-bytes 2000 --response-bytes 3000
-n 10000 --close rst --no-timestamps --wscale 0 --seed 15 --request-bytes 64 --response-bytes 256
-n 20000 --close client --src 198.18.0.1 --tw-policy reuse --time-wait 3s --no-timestamps --seed 16 --request-bytes 64 --response-bytes 256
CASES
}
# The report without what is not behaviour: memory sizes and use, the start time.
normalise='
import json, sys
v = json.load(sys.stdin)
v["config"].pop("memory", None)
v.pop("started_unix_s", None)
v["notes"] = [n for n in v.get("notes", []) if not n.startswith("memory:")]
print(json.dumps(v, indent=1, sort_keys=True))
'
run_all() {
  bin="$1" out="$2"
  mkdir -p "$out"
  i=0
  cases | while read -r args; do
    i=$((i + 1))
    # shellcheck disable=SC2086 # the case's options are words
    "$bin" run --io mem --virtual-time --rate max --concurrency 256 --format json $args \
      | python3 -c "$normalise" >"$out/case$i.json"
    grep -q '"connections"' "$out/case$i.json" || { echo "case $i ($args) gave no report" >&2; exit 1; }
  done
}
run_all "$target-base/release/synfin" "$tmp/before"
run_all "$target/release/synfin" "$tmp/after"
if diff -r "$tmp/before" "$tmp/after" >"$tmp/diff"; then
  echo "same behaviour as $rev: $(cases | wc -l) seeded runs give identical reports"
else
  head -40 "$tmp/diff"
  echo "behaviour differs from $rev (first differences above)" >&2
  exit 1
fi
