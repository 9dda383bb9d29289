#!/usr/bin/env bash
# The kernel and parser tests under AddressSanitizer (issue 9): out-of-bounds reads and writes,
# use after free, in our unsafe SIMD kernels and in every parser's test inputs (the hostile
# files, the fuzzers' saved crashes, the real fixtures). Not part of every CI run: it needs a
# nightly toolchain (or RUSTC_BOOTSTRAP=1 on stable) and builds everything again, instrumented.
#
#   tools/sanitize.sh [extra cargo test arguments]
#
# Profile `checked`: opt-level 3 with debug assertions and overflow checks, as CI's tests.
# `--target` keeps build scripts and proc macros uninstrumented; the standard library is not
# instrumented either (hence the ABI-mismatch allowance), as cargo-fuzz builds the fuzzers.
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=+nightly
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=
    export RUSTC_BOOTSTRAP=1
fi
host=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Zsanitizer=address -Cunsafe-allow-abi-mismatch=sanitizer"
export RUSTDOCFLAGS=$RUSTFLAGS
# Rust's test harness leaks its thread handles on purpose; leaks are not what this looks for.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
cargo $toolchain test --profile checked --target "$host" --target-dir target/asan \
    -p mobilenet-kernels -p mobilenet --lib --tests "$@"
