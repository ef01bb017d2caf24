"""The deployment kit's files hold together: compose file, Dockerfile, systemd units, env example.

There is no Docker daemon (nor the compose plugin) where these tests run, so the compose file is
checked as a YAML structure here; where ``docker compose`` works, ``docker compose config`` is run
as well.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from server.node.gunicorn_settings import gunicorn_settings
from tests.nginxconf import SHIPPED

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_has_the_province_stack() -> None:
    c = compose()
    services = c["services"]
    assert set(services) == {"postgres", "redis", "migrate", "app1", "app2", "nginx"}
    app1, app2 = services["app1"]["environment"], services["app2"]["environment"]
    # Both nodes: one database, one Redis, THE SAME secret key (one variable), own names.
    for key in ("MOTCUA_DATABASE_URL", "MOTCUA_REDIS_URL", "MOTCUA_SECRET_KEY",
                "MOTCUA_PUBLIC_BASE_URL"):
        assert app1[key] == app2[key], key
    assert app1["MOTCUA_SECRET_KEY"].startswith("${MOTCUA_SECRET_KEY:?")
    assert "@postgres:5432/motcua" in app1["MOTCUA_DATABASE_URL"]
    assert app1["MOTCUA_REDIS_URL"] == "redis://redis:6379/0"
    assert app1["MOTCUA_NODE_NAME"] != app2["MOTCUA_NODE_NAME"]
    assert app1["MOTCUA_BIND"] == "0.0.0.0:8000"
    for name in ("app1", "app2"):
        s = services[name]
        assert s["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert s["depends_on"]["redis"]["condition"] == "service_healthy"
        assert s["build"]["target"] == "app" and s["stop_grace_period"] == "30s"
    assert services["migrate"]["command"] == ["motcua", "init-db"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["nginx"]["build"]["target"] == "nginx"
    assert {"80:80", "443:443"} <= set(services["nginx"]["ports"])
    assert services["nginx"]["depends_on"]["app1"]["condition"] == "service_healthy"
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]


def test_compose_config_when_docker_compose_is_available(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    ok = docker is not None and subprocess.run(
        [docker, "compose", "version"], capture_output=True, timeout=30, check=False
    ).returncode == 0
    env_file = tmp_path / "env"
    env_file.write_text(
        "MOTCUA_DB_PASSWORD=x\nMOTCUA_SECRET_KEY=y\nMOTCUA_PUBLIC_BASE_URL=https://m.test\n"
    )
    if ok:
        assert docker is not None
        r = subprocess.run(
            [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "--env-file", str(env_file),
             "config", "--quiet"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert r.returncode == 0, r.stderr
    # Either way: every ${VAR} the file needs is documented in the env example.
    needed = set(re.findall(r"\$\{(\w+)", (DEPLOY / "compose.yaml").read_text()))
    example = (DEPLOY / "motcua.env.example").read_text()
    documented = set(re.findall(r"^#?(MOTCUA_\w+)=", example, re.M))
    assert needed <= documented, needed - documented


def test_dockerfile_stages_and_sources_exist() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = set(re.findall(r"^FROM \S+ AS (\w+)$", text, re.M))
    assert stages == {"assets", "app", "nginx"}
    for target in ("app", "nginx"):
        assert f"--target {target}" in text
    # Every COPY from the build context (the repository root) names something that exists.
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M):
        for src in line.split()[:-1]:
            assert (ROOT / src).exists(), src
    assert "npm ci" in text and "package-lock.json" in text  # assets at build time, lockfile
    assert "deploy/gunicorn.conf.py" in text


def test_dockerfile_installs_the_lock_and_every_package() -> None:
    """The image takes its Python packages from the hashed runtime lock and installs Motcua
    without dependencies, and it copies every package folder that pyproject.toml ships (a
    station folder left out installs without error and then 404s in production)."""
    import tomllib

    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"pip install .*--require-hashes -r requirements/runtime\.txt", text)
    assert re.search(r"pip install .*--no-deps \.", text)
    assert not re.search(r"pip install (?!.*(--require-hashes|--no-deps))", text)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = set(re.findall(r"^COPY (\w+) \./\1$", text, re.M))
    assert {pkg.rstrip("*") for pkg in packages} <= copied


def test_dockerfile_nginx_substitution_matches_the_shipped_site() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    exprs = re.findall(r"-e '(s/[^']+)'", text)
    assert len(exprs) == 2
    sed = shutil.which("sed")
    assert sed is not None
    result = subprocess.run(
        [sed, *[a for e in exprs for a in ("-e", e)], str(SHIPPED)],
        capture_output=True, text=True, check=True, timeout=10,
    ).stdout
    assert "server app1:8000 max_fails" in result and "server app2:8000 max_fails" in result
    assert not re.search(r"server 127\.0\.0\.1:800\d", result)


def unit(name: str) -> configparser.ConfigParser:
    p = configparser.ConfigParser(strict=False, interpolation=None)
    p.optionxform = str  # type: ignore[assignment,method-assign]
    p.read(DEPLOY / "systemd" / name)
    return p


def test_systemd_node_unit() -> None:
    u = unit("motcua@.service")
    svc = u["Service"]
    assert "deploy/gunicorn.conf.py" in svc["ExecStart"]
    assert (ROOT / "deploy" / "gunicorn.conf.py").exists()
    assert svc["EnvironmentFile"] == "/etc/motcua/motcua.env"
    text = (DEPLOY / "systemd" / "motcua@.service").read_text()
    assert "Environment=MOTCUA_BIND=127.0.0.1:%i\n" in text  # the port is the instance name
    assert svc["KillSignal"] == "SIGTERM" and svc["KillMode"] == "mixed"
    graceful = gunicorn_settings()["graceful_timeout"]  # what deploy/gunicorn.conf.py sets
    assert int(svc["TimeoutStopSec"]) > graceful  # systemd never kills a draining node
    assert u["Install"]["WantedBy"] == "motcua.target"
    assert unit("motcua.target")["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` where it exists: the only complaint allowed is the gunicorn of
    the production virtualenv, which this machine does not have."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # the structure test above still ran
        return
    shutil.copy(DEPLOY / "systemd" / "motcua@.service", tmp_path / "motcua@8001.service")
    shutil.copy(DEPLOY / "systemd" / "motcua.target", tmp_path / "motcua.target")
    r = subprocess.run(
        [analyze, "verify", str(tmp_path / "motcua@8001.service"), str(tmp_path / "motcua.target")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    complaints = [
        line for line in (r.stdout + r.stderr).splitlines()
        if line.strip() and "/opt/motcua/venv/bin/gunicorn is not executable" not in line
    ]
    assert complaints == []


# --- point-in-time recovery: pgBackRest, archiving, backup timers -----------------------------

BACKUP_UNITS = ("motcua-backup-full", "motcua-backup-diff", "motcua-backup-verify")


def test_walstream_unit_is_synchronous_and_named_as_the_standby() -> None:
    svc = unit("motcua-walstream.service")["Service"]
    assert svc["User"] == "postgres" and svc["Restart"] == "always"
    assert "--synchronous" in svc["ExecStart"] and "--slot=motcua_walstream" in svc["ExecStart"]
    assert "application_name=motcua_walstream" in svc["ExecStart"]


def test_pgbackrest_kit_holds_together(tmp_path: Path) -> None:
    """The archive settings push to the stanza the repository file defines, the timers start
    the backups of that stanza, and pgBackRest itself accepts the shipped file (an unknown
    or misspelt option is a warning or an error of its own)."""
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(DEPLOY / "pgbackrest" / "pgbackrest.conf")
    assert conf.sections() == ["global", "motcua"]
    assert int(conf["global"]["repo1-retention-full"]) >= 2
    assert conf["global"]["repo1-cipher-type"] == "aes-256-cbc"
    assert conf["motcua"]["pg1-path"].startswith("/var/lib/postgresql/")
    archive = (DEPLOY / "postgresql" / "motcua-archive.conf").read_text()
    settings = dict(
        (k.strip(), v.strip()) for k, v in
        (line.split("=", 1) for line in archive.splitlines() if "=" in line and
         not line.lstrip().startswith("#"))
    )
    assert settings["archive_mode"] == "on" and settings["wal_level"] == "replica"
    assert settings["archive_command"] == "'pgbackrest --stanza=motcua archive-push %p'"
    assert 0 < int(settings["archive_timeout"]) <= 300
    for kind in ("full", "diff"):
        svc = unit(f"motcua-backup-{kind}.service")["Service"]
        assert svc["User"] == "postgres"
        assert svc["ExecStart"] == f"/usr/bin/pgbackrest --stanza=motcua --type={kind} backup"
        assert unit(f"motcua-backup-{kind}.timer")["Install"]["WantedBy"] == "timers.target"
    verify = unit("motcua-backup-verify.service")["Service"]
    assert verify["ExecStart"].endswith("motcua backup verify")
    assert verify["EnvironmentFile"] == "/etc/motcua/motcua.env"
    pgbackrest = shutil.which("pgbackrest")
    assert pgbackrest is not None, "pgbackrest is installed by scripts/setup.sh"
    r = subprocess.run(
        [pgbackrest, f"--config={DEPLOY / 'pgbackrest' / 'pgbackrest.conf'}", "--stanza=motcua",
         f"--repo1-path={tmp_path}", f"--log-path={tmp_path}", f"--lock-path={tmp_path}",
         "--log-level-console=warn", "info"],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "WARN" not in r.stdout + r.stderr and "invalid" not in r.stdout + r.stderr


def test_systemd_analyze_verify_backup_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # the structure test above still ran
        return
    shutil.copy(DEPLOY / "systemd" / "motcua-walstream.service",
                tmp_path / "motcua-walstream.service")
    names = [str(tmp_path / "motcua-walstream.service")]
    for name in BACKUP_UNITS:
        for ext in ("service", "timer"):
            shutil.copy(DEPLOY / "systemd" / f"{name}.{ext}", tmp_path / f"{name}.{ext}")
            names.append(str(tmp_path / f"{name}.{ext}"))
    r = subprocess.run([analyze, "verify", *names], capture_output=True, text=True, timeout=60,
                       check=False)
    complaints = [
        line for line in (r.stdout + r.stderr).splitlines()
        if line.strip() and "/opt/motcua/venv/bin/motcua is not executable" not in line
        and "/usr/bin/pgbackrest" not in line and "/usr/bin/pg_receivewal" not in line
    ]
    assert complaints == []
