#!/usr/bin/env bash
# bench/fair.sh - one tenant flooding writes, another's promise.create
# latency: what the fair batches of the store thread (server/exec.c) buy.
#
# Starts `resonate serve` with auth on a fresh SQLite file in /tmp (every
# batch is an fsync) and two tenants, "orders:" (the attacker) and
# "billing:" (the victim), each with its own token:
#
#   (quiet) billing alone: promise.create at BENCH_VICTIM_RATE per second
#           (default 50) over 256 connections (enough that billing's own
#           requests never wait for a free one, up to 5 s each) for
#           BENCH_DURATION s (default 5), open loop (bench/openloop.c:
#           latency from the scheduled instant)
#   (flood) the same while orders sends promise.create as fast as it can
#           over BENCH_FLOOD_CONNECTIONS keep-alive connections (default
#           2000, wrk), each with BENCH_FLOOD_TAGS tags (default 0) and
#           BENCH_FLOOD_BYTES bytes of param data (default 0; 2000000
#           sends bodies near the 2 MiB limit, what one batch's bytes
#           bound), from 1 s before billing starts until it ends. The
#           per-IP connection limit is lifted, as for an attacker with many
#           addresses: more queued writes than one batch holds (512) is the
#           case fair batches are for.
#
# Prints billing's p50/p99/max of each phase and orders' rate. Run it once
# per binary to compare (RESONATE_BIN; default ./resonate), alternating on a
# shared machine. Only 127.0.0.1; by hand only, bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${BENCH_DURATION:-5}
RATE=${BENCH_VICTIM_RATE:-50}
FLOOD=${BENCH_FLOOD_CONNECTIONS:-2000}
TAGS=${BENCH_FLOOD_TAGS:-0}
BYTES=${BENCH_FLOOD_BYTES:-0}
BIN=${RESONATE_BIN:-./resonate}
export BENCH_RUN=${BENCH_RUN:-$(date +%s)-$$}

. bench/lib.sh
bench_tmp /tmp/resonate-fair.XXXXXX

command -v wrk >/dev/null || die "wrk is missing (bench/run.sh installs it)"
command -v openssl >/dev/null || die "openssl not found"
[ -x "$BIN" ] || die "no server binary at $BIN (run make first)"
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((FLOOD + 100)) ] || die "open-file limit $(ulimit -n) too low for $FLOOD connections"
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$OUT/openloop" bench/openloop.c

openssl genpkey -algorithm ed25519 -out "$OUT/private.pem" 2>/dev/null
openssl pkey -in "$OUT/private.pem" -pubout -out "$OUT/public.pem"
ORDERS=$("$BIN" token --private-key "$OUT/private.pem" --prefix orders: --exp 1h)
BILLING=$("$BIN" token --private-key "$OUT/private.pem" --prefix billing: --exp 1h)

PORT=$(free_port)
MPORT=$(free_port)
"$BIN" serve --server-port "$PORT" --server-bind 127.0.0.1 --observability-metrics-port "$MPORT" \
    --level warn --storage-sqlite-path "$OUT/fair.db" --auth-publickey "$OUT/public.pem" \
    --server-max-connections-per-ip 0 2>"$OUT/server.log" &
SRV=$!
PIDS+=("$SRV")
wait_ready "$PORT" "resonate serve" "$SRV" "$OUT/server.log" /health

# "batches jobs seconds" so far, from the store thread's histograms.
batches() {
    exec 3<>"/dev/tcp/127.0.0.1/$MPORT"
    printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    awk '$1 == "resonate_store_batch_jobs_count" { n = $2 } $1 == "resonate_store_batch_jobs_sum" { j = $2 }
         $1 == "resonate_store_batch_duration_seconds_sum" { t = $2 }
         END { printf "%d %d %f", n, j, t }' <&3
    exec 3>&-
}

# billing's open-loop run; prints "p50 p99 max answered ok".
victim() { # label
    local line
    line=$("$OUT/openloop" -p "$PORT" -r "$RATE" -d "$DUR" -c 256 -i "$1-$BENCH_RUN" \
        -a "$BILLING" -x billing: || true)
    echo "$line" >>"$OUT/victim.log"
    awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
           printf "%s %s %s %s %s", v["p50"] + 0, v["p99"] + 0, v["max"] + 0, v["answered"], v["ok"] }' <<<"$line"
}

echo "== fair batches: billing's promise.create at ${RATE}/s while orders floods over $FLOOD connections"
echo "   server: $BIN, ${DUR}s per phase"
printf '  %-8s %10s %10s %10s %9s %9s   %s\n' phase "p50 ms" "p99 ms" "max ms" answered ok "orders"

read -r V50 V99 VMAX N OK <<<"$(victim quiet)"
printf '  %-8s %10s %10s %10s %9s %9s   %s\n' quiet "$V50" "$V99" "$VMAX" "$N" "$OK" "-"

BENCH_AUTH=head BENCH_TOKEN=$ORDERS BENCH_OP=create BENCH_ID=orders:f BENCH_TAGS=$TAGS BENCH_DATA_BYTES=$BYTES \
    timeout $((DUR + 40)) wrk -t 2 -c "$FLOOD" -d "$((DUR + 3))s" --timeout 30s \
    -s bench/auth.lua "http://127.0.0.1:$PORT/" >"$OUT/wrk.txt" 2>&1 &
WRK=$!
PIDS+=("$WRK")
sleep 1
B0=$(batches)
read -r V50 V99 VMAX N OK <<<"$(victim flood)"
B1=$(batches)
wait "$WRK" || { cat "$OUT/wrk.txt" >&2; die "wrk failed"; }
wrk_parse "$OUT/wrk.txt"
printf '  %-8s %10s %10s %10s %9s %9s   %s\n' flood "$V50" "$V99" "$VMAX" "$N" "$OK" \
    "$RPS creates/s, $BAD errors"
awk -v a="$B0" -v b="$B1" 'BEGIN { split(a, x, " "); split(b, y, " "); n = y[1] - x[1]
    if (n > 0) printf "   store batches during billing'"'"'s run: %d, %.0f jobs and %.1f ms each on average\n",
        n, (y[2] - x[2]) / n, (y[3] - x[3]) * 1000 / n }'
