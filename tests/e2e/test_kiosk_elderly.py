"""The kiosk in Chromium, elderly first: every new citizen starts in Vietnamese, an idle kiosk
warns before it starts over, tiles say what one comes to do (an icon and two procedures of the
catalog), the priority step is one question with a large "No", the ticket screen fits both
kiosk screens without scrolling (also in large text), fields that take no ticket now say why in
readable help text, and the texts speak to citizens as "Quý khách"."""

from __future__ import annotations

import io
import re
import sqlite3
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from playwright.sync_api import expect

from server.cli import main
from server.core.catalogs import catalogs
from server.web.speech import find_engine
from tests.fakeprinter import FAKE_PRINTER_ENV, FakePrinter
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

# A machine shared by several test runs can take a while to start a server.
STARTUP_S = 120

PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1280, "height": 800}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The demo with a printer that has run out of paper (the ticket screen's longest state),
    civil status capped at one ticket a day and construction paused."""
    db = tmp_path / "motcua.sqlite3"
    env = {"MOTCUA_DATABASE_URL": f"sqlite:///{db}", **FAKE_PRINTER_ENV}
    out = CliRunner().invoke(main, ["demo"], env=env, catch_exceptions=False).output
    printer = FakePrinter().start()
    CliRunner().invoke(main, ["printer", "set", "--site", "HACTHANH", "--device", "kiosk-1",
                              "--uri", printer.uri], env=env, catch_exceptions=False)
    with sqlite3.connect(db) as conn:
        site_id = conn.execute("SELECT id FROM sites WHERE code = 'HACTHANH'").fetchone()[0]
        conn.execute("UPDATE services SET daily_cap = 1 WHERE site_id = ? AND code = 'civil'",
                     (site_id,))
        conn.execute("UPDATE services SET active = 0 WHERE site_id = ? AND code = 'construction'",
                     (site_id,))
        land = [r[0] for r in conn.execute(
            "SELECT name_vi FROM procedures WHERE service_code = 'land' AND active "
            "ORDER BY code")]
    server = ServerProcess(tmp_path, {**env, "MOTCUA_PUBLIC_BASE_URL": "http://motcua.test"})
    server.start(timeout=STARTUP_S)
    kiosk = re.search(r"kiosk-1\s+kiosk\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    try:
        yield {"server": server, "kiosk": kiosk, "printer": printer, "land": land}
    finally:
        server.stop()
        printer.down()


def open_kiosk(page: Any, site: dict[str, Any], size: dict[str, int] = PORTRAIT) -> None:
    page.set_viewport_size(size)
    page.goto(f"{site['server'].url}/kiosk?token={site['kiosk']}")
    expect(page.get_by_role("button", name=re.compile("^Đất đai"))).to_be_visible()


def take_land_ticket(page: Any, no: str = "Không, lấy số thường") -> None:
    page.locator('#services button[data-code="land"]').click()
    page.get_by_role("button", name=no).click()
    expect(page.locator("#t-number")).to_have_text(re.compile(r"^A\d{3}$"))


# --- 1. back to Vietnamese for every new citizen; an idle warning first --------------------

def test_done_after_an_english_ticket_returns_to_vietnamese(site: dict, page: Any) -> None:
    open_kiosk(page, site)
    page.get_by_role("button", name="Switch to English").click()
    take_land_ticket(page, no="No, a regular ticket")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_role("heading", level=2)).to_have_text(
        catalogs.texts("kiosk")["vi"]["choose_service"])
    expect(page.locator("html")).to_have_attribute("lang", "vi")


def test_an_idle_kiosk_warns_then_starts_over_in_vietnamese(site: dict, page: Any) -> None:
    page.clock.install()
    open_kiosk(page, site)
    page.get_by_role("button", name="Switch to English").click()
    page.locator('#services button[data-code="land"]').click()
    warning = page.get_by_role("alertdialog")
    for _ in range(120):  # a second at a time, until the question comes
        page.clock.run_for(1000)
        if warning.is_visible():
            break
    expect(warning).to_be_visible()
    seconds = int(re.search(r"(\d+)", page.locator("#idle-count").inner_text()).group(1))
    assert seconds >= 20, seconds
    page.clock.run_for(19_000)
    expect(warning).to_be_visible()  # at least 20 s to answer
    warning.get_by_role("button", name="Continue").click()
    expect(warning).to_be_hidden()
    expect(page.locator("#screen-priority")).to_be_visible()  # where the citizen was
    page.clock.run_for(200_000)
    expect(page.locator("#screen-home")).to_be_visible()
    expect(page.get_by_role("heading", level=2)).to_have_text(
        catalogs.texts("kiosk")["vi"]["choose_service"])
    expect(page.locator("html")).to_have_attribute("lang", "vi")


def test_the_ticket_screen_ends_in_vietnamese(site: dict, page: Any) -> None:
    page.clock.install()
    open_kiosk(page, site)
    page.get_by_role("button", name="Switch to English").click()
    take_land_ticket(page, no="No, a regular ticket")
    page.clock.run_for(200_000)
    expect(page.locator("#screen-home")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "vi")


# --- 2. tiles that guide; one priority question with a large default "No" ------------------

def test_tiles_show_an_icon_and_two_procedures_of_the_catalog(site: dict, page: Any) -> None:
    open_kiosk(page, site)
    land = page.locator('#services button[data-code="land"]')
    expect(land.locator(".svc-icon")).to_be_visible()
    examples = land.locator(".svc-examples li")
    expect(examples).to_have_count(2)
    assert len(site["land"]) >= 2
    for text in examples.all_inner_texts():
        assert text in site["land"], text


def test_priority_step_is_one_question_with_a_large_default_no(site: dict, page: Any) -> None:
    open_kiosk(page, site)
    page.locator('#services button[data-code="land"]').click()
    no = page.get_by_role("button", name="Không, lấy số thường")
    expect(no).to_be_visible()
    group = page.get_by_role("group", name=re.compile("đối tượng ưu tiên"))
    expect(group).to_be_visible()
    categories = group.get_by_role("button")
    assert categories.count() >= 3
    assert no.evaluate("(b) => !b.closest('[role=group]')"), "the 'No' stands apart"
    no_box = no.bounding_box()
    cat_box = categories.first.bounding_box()
    assert no_box["height"] >= 1.4 * cat_box["height"], (no_box, cat_box)
    colours = no.evaluate("(b) => getComputedStyle(b).backgroundColor")
    assert colours != categories.first.evaluate("(b) => getComputedStyle(b).backgroundColor")


# --- 3. the ticket screen fits both kiosks; large text --------------------------------------

@pytest.mark.parametrize("size", [PORTRAIT, LANDSCAPE], ids=["portrait", "landscape"])
def test_ticket_screen_with_printer_fallback_fits(site: dict, page: Any,
                                                 size: dict[str, int]) -> None:
    site["printer"].state = "paper_out"
    open_kiosk(page, site, size)
    take_land_ticket(page)
    expect(page.locator("#t-print")).to_contain_text("Máy in", timeout=15000)
    for sel in ("#t-qr", "#t-print", "#done"):
        expect(page.locator(sel)).to_be_in_viewport(ratio=1)
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= size["height"], height


def test_large_text_mode_grows_text_and_still_fits(site: dict, page: Any) -> None:
    open_kiosk(page, site, LANDSCAPE)
    # The tiles are drawn again when the catalog arrives: measure once they are complete.
    expect(page.locator('#services button[data-code="land"] .svc-examples li')).to_have_count(2)
    size = ("() => parseFloat(getComputedStyle(document.querySelector("
            "'#services button[data-code=land] .svc-name')).fontSize)")
    before = float(page.evaluate(size))
    page.get_by_role("button", name="Chữ lớn").click()
    after = float(page.evaluate(size))
    assert after >= 1.2 * before, (before, after)
    take_land_ticket(page)
    assert page.evaluate("document.documentElement.scrollHeight") <= LANDSCAPE["height"]
    page.get_by_role("button", name="Xong").click()
    # A new citizen starts with the usual text size.
    back = float(page.evaluate(size))
    assert back == before


# --- 4. fields that take no ticket now: readable help, not an error --------------------------

CONTRAST = """
(tile) => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  // The page's background under the tile, then the tile's own, each composited with the
  // opacity of the tile and its ancestors (axe skips disabled controls: measured here).
  let alpha = 1;
  for (let e = tile; e; e = e.parentElement) alpha *= parseFloat(getComputedStyle(e).opacity);
  const page = parse(getComputedStyle(document.body).backgroundColor);
  const bgOwn = parse(getComputedStyle(tile).backgroundColor);
  const a = (bgOwn[3] === undefined ? 1 : bgOwn[3]) * alpha;
  const bg = page.slice(0, 3).map((p, i) => bgOwn[i] * a + p * (1 - a));
  const out = [];
  for (const el of tile.querySelectorAll('*')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.nodeValue.trim());
    if (!own) continue;
    let op = 1;
    for (let e = el; e; e = e.parentElement) op *= parseFloat(getComputedStyle(e).opacity);
    const fg = parse(getComputedStyle(el).color);
    const fa = (fg[3] === undefined ? 1 : fg[3]) * op;
    const c = fg.slice(0, 3).map((v, i) => v * fa + bg[i] * (1 - fa));
    const [l1, l2] = [lum(c), lum(bg)].sort((x, y) => y - x);
    out.push({text: el.textContent.trim().slice(0, 40), ratio: (l1 + 0.05) / (l2 + 0.05)});
  }
  return out;
}
"""


def test_greyed_and_paused_tiles_are_readable_and_say_why(site: dict, page: Any) -> None:
    open_kiosk(page, site)
    take_land_ticket(page)  # warm the kiosk; civil's cap is reached by the next ticket
    page.get_by_role("button", name="Xong").click()
    page.locator('#services button[data-code="civil"]').click()
    page.get_by_role("button", name="Không, lấy số thường").click()
    page.get_by_role("button", name="Xong").click()
    civil = page.locator('#services button[data-code="civil"]')
    expect(civil).to_have_class(re.compile(r"\boff\b"), timeout=15000)
    paused = page.locator('#services button[data-code="construction"]')
    expect(paused.locator(".svc-why")).to_have_text(catalogs.texts("kiosk")["vi"]["why_service_paused"])
    for tile in (civil, paused):
        for row in tile.evaluate(CONTRAST):
            assert row["ratio"] >= 4.5, row
    # A touch on the capped field explains, as help: not an alert, not in the error red.
    civil.click(force=True)  # aria-disabled: Playwright would wait; a finger does not
    why = page.locator("#why-text")
    expect(why).to_be_visible()
    assert why.get_attribute("role") != "alert"
    colour = why.evaluate("(e) => getComputedStyle(e).color")
    red = why.evaluate("() => getComputedStyle(document.documentElement)"
                       ".getPropertyValue('--accent').trim()")
    assert colour != "rgb(179, 18, 26)" and red, colour


# --- 6. register ----------------------------------------------------------------------------

def test_kiosk_texts_address_citizens_as_quy_khach() -> None:
    strings = catalogs.texts("kiosk")
    for key, text in strings["vi"].items():
        low = text.lower()
        assert not re.search(r"\bbạn\b", low), key
        assert not re.search(r"\bbị\b", low), key
        assert "tạm giữ" not in low, key
    assert set(strings["vi"]) == set(strings["en"])
    # One resolves a procedure, not a field.
    assert "thủ tục" in strings["vi"]["choose_service"]


# --- the spoken ticket, again on request ----------------------------------------------------

def test_listen_again_plays_the_ticket_once_more(site: dict, page: Any) -> None:
    """"Nghe lại" asks the server for the whole phrase (number, service, people ahead) in the
    kiosk's language and plays what it gets; no browser voice is needed for any of it."""
    page.add_init_script("""
        window.__played = [];
        window.__said = [];
        HTMLMediaElement.prototype.play = function () {
          window.__played.push(this.src); return Promise.resolve();
        };
        if (window.speechSynthesis) {
          window.speechSynthesis.speak = function (u) { window.__said.push(u.text); };
        }
    """)
    open_kiosk(page, site)
    take_land_ticket(page)
    number = page.locator("#t-number").inner_text()
    page.wait_for_function("() => window.__played.length >= 1 || window.__said.length >= 1")
    page.evaluate("() => { window.__played = []; window.__said = []; }")
    with page.expect_response(
            re.compile(rf"/kiosk/audio/vi/{number}\.wav\?service=land&ahead=\d+$")) as spoken:
        page.get_by_role("button", name="Nghe lại").click()
    resp = spoken.value
    if find_engine()[0] is None:  # no eSpeak NG on this machine: the browser says it all
        assert resp.status == 503
        page.wait_for_function("() => window.__said.length >= 1")
        return
    assert resp.status == 200 and resp.headers["content-type"] == "audio/wav"
    # What that request gets (the browser may have answered the second time from its cache):
    # longer than the number alone, which is what the server said before.
    whole = requests.get(resp.url, headers={"Authorization": f"Bearer {site['kiosk']}"},
                         timeout=30)
    number_only = requests.get(resp.url.split("?")[0],
                               headers={"Authorization": f"Bearer {site['kiosk']}"}, timeout=30)
    with wave.open(io.BytesIO(whole.content)) as w, \
            wave.open(io.BytesIO(number_only.content)) as n:
        assert w.getnframes() > n.getnframes() + w.getframerate()  # a second more, at least
    page.wait_for_function("() => window.__played.length === 1")
    assert page.evaluate("() => window.__said") == []
    # In English the same phrase is asked for in English.
    page.get_by_role("button", name="Xong").click()
    page.get_by_role("button", name="Switch to English").click()
    take_land_ticket(page, no="No, a regular ticket")
    expect(page.locator("#t-number")).not_to_have_text(number)
    with page.expect_response(
            re.compile(r"/kiosk/audio/en/A\d{3}\.wav\?service=land&ahead=\d+$")) as spoken:
        page.get_by_role("button", name="Listen again").click()
    assert spoken.value.status == 200

