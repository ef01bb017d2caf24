"""Prometheus metrics of one app node (``GET /metrics``, text exposition format).

Two kinds of numbers, said in each HELP line:

- **this node's** counters and gauges: tickets issued and calls made *by requests this node
  served* (counted from the domain events its commits publish), socket clients connected *to
  this node* per namespace, HTTP request latency, printer problems its print worker saw, and the
  process's own memory and CPU (``process_*``). A province runs one gunicorn worker per node, so
  each node is one process with its own registry: scrape **every node** (one Prometheus target
  per node; Prometheus adds the ``instance`` label) and ``sum()`` across instances for the
  province.
- **cluster-wide** gauges read from the database at scrape time (the same value from every
  node): tickets waiting per service (today's business day of each site), print jobs not done
  by status, printers by status. Use ``max()`` across instances, not ``sum()``.

``MOTCUA_METRICS_TOKEN`` set: ``/metrics`` wants ``Authorization: Bearer <token>``; otherwise
it is open on the node's port, and the shipped nginx site refuses it from outside.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from server.models import PrinterState, PrintJob, Service, Site, Ticket
from server.rules.calendar import local

log = logging.getLogger("motcua.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PRINTER_PROBLEMS = ("offline", "paper_out", "error")


class DatabaseCollector(Collector):
    """Gauges read from the database at each scrape: three small grouped queries that use the
    tickets' queue index and the print jobs' status index."""

    def __init__(self, app: Flask) -> None:
        self.ctx = app.extensions["motcua"]

    def collect(self) -> Iterator[Metric]:
        ok = GaugeMetricFamily(
            "motcua_metrics_database_ok",
            "1 when the cluster-wide gauges below could be read from the database",
        )
        try:
            families = self._read()
        except Exception as exc:  # a scrape never fails because the database is away
            log.warning("metrics: database read failed", extra={"error": type(exc).__name__})
            ok.add_metric([], 0)
            yield ok
            return
        ok.add_metric([], 1)
        yield ok
        yield from families

    def _read(self) -> list[Metric]:
        now: dt.datetime = self.ctx.clock()
        waiting = GaugeMetricFamily(
            "motcua_waiting_tickets",
            "Tickets waiting now per service, today's business day of the site "
            "(cluster-wide, from the database)",
            labels=["site", "service"],
        )
        jobs = GaugeMetricFamily(
            "motcua_print_jobs",
            "Print jobs not yet done, by status; 'failed' ones gave up after their retries, "
            "'unknown' ones reached a printer that never acknowledged them (maybe printed) "
            "(cluster-wide, from the database)",
            labels=["status"],
        )
        printers = GaugeMetricFamily(
            "motcua_printers",
            "Printers by last known status (cluster-wide, from the database)",
            labels=["status"],
        )
        with self.ctx.db.read() as s:
            sites = s.execute(select(Site.id, Site.code, Site.timezone)).all()
            today = {sid: local(now, tz or "Asia/Ho_Chi_Minh").date() for sid, _c, tz in sites}
            days = sorted(set(today.values()))
            rows = s.execute(
                select(Site.id, Site.code, Service.code, Ticket.business_day, func.count())
                .select_from(Service)
                .join(Site, Site.id == Service.site_id)
                .join(
                    Ticket,
                    (Ticket.service_id == Service.id)
                    & Ticket.business_day.in_(days)
                    & (Ticket.status == "waiting"),
                )
                .group_by(Site.id, Site.code, Service.code, Ticket.business_day)
            ).all() if days else []
            counts: dict[tuple[str, str], int] = {}
            for site_id, site_code, service_code, day, n in rows:
                if today.get(site_id) == day:
                    counts[(site_code, service_code)] = int(n)
            for svc_site, svc_code in s.execute(
                select(Site.code, Service.code).join(Site, Site.id == Service.site_id)
                .where(Service.active.is_(True))
            ).all():
                counts.setdefault((svc_site, svc_code), 0)
            for (site_code, service_code), n in sorted(counts.items()):
                waiting.add_metric([site_code, service_code], n)
            by_status = dict.fromkeys(("queued", "printing", "failed", "unknown"), 0)
            for status, n in s.execute(
                select(PrintJob.status, func.count())
                .where(PrintJob.status.in_(list(by_status)))
                .group_by(PrintJob.status)
            ).all():
                by_status[status] = int(n)
            for status, n in by_status.items():
                jobs.add_metric([status], n)
            for status, n in s.execute(
                select(PrinterState.status, func.count()).group_by(PrinterState.status)
            ).all():
                printers.add_metric([status], int(n))
        return [waiting, jobs, printers]


class SocketCollector(Collector):
    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        fam = GaugeMetricFamily(
            "motcua_socket_clients",
            "Socket.IO clients connected to this node, per namespace (this node)",
            labels=["namespace"],
        )
        hub = self.app.extensions.get("motcua_hub")
        if hub is not None:
            for name, ns in hub.namespaces.items():
                fam.add_metric([name], len(ns.clients))
        yield fam


class IncidentCollector(Collector):
    """Outages this node saw (``server/core/incidents.py``): failures by part and kind, and
    whether each part is up now. Redis down leaves the node serving but degraded."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        incidents = self.app.extensions["motcua"].db.incidents
        settings = self.app.extensions["motcua"].settings
        for part in ("database", "redis", "schema"):
            fam = CounterMetricFamily(
                f"motcua_{part}_unavailable",
                f"Requests or calls that found the {part} unavailable, by kind (this node)",
                labels=["kind"],
            )
            for (what, kind), n in sorted(incidents.counts.items()):
                if what == part:
                    fam.add_metric([kind], n)
            yield fam
        up = GaugeMetricFamily(
            "motcua_dependency_up",
            "1 when this node reaches the part now, 0 during an incident (this node)",
            labels=["part"],
        )
        up.add_metric(["database"], 0 if incidents.is_open("database") else 1)
        up.add_metric(["schema"], 0 if incidents.is_open("schema") else 1)
        if settings.redis_url:
            up.add_metric(["redis"], 0 if incidents.is_open("redis") else 1)
        yield up
        degraded = GaugeMetricFamily(
            "motcua_node_degraded",
            "1 when this node serves without Redis: its events reach only its own clients",
        )
        degraded.add_metric([], 1 if incidents.is_open("redis") else 0)
        yield degraded


