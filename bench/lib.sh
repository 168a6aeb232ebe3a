# bench/lib.sh - helpers shared by the benchmark scripts (sourced, never run).
# Everything talks to 127.0.0.1 only. A script calls bench_tmp first: it
# makes $OUT and stops every process listed in PIDS on exit.

die() { echo "bench: $*" >&2; exit 1; }

bench_tmp() { # mktemp template
    OUT=$(mktemp -d "$1")
    PIDS=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$OUT"
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port nothing listens on, below the kernel's ephemeral range: the load
# tools' own client sockets take ports from that range, so a port picked
# there can be taken between this check and the server's bind (seen once:
# "Failed to bind to 127.0.0.1:47198" in the middle of make bench).
free_port() {
    local p low=32768 span
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    span=$((low - 10000))
    [ "$span" -ge 1000 ] || span=10000
    for _ in $(seq 1 50); do
        p=$((10000 + RANDOM % span))
        listening "$p" || { echo "$p"; return; }
    done
    die "no free port found"
}

# GET path on 127.0.0.1:port; prints the status code (000 when unreachable).
http_status() { # port path
    local line
    { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || { echo 000; return; }
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
    IFS=' ' read -r _ line _ <&3 || line=000
    exec 3>&-
    echo "${line:-000}"
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

# Reads a `wrk --latency` log; sets RPS, P50, P99 (ms) and BAD (non-2xx +
# socket errors).
wrk_parse() { # log
    RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$1")
    P50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$1")")
    P99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$1")")
    local non2xx sockerr
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$1")
    sockerr=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$1")
    BAD=$(( ${non2xx:-0} + ${sockerr:-0} ))
}
