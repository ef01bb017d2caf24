"""Daily operations endpoints: closing the day, site configuration export/import."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from server.api.http import (
    ADMIN_ROLES,
    LEAD_ROLES,
    body,
    endpoint,
    now,
    principal,
    query_param,
    read,
    web_printers,
    write_json,
)
from server.api.schemas import Strict
from server.core.auth import Principal
from server.core.errors import AppError
from server.core.lookups import get_site
from server.features import dailyops, siteconfig


class CloseDayIn(Strict):
    pass


class CloseDayOut(BaseModel):
    site: str
    business_day: str
    unserved_at_close: int = Field(description="Waiting and parked tickets closed now")
    by_service: dict[str, int]
    at_counters_left: bool = Field(description="Tickets called or being served stay open")
    reason: str


class ConfigImportOut(BaseModel):
    site: str
    dry_run: bool
    created: int
    updated: int
    unchanged: int
    changes: list[str]


YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


@endpoint(
    "POST",
    "/sites/<site>/close-day",
    summary="Close the day: waiting and parked tickets become unserved_at_close",
    tag="sites",
    auth="supervisors and admins of the site",
    roles=LEAD_ROLES,
    body=CloseDayIn,
    responses={200: CloseDayOut},
)
def close_day(site: str) -> Response:
    def run(s: Session, p: Principal) -> dict[str, Any]:
        body(CloseDayIn)
        return dailyops.close_day(s, p, get_site(s, site), now())

    return write_json(run)


@endpoint(
    "GET",
    "/sites/<site>/config",
    summary="The site's whole configuration as one file (?format=json|yaml)",
    tag="admin",
    auth="admins; supervisors of the site (read-only)",
    roles=LEAD_ROLES,
    responses={200: None},
    errors=[401, 403, 404, 422],
    headers=[
        query_param("format", "json (the default) or yaml"),
        query_param("template", "1: a template for another centre, without this centre's "
                    "devices and printers; 0 (the default): everything"),
    ],
)
def config_export(site: str) -> Response:
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "yaml"):
        raise AppError("validation_error", detail="format: json or yaml")
    template = request.args.get("template", "0")
    if template not in ("0", "1"):
        raise AppError("validation_error", detail="template: 0 or 1")
    with read() as s:
        p = principal(s)
        doc = siteconfig.export_site(s, p, site, template=template == "1")
    mimetype = "application/yaml" if fmt == "yaml" else "application/json"
    resp = Response(siteconfig.dump(doc, fmt), mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{site}.{fmt}"'
    return resp


@endpoint(
    "POST",
    "/config/import",
    summary="Import a site configuration file (JSON or YAML body; ?dry_run=1 changes nothing)",
    tag="admin",
    auth="admins",
    roles=ADMIN_ROLES,
    responses={200: ConfigImportOut},
    errors=[400, 401, 403, 422],
)
def config_import() -> Response:
    dry_run = request.args.get("dry_run", "0") in ("1", "true", "yes")
    ctype = (request.mimetype or "").lower()
    fmt = "yaml" if ctype in YAML_TYPES else ("json" if ctype == "application/json" else None)
    try:
        text = request.get_data(cache=True).decode("utf-8")
    except UnicodeDecodeError:
        raise AppError("config_invalid", detail="the file is not UTF-8 text") from None
    printers = web_printers()
    return write_json(
        lambda s, p: siteconfig.import_config(s, p, text, now(), fmt, dry_run, printers)
    )
