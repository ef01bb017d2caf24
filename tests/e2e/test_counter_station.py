"""The counter station as a clerk uses it all day, in Chromium against
a real server with the demo province:

- with the site setting "call starts service" on, one key calls (F2), one finishes (F8) and
  Start is not offered (the service counts from the call); with it off Start stays;
- at a counter PC's 1366×768 the header is one line and the waiting list is on screen;
- the counter is remembered by the workstation and offered, preselected, at the next sign-in;
- the counter's own Vietnamese never sounds like blame or custody.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from server.core.catalogs import catalogs
from tests.e2e import test_counter_browser
from tests.e2e.test_counter_browser import (
    PASSWORD,
    issue,
    sign_in_at_counter_3,
)

pytestmark = pytest.mark.slow

# The demo province's server with counter 3's clerk and printer: the counter tests' fixture.
site = test_counter_browser.site

PC = {"width": 1366, "height": 768}


def call_starts_service(site: dict[str, Any]) -> None:
    """Turn the demo centre's "call starts service" setting on in its database (the column the
    admin console's checkbox writes): from then on call-next answers the ticket ``serving``."""
    engine = create_engine(site["env"]["MOTCUA_DATABASE_URL"])
    try:
        with engine.begin() as c:
            c.execute(text("UPDATE sites SET call_starts_service = :on WHERE code = 'HACTHANH'"),
                      {"on": True})
    finally:
        engine.dispose()


def test_one_key_calls_one_key_finishes_when_call_starts_service(
    site: dict[str, Any], page: Any
) -> None:
    page.set_viewport_size(PC)
    first, second = issue(site), issue(site)
    call_starts_service(site)
    sign_in_at_counter_3(page, site["server"].url)
    start = page.get_by_role("button", name="Start", exact=True)
    finish = page.get_by_role("button", name="Finish", exact=True)

    page.keyboard.press("F2")
    expect(page.locator("#cur-number")).to_have_text(first["number"])
    # The ticket stays "called" (recall and no-show still apply), and Finish ends it: nothing
    # to start, the call did.
    expect(start).to_be_hidden()
    expect(finish).to_be_enabled()
    page.keyboard.press("F8")
    expect(page.locator("#cur-number")).to_have_text("—")
    page.keyboard.press("F2")
    expect(page.locator("#cur-number")).to_have_text(second["number"])
    page.keyboard.press("F8")
    expect(page.locator("#cur-number")).to_have_text("—")
    clerk_token, _ = site["clerk3"]
    for t in (first, second):
        r = requests.get(f"{site['server'].url}/api/v1/tickets/{t['id']}", timeout=10,
                         headers={"Authorization": f"Bearer {clerk_token}"})
        assert r.json()["status"] == "done"


def test_start_stays_where_the_call_only_calls(site: dict[str, Any], page: Any) -> None:
    page.set_viewport_size(PC)
    ticket = issue(site)
    sign_in_at_counter_3(page, site["server"].url)
    start = page.get_by_role("button", name="Start", exact=True)
    page.keyboard.press("F2")
    expect(page.locator("#cur-number")).to_have_text(ticket["number"])
    expect(page.locator("#cur-status")).to_have_text("Called – waiting for the citizen")
    expect(start).to_be_visible()
    expect(start).to_be_enabled()
    page.keyboard.press("F4")
    expect(page.locator("#cur-status")).to_have_text("Being served")
    expect(start).to_be_hidden()
    page.keyboard.press("F8")
    expect(page.locator("#cur-number")).to_have_text("—")


def test_station_header_is_one_line_and_the_waiting_list_on_screen_at_1366x768(
    site: dict[str, Any], page: Any
) -> None:
    page.set_viewport_size(PC)
    issue(site, {"id_number": "038090001234", "name": "Lê Văn Tám",
                 "address": "12 Lê Lợi, Hạc Thành"})
    issue(site)
    sign_in_at_counter_3(page, site["server"].url)
    page.goto(page.url.split("?")[0] + "?lang=vi")
    expect(page.locator("#conn")).to_have_text("Trực tuyến")
    page.keyboard.press("F2")
    expect(page.locator("#cur-number")).not_to_have_text("—")
    if page.locator("#btn-start").is_visible():
        page.keyboard.press("F4")
    expect(page.locator("#cur-status")).to_have_text("Đang phục vụ")
    page.locator("#f-procedure").select_option("HT-KH")
    for state in ("serving", "intake"):
        rows = page.evaluate("""() => {
            const tops = new Set();
            for (const el of document.querySelectorAll('header.bar > *')) {
              const r = el.getBoundingClientRect();
              if (r.width > 0 && r.height > 0) tops.add(Math.round(r.top + r.height / 2));
            }
            return tops.size; }""")
        header = page.locator("header.bar").bounding_box()
        assert header and header["height"] <= 64, (state, header)
        assert rows <= 2, f"{state}: header items sit on {rows} different lines"
        waiting = page.locator('#waiting li[data-service="civil"]').bounding_box()
        assert waiting and waiting["y"] + waiting["height"] <= PC["height"], (state, waiting)
        scroll = page.evaluate("document.documentElement.scrollHeight")
        assert scroll <= PC["height"] + 1, f"{state}: the page is {scroll} px tall"


def test_counter_is_remembered_by_the_workstation_and_offered_at_sign_in(
    site: dict[str, Any], page: Any
) -> None:
    base = site["server"].url
    page.set_viewport_size(PC)
    sign_in_at_counter_3(page, base)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(f"{base}/login?lang=vi&next=/counter/")
    page.get_by_label("Tên đăng nhập").fill("canbo3")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.goto(f"{base}/counter/?lang=vi")
    # The workstation's counter is offered first, its button focused: Enter sits there.
    item = page.locator(".counter-item.remembered")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Quầy 3")
    expect(item).to_contain_text("Quầy của máy này")
    focused = page.evaluate("document.activeElement && document.activeElement.textContent")
    assert focused and "quầy 3" in focused.lower()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/counter/\d+"))
    expect(page.locator("#conn")).to_have_text("Trực tuyến")


def test_counter_strings_keep_the_register() -> None:
    """No blame ("bị"), no custody ("tạm giữ"), never "bạn" in the counter's Vietnamese."""
    bad = re.compile(r"\b(bị|bạn|tạm giữ)\b", re.IGNORECASE)
    strings = catalogs.texts("counter")
    found = {k: v for k, v in strings["vi"].items() if bad.search(v)}
    assert not found, found
    assert set(strings["vi"]) == set(strings["en"])
