"""A slip in doubt, in Chromium: kiosk-1's printer accepts connections and never reads (a
black hole). The kiosk's ticket screen says calmly that the slip may not have printed and
offers a reprint; the supervisor's dashboard lists the slip to check; once kiosk-1 is moved to
a working printer, the kiosk's reprint button prints it there, once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from playwright.sync_api import expect

from server.cli import main
from server.features.seed import DEMO_PASSWORD
from tests.e2e.conftest import demo_site
from tests.fakeprinter import FAKE_PRINTER_ENV, FakePrinter, strip_status_queries

pytestmark = pytest.mark.slow


def cli(env: dict[str, str], *args: str) -> None:
    r = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert r.exit_code == 0, r.output


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    hole, good = FakePrinter(mode="black-hole").start(), FakePrinter().start()
    demo = demo_site(tmp_path, {**FAKE_PRINTER_ENV, "MOTCUA_AUDIO_DIR": str(tmp_path / "a")})
    cli(demo["env"], "printer", "set", "--site", "HACTHANH", "--device", "kiosk-1",
        "--uri", hole.uri)
    yield {**demo, "hole": hole, "good": good}
    demo["server"].stop()
    hole.down()
    good.down()


def test_kiosk_offers_a_reprint_and_the_supervisor_lists_the_slip(
    site: dict[str, Any], browser: Any
) -> None:
    base = site["server"].url
    kiosk = browser.new_context(viewport={"width": 1080, "height": 1920}, locale="vi-VN")
    page = kiosk.new_page()
    page.goto(f"{base}/kiosk?token={site['kiosk']}")
    page.get_by_role("button", name=re.compile("^Đất đai")).click()
    page.get_by_role("button", name="Không, lấy số thường").click()
    expect(page.locator("#t-number")).to_have_text("A001")
    note = page.locator("#t-print")
    expect(note).to_contain_text("Phiếu có thể chưa được in", timeout=20000)
    expect(note).to_contain_text("Quý khách")
    reprint = page.get_by_role("button", name="In lại")
    expect(reprint).to_be_visible()
    expect(page.locator("#t-qr")).to_be_visible()  # the QR stays for the phone

    # The supervisor sees it among the slips to check, with its own reprint button.
    sup = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="vi-VN")
    spage = sup.new_page()
    spage.goto(f"{base}/login?next=/supervisor/")
    spage.get_by_label("Tên đăng nhập").fill("giamsat.hacthanh")
    spage.get_by_label("Mật khẩu").fill(DEMO_PASSWORD)
    spage.get_by_role("button", name="Đăng nhập").click()
    block = spage.locator('section[data-site="HACTHANH"] .slips')
    expect(block.get_by_role("heading")).to_have_text("Phiếu in cần kiểm tra (1)", timeout=20000)
    slip = block.locator("li.slip")
    expect(slip).to_contain_text("Vé A001")
    expect(slip).to_contain_text("kiosk-1")
    expect(slip).to_contain_text("Có thể chưa in")
    expect(slip.get_by_role("button", name=re.compile("^In lại Vé A001"))).to_be_visible()
    expect(spage.locator("#alerts")).to_contain_text("1 phiếu in chưa chắc đã in ra")

    # kiosk-1 gets a working printer; the citizen presses the kiosk's reprint: printed once.
    good: FakePrinter = site["good"]
    cli(site["env"], "printer", "set", "--site", "HACTHANH", "--device", "kiosk-1",
        "--uri", good.uri)
    reprint.click()
    assert good.wait_for(b"A001", timeout=15), "the reprint did not reach the new printer"
    page.wait_for_timeout(500)
    assert sum(b"A001" in strip_status_queries(c) for c in good.connections) == 1
    # Printed again: the supervisor's list empties.
    expect(block.get_by_role("heading")).to_have_text("Phiếu in cần kiểm tra (0)", timeout=30000)
    kiosk.close()
    sup.close()
