#!/usr/bin/env bash
# Run every test: lint, unit, integration (SQLite and PostgreSQL/Redis), end-to-end.
# Works on a fresh machine: creates .venv and installs what the tests need.
# PostgreSQL/Redis tests use MOTCUA_TEST_PG_URL / MOTCUA_TEST_REDIS_URL (defaults: 127.0.0.1);
# without those servers they skip with a message, except under CI=true where they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PYTHON" -m venv .venv
fi
echo "==> installing Python packages"
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

# Spoken announcements on the wall display: eSpeak NG (the pip package espeakng-loader covers
# x86_64; the Debian package covers the rest and is preferred where it can be installed).
if ! command -v espeak-ng >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing espeak-ng (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null \
        || echo "espeak-ng could not be installed: displays will chime without speech" >&2
fi

# Front-end libraries come from npm with the lockfile (served by the app, never a CDN).
if command -v npm >/dev/null 2>&1; then
    echo "==> npm ci"
    npm ci --no-audit --no-fund --loglevel=error
else
    echo "npm not found: install Node.js (the browser pages need node_modules/)" >&2
    exit 1
fi

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

echo "==> ruff"
.venv/bin/ruff check .

echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
