#!/usr/bin/env bash
# HTTP throughput and p99 latency over loopback of one tiny handler behind five front doors
# (axum: none / static token / vault; actix: none / vault), interleaved rounds, wrk as load.
# Usage: bash benches/http/run.sh   (DURATION, CONNECTIONS, ROUNDS override the defaults)
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  { apt-get update -qq && apt-get install -y -qq wrk; } >/dev/null
fi
cargo build --release -q -p vault-benches --bin http-targets
exec python3 benches/http/compare.py "${CARGO_TARGET_DIR:-$(pwd)/target}/release/http-targets"
