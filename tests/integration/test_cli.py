"""The ``motcua`` command line, on real SQLite and PostgreSQL, and the real server process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select

from server.cli import main
from server.core.auth import hash_token
from server.core.db import Database
from server.models import ApiToken, Counter, Device, Service, Site, User
from tests.support import ServerProcess


def run_cli(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(
        main, list(args), env={"MOTCUA_DATABASE_URL": db_url}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


def counts(db: Database) -> dict[str, int]:
    with db.read() as s:
        return {
            m.__name__: s.scalar(select(func.count()).select_from(m)) or 0
            for m in (Site, Service, Counter, Device, User)
        }


def test_init_db_and_demo_are_idempotent(db_url: str) -> None:
    from alembic.script import ScriptDirectory

    from server.core.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    out = run_cli(db_url, "init-db")
    assert f"Database ready at revision {head}" in out
    out1 = run_cli(db_url, "demo")
    db = Database(db_url)
    first = counts(db)
    assert first == {"Site": 4, "Service": 11, "Counter": 13, "Device": 3, "User": 10}
    assert "HACTHANH" in out1 and "/api/v1/openapi.json" in out1 and "motcua-demo" in out1
    out2 = run_cli(db_url, "demo")
    assert counts(db) == first
    # Each run prints fresh tokens; the old ones stop working, the new ones are stored hashed.
    old = re.search(r"kiosk-1\s+kiosk\s+(\S+)", out1).group(1)  # type: ignore[union-attr]
    new = re.search(r"kiosk-1\s+kiosk\s+(\S+)", out2).group(1)  # type: ignore[union-attr]
    assert old != new
    with db.read() as s:
        hashes = set(s.scalars(select(Device.token_hash)))
        assert hash_token(new) in hashes and hash_token(old) not in hashes
        assert new not in hashes
        names = {(c.number, s.get(Site, c.site_id).code) for c in s.scalars(select(Counter))}
        assert {(n, "HACTHANH") for n in range(1, 9)} <= names
        svc = s.scalar(
            select(Service).where(Service.prefix == "B", Service.site.has(code="HACTHANH"))
        )
        assert svc.name_vi == "Hộ tịch – Chứng thực"
    db.dispose()


def test_device_token_and_user_commands(db_url: str) -> None:
    run_cli(db_url, "demo")
    out = run_cli(
        db_url,
        "device",
        "add",
        "--site",
        "HACTHANH",
        "--kind",
        "kiosk",
        "--name",
        "kiosk-3",
        "--printer",
        "tcp://192.0.2.50:9100",
    )
    token = out.strip().splitlines()[-1]
    assert token.startswith("dev_") and len(token) > 40
    out = run_cli(db_url, "token", "create", "--role", "supervisor", "--site", "HACTHANH")
    sup = out.strip().splitlines()[-1]
    db = Database(db_url)
    with db.read() as s:
        d = s.scalar(select(Device).where(Device.name == "kiosk-3"))
        assert d.token_hash == hash_token(token) and d.printer_uri == "tcp://192.0.2.50:9100"
        t = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(sup)))
        assert t.role == "supervisor"
        counter_id = s.scalar(
            select(Counter.id).where(Counter.number == 2, Counter.site.has(code="HACTHANH"))
        )
    out = run_cli(
        db_url,
        "token",
        "create",
        "--role",
        "clerk",
        "--site",
        "HACTHANH",
        "--counter",
        str(counter_id),
    )
    assert "counter 2" in out
    out = run_cli(
        db_url,
        "user",
        "add",
        "--site",
        "HACTHANH",
        "--role",
        "clerk",
        "--username",
        "lan.nguyen",
        "--password",
        "mat-khau-dai",
    )
    assert "lan.nguyen" in out
    with db.read() as s:
        u = s.scalar(select(User).where(User.username == "lan.nguyen"))
        assert u.role == "clerk" and "mat-khau-dai" not in u.password_hash
    db.dispose()
    bad = CliRunner().invoke(
        main,
        ["device", "add", "--site", "NOPE", "--kind", "kiosk", "--name", "x"],
        env={"MOTCUA_DATABASE_URL": db_url},
    )
    assert bad.exit_code != 0 and "no site with code 'NOPE'" in bad.output


@pytest.mark.slow
def test_motcua_run_serves_the_demo(tmp_path: Path) -> None:
    """The real server process (gunicorn, gevent worker) on the embedded default."""
    env = {**os.environ, "MOTCUA_PUBLIC_BASE_URL": "http://kiosk.example"}
    env.pop("MOTCUA_DATABASE_URL", None)
    motcua = [sys.executable, "-m", "server.cli"]
    demo = subprocess.run(
        [*motcua, "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert (tmp_path / "motcua.sqlite3").exists()
    kiosk = re.search(r"kiosk-1\s+kiosk\s+(\S+)", demo).group(1)  # type: ignore[union-attr]
    clerk = re.search(r"counter 3\s+clerk\s+(\S+)\s+\(counter id (\d+)\)", demo)
    assert clerk
    server = ServerProcess(tmp_path, env).start()  # `python -m server.cli run --port N`
    base = server.url
    try:
        r = requests.post(
            f"{base}/api/v1/sites/HACTHANH/tickets",
            timeout=5,
            headers={"Authorization": f"Bearer {kiosk}", "Idempotency-Key": "x1"},
            json={"service": "civil"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["track_url"].startswith("http://kiosk.example/t/")
        r = requests.post(
            f"{base}/api/v1/counters/{clerk.group(2)}/call-next",
            timeout=5,
            headers={"Authorization": f"Bearer {clerk.group(1)}"},
        )
        assert r.status_code == 200 and r.json()["ticket"]["number"] == "B001"
        assert requests.get(f"{base}/api/v1/openapi.json", timeout=5).json()["openapi"]
    finally:
        returncode = server.stop()
    out = server.output()
    assert returncode == 0, out
    assert "Traceback" not in out
