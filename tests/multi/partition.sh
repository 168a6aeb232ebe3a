#!/usr/bin/env bash
# partition.sh - a host that dies without closing its PostgreSQL connections
# (issue 12): run by partition.test.mjs inside `unshare -mn` (a private
# network and mount namespace; needs root, ip and PostgreSQL's binaries).
#
#   partition.sh leader    the leader runs in netns B behind a veth; its
#                          host "dies" (SIGSTOP, link down); prints how many
#                          seconds until another server times out a promise
#   partition.sh database  a server in netns B loses its route to the
#                          database; prints the status of a write and how
#                          many seconds it took
#
# BIN is the resonate binary; WAIT bounds each wait (seconds).
set -euo pipefail
mode=${1:?usage: partition.sh leader|database}
BIN=${BIN:?BIN names the resonate binary}
WAIT=${WAIT:-30}
PGB=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
D=$(mktemp -d /tmp/resonate-part.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    runuser -u nobody -- "$PGB/pg_ctl" -D "$D/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$D"
}
trap cleanup EXIT

ip link set lo up
mount -t tmpfs none /var/run && mkdir -p /var/run/netns
ip netns add B
ip link add va type veth peer name vb
ip link set vb netns B
ip addr add 10.9.0.1/24 dev va && ip link set va up
ip netns exec B ip addr add 10.9.0.2/24 dev vb
ip netns exec B ip link set vb up && ip netns exec B ip link set lo up

mkdir -p "$D/sock" && chown -R nobody: "$D"
runuser -u nobody -- "$PGB/initdb" -D "$D/data" -U postgres -A trust >/dev/null
echo "host all all 10.9.0.0/24 trust" >>"$D/data/pg_hba.conf"
runuser -u nobody -- "$PGB/pg_ctl" -D "$D/data" -l "$D/pg.log" -w \
    -o "-c listen_addresses='127.0.0.1,10.9.0.1' -p 5439 -c unix_socket_directories='$D/sock'" \
    start >/dev/null
runuser -u nobody -- "$PGB/createdb" -h 127.0.0.1 -p 5439 -U postgres resonate

serve() { # netns-prefix port host log
    $1 "$BIN" serve --server-port "$2" --server-bind 127.0.0.1 --observability-metrics-port 0 \
        --storage-type postgres --storage-postgres-url "postgresql://postgres@$3:5439/resonate" \
        --timeouts-poll-interval 200 2>"$4" &
    pids+=($!)
}
rpc() { # netns-prefix port json
    $1 curl -s -m "$WAIT" -X POST "localhost:$2/" -H 'content-type: application/json' -d "$3" ||
        true
}
create() { # id timeoutAt
    echo "{\"kind\":\"promise.create\",\"head\":{\"corrId\":\"c\",\"version\":\"2026-04-01\"},\"data\":{\"id\":\"$1\",\"timeoutAt\":$2,\"param\":{},\"tags\":{}}}"
}
healthy() { # netns-prefix port
    for _ in $(seq 1 50); do
        $1 curl -sf "localhost:$2/health" >/dev/null && return 0
        sleep 0.1
    done
    return 1
}

B="ip netns exec B"
if [ "$mode" = leader ]; then
    serve "$B" 18101 10.9.0.1 "$D/b.log" && healthy "$B" 18101
    sleep 0.5 # B ticks first: the leader
    serve "" 18102 127.0.0.1 "$D/a.log" && healthy "" 18102
    sleep 0.5
    grep -q "runs on this server now" "$D/b.log" || { echo "setup: B is not the leader"; exit 1; }
    kill -STOP "${pids[0]}"
    ip netns exec B ip link set vb down
    t0=$(date +%s)
    rpc "" 18102 "$(create p1 $(($(date +%s%3N) + 300)))" >/dev/null
    for _ in $(seq 1 "$WAIT"); do
        sleep 1
        st=$(runuser -u nobody -- "$PGB/psql" -h 127.0.0.1 -p 5439 -U postgres -d resonate -qtA \
            -c "SELECT state FROM promises WHERE id = 'p1'")
        [ "$st" != pending ] && break
    done
    echo "state=$st seconds=$(($(date +%s) - t0))"
else
    serve "" 18102 127.0.0.1 "$D/a.log" && healthy "" 18102
    sleep 0.5
    serve "$B" 18101 10.9.0.1 "$D/b.log" && healthy "$B" 18101
    rpc "$B" 18101 "$(create warm 4102444800000)" >/dev/null
    ip link set va down
    t0=$(date +%s)
    out=$(rpc "$B" 18101 "$(create q1 4102444800000)")
    status=$(echo "$out" | sed -n 's/.*"status":\([0-9]*\).*/\1/p')
    echo "status=${status:-none} seconds=$(($(date +%s) - t0))"
    echo "$out" | head -c 400
fi