class Metrics:
    """The node's registry and the hooks that feed it."""

    def __init__(self, app: Flask) -> None:
        ctx = app.extensions["motcua"]
        self.db = ctx.db
        self.token: str | None = ctx.settings.metrics_token
        self.registry = CollectorRegistry()
        r = self.registry
        node = app.extensions["motcua_node"]
        info = Gauge("motcua_node_info", "This node (value 1)", ["node"], registry=r)
        info.labels(node.name).set(1)
        self.draining = Gauge(
            "motcua_node_draining", "1 while this node shuts down (this node)", registry=r
        )
        self.draining.set_function(lambda: 1.0 if node.draining else 0.0)
        self.issued = Counter(
            "motcua_tickets_issued",
            "Tickets issued through this node (this node; sum over nodes)",
            ["site", "service"],
            registry=r,
        )
        self.calls = Counter(
            "motcua_calls",
            "Tickets called to a counter through this node, recalls apart (this node)",
            ["site", "service", "kind"],
            registry=r,
        )
        self.printer_problems = Counter(
            "motcua_printer_problems",
            "Printers this node's print worker found offline, out of paper or in error "
            "(this node)",
            ["status"],
            registry=r,
        )
        self.latency = Histogram(
            "motcua_http_request_duration_seconds",
            "HTTP request time in the app, by route (this node; Socket.IO traffic apart)",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        r.register(DatabaseCollector(app))
        r.register(SocketCollector(app))
        r.register(IncidentCollector(app))
        ProcessCollector(registry=r)
        self._site_codes: dict[int, str] = {}
        self.db.subscribers.append(self.on_events)

    def site_code(self, site_id: int) -> str:
        code = self._site_codes.get(site_id)
        if code is None:
            with self.db.read() as s:
                code = s.scalar(select(Site.code).where(Site.id == site_id)) or str(site_id)
            self._site_codes[site_id] = code
        return code

    def on_events(self, events: list[Any]) -> None:
        """Database subscriber: the committed events of one unit of work on this node."""
        for event in events:
            t, d = event.type, event.data
            if t == "ticket.issued":
                self.issued.labels(self.site_code(event.site_id), d.get("service", "")).inc()
            elif t in ("ticket.called", "ticket.recalled"):
                kind = "call" if t == "ticket.called" else "recall"
                self.calls.labels(self.site_code(event.site_id), d.get("service", ""), kind).inc()
            elif t == "printer.changed" and d.get("status") in PRINTER_PROBLEMS:
                self.printer_problems.labels(d["status"]).inc()

    def allowed(self) -> bool:
        if not self.token:
            return True
        header = request.headers.get("Authorization", "")
        given = header[7:].strip() if header[:7].lower() == "bearer " else ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    def exposition(self) -> Response:
        if not self.allowed():
            return Response(
                '{"error": {"code": "unauthorized", "message": "Missing or invalid access '
                'token."}}',
                status=401,
                mimetype="application/json",
            )
        return Response(generate_latest(self.registry), mimetype=CONTENT_TYPE_LATEST)


#: The HTTP methods that get their own label value; any other (a client may send anything)
#: is counted as "other", so the label cannot grow without bound.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


def init_metrics(app: Flask) -> Metrics:
    metrics = Metrics(app)
    app.extensions["motcua_metrics"] = metrics

    @app.before_request
    def _metrics_t0() -> None:
        g.metrics_t0 = time.perf_counter()

    @app.after_request
    def _metrics_observe(resp: Response) -> Response:
        t0 = g.get("metrics_t0")
        if t0 is not None:
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            metrics.latency.labels(
                method_label(request.method), route, str(resp.status_code)
            ).observe(time.perf_counter() - t0)
        return resp

    app.add_url_rule("/metrics", "metrics", metrics.exposition, methods=["GET"])
    return metrics
