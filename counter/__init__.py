"""Counter station: the clerk's call/serve screen, dossier intake and the citizen's rating
tablet, built on ``server/`` (REST API v1 + the ``/counter`` Socket.IO namespace).

- ``/counter/``: sign in (``server/web_auth``), then choose a counter of the site; a clerk's
  choice is bound to their session (``bind_counter``), so their requests act on that counter
  only, exactly like a counter-bound clerk token.
- ``/counter/<id>``: the station. Everything on it goes through the API (with the session
  cookie and the ``X-CSRF-Token`` header) and stays live through the ``/counter`` namespace.
- ``/counter/<id>/rate``: a tablet facing the citizen; after each Finish it offers three
  buttons (very satisfied / satisfied / not satisfied), then returns to idle.

Vietnamese by default, ``?lang=en``; the wording is the catalogs' area ``counter``
(server/core/catalogs.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from server.core import auth
from server.features.counters import counter_view
from server.models import Counter, Site, User
from server.rules.states import AT_COUNTER, CALL_STARTS_SERVICE, TRANSITIONS
from server.web.i18n import request_lang, texts
from server.web.qr import svg
from server.web.signin import bind_counter, csrf_ok, login_required

bp = Blueprint(
    "counter",
    __name__,
    url_prefix="/counter",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

STAFF_ROLES = ("clerk", "supervisor", "admin")

#: Common pause reasons offered in the pause dialog (string keys of the catalog's area "counter").
PAUSE_REASONS = ("reason_break", "reason_meeting", "reason_system")

#: The current-ticket panel's buttons: (action, string key, shortcut key).
ACTIONS = (
    ("call_next", "call_next", "F2"),
    ("recall", "recall", "F3"),
    ("start", "start", "F4"),
    ("no_show", "no_show", "F6"),
    ("park", "park", "F7"),
    ("finish", "finish", "F8"),
    ("transfer", "transfer", "F9"),
)

#: For each button of the current-ticket panel, the statuses of the ticket at the counter
#: from which the move is legal: the page enables a button from this table, taken from the
#: state machine itself (server/queue/states.py), so the two cannot drift apart.
TICKET_MOVES: dict[str, list[str]] = {
    action: sorted(
        str(status) for (status, act) in TRANSITIONS if act == action and status in AT_COUNTER
    )
    for action, _key, _shortcut in ACTIONS
    if action != "call_next"
}
#: The same where the call starts the service: finish is legal right after the call.
TICKET_MOVES_CALL_STARTS: dict[str, list[str]] = {
    action: sorted(set(statuses) | {
        str(status) for (status, act) in CALL_STARTS_SERVICE if act == action
    })
    for action, statuses in TICKET_MOVES.items()
}


def _ctx() -> Any:
    return current_app.extensions["motcua"]


def _page(template: str, status: int = 200, **kw: Any) -> Response:
    lang = kw.pop("lang", None) or request_lang(accept_language=False, remember=True)
    strings = texts("counter")
    html = render_template(template, lang=lang, t=strings[lang], strings=strings, **kw)
    resp = Response(html, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _error_page(key_title: str, key_message: str, status: int) -> Response:
    lang = request_lang(accept_language=False, remember=True)
    t = texts("counter")[lang]
    return _page("counter/error.html", status, lang=lang, title=t[key_title],
                 message=t[key_message])


def _unbound(p: auth.Principal) -> auth.Principal:
    """The principal as if no counter were chosen yet: may they sit at another counter?"""
    return dataclasses.replace(p, counter_id=None)


def _username(s: Any, p: auth.Principal) -> str:
    user = s.get(User, p.user_id) if p.user_id is not None else None
    return user.username if user is not None else ""


def _counter_or_error(s: Any, p: auth.Principal, counter_id: int) -> Counter | Response:
    counter = s.get(Counter, counter_id)
    if counter is None:
        return _error_page("not_found_title", "not_found", 404)
    if not auth.can_operate_counter(s, _unbound(p), counter):
        return _error_page("forbidden_title", "forbidden_counter", 403)
    return counter


@bp.get("")
@bp.get("/")
@login_required(*STAFF_ROLES)
def pick(principal: auth.Principal) -> Any:
    """The counters of a site (the user's own by default; ``?site=`` for supervisors and
    admins over several sites), with their state; choosing one opens the station."""
    with _ctx().db.read() as s:
        sites = [
            site
            for site in s.scalars(select(Site).order_by(Site.id))
            if auth.in_scope(s, principal, site.id)
        ]
        with_counters = set(s.scalars(select(Counter.site_id).distinct()))
        wanted = request.args.get("site")
        site = next((x for x in sites if x.code == wanted), None) if wanted else None
        if site is None:  # their own site; else (a province) the first with counters
            site = next((x for x in sites if x.id == principal.site_id), None)
            if site is None or site.id not in with_counters:
                site = next((x for x in sites if x.id in with_counters), site)
        counters = []
        if site is not None:
            counters = [
                counter_view(s, c)
                for c in s.scalars(
                    select(Counter).where(Counter.site_id == site.id).order_by(Counter.number)
                )
            ]
        site_choices = [(x.code, x.name_vi, x.name_en) for x in sites]
        site_info = (site.code, site.name_vi, site.name_en) if site else None
        user = _username(s, principal)
    return _page(
        "counter/pick.html",
        principal=principal,
        counters=counters,
        site=site_info,
        sites=site_choices if principal.role != "clerk" else [],
        user=user,
    )


@bp.post("/<int:counter_id>/bind")
@login_required(*STAFF_ROLES)
def bind(counter_id: int, principal: auth.Principal) -> Any:
    """Sit at this counter: a clerk's session is bound to it; supervisors and admins simply
    open its station (they may act on any counter of their sites)."""
    if not csrf_ok():  # a stale or forged form: nothing changes
        return _error_page("forbidden_title", "stale_form", 400)
    with _ctx().db.read() as s:
        found = _counter_or_error(s, principal, counter_id)
        if isinstance(found, Response):
            return found
    if principal.role == "clerk":
        bind_counter(counter_id)
    lang = request_lang(accept_language=False, remember=True)
    return redirect(url_for("counter.station", counter_id=counter_id, lang=lang))


def _station_counter(principal: auth.Principal, counter_id: int) -> dict[str, Any] | Response:
    with _ctx().db.read() as s:
        found = _counter_or_error(s, principal, counter_id)
        if isinstance(found, Response):
            return found
        if principal.role == "clerk" and principal.counter_id != counter_id:
            # Choosing changes the session: a POST from the picker, never a GET.
            lang = request_lang(accept_language=False, remember=True)
            return redirect(url_for("counter.pick", lang=lang, unbound=counter_id))
        site = found.site
        return {
            "id": found.id,
            "number": found.number,
            "site": site.code,
            "site_name": {"vi": site.name_vi, "en": site.name_en},
            "timezone": site.timezone,
            "call_starts_service": site.call_starts_service,
            "user": _username(s, principal),
        }


@bp.get("/<int:counter_id>")
@login_required(*STAFF_ROLES)
def station(counter_id: int, principal: auth.Principal) -> Any:
    info = _station_counter(principal, counter_id)
    if isinstance(info, Response):
        return info
    return _page(
        "counter/station.html",
        counter=info,
        principal=principal,
        actions=ACTIONS,
        moves=TICKET_MOVES_CALL_STARTS if info["call_starts_service"] else TICKET_MOVES,
        pause_reasons=PAUSE_REASONS,
        user=info["user"],
    )


@bp.get("/<int:counter_id>/rate")
def rate(counter_id: int) -> Any:
    """The citizen-facing tablet of a counter: signed in as that counter's clerk, or a
    device in kiosk mode opened with ``?token=<kiosk device token of the site>`` (the
    token leaves the address bar at once, as on the kiosk)."""
    token = request.args.get("token")
    if token:
        return _rate_device(counter_id, token[:200])
    return _rate_signed_in(counter_id=counter_id)


@login_required(*STAFF_ROLES)
def _rate_signed_in(counter_id: int, principal: auth.Principal) -> Any:
    info = _station_counter(principal, counter_id)
    if isinstance(info, Response):
        return info
    return _page("counter/rate.html", counter=info, user=info["user"], device_token=None)


def _rate_device(counter_id: int, token: str) -> Any:
    with _ctx().db.read() as s:
        p = auth.principal_from_token(s, token)
        counter = s.get(Counter, counter_id)
        if counter is None:
            return _error_page("not_found_title", "not_found", 404)
        if p is None or not auth.is_counter_tablet(s, p, counter):
            return _error_page("forbidden_title", "forbidden_counter", 403)
        site = counter.site
        info = {
            "id": counter.id,
            "number": counter.number,
            "site": site.code,
            "site_name": {"vi": site.name_vi, "en": site.name_en},
            "timezone": site.timezone,
        }
    resp = _page("counter/rate.html", counter=info, user=None, device_token=token)
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.get("/qr/d/<token>.svg")
@login_required(*STAFF_ROLES)
def dossier_qr(token: str, principal: auth.Principal) -> Response:
    """The QR of a dossier's public tracking page, drawn for the clerk's screen and the
    browser-printed receipt."""
    if not (8 <= len(token) <= 64) or not token.replace("-", "").replace("_", "").isalnum():
        abort(404)
    base = _ctx().settings.public_base_url.rstrip("/")
    resp = Response(svg(f"{base}/d/{token}"), mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "private, max-age=86400"
    return resp
