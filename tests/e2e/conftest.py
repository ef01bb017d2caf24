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
