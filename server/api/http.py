"""REST API v1 plumbing: the blueprint, the ``@endpoint`` decorator and its registry (from which
the OpenAPI document is generated), request bodies, and the read/write helpers every endpoint
module uses."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import IntegerConverter

from printers.uri import UriPolicy
from server.api.schemas import ErrorOut
from server.core.auth import TOKEN_TOUCH_EVERY, Principal, principal_from_token, touch_token
from server.core.db import retrying, schema_kind, unavailable_kind
from server.core.errors import STATUS_CODES, AppError
from server.core.inputs import MAX_INT, InputProblem, check_text, check_tree
from server.core.lookups import MAX_ID
from server.features.printing import printer_policy
from server.rules.states import IllegalTransition
from server.web.client import redact_path
from server.web.i18n import request_lang
from server.web.signin import csrf_ok, principal_from_session

log = logging.getLogger("motcua.api")

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class IdConverter(IntegerConverter):
    """``<int:...>`` in a path: Flask's own takes a number of any size, the database does not
    (an id past the column's range is a driver error, a 500). An id the lookups could never
    find matches no route: 404, before any query."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


# Set on the app when the blueprint is registered, before its rules are bound to converters.
bp.record_once(lambda state: state.app.url_map.converters.update(int=IdConverter))


@dataclass
class EndpointDoc:
    method: str
    rule: str
    summary: str
    tag: str
    auth: str | None  # None: public; otherwise who may call it
    body: type[BaseModel] | None
    responses: dict[int, Any]
    errors: list[int] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)
    roles: tuple[str, ...] = ()


REGISTRY: list[EndpointDoc] = []

# The kinds of caller an operation can allow (``x-roles`` in the OpenAPI document). Scope
# (the caller's site, a clerk's counter) is checked by the feature on top of the role.
ROLES = ("display", "kiosk", "clerk", "supervisor", "admin")
ANY_ROLE = ROLES
STAFF_ROLES = ("clerk", "supervisor", "admin")
LEAD_ROLES = ("supervisor", "admin")
ADMIN_ROLES = ("admin",)

# Every operation carries the tag of its feature; the document lists each with one line.
TAGS = {
    "meta": "The API itself: liveness and this document.",
    "sites": "Sites, their services, counters, priority categories, lobby ticker and day close.",
    "tickets": "Issuing, serving, transferring, reprinting and publicly tracking tickets.",
    "counters": "Counter status, calling the next ticket, work profiles and ratings at a counter.",
    "dossiers": "Dossier intake, steps, receipts and public dossier tracking.",
    "supervision": "A site's live dashboard, rebalancing, audit, staffing advice and reports.",
    "admin": "The admin console: sites, services, counters, users, devices, catalog, holidays, "
    "configuration files.",
    "devices": "Pairing a new kiosk or display (public, before it has a token).",
    "notifications": "Messages to citizens (SMS, Zalo ZNS, e-mail, the demo's file): channel "
    "settings, test messages, the outbox.",
    "webhooks": "Signed event deliveries to outside systems (Standard Webhooks): the "
    "subscription, dead letters and their retry.",
    "appointments": "Booking a time ahead (public, with a one-time code and an anti-robot "
    "check), its page, check-in at the kiosk or counter, and the supervisor's day of bookings.",
}

# Statuses any operation can answer besides those it declares: a malformed or oversized body,
# a rate limit, a server that is shutting down or has lost its database.
GENERIC_ERRORS = (400, 413, 422, 429, 503)


