"""Schemathesis, a maintained OpenAPI fuzzer, against a real ``motcua run`` serving the demo
(SQLite): with every kind of caller's token, its examples, coverage, fuzzing and stateful phases
must find no server error (5xx), no status the document does not list, and no response that
does not match its schema. Bounded (``MAX_EXAMPLES`` per operation and phase) to stay within a
few minutes; run it wider by hand as docs/api.md shows."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from server.cli import main
from tests.support import ServerProcess, demo

MAX_EXAMPLES = 3
SEED = 16016
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "response_schema_conformance",
        "content_type_conformance",
    ]
)
ROLES = ["none", "display", "kiosk", "clerk", "supervisor", "admin"]


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'motcua.sqlite3'}"
    creds = demo(url)
    supervisor = re.findall(r"giamsat\.hacthanh\s+supervisor\s+(sup_\S+)", creds["output"])
    admin = CliRunner().invoke(
        main,
        ["token", "create", "--role", "admin", "--site", "TH", "--name", "fuzz-admin"],
        env={"MOTCUA_DATABASE_URL": url},
        catch_exceptions=False,
    )
    tokens = {
        "none": None,
        "display": creds["display"],
        "kiosk": creds["kiosk"],
        "clerk": creds["clerks"][1][0],
        "supervisor": supervisor[0],
        "admin": admin.output.strip().splitlines()[-1],
    }
    server = ServerProcess(folder, {"MOTCUA_DATABASE_URL": url}).start()
    try:
        yield {"url": server.url, "tokens": tokens, "folder": folder, "log": server.log}
    finally:
        server.stop()


def _schemathesis() -> str:
    exe = Path(sys.executable).with_name("schemathesis")
    assert exe.exists(), "schemathesis is in the dev extra (pip install -e .[dev])"
    return str(exe)


def _command(server: dict[str, Any], role: str) -> list[str]:
    config = server["folder"] / "schemathesis.toml"
    # The coverage phase also sends every unexpected method to every path; one is enough to
    # prove a 405 is JSON, and it halves the run.
    config.write_text('[phases.coverage]\nunexpected-methods = ["patch"]\n')
    cmd = [
        _schemathesis(), "--config-file", str(config),
        "run", f"{server['url']}/api/v1/openapi.json",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--checks", CHECKS,
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--generation-database", "none",
        "--workers", "1",
        "--request-timeout", "30",
        "--no-color",
    ]
    token = server["tokens"][role]
    if token:
        cmd += ["--header", f"Authorization: Bearer {token}"]
    return cmd


@pytest.fixture(scope="module")
def runs(demo_server: dict[str, Any]) -> dict[str, str]:
    """Every role's run: the callers that change little at once, then the admin alone (its run
    revokes devices and disables accounts). role -> output, with the exit code first."""
    out: dict[str, str] = {}

    def finish(role: str, proc: subprocess.Popen[str]) -> None:
        stdout, _ = proc.communicate(timeout=900)
        out[role] = f"exit {proc.returncode}\n{stdout}"

    procs = {
        role: subprocess.Popen(_command(demo_server, role), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=demo_server["folder"])
        for role in ROLES if role != "admin"
    }
    for role, proc in procs.items():
        finish(role, proc)
    finish("admin", subprocess.Popen(_command(demo_server, "admin"), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     cwd=demo_server["folder"]))
    return out


@pytest.mark.parametrize("role", ROLES)
def test_schemathesis_finds_nothing(
    demo_server: dict[str, Any], runs: dict[str, str], role: str
) -> None:
    out = runs[role]
    assert out.startswith("exit 0\n"), out[-6000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", out)
    tested = re.search(r"Tested: (\d+)", out)
    assert selected and tested, out[-3000:]
    # Every operation of the document was loaded and reached.
    assert int(tested.group(1)) == int(selected.group(1)) == int(selected.group(2)) >= 70, out
    assert "Server error" not in out and "Undocumented" not in out, out[-6000:]
    crashes = [line for line in demo_server["log"].read_text().splitlines()
               if "unhandled error" in line]
    assert not crashes, crashes[:3]
