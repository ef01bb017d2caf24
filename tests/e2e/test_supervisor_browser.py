"""The supervisor station in Chromium against a real server (demo data): the supervisor moves
counter 3 from Civil status to Land in the dialog; the counter's next call (API, its clerk's
token) comes from Land although Civil tickets wait; the dashboard shows the call live; the
audit tab shows who moved it, before and after; a clerk's attempt (token, then signed-in
session) is refused with 403, and the page itself is refused to a clerk."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from playwright.sync_api import expect

from server.cli import main
from server.features.seed import DEMO_PASSWORD
from tests.e2e.conftest import demo_site, outbox_messages

pytestmark = pytest.mark.slow

SUPERVISOR = "giamsat.hacthanh"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    site = demo_site(tmp_path, {"MOTCUA_AUDIO_DIR": str(tmp_path / "audio"),
                                "MOTCUA_PRINT_WORKER": "0"})
    # The token line (the users' list above it shows the password on a similar line).
    site["supervisor"] = re.findall(r"giamsat.hacthanh\s+supervisor\s+(\S+)",
                                    site["output"])[-1]
    yield site
    site["server"].stop()


def post(base: str, path: str, token: str, json: Any = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    return requests.post(f"{base}{path}", headers=headers, json=json, timeout=10)


def issue(site: dict[str, Any], service: str, n: int) -> None:
    for _ in range(n):
        r = post(site["server"].url, "/api/v1/sites/HACTHANH/tickets", site["kiosk"],
                 {"service": service})
        assert r.status_code == 201, r.text


def sign_in(page: Any, base: str, username: str, target: str = "/supervisor/") -> None:
    page.goto(f"{base}/login?next={target}")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()


def counter_row(page: Any, number: int) -> Any:
    return page.locator(f'section[data-site="HACTHANH"] tr.counter[data-number="{number}"]')


def test_supervisor_moves_a_counter_and_the_next_call_follows(
    demo: dict[str, Any], page: Any, browser: Any
) -> None:
    base = demo["server"].url
    issue(demo, "civil", 2)
    issue(demo, "land", 3)
    token3, counter3 = demo["clerks"][3]

    sign_in(page, base, SUPERVISOR)
    expect(page).to_have_url(re.compile(r"/supervisor/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hạc Thành")
    expect(page.locator("#conn")).to_be_hidden()
    civil = page.locator('section[data-site="HACTHANH"] .tile[data-code="civil"]')
    expect(civil.locator(".tile-count")).to_have_text("2")
    # The SLA state is written, not only coloured.
    expect(civil.locator(".sla-label")).to_have_text(re.compile("Đúng hạn|Sắp quá hạn|Quá hạn"))
    expect(counter_row(page, 3).locator(".counter-services")).to_have_text("Hộ tịch – Chứng thực")

    # Move counter 3 from Civil status to Land in the dialog.
    page.get_by_role("button", name="Sửa lĩnh vực và trọng số của quầy 3", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Hộ tịch – Chứng thực", exact=True).uncheck()
    dialog.get_by_label("Đất đai", exact=True).check()
    dialog.get_by_role("button", name="Lưu").click()
    expect(dialog).to_be_hidden()
    expect(counter_row(page, 3).locator(".counter-services")).to_have_text("Đất đai")

    # The counter's next call comes from Land, although Civil tickets wait longer.
    r = post(base, f"/api/v1/counters/{counter3}/call-next", token3)
    assert r.status_code == 200, r.text
    assert r.json()["ticket"]["service"] == "land"
    assert r.json()["ticket"]["number"] == "A001"
    # The dashboard follows live (socket event, then a fresh dashboard).
    expect(counter_row(page, 3).locator(".counter-current")).to_have_text("A001")
    land = page.locator('section[data-site="HACTHANH"] .tile[data-code="land"]')
    expect(land.locator(".tile-count")).to_have_text("2")

    # The audit tab shows it: who, before and after.
    page.get_by_role("tab", name="Nhật ký thay đổi").click()
    row = page.locator('#audit tr[data-action="counter.profile"]').first
    expect(row).to_contain_text("Đổi lĩnh vực của quầy – Quầy 3")
    expect(row).to_contain_text("Nguyễn Thị Giám Sát")
    expect(row.locator(".audit-change")).to_have_text("Lĩnh vực: civil ×1 → land ×1")

    # A clerk cannot do it: with the clerk's token ...
    r = requests.put(f"{base}/api/v1/counters/{counter3}/profile", timeout=10,
                     headers={"Authorization": f"Bearer {token3}"},
                     json={"services": [{"code": "civil"}]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    # ... nor signed in as a clerk in the browser (session cookie + CSRF header) ...
    context = browser.new_context(locale="vi-VN")
    clerk_page = context.new_page()
    try:
        sign_in(clerk_page, base, "canbo3", target="/supervisor/")
        expect(clerk_page.get_by_role("heading", name="Không có quyền truy cập")).to_be_visible()
        clerk_page.goto(f"{base}/login")
        csrf = clerk_page.locator('input[name="csrf_token"]').first.get_attribute("value")
        status = clerk_page.evaluate(
            """async ([id, csrf]) => (await fetch(`/api/v1/counters/${id}/profile`, {
                method: "PUT", credentials: "same-origin",
                headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
                body: JSON.stringify({services: [{code: "civil"}]})})).status""",
            [counter3, csrf],
        )
        assert status == 403
    finally:
        context.close()
    # ... and nothing changed: the counter still serves Land.
    page.get_by_role("tab", name="Bảng điều hành").click()
    expect(counter_row(page, 3).locator(".counter-services")).to_have_text("Đất đai")
    r = requests.get(f"{base}/api/v1/sites/HACTHANH/counters", timeout=10,
                     headers={"Authorization": f"Bearer {token3}"})
    three = next(c for c in r.json() if c["id"] == counter3)
    assert [s["code"] for s in three["services"]] == ["land"]


def test_english_page_pause_and_move_tickets_dialogs(demo: dict[str, Any], page: Any) -> None:
    base = demo["server"].url
    issue(demo, "land", 4)
    sign_in(page, base, SUPERVISOR, target="/supervisor/?lang=en")
    expect(page.get_by_role("tab", name="Dashboard")).to_be_visible()
    land = page.locator('section[data-site="HACTHANH"] .tile[data-code="land"]')
    expect(land.locator(".tile-count")).to_have_text("4")

    # Pause counter 5 with a reason.
    page.get_by_role("button", name="Pause counter 5", exact=True).click()
    page.get_by_label("Reason").fill("Meeting")
    page.get_by_role("dialog").get_by_role("button", name="Pause").click()
    expect(counter_row(page, 5).locator(".counter-status")).to_have_text("Paused – Meeting")

    # Move the last 2 Land tickets to Other.
    page.get_by_role("button", name="Move waiting tickets of Land", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Tickets").fill("2")
    dialog.get_by_label("Target service").select_option("other")
    dialog.get_by_role("button", name="Move").click()
    expect(page.locator("#flash")).to_have_text("Moved 2 tickets.")
    expect(land.locator(".tile-count")).to_have_text("2")
    other = page.locator('section[data-site="HACTHANH"] .tile[data-code="other"]')
    expect(other.locator(".tile-count")).to_have_text("2")

    # Advice: "Apply" sends the suggestion's action as it is (here a fixed suggestion, so
    # the test does not depend on the Erlang C figures of four tickets).
    counter5 = demo["clerks"][5][1]
    advice = {"site": "HACTHANH", "at": "2026-11-25T01:00:00Z", "window_minutes": 60,
              "level": 0.8, "services": [], "suggestions": [{
                  "kind": "move", "counter_id": counter5, "counter": 5, "to_service": "land",
                  "from_services": ["business", "other"], "p90_before_minutes": 38.0,
                  "p90_after_minutes": 12.0,
                  "text": {"vi": "Quầy 5 phục vụ thêm Đất đai, ưu tiên trước",
                           "en": "Counter 5 also serves Land first"},
                  # the shape server.advice gives a move: the target first, the counter's
                  # former services kept at a lower weight
                  "action": {"kind": "profile", "counter_id": counter5, "method": "PUT",
                             "path": f"/api/v1/counters/{counter5}/profile",
                             "services": [{"code": "land", "weight": 1.0},
                                          {"code": "business", "weight": 0.5},
                                          {"code": "other", "weight": 0.5}]}}]}
    page.route("**/api/v1/sites/HACTHANH/advice", lambda route: route.fulfill(json=advice))
    page.get_by_role("button", name="Recompute advice").click()
    page.get_by_role("button", name="Apply advice: Counter 5 also serves Land first").click()
    expect(counter_row(page, 5).locator(".counter-services")).to_have_text(
        "Land, Business registration ×0.5, Other ×0.5")
    page.get_by_role("tab", name="Audit log").click()
    expect(page.locator('#audit tr[data-action="counter.profile"]').first).to_contain_text(
        "Counter 5")

    # The reception point of the ward is on the page too.
    page.get_by_role("tab", name="Dashboard").click()
    expect(page.locator('section[data-site="HACTHANH-P1"] h2')).to_contain_text(
        "Reception point")
    # KPI tab: a table and download links for today.
    page.get_by_role("tab", name="KPI reports").click()
    expect(page.locator("#kpi-rows tr.total")).to_contain_text("Total")
    href = page.get_by_role("link", name="Download CSV").get_attribute("href")
    assert href is not None and "format=csv" in href
    r = page.request.get(f"{base}{href}")
    assert r.status == 200 and "text/csv" in r.headers["content-type"]


def test_a_reception_point_counter_serves_the_ward_queue_and_the_ward_board_says_where(
    demo: dict[str, Any], page: Any, browser: Any
) -> None:
    """The supervisor opens the point's counter and gives it the ward's Land queue in the
    dialog ("serve another site's queue"); its clerk calls; the ward's lobby display shows the
    number with the counter AND the point's name."""
    base = demo["server"].url
    sup = {"Authorization": f"Bearer {demo['supervisor']}"}
    point = requests.get(f"{base}/api/v1/sites/HACTHANH-P1/counters", headers=sup,
                         timeout=10).json()[0]
    out = CliRunner().invoke(main, ["token", "create", "--role", "clerk", "--site",
                                    "HACTHANH-P1", "--counter", str(point["id"])],
                             env=demo["env"], catch_exceptions=False).output
    point_clerk = out.strip().splitlines()[-1]
    issue(demo, "land", 1)

    sign_in(page, base, SUPERVISOR)
    row = page.locator(
        f'section[data-site="HACTHANH-P1"] tr.counter[data-number="{point["number"]}"]')
    expect(row.locator(".counter-status")).to_have_text("Đóng")
    page.get_by_role("button", name="Mở quầy 1 (HACTHANH-P1)", exact=True).click()
    expect(row.locator(".counter-status")).to_have_text("Đang mở")
    page.get_by_role("button", name="Cho quầy 1 phục vụ hàng chờ của điểm khác (HACTHANH-P1)",
                     exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Đất đai (HACTHANH)", exact=True).check()
    dialog.get_by_role("button", name="Lưu").click()
    expect(dialog).to_be_hidden()
    expect(row.locator(".counter-services")).to_contain_text("Đất đai @HACTHANH")
    land = page.locator('section[data-site="HACTHANH"] .tile[data-code="land"]')
    expect(land).to_contain_text("Quầy 1 (HACTHANH-P1)")

    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="vi-VN")
    tv = context.new_page()
    try:
        tv.goto(f"{base}/display?token={demo['display']}")
        expect(tv.locator("#hero-empty")).to_be_visible()
        r = post(base, f"/api/v1/counters/{point['id']}/call-next", point_clerk)
        assert r.status_code == 200, r.text
        assert r.json()["ticket"]["number"] == "A001" and r.json()["ticket"]["site"] == "HACTHANH"
        expect(tv.locator("#hero-number")).to_have_text("A001")
        expect(tv.locator("#hero-counter")).to_have_text("1")
        expect(tv.locator("#hero-where")).to_have_text(re.compile(r"^tại Điểm tiếp nhận bổ sung"))
        expect(tv.locator("#recent li").first).to_contain_text("tại Điểm tiếp nhận bổ sung")
        # After a reload (snapshot, not event) the board still says where.
        tv.reload()
        expect(tv.locator("#hero-where")).to_have_text(re.compile(r"^tại Điểm tiếp nhận bổ sung"))
    finally:
        context.close()
    # The point's clerk serves the ward's ticket to the end.
    for action in ("start", "finish"):
        assert post(base, f"/api/v1/tickets/{r.json()['ticket']['id']}/{action}",
                    point_clerk).status_code == 200


