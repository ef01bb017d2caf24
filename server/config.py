"""Configuration from the environment (``MOTCUA_*``), with embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_sqlite_url() -> str:
    return f"sqlite:///{Path.cwd() / 'motcua.sqlite3'}"


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
    # Rate limits (docs/security.md), in the syntax of the `limits` library: "N per [M] unit",
    # several separated by ";". Counted in Redis when redis_url is set (shared by every node).
    rate_limits: bool = True
    rate_api: str = "600 per minute"  # any /api/v1 request, per token, user or client address
    rate_issue: str = "5 per 10 seconds; 20 per minute"  # issue/check-in, per device or token
    rate_pairing: str = "10 per minute; 30 per hour"  # new pairing codes, per client address
    rate_socket: str = "5 per 10 seconds"  # messages (resync...) per socket, on its node
    rate_socket_connect: str = "60 per minute"  # socket connections per client address, per node

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
        if env.get("MOTCUA_RATE_LIMITS"):
            values["rate_limits"] = env["MOTCUA_RATE_LIMITS"] not in ("0", "false", "no", "off")
        for name in ("api", "issue", "pairing", "socket", "socket_connect"):
            if env.get(f"MOTCUA_RATE_{name.upper()}"):
                values[f"rate_{name}"] = env[f"MOTCUA_RATE_{name.upper()}"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
