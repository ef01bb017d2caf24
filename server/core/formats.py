"""How values are written: in API answers and events (``iso``), and in text people read.

Text follows the language it is written in (docs/glossary.md): Vietnamese has a decimal comma
and a dot between thousands ("1,9 phút", "4.500"), dates ``dd/mm/yyyy`` and 24-hour ``HH:MM``
times, never an ISO date; English keeps its own ("1.9", "4,500"). Babel's CLDR data writes the
numbers; instants are shown in the site's time zone. The pages' script has the same formatter
(``num``, ``localTime``, ``localDate`` in ``server/static/js/motcua.js``); a test runs both on the
same values."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_decimal

from server.rules.calendar import DEFAULT_TZ

LOCALES = {"vi": "vi_VN", "en": "en_GB"}
# (date, time, date and time) patterns per language; en_GB's own order for English.
PATTERNS = {
    "vi": ("dd/MM/yyyy", "HH:mm", "HH:mm dd/MM/yyyy"),
    "en": ("dd/MM/yyyy", "HH:mm", "dd/MM/yyyy, HH:mm"),
}


def iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if t else None


def _locale(lang: str) -> str:
    return LOCALES.get(lang, LOCALES["vi"])


def number(x: float | int | Decimal | None, lang: str = "vi", digits: int = 1) -> str:
    """``x`` with at most ``digits`` decimals (trailing zeros dropped), grouped by thousands:
    vi ``1,9`` ``4.500``; en ``1.9`` ``4,500``; "–" for no value. Halves round away from
    zero on the exact value of ``x`` (as JavaScript's ``toFixed`` does, so the pages agree)."""
    if x is None:
        return "–"
    value = Decimal(x) if not isinstance(x, Decimal) else x
    if not value.is_finite():
        return "–"
    step = Decimal(1).scaleb(-digits)
    rounded = abs(value).quantize(step, rounding=ROUND_HALF_UP)
    if value < 0 and rounded != 0:
        rounded = -rounded
    pattern = "#,##0" + ("." + "#" * digits if digits > 0 else "")
    return format_decimal(rounded, format=pattern, locale=_locale(lang))


def _at(t: dt.datetime, tz: str | None) -> dt.datetime:
    if t.tzinfo is None:  # stored UTC without a zone (SQLite)
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(ZoneInfo(tz or DEFAULT_TZ))


def date(t: dt.date | dt.datetime | None, lang: str = "vi", tz: str | None = None) -> str:
    """``18/05/2026``: a day, or the day of an instant in the site's zone ("" for none)."""
    if t is None:
        return ""
    if isinstance(t, dt.datetime):
        t = _at(t, tz).date()
    return t.strftime("%d/%m/%Y")


def time(t: dt.datetime | None, lang: str = "vi", tz: str | None = None) -> str:
    """``09:30`` in the site's zone ("" for none)."""
    if t is None:
        return ""
    return format_datetime(_at(t, tz), PATTERNS.get(lang, PATTERNS["vi"])[1],
                           locale=_locale(lang))


def datetime(t: dt.datetime | None, lang: str = "vi", tz: str | None = None) -> str:
    """vi ``09:30 18/05/2026``, en ``18/05/2026, 09:30`` in the site's zone ("" for none)."""
    if t is None:
        return ""
    return format_datetime(_at(t, tz), PATTERNS.get(lang, PATTERNS["vi"])[2],
                           locale=_locale(lang))
