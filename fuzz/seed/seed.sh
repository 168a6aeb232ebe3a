#!/usr/bin/env bash
# seed.sh - refreshes fuzz/corpus/ with the inputs the tests use.
#
#   fuzz/seed/seed.sh [NODE_TEST_FILE...]
#
# Links the unit tests, and the server, with fuzz/seed/wrap.c wrapped around
# the fuzzed functions (-Wl,--wrap), runs the unit tests and then the given
# Node test files against that server, and adds every distinct input recorded
# to fuzz/corpus/<target>/ (file name: hash of the content, so running it again
# adds only new inputs). Remove a target's folder first to start it afresh;
# then shrink it with libFuzzer's -merge=1 (fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."

make -j2 build/rel/unit build/rel/resonate >/dev/null
out=build/seed
rm -rf "$out/inputs"
mkdir -p "$out/inputs"
cc -std=c11 -Wall -Wextra -Werror -O1 -g -I. -D_GNU_SOURCE $(pkg-config --cflags libmicrohttpd) \
    -c -o "$out/wrap.o" fuzz/seed/wrap.c
wraps=-Wl,--wrap=wire_decode_envelope,--wrap=auth_verify,--wrap=toml_parse,--wrap=cron_parse
wraps=$wraps,--wrap=addr_parse,--wrap=poll_parse_path
libs="$(pkg-config --libs libmicrohttpd jansson sqlite3 libcrypto libcurl) -lpthread -lm"
lib=$(find build/rel/core build/rel/store build/rel/auth build/rel/conf build/rel/server \
    -name '*.o' | sort)
cli=$(find build/rel/cli -name '*.o' ! -name main.o | sort)
# shellcheck disable=SC2086
cc -o "$out/unit" $wraps "$out/wrap.o" $lib $cli build/rel/tests/unit/*.o \
    $(pkg-config --libs check) $libs
# shellcheck disable=SC2086
cc -o "$out/resonate" $wraps "$out/wrap.o" $lib $cli build/rel/cli/main.o $libs

export FUZZ_SEED_DIR=$PWD/$out/inputs
"$out/unit" >/dev/null 2>&1 || echo "seed: some unit tests failed (inputs are kept anyway)"
for f in "$@"; do
    RESONATE_BIN=$PWD/$out/resonate timeout 600 \
        node --import ./tests/node/polyfill.mjs --test --test-concurrency=1 "$f" >/dev/null 2>&1 ||
        echo "seed: $f failed (inputs are kept anyway)"
done

for d in "$out"/inputs/*/; do
    t=$(basename "$d")
    mkdir -p "fuzz/corpus/$t"
    before=$(find "fuzz/corpus/$t" -type f | wc -l)
    cp -n "$d"* "fuzz/corpus/$t/"
    after=$(find "fuzz/corpus/$t" -type f | wc -l)
    echo "seed $t: $((after - before)) new inputs, $after in fuzz/corpus/$t"
done
