# Sourced by test.sh and demo.sh: install what Motcua needs on a fresh machine.
#   motcua_setup EXTRAS   e.g. motcua_setup '.[dev]'  or  motcua_setup '.'

motcua_setup() {
    local target=$1
    local python=${PYTHON:-python3}
    if [ ! -x .venv/bin/python ]; then
        echo "==> creating .venv"
        "$python" -m venv .venv
    fi
    echo "==> installing Python packages"
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install -q --disable-pip-version-check -e "$target"

    # Spoken announcements: eSpeak NG (the pip package espeakng-loader covers x86_64; the
    # Debian package covers the rest and is preferred where it can be installed).
    if ! command -v espeak-ng >/dev/null 2>&1 && [ "$(id -u)" = "0" ] \
            && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing espeak-ng (apt-get)"
        apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null \
            || echo "espeak-ng could not be installed: displays will chime without speech" >&2
    fi

    # Front-end libraries come from npm with the lockfile (served by the app, never a CDN).
    if command -v npm >/dev/null 2>&1; then
        echo "==> npm ci"
        npm ci --no-audit --no-fund --loglevel=error
    else
        echo "npm not found: install Node.js (the browser pages need node_modules/)" >&2
        return 1
    fi
}
