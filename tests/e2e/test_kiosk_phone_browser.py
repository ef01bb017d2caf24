"""The kiosk's optional phone step in Chromium: a citizen types a mobile number on the large
keypad, agrees (the consent is on screen) and takes a ticket; two tickets ahead are called and
the demo's message file (the gateway of the demo) receives the Vietnamese "sắp đến lượt" text
with the ticket's tracking link; the call sends the counter."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from server.core.db import Database
from server.core.lookups import get_site
from server.features import notifications
from tests.e2e.conftest import demo_site
from tests.support import call_next, demo, issue

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    db_url = f"sqlite:///{tmp_path / 'motcua.sqlite3'}"
    demo(db_url)
    db = Database(db_url)
    with db.write() as session:  # the site offers messages through the demo's file
        notifications.configure_channel(
            session, get_site(session, "HACTHANH").id, "file", now=dt.datetime.now(dt.UTC),
            policy=notifications.Policy(base_url=""))
    db.dispose()
    s = demo_site(tmp_path, {"MOTCUA_MESSAGES_FILE": str(tmp_path / "data" / "messages.jsonl"),
                             "MOTCUA_PUBLIC_BASE_URL": "http://motcua.test"})
    yield s
    s["server"].stop()


def messages(path: Path, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            return [json.loads(x) for x in lines]
        time.sleep(0.1)


def no_show(base: str, clerk: tuple[str, int], ticket_id: int) -> None:
    r = requests.post(f"{base}/api/v1/tickets/{ticket_id}/no-show", json={}, timeout=10,
                      headers={"Authorization": f"Bearer {clerk[0]}"})
    assert r.status_code == 200, r.text


def open_kiosk(page: Any, base: str, token: str) -> None:
    """The kiosk, once it knows the site sends messages: it asks in the background and never
    makes a citizen's tap wait for that answer (a tap before it issues at once, no phone step),
    so a test that taps at machine speed waits for it first."""
    with page.expect_response(re.compile(r"/api/v1/sites/[^/]+/notifications$")):
        page.goto(f"{base}/kiosk?token={token}")


def test_phone_on_the_keypad_then_near_and_called_messages(site: dict[str, Any],
                                                          page: Any, tmp_path: Path) -> None:
    base = site["server"].url
    clerk = site["clerks"][3]  # counter 3 serves civil status only
    for _ in range(5):
        issue(base, site["kiosk"], "civil")
    open_kiosk(page, base, site["kiosk"])
    page.get_by_role("button", name="Hộ tịch – Chứng thực").first.click()
    page.get_by_role("button", name="Không, lấy số thường").click()
    step = page.get_by_role("dialog", name="Nhận tin nhắn khi sắp đến lượt")
    expect(step).to_be_visible()
    expect(page.locator("#phone-consent")).to_contain_text("đồng ý nhận tối đa 2 tin nhắn")
    agree = page.get_by_role("button", name="Đồng ý và lấy số")
    expect(agree).to_be_disabled()
    for d in "0912345679":  # a typo, then fixed with Xóa
        page.locator(f".phone-key[data-key='{d}']").click()
    page.get_by_role("button", name="Xóa", exact=True).click()
    page.locator(".phone-key[data-key='8']").click()
    expect(page.locator("#phone-number")).to_have_text("091 234 5678")
    agree.click()
    expect(page.locator("#t-number")).to_have_text("B006")
    expect(page.locator("#t-ahead")).to_have_text("5")
    expect(step).to_be_hidden()

    path = tmp_path / "data" / "messages.jsonl"
    first = call_next(base, clerk)
    no_show(base, clerk, first["id"])
    second = call_next(base, clerk)  # two called: three ahead now
    no_show(base, clerk, second["id"])
    (near,) = messages(path, 1)
    assert near["kind"] == "near" and near["channel"] == "file"
    assert near["to"] == "+84912345678"
    assert "Quý khách số B006 sắp đến lượt" in near["text"] and "còn 3 người" in near["text"]
    assert "http://motcua.test/t/" in near["text"]
    for field in ("idempotency_key", "ref", "created_at", "sent_at"):
        assert near[field]
    for _ in range(3):
        t = call_next(base, clerk)
        no_show(base, clerk, t["id"])
    mine = call_next(base, clerk)
    assert mine["number"] == "B006"
    out = messages(path, 2)
    assert [m["kind"] for m in out] == ["near", "called"]
    assert out[1]["text"].startswith("Mời Quý khách số B006 đến quầy 3")
    assert len({m["idempotency_key"] for m in out}) == 2


def test_skip_issues_without_a_number(site: dict[str, Any], page: Any, tmp_path: Path) -> None:
    base = site["server"].url
    open_kiosk(page, base, site["kiosk"])
    page.get_by_role("button", name="Hộ tịch – Chứng thực").first.click()
    page.get_by_role("button", name="Không, lấy số thường").click()
    page.get_by_role("button", name="Bỏ qua, lấy số").click()
    expect(page.locator("#t-number")).to_have_text("B001")
    call_next(base, site["clerks"][3])
    time.sleep(1.5)
    assert not (tmp_path / "data" / "messages.jsonl").exists()
