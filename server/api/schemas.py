"""Request and response shapes of REST API v1. Requests are validated with these models; the
OpenAPI document is generated from them."""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from ..rules import fields


def stated(**schema: Any) -> WithJsonSchema:
    """The JSON schema the document states for a value the domain checks itself, with the
    rules of server/rules/fields.py and their messages in both languages. Built from the
    rules' own constants so the document and the checks cannot drift apart."""
    return WithJsonSchema(schema)


# The document's statement of each rule (the domain trims text before checking it).
CodeText = Annotated[
    str, stated(type="string", pattern=fields.CODE.pattern, maxLength=fields.CODE_MAX)
]
NameText = Annotated[
    str, stated(type="string", pattern=r"\S", minLength=1, maxLength=fields.NAME_MAX)
]
TimezoneText = Annotated[
    str, stated(type="string", enum=sorted(zoneinfo.available_timezones()))
]
ClockText = Annotated[str, stated(type="string", pattern=fields.HHMM.pattern)]
DayText = Annotated[str, stated(type="string", pattern=r"^\d{4}-\d{2}-\d{2}$")]


def text_at_most(n: int) -> Any:
    return Annotated[str, stated(type="string", maxLength=n)]


def whole(bounds: tuple[int, int, int]) -> Any:
    """A whole number as a new value must be (the held tier is wider: see fields.py)."""
    return Annotated[int, stated(type="integer", minimum=bounds[0], maximum=bounds[1])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ApplicantIn(Strict):
    """Read from the citizen ID card (CCCD) QR at the kiosk; staff-only afterwards."""

    id_number: str = Field(pattern=r"^\d{12}$", description="12-digit citizen ID number")
    name: str = Field(min_length=1, max_length=200)
    dob: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$",
                            description="YYYY-MM-DD")
    sex: str | None = Field(default=None, max_length=16)
    address: str | None = Field(default=None, max_length=400)


class IssueTicketIn(Strict):
    service: str = Field(
        min_length=1, max_length=fields.CODE_MAX, description="Service code at the site"
    )
    priority: str | None = Field(
        default=None, max_length=fields.CODE_MAX, description="Priority category code, or null"
    )
    lang: Literal["vi", "en"] = "vi"
    applicant: ApplicantIn | None = None
    phone: str | None = Field(
        default=None, max_length=20,
        description="Kiosk: a Vietnamese mobile number for the \"near\" and \"called\" "
        "messages (needs phone_consent)",
    )
    phone_consent: bool = Field(
        default=False, description="The citizen agreed on screen to receive these messages",
    )
    override_limits: bool = Field(
        default=False,
        description="Staff only: issue past the daily cap, last-ticket time or opening hours",
    )


class PauseIn(Strict):
    reason: str | None = Field(default=None, max_length=200)


class EmptyIn(Strict):
    pass


class ResumeIn(Strict):
    counter_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Counter to resume at (default: the clerk's)"
    )


class TransferIn(Strict):
    service: str = Field(min_length=1, max_length=fields.CODE_MAX)
    position: Literal["front", "back"] = "back"


class TickerIn(Strict):
    vi: str | None = Field(default=None, max_length=300)
    en: str | None = Field(default=None, max_length=300)


class ProfileLine(Strict):
    code: str = Field(min_length=1, max_length=fields.CODE_MAX)
    weight: float = Field(default=1.0, gt=0, le=fields.WEIGHT[1])
    site: str | None = Field(
        default=None, max_length=fields.CODE_MAX,
        description="Site of the service (default: the counter's); a parent, child or sibling "
        "site makes the counter serve that site's queue",
    )


class ProfileIn(Strict):
    services: list[ProfileLine] = Field(max_length=50)


class Names(BaseModel):
    vi: str
    en: str


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


class SiteOut(BaseModel):
    code: str
    name: Names
    kind: str
    parent: str | None
    timezone: str
    agency_code: str | None
    call_starts_service: bool = Field(
        description="The call starts the service: a counter finishes a called ticket directly"
    )


class AlternativeOut(BaseModel):
    site: str
    name: Names
    address: str | None
    waiting: int


class UnavailableOut(BaseModel):
    """Why a service takes no ticket now and what to do."""

    code: str = Field(description="site_holiday | site_closed_now | service_after_last_ticket"
                      " | service_cap_reached")
    message: Names
    next_open: str | None = Field(description="Local ISO datetime, or a date without hours")
    alternative: AlternativeOut | None


class ServiceOut(BaseModel):
    code: str
    name: Names
    prefix: str
    active: bool
    sla_target_minutes: int
    waiting: int
    waiting_priority: int
    open_counters: int
    eta_minutes: int | None
    available: bool = True
    reason: UnavailableOut | None = None
    display_colour: str | None = None


class ProfileLineOut(BaseModel):
    code: str
    weight: float
    site: str


class CurrentTicketOut(BaseModel):
    id: int
    number: str
    status: str


class CounterOut(BaseModel):
    id: int
    number: int
    name: str | None
    site: str
    status: Literal["open", "paused", "closed"]
    status_reason: str | None
    services: list[ProfileLineOut]
    current_ticket: CurrentTicketOut | None


class ApplicantOut(BaseModel):
    id_number: str
    name: str
    dob: str | None
    sex: str | None
    address: str | None


class TicketOut(BaseModel):
    id: int
    number: str
    service: str
    service_name: Names
    site: str
    status: str
    priority: str | None
    lang: str
    position: int | None
    ahead: int | None
    eta_minutes: int | None
    issued_at: str
    called_at: str | None
    started_at: str | None
    finished_at: str | None
    counter: int | None
    counter_id: int | None
    recall_count: int
    transfer_parent_id: int | None
    applicant: ApplicantOut | None = None
    appointment: bool = Field(default=False, description="Issued by an appointment's check-in")
    placed_at: str | None = Field(
        default=None, description="An appointment's place in the line: its slot's start")


class PrintOut(BaseModel):
    status: Literal["queued", "none", "failed"]
    job_id: str | None = None
    printer: str | None = Field(default=None, description="Last known printer state")


class ContactOut(BaseModel):
    phone: str = Field(description="Masked: +84*******678")
    near_ahead: int
    consent: str


class IssuedTicketOut(TicketOut):
    token: str
    track_url: str
    print: PrintOut | None = Field(
        default=None, description="Kiosk tickets: the print job queued after the commit"
    )
    messages: ContactOut | None = Field(
        default=None, description="When a phone number was left: the masked number, the "
        "number of people ahead that triggers the \"near\" message, the consent's version",
    )


class CallNextOut(BaseModel):
    ticket: TicketOut


class AuditChangeOut(BaseModel):
    """One field an audited change changed, in words, both languages."""

    field: str
    label: Names
    before: Names
    after: Names


class NowServing(BaseModel):
    number: str
    counter: int


class TrackOut(BaseModel):
    number: str
    service: str
    service_name: Names
    site: str
    status: str
    position: int | None
    ahead: int | None
    eta_minutes: int | None
    eta_range: list[int] | None = Field(
        default=None, description="The wait to show, [low, high] minutes (none without an estimate)"
    )
    counter: int | None
    counter_site_name: Names | None = Field(
        default=None, description="When a counter of another site called it: that site's name"
    )
    issued_at: str
    called_at: str | None
    lang: str
    site_name: Names | None = Field(default=None, description="The centre's name")
    now_serving: list[NowServing] = Field(
        default_factory=list,
        description="This service's numbers at a counter now, newest call first (at most 3)",
    )


class PriorityOut(BaseModel):
    code: str
    name: Names


class PingOut(BaseModel):
    ok: bool


# The procedure catalog: staff pages and the admin console show the same shape.
class DocumentOut(BaseModel):
    vi: str
    en: str


class ProcedureOut(BaseModel):
    code: str
    name: Names
    processing_days: int
    service: str
    documents: list[DocumentOut]
    fee_note: Names | None
    active: bool
