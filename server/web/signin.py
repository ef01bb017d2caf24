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
- Five wrong passwords for one username lock it for five minutes (per process; the lock is a
  brake on guessing, not an account state).
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
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
from server.web.i18n import request_lang

log = logging.getLogger("motcua.auth")

bp = Blueprint("web_auth", __name__, template_folder="../templates")

SESSION_HOURS = 12
MAX_FAILURES = 5
LOCK_SECONDS = 300

STRINGS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Đăng nhập cán bộ",
        "username": "Tên đăng nhập",
        "password": "Mật khẩu",
        "sign_in": "Đăng nhập",
        "sign_out": "Đăng xuất",
        "bad_credentials": "Sai tên đăng nhập hoặc mật khẩu.",
        "locked": "Nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút.",
        "missing": "Vui lòng nhập tên đăng nhập và mật khẩu.",
        "forbidden_title": "Không có quyền truy cập",
        "forbidden": "Tài khoản {user} ({role}) không được dùng trang này.",
        "signed_out": "Bạn đã đăng xuất.",
        "switch_lang": "English",
        "switch_lang_name": "Switch to English",
        "role_admin": "quản trị",
        "role_supervisor": "giám sát",
        "role_clerk": "cán bộ tiếp nhận",
        "product": "Motcua – Hệ thống xếp hàng một cửa",
    },
    "en": {
        "title": "Staff sign-in",
        "username": "Username",
        "password": "Password",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "bad_credentials": "Wrong username or password.",
        "locked": "Too many wrong attempts. Please try again in {minutes} min.",
        "missing": "Please enter your username and password.",
        "forbidden_title": "Access denied",
        "forbidden": "The account {user} ({role}) may not use this page.",
        "signed_out": "You have signed out.",
        "switch_lang": "Tiếng Việt",
        "switch_lang_name": "Chuyển sang tiếng Việt",
        "role_admin": "administrator",
        "role_supervisor": "supervisor",
        "role_clerk": "clerk",
        "product": "Motcua – one-stop queue system",
    },
}


# --- failures -----------------------------------------------------------------------------


class _Throttle:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fails: dict[str, tuple[int, float]] = {}

    def locked_for(self, username: str) -> float:
        with self._lock:
            count, until = self._fails.get(username, (0, 0.0))
            return max(0.0, until - time.monotonic()) if count >= MAX_FAILURES else 0.0

    def fail(self, username: str) -> None:
        with self._lock:
            count, _ = self._fails.get(username, (0, 0.0))
            count += 1
            until = time.monotonic() + LOCK_SECONDS if count >= MAX_FAILURES else 0.0
            self._fails[username] = (count, until)
            if len(self._fails) > 10_000:  # bounded memory under a guessing storm
                self._fails.pop(next(iter(self._fails)))

    def ok(self, username: str) -> None:
        with self._lock:
            self._fails.pop(username, None)


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


def principal_from_session(db_session: Session) -> auth.Principal | None:
    uid = session.get("uid")
    if not isinstance(uid, int):
        return None
    user = db_session.get(User, uid)
    if user is None or not user.active or session.get("pw") != _password_stamp(user):
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
                lang = request_lang(STRINGS, accept_language=False, remember=True)
                t = STRINGS[lang]
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
    lang = request_lang(STRINGS, accept_language=False, remember=True)
    t = STRINGS[lang]
    error = None
    status = 200
    username = ""
    target = request.values.get("next")
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()[:64]
        password = request.form.get("password") or ""
        wait = _throttle().locked_for(username)
        if not csrf_ok():
            error, status = t["bad_credentials"], 400
        elif not username or not password:
            error, status = t["missing"], 422
        elif wait:
            error, status = t["locked"].format(minutes=max(1, round(wait / 60))), 429
        else:
            db = current_app.extensions["motcua"].db
            with db.read() as s:
                user = auth.authenticate_user(s, username, password)
                sites = user_site_ids(s, user.id) if user is not None else []
                if user is not None:
                    s.expunge(user)
            if user is None or (user.role != "admin" and not sites):
                _throttle().fail(username)
                log.info("sign-in refused", extra={"username": username})
                error, status = t["bad_credentials"], 401
            else:
                _throttle().ok(username)
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
        session.clear()
    return redirect(url_for("web_auth.login", lang=lang))


def init_app(app: Any) -> None:
    app.register_blueprint(bp)
    app.extensions["motcua_login_throttle"] = _Throttle()
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", dt.timedelta(hours=SESSION_HOURS))
    base = app.extensions["motcua"].settings.public_base_url or ""
    if base.startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
