"""The kiosk in Chromium while the server cannot serve for a few seconds: it keeps trying the
same issue (one Idempotency-Key) with a calm message, gets its ticket once the server
recovers, and the server holds one ticket, not one per try."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from playwright.sync_api import expect

from server.cli import main
from server.core.errors import AppError
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

OUTAGE_S = 4.0


def test_kiosk_retries_an_issue_through_an_outage_and_gets_one_ticket(
    tmp_path: Path, page: Any
) -> None:
    db_file = tmp_path / "motcua.sqlite3"
    env = {"MOTCUA_DATABASE_URL": f"sqlite:///{db_file}"}
    out = CliRunner().invoke(main, ["demo"], env=env, catch_exceptions=False).output
    kiosk = re.search(r"kiosk-1\s+kiosk\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    server = ServerProcess(tmp_path, env).start()
    tries: list[tuple[float, str | None, int]] = []
    outage: dict[str, float] = {}
    unavailable = AppError("database_unavailable")

    def during_outage(route: Any) -> None:
        # The first tries reach the server (the first one creates the ticket) but their
        # answers are lost in an outage: the kiosk sees 503 database_unavailable, as from a
        # node whose database went away, until OUTAGE_S after the first try.
        request = route.request
        start = outage.setdefault("start", time.monotonic())
        key = request.headers.get("idempotency-key")
        if time.monotonic() - start < OUTAGE_S:
            route.fetch()
            tries.append((time.monotonic() - start, key, 503))
            route.fulfill(status=503, headers={"Retry-After": "1"},
                          content_type="application/json",
                          body=json.dumps({"error": {"code": unavailable.code,
                                                     "message": unavailable.message("vi")}}))
            return
        tries.append((time.monotonic() - start, key, 0))
        route.continue_()

    try:
        page.route(re.compile(r"/api/v1/sites/HACTHANH/tickets$"), during_outage)
        page.goto(f"{server.url}/kiosk?token={kiosk}")
        page.get_by_role("button", name=re.compile("Hộ tịch – Chứng thực")).click()
        page.get_by_role("button", name="Không, lấy số thường").click()
        expect(page.locator("#busy-text")).to_have_text(
            "Đang kết nối, xin Quý khách chờ…")
        expect(page.locator("#t-number")).to_have_text("B001", timeout=20000)
    finally:
        server.stop()
    assert len(tries) >= 3, tries
    assert len({key for _, key, _ in tries}) == 1, "every try carries the same Idempotency-Key"
    assert tries[-1][0] >= OUTAGE_S
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 1
