#!/usr/bin/env bash
# Audit log benchmarks (issue 4):
#  1. `evaluate` latency with an empty log vs a log of N (default 1,000,000) records;
#  2. the cost of sync_data per append (sync on vs off);
#  3. verify-log throughput over the N-record log.
# Results go to bench/results/ as hyperfine JSON; BENCHMARKS.md quotes the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
RUNS=${RUNS:-200}
command -v hyperfine >/dev/null || apt-get install -y hyperfine >/dev/null
cargo build --release --quiet --bin toolgate --example audit_gen
B=$PWD/target/release/toolgate
G=$PWD/target/release/examples/audit_gen
W=$(mktemp -d /tmp/toolgate-audit-bench.XXXXXX)
OUT=$PWD/bench/results
mkdir -p "$OUT"
setup() {
  TOOLGATE_HOME=$1 $B keygen --trust >/dev/null
  TOOLGATE_HOME=$1 $B passport new --template coding-agent --sign >/dev/null
}
for h in empty big nosync; do setup "$W/$h"; done
echo '{"audit":{"sync":false}}' >"$W/nosync/config.json"
IN=$W/in.json
echo '{"hook_event_name":"PreToolUse","session_id":"s","tool_name":"Bash","tool_input":{"command":"git status"},"cwd":"/tmp"}' >"$IN"

nproc; lscpu | head -15; date -u
echo "generating $N records..."
time "$G" "$W/big" "$N"
ls -l "$W/big/audit/audit.jsonl"

ev() { echo "TOOLGATE_HOME=$W/$1 $B evaluate --host claude-code < $IN > /dev/null"; }
# Whole process, both logs in one hyperfine run (the empty log grows by the runs, to a few hundred records).
hyperfine -N --warmup 10 --runs "$RUNS" -i \
  -n empty-log "sh -c '$(ev empty)'" \
  -n "log-$N" "sh -c '$(ev big)'" \
  --export-json "$OUT/audit_big.json"
hyperfine -N --warmup 10 --runs "$RUNS" -i \
  -n sync-on "sh -c '$(ev empty)'" \
  -n sync-off "sh -c '$(ev nosync)'" \
  --export-json "$OUT/audit_sync.json"
# In process, alternating calls, so start-up noise and machine load hit both alike.
"$G" latency "$W/empty" "$W/big" "${ROUNDS:-2000}" | tee "$OUT/audit_latency.txt"
hyperfine --runs 2 \
  -n "verify-log-$N" "$B verify-log --pubkey $W/big/keys/toolgate.pub.jwk $W/big/audit/audit.jsonl" \
  --export-json "$OUT/audit_verify.json"
python3 - "$OUT" "$N" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
def med(f):
    return {r["command"]: r["median"] for r in json.load(open(f"{out}/{f}"))["results"]}
b = med("audit_big.json"); s = med("audit_sync.json"); v = med("audit_verify.json")
empty = b["empty-log"]; big = b[f"log-{n}"]
print(f"evaluate (process), empty log: {empty*1e3:.2f} ms; {n}-record log: {big*1e3:.2f} ms; ratio {big/empty:.3f}")
print(f"sync on / off:             {s['sync-on']*1e3:.2f} / {s['sync-off']*1e3:.2f} ms")
r = json.load(open(f"{out}/audit_verify.json"))["results"][0]
vt, cpu = r["median"], r["user"] + r["system"]
print(f"verify-log {n} records: {vt:.2f} s wall = {n/vt:,.0f} records/s; {cpu:.1f} s CPU = {n/cpu:,.0f} records per CPU-second")
PY
rm -rf "$W"
