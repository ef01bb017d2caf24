"""Accessibility and legibility of every page and state of the counter station at a counter PC's
1366×768 (tests/e2e/a11y.py): the picker, the station idle, serving, with the intake form
filled, and the pause dialog, in Vietnamese and English; the citizen's rating tablet. axe-core
finds no serious or critical violation; text ≥ 14 px, targets ≥ 24 px, the primary actions
(call, finish, receive the dossier) ≥ 44 px; the station fits the screen (no vertical
scrolling: the waiting list is never below the fold)."""

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

    tablet = page.context.new_page()
    tablet.set_viewport_size(PC)
    tablet.goto(f"{base}/counter/{counter_id}/rate?lang=vi")
    expect(tablet.locator("#rate-idle")).to_be_visible()
    a11y.audit(tablet, "counter-rate-idle-1366x768")
