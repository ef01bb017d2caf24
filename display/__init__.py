"""Wall display station: a full-screen board for the lobby TV, with spoken announcements.

``/display?token=<display device token>`` (the page keeps the token, so a reboot returns to the
same display; see ``options.py`` for ``lang``, ``voices``, ``repeat``, ``volume``, ``recent``).
The board lives on the ``/display`` realtime namespace (snapshot + ``seq``): the numbers now
called with their counter, the last calls, people waiting per service, the site's name and
clock, an optional ticker. Numbers and counters only: never a name or an ID number.

Audio, made on the server without internet (see ``speech.py``):

- ``GET /display/audio/<tag>/chime.mp3``: the chime (public, generated in Python);
- ``GET /display/audio/<tag>/<lang>/call/<number>.mp3`` then ``.../counter/<n>.mp3``: the call
  in two pieces ("Mời số A042," + "đến quầy số 3."), MP3 at a speech bitrate. The counter piece
  is the same for every call to that counter: a display fetches it once and keeps it (its
  service worker holds pieces for a day). ``<tag>`` is the voice's digest
  (``Speech.voice_tag``, given to the page), so a kept piece is never an outdated one;
  ``.../missed/all.mp3`` opens the list of calls made while a display was offline. The
  display's bearer token is required, every part is checked strictly (``vi|en``, ``A042``-like,
  1..999), 503 when no speech engine is present;
- ``GET /display/audio/chime.wav`` and ``/display/audio/<lang>/<number>/<counter>.wav``: the
  whole call as WAV (~180 kB), kept for pages loaded before the pieces existed.

The page never waits for sound: the number is on the board when the event arrives, the pieces
are fetched after, and a piece that does not come in time is skipped (the number flashes).
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask.blueprints import BlueprintSetupState

from server.web.audio import chime_response, part_response, phrase_response, speech
from server.web.i18n import texts
from server.web.speech import Speech, chime_wav

from .options import parse_options

bp = Blueprint(
    "display",
    __name__,
    url_prefix="/display",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

AUDIO_ROLES = ("display", "supervisor", "admin")


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    # One synthesiser per app; it looks for an engine once and logs once if there is none.
    settings = state.app.extensions["motcua"].settings
    state.app.extensions.setdefault("motcua_speech", Speech.from_settings(settings))


@bp.get("")
@bp.get("/")
def page() -> Any:
    opts = parse_options(request.args)
    lang = opts["lang"]
    strings = texts("display")
    engine = speech()
    audio = {"tag": engine.voice_tag, "speech": engine.available}
    resp = Response(
        render_template(
            "display/index.html", lang=lang, strings=strings, t=strings[lang], opts=opts,
            audio=audio,
        )
    )
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"  # the token is in the first URL
    return resp


@bp.get("/audio/chime.wav")
def chime() -> Response:
    data = chime_wav()
    resp = Response(data, mimetype="audio/wav")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    resp.set_etag(hashlib.sha256(data).hexdigest()[:16])
    return resp.make_conditional(request)


@bp.get("/audio/<tag>/chime.mp3")
def chime_mp3(tag: str) -> Response:
    return chime_response(tag)


@bp.get("/audio/<tag>/<lang>/<kind>/<value>.mp3")
def part(tag: str, lang: str, kind: str, value: str) -> Response:
    """A piece of a call, e.g. /display/audio/<tag>/vi/call/A042.mp3 (display token)."""
    return part_response(tag, lang, kind, value, AUDIO_ROLES)


@bp.get("/audio/<lang>/<number>/<counter>.wav")
def phrase(lang: str, number: str, counter: str) -> Response:
    """The spoken call, e.g. /display/audio/vi/A042/3.wav (display token)."""
    return phrase_response(lang, number, counter, AUDIO_ROLES)
