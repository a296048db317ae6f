#!/usr/bin/env bash
# synfin side by side with the load tools users know (wrk, h2load, ab), against the
# same kernel server on a test bed, same duration, same cores, rounds interleaved;
# writes one table to results/compare-tools.md (or $OUT).
#
#   sudo scripts/compare-tools.sh                 # 3 rounds of 10 s per tool
#   DURATION=5 ROUNDS=1 OUT=/tmp/x.md scripts/compare-tools.sh
#
# Needs root (namespaces, veth, AF_XDP) and Debian's packages, which it installs
# with apt-get when missing: wrk, nghttp2-client (h2load), apache2-utils (ab), jq,
# time. netperf is in Debian's non-free component (used only if it can be
# installed); tcpkali is in no registry this project can reach, so it is left out.
#
# The DUT: `synfin serve --io socket --http` (the Linux kernel's TCP stack behind
# epoll) in the DUT namespace, one thread pinned to CPU 1; it answers each request
# once its header is in, with a 256-byte HTTP/1.1 response carrying
# Content-Length and `Connection: close`, and closes first (ab waits for the
# server's close, so every tool gets the same server-close lifecycle). Every
# generator runs in the generator namespace pinned to CPU 0 with 50 connections
# open at once and opens a new connection per request:
#   wrk -t1 -c50 -H 'Connection: close'; ab -c 50 (no -k); h2load --h1 -t1 -c50
#   -H 'Connection: close'; synfin run --close server --concurrency 50.
# h2load's --duration does not end with `Connection: close` in Debian's version
# (nghttp2 issue 2250, fixed upstream in 2024), so it is given a request count
# instead: wrk's rate of the same round times the duration.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONC=${CONCURRENCY:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/results/compare-tools.md}

if [ "$(id -u)" != 0 ]; then
    echo "compare-tools.sh: needs root (network namespaces, veth, AF_XDP)" >&2
    exit 2
fi
case "$DURATION$ROUNDS$CONC" in
    *[!0-9]*) echo "compare-tools.sh: DURATION, ROUNDS and CONCURRENCY are whole numbers" >&2; exit 2 ;;
esac

# --- tools -------------------------------------------------------------------
missing=()
for pair in wrk:wrk h2load:nghttp2-client ab:apache2-utils jq:jq /usr/bin/time:time; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# netperf lives in Debian's non-free component; say whether it was reachable.
if apt-cache policy netperf 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    NETPERF_NOTE="netperf: packaged here, but this script does not run it yet (TCP_CRR needs netserver on the DUT)"
else
    NETPERF_NOTE="netperf: not run (Debian's non-free component, where it is packaged, is not reachable here)"
fi

# --- synfin --------------------------------------------------------------------
cd "$ROOT"
cargo build --release --locked --quiet
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/synfin

# --- test bed and server ---------------------------------------------------------
NAME=sfc$(($$ % 100000))
GEN=$NAME-gen
DUT=$NAME-dut
URL=http://198.19.0.1:80/
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

"$BIN" testbed up --name "$NAME" --sources 16 >/dev/null
SRC=198.18.1.0-198.18.1.15 # the test bed's 16 sources
"$BIN" serve --io socket --netns "$DUT" --listen 198.19.0.1:80 --threads 1 --cores 1 \
    --http --close server --response-bytes 256 >"$WORK/serve.txt" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
    ip netns exec "$DUT" ss -Hltn 'sport = :80' | grep -q . && break
    sleep 0.1
done

# DUT's passive opens: an independent count of the connections each run made.
passive_opens() {
    ip netns exec "$DUT" cat /proc/net/snmp | awk '/^Tcp:/ { getline; print $7; exit }'
}