def endpoint(
    method: str,
    rule: str,
    *,
    summary: str,
    tag: str,
    auth: str | None = "bearer",
    body: type[BaseModel] | None = None,
    responses: dict[int, Any],
    errors: list[int] | None = None,
    headers: list[dict[str, Any]] | None = None,
    roles: tuple[str, ...] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view on the blueprint and in the OpenAPI registry. ``tag`` is its feature
    (one of ``TAGS``); ``roles``, the kinds of caller allowed, is required unless ``auth`` is
    None (public)."""
    if tag not in TAGS:
        raise ValueError(f"unknown OpenAPI tag {tag!r} for {method} {rule}")
    if auth and not roles:
        raise ValueError(f"{method} {rule}: say which roles may call it")
    if roles and set(roles) - set(ROLES):
        raise ValueError(f"{method} {rule}: unknown roles {set(roles) - set(ROLES)}")

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        bp.add_url_rule(rule, endpoint=fn.__name__, view_func=fn, methods=[method])
        default_errors = [400, 401, 403, 404, 422] if auth else [404]
        REGISTRY.append(
            EndpointDoc(
                method,
                rule,
                summary,
                tag,
                auth,
                body,
                responses,
                errors if errors is not None else default_errors,
                headers or [],
                tuple(roles or ()),
            )
        )
        return fn

    return deco


def query_param(
    name: str, description: str, kind: str = "string", *, required: bool = False
) -> dict[str, Any]:
    """A query parameter of an ``@endpoint``, for its ``headers=[...]`` (OpenAPI parameters)."""
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": kind},
    }


# --- request helpers ----------------------------------------------------------------------


def ctx() -> Any:
    return current_app.extensions["motcua"]


def now() -> Any:
    return ctx().clock()


def base_url() -> str:
    return ctx().settings.public_base_url


def web_printers() -> UriPolicy:
    """The printers a caller over HTTP may set (``MOTCUA_PRINTER_NETWORKS``; never file://)."""
    return printer_policy(ctx().settings, "web")


def principal(session: Session) -> Principal:
    header = request.headers.get("Authorization", "")
    token = None
    if header[:7].lower() == "bearer ":
        token = header[7:].strip()
    if token is None:
        # A signed-in person (counter, supervisor, admin pages): the session cookie, with the
        # session's CSRF token on anything that changes state.

        p = principal_from_session(session)
        if p is not None and request.method not in ("GET", "HEAD", "OPTIONS") and not csrf_ok():
            raise AppError("csrf_failed")
    else:
        p = principal_from_token(session, token, now())
    if p is None:
        raise AppError("unauthorized")
    g.principal = p
    return p


def json_object() -> dict[str, Any]:
    """The request body as a JSON object (empty: ``{}``). Not JSON: 400; not an object, or
    text that is not Unicode (a lone surrogate such as ``"\\ud800"``, which JSON can spell
    but no database or file can store): 422."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        data: Any = {}
    elif "json_body" in g:  # parsed and checked once by the input guard
        data = g.json_body
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise AppError("bad_json") from None
    if not isinstance(data, dict):
        raise AppError("validation_error", detail="body must be a JSON object")
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise AppError("validation_error", detail="text must be valid Unicode") from None
    return data


def body(model: type[BaseModel]) -> Any:
    data = json_object()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AppError("validation_error", detail=_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err["loc"]) or "body"
        kind = err["type"]
        if kind == "missing":
            parts.append(f"{where}: required")
        elif kind == "extra_forbidden":
            parts.append(f"{where}: unknown field")
        else:
            parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = Response(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        status=status,
        mimetype="application/json",
    )
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def error_response(err: AppError) -> Response:
    body = {"code": err.code, "message": err.message(request_lang()), **err.data}
    return json_response({"error": body}, status=err.status)


@contextmanager
def write() -> Iterator[Session]:
    with ctx().db.write() as s:
        yield s


@contextmanager
def read(slow: bool = False) -> Iterator[Session]:
    """A read unit of work; ``slow`` for reports and exports (a longer statement timeout)."""
    with ctx().db.read(slow) as s:
        yield s


def write_json(fn: Callable[[Session, Principal], Any], status: int = 200) -> Response:
    """``fn(session, principal)`` in a write unit of work, run again on a concurrency failure;
    its result as JSON. The caller is checked (401/403) before ``fn`` reads the body (422)."""

    def unit() -> Any:
        with write() as s:
            return fn(s, principal(s))

    return json_response(retrying(unit), status)


def read_json(fn: Callable[[Session, Principal], Any], slow: bool = False) -> Response:
    """``fn(session, principal)`` in a read unit of work; its result as JSON."""
    with read(slow) as s:
        return json_response(fn(s, principal(s)))


# --- a token's last use ---------------------------------------------------------------------

_touched_lock = threading.Lock()


@bp.after_request
def _touch_token(resp: Response) -> Response:
    """Record a staff token's last use after the request (its own small write, at most once a
    minute per token: not one write per request)."""
    p = g.get("principal")
    if p is None or p.kind != "token" or p.id is None:
        return resp
    at = time.monotonic()
    # token id -> when this app last recorded its use
    touched: dict[int, float] = current_app.extensions.setdefault("motcua_touched_tokens", {})
    with _touched_lock:
        if at - touched.get(p.id, -1e9) < TOKEN_TOUCH_EVERY.total_seconds():
            return resp
        if len(touched) > 10_000:
            touched.clear()
        touched[p.id] = at
    try:
        with write() as s:
            touch_token(s, p.id, now())
    except Exception:  # bookkeeping: never fail the answer for it
        log.warning("could not record a token's last use", exc_info=True)
    return resp


# --- errors -------------------------------------------------------------------------------

RETRY_AFTER_S = 3  # a 503 for an unavailable database: retry after this many seconds
SCHEMA_RETRY_AFTER_S = 30  # a 503 for a schema behind the code: an upgrade takes minutes


@bp.errorhandler(AppError)
def _app_error(err: AppError) -> Response:
    return error_response(err)


@bp.errorhandler(IllegalTransition)
def _illegal(err: IllegalTransition) -> Response:
    return error_response(AppError("illegal_transition", action=err.action, status=err.status))


def register_error_handlers(app: Any) -> None:
    """JSON errors for /api paths, including 404/405 raised before a view runs."""

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if exc.code == 413:
            err = AppError("body_too_large", limit=request.max_content_length or 0)
            if request.path.startswith("/api/"):
                return error_response(err)
            return Response(err.message(request_lang()), status=413, mimetype="text/plain")
        if not request.path.startswith("/api/"):
            return exc
        if exc.code == 429 and exc.response is not None:  # a rate limit: api/limits.py
            return exc.response
        code = {404: "route_not_found", 405: "method_not_allowed"}.get(exc.code or 500)
        if code is None:
            code = "bad_json" if exc.code == 400 else "internal_error"
        return error_response(AppError(code))

    @app.errorhandler(AppError)
    def _app(err: AppError) -> Any:
        # Raised outside the API blueprint's own handler: by the input guard (before routing
        # is known to be the API's, e.g. an unknown /api/ path) or by a page.
        if request.path.startswith("/api/"):
            return error_response(err)
        return Response(err.message(request_lang()), status=err.status, mimetype="text/plain")

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Any:
        outage = None
        if unavailable_kind(exc) is not None:
            # The database cannot serve now (down, timed out, pool exhausted): a 503 the client
            # retries after a few seconds. Logged once per incident by the unit of work.
            outage = (AppError("database_unavailable"), RETRY_AFTER_S)
        elif schema_kind(exc) is not None:
            # The schema lacks a column or table this code uses (a migration not applied): a
            # 503 with the reason, not a 500 per request; logged once per incident, and
            # /readyz answers schema_behind until the database is upgraded.
            outage = (AppError("schema_behind"), SCHEMA_RETRY_AFTER_S)
        if outage is not None:
            err, retry_after = outage
            if request.path.startswith("/api/"):
                resp = error_response(err)
            else:
                resp = Response(err.message(request_lang()), status=503, mimetype="text/plain")
            resp.headers["Retry-After"] = str(retry_after)
            return resp
        log.exception("unhandled error", extra={"path": redact_path(request.path)})
        err = AppError("internal_error")
        if request.path.startswith("/api/"):
            return error_response(err)
        return Response(err.message(request_lang()), status=500, mimetype="text/plain")


# --- input limits -------------------------------------------------------------------------

#: Endpoints whose body is a whole file (configuration, catalog and holiday CSVs): they may
#: send up to ``MOTCUA_MAX_CONFIG_BYTES``; every other request ``MOTCUA_MAX_BODY_BYTES``.
FILE_ENDPOINTS = frozenset(
    {"api.config_import", "api.admin_procedures_import", "api.admin_holidays_import"}
)
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class SignedInt64Converter(IntegerConverter):
    """``<int:...>`` in every route: a number that fits a 64-bit id, else no match (404)."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = MAX_INT, signed: bool = False) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


def _guard_inputs() -> None:
    """Before any view: the body's size (413 before it is read), then no NUL character in the
    query, the path or the body, no JSON nested deeper than MAX_DEPTH and no integer beyond
    64 bits. A refusal is the usual error body (4xx), never a 500 from the database."""
    settings = ctx().settings
    if request.endpoint in FILE_ENDPOINTS:
        request.max_content_length = max(settings.max_config_bytes, settings.max_body_bytes)
    try:
        for key, values in request.args.lists():
            check_text(key, "query")
            for value in values:
                check_text(value, f"query.{key}")
        for name, value in (request.view_args or {}).items():
            if isinstance(value, str):
                check_text(value, name)
        check_text(request.path, "path")
        if request.mimetype in _FORMS:
            for key, values in request.form.lists():
                for value in values:
                    check_text(value, f"form.{key}")
            return
        raw = request.get_data(cache=True)  # RequestEntityTooLarge (413) before any parsing
        if not raw:
            return
        if request.is_json or raw.lstrip()[:1] in (b"{", b"["):
            try:
                data = json.loads(raw)
            except RecursionError:
                raise InputProblem("json_too_deep", depth=32) from None
            except (ValueError, UnicodeDecodeError):
                return  # not JSON after all: the view reports bad_json or reads it otherwise
            check_tree(data)
            g.json_body = data
        elif b"\x00" in raw:
            raise InputProblem("nul_character", where="body")
    except InputProblem as exc:
        raise AppError(exc.code, **exc.params) from None


def register_input_guards(app: Any) -> None:
    """Call before any blueprint is registered (the converter applies to routes bound after)."""
    app.config["MAX_CONTENT_LENGTH"] = ctx_settings(app).max_body_bytes
    app.url_map.converters["int"] = SignedInt64Converter
    app.before_request(_guard_inputs)


def ctx_settings(app: Any) -> Any:
    return app.extensions["motcua"].settings


# --- OpenAPI ------------------------------------------------------------------------------

_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def openapi_document() -> dict[str, Any]:

    models: set[type[BaseModel]] = set()

    models.add(ErrorOut)
    for e in REGISTRY:
        if e.body:
            models.add(e.body)
        for m in e.responses.values():
            if isinstance(m, list):
                models.add(m[0])
            elif m is not None:
                models.add(m)
    ordered = sorted(models, key=lambda m: (m.__name__, m.__module__))
    modes = {m: "validation" if m.__name__.endswith("In") else "serialization" for m in ordered}
    # Two models may share a name (admin and supervision both have an AuditOut): pydantic then
    # gives each a longer name, so references come from its own mapping, never from __name__.
    refs, top = models_json_schema(
        [(m, modes[m]) for m in ordered], ref_template="#/components/schemas/{model}"
    )
    schemas = top.get("$defs", {})

    def ref(m: type[BaseModel]) -> dict[str, str]:
        return {"$ref": refs[(m, modes[m])]["$ref"]}

    paths: dict[str, Any] = {}
    for e in REGISTRY:
        path = "/api/v1" + _PARAM.sub(lambda m: "{" + m.group(2) + "}", e.rule)
        params = []
        for conv, name in _PARAM.findall(e.rule):
            params.append(
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer"} if conv == "int" else {"type": "string"},
                }
            )
        params.extend(e.headers)
        op: dict[str, Any] = {
            "summary": e.summary,
            "tags": [e.tag],
            "x-roles": list(e.roles),
            "operationId": f"{e.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', e.rule.lower())}",
            "parameters": params,
            "responses": {},
        }
        if e.auth:
            op["security"] = [{"bearer": []}]
            op["description"] = f"Who may call: {e.auth}."
        else:
            op["security"] = []
            op["description"] = "Public: no token."
        if e.body:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(e.body)}},
            }
        for status, model in e.responses.items():
            r: dict[str, Any] = {"description": "OK" if status < 300 else "No content"}
            if isinstance(model, list):
                schema: dict[str, Any] = {"type": "array", "items": ref(model[0])}
                r["content"] = {"application/json": {"schema": schema}}
            elif model is not None:
                r["content"] = {"application/json": {"schema": ref(model)}}
            op["responses"][str(status)] = r
        # Every operation may meet a rate limit (api/limits.py).
        statuses = set(e.errors) | set(GENERIC_ERRORS) | {404, 429}
        if e.auth:
            statuses |= {401, 403}
        for status in sorted(statuses):
            op["responses"][str(status)] = {
                "description": ", ".join(c for c, s in STATUS_CODES.items() if s == status)
                or HTTP_STATUS_CODES.get(status, "Error"),
                "content": {"application/json": {"schema": ref(ErrorOut)}},
            }
        paths.setdefault(path, {})[e.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Motcua API",
            "version": "1",
            "description": "Queue and kiosk system for one-stop public service centres.",
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


