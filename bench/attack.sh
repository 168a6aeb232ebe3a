#!/usr/bin/env bash
# bench/attack.sh - runs bench/attack.mjs (issue 9's amplification attacks:
# RSS and another tenant's latency under them) with the open-file limit
# raised for its 1000 streams. Arguments are passed on. By hand only.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"
exec node --import ./tests/node/polyfill.mjs bench/attack.mjs "$@"
