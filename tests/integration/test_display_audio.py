"""Wall display audio through the app: the chime, the spoken call synthesised by a real eSpeak NG
(checked to decode, to be audible and to use the Vietnamese voice for Vietnamese), the cache,
strict checks of every part, no engine, a failing engine. Also the board page itself."""

from __future__ import annotations

import logging
import platform
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.config import Settings
from server.web.speech import Engine, Speech, find_engine, read_samples, rms, spoken_ssml
from tests.conftest import Api, needs

AUDIO_MIN_RMS = 0.02  # speech at eSpeak's default amplitude is around 0.1


@pytest.fixture
def db_url(tmp_path: Path, sqlite_template: Path) -> str:
    # The audio does not depend on the database: SQLite only, to keep the suite quick.
    path = tmp_path / "motcua.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def display_app(app: Any) -> Any:
    if "display" not in app.blueprints:  # until server/app.py registers it
        from display import bp

        app.register_blueprint(bp)
    return app


def use_speech(app: Any, speech: Speech) -> Speech:
    app.extensions["motcua_speech"] = speech
    return speech


def real_engine(name: str = "auto") -> Engine:
    engine, why = find_engine(name)
    if engine is None:
        if name == "espeakng-loader" and platform.machine() != "x86_64":
            # Its wheel exists for x86_64 only (and so does the dependency): said as any other
            # missing piece, so that CI fails rather than passes without this engine.
            needs("espeakng-loader", f"no wheel for {platform.machine()}",
                  "run these tests on x86_64")
        needs("eSpeak NG", "; ".join(why), "apt-get install espeak-ng, or pip install "
              "espeakng-loader")
    return engine


FAKE_ENGINE = r"""
import math, sys, wave
from array import array
voice, out, log, mode = sys.argv[1:5]
text = sys.stdin.read()
with open(log, "a", encoding="utf-8") as f:
    f.write(voice + "\t" + text + "\n")
if mode == "fail":
    sys.stderr.write("voice broken\n")
    sys.exit(3)
w = wave.open(out, "wb"); w.setnchannels(1); w.setsampwidth(2); w.setframerate(22050)
f = 300 if voice == "vi" else 500
w.writeframes(array("h", [int(8000 * math.sin(2 * math.pi * f * i / 22050))
                          for i in range(11025)]).tobytes())
w.close()
"""


