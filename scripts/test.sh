#!/bin/sh
# The test command of the README: formatting, lints, and every test.
set -eu
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --profile ci --locked --all-targets
# The doc tests reuse the ci profile's build of the library (the test profile would
# build every dependency once more).
cargo test --profile ci --locked --doc
# Fuzz targets, 20 s each from the committed corpus (installs cargo-fuzz if missing).
FUZZ_SECONDS=20 ./scripts/fuzz.sh
