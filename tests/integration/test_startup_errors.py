"""A server that cannot start says why in one line and exits non-zero, without a traceback:
a missing Python package, the port in use, the database out of reach, no schema, the schema
behind this release, or a revision this release does not know."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from server.core import migrate
from tests.support import free_port


def _run(cwd: Path, env: dict[str, str] | None = None, port: int | None = None,
         pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    if pythonpath is not None:
        full["PYTHONPATH"] = os.pathsep.join(
            [str(pythonpath), *filter(None, [full.get("PYTHONPATH")])]
        )
    return subprocess.run(
        [sys.executable, "-m", "server", "run", "--port", str(port or free_port())],
        cwd=cwd, env=full, capture_output=True, text=True, timeout=120, check=False,
    )


def _one_line(done: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert done.returncode != 0, done.stdout + done.stderr
    output = (done.stdout + done.stderr).strip()
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    for part in expected:
        assert part in lines[0], lines[0]
    return lines[0]


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        line = _one_line(_run(tmp_path, port=port), f"port {port}", "already in use")
    assert line.startswith("Error: Motcua cannot start:")


def _hiding(tmp_path: Path, package: str) -> Path:
    """A folder whose sitecustomize.py makes ``package`` (and its submodules) not installed."""
    folder = tmp_path / f"hide-{package}"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        "import sys\n"
        f"HIDDEN = {package!r}\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == HIDDEN or name.startswith(HIDDEN + '.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _Hide())\n"
        "for m in [m for m in sys.modules if m == HIDDEN or m.startswith(HIDDEN + '.')]:\n"
        "    del sys.modules[m]\n"
    )
    return folder


def test_missing_package_is_named(tmp_path: Path) -> None:
    """As when an install lacks `packaging` (gunicorn's gevent worker and the `limits` library
    need it, declared only as their dependency): one line that names it and the lock."""
    _one_line(
        _run(tmp_path, pythonpath=_hiding(tmp_path, "packaging")),
        "'packaging' is not installed", "requirements/runtime.txt",
    )


def test_missing_package_at_import_of_the_command(tmp_path: Path) -> None:
    _one_line(_run(tmp_path, pythonpath=_hiding(tmp_path, "click")), "'click' is not installed")


def test_database_out_of_reach(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    url = f"postgresql+psycopg://motcua:secret@127.0.0.1:{dead}/motcua?connect_timeout=3"
    line = _one_line(
        _run(tmp_path, env={"MOTCUA_DATABASE_URL": url}), "cannot reach the database"
    )
    assert "secret" not in line  # the password is never printed


@pytest.mark.postgres
def test_no_schema_then_schema_behind_then_unknown_revision(tmp_path: Path, empty_pg: str) -> None:
    env = {"MOTCUA_DATABASE_URL": empty_pg}
    _one_line(_run(tmp_path, env=env), "has no schema yet", "motcua init-db")

    migrate.upgrade(empty_pg, "0005")
    _one_line(_run(tmp_path, env=env), "schema revision 0005", "this release needs", "init-db")

    migrate.upgrade(empty_pg)
    engine = create_engine(empty_pg)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe0001'"))
    engine.dispose()
    _one_line(_run(tmp_path, env=env), "f00dcafe0001", "does not know")
