"""The citizen's tracking page ``/t/<token>``: the page the ticket's QR opens on a phone.

Small (no framework; the realtime client is the only script library), Vietnamese first
(``?lang=en``), live through the ``/track`` namespace, no personal data."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template

from server.core.errors import AppError
from server.features import fences, tickets
from server.web.i18n import request_lang, texts

bp = Blueprint("track", __name__, template_folder="../templates")



@bp.get("/t/<token>")
def page(token: str) -> Any:
    lang = request_lang(texts("track"), accept_language=False, use_session=False)
    ctx = current_app.extensions["motcua"]
    try:
        if len(token) > 64:
            raise AppError("not_found", what="ticket")
        with ctx.db.read() as s:
            state = tickets.track(s, token, ctx.clock(), ctx.settings.public_base_url)
    except AppError:
        # A ticket taken after the point a restore brought the data back to is unknown here:
        # the page says so plainly, in both languages (the ticket's language is lost with it).
        notice = None
        if len(token) <= 64:
            with ctx.db.read() as s:
                notice = fences.tracking_notice(s, ctx.clock())
        html = render_template("track/not_found.html", lang=lang, t=texts("track")[lang],
                               strings=texts("track"), notice=notice)
        return Response(html, status=404, mimetype="text/html")
    # The ticket's page speaks the language the ticket was taken in, unless asked otherwise.
    strings = texts("track")
    lang = request_lang(strings, accept_language=False, use_session=False,
                        default=state.get("lang"))
    html = render_template(
        "track/page.html", lang=lang, t=strings[lang], strings=strings, state=state, token=token
    )
    resp = Response(html, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp
