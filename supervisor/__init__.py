"""Supervisor station (live dashboard, rebalancing, reports). Built on ``server/``.

``/supervisor/`` (signed-in supervisors and admins; ``?site=CODE`` picks a site in scope,
default the supervisor's own; ``?lang=en`` for English). The page lives on the JSON API
(``/api/v1/sites/{site}/dashboard``, ``advice``, ``audit``, ``reports/...``) with the session
cookie and the CSRF header, and on the ``/supervisor`` realtime namespace of the site and of
each of its reception points: an event makes the page fetch the dashboard again (events do not
carry waits, idle times or alerts), and a periodic refresh keeps the idle clocks moving.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from sqlalchemy import select

from server.core import auth
from server.core.auth import Principal
from server.models import Site, User
from server.web.i18n import request_lang, texts
from server.web.signin import login_required

bp = Blueprint(
    "supervisor",
    __name__,
    url_prefix="/supervisor",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def _forbidden(lang: str) -> Response:
    t = texts("signin")[lang]
    return Response(
        render_template("auth/forbidden.html", t=t, lang=lang, message=t["forbidden_title"]),
        status=403,
    )


@bp.get("/")
@login_required("supervisor", "admin")
def page(principal: Principal) -> Any:
    lang = request_lang(accept_language=False, remember=True)
    db = current_app.extensions["motcua"].db
    with db.read() as s:
        # Centres in scope (their reception points are on each centre's page).
        centres = [
            c for c in s.scalars(select(Site).where(Site.kind == "centre").order_by(Site.id))
            if auth.can_rebalance(s, principal, c.id)
        ]
        code = request.args.get("site")
        site: Site | None
        if code:
            site = s.scalar(select(Site).where(Site.code == code[:32]))
        elif principal.site_id is not None:
            site = s.get(Site, principal.site_id)
            if site is not None and site.kind == "province" and centres:
                site = centres[0]  # a province's own page has no queue: its first centre
        else:  # an admin with no site: the first centre
            site = centres[0] if centres else None
        if site is None or not auth.can_rebalance(s, principal, site.id):
            return _forbidden(lang)
        choices = [
            {"code": c.code, "name": c.name_vi if lang == "vi" else c.name_en}
            for c in centres
        ]
        user = s.get(User, principal.user_id) if principal.user_id else None
        info = {
            "code": site.code,
            "name": site.name_vi if lang == "vi" else site.name_en,
            "timezone": site.timezone,
        }
        user_name = (user.full_name or user.username) if user else ""
    strings = texts("supervisor")[lang]
    resp = Response(
        render_template(
            "supervisor/index.html",
            lang=lang,
            t=strings,
            strings=strings,
            site=info,
            user_name=user_name,
            choices=choices if len(choices) > 1 else [],
            other_lang="en" if lang == "vi" else "vi",
        )
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp
