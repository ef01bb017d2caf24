"""The shared field rules (server/rules/fields.py): domains, edges, held ranges, messages."""

from __future__ import annotations

import pytest

from server.core import field_words
from server.rules import fields


@pytest.mark.parametrize("value", ["a", "Land.A", "HT-P1", "x_y", "9" * 32])
def test_codes_accepted(value: str) -> None:
    assert fields.code(value) == value


@pytest.mark.parametrize("value", ["", " ", "a b", "đất", "x" * 33, "a/b", None, 5])
def test_codes_refused(value: object) -> None:
    with pytest.raises(fields.FieldProblem) as exc:
        fields.code(value)
    en, vi = (field_words.say(exc.value, lang) for lang in ("en", "vi"))
    assert exc.value.rule == "code" and "1-32" in en and "1–32" in vi


def test_prefix_new_and_held() -> None:
    assert fields.prefix("ABCD") == "ABCD"
    for bad in ("A1", "1", "a", "ABCDE", "Đ", ""):
        with pytest.raises(fields.FieldProblem):
            fields.prefix(bad)
    assert fields.prefix("A1", held=True) == "A1"
    assert fields.prefix("12", held=True) == "12"
    for bad in ("a1", "ABCDE", "A-"):
        with pytest.raises(fields.FieldProblem):
            fields.prefix(bad, held=True)


def test_integer_ranges_and_messages() -> None:
    assert fields.sla_minutes(1) == 1 and fields.sla_minutes(600) == 600
    with pytest.raises(fields.FieldProblem) as exc:
        fields.sla_minutes(601)
    assert field_words.say(exc.value, "en") == "must be a whole number from 1 to 600"
    assert field_words.sentence(exc.value, "en") == "Must be a whole number from 1 to 600."
    assert field_words.sentence(exc.value) == "Phải là số nguyên từ 1 đến 600."
    assert fields.sla_minutes(5000, held=True) == 5000
    assert fields.sla_minutes(fields.INT_MAX, held=True) == fields.INT_MAX
    for bad in (0, -1, True, 1.5, "20", fields.INT_MAX + 1):
        with pytest.raises(fields.FieldProblem) as exc:
            fields.sla_minutes(bad, held=True)
        assert field_words.say(exc.value, "en") == "must be a positive integer"
    with pytest.raises(fields.FieldProblem) as exc:
        fields.interleave_normal(-1, held=True)
    assert field_words.say(exc.value, "en") == "must be an integer >= 0"
    assert fields.interleave_normal(0) == 0 and fields.interleave_normal(50) == 50
    assert fields.counter_number(999) == 999
    with pytest.raises(fields.FieldProblem):
        fields.counter_number(1000)
    assert fields.counter_number(1000, held=True) == 1000
    assert fields.daily_cap(100_000) == 100_000


def test_weights() -> None:
    assert fields.weight(0.1) == 0.1 and fields.weight(100) == 100.0
    for bad in (0.09, 100.5, 0, float("nan"), float("inf"), True, "1"):
        with pytest.raises(fields.FieldProblem):
            fields.weight(bad)
    assert fields.weight(0.05, held=True) == 0.05
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(fields.FieldProblem) as exc:
            fields.weight(bad, held=True)
        assert field_words.say(exc.value, "en") == "must be a positive number"


def test_texts_are_trimmed_and_limited() -> None:
    assert fields.name("  Đất đai ") == "Đất đai"
    assert fields.name("x" * 200) == "x" * 200
    for bad in ("", "   ", "x" * 201, None):
        with pytest.raises(fields.FieldProblem):
            fields.name(bad)
    assert fields.phone("  ") is None and fields.phone(None) is None
    assert fields.phone(" 0237 ") == "0237"
    with pytest.raises(fields.FieldProblem) as exc:
        fields.phone("1" * 41)
    en, vi = (field_words.say(exc.value, lang) for lang in ("en", "vi"))
    assert en == "at most 40 characters" and vi == "tối đa 40 ký tự"
    assert fields.counter_name("x" * 100) == "x" * 100


def test_timezone_colour_and_time() -> None:
    assert fields.timezone(" Asia/Ho_Chi_Minh ") == "Asia/Ho_Chi_Minh"
    for bad in ("Mars/Olympus", "", "/etc/passwd", "x" * 65, 7):
        with pytest.raises(fields.FieldProblem) as exc:
            fields.timezone(bad)
        en, vi = (field_words.say(exc.value, lang) for lang in ("en", "vi"))
        assert "time zone" in en and "múi giờ" in vi
    assert fields.colour("#1A7F37") == "#1a7f37"
    for bad in ("red", "#fff", "#1a7f3g"):
        with pytest.raises(fields.FieldProblem):
            fields.colour(bad)
    assert fields.clock_time("16:30") == "16:30" and fields.clock_time(" 00:00 ") == "00:00"
    for bad in ("24:00", "7:30", "16:60", 960):
        with pytest.raises(fields.FieldProblem) as exc:
            fields.clock_time(bad)
        assert isinstance(exc.value, ValueError)
        assert field_words.say(exc.value, "en") == "must be a time HH:MM (00:00-23:59)"
