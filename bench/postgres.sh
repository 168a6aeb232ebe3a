#!/usr/bin/env bash
# bench/postgres.sh - the PostgreSQL backend (issue 12), by hand only:
# promise.create/s and p99 of
#   (a) resonate serve on a SQLite file (the baseline of the ratios)
#   (b) one resonate serve on PostgreSQL
#   (c) three resonate serve on one PostgreSQL, wrk against each at once
#       (the sum of their rates; p99 the worst of the three)
# all in the same run, each with BENCH_CONNECTIONS connections in total
# (default 64) for BENCH_DURATION seconds (default 8); then the cross-server
# delivery latency (tests/multi/delivery.test.mjs prints it).
#
# PostgreSQL: RESONATE_TEST_PG_URL (emptied!), else a throwaway cluster from
# scripts/pg-cluster.sh (removed at the end). Only 127.0.0.1 and Unix
# sockets. wrk runs on the same cores as the servers and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${BENCH_DURATION:-8}
CONNS=${BENCH_CONNECTIONS:-64}
BIN=${RESONATE_BIN:-./resonate}
export BENCH_RUN=${BENCH_RUN:-$(date +%s)-$$}

. bench/lib.sh
bench_tmp /tmp/resonate-bench-pg.XXXXXX
command -v wrk >/dev/null || die "wrk is missing (./scripts/deps.sh --test)"
[ -x "$BIN" ] || die "no server binary at $BIN (run make first)"

PG_URL=${RESONATE_TEST_PG_URL:-}
PG_DIR=""
if [ -z "$PG_URL" ]; then
    PG_DIR=$(mktemp -d /tmp/resonate-pg.XXXXXX) # its own: the cluster runs as nobody when root
    if ! PG_URL=$(scripts/pg-cluster.sh start "$PG_DIR"); then
        rm -rf "$PG_DIR"
        echo "bench/postgres.sh: skipped, no PostgreSQL cluster could be started" \
            "(install postgresql with ./scripts/deps.sh --test, or set RESONATE_TEST_PG_URL)"
        exit 0
    fi
    trap 'scripts/pg-cluster.sh stop "$PG_DIR"; bench_cleanup' EXIT
fi

start() { # label args... (appends to SRVS, PORTS)
    local label=$1 port
    shift
    port=$(free_port)
    "$BIN" serve --server-port "$port" --server-bind 127.0.0.1 --observability-metrics-port 0 \
        "$@" >"$OUT/$label-$port.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait_ready "$port" "$label" "$pid" "$OUT/$label-$port.log" /ready
    SRVS+=("$pid")
    PORTS+=("$port")
}

stop_all() {
    for p in "${SRVS[@]}"; do stop "$p"; done
    SRVS=()
    PORTS=()
}

# wrk against every port in PORTS at once, CONNS connections split evenly;
# sets RPS (sum), P99 (worst), BAD (sum).
load() { # label
    local n=${#PORTS[@]} i logs=()
    local per=$(((CONNS + n - 1) / n))
    for i in "${!PORTS[@]}"; do
        logs+=("$OUT/wrk-$1-$i.txt")
        # its own BENCH_RUN: the ids of one wrk must not be another's
        BENCH_RUN="$BENCH_RUN-$1-$i" timeout $((DUR + 30)) wrk -t 1 -c "$per" -d "${DUR}s" --latency \
            -s bench/create.lua \
            "http://127.0.0.1:${PORTS[$i]}/" >"${logs[$i]}" 2>&1 &
    done
    wait_wrk=0
    for job in $(jobs -p); do
        case " ${PIDS[*]} " in *" $job "*) ;; *) wait "$job" || wait_wrk=1 ;; esac
    done
    [ $wait_wrk = 0 ] || die "wrk failed"
    local rps=0 p99=0 bad=0
    for l in "${logs[@]}"; do
        wrk_parse "$l"
        rps=$((rps + RPS))
        bad=$((bad + BAD))
        p99=$(awk -v a="$p99" -v b="$P99" 'BEGIN {print (b > a) ? b : a}')
    done
    RPS=$rps
    P99=$p99
    BAD=$bad
}

declare -A R
SRVS=()
PORTS=()
row() { # key label
    R[$1]="$RPS $P99 $BAD"
    printf '  %-34s %8s /s  p99 %8s ms  errors %s\n' "$2" "$RPS" "$P99" "$BAD"
}

echo "== promise.create, $CONNS connections, ${DUR} s each ($(nproc) cores)"
start sqlite --storage-sqlite-path "$OUT/bench.db"
load sqlite
row sqlite "(a) SQLite, one server"
stop_all

PG=(--storage-type postgres --storage-postgres-url "$PG_URL")
start pg1 "${PG[@]}"
load pg1
row pg1 "(b) PostgreSQL, one server"
stop_all

start pg3a "${PG[@]}"
start pg3b "${PG[@]}"
start pg3c "${PG[@]}"
load pg3
row pg3 "(c) PostgreSQL, three servers"
stop_all

read -r base _ _ <<<"${R[sqlite]}"
echo "== ratios to (a), same run"
for k in pg1 pg3; do
    read -r rps p99 _ <<<"${R[$k]}"
    awk -v k="$k" -v r="$rps" -v b="$base" -v p="$p99" \
        'BEGIN {printf "  %-4s %.2fx the SQLite rate, p99 %s ms\n", k, (b > 0 ? r / b : 0), p}'
done

echo "== cross-server delivery latency (SSE poller on A, create through B)"
RESONATE_TEST_PG_URL="$PG_URL" RESONATE_BIN="$BIN" node --import ./tests/node/polyfill.mjs --test \
    --test-name-pattern=promptly tests/multi/delivery.test.mjs 2>&1 | grep -E "cross-server|^# (pass|fail)" ||
    true
