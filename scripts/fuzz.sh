#!/usr/bin/env bash
# Runs every cargo-fuzz target (or those named) with libFuzzer's hang detection on: an
# input that runs longer than -timeout seconds is reported like a crash. Seeds come from
# the shipped captures (fuzz/seeds.py); findings land in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [--runs N | --seconds S | --runs-or-seconds N S] [TARGET...]
#
# Defaults: 20 s per target, all targets. FUZZING.md records the long runs.
# Needs cargo-fuzz (installed when missing) and a nightly toolchain, or the stable one
# with RUSTC_BOOTSTRAP=1 (libFuzzer's sanitizer flags are unstable).
set -euo pipefail
cd "$(dirname "$0")/.."
limit=(-max_total_time=20)
case "${1:-}" in
  --runs) limit=(-runs="$2"); shift 2 ;;
  --seconds) limit=(-max_total_time="$2"); shift 2 ;;
  --runs-or-seconds) limit=(-runs="$2" -max_total_time="$3"); shift 3 ;;
esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(records decode tls dns http quic stream packet_path)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi

seeds=$(mktemp -d); trap 'rm -rf "$seeds"' EXIT
python3 fuzz/seeds.py "$seeds"
cd fuzz
cargo "${toolchain[@]}" fuzz build -O --debug-assertions
for t in "${targets[@]}"; do
  # Inputs big enough for a 64 KiB DNS message over TCP and a few full-size packets.
  max_len=70000
  dict=()
  case $t in
    http|stream) dict=(-dict=dict/http.dict) ;;
    tls) dict=(-dict=dict/tls.dict) ;;
  esac
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "fuzz: $t" >&2
  cargo "${toolchain[@]}" fuzz run -O --debug-assertions "$t" "corpus/$t" "$seeds/$t" -- \
    -timeout=10 -rss_limit_mb=2048 -max_len=$max_len -print_final_stats=1 \
    "${dict[@]}" "${limit[@]}"
done
