#!/usr/bin/env bash
# run.sh - runs the fuzz targets (make fuzz) or replays saved inputs (make test).
#
#   fuzz/run.sh BINDIR TARGET...            libFuzzer: replay fuzz/regressions/<t>/,
#                                           then fuzz each target FUZZ_SECONDS (60)
#   fuzz/run.sh --replay BINDIR TARGET...   the gcc replay binaries: feed every file
#                                           of fuzz/regressions/<t>/ and fuzz/corpus/<t>/
#
# New inputs go to $BUILD/fuzz/work/<t>/ (the committed corpus is only read),
# crashes to $BUILD/fuzz/artifacts/<t>/. Every target runs even after a failure;
# the exit status is 1 when any crashed, and each crash prints its reproducer path
# and the command that replays it.
set -uo pipefail
cd "$(dirname "$0")/.."

replay=0
if [ "${1:-}" = "--replay" ]; then
    replay=1
    shift
fi
bindir=${1:?usage: fuzz/run.sh [--replay] BINDIR TARGET...}
shift
seconds=${FUZZ_SECONDS:-60}
build=${BUILD:-build}
failed=()

for t in "$@"; do
    bin=$bindir/$t
    if [ "$replay" = 1 ]; then
        "$bin" "fuzz/regressions/$t" "fuzz/corpus/$t" || failed+=("$t")
        continue
    fi

    regs=()
    [ -d "fuzz/regressions/$t" ] && mapfile -t regs < <(find "fuzz/regressions/$t" -type f | sort)
    if [ ${#regs[@]} -gt 0 ]; then
        if ! "$bin" "${regs[@]}" >"$build/fuzz/$t.replay.log" 2>&1; then
            tail -n 40 "$build/fuzz/$t.replay.log"
            echo "FUZZ FAIL $t: a saved regression input crashes again (log: $build/fuzz/$t.replay.log)"
            failed+=("$t")
            continue
        fi
        echo "fuzz $t: ${#regs[@]} regression inputs replayed, no crash"
    fi

    work=$build/fuzz/work/$t
    art=$build/fuzz/artifacts/$t
    log=$build/fuzz/$t.log
    mkdir -p "$work" "$art"
    opts=()
    [ -f "fuzz/dict/$t.dict" ] && opts+=("-dict=fuzz/dict/$t.dict")
    seeds=()
    [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$art/" "${opts[@]}" "$work" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    if [ $rc -ne 0 ]; then
        tail -n 60 "$log"
        repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "FUZZ FAIL $t (exit $rc; log: $log)"
        echo "  reproducer: ${repro:-none written}"
        [ -n "$repro" ] && echo "  replay:     $bin $repro"
        failed+=("$t")
    else
        echo "fuzz $t: ${execs:-?} runs, ${rate:-?} exec/s in ${seconds}s; last: $last"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}"
    exit 1
fi
exit 0
