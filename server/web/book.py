"""The citizen's booking pages: ``/book`` (book a time at a centre) and ``/b/<token>`` (the
booking's own page, which the confirmation's QR opens).

Phone-first and small like the tracking page: no account, no app, Vietnamese first
(``?lang=en``). The pages talk to the booking API (ARCHITECTURE.md, "The booking API": slots,
the ALTCHA challenge, hold, confirm, read, cancel); this module only renders their shells and
serves what the API does not: the list of centres and fields a citizen can choose from (public,
names only), the procedures of a field with their documents (read lazily, one field at a time:
a province's catalog is large), and the booking link's QR as SVG.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.features.dossiers import procedure_view, province_of
from server.models import Procedure, Service, Site
from server.web.i18n import request_lang, texts
from server.web.qr import svg

bp = Blueprint("book", __name__, template_folder="../templates")

# The booking link's secret: what the API hands out (URL-safe), never longer than this.
TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CODE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")



def bookable_sites(session: Session) -> list[dict[str, Any]]:
    """Centres and reception points with their active fields: names only, public (what a
    citizen reads on a centre's door). Whether a field takes bookings on a day, and how many,
    is the slots endpoint's answer."""
    sites = session.scalars(
        select(Site).where(Site.kind != "province").order_by(Site.id)
    ).all()
    services = session.scalars(
        select(Service).where(Service.active.is_(True)).order_by(Service.sort_order, Service.id)
    ).all()
    by_site: dict[int, list[dict[str, Any]]] = {}
    for s in services:
        by_site.setdefault(s.site_id, []).append(
            {"code": s.code, "name": {"vi": s.name_vi, "en": s.name_en}}
        )
    return [
        {
            "code": site.code,
            "name": {"vi": site.name_vi, "en": site.name_en},
            "address": site.address,
            "timezone": site.timezone,
            "services": by_site[site.id],
        }
        for site in sites
        if by_site.get(site.id)
    ]


def _page(template: str, status: int = 200, **ctx: Any) -> Response:
    strings = texts("book")
    lang = request_lang(strings, accept_language=False, use_session=False)
    html = render_template(template, lang=lang, t=strings[lang], strings=strings, **ctx)
    resp = Response(html, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.get("/book")
def book() -> Response:
    ctx = current_app.extensions["motcua"]
    with ctx.db.read() as s:
        sites = bookable_sites(s)
    return _page("book/book.html", sites=sites)


@bp.get("/book/<site>/<service>/procedures.json")
def procedures(site: str, service: str) -> Response:
    """The active procedures of one field at a site's province, with their documents."""
    if not CODE.match(site) or not CODE.match(service):
        abort(404)
    ctx = current_app.extensions["motcua"]
    with ctx.db.read() as s:
        row = s.scalar(select(Site).where(Site.code == site))
        if row is None:
            abort(404)
        province = province_of(s, row)
        procs = s.scalars(
            select(Procedure)
            .where(Procedure.site_id == province.id, Procedure.service_code == service,
                   Procedure.active.is_(True))
            .order_by(Procedure.code)
        ).all()
        out = [
            {k: v for k, v in procedure_view(p).items() if k in ("code", "name", "documents")}
            for p in procs
        ]
    resp = jsonify(out)
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


@bp.get("/b/<token>")
def booking(token: str) -> Response:
    """The booking's page; its details are read by the page from the API with the token."""
    if not TOKEN.match(token):
        return _page("book/not_found.html", status=404)
    return _page("book/booking.html", token=token)


@bp.get("/b/<token>/qr.svg")
def qr(token: str) -> Response:
    """The booking link as a QR code: the kiosk's scanner reads it at check-in."""
    if not TOKEN.match(token):
        abort(404)
    base = current_app.extensions["motcua"].settings.public_base_url.rstrip("/")
    resp = Response(svg(f"{base}/b/{token}"), mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "private, max-age=86400"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp
