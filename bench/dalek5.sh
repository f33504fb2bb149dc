#!/usr/bin/env bash
# Issue 12, verify-log: do curve25519-dalek 5.0's backends make the batch phases cheaper?
# Builds bench/dalek5 (standalone) twice: as toolgate builds today, and with
# `--cfg curve25519_dalek_backend="avx512"` (5.0 then picks AVX-512 IFMA at run time when the
# CPU has it; without the cfg it only does so when compiled with avx512ifma enabled). Prints
# per-signature CPU time of R decompression and of the batch multiscalar multiplication.
set -euo pipefail
cd "$(dirname "$0")/dalek5"
grep -o 'avx512ifma' /proc/cpuinfo | head -1 || echo "no avx512ifma on this CPU"
rustc --version
echo "== default build"
CARGO_TARGET_DIR=target/default cargo run --release --quiet -- "${N:-4096}"
echo "== RUSTFLAGS=--cfg curve25519_dalek_backend=\"avx512\""
RUSTFLAGS='--cfg curve25519_dalek_backend="avx512"' CARGO_TARGET_DIR=target/avx512 \
  cargo run --release --quiet -- "${N:-4096}"
