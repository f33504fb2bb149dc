#!/usr/bin/env bash
# Issue 15's ratios in one interleaved run: the floor program (bench/floor.rs: read
# stdin, one fdatasync'd append) and toolgate in each configuration, dynamic and
# static-PIE, every case a real process, in a fresh random order each round.
#
#   bench/ratio.sh [ROUNDS]        (default 300; the 16-way cases run ROUNDS/10 rounds)
#
# The static builds are static-PIE (glibc, crt-static: ASLR kept), fat LTO, one
# codegen unit, as the release profile sets. APort's local evaluator is not run:
# it is not fetchable from a package registry here (see BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-300}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TERM_QUIET=true
nice -n 5 cargo build --release --bin toolgate --example bench-floor --example bench-ratio
RUSTFLAGS="-C target-feature=+crt-static" nice -n 5 cargo build --release --target "$TRIPLE" \
  --bin toolgate --example bench-floor
DYN=$PWD/target/release/toolgate
STATIC=$PWD/target/$TRIPLE/release/toolgate
FLOOR=$PWD/target/release/examples/bench-floor
FLOOR_STATIC=$PWD/target/$TRIPLE/release/examples/bench-floor
HARNESS=$PWD/target/release/examples/bench-ratio
file -L "$STATIC" | grep -q 'static-pie' || { echo "not a static-PIE: $(file -L "$STATIC")"; exit 1; }

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/project/src"
P=$W/project

# A home with the coding-agent passport, its `limits` changed by a Python expression on `l`.
home() {
  local name=$1 edit=${2:-}
  export TOOLGATE_HOME=$W/$name
  "$DYN" keygen --trust >/dev/null
  "$DYN" passport new --template coding-agent --sign >/dev/null
  if [ -n "$edit" ]; then
    python3 - "$TOOLGATE_HOME/passport.json" "$edit" <<'PY'
import json, sys
path, edit = sys.argv[1], sys.argv[2]
p = json.load(open(path))
l = p["limits"]
exec(edit)
json.dump(p, open(path, "w"), indent=2)
PY
    "$DYN" passport sign >/dev/null
  fi
  unset TOOLGATE_HOME
}
home base
home paths10 'l["data.file.write"]["allowed_paths"] = [f"src/m{i}/**" for i in range(9)] + ["src/**"]'
home paths100 'l["data.file.write"]["allowed_paths"] = [f"src/m{i}/**" for i in range(99)] + ["src/**"]'
home paths1000 'l["data.file.write"]["allowed_paths"] = [f"src/m{i}/**" for i in range(999)] + ["src/**"]'
home cmds10 'l["system.command.execute"]["allowed_commands"] = [f"tool{i}" for i in range(9)] + ["git status"]'
home cmds1000 'l["system.command.execute"]["allowed_commands"] = [f"tool{i}" for i in range(999)] + ["git status"]'

# The release profile keeps unwinding: a panic still answers deny (exit 2), in both builds.
for b in "$DYN" "$STATIC"; do
  rc=0
  echo '{}' | TOOLGATE_DEBUG_PANIC=1 TOOLGATE_HOME=$W/base "$b" evaluate --host claude-code >/dev/null 2>"$W/panic.err" || rc=$?
  [ "$rc" = 2 ] && grep -q oap.internal_error "$W/panic.err" || { echo "the panic path of $b exits $rc, not 2: $(cat "$W/panic.err")"; exit 1; }
done

hook() { # NAME JSON-tool-part
  printf '{"session_id":"bench","hook_event_name":"PreToolUse",%s,"cwd":"%s","tool_use_id":"toolu_bench"}' "$2" "$P" >"$W/$1.json"
}
hook bash '"tool_name":"Bash","tool_input":{"command":"git status -s"}'
hook deny '"tool_name":"Read","tool_input":{"file_path":"'"$P"'/.env"}'
hook edit '"tool_name":"Edit","tool_input":{"file_path":"'"$P"'/src/lib.rs","old_string":"a","new_string":"b"}'
python3 - "$W" <<'PY'
import json, sys
w = sys.argv[1]
for name, size in (("cmd1k", 1024), ("cmd60k", 60 * 1024)):
    words = " ".join(f"w{i:05d}" for i in range(size // 7))
    cmd = ("echo " + words)[:size]
    doc = {"session_id": "bench", "hook_event_name": "PreToolUse", "tool_name": "Bash",
           "tool_input": {"command": cmd}, "cwd": w + "/project", "tool_use_id": "toolu_bench"}
    json.dump(doc, open(f"{w}/{name}.json", "w"))
PY

ENV="CLAUDE_PROJECT_DIR=$P"
case_line() { # NAME PARALLEL INPUT HOME PROGRAM
  printf 'case\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$W/$3.json" "$ENV,TOOLGATE_HOME=$W/$4" "$5"
}
{
  case_line floor 1 bash base "$FLOOR $W/floor.log"
  case_line floor-static 1 bash base "$FLOOR_STATIC $W/floor-static.log"
  case_line bash 1 bash base "$DYN evaluate --host claude-code"
  case_line bash-static 1 bash base "$STATIC evaluate --host claude-code"
  case_line deny-read-env 1 deny base "$DYN evaluate --host claude-code"
  case_line edit 1 edit base "$DYN evaluate --host claude-code"
  case_line edit-10-paths 1 edit paths10 "$DYN evaluate --host claude-code"
  case_line edit-100-paths 1 edit paths100 "$DYN evaluate --host claude-code"
  case_line edit-1000-paths 1 edit paths1000 "$DYN evaluate --host claude-code"
  case_line bash-10-commands 1 bash cmds10 "$DYN evaluate --host claude-code"
  case_line bash-1000-commands 1 bash cmds1000 "$DYN evaluate --host claude-code"
  case_line command-1k 1 cmd1k base "$DYN evaluate --host claude-code"
  case_line command-60k 1 cmd60k base "$DYN evaluate --host claude-code"
  printf 'ratio\t%s\t%s\t%s\t%s\t%s\n' \
    "allowed Bash / glibc floor" bash floor median 1.5 \
    "allowed Bash static / static floor" bash-static floor-static median 1.6 \
    "deny (Read .env) / allowed Bash" deny-read-env bash median 1.2 \
    "Edit / allowed Bash" edit bash median 1.2 \
    "Edit, 1000 allowed paths / 10" edit-1000-paths edit-10-paths median 1.3 \
    "Bash, 1000 allowed commands / 10" bash-1000-commands bash-10-commands median 1.1 \
    "60 KB command / 1 KB command" command-60k command-1k median 2.0
} >"$W/spec"
{
  case_line floor-16way 16 bash base "$FLOOR $W/floor16.log"
  case_line bash-16way 16 bash base "$DYN evaluate --host claude-code"
  printf 'ratio\t%s\t%s\t%s\t%s\t%s\n' "16-way p99: allowed Bash / floor" bash-16way floor-16way p99 1.5
} >"$W/spec16"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ)"
echo "binary:  $(stat -c %s "$DYN") bytes dynamic, $(stat -c %s "$STATIC") bytes static-PIE"
"$HARNESS" "$W/spec" "$ROUNDS"
echo
"$HARNESS" "$W/spec16" "$(( ROUNDS / 10 > 5 ? ROUNDS / 10 : 5 ))"
for h in base paths1000; do
  TOOLGATE_HOME=$W/$h "$DYN" verify-log >/dev/null && echo "log $h verified: $(wc -l <"$W/$h/audit/audit.jsonl") records"
done
