"""The display's calls in MP3 pieces (``/display/audio/<tag>/<lang>/<kind>/<value>.mp3``):
small (a speech bitrate), kept by the display (immutable under the voice's tag), synthesised
once per piece, strict about every part, and the chime as an MP3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.web.speech import MP3_KBPS, Speech, part_ssml, spoken_ssml
from tests.conftest import Api
from tests.integration import test_display_audio as audio_tests
from tests.integration.test_display_audio import get, real_engine, runs, use_speech

# The fixtures of the whole-phrase tests (a SQLite app with the display, a fake engine).
db_url = audio_tests.db_url
display_app = audio_tests.display_app
fake_engine = audio_tests.fake_engine

# MPEG-2 layer III bit rates (kbit/s) by the header's index, for 22.05 kHz files.
MPEG2_L3_KBPS = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]


def first_frame(data: bytes) -> tuple[int, int]:
    """The sample rate and bit rate of the first MP3 frame (after an ID3 tag if any)."""
    i = 0
    if data[:3] == b"ID3":
        size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
        i = 10 + size
    assert data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0, "no MP3 frame sync"
    version = (data[i + 1] >> 3) & 3  # 2: MPEG-2
    assert version == 2 and (data[i + 1] >> 1) & 3 == 1, "not MPEG-2 layer III"
    rates = [22050, 24000, 16000]
    return rates[(data[i + 2] >> 2) & 3], MPEG2_L3_KBPS[data[i + 2] >> 4]


def test_pieces_are_small_mp3_kept_by_the_display_and_made_once(
    display_app: Any, api: Api, tmp_path: Path
) -> None:
    speech = use_speech(display_app, Speech(tmp_path / "audio", real_engine()))
    tag = speech.voice_tag
    sizes = {}
    for lang in ("vi", "en"):
        for kind, value in (("call", "A042"), ("counter", "3"), ("missed", "all")):
            r = get(api, f"/display/audio/{tag}/{lang}/{kind}/{value}.mp3")
            assert r.status_code == 200, r.get_json()
            assert r.mimetype == "audio/mpeg"
            assert r.headers["Cache-Control"] == "private, max-age=86400, immutable"
            assert r.headers["X-Speech-Voice"] == lang
            rate, kbps = first_frame(r.data)  # LAME may resample a voice to 16 kHz
            assert kbps == MP3_KBPS and rate in (16000, 22050)
            sizes[(lang, kind)] = len(r.data)
    # A call (number piece + counter piece, both languages) is a few kB, not ~360 kB of WAV.
    call = sum(sizes[(lang, k)] for lang in ("vi", "en") for k in ("call", "counter"))
    assert call < 24_000, sizes
    assert sizes[("vi", "call")] < 8_000 and sizes[("en", "call")] < 8_000, sizes
    # The same piece again comes from the cache, with an ETag for revalidation.
    again = get(api, f"/display/audio/{tag}/vi/counter/3.mp3")
    assert again.status_code == 200 and again.headers.get("ETag")
    # An address with an older tag (a page loaded before an upgrade): the current sound,
    # kept only a few minutes.
    old = get(api, "/display/audio/0000000000/vi/counter/3.mp3")
    assert old.status_code == 200 and old.headers["Cache-Control"] == "private, max-age=300"


def test_pieces_are_synthesised_once_with_their_own_wording(
    display_app: Any, api: Api, tmp_path: Path, fake_engine: Any
) -> None:
    engine, log = fake_engine
    speech = use_speech(display_app, Speech(tmp_path / "audio", engine))
    for _ in range(3):
        assert get(api, f"/display/audio/{speech.voice_tag}/vi/counter/12.mp3").status_code == 200
    assert runs(log) == ["vi"]  # made once, then served from the cache
    text = log.read_text("utf-8")
    assert "đến quầy số 12." in text
    # Said one after the other, the pieces make the whole call.
    assert part_ssml("vi", "call", "A042")[len("<speak>"):-len("</speak>")] + " " + \
        part_ssml("vi", "counter", 12)[len("<speak>"):-len("</speak>")] == \
        spoken_ssml("vi", "A042", 12)[len("<speak>"):-len("</speak>")]
    assert "Quý khách" in part_ssml("vi", "missed", None)


def test_every_part_is_checked_and_the_token_required(
    display_app: Any, api: Api, tmp_path: Path, fake_engine: Any
) -> None:
    engine, log = fake_engine
    speech = use_speech(display_app, Speech(tmp_path / "audio", engine))
    tag = speech.voice_tag
    for path, part in (
        (f"/display/audio/{tag}/fr/call/A042.mp3", "lang"),
        (f"/display/audio/{tag}/vi/call/a042.mp3", "number"),
        (f"/display/audio/{tag}/vi/counter/0.mp3", "counter"),
        (f"/display/audio/{tag}/vi/counter/03.mp3", "counter"),
        (f"/display/audio/{tag}/vi/missed/A042.mp3", "value"),
        (f"/display/audio/{tag}/vi/shout/A042.mp3", "kind"),
    ):
        r = get(api, path)
        assert r.status_code == 422, path
        assert r.get_json()["error"]["code"] == "validation_error"
        assert part in r.get_json()["error"]["message"], path
    assert get(api, f"/display/audio/{tag}/vi/call/A042.mp3", role=None).status_code == 401
    assert get(api, f"/display/audio/{tag}/vi/call/A042.mp3", role="kiosk").status_code == 403
    assert runs(log) == []  # nothing synthesised for a refused request


def test_no_engine_answers_503_and_the_chime_is_a_public_mp3(
    display_app: Any, api: Api, tmp_path: Path
) -> None:
    speech = use_speech(display_app, Speech(tmp_path / "audio", None, unavailable_reason="off"))
    r = get(api, f"/display/audio/{speech.voice_tag}/vi/call/A042.mp3")
    assert r.status_code == 503 and r.headers["Retry-After"] == "300"
    chime = get(api, f"/display/audio/{speech.voice_tag}/chime.mp3", role=None)
    assert chime.status_code == 200 and chime.mimetype == "audio/mpeg"
    assert "public" in chime.headers["Cache-Control"]
    assert first_frame(chime.data)[1] == 32 and len(chime.data) < 10_000
    again = api.call("GET", f"/display/audio/{speech.voice_tag}/chime.mp3",
                     headers={"If-None-Match": chime.headers["ETag"]})
    assert again.status_code == 304
