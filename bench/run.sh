#!/usr/bin/env bash
# bench/run.sh - the first benchmark (`make bench`): durable promise.create
# throughput of `resonate serve` against a bare libmicrohttpd handler,
# measured in the same run on the same machine, plus latency at half load.
#
#   (a) bench/bare.c: same MHD threading as server/http.c, fixed answer
#   (b) resonate serve, SQLite file in /tmp (durable), unique ids
#   (c) resonate dev (:memory:), same load (skip with BENCH_DEV=0)
#   (d) open-loop latency: resonate serve at half of (b)'s rate
#       (bench/openloop.c; wrk has no rate limit and, being closed-loop,
#       under-reports queueing)
#
# Load: wrk, BENCH_THREADS threads x BENCH_CONNECTIONS connections for
# BENCH_DURATION seconds each (defaults 2 x 64, 10 s). Only 127.0.0.1. By
# hand only; never part of the tests. The binary is $RESONATE_BIN or
# ./resonate. Note that wrk runs on the same cores as the server.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
BIN=${RESONATE_BIN:-./resonate}
RUN_DEV=${BENCH_DEV:-1}
export BENCH_RUN=${BENCH_RUN:-$(date +%s)-$$}

. bench/lib.sh
bench_tmp /tmp/resonate-bench.XXXXXX

# ---- tools ------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    echo "installing wrk"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi
[ -x "$BIN" ] || die "no server binary at $BIN (run make first)"
CFLAGS=(-std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror)
# shellcheck disable=SC2046 # pkg-config output is a list of flags
cc "${CFLAGS[@]}" -o "$OUT/bare" bench/bare.c $(pkg-config --cflags --libs libmicrohttpd) -lpthread
cc "${CFLAGS[@]}" -o "$OUT/openloop" bench/openloop.c

# ---- helpers ----------------------------------------------------------------
# Runs wrk against port; sets RPS, P50, P99, BAD (non-2xx + socket errors).
run_wrk() { # port label
    local log="$OUT/wrk-$2.txt"
    timeout $((DUR + 30)) wrk -t "$THREADS" -c "$CONNS" -d "${DUR}s" --latency \
        -s bench/create.lua "http://127.0.0.1:$1/" >"$log" 2>&1 || { cat "$log" >&2; die "wrk failed"; }
    wrk_parse "$log"
    printf '  %-34s %8s req/s   p50 %7s ms   p99 %7s ms   errors %s\n' "$2" "$RPS" "$P50" "$P99" "$BAD"
}

CORES=$(nproc)
echo "== resonate-c benchmark: $CORES cores, wrk $THREADS threads x $CONNS connections, ${DUR}s per run"
echo "   server: $BIN ($("$BIN" --version 2>/dev/null || echo unknown version))"

# ---- (a) bare handler -------------------------------------------------------
PORT=$(free_port)
"$OUT/bare" "$PORT" 2>"$OUT/bare.log" &
BARE=$!; PIDS+=("$BARE")
wait_ready "$PORT" bare "$BARE" "$OUT/bare.log"
run_wrk "$PORT" "(a) bare libmicrohttpd"
A_RPS=$RPS; A_P50=$P50; A_P99=$P99
stop "$BARE"

# ---- (b) resonate serve, durable file DB ----------------------------------
PORT=$(free_port)
"$BIN" serve --server-port "$PORT" --server-bind 127.0.0.1 --observability-metrics-port 0 \
    --storage-sqlite-path "$OUT/bench.db" --level warn 2>"$OUT/serve.log" &
SERVE=$!; PIDS+=("$SERVE")
wait_ready "$PORT" "resonate serve" "$SERVE" "$OUT/serve.log" /health
run_wrk "$PORT" "(b) resonate serve (SQLite file)"
B_RPS=$RPS; B_P50=$P50; B_P99=$P99; B_BAD=$BAD
# The ids really are stored: the 10th request of wrk's thread 0 (wrk may
# call request() once before sending, so the 1st id is not certain).
got=$(http_post "$PORT" "{\"kind\":\"promise.get\",\"head\":{\"corrId\":\"b\",\"version\":\"2026-04-01\"},\"data\":{\"id\":\"wrk-$BENCH_RUN-0-10\"}}")
case "$got" in *'"status":200'*) ;; *) echo "  WARNING: promise wrk-$BENCH_RUN-0-10 not found after the run: $got" ;; esac

# ---- (d) latency at half of (b)'s rate (open loop) --------------------------
HALF=$((B_RPS / 2))
OL_LINE="skipped (no throughput measured)"
if [ "$HALF" -gt 0 ]; then
    OL_LINE=$(timeout $((DUR + 30)) "$OUT/openloop" -p "$PORT" -r "$HALF" -d "$DUR" -c "$CONNS" \
        -i "$BENCH_RUN" || true)
fi
D_P50=$(sed -nE 's/.* p50=([0-9.]+)ms.*/\1/p' <<<"$OL_LINE")
D_P99=$(sed -nE 's/.* p99=([0-9.]+)ms.*/\1/p' <<<"$OL_LINE")
D_ACH=$(sed -nE 's/.* achieved=([0-9]+)\/s.*/\1/p' <<<"$OL_LINE")
printf '  %-34s %8s req/s   p50 %7s ms   p99 %7s ms   (target rate %s/s)\n' \
    "(d) serve, open loop at half (b)" "${D_ACH:-?}" "${D_P50:-?}" "${D_P99:-?}" "$HALF"
stop "$SERVE"
grep -iE "error|sanitizer" "$OUT/serve.log" | head -5 || true

# ---- (c) resonate dev, in-memory --------------------------------------------
if [ "$RUN_DEV" = 1 ]; then
    PORT=$(free_port)
    "$BIN" dev --server-port "$PORT" --server-bind 127.0.0.1 --observability-metrics-port 0 \
        --level warn 2>"$OUT/dev.log" &
    DEV=$!; PIDS+=("$DEV")
    wait_ready "$PORT" "resonate dev" "$DEV" "$OUT/dev.log" /health
    run_wrk "$PORT" "(c) resonate dev (:memory:)"
    stop "$DEV"
fi

# ---- summary ----------------------------------------------------------------
RATIO=$(awk -v b="$B_RPS" -v a="$A_RPS" 'BEGIN { if (a > 0) printf "%.3f", b / a; else print "?" }')
echo
echo "== summary"
echo "   bare handler (a):             $A_RPS req/s (p50 $A_P50 ms, p99 $A_P99 ms)"
echo "   durable promise.create (b):   $B_RPS req/s (p50 $B_P50 ms, p99 $B_P99 ms, $B_BAD errors)"
echo "   ratio (b)/(a):                $RATIO   (issue target >= 0.6)"
echo "   p99 at half load (d):         ${D_P99:-?} ms at ${D_ACH:-?} req/s   (issue target <= 5 ms)"
echo "   open-loop detail: $OL_LINE"
