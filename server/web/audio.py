"""Serving synthesised phrases over HTTP (shared by the kiosk and the wall display)."""

from __future__ import annotations

import json
from collections.abc import Collection

from flask import Response, current_app, g, request, send_file

from server.core.auth import principal_from_token
from server.core.errors import AppError
from server.web.i18n import request_lang
from server.web.speech import VOICES, InvalidPart, Speech, SpeechUnavailable, validate

UNAVAILABLE = {"vi": "Chưa có bộ đọc tiếng nói trên máy chủ.",
               "en": "No speech engine on the server."}


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


def phrase_response(lang: str, number: str, counter: str | int | None,
                    roles: Collection[str]) -> Response:
    """The WAV of a phrase for a caller whose bearer token has one of ``roles``.

    Parts are checked first (they name a cache file and go into the synthesiser): 422; then the
    token: 401/403; 503 (with Retry-After) when the server has no speech engine."""
    try:
        lang, number, n = validate(lang, number, counter)
    except InvalidPart as bad:
        return _app_error(AppError("validation_error", detail=bad.part))
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    with current_app.extensions["motcua"].db.read() as s:
        p = principal_from_token(s, token)
    if p is None:
        return _app_error(AppError("unauthorized"))
    g.principal = p  # for the access log
    if p.role not in roles:
        return _app_error(AppError("forbidden"))
    try:
        path = speech().phrase_wav(lang, number, n)
    except SpeechUnavailable:
        resp = _error("speech_unavailable", 503, UNAVAILABLE[request_lang()])
        resp.headers["Retry-After"] = "300"
        return resp
    resp = send_file(path, mimetype="audio/wav", max_age=86400, conditional=True, etag=True)
    resp.headers["Cache-Control"] = "private, max-age=86400"
    resp.headers["X-Speech-Voice"] = VOICES[lang]
    return resp
