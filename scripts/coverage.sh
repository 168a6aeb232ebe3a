#!/usr/bin/env bash
# Prints the line coverage of the unit tests per folder and in total, from
# the objects of a --coverage build ($1, default build/cov) after the unit
# test binary has run (`make coverage` does both). Uses gcc's gcov only.
#
# Every .c file of core/ store/ server/ auth/ conf/ cli/ counts, also one the
# unit binary does not link (cli/main.c holds main()): its lines are
# reported as not executed, so a folder's figure is never flattered. Lines
# of headers (static inline wrappers) are left out. With -v, also one line
# per file.
set -euo pipefail
cd "$(dirname "$0")/.."
verbose=0
if [ "${1:-}" = "-v" ]; then
    verbose=1
    shift
fi
OBJ=${1:-${BUILD:-build}/cov}
FOLDERS="core store server auth conf cli"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for dir in $FOLDERS; do
    for src in "$dir"/*.c; do
        [ -e "$src" ] || continue
        gcno="$OBJ/${src%.c}.gcno"
        if [ ! -e "$gcno" ]; then
            echo "coverage: $gcno missing; build with 'make coverage'" >&2
            exit 1
        fi
        # gcov prints "File 'x.c'" then "Lines executed:P% of N" for the
        # source and every header it includes; keep the source's record.
        # Without a .gcda (never run) it reports 0% of N.
        (cd "$tmp" && gcov -n -o "$OLDPWD/$OBJ/$dir" "$OLDPWD/$src" 2>/dev/null) |
            awk -v want="$src" -v root="$PWD/" '
                /^File / { f = substr($0, 7, length($0) - 7); sub("^" root, "", f); cur = f; next }
                /^Lines executed:/ && cur == want {
                    split($0, a, /[:% ]+/); pct = a[3]; n = $NF;
                    printf "%s %d %d\n", want, int(pct * n / 100 + 0.5), n; cur = "" }' \
            >>"$tmp/lines"
        grep -q "^$src " "$tmp/lines" || echo "$src 0 0" >>"$tmp/lines"
    done
done

awk -v folders="$FOLDERS" -v verbose="$verbose" '
    { split($1, p, "/"); hit[p[1]] += $2; all[p[1]] += $3; th += $2; ta += $3;
      if (verbose) printf "  %-22s %6.1f%% (%d/%d)\n", $1, $3 ? 100 * $2 / $3 : 0, $2, $3 }
    END {
        printf "%-8s %8s %14s\n", "folder", "lines", "executed";
        n = split(folders, f, " ");
        for (i = 1; i <= n; i++)
            printf "%-8s %7.1f%% %7d/%-6d\n", f[i] "/", all[f[i]] ? 100 * hit[f[i]] / all[f[i]] : 0,
                   hit[f[i]], all[f[i]];
        printf "%-8s %7.1f%% %7d/%-6d\n", "total", ta ? 100 * th / ta : 0, th, ta;
    }' "$tmp/lines"
