#!/usr/bin/env bash
# Cost of the recursive readers' directory walk, whole process: `toolgate
# evaluate` on `grep -r x DIR` for trees of growing size, interleaved round by
# round with `git status` (no walk) and `/bin/true` (the spawn floor), so
# machine noise hits every configuration alike. The walk budget is 20000
# directory entries (and 250 ms of the edge's clock); the largest tree here
# sits just under it, the last one over it (a deny naming the budget).
#
#   bench/walk.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-200}
cargo build --release --quiet --bin toolgate
BIN=$PWD/target/release/toolgate
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export TOOLGATE_HOME=$WORK/home
P=$WORK/project
mkdir -p "$P"
"$BIN" keygen --trust >/dev/null
"$BIN" passport new --template coding-agent --sign >/dev/null
echo '{"audit":{"sync":false,"store_input":false}}' >"$TOOLGATE_HOME/config.json"
python3 - "$P" <<'PY'
import os, sys
p = sys.argv[1]
# (name, directories, files per directory): entries listed = dirs + dirs*files + 1.
for name, dirs, files in [("t100", 10, 9), ("t2k", 40, 49), ("t19k", 100, 189), ("t25k", 125, 199)]:
    for d in range(dirs):
        dd = os.path.join(p, name, f"d{d}")
        os.makedirs(dd, exist_ok=True)
        for f in range(files):
            open(os.path.join(dd, f"f{f}.rs"), "w").close()
PY
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr)"
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ)"
python3 bench/walk_rounds.py "$BIN" "$P" "$ROUNDS"
