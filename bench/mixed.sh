#!/usr/bin/env bash
# bench/mixed.sh - writes while another client reads (`make bench`, after
# bench/run.sh): does a continuous promise.search slow promise.create down?
#
#   (fill)  resonate serve on a fresh SQLite file in /tmp, promise.create
#           (bench/create.lua) for BENCH_DURATION s: rows for the searches
#   (alone) promise.create at BENCH_MIXED_CONNECTIONS connections (32)
#   (mixed) the same, while one more connection runs promise.search by a
#           tag that matches nothing, alternating with promise.get
#           (bench/search.lua), from 1 s before until the create load ends
#
# Prints the create rate and p99 of (alone) and (mixed), their ratio, and
# the reading client's rate and latency. Issue 11's targets: in (mixed),
# p99 <= 10 ms and rate >= 0.9 x (alone). Only 127.0.0.1; bounded in time.
# The binary is $RESONATE_BIN or ./resonate; wrk runs on the same cores.
# BENCH_MIXED_DB runs on that database file instead of a fresh one, with a
# 3 s (warm-up) run instead of (fill): bench/search.sh passes its file of
# 1,000,000 promises.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${BENCH_DURATION:-10}
CONNS=${BENCH_MIXED_CONNECTIONS:-32}
BIN=${RESONATE_BIN:-./resonate}
export BENCH_RUN=${BENCH_RUN:-$(date +%s)-$$}

. bench/lib.sh
bench_tmp /tmp/resonate-mixed.XXXXXX

command -v wrk >/dev/null || die "wrk is missing (bench/run.sh installs it)"
[ -x "$BIN" ] || die "no server binary at $BIN (run make first)"

creates() { # label seconds
    local log="$OUT/wrk-$1.txt"
    timeout $(($2 + 30)) wrk -t 2 -c "$CONNS" -d "${2}s" --latency -s bench/create.lua \
        "http://127.0.0.1:$PORT/" >"$log" 2>&1 || { cat "$log" >&2; die "wrk failed"; }
    wrk_parse "$log"
    printf '  %-40s %8s req/s   p50 %8s ms   p99 %8s ms   errors %s\n' "$1" "$RPS" "$P50" "$P99" "$BAD"
}

PORT=$(free_port)
"$BIN" serve --server-port "$PORT" --server-bind 127.0.0.1 --observability-metrics-port 0 \
    --storage-sqlite-path "${BENCH_MIXED_DB:-$OUT/mixed.db}" --level warn 2>"$OUT/serve.log" &
SERVE=$!; PIDS+=("$SERVE")
wait_ready "$PORT" "resonate serve" "$SERVE" "$OUT/serve.log" /health

echo "== mixed load: promise.create at $CONNS connections, ${DUR}s per run, with and without a searching client"
echo "   server: $BIN"
if [ -n "${BENCH_MIXED_DB:-}" ]; then
    echo "   database: $BENCH_MIXED_DB ($(du -m "$BENCH_MIXED_DB" | cut -f1) MB)"
    # The first writes into a large file find its pages cold; (alone) must
    # not pay for that and make (mixed) look better than it is.
    creates "(warm-up) create" 3
else
    creates "(fill) create, rows for the searches" "$DUR"
fi
creates "(alone) create" "$DUR"
A_RPS=$RPS; A_P99=$P99
timeout $((DUR + 32)) wrk -t 1 -c 1 -d "$((DUR + 2))s" --latency -s bench/search.lua \
    "http://127.0.0.1:$PORT/" >"$OUT/wrk-search.txt" 2>&1 &
SEARCH=$!; PIDS+=("$SEARCH")
sleep 1
creates "(mixed) create while searching" "$DUR"
M_RPS=$RPS; M_P99=$P99
wait "$SEARCH" || { cat "$OUT/wrk-search.txt" >&2; die "search wrk failed"; }
wrk_parse "$OUT/wrk-search.txt"
printf '  %-40s %8s req/s   p50 %8s ms   p99 %8s ms   errors %s\n' \
    "(mixed) the searching client" "$RPS" "$P50" "$P99" "$BAD"
stop "$SERVE"
grep -iE "error|sanitizer" "$OUT/serve.log" | head -5 || true

RATIO=$(awk -v m="$M_RPS" -v a="$A_RPS" 'BEGIN { if (a > 0) printf "%.3f", m / a; else print "?" }')
echo
echo "== mixed summary"
echo "   create alone:            $A_RPS req/s, p99 $A_P99 ms"
echo "   create while searching:  $M_RPS req/s, p99 $M_P99 ms"
echo "   ratio mixed/alone:       $RATIO   (issue 11 targets: ratio >= 0.9, p99 <= 10 ms)"
