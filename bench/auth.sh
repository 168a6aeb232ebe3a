#!/usr/bin/env bash
# bench/auth.sh - what JWT auth costs: promise.get throughput of `resonate
# dev` with EdDSA auth on versus off, measured in the same run on the same
# machine (issue 4 goal: on >= 0.9 x off).
#
# Two servers run side by side, one without auth and one with an Ed25519
# key; wrk loads one at a time, alternating off / on for BENCH_ROUNDS
# rounds (default 3) so that drift in the machine's load hits both alike.
# "on" sends the same token in head.auth every request (after the first,
# answered by the verified-token cache). Then, on the auth server:
#   - the same token in "Authorization: Bearer";
#   - a fresh token per request, cycling through BENCH_FRESH (default 20000,
#     more than the 4096-entry cache) tokens: a full Ed25519 verification
#     per request (minted with node + tests/node/node_modules/jose; skipped
#     when those are missing).
# Besides req/s (sensitive to anything else running on the machine), each
# run reports the server's CPU time per request from /proc (much less so).
#
# The token carries prefix "bench:" and the id is "bench:p", so the prefix
# check runs too. BENCH_OP=create measures promise.create of unique ids
# instead of promise.get. Load: wrk, BENCH_THREADS x BENCH_CONNECTIONS for
# BENCH_DURATION seconds per run (defaults 2 x 64, 5 s; about 45 s in all).
# Only 127.0.0.1; by hand only, never part of the tests. Binary:
# $RESONATE_BIN or ./resonate.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${BENCH_DURATION:-5}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
FRESH=${BENCH_FRESH:-20000}
ROUNDS=${BENCH_ROUNDS:-3}
BIN=${RESONATE_BIN:-./resonate}
export BENCH_OP=${BENCH_OP:-get}
export BENCH_RUN=${BENCH_RUN:-$(date +%s)-$$}
export BENCH_ID=bench:p
export BENCH_THREADS=$THREADS

. bench/lib.sh
bench_tmp /tmp/resonate-bench-auth.XXXXXX

command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v openssl >/dev/null || die "openssl not found"
[ -x "$BIN" ] || die "no server binary at $BIN (run make first)"

# Starts `resonate dev` on port (extra flags after the label); sets SPID.
SPID=
start_server() { # port label [flags...]
    local port=$1 label=$2
    shift 2
    "$BIN" dev --server-port "$port" --server-bind 127.0.0.1 --observability-metrics-port 0 \
        --level warn "$@" >"$OUT/$label.out" 2>"$OUT/$label.log" &
    SPID=$!
    PIDS+=("$SPID")
    for _ in $(seq 1 200); do
        kill -0 "$SPID" 2>/dev/null || { tail -n 20 "$OUT/$label.log" >&2; die "server exited during startup"; }
        [ "$(http_status "$port" /health)" = 200 ] && return
        sleep 0.05
    done
    die "server not ready"
}

# CPU time (user + system) of a process so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# The promise every promise.get reads; $2 = token or "".
seed() { # port token
    local auth="" got
    [ -n "$2" ] && auth=",\"auth\":\"$2\""
    got=$(http_post "$1" "{\"kind\":\"promise.create\",\"head\":{\"corrId\":\"seed\",\"version\":\"2026-04-01\"$auth},\"data\":{\"id\":\"$BENCH_ID\",\"timeoutAt\":4102444800000,\"param\":{},\"tags\":{}}}")
    case "$got" in *'"status":200'*) ;; *) die "seeding $BENCH_ID failed: $got" ;; esac
}

# Runs wrk with BENCH_AUTH=mode against port; sets RPS, CPU (server CPU
# microseconds per request, immune to other load on the machine) and BAD
# (non-2xx + socket errors).
run_wrk() { # port pid label mode
    local log="$OUT/wrk-$4-$RANDOM.txt" c0 c1 n non2xx sockerr p99
    c0=$(cpu_ticks "$2")
    BENCH_AUTH=$4 timeout $((DUR + 30)) wrk -t "$THREADS" -c "$CONNS" -d "${DUR}s" --latency \
        -s bench/auth.lua "http://127.0.0.1:$1/" >"$log" 2>&1 || { cat "$log" >&2; die "wrk failed"; }
    c1=$(cpu_ticks "$2")
    RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$log")
    n=$(awk '/requests in/ {print $1}' "$log")
    CPU=$(awk -v d=$((c1 - c0)) -v n="$n" -v t="$TICK" 'BEGIN { if (n > 0) printf "%.1f", d * 1e6 / t / n; else print "?" }')
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$log")
    sockerr=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$log")
    p99=$(awk '$1 == "99%" {print $2}' "$log")
    BAD=$(( ${non2xx:-0} + ${sockerr:-0} ))
    printf '  %-40s %8s req/s   %6s us CPU/req   p99 %9s   errors %s\n' "$3" "$RPS" "$CPU" "$p99" "$BAD"
    [ "$BAD" -eq 0 ] || echo "  WARNING: $BAD failed requests: the figures above are not a valid measurement"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR] = $1} END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.3f", a / b; else print "?" }'; }

# ---- keys and tokens -----------------------------------------------------------
openssl genpkey -algorithm ed25519 -out "$OUT/private.pem" 2>/dev/null
openssl pkey -in "$OUT/private.pem" -pubout -out "$OUT/public.pem"
BENCH_TOKEN=$("$BIN" token --private-key "$OUT/private.pem" --prefix bench: --exp 1h)
export BENCH_TOKEN
export BENCH_TOKENS="$OUT/tokens.txt"
HAVE_FRESH=0
if command -v node >/dev/null && [ -d tests/node/node_modules/jose ]; then
    node --input-type=module -e '
        import { createRequire } from "node:module";
        import { readFileSync, writeFileSync } from "node:fs";
        const require = createRequire(process.cwd() + "/tests/node/package.json");
        const jose = require("jose");
        const [keyFile, out, count] = process.argv.slice(1);
        const key = await jose.importPKCS8(readFileSync(keyFile, "utf8"), "EdDSA");
        const exp = Math.floor(Date.now() / 1000) + 3600;
        const lines = [];
        for (let i = 0; i < Number(count); i++) {
            lines.push(await new jose.SignJWT({ prefix: "bench:", exp, jti: String(i) })
                .setProtectedHeader({ alg: "EdDSA" }).sign(key));
        }
        writeFileSync(out, lines.join("\n") + "\n");
    ' "$OUT/private.pem" "$BENCH_TOKENS" "$FRESH" && HAVE_FRESH=1
fi

echo "== resonate-c auth benchmark: $(nproc) cores, wrk $THREADS threads x $CONNS connections, ${DUR}s per run, promise.$BENCH_OP"
echo "   server: $BIN ($("$BIN" --version 2>/dev/null || echo unknown version)), resonate dev, EdDSA key"
echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews req/s, not CPU/req)"

# Both servers run for the whole benchmark (an idle one costs nothing); runs
# alternate off/on so that drift in the machine's load hits both alike.
P_OFF=$(free_port)
start_server "$P_OFF" off
S_OFF=$SPID
P_ON=$(free_port)
start_server "$P_ON" on --auth-publickey "$OUT/public.pem"
S_ON=$SPID
seed "$P_OFF" ""
seed "$P_ON" "$BENCH_TOKEN"

OFF_R="" ON_R="" OFF_C="" ON_C=""
for r in $(seq 1 "$ROUNDS"); do
    run_wrk "$P_OFF" "$S_OFF" "round $r: auth off" none
    OFF_R="$OFF_R $RPS"; OFF_C="$OFF_C $CPU"
    run_wrk "$P_ON" "$S_ON" "round $r: auth on, head.auth (cached)" head
    ON_R="$ON_R $RPS"; ON_C="$ON_C $CPU"
done
run_wrk "$P_ON" "$S_ON" "auth on, Authorization (cached)" header
HDR_R=$RPS HDR_C=$CPU
FRESH_R="" FRESH_C=""
if [ "$HAVE_FRESH" = 1 ]; then
    run_wrk "$P_ON" "$S_ON" "auth on, fresh token per request" fresh
    FRESH_R=$RPS FRESH_C=$CPU
else
    echo "  fresh tokens skipped: node and tests/node/node_modules/jose are needed to mint them"
fi
grep -iE "error|sanitizer" "$OUT/on.log" "$OUT/off.log" | head -5 || true

OFF=$(median <<<"$OFF_R") ON=$(median <<<"$ON_R")
OFFC=$(median <<<"$OFF_C") ONC=$(median <<<"$ON_C")
echo
echo "== summary (promise.$BENCH_OP; medians of $ROUNDS alternating rounds)"
printf '   %-34s %8s req/s  %6s us CPU/req\n' "auth off" "$OFF" "$OFFC"
printf '   %-34s %8s req/s  %6s us CPU/req   throughput ratio %s (goal >= 0.9), CPU ratio off/on %s\n' \
    "auth on, head.auth, cached token" "$ON" "$ONC" "$(ratio "$ON" "$OFF")" "$(ratio "$OFFC" "$ONC")"
printf '   %-34s %8s req/s  %6s us CPU/req   throughput ratio %s, CPU ratio off/on %s\n' \
    "auth on, Authorization, cached" "$HDR_R" "$HDR_C" "$(ratio "$HDR_R" "$OFF")" "$(ratio "$OFFC" "$HDR_C")"
[ -n "$FRESH_R" ] && printf '   %-34s %8s req/s  %6s us CPU/req   throughput ratio %s, CPU ratio off/on %s\n' \
    "auth on, fresh token per request" "$FRESH_R" "$FRESH_C" "$(ratio "$FRESH_R" "$OFF")" "$(ratio "$OFFC" "$FRESH_C")"
exit 0
