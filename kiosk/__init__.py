"""Kiosk station: a full-screen touch page where citizens take a numbered ticket.

``/kiosk?token=<device token>`` (the page keeps the token, so a reboot returns to the same
kiosk); Vietnamese by default, ``?lang=en`` or one tap for English. The page talks to the REST
API (issue with an Idempotency-Key) and listens on the ``/kiosk`` namespace for live counts.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    send_file,
)
from flask.blueprints import BlueprintSetupState

from server.auth import principal_from_token
from server.errors import AppError
from server.qr import svg
from server.speech import VOICES, InvalidPart, Speech, SpeechUnavailable, validate

from .strings import STRINGS

bp = Blueprint(
    "kiosk",
    __name__,
    url_prefix="/kiosk",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    # The synthesiser is shared with the wall display (one per app).
    state.app.extensions.setdefault("motcua_speech", Speech.from_env())


def _error(err: AppError) -> Response:
    lang = request.args.get("lang", "vi")
    resp = jsonify({"error": {"code": err.code, "message": err.message(lang)}})
    resp.status_code = err.status
    return resp


@bp.get("/audio/<lang>/<number>.wav")
def announce(lang: str, number: str) -> Response:
    """"Số của bạn là A042" / "Your number is A042", spoken on the server (eSpeak NG), for
    citizens who cannot read the screen. The kiosk's bearer token is required."""
    try:
        lang, number, _ = validate(lang, number, None)
    except InvalidPart as bad:
        return _error(AppError("validation_error", detail=bad.part))
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    with current_app.extensions["motcua"].db.read() as s:
        p = principal_from_token(s, token)
    if p is None:
        return _error(AppError("unauthorized"))
    g.principal = p
    if p.role != "kiosk":
        return _error(AppError("forbidden"))
    try:
        path = current_app.extensions["motcua_speech"].phrase_wav(lang, number, None)
    except SpeechUnavailable:
        resp = jsonify({"error": {"code": "speech_unavailable", "message": "no speech engine"}})
        resp.status_code = 503
        return resp
    resp = send_file(path, mimetype="audio/wav", max_age=86400, conditional=True, etag=True)
    resp.headers["Cache-Control"] = "private, max-age=86400"
    resp.headers["X-Speech-Voice"] = VOICES[lang]
    return resp


@bp.get("")
@bp.get("/")
def page() -> Any:
    lang = request.args.get("lang", "vi")
    if lang not in STRINGS:
        lang = "vi"
    resp = Response(
        render_template("kiosk/index.html", lang=lang, strings=STRINGS, t=STRINGS[lang])
    )
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"  # the token is in the first URL
    return resp


@bp.get("/qr/<token>.svg")
def qr(token: str) -> Response:
    """The tracking QR of a ticket, drawn for the screen."""
    if not (8 <= len(token) <= 64) or not token.replace("-", "").replace("_", "").isalnum():
        abort(404)
    base = current_app.extensions["motcua"].settings.public_base_url.rstrip("/")
    resp = Response(svg(f"{base}/t/{token}"), mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp
