"""The counter station in Chromium, against a real server with the demo province: a clerk
signs in, opens the counter, calls a ticket issued through the API, receives a marriage
registration dossier whose receipt reaches a (fake) network printer, finishes; the dossier's
public page says "received"; the citizen rates the visit on the tracking page, and on the
counter's tablet."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

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

PUBLIC = "http://motcua.test"
PASSWORD = "motcua-demo"  # the demo's password for its users (server/seed.py)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    db_url = f"sqlite:///{tmp_path / 'motcua.sqlite3'}"
    # A fixed session key: a restarted server still knows the clerk's session.
    env = {"MOTCUA_DATABASE_URL": db_url, "MOTCUA_SECRET_KEY": uuid.uuid4().hex,
           **FAKE_PRINTER_ENV}
    out = CliRunner().invoke(main, ["demo"], env=env, catch_exceptions=False).output
    printer = FakePrinter().start()
    r = CliRunner().invoke(main, ["printer", "set", "--site", "HACTHANH", "--counter", "3",
                                  "--uri", printer.uri], env=env, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    server = ServerProcess(tmp_path, {**env, "MOTCUA_PUBLIC_BASE_URL": PUBLIC}).start()
    c3 = re.search(r"counter 3\s+clerk\s+(\S+)\s+\(counter id (\d+)\)", out)
    kiosk = re.search(r"kiosk-1\s+kiosk\s+(\S+)", out)
    assert c3 and kiosk
    engine = create_engine(db_url)
    # These tests walk the three-step flow (call, start, finish): the demo creates its site
    # with "call starts service" on, so it is turned off here, as an admin would;
    # test_counter_station.call_starts_service turns it on again where a test wants it.
    with engine.begin() as c:
        c.execute(text("UPDATE sites SET call_starts_service = :off WHERE code = 'HACTHANH'"),
                  {"off": False})
    info = {"server": server, "printer": printer, "kiosk": kiosk.group(1),
            "clerk3": (c3.group(1), int(c3.group(2))), "engine": engine,
            "env": {**env, "MOTCUA_PUBLIC_BASE_URL": PUBLIC}, "tmp": tmp_path}
    yield info
    engine.dispose()
    info["server"].stop()
    printer.down()


def _post(site: dict[str, Any], path: str, token: str, json: Any = None,
          key: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(f"{site['server'].url}/api/v1{path}", json=json or {}, headers=headers,
                         timeout=10)


def issue(site: dict[str, Any], applicant: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"service": "civil"}
    if applicant:
        body["applicant"] = applicant
    r = _post(site, "/sites/HACTHANH/tickets", site["kiosk"], body, uuid.uuid4().hex)
    assert r.status_code == 201, r.text
    return r.json()


def sign_in_at_counter_3(page: Any, base: str) -> None:
    page.goto(f"{base}/counter/")
    expect(page).to_have_url(re.compile(r"/login\?next=/counter/"))  # the guard
    page.get_by_label("Tên đăng nhập").fill("canbo3")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading", name="Chọn quầy làm việc")).to_be_visible()
    page.goto(f"{base}/counter/?lang=en")  # the language sticks to the session from here
    expect(page.get_by_role("heading", name="Choose your counter")).to_be_visible()
    page.get_by_role("button", name="Work at counter 3").click()
    expect(page).to_have_url(re.compile(r"/counter/\d+"))
    expect(page.locator("#conn")).to_have_text("Online")


def test_clerk_serves_receives_a_dossier_prints_the_receipt_and_the_citizen_rates(
    site: dict[str, Any], page: Any
) -> None:
    base = site["server"].url
    clerk_token, counter_id = site["clerk3"]
    # The day starts with the counter closed: the clerk opens it.
    assert _post(site, f"/counters/{counter_id}/close", clerk_token).status_code == 200
    ticket = issue(site, {"id_number": "038090001234", "name": "Lê Văn Tám",
                          "address": "12 Lê Lợi, Hạc Thành"})

    sign_in_at_counter_3(page, base)
    expect(page.locator("#counter-status")).to_have_text("Closed")
    call = page.get_by_role("button", name="Call next", exact=True)
    expect(call).to_be_disabled()  # a closed counter calls nobody
    expect(page.get_by_role("button", name="Finish", exact=True)).to_be_disabled()
    page.get_by_role("button", name="Open counter").click()
    expect(page.locator("#counter-status")).to_have_text("Open")
    expect(page.locator('#waiting li[data-service="civil"] .count')).to_have_text("1")

    call.click()
    expect(page.locator("#cur-number")).to_have_text(ticket["number"])
    expect(page.locator("#cur-applicant-text")).to_contain_text("Lê Văn Tám")
    expect(page.locator('#waiting li[data-service="civil"] .count')).to_have_text("0")
    expect(call).to_be_disabled()
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("#cur-status")).to_have_text("Being served")
    expect(page.get_by_role("button", name="Recall", exact=True)).to_be_disabled()

    # Dossier intake: the procedure list is the civil field's; the applicant comes from the
    # kiosk's ID card scan.
    page.locator("#f-procedure").select_option("HT-KH")
    expect(page.locator("#f-doc-list input[type=checkbox]").first).to_be_checked()
    expect(page.get_by_label("Full name")).to_have_value("Lê Văn Tám")
    id_field = page.get_by_label("Citizen ID (12 digits)")
    expect(id_field).to_have_value("038090001234")
    id_field.fill("03809000")  # too short: refused in the browser, nothing sent
    page.get_by_role("button", name="Receive dossier").click()
    expect(page.locator("#intake-error")).to_have_text(
        "The citizen ID must be exactly 12 digits.")
    id_field.fill("038090001234")
    page.get_by_label("Phone").fill("0912345678")
    page.get_by_role("button", name="Receive dossier").click()
    code_el = page.locator("#r-code")
    expect(code_el).to_have_text(re.compile(r"^H56\.27-\d{6}-0001$"))
    code = code_el.inner_text()
    expect(page.locator("#r-printed")).to_have_text(
        "The receipt was sent to the counter's printer.")
    link = page.locator("#r-link").get_attribute("href")
    assert link and link.startswith(f"{PUBLIC}/d/")
    token = link.rsplit("/", 1)[1]
    expect(page.locator(f'#dossiers tr[data-code="{code}"]')).to_contain_text("Received")

    printer: FakePrinter = site["printer"]
    assert printer.wait_for(code.encode(), timeout=15), "the receipt never reached the printer"
    assert printer.wait_for(b"\x1dV", timeout=15)
    job = next(j for j in printer.jobs if code.encode() in j)
    printed = parse_escpos(strip_status_queries(job))
    assert code in printed.text
    assert "Đăng ký kết hôn" in printed.text
    assert "038090001234" not in printed.text  # masked on paper
    assert printed.qr_codes == [f"{PUBLIC}/d/{token}".encode()]

    page.get_by_role("button", name="Finish", exact=True).click()
    expect(page.locator("#cur-number")).to_have_text("—")
    expect(call).to_be_enabled()

    # The citizen's dossier page (the receipt's QR) says it was received.
    dossier_page = page.context.new_page()
    dossier_page.goto(f"{base}/d/{token}")
    expect(dossier_page.locator("body")).to_contain_text("Đã tiếp nhận")
    expect(dossier_page.locator("body")).to_contain_text(code)
    assert "038090001234" not in dossier_page.content()
    dossier_page.goto(f"{base}/d/{token}?lang=en")
    expect(dossier_page.locator("body")).to_contain_text("Received")

    # The clerk moves the dossier on from today's list; the public page follows.
    page.get_by_label(f"Move to {code}").select_option("transferred")
    page.get_by_role("button", name=f"Update {code}").click()
    expect(page.locator(f'#dossiers tr[data-code="{code}"]')).to_contain_text(
        "Sent to the competent agency")
    dossier_page.reload()
    expect(dossier_page.locator("body")).to_contain_text("Sent to the competent agency")

    # The ticket's tracking page offers the rating once the visit is finished.
    track = page.context.new_page()
    track.goto(f"{base}/t/{ticket['token']}?lang=en")
    expect(track.get_by_role("heading", name="Were you satisfied with this visit?")).to_be_visible()
    track.get_by_role("button", name="Very satisfied").click()
    expect(track.locator("#rate-thanks")).to_be_visible()
    expect(track.locator("#rate")).to_be_hidden()
    with site["engine"].connect() as conn:
        rows = conn.execute(text("SELECT score, source, counter_id FROM ratings")).all()
    assert [tuple(r) for r in rows] == [("very_satisfied", "track", counter_id)]


def test_counter_tablet_asks_after_finish_and_stores_the_rating(
    site: dict[str, Any], page: Any
) -> None:
    base = site["server"].url
    clerk_token, counter_id = site["clerk3"]
    ticket = issue(site)
    with site["engine"].begin() as conn:  # this time the counter has no receipt printer
        conn.execute(text("UPDATE counters SET printer_uri = NULL WHERE id = :i"),
                     {"i": counter_id})
    page.add_init_script("window.print = function () { window.__printed = 1; };")
    sign_in_at_counter_3(page, base)
    tablet = page.context.new_page()  # the same clerk session, on the citizen's side
    tablet.goto(f"{base}/counter/{counter_id}/rate?lang=en")
    expect(tablet.get_by_role("heading", name="Thank you for visiting the centre.")).to_be_visible()
    tablet.wait_for_selector('body[data-online="1"]')

    page.get_by_role("button", name="Call next", exact=True).click()
    expect(page.locator("#cur-number")).to_have_text(ticket["number"])
    page.keyboard.press("F4")  # Start
    expect(page.locator("#cur-status")).to_have_text("Being served")
    # No printer at the counter: the receipt is printed from the browser instead.
    page.locator("#f-procedure").select_option("HT-KS")
    page.get_by_label("Full name").fill("Phạm Thị Hoa")
    page.get_by_label("Citizen ID (12 digits)").fill("038190004321")

    # The server's own check is shown as it says it (a request altered on the way).
    def bad_id(route: Any) -> None:
        data = json.loads(route.request.post_data)
        data["applicant"]["id_number"] = "0381900043２1"  # a full-width digit
        route.continue_(post_data=json.dumps(data))

    intake_url = re.compile(r"/api/v1/tickets/\d+/dossiers")
    page.route(intake_url, bad_id)
    page.get_by_role("button", name="Receive dossier").click()
    expect(page.locator("#intake-error")).to_have_text(
        "The citizen ID number must be exactly 12 digits.")
    page.unroute(intake_url, bad_id)
    page.get_by_role("button", name="Receive dossier").click()
    expect(page.locator("#r-printed")).to_have_text("This counter has no printer (or it failed).")
    code = page.locator("#r-code").inner_text()
    page.get_by_role("button", name="Print the receipt in the browser").click()
    wait_js(page, "window.__printed === 1")
    expect(page.locator("#rc-code")).to_have_text(code)
    expect(page.locator("#rc-applicant")).to_contain_text("Phạm Thị Hoa (0381******21)")
    # The slip is in the citizen's language (the ticket's: Vietnamese), not the clerk's.
    expect(page.locator("#rc-procedure")).to_have_text("Đăng ký khai sinh")
    expect(page.locator("#receipt h3")).to_have_text("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ")
    expect(page.locator("#intake-form")).to_be_hidden()  # until "Receive another dossier"
    page.keyboard.press("F8")  # Finish
    expect(page.locator("#cur-number")).to_have_text("—")

    expect(tablet.get_by_role("heading", name=re.compile(ticket["number"]))).to_be_visible()
    tablet.get_by_role("button", name="Satisfied", exact=True).click()
    expect(tablet.get_by_role("heading", name="Thank you for your rating!")).to_be_visible()
    with site["engine"].connect() as conn:
        rows = conn.execute(text("SELECT score, source, ticket_id FROM ratings")).all()
    assert [tuple(r) for r in rows] == [("satisfied", "tablet", ticket["id"])]
    assert _post(site, f"/tickets/{ticket['id']}/start", clerk_token).status_code == 409


def test_pause_with_a_reason_park_resume_transfer_and_reconnect(
    site: dict[str, Any], page: Any
) -> None:
    base = site["server"].url
    clerk_token, counter_id = site["clerk3"]
    first, second = issue(site), issue(site)
    sign_in_at_counter_3(page, base)
    call = page.get_by_role("button", name="Call next", exact=True)

    page.get_by_role("button", name="Pause").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Meeting").check()
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#counter-status")).to_have_text("Paused")
    expect(page.locator("#pause-reason")).to_have_text("Paused: Meeting")
    expect(call).to_be_disabled()
    with site["engine"].connect() as conn:
        row = conn.execute(text("SELECT status, status_reason FROM counters WHERE id = :i"),
                           {"i": counter_id}).one()
    assert tuple(row) == ("paused", "Meeting")
    page.get_by_role("button", name="Open counter").click()
    expect(page.locator("#counter-status")).to_have_text("Open")

    page.keyboard.press("F2")  # Call next
    expect(page.locator("#cur-number")).to_have_text(first["number"])
    page.keyboard.press("F7")  # Park
    expect(page.locator("#parked")).to_contain_text(first["number"])
    expect(page.locator("#cur-number")).to_have_text("—")
    call.click()
    expect(page.locator("#cur-number")).to_have_text(second["number"])
    resume = page.get_by_role("button", name="Resume", exact=True)
    expect(resume).to_be_disabled()  # someone is at the counter
    page.keyboard.press("F9")  # Transfer: a dialog; Esc closes it without moving anything
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page.locator("#cur-number")).to_have_text(second["number"])
    page.get_by_role("button", name="Transfer", exact=True).click()
    page.get_by_label("To service").select_option("land")
    page.get_by_role("dialog").get_by_label("Front").check()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#cur-number")).to_have_text("—")
    r = requests.get(f"{base}/api/v1/tickets/{second['id']}", timeout=10,
                     headers={"Authorization": f"Bearer {clerk_token}"})
    assert r.json()["status"] == "transferred"
    resume.click()
    expect(page.locator("#cur-number")).to_have_text(first["number"])
    expect(page.locator("#parked")).to_contain_text("None")

    # A server restart: the station says it is reconnecting, then shows the true state.
    port = site["server"].port
    site["server"].kill()
    expect(page.locator("#reconnecting")).to_be_visible(timeout=15000)
    start = page.get_by_role("button", name="Start", exact=True)
    expect(start).to_be_disabled()  # no moves on a possibly stale screen
    site["server"] = ServerProcess(site["tmp"], site["env"], port=port).start()
    expect(page.locator("#reconnecting")).to_be_hidden(timeout=20000)
    expect(page.locator("#conn")).to_have_text("Online")
    expect(page.locator("#cur-number")).to_have_text(first["number"])
    start.click()
    expect(page.locator("#cur-status")).to_have_text("Being served")


def test_counter_tablet_as_a_kiosk_device(site: dict[str, Any], page: Any) -> None:
    base = site["server"].url
    clerk_token, counter_id = site["clerk3"]
    # The tablet is a kiosk device bound to counter 3 (a lobby kiosk rates nowhere).
    r = CliRunner().invoke(main, ["device", "add", "--site", "HACTHANH", "--kind", "kiosk",
                                  "--name", "tablet-3", "--counter", "3"],
                           env=site["env"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    tablet = r.output.strip().splitlines()[-1]
    ticket = issue(site)
    page.goto(f"{base}/counter/{counter_id}/rate?token={tablet}")
    expect(page).to_have_url(re.compile(r"/rate\?lang=vi$"))  # the token left the address bar
    expect(page.get_by_role("heading", name="Cảm ơn quý khách đã đến Trung tâm.")).to_be_visible()
    page.wait_for_selector('body[data-online="1"]')  # listening before the visit ends
    for action in ("call-next", "start", "finish"):
        path = (f"/counters/{counter_id}/call-next" if action == "call-next"
                else f"/tickets/{ticket['id']}/{action}")
        assert _post(site, path, clerk_token).status_code == 200
    expect(page.get_by_role("heading", name=re.compile(ticket["number"]))).to_be_visible()
    page.get_by_role("button", name="Không hài lòng").click()
    expect(page.get_by_role("heading", name="Cảm ơn quý khách đã đánh giá!")).to_be_visible()
    with site["engine"].connect() as conn:
        rows = conn.execute(text("SELECT score, source, ticket_id FROM ratings")).all()
    assert [tuple(r) for r in rows] == [("not_satisfied", "tablet", ticket["id"])]


def test_call_next_is_tried_again_through_a_database_outage(
    site: dict[str, Any], page: Any
) -> None:
    """The server answers 503 database_unavailable for a few seconds (it did nothing): the
    station says it is reconnecting and tries again; the call goes through once the server
    serves, and calls exactly one ticket."""

    base = site["server"].url
    first, second = issue(site), issue(site)
    sign_in_at_counter_3(page, base)
    outage: dict[str, float] = {}
    refused: list[float] = []

    def down_for_a_moment(route: Any) -> None:
        start = outage.setdefault("start", time.monotonic())
        if time.monotonic() - start < 3:
            refused.append(time.monotonic() - start)
            route.fulfill(status=503, headers={"Retry-After": "1"},
                          content_type="application/json",
                          body=json.dumps({"error": {"code": "database_unavailable",
                                                     "message": "The system cannot reach "
                                                                "its data just now."}}))
            return
        route.continue_()

    page.route(re.compile(r"/api/v1/counters/\d+/call-next$"), down_for_a_moment)
    page.get_by_role("button", name="Call next", exact=True).click()
    expect(page.locator("#message")).to_have_text("Reconnecting, please wait…")
    expect(page.locator("#cur-number")).to_have_text(first["number"], timeout=15000)
    assert len(refused) >= 2
    with site["engine"].connect() as conn:
        called = conn.execute(text("SELECT count(*) FROM tickets WHERE status = 'called'"))
        assert called.scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM tickets WHERE status = 'waiting'")
                            ).scalar() == 1  # the second ticket still waits
    assert second["number"] != first["number"]
