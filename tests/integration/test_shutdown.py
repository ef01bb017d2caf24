"""SIGTERM on a node with connected socket clients: it drains them and exits quickly, in both
async modes (without the drain gunicorn waits its whole graceful_timeout for open websockets)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support import SeqClient, ServerProcess, demo


@pytest.mark.slow
@pytest.mark.parametrize("async_mode", ["gevent", "threading"])
def test_sigterm_drains_socket_clients_and_exits(tmp_path: Path, async_mode: str) -> None:
    db_url = f"sqlite:///{tmp_path / 'motcua.sqlite3'}"
    creds = demo(db_url)
    node = ServerProcess(
        tmp_path, {"MOTCUA_DATABASE_URL": db_url, "MOTCUA_ASYNC_MODE": async_mode}
    ).start()
    clients = [
        SeqClient(node.url, "/display", {"token": creds["display"]}),
        SeqClient(node.url, "/display", {"token": creds["display"]}, transports=["polling"]),
    ]
    try:
        for c in clients:
            c.connect()
        t0 = time.monotonic()
        assert node.stop() == 0
        took = time.monotonic() - t0
    finally:
        for c in clients:
            c.close()
        node.stop()
    out = node.output()
    assert '"clients": 2' in out and "drained" in out, out[-2000:]
    assert took < 12, f"{async_mode}: {took:.1f} s"
    assert "Traceback" not in out and "graceful timeout" not in out.lower(), out[-2000:]
