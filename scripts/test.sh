#!/usr/bin/env bash
# Run every test: lint, unit, integration (SQLite and PostgreSQL/Redis), end-to-end.
# Works on a fresh machine: creates .venv and installs what the tests need.
# PostgreSQL/Redis tests use MOTCUA_TEST_PG_URL / MOTCUA_TEST_REDIS_URL (defaults: 127.0.0.1);
# without those servers they skip with a message, except under CI=true where they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/setup.sh
motcua_setup dev

# Browser tests drive Debian's Chromium (never a downloaded browser) through Playwright.
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing Chromium and DejaVu fonts (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
    else
        echo "Chromium is missing: browser tests will skip (CI=true makes them fail)." >&2
        echo "Install it with: sudo apt-get install -y chromium fonts-dejavu-core" >&2
    fi
fi

# The nginx tests (tests/integration/test_nginx.py) run the shipped site config: `nginx -t` and
# an end-to-end run in front of two app nodes. Debian's nginx-light is enough.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing nginx-light and openssl (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light openssl >/dev/null
    else
        echo "nginx is missing: the nginx tests will skip (CI=true makes them fail)." >&2
        echo "Install it with: sudo apt-get install -y nginx-light openssl" >&2
    fi
fi

# The alerting rules (deploy/prometheus/) are checked and unit-tested with promtool, from
# Debian's prometheus package (tests/integration/test_prometheus_rules.py).
if ! command -v promtool >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing prometheus (promtool) (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
        # Only promtool is wanted: the package's own server is not left running.
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    else
        echo "promtool is missing: the alert rule tests will skip (CI=true makes them fail)." >&2
        echo "Install it with: sudo apt-get install -y prometheus" >&2
    fi
fi

# The point-in-time recovery tests (tests/integration/test_pitr_drill.py, test_deploy_files.py)
# archive a private cluster's WAL with pgBackRest and start PostgreSQL 15 clusters of their own.
pitr_missing=""
command -v pgbackrest >/dev/null 2>&1 || pitr_missing="$pitr_missing pgbackrest"
command -v initdb >/dev/null 2>&1 || [ -x /usr/lib/postgresql/15/bin/initdb ] \
    || pitr_missing="$pitr_missing postgresql-15"
if [ -n "$pitr_missing" ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing$pitr_missing (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pitr_missing >/dev/null
    else
        echo "missing:$pitr_missing: the PITR tests will fail." >&2
        echo "Install with: sudo apt-get install -y$pitr_missing" >&2
    fi
fi
# Debian keeps initdb and pg_ctl out of PATH; the private clusters of the tests call them.
[ -x /usr/lib/postgresql/15/bin/initdb ] && export PATH="$PATH:/usr/lib/postgresql/15/bin"

echo "==> ruff"
.venv/bin/ruff check .

echo "==> import contracts (pyproject.toml [tool.importlinter], docs/layout.md)"
.venv/bin/lint-imports

echo "==> pytest"
# Two workers (pytest-xdist) by default: the suite mostly waits on servers, browsers and
# databases. Each test file stays on one worker (its module's server is shared). Every worker
# has its own PostgreSQL database; ports, Redis channels and folders are per test already.
# MOTCUA_TEST_WORKERS=0 runs everything in this process (e.g. with a debugger).
workers=(-n "${MOTCUA_TEST_WORKERS:-2}" --dist loadfile)
if [ "${CI:-}" = "true" ]; then
    # CI must not pass by skipping: every test runs, PostgreSQL/Redis ones included.
    mkdir -p var
    status=0
    .venv/bin/python -m pytest "${workers[@]}" --junitxml=var/junit.xml "$@" || status=$?
    .venv/bin/python scripts/check_no_skips.py var/junit.xml || status=1
    exit $status
fi
exec .venv/bin/python -m pytest "${workers[@]}" "$@"
