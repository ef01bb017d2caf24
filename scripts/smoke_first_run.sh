#!/usr/bin/env bash
# The README's first command, run the way a newcomer runs it: a fresh clone of the committed
# tree in a temporary folder, no .venv, the runtime lock only (no test tools that could hide a
# missing runtime dependency), `./scripts/demo.sh` on a free port. Then, as a user would: wait
# for /readyz, open the kiosk page and its socket.io client, issue a ticket with the kiosk token
# the demo printed, call it with a counter token the demo printed, and import every module of
# the package in that runtime-only environment. Any failure prints the last lines of the demo's
# output and exits non-zero.
#   scripts/smoke_first_run.sh              clone this repository's HEAD
#   SMOKE_KEEP=1 scripts/smoke_first_run.sh keep the temporary folder for a look afterwards
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/motcua-smoke.XXXXXX")
log=$tmp/demo.log
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
pgid=""

finish() {
    local status=$?
    if [ -n "$pgid" ]; then
        kill -TERM -- "-$pgid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    if [ "$status" != 0 ]; then
        echo "==> smoke: FAILED; the last lines of ./scripts/demo.sh's output:" >&2
        tail -n 40 "$log" >&2 || true
    fi
    [ -n "${SMOKE_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
    exit "$status"
}
trap finish EXIT
fail() { echo "==> smoke: $*" >&2; exit 1; }

echo "==> smoke: fresh clone of $(git -C "$src" rev-parse --short HEAD) into $tmp"
git clone -q "$src" "$tmp/motcua"
[ ! -e "$tmp/motcua/.venv" ] || fail "the clone has a .venv"

echo "==> smoke: ./scripts/demo.sh with MOTCUA_PORT=$port (runtime install only)"
start=$(date +%s.%N)
( cd "$tmp/motcua" && MOTCUA_HOST=127.0.0.1 MOTCUA_PORT=$port exec setsid ./scripts/demo.sh ) \
    >"$log" 2>&1 </dev/null &
pid=$!
pgid=$pid

ready=""
for _ in $(seq 1 1800); do
    kill -0 "$pid" 2>/dev/null || fail "./scripts/demo.sh exited before the server was ready"
    if python3 - "$base/readyz" <<'EOF' 2>/dev/null; then ready=1; break; fi
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
    sleep 0.5
done
[ -n "$ready" ] || fail "no /readyz after 15 minutes"
elapsed=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
echo "==> smoke: /readyz answered 200, ${elapsed} s after ./scripts/demo.sh started"

kiosk=$(awk '$1 == "kiosk-1" && $2 == "kiosk" {print $3}' "$log" | tail -1)
clerk=$(awk '$1 == "counter" && $2 == "3" && $3 == "clerk" {print $4}' "$log" | tail -1)
[ -n "$kiosk" ] || fail "the demo printed no kiosk token"
[ -n "$clerk" ] || fail "the demo printed no token for counter 3"

python3 - "$base" "$kiosk" "$clerk" <<'EOF' || fail "the user's path failed (see above)"
import json, sys, urllib.error, urllib.request, uuid

base, kiosk, clerk = sys.argv[1:4]

def call(method, path, token=None, body=None, headers=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

status, page = call("GET", f"/kiosk?token={kiosk}")
assert status == 200, f"GET /kiosk: {status}"
html = page.decode()
assert "socket.io" in html, "the kiosk page does not load the socket.io client"
for src in [s.split('"')[0] for s in html.split('src="')[1:]]:
    if src.startswith("/"):
        s, body = call("GET", src)
        assert s == 200 and body, f"the kiosk page's {src}: {s}"
print("    kiosk page and its scripts: 200")

status, body = call("POST", "/api/v1/sites/HACTHANH/tickets", kiosk, {"service": "civil"},
                    {"Idempotency-Key": str(uuid.uuid4())})
assert status == 201, f"issue: {status} {body[:300]!r}"
ticket = json.loads(body)
print(f"    issued {ticket.get('display_number') or ticket.get('number')} with the kiosk token")

status, body = call("POST", "/api/v1/counters/3/open", clerk, {})
assert status in (200, 409), f"open counter 3: {status} {body[:300]!r}"
status, body = call("POST", "/api/v1/counters/3/call-next", clerk, {})
assert status == 200, f"call-next: {status} {body[:300]!r}"
called = json.loads(body)
got = (called.get("ticket") or called).get("id")
assert got == ticket["id"], f"counter 3 called {got}, not the ticket just issued ({ticket['id']})"
print("    counter 3 called it with the counter token")
EOF

echo "==> smoke: every module imports in the runtime-only environment"
( cd "$tmp/motcua" && .venv/bin/python - <<'EOF' ) || fail "a module does not import with the runtime lock alone"
import importlib, pkgutil, sys
failed = []
names = ["gunicorn.workers.ggevent"]  # the worker `motcua run` starts
for top in ("server", "printers", "kiosk", "counter", "display", "supervisor", "admin"):
    pkg = importlib.import_module(top)
    names.append(top)
    for info in pkgutil.walk_packages(pkg.__path__, top + "."):
        # Alembic's env.py and revision scripts run only inside Alembic; a __main__ module
        # runs its command when imported (`python -m ...`).
        if ".migrations." not in info.name and not info.name.endswith(".__main__"):
            names.append(info.name)
for name in names:
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - report every module that fails, then fail
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print(f"    {len(names) - len(failed)} of {len(names)} modules imported")
if failed:
    print("\n".join(failed), file=sys.stderr)
    sys.exit(1)
EOF

echo "==> smoke: passed (ready in ${elapsed} s)"
