"""The booking pages' own routes (server/web/book.py): the /book shell with the centres and
fields a citizen can choose, a field's procedures with their documents, the booking link's page
and QR. The booking API itself is tested with its feature."""

from __future__ import annotations

import json
import re

from server.core.lookups import get_site
from server.features import procedures
from server.features.dossiers import province_of


def _config(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="motcua-config">(.*?)</script>', html, re.S)
    assert m
    return json.loads(m.group(1))


def test_book_page_lists_centres_and_fields_in_both_languages(app, db) -> None:
    client = app.test_client()
    r = client.get("/book")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert '<html lang="vi">' in html and "Đặt lịch hẹn" in html
    assert "bạn" not in html.lower()
    cfg = _config(html)
    codes = [s["code"] for s in cfg["sites"]]
    assert "HT" in codes and "OTHER" in codes and "PROV" not in codes  # a province has no lobby
    ht = next(s for s in cfg["sites"] if s["code"] == "HT")
    assert [x["code"] for x in ht["services"]] == ["land", "civil", "business"]
    assert ht["timezone"] == "Asia/Ho_Chi_Minh"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    en = client.get("/book?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in en and "Book a time" in en
    assert "No account needed" in en


def test_procedures_of_a_field_with_documents(app, db) -> None:
    with db.write() as s:
        procedures.seed_catalog(s, province_of(s, get_site(s, "HT")))
    r = app.test_client().get("/book/HT/civil/procedures.json")
    assert r.status_code == 200
    rows = r.get_json()
    birth = next(p for p in rows if p["code"] == "HT-KS")
    assert birth["name"] == {"vi": "Đăng ký khai sinh", "en": "Birth registration"}
    assert {"vi": "Giấy chứng sinh do cơ sở y tế cấp",
            "en": "Birth certificate issued by the hospital"} in birth["documents"]
    assert all(set(p) == {"code", "name", "documents"} for p in rows)  # no more than the page needs
    assert app.test_client().get("/book/NOPE/civil/procedures.json").status_code == 404
    assert app.test_client().get("/book/HT/civil/procedures.json").status_code == 200


def test_booking_link_page_and_qr(app) -> None:
    client = app.test_client()
    token = "AbCdEfGh12345678_-xyz"
    r = client.get(f"/b/{token}?lang=en")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert _config(html)["booking_token"] == token
    assert f"/api/v1/bookings/{token}/calendar.ics" in html
    qr = client.get(f"/b/{token}/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"
    assert b"<svg" in qr.data
    # A malformed token is a plain "not found" page in the citizen's language, no API call.
    bad = client.get("/b/short")
    assert bad.status_code == 404 and "Không tìm thấy lịch hẹn" in bad.get_data(as_text=True)
    assert client.get("/b/" + "x" * 65 + "/qr.svg").status_code == 404
