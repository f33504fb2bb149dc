#!/usr/bin/env bash
# Regenerates bench/hot-text.txt: the functions one hook call runs, which build.rs has the
# linker place side by side at the front of the code (see the file's header for why).
#
#   bench/hot-text.sh [BINARY...]
#
# Default: the static-PIE fat-LTO release build (target/hot-text-lto), then a non-LTO release
# build (target/hot-text), both built without the layout. Every function callgrind sees run in
# the hook cases below goes in. The first binary's functions come first, then what each later
# one adds, so the build profiled first finds its code in one dense run rather than spread over
# everything the others run. Rust functions are section patterns that do not depend on the
# checkout: the legacy symbol hash (`17h<16 hex>E`) changes with the checkout path and the
# profile, so it is a `*`; std's v0 names carry no such hash and are kept whole. C functions
# (glibc in the static build, ring's C and assembly) are placed by the archive member that
# defines them. Run it after a change that moves the hook path a lot (new dependency, new
# phase); a stale list only costs memory, never correctness.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
bins=("$@")
if [ ${#bins[@]} = 0 ]; then
  CARGO_TARGET_DIR=$PWD/target/hot-text-lto TOOLGATE_HOT_TEXT=0 RUSTFLAGS="-C target-feature=+crt-static" \
    nice -n 5 cargo build -q --release --target "$TRIPLE" --bin toolgate
  CARGO_TARGET_DIR=$PWD/target/hot-text CARGO_PROFILE_RELEASE_LTO=off \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 TOOLGATE_HOT_TEXT=0 nice -n 5 cargo build -q --release --bin toolgate
  bins=("$PWD/target/hot-text-lto/$TRIPLE/release/toolgate" "$PWD/target/hot-text/release/toolgate")
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/project/src"
P=$W/project
export CLAUDE_PROJECT_DIR=$P
hook() { printf '{"session_id":"hot","hook_event_name":"PreToolUse",%s,"cwd":"%s","tool_use_id":"toolu_hot"}' "$1" "$P"; }
cases=(
  '"tool_name":"Bash","tool_input":{"command":"git status -s"}'
  '"tool_name":"Read","tool_input":{"file_path":"'"$P"'/.env"}'
  '"tool_name":"Edit","tool_input":{"file_path":"'"$P"'/src/lib.rs","old_string":"a","new_string":"b"}'
  '"tool_name":"Bash","tool_input":{"command":"cat src/*.rs | grep -n fn > /tmp/x && echo \"$(date)\""}'
)

# The archive members that define each C symbol: glibc's static archives, ring's (which rustc
# bundles into ring's rlib, so any archive).
libc_a=$(gcc -print-file-name=libc.a)
{
  for a in "$libc_a" "$(dirname "$libc_a")"/libm-*.a; do
    [ -f "$a" ] || continue
    nm -A --defined-only "$a" 2>/dev/null |
      awk -v lib="$(basename "$a")" '$(NF-1) ~ /^[TtWi]$/ {n=split($1,a,":"); print $NF, "*" lib ":" a[2]}'
  done
  for a in target/*/release/build/ring-*/out/libring_core_*.a target/*/*/release/build/ring-*/out/libring_core_*.a; do
    [ -f "$a" ] || continue
    # The member names start with a hash of the build; the rest is the source file's name.
    nm -A --defined-only "$a" 2>/dev/null |
      awk '$(NF-1) ~ /^[Tt]$/ {n=split($1,a,":"); sub(/^[0-9a-f]+-/, "*-", a[n-1]); print $NF, "*:" a[n-1]}'
  done
} | sort -u >"$W/members"

# Native page faults are traced too when `perf` can (it needs no hardware counters): the code a
# real CPU runs differs from valgrind's (glibc's string functions picked for AVX-512, SHA
# instructions), and an instruction fetch that faults names the function it runs.
perf_ok=0
perf record -q -e page-faults -o "$W/probe.data" true >/dev/null 2>&1 && perf_ok=1
# Profiles one binary: names.<binary>.<case>, the functions each case runs.
profile() {
  local B=$1 n=0
  export TOOLGATE_HOME=$W/home-$2
  "$B" keygen --trust >/dev/null
  "$B" passport new --template coding-agent --sign >/dev/null
  # A first round creates the log, the memos, the seal and the state; the profiled round is
  # the usual calls, which are what the layout is for.
  for c in "${cases[@]}"; do
    hook "$c" | "$B" evaluate --host claude-code >/dev/null 2>&1 || true
  done
  for c in "${cases[@]}"; do
    n=$((n + 1))
    hook "$c" | valgrind -q --tool=callgrind --demangle=no --callgrind-out-file="$W/cg" \
      "$B" evaluate --host claude-code >/dev/null 2>"$W/err.$2.$n" || true
    grep -ohE '^c?fn=\([0-9]+\) \S+' "$W/cg" | awk '{print $2}' | sed -E "s/'[0-9]+$//" >"$W/names.$2.$n"
    if [ $perf_ok = 1 ]; then
      hook "$c" >"$W/in"
      perf record -q -e page-faults -c 1 -d -o "$W/pf.data" "$B" evaluate --host claude-code <"$W/in" >/dev/null 2>&1 || true
      # Fields: the faulting address (and its symbol), the instruction's address and its symbol; a fetch
      # faults on its own page.
      perf script -i "$W/pf.data" --no-demangle -F addr,ip,sym 2>/dev/null |
        perl -lane 'my @h = grep { $F[$_] =~ /^[0-9a-f]{6,16}$/ } 0..$#F;
          print $F[$h[1] + 1] if @h >= 2 && $h[1] < $#F && abs(hex($F[$h[0]]) - hex($F[$h[1]])) < 8192' \
          >>"$W/names.$2.$n" || true
    fi
  done
}
# The patterns of one list of function names.
patterns() {
  sort -u "$1" >"$W/fns"
  {
    # Rust: legacy names without their hash, v0 names without LTO's `.<n>` clone number.
    grep -E '^_[RZ]' "$W/fns" | sed -E 's/17h[0-9a-f]{16}E(\..*)?$/17h*/; /^_R/s/\.[0-9]+$/*/' |
      grep -E '^[A-Za-z0-9_$.*]+$'
    awk 'NR==FNR {want[$1]=1; next} ($1 in want) {print $2 "(.text .text.*)"}' "$W/fns" "$W/members"
    # Other plain names in a section of their own (the `main` rustc writes).
    awk 'NR==FNR {have[$1]=1; next} !($1 in have)' "$W/members" "$W/fns" | grep -E '^[A-Za-z_][A-Za-z0-9_]*$' |
      grep -vE '^_[RZ]'
  } | LC_ALL=C sort -u
}
# In order: the first binary's allowed Bash (the commonest call), then what its other cases
# add, then what each later binary adds. The C code of the list before is kept after the first
# case: a function the last layout already placed may not fault in a trace (its window was
# mapped by a neighbour's fault), and dropping it would undo the layout the next time.
: >"$W/seen"
grep -v '^#' bench/hot-text.txt | grep -F '(' >"$W/kept" || true
{
  sed -n '1,/^$/p' bench/hot-text.txt
  i=0
  for B in "${bins[@]}"; do
    i=$((i + 1))
    profile "$B" "$i"
    for n in $(seq ${#cases[@]}); do
      patterns "$W/names.$i.$n" >"$W/list"
      echo "# first run by ${B#"$PWD"/} ($i of ${#bins[@]}), case $n"
      grep -vxF -f "$W/seen" "$W/list" || true
      cat "$W/list" >>"$W/seen"
      if [ "$i$n" = 11 ] && [ -s "$W/kept" ]; then
        echo "# C code of the previous list"
        grep -vxF -f "$W/seen" "$W/kept" || true
        cat "$W/kept" >>"$W/seen"
      fi
    done
  done
} >"$W/out"
mv "$W/out" bench/hot-text.txt
echo "bench/hot-text.txt: $(grep -vc '^#' bench/hot-text.txt) patterns from ${bins[*]}"
