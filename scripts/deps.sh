#!/usr/bin/env bash
# Installs what resonate-c needs on Debian (bookworm or later): the build
# dependencies, and with --test also what the test suite needs (Check, Node
# packages). Installs only what is missing; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev
      libcurl4-openssl-dev)
if [ "${1:-}" = "--test" ]; then
    pkgs+=(check nodejs npm clang-format curl wrk systemd python3 openssl)
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A Node.js installed outside Debian's packages (e.g. /usr/bin/node from
# NodeSource) counts as present.
if command -v node >/dev/null && command -v npm >/dev/null; then
    tmp=()
    for p in "${missing[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || tmp+=("$p"); done
    missing=("${tmp[@]+"${tmp[@]}"}")
fi

if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--test" ]; then
    (cd tests/node && { [ -d node_modules ] && [ node_modules/.stamp -nt package-lock.json ]; } ||
        { npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp; })
fi
