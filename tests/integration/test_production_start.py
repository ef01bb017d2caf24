"""Production mode stops a node before it listens, one line per problem and no traceback,
whichever way it is started: ``motcua run`` and gunicorn with deploy/gunicorn.conf.py (the
systemd unit and the container)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOTCUA_")}
    env.update(extra)
    return env


def _refused(done: subprocess.CompletedProcess[str], count: int) -> list[str]:
    assert done.returncode == 1, done.stdout + done.stderr
    output = (done.stdout + done.stderr).strip()
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == count, output
    for line in lines:
        assert "Motcua cannot start: " in line and " / " in line, line
    return lines


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_motcua_run_refuses_sqlite_and_the_example_key(tmp_path: Path) -> None:
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "server", "run", "--port", str(port)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env=_env(MOTCUA_ENV="production", MOTCUA_SECRET_KEY="CHANGE-ME-64-hex-characters"),
    )
    lines = _refused(done, 2)
    assert "MOTCUA_SECRET_KEY" in lines[0] and "SQLite" in lines[1]
    assert not (tmp_path / "motcua.sqlite3").exists()  # refused before anything was made


def test_gunicorn_with_the_deploy_config_refuses_an_open_metrics_endpoint(tmp_path: Path) -> None:
    port = free_port()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "gunicorn"), "-c",
         str(ROOT / "deploy" / "gunicorn.conf.py"), "server.app:create_app()"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env=_env(
            MOTCUA_ENV="production", MOTCUA_BIND=f"0.0.0.0:{port}", MOTCUA_SECRET_KEY="ab" * 32,
            MOTCUA_DATABASE_URL="postgresql+psycopg://motcua:pw@127.0.0.1:1/motcua",
            PYTHONPATH=str(ROOT),
        ),
    )
    (line,) = _refused(done, 1)
    assert "/metrics" in line and "MOTCUA_METRICS_TOKEN" in line and f"0.0.0.0:{port}" in line
    assert _port_free(port)
