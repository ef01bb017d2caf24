"""Staff sign-in for the browser stations (counter, supervisor, admin).

Devices (kiosks, displays) and scripts use bearer tokens; people use this: a username and
password form at ``/login`` that puts the user in a signed session cookie. The same
:class:`~server.auth.Principal` comes out of either, so the API, the sockets and the pages
check one thing.

- ``principal_from_session(db_session)``: the signed-in user as a Principal (``kind="user"``),
  re-checked against the database on every request (a disabled user is out at once).
- A state-changing API request authenticated by the cookie must carry the session's CSRF token
  in the ``X-CSRF-Token`` header (pages read it from ``<meta name="csrf-token">``); bearer
  requests need none.
- ``login_required(*roles)`` guards a page: not signed in → the sign-in form, then back;
  signed in with another role → a 403 page in the user's language.
- A clerk picks the counter they sit at (``bind_counter``); their principal then carries that
  counter, exactly like a counter-bound clerk token.
- Wrong passwords slow down the address that sends them, for that username only: after
  ``FREE_FAILURES`` failures from one client address each further try waits twice as long
  (1 s, 2 s, 4 s ... up to ``MAX_WAIT``). The same user from another address signs in at once,
  so nobody can lock staff out by failing on purpose (per process; a brake on guessing, not an
  account state). Unknown usernames cost one password hash too, so timing does not tell
  which usernames exist.
- A session lasts ``MOTCUA_SESSION_HOURS`` (12 h) from sign-in and ends after
  ``MOTCUA_SESSION_IDLE_MINUTES`` (60) without a request; signing out raises the user's
  ``session_epoch``, so a copy of the old cookie no longer works either.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core import auth
from server.models import Counter, User, UserSite
from server.web.client import client_address
from server.web.i18n import request_lang, texts

log = logging.getLogger("motcua.auth")

bp = Blueprint("web_auth", __name__, template_folder="../templates")

FREE_FAILURES = 3  # wrong passwords from one address before it has to wait
MAX_WAIT = 900.0  # seconds: the longest wait between two tries (15 min)
FORGET_AFTER = 24 * 3600.0  # a (username, address) that stopped failing is forgotten
SEEN_EVERY = 60  # seconds: how often a request refreshes the session's last-seen time



# --- failures -----------------------------------------------------------------------------


class _Throttle:
    """Failures per (username, client address), with exponential backoff."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fails: dict[tuple[str, str], tuple[int, float]] = {}  # -> (count, last failure)

    @staticmethod
    def wait_after(count: int) -> float:
        """Seconds to wait after ``count`` failures: 0, then 1, 2, 4 ... up to MAX_WAIT."""
        if count < FREE_FAILURES:
            return 0.0
        return min(MAX_WAIT, 2.0 ** min(count - FREE_FAILURES, 30))

    def locked_for(self, username: str, address: str) -> float:
        with self._lock:
            count, last = self._fails.get((username, address), (0, 0.0))
            return max(0.0, last + self.wait_after(count) - time.monotonic())

    def fail(self, username: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            key = (username, address)
            count, last = self._fails.pop(key, (0, 0.0))
            if now - last > FORGET_AFTER:
                count = 0
            self._fails[key] = (count + 1, now)  # re-inserted: the dict stays oldest first
            while len(self._fails) > 10_000:  # bounded memory under a guessing storm
                self._fails.pop(next(iter(self._fails)))

    def ok(self, username: str, address: str) -> None:
        with self._lock:
            self._fails.pop((username, address), None)


def _throttle() -> _Throttle:
    return current_app.extensions["motcua_login_throttle"]  # type: ignore[no-any-return]


# --- the session as a principal -----------------------------------------------------------


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def csrf_ok() -> bool:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    expected = session.get("csrf") or ""
    return bool(expected) and hmac.compare_digest(str(sent), str(expected))


def user_site_ids(db_session: Session, user_id: int) -> list[int]:
    return list(
        db_session.scalars(
            select(UserSite.site_id).where(UserSite.user_id == user_id).order_by(UserSite.site_id)
        )
    )


def _session_fresh() -> bool:
    """Within its lifetime since sign-in and its idle timeout since the last request; a
    request refreshes the last-seen time (at most once a minute: it rewrites the cookie)."""
    settings = current_app.extensions["motcua"].settings
    now = int(time.time())
    signed_in, seen = session.get("iat"), session.get("seen")
    if not isinstance(signed_in, int) or not isinstance(seen, int):
        return False
    if now - signed_in > settings.session_hours * 3600:
        return False
    if now - seen > settings.session_idle_minutes * 60:
        return False
    if now - seen >= SEEN_EVERY:
        session["seen"] = now
    return True


def principal_from_session(db_session: Session) -> auth.Principal | None:
    uid = session.get("uid")
    if not isinstance(uid, int):
        return None
    if not _session_fresh():
        return None
    user = db_session.get(User, uid)
    if user is None or not user.active or session.get("pw") != _password_stamp(user):
        return None
    if session.get("ep") != user.session_epoch:  # signed out since (on any device)
        return None
    site_id = session.get("site_id")
    sites = user_site_ids(db_session, user.id)
    if user.role != "admin" and site_id not in sites:
        return None
    counter_id = session.get("counter_id") if user.role == "clerk" else None
    if counter_id is not None:
        counter = db_session.get(Counter, counter_id)
        if counter is None or counter.site_id != site_id:
            counter_id = None
    return auth.Principal("user", user.id, user.role, site_id, counter_id, user.id)


def _password_stamp(user: User) -> str:
    """Changes when the password does: a reset signs the user out everywhere."""
    return user.password_hash[-12:]


def sign_in(user: User, site_id: int | None) -> None:
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["site_id"] = site_id
    session["pw"] = _password_stamp(user)
    session["ep"] = user.session_epoch
    session["iat"] = session["seen"] = int(time.time())
    csrf_token()


def bind_counter(counter_id: int | None) -> None:
    """The clerk sits at this counter (None: no counter) until they pick another."""
    session["counter_id"] = counter_id


def login_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Page guard: the view receives ``principal`` as a keyword argument."""

    def deco(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            db = current_app.extensions["motcua"].db
            with db.read() as s:
                p = principal_from_session(s)
                user = s.get(User, p.user_id) if p is not None else None
                name = user.username if user is not None else ""
            if p is None:
                return redirect(url_for("web_auth.login", next=request.full_path.rstrip("?")))
            if roles and p.role not in roles:
                lang = request_lang(texts("signin"), accept_language=False, remember=True)
                t = texts("signin")[lang]
                return Response(
                    render_template(
                        "auth/forbidden.html",
                        t=t,
                        lang=lang,
                        message=t["forbidden"].format(
                            user=name, role=t.get(f"role_{p.role}", p.role)
                        ),
                    ),
                    status=403,
                )
            return view(*args, principal=p, **kwargs)

        return wrapper

    return deco


def _safe_next(target: str | None) -> str:
    """Only a path on this server: never an open redirect."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def home_for(role: str) -> str:
    return {"clerk": "/counter/", "supervisor": "/supervisor/", "admin": "/admin/"}.get(role, "/")


# --- views --------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    lang = request_lang(texts("signin"), accept_language=False, remember=True)
    t = texts("signin")[lang]
    error = None
    status = 200
    username = ""
    target = request.values.get("next")
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()[:64]
        password = request.form.get("password") or ""
        address = client_address()
        wait = _throttle().locked_for(username, address)
        if not csrf_ok():
            error, status = t["bad_credentials"], 400
        elif not username or not password:
            error, status = t["missing"], 422
        elif wait:
            error, status = t["locked"].format(seconds=max(1, math.ceil(wait))), 429
        else:
            db = current_app.extensions["motcua"].db
            with db.read() as s:
                user = auth.authenticate_user(s, username, password)
                sites = user_site_ids(s, user.id) if user is not None else []
                if user is not None:
                    s.expunge(user)
            if user is None or (user.role != "admin" and not sites):
                _throttle().fail(username, address)
                log.info("sign-in refused", extra={"username": username, "client": address})
                error, status = t["bad_credentials"], 401
            else:
                _throttle().ok(username, address)
                sign_in(user, sites[0] if sites else None)
                session["lang"] = lang
                log.info("signed in", extra={"username": username, "role": user.role})
                return redirect(_safe_next(target) if target else home_for(user.role))
    return Response(
        render_template(
            "auth/login.html",
            t=t,
            lang=lang,
            error=error,
            username=username,
            next=_safe_next(target) if target else "",
        ),
        status=status,
    )


@bp.post("/logout")
def logout() -> Any:
    lang = session.get("lang", "vi")
    if csrf_ok():
        uid = session.get("uid")
        if isinstance(uid, int):
            # Server-side: every cookie of this user signed in before now stops working, so a
            # copied or stolen cookie does not outlive the sign-out.
            with current_app.extensions["motcua"].db.write() as s:
                user = s.get(User, uid)
                if user is not None:
                    user.session_epoch = (user.session_epoch or 0) + 1
        session.clear()
    return redirect(url_for("web_auth.login", lang=lang))


def init_app(app: Any) -> None:
    app.register_blueprint(bp)
    app.extensions["motcua_login_throttle"] = _Throttle()
    app.jinja_env.globals["csrf_token"] = csrf_token
    settings = app.extensions["motcua"].settings
    # Set, not setdefault: Flask already defines these keys (31 days, no SameSite).
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = settings.cookie_secure
    app.config["PERMANENT_SESSION_LIFETIME"] = dt.timedelta(hours=settings.session_hours)
