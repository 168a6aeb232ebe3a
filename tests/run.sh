#!/usr/bin/env bash
# The whole test suite, as `make test` runs it: Check unit tests in the
# release, the sanitized (ASan/UBSan) and the ThreadSanitizer build, then the
# Node tests that drive a running server (differential against the SDK's
# reference Server, end-to-end with the real SDK). Ends with the line
# `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=$(realpath -m "${BUILD:-build}")
passed=0
failed=0
# One line per failed test (its flavour first), summarized just before the
# last line (summarize_failures), so that a log cut to its tail still names
# what failed.
failures=$(mktemp)
pg_dir="" # a throwaway PostgreSQL cluster started below, stopped at exit
cleanup() {
    [ -z "$pg_dir" ] || scripts/pg-cluster.sh stop "$pg_dir"
    rm -f "$failures"
}
trap cleanup EXIT

count_check() { # $1 = log file of a Check runner, $2 = its label in the summary
    local line c f e
    line=$(grep -E '^[0-9]+%: Checks: ' "$1" | tail -n 1)
    if [ -z "$line" ]; then
        failed=$((failed + 1))
        echo "$2 no summary line (the runner died); its last line: $(tail -n 1 "$1")" >>"$failures"
        return
    fi
    grep -E '^[^:]+:[0-9]+:[FE]:' "$1" | sed "s|^|$2 |" >>"$failures"
    c=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
    f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
    e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
    passed=$((passed + c - f - e))
    failed=$((failed + f + e))
}

# The Node tests need tests/node/node_modules (jose, the SDK versions, ...);
# without them every Node test would fail with "Cannot find module".
if ! (cd tests/node && node -e 'const fs = require("fs"); for (const m of Object.keys(require("./package.json").dependencies || {})) if (!fs.existsSync("node_modules/" + m + "/package.json")) process.exit(1)' 2>/dev/null); then
    echo "error: the Node test dependencies are missing (tests/node/node_modules)." >&2
    echo "       Install them with: ./scripts/deps.sh --test" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

# PostgreSQL backend (issue 12): its tests (the store's unit tests, the
# differential test, the multi-server tests) run against the database named
# by RESONATE_TEST_PG_URL; without one, a throwaway cluster is started here
# (scripts/pg-cluster.sh: initdb in a temporary directory, Unix socket only)
# when PostgreSQL's server binaries are installed, and stopped at the end.
if [ -z "${RESONATE_TEST_PG_URL:-}" ]; then
    pg_dir=$(mktemp -d /tmp/resonate-pg.XXXXXX)
    if url=$(scripts/pg-cluster.sh start "$pg_dir" 2>"$pg_dir.err"); then
        export RESONATE_TEST_PG_URL="$url"
        export RESONATE_TEST_PG_DIR="$pg_dir" # tests/multi/outage.test.mjs stops and restarts it
        echo "== PostgreSQL tests on a throwaway cluster in $pg_dir"
        rm -f "$pg_dir.err"
    else
        echo "== PostgreSQL tests SKIPPED: no cluster could be started ($(tail -n 1 "$pg_dir.err"));"
        echo "   install postgresql (./scripts/deps.sh --test) or set RESONATE_TEST_PG_URL"
        rm -rf "$pg_dir" "$pg_dir.err"
        pg_dir=""
    fi
else
    echo "== PostgreSQL tests on RESONATE_TEST_PG_URL"
fi

echo "== layering"
if scripts/check-layers.sh "$BUILD/rel"; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    echo "layering scripts/check-layers.sh failed (its output is above)" >>"$failures"
fi

# Tokens minted by the `jose` npm package (fresh keys every run), checked by
# the auth suite's jose_vectors test in both flavours below; that test skips
# when RESONATE_JOSE_VECTORS is unset, so a failed generation counts here.
echo "== jose vectors"
vectors="$BUILD/jose-vectors.json"
mkdir -p "$(dirname "$vectors")"
if node tests/auth/jose-vectors.mjs "$vectors"; then
    export RESONATE_JOSE_VECTORS="$vectors"
else
    echo "jose vectors: generation failed"
    failed=$((failed + 1))
    echo "jose node tests/auth/jose-vectors.mjs failed (its output is above)" >>"$failures"
fi

# tsan: ThreadSanitizer; a race ends its test with exit status 66, which
# Check counts as an error. TSAN_OPTIONS comes from `make test` (io_sync=0,
# see the Makefile's tsan target).
# gcc 12's ThreadSanitizer cannot place its shadow memory on kernels that
# randomize more address bits (vm.mmap_rnd_bits above 28: "FATAL:
# ThreadSanitizer: unexpected memory mapping"); with ASLR off it always
# can, so the tsan flavour runs under `setarch -R` where that is allowed.
norand=()
setarch "$(uname -m)" -R true 2>/dev/null && norand=(setarch "$(uname -m)" -R)
# Check's per-test timeouts (4 s unless a case sets its own) are scaled for
# the sanitized flavours, which run several times slower: the heaviest
# cases (a million-line revocation list, megabyte documents, search pages)
# timed out under ThreadSanitizer on a loaded 2-core machine (stop 23).
declare -A slower=([rel]=1 [san]=2 [tsan]=4)
for flavour in rel san tsan; do
    echo "== unit tests ($flavour)"
    log=$(mktemp)
    run=()
    [ "$flavour" = tsan ] && run=("${norand[@]}")
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        CK_TIMEOUT_MULTIPLIER="${CK_TIMEOUT_MULTIPLIER:-${slower[$flavour]}}" TSAN_OPTIONS="${TSAN_OPTIONS:-io_sync=0}" "${run[@]}" "$BUILD/$flavour/unit" 2>&1 | tee "$log" |
        grep -vE '^[^:]+:[0-9]+:P:' || true
    count_check "$log" "unit($flavour)"
    rm -f "$log"
done

# Node tests: each file is run by node's test runner against a fresh server.
node_tests=$(ls tests/diff/*.test.mjs tests/e2e/*.test.mjs tests/cli/*.test.mjs tests/ops/*.test.mjs tests/auth/*.test.mjs tests/transport/*.test.mjs tests/reads/*.test.mjs tests/ui/*.test.mjs tests/tls/*.test.mjs tests/multi/*.test.mjs 2>/dev/null || true)
if [ -n "$node_tests" ]; then
    echo "== server tests"
    log=$(mktemp)
    RESONATE_BIN="$BUILD/san/resonate" ASAN_OPTIONS=detect_leaks=1 \
        node --import ./tests/node/polyfill.mjs --test --test-concurrency=1 $node_tests 2>&1 | tee "$log"
    p=$(grep -E '^# pass [0-9]+' "$log" | tail -n 1 | awk '{print $3}')
    f=$(grep -E '^# fail [0-9]+' "$log" | tail -n 1 | awk '{print $3}')
    # a cancelled test (its file timed out or died before it ran) did not
    # pass either
    x=$(grep -E '^# cancelled [0-9]+' "$log" | tail -n 1 | awk '{print $3}')
    if [ -z "$p" ]; then
        failed=$((failed + 1))
        echo "server no '# pass' line (node's test runner died); its last line: $(tail -n 1 "$log")" >>"$failures"
    else
        passed=$((passed + p))
        failed=$((failed + ${f:-0} + ${x:-0}))
    fi
    grep -E '^not ok ' "$log" | sed 's|^|server |' >>"$failures"
    rm -f "$log"
fi

# What failed, grouped by flavour and file (the count, then the first
# failure's line), and the machine's state: at most 13 lines, so that the
# tail of a CI log shows them with the totals.
summarize_failures() {
    [ -s "$failures" ] || return 0
    echo "== failures (flavour, file: count; the first one)"
    awk '{ split($2, a, ":"); k = $2 ~ /^[^:]+:[0-9]+:/ ? $1 " " a[1] : $1; if (!(k in n)) { o[++m] = k; first[k] = $0 } n[k]++ }
         END { for (i = 1; i <= m && i <= 10; i++) printf "%s: %d; %s\n", o[i], n[o[i]], substr(first[o[i]], length(o[i]) + 2, 240)
               if (m > 10) printf "... and %d more groups\n", m - 10 }' "$failures"
    echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), /tmp free $(df -h --output=avail /tmp | tail -n 1 | tr -d ' '), memory free $(free -m | awk '/^Mem:/ {print $7}') MiB"
}
summarize_failures

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
