"""REST API v1 for appointments (tag ``appointments``): the public booking API the ``/book``
page and a provincial citizen app use (slots, the anti-robot challenge, hold, confirm, the
booking's page, cancel, its calendar file), check-in at the kiosk or counter, and the
supervisor's day of bookings. Thin endpoints over ``server.features.bookings``; the shapes are
ARCHITECTURE.md's "The booking API"."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import time
from typing import Any, Literal

import altcha
from flask import Response, current_app, request
from pydantic import BaseModel, Field

from server.api.http import (
    LEAD_ROLES,
    STAFF_ROLES,
    base_url,
    body,
    ctx,
    endpoint,
    json_response,
    now,
    principal,
    query_param,
    read,
    write,
)
from server.api.limits import (
    booking_confirm_limit,
    booking_limit,
    booking_phone_limit,
    issue_limit,
)
from server.api.schemas import IssuedTicketOut, Names, Strict
from server.core.db import retrying
from server.core.errors import AppError
from server.core.lookups import get_site
from server.features import bookings
from server.features.notifications import Policy
from server.rules.calendar import business_day

#: The challenge's cost: an old phone solves it in about a second (SHA-256, mean 25,000 hashes).
CHALLENGE_MAX_NUMBER = 50_000
CHALLENGE_TTL = dt.timedelta(minutes=10)


# --- shapes ---------------------------------------------------------------------------------


class SlotOut(BaseModel):
    start: str = Field(description="Site-local time with its UTC offset")
    end: str
    capacity: int = Field(description="Places offered online in this slot")
    free: int


class SlotsOut(BaseModel):
    site: str
    service: str
    day: str
    timezone: str
    slots: list[SlotOut]


class ChallengeOut(BaseModel):
    algorithm: str
    challenge: str
    maxNumber: int
    salt: str
    signature: str


class BookingIn(Strict):
    service: str = Field(min_length=1, max_length=32)
    start: str = Field(min_length=1, max_length=40, description="A slot's start, ISO 8601 with "
                       "offset, as GET slots gives it")
    id_number: str = Field(min_length=1, max_length=20, description="12-digit citizen ID")
    phone: str = Field(min_length=1, max_length=20, description="Mobile number for the code")
    lang: Literal["vi", "en"] = "vi"
    altcha: str = Field(min_length=1, max_length=2000,
                        description="The solved challenge of GET booking-challenge (base64)")
    procedure: str | None = Field(default=None, max_length=64)


class HeldOut(BaseModel):
    ref: str
    status: Literal["held"]
    hold_until: str
    start: str
    phone: str | None = Field(description="Masked number the code went to")


class HeldResponse(BaseModel):
    booking: HeldOut


class ConfirmIn(Strict):
    code: str = Field(min_length=1, max_length=12)


class BookingOut(BaseModel):
    ref: str
    status: str
    code: str | None = Field(description="The 6 characters to type at the kiosk")
    token: str | None = Field(default=None, description="The secret of /b/{token}")
    site: str
    site_name: Names
    service: str
    service_name: Names
    procedure: str | None
    documents: list[Names]
    start: str
    end: str
    timezone: str
    checkin_from: str
    checkin_until: str


class BookingResponse(BaseModel):
    booking: BookingOut


class CheckInIn(Strict):
    code: str | None = Field(default=None, max_length=20, description="The kiosk code")
    token: str | None = Field(default=None, max_length=200, description="The QR's token")
    id_number: str | None = Field(default=None, max_length=20, description="From the ID card")
    priority: str | None = Field(default=None, max_length=32,
                                 description="A statutory priority category, as at issue")
    lang: Literal["vi", "en"] | None = None


class CheckedInTicketOut(IssuedTicketOut):
    late: bool = Field(description="Too late for the appointment: a walk-in ticket")


class CheckInOut(BaseModel):
    ticket: CheckedInTicketOut


class SummarySlotOut(BaseModel):
    start: str
    end: str
    capacity: int
    booked: int
    checked_in: int
    no_show: int
    cancelled: int


class SummaryServiceOut(BaseModel):
    service: str
    name: Names
    online_share: float
    capacity: int
    booked: int
    share_used: float | None
    slots: list[SummarySlotOut]


class AffectedOut(BaseModel):
    ref: str
    service: str
    start: str
    status: str
    notified: bool


class SummaryOut(BaseModel):
    site: str
    day: str
    timezone: str
    services: list[SummaryServiceOut]
    affected: list[AffectedOut]


# --- helpers --------------------------------------------------------------------------------


def _policy() -> Policy:
    policy: Policy = current_app.extensions["motcua_outbox"].policy
    return policy


def _id_key() -> bytes:
    return bookings.id_key_from(ctx().settings.secret_key)


def _challenge_key() -> str:
    return str(current_app.config["SECRET_KEY"])


def _day(required: bool = True) -> dt.date:
    raw = request.args.get("day")
    if not raw:
        if required:
            raise AppError("validation_error", detail="day: YYYY-MM-DD")
        return dt.date.min
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise AppError("validation_error", detail="day: YYYY-MM-DD") from None


# --- public: slots, challenge, hold, confirm, the booking's page -----------------------------


@endpoint(
    "GET",
    "/sites/<site>/slots",
    summary="A day's time slots of a service with their free places (public)",
    tag="appointments",
    auth=None,
    responses={200: SlotsOut},
    errors=[404, 422],
    headers=[query_param("service", "Service code", required=True),
             query_param("day", "YYYY-MM-DD, today .. today + horizon", required=True)],
)
def slots(site: str) -> Response:
    service = request.args.get("service", "")
    if not service:
        raise AppError("validation_error", detail="service: required")
    day = _day()
    with read() as s:
        return json_response(bookings.slots(s, site, service, day, now()))


@endpoint(
    "GET",
    "/booking-challenge",
    summary="An anti-robot proof-of-work challenge (ALTCHA, SHA-256) for a booking (public)",
    tag="appointments",
    auth=None,
    responses={200: ChallengeOut},
    errors=[],
)
def booking_challenge() -> Response:
    # The challenge expires by the wall clock (the library checks it so), not the app's clock.
    expires = dt.datetime.fromtimestamp(time.time(), dt.UTC) + CHALLENGE_TTL
    challenge = altcha.create_challenge_v1(
        algorithm="SHA-256", max_number=CHALLENGE_MAX_NUMBER, hmac_key=_challenge_key(),
        expires=expires,
    )
    return json_response(challenge.to_dict(), headers={"Cache-Control": "no-store"})


def _check_challenge(payload: str) -> None:
    """The solution is right, not expired, and used for the first time (recorded in its own
    unit of work: a refused booking does not make a solution usable again)."""
    ok, _why = altcha.verify_solution_v1(payload, _challenge_key(), check_expires=True)
    if not ok:
        raise AppError("challenge_invalid")
    try:
        challenge = str(json.loads(base64.b64decode(payload))["challenge"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise AppError("challenge_invalid") from None

    def unit() -> bool:
        with write() as s:
            return bookings.use_challenge(
                s, challenge, now() + CHALLENGE_TTL + dt.timedelta(minutes=5), now())

    if not retrying(unit):
        raise AppError("challenge_replayed")


@endpoint(
    "POST",
    "/sites/<site>/bookings",
    summary="Hold a place in a slot; a one-time code goes to the phone (public)",
    tag="appointments",
    auth=None,
    body=BookingIn,
    responses={201: HeldResponse},
    errors=[400, 404, 409, 422],
)
@booking_limit
@booking_phone_limit
def book(site: str) -> Response:
    data = body(BookingIn)
    _check_challenge(data.altcha)
    policy = _policy()

    def unit() -> dict[str, Any]:
        with write() as s:
            booking, _code = bookings.hold(
                s, site, data.service, data.start, data.id_number.strip(), data.phone,
                data.lang, now(), procedure=data.procedure, id_key=_id_key(), policy=policy)
            return bookings.held_view(booking)

    held = retrying(unit)
    return json_response({"booking": held}, 201,
                         {"Location": f"/api/v1/bookings/{held['ref']}"})


@endpoint(
    "POST",
    "/bookings/<ref>/confirm",
    summary="Confirm a held booking with its one-time code: the kiosk code and page token",
    tag="appointments",
    auth=None,
    body=ConfirmIn,
    responses={200: BookingResponse},
    errors=[400, 404, 409, 422],
)
@booking_confirm_limit
def confirm(ref: str) -> Response:
    data = body(ConfirmIn)
    policy = _policy()

    def unit() -> dict[str, Any] | None:
        with write() as s:
            return bookings.confirm(s, ref, data.code, now(), base_url=base_url(),
                                    policy=policy)

    confirmed = retrying(unit)  # a wrong code's attempt is committed before the refusal
    if confirmed is None:
        raise AppError("booking_code_wrong")
    return json_response({"booking": confirmed})


@endpoint(
    "GET",
    "/bookings/<token>",
    summary="A booking by its page's token (public)",
    tag="appointments",
    auth=None,
    responses={200: BookingResponse},
    errors=[404],
)
def booking(token: str) -> Response:
    with read() as s:
        b = bookings.by_token(s, token)
        return json_response({"booking": bookings.view(s, b, token=token)})


@endpoint(
    "POST",
    "/bookings/<token>/cancel",
    summary="Cancel a booking from its page (public); its place comes back after a while",
    tag="appointments",
    auth=None,
    responses={200: BookingResponse},
    errors=[404, 409],
)
def cancel(token: str) -> Response:
    policy = _policy()

    def unit() -> dict[str, Any]:
        with write() as s:
            return bookings.cancel(s, token, now(), policy)

    return json_response({"booking": retrying(unit)})


@endpoint(
    "GET",
    "/bookings/<token>/calendar.ics",
    summary="A booking as a calendar file (iCalendar, public)",
    tag="appointments",
    auth=None,
    responses={200: None},
    errors=[404],
)
def calendar(token: str) -> Response:
    with read() as s:
        text = bookings.calendar_file(s, token, now(), base_url())
    return Response(text, mimetype="text/calendar",
                    headers={"Content-Disposition": 'attachment; filename="lich-hen.ics"'})


# --- check-in -------------------------------------------------------------------------------


@endpoint(
    "POST",
    "/sites/<site>/check-ins",
    summary="Check a booked citizen in (by kiosk code, page token or ID number): a ticket",
    tag="appointments",
    auth="the site's kiosks; staff of the site",
    roles=("kiosk", *STAFF_ROLES),
    body=CheckInIn,
    responses={201: CheckInOut},
    errors=[400, 401, 403, 404, 409, 422],
)
@issue_limit
def check_in(site: str) -> Response:
    print_jobs = current_app.extensions["motcua_printing"]

    def unit() -> dict[str, Any]:
        with write() as s:
            p = principal(s)
            data = body(CheckInIn)
            by = {k: v for k, v in (("code", data.code), ("token", data.token),
                                     ("id_number", data.id_number)) if v}
            if len(by) != 1:
                raise AppError("validation_error", detail="exactly one of code, token, "
                               "id_number")
            view, ticket = bookings.check_in(s, p, site, by, now(), base_url(),
                                             priority=data.priority, lang=data.lang,
                                             id_key=_id_key())
            if p.kind == "device" and p.role == "kiosk":
                # Queued in this unit of work, printed after the commit, as at issue.
                view["print"] = print_jobs.queue_ticket_in(s, ticket, view, p.id)
            return view

    view = retrying(unit)
    return json_response({"ticket": view}, 201, {"Location": f"/api/v1/tickets/{view['id']}"})


# --- the supervisor's day -------------------------------------------------------------------


@endpoint(
    "GET",
    "/sites/<site>/bookings/summary",
    summary="A day's bookings per service and slot, the online share used, closed-day ones",
    tag="appointments",
    auth="supervisors of the site, admins",
    roles=LEAD_ROLES,
    responses={200: SummaryOut},
    errors=[401, 403, 404, 422],
    headers=[query_param("day", "YYYY-MM-DD (default: today)")],
)
def summary(site: str) -> Response:
    with read() as s:
        p = principal(s)
        day = _day(required=False)
        if day == dt.date.min:
            day = business_day(now(), get_site(s, site).timezone)
        return json_response(bookings.summary(s, p, site, day, now()))
