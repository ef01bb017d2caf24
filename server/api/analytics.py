"""Supervisor analytics endpoints: staffing advice, KPI reports (JSON, CSV, XLSX) and the
series behind the day charts. Supervisors and admins of the site; clerks get 403."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from pydantic import BaseModel, Field

from server.api.http import (
    LEAD_ROLES,
    ctx,
    endpoint,
    json_response,
    now,
    principal,
    query_param,
    read,
    read_json,
)
from server.api.schemas import Names
from server.core.errors import AppError
from server.features import advice as advice_service
from server.features import reports

WHO = "supervisors and admins of the site (and of its parent sites)"


class ServiceAdviceOut(BaseModel):
    service: str
    name: Names
    sla_target_minutes: float
    arrivals_per_hour: float
    service_minutes: float
    waiting: int
    capacity: float
    counters_needed: int
    service_level: float
    p90_wait_minutes: float | None
    state: str


class SuggestionText(BaseModel):
    vi: str
    en: str


class SuggestionOut(BaseModel):
    kind: str
    counter_id: int
    counter: int
    to_service: str
    from_services: list[str]
    p90_before_minutes: float | None
    p90_after_minutes: float | None
    text: SuggestionText
    action: dict[str, Any]


class AdviceOut(BaseModel):
    site: str
    at: str
    window_minutes: int
    level: float
    services: list[ServiceAdviceOut]
    suggestions: list[SuggestionOut]


class KpiRow(BaseModel):
    issued: int
    transferred_in: int
    served: int
    no_shows: int
    cancelled: int
    transferred: int
    unserved_at_close: int = Field(description="Still waiting or parked when the day closed")
    awt_min: float | None
    p90_wait_min: float | None
    ast_min: float | None
    service_level: float | None
    rated: int
    very_satisfied: int
    satisfied: int
    not_satisfied: int
    satisfaction_rate: float | None = Field(description="(very satisfied + satisfied) / rated")
    dossiers_received: int
    dossiers_settled: int = Field(description="reached result-ready or a final state")
    dossiers_on_time_rate: float | None = Field(description="settled by the due time / settled")
    dossiers_settled_late: int
    dossiers_overdue: int = Field(description="still open past the due time (at report time)")
    bookings: int = Field(description="confirmed bookings of the group's slots")
    bookings_checked_in: int = Field(description="checked in inside the check-in window")
    bookings_no_show: int = Field(
        description="not checked in by the end of the window, or too late (a walk-in ticket)")
    bookings_cancelled: int
    appointments: int = Field(description="tickets issued from a booking checked in in time")
    online_share_used: float | None = Field(description="appointments / tickets issued")
    appointments_punctual: int = Field(
        description="appointments first called at most 10 min after their slot's start")
    punctuality: float | None = Field(description="appointments_punctual / appointments")


class KpiServiceRow(KpiRow):
    service: str
    name: Names
    sla_target_minutes: int


class KpiCounterRow(KpiRow):
    counter: int | None
    counter_id: int


class KpiClerkRow(KpiRow):
    clerk_id: int
    username: str | None
    full_name: str | None


class KpiHourRow(KpiRow):
    hour: int


class KpiDayRow(KpiRow):
    date: str


class KpiSlotRow(KpiRow):
    service: str
    slot: str = Field(description="the slot's local start, HH:MM (merged over the range)")


class KpisOut(BaseModel):
    site: str
    from_: str = Field(alias="from")
    to: str
    timezone: str
    totals: KpiRow
    by_service: list[KpiServiceRow]
    by_counter: list[KpiCounterRow]
    by_clerk: list[KpiClerkRow]
    by_hour: list[KpiHourRow]
    by_day: list[KpiDayRow]
    by_slot: list[KpiSlotRow]


class SeriesService(BaseModel):
    service: str
    name: Names
    arrivals: list[int]
    calls: list[int]
    queue_length: list[int]
    awt_min: list[float | None]


class SeriesOut(BaseModel):
    site: str
    date: str
    bucket_minutes: int
    buckets: list[str]
    services: list[SeriesService]


@endpoint(
    "GET",
    "/sites/<site>/advice",
    summary="Counters each service needs (Erlang C over the last 30-60 min) and moves to make",
    tag="supervision",
    auth=WHO,
    roles=LEAD_ROLES,
    responses={200: AdviceOut},
    errors=[401, 403, 404],
)
def site_advice(site: str) -> Response:
    return read_json(lambda s, p: advice_service.site_advice(s, p, site, now()))


FORMATS = {"json", "csv", "xlsx"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@endpoint(
    "GET",
    "/sites/<site>/reports/kpis",
    summary="KPIs for a date range (site local days): per site, service, counter, clerk, hour",
    tag="supervision",
    auth=WHO,
    roles=LEAD_ROLES,
    responses={200: KpisOut},
    errors=[401, 403, 404, 422],
    headers=[
        query_param("from", "first business day, YYYY-MM-DD", required=True),
        query_param("to", "last business day, YYYY-MM-DD (default: from)"),
        query_param("format", "json (default), csv or xlsx"),
    ],
)
def site_kpis(site: str) -> Response:
    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        raise AppError("validation_error", detail="format: json, csv or xlsx")
    with read() as s:
        p = principal(s)
        site_id, start, end = reports.site_kpi_request(
            s, p, site, request.args.get("from"), request.args.get("to"))
    # Reading a year's rows, building the figures and writing the file is a second of work:
    # done in a report process of the node, so other requests keep their pace.
    report, data = ctx().offload.run_with_db(reports.kpi_report, site_id, start, end, now(), fmt)
    name = f"motcua-kpis-{report['site']}-{report['from']}-{report['to']}"
    if fmt == "csv":
        return Response(
            data,
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "xlsx":
        return Response(
            data,
            mimetype=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    return json_response(report)


@endpoint(
    "GET",
    "/sites/<site>/reports/series",
    summary="Queue length, arrivals, calls and waits per service across one day, in buckets",
    tag="supervision",
    auth=WHO,
    roles=LEAD_ROLES,
    responses={200: SeriesOut},
    errors=[401, 403, 404, 422],
    headers=[
        query_param("date", "business day, YYYY-MM-DD", required=True),
        query_param("bucket", "minutes per bucket: 5, 10, 15 (default), 30 or 60"),
    ],
)
def site_series(site: str) -> Response:
    date, bucket = request.args.get("date"), request.args.get("bucket")
    return read_json(lambda s, p: reports.site_series(s, p, site, date, bucket), slow=True)
