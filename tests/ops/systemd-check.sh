#!/usr/bin/env bash
# systemd-check.sh - checks the systemd packaging of resonate:
#   1. `make install` into a DESTDIR puts binary, unit and configuration in
#      place, honours PREFIX, and never overwrites an existing resonate.toml;
#   2. `systemd-analyze verify` accepts the installed unit and
#      `systemd-analyze security` rates its exposure below 2.0;
#   3. readiness: under a $NOTIFY_SOCKET (as systemd's Type=notify sets it)
#      the server sends READY=1 once it listens and STOPPING=1 on SIGTERM.
# Usage: tests/ops/systemd-check.sh [BINARY]   (default ./resonate)
# Exit 0 = all passed; 77 = systemd-analyze is not installed (skipped; on
# Debian: apt-get install systemd); anything else = failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(realpath "${1:-resonate}")
WORK=$(mktemp -d)
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. make install
D=$WORK/root
make -s install DESTDIR="$D" INSTALL_BIN="$BIN" >/dev/null
for f in usr/local/bin/resonate usr/local/lib/systemd/system/resonate.service \
         etc/resonate/resonate.toml etc/resonate/resonate.toml.example; do
    [ -f "$D/$f" ] || fail "make install did not create /$f"
done
[ -x "$D/usr/local/bin/resonate" ] || fail "installed binary is not executable"
grep -q '^ExecStart=/usr/local/bin/resonate serve --config /etc/resonate/resonate.toml$' \
    "$D/usr/local/lib/systemd/system/resonate.service" || fail "unexpected ExecStart"
echo "# edited" >> "$D/etc/resonate/resonate.toml"
make -s install DESTDIR="$D" INSTALL_BIN="$BIN" >/dev/null
grep -q '^# edited$' "$D/etc/resonate/resonate.toml" || fail "reinstall overwrote resonate.toml"
P=$WORK/prefix
make -s install DESTDIR="$P" PREFIX=/opt/resonate INSTALL_BIN="$BIN" >/dev/null
grep -q '^ExecStart=/opt/resonate/bin/resonate serve ' \
    "$P/opt/resonate/lib/systemd/system/resonate.service" || fail "PREFIX not applied to ExecStart"
[ -x "$P/opt/resonate/bin/resonate" ] || fail "PREFIX not applied to the binary"
"$D/usr/local/bin/resonate" serve --config "$D/etc/resonate/resonate.toml" --help >/dev/null ||
    fail "installed binary does not run"
echo "ok - make install (DESTDIR, PREFIX, configuration kept)"

# 2. systemd-analyze. The unit names absolute paths; verify a copy that
# points into DESTDIR so the executables it names exist.
if ! command -v systemd-analyze >/dev/null; then
    echo "SKIP: systemd-analyze not installed (apt-get install systemd)"
    exit 77
fi
U=$WORK/unit/resonate.service
mkdir -p "$WORK/unit"
sed -e "s|/usr/local/bin/resonate|$D/usr/local/bin/resonate|" \
    -e "s|/etc/resonate/|$D/etc/resonate/|" \
    "$D/usr/local/lib/systemd/system/resonate.service" > "$U"
# --man=no: the man pages of Documentation= are in DESTDIR, not in MANPATH
# (scripts/deb-check.sh verifies the installed unit with them).
out=$(systemd-analyze verify --man=no "$U" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify printed: $out"
echo "ok - systemd-analyze verify"
systemd-analyze security --offline=yes --threshold=20 "$U" >"$WORK/security" 2>&1 ||
    fail "exposure above 2.0: $(tail -n 1 "$WORK/security")"
echo "ok - systemd-analyze security: $(grep -o 'Overall exposure level.*' "$WORK/security")"

# 3. sd_notify protocol, with a stand-in for systemd's notify socket.
if ! command -v python3 >/dev/null; then
    echo "SKIP: python3 not installed, readiness not checked"
    exit 0
fi
SOCK=$WORK/notify
python3 - "$SOCK" >"$WORK/notes" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
for _ in range(2):
    print(s.recv(4096).decode().replace("\n", " "), flush=True)
PY
LISTENER=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NOTIFY_SOCKET=$SOCK "$BIN" dev --server-bind 127.0.0.1 --server-port "$PORT" \
    --observability-metrics-port 0 2>"$WORK/log" &
PID=$!
for _ in $(seq 200); do grep -q READY=1 "$WORK/notes" && break; sleep 0.05; done
grep -q '^READY=1' "$WORK/notes" || fail "no READY=1: $(cat "$WORK/notes" "$WORK/log")"
grep -q 'Server listening' "$WORK/log" || fail "READY=1 before listening"
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=""
wait "$LISTENER" || true
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM"
sed -n 2p "$WORK/notes" | grep -q '^STOPPING=1' || fail "no STOPPING=1: $(cat "$WORK/notes")"
echo "ok - sd_notify READY=1 after listening, STOPPING=1 on SIGTERM, exit 0"
