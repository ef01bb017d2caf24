"""Production mode (``MOTCUA_ENV=production``) refuses each unsafe setting with one bilingual
line saying what to set (server/node/preflight.py); outside production nothing is refused."""

from __future__ import annotations

import pytest

from server.config import Settings
from server.node.preflight import is_loopback_bind, production_problems

GOOD_KEY = "3f" * 32
PG = "postgresql+psycopg://motcua:s3cret-pw@127.0.0.1:5432/motcua"
LOOPBACK = ["127.0.0.1:8001"]


def prod(**kw: object) -> Settings:
    values: dict[str, object] = {"env": "production", "secret_key": GOOD_KEY, "database_url": PG}
    values.update(kw)
    return Settings(**values)  # type: ignore[arg-type]


def only(problems: list[str], *words: str) -> str:
    assert len(problems) == 1, problems
    line = problems[0]
    assert "\n" not in line
    vi, en = line.split(" / ", 1)  # Vietnamese first, then English
    assert vi and en
    for word in words:
        assert word in line, line
    return line


def test_a_safe_production_node_starts() -> None:
    assert production_problems(prod(), LOOPBACK) == []
    assert production_problems(prod(metrics_token="t" * 40), ["0.0.0.0:8000"]) == []


def test_outside_production_nothing_is_refused() -> None:
    dev = Settings(database_url="sqlite:///x.sqlite3", secret_key=None, log_level="DEBUG")
    assert production_problems(dev, ["0.0.0.0:8000"]) == []


@pytest.mark.parametrize("key", [None, "", "   "])
def test_missing_secret_key(key: str | None) -> None:
    only(production_problems(prod(secret_key=key), LOOPBACK),
         "MOTCUA_SECRET_KEY", "not set", "chưa được đặt", "token_hex(32)")


@pytest.mark.parametrize("key", ["CHANGE-ME-64-hex-characters", "change-me", "CHANGE-ME-please"])
def test_example_secret_key(key: str) -> None:
    only(production_problems(prod(secret_key=key), LOOPBACK),
         "MOTCUA_SECRET_KEY", "example value", "giá trị mẫu")


def test_short_secret_key() -> None:
    only(production_problems(prod(secret_key="abc123"), LOOPBACK),
         "MOTCUA_SECRET_KEY", "too short", "6 characters", "at least 32")


def test_sqlite() -> None:
    only(production_problems(prod(database_url="sqlite:////var/lib/motcua/m.sqlite3"), LOOPBACK),
         "MOTCUA_DATABASE_URL", "SQLite", "PostgreSQL")


def test_example_database_password() -> None:
    url = "postgresql+psycopg://motcua:CHANGE-ME@127.0.0.1:5432/motcua"
    line = only(production_problems(prod(database_url=url), LOOPBACK),
                "MOTCUA_DATABASE_URL", "example value")
    assert "CHANGE-ME@" not in line  # the URL itself is not printed


@pytest.mark.parametrize("bind", ["0.0.0.0:8000", "10.0.0.11:8001", "[::]:8000"])
def test_open_metrics(bind: str) -> None:
    only(production_problems(prod(), [bind]),
         "/metrics", bind, "MOTCUA_METRICS_TOKEN", "127.0.0.1")


def test_metrics_token_or_loopback_bind_closes_metrics() -> None:
    for bind in ("127.0.0.1:8001", "[::1]:8001", "localhost:8001", "unix:/run/motcua.sock"):
        assert is_loopback_bind(bind), bind
        assert production_problems(prod(), [bind]) == []
    assert production_problems(prod(metrics_token="x" * 32), ["0.0.0.0:8000"]) == []
    only(production_problems(prod(metrics_token="CHANGE-ME"), LOOPBACK),
         "MOTCUA_METRICS_TOKEN", "example value")


def test_debug_log_level() -> None:
    only(production_problems(prod(log_level="DEBUG"), LOOPBACK), "MOTCUA_LOG_LEVEL=DEBUG", "INFO")


def test_every_problem_at_once() -> None:
    s = prod(secret_key=None, database_url="sqlite:///m.sqlite3", log_level="debug")
    problems = production_problems(s, ["0.0.0.0:8000"])
    assert len(problems) == 4, problems
    assert all(" / " in p and "\n" not in p for p in problems)


def test_settings_from_the_environment() -> None:
    s = Settings.from_env({"MOTCUA_ENV": "Production", "MOTCUA_DATABASE_URL": PG})
    assert s.is_production
    only(production_problems(s, LOOPBACK), "MOTCUA_SECRET_KEY")
