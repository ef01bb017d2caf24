#!/usr/bin/env bash
# Start Motcua on the embedded default (SQLite file in ./var), load the demo province and
# print the URLs and credentials. Works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

HOST=${MOTCUA_HOST:-127.0.0.1}
PORT=${MOTCUA_PORT:-5000}
. scripts/setup.sh
motcua_setup runtime

mkdir -p var
cd var
export MOTCUA_PUBLIC_BASE_URL=${MOTCUA_PUBLIC_BASE_URL:-http://$HOST:$PORT}
../.venv/bin/motcua demo
echo
echo "Starting the server on http://$HOST:$PORT/ (Ctrl-C stops it)"
exec ../.venv/bin/motcua run --host "$HOST" --port "$PORT"
