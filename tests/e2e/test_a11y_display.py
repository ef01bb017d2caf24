"""Accessibility of the wall display and the pairing page, at a TV's 1920x1080: axe-core (no
serious or critical violation) on every state the board shows (waiting, calls, offline and
dimmed, calls missed while offline listed, unregistered), with the smallest text measured
(a TV is read from metres away: 20 px at least) and no scrolling; screenshots in var/a11y/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.bench.bench_thin_link import Caller
from tests.e2e import a11y
from tests.e2e.conftest import demo_site, wait_js

pytestmark = pytest.mark.slow

TV = {"width": 1920, "height": 1080}
TV_MIN_TEXT = 20


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    s = demo_site(tmp_path, {"MOTCUA_AUDIO_DIR": str(tmp_path / "audio"),
                             "MOTCUA_PRINT_WORKER": "0", "MOTCUA_RATE_LIMITS": "0"})
    s["clerks"] = {cid: token for token, cid in s["clerks"].values()}
    yield s
    s["server"].stop()


@pytest.fixture
def tv(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=TV, locale="vi-VN")
    yield context.new_page()
    context.close()


def test_display_states_pass_axe_at_1920x1080(site: dict[str, Any], tv: Any) -> None:
    base = site["server"].url
    clerk = Caller(base, site["kiosk"], site["clerks"])
    clerk.issue(30)
    tv.goto(f"{base}/display?token={site['display']}")
    expect(tv.locator("#conn")).to_be_hidden(timeout=15000)
    a11y.audit(tv, "display-waiting-1920", min_text=TV_MIN_TEXT, fits=True)

    for _ in range(4):
        clerk.call()
    expect(tv.locator("#serving li")).to_have_count(3, timeout=10000)
    a11y.audit(tv, "display-calls-1920", min_text=TV_MIN_TEXT, fits=True)

    # Offline for a while: the mark, the board dimmed.
    tv.evaluate("MotcuaDisplay.realtime.socket.disconnect()")
    expect(tv.locator("#conn")).to_contain_text("Mất kết nối với máy chủ")
    tv.evaluate("MotcuaDisplay.state.offlineSince = Date.now() - 60000")
    expect(tv.locator("#board")).to_have_class("board stale", timeout=3000)
    a11y.audit(tv, "display-offline-1920", min_text=TV_MIN_TEXT, fits=True)

    # Seven calls while offline: listed on screen, announced once.
    for _ in range(7):
        clerk.call()
    tv.evaluate("MotcuaDisplay.realtime.socket.connect()")
    expect(tv.locator("#missed")).to_be_visible(timeout=10000)
    wait_js(tv, "MotcuaDisplay.missedLists.length === 1")
    expect(tv.locator("#missed-list li")).to_have_count(7)
    a11y.audit(tv, "display-missed-1920", min_text=TV_MIN_TEXT, fits=True)

    tv.evaluate("localStorage.clear()")
    tv.goto(f"{base}/display?token=dev_unknown")
    expect(tv.get_by_role("alert")).to_contain_text("chưa được đăng ký")
    a11y.audit(tv, "display-unregistered-1920", min_text=TV_MIN_TEXT, fits=True)


def test_pair_page_passes_axe_at_1920x1080(site: dict[str, Any], tv: Any) -> None:
    tv.goto(f"{site['server'].url}/pair")
    expect(tv.locator("h1")).to_be_visible()
    a11y.audit(tv, "pair-1920")
