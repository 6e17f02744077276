#!/usr/bin/env bash
# The full check: formatting, lints, the fuzz targets' build, every test, including the
# end-to-end ones that need root (network namespaces) and promtool, and every fuzz target
# briefly with hang detection. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# The fuzz targets live in their own workspace; make sure they still build.
cargo check --manifest-path fuzz/Cargo.toml --locked --bins
cargo test --locked -- --include-ignored
# Every fuzz target briefly, with hang detection, from seeds of the shipped captures.
scripts/fuzz.sh --seconds 15
