"""Everything in deploy/ runs in production mode and bounds its logs: the env example, the
systemd unit, the image and the compose file (where every service's log is rotated and the
metrics token is required, the nodes listening on 0.0.0.0)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_compose_runs_production_with_bounded_logs_and_a_metrics_token() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    for name, service in services.items():
        logging = service.get("logging")
        assert logging and logging["driver"] == "json-file", name
        size = logging["options"]["max-size"]
        assert re.fullmatch(r"\d+m", size) and int(size[:-1]) <= 100, name
        assert 1 <= int(logging["options"]["max-file"]) <= 5, name
    for node in ("app1", "app2", "migrate"):
        env = services[node]["environment"]
        assert env["MOTCUA_ENV"] == "production"
        assert env["MOTCUA_BIND"].startswith("0.0.0.0:")
        assert ":?" in env["MOTCUA_METRICS_TOKEN"]  # compose refuses to start without it


def test_systemd_env_example_and_image_default_to_production() -> None:
    unit = (DEPLOY / "systemd" / "motcua@.service").read_text()
    assert "Environment=MOTCUA_ENV=production" in unit
    # The unit listens on loopback only, so production accepts it without a metrics token.
    assert "Environment=MOTCUA_BIND=127.0.0.1:%i" in unit
    assert unit.index("Environment=MOTCUA_ENV") < unit.index("EnvironmentFile=")
    example = (DEPLOY / "motcua.env.example").read_text()
    assert re.search(r"^MOTCUA_ENV=production$", example, re.M)
    assert "MOTCUA_ENV=production" in (DEPLOY / "Dockerfile").read_text()
