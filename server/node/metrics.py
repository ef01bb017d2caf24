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
  node): tickets waiting per service (today's business day of each site) and the longest wait
  against the service's SLA target, print jobs not done by status, printers by status and each
  printer's status with its waiting jobs and the oldest one's age, the schema revision, the
  database's size. Use ``max()`` across instances, not ``sum()``.
- **this node's disks and fan-out**: the print spool and audio cache folders (and the cache's
  cap), the last backup's marker in the backup folder, realtime events dropped because Redis
  could not take them.

The shipped alerts over these are deploy/prometheus/motcua.rules.yml.

``MOTCUA_METRICS_TOKEN`` set: ``/metrics`` wants ``Authorization: Bearer <token>``; otherwise
it is open on the node's port, and the shipped nginx site refuses it from outside.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import logging
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
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
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from messaging.base import CHANNEL_NAMES
from printers.uri import parse_uri
from server.config import env_name
from server.core import migrate
from server.features import outbox, queues
from server.models import PrinterState, PrintJob, Site
from server.node import backup_marker

log = logging.getLogger("motcua.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PRINTER_PROBLEMS = ("offline", "paper_out", "error")
WAITING_JOBS = ("queued", "printing")  # print jobs not yet sent
FOLDER_CACHE_S = 60.0  # the spool and audio folders are walked at most once a minute
MAX_WALK = 200_000  # files counted in one folder at most (a scrape stays cheap)


class DatabaseCollector(Collector):
    """Gauges read from the database at each scrape: a few small grouped queries on the
    tickets' queue index, the print jobs' status index and the printers' table."""

    def __init__(self, app: Flask) -> None:
        self.ctx = app.extensions["motcua"]
        self.head = schema_head(self.ctx.settings.database_url)

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
        scope = " (cluster-wide, from the database)"
        waiting = GaugeMetricFamily(
            "motcua_waiting_tickets",
            "Tickets waiting now per service, today's business day of the site" + scope,
            labels=["site", "service"],
        )
        longest = GaugeMetricFamily(
            "motcua_longest_wait_seconds",
            "How long the ticket waiting longest in each service's line has waited (since it "
            "entered that line; 0 with nobody waiting)" + scope,
            labels=["site", "service"],
        )
        sla = GaugeMetricFamily(
            "motcua_sla_target_seconds",
            "Each service's SLA target wait (services.sla_target_minutes)" + scope,
            labels=["site", "service"],
        )
        jobs = GaugeMetricFamily(
            "motcua_print_jobs",
            "Print jobs not done, by status; 'failed' ones gave up after their retries, "
            "'unknown' ones reached a printer that never acknowledged them (maybe printed)"
            + scope,
            labels=["status"],
        )
        printers = GaugeMetricFamily(
            "motcua_printers", "Printers by last known status" + scope, labels=["status"],
        )
        printer_state = GaugeMetricFamily(
            "motcua_printer_status",
            "1 for each printer's last known status (online, paper_near_end, offline, "
            "paper_out, error, unknown)" + scope,
            labels=["printer", "status"],
        )
        queued = GaugeMetricFamily(
            "motcua_printer_jobs_waiting",
            "Print jobs queued or being sent, per printer" + scope,
            labels=["printer"],
        )
        oldest_job = GaugeMetricFamily(
            "motcua_printer_oldest_job_age_seconds",
            "Age of the oldest print job still queued or being sent, per printer (an "
            "unreachable printer's jobs wait here, retried, before any is marked failed)" + scope,
            labels=["printer"],
        )
        schema = GaugeMetricFamily(
            "motcua_schema_revision_info",
            "1, labelled with the database's schema revision and the one this release needs "
            "(they differ: run `motcua init-db`)" + scope,
            labels=["revision", "head"],
        )
        size = GaugeMetricFamily(
            "motcua_database_size_bytes",
            "The database's size on disk (PostgreSQL: pg_database_size; SQLite: the file and "
            "its WAL)" + scope,
        )
        db = self.ctx.db
        with db.read() as s:
            for line in queues.lines_now(s, now):
                labels = [line.site, line.service]
                waiting.add_metric(labels, line.waiting)
                age = (now - line.oldest).total_seconds() if line.oldest is not None else 0.0
                longest.add_metric(labels, max(age, 0.0))
                sla.add_metric(labels, line.sla_target_minutes * 60)
            by_status = dict.fromkeys(("queued", "printing", "failed", "unknown"), 0)
            for status, n in s.execute(
                select(PrintJob.status, func.count())
                .where(PrintJob.status != "done")
                .group_by(PrintJob.status)
            ).all():
                by_status[status] = int(n)
            for status, n in sorted(by_status.items()):
                jobs.add_metric([status], n)
            # Two URIs may share a short name (options apart): one sample per label set.
            counts: dict[str, int] = {}
            states: set[tuple[str, str]] = set()
            for uri, status in s.execute(select(PrinterState.uri, PrinterState.status)).all():
                counts[status] = counts.get(status, 0) + 1
                states.add((printer_label(uri), status))
            for status, n in sorted(counts.items()):
                printers.add_metric([status], n)
            for label, status in sorted(states):
                printer_state.add_metric([label, status], 1)
            waiting_jobs: dict[str, tuple[int, float]] = {}
            for uri, n, first in s.execute(
                select(PrintJob.uri, func.count(), func.min(PrintJob.created_at))
                .where(PrintJob.status.in_(WAITING_JOBS))
                .group_by(PrintJob.uri)
            ).all():
                label = printer_label(uri)
                age = max((now - first).total_seconds(), 0.0) if first else 0.0
                had_n, had_age = waiting_jobs.get(label, (0, 0.0))
                waiting_jobs[label] = (had_n + int(n), max(had_age, age))
            for label, (n, age) in sorted(waiting_jobs.items()):
                queued.add_metric([label], n)
                oldest_job.add_metric([label], age)
            revision = s.scalar(text("SELECT version_num FROM alembic_version")) or ""
            schema.add_metric([revision, self.head], 1)
            size.add_metric([], database_bytes(s, self.ctx.settings.database_url))
        return [waiting, longest, sla, jobs, printers, printer_state, queued, oldest_job,
                schema, size]


class OutboxCollector(Collector):
    """``motcua_outbox_*`` per channel (``print`` from the print jobs, the others from the
    outbox's messages), read from the database at scrape time: the same from every node."""

    def __init__(self, app: Flask) -> None:
        self.ctx = app.extensions["motcua"]

    def collect(self) -> Iterator[Metric]:
        scope = " (cluster-wide, from the database)"
        fams = {
            "queued": GaugeMetricFamily(
                "motcua_outbox_queued", "Outbound effects waiting now (queued, or being sent), "
                "per channel" + scope, labels=["channel"]),
            "oldest_s": GaugeMetricFamily(
                "motcua_outbox_oldest_queued_seconds", "Age of the oldest effect still "
                "waiting, per channel (a gateway or printer down: it grows)" + scope,
                labels=["channel"]),
            "sent": GaugeMetricFamily(
                "motcua_outbox_sent", "Effects made in the last 24 hours and sent (print: "
                "acknowledged by the printer), per channel" + scope, labels=["channel"]),
            "failed": GaugeMetricFamily(
                "motcua_outbox_failed", "Effects made in the last 24 hours that failed for good "
                "(dead letters, kept and visible), per channel" + scope, labels=["channel"]),
            "retried": GaugeMetricFamily(
                "motcua_outbox_retried", "Attempts beyond the first of the effects made in the "
                "last 24 hours, per channel" + scope, labels=["channel"]),
        }
        try:
            with self.ctx.db.read() as s:
                found = outbox.figures(s, self.ctx.clock(), channels=CHANNEL_NAMES)
        except Exception as exc:  # the database collector reports the outage
            log.warning("outbox metrics unavailable", extra={"error": type(exc).__name__})
            return
        for channel, f in sorted(found.items()):
            for attr, fam in fams.items():
                fam.add_metric([channel], float(getattr(f, attr)))
        yield from fams.values()


class NodeCollector(Collector):
    """This node's disks and fan-out: the spool and audio cache folders (walked at most once a
    minute), the audio cache's cap, the last backup's marker, realtime events dropped."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.settings = app.extensions["motcua"].settings
        self._sizes: tuple[float, dict[str, tuple[int, int]]] = (0.0, {})

    def folder_sizes(self) -> dict[str, tuple[int, int]]:
        taken, sizes = self._sizes
        if time.monotonic() - taken > FOLDER_CACHE_S or not sizes:
            sizes = {
                "spool": folder_size(self.settings.spool_dir()),
                "audio_cache": folder_size(self.settings.audio_cache_dir(), "*/*.wav"),
            }
            self._sizes = (time.monotonic(), sizes)
        return sizes

    def collect(self) -> Iterator[Metric]:
        sizes = self.folder_sizes()
        spool = GaugeMetricFamily(
            "motcua_spool_bytes",
            "Bytes in the print spool folder of file:// printers (this node)",
        )
        spool.add_metric([], sizes["spool"][1])
        yield spool
        files, size = sizes["audio_cache"]
        for name, doc, value in (
            ("motcua_audio_cache_files", "Spoken calls in this node's audio cache", files),
            ("motcua_audio_cache_bytes", "Bytes of this node's audio cache (WAV files)", size),
            ("motcua_audio_cache_max_files",
             f"The audio cache's cap in files ({env_name('audio_cache_max')}): the least "
             "recently used go first beyond it", max(10, self.settings.audio_cache_max)),
        ):
            fam = GaugeMetricFamily(name, doc + " (this node)")
            fam.add_metric([], value)
            yield fam
        last = backup_marker.last_success(self.settings.backup_folder())
        backup = GaugeMetricFamily(
            "motcua_backup_last_success_timestamp_seconds",
            "When the last successful backup finished (Unix time, from the marker in the "
            "backup folder; 0: none recorded). Use max() over instances",
        )
        backup.add_metric([], last.finished_at.timestamp() if last else 0.0)
        yield backup
        dropped = CounterMetricFamily(
            "motcua_realtime_events_dropped",
            "Realtime events this node could not publish to Redis after retrying: the "
            "clients of the other nodes missed them until their next snapshot (this node)",
        )
        hub = self.app.extensions.get("motcua_hub")
        manager = getattr(getattr(getattr(hub, "socketio", None), "server", None), "manager", None)
        dropped.add_metric([], getattr(manager, "dropped", 0))
        yield dropped


def printer_label(uri: str) -> str:
    """A printer as a label: its short name (``192.168.1.50:9100``, ``usb 04b8:0202``)."""
    try:
        return parse_uri(uri).label
    except Exception:  # a row written by an older release: its raw text, shortened
        return uri[:100]


def folder_size(folder: Path, pattern: str = "**/*") -> tuple[int, int]:
    """(files, bytes) under ``folder`` matching ``pattern``, at most ``MAX_WALK`` files."""
    files = size = 0
    try:
        for path in folder.glob(pattern):
            if files >= MAX_WALK:
                break
            try:
                st = path.stat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                files += 1
                size += st.st_size
    except OSError:
        pass
    return files, size


def database_bytes(session: Any, url: str) -> int:
    """The database's size on disk: PostgreSQL's own figure, else the SQLite file(s)."""
    if session.get_bind().dialect.name == "postgresql":
        return int(session.scalar(text("SELECT pg_database_size(current_database())")) or 0)
    try:
        path = make_url(url).database
    except Exception:
        return 0
    if not path or path == ":memory:":
        return 0
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += os.stat(path + suffix).st_size
    return total


def schema_head(url: str) -> str:
    """The schema revision this release needs (the migrations' head)."""
    try:
        return ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head() or ""
    except Exception:  # the label is informative; a broken install fails elsewhere
        return ""


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
        r.register(NodeCollector(app))
        r.register(OutboxCollector(app))
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
