#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests (issue 12): initdb into a
# temporary directory as an unprivileged user, listening on a Unix socket in
# that directory only (no TCP port), with a database named resonate.
#
#   scripts/pg-cluster.sh start [DIR]   prints the URL on stdout (last line)
#   scripts/pg-cluster.sh stop DIR      stops it and removes DIR
#   scripts/pg-cluster.sh restart DIR   stops and starts it again (same data)
#   scripts/pg-cluster.sh halt DIR      stops it, keeping DIR (start DIR again)
#   scripts/pg-cluster.sh url DIR       prints the URL of a cluster in DIR
#
# Needs Debian's postgresql package (initdb, pg_ctl under
# /usr/lib/postgresql/N/bin, or on PATH). As root the cluster runs as the user
# `nobody` (PostgreSQL refuses to run as root); otherwise as the caller.
set -euo pipefail

bindir() {
    local d
    # Debian keeps the server binaries off PATH; a symlink on PATH is
    # followed to the real directory (psql, createdb live there too).
    if command -v initdb >/dev/null 2>&1; then
        d=$(dirname "$(readlink -f "$(command -v initdb)")")
        [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ] && { echo "$d"; return; }
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    echo "pg-cluster: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
    exit 1
}

as_owner() { # runs "$@" as the cluster's owner
    if [ "$(id -u)" = 0 ]; then
        runuser -u nobody -- "$@"
    else
        "$@"
    fi
}


start() {
    local dir=${1:-} bin
    bin=$(bindir)
    if [ -z "$dir" ]; then
        dir=$(mktemp -d /tmp/resonate-pg.XXXXXX)
    fi
    mkdir -p "$dir/sock"
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown -R nobody: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C \
            >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # fsync stays on: the tests check durability claims, not speed.
    as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 ||
        as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir/sock' -c max_connections=200" \
        start >/dev/null || { cat "$dir/postgres.log" >&2; exit 1; }
    as_owner "$bin/psql" -h "$dir/sock" -U postgres -d postgres -qtA \
        -c "SELECT 1 FROM pg_database WHERE datname = 'resonate'" | grep -q 1 ||
        as_owner "$bin/createdb" -h "$dir/sock" -U postgres resonate
    # The tests connect as the caller's user name through the URL's default;
    # make the superuser the default by naming it.
    echo "postgresql:///resonate?host=$dir/sock&user=postgres"
}

stop() {
    local dir=$1 bin
    bin=$(bindir)
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    if [ "${2:-}" != keep ]; then
        rm -rf "$dir"
    fi
}

case "${1:-}" in
start) start "${2:-}" ;;
stop) stop "${2:?usage: pg-cluster.sh stop DIR}" ;;
restart)
    stop "${2:?usage: pg-cluster.sh restart DIR}" keep
    start "$2"
    ;;
halt) stop "${2:?usage: pg-cluster.sh halt DIR}" keep ;;
url) echo "postgresql:///resonate?host=${2:?usage: pg-cluster.sh url DIR}/sock&user=postgres" ;;
*)
    echo "usage: scripts/pg-cluster.sh start [DIR] | stop DIR | restart DIR | halt DIR | url DIR" >&2
    exit 2
    ;;
esac
