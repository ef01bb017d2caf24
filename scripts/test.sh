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

echo "==> ruff"
.venv/bin/ruff check .

echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
