#!/usr/bin/env bash
# deb-check.sh - builds the Debian package and checks it on this machine, as
# root, the way an operator would use it (issue 14):
#   1. `make deb`, then lintian: no error (every tag is printed);
#   2. `apt-get install ./resonate_*.deb`: resonate --version, man -w for
#      every page, the completions (bash completes a command), the conffile,
#      the unit enabled and accepted by `systemd-analyze verify`;
#   3. a key set in /etc/resonate/resonate.toml is picked up: the server is
#      started as the unit starts it (its ExecStart, in its working
#      directory) and answers on the port the file names;
#   4. reinstalling keeps the edited conffile; `apt-get remove` keeps the
#      configuration and the state, `apt-get purge` leaves nothing behind.
# Works whether or not systemd runs as PID 1 (CI, containers): the
# maintainer scripts must succeed either way.
#
# Usage: scripts/deb-check.sh [--no-build]   (as root; ./scripts/deps.sh
# --deb --test installs what it needs). It refuses to run when resonate is
# already installed, since it purges the package at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$(realpath -m "${BUILD:-build}")
build=1
for a in "$@"; do
    case "$a" in
    --no-build) build=0 ;;
    *) echo "usage: scripts/deb-check.sh [--no-build]" >&2; exit 2 ;;
    esac
done

fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root: it installs and purges the package"
if dpkg-query -W -f='${Status}' resonate 2>/dev/null | grep -q 'installed\|config-files'; then
    fail "the package resonate is already on this machine; purge it first (apt-get purge resonate)"
fi

WORK=$(mktemp -d)
PID=""
installed=0
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
    if [ "$installed" = 1 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq resonate >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive

# 1. build and lintian
[ "$build" = 0 ] || make -s deb BUILD="$BUILD" >"$WORK/build.log" 2>&1 ||
    { tail -n 40 "$WORK/build.log"; fail "make deb"; }
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=$BUILD/resonate_${version}_${arch}.deb
[ -f "$deb" ] || fail "no $deb"
echo "ok - make deb: $(basename "$deb")"
changes=$BUILD/deb/resonate_${version}_${arch}.changes
lintian --fail-on error --display-info "$([ -f "$changes" ] && echo "$changes" || echo "$deb")" \
    >"$WORK/lintian" 2>&1 || { cat "$WORK/lintian"; fail "lintian reported errors"; }
grep -v '^running with root privileges' "$WORK/lintian" | sed 's/^/    lintian: /' || true
echo "ok - lintian: no errors ($(grep -c '^[EWIP]:' "$WORK/lintian" || true) tags, printed above)"

# 2. install
apt-get install -y -qq "$deb" >"$WORK/install.log" 2>&1 ||
    { cat "$WORK/install.log"; fail "apt-get install"; }
installed=1
[ "$(command -v resonate)" = /usr/bin/resonate ] || fail "resonate is not /usr/bin/resonate"
resonate --version >"$WORK/version"
grep -q "^resonate $version " "$WORK/version" || fail "--version: $(cat "$WORK/version")"
for w in "protocol 2026-04-01" libmicrohttpd jansson sqlite3 libpq openssl gnutls libcurl; do
    grep -q "^$w" "$WORK/version" || fail "--version lacks $w: $(cat "$WORK/version")"
done
echo "ok - resonate --version: $(paste -sd' ' "$WORK/version")"
man -w resonate >/dev/null || fail "man -w resonate"
for p in $(resonate help --man-pages); do
    f=$(man -w "${p##*.}" "${p%.*}") || fail "man -w ${p##*.} ${p%.*}"
    [ "$f" = "/usr/share/man/man${p##*.}/$p.gz" ] || fail "man -w $p found $f"
done
echo "ok - man -w: $(resonate help --man-pages | paste -sd' ')"
[ -f /usr/share/zsh/vendor-completions/_resonate ] || fail "no zsh completion"
if command -v zsh >/dev/null; then
    zsh -n /usr/share/zsh/vendor-completions/_resonate || fail "zsh completion: syntax"
fi
got=$(bash -c 'source /usr/share/bash-completion/completions/resonate
    COMP_WORDS=(resonate promises cr); COMP_CWORD=2; _resonate; echo "${COMPREPLY[*]}"')
[ "$got" = create ] || fail "bash completion of 'resonate promises cr' gave '$got'"
echo "ok - bash and zsh completion installed (resonate promises cr<TAB> -> $got)"
dpkg-query -W -f='${Conffiles}\n' resonate | grep -q '^ /etc/resonate/resonate.toml ' ||
    fail "/etc/resonate/resonate.toml is not a conffile"
cmp -s /etc/resonate/resonate.toml resonate.toml.example ||
    fail "/etc/resonate/resonate.toml differs from resonate.toml.example"
echo "ok - conffile /etc/resonate/resonate.toml (from resonate.toml.example)"
UNIT=/lib/systemd/system/resonate.service
[ -f "$UNIT" ] || fail "no $UNIT"
[ -L /etc/systemd/system/multi-user.target.wants/resonate.service ] ||
    fail "the unit was not enabled (no multi-user.target.wants link)"
out=$(systemd-analyze verify "$UNIT" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify printed: $out"
echo "ok - unit enabled, systemd-analyze verify (man pages of Documentation= found)"

# 3. a key of /etc/resonate/resonate.toml is picked up
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i -e "s/^port = 8001\$/port = $PORT/" -e 's/^bind = "0.0.0.0"$/bind = "127.0.0.1"/' \
    -e 's/^metrics_port = 9090$/metrics_port = 0/' /etc/resonate/resonate.toml
grep -q "^port = $PORT\$" /etc/resonate/resonate.toml || fail "could not set server.port"
grep -q '^metrics_port = 0$' /etc/resonate/resonate.toml || fail "could not set metrics_port"
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
workdir=$(sed -n 's/^WorkingDirectory=//p' "$UNIT")
[ "$exec_start" = "/usr/bin/resonate serve --config /etc/resonate/resonate.toml" ] ||
    fail "unexpected ExecStart: $exec_start"
mkdir -p "$workdir" # StateDirectory: systemd creates it
(cd "$workdir" && exec $exec_start) 2>"$WORK/serve.log" &
PID=$!
ok=0
for _ in $(seq 100); do
    if curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1; then ok=1; break; fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
[ "$ok" = 1 ] || fail "no answer on port $PORT from resonate.toml: $(cat "$WORK/serve.log")"
grep -q "config=/etc/resonate/resonate.toml" "$WORK/serve.log" || fail "config file not logged"
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=""
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM: $(cat "$WORK/serve.log")"
[ -f "$workdir/resonate.db" ] || fail "no database in $workdir"
echo "ok - server.port = $PORT from /etc/resonate/resonate.toml answered /ready; state in $workdir"

# 4. reinstall keeps the edited conffile; remove keeps configuration and state
apt-get install -y -qq --reinstall "$deb" >"$WORK/install.log" 2>&1 ||
    { cat "$WORK/install.log"; fail "apt-get install --reinstall"; }
grep -q "^port = $PORT\$" /etc/resonate/resonate.toml || fail "reinstall overwrote the conffile"
echo "ok - reinstall kept the edited conffile"
apt-get remove -y -qq resonate >"$WORK/remove.log" 2>&1 ||
    { cat "$WORK/remove.log"; fail "apt-get remove"; }
[ ! -e /usr/bin/resonate ] || fail "remove left /usr/bin/resonate"
[ ! -e "$UNIT" ] || fail "remove left $UNIT"
grep -q "^port = $PORT\$" /etc/resonate/resonate.toml || fail "remove lost the configuration"
[ -f "$workdir/resonate.db" ] || fail "remove lost the state"
echo "ok - remove: binary and unit gone, configuration and state kept"
apt-get purge -y -qq resonate >"$WORK/purge.log" 2>&1 ||
    { cat "$WORK/purge.log"; fail "apt-get purge"; }
installed=0
left=()
for f in /etc/resonate /var/lib/resonate /var/lib/private/resonate /usr/bin/resonate "$UNIT" \
    /etc/systemd/system/multi-user.target.wants/resonate.service \
    /usr/share/bash-completion/completions/resonate /usr/share/zsh/vendor-completions/_resonate \
    /usr/share/doc/resonate /usr/share/man/man1/resonate.1.gz /usr/share/man/man5/resonate.toml.5.gz; do
    if [ -e "$f" ] || [ -L "$f" ]; then left+=("$f"); fi
done
for d in /usr/share/man /var/lib/systemd/deb-systemd-helper-enabled \
    /var/lib/systemd/deb-systemd-helper-masked; do
    if [ -d "$d" ]; then left+=($(find "$d" -name '*resonate*')); fi
done
[ ${#left[@]} = 0 ] || fail "purge left: ${left[*]}"
! dpkg-query -W resonate >/dev/null 2>&1 || fail "dpkg still knows resonate after purge"
echo "ok - purge: nothing left (configuration, state, binary, unit, man pages, completion)"
