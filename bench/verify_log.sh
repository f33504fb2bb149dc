#!/usr/bin/env bash
# verify-log throughput (issue 12): a valid N-record log (default 1,000,000) written by
# bench/audit_gen.rs, verified by the release binary with hyperfine, and the floor it is
# measured against: the per-record cost of parse, hash and Ed25519 batch verification
# (`audit_gen profile`). Run on an otherwise idle machine; it prints the load average.
# Results: bench/results/verify_log.json; BENCHMARKS.md quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
RUNS=${RUNS:-3}
command -v hyperfine >/dev/null || apt-get install -y hyperfine >/dev/null
cargo build --release --quiet --bin toolgate --example audit_gen
B=$PWD/target/release/toolgate
G=$PWD/target/release/examples/audit_gen
W=$(mktemp -d /tmp/toolgate-verify-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
OUT=$PWD/bench/results
mkdir -p "$OUT"
TOOLGATE_HOME=$W $B keygen --trust >/dev/null
nproc; lscpu | grep -E 'Model name|^CPU\(s\)|Flags' | cut -c1-160; date -u
echo "generating $N records..."
"$G" "$W" "$N"
ls -l "$W/audit/audit.jsonl"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# The default: keys pinned by the trust store, the head checked, progress off (not a tty).
hyperfine --warmup 1 --runs "$RUNS" \
  -n "verify-log-$N" "TOOLGATE_HOME=$W $B verify-log" \
  --export-json "$OUT/verify_log.json"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$G" profile "$W/audit/audit.jsonl" | tee "$OUT/verify_log_profile.txt"
python3 - "$OUT" "$N" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
r = json.load(open(f"{out}/verify_log.json"))["results"][0]
vt, cpu = r["median"], r["user"] + r["system"]
print(f"verify-log {n} records: {vt:.2f} s wall = {n/vt:,.0f} records/s; "
      f"{cpu:.1f} s CPU = {n/cpu:,.0f} records per CPU-second")
PY
