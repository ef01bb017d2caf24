"""The shipped nginx site: ``nginx -t`` passes, and the whole flow runs through it in front of two
app nodes on PostgreSQL + Redis, including one node stopping (SIGTERM) under connected
displays."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import needs
from tests.nginxconf import NginxProcess, check, for_check, for_loopback, nginx_binary, write_conf
from tests.support import (
    SeqClient,
    ServerProcess,
    SourceAddress,
    call_next,
    free_port,
    issue,
    node_behind,
    two_node_demo,
)


@pytest.fixture
def nginx() -> str:
    binary = nginx_binary()
    if binary is None:
        needs("nginx", "not installed", "apt-get install nginx-light (scripts/test.sh does it)")
    assert binary is not None
    return binary


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=motcua.test", "-keyout", str(key), "-out", str(cert)],
            capture_output=True, check=True, timeout=60,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        needs("openssl", f"cannot make a test certificate: {exc}", "apt-get install openssl")
    return cert, key


def test_nginx_t_passes_on_the_shipped_config(nginx: str, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    conf = write_conf(tmp_path / "nginx", for_check(cert, key))
    result = check(conf)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


def test_the_loopback_rendering_keeps_the_shipped_directives(tmp_path: Path) -> None:
    text = for_loopback(18080, [18001, 18002])
    for directive in (
        "hash $remote_addr consistent;",
        "location /socket.io/ {",
        "proxy_set_header Upgrade           $http_upgrade;",
        "proxy_set_header Connection        $connection_upgrade;",
        "location = /metrics {",
        "client_max_body_size 2m;",
        "server 127.0.0.1:18001 max_fails=1 fail_timeout=5s;",
        "listen 127.0.0.1:18080;",
    ):
        assert directive in text, directive
    assert "ssl_" not in text and "listen 80;" not in text


def called(client: SeqClient, number: str) -> bool:
    """The display knows the call: as an event or, after a resync (events of concurrent
    commits may arrive out of order), from its snapshot."""
    if any(e["type"] == "ticket.called" and e["data"]["number"] == number for e in client.events):
        return True
    snap = client.snapshot or {}
    return any(
        row.get("number") == number
        for row in [*snap.get("now_serving", []), *snap.get("recent_calls", [])]
    )


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_flow_through_nginx_with_two_nodes_and_one_stopping(
    nginx: str, pg_database: str, redis_url: str, tmp_path: Path
) -> None:
    creds, env = two_node_demo(pg_database, redis_url)
    nodes = {
        "node-a": ServerProcess(tmp_path, {**env, "MOTCUA_NODE_NAME": "node-a"}),
        "node-b": ServerProcess(tmp_path, {**env, "MOTCUA_NODE_NAME": "node-b"}),
    }
    port = free_port()
    proxy = NginxProcess(
        write_conf(tmp_path / "nginx", for_loopback(port, [n.port for n in nodes.values()])), port
    )
    clients: list[SeqClient] = []
    try:
        for node in nodes.values():
            node.start()
        proxy.start()
        base = proxy.url
        # Kiosk, counter and one display come from 127.0.0.1; find a client address that
        # nginx's hash sends to the other node, for a second display.
        home = node_behind(port, "127.0.0.1")
        away_addr = next(
            a for a in (f"127.0.0.{i}" for i in range(2, 120)) if node_behind(port, a) != home
        )
        away = node_behind(port, away_addr)
        assert {home, away} == set(nodes)
        assert node_behind(port, away_addr) == away  # affinity: the same node every time

        display_ws = SeqClient(base, "/display", {"token": creds["display"]})
        clients.append(display_ws)
        display_ws.connect()  # websocket through nginx's upgrade, on the home node
        session = requests.Session()
        session.mount("http://", SourceAddress(away_addr))
        # Long-polling only: every request of the Engine.IO session must reach the same node,
        # which only the affinity directive guarantees.
        display_poll = SeqClient(
            base, "/display", {"token": creds["display"]},
            transports=["polling"], http_session=session,
        )
        clients.append(display_poll)
        display_poll.connect()
        poll_sid = display_poll.sio.eio.sid

        ticket = issue(base, creds["kiosk"])
        first = call_next(base, creds["clerks"][3])
        assert first["number"] == ticket["number"] == "B001"
        # Generous bounds: the shared test machine may be heavily loaded.
        display_ws.wait_for(lambda: called(display_ws, "B001"), timeout=30)
        display_poll.wait_for(lambda: called(display_poll, "B001"), timeout=30)  # other node

        # The home node stops: SIGTERM, as systemd or an upgrade does it.
        t0 = time.monotonic()
        returncode = nodes[home].stop()
        stopped_in = time.monotonic() - t0
        assert returncode == 0, nodes[home].output()[-3000:]
        assert stopped_in < 12, f"node took {stopped_in:.1f} s to stop"
        assert "drained" in nodes[home].output()

        # The websocket display was told to go; it reconnected through nginx to the node left
        # and got a fresh snapshot, which still shows B001 at counter 3.
        display_ws.wait_for(lambda: display_ws.snapshots >= 2, timeout=30)
        serving = {(x["number"], x["counter"]) for x in display_ws.snapshot["now_serving"]}
        assert ("B001", 3) in serving

        # The kiosk and the counter go on through nginx (now to the other node) ...
        assert node_behind(port, "127.0.0.1") == away
        issue(base, creds["kiosk"], "land")
        second = call_next(base, creds["clerks"][1])
        assert second["number"] == "A001"
        # ... and both displays see the new call.
        display_ws.wait_for(lambda: called(display_ws, "A001"), timeout=30)
        display_poll.wait_for(lambda: called(display_poll, "A001"), timeout=30)
        assert display_poll.sio.eio.sid == poll_sid  # its node stayed: the same session
        fresh = SeqClient(base, "/display", {"token": creds["display"]})
        clients.append(fresh)
        fresh.connect()
        # Both caught up with the site's last event as of that snapshot (later events, such as
        # the print worker's printer state, may take them past it).
        for c in (display_ws, display_poll):
            c.wait_for(lambda c=c: c.seq >= fresh.snapshot["seq"], timeout=30)
    finally:
        for c in clients:
            c.close()
        proxy.stop()
        for node in nodes.values():
            node.stop()
    for node in nodes.values():
        assert "Traceback" not in node.output(), node.output()[-3000:]
