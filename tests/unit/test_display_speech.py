"""Wall display audio, the pure parts: what is said, what is accepted, the chime, the options."""

from __future__ import annotations

import io
import logging
import wave
from pathlib import Path

import pytest

from display.options import parse_options
from server.web.speech import (
    VOICES,
    Engine,
    InvalidPart,
    Speech,
    SpeechUnavailable,
    TicketDetails,
    chime_wav,
    display_phrase,
    read_samples,
    rms,
    spoken_ssml,
    ticket_phrase,
    validate,
    validate_details,
)

# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "number", "counter", "expected"),
    [
        ("vi", "A042", "3", ("vi", "A042", 3)),
        ("en", "B001", "12", ("en", "B001", 12)),
        ("vi", "AB1234", "999", ("vi", "AB1234", 999)),
        ("vi", "E100", 7, ("vi", "E100", 7)),
    ],
)
def test_good_parts_pass(lang: str, number: str, counter: str | int,
                         expected: tuple[str, str, int]) -> None:
    assert validate(lang, number, counter) == expected


@pytest.mark.parametrize(
    ("lang", "number", "counter", "bad"),
    [
        ("fr", "A042", "3", "lang"),
        ("VI", "A042", "3", "lang"),
        ("", "A042", "3", "lang"),
        ("vi", "a042", "3", "number"),
        ("vi", "A42", "3", "number"),  # the daily number has at least 3 digits
        ("vi", "042", "3", "number"),  # and a service prefix
        ("vi", "ABCDE042", "3", "number"),
        ("vi", "A04200", "3", "number"),
        ("vi", "A０４２", "3", "number"),  # full-width digits
        ("vi", "A042\n", "3", "number"),
        ("vi", "../A042", "3", "number"),
        ("vi", "A042", "0", "counter"),
        ("vi", "A042", "1000", "counter"),
        ("vi", "A042", "03", "counter"),
        ("vi", "A042", "-3", "counter"),
        ("vi", "A042", "3 ", "counter"),
        ("vi", "A042", "３", "counter"),
        ("vi", "A042", True, "counter"),
        ("vi", "A042", 0, "counter"),
    ],
)
def test_bad_parts_are_named(lang: str, number: str, counter: object, bad: str) -> None:
    with pytest.raises(InvalidPart) as err:
        validate(lang, number, counter)  # type: ignore[arg-type]
    assert err.value.part == bad


# --- phrases --------------------------------------------------------------------------------


def test_phrases_as_people_read_them() -> None:
    assert display_phrase("vi", "A042", 3) == "Mời số A042, đến quầy số 3."
    assert display_phrase("en", "A042", 3) == "Number A042, please go to counter 3."


def test_the_kiosk_phrase_says_number_service_and_people_ahead() -> None:
    """One wording for a ticket's phrase (the displays' function): the kiosk's adds the
    service's name and the people ahead, from the kiosk's catalog entries."""
    vi = ticket_phrase("vi", "A042", None, TicketDetails("civil", "Hộ tịch", 3))
    en = ticket_phrase("en", "A042", None, TicketDetails("civil", "Civil status", 3))
    assert vi == "Số của Quý khách là A042. Hộ tịch. 3 người chờ trước Quý khách."
    assert en == "Your number is A042. Civil status. 3 people before you."
    assert ticket_phrase("vi", "A042", None) == "Số của Quý khách là A042."
    spelled = '<say-as interpret-as="characters">A042</say-as>'
    assert spoken_ssml("en", "A042", None, TicketDetails("x", "Land & <housing>", 0)) == (
        f"<speak>Your number is {spelled}. Land &amp; &lt;housing&gt;. 0 people before you."
        "</speak>")


@pytest.mark.parametrize(("service", "ahead", "bad"), [
    ("civil", None, "ahead"), (None, "3", "service"), ("a b", "3", "service"),
    ("civil", "-1", "ahead"), ("civil", "03", "ahead"), ("civil", "10000", "ahead"),
])
def test_kiosk_details_are_checked(service: str | None, ahead: str | None, bad: str) -> None:
    with pytest.raises(InvalidPart) as err:
        validate_details(service, ahead)
    assert err.value.part == bad
    assert validate_details(None, None) is None
    assert validate_details("civil", "12") == ("civil", 12)


def test_the_kiosk_phrase_is_cached_per_service_and_people_ahead() -> None:
    s = Speech("/c", Engine("espeak-ng", "1.51", ("x",)))
    a = s.cache_path("vi", "A042", None, TicketDetails("civil", "Hộ tịch", 3))
    b = s.cache_path("vi", "A042", None, TicketDetails("civil", "Hộ tịch", 4))
    renamed = s.cache_path("vi", "A042", None, TicketDetails("civil", "Hộ tịch – Chứng thực", 3))
    assert a.name.startswith("A042-ticket-civil-3.") and len({a, b, renamed}) == 3


