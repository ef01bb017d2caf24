"""The one set of field rules for sites, services, counters and codes.

Used by the admin console (server/admin.py and its API), the configuration file import
(server/siteconfig.py) and the ``motcua site|service|counter add`` commands, so that whatever
one of them stores the others accept unchanged. Pure: no database, no Flask.

Each rule takes a value and returns it normalised (text is trimmed, colours lower-cased) or
raises :class:`FieldProblem` naming the rule and its message (a key of the catalogs' "fields"
entries, with the figures it needs): the words, in Vietnamese and English, are put together by
``server/core/field_words.py`` (a rule reads no catalog).

Two tiers where the console and the file used to disagree and data outside the stricter rule
may already be stored (a file could import prefix ``A1`` or an SLA of 5000 minutes): a NEW
value must meet the stricter rule; a HELD value (the one already stored on that row, or any
value in a configuration file, which is the export of held data) is accepted within the wider
range the old code could store. Nothing is migrated. See docs/fields.md.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from typing import Any

# PostgreSQL's integer: the most any stored whole number can be.
INT_MAX = 2**31 - 1

# Site, service and priority category codes (case and dots kept: the console always allowed
# them, and tickets, procedures and URLs refer to a code, so a stored one can never be refused).
CODE_MAX = 32
CODE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
# Ticket prefix: capital letters, so that a label (prefix + 3-4 digits, A042) reads back
# unambiguously and the displays can announce it. Files could import digits: held only.
PREFIX = re.compile(r"^[A-Z]{1,4}$")
PREFIX_HELD = re.compile(r"^[A-Z0-9]{1,4}$")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

NAME_MAX = 200  # site and service names, each language
COUNTER_NAME_MAX = 100
TIMEZONE_MAX = 64
AGENCY_CODE_MAX = 64
ADDRESS_MAX = 300
PHONE_MAX = 40
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"

# (lowest, highest new value, highest held value)
SLA_MINUTES = (1, 600, INT_MAX)
DAILY_CAP = (1, 100_000, INT_MAX)
INTERLEAVE_PRIORITY = (1, 20, INT_MAX)
INTERLEAVE_NORMAL = (0, 50, INT_MAX)
COUNTER_NUMBER = (1, 999, INT_MAX)  # the displays announce counters 1..999
SORT_ORDER = (0, 999, INT_MAX)
WEIGHT = (0.1, 100.0)  # a new weight; a held one is any positive finite number


class FieldProblem(ValueError):
    """A value broke a rule: ``rule`` names it; ``message`` (a key of the catalogs' "fields"
    entries) and ``params`` (its figures) say how; ``setting``: the booking setting it is
    about, if any. ``server/core/field_words.py`` words it."""

    def __init__(self, rule: str, message: str, setting: str | None = None,
                 **params: Any) -> None:
        super().__init__(rule, message, setting, params)
        self.rule, self.message, self.setting, self.params = rule, message, setting, params


def _text(value: Any, rule: str, n: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > n:
        raise FieldProblem(rule, "text", n=n)
    return value.strip()


def _pattern(value: Any, rx: re.Pattern[str], rule: str) -> str:
    if not isinstance(value, str) or not rx.match(value.strip()):
        raise FieldProblem(rule, rule)
    return value.strip()


def code(value: Any) -> str:
    """A site, service or priority category code."""
    return _pattern(value, CODE, "code")


site_code = service_code = category_code = code


def name(value: Any) -> str:
    """A site or service name (each language): trimmed, 1 to 200 characters."""
    return _text(value, "name", NAME_MAX)


def counter_name(value: Any) -> str:
    return _text(value, "counter_name", COUNTER_NAME_MAX)


def optional_text(value: Any, n: int) -> str | None:
    """Agency code, address, phone: blank means not set; otherwise at most ``n`` characters."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value.strip()) > n:
        raise FieldProblem("too_long", "too_long", n=n)
    return value.strip()


def agency_code(value: Any) -> str | None:
    return optional_text(value, AGENCY_CODE_MAX)


def address(value: Any) -> str | None:
    return optional_text(value, ADDRESS_MAX)


def phone(value: Any) -> str | None:
    return optional_text(value, PHONE_MAX)


def timezone(value: Any) -> str:
    """An IANA time zone name (Asia/Ho_Chi_Minh)."""
    problem = FieldProblem("timezone", "timezone")
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > TIMEZONE_MAX:
        raise problem
    try:
        zoneinfo.ZoneInfo(value.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise problem from None
    return value.strip()


def prefix(value: Any, held: bool = False) -> str:
    """A ticket prefix: 1-4 capital letters; a held one may also have digits."""
    return _pattern(value, PREFIX_HELD if held else PREFIX, "prefix")


def integer(value: Any, bounds: tuple[int, int, int], held: bool = False) -> int:
    """A whole number within ``bounds`` (lowest, highest new, highest held)."""
    lo, hi_new, hi_held = bounds
    hi = hi_held if held else hi_new
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        if hi >= INT_MAX and lo == 1:
            raise FieldProblem("int_range", "positive_integer")
        if hi >= INT_MAX:
            raise FieldProblem("int_range", "integer_at_least", lo=lo)
        raise FieldProblem("int_range", "integer_range", lo=lo, hi=hi)
    return value


def sla_minutes(value: Any, held: bool = False) -> int:
    return integer(value, SLA_MINUTES, held)


def daily_cap(value: Any, held: bool = False) -> int:
    return integer(value, DAILY_CAP, held)


def interleave_priority(value: Any, held: bool = False) -> int:
    return integer(value, INTERLEAVE_PRIORITY, held)


def interleave_normal(value: Any, held: bool = False) -> int:
    return integer(value, INTERLEAVE_NORMAL, held)


def counter_number(value: Any, held: bool = False) -> int:
    return integer(value, COUNTER_NUMBER, held)


def sort_order(value: Any, held: bool = False) -> int:
    return integer(value, SORT_ORDER, held)


def weight(value: Any, held: bool = False) -> float:
    """A counter's weight for a service: 0.1 to 100; a held one any positive number."""
    lo, hi = WEIGHT
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and (value > 0 if held else lo <= value <= hi)
    )
    if not ok:
        raise FieldProblem("weight", "positive_number" if held else "weight")
    return float(value)


def service_minutes(value: Any) -> float:
    """A service's typical minutes per ticket (used for estimates): a positive number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise FieldProblem("service_minutes", "positive_number")
    return float(value)


def colour(value: Any) -> str:
    """A display colour ``#rrggbb``, stored in lower case."""
    return _pattern(value, COLOUR, "colour").lower()


def parse_hhmm(value: Any) -> dt.time:
    """ "07:30" -> 07:30; anything else (24-hour, two digits each) raises FieldProblem."""
    if not isinstance(value, str) or not HHMM.match(value):
        raise FieldProblem("hhmm", "hhmm")
    h, m = value.split(":")
    return dt.time(int(h), int(m))


def clock_time(value: Any) -> str:
    """A local time "HH:MM" (last-ticket time, dossier cut-off)."""
    v = value.strip() if isinstance(value, str) else value
    parse_hhmm(v)
    return v


# --- appointments ---------------------------------------------------------------------------

#: Letters and digits nobody confuses when reading or typing them (no 0/O, 1/I): pairing
#: codes and the 6-character booking codes typed at the kiosk.
UNAMBIGUOUS_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

#: A site's booking settings (``sites.booking``): name -> (default, lowest, highest).
BOOKING_SETTINGS: dict[str, tuple[int, int, int]] = {
    "slot_minutes": (30, 5, 240),  # length of a time slot
    "horizon_days": (6, 0, 60),  # bookable days: today .. today + horizon
    "hold_minutes": (10, 1, 60),  # a held place waits this long for the one-time code
    "checkin_before_minutes": (30, 0, 240),  # check-in opens this long before the slot
    "checkin_after_minutes": (15, 0, 240),  # ... and closes this long after its start
    "per_day": (2, 1, 20),  # bookings per ID number per day (all services)
    "per_service_day": (1, 1, 20),  # bookings per ID number per day for one service
    "no_show_limit": (3, 1, 100),  # this many no-shows within no_show_days ...
    "no_show_days": (90, 1, 3650),
    "no_show_block_days": (30, 1, 3650),  # ... refuse new bookings for this long
    "cancel_quarantine_minutes": (15, 0, 1440),  # a cancelled place comes back after this
}
ONLINE_SHARE_DEFAULT = 0.5


def booking_settings(value: Any) -> dict[str, int] | None:
    """A site's booking settings: a mapping of some of ``BOOKING_SETTINGS`` to whole numbers in
    range (the others take their defaults); ``None`` or ``{}`` stays ``None`` (defaults)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FieldProblem("booking", "booking_mapping")
    out: dict[str, int] = {}
    for key, v in value.items():
        if key not in BOOKING_SETTINGS:
            raise FieldProblem("booking", "booking_unknown", name=repr(key))
        _default, lo, hi = BOOKING_SETTINGS[key]
        try:
            out[key] = integer(v, (lo, hi, hi))
        except FieldProblem as exc:
            raise FieldProblem("booking", exc.message, key, **exc.params) from None
    if out.get("per_service_day", 1) > out.get("per_day", BOOKING_SETTINGS["per_day"][0]):
        raise FieldProblem("booking", "booking_per_service_day")
    return dict(sorted(out.items())) or None


def online_share(value: Any) -> float:
    """The share of a service's slot capacity offered for booking: 0 (none) to 1 (all)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise FieldProblem("online_share", "online_share")
    return float(value)
