"""Realtime across real server processes: two nodes sharing PostgreSQL and Redis, a server
killed and restarted under a connected display, a client that misses events."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
import redis

from server.core import lookups
from server.core.auth import Principal
from server.core.db import Database
from server.features import tickets
from tests.support import SeqClient, ServerProcess, call_next, demo, issue, two_node_demo


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def wait_subscribed(redis_url: str, channel: str, listeners: int, timeout: float = 30) -> None:
    """Until ``listeners`` connections are subscribed to ``channel``."""
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) >= listeners:
                return
            time.sleep(0.1)
        raise AssertionError(f"fewer than {listeners} listeners on {channel} after {timeout} s")
    finally:
        client.close()


def test_call_on_node_a_reaches_display_on_node_b(
    pg_database: str, redis_url: str, tmp_path: Path
) -> None:
    creds, env = two_node_demo(pg_database, redis_url)
    a = ServerProcess(tmp_path, env).start()
    b = ServerProcess(tmp_path, env).start()
    display = SeqClient(b.url, "/display", {"token": creds["display"]})
    try:
        display.connect()
        # Redis pub/sub delivers at most once, to listeners subscribed at the time: node B's
        # listener (started by its first client, this display) must be there before the first
        # event is published.
        wait_subscribed(redis_url, env["MOTCUA_REDIS_CHANNEL"], 1)
        issue(a.url, creds["kiosk"])
        called = call_next(a.url, creds["clerks"][3])
        display.wait_for(lambda: "ticket.called" in display.event_types())
        ev = next(e for e in display.events if e["type"] == "ticket.called")
        assert ev["data"]["number"] == called["number"] == "B001"
        assert ev["data"]["counter"] == 3 and ev["data"]["service"] == "civil"
        assert display.gaps == 0
        # And the other way round: a change on node B reaches a display on node A, after the
        # Redis listeners sat idle longer than redis-py's default socket timeout (5 s), which
        # made python-socketio's listener reconnect and drop messages.
        display_a = SeqClient(a.url, "/display", {"token": creds["display"]}).connect()
        time.sleep(7)
        for _ in range(3):
            issue(b.url, creds["kiosk"], "land")
        display_a.wait_for(lambda: display_a.event_types().count("ticket.issued") == 3)
        display.wait_for(lambda: display.event_types().count("ticket.issued") == 4)
        assert display_a.gaps == 0 and display.gaps == 0
        display_a.close()
    finally:
        display.close()
        a.stop()
        b.stop()
    assert "Traceback" not in a.output() + b.output()


@pytest.mark.slow
def test_display_state_equals_database_after_server_killed_and_restarted(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'motcua.sqlite3'}"
    creds = demo(db_url)
    env = {"MOTCUA_DATABASE_URL": db_url}
    server = ServerProcess(tmp_path, env).start()
    display = SeqClient(server.url, "/display", {"token": creds["display"]})
    try:
        display.connect()
        first = issue(server.url, creds["kiosk"])
        call_next(server.url, creds["clerks"][3])
        display.wait_for(lambda: "ticket.called" in display.event_types())

        server.kill()
        # While the server is down, the queue moves on (another node, or the CLI).
        db = Database(db_url)
        with db.write() as s:
            site = lookups.get_site(s, "HACTHANH")
            clerk = Principal("system", None, "system", None)
            now = dt.datetime.now(dt.UTC)
            t = tickets.issue_ticket(s, clerk, "HACTHANH", "land", None, "vi", None, now, "")[0]
            counter_id = creds["clerks"][1][1]
            called = tickets.call_next(s, clerk, counter_id, now, "")
            assert called is not None and called["id"] == t["id"]
            assert site.code == "HACTHANH"
        db.dispose()

        server.start()
        display.wait_for(lambda: display.snapshots >= 2, timeout=20)
        serving = {(x["number"], x["counter"]) for x in display.snapshot["now_serving"]}
        assert serving == {(first["number"], 3), ("A001", 1)}
        # New events after the restart continue the same sequence, with no gap.
        issue(server.url, creds["kiosk"], "business")
        display.wait_for(
            lambda: (
                display.events[-1]["type"] == "queue.stats"
                and display.events[-1]["data"]["service"] == "business"
            )
        )
        fresh = SeqClient(server.url, "/display", {"token": creds["display"]}).connect()
        assert fresh.snapshot["seq"] == display.seq
        assert fresh.snapshot["now_serving"] == display.snapshot["now_serving"]
        fresh.close()
    finally:
        display.close()
        server.stop()


@pytest.mark.slow
def test_client_that_misses_an_event_resyncs(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'motcua.sqlite3'}"
    creds = demo(db_url)
    server = ServerProcess(tmp_path, {"MOTCUA_DATABASE_URL": db_url}).start()
    display = SeqClient(server.url, "/display", {"token": creds["display"]})
    try:
        display.connect()
        display.drop_next = 1  # the network loses the next event
        issue(server.url, creds["kiosk"])
        display.wait_for(lambda: display.snapshots == 2)
        assert display.gaps == 1
        waiting = {s["code"]: s["waiting"] for s in display.snapshot["services"]}
        assert waiting["civil"] == 1
        issue(server.url, creds["kiosk"])
        display.wait_for(lambda: display.seq == display.snapshot["seq"] + 2)
        assert display.gaps == 1 and display.snapshots == 2
    finally:
        display.close()
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("async_mode", ["gevent", "threading"])
def test_shipped_gunicorn_config_serves_api_and_sockets(tmp_path: Path, async_mode: str) -> None:
    """deploy/gunicorn.conf.py as an operator runs it, in both async modes."""
    import subprocess
    import sys

    from tests.support import free_port, wait_until_up

    db_url = f"sqlite:///{tmp_path / 'motcua.sqlite3'}"
    creds = demo(db_url)
    port = free_port()
    repo = Path(__file__).resolve().parents[2]
    env = {
        **__import__("os").environ,
        "MOTCUA_DATABASE_URL": db_url,
        "MOTCUA_BIND": f"127.0.0.1:{port}",
        "MOTCUA_ASYNC_MODE": async_mode,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(repo / "deploy" / "gunicorn.conf.py"),
            "server.app:create_app()",
        ],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    display = SeqClient(base, "/display", {"token": creds["display"]})
    try:
        wait_until_up(base, proc)
        display.connect()
        issue(base, creds["kiosk"])
        called = call_next(base, creds["clerks"][3])
        display.wait_for(lambda: "ticket.called" in display.event_types())
        ev = next(e for e in display.events if e["type"] == "ticket.called")
        assert ev["data"]["number"] == called["number"]
    finally:
        display.close()
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "Traceback" not in out, out
