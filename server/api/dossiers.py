"""REST API v1 for dossiers: the procedure catalog, dossier intake and steps, receipts, the
overdue lists, public dossier tracking and satisfaction ratings. Thin endpoints over
``server.dossiers``, ``server.procedures``, ``server.ratings`` and ``server.receipts``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Response, current_app, request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from server.api.http import (
    ANY_ROLE,
    STAFF_ROLES,
    base_url,
    body,
    endpoint,
    json_response,
    now,
    principal,
    read,
    read_json,
    write,
    write_json,
)
from server.api.routes import STAFF, check_idempotency_key, created_response
from server.api.schemas import EmptyIn, Names, ProcedureOut, Strict
from server.core.auth import Principal
from server.core.db import retrying
from server.core.errors import AppError
from server.core.lookups import get_dossier
from server.features import dossiers, procedures, ratings, receipts
from server.rules.dossier_states import STEPS

SITE_STAFF = "staff of the dossier's site (clerks, supervisors of the site or above, admins)"
Score = Literal["very_satisfied", "satisfied", "not_satisfied"]
StepName = Literal[
    "transferred",
    "processing",
    "supplement_requested",
    "result_ready",
    "returned",
    "refused",
    "withdrawn",
    "resubmitted",
]
assert set(StepName.__args__) == set(STEPS), "keep the API's steps in line with the table"
DocumentName = Annotated[str, Field(min_length=1, max_length=300)]


# --- shapes ---------------------------------------------------------------------------------


class DossierApplicantIn(Strict):
    """Each field defaults to the ID card the citizen scanned at the kiosk, if any."""

    name: str | None = Field(default=None, max_length=200)
    id_number: str | None = Field(
        default=None, max_length=32, description="12-digit citizen ID number (CCCD)"
    )
    phone: str | None = Field(default=None, max_length=20)
    address: str | None = Field(default=None, max_length=400)


class DossierIntakeIn(Strict):
    procedure: str = Field(min_length=1, max_length=64, description="Procedure code")
    applicant: DossierApplicantIn | None = None
    documents: list[DocumentName] | None = Field(
        default=None,
        max_length=50,
        description="Documents received (default: the procedure's list)",
    )
    sets: int = Field(default=1, ge=1, le=50, description="Number of copies (bộ) received")
    delivery: Literal["counter", "post"] = "counter"


class DossierStepIn(Strict):
    status: StepName = Field(
        description="transferred | processing | supplement_requested | resubmitted "
        "(back to the step the supplement request interrupted) | result_ready | returned | "
        "refused (note = the reason, required) | withdrawn"
    )
    note: str | None = Field(default=None, max_length=400)


class RatingIn(Strict):
    score: Score


class ProcedureRefOut(BaseModel):
    code: str
    name: Names
    processing_days: int | None = None


class DossierApplicantOut(BaseModel):
    name: str
    id_number: str
    phone: str | None
    address: str | None


class DossierEventOut(BaseModel):
    at: str
    from_: str | None = Field(alias="from")
    to: str
    step: str = Field(description="the status reached, or 'resubmitted'")
    note: str | None
    actor: str


class DossierOut(BaseModel):
    code: str
    status: str
    status_name: Names
    site: str
    procedure: ProcedureRefOut
    ticket_id: int | None
    counter: int | None
    counter_id: int | None
    applicant: DossierApplicantOut
    documents: list[str]
    sets: int
    delivery: str
    received_at: str
    due_at: str
    due_local: str
    paused: bool
    paused_at: str | None
    paused_days_total: int
    refused_reason: str | None
    finished_at: str | None
    overdue: bool
    token: str
    track_url: str
    events: list[DossierEventOut] | None = None


class ReceiptPrintOut(BaseModel):
    printed: bool = Field(description="handed to the counter printer's spool")
    status: Literal["queued", "none", "failed"]
    job_id: str | None = None
    printer: str | None = None


class DossierCreatedOut(DossierOut):
    print: ReceiptPrintOut
    printed: bool


class ReceiptOut(BaseModel):
    site_name: str
    code: str
    applicant_name: str
    applicant_id_masked: str | None
    procedure_name: str
    documents: list[str]
    sets: int | None
    received_at_local: str
    due_at_local: str
    collect_at: str
    track_url: str
    lang: str


class SiteRefOut(BaseModel):
    code: str
    name: Names


class DossierStepOut(BaseModel):
    step: str
    name: Names
    at: str
    at_local: str


class DossierTrackOut(BaseModel):
    code: str
    status: str
    status_name: Names
    site: SiteRefOut
    procedure: ProcedureRefOut
    received_at: str
    received_local: str
    due_at: str
    due_local: str
    paused: bool
    final: bool
    overdue: bool
    delivery: str
    steps: list[DossierStepOut]


class RatingOut(BaseModel):
    number: str
    score: Score
    source: Literal["track", "tablet"]
    created_at: str


IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A retry (double click, timeout) with the same key returns the dossier "
    "received the first time instead of a second one.",
    "schema": {"type": "string", "maxLength": 100},
}


def _printing() -> Any:
    return current_app.extensions["motcua_printing"]


# --- catalog --------------------------------------------------------------------------------


@endpoint(
    "GET",
    "/sites/<site>/procedures",
    summary="The procedure catalog of the site's province (?service=civil filters by field)",
    tag="dossiers",
    auth="any token of the site",
    roles=ANY_ROLE,
    responses={200: [ProcedureOut]},
    errors=[401, 403, 404],
)
def site_procedures(site: str) -> Response:
    service_code = request.args.get("service") or None
    if service_code is not None and len(service_code) > 32:
        raise AppError("validation_error", detail="service")
    return read_json(lambda s, p: procedures.list_procedures(s, p, site, service_code))


# --- intake ---------------------------------------------------------------------------------


@endpoint(
    "POST",
    "/tickets/<int:ticket_id>/dossiers",
    summary="Receive a dossier from the citizen of a ticket; prints the receipt on the "
    "counter's printer",
    tag="dossiers",
    auth=STAFF + " (a counter's clerk: the ticket must be at that counter)",
    roles=STAFF_ROLES,
    body=DossierIntakeIn,
    responses={201: DossierCreatedOut},
    errors=[400, 401, 403, 404, 409, 422],
    headers=[IDEMPOTENCY_HEADER],
)
def dossier_intake(ticket_id: int) -> Response:
    key = request.headers.get("Idempotency-Key")

    def unit() -> tuple[dict[str, Any], bool]:
        with write() as s:
            p = principal(s)
            check_idempotency_key(key)
            data = body(DossierIntakeIn)
            return dossiers.intake(
                s, p, ticket_id, data.model_dump(), key, now(), base_url()
            )

    view, created = retrying(unit)
    if created:
        result = receipts.print_receipt(_printing(), view["code"], base_url())
    else:  # a replay: report the first request's print, print nothing again
        result = receipts.last_print(_printing(), view["code"])
    view["print"] = result
    view["printed"] = result["printed"]
    return created_response(view, f"/api/v1/dossiers/{view['code']}", created)


@endpoint(
    "GET",
    "/tickets/<int:ticket_id>/dossiers",
    summary="The dossiers received from the citizen of a ticket",
    tag="dossiers",
    auth="staff of the ticket's site",
    roles=STAFF_ROLES,
    responses={200: [DossierOut]},
    errors=[401, 403, 404],
)
def ticket_dossiers(ticket_id: int) -> Response:
    return read_json(lambda s, p: dossiers.list_for_ticket(s, p, ticket_id, now(), base_url()))


# --- one dossier ----------------------------------------------------------------------------


@endpoint(
    "GET",
    "/dossiers/<code>",
    summary="One dossier with its applicant and step history (staff)",
    tag="dossiers",
    auth=SITE_STAFF,
    roles=STAFF_ROLES,
    responses={200: DossierOut},
    errors=[401, 403, 404],
)
def dossier_get(code: str) -> Response:
    return read_json(lambda s, p: dossiers.get(s, p, code, now(), base_url()))


@endpoint(
    "POST",
    "/dossiers/<code>/status",
    summary="Move a dossier one step (illegal moves: 409; refused needs a reason)",
    tag="dossiers",
    auth=SITE_STAFF,
    roles=STAFF_ROLES,
    body=DossierStepIn,
    responses={200: DossierOut},
    errors=[400, 401, 403, 404, 409, 422],
)
def dossier_step(code: str) -> Response:
    def run(s: Session, p: Principal) -> dict[str, Any]:
        data = body(DossierStepIn)
        return dossiers.step(s, p, code, data.status, data.note, now(), base_url())

    return write_json(run)


@endpoint(
    "GET",
    "/dossiers/<code>/receipt",
    summary="The receipt slip as data, for the browser print of a counter without a printer",
    tag="dossiers",
    auth=SITE_STAFF,
    roles=STAFF_ROLES,
    responses={200: ReceiptOut},
    errors=[401, 403, 404],
)
def dossier_receipt(code: str) -> Response:
    with read() as s:
        p = principal(s)
        dossiers.get(s, p, code, now(), base_url())  # 404 / 403
        d = get_dossier(s, code)
        return json_response(receipts.receipt_view(receipts.receipt_print(s, d, base_url())))


@endpoint(
    "POST",
    "/dossiers/<code>/receipt/print",
    summary="Print the receipt again on the printer of the counter that received the dossier",
    tag="dossiers",
    auth=SITE_STAFF,
    roles=STAFF_ROLES,
    body=EmptyIn,
    responses={200: ReceiptPrintOut},
    errors=[400, 401, 403, 404, 422],
)
def dossier_reprint(code: str) -> Response:
    with read() as s:
        p = principal(s)
        body(EmptyIn)
        dossiers.get(s, p, code, now(), base_url())  # 404 / 403
    return json_response(receipts.print_receipt(_printing(), code, base_url()))


@endpoint(
    "GET",
    "/sites/<site>/dossiers",
    summary="Dossiers of a site: ?state=open (default) | overdue | due_soon (within one "
    "working day); earliest due first",
    tag="dossiers",
    auth="staff of the site",
    roles=STAFF_ROLES,
    responses={200: [DossierOut]},
    errors=[401, 403, 404, 422],
)
def site_dossiers(site: str) -> Response:
    state = request.args.get("state", "open")
    return read_json(lambda s, p: dossiers.list_for_site(s, p, site, state, now(), base_url()))


# --- public ---------------------------------------------------------------------------------


@endpoint(
    "GET",
    "/dossier-track/<token>",
    summary="Public tracking of a dossier: steps and dates (no personal data)",
    tag="dossiers",
    auth=None,
    responses={200: DossierTrackOut},
    errors=[404],
)
def dossier_track(token: str) -> Response:
    with read() as s:
        return json_response(dossiers.public_view(s, token, now()))


@endpoint(
    "POST",
    "/track/<token>/rating",
    summary="Rate a finished visit from its tracking page (once, within 2 hours)",
    tag="tickets",
    auth=None,
    body=RatingIn,
    responses={201: RatingOut},
    errors=[400, 404, 409, 422],
)
def track_rating(token: str) -> Response:
    def unit() -> dict[str, Any]:
        with write() as s:
            data = body(RatingIn)
            return ratings.rate_ticket(s, token, data.score, "track", now())

    return json_response(retrying(unit), 201)


@endpoint(
    "POST",
    "/counters/<int:counter_id>/rating",
    summary="Rate the visit finished at this counter in the last 10 minutes (citizen tablet)",
    tag="counters",
    auth="the site's kiosk devices (tablet), " + STAFF,
    roles=("kiosk", *STAFF_ROLES),
    body=RatingIn,
    responses={201: RatingOut},
    errors=[400, 401, 403, 404, 409, 422],
)
def counter_rating(counter_id: int) -> Response:
    return write_json(
        lambda s, p: ratings.rate_at_counter(s, p, counter_id, body(RatingIn).score, now()), 201
    )
