#!/usr/bin/env bash
# Regenerate the dependency locks from pyproject.toml with uv (in the dev extra):
#   requirements/runtime.txt  what a centre installs (scripts/demo.sh, the Dockerfile, the guide)
#   requirements/dev.txt      the runtime pins plus the test tools (scripts/test.sh)
# Both are universal (every platform and Python >= 3.11, with environment markers) and carry
# hashes, so `pip install --require-hashes` refuses anything else.
#   scripts/lock.sh                 keep current pins, add/remove what pyproject.toml changed
#   scripts/lock.sh --upgrade       move every pin to the newest release pyproject.toml allows
#   scripts/lock.sh --upgrade-package NAME   move one pin
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv/bin/uv}
[ -x "$UV" ] || UV=uv
common=(--universal --python-version 3.11 --generate-hashes --quiet
        --custom-compile-command scripts/lock.sh)
"$UV" pip compile pyproject.toml "${common[@]}" "$@" -o requirements/runtime.txt
# The dev lock is constrained to the runtime pins, so tests run exactly what a centre installs.
"$UV" pip compile pyproject.toml --extra dev -c requirements/runtime.txt "${common[@]}" "$@" \
    -o requirements/dev.txt
echo "requirements/runtime.txt: $(grep -c '==' requirements/runtime.txt) pins;" \
     "requirements/dev.txt: $(grep -c '==' requirements/dev.txt) pins"
