"""Configuration from the environment (``MOTCUA_*``), with embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url


def default_sqlite_url() -> str:
    return f"sqlite:///{Path.cwd() / 'motcua.sqlite3'}"


#: The placeholder of deploy/motcua.env.example: refused as a secret key in production.
PLACEHOLDER_SECRET_KEYS = frozenset({"CHANGE-ME-64-hex-characters", "CHANGE-ME", "change-me"})


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("", "0", "false", "no", "off")


@dataclass
class Settings:
    database_url: str = field(default_factory=default_sqlite_url)
    public_base_url: str = "http://127.0.0.1:5000"
    redis_url: str | None = None
    redis_channel: str = "motcua"
    secret_key: str | None = None
    default_lang: str = "vi"
    async_mode: str = "threading"
    print_worker: bool = True
    metrics_token: str | None = None  # /metrics wants this bearer token when set (deploy/)
    node_name: str | None = None  # names this node in /healthz and metrics (default host:pid)
    env: str = "development"  # MOTCUA_ENV: "production" refuses the placeholder secret key
    # Networks (CIDR, comma separated) the web may point tcp:// printers at; empty: any address
    # except loopback, link-local and reserved ones.
    printer_networks: str = ""
    # Where file:// printers (set from the command line only) may write; None: spool_dir().
    printer_spool_dir: str | None = None
    # Proxies whose X-Forwarded-For is believed (comma separated addresses; "*": any).
    forwarded_allow_ips: str = "127.0.0.1"
    session_hours: float = 12.0
    session_idle_minutes: float = 60.0
    session_cookie_secure: bool = False
    max_body_bytes: int = 1_000_000
    # A whole province in one file: ~166 centres x ~10 kB plus ~1,900 catalog procedures x
    # ~0.8 kB is about 3.3 MB of JSON (measured on the demo, see docs/security.md).
    max_config_bytes: int = 8_000_000

    def spool_dir(self) -> Path:
        """``printer_spool_dir``, else ``printed/`` beside the SQLite database file, else
        ``printed/`` in the working folder (where ``motcua demo`` puts its kiosks' files)."""
        if self.printer_spool_dir:
            return Path(self.printer_spool_dir).expanduser().resolve()
        try:
            url = make_url(self.database_url)
        except Exception:  # a bad URL fails elsewhere, with a clear message
            url = None
        if url is not None and url.get_backend_name() == "sqlite" and url.database not in (
            None, "", ":memory:"
        ):
            return (Path(url.database).expanduser().resolve().parent / "printed")
        return (Path.cwd() / "printed").resolve()

    @property
    def cookie_secure(self) -> bool:
        return self.session_cookie_secure or self.public_base_url.startswith("https://")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {}
        if env.get("MOTCUA_DATABASE_URL"):
            values["database_url"] = env["MOTCUA_DATABASE_URL"]
        if env.get("MOTCUA_PUBLIC_BASE_URL"):
            values["public_base_url"] = env["MOTCUA_PUBLIC_BASE_URL"].rstrip("/")
        if env.get("MOTCUA_REDIS_URL"):
            values["redis_url"] = env["MOTCUA_REDIS_URL"]
        if env.get("MOTCUA_ASYNC_MODE"):
            values["async_mode"] = env["MOTCUA_ASYNC_MODE"]
        if env.get("MOTCUA_REDIS_CHANNEL"):
            values["redis_channel"] = env["MOTCUA_REDIS_CHANNEL"]
        if env.get("MOTCUA_PRINT_WORKER"):
            values["print_worker"] = env["MOTCUA_PRINT_WORKER"] not in ("0", "false", "no")
        if env.get("MOTCUA_SECRET_KEY"):
            values["secret_key"] = env["MOTCUA_SECRET_KEY"]
        if env.get("MOTCUA_METRICS_TOKEN"):
            values["metrics_token"] = env["MOTCUA_METRICS_TOKEN"]
        if env.get("MOTCUA_NODE_NAME"):
            values["node_name"] = env["MOTCUA_NODE_NAME"]
        if env.get("MOTCUA_ENV"):
            values["env"] = env["MOTCUA_ENV"].strip().lower()
        if "MOTCUA_PRINTER_NETWORKS" in env:
            values["printer_networks"] = env["MOTCUA_PRINTER_NETWORKS"]
        if env.get("MOTCUA_PRINTER_SPOOL_DIR"):
            values["printer_spool_dir"] = env["MOTCUA_PRINTER_SPOOL_DIR"]
        if env.get("MOTCUA_FORWARDED_ALLOW_IPS"):
            values["forwarded_allow_ips"] = env["MOTCUA_FORWARDED_ALLOW_IPS"]
        if env.get("MOTCUA_SESSION_HOURS"):
            values["session_hours"] = float(env["MOTCUA_SESSION_HOURS"])
        if env.get("MOTCUA_SESSION_IDLE_MINUTES"):
            values["session_idle_minutes"] = float(env["MOTCUA_SESSION_IDLE_MINUTES"])
        if env.get("MOTCUA_SESSION_COOKIE_SECURE"):
            values["session_cookie_secure"] = _flag(env["MOTCUA_SESSION_COOKIE_SECURE"])
        if env.get("MOTCUA_MAX_BODY_BYTES"):
            values["max_body_bytes"] = int(env["MOTCUA_MAX_BODY_BYTES"])
        if env.get("MOTCUA_MAX_CONFIG_BYTES"):
            values["max_config_bytes"] = int(env["MOTCUA_MAX_CONFIG_BYTES"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
