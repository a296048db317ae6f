#!/bin/sh
# The README's first command: build synfin and run its main job — a real load run
# against the Linux kernel's TCP stack in a test bed it builds itself (two network
# namespaces joined by a veth pair), over AF_XDP, then the report; the test bed is
# removed afterwards, also after Ctrl-C or an error. Needs root.
# Without root, it runs the same lifecycle against synfin's own server over the
# in-memory wire instead. Extra arguments go to `synfin demo` (e.g. --duration 30s,
# --close server, --format json).
set -eu
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  echo "demo: cargo is needed (https://rustup.rs)" >&2
  exit 1
fi
cargo build --release --locked --quiet
# Where cargo put it (CARGO_TARGET_DIR, when set, moves the build out of target/).
bin="${CARGO_TARGET_DIR:-target}/release/synfin"
if [ "$(id -u)" = 0 ]; then
  exec "$bin" demo "$@"
fi
echo "demo: not root, so no test bed; running over the in-memory wire instead" >&2
exec "$bin" run --io mem --connections 200k --close client \
  --request-bytes 64 --response-bytes 256
