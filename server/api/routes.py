"""The endpoints of REST API v1."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, current_app, request
from sqlalchemy.orm import Session

from server.api.http import (
    ANY_ROLE,
    LEAD_ROLES,
    STAFF_ROLES,
    base_url,
    body,
    endpoint,
    json_response,
    now,
    openapi_document,
    principal,
    read,
    read_json,
    write,
    write_json,
)
from server.api.limits import issue_limit
from server.api.schemas import (
    CallNextOut,
    CounterOut,
    EmptyIn,
    IssuedTicketOut,
    IssueTicketIn,
    PauseIn,
    PingOut,
    PriorityOut,
    ProfileIn,
    ResumeIn,
    ServiceOut,
    SiteOut,
    TickerIn,
    TicketOut,
    TrackOut,
    TransferIn,
)
from server.core.auth import Principal
from server.core.db import retrying
from server.core.errors import AppError
from server.core.lookups import get_site
from server.features import counters as counter_feature
from server.features import notifications, tickets
from server.features import sites as site_feature

STAFF = "clerk tokens of the site (bound to a counter: that counter only), supervisors, admins"
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A retry with the same key returns the ticket issued the first time.",
    "schema": {"type": "string", "maxLength": 100},
}
_KEY_OK = re.compile(r"^[\x21-\x7e]{1,100}$")


def check_idempotency_key(key: str | None) -> None:
    """A malformed Idempotency-Key is refused (400); checked once the caller is (401/403)."""
    if key is not None and not _KEY_OK.match(key):
        raise AppError("bad_header", header="Idempotency-Key")


def created_response(view: dict[str, Any], location: str, created: bool) -> Response:
    """201 with the Location of what was created; a replayed Idempotency-Key says so."""
    headers = {"Location": location}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return json_response(view, 201, headers)


@endpoint(
    "GET",
    "/openapi.json",
    summary="This document",
    tag="meta",
    auth=None,
    responses={200: None},
    errors=[],
)
def openapi() -> Response:
    return json_response(openapi_document())


@endpoint(
    "GET",
    "/ping",
    summary="Liveness and the framework floor for benchmarks",
    tag="meta",
    auth=None,
    responses={200: PingOut},
    errors=[],
)
def ping() -> Response:
    return json_response({"ok": True})


@endpoint(
    "GET",
    "/sites",
    summary="Sites the caller may see",
    tag="sites",
    auth="any valid token",
    roles=ANY_ROLE,
    responses={200: [SiteOut]},
    errors=[401],
)
def sites() -> Response:
    return read_json(site_feature.list_sites)


@endpoint(
    "GET",
    "/sites/<site>/services",
    summary="Services of a site with waiting counts, open counters and estimated wait",
    tag="sites",
    auth="any token of the site",
    roles=ANY_ROLE,
    responses={200: [ServiceOut]},
    errors=[401, 403, 404],
)
def services(site: str) -> Response:
    return read_json(lambda s, p: site_feature.list_services(s, p, site, now()))


@endpoint(
    "GET",
    "/sites/<site>/counters",
    summary="Counters of a site",
    tag="sites",
    auth="any token of the site",
    roles=ANY_ROLE,
    responses={200: [CounterOut]},
    errors=[401, 403, 404],
)
def counters(site: str) -> Response:
    return read_json(lambda s, p: counter_feature.list_counters(s, p, site))


@endpoint(
    "GET",
    "/priorities",
    summary="Priority categories offered at kiosks",
    tag="sites",
    auth="any valid token",
    roles=ANY_ROLE,
    responses={200: [PriorityOut]},
    errors=[401],
)
def priorities() -> Response:
    return read_json(lambda s, p: site_feature.list_priorities(s))


@endpoint(
    "POST",
    "/sites/<site>/tickets",
    summary="Issue a ticket",
    tag="tickets",
    auth="the site's kiosks; staff of the site",
    roles=("kiosk", *STAFF_ROLES),
    body=IssueTicketIn,
    responses={201: IssuedTicketOut},
    errors=[400, 401, 403, 404, 409, 422],
    headers=[IDEMPOTENCY_HEADER],
)
@issue_limit
def issue(site: str) -> Response:
    key = request.headers.get("Idempotency-Key")

    def unit() -> tuple[dict[str, Any], bool]:
        with write() as s:
            p = principal(s)
            check_idempotency_key(key)
            data = body(IssueTicketIn)
            applicant = data.applicant.model_dump() if data.applicant else None
            phone = None
            if data.phone:  # checked before the ticket: a refusal issues nothing
                phone = notifications.check_contact(
                    s, get_site(s, site).id, data.phone, data.phone_consent, messages)
            view, created, ticket = tickets.issue(
                s, p, site, data.service, data.priority, data.lang, key, now(), base_url(),
                applicant=applicant, override_limits=data.override_limits,
            )
            if created and p.kind == "device" and p.role == "kiosk":
                # The job is queued in this unit of work; it prints after the commit, and a
                # printer fault never costs the citizen the ticket.
                view["print"] = printing.queue_ticket_in(s, ticket, view, p.id)
            if created and phone is not None:
                view["messages"] = notifications.attach_contact(
                    s, ticket, phone, view.get("ahead"), now(), messages)
            return view, created

    printing = current_app.extensions["motcua_printing"]
    messages = current_app.extensions["motcua_outbox"].policy
    view, created = retrying(unit)  # a queued print job wakes the spool after the commit
    return created_response(view, f"/api/v1/tickets/{view['id']}", created)


@endpoint(
    "GET",
    "/tickets/<int:ticket_id>",
    summary="One ticket, for staff",
    tag="tickets",
    auth=STAFF,
    roles=STAFF_ROLES,
    responses={200: TicketOut},
    errors=[401, 403, 404],
)
def get_ticket(ticket_id: int) -> Response:
    return read_json(lambda s, p: tickets.get_ticket(s, p, ticket_id, now(), base_url()))


def _counter_status(counter_id: int, status: str) -> Response:
    def run(s: Session, p: Principal) -> dict[str, Any]:
        data = body(PauseIn) if status == "paused" else body(EmptyIn)
        return counter_feature.set_counter_status(
            s, p, counter_id, status, now(), getattr(data, "reason", None)
        )

    return write_json(run)


@endpoint(
    "POST",
    "/counters/<int:counter_id>/open",
    summary="Open a counter",
    tag="counters",
    auth=STAFF,
    roles=STAFF_ROLES,
    body=EmptyIn,
    responses={200: CounterOut},
)
def counter_open(counter_id: int) -> Response:
    return _counter_status(counter_id, "open")


@endpoint(
    "POST",
    "/counters/<int:counter_id>/pause",
    summary="Pause a counter (with a reason)",
    tag="counters",
    auth=STAFF,
    roles=STAFF_ROLES,
    body=PauseIn,
    responses={200: CounterOut},
)
def counter_pause(counter_id: int) -> Response:
    return _counter_status(counter_id, "paused")


@endpoint(
    "POST",
    "/counters/<int:counter_id>/close",
    summary="Close a counter (refused while a ticket is called or being served there)",
    tag="counters",
    auth=STAFF,
    roles=STAFF_ROLES,
    body=EmptyIn,
    responses={200: CounterOut},
    errors=[400, 401, 403, 404, 409, 422],
)
def counter_close(counter_id: int) -> Response:
    return _counter_status(counter_id, "closed")


@endpoint(
    "POST",
    "/counters/<int:counter_id>/call-next",
    summary="Call the next ticket for this counter (204 when nobody waits for it)",
    tag="counters",
    auth=STAFF,
    roles=STAFF_ROLES,
    body=EmptyIn,
    responses={200: CallNextOut, 204: None},
    errors=[400, 401, 403, 404, 409, 422],
)
def call_next(counter_id: int) -> Response:
    def unit() -> dict[str, Any] | None:
        with write() as s:
            p = principal(s)
            body(EmptyIn)
            return tickets.call_next(s, p, counter_id, now(), base_url())

    ticket = retrying(unit)
    if ticket is None:
        return Response(status=204)
    return json_response({"ticket": ticket})


@endpoint(
    "PUT",
    "/counters/<int:counter_id>/profile",
    summary="Set the services a counter calls from, with weights (and sites: serve a nearby "
    "site's queue)",
    tag="counters",
    auth="supervisors and admins of the site",
    roles=LEAD_ROLES,
    body=ProfileIn,
    responses={200: CounterOut},
)
def counter_profile(counter_id: int) -> Response:
    def run(s: Session, p: Principal) -> dict[str, Any]:
        lines = [(line.code, line.weight, line.site) for line in body(ProfileIn).services]
        return counter_feature.set_counter_profile(s, p, counter_id, lines, now())

    return write_json(run)


def _ticket_action(ticket_id: int, action: str) -> Response:
    def run(s: Session, p: Principal) -> dict[str, Any]:
        counter_id = None
        if action == "resume":
            counter_id = body(ResumeIn).counter_id
        else:
            body(EmptyIn)
        return tickets.ticket_action(s, p, ticket_id, action, now(), base_url(), counter_id)

    return write_json(run)


def _simple_action(action: str, summary: str) -> None:
    path = action.replace("_", "-")

    def view(ticket_id: int) -> Response:
        return _ticket_action(ticket_id, action)

    view.__name__ = f"ticket_{action}"
    endpoint(
        "POST",
        f"/tickets/<int:ticket_id>/{path}",
        summary=summary,
        tag="tickets",
        auth=STAFF,
    roles=STAFF_ROLES,
        body=EmptyIn,
        responses={200: TicketOut},
        errors=[400, 401, 403, 404, 409, 422],
    )(view)


_simple_action("recall", "Call the ticket again (display announces it again)")
_simple_action("start", "Start serving a called ticket")
_simple_action("finish", "Finish serving")
_simple_action("no_show", "Mark a called ticket as not present")
_simple_action("park", "Set a ticket aside (the citizen fetches a missing paper)")
_simple_action("cancel", "Cancel a ticket")


@endpoint(
    "POST",
    "/tickets/<int:ticket_id>/resume",
    summary="Resume a parked ticket at a counter (it is called there)",
    tag="tickets",
    auth=STAFF,
    roles=STAFF_ROLES,
    body=ResumeIn,
    responses={200: TicketOut},
    errors=[400, 401, 403, 404, 409, 422],
)
def ticket_resume(ticket_id: int) -> Response:
    return _ticket_action(ticket_id, "resume")


@endpoint(
    "POST",
    "/tickets/<int:ticket_id>/transfer",
    summary="Transfer to another service, at the front or back of its queue",
    tag="tickets",
    auth=STAFF + " (waiting tickets: supervisors)",
    roles=STAFF_ROLES,
    body=TransferIn,
    responses={200: TicketOut},
    errors=[400, 401, 403, 404, 409, 422],
)
def ticket_transfer(ticket_id: int) -> Response:
    def run(s: Session, p: Principal) -> dict[str, Any]:
        data = body(TransferIn)
        return tickets.transfer(s, p, ticket_id, data.service, data.position, now(), base_url())

    return write_json(run)


@endpoint(
    "POST",
    "/tickets/<int:ticket_id>/reprint",
    summary="Print a ticket again on the current printer of the kiosk that issued it (staff "
    "of the site at any time; the issuing kiosk itself only while the ticket's last slip is "
    "unknown or failed)",
    tag="tickets",
    auth="supervisors and admins of the site; clerks of the site; the kiosk that issued it, "
    "while its slip is in doubt",
    roles=("kiosk", *STAFF_ROLES),
    body=EmptyIn,
    responses={200: None},
    errors=[400, 401, 403, 404, 409, 422],
)
def ticket_reprint(ticket_id: int) -> Response:
    with read() as s:
        p = principal(s)
        body(EmptyIn)
        device_id, view = tickets.reprint_target(s, p, ticket_id, now(), base_url())
    result = current_app.extensions["motcua_printing"].print_ticket(ticket_id, view, device_id)
    if result["status"] == "none":
        raise AppError("no_printer")
    return json_response({"print": result})


@endpoint(
    "PUT",
    "/sites/<site>/ticker",
    summary="Set the ticker line of the site's lobby displays (empty clears it)",
    tag="sites",
    auth="supervisors and admins of the site",
    roles=LEAD_ROLES,
    body=TickerIn,
    responses={200: None},
)
def site_ticker(site: str) -> Response:
    def run(s: Session, p: Principal) -> dict[str, Any]:
        data = body(TickerIn)
        return site_feature.set_ticker(s, p, site, data.vi, data.en, now())

    return write_json(run)


@endpoint(
    "GET",
    "/track/<token>",
    summary="Public tracking of a ticket (no personal data)",
    tag="tickets",
    auth=None,
    responses={200: TrackOut},
    errors=[404],
)
def track(token: str) -> Response:
    if len(token) > 64:
        raise AppError("not_found", what="ticket")
    with read() as s:
        return json_response(tickets.track(s, token, now(), base_url()))

