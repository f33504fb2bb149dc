#!/usr/bin/env bash
# Installs the pinned host CLIs the real-host suite drives (tests/hosts/), from npm, into a cache
# outside the checkout so later runs reuse them. Idempotent: a host whose pinned version is already
# there is left alone. Prints one line per host; exits non-zero only when an install fails.
set -euo pipefail
cache="${TOOLGATE_HOST_CACHE:-$HOME/.cache/toolgate-hosts}"
pins="$(dirname "$0")/versions.txt"
mkdir -p "$cache"
status=0
pids=()
names=()
while read -r dir pkg version _; do
    case "$dir" in ''|'#'*) continue ;; esac
    dest="$cache/$dir-$version"
    if [ -f "$dest/.installed" ]; then
        echo "hosts: $pkg@$version already in $dest"
        continue
    fi
    (
        rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
        npm install --prefix "$dest.tmp" --no-audit --no-fund --loglevel=error \
            "$pkg@$version" >"$cache/$dir.log" 2>&1
        rm -rf "$dest" && mv "$dest.tmp" "$dest" && touch "$dest/.installed"
    ) &
    pids+=("$!")
    names+=("$pkg@$version")
done <"$pins"
for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then
        echo "hosts: installed ${names[$i]}"
    else
        echo "hosts: FAILED to install ${names[$i]} (log in $cache)" >&2
        status=1
    fi
done
exit "$status"
