"""Revoking a person closes their sockets on every node: two nodes sharing PostgreSQL and
Redis, a clerk's ``/counter`` socket on each, the clerk disabled through the admin API on one
node. Also a revoked token and a reset password."""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from server.cli import main
from tests.support import SeqClient, ServerProcess, two_node_demo

APPLICANT = {"id_number": "038090001234", "name": "Nguyễn Văn Thử", "address": "12 Lê Lợi"}


def _admin_token(db_url: str) -> str:
    out = CliRunner().invoke(
        main, ["token", "create", "--role", "admin", "--site", "HACTHANH"],
        env={"MOTCUA_DATABASE_URL": db_url}, catch_exceptions=False,
    ).output
    return out.strip().splitlines()[-1]


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _closed(client: SeqClient, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while client.sio.connected and time.monotonic() < deadline:
        time.sleep(0.1)
    return not client.sio.connected


def _clerk_socket(url: str, clerk: tuple[str, int]) -> SeqClient:
    return SeqClient(url, "/counter", {"token": clerk[0], "counter_id": clerk[1]},
                     reconnection=False).connect()


def _serve_applicant(url: str, kiosk: str, clerk: tuple[str, int]) -> dict[str, Any]:
    r = requests.post(f"{url}/api/v1/sites/HACTHANH/tickets", timeout=10, headers={
        **_h(kiosk), "Idempotency-Key": uuid.uuid4().hex},
        json={"service": "civil", "applicant": APPLICANT})
    assert r.status_code == 201, r.text
    r = requests.post(f"{url}/api/v1/counters/{clerk[1]}/call-next", timeout=10,
                      headers=_h(clerk[0]))
    assert r.status_code == 200, r.text
    return dict(r.json()["ticket"])


def _user_id(url: str, admin_tok: str, username: str) -> int:
    users = requests.get(f"{url}/api/v1/admin/users", headers=_h(admin_tok), timeout=10).json()
    return int(next(u["id"] for u in users if u["username"] == username))


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_disabled_clerk_sockets_closed_on_both_nodes(
    pg_database: str, redis_url: str, tmp_path: Path
) -> None:
    creds, env = two_node_demo(pg_database, redis_url)
    admin_tok = _admin_token(pg_database)
    a = ServerProcess(tmp_path, env).start()
    b = ServerProcess(tmp_path, env).start()
    clerk = creds["clerks"][3]  # canbo3's token, bound to counter 3
    try:
        called = _serve_applicant(a.url, creds["kiosk"], clerk)
        on_a, on_b = _clerk_socket(a.url, clerk), _clerk_socket(b.url, clerk)
        assert APPLICANT["name"] in str(on_b.snapshot)  # the clerk sees the applicant
        assert called["number"]

        snapshots_before = on_b.snapshots
        uid = _user_id(a.url, admin_tok, "canbo3")
        r = requests.put(f"{a.url}/api/v1/admin/users/{uid}", headers=_h(admin_tok),
                         json={"role": "clerk", "active": False}, timeout=10)
        assert r.status_code == 200, r.text
        # A resync on the other node before its sweep comes round gets nothing.
        if on_b.sio.connected:
            with contextlib.suppress(Exception):  # already closed meanwhile: fine
                on_b.sio.emit("resync", namespace="/counter")
        assert _closed(on_a, 5), "the node that disabled the clerk closes at once"
        assert _closed(on_b, 15), "the other node closes within its sweep"
        assert on_b.snapshots == snapshots_before
        # The token is revoked with the account: refused on both nodes.
        for node in (a, b):
            r = requests.get(f"{node.url}/api/v1/tickets/{called['id']}",
                             headers=_h(clerk[0]), timeout=10)
            assert r.status_code == 401
        toks = requests.get(f"{a.url}/api/v1/admin/tokens?site=HACTHANH",
                            headers=_h(admin_tok), timeout=10).json()
        mine = [t for t in toks if t["owner"] == "canbo3"]
        assert mine and all(t["revoked_at"] for t in mine)
        # And the socket cannot come back.
        again = SeqClient(b.url, "/counter", {"token": clerk[0], "counter_id": clerk[1]},
                          reconnection=False)
        with pytest.raises(Exception):  # noqa: B017 - refused at connect
            again.connect()
    finally:
        a.stop()
        b.stop()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_revoked_token_sockets_closed_on_both_nodes(
    pg_database: str, redis_url: str, tmp_path: Path
) -> None:
    creds, env = two_node_demo(pg_database, redis_url)
    admin_tok = _admin_token(pg_database)
    a = ServerProcess(tmp_path, env).start()
    b = ServerProcess(tmp_path, env).start()
    clerk = creds["clerks"][2]
    other = creds["clerks"][4]
    try:
        on_a, on_b = _clerk_socket(a.url, clerk), _clerk_socket(b.url, clerk)
        bystander = _clerk_socket(b.url, other)
        toks = requests.get(f"{a.url}/api/v1/admin/tokens", headers=_h(admin_tok),
                            timeout=10).json()
        tid = next(t["id"] for t in toks if t["name"] == "demo-clerk-2" and not t["revoked_at"])
        r = requests.post(f"{b.url}/api/v1/admin/tokens/{tid}/revoke", headers=_h(admin_tok),
                          timeout=10)
        assert r.status_code == 200 and r.json()["revoked_at"], r.text
        assert _closed(on_b, 5) and _closed(on_a, 15)
        assert bystander.sio.connected  # another clerk's socket stays
        bystander.close()
    finally:
        a.stop()
        b.stop()
