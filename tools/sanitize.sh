#!/usr/bin/env bash
# The kernel and parser tests under AddressSanitizer (issue 9): out-of-bounds reads and writes,
# use after free, in our unsafe SIMD kernels and in every parser's test inputs (the hostile
# files, the fuzzers' saved crashes, the real fixtures). Not part of every CI run: it needs a
# nightly toolchain (or RUSTC_BOOTSTRAP=1 on stable) and builds everything again, instrumented.
#
#   tools/sanitize.sh [cargo test options]   kernels and parsers
#   ALL=1 tools/sanitize.sh    every test of both crates
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
# One build of both crates (building them apart would compile the kernels twice, with other
# features). Default: the kernels' tests (every optimized kernel against its reference twin, on
# every ISA the host runs) and every parser's tests (the hostile inputs, the fuzzers' saved
# inputs, the real fixtures of each format, the data sets). `ALL=1`: every test of both crates
# (slow under ASan: many run the α 1/224 model again and again).
tests=(--tests)
if [[ ${ALL:-0} != 1 ]]; then
    tests=()
    for t in crates/kernels/tests/*.rs; do tests+=(--test "$(basename "$t" .rs)"); done
    for t in hostile fuzz_regressions import torch keras onnx tflite_export io_roundtrip data; do
        tests+=(--test "$t")
    done
fi
cargo $toolchain test --profile checked --target "$host" --target-dir target/asan \
    -p mobilenet-kernels -p mobilenet --lib "${tests[@]}" "$@"