@pytest.fixture
def fake_engine(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    script = tmp_path / "fake_espeak.py"
    script.write_text(FAKE_ENGINE)
    log = tmp_path / "fake.log"
    log.touch()
    yield Engine("fake", "1", (sys.executable, str(script), "{voice}", "{out}", str(log),
                               "ok")), log


def runs(log: Path) -> list[str]:
    return [line.split("\t")[0] for line in log.read_text("utf-8").splitlines()]


def get(api: Api, path: str, role: str | None = "display") -> Any:
    return api.call("GET", path, role)


# --- the chime ------------------------------------------------------------------------------


def test_chime_is_public_cached_and_audible(display_app: Any, api: Api) -> None:
    r = get(api, "/display/audio/chime.wav", role=None)
    assert r.status_code == 200 and r.mimetype == "audio/wav"
    assert "public" in r.headers["Cache-Control"]
    samples, rate = read_samples(r.data)
    assert rate == 22050 and rms(samples) > 0.05
    etag = r.headers["ETag"]
    again = api.call("GET", "/display/audio/chime.wav", headers={"If-None-Match": etag})
    assert again.status_code == 304


# --- the spoken call with the real engine -----------------------------------------------------


def test_spoken_call_decodes_is_audible_and_uses_the_vietnamese_voice(
    display_app: Any, api: Api, tmp_path: Path
) -> None:
    engine = real_engine()
    speech = use_speech(display_app, Speech(tmp_path / "audio", engine))
    vi = get(api, "/display/audio/vi/A042/3.wav")
    en = get(api, "/display/audio/en/A042/3.wav")
    for r in (vi, en):
        assert r.status_code == 200, r.get_json()
        assert r.mimetype == "audio/wav"
        samples, rate = read_samples(r.data)  # decodes with the wave module
        assert rate == 22050
        assert len(samples) / rate > 1.5  # a whole phrase, not a blip
        assert rms(samples) > AUDIO_MIN_RMS  # not silent
    assert vi.headers["X-Speech-Voice"] == "vi" and en.headers["X-Speech-Voice"] == "en"
    assert vi.data != en.data

    # What ran for each phrase is recorded beside it: the Vietnamese voice for Vietnamese.
    vi_path = speech.cache_path("vi", "A042", 3)
    en_path = speech.cache_path("en", "A042", 3)
    assert vi_path.read_bytes() == vi.data and en_path.read_bytes() == en.data
    meta_vi, meta_en = Speech.sidecar(vi_path), Speech.sidecar(en_path)
    assert meta_vi["voice"] == "vi" and meta_vi["engine"] == engine.name
    assert meta_en["voice"] == "en"
    assert "Mời số" in meta_vi["text"] and "đến quầy số 3" in meta_vi["text"]
    assert "please go to counter 3" in meta_en["text"]
    cmd = meta_vi["command"]
    assert cmd[cmd.index("-v" if engine.name == "espeak-ng" else "--voice") + 1] == "vi"
    if engine.name == "espeak-ng":
        # And independently: eSpeak NG with "-v vi" on that text gives exactly this file,
        # the English voice reading the same text does not.
        for voice, same in (("vi", True), ("en", False)):
            ref = tmp_path / f"ref-{voice}.wav"
            subprocess.run(engine.command(voice, ref), input=meta_vi["text"].encode(),
                           check=True, capture_output=True, timeout=15)
            assert (ref.read_bytes() == vi.data) is same, voice


def test_a_phrase_is_synthesised_once(
    display_app: Any, api: Api, tmp_path: Path, fake_engine: tuple[Engine, Path]
) -> None:
    engine, log = fake_engine
    speech = use_speech(display_app, Speech(tmp_path / "audio", engine))
    results: list[bytes] = []

    def fetch() -> None:
        results.append(get(api, "/display/audio/vi/B017/5.wav").data)

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 6
    assert runs(log) == ["vi"]  # six displays, one synthesis
    assert get(api, "/display/audio/en/B017/5.wav").status_code == 200
    assert runs(log) == ["vi", "en"]
    assert log.read_text("utf-8").splitlines()[0].split("\t")[1] == spoken_ssml("vi", "B017", 5)
    assert [p.name for p in speech.cache_dir.rglob("*.tmp")] == []  # no half-written files


def test_the_cache_is_kept_under_its_size(tmp_path: Path,
                                          fake_engine: tuple[Engine, Path]) -> None:
    engine, _ = fake_engine
    speech = Speech(tmp_path / "audio", engine, max_files=10)
    for n in range(1, 13):
        speech.phrase_wav("vi", f"A{n:03d}", 1)
    assert speech.prune() == 3  # down to 90%
    left = sorted(p.name.split(".")[0] for p in (tmp_path / "audio" / "vi").glob("*.wav"))
    assert len(left) == 9 and "A012-1" in left
    assert len(list((tmp_path / "audio" / "vi").glob("*.json"))) == 9


def test_the_library_engine_from_pypi_speaks_vietnamese(tmp_path: Path) -> None:
    engine = real_engine("espeakng-loader")
    speech = Speech(tmp_path / "audio", engine)
    path = speech.phrase_wav("vi", "A042", 3)
    samples, _ = read_samples(path.read_bytes())
    assert len(samples) / 22050 > 1.5 and rms(samples) > AUDIO_MIN_RMS
    meta = Speech.sidecar(path)
    assert meta["voice"] == "vi" and meta["engine"] == "espeakng-loader"
    assert meta["command"][meta["command"].index("--voice") + 1] == "vi"
    en = speech.phrase_wav("en", "A042", 3)
    assert en.read_bytes() != path.read_bytes()


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "part"),
    [
        ("/display/audio/fr/A042/3.wav", "lang"),
        ("/display/audio/vi/a042/3.wav", "number"),
        ("/display/audio/vi/A42/3.wav", "number"),
        ("/display/audio/vi/A042%3Cx%3E/3.wav", "number"),
        ("/display/audio/vi/A042/0.wav", "counter"),
        ("/display/audio/vi/A042/1000.wav", "counter"),
        ("/display/audio/vi/A042/007.wav", "counter"),
        ("/display/audio/vi/A042/3%20.wav", "counter"),
    ],
)
def test_bad_parts_are_refused_and_nothing_runs(
    display_app: Any, api: Api, tmp_path: Path, fake_engine: tuple[Engine, Path], path: str,
    part: str,
) -> None:
    engine, log = fake_engine
    use_speech(display_app, Speech(tmp_path / "audio", engine))
    r = get(api, path)
    assert r.status_code == 422
    assert r.get_json()["error"]["code"] == "validation_error"
    assert part in r.get_json()["error"]["message"]
    assert runs(log) == [] and not (tmp_path / "audio").exists()


def test_other_paths_are_not_audio(display_app: Any, api: Api) -> None:
    for path in ("/display/audio/vi/A042/3.mp3", "/display/audio/vi/A042.wav",
                 "/display/audio/vi/A042/3/x.wav", "/display/audio/vi/..%2F..%2Fetc/3.wav"):
        assert get(api, path).status_code == 404, path


def test_only_displays_and_supervisors_get_the_spoken_call(
    display_app: Any, api: Api, tmp_path: Path, fake_engine: tuple[Engine, Path]
) -> None:
    engine, log = fake_engine
    use_speech(display_app, Speech(tmp_path / "audio", engine))
    path = "/display/audio/vi/A042/3.wav"
    r = get(api, path, role=None)
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    assert api.call("GET", path, token="dev_nope").status_code == 401
    for role in ("kiosk", "clerk"):
        r = get(api, path, role=role)
        assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden", role
    assert runs(log) == []
    for role in ("display", "supervisor"):
        assert get(api, path, role=role).status_code == 200, role
    assert "private" in get(api, path).headers["Cache-Control"]


# --- no engine, a broken engine ---------------------------------------------------------------


def test_without_an_engine_the_chime_still_works_and_the_log_says_so_once(
    display_app: Any, api: Api, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="motcua.speech")
    speech = Speech.from_settings(Settings.from_env(
        {"MOTCUA_SPEECH": "none", "MOTCUA_AUDIO_DIR": str(tmp_path / "a")}))
    use_speech(display_app, speech)
    for _ in range(3):
        r = get(api, "/display/audio/vi/A042/3.wav")
        assert r.status_code == 503
        assert r.get_json()["error"]["code"] == "speech_unavailable"
        assert r.headers["Retry-After"]
    assert get(api, "/display/audio/chime.wav").status_code == 200
    warnings = [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert [w.getMessage() for w in warnings] == [
        "speech engine unavailable: displays play the chime only"
    ]


def test_a_failing_engine_gives_503_and_one_log_line(
    display_app: Any, api: Api, tmp_path: Path, fake_engine: tuple[Engine, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine, log = fake_engine
    broken = Engine("fake", "1", (*engine.argv[:-1], "fail"))
    use_speech(display_app, Speech(tmp_path / "audio", broken))
    caplog.set_level(logging.INFO, logger="motcua.speech")
    for _ in range(2):
        assert get(api, "/display/audio/vi/A042/3.wav").status_code == 503
    failures = [rec for rec in caplog.records if rec.getMessage() == "speech synthesis failed"]
    assert len(failures) == 1 and "voice broken" in failures[0].__dict__["error"]
    assert runs(log) == ["vi", "vi"]  # a failure is not cached: the next call tries again
    assert list((tmp_path / "audio").rglob("*.wav")) == []


def test_engine_choice_from_the_environment(tmp_path: Path) -> None:
    assert find_engine("none") == (None, ["speech disabled (MOTCUA_SPEECH=none)"])
    engine, why = find_engine("festival")
    assert engine is None and "unknown" in why[0]
    engine, why = find_engine(str(tmp_path / "no-such-espeak"))
    assert engine is None and why
    s = Speech.from_settings(
        Settings.from_env({"MOTCUA_SPEECH": "none", "MOTCUA_AUDIO_DIR": str(tmp_path)}))
    assert s.cache_dir == tmp_path and not s.available


# --- the page -------------------------------------------------------------------------------


def test_board_page_in_vietnamese_by_default_and_english_on_request(
    display_app: Any, api: Api
) -> None:
    r = api.call("GET", "/display?token=dev_x&voices=vi&repeat=2&volume=0.5")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert '<html lang="vi">' in html and "Mời số" in html
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert '"voices": ["vi"]' in html and '"repeat": 2' in html and '"volume": 0.5' in html
    en = api.call("GET", "/display?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in en and "Now calling" in en
    for asset in ("/display/static/display.js", "/display/static/display.css"):
        assert api.call("GET", asset).status_code == 200, asset
