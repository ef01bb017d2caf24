#!/usr/bin/env bash
# Motcua wall display on a lobby TV box: Chromium full screen in kiosk mode, sound allowed
# without a tap (the board plays a chime and the spoken call by itself).
#
#   deploy/display-kiosk.sh 'https://motcua.example.vn/display?token=dev_...&voices=vi,en'
#   MOTCUA_DISPLAY_URL='https://...' deploy/display-kiosk.sh
#
# The page keeps the token (localStorage of the browser profile) and takes it out of the
# address; once it has run, the URL may omit it. Other settings go in the URL: lang=en,
# voices=vi,en | vi | none, repeat=1..3, volume=0..1, recent=1..10 (see display/options.py).
#
# Environment:
#   MOTCUA_DISPLAY_URL      the board's URL, when not given as the first argument
#   MOTCUA_CHROMIUM         the browser (default: chromium, chromium-browser, google-chrome)
#   MOTCUA_DISPLAY_PROFILE  browser profile folder (default: ~/.local/share/motcua-display)
#   MOTCUA_DISPLAY_RESTART  1 (default): start the browser again if it exits; 0: run it once
#   MOTCUA_DISPLAY_EXTRA    more Chromium flags, space-separated (e.g. --force-device-scale-factor=2)
#   MOTCUA_DISPLAY_DRY_RUN  1: print the command instead of running it
#
# Run it from the TV box's graphical session (e.g. a systemd user unit or the X session's
# autostart). It turns off screen blanking when xset is there.
set -euo pipefail

URL=${1:-${MOTCUA_DISPLAY_URL:-}}
if [ -z "$URL" ]; then
    echo "usage: $0 URL   (or set MOTCUA_DISPLAY_URL)" >&2
    echo "  e.g. $0 'http://192.0.2.10:5000/display?token=dev_...&voices=vi,en'" >&2
    exit 2
fi
case "$URL" in
    http://*/display*|https://*/display*) ;;
    *) echo "not a Motcua display URL (http[s]://HOST/display...): $URL" >&2; exit 2 ;;
esac

CHROMIUM=${MOTCUA_CHROMIUM:-}
if [ -z "$CHROMIUM" ]; then
    for candidate in chromium chromium-browser google-chrome; do
        if command -v "$candidate" >/dev/null 2>&1; then CHROMIUM=$(command -v "$candidate"); break; fi
    done
fi
if [ -z "$CHROMIUM" ]; then
    echo "Chromium not found: sudo apt-get install -y chromium fonts-noto-core" >&2
    exit 1
fi

PROFILE=${MOTCUA_DISPLAY_PROFILE:-${HOME:-/tmp}/.local/share/motcua-display}

FLAGS=(
    --kiosk
    --start-fullscreen
    --autoplay-policy=no-user-gesture-required
    --noerrdialogs
    --disable-session-crashed-bubble
    --disable-infobars
    --hide-crash-restore-bubble
    --no-first-run
    --no-default-browser-check
    --disable-translate
    --disable-features=Translate,TranslateUI,MediaRouter,HardwareMediaKeyHandling
    --disable-pinch
    --overscroll-history-navigation=0
    --check-for-update-interval=31536000
    --password-store=basic
    --user-data-dir="$PROFILE"
)
if [ -n "${MOTCUA_DISPLAY_EXTRA:-}" ]; then
    read -r -a EXTRA <<<"$MOTCUA_DISPLAY_EXTRA"
    FLAGS+=("${EXTRA[@]}")
fi

if [ "${MOTCUA_DISPLAY_DRY_RUN:-0}" = "1" ]; then
    printf '%q ' "$CHROMIUM" "${FLAGS[@]}" "$URL"
    echo
    exit 0
fi

mkdir -p "$PROFILE"

# A TV must not blank or sleep.
if [ -n "${DISPLAY:-}" ] && command -v xset >/dev/null 2>&1; then
    xset s off -dpms s noblank 2>/dev/null || true
fi

forget_crash() {
    # After a power cut Chromium marks the profile as crashed and offers to restore: clear it.
    local prefs="$PROFILE/Default/Preferences"
    if [ -f "$prefs" ]; then
        sed -i -e 's/"exited_cleanly":false/"exited_cleanly":true/' \
               -e 's/"exit_type":"[A-Za-z]*"/"exit_type":"Normal"/' "$prefs" || true
    fi
}

while :; do
    forget_crash
    status=0
    "$CHROMIUM" "${FLAGS[@]}" "$URL" || status=$?
    if [ "${MOTCUA_DISPLAY_RESTART:-1}" != "1" ]; then
        exit "$status"
    fi
    echo "$(date -Is) Chromium exited ($status); starting it again in 3 s" >&2
    sleep 3
done
