#!/usr/bin/env bash
# Regenerates bench/hot-text.txt: the functions one hook call runs, which build.rs has the
# linker place side by side at the front of the code (see the file's header for why).
#
#   bench/hot-text.sh [BINARY]     (default: a non-LTO release build in target/hot-text)
#
# Every function callgrind sees run in the hook cases below goes in, each as a linker-script
# section pattern that does not depend on the checkout: Rust's legacy symbol hash (the
# `17h<16 hex>E` suffix) changes with the checkout path and the profile, so it is a `*`; std's
# v0 names carry no such hash and are kept whole. Run it after a change that moves the hook
# path a lot (new dependency, new phase); a stale list only costs memory, never correctness.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-}
if [ -z "$B" ]; then
  CARGO_TARGET_DIR=$PWD/target/hot-text CARGO_PROFILE_RELEASE_LTO=off \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 TOOLGATE_HOT_TEXT=0 nice -n 5 cargo build -q --release --bin toolgate
  B=$PWD/target/hot-text/release/toolgate
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/project/src"
P=$W/project
export TOOLGATE_HOME=$W/home CLAUDE_PROJECT_DIR=$P
"$B" keygen --trust >/dev/null
"$B" passport new --template coding-agent --sign >/dev/null
hook() { printf '{"session_id":"hot","hook_event_name":"PreToolUse",%s,"cwd":"%s","tool_use_id":"toolu_hot"}' "$1" "$P"; }
cases=(
  '"tool_name":"Bash","tool_input":{"command":"git status -s"}'
  '"tool_name":"Read","tool_input":{"file_path":"'"$P"'/.env"}'
  '"tool_name":"Edit","tool_input":{"file_path":"'"$P"'/src/lib.rs","old_string":"a","new_string":"b"}'
  '"tool_name":"Bash","tool_input":{"command":"cat src/*.rs | grep -n fn > /tmp/x && echo \"$(date)\""}'
)
# A first round creates the log, the memos, the seal and the state; the profiled round is
# the usual calls, which are what the layout is for.
for c in "${cases[@]}"; do
  hook "$c" | "$B" evaluate --host claude-code >/dev/null 2>&1 || true
done
n=0
for c in "${cases[@]}"; do
  n=$((n + 1))
  hook "$c" | valgrind -q --tool=callgrind --demangle=no --callgrind-out-file="$W/cg.$n" \
    "$B" evaluate --host claude-code >/dev/null 2>"$W/err.$n" || true
done
{
  sed -n '1,/^$/p' bench/hot-text.txt
  grep -ohE '^c?fn=\([0-9]+\) _[RZ]\S+' "$W"/cg.* | awk '{print $2}' | sed -E "s/'[0-9]+$//" |
    sed -E 's/17h[0-9a-f]{16}E(\..*)?$/17h*/' | grep -E '^[A-Za-z0-9_$.*]+$' | LC_ALL=C sort -u
} >"$W/list"
mv "$W/list" bench/hot-text.txt
echo "bench/hot-text.txt: $(grep -vc '^#' bench/hot-text.txt) patterns from $B"
