"""The kiosk in Chromium: tap a service, get the ticket screen with the number and its QR;
the printer receives the job."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from playwright.sync_api import expect

from server.cli import main
from tests.fakeprinter import FakePrinter, parse_escpos, strip_status_queries
from tests.support import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def kiosk_site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    db_url = f"sqlite:///{tmp_path / 'motcua.sqlite3'}"
    env = {"MOTCUA_DATABASE_URL": db_url}
    out = CliRunner().invoke(main, ["demo"], env=env, catch_exceptions=False).output
    printer = FakePrinter().start()
    CliRunner().invoke(main, ["printer", "set", "--site", "HACTHANH", "--device", "kiosk-1",
                              "--uri", printer.uri], env=env, catch_exceptions=False)
    server = ServerProcess(tmp_path, {**env, "MOTCUA_PUBLIC_BASE_URL": "http://motcua.test"})
    server.start()
    kiosk = re.search(r"kiosk-1\s+kiosk\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    yield {"server": server, "printer": printer, "kiosk": kiosk}
    server.stop()
    printer.down()


def test_tap_a_service_and_get_a_printed_ticket_with_qr(kiosk_site: dict, page: Any) -> None:
    base = kiosk_site["server"].url
    page.goto(f"{base}/kiosk?token={kiosk_site['kiosk']}")
    # The token leaves the address bar but stays with the kiosk.
    expect(page).to_have_url(re.compile(r"/kiosk$"))
    expect(page.locator("#site-name")).to_contain_text("Hạc Thành")
    civil = page.get_by_role("button", name=re.compile("Hộ tịch – Chứng thực"))
    expect(civil).to_be_visible()
    civil.click()
    expect(page.get_by_role("heading", name="Bạn thuộc đối tượng ưu tiên?")).to_be_visible()
    page.get_by_role("button", name="Không, lấy số thường").click()

    expect(page.locator("#t-number")).to_have_text("B001")
    expect(page.locator("#t-service")).to_have_text("Hộ tịch – Chứng thực")
    qr = page.locator("#t-qr")
    expect(qr).to_be_visible()
    page.wait_for_function("document.getElementById('t-qr').naturalWidth > 0")

    printer: FakePrinter = kiosk_site["printer"]
    assert printer.wait_for(b"\x1dV", timeout=15), "the printer got no ticket"
    printed = parse_escpos(strip_status_queries(printer.jobs[-1]))
    assert "B001" in printed.text
    assert printed.qr_codes and printed.qr_codes[0].startswith(b"http://motcua.test/t/")

    # A reload (a kiosk reboot) comes back to the same kiosk without the token in the URL.
    page.get_by_role("button", name="Xong").click()
    page.reload()
    expect(page.get_by_role("button", name=re.compile("Hộ tịch"))).to_contain_text("1")


def test_english_is_one_tap_away_and_lang_param_works(kiosk_site: dict, page: Any) -> None:
    base = kiosk_site["server"].url
    page.goto(f"{base}/kiosk?token={kiosk_site['kiosk']}")
    page.get_by_role("button", name="Switch to English").click()
    expect(page.get_by_role("heading", name="Touch the service you need")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Land"))).to_be_visible()
    page.goto(f"{base}/kiosk?lang=en")
    expect(page.get_by_role("button", name="Chuyển sang tiếng Việt")).to_be_visible()


def test_unregistered_kiosk_says_so(kiosk_site: dict, page: Any) -> None:
    page.goto(f"{kiosk_site['server'].url}/kiosk?token=dev_wrong")
    expect(page.get_by_role("alert")).to_contain_text("chưa được đăng ký")