def test_messages_block_per_channel_and_the_ones_in_trouble(demo: dict[str, Any],
                                                             page: Any) -> None:
    """The dashboard's ``messages`` block in the printers' column: today's messages per channel
    (waiting, sent, no longer needed, failed for good), then those being retried or failed,
    numbers masked; in Vietnamese and English."""
    base = demo["server"].url
    counts = outbox_messages(demo["env"]["MOTCUA_DATABASE_URL"])
    sign_in(page, base, SUPERVISOR)
    block = page.locator('section[data-site="HACTHANH"] .messages')
    expect(block.get_by_role("heading", name="Tin nhắn gửi người dân hôm nay")).to_be_visible()
    sms = block.locator('tr.msg-channel[data-channel="sms"]')
    for column, n in counts.items():
        expect(sms.locator(f'td[data-col="{column}"]')).to_have_text(str(n))
    expect(sms.locator("th")).to_have_text("SMS")
    zns = block.locator('tr.msg-channel[data-channel="zns"]')
    expect(zns.locator("th")).to_have_text("Zalo ZNS")
    expect(zns.locator('td[data-col="msg_sent"]')).to_have_text("1")
    troubled = block.locator(".msg-problems li")
    expect(troubled).to_have_count(2)
    expect(block.locator(".msg-retrying .msg-status")).to_have_text("Đang thử lại")
    expect(block.locator(".msg-retrying")).to_contain_text("HTTP 503")
    expect(block.locator(".msg-failed .msg-status")).to_have_text("Lỗi, ngừng gửi")
    text = block.inner_text()
    assert "+8491234" not in text and "******" in text, text  # numbers masked

    page.goto(f"{base}/supervisor/?site=HACTHANH&lang=en")
    block = page.locator('section[data-site="HACTHANH"] .messages')
    expect(block.get_by_role("heading", name="Messages to citizens today")).to_be_visible()
    expect(block.locator(".msg-retrying .msg-status")).to_have_text("Being retried")
    expect(block.locator("thead th")).to_have_text(
        ["Channel", "Waiting", "Sent", "No longer needed", "Failed, not retried"])
