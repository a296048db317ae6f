#!/bin/sh
# The README's first command: build synfin and run its main job. Today that is a
# full-lifecycle load run against synfin's own server over the in-memory wire
# (the AF_XDP testbed demo arrives with the datapath), then the report.
# Extra arguments go to `synfin run` (e.g. --format json, --close server).
set -eu
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  echo "demo: cargo is needed (https://rustup.rs)" >&2
  exit 1
fi
cargo build --release --locked --quiet
echo "synfin run --io mem --connections 200k --close client --request-bytes 64 --response-bytes 256 $*" >&2
exec target/release/synfin run --io mem --connections 200k --close client \
  --request-bytes 64 --response-bytes 256 "$@"
