"""Announcement audio for the wall display: a chime and the spoken call, made on the server.

The call ("Mời số A042 đến quầy số 3" / "Number A042, please go to counter 3") is synthesised
offline with eSpeak NG, once per (language, number, counter), and kept as a WAV file under the
cache folder (the ``audio_dir`` setting, default ``./var/audio``). Two engines, tried in this order:

- ``espeak-ng``: the command of Debian's ``espeak-ng`` package (``apt-get install espeak-ng``);
- ``espeakng-loader``: the PyPI package of that name (the library and its voices in a wheel),
  driven through ctypes by ``_espeak_lib.py`` in a child process, so a crash in the C library
  can never take the server down.

The ``speech`` setting picks one (``espeak-ng`` | ``espeakng-loader`` | ``none``; default ``auto``).
Without an engine the display still plays the chime and the server says so once in its log.

Displays on thin links get the call in pieces, each an MP3 (mono, ``MP3_KBPS`` kbit/s, made from
the WAV with ``lameenc``): the number part ("Mời số A042" / "Number A042"), said once per call,
and the counter part ("đến quầy số 3" / "please go to counter 3"), the same for every call to that
counter, so a display fetches it once and keeps it (see :meth:`Speech.part_mp3`). A call then
costs a display a few kilobytes instead of two WAVs of ~180 kB.

Every synthesis writes a sidecar ``.json`` beside the WAV: the language, the eSpeak voice, the
engine and the exact command, so what was used for a phrase can be checked afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import wave
from array import array
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import lameenc

from server.config import Settings, env_name
from server.core.catalogs import catalogs, fill
from server.rules.fields import CODE

log = logging.getLogger("motcua.speech")

LANGS: tuple[str, ...] = ("vi", "en")
# eSpeak NG voice per language: the Vietnamese phrase must be read by the Vietnamese voice.
VOICES: dict[str, str] = {"vi": "vi", "en": "en"}
ENGINES: tuple[str, ...] = ("espeak-ng", "espeakng-loader")

# A ticket number: the service prefix (1-4 capital letters) and the daily number (3-4 digits).
NUMBER_RE = re.compile(r"[A-Z]{1,4}[0-9]{3,4}")
# A counter number 1..999, without leading zeros.
COUNTER_RE = re.compile(r"[1-9][0-9]{0,2}")
# People ahead of a kiosk's ticket, as its request names them.
AHEAD_RE = re.compile(r"0|[1-9][0-9]{0,3}")

SPEECH_RATE = 150  # words per minute; eSpeak's default (175) is fast for a noisy hall
SAMPLE_RATE = 22050  # what eSpeak NG produces; the chime uses the same
# MP3 for displays: a speech bitrate (a voice of 22 kHz mono stays clear at 24 kbit/s), the
# chime a little higher (its overtones).
MP3_KBPS = 24
CHIME_MP3_KBPS = 32
# The pieces of a call sent to displays (see part_ssml): the number part, the counter part,
# and the one announcement of calls missed while a display was offline.
PART_KINDS: tuple[str, ...] = ("call", "counter", "missed")
# Bumped when the way a phrase is put together changes (the wording itself is the catalogs',
# digested into voice_tag): part of every cached piece's name.
PHRASES_VERSION = "3"


class InvalidPart(ValueError):
    """A part of an audio request that is not a language, a ticket number or a counter."""

    def __init__(self, part: str) -> None:
        super().__init__(part)
        self.part = part


class SpeechUnavailable(RuntimeError):
    """No speech engine, or the engine failed for this phrase: the display plays the chime."""


# --- phrases --------------------------------------------------------------------------------


def validate(lang: str, number: str, counter: str | int | None) -> tuple[str, str, int | None]:
    """Return ``(lang, number, counter)`` or raise :class:`InvalidPart` naming the bad part.
    ``counter`` None is the kiosk's phrase ("your number is ..."), not a call.

    Strict on purpose: the parts name a file in the cache and go into the synthesiser."""
    if not isinstance(lang, str) or lang not in LANGS:
        raise InvalidPart("lang")
    if not isinstance(number, str) or not NUMBER_RE.fullmatch(number):
        raise InvalidPart("number")
    if counter is None:
        return lang, number, None
    text = str(counter) if isinstance(counter, int) and not isinstance(counter, bool) else counter
    if not isinstance(text, str) or not COUNTER_RE.fullmatch(text):
        raise InvalidPart("counter")
    return lang, number, int(text)


@dataclass(frozen=True)
class TicketDetails:
    """What the kiosk's phrase says after the number: the service (its code names the cached
    file; its name, in the phrase's language, is said) and how many people are ahead."""

    service: str
    name: str
    ahead: int


