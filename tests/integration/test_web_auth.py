"""Staff sign-in: the session cookie as a principal for pages, the API and the sockets."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from server.models import User
from tests.conftest import STAFF_PASSWORD, sign_in


def _csrf(page_html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page_html).group(1)  # type: ignore[union-attr]


def test_login_form_vi_default_and_en(app, staff) -> None:
    c = app.test_client()
    vi = c.get("/login").get_data(as_text=True)
    assert 'lang="vi"' in vi and "Đăng nhập cán bộ" in vi and "Mật khẩu" in vi
    en = c.get("/login?lang=en").get_data(as_text=True)
    assert 'lang="en"' in en and "Staff sign-in" in en and ">Sign in</button>" in en


def test_sign_in_lands_on_the_role_home_and_api_accepts_the_session(app, staff) -> None:
    c = app.test_client()
    page = c.get("/login")
    r = c.post(
        "/login",
        data={
            "username": "sup.ht",
            "password": STAFF_PASSWORD,
            "csrf_token": _csrf(page.get_data(as_text=True)),
        },
    )
    assert r.status_code == 302 and r.headers["Location"] == "/supervisor/"
    sites = c.get("/api/v1/sites")
    assert sites.status_code == 200
    assert {s["code"] for s in sites.get_json()} >= {"HT"}


def test_wrong_password_is_refused_and_changes_nothing(app, staff) -> None:
    c = app.test_client()
    csrf = _csrf(c.get("/login").get_data(as_text=True))
    r = c.post("/login", data={"username": "sup.ht", "password": "nope", "csrf_token": csrf})
    assert r.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu." in r.get_data(as_text=True)
    assert c.get("/api/v1/sites").status_code == 401


def _login(c, username: str, password: str, **environ: str):
    csrf = _csrf(c.get("/login", environ_base=environ).get_data(as_text=True))
    return c.post("/login", data={"username": username, "password": password, "csrf_token": csrf},
                  environ_base=environ)


def test_failures_slow_the_failing_address_not_the_user(app, staff) -> None:
    """An attacker failing on purpose cannot lock a clerk out: the attacker's address waits
    longer and longer, the clerk's own address signs in with the right password at once."""
    attacker = {"REMOTE_ADDR": "198.51.100.66"}
    c = app.test_client()
    for _ in range(3):
        assert _login(c, "clerk.ht", "x", **attacker).status_code == 401
    slowed = _login(c, "clerk.ht", STAFF_PASSWORD, **attacker)
    assert slowed.status_code == 429
    assert "Nhập sai quá nhiều lần" in slowed.get_data(as_text=True)
    clerk = app.test_client()
    assert _login(clerk, "clerk.ht", STAFF_PASSWORD, REMOTE_ADDR="10.1.2.3").status_code == 302
    # Backoff doubles with every failure (1 s, 2 s, 4 s ... 15 min).
    from server.web.signin import MAX_WAIT, _Throttle

    waits = [_Throttle.wait_after(n) for n in range(1, 16)]
    assert waits[:5] == [0.0, 0.0, 1.0, 2.0, 4.0] and waits[-1] == MAX_WAIT


def test_the_address_behind_the_trusted_proxy_is_the_one_throttled(app, staff) -> None:
    """Behind nginx (127.0.0.1, MOTCUA_FORWARDED_ALLOW_IPS' default) the client is the
    X-Forwarded-For entry; from any other peer that header is ignored."""
    c = app.test_client()
    proxy = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    for _ in range(3):
        assert _login(c, "sup.ht", "x", **proxy).status_code == 401
    assert _login(c, "sup.ht", STAFF_PASSWORD, **proxy).status_code == 429
    other = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert _login(app.test_client(), "sup.ht", STAFF_PASSWORD, **other).status_code == 302
    # A peer that is not a trusted proxy cannot pick a fresh address with the header.
    direct = {"REMOTE_ADDR": "198.51.100.7"}
    for n in range(4):
        forged = {**direct, "HTTP_X_FORWARDED_FOR": f"192.0.2.{n}"}
        _login(c, "sup.ht", "x", **forged)
    forged = {**direct, "HTTP_X_FORWARDED_FOR": "192.0.2.200"}
    assert _login(c, "sup.ht", STAFF_PASSWORD, **forged).status_code == 429


