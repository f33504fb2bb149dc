#!/usr/bin/env bash
# Whole-process decision cost: `toolgate evaluate` on an allowed Bash call with
# the audit append, as Claude Code runs it. Prints medians and peak RSS, and
# the cost of spawning a trivial process on this machine for scale.
#
#   bench/evaluate.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-1000}
cargo build --release --quiet --bin toolgate --example bench-evaluate
BIN=$PWD/target/release/toolgate
HARNESS=$PWD/target/release/examples/bench-evaluate
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export TOOLGATE_HOME=$WORK/home
mkdir -p "$WORK/project"
# The project the host says it is in: relative rules anchor at this trusted root.
export CLAUDE_PROJECT_DIR="$WORK/project"
"$BIN" keygen --trust >/dev/null
"$BIN" passport new --template coding-agent --sign >/dev/null
cat >"$WORK/allow.json" <<JSON
{"session_id":"bench","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"git status -s"},"cwd":"$WORK/project","tool_use_id":"toolu_bench"}
JSON
cat >"$WORK/deny.json" <<JSON
{"session_id":"bench","hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{"file_path":"$WORK/project/.env"},"cwd":"$WORK/project","tool_use_id":"toolu_bench"}
JSON
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr)"
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ)"
printf 'true (spawn floor)          '; "$HARNESS" /bin/true "$TOOLGATE_HOME" "$WORK/allow.json" "$RUNS"
printf 'allow Bash, sync_data on   '; "$HARNESS" "$BIN" "$TOOLGATE_HOME" "$WORK/allow.json" "$RUNS"
printf 'deny Read .env, sync on    '; "$HARNESS" "$BIN" "$TOOLGATE_HOME" "$WORK/deny.json" "$RUNS"
echo '{"audit":{"sync":false,"store_input":false}}' >"$TOOLGATE_HOME/config.json"
printf 'allow Bash, sync_data off  '; "$HARNESS" "$BIN" "$TOOLGATE_HOME" "$WORK/allow.json" "$RUNS"
"$BIN" verify-log >/dev/null && echo "log verified: $(wc -l <"$TOOLGATE_HOME/audit/audit.jsonl") records"
