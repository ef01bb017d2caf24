"""Admin console API: sites, services, counters, priority categories, users, devices
and device pairing. Thin endpoints over ``server.admin``.

Admins may do everything; supervisors read their own sites (GET); clerks and devices get 403.
A failed validation answers 422 ``{"error": {"code": "validation_error", "message", "fields":
{field: message}}}`` so the console shows each message next to its input.
"""

from __future__ import annotations

from typing import Annotated, Any

from flask import Response, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.api.http import (
    ADMIN_ROLES,
    LEAD_ROLES,
    bp,
    endpoint,
    json_object,
    json_response,
    now,
    principal,
    query_param,
    read,
    read_json,
    web_printers,
    write,
    write_json,
)
from server.api.limits import pairing_limit
from server.api.schemas import (
    AuditChangeOut,
    ClockText,
    CodeText,
    DayText,
    Names,
    NameText,
    ProcedureOut,
    TimezoneText,
    stated,
    text_at_most,
    whole,
)
from server.core.db import retrying
from server.core.errors import AppError
from server.features import admin
from server.features import catalog as admin_catalog
from server.models import DEVICE_KINDS, ROLES, SITE_KINDS
from server.rules import fields
from server.web.i18n import request_lang

ADMIN = "admins"
READ = "admins; supervisors of the site (read-only)"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SiteAdminIn(_In):
    code: CodeText | None = Field(default=None, description="Only when creating")
    name_vi: NameText | None = None
    name_en: NameText | None = None
    kind: Annotated[str, stated(type="string", enum=list(SITE_KINDS))] | None = None
    parent: CodeText | None = Field(default=None, description="Parent site code")
    timezone: TimezoneText | None = None
    agency_code: text_at_most(fields.AGENCY_CODE_MAX) | None = None
    address: text_at_most(fields.ADDRESS_MAX) | None = None
    phone: text_at_most(fields.PHONE_MAX) | None = None
    opening_hours: Annotated[
        dict[str, list[list[str]]],
        stated(
            type="object",
            propertyNames={"pattern": "^[0-6]$"},
            additionalProperties={
                "type": "array",
                "items": {"type": "array", "minItems": 2, "maxItems": 2,
                          "items": {"type": "string", "pattern": fields.HHMM.pattern}},
            },
        ),
    ] | None = Field(
        default=None,
        description='Weekday "0" (Monday)..."6" -> [["07:30","11:30"], ...], each interval '
        "opening before closing, not overlapping",
    )
    interleave_priority: whole(fields.INTERLEAVE_PRIORITY) | None = None
    interleave_normal: whole(fields.INTERLEAVE_NORMAL) | None = None
    call_starts_service: bool | None = Field(
        default=None,
        description="The call starts the service: finish follows the call, no separate start "
        "(default on for a new site; an edit without it keeps the site's setting)",
    )
    booking: dict[str, int] | None = Field(
        default=None,
        description="Appointment settings, each optional (default in brackets): slot_minutes "
        "[30], horizon_days [6], hold_minutes [10], checkin_before_minutes [30], "
        "checkin_after_minutes [15], per_day [2], per_service_day [1], no_show_limit [3], "
        "no_show_days [90], no_show_block_days [30], cancel_quarantine_minutes [15]; {} = all "
        "defaults; absent = kept",
    )


class ServiceAdminIn(_In):
    code: CodeText | None = Field(default=None, description="Only when creating")
    name_vi: NameText | None = None
    name_en: NameText | None = None
    prefix: Annotated[str, stated(type="string", pattern=fields.PREFIX.pattern)] | None = None
    sla_target_minutes: whole(fields.SLA_MINUTES) | None = None
    daily_cap: whole(fields.DAILY_CAP) | None = None
    last_ticket_time: ClockText | None = Field(default=None, description="HH:MM")
    display_colour: Annotated[str, stated(type="string", pattern=fields.COLOUR.pattern)] | None = (
        Field(default=None, description="#rrggbb")
    )
    active: bool = True
    online_share: Annotated[float, stated(type="number", minimum=0, maximum=1)] | None = Field(
        default=None, description="Share of a slot's capacity offered for booking online "
        "(0..1; absent: kept; never set: 0.5)")


class ProfileLineAdminIn(_In):
    code: CodeText
    weight: Annotated[
        float, stated(type="number", minimum=fields.WEIGHT[0], maximum=fields.WEIGHT[1])
    ] = 1.0


class CounterAdminIn(_In):
    number: whole(fields.COUNTER_NUMBER) | None = None
    name: Annotated[
        str, stated(type="string", pattern=r"\S", maxLength=fields.COUNTER_NAME_MAX)
    ] | None = None
    printer_uri: str | None = Field(default=None, max_length=600)
    services: list[ProfileLineAdminIn] = Field(default_factory=list, max_length=50)


class InterleaveIn(_In):
    priority: whole(fields.INTERLEAVE_PRIORITY)
    normal: whole(fields.INTERLEAVE_NORMAL)


class PriorityAdminIn(_In):
    code: CodeText | None = None
    name_vi: NameText | None = None
    name_en: NameText | None = None
    active: bool = True
    sort_order: whole(fields.SORT_ORDER) | None = None


class UserAdminIn(_In):
    username: Annotated[str, stated(type="string", pattern=admin.USERNAME.pattern)] | None = (
        Field(default=None, description="Only when creating")
    )
    full_name: text_at_most(admin.FULL_NAME_MAX) | None = None
    role: Annotated[str, stated(type="string", enum=list(ROLES))] | None = None
    sites: list[CodeText] | None = Field(default=None, max_length=200, description="Site codes")
    active: bool = True


class PairingClaimIn(_In):
    code: str | None = Field(default=None, max_length=32)
    site: CodeText | None = None
    kind: Annotated[str, stated(type="string", enum=list(DEVICE_KINDS))] | None = None
    name: str | None = Field(default=None, max_length=200)
    printer_uri: str | None = Field(default=None, max_length=600)


class PairingStartIn(_In):
    secret: str = Field(min_length=32, max_length=128, description="The device's own secret")


class PairingCollectIn(_In):
    code: str = Field(min_length=1, max_length=32)
    secret: str = Field(min_length=32, max_length=128)


class CsvIn(_In):
    csv: str = Field(max_length=2_000_000, description="The CSV file's text (UTF-8)")


class HolidayIn(_In):
    day: DayText | None = Field(default=None, description="YYYY-MM-DD")
    name_vi: NameText | None = None
    name_en: NameText | None = None


class ProcedureAdminOut(ProcedureOut):
    pass  # the same shape; its own name in the OpenAPI document, as before


class CatalogOut(BaseModel):
    province: str
    procedures: list[ProcedureAdminOut]


class CatalogImportOut(BaseModel):
    province: str
    dry_run: bool
    created: int
    updated: int
    codes: list[str]


class HolidayOut(BaseModel):
    day: str
    name: Names


class HolidaysOut(BaseModel):
    province: str
    holidays: list[HolidayOut]


class InterleaveOut(BaseModel):
    priority: int
    normal: int


class SiteAdminOut(BaseModel):
    code: str
    name: Names
    kind: str
    parent: str | None
    timezone: str
    agency_code: str | None
    address: str | None
    phone: str | None
    opening_hours: dict[str, list[list[str]]] | None
    interleave: InterleaveOut
    call_starts_service: bool
    booking: dict[str, int] | None = None
    depth: int | None = None


class ServiceAdminOut(BaseModel):
    id: int
    code: str
    name: Names
    prefix: str
    sla_target_minutes: int
    daily_cap: int | None
    last_ticket_time: str | None
    display_colour: str | None
    active: bool
    sort_order: int
    online_share: float | None = None
    procedures: list[str] = Field(
        default_factory=list, description="Codes of the province's procedures of this field"
    )


class ProfileLineAdminOut(BaseModel):
    code: str
    weight: float


class CounterAdminOut(BaseModel):
    id: int
    number: int
    name: str | None
    status: str
    printer_uri: str | None
    services: list[ProfileLineAdminOut]


class PriorityAdminOut(BaseModel):
    code: str
    name: Names
    active: bool
    sort_order: int


class UserAdminOut(BaseModel):
    id: int
    username: str
    full_name: str | None
    role: str
    active: bool
    sites: list[str]
    password: str | None = Field(default=None, description="Only after create or reset, once")


class DeviceOut(BaseModel):
    id: int
    site: str
    kind: str
    name: str
    printer_uri: str | None
    printer_status: str | None
    printer_detail: str | None
    created_at: str
    last_seen_at: str | None
    revoked_at: str | None


class TokenOut(BaseModel):
    """A staff API token (never its secret)."""

    id: int
    name: str | None
    role: str
    site: str
    counter_id: int | None
    owner: str | None = Field(description="username of the owner; null: made with the CLI")
    created_at: str
    expires_at: str | None
    last_used_at: str | None = Field(description="recorded at most once a minute")
    revoked_at: str | None


class PairingStartOut(BaseModel):
    code: str
    expires_at: str
    ttl_seconds: int


class PairingSiteOut(BaseModel):
    code: str
    name: Names


class PairingCollectOut(BaseModel):
    status: str = Field(description="pending | paired")
    expires_at: str | None = None
    token: str | None = Field(default=None, description="Only once, when paired")
    kind: str | None = None
    name: str | None = None
    site: PairingSiteOut | None = None
    page: str | None = None


class AuditOut(BaseModel):
    at: str
    actor: str
    action: str
    entity: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    who: dict[str, Any] | None = Field(default=None, description="The person or device, named")
    what: Names | None = Field(default=None, description="The action in words")
    target: Names | None = Field(default=None, description="What it changed, named")
    changes: list[AuditChangeOut] = Field(
        default_factory=list, description="Each field that changed, before → after, in words")


def _fields_response(err: admin.FieldErrors) -> Response:
    return json_response(
        {
            "error": {
                "code": err.code,
                "message": err.message(request_lang()),
                "fields": err.field_messages(request_lang()),
            }
        },
        status=err.status,
    )


bp.register_error_handler(admin.FieldErrors, _fields_response)


def _data(model: type[BaseModel]) -> dict[str, Any]:
    """The body as a dict; type errors are reported per field like the domain's checks."""

    data = json_object()
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        fields: dict[str, tuple[str, str]] = {}
        for e in exc.errors():
            name = str(e["loc"][0]) if e["loc"] else "body"
            if e["type"] == "extra_forbidden":
                fields.setdefault(name, admin.field_message("unknown_field"))
            else:
                # Pydantic's reason is English: the English line alone gives it.
                vi, en = admin.field_message("invalid_value")
                fields.setdefault(name, (vi, f"{en}: {e['msg']}"))
        raise admin.FieldErrors(fields) from None
    return parsed.model_dump(exclude_unset=False)


def _admin_data(model: type[BaseModel]) -> dict[str, Any]:
    """The body of an admin-only change, read only once the caller is known to be an admin:
    a stranger learns nothing about the body's rules (401/403 come before 422)."""
    with read() as s:
        if principal(s).role not in ("admin", "system"):
            raise AppError("forbidden")
    return _data(model)


# --- sites --------------------------------------------------------------------------------


@endpoint("GET", "/admin/sites", summary="The sites tree (parents first, with depth)",
          tag="admin", auth=READ, roles=LEAD_ROLES, responses={200: [SiteAdminOut]},
          errors=[401, 403])
def admin_sites() -> Response:
    return read_json(admin.list_sites)


@endpoint("POST", "/admin/sites", summary="Create a site (province, centre or reception point)",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, body=SiteAdminIn,
          responses={201: SiteAdminOut})