def validate_details(service: str | None, ahead: str | int | None) -> tuple[str, int] | None:
    """``(service code, people ahead)`` of a kiosk's request, None when it names neither; or
    :class:`InvalidPart` ("service", "ahead")."""
    if service is None and ahead is None:
        return None
    if not isinstance(service, str) or not CODE.match(service):
        raise InvalidPart("service")
    text = str(ahead) if isinstance(ahead, int) and not isinstance(ahead, bool) else ahead
    if not isinstance(text, str) or not AHEAD_RE.fullmatch(text):
        raise InvalidPart("ahead")
    return service, int(text)


def _fill(template: str, **values: Any) -> str:
    """A catalog text with its placeholders filled (a province's text with a misspelt one is
    said as written rather than failing the call)."""
    return fill(template, **values)


def ticket_phrase(lang: str, number: str, counter: int | None,
                  details: TicketDetails | None = None, *, ssml: bool = False) -> str:
    """The one wording of a ticket's phrase, from the catalogs: a display's call ("Mời số A042,
    đến quầy số 3." / "Number A042, please go to counter 3.": the "speech" entries, the same as
    the display's pieces) or the kiosk's ("Số của Quý khách là A042. Hộ tịch. 3 người chờ trước
    Quý khách.": the kiosk's "announce" and "listen_ahead", which its page shows and its
    browser voice falls back to). ``ssml``: the number spelled character by character and the
    rest escaped, for eSpeak NG."""
    lang, number, checked = validate(lang, number, counter)
    esc = xml_escape if ssml else str
    said = f'<say-as interpret-as="characters">{number}</say-as>' if ssml else number
    if checked is not None:
        return " ".join([
            _fill(esc(catalogs.text("speech", "call_number", lang)), number=said),
            _fill(esc(catalogs.text("speech", "call_counter", lang)), counter=checked),
        ])
    parts = [_fill(esc(catalogs.text("kiosk", "announce", lang)), number=said)]
    if details is not None:
        parts.append(esc(details.name.strip().rstrip(".")))
        parts.append(_fill(esc(catalogs.text("kiosk", "listen_ahead", lang)),
                           ahead=details.ahead))
    return ". ".join(parts) + "."


def display_phrase(lang: str, number: str, counter: int) -> str:
    """The call as people read it."""
    return ticket_phrase(lang, number, counter)


def spoken_ssml(lang: str, number: str, counter: int | None,
                details: TicketDetails | None = None) -> str:
    """The call (or, ``counter`` None, the kiosk's phrase) as eSpeak NG reads it (SSML,
    ``espeak-ng -m``).

    The ticket number is spelled character by character ("A, không, bốn, hai" / "A, zero,
    four, two") with a short pause between characters: read as a whole, eSpeak says "A không
    bốn mươi hai" in Vietnamese and the article "a" plus "zero forty-two" in English. The
    counter is said as a number ("quầy số mười hai" / "counter twelve")."""
    # No xml:lang here: eSpeak NG would let it pick the voice; the voice is chosen with "-v".
    return f"<speak>{ticket_phrase(lang, number, counter, details, ssml=True)}</speak>"


def validate_part(lang: str, kind: str, value: str) -> tuple[str, str, str | int | None]:
    """Return ``(lang, kind, value)`` of a piece of a call or raise :class:`InvalidPart`:
    ``call`` wants a ticket number, ``counter`` a counter number 1..999, ``missed`` ``all``."""
    if not isinstance(lang, str) or lang not in LANGS:
        raise InvalidPart("lang")
    if kind == "call":
        return lang, kind, validate(lang, value, None)[1]
    if kind == "counter":
        if not isinstance(value, str) or not COUNTER_RE.fullmatch(value):
            raise InvalidPart("counter")
        return lang, kind, int(value)
    if kind == "missed":
        if value != "all":
            raise InvalidPart("value")
        return lang, kind, None
    raise InvalidPart("kind")


def part_ssml(lang: str, kind: str, value: str | int | None) -> str:
    """One piece of a call as eSpeak NG reads it: said one after the other, ``call`` then
    ``counter`` make the whole call of :func:`spoken_ssml` (the same catalog entries);
    ``missed`` opens the list of calls made while a display was offline."""
    if kind == "call":
        number = validate(lang, str(value), None)[1]
        spelled = f'<say-as interpret-as="characters">{number}</say-as>'
        body = _fill(xml_escape(catalogs.text("speech", "call_number", lang)), number=spelled)
    elif kind == "counter":
        n = validate(lang, "A001", str(value))[2]
        body = _fill(xml_escape(catalogs.text("speech", "call_counter", lang)), counter=n)
    elif kind == "missed" and lang in LANGS:
        body = xml_escape(catalogs.text("speech", "missed", lang))
    else:
        raise InvalidPart("kind")
    return f"<speak>{body}</speak>"


def mp3_bytes(samples: array, rate: int = SAMPLE_RATE, kbps: int = MP3_KBPS) -> bytes:
    """16-bit mono samples as a constant-bitrate MP3 (``lameenc``)."""
    enc = lameenc.Encoder()
    enc.set_bit_rate(kbps)
    enc.set_in_sample_rate(rate)
    enc.set_channels(1)
    enc.set_quality(2)  # 2: near-best; encoding a phrase once takes a few milliseconds
    data = array("h", samples)
    if sys.byteorder == "big":
        data.byteswap()
    return bytes(enc.encode(data.tobytes()) + enc.flush())


def trim_silence(samples: array, rate: int = SAMPLE_RATE, keep_s: float = 0.06,
                 threshold: int = 300) -> array:
    """The samples without the near-silence eSpeak NG puts before and after a phrase (about
    a third of a short piece), keeping ``keep_s`` on each side: pieces said one after the
    other then sound like one sentence, and each is smaller."""
    loud = [i for i in range(len(samples)) if abs(samples[i]) > threshold]
    if not loud:
        return samples
    keep = int(keep_s * rate)
    return samples[max(0, loud[0] - keep): min(len(samples), loud[-1] + keep + 1)]


@lru_cache(maxsize=2)
def chime_mp3(rate: int = SAMPLE_RATE) -> bytes:
    """The chime as an MP3 (about 6 kB instead of 70 kB)."""
    samples, rate = read_samples(chime_wav(rate))
    return mp3_bytes(samples, rate, CHIME_MP3_KBPS)


# --- engines --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    """A way to run eSpeak NG: a command that reads SSML on stdin and writes a WAV file."""

    name: str
    version: str
    argv: tuple[str, ...]  # with "{voice}", "{rate}" and "{out}" placeholders

    def command(self, voice: str, out: Path) -> list[str]:
        values = {"{voice}": voice, "{rate}": str(SPEECH_RATE), "{out}": str(out)}
        return [values.get(a, a) for a in self.argv]


def _espeak_cli(path: str | None = None) -> tuple[Engine | None, str]:
    exe = path or shutil.which("espeak-ng")
    if not exe:
        return None, "espeak-ng: command not found"
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"espeak-ng: {type(exc).__name__}: {exc}"
    if out.returncode != 0:
        return None, f"espeak-ng: --version exited {out.returncode}"
    m = re.search(r"\d+(?:\.\d+)+", out.stdout)
    argv = (exe, "-m", "-b", "1", "-s", "{rate}", "-v", "{voice}", "-w", "{out}", "--stdin")
    return Engine("espeak-ng", m.group(0) if m else "?", argv), ""


def _espeak_loader() -> tuple[Engine | None, str]:
    if importlib.util.find_spec("espeakng_loader") is None:
        return None, "espeakng-loader: package not installed"

    try:
        ver = version("espeakng-loader")
    except PackageNotFoundError:
        ver = "?"
    script = str(Path(__file__).with_name("espeak_loader.py"))
    argv = (sys.executable, script, "--voice", "{voice}", "--rate", "{rate}", "--out", "{out}")
    return Engine("espeakng-loader", ver, argv), ""


def find_engine(preference: str = "auto") -> tuple[Engine | None, list[str]]:
    """The engine to use and, when there is none, why (one line per engine tried)."""
    preference = (preference or "auto").strip().lower()
    if preference in ("none", "off", "0"):
        return None, [f"speech disabled ({env_name('speech')}=none)"]
    if preference not in ("auto", *ENGINES) and not preference.startswith("/"):
        return None, [f"unknown {env_name('speech')}={preference!r}"]
    tried: list[str] = []
    if preference.startswith("/"):  # an explicit path to an espeak-ng executable
        engine, why = _espeak_cli(preference)
        return engine, ([] if engine else [why])
    for name in ENGINES if preference == "auto" else (preference,):
        engine, why = _espeak_cli() if name == "espeak-ng" else _espeak_loader()
        if engine is not None:
            return engine, []
        tried.append(why)
    return None, tried


# --- WAV helpers ----------------------------------------------------------------------------


def wav_bytes(samples: array, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit mono PCM samples as a WAV file."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        data = array("h", samples)
        if sys.byteorder == "big":
            data.byteswap()
        w.writeframes(data.tobytes())
    return buf.getvalue()


def read_samples(data: bytes) -> tuple[array, int]:
    """The 16-bit mono samples and the rate of a WAV file (raises on anything else)."""
    with wave.open(io.BytesIO(data), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getcomptype() != "NONE":
            raise ValueError("not a 16-bit mono PCM WAV")
        rate = w.getframerate()
        samples = array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples, rate


def rms(samples: array) -> float:
    """Root mean square on the 0..1 scale."""
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768


@lru_cache(maxsize=4)
def chime_wav(rate: int = SAMPLE_RATE) -> bytes:
    """A two-note "ding-dong" (E5 then C5, with two soft overtones and a bell-like decay),
    generated here so the repository holds no binary audio."""
    notes = ((659.25, 0.0, 0.9), (523.25, 0.42, 1.15))  # frequency Hz, start s, length s
    partials = ((1.0, 1.0), (2.0, 0.35), (3.0, 0.12))  # multiple of the frequency, amplitude
    total = 1.6
    n = int(total * rate)
    mix = [0.0] * n
    for freq, start, length in notes:
        first = int(start * rate)
        for i in range(int(length * rate)):
            if first + i >= n:
                break
            t = i / rate
            env = min(1.0, t / 0.006) * math.exp(-3.6 * t)
            mix[first + i] += env * sum(
                amp * math.sin(2 * math.pi * freq * k * t) for k, amp in partials
            )
    peak = max(abs(v) for v in mix) or 1.0
    fade = int(0.03 * rate)
    out = array("h")
    for i, v in enumerate(mix):
        g = min(1.0, (n - i) / fade) if i > n - fade else 1.0
        out.append(round(v / peak * 0.6 * 32767 * g))
    return wav_bytes(out, rate)


# --- the synthesiser with its cache ---------------------------------------------------------


class Speech:
    """Phrase WAVs on demand: synthesised once per phrase, then served from the cache."""

    def __init__(
        self,
        cache_dir: Path | str,
        engine: Engine | None,
        *,
        unavailable_reason: str = "",
        max_files: int = 4000,
        timeout: float = 15.0,
        concurrency: int = 2,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.engine = engine
        self.unavailable_reason = unavailable_reason
        self.max_files = max(10, max_files)
        self.timeout = timeout
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._writes = 0
        self._logged: set[str] = set()
        if engine is None:
            self._log_once(
                "no-engine",
                "speech engine unavailable: displays play the chime only",
                reason=unavailable_reason,
            )
        else:
            log.info(
                "speech engine ready",
                extra={"engine": engine.name, "engine_version": engine.version,
                       "audio_dir": str(self.cache_dir)},
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> Speech:
        engine, why = find_engine(settings.speech)
        return cls(settings.audio_cache_dir(), engine, unavailable_reason="; ".join(why),
                   max_files=settings.audio_cache_max)

    @property
    def available(self) -> bool:
        return self.engine is not None

    def _log_once(self, key: str, msg: str, **extra: Any) -> None:
        if key in self._logged:
            return
        self._logged.add(key)
        log.warning(msg, extra={"event": "speech_unavailable", **extra})

    def cache_path(self, lang: str, number: str, counter: int | None,
                   details: TicketDetails | None = None) -> Path:
        """Where a phrase is kept. The name carries a digest of the engine and the text, so a
        new engine or a new wording (a renamed service, a province's text) never serves an old
        file."""
        lang, number, counter = validate(lang, number, counter)
        which = "ticket" if counter is None else str(counter)
        if counter is None and details is not None:
            which = f"ticket-{details.service}-{details.ahead}"
        return self._path(lang, f"{number}-{which}", spoken_ssml(lang, number, counter, details))

    def part_path(self, lang: str, kind: str, value: str) -> Path:
        """Where a piece of a call (:func:`part_ssml`) is kept, named like :meth:`cache_path`."""
        lang, kind, checked = validate_part(lang, kind, value)
        name = f"{kind}-{'all' if checked is None else checked}"
        return self._path(lang, name, part_ssml(lang, kind, checked))

    def _path(self, lang: str, name: str, ssml: str) -> Path:
        engine = self.engine
        key = "|".join([
            engine.name if engine else "-",
            engine.version if engine else "-",
            VOICES[lang],
            str(SPEECH_RATE),
            ssml,
        ])
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        return self.cache_dir / lang / f"{name}.{digest}.wav"

    @property
    def voice_tag(self) -> str:
        """A digest of everything that makes the pieces sound as they do (engine, its version,
        rate, wording, MP3 bitrate): the first part of their addresses, so a display may keep
        a piece for as long as it likes and still never plays an old one after an upgrade."""
        engine = self.engine
        # The wording is the catalogs' (a province may override it): part of the tag too.
        wording = json.dumps(catalogs.texts("speech"), sort_keys=True, ensure_ascii=False)
        key = "|".join([engine.name if engine else "-", engine.version if engine else "-",
                        str(SPEECH_RATE), str(MP3_KBPS), str(CHIME_MP3_KBPS), PHRASES_VERSION,
                        wording])
        return hashlib.sha256(key.encode()).hexdigest()[:10]

    @staticmethod
    def sidecar(path: Path) -> dict[str, Any]:
        """What was recorded about a cached phrase (voice, engine, command)."""
        data: dict[str, Any] = json.loads(path.with_suffix(".json").read_text("utf-8"))
        return data

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            if len(self._locks) > 256:  # forget idle locks; a held one is re-created harmlessly
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            return self._locks.setdefault(key, threading.Lock())

    def phrase_wav(self, lang: str, number: str, counter: int | str | None,
                   details: TicketDetails | None = None) -> Path:
        """The WAV file of a call (or of the kiosk's phrase, with its ``details``),
        synthesised if it is not cached yet.

        Raises :class:`InvalidPart` for a bad part, :class:`SpeechUnavailable` when there is no
        engine or it failed."""
        lang, number, n = validate(lang, number, counter)
        if self.engine is None:
            raise SpeechUnavailable(self.unavailable_reason or "no speech engine")
        path = self.cache_path(lang, number, n, details)
        meta: dict[str, Any] = {"number": number, "counter": n}
        if details is not None:
            meta.update(service=details.service, ahead=details.ahead)
        return self._ensure(self.engine, lang, spoken_ssml(lang, number, n, details), path, meta)

    def part_mp3(self, lang: str, kind: str, value: str) -> Path:
        """The MP3 of a piece of a call (:func:`part_ssml`), synthesised and encoded once.

        Raises like :meth:`phrase_wav`."""
        lang, kind, checked = validate_part(lang, kind, value)
        if self.engine is None:
            raise SpeechUnavailable(self.unavailable_reason or "no speech engine")
        wav = self.part_path(lang, kind, value)
        mp3 = wav.with_suffix(".mp3")
        if mp3.exists():
            self._touch(mp3)
            return mp3
        self._ensure(self.engine, lang, part_ssml(lang, kind, checked), wav,
                     {"part": kind, "value": checked})
        with self._lock_for(str(mp3)):
            if not mp3.exists():
                try:
                    samples, rate = read_samples(wav.read_bytes())
                except (OSError, EOFError, wave.Error, ValueError) as exc:
                    raise SpeechUnavailable(f"cached WAV unreadable: {exc}") from None
                samples = trim_silence(samples, rate)
                tmp = mp3.with_name(f".{mp3.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
                try:
                    tmp.write_bytes(mp3_bytes(samples, rate))
                    os.replace(tmp, mp3)  # atomic, as the WAV
                finally:
                    with contextlib.suppress(OSError):
                        tmp.unlink()
        return mp3

    def _ensure(self, engine: Engine, lang: str, text: str, path: Path,
                meta: dict[str, Any]) -> Path:
        if path.exists():
            self._touch(path)
            return path
        with self._lock_for(str(path)):
            if path.exists():
                return path
            with self._slots:
                self._synthesise(engine, lang, text, meta, path)
        self._writes += 1
        if self._writes % 50 == 0:
            self.prune()
        return path

    def _synthesise(self, engine: Engine, lang: str, text: str, what: dict[str, Any],
                    path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
        voice = VOICES[lang]
        cmd = engine.command(voice, tmp)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, input=text.encode("utf-8"), capture_output=True, timeout=self.timeout,
                check=False,
            )
            if proc.returncode != 0:
                err = proc.stderr.decode("utf-8", "replace").strip()[-300:]
                raise SpeechUnavailable(f"{engine.name} exited {proc.returncode}: {err}")
            try:
                samples, _ = read_samples(tmp.read_bytes())
            except (OSError, EOFError, wave.Error, ValueError) as exc:
                raise SpeechUnavailable(f"{engine.name} wrote no usable WAV: {exc}") from None
            if not samples:
                raise SpeechUnavailable(f"{engine.name} wrote an empty WAV")
            meta = {
                "lang": lang,
                "voice": voice,
                "engine": engine.name,
                "engine_version": engine.version,
                **what,
                "text": text,
                "command": [str(path) if a == str(tmp) else a for a in cmd],
                "seconds": round(len(samples) / SAMPLE_RATE, 2),
            }
            path.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
            os.replace(tmp, path)  # atomic: a reader sees the whole file or none
        except subprocess.TimeoutExpired:
            self._log_once(f"timeout:{engine.name}", "speech synthesis timed out",
                           engine=engine.name, lang=lang)
            raise SpeechUnavailable(f"{engine.name} timed out") from None
        except OSError as exc:
            self._log_once(f"oserror:{engine.name}:{type(exc).__name__}",
                           "speech synthesis failed", engine=engine.name, error=str(exc))
            raise SpeechUnavailable(f"{engine.name}: {exc}") from None
        except SpeechUnavailable as exc:
            self._log_once(f"failed:{engine.name}:{lang}", "speech synthesis failed",
                           engine=engine.name, lang=lang, error=str(exc))
            raise
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        log.info("phrase synthesised", extra={
            "engine": engine.name, "voice": voice, **what,
            "ms": round((time.perf_counter() - t0) * 1000, 1)})

    @staticmethod
    def _touch(path: Path) -> None:
        # Mark as recently used (for pruning); at most once an hour per file.
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > 3600:
                os.utime(path)

    def prune(self) -> int:
        """Keep the cache under ``max_files`` phrases, dropping the least recently used."""
        try:
            files = [(p.stat().st_mtime, p) for p in self.cache_dir.glob("*/*.wav")]
        except OSError:
            return 0
        if len(files) <= self.max_files:
            return 0
        files.sort()
        extra = len(files) - int(self.max_files * 0.9)
        for _, p in files[:extra]:
            for each in (p, p.with_suffix(".json"), p.with_suffix(".mp3")):
                with contextlib.suppress(OSError):
                    each.unlink()
        return extra
