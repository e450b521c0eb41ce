#!/usr/bin/env bash
# Runs vipd's fuzz targets (fuzz/fuzz_targets/) one after the other, each
# for FUZZ_SECONDS, on stable Rust (RUSTC_BOOTSTRAP=1: cargo fuzz needs
# nightly-only flags), and prints each target's execution count. Exits
# non-zero when any target finds a crash (a panic, a failed round-trip
# assertion, a timeout or an out-of-memory); the input is then in
# fuzz/artifacts/TARGET/ and `cargo fuzz run TARGET FILE` replays it.
#
#   fuzz/run.sh                         # CI: 30 s per target (7 targets)
#   FUZZ_SECONDS=1800 fuzz/run.sh       # long run: 30 min per target
#   FUZZ_TARGETS="vrrp arp" fuzz/run.sh # some targets only
#   FUZZ_RUNS=10000000 fuzz/run.sh      # stop each after N executions
#
# Environment: FUZZ_SECONDS (default 30), FUZZ_RUNS (default: unbounded,
# the time decides), FUZZ_TARGETS (default: all), FUZZ_NICE (nice level of
# the fuzzer, default 19), FUZZ_SANITIZER (none | address; default none:
# the code under test is safe Rust, and without ASan a target runs 2-3x
# more inputs), FUZZ_JOBS (libFuzzer -fork=N workers, default 1),
# FUZZ_LOG_DIR (where each target's libFuzzer log goes; default
# fuzz/logs). The working corpora (fuzz/corpus/TARGET, not committed) grow
# from run to run; fuzz/seeds/ (committed, fuzz/make-seeds.sh) seeds them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

seconds=${FUZZ_SECONDS:-30}
runs=${FUZZ_RUNS:--1}
nice_level=${FUZZ_NICE:-19}
sanitizer=${FUZZ_SANITIZER:-none}
jobs=${FUZZ_JOBS:-1}
log_dir=${FUZZ_LOG_DIR:-$here/logs}
cargo_fuzz_version=0.13.2

if [ -d "$HOME/.cargo/bin" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
fi
# Installed once per machine (~/.cargo/bin survives between CI runs); about
# 45 s of build on 2 cores when missing.
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]; then
    echo "fuzz/run.sh: installing cargo-fuzz $cargo_fuzz_version"
    cargo install cargo-fuzz --locked --version "$cargo_fuzz_version"
fi

export RUSTC_BOOTSTRAP=1
all_targets=$(cargo fuzz list)
targets=${FUZZ_TARGETS:-$all_targets}
# -a: debug assertions, so an arithmetic overflow is a crash too.
nice -n "$nice_level" cargo fuzz build -s "$sanitizer" -a

mkdir -p "$log_dir"
failed=()
summary=()
for t in $targets; do
    if ! grep -qx "$t" <<<"$all_targets"; then
        echo "fuzz/run.sh: no target $t (have: $(tr "\n" " " <<<"$all_targets"))" >&2
        exit 2
    fi
    mkdir -p "corpus/$t"
    log=$log_dir/$t.log
    args=(-max_total_time="$seconds" -runs="$runs" -dict=vipd.dict -max_len=8192
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    if [ "$jobs" -gt 1 ]; then
        args+=(-fork="$jobs")
    fi
    echo "== $t: ${seconds}s"
    start=$(date +%s)
    rc=0
    nice -n "$nice_level" cargo fuzz run -s "$sanitizer" -a "$t" "corpus/$t" "seeds/$t" -- "${args[@]}" \
        >"$log" 2>&1 || rc=$?
    took=$(( $(date +%s) - start ))
    # libFuzzer's own count: "stat::number_of_executed_units" with
    # -print_final_stats (summed over workers under -fork).
    execs=$(awk '/stat::number_of_executed_units/ {n += $2} END {print n + 0}' "$log")
    if [ "$execs" = 0 ]; then
        execs=$(grep -oE '#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)
    fi
    corpus=$(find "corpus/$t" -type f | wc -l)
    if [ "$rc" = 0 ]; then
        result=ok
    else
        result="CRASH (rc $rc; $log, artifacts/$t/)"
        failed+=("$t")
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -n 8 || true
    fi
    rate=$(( ${execs:-0} / (took > 0 ? took : 1) ))
    line=$(printf '%-11s %7ss %13s execs %9s/s  corpus %6s  %s' "$t" "$took" "${execs:-?}" "$rate" "$corpus" "$result")
    echo "$line"
    summary+=("$line")
done

echo
echo "fuzz summary (sanitizer $sanitizer, ${seconds}s per target):"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz/run.sh: crash in: ${failed[*]}" >&2
    exit 1
fi
