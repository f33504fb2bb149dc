#!/usr/bin/env bash
# Per host: the installed hook command run exactly as the host runs it
# (`sh -c '<configured command>'` with the host's JSON on stdin), for an
# allowed and a denied call, in a temporary HOME. Medians from hyperfine.
#
#   bench/hosts.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-200}
cargo build --release --quiet --bin toolgate
BIN=$PWD/target/release/toolgate
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export HOME=$WORK/home TOOLGATE_HOME=$WORK/tg NO_COLOR=1
mkdir -p "$HOME" "$WORK/p"
cd "$WORK/p"
"$BIN" init >/dev/null
P=$WORK/p
payload() { # host allow|deny
  case "$1:$2" in
    claude-code:allow) echo '{"session_id":"b","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"git status"},"cwd":"'$P'","tool_use_id":"t"}';;
    claude-code:deny)  echo '{"session_id":"b","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"rm -rf /"},"cwd":"'$P'","tool_use_id":"t"}';;
    cursor:allow) echo '{"hook_event_name":"beforeShellExecution","conversation_id":"b","cursor_version":"2","workspace_roots":["'$P'"],"command":"git status","cwd":"'$P'"}';;
    cursor:deny)  echo '{"hook_event_name":"beforeShellExecution","conversation_id":"b","cursor_version":"2","workspace_roots":["'$P'"],"command":"rm -rf /","cwd":"'$P'"}';;
    codex:allow) echo '{"session_id":"b","turn_id":"t","model":"m","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"git status"},"cwd":"'$P'","tool_use_id":"t","transcript_path":null}';;
    codex:deny)  echo '{"session_id":"b","turn_id":"t","model":"m","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"rm -rf /"},"cwd":"'$P'","tool_use_id":"t","transcript_path":null}';;
    gemini:allow) echo '{"session_id":"b","hook_event_name":"BeforeTool","timestamp":"x","tool_name":"run_shell_command","tool_input":{"command":"git status"},"cwd":"'$P'"}';;
    gemini:deny)  echo '{"session_id":"b","hook_event_name":"BeforeTool","timestamp":"x","tool_name":"run_shell_command","tool_input":{"command":"rm -rf /"},"cwd":"'$P'"}';;
    copilot:allow) echo '{"sessionId":"b","timestamp":1,"cwd":"'$P'","toolName":"bash","toolArgs":"{\"command\":\"git status\"}"}';;
    copilot:deny)  echo '{"sessionId":"b","timestamp":1,"cwd":"'$P'","toolName":"bash","toolArgs":"{\"command\":\"rm -rf /\"}"}';;
  esac
}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr)"
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ), runs: $RUNS"
for host in claude-code cursor codex gemini copilot; do
  "$BIN" install "$host" >/dev/null 2>&1
done
# The command each installer writes (doctor checks the files hold exactly this).
median() { python3 -c "import json,sys;print('%.2f'%(json.load(open(sys.argv[1]))['results'][0]['median']*1000))" "$1"; }
run_all() {
for host in claude-code cursor codex gemini copilot; do
  cmd="'$BIN' evaluate --host $host"
  for v in allow deny; do
    payload "$host" "$v" >"$WORK/$host-$v.json"
  done
  hyperfine -N --warmup 10 --runs "$RUNS" --export-json "$WORK/$host.json" \
    -n "$host allow" "sh -c \"$cmd < $WORK/$host-allow.json\"" >/dev/null 2>&1 || true
  a=$(median "$WORK/$host.json")
  hyperfine -N --warmup 10 --runs "$RUNS" --export-json "$WORK/$host-d.json" -i \
    -n "$host deny" "sh -c \"$cmd < $WORK/$host-deny.json\"" >/dev/null 2>&1 || true
  d=$(median "$WORK/$host-d.json")
  printf '%-12s allow %6s ms   deny %6s ms\n' "$host" "$a" "$d"
done
}
echo "audit sync_data on (default):"
run_all
echo '{"audit":{"sync":false,"store_input":false}}' >"$TOOLGATE_HOME/config.json"
echo "audit sync_data off:"
run_all
hyperfine -N --warmup 10 --runs "$RUNS" --export-json "$WORK/sh.json" "sh -c true" >/dev/null 2>&1
printf '%-12s %s ms\n' "sh -c true" "$(median "$WORK/sh.json")"
"$BIN" verify-log >/dev/null && echo "log verified: $(wc -l <"$TOOLGATE_HOME/audit/audit.jsonl") records"
"$BIN" doctor >/dev/null && echo "doctor: all hosts pass"
