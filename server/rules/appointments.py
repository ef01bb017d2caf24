"""Appointments booked ahead: pure decisions (no database, no Flask).

- **Slots** of a day come from the site's opening hours (``rules.opening_hours``): each opening
  interval is cut into slots of ``slot_minutes`` (a last piece shorter than a slot is not
  offered), none on a holiday or a closed weekday, none starting at or after the service's
  last-ticket time. A site without opening hours offers ``DEFAULT_HOURS`` (Monday to Friday,
  08:00-16:00, the hours Hà Nội's online numbers are valid).
- **Capacity** of a slot for a service: ``floor(counters x slot minutes / mean service minutes
  x online share)``, where ``counters`` is the service's share of the site's counters (each
  counter serving it counts by its share of its own work profile, as the wait estimate counts
  them: ``rules.advice.shares`` and ``rules.eta.capacity``) and the mean service minutes are
  ``rules.eta.mean_service_minutes``. The rest of the slot stays for walk-ins.
- **What holds a place**: a held booking until its hold ends, a confirmed or checked-in one,
  and a cancelled one until its quarantine ends (``released_at``), so a place cannot be
  handed from one person to another by cancelling. No-shows and expired holds hold nothing.
- **Check-in verdict**: from ``checkin_before_minutes`` before the slot's start to
  ``checkin_after_minutes`` after it: in the window; earlier: too early (come back from the
  window's start); later: late (a walk-in ticket, said plainly).
- **Placement**: a checked-in booked ticket enters the line as if it had arrived at its slot's
  start: ``queue_pos = queue_position_key(slot start)``, and the routing's urgency counts from
  the same instant (``placed_at``), never from the check-in time. Walk-ins who came before
  the slot are called first; the booked citizen does not wait long after the slot. The class
  (priority or normal) is the citizen's, so a booking never jumps the statutory priority
  interleave: it only orders the ticket inside its class.
- **No-shows**: a confirmed booking not checked in by the end of its window is a no-show;
  ``no_show_limit`` no-shows within ``no_show_days`` refuse new bookings for that ID number for
  ``no_show_block_days`` after the last one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from server.rules.advice import shares
from server.rules.calendar import queue_position_key, zone
from server.rules.eta import capacity as serving_capacity
from server.rules.eta import mean_service_minutes
from server.rules.fields import (
    BOOKING_SETTINGS,
    ONLINE_SHARE_DEFAULT,
    UNAMBIGUOUS_ALPHABET,
    parse_hhmm,
)
from server.rules.opening_hours import intervals_of

#: Hours offered for booking at a site that has set no opening hours.
DEFAULT_HOURS: dict[str, list[list[str]]] = {
    str(d): [["08:00", "16:00"]] for d in range(5)
}

STATUSES = ("held", "confirmed", "checked_in", "no_show", "cancelled", "expired")
ACTIVE = ("held", "confirmed")  # may still be checked in, cancelled, or lapse
CODE_LENGTH = 6
CODE_ALPHABET = UNAMBIGUOUS_ALPHABET
OTP_LENGTH = 6
OTP_TTL = dt.timedelta(minutes=5)
OTP_MAX_ATTEMPTS = 5
REMINDER_LOCAL_TIME = dt.time(17, 0)  # the reminder goes out the day before, at this hour
ID_NUMBER = re.compile(r"^\d{12}$")  # the citizen identity card number (CCCD)
PHONE = re.compile(r"^0\d{9}$")  # a Vietnamese mobile number, national format


@dataclass(frozen=True)
class BookingSettings:
    """A site's booking settings; defaults from ``rules.fields.BOOKING_SETTINGS``."""

    slot_minutes: int = BOOKING_SETTINGS["slot_minutes"][0]
    horizon_days: int = BOOKING_SETTINGS["horizon_days"][0]
    hold_minutes: int = BOOKING_SETTINGS["hold_minutes"][0]
    checkin_before_minutes: int = BOOKING_SETTINGS["checkin_before_minutes"][0]
    checkin_after_minutes: int = BOOKING_SETTINGS["checkin_after_minutes"][0]
    per_day: int = BOOKING_SETTINGS["per_day"][0]
    per_service_day: int = BOOKING_SETTINGS["per_service_day"][0]
    no_show_limit: int = BOOKING_SETTINGS["no_show_limit"][0]
    no_show_days: int = BOOKING_SETTINGS["no_show_days"][0]
    no_show_block_days: int = BOOKING_SETTINGS["no_show_block_days"][0]
    cancel_quarantine_minutes: int = BOOKING_SETTINGS["cancel_quarantine_minutes"][0]

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any] | None) -> BookingSettings:
        """The settings a site stores (``sites.booking``, already checked by
        ``rules.fields.booking_settings``); unknown keys and bad values fall back to the
        default so a bad row never stops the booking page."""
        names = {f.name for f in fields(cls)}
        kept: dict[str, int] = {}
        for key, value in (stored or {}).items():
            if key in names and isinstance(value, int) and not isinstance(value, bool):
                _d, lo, hi = BOOKING_SETTINGS[key]
                if lo <= value <= hi:
                    kept[key] = value
        return cls(**kept)

    def view(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def slot(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.slot_minutes)


def online_share(stored: float | None) -> float:
    """A service's online share; NULL: the default (50 %)."""
    if stored is None or not 0 <= stored <= 1:
        return ONLINE_SHARE_DEFAULT
    return float(stored)


# --- slots ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    start: dt.datetime  # UTC
    end: dt.datetime  # UTC


def day_slots(
    hours: Mapping[str, Any] | None,
    holidays: Collection[dt.date],
    day: dt.date,
    tz: str,
    slot_minutes: int,
    last_ticket_time: dt.time | None = None,
) -> list[Slot]:
    """The slots of a local day, in order: none on a holiday or a closed weekday."""
    if day in holidays:
        return []
    ivs = intervals_of(hours if hours is not None else DEFAULT_HOURS, day.weekday())
    assert ivs is not None
    length = dt.timedelta(minutes=slot_minutes)
    tzinfo = zone(tz)
    out: list[Slot] = []
    for a, b in ivs:
        start = dt.datetime.combine(day, a, tzinfo)
        end = dt.datetime.combine(day, b, tzinfo)
        while start + length <= end:
            if last_ticket_time is not None and start.timetz().replace(tzinfo=None) >= (
                last_ticket_time
            ):
                break
            out.append(Slot(start.astimezone(dt.UTC), (start + length).astimezone(dt.UTC)))
            start += length
    return out


def parse_last_ticket_time(value: str | None) -> dt.time | None:
    if not value:
        return None
    try:
        return parse_hhmm(value)
    except ValueError:
        return None  # a bad stored value never stops the booking page


def bookable_days(today: dt.date, horizon_days: int) -> list[dt.date]:
    """today .. today + horizon (closed days have no slots and are left out by the caller)."""
    return [today + dt.timedelta(days=k) for k in range(horizon_days + 1)]


def slot_capacity(
    counters: float, slot_minutes: int, service_minutes: float, share: float
) -> int:
    """Places offered online in one slot: floor(counters x slot / mean service x share)."""
    if counters <= 0 or service_minutes <= 0 or share <= 0:
        return 0
    # A hair of tolerance so 2 x 30 / 6 x 0.5 is 5, not 4 by floating-point rounding.
    return max(math.floor(counters * slot_minutes / service_minutes * share + 1e-9), 0)


def counters_serving(profiles: Iterable[Mapping[str, float]], service_code: str) -> float:
    """The service's share of the counters whose work profiles (service code -> weight)
    include it: each counter by its share of its own profile."""
    return serving_capacity(shares(p).get(service_code, 0.0) for p in profiles)


def expected_capacity(
    profiles: Iterable[Mapping[str, float]],
    service_code: str,
    default_service_minutes: float,
    recent_service_minutes: Sequence[float],
    slot_minutes: int,
    share: float,
) -> int:
    """A slot's online places for a service from the site's counters and service times."""
    minutes = mean_service_minutes(recent_service_minutes, default_service_minutes)
    return slot_capacity(counters_serving(profiles, service_code), slot_minutes, minutes, share)


def holds_place(
    status: str,
    hold_until: dt.datetime | None,
    released_at: dt.datetime | None,
    now: dt.datetime,
) -> bool:
    """Whether a booking takes one of its slot's places at ``now`` (the same condition is
    written in SQL by ``features.bookings``)."""
    if status == "held":
        return hold_until is not None and hold_until > now
    if status in ("confirmed", "checked_in"):
        return True
    if status == "cancelled":
        return released_at is not None and released_at > now
    return False


def bookable_slot(slot_start: dt.datetime, now: dt.datetime, settings: BookingSettings) -> bool:
    """A slot can still be booked while its check-in window is ahead or open: a citizen
    booking at 09:05 for the 09:00 slot can still check in until 09:15."""
    return now < slot_start + dt.timedelta(minutes=settings.checkin_after_minutes)


# --- check-in and placement -----------------------------------------------------------------

TOO_EARLY = "too_early"
IN_WINDOW = "in_window"
LATE = "late"


@dataclass(frozen=True)
class Verdict:
    kind: str  # too_early | in_window | late
    opens_at: dt.datetime  # the window's start (UTC): "come back from"
    closes_at: dt.datetime  # the window's end (UTC): after it, a no-show


def checkin_window(
    slot_start: dt.datetime, settings: BookingSettings
) -> tuple[dt.datetime, dt.datetime]:
    return (
        slot_start - dt.timedelta(minutes=settings.checkin_before_minutes),
        slot_start + dt.timedelta(minutes=settings.checkin_after_minutes),
    )


def checkin_verdict(
    slot_start: dt.datetime, now: dt.datetime, settings: BookingSettings
) -> Verdict:
    opens, closes = checkin_window(slot_start, settings)
    if now < opens:
        return Verdict(TOO_EARLY, opens, closes)
    if now > closes:
        return Verdict(LATE, opens, closes)
    return Verdict(IN_WINDOW, opens, closes)


def placement(slot_start: dt.datetime) -> dt.datetime:
    """The instant a checked-in booked ticket is placed at in its line: its slot's start."""
    return slot_start


def placement_key(slot_start: dt.datetime) -> int:
    """The booked ticket's ``queue_pos``: as if it had arrived at its slot's start."""
    return queue_position_key(placement(slot_start))


def no_show_due(slot_start: dt.datetime, settings: BookingSettings) -> dt.datetime:
    """A confirmed booking not checked in by then is a no-show."""
    return checkin_window(slot_start, settings)[1]


def blocked_until(
    no_shows: Sequence[dt.datetime], now: dt.datetime, settings: BookingSettings
) -> dt.datetime | None:
    """Until when an ID number may not book, after repeated no-shows (None: it may)."""
    since = now - dt.timedelta(days=settings.no_show_days)
    recent = sorted(t for t in no_shows if t >= since)
    if len(recent) < settings.no_show_limit:
        return None
    until = recent[-1] + dt.timedelta(days=settings.no_show_block_days)
    return until if until > now else None


def person_limit(
    same_day: int, same_service_day: int, settings: BookingSettings
) -> str | None:
    """The limit a new booking would break (an error code), given the person's bookings that
    hold a place that day (all services, and this service), or None."""
    if same_service_day >= settings.per_service_day:
        return "booking_limit_service"
    if same_day >= settings.per_day:
        return "booking_limit_day"
    return None


def reminder_at(slot_start: dt.datetime, tz: str, now: dt.datetime) -> dt.datetime | None:
    """When the day-before reminder goes out (local ``REMINDER_LOCAL_TIME`` the day before the
    slot), or None when that time has passed (booked the same day or the evening before)."""
    day = slot_start.astimezone(zone(tz)).date() - dt.timedelta(days=1)
    at = dt.datetime.combine(day, REMINDER_LOCAL_TIME, zone(tz)).astimezone(dt.UTC)
    return at if at > now else None


# --- identifiers ----------------------------------------------------------------------------


def id_digest(key: bytes, id_number: str) -> str:
    """The keyed hash an ID number is stored and looked up by (HMAC-SHA256, hex)."""
    return hmac.new(key, id_number.encode("ascii"), hashlib.sha256).hexdigest()


def secret_digest(secret: str) -> str:
    """The hash a booking's page token or one-time code is stored as."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def normalise_code(value: str) -> str:
    """A kiosk code as typed or scanned: upper case, spaces and dashes dropped."""
    return re.sub(r"[\s-]", "", value).upper()


def valid_code(value: str) -> bool:
    return len(value) == CODE_LENGTH and all(c in CODE_ALPHABET for c in value)
