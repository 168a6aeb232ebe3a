#!/usr/bin/env bash
# bench/search.sh - promise.search latency and restart-to-ready time with
# BENCH_PROMISES (default 1,000,000) stored promises (`make bench` runs it
# after bench/mixed.sh; see bench/README.md).
#
#   1. `resonate serve` creates an empty database file (its own schema).
#   2. The sqlite3 shell fills it in one transaction: promise ids
#      p0000000.., all pending, tags {"g": "<i mod 10000>", "k": "v"} (so
#      g=42 matches 100 promises, k=v all of them); when the schema has
#      the promise_tags table (version 3 on), its rows too. The rows are
#      what promise.create would store, written directly for speed.
#   3. Restart-to-ready: time from starting `resonate serve` on the filled
#      file until GET /ready answers 200 (BENCH_RESTARTS runs, default 3;
#      the first start after filling is excluded, as it may migrate).
#   4. bench/search.mjs: BENCH_CALLS (default 200) sequential searches per
#      kind on one connection; p50/p99/max in ms and the server's CPU time
#      per call. Node's own overhead and pauses are in these latencies, so
#   5. bench/openloop.c measures them again: BENCH_SEARCH_RATE (default 100)
#      searches a second per kind for BENCH_SEARCH_SECONDS (default 5) on 4
#      connections, open loop (from each request's scheduled instant).
#   6. bench/mixed.sh on the same file: promise.create at 32 connections
#      alone, then while another client searches continuously.
#
# Only 127.0.0.1. By hand only; never part of the tests. The binary is
# $RESONATE_BIN or ./resonate; BENCH_DB keeps the filled file at that path
# (reused when it exists) instead of a temporary one.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${BENCH_PROMISES:-1000000}
CALLS=${BENCH_CALLS:-200}
RESTARTS=${BENCH_RESTARTS:-3}
BIN=${RESONATE_BIN:-./resonate}

. bench/lib.sh
bench_tmp /tmp/resonate-search.XXXXXX
DB=${BENCH_DB:-$OUT/search.db}

command -v sqlite3 >/dev/null || die "needs the sqlite3 shell (apt-get install sqlite3)"
command -v node >/dev/null || die "needs node"
[ -x "$BIN" ] || die "no server binary at $BIN (run make first)"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Starts the server on $DB; sets PID, PORT and READY_MS (ms until /ready
# answered 200).
start() {
    PORT=$(free_port)
    local t0
    t0=$(now_ms)
    "$BIN" serve --server-port "$PORT" --server-bind 127.0.0.1 --observability-metrics-port 0 \
        --storage-sqlite-path "$DB" --level warn >>"$OUT/serve.log" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    local deadline=$((t0 + 600000))
    while [ "$(http_status "$PORT" /ready)" != 200 ]; do
        kill -0 "$PID" 2>/dev/null || { tail -n 20 "$OUT/serve.log" >&2; die "server exited"; }
        [ "$(now_ms)" -lt "$deadline" ] || die "server not ready after 600 s"
        sleep 0.005
    done
    READY_MS=$(($(now_ms) - t0))
}

echo "== promise.search with $N promises ($("$BIN" --version 2>/dev/null || echo "$BIN"))"
if [ ! -s "$DB" ]; then
    start
    stop "$PID"
    t0=$(now_ms)
    tags_table=$(sqlite3 "$DB" "SELECT count(*) FROM sqlite_master WHERE name = 'promise_tags'")
    {
        echo "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; BEGIN;"
        echo "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < $N - 1)"
        echo "INSERT INTO promises (id, state, tags, timeout_at, created_at)"
        echo "  SELECT printf('p%07d', i), 'pending', json_object('g', CAST(i % 10000 AS TEXT), 'k', 'v'),"
        echo "         4102444800000, 1700000000000 + i FROM c;"
        if [ "$tags_table" = 1 ]; then
            echo "INSERT INTO promise_tags (key, value, id)"
            echo "  SELECT g.key, g.value, p.id FROM promises p, json_each(p.tags) g ORDER BY 1, 2, 3;"
        fi
        echo "COMMIT; PRAGMA wal_checkpoint(TRUNCATE);"
    } | sqlite3 "$DB" >/dev/null
    echo "   filled in $(($(now_ms) - t0)) ms ($(du -m "$DB" | cut -f1) MB)"
fi
start
echo "   first start (may migrate): $READY_MS ms to ready"
stop "$PID"
for i in $(seq 1 "$RESTARTS"); do
    start
    echo "   restart $i: $READY_MS ms to ready"
    [ "$i" = "$RESTARTS" ] || stop "$PID"
done
node bench/search.mjs "$PORT" "$CALLS" "$PID"

RATE=${BENCH_SEARCH_RATE:-100}
SECS=${BENCH_SEARCH_SECONDS:-5}
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$OUT/openloop" bench/openloop.c
echo "   open loop (bench/openloop.c), $RATE searches/s for $SECS s on 4 connections:"
while IFS='|' read -r name data; do
    line=$(timeout $((SECS + 30)) "$OUT/openloop" -p "$PORT" -r "$RATE" -d "$SECS" -c 4 \
        -k promise.search -j "$data" || true)
    p50=$(sed -nE 's/.* p50=([0-9.]+)ms.*/\1/p' <<<"$line")
    p99=$(sed -nE 's/.* p99=([0-9.]+)ms.*/\1/p' <<<"$line")
    mx=$(sed -nE 's/.* max=([0-9.]+)ms.*/\1/p' <<<"$line")
    okn=$(sed -nE 's/.* ok=([0-9]+).*/\1/p' <<<"$line")
    sent=$(sed -nE 's/.* sent=([0-9]+).*/\1/p' <<<"$line")
    printf '  %-32s p50 %8s ms  p99 %8s ms  max %8s ms  (%s of %s ok)\n' "$name" "${p50:-?}" \
        "${p99:-?}" "${mx:-?}" "${okn:-?}" "${sent:-?}"
done <<'KINDS'
selective tag g=42|{"tags":{"g":"42"}}
non-matching tag|{"tags":{"k":"none"}}
state resolved (none)|{"state":"resolved"}
state pending (all), limit 100|{"state":"pending"}
state pending + tag g=42|{"state":"pending","tags":{"g":"42"}}
KINDS
stop "$PID"
grep -iE "error|sanitizer" "$OUT/serve.log" | head -5 || true
echo
BENCH_MIXED_DB="$DB" RESONATE_BIN="$BIN" bash bench/mixed.sh
