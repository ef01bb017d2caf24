"""Kiosk station: a full-screen touch page where citizens take a numbered ticket.

``/kiosk?token=<device token>`` (the page keeps the token, so a reboot returns to the same
kiosk); Vietnamese by default, ``?lang=en`` or one tap for English. The page talks to the REST
API (issue with an Idempotency-Key) and listens on the ``/kiosk`` namespace for live counts.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask.blueprints import BlueprintSetupState

from server.rules.appointments import CODE_ALPHABET
from server.web.audio import ticket_phrase_response
from server.web.i18n import request_lang, texts
from server.web.qr import svg
from server.web.speech import Speech

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
    settings = state.app.extensions["motcua"].settings
    state.app.extensions.setdefault("motcua_speech", Speech.from_settings(settings))


@bp.get("/audio/<lang>/<number>.wav")
def announce(lang: str, number: str) -> Response:
    """"Số của Quý khách là A042. Hộ tịch. 3 người chờ trước Quý khách." / "Your number is A042.
    Civil status. 3 people before you.", spoken on the server (eSpeak NG, offline), for citizens
    who cannot read the screen: ``?service=<code>&ahead=<n>`` add the service and the people
    ahead (without them, the number only). The kiosk's bearer token is required."""
    return ticket_phrase_response(lang, number, request.args.get("service"),
                                  request.args.get("ahead"), ("kiosk",))


@bp.get("")
@bp.get("/")
def page() -> Any:
    strings = texts("kiosk")
    lang = request_lang(strings, accept_language=False, use_session=False)
    resp = Response(
        render_template("kiosk/index.html", lang=lang, strings=strings, t=strings[lang],
                        code_alphabet=CODE_ALPHABET)
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
