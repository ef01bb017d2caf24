"""Retention of personal data outside dossiers (server/features/retention.py), applied by the
daily close and by `motcua retention`, on SQLite and PostgreSQL: ID-card scans go after their
business day even at a site that issues nothing the next day, finished print jobs after the
retention period; tickets and their detail past their period once their day is aggregated, the
aggregates past theirs; a dry run says what would go and changes nothing; dossiers stay."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select

from server.features import aggregates, dailyops, reports, retention
from server.features.dailyops import DayCloser
from server.models import (
    DailyStat,
    Dossier,
    OutboxMessage,
    PrintJob,
    Procedure,
    Rating,
    Site,
    StatDay,
    Ticket,
    TicketApplicant,
    TicketContact,
    TicketEvent,
)
from tests.conftest import Api, Clock

SCAN = {"id_number": "001234567890", "name": "Lê Văn Cường"}


def _count(api: Api, model: Any) -> int:
    with api.world.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _job(now: dt.datetime, status: str, age_days: float, data: bytes = b"slip") -> PrintJob:
    at = now - dt.timedelta(days=age_days)
    return PrintJob(id=uuid.uuid4().hex, uri="tcp://10.0.0.5:9100", data=data, status=status,
                    attempts=1, next_attempt_at=at, created_at=at,
                    finished_at=at if status not in ("queued", "printing") else None)


def test_retention_dry_run_then_apply(api: Api, clock: Clock) -> None:
    clock.set(dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC))  # Monday 9:00 in Hanoi
    r = api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
                 json={"service": "civil", "applicant": SCAN})
    assert r.status_code == 201, r.get_json()
    now = clock.advance(days=40)  # nothing issued at the site since
    with api.world.db.write() as s:
        s.add_all([
            _job(now, "done", 31, b"x" * 500), _job(now, "failed", 45, b"y" * 300),
            _job(now, "done", 2), _job(now, "queued", 60), _job(now, "printing", 60),
        ])
    jobs_before = _count(api, PrintJob)
    with api.world.db.write() as s:
        plan = retention.apply(s, now, 30, dry_run=True)
    assert (plan["applicant_scans"], plan["print_jobs"], plan["print_job_bytes"]) == (1, 2, 800)
    assert "would remove: 1 ID-card scan(s)" in retention.describe(plan)
    assert _count(api, TicketApplicant) == 1 and _count(api, PrintJob) == jobs_before
    with api.world.db.write() as s:
        done = retention.apply(s, now, 30)
    assert (done["applicant_scans"], done["print_jobs"]) == (1, 2)
    assert _count(api, TicketApplicant) == 0
    with api.world.db.read() as s:
        left = sorted(s.scalars(select(PrintJob.status)))
    assert left.count("queued") == 1 and left.count("printing") == 1  # still to be sent
    assert _count(api, PrintJob) == jobs_before - 2
    with api.world.db.write() as s:
        again = retention.apply(s, now, 30)
    assert (again["applicant_scans"], again["print_jobs"]) == (0, 0)


def test_the_day_closer_runs_retention_once_an_hour(api: Api, clock: Clock) -> None:
    clock.set(dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC))
    api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
             json={"service": "civil", "applicant": SCAN})
    closer = DayCloser(api.world.db, clock, retention_days=30)
    first = closer.retain_once()
    assert first is not None and first["applicant_scans"] == 0  # today's scan stays
    clock.advance(minutes=30)
    assert closer.retain_once() is None  # not due yet
    clock.advance(days=1)
    summary = closer.retain_once()
    assert summary is not None and summary["applicant_scans"] == 1
    assert _count(api, TicketApplicant) == 0


def test_retention_command(api: Api, clock: Clock, monkeypatch: Any) -> None:
    from click.testing import CliRunner

    from server.cli import main

    monkeypatch.setenv("MOTCUA_DATABASE_URL", api.world.db.url)
    monkeypatch.setenv("MOTCUA_RETENTION_DAYS", "7")
    now = dt.datetime.now(dt.UTC)
    with api.world.db.write() as s:
        s.add(_job(now, "done", 8, b"z" * 10))
    runner = CliRunner()
    dry = runner.invoke(main, ["retention", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "retention (7 days) would remove" in dry.output and "1 print job(s)" in dry.output
    assert _count(api, PrintJob) == 1
    done = runner.invoke(main, ["close-day", "--site", "HT"])
    assert done.exit_code == 0, done.output
    assert "retention (7 days) removed" in done.output and "1 print job(s)" in done.output
    assert _count(api, PrintJob) == 0


def test_history_past_its_period_leaves_the_aggregates(api: Api, clock: Clock) -> None:
    """Tickets of a year and more ago go (with their events, rating and scan) once their day
    is aggregated, after a dry run that counts them; the report of that day is unchanged (it
    reads the aggregates); the dossier filed from one of them stays, without the link. Five
    years on, the aggregates go too. The day closer does both, once its pass is due."""
    old = dt.datetime(2025, 11, 24, 2, 0, tzinfo=dt.UTC)  # Monday 9:00 in Hanoi
    clock.set(old)
    t = api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
                 json={"service": "civil", "applicant": SCAN}).get_json()
    clock.advance(minutes=7)
    assert api.call_next(2)["id"] == t["id"]
    api.act(t["id"], "start")
    clock.advance(minutes=5)
    assert api.act(t["id"], "finish").status_code == 200
    with api.world.db.write() as s:
        site = s.scalar(select(Site).where(Site.code == "HT"))
        assert site is not None
        s.add(Rating(ticket_id=t["id"], site_id=site.id, service_id=api.world.services["civil"],
                     score="satisfied", source="tablet", created_at=clock()))
        # A phone number given at the kiosk and the message sent to it refer to the ticket too.
        s.add(TicketContact(ticket_id=t["id"], phone=None, consent_at=clock(),
                            consent_version="v1", purged_at=clock()))
        s.add(OutboxMessage(id=uuid.uuid4().hex, site_id=site.id, ticket_id=t["id"],
                            channel="file", kind="called", recipient="09******12", text="…",
                            data={}, idempotency_key=uuid.uuid4().hex, status="sent",
                            attempts=1, next_attempt_at=clock(), created_at=clock(),
                            finished_at=clock()))
        proc = Procedure(site_id=site.parent_id, code="P-OLD", name_vi="Thủ tục",
                         name_en="Procedure", service_code="civil", processing_days=1,
                         documents=[])
        s.add(proc)
        s.flush()
        s.add(Dossier(code="D-OLD", site_id=site.id, procedure_id=proc.id, ticket_id=t["id"],
                      status="returned", applicant_name="Lê Văn Cường",
                      applicant_id_number="001234567890", documents=[], sets=1,
                      delivery="counter", received_at=clock(), due_at=clock(),
                      paused_days_total=0, tracking_token="tok-old"))

    def report() -> dict[str, Any]:
        with api.world.db.read() as s:
            site = s.scalar(select(Site).where(Site.code == "HT"))
            assert site is not None
            day = old.date()
            rep = reports.kpis(s, site, day, day, now=old + dt.timedelta(days=1))
            return {k: rep[k] for k in ("totals", "by_service", "by_counter", "by_hour")}

    before = report()
    assert before["totals"]["served"] == 1 and before["totals"]["awt_min"] == 7.0
    periods = retention.Periods(ticket_detail_days=366, aggregate_days=1827)
    now = old + dt.timedelta(days=367)
    clock.set(now)
    closer = DayCloser(api.world.db, clock, retention_days=30, periods=periods)
    plan = dailyops.history_pass(api.world.db, now, 30, periods, dry_run=True)
    assert plan["aggregates"]["days"] == 1 and plan["detail_days"] == 0  # not aggregated yet
    with api.world.db.write() as s:  # what the pass does first
        assert aggregates.catch_up(s, now)["days"] == 1
    plan = dailyops.history_pass(api.world.db, now, 30, periods, dry_run=True)
    assert (plan["detail_days"], plan["detail_tickets"]) == (1, 1)
    assert "the tickets of 1 aggregated day(s) older than 366 days (1 ticket(s))" in (
        retention.describe(plan))
    assert _count(api, Ticket) == 1 and _count(api, TicketEvent) > 0
    summary = closer.retain_once()
    assert summary is not None and (summary["detail_days"], summary["detail_tickets"]) == (1, 1)
    assert _count(api, Ticket) == 0 and _count(api, TicketEvent) == 0
    assert _count(api, Rating) == 0 and _count(api, TicketApplicant) == 0
    assert _count(api, TicketContact) == 0 and _count(api, OutboxMessage) == 0
    with api.world.db.read() as s:
        kept = s.scalar(select(Dossier).where(Dossier.code == "D-OLD"))
        assert kept is not None and kept.ticket_id is None
    assert report() == before
    # The back-fill leaves a day whose tickets are gone as it is.
    assert list(aggregates.backfill(api.world.db.write, clock(), rewrite=True)) == []
    assert report() == before
    clock.set(old + dt.timedelta(days=1828))
    summary = closer.retain_once()
    assert summary is not None and summary["aggregate_rows"] > 0
    assert _count(api, DailyStat) == 0 and _count(api, StatDay) == 0


def test_every_table_that_refers_to_tickets_is_covered() -> None:
    """The removal of a day's tickets reads the references from the models: every foreign key
    to ``tickets.id`` is either removed with its ticket or only unlinked (the dossier, a
    transfer's parent), so a table added later cannot block or survive the removal."""
    found = {(c.table.name, c.name) for c in retention.ticket_references()}
    assert {("ticket_events", "ticket_id"), ("ratings", "ticket_id"),
            ("print_jobs", "ticket_id"), ("ticket_applicants", "ticket_id"),
            ("ticket_contacts", "ticket_id"), ("outbox_messages", "ticket_id"),
            ("dossiers", "ticket_id"), ("tickets", "transfer_parent_id")} <= found
    assert found >= retention.KEEP_UNLINKED