def test_unknown_usernames_cost_one_password_hash_too(app, staff, monkeypatch) -> None:
    """Timing does not tell which usernames exist: every attempt checks exactly one hash."""
    from server.core import auth

    calls: list[str] = []
    real = auth.check_password_hash

    def counting(stored: str, password: str) -> bool:
        calls.append(stored)
        return real(stored, password)

    monkeypatch.setattr(auth, "check_password_hash", counting)
    c = app.test_client()
    assert _login(c, "nobody.here", "x", REMOTE_ADDR="10.9.9.1").status_code == 401
    assert len(calls) == 1
    assert _login(c, "sup.ht", "x", REMOTE_ADDR="10.9.9.2").status_code == 401
    assert len(calls) == 2
    assert calls[0] != calls[1]  # the dummy hash, then the user's own


def _cookie_header(r) -> str:
    return next(v for k, v in r.headers.items() if k == "Set-Cookie" and v.startswith("session="))


def test_session_cookie_is_lax_httponly_and_lasts_the_configured_hours(app, staff) -> None:
    import datetime as dt
    from email.utils import parsedate_to_datetime

    c = app.test_client()
    r = _login(c, "sup.ht", STAFF_PASSWORD)
    cookie = _cookie_header(r)
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie and "Secure" not in cookie
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    left = expires - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=11) < left <= dt.timedelta(hours=12, minutes=1)


@pytest.mark.parametrize("how", ["https_base", "flag"])
def test_session_cookie_is_secure_behind_tls(db, clock, world, staff, how) -> None:
    from server.app import create_app
    from server.config import Settings

    extra = ({"public_base_url": "https://motcua.example"} if how == "https_base"
             else {"session_cookie_secure": True})
    application = create_app(Settings(database_url=db.url, print_worker=False,
                                      outbox_worker=False, **extra),
                             db=db, clock=clock)
    try:
        r = _login(application.test_client(), "sup.ht", STAFF_PASSWORD)
        assert r.status_code == 302
        assert "Secure" in _cookie_header(r)
    finally:
        application.extensions["motcua_printing"].stop()


