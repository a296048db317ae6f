#!/bin/sh
# The test command of the README: formatting, lints, and every test.
set -eu
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --profile ci --locked --all-targets
cargo test --locked --doc
# Fuzz targets, 30 s each from the committed corpus (installs cargo-fuzz if missing).
./scripts/fuzz.sh
