"""Two real app nodes on a scratch PostgreSQL database and the shared Redis, the demo province
in it, and the fake SMS gateway configured as the demo site's channel: what the outbox's
two-node tests (a node killed while sending; the gateway's rate limit across nodes) start."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from server.core.db import Database
from server.features import notifications
from server.models import Site
from tests.conftest import scratch_pg
from tests.fakegateway import FakeSms
from tests.support import ServerProcess, demo


@contextlib.contextmanager
def sms_cluster(tmp_path: Path, redis_url: str, db_prefix: str, *, rate_per_second: int,
                delay_s: float, env: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """Yields ``creds`` (the demo's), ``gateway``, ``db``, ``nodes`` and ``site_id``; every
    node stopped, the gateway stopped and the database dropped after."""
    with scratch_pg(db_prefix) as pg_url:
        creds = demo(pg_url)
        gateway = FakeSms().start()
        gateway.delay_s = delay_s
        db = Database(pg_url)
        with db.write() as s:
            site = s.scalar(select(Site).where(Site.code == "HACTHANH"))
            assert site is not None
            site_id = site.id
            notifications.configure_channel(
                s, site.id, "sms", config=gateway.config(rate_per_second=rate_per_second),
                now=dt.datetime.now(dt.UTC), policy=notifications.Policy(base_url=""))
        node_env = {"MOTCUA_DATABASE_URL": pg_url, "MOTCUA_REDIS_URL": redis_url,
                    "MOTCUA_REDIS_CHANNEL": f"motcua-test-{uuid.uuid4().hex[:8]}",
                    "MOTCUA_RATE_LIMITS": "0", "MOTCUA_PUBLIC_BASE_URL": "http://motcua.test",
                    **(env or {})}
        nodes = [ServerProcess(tmp_path, node_env).start(),
                 ServerProcess(tmp_path, node_env).start()]
        try:
            yield {"creds": creds, "gateway": gateway, "db": db, "nodes": nodes,
                   "site_id": site_id}
        finally:
            for node in nodes:
                node.stop()
            gateway.stop()
            db.dispose()