# One run: NAME ROUND; appends "tool round cps conn_mean_us conn_p50_us conn_p99_us
# cpu_us_per_conn completed failed dut_opens" to $WORK/raw.
run_one() {
    local tool=$1 round=$2 out=$WORK/$1.$2.out t=$WORK/$1.$2.time
    local cps=- mean=- p50=- p99=- completed=- failed=- before after
    before=$(passive_opens)
    local timed=(ip netns exec "$GEN" /usr/bin/time -f "%e %U %S" -o "$t" taskset -c 0)
    case $tool in
        wrk)
            "${timed[@]}" wrk -t1 -c"$CONC" -d"${DURATION}s" -H 'Connection: close' "$URL" >"$out" 2>&1
            cps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
            completed=$(awk '/requests in/ { print $1 }' "$out")
            failed=$(awk '/Socket errors:/ { gsub(",", ""); s += $4 + $6 + $8 + $10 } /Non-2xx/ { s += $5 } END { print s + 0 }' "$out")
            WRK_CPS=${cps%.*}
            ;;
        h2load)
            local n=$(( ${WRK_CPS:-1000} * DURATION ))
            [ "$n" -ge 1000 ] || n=1000
            "${timed[@]}" h2load --h1 -t1 -c"$CONC" -n "$n" -H 'Connection: close' "$URL" >"$out" 2>&1
            cps=$(awk '/^finished in/ { print $4 }' "$out")
            completed=$(awk '/^requests:/ { print $8 }' "$out")
            failed=$(awk '/^requests:/ { print $10 + $12 + $14 }' "$out")
            # time for connect: min max mean sd (h2load gives no percentiles).
            mean=$(awk '/^time for connect:/ { v = $6; if (v ~ /us$/) { sub("us", "", v) } else if (v ~ /ms$/) { sub("ms", "", v); v *= 1000 } else if (v ~ /s$/) { sub("s", "", v); v *= 1e6 } print v }' "$out")
            ;;
        ab)
            "${timed[@]}" ab -c "$CONC" -t "$DURATION" -n 100000000 "$URL" >"$out" 2>&1
            cps=$(awk '/^Requests per second:/ { print $4 }' "$out")
            completed=$(awk '/^Complete requests:/ { print $3 }' "$out")
            failed=$(awk '/^Failed requests:/ { print $3 }' "$out")
            # Connect: min mean [+/-sd] median max, in ms (whole ms).
            mean=$(awk '/^Connect:/ { print $3 * 1000 }' "$out")
            p50=$(awk '/^Connect:/ { print $5 * 1000 }' "$out")
            ;;
        synfin-socket | synfin-xdp)
            local io=${tool#synfin-} extra=()
            [ "$io" = xdp ] && extra=(--interface "$NAME-g" --cores 0 --src "$SRC")
            /usr/bin/time -f "%e %U %S" -o "$t" taskset -c 0 "$BIN" run --io "$io" --netns "$GEN" \
                "${extra[@]}" --dst 198.19.0.1:80 --close server --concurrency "$CONC" \
                --connections 100m --duration "${DURATION}s" --drain 2s --format json >"$out" 2>"$out.err"
            cps=$(jq -r '.cps' "$out")
            completed=$(jq -r '.connections.completed' "$out")
            failed=$(jq -r '[.connections.failed[]] | add' "$out")
            mean=$(jq -r '.latency_us.connect.mean' "$out")
            p50=$(jq -r '.latency_us.connect.p50' "$out")
            p99=$(jq -r '.latency_us.connect.p99' "$out")
            ;;
    esac
    after=$(passive_opens)
    local cpu
    cpu=$(awk -v n="$completed" '{ if (n > 0) printf "%.1f", ($2 + $3) * 1e6 / n; else print "-" }' "$t")
    echo "$tool $round $cps $mean $p50 $p99 $cpu $completed $failed $((after - before))" >>"$WORK/raw"
    echo "  $tool round $round: $cps CPS, $completed completed, $failed failed, DUT accepted $((after - before))" >&2
}

TOOLS=(wrk h2load ab synfin-socket synfin-xdp)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
    for tool in "${TOOLS[@]}"; do
        run_one "$tool" "$round"
    done
