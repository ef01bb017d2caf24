"""Health, readiness and Prometheus metrics of an app node, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.app import create_app
from server.config import Settings
from server.core.db import Database
from tests.conftest import BASE_URL, Api, Clock, World


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def metric(api: Api, name: str, **labels: str) -> float | None:
    text = api.client.get("/metrics").get_data(as_text=True)  # type: ignore[attr-defined]
    return samples(text).get((name, tuple(sorted(labels.items()))))


def test_healthz_is_cheap_and_public(api: Api) -> None:
    r = api.call("GET", "/healthz")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "ok" and body["node"]
    assert r.headers["Cache-Control"] == "no-store"


def test_readyz_checks_the_database(api: Api) -> None:
    r = api.call("GET", "/readyz")
    assert r.status_code == 200
    assert r.get_json()["checks"] == {"database": "ok", "schema": "ok"}
    assert r.get_json()["status"] == "ready"


def _app(settings: Settings, db: Database, clock: Clock) -> Iterator[Any]:
    application = create_app(settings, db=db, clock=clock)
    application.testing = True
    yield application.test_client()
    application.extensions["motcua_printing"].stop()


@pytest.fixture
def unready_client(db: Database, clock: Clock, world: World) -> Iterator[Any]:
    """Redis configured but nothing listens there (port 1 on loopback)."""
    settings = Settings(
        database_url=db.url,
        public_base_url=BASE_URL,
        print_worker=False, outbox_worker=False,
        redis_url="redis://127.0.0.1:1/0",
        node_name="node-x",
    )
    yield from _app(settings, db, clock)


def test_redis_unreachable_leaves_the_node_ready_but_degraded(
    unready_client: Any, world: World
) -> None:
    """Without Redis the node still issues and calls: /readyz stays 200 and says degraded,
    /metrics and the supervisor's alerts say Redis is down."""
    r = unready_client.get("/readyz")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "degraded" and body["node"] == "node-x"
    assert body["checks"] == {"database": "ok", "schema": "ok", "redis": "down"}
    assert body["degraded"] == ["redis"]
    assert "Traceback" not in r.get_data(as_text=True)
    # Liveness does not depend on Redis: the process is alive.
    assert unready_client.get("/healthz").status_code == 200
    m = samples(unready_client.get("/metrics").get_data(as_text=True))
    assert m[("motcua_node_degraded", ())] == 1
    assert m[("motcua_dependency_up", (("part", "redis"),))] == 0
    assert m[("motcua_dependency_up", (("part", "database"),))] == 1
    assert m[("motcua_redis_unavailable_total", (("kind", "unreachable"),))] >= 1
    board = unready_client.get(
        f"/api/v1/sites/{world.site}/dashboard",
        headers={"Authorization": f"Bearer {world.tokens['supervisor']}"},
    )
    assert board.status_code == 200, board.get_data(as_text=True)
    alert = board.get_json()["alerts"][0]
    assert alert["kind"] == "redis_unavailable" and alert["severity"] == "critical"
    assert "Redis" in alert["text"]["vi"] and "Redis" in alert["text"]["en"]


def test_readyz_503_when_the_database_is_unreachable(clock: Clock, tmp_path: Any) -> None:
    dead = Database("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    ok = Database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    settings = Settings(database_url=ok.url, print_worker=False, outbox_worker=False)
    app = create_app(settings, db=dead, clock=clock)
    try:
        r = app.test_client().get("/readyz")
        assert r.status_code == 503
        assert r.get_json()["checks"]["database"] == "unreachable"
        assert r.get_json()["reason"] == "database unreachable"
        # /metrics still answers, saying the database gauges could not be read.
        m = samples(app.test_client().get("/metrics").get_data(as_text=True))
        assert m[("motcua_metrics_database_ok", ())] == 0
    finally:
        app.extensions["motcua_printing"].stop()
        dead.dispose()
        ok.dispose()


def test_readyz_503_while_draining(api: Api) -> None:
    from server.node.health import node_state

    node_state(api.client.application).draining = True  # type: ignore[attr-defined]
    r = api.call("GET", "/readyz")
    assert r.status_code == 503 and r.get_json()["reason"] == "shutting down"
    assert metric(api, "motcua_node_draining") == 1


def test_metrics_count_tickets_calls_and_waiting(api: Api) -> None:
    text = api.client.get("/metrics").get_data(as_text=True)  # type: ignore[attr-defined]
    assert text.startswith("# HELP")
    m = samples(text)
    assert m[("motcua_metrics_database_ok", ())] == 1
    # Every active service is listed, at zero before anything happens.
    assert m[("motcua_waiting_tickets", (("service", "land"), ("site", "HT")))] == 0
    for _ in range(3):
        api.issue("land")
    api.issue("civil")
    api.call_next(1)  # counter 1 calls land
    m = samples(api.client.get("/metrics").get_data(as_text=True))  # type: ignore[attr-defined]
    land = (("service", "land"), ("site", "HT"))
    assert m[("motcua_tickets_issued_total", land)] == 3
    assert m[("motcua_tickets_issued_total", (("service", "civil"), ("site", "HT")))] == 1
    assert m[("motcua_waiting_tickets", land)] == 2
    assert m[("motcua_waiting_tickets", (("service", "civil"), ("site", "HT")))] == 1
    assert m[("motcua_calls_total", (("kind", "call"), *land))] == 1
    for status in ("queued", "printing", "failed", "unknown"):
        assert m[("motcua_print_jobs", (("status", status),))] == 0
    for ns in ("/display", "/counter", "/kiosk", "/supervisor", "/track"):
        assert m[("motcua_socket_clients", (("namespace", ns),))] == 0
    issue = (
        ("method", "POST"),
        ("route", "/api/v1/sites/<site>/tickets"),
        ("status", "201"),
    )
    assert m[("motcua_http_request_duration_seconds_count", issue)] == 4
    assert m[("process_resident_memory_bytes", ())] > 10_000_000


def test_waiting_gauge_counts_only_the_sites_business_day(api: Api, clock: Clock) -> None:
    import datetime as dt

    clock.set(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    api.issue("land")
    clock.advance(days=1)  # yesterday's waiting ticket is not in today's queue
    api.issue("land")
    api.issue("land")
    assert metric(api, "motcua_waiting_tickets", site="HT", service="land") == 2


@pytest.fixture
def token_client(db: Database, clock: Clock, world: World) -> Iterator[Any]:
    settings = Settings(
        database_url=db.url, public_base_url=BASE_URL, print_worker=False,
        outbox_worker=False, metrics_token="s3cret"
    )
    yield from _app(settings, db, clock)


def test_metrics_token(token_client: Any) -> None:
    r = token_client.get("/metrics")
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    assert token_client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    r = token_client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200
    assert re.search(r"^motcua_node_info\{node=", r.get_data(as_text=True), re.M)
    # The health checks stay public.
    assert token_client.get("/healthz").status_code == 200


def test_drain_gate_sends_new_socket_clients_away(api: Api) -> None:
    from server.node.health import node_state
    from server.node.shutdown import DrainGate

    app = api.client.application  # type: ignore[attr-defined]
    app.wsgi_app = DrainGate(app.wsgi_app, app)
    r = api.call("GET", "/socket.io/?EIO=4&transport=polling")
    assert r.status_code == 200 and "Connection" not in r.headers  # not draining: served
    node_state(app).draining = True
    r = api.call("GET", "/socket.io/?EIO=4&transport=polling")
    assert r.status_code == 503 and r.headers["Connection"] == "close"
    assert r.get_json()["error"]["code"] == "draining"
    r = api.call("GET", "/healthz")  # plain requests are still served, on a closing connection
    assert r.status_code == 200 and r.headers["Connection"] == "close"
