"""The admin console's message channels tab in Chromium against a real server (its own
outbox worker): an admin subscribes a webhook receiver, sends a test message with the button
and the receiver gets it signed; a delivery the receiver refuses lands in the dead-letter list,
and "retry" delivers it once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from playwright.sync_api import expect
from standardwebhooks.webhooks import Webhook

from messaging.webhook import new_secret
from server.cli import main
from tests.e2e.test_admin_browser import sign_in
from tests.support import ServerProcess
from tests.webhookreceiver import Receiver

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"MOTCUA_DATABASE_URL": f"sqlite:///{tmp_path / 'motcua.sqlite3'}",
           "MOTCUA_AUDIO_DIR": str(tmp_path / "audio"), "MOTCUA_PRINT_WORKER": "0",
           "MOTCUA_OUTBOX_MAX_DELAY_S": "1"}
    CliRunner().invoke(main, ["demo"], env=env, catch_exceptions=False)
    proc = ServerProcess(tmp_path, env).start()
    yield proc
    proc.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def wait_for(check: Any, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)


def test_webhook_test_button_dead_letter_and_retry(server: ServerProcess, page: Any,
                                                   receiver: Receiver) -> None:
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{server.url}/admin/")
    sign_in(page)
    page.get_by_role("tab", name="Kênh tin nhắn").click()
    panel = page.locator("#tab-channels")
    panel.get_by_role("button", name="Thiết lập kênh").click()
    form = page.locator("#channel-form")
    form.locator("#channel-name").select_option("webhook")
    secret = new_secret()
    form.locator("#channel-config").fill(json.dumps({
        "url": receiver.url, "secret": secret, "events": ["dossier.*"], "max_attempts": 1}))
    form.get_by_role("button", name="Lưu").click()
    expect(form).to_be_hidden()
    row = page.locator("#channel-rows tr", has_text="webhook")
    expect(row).to_contain_text('"secret":"***"')

    row.get_by_role("button", name="Gửi tin thử qua kênh webhook").click()
    expect(page.locator("#flash")).to_contain_text("Đã xếp tin thử qua kênh webhook")
    wait_for(lambda: len(receiver.deliveries) == 1)
    first = receiver.deliveries[0]
    assert Webhook(secret).verify(first["body"], first["headers"])["type"] == "webhook.test"

    # Saving again with the secret shown as *** keeps it.
    row.get_by_role("button", name="Sửa webhook").click()
    form.get_by_role("button", name="Lưu").click()
    expect(form).to_be_hidden()

    receiver.fail = True
    row.get_by_role("button", name="Gửi tin thử qua kênh webhook").click()
    wait_for(lambda: len(receiver.deliveries) == 2)
    dead = page.locator("#dead-rows tr", has_text="webhook")
    for _ in range(50):  # the list refreshes a few seconds after a test
        if dead.count():
            break
        page.get_by_role("tab", name="Kênh tin nhắn").click()
        time.sleep(0.3)
    expect(dead).to_contain_text("HTTP 500")
    receiver.fail = False
    dead.get_by_role("button", name="Gửi lại").click()
    expect(page.locator("#flash")).to_have_text("Đã xếp gửi lại.")
    wait_for(lambda: len(receiver.accepted()) == 2)
    time.sleep(1.5)
    assert len(receiver.deliveries) == 3  # the retry delivered once
    second = receiver.accepted()[1]
    assert second["headers"]["webhook-id"] == receiver.deliveries[1]["headers"]["webhook-id"]
    assert Webhook(secret).verify(second["body"], second["headers"])["type"] == "webhook.test"
    expect(page.locator("#dead-rows")).to_contain_text("Không có tin nào gửi không thành công.")
