"""The language of a request (the one helper every page, the REST API and the audio use) and
the pages' wording from the gettext catalogs (:mod:`server.core.catalogs`) through Flask-Babel."""

from __future__ import annotations

from collections.abc import Container

from babel.support import Translations
from flask import Flask, has_request_context, request, session
from flask_babel import Babel, Domain, get_locale

from server.core.catalogs import DEFAULT, LANGS, catalogs


def texts(area: str) -> dict[str, dict[str, str]]:
    """``{"vi": {key: text}, "en": {...}}`` of a page's area: its template's ``t`` is one
    language of it, its script receives all of it as one JSON block (switching language
    without a reload). A province's override (``MOTCUA_TRANSLATIONS_DIR``) is in it."""
    return catalogs.texts(area)


class _CatalogDomain(Domain):
    """Flask-Babel's gettext over the catalogs compiled in memory (with the overrides)."""

    def __init__(self) -> None:
        super().__init__(domain="messages")

    def get_translations(self) -> Translations:  # type: ignore[override]
        loc = get_locale() if has_request_context() else None
        return catalogs.translations(loc.language if loc is not None else DEFAULT)


class _Babel(Babel):
    _domain = _CatalogDomain()

    @property
    def domain_instance(self) -> Domain:
        return self._domain


def init_app(app: Flask, translations_dir: str | None) -> None:
    """Flask-Babel with the catalogs: ``_()``/``pgettext(area, key)`` in templates and
    :func:`flask_babel.pgettext` in code speak the request's language."""
    catalogs.configure(translations_dir)
    _Babel(app, locale_selector=lambda: request_lang(), default_locale=DEFAULT,
           default_domain="messages")


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
