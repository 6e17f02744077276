#!/usr/bin/env bash
# Installs what building aigress needs on Debian/Ubuntu, when missing; with --test also
# what its end-to-end tests use (network namespaces, curl, openssl, tcpreplay, a real
# Prometheus server and promtool, headless Chromium for the HTML report, poppler-utils
# to read its PDF print, a PostgreSQL server for the fleet inventory); with --bench what
# the benchmark scripts use (scripts/bench-capture, bench-compare, bench-live). The test
# set-up also installs the `openai` Python SDK from PyPI, the real client the self-hosted
# model server test drives.
# Safe to run again: it installs nothing already there.
set -euo pipefail

packages=(libpcap-dev pkg-config)
case "${1:-}" in
  --test)
    packages+=(iproute2 procps curl openssl tcpreplay prometheus chromium poppler-utils postgresql) ;;
  --bench)
    packages+=(iproute2 ethtool curl openssl bind9-dnsutils chromium python3 tshark tcpreplay tcpdump
      libndpi-bin gcc time linux-perf zstd) ;;
esac

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in "${packages[@]}"; do
  have_pkg "$pkg" || need+=("$pkg")
done

if [ "${#need[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if [ "${1:-}" = "--test" ] && ! python3 -c 'import openai' 2>/dev/null; then
  # A real client library for the self-hosted model server test; not in Debian 12.
  python3 -m pip install --quiet openai
fi

if [ "${1:-}" = "--bench" ] && ! python3 -c 'import aioquic' 2>/dev/null; then
  # QUIC in the benchmark capture (benches/quic.py); not in Debian 12.
  python3 -m pip install --quiet aioquic ||
    echo "setup: could not install aioquic; the benchmark capture will have no QUIC" >&2
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) and run this again" >&2
  exit 1
fi
