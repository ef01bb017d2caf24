"""Dossiers (hồ sơ): intake at a counter, the step history, due dates in working days, the
overdue and due-soon lists, the public tracking view. No Flask here: every function takes a
session of a unit of work, the acting principal and ``now``.

* Code ``{agency code}-{YYMMDD}-{NNNN}``: a daily counter per agency code and site-local day
  (``dossier_days``), drawn with ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` inside the
  intake transaction, so two counters never get the same number and a rolled-back intake
  leaves no gap. The unique constraint on ``dossiers.code`` backs it up. A ward and its extra
  reception point share their agency code, hence the counter.
* Due dates: :mod:`server.workdays` with the province's holidays and the site's cut-off.
* ID numbers are stored here only (ARCHITECTURE.md rule 7); the public view never has them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core import auth
from server.core.audit import audit
from server.core.auth import Principal
from server.core.catalogs import LANGS, catalogs
from server.core.db import insert_for
from server.core.errors import AppError, not_found
from server.core.events import emit
from server.core.formats import iso
from server.core.lookups import get_dossier, get_site, get_ticket
from server.features.tickets import applicant_view
from server.models import Counter, Dossier, DossierDay, DossierEvent, Holiday, Procedure, Site
from server.rules import workdays
from server.rules.calendar import business_day, local
from server.rules.dossier_states import (
    FINAL,
    PAUSABLE,
    RESUBMITTED,
    SETTLED,
    DossierStatus,
    IllegalDossierStep,
    next_status,
)

ID_NUMBER = re.compile(r"^[0-9]{12}$")  # not \\d: it takes any Unicode digit
PHONE = re.compile(r"^\+?[0-9 .-]{6,20}$")
MAX_CODE = 80

def status_name(status: str) -> dict[str, str]:
    """A status in plain words, in both languages, for staff screens, receipts and the public
    page (the catalogs' "dossiers" entries ``status_<status>``); one they lack as its code."""
    return catalogs.entry("dossiers", f"status_{status}") or {lang: status for lang in LANGS}

OPEN_STATES = ("open", "overdue", "due_soon")


# --- the site's calendar ------------------------------------------------------------------


def _chain(session: Session, site: Site) -> list[Site]:
    chain = [site]
    seen = {site.id}
    while chain[-1].parent_id is not None and chain[-1].parent_id not in seen:
        parent = session.get(Site, chain[-1].parent_id)
        if parent is None:
            break
        seen.add(parent.id)
        chain.append(parent)
    return chain


def province_of(session: Session, site: Site) -> Site:
    """The province whose catalog and holidays a site uses: the nearest ancestor (or the site
    itself) of kind ``province``; the root of the tree when none is."""
    chain = _chain(session, site)
    for s in chain:
        if s.kind == "province":
            return s
    return chain[-1]


def cutoff_of(session: Session, site: Site) -> dt.time:
    """The site's dossier cut-off, inherited from its ancestors; 16:30 when none sets it."""
    for s in _chain(session, site):
        parsed = workdays.parse_cutoff(s.dossier_cutoff)
        if parsed is not None:
            return parsed
    return workdays.DEFAULT_CUTOFF


def holidays_of(session: Session, province: Site, since: dt.date) -> set[dt.date]:
    return set(
        session.scalars(
            select(Holiday.day).where(Holiday.site_id == province.id, Holiday.day >= since)
        )
    )


class Calendar:
    """A site's working-day calendar, loaded once per unit of work."""

    def __init__(self, session: Session, site: Site, since: dt.date) -> None:
        self.tz = site.timezone
        self.cutoff = cutoff_of(session, site)
        # From a year before `since`: a paused dossier's pause may have started long ago.
        self.holidays = holidays_of(
            session, province_of(session, site), since - dt.timedelta(days=400)
        )

    def due_at(self, received_at: dt.datetime, days: int) -> dt.datetime:
        return workdays.due_at(received_at, days, self.tz, self.cutoff, self.holidays)


# --- lookups --------------------------------------------------------------------------------


def procedure_by_code(session: Session, site: Site, code: str) -> Procedure:
    province = province_of(session, site)
    proc = session.scalar(
        select(Procedure).where(
            Procedure.site_id == province.id, Procedure.code == code, Procedure.active.is_(True)
        )
    )
    if proc is None:
        raise AppError("unknown_procedure", code=code)
    return proc


def _require_staff(session: Session, p: Principal, site_id: int) -> None:
    auth.require(p.role in auth.STAFF and auth.in_scope(session, p, site_id))


# --- codes ----------------------------------------------------------------------------------


def next_number(session: Session, agency_code: str, day: dt.date) -> int:
    """Draw the next number of (agency, day) atomically; held until the transaction ends."""
    stmt = (
        insert_for(session, DossierDay)
        .values(agency_code=agency_code, day=day, last_number=1)
        .on_conflict_do_update(
            index_elements=[DossierDay.agency_code, DossierDay.day],
            set_={"last_number": DossierDay.last_number + 1},
        )
        .returning(DossierDay.last_number)
    )
    return int(session.execute(stmt).scalar_one())


def format_code(agency_code: str, day: dt.date, number: int) -> str:
    return f"{agency_code}-{day:%y%m%d}-{number:04d}"


def agency_of(site: Site) -> str:
    return (site.agency_code or site.code).strip()


def mask_id(id_number: str) -> str:
    """``034012345612`` -> ``0340******12``: enough to recognise, not enough to use."""
    if len(id_number) < 8:
        return "*" * len(id_number)
    return id_number[:4] + "*" * (len(id_number) - 6) + id_number[-2:]


def track_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/d/{token}"


# --- views ----------------------------------------------------------------------------------


def _names(vi: str | None, en: str | None) -> dict[str, str] | None:
    if not vi and not en:
        return None
    return {"vi": vi or en or "", "en": en or vi or ""}


def procedure_view(proc: Procedure) -> dict[str, Any]:
    return {
        "code": proc.code,
        "name": {"vi": proc.name_vi, "en": proc.name_en},
        "processing_days": proc.processing_days,
        "service": proc.service_code,
        "documents": [{"vi": d.get("vi", ""), "en": d.get("en", "")} for d in proc.documents],
        "fee_note": _names(proc.fee_note_vi, proc.fee_note_en),
        "active": proc.active,
    }


def _step_kind(e: DossierEvent) -> str:
    if e.status_from == DossierStatus.SUPPLEMENT_REQUESTED and e.status_to in PAUSABLE:
        return RESUBMITTED
    return e.status_to


def _events(session: Session, dossier_id: int) -> list[DossierEvent]:
    return list(
        session.scalars(
            select(DossierEvent)
            .where(DossierEvent.dossier_id == dossier_id)
            .order_by(DossierEvent.at, DossierEvent.id)
        )
    )


def is_overdue(d: Dossier, now: dt.datetime) -> bool:
    return (
        d.status not in SETTLED
        and d.status != DossierStatus.SUPPLEMENT_REQUESTED
        and d.due_at <= now
    )


def dossier_view(
    session: Session, d: Dossier, now: dt.datetime, base_url: str, events: bool = True
) -> dict[str, Any]:
    """A dossier as staff see it (applicant included)."""
    counter = session.get(Counter, d.counter_id) if d.counter_id else None
    site = d.site
    view: dict[str, Any] = {
        "code": d.code,
        "status": d.status,
        "status_name": status_name(d.status),
        "site": site.code,
        "procedure": {
            "code": d.procedure.code,
            "name": {"vi": d.procedure.name_vi, "en": d.procedure.name_en},
            "processing_days": d.procedure.processing_days,
        },
        "ticket_id": d.ticket_id,
        "counter": counter.number if counter else None,
        "counter_id": d.counter_id,
        "applicant": {
            "name": d.applicant_name,
            "id_number": d.applicant_id_number,
            "phone": d.applicant_phone,
            "address": d.applicant_address,
        },
        "documents": list(d.documents),
        "sets": d.sets,
        "delivery": d.delivery,
        "received_at": iso(d.received_at),
        "due_at": iso(d.due_at),
        "due_local": local(d.due_at, site.timezone).strftime("%H:%M %d/%m/%Y"),
        "paused": d.paused_at is not None,
        "paused_at": iso(d.paused_at),
        "paused_days_total": d.paused_days_total,
        "refused_reason": d.refused_reason,
        "finished_at": iso(d.finished_at),
        "overdue": is_overdue(d, now),
        "token": d.tracking_token,
        "track_url": track_url(base_url, d.tracking_token),
    }
    if events:
        view["events"] = [
            {
                "at": iso(e.at),
                "from": e.status_from,
                "to": e.status_to,
                "step": _step_kind(e),
                "note": e.note,
                "actor": e.actor,
            }
            for e in _events(session, d.id)
        ]
    return view


def public_view(session: Session, token: str, now: dt.datetime) -> dict[str, Any]:
    """What the citizen's tracking page shows: no name, no ID number, no phone, no address,
    no staff notes (a refusal or supplement request is also handed over in writing)."""
    if not token or len(token) > 64:
        raise not_found("dossier")
    d = session.scalar(select(Dossier).where(Dossier.tracking_token == token))
    if d is None:
        raise not_found("dossier")
    site = d.site
    tz = site.timezone
    steps = [
        {
            "step": _step_kind(e),
            "name": status_name(_step_kind(e)),
            "at": iso(e.at),
            "at_local": local(e.at, tz).strftime("%H:%M %d/%m/%Y"),
        }
        for e in _events(session, d.id)
    ]
    return {
        "code": d.code,
        "status": d.status,
        "status_name": status_name(d.status),
        "site": {"code": site.code, "name": {"vi": site.name_vi, "en": site.name_en}},
        "procedure": {
            "code": d.procedure.code,
            "name": {"vi": d.procedure.name_vi, "en": d.procedure.name_en},
        },
        "received_at": iso(d.received_at),
        "received_local": local(d.received_at, tz).strftime("%H:%M %d/%m/%Y"),
        "due_at": iso(d.due_at),
        "due_local": local(d.due_at, tz).strftime("%H:%M %d/%m/%Y"),
        "paused": d.paused_at is not None,
        "final": d.status in FINAL,
        "overdue": is_overdue(d, now),
        "delivery": d.delivery,
        "steps": steps,
    }


def _event_data(d: Dossier) -> dict[str, Any]:
    """``dossier.changed``: enough for a live list to refresh; no personal data."""
    return {
        "code": d.code,
        "status": d.status,
        "procedure": d.procedure.code,
        "counter_id": d.counter_id,
        "due_at": iso(d.due_at),
    }


# --- intake ---------------------------------------------------------------------------------

AT_COUNTER_OR_DONE = ("called", "serving", "done")


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def intake(
    session: Session,
    p: Principal,
    ticket_id: int,
    data: dict[str, Any],
    idempotency_key: str | None,
    now: dt.datetime,
    base_url: str,
) -> tuple[dict[str, Any], bool]:
    """Receive a dossier from the citizen of a ticket. Returns (view, created); a repeated
    Idempotency-Key returns the dossier of the first request with created=False.

    ``data``: ``procedure`` (code), ``applicant`` ({name, id_number, phone, address}, each
    defaulting to the kiosk's ID card scan of the ticket), ``documents`` (names; default the
    procedure's list), ``sets``, ``delivery``."""
    ticket = get_ticket(session, ticket_id, lock=True)
    auth.require(p.role in auth.STAFF and auth.in_scope(session, p, ticket.site_id))
    if p.role == "clerk" and p.counter_id is not None:
        # A clerk bound to a counter receives from the citizen at that counter only.
        auth.require(ticket.counter_id == p.counter_id)
    site = session.get(Site, ticket.site_id)
    assert site is not None

    procedure_code = str(data.get("procedure") or "")
    if idempotency_key is not None:
        existing = session.scalar(
            select(Dossier).where(
                Dossier.site_id == site.id, Dossier.idempotency_key == idempotency_key
            )
        )
        if existing is not None:
            if existing.ticket_id != ticket.id or existing.procedure.code != procedure_code:
                raise AppError("idempotency_conflict")
            return dossier_view(session, existing, now, base_url), False

    if ticket.status not in AT_COUNTER_OR_DONE:
        raise AppError("ticket_not_served", label=ticket.label)
    procedure = procedure_by_code(session, site, procedure_code)

    scan = applicant_view(session, ticket.id) or {}
    given = data.get("applicant") or {}
    name = _clean(given.get("name")) or _clean(scan.get("name"))
    id_number = _clean(given.get("id_number")) or _clean(scan.get("id_number"))
    phone = _clean(given.get("phone"))
    address = _clean(given.get("address")) or _clean(scan.get("address"))
    if name is None:
        raise AppError("applicant_required", field="name")
    if id_number is None:
        raise AppError("applicant_required", field="id_number")
    if not ID_NUMBER.match(id_number):
        raise AppError("bad_id_number")
    if phone is not None and not PHONE.match(phone):
        raise AppError("validation_error", detail="applicant.phone")
    if len(name) > 200 or (address is not None and len(address) > 400):
        raise AppError("validation_error", detail="applicant")

    documents = data.get("documents")
    if documents is None:
        documents = [doc.get("vi", "") for doc in procedure.documents]
    documents = [str(x).strip() for x in documents if str(x).strip()]
    sets = int(data.get("sets") or 1)
    delivery = str(data.get("delivery") or "counter")
    if sets < 1 or delivery not in ("counter", "post"):
        raise AppError("validation_error", detail="sets/delivery")

    day = business_day(now, site.timezone)
    due = Calendar(session, site, day).due_at(now, procedure.processing_days)
    # Last before the inserts: the (agency, day) row stays locked until the commit.
    agency = agency_of(site)
    code = format_code(agency, day, next_number(session, agency, day))
    dossier = Dossier(
        code=code,
        site_id=site.id,
        procedure_id=procedure.id,
        ticket_id=ticket.id,
        counter_id=ticket.counter_id or p.counter_id,
        clerk_user_id=p.user_id,
        status=DossierStatus.RECEIVED,
        applicant_name=name,
        applicant_id_number=id_number,
        applicant_phone=phone,
        applicant_address=address,
        documents=documents,
        sets=sets,
        delivery=delivery,
        received_at=now,
        due_at=due,
        paused_days_total=0,
        tracking_token=auth.new_tracking_token(),
        idempotency_key=idempotency_key,
    )
    dossier.procedure = procedure
    dossier.site = site
    session.add(dossier)
    session.flush()
    session.add(
        DossierEvent(
            dossier_id=dossier.id,
            at=now,
            status_from=None,
            status_to=DossierStatus.RECEIVED,
            note=None,
            actor=p.actor,
        )
    )
    audit(
        session, p, now, site.id, "dossier.received", "dossier", code, None,
        {"procedure": procedure.code, "ticket_id": ticket.id, "due_at": iso(dossier.due_at)},
    )
    emit(session, site.id, "dossier.changed", _event_data(dossier))
    return dossier_view(session, dossier, now, base_url), True


# --- steps ----------------------------------------------------------------------------------


def step(
    session: Session,
    p: Principal,
    code: str,
    status: str,
    note: str | None,
    now: dt.datetime,
    base_url: str,
) -> dict[str, Any]:
    """Move a dossier one step (see :mod:`server.dossier_states`). Staff of its site."""
    d = get_dossier(session, code, lock=True)
    _require_staff(session, p, d.site_id)
    before = d.status
    try:
        to = next_status(before, status, d.resume_status)
    except IllegalDossierStep:
        raise AppError(
            "illegal_dossier_step",
            status=before,
            status_vi=status_name(before)["vi"],
            step=status,
            step_vi=status_name(status)["vi"],
        ) from None
    note = _clean(note)
    if to == DossierStatus.REFUSED and note is None:
        raise AppError("reason_required")
    before_due = d.due_at
    if to == DossierStatus.SUPPLEMENT_REQUESTED:
        d.paused_at = now
        d.resume_status = before
    elif status == RESUBMITTED:
        cal = Calendar(session, d.site, business_day(now, d.site.timezone))
        paused_at = d.paused_at or now
        days = workdays.paused_working_days(paused_at, now, cal.tz, cal.cutoff, cal.holidays)
        d.due_at = workdays.shift_due(d.due_at, days, cal.tz, cal.cutoff, cal.holidays)
        d.paused_days_total += days
        d.paused_at = None
        d.resume_status = None
    if to in FINAL:
        d.finished_at = now
        d.paused_at = None
        d.resume_status = None
    if to == DossierStatus.REFUSED:
        d.refused_reason = note
    d.status = to
    session.add(
        DossierEvent(
            dossier_id=d.id, at=now, status_from=before, status_to=to, note=note, actor=p.actor
        )
    )
    after: dict[str, Any] = {"status": d.status, "step": status}
    if d.due_at != before_due:
        after["due_at"] = iso(d.due_at)
    audit(session, p, now, d.site_id, "dossier.step", "dossier", d.code,
           {"status": before, "due_at": iso(before_due)}, after)
    session.flush()
    emit(session, d.site_id, "dossier.changed", _event_data(d))
    return dossier_view(session, d, now, base_url)


# --- reads ----------------------------------------------------------------------------------


def get(session: Session, p: Principal, code: str, now: dt.datetime, base_url: str
        ) -> dict[str, Any]:
    d = get_dossier(session, code)
    _require_staff(session, p, d.site_id)
    return dossier_view(session, d, now, base_url)


def list_for_ticket(
    session: Session, p: Principal, ticket_id: int, now: dt.datetime, base_url: str
) -> list[dict[str, Any]]:
    """The dossiers received from the citizen of a ticket, oldest first (staff of its site)."""
    ticket = get_ticket(session, ticket_id, lock=False)
    _require_staff(session, p, ticket.site_id)
    rows = session.scalars(
        select(Dossier).where(Dossier.ticket_id == ticket.id).order_by(Dossier.id)
    ).all()
    return [dossier_view(session, d, now, base_url, events=False) for d in rows]


LIST_LIMIT = 500


def list_for_site(
    session: Session,
    p: Principal,
    site_code: str,
    state: str,
    now: dt.datetime,
    base_url: str,
) -> list[dict[str, Any]]:
    """``open``: not returned, refused or withdrawn; ``overdue``: due time passed and the
    centre's work not done (result ready, returned, refused, withdrawn) and not waiting for
    the citizen's supplement; ``due_soon``: not overdue yet, due within one working day.
    Earliest due first, at most 500."""
    site = get_site(session, site_code)
    _require_staff(session, p, site.id)
    if state not in OPEN_STATES:
        raise AppError("validation_error", detail="state: open | overdue | due_soon")
    q = select(Dossier).where(Dossier.site_id == site.id)
    if state == "open":
        q = q.where(Dossier.status.not_in([s.value for s in FINAL]))
    else:
        q = q.where(
            Dossier.status.not_in([s.value for s in SETTLED]),
            Dossier.status != DossierStatus.SUPPLEMENT_REQUESTED,
        )
        if state == "overdue":
            q = q.where(Dossier.due_at <= now)
        else:
            cal = Calendar(session, site, business_day(now, site.timezone))
            limit = workdays.due_soon_limit(now, cal.tz, cal.holidays)
            q = q.where(Dossier.due_at > now, Dossier.due_at < limit)
    rows = session.scalars(q.order_by(Dossier.due_at, Dossier.id).limit(LIST_LIMIT)).all()
    return [dossier_view(session, d, now, base_url, events=False) for d in rows]
