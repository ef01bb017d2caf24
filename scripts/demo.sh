#!/usr/bin/env bash
# Start Motcua on the embedded default (SQLite file in ./var), load the demo province and
# print the URLs and credentials. Works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
HOST=${MOTCUA_HOST:-127.0.0.1}
PORT=${MOTCUA_PORT:-5000}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e .

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

mkdir -p var
cd var
export MOTCUA_PUBLIC_BASE_URL=${MOTCUA_PUBLIC_BASE_URL:-http://$HOST:$PORT}
../.venv/bin/motcua demo
echo
echo "Starting the server on http://$HOST:$PORT/ (Ctrl-C stops it)"
exec ../.venv/bin/motcua run --host "$HOST" --port "$PORT"