def admin_site_create() -> Response:
    data = _admin_data(SiteAdminIn)
    return write_json(lambda s, p: admin.create_site(s, p, data, now()), 201)


@endpoint("PUT", "/admin/sites/<site>", summary="Edit a site (all fields; code is fixed)",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, body=SiteAdminIn,
          responses={200: SiteAdminOut})
def admin_site_update(site: str) -> Response:
    data = _admin_data(SiteAdminIn)
    return write_json(lambda s, p: admin.update_site(s, p, site, data, now()))


@endpoint("PUT", "/admin/sites/<site>/interleave",
          summary="Priority interleave: call `priority` priority tickets, then `normal` others",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, body=InterleaveIn,
          responses={200: InterleaveOut})
def admin_site_interleave(site: str) -> Response:
    data = _admin_data(InterleaveIn)
    return write_json(lambda s, p: admin.set_interleave(
        s, p, site, data["priority"], data["normal"], now()))


# --- services -----------------------------------------------------------------------------


@endpoint("GET", "/admin/sites/<site>/services", summary="Services of a site (configuration)",
          tag="admin", auth=READ, roles=LEAD_ROLES, responses={200: [ServiceAdminOut]},
          errors=[401, 403, 404])
def admin_services(site: str) -> Response:
    return read_json(lambda s, p: admin.list_services(s, p, site))


@endpoint("POST", "/admin/sites/<site>/services", summary="Add a service to a site",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, body=ServiceAdminIn,
          responses={201: ServiceAdminOut})
def admin_service_create(site: str) -> Response:
    data = _admin_data(ServiceAdminIn)
    return write_json(lambda s, p: admin.save_service(s, p, site, data, now()), 201)


@endpoint("PUT", "/admin/sites/<site>/services/<code>",
          summary="Edit a service (names, prefix, SLA, cap, last-ticket time, colour, active)",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, body=ServiceAdminIn,
          responses={200: ServiceAdminOut})
def admin_service_update(site: str, code: str) -> Response:
    data = _admin_data(ServiceAdminIn)
    return write_json(lambda s, p: admin.save_service(s, p, site, data, now(), code=code))


# --- counters -----------------------------------------------------------------------------


@endpoint("GET", "/admin/sites/<site>/counters", summary="Counters of a site (configuration)",
          tag="admin", auth=READ, roles=LEAD_ROLES, responses={200: [CounterAdminOut]},
          errors=[401, 403, 404])
def admin_counters(site: str) -> Response:
    return read_json(lambda s, p: admin.list_counters(s, p, site))


@endpoint("POST", "/admin/sites/<site>/counters",
          summary="Add a counter (number, name, default work profile, printer)",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, body=CounterAdminIn,
          responses={201: CounterAdminOut})
def admin_counter_create(site: str) -> Response:
    data = _admin_data(CounterAdminIn)
    return write_json(lambda s, p: admin.save_counter(s, p, site, data, now(),
                                                       printers=web_printers()), 201)


@endpoint("PUT", "/admin/sites/<site>/counters/<int:counter_id>", summary="Edit a counter",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, body=CounterAdminIn,
          responses={200: CounterAdminOut})
def admin_counter_update(site: str, counter_id: int) -> Response:
    data = _admin_data(CounterAdminIn)
    return write_json(
        lambda s, p: admin.save_counter(s, p, site, data, now(), counter_id=counter_id,
                                        printers=web_printers())
    )


# --- priority categories ------------------------------------------------------------------


@endpoint("GET", "/admin/priorities", summary="Priority categories (also inactive ones)",
          tag="admin", auth=READ, roles=LEAD_ROLES, responses={200: [PriorityAdminOut]},
          errors=[401, 403])
def admin_priorities() -> Response:
    return read_json(admin.list_priorities)


@endpoint("PUT", "/admin/priorities", summary="Create or edit a priority category (by code)",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, body=PriorityAdminIn,
          responses={200: PriorityAdminOut})
