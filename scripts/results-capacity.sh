#!/usr/bin/env bash
# A capacity sweep against the Linux kernel's TCP server on a test bed, written to
# results/capacity.md (or $OUT) with the command that produced it.
#
#   sudo scripts/results-capacity.sh
#   STEPS=1k,2k,4k STEP=3s SLO='connect.p99<5ms' OUT=/tmp/c.md scripts/results-capacity.sh
#
# The DUT: `synfin serve --io socket` (the kernel's TCP stack behind epoll), one
# thread on CPU 1; the generator: `synfin run --io xdp`, one worker on CPU 0. The
# test bed is removed on exit.
set -euo pipefail

STEPS=${STEPS:-1k,2k,4k,8k,16k,32k}
STEP=${STEP:-5s}
SLO=${SLO:-connect.p99<5ms}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/results/capacity.md}

if [ "$(id -u)" != 0 ]; then
    echo "results-capacity.sh: needs root (network namespaces, veth, AF_XDP)" >&2
    exit 2
fi
cd "$ROOT"
cargo build --release --locked --quiet
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/synfin

NAME=sfk$(($$ % 100000))
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    "$BIN" testbed down --name "$NAME" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BIN" testbed up --name "$NAME" --sources 64 >/dev/null
"$BIN" serve --io socket --netns "$NAME-dut" --listen 198.19.0.1:80 --threads 1 --cores 1 \
    >"$WORK/serve.txt" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
    ip netns exec "$NAME-dut" ss -Hltn 'sport = :80' | grep -q . && break
    sleep 0.1
done

CMD=(synfin run --io xdp --netns "$NAME-gen" --interface "$NAME-g" --cores 0
    --src 198.18.1.0-198.18.1.63 --dst 198.19.0.1:80
    --steps "$STEPS" --step-duration "$STEP" --slo "$SLO" --drain 3s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
"$BIN" "${CMD[@]:1}" >"$WORK/sweep.txt"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
{
    echo "# Connection-setup capacity of the Linux kernel's TCP server on a test bed"
    echo
    echo "Produced by \`scripts/results-capacity.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), Linux $(uname -r),"
    echo "$(nproc) CPUs (load average $LOAD_BEFORE before the sweep, $LOAD_AFTER after: other work shared"
    echo "the machine). The DUT is \`synfin serve --io socket --netns $NAME-dut --threads 1 --cores 1\`"
    echo "(64-byte requests, 256-byte responses, the client closes) on a test bed made by"
    echo "\`synfin testbed up --name $NAME --sources 64\`; the sweep:"
    echo
    echo '```'
    for a in "${CMD[@]}"; do
        case $a in
            *[!A-Za-z0-9_./:,=-]*) printf "'%s' " "$a" ;;
            *) printf '%s ' "$a" ;;
        esac
    done | sed 's/ $//'
    echo
    echo '```'
    echo
    echo '```'
    cat "$WORK/sweep.txt"
    echo '```'
} >"$OUT"
echo "wrote $OUT" >&2