def test_spoken_text_spells_the_number_and_says_the_counter() -> None:
    vi = spoken_ssml("vi", "A042", 12)
    en = spoken_ssml("en", "A042", 12)
    spelled = '<say-as interpret-as="characters">A042</say-as>'
    assert vi == f"<speak>Mời số {spelled}, đến quầy số 12.</speak>"
    assert en == f"<speak>Number {spelled}, please go to counter 12.</speak>"


def test_spoken_text_refuses_what_it_cannot_check() -> None:
    with pytest.raises(InvalidPart):
        spoken_ssml("vi", "<A042>", 3)


def test_each_language_has_its_own_voice() -> None:
    assert VOICES == {"vi": "vi", "en": "en"}


def test_engine_command_puts_the_voice_and_the_file_in_place() -> None:
    engine = Engine("espeak-ng", "1.51", ("espeak-ng", "-m", "-s", "{rate}", "-v", "{voice}",
                                           "-w", "{out}", "--stdin"))
    cmd = engine.command("vi", Path("/tmp/x.wav"))
    assert cmd == ["espeak-ng", "-m", "-s", "150", "-v", "vi", "-w", "/tmp/x.wav", "--stdin"]


def test_cache_names_differ_by_language_and_engine() -> None:
    a = Engine("espeak-ng", "1.51", ("x",))
    b = Engine("espeak-ng", "1.52", ("x",))
    sa, sb = Speech("/c", a), Speech("/c", b)  # nothing is read or written until a request
    vi, en = sa.cache_path("vi", "A042", 3), sa.cache_path("en", "A042", 3)
    assert vi.parent == Path("/c/vi") and en.parent == Path("/c/en")
    assert vi.name.startswith("A042-3.") and vi.suffix == ".wav"
    assert sa.cache_path("vi", "A042", 3) == vi  # stable
    assert sb.cache_path("vi", "A042", 3) != vi  # a new engine never serves an old file


def test_without_an_engine_it_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="motcua.speech")
    s = Speech("/nonexistent-motcua-audio", None, unavailable_reason="espeak-ng: not found")
    for _ in range(3):
        with pytest.raises(SpeechUnavailable):
            s.phrase_wav("vi", "A042", 3)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].__dict__["event"] == "speech_unavailable"
    assert warnings[0].__dict__["reason"] == "espeak-ng: not found"
    assert not s.available


def test_bad_parts_are_refused_before_the_engine_is_asked() -> None:
    s = Speech("/nonexistent-motcua-audio", None)
    with pytest.raises(InvalidPart):
        s.phrase_wav("vi", "A042", "0")


# --- the chime ------------------------------------------------------------------------------


def test_chime_is_a_valid_audible_wav_without_clipping() -> None:
    data = chime_wav()
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
        assert 1.0 <= w.getnframes() / w.getframerate() <= 2.5
    samples, _ = read_samples(data)
    assert rms(samples) > 0.05
    assert max(abs(s) for s in samples) < 32000
    assert abs(samples[0]) < 500 and abs(samples[-1]) < 500  # no click at either end
    assert chime_wav() is data  # made once


def test_rms_of_silence_is_zero() -> None:
    from array import array

    assert rms(array("h", [0] * 100)) == 0.0
    assert rms(array("h")) == 0.0


# --- options --------------------------------------------------------------------------------


def test_options_default_to_vietnamese_then_english_once_at_full_volume() -> None:
    assert parse_options({}) == {"lang": "vi", "voices": ["vi", "en"], "repeat": 1,
                                 "volume": 1.0, "recent": 6, "chime": True}


def test_options_from_the_address() -> None:
    opts = parse_options({"lang": "en", "voices": "en,vi,en,fr", "repeat": "2",
                          "volume": "0.8", "recent": "4", "chime": "0"})
    assert opts == {"lang": "en", "voices": ["en", "vi"], "repeat": 2, "volume": 0.8,
                    "recent": 4, "chime": False}


@pytest.mark.parametrize(
    ("args", "key", "value"),
    [
        ({"repeat": "99"}, "repeat", 3),
        ({"repeat": "0"}, "repeat", 1),
        ({"repeat": "x"}, "repeat", 1),
        ({"volume": "2"}, "volume", 1.0),
        ({"volume": "-1"}, "volume", 0.0),
        ({"volume": "nan"}, "volume", 1.0),
        ({"recent": "50"}, "recent", 10),
        ({"lang": "fr"}, "lang", "vi"),
        ({"voices": ""}, "voices", []),
        ({"voices": "none"}, "voices", []),
        ({"voices": "vi"}, "voices", ["vi"]),
    ],
)
def test_options_out_of_range_are_clamped(args: dict[str, str], key: str, value: object) -> None:
    assert parse_options(args)[key] == value
