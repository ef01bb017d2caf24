"""Accessibility of every kiosk screen (tests/e2e/a11y.py): home, the priority question, the
ticket (with the printer's fallback) and fields that take no ticket now, on a portrait
(1080×1920) and a landscape (1280×800) kiosk, in Vietnamese and English. axe: no serious or
critical violation; text ≥ 18 px, every control ≥ 44 px (a finger, often an elderly one); the
ticket screen fits without scrolling."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e import a11y
from tests.e2e.test_kiosk_elderly import LANDSCAPE, PORTRAIT, site  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

SIZES = {"portrait": PORTRAIT, "landscape": LANDSCAPE}
NO = {"vi": "Không, lấy số thường", "en": "No, a regular ticket"}


@pytest.mark.parametrize("orientation", sorted(SIZES))
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_kiosk_screens_pass(site: dict, page: Any, orientation: str, lang: str) -> None:  # noqa: F811
    site["printer"].state = "paper_out"
    page.set_viewport_size(SIZES[orientation])
    page.goto(f"{site['server'].url}/kiosk?token={site['kiosk']}")
    land = page.locator('#services button[data-code="land"]')
    expect(land).to_be_visible()
    if lang == "en":
        page.get_by_role("button", name="Switch to English").click()
    expect(page.locator("#services .svc-examples li").first).to_be_visible()
    name = f"kiosk-{orientation}-{lang}"
    # Home, with a paused field (construction) greyed and saying why.
    a11y.audit(page, f"{name}-home", min_text=18, min_target=44, primary="#services button")
    land.click()
    a11y.audit(page, f"{name}-priority", min_text=18, min_target=44,
               primary="#screen-priority button", fits=True)
    page.get_by_role("button", name=NO[lang]).click()
    expect(page.locator("#t-number")).to_have_text(re.compile(r"^A\d{3}$"))
    expect(page.locator("#t-print")).to_have_class(re.compile("problem"), timeout=15000)
    a11y.audit(page, f"{name}-ticket", min_text=18, min_target=44,
               primary="#screen-ticket button", fits=True)
    page.locator("#done").click()  # the next citizen starts in Vietnamese
    if lang == "en":
        page.get_by_role("button", name="Switch to English").click()
    # Civil status capped at one a day: take it, then its tile is greyed with a reason.
    page.locator('#services button[data-code="civil"]').click()
    page.get_by_role("button", name=NO[lang]).click()
    expect(page.locator("#t-number")).to_have_text(re.compile(r"^B\d{3}$"))
    page.locator("#done").click()
    if lang == "en":
        page.get_by_role("button", name="Switch to English").click()
    expect(page.locator('#services button[data-code="civil"]')).to_have_class(
        re.compile(r"\boff\b"), timeout=15000)
    a11y.audit(page, f"{name}-greyed", min_text=18, min_target=44, primary="#services button")
    page.locator('#services button[data-code="civil"]').click(force=True)  # aria-disabled
    a11y.audit(page, f"{name}-why", min_text=18, min_target=44, fits=True)
