"""The citizen's dossier page ``/d/<token>``: the page the receipt's QR opens on a phone.

Server-rendered, no script, Vietnamese first (``?lang=en``). It shows the procedure, the code,
the dates and the steps; never the applicant's name, ID number, phone or address."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template

from server.core.errors import AppError
from server.features import dossiers, fences
from server.web.i18n import request_lang, texts

bp = Blueprint("dossier_page", __name__, template_folder="../templates")



@bp.get("/d/<token>")
def page(token: str) -> Any:
    lang = request_lang(texts("dossier"), accept_language=False, use_session=False)
    ctx = current_app.extensions["motcua"]
    try:
        with ctx.db.read() as s:
            state = dossiers.public_view(s, token, ctx.clock())
    except AppError:
        # A dossier received after the point a restore brought the data back to is unknown
        # here: the page says so plainly, in both languages.
        with ctx.db.read() as s:
            notice = fences.tracking_notice(s, ctx.clock(), "dossier")
        html = render_template("dossier/not_found.html", lang=lang, t=texts("dossier")[lang],
                               strings=texts("dossier"), notice=notice)
        return Response(html, status=404, mimetype="text/html")
    html = render_template("dossier/page.html", lang=lang, t=texts("dossier")[lang], d=state)
    resp = Response(html, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp
