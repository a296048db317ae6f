#!/bin/sh
# Where the instructions of one full lifecycle go: the same two callgrind runs as
# scripts/callgrind-lifecycle.sh (110,000 and 10,000 connections), each function's
# exclusive cost in the larger minus the smaller, divided by 100,000. With fat LTO
# most of the hot path is inlined, so a "function" is the out-of-line function the
# code ended up in; the second table splits each by the source file of the inlined
# code (std: arithmetic, comparisons and indexing inlined from the standard library).
# Usage: scripts/callgrind-breakdown.sh [close-mode]
set -eu
cd "$(dirname "$0")/.."
close="${1:-client}"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/synfin"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common="run --io mem --virtual-time --rate max --concurrency 256 --close $close \
  --request-bytes 64 --response-bytes 256 --src 198.18.0.1-198.18.0.4 --tw-cap 250k --format json"
for n in 10000 110000; do
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$n" "$bin" $common -n "$n" >/dev/null 2>"$tmp/err.$n" \
    || { cat "$tmp/err.$n" >&2; exit 1; }
  callgrind_annotate --threshold=100 --auto=no "$tmp/cg.$n" >"$tmp/an.$n"
done
python3 - "$tmp/an.10000" "$tmp/an.110000" "$close" <<'EOF'
import collections, re, sys

def load(path):
    """(source file, function) -> exclusive Ir, from callgrind_annotate's table."""
    rows = collections.Counter()
    for line in open(path):
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.+?):(.+?)(?: \[.*\])?$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        src = m.group(2)
        if "/rustc/" in src:
            src = "std"
        elif "/.cargo/registry/" in src:
            src = src.split("/.cargo/registry/src/")[-1].split("/")[1]
        else:
            src = src.split("/src/")[-1]
        fn = re.sub(r"<(.+?) as (.+?)>", r"\1", m.group(3)).replace("synfin::", "")
        rows[(src, fn)] += int(m.group(1).replace(",", ""))
    return rows

small, large = load(sys.argv[1]), load(sys.argv[2])
per = {k: (large[k] - small[k]) / 100_000 for k in set(small) | set(large)}
by_fn = collections.Counter()
for (src, fn), v in per.items():
    by_fn[fn] += v
total = sum(per.values())
print(f"close={sys.argv[3]}: {total:,.0f} instructions per lifecycle in the functions listed by callgrind_annotate")
print()
print("| instructions | function (where the code was inlined) |")
print("|---:|---|")
for fn, v in by_fn.most_common():
    if v >= 20:
        print(f"| {v:,.0f} | `{fn}` |")
print()
print("| function | by source file of the inlined code |")
print("|---|---|")
for fn, v in by_fn.most_common():
    if v < 150:
        continue
    parts = sorted(((w, src) for (src, f), w in per.items() if f == fn and w >= 10), reverse=True)
    print(f"| `{fn}` | " + ", ".join(f"{src} {w:,.0f}" for w, src in parts) + " |")
EOF
