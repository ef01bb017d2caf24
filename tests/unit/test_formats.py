"""Numbers and dates in text (server/core/formats.py): Vietnamese decimal comma and
dd/mm/yyyy HH:MM in the site's zone, English its own, never an ISO date."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from server.core import formats


def test_vietnamese_numbers_have_a_decimal_comma_and_dot_thousands() -> None:
    assert formats.number(1.9) == "1,9"
    assert formats.number(1.9, "en") == "1.9"
    assert formats.number(4500) == "4.500"
    assert formats.number(4500, "en") == "4,500"
    assert formats.number(1234567.25, "vi", 2) == "1.234.567,25"
    assert formats.number(2.0) == "2"  # no ",0"
    assert formats.number(0.25) == "0,3"  # halves away from zero, as the pages do
    assert formats.number(-1.25) == "-1,3"
    assert formats.number(-0.04) == "0"  # no "-0"
    assert formats.number(7.6, "vi", 0) == "8"
    assert formats.number(None) == "–"
    assert formats.number(float("nan")) == "–"


def _parse(text: str, lang: str) -> Decimal:
    group, point = (".", ",") if lang == "vi" else (",", ".")
    return Decimal(text.replace(group, "").replace(point, "."))


@given(
    x=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
    digits=st.integers(min_value=0, max_value=3),
    lang=st.sampled_from(["vi", "en"]),
)
def test_a_written_number_reads_back_as_the_rounded_value(x: float, digits: int,
                                                          lang: str) -> None:
    text = formats.number(x, lang, digits)
    step = Decimal(1).scaleb(-digits)
    expected = abs(Decimal(x)).quantize(step, rounding=ROUND_HALF_UP)
    assert abs(_parse(text, lang)) == expected
    assert text.startswith("-") == (x < 0 and expected != 0)
    group, point = (".", ",") if lang == "vi" else (",", ".")
    whole, _, frac = text.lstrip("-").partition(point)
    assert len(frac) <= digits and not frac.endswith("0")
    # Thousands grouped by three, and only there.
    assert re.fullmatch(r"\d{1,3}(" + re.escape(group) + r"\d{3})*", whole), text


def test_dates_and_times_in_the_sites_zone() -> None:
    t = dt.datetime(2026, 5, 18, 17, 30, tzinfo=dt.UTC)  # 00:30 on the 19th in Hà Nội
    assert formats.date(t) == "19/05/2026"
    assert formats.time(t) == "00:30"
    assert formats.datetime(t) == "00:30 19/05/2026"
    assert formats.datetime(t, "en") == "19/05/2026, 00:30"
    assert formats.datetime(t, "vi", "UTC") == "17:30 18/05/2026"
    assert formats.date(dt.date(2026, 1, 2)) == "02/01/2026"
    assert formats.datetime(t.replace(tzinfo=None)) == "00:30 19/05/2026"  # naive = UTC
    assert formats.date(None) == formats.time(None) == formats.datetime(None) == ""


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                    timezones=st.just(dt.UTC)))
def test_vietnamese_text_never_holds_an_iso_date(t: dt.datetime) -> None:
    for text in (formats.date(t), formats.datetime(t), formats.time(t)):
        assert not re.search(r"\d{4}-\d{2}-\d{2}", text)
    assert re.fullmatch(r"\d{2}:\d{2} \d{2}/\d{2}/\d{4}", formats.datetime(t))