def admin_priority_save() -> Response:
    data = _admin_data(PriorityAdminIn)
    return write_json(lambda s, p: admin.save_priority(s, p, data, now()))


# --- users --------------------------------------------------------------------------------


@endpoint("GET", "/admin/users", summary="Staff accounts", tag="admin", auth=ADMIN,
roles=ADMIN_ROLES,
          responses={200: [UserAdminOut]}, errors=[401, 403])
def admin_users() -> Response:
    return read_json(admin.list_users)


@endpoint("POST", "/admin/users",
          summary="Create a staff account; the generated password is in the answer, once",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, body=UserAdminIn,
          responses={201: UserAdminOut})
def admin_user_create() -> Response:
    data = _admin_data(UserAdminIn)
    return write_json(lambda s, p: admin.save_user(s, p, data, now()), 201)


@endpoint("PUT", "/admin/users/<int:user_id>",
          summary="Edit a staff account: name, role, sites, enabled", tag="admin", auth=ADMIN,
          roles=ADMIN_ROLES,
          body=UserAdminIn, responses={200: UserAdminOut})
def admin_user_update(user_id: int) -> Response:
    data = _admin_data(UserAdminIn)
    return write_json(lambda s, p: admin.save_user(s, p, data, now(), user_id=user_id))


@endpoint("POST", "/admin/users/<int:user_id>/reset-password",
          summary="Reset a password: a generated one is in the answer, once; sessions end",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, responses={200: UserAdminOut},
          errors=[401, 403, 404])
def admin_user_reset(user_id: int) -> Response:
    return write_json(lambda s, p: admin.reset_password(s, p, user_id, now()))


# --- staff API tokens ---------------------------------------------------------------------


@endpoint("GET", "/admin/tokens",
          summary="Staff API tokens (never their secret): owner, expiry, last use, revoked",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, responses={200: [TokenOut]},
          errors=[401, 403, 404],
          headers=[query_param("site", "only the tokens of this site (code)")])
def admin_tokens() -> Response:
    site = request.args.get("site") or None
    return read_json(lambda s, p: admin.list_tokens(s, p, site))


@endpoint("POST", "/admin/tokens/<int:token_id>/revoke",
          summary="Revoke a staff API token: refused at once, its sockets are closed",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, responses={200: TokenOut},
          errors=[401, 403, 404])
def admin_token_revoke(token_id: int) -> Response:
    return write_json(lambda s, p: admin.revoke_token(s, p, token_id, now()))


# --- devices and pairing ------------------------------------------------------------------


@endpoint("GET", "/admin/sites/<site>/devices",
          summary="Kiosks and displays of a site with last-seen and printer state",
          tag="admin", auth=READ, roles=LEAD_ROLES, responses={200: [DeviceOut]},
          errors=[401, 403, 404])
def admin_devices(site: str) -> Response:
    return read_json(lambda s, p: admin.list_devices(s, p, site))


@endpoint("POST", "/admin/devices/<int:device_id>/revoke",
          summary="Revoke a device: its token is refused at once and its sockets are closed",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, responses={200: DeviceOut},
          errors=[401, 403, 404])
def admin_device_revoke(device_id: int) -> Response:
    return write_json(lambda s, p: admin.revoke_device(s, p, device_id, now()))


@endpoint("POST", "/admin/pairing/claim",
          summary="Pair the device showing this code: creates the kiosk or display",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, body=PairingClaimIn,
          responses={201: DeviceOut},
          errors=[400, 401, 403, 404, 409, 410, 422])
def admin_pairing_claim() -> Response:
    data = _admin_data(PairingClaimIn)
    return write_json(lambda s, p: admin.claim_pairing(s, p, data, now(),
                                                        printers=web_printers()), 201)


@endpoint("POST", "/pairing", summary="A new device asks for a pairing code (public)",
          tag="devices", auth=None, body=PairingStartIn, responses={201: PairingStartOut},
          errors=[400, 422, 429])
