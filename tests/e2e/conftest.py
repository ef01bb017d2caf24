"""End-to-end fixtures: a real Chromium (Debian's, never a downloaded one) driven by
Playwright against a real server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs
from tests.e2e import a11y
from tests.support import ServerProcess, demo, free_port

CHROMIUM = os.environ.get("MOTCUA_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        needs("Chromium", f"not found at {CHROMIUM}", "apt-get install chromium")
    from playwright.sync_api import sync_playwright

    # A DevTools port on loopback lets axe-core's Playwright integration (a Node script) check
    # the very page a test drove into the state to check (tests/e2e/a11y.py).
    a11y.CDP_PORT = free_port()
    args = [*ARGS, f"--remote-debugging-port={a11y.CDP_PORT}",
            "--remote-debugging-address=127.0.0.1"]
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1080, "height": 1920}, locale="vi-VN")
    pg = context.new_page()
    yield pg
    context.close()


def demo_site(tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``motcua demo`` on a fresh SQLite database in ``tmp_path`` and a server on it: the demo's
    tokens (``tests.support.demo``), the running ``server`` (the caller stops it) and its
    ``env``."""
    env = {"MOTCUA_DATABASE_URL": f"sqlite:///{tmp_path / 'motcua.sqlite3'}", **(env or {})}
    creds = demo(env["MOTCUA_DATABASE_URL"], env)
    return {**creds, "server": ServerProcess(tmp_path, env).start(), "env": env}


def wait_js(page: Any, expression: str, timeout: float = 30000) -> None:
    """Wait until ``expression`` is true in ``page``. Playwright's ``wait_for_function`` polls
    with eval() inside the page, which the pages' Content-Security-Policy (no 'unsafe-eval')
    rightly refuses; ``evaluate`` runs through the DevTools protocol, outside the page's CSP."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        if page.evaluate(expression):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout / 1000:g} s: {expression}")
        page.wait_for_timeout(50)


def outbox_messages(database_url: str, site_code: str = "HACTHANH") -> dict[str, int]:
    """Messages of today at ``site_code`` in every state the supervisor's view tells apart:
    SMS sent (2), waiting after failed attempts (1, due in an hour), failed for good (1),
    dropped (1); a Zalo ZNS one sent. Written straight into the database (the server's outbox
    worker has nothing due). Returns the SMS counts by column."""
    import datetime as dt
    import uuid

    from sqlalchemy import select, update

    from messaging.base import Message
    from server.core.db import Database
    from server.features import outbox
    from server.models import OutboxMessage, Site

    now = dt.datetime.now(dt.UTC)
    db = Database(database_url)
    try:
        with db.write() as s:
            site_id = s.scalar(select(Site.id).where(Site.code == site_code))
            for i, (channel, status, error) in enumerate([
                    ("sms", outbox.SENT, None), ("sms", outbox.SENT, None),
                    ("sms", outbox.QUEUED, None),
                    ("sms", outbox.FAILED, "invalid number (108)"),
                    ("sms", outbox.DROPPED, "ticket called: not sent late"),
                    ("zns", outbox.SENT, None)]):
                key = f"e2e:{uuid.uuid4().hex}"
                outbox.enqueue(s, Message(
                    channel=channel, kind="called", to=f"+8491234{i:04d}", text="x",
                    idempotency_key=key, ref="e2e", created_at=now), site_id=site_id,
                    status=status, error=error,
                    not_before=now + dt.timedelta(hours=1) if status == outbox.QUEUED else None)
                if status == outbox.QUEUED:  # waiting after two failed attempts
                    s.execute(update(OutboxMessage).where(OutboxMessage.idempotency_key == key)
                              .values(attempts=2, last_error="HTTP 503"))
                elif status == outbox.FAILED:  # refused at its first attempt
                    s.execute(update(OutboxMessage).where(OutboxMessage.idempotency_key == key)
                              .values(attempts=1))
    finally:
        db.dispose()
    return {"msg_waiting": 1, "msg_sent": 2, "msg_dropped": 1, "msg_failed": 1}
