"""Appointments booked ahead (``/book``), checked in at the kiosk or the counter.

The decisions are pure, in ``server/rules/appointments.py``; this module does the database
work, each function inside the caller's unit of work:

- :func:`slots` the slots of a day with their capacity and free places;
- :func:`hold` a place (atomic: the slot's lock row, then the count; the person's lock row,
  then the per-person limits), with a one-time code sent through the outbox (kind
  ``booking_code``, ``ref`` = the booking's ref); :func:`confirm` with that code (limited
  attempts, expiry; a replay is refused), which sends the confirmation and queues the reminder
  for the day before; :func:`cancel` (the place comes back after the quarantine);
- :func:`check_in` by the kiosk code, the page's token or the ID number, issuing the ticket
  through the one issue function (``features.tickets.issue``): in the window an appointment
  placed at its slot's start, late a walk-in ticket, too early a refusal with the time;
- :func:`sweep` (every minute, from the day closer): expired holds, no-shows at the end of the
  check-in window, and bookings whose day closed after they were made (a holiday added, hours
  changed): cancelled, listed for the supervisor, the citizen messaged;
- :func:`summary` today's bookings per service and slot for the supervisor.

Refusals raise the bilingual ``AppError`` and change nothing (the unit of work rolls back),
except a wrong one-time code, whose attempt must count: :func:`confirm` returns ``None`` for
it after recording the attempt, and the caller refuses once the attempt is committed.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from messaging.base import Message
from messaging.phone import masked
from server.core import auth
from server.core.audit import audit
from server.core.auth import Principal
from server.core.catalogs import catalogs
from server.core.db import insert_for
from server.core.errors import AppError
from server.core.lookups import get_site
from server.features import notifications, outbox
from server.features.dailyops import province_holidays
from server.features.tickets import issue
from server.models import (
    Booking,
    BookingChallenge,
    BookingPerson,
    BookingSlot,
    Counter,
    CounterService,
    OutboxMessage,
    Procedure,
    Service,
    Site,
    Ticket,
)
from server.rules import appointments as ap
from server.rules.calendar import business_day, local
from server.rules.opening_hours import clock_label

#: Who a citizen's own actions (booking, confirming, cancelling) are recorded as.
CITIZEN = Principal(kind="citizen", id=None, role="citizen", site_id=None)
#: Used when the server has no secret key (development): the ID numbers' keyed hash.
DEFAULT_ID_KEY = b"motcua-booking-id-numbers"
REF_LENGTH = 10


def id_key_from(secret_key: str | None) -> bytes:
    """The key ID numbers are hashed with: the server's secret key (``MOTCUA_SECRET_KEY``).
    Changing that key loses the lookup of existing bookings by ID card and their no-shows."""
    return ("motcua-booking:" + secret_key).encode() if secret_key else DEFAULT_ID_KEY


def settings_of(site: Site) -> ap.BookingSettings:
    return ap.BookingSettings.from_stored(site.booking)


def _holding(now: dt.datetime) -> Any:
    """Bookings that take a place at ``now`` (``rules.appointments.holds_place`` in SQL)."""
    return or_(
        and_(Booking.status == "held", Booking.hold_until > now),
        Booking.status.in_(("confirmed", "checked_in")),
        and_(Booking.status == "cancelled", Booking.released_at > now),
    )


def _site_service(session: Session, site_code: str, service_code: str) -> tuple[Site, Service]:
    site = get_site(session, site_code)
    service = session.scalar(
        select(Service).where(Service.site_id == site.id, Service.code == service_code)
    )
    if service is None:
        raise AppError("unknown_service", code=service_code)
    return site, service


def _profiles(session: Session, site: Site) -> list[dict[str, float]]:
    """The work profiles of the site's counters (service code -> weight), whatever their
    status now: a slot days ahead counts on the counters the site has."""
    out: dict[int, dict[str, float]] = defaultdict(dict)
    for counter_id, code, weight in session.execute(
        select(CounterService.counter_id, Service.code, CounterService.weight)
        .join(Counter, Counter.id == CounterService.counter_id)
        .join(Service, Service.id == CounterService.service_id)
        .where(Counter.site_id == site.id, Service.site_id == site.id)
    ):
        out[counter_id][code] = float(weight)
    return list(out.values())


def capacity(session: Session, site: Site, service: Service, st: ap.BookingSettings) -> int:
    """Online places in each slot of ``service`` (0: not offered for booking)."""
    if not service.active:
        return 0
    return ap.expected_capacity(
        _profiles(session, site), service.code, float(service.default_service_minutes), [],
        st.slot_minutes, ap.online_share(service.online_share),
    )


def _day_slots(session: Session, site: Site, service: Service, day: dt.date,
               st: ap.BookingSettings) -> list[ap.Slot]:
    holidays = province_holidays(session, site, day, day)
    return ap.day_slots(site.opening_hours, holidays.keys(), day, site.timezone,
                        st.slot_minutes, ap.parse_last_ticket_time(service.last_ticket_time))


def _check_day(site: Site, day: dt.date, now: dt.datetime, st: ap.BookingSettings) -> None:
    today = business_day(now, site.timezone)
    last = today + dt.timedelta(days=st.horizon_days)
    if not today <= day <= last:
        raise AppError("booking_day_out_of_range", first=today.strftime("%d/%m/%Y"),
                       last=last.strftime("%d/%m/%Y"))


def _local_iso(at: dt.datetime, tz: str) -> str:
    return local(at, tz).isoformat()


def _taken(session: Session, service_id: int, starts: list[dt.datetime],
           now: dt.datetime) -> dict[dt.datetime, int]:
    if not starts:
        return {}
    rows = session.execute(
        select(Booking.slot_start, func.count())
        .where(Booking.service_id == service_id, Booking.slot_start.in_(starts), _holding(now))
        .group_by(Booking.slot_start)
    ).all()
    return {start: int(n) for start, n in rows}


def slots(session: Session, site_code: str, service_code: str, day: dt.date,
          now: dt.datetime) -> dict[str, Any]:
    """The day's bookable slots of a service with their capacity and free places (public).
    A closed day, a holiday or a service not offered online: no slots."""
    site, service = _site_service(session, site_code, service_code)
    st = settings_of(site)
    _check_day(site, day, now, st)
    cap = capacity(session, site, service, st)
    found = [s for s in _day_slots(session, site, service, day, st)
             if ap.bookable_slot(s.start, now, st)] if cap > 0 else []
    taken = _taken(session, service.id, [s.start for s in found], now)
    return {
        "site": site.code,
        "service": service.code,
        "day": day.isoformat(),
        "timezone": site.timezone,
        "slots": [
            {"start": _local_iso(s.start, site.timezone), "end": _local_iso(s.end, site.timezone),
             "capacity": cap, "free": max(cap - taken.get(s.start, 0), 0)}
            for s in found
        ],
    }


# --- hold, confirm, cancel ------------------------------------------------------------------


def _parse_start(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        start = value
    else:
        try:
            start = dt.datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise AppError("validation_error", detail="start: an ISO 8601 time") from None
    if start.tzinfo is None:
        raise AppError("validation_error", detail="start: a time with its UTC offset")
    return start.astimezone(dt.UTC)


def _lock(session: Session, model: Any, **key: Any) -> None:
    """Take (creating it if needed) the lock row ``key`` of ``model`` until commit: an upsert
    that always updates, so PostgreSQL holds the row lock and SQLite its write lock."""
    stmt = insert_for(session, model).values(**key, holds=1)
    session.execute(stmt.on_conflict_do_update(
        index_elements=list(key), set_={"holds": model.holds + 1}))


def _new_code(session: Session, site_id: int, day: dt.date) -> str:
    for _ in range(20):
        code = "".join(secrets.choice(ap.CODE_ALPHABET) for _ in range(ap.CODE_LENGTH))
        if session.scalar(select(Booking.id).where(
                Booking.site_id == site_id, Booking.business_day == day,
                Booking.code == code)) is None:
            return code
    raise AppError("internal_error")


def _new_ref() -> str:
    return "".join(secrets.choice(ap.CODE_ALPHABET) for _ in range(REF_LENGTH))


def no_show_times(session: Session, id_hash: str, now: dt.datetime,
                  st: ap.BookingSettings) -> list[dt.datetime]:
    """When this ID number's recent no-shows happened: the bookings nobody came for. A citizen
    who came after the window (a ``no_show`` with a walk-in ticket) missed the slot, which the
    punctuality figures count, but did come: that does not count toward a pause."""
    since = now - dt.timedelta(days=st.no_show_days)
    return [t for t in session.scalars(select(Booking.no_show_at).where(
        Booking.id_hash == id_hash, Booking.status == "no_show", Booking.ticket_id.is_(None),
        Booking.no_show_at >= since))
        if t is not None]


def hold(
    session: Session,
    site_code: str,
    service_code: str,
    start: str | dt.datetime,
    id_number: str,
    phone: str,
    lang: str,
    now: dt.datetime,
    *,
    procedure: str | None = None,
    id_key: bytes = DEFAULT_ID_KEY,
    policy: notifications.Policy | None = None,
) -> tuple[Booking, str]:
    """Hold a place in a slot for ``hold_minutes`` and send a one-time code to ``phone``
    (through the outbox; none without ``policy``, as in the simulator). Returns the booking
    and the plain code (the API never shows it: it goes by message only)."""
    if not ap.ID_NUMBER.match(id_number or ""):
        raise AppError("booking_bad_id")
    number = notifications.parse_phone(phone)
    site, service = _site_service(session, site_code, service_code)
    st = settings_of(site)
    slot_start = _parse_start(start)
    day = business_day(slot_start, site.timezone)
    _check_day(site, day, now, st)
    cap = capacity(session, site, service, st)
    if cap <= 0:
        raise AppError("booking_not_offered", name_vi=service.name_vi, name_en=service.name_en)
    day_slots = _day_slots(session, site, service, day, st)
    if not day_slots:
        raise AppError("booking_day_closed", day=day.strftime("%d/%m/%Y"))
    slot = next((s for s in day_slots if s.start == slot_start), None)
    if slot is None:
        raise AppError("booking_no_such_slot")
    if not ap.bookable_slot(slot.start, now, st):
        raise AppError("booking_slot_past")
    proc_id = None
    if procedure:
        proc_id = session.scalar(select(Procedure.id).where(
            Procedure.code == procedure, Procedure.service_code == service.code,
            Procedure.active.is_(True)))
        if proc_id is None:
            raise AppError("unknown_procedure", code=procedure)
    id_hash = ap.id_digest(id_key, id_number)
    until = ap.blocked_until(no_show_times(session, id_hash, now, st), now, st)
    if until is not None:
        raise AppError("booking_blocked", until=local(until, site.timezone).strftime("%d/%m/%Y"))

    # The person's lock, then the slot's (always in this order: no deadlock between them).
    _lock(session, BookingPerson, id_hash=id_hash, business_day=day)
    mine = session.execute(
        select(Booking.service_id, func.count())
        .where(Booking.id_hash == id_hash, Booking.business_day == day, _holding(now))
        .group_by(Booking.service_id)
    ).all()
    limit = ap.person_limit(sum(int(n) for _s, n in mine),
                            sum(int(n) for s, n in mine if s == service.id), st)
    if limit is not None:
        raise AppError(limit, per_day=st.per_day, per_service=st.per_service_day)
    _lock(session, BookingSlot, service_id=service.id, slot_start=slot.start)
    taken = _taken(session, service.id, [slot.start], now).get(slot.start, 0)
    if taken >= cap:
        raise AppError("booking_slot_full")

    otp = "".join(secrets.choice("0123456789") for _ in range(ap.OTP_LENGTH))
    ref = _new_ref()
    booking = Booking(
        ref=ref, token_hash=ap.secret_digest(secrets.token_urlsafe(32)),  # replaced at confirm
        code=_new_code(session, site.id, day), site_id=site.id, service_id=service.id,
        procedure_id=proc_id, slot_start=slot.start, slot_end=slot.end, business_day=day,
        id_hash=id_hash, id_last4=id_number[-4:], phone=number,
        lang="en" if lang == "en" else "vi", status="held", created_at=now,
        hold_until=now + dt.timedelta(minutes=st.hold_minutes),
        otp_hash=ap.secret_digest(ref + otp), otp_attempts=0, otp_expires_at=now + ap.OTP_TTL,
    )
    booking.site, booking.service = site, service
    session.add(booking)
    session.flush()
    _send(session, booking, "booking_code", {"otp": otp}, now, policy)
    audit(session, CITIZEN, now, site.id, "booking.held", "booking", ref, None,
          {"service": service.code, "start": _local_iso(slot.start, site.timezone),
           "phone": masked(number), "id": "…" + booking.id_last4})
    return booking, otp


def _by_ref(session: Session, ref: str, lock: bool = True) -> Booking:
    q = select(Booking).where(Booking.ref == ref)
    booking = session.scalar(q.with_for_update() if lock else q)
    if booking is None:
        raise AppError("booking_not_found")
    return booking


def by_token(session: Session, token: str, lock: bool = False) -> Booking:
    q = select(Booking).where(Booking.token_hash == ap.secret_digest(token or ""))
    booking = session.scalar(q.with_for_update() if lock else q)
    if booking is None or booking.status in ("held", "expired"):
        raise AppError("booking_not_found")
    return booking


def confirm(session: Session, ref: str, code: str, now: dt.datetime, *,
            base_url: str = "", policy: notifications.Policy | None = None
            ) -> dict[str, Any] | None:
    """Confirm a held booking with its one-time code: the view with the kiosk code and the
    page's token (shown once). ``None``: a wrong code, its attempt recorded (the caller
    commits, then refuses with ``booking_code_wrong``)."""
    booking = _by_ref(session, ref)
    if booking.status in ("confirmed", "checked_in"):
        raise AppError("booking_already_confirmed")
    if booking.status != "held" or booking.hold_until is None or booking.hold_until <= now:
        raise AppError("booking_hold_expired")
    if booking.otp_attempts >= ap.OTP_MAX_ATTEMPTS:
        raise AppError("booking_code_attempts")
    if booking.otp_expires_at is None or booking.otp_expires_at <= now:
        raise AppError("booking_code_expired")
    if booking.otp_hash != ap.secret_digest(booking.ref + (code or "").strip()):
        booking.otp_attempts += 1
        return None
    token = secrets.token_urlsafe(24)
    booking.status = "confirmed"
    booking.confirmed_at = now
    booking.hold_until = None
    booking.otp_hash = None
    booking.otp_expires_at = None
    booking.token_hash = ap.secret_digest(token)
    site = booking.site
    url = page_url(base_url, token)
    _send(session, booking, "booking_confirmed", {"url": url}, now, policy)
    remind = ap.reminder_at(booking.slot_start, site.timezone, now)
    if remind is not None:
        _send(session, booking, "booking_reminder", {"url": url}, now, policy, not_before=remind)
    audit(session, CITIZEN, now, site.id, "booking.confirmed", "booking", booking.ref, None,
          {"code": booking.code})
    return view(session, booking, token=token)


def page_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/b/{token}"


def cancel(session: Session, token: str, now: dt.datetime,
           policy: notifications.Policy | None = None) -> dict[str, Any]:
    """Cancel a confirmed booking from its page: its place comes back after the quarantine;
    the reminder not yet sent is dropped."""
    booking = by_token(session, token, lock=True)
    if booking.status != "confirmed":
        raise AppError("booking_not_cancellable")
    st = settings_of(booking.site)
    _cancel(session, booking, now, "citizen", st)
    audit(session, CITIZEN, now, booking.site_id, "booking.cancelled", "booking", booking.ref,
          {"status": "confirmed"}, {"status": "cancelled", "reason": "citizen"})
    return view(session, booking, token=token)


def _cancel(session: Session, booking: Booking, now: dt.datetime, reason: str,
            st: ap.BookingSettings) -> None:
    booking.status = "cancelled"
    booking.cancelled_at = now
    booking.cancel_reason = reason
    booking.released_at = now + dt.timedelta(minutes=st.cancel_quarantine_minutes)
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.idempotency_key == f"booking:{booking.ref}:booking_reminder",
               OutboxMessage.status == outbox.QUEUED)
        .values(status=outbox.DROPPED, finished_at=now, last_error="booking cancelled")
        .execution_options(synchronize_session=False)
    )


# --- views ----------------------------------------------------------------------------------


def view(session: Session, booking: Booking, token: str | None = None) -> dict[str, Any]:
    """A booking as its citizen sees it (by its token) and as the confirmation returns it."""
    site, service = booking.site, booking.service
    procedure = session.get(Procedure, booking.procedure_id) if booking.procedure_id else None
    st = settings_of(site)
    opens, closes = ap.checkin_window(booking.slot_start, st)
    out: dict[str, Any] = {
        "ref": booking.ref,
        "status": booking.status,
        "code": booking.code if booking.status != "held" else None,
        "site": site.code,
        "site_name": {"vi": site.name_vi, "en": site.name_en},
        "address": site.address,
        "service": service.code,
        "service_name": {"vi": service.name_vi, "en": service.name_en},
        "procedure": procedure.code if procedure else None,
        "procedure_name": {"vi": procedure.name_vi, "en": procedure.name_en} if procedure
        else None,
        "documents": list(procedure.documents or []) if procedure else [],
        "start": _local_iso(booking.slot_start, site.timezone),
        "end": _local_iso(booking.slot_end, site.timezone),
        "timezone": site.timezone,
        "checkin_from": _local_iso(opens, site.timezone),
        "checkin_until": _local_iso(closes, site.timezone),
        "lang": booking.lang,
        "phone": masked(booking.phone) if booking.phone else None,
        "cancel_reason": booking.cancel_reason,
    }
    if booking.status == "held":
        out["hold_until"] = _local_iso(booking.hold_until, site.timezone) \
            if booking.hold_until else None
    if token is not None:
        out["token"] = token
    return out


def held_view(booking: Booking) -> dict[str, Any]:
    """The answer to a hold: what the contract promises (ref, status, hold_until)."""
    assert booking.hold_until is not None
    return {"ref": booking.ref, "status": booking.status,
            "hold_until": _local_iso(booking.hold_until, booking.site.timezone),
            "start": _local_iso(booking.slot_start, booking.site.timezone),
            "phone": masked(booking.phone) if booking.phone else None}


def calendar_file(session: Session, token: str, now: dt.datetime, base_url: str) -> str:
    """The booking as an iCalendar event (RFC 5545), for the citizen's calendar."""
    booking = by_token(session, token)
    site, service = booking.site, booking.service
    vi = booking.lang != "en"
    lang = "vi" if vi else "en"

    def esc(text: str) -> str:
        return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
                .replace("\n", "\\n"))

    def stamp(at: dt.datetime) -> str:
        return at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")

    title = catalogs.say("bookings", "calendar_title", lang,
                         service=service.name_vi if vi else service.name_en,
                         site=site.name_vi if vi else site.name_en)
    note = catalogs.say("bookings", "calendar_note", lang, code=booking.code)
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Motcua//Appointments//VI",
        "CALSCALE:GREGORIAN", "METHOD:PUBLISH", "BEGIN:VEVENT",
        f"UID:{booking.ref}@motcua", f"DTSTAMP:{stamp(now)}",
        f"DTSTART:{stamp(booking.slot_start)}", f"DTEND:{stamp(booking.slot_end)}",
        f"SUMMARY:{esc(title)}", f"DESCRIPTION:{esc(note)}",
        f"LOCATION:{esc(site.address or (site.name_vi if vi else site.name_en))}",
        f"URL:{page_url(base_url, token)}",
        "STATUS:" + ("CANCELLED" if booking.status == "cancelled" else "CONFIRMED"),
        "END:VEVENT", "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


# --- messages -------------------------------------------------------------------------------


def _send(session: Session, booking: Booking, kind: str, extra: dict[str, Any],
          now: dt.datetime, policy: notifications.Policy | None,
          not_before: dt.datetime | None = None) -> bool:
    """One message to the booking's phone through the site's channel (the demo's file when no
    gateway is set), idempotent per (booking, kind)."""
    if policy is None or not booking.phone:
        return False
    site, service = booking.site, booking.service
    channel = notifications.delivery_channel(session, site.id, policy, kind)
    drop = None
    if channel is None:
        channel, drop = "file", "no channel configured"
    lang = "en" if booking.lang == "en" else "vi"
    vi = lang == "vi"
    values = {
        "site": site.name_vi if vi else site.name_en,
        "service": service.name_vi if vi else service.name_en,
        "time": local(booking.slot_start, site.timezone).strftime("%H:%M %d/%m/%Y"),
        "code": booking.code,
        **extra,
    }
    text = notifications.render(
        notifications.templates_for(session, site.id, channel)[kind][lang], values)
    if not_before is None and kind not in notifications.URGENT:
        not_before = notifications.after_quiet_hours(now, site.timezone, policy.quiet_hours)
    message = Message(channel=channel, kind=kind, to=booking.phone, text=text,
                      idempotency_key=f"booking:{booking.ref}:{kind}", ref=booking.ref,
                      lang=lang, data=values, created_at=now)
    return outbox.enqueue(session, message, site_id=site.id, not_before=not_before,
                          status=outbox.DROPPED if drop else outbox.QUEUED, error=drop,
                          wake=policy.wake)


# --- check-in -------------------------------------------------------------------------------


def token_of(scanned: str) -> str:
    """The token of a scanned QR: its payload is the page's address (``…/b/{token}``), which
    the kiosk's scanner types whole; a bare token passes unchanged."""
    text = scanned.strip()
    if "/b/" in text:
        text = text.rsplit("/b/", 1)[1]
    return text.split("?", 1)[0].split("#", 1)[0].strip("/")


def _find_for_checkin(session: Session, site: Site, by: dict[str, Any], now: dt.datetime,
                      id_key: bytes) -> Booking:
    today = business_day(now, site.timezone)
    if by.get("token"):
        q = select(Booking).where(Booking.token_hash == ap.secret_digest(
            token_of(str(by["token"]))))
        booking = session.scalar(q.with_for_update())
        if booking is None or booking.status in ("held", "expired"):
            raise AppError("booking_not_found")
        if booking.site_id != site.id:
            other = session.get(Site, booking.site_id)
            assert other is not None
            raise AppError("booking_other_site", name_vi=other.name_vi, name_en=other.name_en)
        return booking
    if by.get("code"):
        code = ap.normalise_code(str(by["code"]))
        if not ap.valid_code(code):
            raise AppError("booking_not_found")
        booking = session.scalar(select(Booking).where(
            Booking.site_id == site.id, Booking.business_day == today, Booking.code == code,
            Booking.status != "held", Booking.status != "expired").with_for_update())
        if booking is None:
            raise AppError("booking_not_found")
        return booking
    if by.get("id_number"):
        number = str(by["id_number"]).strip()
        if not ap.ID_NUMBER.match(number):
            raise AppError("booking_bad_id")
        found = list(session.scalars(select(Booking).where(
            Booking.site_id == site.id, Booking.business_day == today,
            Booking.id_hash == ap.id_digest(id_key, number),
            Booking.status.in_(("confirmed", "checked_in", "no_show")),
        ).order_by(Booking.slot_start).with_for_update()))
        if not found:
            raise AppError("booking_not_found")
        # The confirmed one nearest its slot; else the last one (to say what became of it).
        confirmed = [b for b in found if b.status == "confirmed"]
        if confirmed:
            return min(confirmed, key=lambda b: abs((b.slot_start - now).total_seconds()))
        return found[-1]
    raise AppError("validation_error", detail="one of code, token, id_number")


def check_in(
    session: Session,
    p: Principal,
    site_code: str,
    by: dict[str, Any],
    now: dt.datetime,
    base_url: str,
    *,
    priority: str | None = None,
    lang: str | None = None,
    id_key: bytes = DEFAULT_ID_KEY,
) -> tuple[dict[str, Any], Ticket]:
    """Check a booked citizen in (a kiosk of the site or its staff): the ticket's view (with
    ``appointment`` and ``late``) and row. Inside the window: a ticket of the booked service
    placed at the slot's start; late: a walk-in ticket of the same service (the booking
    becomes a no-show); too early: ``too_early`` with the time to come back."""
    site = get_site(session, site_code)
    auth.require(auth.can_issue(session, p, site.id))
    booking = _find_for_checkin(session, site, by, now, id_key)
    st = settings_of(site)
    tz = site.timezone
    if booking.status == "checked_in":
        ticket = session.get(Ticket, booking.ticket_id) if booking.ticket_id else None
        raise AppError("booking_already_checked_in", label=ticket.label if ticket else "")
    if booking.status == "cancelled":
        raise AppError("booking_not_active")
    today = business_day(now, tz)
    if booking.business_day > today:
        raise AppError("booking_not_today", day=booking.business_day.strftime("%d/%m/%Y"))
    verdict = ap.checkin_verdict(booking.slot_start, now, st)
    if booking.status == "no_show" and booking.ticket_id is not None:
        raise AppError("booking_already_checked_in", label="")
    if verdict.kind == ap.TOO_EARLY:
        err = AppError("too_early", time=clock_label(local(verdict.opens_at, tz).time()),
                       slot=clock_label(local(booking.slot_start, tz).time()))
        err.data = {"come_back_at": _local_iso(verdict.opens_at, tz),
                    "slot_start": _local_iso(booking.slot_start, tz)}
        raise err
    in_window = verdict.kind == ap.IN_WINDOW and booking.status == "confirmed"
    service = booking.service
    issued = issue(
        session, p, site.code, service.code, priority, lang or booking.lang, None, now,
        base_url, placed_at=ap.placement(booking.slot_start) if in_window else None,
        appointment=in_window,
    )
    ticket = issued.ticket
    before = booking.status
    booking.ticket_id = ticket.id
    booking.checked_in_at = now
    if in_window:
        booking.status = "checked_in"
    else:  # late: the appointment was missed, the citizen still gets a walk-in ticket
        booking.status = "no_show"
        booking.no_show_at = booking.no_show_at or now
    audit(session, p, now, site.id, "booking.checked_in", "booking", booking.ref,
          {"status": before},
          {"status": booking.status, "ticket": ticket.label, "late": not in_window})
    out = dict(issued.view)
    out["appointment"] = in_window
    out["late"] = not in_window
    out["booking"] = {"ref": booking.ref, "code": booking.code,
                      "start": _local_iso(booking.slot_start, tz)}
    return out, ticket


# --- the periodic sweep ---------------------------------------------------------------------


def sweep(session: Session, now: dt.datetime, site_ids: Iterable[int] | None = None,
          policy: notifications.Policy | None = None) -> dict[str, int]:
    """Expired holds, no-shows (a confirmed booking not checked in by the end of its window)
    and bookings whose day closed after they were made (cancelled, the citizen messaged).
    Idempotent: a second run finds nothing left to change."""
    out = {"expired": 0, "no_show": 0, "day_closed": 0}
    q = select(Site)
    if site_ids is not None:
        q = q.where(Site.id.in_(list(site_ids)))
    for site in session.scalars(q.where(Site.id.in_(
            select(Booking.site_id).where(Booking.status.in_(ap.ACTIVE)).distinct()))):
        st = settings_of(site)
        out["expired"] += int(session.execute(
            update(Booking)
            .where(Booking.site_id == site.id, Booking.status == "held",
                   Booking.hold_until <= now)
            .values(status="expired", otp_hash=None)
            .execution_options(synchronize_session=False)).rowcount or 0)
        due = now - dt.timedelta(minutes=st.checkin_after_minutes)
        for booking in session.scalars(select(Booking).where(
                Booking.site_id == site.id, Booking.status == "confirmed",
                Booking.slot_start < due).with_for_update()):
            booking.status = "no_show"
            booking.no_show_at = now
            audit(session, auth.SYSTEM, now, site.id, "booking.no_show", "booking",
                  booking.ref, {"status": "confirmed"}, {"status": "no_show"})
            out["no_show"] += 1
        out["day_closed"] += _closed_days(session, site, st, now, policy)
    return out


def _closed_days(session: Session, site: Site, st: ap.BookingSettings, now: dt.datetime,
                 policy: notifications.Policy | None) -> int:
    """Bookings ahead whose slot no longer exists (a holiday added, the hours changed)."""
    ahead = list(session.scalars(select(Booking).where(
        Booking.site_id == site.id, Booking.status == "confirmed",
        Booking.slot_start >= now).order_by(Booking.business_day)))
    if not ahead:
        return 0
    days = sorted({b.business_day for b in ahead})
    holidays = province_holidays(session, site, days[0], days[-1]).keys()
    closed = 0
    cache: dict[tuple[dt.date, int], set[dt.datetime]] = {}
    for booking in ahead:
        key = (booking.business_day, booking.service_id)
        if key not in cache:
            cache[key] = {s.start for s in ap.day_slots(
                site.opening_hours, holidays, booking.business_day, site.timezone,
                st.slot_minutes, ap.parse_last_ticket_time(booking.service.last_ticket_time))}
        if booking.slot_start in cache[key]:
            continue
        _cancel(session, booking, now, "day_closed", st)
        booking.released_at = now  # nobody can take a place on a closed day anyway
        _send(session, booking, "booking_day_closed", {}, now, policy)
        audit(session, auth.SYSTEM, now, site.id, "booking.day_closed", "booking", booking.ref,
              {"status": "confirmed"}, {"status": "cancelled", "reason": "day_closed"})
        closed += 1
    return closed


# --- the supervisor's view ------------------------------------------------------------------


def summary(session: Session, p: Principal, site_code: str, day: dt.date,
            now: dt.datetime) -> dict[str, Any]:
    """A day's bookings per service and slot (booked, checked in, no-show, cancelled), the
    online places used, and the bookings of a closed day (listed to call the citizens)."""
    site = get_site(session, site_code)
    auth.require(auth.can_rebalance(session, p, site.id))
    st = settings_of(site)
    services = list(session.scalars(select(Service).where(Service.site_id == site.id)
                                    .order_by(Service.sort_order, Service.id)))
    counts: dict[tuple[int, dt.datetime], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for service_id, start, status, n in session.execute(
        select(Booking.service_id, Booking.slot_start, Booking.status, func.count())
        .where(Booking.site_id == site.id, Booking.business_day == day)
        .group_by(Booking.service_id, Booking.slot_start, Booking.status)
    ):
        counts[(service_id, start)][status] += int(n)
    out_services = []
    for service in services:
        cap = capacity(session, site, service, st)
        slot_list = _day_slots(session, site, service, day, st) if cap > 0 else []
        starts = {s.start for s in slot_list}
        extra = sorted({start for (sid, start) in counts if sid == service.id} - starts)
        rows = []
        for start, end in [(s.start, s.end) for s in slot_list] + [
                (x, x + st.slot) for x in extra]:
            c = counts.get((service.id, start), {})
            booked = c.get("confirmed", 0) + c.get("checked_in", 0) + c.get("no_show", 0)
            rows.append({"start": _local_iso(start, site.timezone),
                         "end": _local_iso(end, site.timezone), "capacity": cap,
                         "booked": booked, "confirmed": c.get("confirmed", 0),
                         "checked_in": c.get("checked_in", 0), "no_show": c.get("no_show", 0),
                         "cancelled": c.get("cancelled", 0), "held": c.get("held", 0)})
        if rows:
            total_cap = cap * len(slot_list)
            used = sum(r["booked"] for r in rows)
            out_services.append({
                "service": service.code,
                "name": {"vi": service.name_vi, "en": service.name_en},
                "online_share": ap.online_share(service.online_share),
                "capacity": total_cap, "booked": used,
                "share_used": round(used / total_cap, 3) if total_cap else None,
                "slots": rows,
            })
    affected = [
        {"ref": b.ref, "service": b.service.code, "start": _local_iso(b.slot_start, site.timezone),
         "status": b.status, "phone": masked(b.phone) if b.phone else None,
         "notified": b.phone is not None,
         "cancelled_at": _local_iso(b.cancelled_at, site.timezone) if b.cancelled_at else None}
        for b in session.scalars(select(Booking).where(
            Booking.site_id == site.id, Booking.cancel_reason == "day_closed",
            Booking.business_day >= day).order_by(Booking.slot_start))
    ]
    return {"site": site.code, "day": day.isoformat(), "timezone": site.timezone,
            "settings": st.view(), "services": out_services, "affected": affected}


# --- the proof-of-work challenge (one use each) ---------------------------------------------


def use_challenge(session: Session, challenge: str, expires_at: dt.datetime,
                  now: dt.datetime) -> bool:
    """Record a solved challenge; False when it was used before (a replayed solution). Old
    rows go on the way."""
    session.execute(
        BookingChallenge.__table__.delete().where(BookingChallenge.expires_at < now)
    )
    inserted = session.execute(
        insert_for(session, BookingChallenge)
        .values(challenge=challenge[:128], used_at=now, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["challenge"])
        .returning(BookingChallenge.challenge)
    ).first()
    return inserted is not None
