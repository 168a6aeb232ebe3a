#!/usr/bin/env bash
# bench/auth.sh - what JWT auth costs: promise.get throughput of `resonate
# dev` with EdDSA auth on versus off, measured in the same run on the same
# machine (issue 4 goal: on >= 0.9 x off).
#
#   (1) auth off                     no token
#   (2) auth on, head.auth           the same token every request: after the
#                                    first, answered by the verified-token cache
#   (3) auth on, Authorization       same, token in the header
#   (4) auth on, fresh tokens        a different token per request, cycling
#                                    through BENCH_FRESH (default 20000, more
#                                    than the 4096-entry cache) tokens: a full
#                                    Ed25519 verification per request
#                                    (needs node + tests/node/node_modules/jose
#                                    to mint them; skipped otherwise)
#   (5) auth off again               drift check; "off" = mean of (1) and (5)
#
# The token carries prefix "bench:" and the id is "bench:p", so the prefix
# check runs too. BENCH_OP=create measures promise.create of unique ids
# instead of promise.get. Load: wrk, BENCH_THREADS x BENCH_CONNECTIONS for
# BENCH_DURATION seconds per run (defaults 2 x 64, 8 s). Only 127.0.0.1; by
# hand only, never part of the tests. Binary: $RESONATE_BIN or ./resonate.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${BENCH_DURATION:-8}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
FRESH=${BENCH_FRESH:-20000}
BIN=${RESONATE_BIN:-./resonate}
export BENCH_OP=${BENCH_OP:-get}
export BENCH_RUN=${BENCH_RUN:-$(date +%s)-$$}
export BENCH_ID=bench:p
export BENCH_THREADS=$THREADS

OUT=$(mktemp -d /tmp/resonate-bench-auth.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$OUT"
}
trap cleanup EXIT

die() { echo "bench: $*" >&2; exit 1; }

command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v openssl >/dev/null || die "openssl not found"
[ -x "$BIN" ] || die "no server binary at $BIN (run make first)"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        listening "$p" || { echo "$p"; return; }
    done
    die "no free port found"
}

# POST a JSON body to / ; prints the response body.
http_post() { # port body
    local body=$2
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
        "${#body}" "$body" >&3
    sed -e '1,/^\r$/d' <&3
    exec 3>&-
}

http_status() { # port path
    local line
    { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || { echo 000; return; }
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
    IFS=' ' read -r _ line _ <&3 || line=000
    exec 3>&-
    echo "${line:-000}"
}

SERVER=
PORT=
start_server() { # label [auth flags...]
    local label=$1
    shift
    PORT=$(free_port)
    "$BIN" dev --server-port "$PORT" --server-bind 127.0.0.1 --observability-metrics-port 0 \
        --level warn "$@" 2>"$OUT/$label.log" &
    SERVER=$!
    PIDS+=("$SERVER")
    for _ in $(seq 1 200); do
        kill -0 "$SERVER" 2>/dev/null || { tail -n 20 "$OUT/$label.log" >&2; die "server exited during startup"; }
        [ "$(http_status "$PORT" /health)" = 200 ] && return
        sleep 0.05
    done
    die "server not ready"
}

stop_server() {
    kill "$SERVER" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
}

# The promise every promise.get reads; $1 = token or "".
seed() {
    local auth="" got
    [ -n "$1" ] && auth=",\"auth\":\"$1\""
    got=$(http_post "$PORT" "{\"kind\":\"promise.create\",\"head\":{\"corrId\":\"seed\",\"version\":\"2026-04-01\"$auth},\"data\":{\"id\":\"$BENCH_ID\",\"timeoutAt\":4102444800000,\"param\":{},\"tags\":{}}}")
    case "$got" in *'"status":200'*) ;; *) die "seeding $BENCH_ID failed: $got" ;; esac
}

# Runs wrk with BENCH_AUTH=$2; sets RPS and BAD (non-2xx + socket errors).
run_wrk() { # label mode
    local log="$OUT/wrk-$2-$1.txt"
    BENCH_AUTH=$2 timeout $((DUR + 30)) wrk -t "$THREADS" -c "$CONNS" -d "${DUR}s" --latency \
        -s bench/auth.lua "http://127.0.0.1:$PORT/" >"$log" 2>&1 || { cat "$log" >&2; die "wrk failed"; }
    RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$log")
    local non2xx sockerr p99
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$log")
    sockerr=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$log")
    p99=$(awk '$1 == "99%" {print $2}' "$log")
    BAD=$(( ${non2xx:-0} + ${sockerr:-0} ))
    printf '  %-40s %8s req/s   p99 %9s   errors %s\n' "$1" "$RPS" "$p99" "$BAD"
    [ "$BAD" -eq 0 ] || echo "  WARNING: $BAD failed requests: the figure above is not a valid measurement"
}

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

# ---- (1) off ---------------------------------------------------------------
start_server off1
seed ""
run_wrk "(1) auth off" none
OFF1=$RPS
stop_server

# ---- (2)-(4) on --------------------------------------------------------------
start_server on --auth-publickey "$OUT/public.pem"
seed "$BENCH_TOKEN"
run_wrk "(2) auth on, head.auth (cached)" head
ON_HEAD=$RPS
run_wrk "(3) auth on, Authorization (cached)" header
ON_HDR=$RPS
ON_FRESH=
if [ "$HAVE_FRESH" = 1 ]; then
    run_wrk "(4) auth on, fresh token per request" fresh
    ON_FRESH=$RPS
else
    echo "  (4) skipped: node and tests/node/node_modules/jose are needed to mint $FRESH tokens"
fi
stop_server

# ---- (5) off again -----------------------------------------------------------
start_server off2
seed ""
run_wrk "(5) auth off (again)" none
OFF2=$RPS
stop_server

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.3f", a / b; else print "?" }'; }
OFF=$(awk -v a="$OFF1" -v b="$OFF2" 'BEGIN { printf "%.0f", (a + b) / 2 }')
echo
echo "== summary (promise.$BENCH_OP req/s)"
echo "   auth off (mean of 1 and 5):       $OFF   (runs: $OFF1, $OFF2)"
echo "   on, head.auth, cached token:      $ON_HEAD   ratio $(ratio "$ON_HEAD" "$OFF")   (goal >= 0.9)"
echo "   on, Authorization, cached token:  $ON_HDR   ratio $(ratio "$ON_HDR" "$OFF")"
[ -n "$ON_FRESH" ] && echo "   on, fresh token per request:      $ON_FRESH   ratio $(ratio "$ON_FRESH" "$OFF")"
exit 0