@pairing_limit
def pairing_start() -> Response:
    data = _data(PairingStartIn)

    def unit() -> dict[str, Any]:
        with write() as s:
            return admin.start_pairing(s, data["secret"], now())

    return json_response(retrying(unit), 201)


@endpoint("POST", "/pairing/collect",
          summary="The device polls its code: pending, or its token once claimed (public)",
          tag="devices", auth=None, body=PairingCollectIn, responses={200: PairingCollectOut},
          errors=[400, 404, 409, 410, 422])
def pairing_collect() -> Response:
    data = _data(PairingCollectIn)

    def unit() -> dict[str, Any]:
        with write() as s:
            return admin.collect_pairing(s, data["code"], data["secret"], now())

    resp = json_response(retrying(unit))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@endpoint("GET", "/admin/audit", summary="Recent configuration changes (?site=CODE)",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, responses={200: [AuditOut]},
          errors=[401, 403, 404])
def admin_audit() -> Response:
    return read_json(lambda s, p: admin.list_audit(s, p, request.args.get("site") or None))


# --- the province's procedure catalog and holidays ---------------------------------------


@endpoint("GET", "/admin/sites/<site>/procedures",
          summary="The procedure catalog of the site's province (retired ones too)",
          tag="admin", auth=READ, roles=LEAD_ROLES, responses={200: CatalogOut},
          errors=[401, 403, 404])
def admin_procedures(site: str) -> Response:
    return read_json(lambda s, p: admin_catalog.list_catalog(s, p, site))


@endpoint("POST", "/admin/sites/<site>/procedures/import",
          summary="Import the province's catalog from CSV (all or nothing; ?dry_run=1 checks)",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, body=CsvIn, responses={200: CatalogImportOut})
def admin_procedures_import(site: str) -> Response:
    data = _admin_data(CsvIn)
    dry = request.args.get("dry_run") in ("1", "true", "yes")
    return write_json(lambda s, p: admin_catalog.import_catalog(
        s, p, site, data["csv"], now(), dry_run=dry))


@endpoint("GET", "/admin/sites/<site>/procedures.csv",
          summary="Export the province's catalog as CSV", tag="admin", auth=READ, roles=LEAD_ROLES,
          responses={200: None}, errors=[401, 403, 404])
def admin_procedures_export(site: str) -> Response:
    with read() as s:
        province, text = admin_catalog.export_catalog(s, principal(s), site)
    resp = Response("\ufeff" + text, mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="procedures-{province}.csv"'
    return resp


@endpoint("GET", "/admin/sites/<site>/holidays", summary="The holidays of the site's province",
          tag="admin", auth=READ, roles=LEAD_ROLES, responses={200: HolidaysOut},
          errors=[401, 403, 404])
def admin_holidays(site: str) -> Response:
    return read_json(lambda s, p: admin_catalog.list_holidays(s, p, site))


@endpoint("PUT", "/admin/sites/<site>/holidays", summary="Add or rename a holiday (by day)",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, body=HolidayIn, responses={200: HolidaysOut})
def admin_holiday_save(site: str) -> Response:
    data = _admin_data(HolidayIn)
    return write_json(lambda s, p: admin_catalog.add_holiday(s, p, site, data, now()))


@endpoint("DELETE", "/admin/sites/<site>/holidays/<day>", summary="Remove a holiday",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, responses={200: HolidaysOut},
          errors=[401, 403, 404])
def admin_holiday_delete(site: str, day: str) -> Response:
    return write_json(lambda s, p: admin_catalog.delete_holiday(s, p, site, day, now()))


@endpoint("POST", "/admin/sites/<site>/holidays/import",
          summary="Import holidays from CSV: day,name_vi,name_en (all or nothing)",
          tag="admin", auth=ADMIN, roles=ADMIN_ROLES, body=CsvIn, responses={200: HolidaysOut})
def admin_holidays_import(site: str) -> Response:
    data = _admin_data(CsvIn)
    return write_json(
        lambda s, p: admin_catalog.import_holidays(s, p, site, data["csv"], now())
    )
