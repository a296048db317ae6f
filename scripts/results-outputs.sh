#!/bin/sh
# Regenerate results/outputs/: one run's outputs — the JSON report (with its
# histograms and per-second rows), the per-second CSV, the HdrHistogram interval
# log and the SVG charts — so that readers can see what each looks like, and feed
# run.json or run.hlog to `synfin report`. Usage: scripts/results-outputs.sh
set -eu
cd "$(dirname "$0")/.."
out=results/outputs
mkdir -p "$out"
cargo build --profile ci --locked --quiet
bin="${CARGO_TARGET_DIR:-target}/ci/synfin"
# The commit, read before the run rewrites results/outputs/ (which is not code).
rev="$(git rev-parse --short HEAD)$(git diff --quiet -- . ":(exclude)$out" || echo '+dirty')"
cmd="synfin run --io mem -n 400k --rate 80k --loss 0.05% --drain 2s --format json --csv $out/run.csv --hlog $out/run.hlog --plot $out --progress off"
# shellcheck disable=SC2086
"$bin" ${cmd#synfin } > "$out/run.json"
{
  echo "# Outputs of one run"
  echo
  echo "Produced by \`scripts/results-outputs.sh\` on $(date -u +%Y-%m-%d) at commit $rev,"
  echo "kernel $(uname -r), $(nproc) cores, binary built with \`--profile ci\` (release without LTO). Command:"
  echo
  echo '```'
  echo "$cmd > $out/run.json"
  echo '```'
  echo
  echo "An open-loop run over the in-memory wire (both sides on one core, real clock), 0.05 % loss each way, 2 s of drain."
  echo "Files: [run.json](run.json) (the report; \`synfin report $out/run.json\` re-renders it),"
  echo "[run.csv](run.csv) (a row per second), [run.hlog](run.hlog) (HdrHistogram interval log), and the charts:"
  echo
  for f in latency-spectrum cps failures latency; do
    echo "![$f]($f.svg)"
    echo
  done
  echo "The report, as text (\`synfin report $out/run.json\`):"
  echo
  echo '```'
  "$bin" report "$out/run.json"
  echo '```'
} > "$out/README.md"
echo "wrote $out/"
