#!/usr/bin/env bash
# Runs the libFuzzer targets in fuzz/ (issue 9): builds them with AddressSanitizer, writes the
# seed corpora from our own writers and the test fixtures, then fuzzes each target for SECONDS
# (default 600), JOBS at a time (default 2), and prints one line per target: executions, corpus
# size, crashes. A crash, hang or out-of-memory input is saved in fuzz/artifacts/<target>/;
# keep it as a regression test in crates/mobilenet/tests/fixtures/fuzz/<target>/.
#
#   tools/fuzz.sh [SECONDS] [JOBS] [TARGET ...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain (for -Zsanitizer);
# without nightly it runs on stable with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
jobs=${2:-2}
shift $(( $# > 2 ? 2 : $# )) || true
targets=("$@")
if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v mobilenet-fuzz)
fi

toolchain=+nightly
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=
    export RUSTC_BOOTSTRAP=1
fi

cargo run --release -q -p mobilenet --example fuzz_seeds -- fuzz/corpus
(cd fuzz && cargo $toolchain fuzz build -O)

mkdir -p fuzz/logs
run_one() {
    local t=$1
    mkdir -p "fuzz/artifacts/$t"
    # 2 GiB of memory and 10 s per input at most; inputs up to 4 MiB (the Keras seeds are 1 MiB).
    (cd fuzz && cargo $toolchain fuzz run -O "$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
        -max_len=4194304 -print_final_stats=1 -artifact_prefix="artifacts/$t/") \
        >"fuzz/logs/$t.log" 2>&1 || true
}
running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if ((running >= jobs)); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $secs s per target, $jobs at a time"
printf '%-12s %12s %8s %8s %s\n' target executions exec/s corpus crashes
for t in "${targets[@]}"; do
    log=fuzz/logs/$t.log
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
    crashes=$(find "fuzz/artifacts/$t" -type f | wc -l)
    printf '%-12s %12s %8s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$crashes"
done
