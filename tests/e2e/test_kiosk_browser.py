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
from tests.e2e.conftest import wait_js
from tests.fakeprinter import (
    FAKE_PRINTER_ENV,
    FakePrinter,
    parse_escpos,
    strip_status_queries,
)
from tests.support import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def kiosk_site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    db_url = f"sqlite:///{tmp_path / 'motcua.sqlite3'}"
    env = {"MOTCUA_DATABASE_URL": db_url, **FAKE_PRINTER_ENV}
    out = CliRunner().invoke(main, ["demo"], env=env, catch_exceptions=False).output
    printer = FakePrinter().start()
    CliRunner().invoke(main, ["printer", "set", "--site", "HACTHANH", "--device", "kiosk-1",
                              "--uri", printer.uri], env=env, catch_exceptions=False)
    server = ServerProcess(tmp_path, {**env, "MOTCUA_PUBLIC_BASE_URL": "http://motcua.test"})
    server.start()
    kiosk = re.search(r"kiosk-1\s+kiosk\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    c1 = re.search(r"counter 1\s+clerk\s+(\S+)\s+\(counter id (\d+)\)", out)
    assert c1
    yield {"server": server, "printer": printer, "kiosk": kiosk,
           "clerk1": (c1.group(1), int(c1.group(2)))}
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
    question = page.get_by_role("heading", name="Quý khách có thuộc đối tượng ưu tiên không?")
    expect(question).to_be_visible()
    # The whole phrase, spoken by the server: the number, the service and the people ahead.
    with page.expect_response(re.compile(r"/kiosk/audio/vi/B001\.wav\?")) as spoken:
        page.get_by_role("button", name="Không, lấy số thường").click()
    expect(page.locator("#t-number")).to_have_text("B001")
    assert spoken.value.status in (200, 503)  # 503 only where no speech engine is installed
    assert "service=civil" in spoken.value.url and "ahead=0" in spoken.value.url
    expect(page.locator("#t-service")).to_have_text("Hộ tịch – Chứng thực")
    qr = page.locator("#t-qr")
    expect(qr).to_be_visible()
    wait_js(page, "document.getElementById('t-qr').naturalWidth > 0")

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
    heading = page.get_by_role("heading", name="Touch the field of the procedure you need")
    expect(heading).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Land"))).to_be_visible()
    page.goto(f"{base}/kiosk?lang=en")
    expect(page.get_by_role("button", name="Chuyển sang tiếng Việt")).to_be_visible()


def test_unregistered_kiosk_says_so(kiosk_site: dict, page: Any) -> None:
    page.goto(f"{kiosk_site['server'].url}/kiosk?token=dev_wrong")
    expect(page.get_by_role("alert")).to_contain_text("chưa được đăng ký")


def test_printer_fault_is_said_on_screen_with_the_qr(kiosk_site: dict, page: Any) -> None:
    printer: FakePrinter = kiosk_site["printer"]
    printer.state = "paper_out"
    page.goto(f"{kiosk_site['server'].url}/kiosk?token={kiosk_site['kiosk']}")
    page.get_by_role("button", name=re.compile("^Đất đai")).click()
    page.get_by_role("button", name="Không, lấy số thường").click()
    expect(page.locator("#t-number")).to_have_text("A001")
    expect(page.locator("#t-print")).to_contain_text("Máy in đang gặp sự cố", timeout=15000)
    expect(page.locator("#t-qr")).to_be_visible()
    assert printer.jobs == []
    printer.state = "online"
    assert printer.wait_for(b"\x1dV", timeout=30), "the held job prints once paper is back"


def test_id_card_scan_shows_initials_and_reaches_the_clerk(kiosk_site: dict, page: Any) -> None:
    import requests

    page.goto(f"{kiosk_site['server'].url}/kiosk?token={kiosk_site['kiosk']}")
    expect(page.get_by_role("button", name=re.compile("^Đất đai"))).to_be_visible()
    # A USB scanner types the QR of the chip-based ID card (CCCD), then Enter.
    page.keyboard.type("038090001234|171234567|Nguyễn Văn An|12031958|Nam|"
                       "Phường Hạc Thành, Thanh Hóa|01012021", delay=2)
    page.keyboard.press("Enter")
    expect(page.locator("#scan-note")).to_have_text("Đã đọc CCCD: N. V. A.")
    assert "Nguyễn Văn An" not in page.content()
    page.get_by_role("button", name=re.compile("^Đất đai")).click()
    page.get_by_role("button", name=re.compile("Người cao tuổi")).click()
    expect(page.locator("#t-number")).to_have_text("A001")
    expect(page.locator("#t-priority")).to_be_visible()
    # The clerk who calls the ticket gets the applicant without retyping it.
    clerk = kiosk_site["clerk1"]
    r = requests.post(f"{kiosk_site['server'].url}/api/v1/counters/{clerk[1]}/call-next",
                      headers={"Authorization": f"Bearer {clerk[0]}"}, timeout=5)
    assert r.status_code == 200
    assert r.json()["ticket"]["applicant"]["id_number"] == "038090001234"
    assert r.json()["ticket"]["applicant"]["dob"] == "1958-03-12"