done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the table ------------------------------------------------------------------
median() {
    { grep -v '^-$' || true; } | sort -g | awk '{ a[NR] = $1 } END {
        if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
fmt() { # a number with at most one decimal, or "-"
    awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else if (v >= 100) printf "%.0f", v; else printf "%.1f", v }'
}
describe() {
    case $1 in
        wrk) echo "wrk -t1 -c$CONC -d${DURATION}s -H 'Connection: close'" ;;
        h2load) echo "h2load --h1 -t1 -c$CONC -n (wrk's rate × ${DURATION} s) -H 'Connection: close'" ;;
        ab) echo "ab -c $CONC -t $DURATION" ;;
        synfin-socket) echo "synfin run --io socket --close server --concurrency $CONC --duration ${DURATION}s" ;;
        synfin-xdp) echo "synfin run --io xdp --cores 0 --src $SRC --close server --concurrency $CONC --duration ${DURATION}s" ;;
    esac
}
{
    echo "# synfin and the usual load tools, side by side"
    echo
    echo "Produced by \`scripts/compare-tools.sh\` (DURATION=$DURATION ROUNDS=$ROUNDS CONCURRENCY=$CONC) on"
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), Linux $(uname -r), $(nproc) CPUs (load average $LOAD_BEFORE before the runs,"
    echo "$LOAD_AFTER after: other work shared the machine). Every number below is from that run."
    echo
    echo "The DUT is the Linux kernel's TCP stack behind \`synfin serve --io socket --http --close server\`"
    echo "(one thread, CPU 1) in a test bed's DUT namespace; each generator runs in the generator namespace"
    echo "on CPU 0, 50 connections open at once, a new connection per request (a GET of 60-90 bytes, synfin's 64; a 256-byte"
    echo "response, the server closes first). Rounds are interleaved: each round runs every tool once."
    echo "Medians over the rounds; CPU is the generator process's user + system time (getrusage, by GNU"
    echo "time) divided by the connections it completed; connect times are in microseconds."
    echo
    echo "| generator | CPS (median) | CPS per round | connect mean | connect p50 | connect p99 | CPU µs / connection | failed (all rounds) |"
    echo "|---|---|---|---|---|---|---|---|"
    for tool in "${TOOLS[@]}"; do
        rows=$(awk -v t="$tool" '$1 == t' "$WORK/raw")
        per=$(echo "$rows" | awk '{ printf "%s%.0f", (NR > 1 ? " / " : ""), $3 }')
        cps=$(echo "$rows" | awk '{ print $3 }' | median)
        mean=$(echo "$rows" | awk '{ print $4 }' | median)
        p50=$(echo "$rows" | awk '{ print $5 }' | median)
        p99=$(echo "$rows" | awk '{ print $6 }' | median)
        cpu=$(echo "$rows" | awk '{ print $7 }' | median)
        failed=$(echo "$rows" | awk '{ s += $9 } END { print s }')
        echo "| \`$(describe "$tool")\` | $(fmt "$cps") | $per | $(fmt "$mean") | $(fmt "$p50") | $(fmt "$p99") | $(fmt "$cpu") | $failed |"
    done
    echo
    echo "What each tool reports about connecting: wrk none (its latency is per request, after the"
    echo "connection is up); h2load the mean (and min, max, sd) of its connect times; ab the mean and"
    echo "median in whole milliseconds; synfin the connect phase's HdrHistogram (\`--io socket\`: from"
    echo "the socket() call to the handshake's end; \`--io xdp\`: SYN sent to SYN-ACK received)."
    echo "\`-\`: the tool does not give it."
    echo
    echo "Every run, as measured (CPS, connections completed and failed as the tool counts them, and"
    echo "the connections the DUT's kernel accepted during the run, from its TcpPassiveOpens):"
    echo
    echo "| round | generator | CPS | completed | failed | DUT accepted | CPU µs / connection |"
    echo "|---|---|---|---|---|---|---|"
    awk '{ printf "| %s | %s | %.0f | %s | %s | %s | %s |\n", $2, $1, $3, $8, $9, $10, $7 }' "$WORK/raw"
    echo
    echo "Not run: tcpkali (in no package registry reachable here)."
    [ -z "$NETPERF_NOTE" ] || echo "$NETPERF_NOTE."
} >"$OUT"
echo "wrote $OUT" >&2
