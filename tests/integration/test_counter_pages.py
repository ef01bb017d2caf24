"""The counter station's pages: the sign-in guard, site scope, choosing (binding) a counter,
the pause reason, and the buttons' exact accessible names in Vietnamese and English."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from server.features import seed
from server.models import Counter
from tests.conftest import sign_in

# In the order of the panel (the order of the keyboard shortcuts F2 .. F9).
EN_NAMES = ["Call next", "Recall", "Start", "No-show", "Park", "Finish", "Transfer"]
VI_NAMES = ["Gọi số tiếp", "Gọi lại", "Bắt đầu", "Vắng mặt", "Tạm hoãn", "Hoàn thành", "Chuyển"]


def _aria_labels(html: str) -> list[str]:
    """Each action button's accessible name: its visible label (the key hint beside it is
    aria-hidden, so the name is the label and nothing else)."""
    return re.findall(r'data-action="[a-z_]+"[^>]*>\s*<span>([^<]+)</span>\s*'
                      r'<kbd aria-hidden="true">', html, re.S)


def _bind(client, counter_id: int, csrf: str, lang: str = "vi"):  # type: ignore[no-untyped-def]
    return client.post(f"/counter/{counter_id}/bind?lang={lang}", data={"csrf_token": csrf})


@pytest.mark.parametrize("path", ["/counter/", "/counter/1", "/counter/1/rate"])
def test_anonymous_is_sent_to_the_sign_in_form(app, staff, path) -> None:
    r = app.test_client().get(path)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/login?next=/counter/")


def test_clerk_of_another_site_gets_403_and_binds_nothing(app, staff, world, db) -> None:
    c = app.test_client()
    csrf = sign_in(c, "clerk.other")
    ht_counter = world.counters[1]
    page = c.get(f"/counter/{ht_counter}")
    assert page.status_code == 403
    assert "không được làm việc tại quầy này" in page.get_data(as_text=True)
    assert _bind(c, ht_counter, csrf).status_code == 403
    with c.session_transaction() as sess:
        assert sess.get("counter_id") is None
    assert c.get(f"/counter/{ht_counter}/rate?lang=en").status_code == 403
    # Their own site's counters are listed, not HT's.
    listing = c.get("/counter/").get_data(as_text=True)
    assert f"/counter/{world.counters[-1]}/bind" in listing
    assert f"/counter/{ht_counter}/bind" not in listing


def test_unknown_counter_is_a_friendly_404(app, staff) -> None:
    c = app.test_client()
    sign_in(c, "clerk.ht")
    r = c.get("/counter/999999?lang=en")
    assert r.status_code == 404 and "Counter not found" in r.get_data(as_text=True)


def test_a_clerk_binds_a_counter_and_then_acts_on_it_only(app, staff, world) -> None:
    c = app.test_client()
    csrf = sign_in(c, "clerk.ht")
    c1, c2 = world.counters[1], world.counters[2]
    listing = c.get("/counter/")
    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    assert "Quầy 1" in html and "Quầy 2" in html and "Làm việc tại quầy 2" in html
    # Not chosen yet: the station sends the clerk back to choose (a GET never binds).
    r = c.get(f"/counter/{c2}")
    assert r.status_code == 302 and "/counter/" in r.headers["Location"]
    # Binding needs the CSRF token.
    assert c.post(f"/counter/{c2}/bind").status_code == 400
    r = _bind(c, c2, csrf)
    assert r.status_code == 302 and r.headers["Location"].startswith(f"/counter/{c2}")
    with c.session_transaction() as sess:
        assert sess["counter_id"] == c2
    assert c.get(f"/counter/{c2}").status_code == 200
    # The session now acts like a counter-bound clerk token: counter 2 yes, counter 1 no.
    h = {"X-CSRF-Token": csrf}
    pause = {"reason": "x"}
    assert c.post(f"/api/v1/counters/{c2}/pause", json=pause, headers=h).status_code == 200
    assert c.post(f"/api/v1/counters/{c1}/pause", json=pause, headers=h).status_code == 403
    # The station of another counter sends them back to the picker; they may rebind there.
    assert c.get(f"/counter/{c1}").status_code == 302
    assert _bind(c, c1, csrf).status_code == 302
    with c.session_transaction() as sess:
        assert sess["counter_id"] == c1


def test_pause_reason_is_stored_and_shown(app, staff, world, db) -> None:
    c = app.test_client()
    csrf = sign_in(c, "clerk.ht")
    cid = world.counters[3]
    _bind(c, cid, csrf)
    r = c.post(f"/api/v1/counters/{cid}/pause", json={"reason": "Họp: giao ban"},
               headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "paused"
    assert r.get_json()["status_reason"] == "Họp: giao ban"
    with db.read() as s:
        row = s.scalar(select(Counter).where(Counter.id == cid))
        assert row is not None and row.status == "paused" and row.status_reason == "Họp: giao ban"
    listing = c.get("/counter/").get_data(as_text=True)
    assert "Họp: giao ban" in listing and "Tạm dừng" in listing
    # Opening again clears the reason.
    c.post(f"/api/v1/counters/{cid}/open", headers={"X-CSRF-Token": csrf})
    with db.read() as s:
        assert s.get(Counter, cid).status_reason is None  # type: ignore[union-attr]


def test_station_in_vietnamese_and_english_with_exact_button_names(app, staff, world) -> None:
    c = app.test_client()
    csrf = sign_in(c, "clerk.ht")
    cid = world.counters[1]
    _bind(c, cid, csrf)
    vi = c.get(f"/counter/{cid}?lang=vi")
    assert vi.status_code == 200
    vi_html = vi.get_data(as_text=True)
    assert '<html lang="vi">' in vi_html
    assert _aria_labels(vi_html) == VI_NAMES
    assert "Tiếp nhận hồ sơ" in vi_html and "Mở quầy" in vi_html
    assert f'<meta name="csrf-token" content="{csrf}">' in vi_html
    # The buttons are enabled from the server's state machine, not a copy of it (the site's
    # call starts the service, the default: finish is legal right after the call).
    assert '"finish": ["called", "serving"]' in vi_html
    assert '"park": ["called", "serving"]' in vi_html
    en = c.get(f"/counter/{cid}?lang=en")
    en_html = en.get_data(as_text=True)
    assert '<html lang="en">' in en_html
    assert _aria_labels(en_html) == EN_NAMES
    for name in EN_NAMES:  # the visible label is the English one too
        assert f"<span>{name}</span>" in en_html
    assert 'aria-keyshortcuts="F2"' in en_html and "<kbd" in en_html
    assert "Dossier intake" in en_html and "Pause" in en_html
    # The language sticks to the session until changed.
    assert '<html lang="en">' in c.get(f"/counter/{cid}").get_data(as_text=True)


def test_supervisor_opens_any_counter_of_their_site_without_binding(app, staff, world) -> None:
    c = app.test_client()
    sign_in(c, "sup.ht")
    assert c.get(f"/counter/{world.counters[2]}").status_code == 200
    assert c.get(f"/counter/{world.counters[-1]}").status_code == 403  # OTHER site
    # A province supervisor chooses among the sites under the province.
    c2 = app.test_client()
    sign_in(c2, "sup.prov")
    default = c2.get("/counter/?lang=en").get_data(as_text=True)  # a site with counters
    assert f"/counter/{world.counters[1]}/bind" in default
    html = c2.get("/counter/?site=OTHER&lang=en").get_data(as_text=True)
    assert 'name="site"' in html and f"/counter/{world.counters[-1]}/bind" in html
    assert "Open the counter 1 station" in html


def test_rating_tablet_page(app, staff, world) -> None:
    c = app.test_client()
    csrf = sign_in(c, "clerk.ht")
    cid = world.counters[2]
    _bind(c, cid, csrf)
    vi = c.get(f"/counter/{cid}/rate").get_data(as_text=True)
    for label in ("Rất hài lòng", "Hài lòng", "Không hài lòng"):
        assert f">{label}</button>" in vi
    en = c.get(f"/counter/{cid}/rate?lang=en").get_data(as_text=True)
    for label in ("Very satisfied", "Satisfied", "Not satisfied"):
        assert f">{label}</button>" in en


def test_dossier_qr_is_drawn_for_signed_in_staff(app, staff) -> None:
    c = app.test_client()
    assert c.get("/counter/qr/d/abcdefghijkl.svg").status_code == 302
    sign_in(c, "clerk.ht")
    r = c.get("/counter/qr/d/abcdefghijkl.svg")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml" and b"<svg" in r.data
    assert c.get("/counter/qr/d/bad%20token!.svg").status_code == 404


def test_rating_tablet_as_a_kiosk_device_bound_to_the_counter(app, staff, world, clock) -> None:
    c = app.test_client()  # no one signed in: the device token is the credential
    cid = world.counters[2]
    with world.db.write() as s:
        counter = s.get(Counter, cid)
        tablet = seed.add_device(s, counter.site, "kiosk", "tablet-2", None, clock(),
                                 counter=counter)
    r = c.get(f"/counter/{cid}/rate?lang=en&token={tablet}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert ">Very satisfied</button>" in html and tablet in html
    assert r.headers["Referrer-Policy"] == "no-referrer"
    # Another counter's page; a lobby kiosk (bound to no counter); other devices.
    assert c.get(f"/counter/{world.counters[1]}/rate?token={tablet}").status_code == 403
    for role in ("kiosk", "other_kiosk", "display"):
        denied = c.get(f"/counter/{cid}/rate?token={world.tokens[role]}")
        assert denied.status_code == 403, role
    assert c.get(f"/counter/{cid}/rate?token=nonsense").status_code == 403
