#!/usr/bin/env bash
# Whole-process decision cost of a Bash call: `toolgate evaluate` on a Claude
# Code hook input, measured with hyperfine on a release binary.
#
#   bench/command_check.sh [TOOLGATE_BINARY] [LABEL]
#   SYNC=off bench/command_check.sh ...   # audit append without fsync
#
# Defaults to target/release/toolgate (built if missing). Each run uses a fresh
# TOOLGATE_HOME with a trusted key and a signed coding-agent passport, so the
# numbers include reading the passport, verifying its signature, deciding,
# signing the receipt and appending the audit record.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/toolgate}
LABEL=${2:-$(git rev-parse --short HEAD)}
if [ ! -x "$BIN" ]; then cargo build --release --quiet; fi
command -v hyperfine >/dev/null || { echo "install hyperfine (apt-get install -y hyperfine)" >&2; exit 1; }

HOME_DIR=$(mktemp -d)
PROJECT=$(mktemp -d)
trap 'rm -rf "$HOME_DIR" "$PROJECT"' EXIT
export TOOLGATE_HOME="$HOME_DIR"
"$BIN" keygen --trust >/dev/null
"$BIN" passport new --sign >/dev/null
if [ "${SYNC:-on}" = off ]; then
  echo '{"audit":{"sync":false}}' >"$TOOLGATE_HOME/config.json"
  LABEL="$LABEL, sync off"
fi

hook() { # $1 = command
  python3 -c 'import json,sys; print(json.dumps({"hook_event_name":"PreToolUse","session_id":"b","tool_use_id":"t","tool_name":"Bash","tool_input":{"command":sys.argv[1]},"cwd":sys.argv[2]}))' "$1" "$PROJECT"
}
hook 'git status' > "$HOME_DIR/simple.json"
hook 'cargo test --all 2>&1 | tail -n 30 > /tmp/test.log && git diff --stat | head -n 5' > "$HOME_DIR/compound.json"
hook 'git status; rm -rf /' > "$HOME_DIR/denied.json"

echo "# $LABEL: $BIN" >&2
# Exit code 2 (deny) is an expected answer, hence -i. The shell that feeds
# stdin is measured and subtracted by hyperfine (its --input needs >= 1.16).
hyperfine -i --warmup 20 --runs 300 --export-json "$HOME_DIR/result.json" \
  -n "simple ($LABEL)"   "$BIN evaluate < $HOME_DIR/simple.json" \
  -n "compound ($LABEL)" "$BIN evaluate < $HOME_DIR/compound.json" \
  -n "denied ($LABEL)"   "$BIN evaluate < $HOME_DIR/denied.json" >&2
python3 - "$HOME_DIR/result.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f'{r["command"]:<28} median {r["median"]*1000:.3f} ms  mean {r["mean"]*1000:.3f} ms  (min {r["min"]*1000:.3f})')
PY
if [ -z "${1:-}" ]; then
  echo "in-process decision (pure decide, coding-agent):"
  cargo run --quiet --release --example command-decide -- 'git status' \
    'cargo test --all 2>&1 | tail -n 30 > /tmp/test.log && git diff --stat | head -n 5' \
    'git status; rm -rf /' 'cat README.md'
fi
