#!/usr/bin/env bash
# bench/tls.sh - what HTTPS costs (issue 15): promise.create throughput of
# the same server over plain HTTP and over TLS, measured in the same run on
# the same machine, with wrk's keep-alive connections (one handshake per
# connection, then every request pays only the record encryption). Both
# `resonate dev` (in-memory: the TLS cost is the largest share there) and
# `resonate serve` (durable SQLite file: what production pays) are run.
#
# wrk's own TLS work runs on the same cores as the server, so the
# throughput ratio overstates the server's cost; the server's CPU time per
# request (utime + stime of the whole process, /proc/<pid>/stat) is printed
# beside it.
#
# The certificate is a P-256 key signed by a throwaway CA made with openssl
# in the temporary directory. Load: wrk, BENCH_THREADS threads (2),
# BENCH_TLS_CONNECTIONS connections (32), BENCH_DURATION seconds (8) per
# run. Only 127.0.0.1; by hand only (`make bench`), never part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${BENCH_DURATION:-8}
CONNS=${BENCH_TLS_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
BIN=${RESONATE_BIN:-./resonate}
export BENCH_RUN=${BENCH_RUN:-$(date +%s)-$$}

. bench/lib.sh
bench_tmp /tmp/resonate-bench-tls.XXXXXX
command -v wrk >/dev/null || die "wrk is not installed (bench/run.sh installs it)"
[ -x "$BIN" ] || die "no server binary at $BIN (run make first)"

(
    cd "$OUT"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
        -out ca.pem -days 1 -subj /CN=bench-ca
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
        -subj /CN=localhost
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext
    openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -out srv.pem \
        -extfile ext
    chmod 600 srv.key
) >/dev/null 2>&1 || die "openssl could not make the test certificate"

HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # mode scheme -> sets RPS P50 P99 BAD CPU (server us per request)
    local port extra=() log
    port=$(free_port)
    [ "$1" = serve ] && extra+=(--storage-sqlite-path "$OUT/bench-$port.db")
    [ "$2" = https ] && extra+=(--server-tls-cert "$OUT/srv.pem" --server-tls-key "$OUT/srv.key")
    "$BIN" "$1" --server-port "$port" --server-bind 127.0.0.1 --observability-metrics-port 0 \
        --level warn "${extra[@]}" 2>"$OUT/$1-$2.log" &
    local pid=$!
    PIDS+=("$pid")
    # /health over TLS cannot be read with bash's /dev/tcp: wait for the port.
    wait_ready "$port" "resonate $1 ($2)" "$pid" "$OUT/$1-$2.log"
    sleep 0.2
    log="$OUT/wrk-$1-$2.txt"
    local before after
    before=$(cpu_ticks "$pid")
    timeout $((DUR + 30)) wrk -t "$THREADS" -c "$CONNS" -d "${DUR}s" --latency -s bench/create.lua \
        "$2://127.0.0.1:$port/" >"$log" 2>&1 || { cat "$log" >&2; die "wrk failed"; }
    after=$(cpu_ticks "$pid")
    wrk_parse "$log"
    CPU=$(awk -v a="$after" -v b="$before" -v hz="$HZ" -v n="$(awk '/requests in/ {print $1}' "$log")" \
        'BEGIN { if (n > 0) printf "%.1f", (a - b) * 1e6 / hz / n; else print "?" }')
    stop "$pid"
}

echo "== TLS cost: promise.create, $(nproc) cores, wrk $THREADS threads, $CONNS keep-alive connections, ${DUR}s per run"
printf '  %-28s %8s %6s %8s %8s %6s %10s\n' run "req/s" ratio "p50 ms" "p99 ms" errors "CPU us/req"
declare -A LINE
for mode in dev serve; do
    run "$mode" http
    PLAIN=$RPS
    PLAIN_CPU=$CPU
    printf '  %-28s %8s %6s %8s %8s %6s %10s\n' "resonate $mode, http" "$RPS" "1.000" "$P50" "$P99" "$BAD" \
        "$CPU"
    run "$mode" https
    RATIO=$(awk -v r="$RPS" -v p="$PLAIN" 'BEGIN { if (p > 0) printf "%.3f", r / p; else print "?" }')
    printf '  %-28s %8s %6s %8s %8s %6s %10s\n' "resonate $mode, https" "$RPS" "$RATIO" "$P50" "$P99" \
        "$BAD" "$CPU"
    LINE[$mode]="https $RPS req/s vs http $PLAIN req/s = ${RATIO}x; server CPU $CPU vs $PLAIN_CPU us/request"
done
echo
echo "== summary (TLS 1.3, ECDHE P-256, AES-GCM; keep-alive)"
echo "   dev   promise.create: ${LINE[dev]}"
echo "   serve promise.create: ${LINE[serve]}"
