#!/bin/sh
# The lifecycle bench of this tree and of commit REV, run alternately on the same
# machine, so that their throughputs can be compared as a ratio (a timing on this
# shared machine is trusted only side by side). Builds REV in a temporary worktree
# (target dir: "${CARGO_TARGET_DIR:-target}-base", as scripts/same-behaviour.sh),
# then runs each build's bench binary ROUNDS times (default 2), alternating, and
# prints a markdown table of criterion's middle throughput estimate per close mode,
# and the ratio of the medians. Usage: scripts/bench-side-by-side.sh REV [ROUNDS]
set -eu
cd "$(dirname "$0")/.."
rev="${1:?usage: scripts/bench-side-by-side.sh REV [ROUNDS]}"
rounds="${2:-2}"
tmp=$(mktemp -d)
wt="$tmp/base"
trap 'git worktree remove --force "$wt" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add --quiet --detach "$wt" "$rev"
target="${CARGO_TARGET_DIR:-$PWD/target}"
# The path of the lifecycle bench's executable, built for the tree in the current
# directory with target dir $1.
bench_exe() {
  CARGO_TARGET_DIR="$1" cargo bench --locked --bench lifecycle --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
exe = [m["executable"] for m in map(json.loads, sys.stdin)
       if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "lifecycle"]
print(exe[-1])'
}
this=$(bench_exe "$target")
base=$(cd "$wt" && bench_exe "$target-base")
here=$(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')
there=$(git rev-parse --short "$rev")
# One bench run: "mode throughput" lines, throughput in lifecycles per second.
run() {
  "$1" --bench --discard-baseline 2>/dev/null | awk '
    /^lifecycle\/close_/ { mode = substr($1, 17) }
    # The first thrpt line after a bench name (the one of "change:" follows it).
    /thrpt:/ && mode != "" && $3 ~ /elem/ {
      v = $4; u = $5
      if (u ~ /^Melem/) v *= 1e6; else if (u ~ /^Kelem/) v *= 1e3
      printf "%s %.0f\n", mode, v
      mode = ""
    }'
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
r=1
while [ "$r" -le "$rounds" ]; do
  run "$base" | sed "s/^/$r base /" >>"$tmp/results"
  run "$this" | sed "s/^/$r this /" >>"$tmp/results"
  r=$((r + 1))
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
echo "Lifecycles per second (criterion's middle estimate), $there and $here alternately,"
echo "$rounds rounds; load average $load_before at the start, $load_after at the end."
echo
python3 - "$tmp/results" "$there" "$here" "$rounds" <<'EOF'
import sys, statistics
path, there, here, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
v = {}
for line in open(path):
    r, who, mode, x = line.split()
    v[(int(r), who, mode)] = float(x)
modes = [m for m in ("client", "server", "rst") if any(k[2] == m for k in v)]
head = "| close mode |" + "".join(f" {there} round {r} | {here} round {r} |" for r in range(1, rounds + 1)) + f" {here} / {there} (medians) |"
print(head)
print("|---|" + "---:|" * (2 * rounds + 1))
for m in modes:
    cells, a, b = [], [], []
    for r in range(1, rounds + 1):
        x, y = v.get((r, "base", m)), v.get((r, "this", m))
        cells += [f"{x / 1e6:.3f} M" if x else "-", f"{y / 1e6:.3f} M" if y else "-"]
        if x: a.append(x)
        if y: b.append(y)
    ratio = f"{statistics.median(b) / statistics.median(a):.2f}" if a and b else "-"
    print(f"| {m} | " + " | ".join(cells) + f" | {ratio} |")
EOF
