"""The kiosk behind a thin, breakable link (tests/linkemu.py between Chromium and the server):
one citizen's attempt is one ticket whatever happens to the link.

- The request reaches the server but its answer is lost (the link resets while the answer is
  on its way); the citizen taps again three times: one ticket, shown, printed once.
- A silent cut of 20 s while the citizen takes a number: within 2 s the kiosk says it is
  connecting, within 5 s the bar says the kiosk is offline, and after the cut the one ticket is
  shown and printed once.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from playwright.sync_api import expect

from server.cli import main
from tests.fakeprinter import FAKE_PRINTER_ENV, FakePrinter, parse_escpos, strip_status_queries
from tests.linkemu import Link
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

# A machine shared by several test runs can take a while to start a server.
STARTUP_S = 120

CONNECTING = "Đang kết nối, xin Quý khách chờ…"


@pytest.fixture
def thin(tmp_path: Path) -> Iterator[dict[str, Any]]:
    db_file = tmp_path / "motcua.sqlite3"
    env = {"MOTCUA_DATABASE_URL": f"sqlite:///{db_file}", **FAKE_PRINTER_ENV}
    out = CliRunner().invoke(main, ["demo"], env=env, catch_exceptions=False).output
    printer = FakePrinter().start()
    CliRunner().invoke(main, ["printer", "set", "--site", "HACTHANH", "--device", "kiosk-1",
                              "--uri", printer.uri], env=env, catch_exceptions=False)
    server = ServerProcess(tmp_path, env).start(timeout=STARTUP_S)
    kiosk = re.search(r"kiosk-1\s+kiosk\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    link = Link(server.port, delay_ms=150, rate_bps=256_000).start()
    try:
        yield {"db": db_file, "printer": printer, "kiosk": kiosk, "link": link}
    finally:
        link.stop()
        server.stop()
        printer.down()


def tickets(db: Path) -> list[int]:
    """The ticket numbers the server issued (1 is the day's first of its service)."""
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT number FROM tickets ORDER BY id")]


def printed_numbers(printer: FakePrinter) -> list[str]:
    """The ticket numbers on the slips the printer received (one per slip)."""
    found = []
    for job in list(printer.jobs):
        text = parse_escpos(strip_status_queries(job)).text
        found += re.findall(r"\b[A-E]\d{3}\b", text)[:1]
    return found


def open_kiosk(page: Any, thin: dict[str, Any]) -> None:
    page.goto(f"{thin['link'].url}/kiosk?token={thin['kiosk']}", timeout=60000)
    expect(page.get_by_role("button", name=re.compile("^Đất đai"))).to_be_visible(timeout=30000)
    # The live channel is up (the bar's offline note hidden) before the link is touched.
    expect(page.locator("#conn")).to_be_hidden(timeout=15000)


def tap_again(page: Any) -> None:
    """What a citizen does when nothing seems to happen: tap what is there to tap for the same
    choice (land, regular ticket)."""
    for _ in range(3):
        if page.locator("#screen-priority").is_visible():
            page.get_by_role("button", name="Không, lấy số thường").click()
            return
        if page.locator("#screen-home").is_visible():
            page.get_by_role("button", name=re.compile("^Đất đai")).click()
            continue
        retry = page.locator("#retry-now:visible, #error-retry:visible")
        if retry.count():
            retry.first.click()
            return
        if page.locator("#screen-error").is_visible():
            page.locator("#error-back").click()
            continue
        page.locator("main").click(position={"x": 20, "y": 20})  # the busy screen
        return


def test_answer_lost_then_three_taps_give_one_ticket_printed_once(
    thin: dict[str, Any], page: Any
) -> None:
    link: Link = thin["link"]
    open_kiosk(page, thin)
    page.get_by_role("button", name=re.compile("^Đất đai")).click()
    # The request goes up, the server issues the ticket, and the answer is held on the way
    # down; then the link resets: the answer is lost.
    link.cut("silent", direction="down")
    page.get_by_role("button", name="Không, lấy số thường").click()
    deadline = time.monotonic() + 40  # a loaded machine can be slow to serve
    while not tickets(thin["db"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tickets(thin["db"]) == [1], "the first request reached the server"
    link.cut("reset")
    # Within 2 s of the tap the screen says what is happening (not an error).
    expect(page.locator("#busy-text")).to_have_text(CONNECTING, timeout=2000)
    for _ in range(3):
        page.wait_for_timeout(1500)
        tap_again(page)
    link.restore()
    expect(page.locator("#t-number")).to_have_text("A001", timeout=40000)
    assert tickets(thin["db"]) == [1], "one ticket for one citizen"
    printer: FakePrinter = thin["printer"]
    assert printer.wait_for(b"\x1dV", timeout=20)
    page.wait_for_timeout(3000)  # a second slip, if any, would be on its way by now
    assert printed_numbers(printer) == ["A001"], "printed once"


def test_silent_cut_says_so_within_seconds_and_gives_one_ticket_after(
    thin: dict[str, Any], page: Any
) -> None:
    link: Link = thin["link"]
    open_kiosk(page, thin)
    page.get_by_role("button", name=re.compile("^Đất đai")).click()
    link.cut("silent")
    t0 = time.monotonic()
    page.get_by_role("button", name="Không, lấy số thường").click()
    expect(page.locator("#busy-text")).to_have_text(CONNECTING, timeout=2000)
    waited = time.monotonic() - t0
    expect(page.locator("#conn")).to_be_visible(timeout=max(100, (5 - waited) * 1000))
    offline_after = time.monotonic() - t0
    assert offline_after <= 5.0, offline_after
    remaining = 20 - (time.monotonic() - t0)
    page.wait_for_timeout(max(0, remaining) * 1000)
    # Still waiting calmly for the whole cut: no error, no second choice asked.
    expect(page.locator("#busy-text")).to_have_text(CONNECTING)
    link.restore()
    expect(page.locator("#t-number")).to_have_text("A001", timeout=40000)
    expect(page.locator("#conn")).to_be_hidden(timeout=15000)
    assert tickets(thin["db"]) == [1]
    printer: FakePrinter = thin["printer"]
    assert printer.wait_for(b"\x1dV", timeout=20)
    page.wait_for_timeout(3000)
    assert printed_numbers(printer) == ["A001"]
