"""E-mail through the outbox: an admin sets the site's SMTP channel, the "send a test message"
endpoint queues a mail, the worker hands it to an aiosmtpd server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.unit.test_webhook_smtp_channels import Inbox

SMTP_PORT = 19426  # this suite's range


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=SMTP_PORT)
    controller.start()
    yield handler
    controller.stop()


def test_test_mail_reaches_the_smtp_server(api: Any, app: Any, inbox: Inbox) -> None:
    config = {"host": "127.0.0.1", "port": SMTP_PORT, "security": "none",
              "from": "noreply@motcua.invalid", "password": "s3cret", "username": ""}
    r = api.call("PUT", "/api/v1/sites/HT/channels/email", "admin", json={"config": config})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["config"]["password"] == "***"
    r = api.call("POST", "/api/v1/sites/HT/channels/email/test", "admin",
                 json={"to": "citizen@example.vn", "lang": "en"})
    assert r.status_code == 202, r.get_json()
    key = r.get_json()["idempotency_key"]
    app.extensions["motcua_outbox"].dispatcher.run_once(wait=True)
    ((envelope, mail),) = inbox.received
    assert envelope.rcpt_tos == ["citizen@example.vn"]
    assert mail["Subject"] == "Notice from the Public Administration Service Centre"
    assert "Test message from Hac Thanh Ward through the email channel." in mail.get_content()
    assert mail["Message-ID"].startswith("<" + key.split(":")[0])
    outbox = api.call("GET", "/api/v1/sites/HT/outbox", "supervisor").get_json()
    assert outbox["counts"]["email"] == {"sent": 1}
