#!/bin/sh
# Run every cargo-fuzz target for a bounded time (default 30 s each) from the seed
# corpus in fuzz/corpus/, without writing into the repository: new inputs go to a
# temporary directory, a crash is kept in $FUZZ_OUT (default: that directory) and
# fails the script.
#
# cargo-fuzz needs nightly features (-Zsanitizer, -Cpasses=sancov); this project's
# toolchain is stable 1.95, so they are unlocked with RUSTC_BOOTSTRAP=1 (the ASan
# runtime ships with the stable std of x86_64-unknown-linux-gnu). cargo-fuzz itself
# is installed with `cargo install cargo-fuzz --locked` when missing.
#
#   scripts/fuzz.sh                 # every target, 30 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh engine_client
set -eu
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
targets=${*:-"wire_parse engine_client engine_server"}
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
target_dir=${CARGO_TARGET_DIR:-target}/fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${FUZZ_OUT:-$work}
# --release with debug assertions: overflow checks on, fast enough to explore.
cargo fuzz build --release --debug-assertions --target-dir "$target_dir"
for t in $targets; do
    mkdir -p "$work/$t" "$out/artifacts/$t"
    echo "fuzz: $t for ${seconds}s"
    if ! cargo fuzz run --release --debug-assertions --target-dir "$target_dir" "$t" \
        "$work/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$t/" 2>"$work/$t.log"; then
        tail -n 40 "$work/$t.log" >&2
        if [ "$out" = "$work" ]; then
            # Keep the crash for the report: copy it where the run can be read.
            mkdir -p fuzz/artifacts/"$t"
            cp "$out/artifacts/$t/"* fuzz/artifacts/"$t"/ 2>/dev/null || true
        fi
        echo "fuzz: $t FAILED (crash input in fuzz/artifacts/$t/)" >&2
        exit 1
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$t.log" | sed "s/^/fuzz: $t: /"
done
echo "fuzz: every target ran ${seconds}s without a finding"
