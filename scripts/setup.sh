# Sourced by test.sh and demo.sh: install what Motcua needs on a fresh machine.
#   motcua_setup runtime   what a centre runs (requirements/runtime.txt)
#   motcua_setup dev       the runtime plus the test tools (requirements/dev.txt)
# Python packages come from the lock, every file checked against its hash; Motcua itself is
# then installed without dependencies, so nothing outside the lock can slip in.

motcua_setup() {
    local lock=requirements/$1.txt
    local python=${PYTHON:-python3}
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "Motcua needs Python 3.11 or newer ($python is $("$python" --version 2>&1))." >&2
        echo "Set PYTHON=/path/to/python3.11 and run this again." >&2
        return 1
    fi
    if [ ! -x .venv/bin/python ]; then
        echo "==> creating .venv"
        "$python" -m venv .venv
    fi
    echo "==> installing Python packages from $lock"
    .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r "$lock"
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .

    # Spoken announcements: eSpeak NG (the pip package espeakng-loader covers x86_64; the
    # Debian package covers the rest). Printed Vietnamese on printers without a Vietnamese code
    # page: DejaVu Sans.
    local missing=""
    command -v espeak-ng >/dev/null 2>&1 || missing="$missing espeak-ng"
    [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$missing fonts-dejavu-core"
    # USB printers inside kiosks: pyusb needs the libusb library.
    ldconfig -p 2>/dev/null | grep -q 'libusb-1\.0\.so' || missing="$missing libusb-1.0-0"
    if [ -n "$missing" ]; then
        if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
            echo "==> installing$missing (apt-get)"
            apt-get update -qq \
                && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null \
                || echo "could not install$missing" >&2
        else
            echo "missing:$missing (sudo apt-get install -y$missing)" >&2
        fi
    fi

    # Front-end libraries come from npm with the lockfile (served by the app, never a CDN).
    # The test tools (axe-core and its Playwright integration) are npm dev dependencies.
    local npm_scope=()
    [ "$1" = "runtime" ] && npm_scope=(--omit=dev)
    if command -v npm >/dev/null 2>&1; then
        echo "==> npm ci ${npm_scope[*]}"
        npm ci --no-audit --no-fund --loglevel=error "${npm_scope[@]}"
    else
        echo "npm not found: install Node.js (the browser pages need node_modules/)" >&2
        return 1
    fi
}