def test_a_replayed_cookie_is_refused_after_logout(app, staff) -> None:
    c = app.test_client()
    csrf = sign_in(c, "sup.ht")
    stolen = c.get_cookie("session").value
    assert c.post("/logout", data={"csrf_token": csrf}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/api/v1/sites").status_code == 401
    assert thief.get("/supervisor/").status_code == 302  # back to the sign-in form
    # Signing in again works as usual.
    again = app.test_client()
    sign_in(again, "sup.ht")
    assert again.get("/api/v1/sites").status_code == 200


def test_an_idle_session_ends_and_a_used_one_lives_on(app, staff) -> None:
    import time

    c = app.test_client()
    sign_in(c, "clerk.ht")
    with c.session_transaction() as sess:
        sess["seen"] = int(time.time()) - 59 * 60  # used 59 minutes ago: still alive
    assert c.get("/api/v1/sites").status_code == 200
    with c.session_transaction() as sess:
        assert sess["seen"] >= int(time.time()) - 5  # that request counted as use
        sess["seen"] = int(time.time()) - 61 * 60  # idle for 61 minutes
    assert c.get("/api/v1/sites").status_code == 401


def test_a_session_ends_after_its_lifetime_even_when_used(app, staff) -> None:
    import time

    c = app.test_client()
    sign_in(c, "clerk.ht")
    with c.session_transaction() as sess:
        sess["iat"] = int(time.time()) - 12 * 3600 - 5
    assert c.get("/api/v1/sites").status_code == 401


def test_state_change_needs_the_csrf_header(app, staff, world) -> None:
    c = app.test_client()
    csrf = sign_in(c, "clerk.ht")
    cid = world.counters[1]
    refused = c.post(f"/api/v1/counters/{cid}/pause", json={"reason": "break"})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "csrf_failed"
    assert c.get("/api/v1/sites/HT/counters").get_json()[0]["status"] == "open"
    ok = c.post(
        f"/api/v1/counters/{cid}/pause", json={"reason": "break"}, headers={"X-CSRF-Token": csrf}
    )
    assert ok.status_code == 200, ok.get_json()


def test_a_clerk_acts_only_at_their_site(app, staff, world) -> None:
    c = app.test_client()
    csrf = sign_in(c, "clerk.other")
    r = c.post(f"/api/v1/counters/{world.counters[1]}/open", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403


def test_disabled_user_is_signed_out_at_once(app, staff, db) -> None:
    c = app.test_client()
    sign_in(c, "sup.ht")
    assert c.get("/api/v1/sites").status_code == 200
    with db.write() as s:
        s.scalar(select(User).where(User.username == "sup.ht")).active = False
    assert c.get("/api/v1/sites").status_code == 401


def test_password_reset_ends_existing_sessions(app, staff, db) -> None:
    from server.core.auth import hash_password

    c = app.test_client()
    sign_in(c, "sup.ht")
    with db.write() as s:
        s.scalar(select(User).where(User.username == "sup.ht")).password_hash = hash_password(
            "new-pw-1"
        )
    assert c.get("/api/v1/sites").status_code == 401


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"]
)
def test_next_is_never_an_open_redirect(app, staff, target) -> None:
    c = app.test_client()
    csrf = _csrf(c.get("/login").get_data(as_text=True))
    r = c.post(
        "/login",
        data={"username": "admin", "password": STAFF_PASSWORD, "csrf_token": csrf, "next": target},
    )
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_next_returns_to_the_page_asked_for(app, staff) -> None:
    c = app.test_client()
    csrf = _csrf(c.get("/login").get_data(as_text=True))
    r = c.post(
        "/login",
        data={
            "username": "clerk.ht",
            "password": STAFF_PASSWORD,
            "csrf_token": csrf,
            "next": "/counter/?lang=en",
        },
    )
    assert r.headers["Location"] == "/counter/?lang=en"


def test_logout_needs_csrf_and_ends_the_session(app, staff) -> None:
    c = app.test_client()
    csrf = sign_in(c, "sup.ht")
    c.post("/logout")  # no token: ignored
    assert c.get("/api/v1/sites").status_code == 200
    c.post("/logout", data={"csrf_token": csrf})
    assert c.get("/api/v1/sites").status_code == 401


def test_page_guard_redirects_then_refuses_other_roles(app, staff) -> None:
    from server.web.signin import login_required

    @login_required("supervisor")
    def only_supervisors(principal):  # type: ignore[no-untyped-def]
        return f"hello {principal.role} {principal.user_id}"

    app.add_url_rule("/_guarded", "guarded", only_supervisors)
    c = app.test_client()
    r = c.get("/_guarded")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=/_guarded")
    sign_in(c, "clerk.ht")
    denied = c.get("/_guarded")
    assert denied.status_code == 403 and "clerk.ht" in denied.get_data(as_text=True)
    c2 = app.test_client()
    sign_in(c2, "sup.ht")
    assert c2.get("/_guarded").get_data(as_text=True).startswith("hello supervisor ")


def test_socket_connects_with_the_session_cookie(app, staff) -> None:
    hub = app.extensions["motcua_hub"]
    c = app.test_client()
    sign_in(c, "sup.ht")
    sio = hub.socketio.test_client(
        app, namespace="/supervisor", flask_test_client=c, auth={"site": "HT"}
    )
    assert sio.is_connected("/supervisor")
    got = sio.get_received("/supervisor")
    assert got and got[0]["name"] == "snapshot"
    anonymous = hub.socketio.test_client(app, namespace="/supervisor", auth={})
    assert not anonymous.is_connected("/supervisor")
