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

OUT=$(mktemp -d /tmp/resonate-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$OUT"
}
trap cleanup EXIT

die() { echo "bench: $*" >&2; exit 1; }

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
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        listening "$p" || { echo "$p"; return; }
    done
    die "no free port found"
}

# GET path on 127.0.0.1:port; prints the status code (000 when unreachable).
http_status() {
    local line
    { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || { echo 000; return; }
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
    IFS=' ' read -r _ line _ <&3 || line=000
    exec 3>&-
    echo "${line:-000}"
}

# POST a JSON body to / ; prints the response body.
http_post() {
    local body=$2
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
        "${#body}" "$body" >&3
    sed -e '1,/^\r$/d' <&3
    exec 3>&-
}

wait_ready() { # port what pid log [path]
    for _ in $(seq 1 200); do
        kill -0 "$3" 2>/dev/null || { tail -n 20 "$4" >&2; die "$2 exited during startup"; }
        if [ -n "${5:-}" ]; then
            [ "$(http_status "$1" "$5")" = 200 ] && return
        else
            listening "$1" && return
        fi
        sleep 0.05
    done
    tail -n 20 "$4" >&2
    die "$2 not ready"
}

stop() { # pid
    kill "$1" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

to_ms() { # "812.00us" | "1.20ms" | "1.01s" -> milliseconds
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else printf "?" }'
}

# Runs wrk against port; sets RPS, P50, P99, BAD (non-2xx + socket errors).
run_wrk() { # port label
    local log="$OUT/wrk-$2.txt"
    timeout $((DUR + 30)) wrk -t "$THREADS" -c "$CONNS" -d "${DUR}s" --latency \
        -s bench/create.lua "http://127.0.0.1:$1/" >"$log" 2>&1 || { cat "$log" >&2; die "wrk failed"; }
    RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$log")
    P50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$log")")
    P99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$log")")
    local non2xx sockerr
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$log")
    sockerr=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$log")
    BAD=$(( ${non2xx:-0} + ${sockerr:-0} ))
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
