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


def test_five_failures_lock_the_username(app, staff) -> None:
    c = app.test_client()
    csrf = _csrf(c.get("/login").get_data(as_text=True))
    for _ in range(5):
        r = c.post("/login", data={"username": "clerk.ht", "password": "x", "csrf_token": csrf})
        assert r.status_code == 401
    r = c.post(
        "/login", data={"username": "clerk.ht", "password": STAFF_PASSWORD, "csrf_token": csrf}
    )
    assert r.status_code == 429
    assert "Nhập sai quá nhiều lần" in r.get_data(as_text=True)


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
