"""The page a ticket's QR opens, in Chromium: live place in line, then "go to counter N"."""

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


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    site = demo_site(tmp_path)
    site["clerk3"] = site["clerks"][3]
    yield site
    site["server"].stop()


def issue(site: dict[str, Any]) -> dict[str, Any]:
    r = requests.post(f"{site['server'].url}/api/v1/sites/HACTHANH/tickets", timeout=10,
                      headers={"Authorization": f"Bearer {site['kiosk']}",
                               "Idempotency-Key": uuid.uuid4().hex},
                      json={"service": "civil"})
    assert r.status_code == 201
    return r.json()


def call_next(site: dict[str, Any]) -> dict[str, Any]:
    token, cid = site["clerk3"]
    r = requests.post(f"{site['server'].url}/api/v1/counters/{cid}/call-next", timeout=10,
                      headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    return r.json()["ticket"]


def finish(site: dict[str, Any], ticket_id: int) -> None:
    token, _ = site["clerk3"]
    for action in ("start", "finish"):
        r = requests.post(f"{site['server'].url}/api/v1/tickets/{ticket_id}/{action}",
                          timeout=10, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200


def test_position_falls_then_go_to_counter(site: dict[str, Any], page: Any) -> None:
    first, second, mine = issue(site), issue(site), issue(site)
    page.goto(f"{site['server'].url}/t/{mine['token']}")
    expect(page.locator("#number")).to_have_text(mine["number"])
    expect(page.locator("#ahead")).to_have_text("2")
    expect(page.locator("#status")).to_have_text("Đang chờ đến lượt")
    called = call_next(site)
    assert called["id"] == first["id"]
    expect(page.locator("#ahead")).to_have_text("1")
    finish(site, called["id"])
    call_next(site)  # second
    expect(page.locator("#ahead")).to_have_text("0")
    finish(site, second["id"])
    call_next(site)  # mine
    expect(page.locator("#go")).to_have_text("Mời Quý khách đến quầy 3 ngay")
    expect(page.locator("#facts")).to_be_hidden()


def test_unknown_token_is_a_friendly_404(site: dict[str, Any], page: Any) -> None:
    resp = page.goto(f"{site['server'].url}/t/not-a-real-token?lang=en")
    assert resp is not None and resp.status == 404
    expect(page.get_by_role("heading")).to_have_text("Number not found")
