#!/usr/bin/env bash
# bench/poll.sh - runs bench/poll.mjs (idle SSE pollers: memory per stream,
# settle-to-frame latency) with the open-file limit raised to the hard limit,
# which the server and the client each need for 10,000 sockets. Arguments are
# passed on (--conns N, --samples N, --rate R, --bin PATH). By hand only.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"
conns=10000
args=("$@")
for ((i = 0; i < ${#args[@]} - 1; i++)); do
    [ "${args[i]}" = --conns ] && conns=${args[i + 1]}
done
need=$((conns + 1100))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    echo "bench/poll.sh: open-file limit $(ulimit -n) is below $need; raise the hard limit" >&2
    exit 1
fi
exec node bench/poll.mjs "$@"
