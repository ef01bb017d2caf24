"""The page a dossier receipt's QR opens, in Chromium on a phone-sized screen: the procedure,
the dates and the steps, readable without zooming or sideways scrolling; no personal data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.conftest import demo_site

pytestmark = pytest.mark.slow
ID = "038190004567"


@pytest.fixture
def dossier(tmp_path: Path) -> Iterator[dict[str, Any]]:
    site = demo_site(tmp_path)
    server, kiosk = site["server"], site["kiosk"]
    try:
        token3, counter3 = site["clerks"][3]
        clerk = {"Authorization": f"Bearer {token3}"}
        base = server.url
        r = requests.post(f"{base}/api/v1/sites/HACTHANH/tickets", timeout=10,
                          headers={"Authorization": f"Bearer {kiosk}"}, json={"service": "civil"})
        assert r.status_code == 201
        t = requests.post(f"{base}/api/v1/counters/{counter3}/call-next", timeout=10,
                          headers=clerk).json()["ticket"]
        r = requests.post(
            f"{base}/api/v1/tickets/{t['id']}/dossiers", timeout=10,
            headers={**clerk, "Idempotency-Key": uuid.uuid4().hex},
            json={"procedure": "HT-KH",
                  "applicant": {"name": "Hoàng Thị Em", "id_number": ID, "phone": "0903111222"}},
        )
        assert r.status_code == 201, r.text
        d = r.json()
        assert d["printed"] is False  # the demo counters have no printer
        yield {"server": server, "dossier": d, "clerk": clerk}
    finally:
        server.stop()


def test_dossier_page_on_a_phone(browser: Any, dossier: dict[str, Any]) -> None:
    d = dossier["dossier"]
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="vi-VN",
                                  is_mobile=True)
    page = context.new_page()
    try:
        assert d["track_url"].endswith(f"/d/{d['token']}")
        page.goto(f"{dossier['server'].url}/d/{d['token']}")
        expect(page.locator("#status")).to_have_text("Đã tiếp nhận")
        expect(page.locator("#status")).to_have_attribute("data-status", "received")
        expect(page.locator("#code")).to_have_text(d["code"])
        expect(page.locator("#procedure")).to_have_text("Đăng ký kết hôn")
        expect(page.locator("#steps li")).to_have_count(1)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        text = page.locator("body").inner_text()
        for secret in (ID, "0903111222", "Hoàng Thị Em"):
            assert secret not in text and secret not in page.content()

        r = requests.post(f"{dossier['server'].url}/api/v1/dossiers/{d['code']}/status",
                          timeout=10, headers=dossier["clerk"], json={"status": "transferred"})
        assert r.status_code == 200
        page.get_by_role("link", name="English").click()
        expect(page.locator("#status")).to_have_text("Sent to the competent agency")
        expect(page.locator("#steps li")).to_have_count(2)
        expect(page.locator("html")).to_have_attribute("lang", "en")

        page.goto(dossier["server"].url + "/d/unknown-token-123")
        expect(page.get_by_role("heading")).to_have_text("Không tìm thấy hồ sơ")
    finally:
        context.close()
