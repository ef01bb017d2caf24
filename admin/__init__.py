"""Admin console: ``/admin/`` for admins (supervisors: their own sites, read-only),
and ``/pair``, the public page a new kiosk or display opens to be paired by code.

The console is one page over the admin API (``server/api/admin.py``), signed in with the staff
session (``server.web_auth``); state changes carry the session's CSRF token. Vietnamese by
default, ``?lang=en`` for English (remembered in the session).

``/pair`` (``?lang=en``): the device makes a secret, asks for a short code, shows it in big
letters and polls; when an admin has typed the code in the console, the page receives the
device token once, stores it where the kiosk or display page looks for it
(``localStorage["motcua.kiosk.token"]`` / ``["motcua.display.token"]``) and opens that page.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template

from server.core.auth import Principal
from server.models import User
from server.rules.fields import BOOKING_SETTINGS, ONLINE_SHARE_DEFAULT
from server.web.i18n import request_lang, texts
from server.web.signin import login_required

bp = Blueprint(
    "admin",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/admin/static",
)


@bp.get("/admin/")
@bp.get("/admin")
@login_required("admin", "supervisor")
def console(principal: Principal) -> Any:
    lang = request_lang(accept_language=False, remember=True)
    with current_app.extensions["motcua"].db.read() as s:
        user = s.get(User, principal.user_id) if principal.user_id else None
        username = user.username if user else principal.actor
    resp = Response(
        render_template(
            "admin/console.html",
            lang=lang,
            t=texts("admin")[lang],
            auth_t=texts("signin")[lang],
            role=principal.role,
            username=username,
            booking_settings=[(k, v[0], v[1], v[2]) for k, v in BOOKING_SETTINGS.items()],
            online_share_default=round(ONLINE_SHARE_DEFAULT * 100),
        )
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/pair")
def pair() -> Any:
    strings = texts("pair")
    lang = request_lang(strings, accept_language=False, use_session=False)
    resp = Response(render_template("admin/pair.html", lang=lang, t=strings[lang]))
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp
