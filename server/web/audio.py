"""Serving synthesised phrases over HTTP (shared by the kiosk and the wall display).

The kiosk gets whole phrases as WAV; displays get calls in MP3 pieces named by the voice's tag
(``part_response``, ``chime_response``), which they keep for a day."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from pathlib import Path

from flask import Response, current_app, g, request, send_file
from sqlalchemy import select

from server.core.auth import principal_from_token
from server.core.catalogs import catalogs
from server.core.errors import AppError
from server.models import Service
from server.web.i18n import request_lang
from server.web.speech import (
    VOICES,
    InvalidPart,
    Speech,
    SpeechUnavailable,
    TicketDetails,
    chime_mp3,
    validate,
    validate_details,
    validate_part,
)


def _error(code: str, status: int, message: str) -> Response:
    resp = Response(json.dumps({"error": {"code": code, "message": message}},
                               ensure_ascii=False), status=status, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _app_error(err: AppError) -> Response:
    return _error(err.code, err.status, err.message(request_lang()))


def speech() -> Speech:
    engine: Speech = current_app.extensions["motcua_speech"]
    return engine


def _caller_error(roles: Collection[str]) -> Response | None:
    """None when the bearer token has one of ``roles``; else the 401/403 answer."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    with current_app.extensions["motcua"].db.read() as s:
        p = principal_from_token(s, token)
    if p is None:
        return _app_error(AppError("unauthorized"))
    g.principal = p  # for the access log
    if p.role not in roles:
        return _app_error(AppError("forbidden"))
    return None


def _unavailable() -> Response:
    resp = _error("speech_unavailable", 503, catalogs.text("speech", "unavailable", request_lang()))
    resp.headers["Retry-After"] = "300"
    return resp


def _spoken(parts: Callable[[], tuple[str, ...]], roles: Collection[str],
            render: Callable[..., Path], mimetype: str,
            cache_control: Callable[[], str]) -> Response:
    """One spoken file for a caller whose bearer token has one of ``roles``: the parts are
    checked first (they name a cache file and go into the synthesiser): 422; then the token:
    401/403; 503 (with Retry-After) when the server has no speech engine. ``parts()`` returns
    the checked parts, the language first; ``render(*parts)`` the file."""
    try:
        checked = parts()
    except InvalidPart as bad:
        return _app_error(AppError("validation_error", detail=bad.part))
    refused = _caller_error(roles)
    if refused is not None:
        return refused
    try:
        path = render(*checked)
    except InvalidPart as bad:  # a part only the database can check (a kiosk's service)
        return _app_error(AppError("validation_error", detail=bad.part))
    except SpeechUnavailable:
        return _unavailable()
    resp = send_file(path, mimetype=mimetype, conditional=True, etag=True)
    resp.headers["Cache-Control"] = cache_control()
    resp.headers["X-Speech-Voice"] = VOICES[checked[0]]
    return resp


def phrase_response(lang: str, number: str, counter: str | int | None,
                    roles: Collection[str]) -> Response:
    """The WAV of a whole phrase (see :func:`_spoken`)."""
    return _spoken(lambda: validate(lang, number, counter), roles,
                   lambda *p: speech().phrase_wav(*p), "audio/wav",
                   lambda: "private, max-age=86400")


def ticket_phrase_response(lang: str, number: str, service: str | None, ahead: str | None,
                           roles: Collection[str]) -> Response:
    """The WAV of the kiosk's phrase: the number and, when the request names them, the
    service (a code of the caller's site, said by its name in ``lang``) and the people ahead
    (``speech.ticket_phrase``, see :func:`_spoken`)."""
    def render(lg: str, num: str, _counter: None, asked: tuple[str, int] | None) -> Path:
        details = None
        if asked is not None:
            code, people = asked
            with current_app.extensions["motcua"].db.read() as s:
                svc = s.scalar(select(Service).where(
                    Service.site_id == g.principal.site_id, Service.code == code))
                if svc is None:
                    raise InvalidPart("service")
                name = svc.name_en if lg == "en" and svc.name_en else svc.name_vi
            details = TicketDetails(code, name, people)
        return speech().phrase_wav(lg, num, None, details)

    return _spoken(lambda: (*validate(lang, number, None), validate_details(service, ahead)),
                   roles, render, "audio/wav", lambda: "private, max-age=86400")


def _cache_control(tag: str, public: bool) -> str:
    """Pieces are named by :attr:`Speech.voice_tag`: under the current tag their content never
    changes, so a display keeps them (a day: its service worker's audio cache holds them that
    long too, and the next day's first call fetches them again); an old tag (a page loaded
    before an upgrade) gets the new sound, kept only a few minutes."""
    scope = "public" if public else "private"
    if tag == speech().voice_tag:
        return f"{scope}, max-age=86400, immutable"
    return f"{scope}, max-age=300"


def part_response(tag: str, lang: str, kind: str, value: str,
                  roles: Collection[str]) -> Response:
    """The MP3 of a piece of a call (``speech.part_ssml``, see :func:`_spoken`)."""
    return _spoken(lambda: (*validate_part(lang, kind, value)[:2], value), roles,
                   lambda lg, kd, val: speech().part_mp3(lg, kd, val), "audio/mpeg",
                   lambda: _cache_control(tag, public=False))


def chime_response(tag: str) -> Response:
    """The chime as an MP3 (public: it says nothing)."""
    data = chime_mp3()
    resp = Response(data, mimetype="audio/mpeg")
    resp.headers["Cache-Control"] = _cache_control(tag, public=True)
    resp.set_etag(hashlib.sha256(data).hexdigest()[:16])
    return resp.make_conditional(request)
