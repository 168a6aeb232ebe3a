#!/usr/bin/env bash
# Installs what resonate-c needs on Debian (bookworm or later): the build
# dependencies, with --test also what the test suite needs (Check, Node
# packages), with --fuzz what `make fuzz` needs (clang and the libFuzzer of
# clang's version), with --deb what `make deb` and scripts/deb-check.sh
# need (debhelper, lintian, man-db, ...). Installs only what is missing;
# safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

test=0 fuzz=0 deb=0
for a in "$@"; do
    case "$a" in
    --test) test=1 ;;
    --fuzz) fuzz=1 ;;
    --deb) deb=1 ;; # issue 14: the Debian package
    *) echo "usage: scripts/deps.sh [--test] [--fuzz] [--deb]" >&2; exit 2 ;;
    esac
done

pkgs=(build-essential pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev
      libcurl4-openssl-dev libgnutls28-dev)
# PostgreSQL backend (issue 12): libpq to build; the server to test it
# (tests/run.sh starts a throwaway cluster, no system service needed).
pkgs+=(libpq-dev)
if [ $test = 1 ]; then
    pkgs+=(check nodejs npm clang-format curl wrk systemd python3 openssl)
    pkgs+=(postgresql)
fi
# issue 13: the web console's browser tests (tests/ui) drive Debian's
# chromium with playwright-core (tests/node); no browser is downloaded.
if [ $test = 1 ]; then
    pkgs+=(chromium)
fi
if [ $fuzz = 1 ]; then
    pkgs+=(clang)
fi
# issue 14: `make deb` (debhelper, dpkg-buildpackage, Check for the package's
# unit tests) and scripts/deb-check.sh (lintian, man -w, systemd-analyze,
# zsh -n on the completion, curl and python3 for the smoke test).
if [ $deb = 1 ]; then
    pkgs+=(debhelper dpkg-dev check lintian man-db systemd zsh curl python3)
fi

# Installs the packages named that are not installed yet.
install_missing() {
    local missing=() p sudo=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# A Node.js installed outside Debian's packages (e.g. /usr/bin/node from
# NodeSource) counts as present.
if command -v node >/dev/null && command -v npm >/dev/null; then
    tmp=()
    for p in "${pkgs[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || tmp+=("$p"); done
    pkgs=("${tmp[@]}")
fi
install_missing "${pkgs[@]}"

# libfuzzer-N-dev must match the major version of the clang installed above
# (Debian's clang is a dependency package on clang-N), so it is read from
# clang itself once clang is there.
if [ $fuzz = 1 ]; then
    v=$(clang -dumpversion | cut -d. -f1)
    install_missing "libfuzzer-$v-dev"
fi

# Issue 15: promtool checks conf/alerts.yml (tests/ops/alerts.test.mjs). It
# comes in Debian's prometheus package, which would also install and start a
# Prometheus server: only promtool is extracted, into build/tools.
if [ $test = 1 ] && ! command -v promtool >/dev/null && [ ! -x build/tools/usr/bin/promtool ]; then
    fetch_promtool() {
        local tmp
        tmp=$(mktemp -d)
        (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null && dpkg -x prometheus_*.deb x) &&
            install -D -m 0755 "$tmp/x/usr/bin/promtool" build/tools/usr/bin/promtool
        local rc=$?
        rm -rf "$tmp"
        return $rc
    }
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    fetch_promtool || { $sudo apt-get update -qq && fetch_promtool; } ||
        echo "warning: could not fetch promtool; tests/ops/alerts.test.mjs will skip its check"
fi

# A node_modules that is a symlink (a git worktree sharing another checkout's
# packages) is left alone: npm ci would empty the folder it points to.
if [ $test = 1 ] && [ -L tests/node/node_modules ]; then
    echo "tests/node/node_modules is a symlink: not reinstalling the Node packages through it"
elif [ $test = 1 ]; then
    (cd tests/node && { [ -d node_modules ] && [ node_modules/.stamp -nt package-lock.json ]; } ||
        { npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp; })
fi
