"""Supervisor endpoints: the live dashboard, moving waiting tickets, the audit trail and the
services a counter may be given. Supervisors and admins of the site; clerks get 403. Counter
open/pause/close and ``PUT /counters/{id}/profile`` (also cross-site) are in routes.py."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from zoneinfo import ZoneInfo

from flask import Response, request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from server.api.http import (
    LEAD_ROLES,
    base_url,
    body,
    ctx,
    endpoint,
    now,
    query_param,
    read_json,
    write_json,
)
from server.api.schemas import AuditChangeOut, Names, Strict
from server.core.auth import Principal
from server.core.catalogs import catalogs
from server.core.errors import AppError
from server.features import supervision

WHO = "supervisors and admins of the site (and of its parent sites); clerks get 403"


class OtherSiteCounterOut(BaseModel):
    site: str
    counter: int
    status: str


class DashServiceOut(BaseModel):
    code: str
    name: Names
    prefix: str
    active: bool
    sla_target_minutes: int
    waiting: int
    waiting_priority: int
    reserved: int = Field(description="Waiting tickets reserved for one counter")
    longest_wait_min: float | None
    avg_wait_last_hour_min: float | None
    called_last_hour: int
    sla_state: Literal["green", "amber", "red"] = Field(
        description="Longest current wait vs target: green < 75 %, amber < 100 %, red >= 100 %"
    )
    open_counters: int
    eta_new_min: int | None
    other_site_counters: list[OtherSiteCounterOut]


class ClerkOut(BaseModel):
    id: int
    username: str
    name: str


class DashTicketOut(BaseModel):
    id: int
    number: str
    status: str
    service: str
    site: str
    called_at: str | None


class DashProfileLineOut(BaseModel):
    code: str
    site: str
    weight: float
    name: Names


class DashCounterOut(BaseModel):
    id: int
    number: int
    name: str | None
    status: Literal["open", "paused", "closed"]
    pause_reason: str | None
    status_changed_at: str | None
    clerk: ClerkOut | None
    current_ticket: DashTicketOut | None
    served_today: int
    idle_min: float | None
    reserved_waiting: int
    services: list[DashProfileLineOut]


class DashPrinterOut(BaseModel):
    kind: str
    name: str | None
    counter: int | None
    status: str
    detail: str | None
    changed_at: str | None


class AlertOut(BaseModel):
    kind: str
    severity: Literal["critical", "warning"]
    site: str
    text: Names
    service: str | None = None
    counter: int | None = None
    counter_id: int | None = None
    printer: str | None = None
    channel: str | None = None


class SiteDashboardOut(BaseModel):
    site: str
    name: Names
    kind: str
    timezone: str
    business_day: str
    services: list[DashServiceOut]
    counters: list[DashCounterOut]
    printers: list[DashPrinterOut]
    messages: dict[str, Any] | None = Field(
        default=None, description="Today's messages by channel and status, and those waiting "
        "or failed (numbers masked)")
    alerts: list[AlertOut]


class DashboardOut(SiteDashboardOut):
    at: str
    seq: int
    # The day of a restore: when the data came back to and where numbers continue (null else).
    restore: dict[str, Any] | None = None
    thresholds: dict[str, float]
    points: list[SiteDashboardOut]


class MoveIn(Strict):
    from_service: str = Field(min_length=1, max_length=32)
    count: int | None = Field(default=None, ge=1, le=supervision.MAX_MOVE)
    which: Literal["last", "first"] = "last"
    ticket_ids: list[int] | None = Field(default=None, min_length=1,
                                         max_length=supervision.MAX_MOVE)
    to_service: str | None = Field(default=None, min_length=1, max_length=32)
    to_counter_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    position: Literal["front", "back"] = "back"


class MoveOut(BaseModel):
    moved: int
    tickets: list[dict[str, Any]]
    target: dict[str, Any]


class AuditItemOut(BaseModel):
    id: int
    at: str
    site: str | None
    actor: str
    who: dict[str, Any] | None
    action: str
    entity: str
    entity_id: str | None
    entity_label: Names | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    what: Names | None = Field(default=None, description="The action in words")
    changes: list[AuditChangeOut] = Field(
        default_factory=list, description="Each field that changed, before → after, in words")


class AuditOut(BaseModel):
    site: str
    items: list[AuditItemOut]
    next_before: int | None


class ProfileOptionOut(BaseModel):
    site: str
    site_name: Names
    own_site: bool
    code: str
    name: Names


def _flag(name: str) -> bool:
    return request.args.get(name, "0") in ("1", "true", "yes")


def _int_arg(name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AppError("validation_error", detail=f"{name}: integer") from None
    if not lo <= value <= hi:
        raise AppError("validation_error", detail=f"{name}: {lo}..{hi}")
    return value


@endpoint(
    "GET",
    "/sites/<site>/dashboard",
    summary="Live dashboard: services (waits, SLA state), counters, printers, alerts",
    tag="supervision",
    auth=WHO,
    roles=LEAD_ROLES,
    responses={200: DashboardOut},
    errors=[401, 403, 404, 422],
    headers=[
        query_param("include_points", "1: add the site's extra reception points"),
        query_param(
            "idle_minutes", "idle counter alert after this many minutes (default 5)", "integer"
        ),
    ],
)
def site_dashboard(site: str) -> Response:
    idle = float(
        _int_arg("idle_minutes", supervision.IDLE_ALERT_MINUTES, 1, 1440)
        or supervision.IDLE_ALERT_MINUTES
    )
    points = _flag("include_points")
    at = now()

    def board(s: Session, p: Principal) -> dict[str, Any]:
        result = supervision.dashboard(s, p, site, at, points, idle)
        result["alerts"] = outage_alerts(result["site"], result["timezone"]) + result["alerts"]
        return result

    return read_json(board)


# The parts whose outage has a name in the catalogs ("supervision", "part_<part>").
PARTS = ("database", "redis", "schema")


def outage_alerts(site: str, timezone: str) -> list[dict[str, Any]]:
    """This node's outages (database, Redis), open or ended in the last quarter hour, as
    alerts: critical while open, a warning once over (the supervisor knows what happened)."""
    alerts = []
    for incident in ctx().db.incidents.current():
        part: str | dict[str, str] = incident.part
        if incident.part in PARTS:
            part = catalogs.both("supervision", f"part_{incident.part}")
        start = dt.datetime.fromtimestamp(incident.started, ZoneInfo(timezone)).strftime("%H:%M")
        if incident.ended is None:
            text = catalogs.both("supervision", "outage_open", part=part, start=start)
            if incident.part == "redis":
                # Tickets go on through the database alone: say so after the outage itself.
                still = catalogs.both("supervision", "redis_degraded")
                text = {lang: f"{text[lang]} {still[lang]}" for lang in text}
        else:
            text = catalogs.both(
                "supervision", "outage_ended", part=part, start=start,
                seconds=f"{incident.ended - incident.started:.0f}")
        alerts.append({
            "kind": f"{incident.part}_unavailable",
            "severity": "critical" if incident.ended is None else "warning",
            "site": site,
            "text": text,
        })
    return alerts


@endpoint(
    "POST",
    "/sites/<site>/tickets/move",
    summary="Move waiting tickets of a service to another service or reserve them for a counter",
    tag="supervision",
    auth=WHO,
    roles=LEAD_ROLES,
    body=MoveIn,
    responses={200: MoveOut},
    errors=[400, 401, 403, 404, 409, 422],
)
def site_move_tickets(site: str) -> Response:
    def run(s: Session, p: Principal) -> dict[str, Any]:
        data = body(MoveIn)
        return supervision.move_tickets(
            s, p, site, data.from_service, now(), base_url(),
            count=data.count, which=data.which, ticket_ids=data.ticket_ids,
            to_service=data.to_service, to_counter_id=data.to_counter_id,
            position=data.position,
        )

    return write_json(run)


@endpoint(
    "GET",
    "/sites/<site>/audit",
    summary="Audit trail of the site, newest first (who, when, what, before and after)",
    tag="supervision",
    auth=WHO,
    roles=LEAD_ROLES,
    responses={200: AuditOut},
    errors=[401, 403, 404, 422],
    headers=[
        query_param("limit", "rows (1-200, default 50)", "integer"),
        query_param("before", "id of the last row seen: the page below it", "integer"),
        query_param("include_points", "1: add the site's extra reception points"),
    ],
)
def site_audit(site: str) -> Response:
    limit = _int_arg("limit", 50, 1, supervision.AUDIT_LIMIT) or 50
    before = _int_arg("before", None, 1, 2**62)
    return read_json(
        lambda s, p: supervision.audit_log(s, p, site, limit, before, _flag("include_points"))
    )


@endpoint(
    "GET",
    "/counters/<int:counter_id>/profile-options",
    summary="Services a counter may be given: its site's and those of nearby sites in scope",
    tag="supervision",
    auth=WHO,
    roles=LEAD_ROLES,
    responses={200: [ProfileOptionOut]},
    errors=[401, 403, 404],
)
def counter_profile_options(counter_id: int) -> Response:
    return read_json(lambda s, p: supervision.profile_options(s, p, counter_id))
