"""Wall display station: a full-screen board for the lobby TV, with spoken announcements.

``/display?token=<display device token>`` (the page keeps the token, so a reboot returns to the
same display; see ``options.py`` for ``lang``, ``voices``, ``repeat``, ``volume``, ``recent``).
The board lives on the ``/display`` realtime namespace (snapshot + ``seq``): the numbers now
called with their counter, the last calls, people waiting per service, the site's name and
clock, an optional ticker. Numbers and counters only: never a name or an ID number.

Audio, made on the server without internet (see ``speech.py``):

- ``GET /display/audio/chime.wav``: the chime (public, generated in Python);
- ``GET /display/audio/<lang>/<number>/<counter>.wav``: the spoken call, e.g.
  ``/display/audio/vi/A042/3.wav``; the display's bearer token is required, every part is
  checked strictly (``vi|en``, ``A042``-like, 1..999), 503 when no speech engine is present.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, Response, current_app, g, render_template, request, send_file
from flask.blueprints import BlueprintSetupState

from server.auth import principal_from_token
from server.errors import AppError
from server.speech import VOICES, InvalidPart, Speech, SpeechUnavailable, chime_wav, validate

from .options import parse_options
from .strings import STRINGS

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
    state.app.extensions.setdefault("motcua_speech", Speech.from_env())


def speech() -> Speech:
    s: Speech = current_app.extensions["motcua_speech"]
    return s


def _lang() -> str:
    q = request.args.get("lang")
    if q in STRINGS:
        return q
    return request.accept_languages.best_match(list(STRINGS)) or "vi"


def _json_error(code: str, status: int, message: str) -> Response:
    resp = Response(
        json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False),
        status=status,
        mimetype="application/json",
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _app_error(err: AppError) -> Response:
    return _json_error(err.code, err.status, err.message(_lang()))


@bp.get("")
@bp.get("/")
def page() -> Any:
    opts = parse_options(request.args)
    lang = opts["lang"]
    resp = Response(
        render_template(
            "display/index.html", lang=lang, strings=STRINGS, t=STRINGS[lang], opts=opts
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


@bp.get("/audio/<lang>/<number>/<counter>.wav")
def phrase(lang: str, number: str, counter: str) -> Response:
    # Strict checks first: the parts name a cache file and go into the synthesiser.
    try:
        lang, number, n = validate(lang, number, counter)
    except InvalidPart as bad:
        return _app_error(AppError("validation_error", detail=bad.part))
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    with current_app.extensions["motcua"].db.read() as s:
        p = principal_from_token(s, token)
    if p is None:
        return _app_error(AppError("unauthorized"))
    g.principal = p  # for the access log
    if p.role not in AUDIO_ROLES:
        return _app_error(AppError("forbidden"))
    try:
        path = speech().phrase_wav(lang, number, n)
    except SpeechUnavailable:
        resp = _json_error("speech_unavailable", 503, STRINGS[_lang()]["speech_unavailable"])
        resp.headers["Retry-After"] = "300"
        return resp
    resp = send_file(path, mimetype="audio/wav", max_age=86400, conditional=True, etag=True)
    resp.headers["Cache-Control"] = "private, max-age=86400"
    resp.headers["X-Speech-Voice"] = VOICES[lang]
    return resp
