"""The accessibility harness itself (tests/e2e/a11y.py): axe-core's Playwright integration
finds a known violation on a page the Python test drove, and the measured minimums are the
page's true ones; then the landing page, as the demo serves it, passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e import a11y
from tests.e2e.conftest import demo_site

pytestmark = pytest.mark.slow

BAD = """<!doctype html><html lang="en"><head><title>t</title></head><body><main>
<h1>Check</h1><p style="font-size:11px">small print</p>
<button style="width:20px;height:20px;padding:0">x</button>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
</main></body></html>"""


def test_harness_reports_violations_and_minimums(page: Any) -> None:
    page.set_viewport_size({"width": 800, "height": 600})
    page.set_content(BAD)
    ids = {v["id"]: v["impact"] for v in a11y.axe(page)}
    assert ids.get("image-alt") == "critical"
    figures = a11y.measure(page)
    assert figures["minText"]["px"] == 11
    assert figures["minTarget"]["px"] == 20
    with pytest.raises(AssertionError, match=r"image-alt.*text 11 px < 14.*target 20 px"):
        a11y.audit(page, "harness-bad")
    assert (a11y.OUT / "harness-bad.png").stat().st_size > 0


def test_landing_page_passes(tmp_path: Path, page: Any) -> None:
    site = demo_site(tmp_path, {"MOTCUA_PRINT_WORKER": "0"})
    try:
        for name, size in (("landing-tv", {"width": 1920, "height": 1080}),
                           ("landing-phone", {"width": 390, "height": 844})):
            page.set_viewport_size(size)
            page.goto(site["server"].url + "/")
            a11y.audit(page, name)
    finally:
        site["server"].stop()
