"""The wall display in Chromium against a real server: a call made through the API appears on
the board and is announced (chime, then the spoken call fetched from the server); the server is
killed and restarted and the board comes back to the true state by itself."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from server.web.speech import find_engine
from tests.e2e.conftest import demo_site, wait_js
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

TV = {"width": 1920, "height": 1080}


@pytest.fixture
def display_site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    site = demo_site(tmp_path, {"MOTCUA_AUDIO_DIR": str(tmp_path / "audio"),
                                "MOTCUA_PRINT_WORKER": "0"})
    site["clerks"] = {cid: token for token, cid in site["clerks"].values()}  # by counter id
    yield site
    site["server"].stop()


@pytest.fixture
def tv(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=TV, locale="vi-VN")
    pg = context.new_page()
    yield pg
    context.close()


def post(site: dict[str, Any], path: str, token: str, json: Any = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if json is not None:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    return requests.post(f"{site['server'].url}{path}", headers=headers, json=json, timeout=10)


def issue(site: dict[str, Any], service: str, n: int) -> None:
    for _ in range(n):
        r = post(site, "/api/v1/sites/HACTHANH/tickets", site["kiosk"], {"service": service})
        assert r.status_code == 201, r.text


def call_next(site: dict[str, Any], counter_id: int) -> dict[str, Any]:
    r = post(site, f"/api/v1/counters/{counter_id}/call-next", site["clerks"][counter_id])
    assert r.status_code == 200, r.text
    ticket: dict[str, Any] = r.json()["ticket"]
    return ticket


def act(site: dict[str, Any], ticket_id: int, action: str, counter_id: int) -> None:
    r = post(site, f"/api/v1/tickets/{ticket_id}/{action}", site["clerks"][counter_id])
    assert r.status_code == 200, r.text


def waiting_for(page: Any, code: str) -> Any:
    return page.locator(f'#waiting li[data-code="{code}"] .svc-count')


def test_call_is_shown_and_announced_and_survives_a_server_restart(
    display_site: dict[str, Any], tv: Any
) -> None:
    site = display_site
    server: ServerProcess = site["server"]
    issue(site, "land", 3)
    audio: list[str] = []
    tv.on("request", lambda r: audio.append(r.url) if "/display/audio/" in r.url else None)

    tv.goto(f"{server.url}/display?token={site['display']}&voices=vi,en&volume=0.5")
    # The token leaves the address bar but stays with the display.
    expect(tv).to_have_url(re.compile(r"/display\?voices=vi%2Cen&volume=0.5$"))
    expect(tv.locator("#site-name")).to_contain_text("Hạc Thành")
    expect(tv.locator("#conn")).to_be_hidden()
    expect(waiting_for(tv, "land")).to_have_text("3")
    expect(tv.locator("#hero-empty")).to_be_visible()
    assert re.fullmatch(r"\d\d:\d\d", tv.locator("#clock-time").inner_text())

    # A clerk calls: the number is on the board, large, with its counter, highlighted, and
    # the call is announced: chime, then the phrase in Vietnamese and English.
    with tv.expect_request(re.compile(r"/display/audio/\w+/vi/call/A001\.mp3$")) as vi_req, \
            tv.expect_request(re.compile(r"/display/audio/\w+/en/call/A001\.mp3$")):
        first = call_next(site, 1)
        assert first["number"] == "A001"
    expect(tv.locator("#hero-number")).to_have_text("A001")
    expect(tv.locator("#hero-counter")).to_have_text("1")
    expect(tv.locator("#hero")).to_have_class(re.compile(r"\bflash\b"))
    expect(tv.locator("#recent li").first).to_contain_text("A001")
    expect(waiting_for(tv, "land")).to_have_text("2")
    response = vi_req.value.response()
    assert response is not None
    speaks = find_engine()[0] is not None
    if speaks:
        assert response.status == 200
        assert response.header_value("content-type") == "audio/mpeg"
    else:  # no speech engine on this machine: the board still chimes (see the audio tests)
        assert response.status == 503
    assert any(u.endswith("/chime.mp3") for u in audio)
    # The chime is played to its end, then the phrase (one audio element: never overlapping).
    wait_js(tv, "MotcuaDisplay.outcomes.length >= 1", timeout=10000)
    assert tv.evaluate("MotcuaDisplay.outcomes[0]") == "ended"
    if speaks:
        wait_js(tv, "MotcuaDisplay.played.length >= 2", timeout=5000)
    assert "Nguyễn" not in tv.content()

    # A recall announces again.
    act(site, first["id"], "recall", 1)
    wait_js(tv,
        "MotcuaDisplay.announced.some(a => a.number === 'A001' && a.recall)", timeout=5000
    )
    expect(tv.locator("#hero-recall")).to_be_visible()

    # Power cut on the server: the board says it is reconnecting, discreetly.
    server.kill()
    expect(tv.locator("#conn")).to_be_visible(timeout=15000)
    expect(tv.locator("#conn")).to_have_text("Mất kết nối với máy chủ — đang kết nối lại…")

    # Back up; meanwhile counter 1 finishes A001 and counter 2 calls the next ticket. Whether
    # those arrive as events or in the snapshot on reconnect, the board shows the truth.
    server.start()
    act(site, first["id"], "start", 1)
    act(site, first["id"], "finish", 1)
    second = call_next(site, 2)
    assert second["number"] == "A002"
    expect(tv.locator("#conn")).to_be_hidden(timeout=15000)
    expect(tv.locator("#hero-number")).to_have_text("A002")
    expect(tv.locator("#hero-counter")).to_have_text("2")
    expect(tv.locator("#serving")).not_to_contain_text("A001")  # finished: not shown as called
    expect(tv.locator("#recent li").first).to_contain_text("A002")
    expect(waiting_for(tv, "land")).to_have_text("1")
    # Announced too (from the event, or as a call missed while the board was reconnecting).
    wait_js(tv, "MotcuaDisplay.announced.some(a => a.number === 'A002')", timeout=5000)
    for _ in range(50):
        if any(u.endswith("/vi/call/A002.mp3") for u in audio):
            break
        tv.wait_for_timeout(100)
    else:
        raise AssertionError(f"no announcement audio for A002: {audio}")
    assert "stale" not in (tv.locator("#board").get_attribute("class") or "")

    # A network cut at the TV (its socket drops, the server stays up): a call made meanwhile
    # comes in the snapshot on reconnect, not as an event; it is still shown as the new call
    # and announced, never left out silently.
    tv.evaluate("MotcuaDisplay.realtime.socket.disconnect()")
    expect(tv.locator("#conn")).to_be_visible()
    third = call_next(site, 1)
    assert third["number"] == "A003"
    tv.evaluate("MotcuaDisplay.realtime.socket.connect()")
    expect(tv.locator("#conn")).to_be_hidden()
    expect(tv.locator("#hero-number")).to_have_text("A003")
    expect(tv.locator("#hero-counter")).to_have_text("1")
    expect(tv.locator("#hero")).to_have_class(re.compile(r"\bflash\b"))
    expect(waiting_for(tv, "land")).to_have_text("0")
    wait_js(tv, "MotcuaDisplay.announced.some(a => a.number === 'A003')", timeout=5000)
    assert tv.evaluate("MotcuaDisplay.shownAt['A003']") is None  # it came by the snapshot
    # What was already announced is not announced again by a resync.
    said = tv.evaluate("MotcuaDisplay.announced.map(a => a.number)")
    assert said == ["A001", "A001", "A002", "A003"]


def test_english_board_and_unregistered_display(display_site: dict[str, Any], tv: Any) -> None:
    base = display_site["server"].url
    tv.goto(f"{base}/display?token={display_site['display']}&lang=en")
    expect(tv.get_by_role("heading", name=re.compile("^Now calling"))).to_be_visible()
    expect(tv.locator("#site-name")).to_contain_text("Hac Thanh")
    expect(tv.locator("#hero-empty")).to_have_text("Please wait for your number")
    # An optional ticker line is shown when the snapshot carries one.
    tv.evaluate("""() => {
        const s = MotcuaDisplay.state;
        s.ticker = {vi: "Nghỉ trưa 11:30-13:30", en: "Lunch break 11:30-13:30"};
        MotcuaDisplay.render();
    }""")
    expect(tv.locator("#ticker")).to_be_visible()
    expect(tv.locator("#ticker-text")).to_have_text("Lunch break 11:30-13:30")

    tv.evaluate("localStorage.clear()")
    tv.goto(f"{base}/display?token=dev_wrong")
    expect(tv.get_by_role("alert")).to_contain_text("chưa được đăng ký")
