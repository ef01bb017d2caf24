"""The language of a request: the one helper every page, the REST API and the audio use."""

from __future__ import annotations

from collections.abc import Container

from flask import has_request_context, request, session

LANGS = ("vi", "en")
DEFAULT = "vi"


def request_lang(
    supported: Container[str] = LANGS,
    *,
    accept_language: bool = True,
    use_session: bool = True,
    remember: bool = False,
    default: str | None = None,
) -> str:
    """``?lang=`` first; then the preference kept in the session, if there is one (unless
    ``use_session`` is False); then the browser's Accept-Language (unless ``accept_language``
    is False); then ``default`` when it is a supported language (on a ticket's page: the
    language it was taken in); else Vietnamese.

    ``accept_language=False`` for the pages of shared or public screens (kiosk, pairing, a
    ticket's or dossier's page, the stations): they are Vietnamese unless asked otherwise,
    whatever the language the machine's browser was installed in. ``use_session=False`` for
    the citizen's pages (kiosk, pairing, ticket, dossier): a clerk who works in English on the
    same browser does not turn the citizen's page English. ``remember=True`` keeps a
    ``?lang=`` in the session (the signed-in stations)."""
    if not has_request_context():
        return DEFAULT
    asked = request.args.get("lang")
    if asked in supported and asked in LANGS:
        if remember:
            session["lang"] = asked
        return asked
    kept = session.get("lang") if use_session else None
    if kept in supported and kept in LANGS:
        return kept
    if accept_language:
        best = request.accept_languages.best_match([x for x in LANGS if x in supported])
        if best:
            return best
    return default if default in supported and default in LANGS else DEFAULT
