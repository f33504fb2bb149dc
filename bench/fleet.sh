#!/usr/bin/env bash
# Fleet status costs: the verified-cache hit every hybrid-mode decision pays (target
# <= 0.1 ms), a refresh over real HTTPS on loopback (full fetch, and 304), and the whole
# `toolgate evaluate` process with a local status vs a remote-status cache hit, interleaved.
#
#   bench/fleet.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-400}
cargo build --release --quiet --bin toolgate --example fleet-bench
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ), $(uname -sr)"
exec target/release/examples/fleet-bench "$PWD/target/release/toolgate" "$RUNS"
