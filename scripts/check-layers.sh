#!/usr/bin/env bash
# Checks the dependency rules of docs/architecture.md:
#   core/   includes only core/ (and system/library headers)
#   store/  includes only store/ and core/
#   auth/   includes only auth/ and core/
#   conf/   includes only conf/ and core/
#   server/ includes nothing from cli/
#   cli/    may include anything
# and, given the release objects (build/rel by default, or $1), that no object
# of the server library refers to a symbol defined in cli/: the library links
# without the command line. Prints every violation; exits 1 if there is any.
set -uo pipefail
cd "$(dirname "$0")/.."
OBJ=${1:-${BUILD:-build}/rel}
bad=0

allowed() { # $1 = directory of the including file; $2 = directory included
    case "$1" in
    core) [ "$2" = core ] ;;
    store | auth | conf) [ "$2" = "$1" ] || [ "$2" = core ] ;;
    server) [ "$2" != cli ] ;;
    *) true ;;
    esac
}

for dir in core store auth conf server; do
    for f in "$dir"/*.c "$dir"/*.h; do
        [ -e "$f" ] || continue
        while IFS=: read -r line inc; do
            to=${inc%%/*}
            if ! allowed "$dir" "$to"; then
                echo "layering: $f:$line includes \"$inc\" ($dir/ may not depend on $to/)"
                bad=1
            fi
        done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[a-z]+/' "$f" |
            sed -E 's|^([0-9]+):.*"([^"]+)".*|\1:\2|')
    done
done

# The objects of today's sources only (a stale object of a moved file
# would otherwise count). A missing object fails the check rather than
# skipping it, so that the check cannot pass without having looked.
lib_objs=$(for f in core/*.c store/*.c auth/*.c conf/*.c server/*.c; do echo "$OBJ/${f%.c}.o"; done)
cli_objs=$(for f in cli/*.c; do echo "$OBJ/${f%.c}.o"; done)
missing=$(for o in $lib_objs $cli_objs; do [ -f "$o" ] || echo "$o"; done)
if ! command -v nm >/dev/null; then
    echo "layering: nm not found (package binutils); the link check needs it"
    bad=1
elif [ -n "$missing" ]; then
    echo "layering: no object $(echo "$missing" | head -1) ($(echo "$missing" | wc -l) missing): build them first (make build/rel/resonate), or name their directory as the argument"
    bad=1
else
    cli_defs=$(nm --defined-only -g $cli_objs | awk 'NF == 3 { print $3 }' | sort -u)
    lib_undef=$(nm -u $lib_objs | awk '{ print $NF }' | sort -u)
    leaks=$(comm -12 <(echo "$cli_defs") <(echo "$lib_undef"))
    if [ -n "$leaks" ]; then
        echo "layering: the server library refers to symbols of cli/: $(echo $leaks)"
        bad=1
    fi
fi

[ "$bad" -eq 0 ] && echo "layering: ok"
exit "$bad"
