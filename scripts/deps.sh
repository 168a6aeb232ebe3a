#!/usr/bin/env bash
# Installs what resonate-c needs on Debian (bookworm or later): the build
# dependencies, with --test also what the test suite needs (Check, Node
# packages), with --fuzz what `make fuzz` needs (clang and the libFuzzer of
# clang's version). Installs only what is missing; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

test=0 fuzz=0
for a in "$@"; do
    case "$a" in
    --test) test=1 ;;
    --fuzz) fuzz=1 ;;
    *) echo "usage: scripts/deps.sh [--test] [--fuzz]" >&2; exit 2 ;;
    esac
done

pkgs=(build-essential pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev
      libcurl4-openssl-dev)
if [ $test = 1 ]; then
    pkgs+=(check nodejs npm clang-format curl wrk systemd python3 openssl)
fi
if [ $fuzz = 1 ]; then
    pkgs+=(clang)
    # libfuzzer-N-dev must match clang's major version (Debian's clang is a
    # dependency package on clang-N); when clang is not installed yet, the
    # version is read from the clang package's dependency.
    v=$(clang -dumpversion 2>/dev/null | cut -d. -f1 || true)
    [ -n "$v" ] || v=$(apt-cache depends clang 2>/dev/null | sed -n 's/.*Depends: clang-\([0-9]*\)$/\1/p' |
        head -n 1)
    [ -n "$v" ] && pkgs+=("libfuzzer-$v-dev")
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

if [ $test = 1 ]; then
    (cd tests/node && { [ -d node_modules ] && [ node_modules/.stamp -nt package-lock.json ]; } ||
        { npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp; })
fi
