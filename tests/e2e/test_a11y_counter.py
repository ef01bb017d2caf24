"""Accessibility and legibility of every page and state of the counter station at a counter PC's
1366×768 (tests/e2e/a11y.py): the picker, the station idle, called, serving, with the intake
form filled, after a receipt, and the pause dialog, in Vietnamese and English; the citizen's
rating tablet at 1280×800, idle and asking. axe-core finds no serious or critical violation;
text ≥ 14 px, targets ≥ 24 px, the primary actions (call, finish, receive the dossier, the
rating buttons) ≥ 44 px; the station fits the screen (no vertical scrolling: the waiting list
is never below the fold)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e import a11y, test_counter_browser
from tests.e2e.test_counter_browser import (
    issue,
    sign_in_at_counter_3,
)

pytestmark = pytest.mark.slow

# The demo province's server with counter 3's clerk and printer: the counter tests' fixture.
site = test_counter_browser.site

PC = {"width": 1366, "height": 768}
PRIMARY = "#btn-call_next, #btn-finish, #btn-receive"


def test_counter_pages_pass_the_audit_at_1366x768(site: dict[str, Any], page: Any) -> None:
    base = site["server"].url
    _, counter_id = site["clerk3"]
    page.set_viewport_size(PC)
    issue(site, {"id_number": "038090001234", "name": "Lê Văn Tám",
                 "address": "12 Lê Lợi, Hạc Thành"})
    issue(site)
    issue(site, {"id_number": "038090005678", "name": "Trần Thị Hoa"})
    sign_in_at_counter_3(page, base)

    page.goto(f"{base}/counter/?lang=vi")
    a11y.audit(page, "counter-pick-1366x768")

    for lang, serving in (("vi", "Đang phục vụ"), ("en", "Being served")):
        page.goto(f"{base}/counter/{counter_id}?lang={lang}")
        expect(page.locator("#conn")).to_have_class("conn")  # online
        expect(page.locator("#btn-call_next")).to_be_enabled()
        a11y.audit(page, f"counter-idle-{lang}-1366x768", primary=PRIMARY, fits=True)

        page.keyboard.press("F2")
        expect(page.locator("#cur-number")).not_to_have_text("—")
        a11y.audit(page, f"counter-called-{lang}-1366x768", primary=PRIMARY, fits=True)
        page.keyboard.press("F4")
        expect(page.locator("#cur-status")).to_have_text(serving)
        a11y.audit(page, f"counter-serving-{lang}-1366x768", primary=PRIMARY, fits=True)

        page.locator("#f-procedure").select_option("HT-KH")
        expect(page.locator("#f-doc-list input[type=checkbox]").first).to_be_checked()
        page.locator("#f-name").fill("Lê Văn Tám")
        page.locator("#f-id").fill("0380900")
        page.locator("#f-phone").focus()  # the ID's error shows on blur
        expect(page.locator("#f-id-error")).not_to_be_empty()
        a11y.audit(page, f"counter-intake-{lang}-1366x768", primary=PRIMARY, fits=True)
        page.locator("#f-id").fill("038090001234")
        page.locator("#btn-receive").click()
        expect(page.locator("#r-code")).not_to_be_empty()
        a11y.audit(page, f"counter-received-{lang}-1366x768", primary=PRIMARY, fits=True)
        page.keyboard.press("F8")
        expect(page.locator("#cur-number")).to_have_text("—")

    page.locator("#btn-pause").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    a11y.audit(page, "counter-pause-dialog-1366x768", fits=True)
    page.keyboard.press("Escape")

    # The citizen's rating tablet (a landscape tablet), idle and asking after a finish.
    tablet = page.context.new_page()
    tablet.set_viewport_size({"width": 1280, "height": 800})
    tablet.goto(f"{base}/counter/{counter_id}/rate?lang=vi")
    expect(tablet.locator("#rate-idle")).to_be_visible()
    a11y.audit(tablet, "counter-rate-idle-1280x800", fits=True)
    tablet.wait_for_selector('body[data-online="1"]')
    page.keyboard.press("F2")
    expect(page.locator("#cur-number")).not_to_have_text("—")
    if page.locator("#btn-start").is_visible():
        page.keyboard.press("F4")
    expect(page.locator("#btn-finish")).to_be_enabled()
    page.keyboard.press("F8")
    expect(tablet.locator("#rate-ask")).to_be_visible()
    a11y.audit(tablet, "counter-rate-ask-1280x800", fits=True, primary="button.rate")
