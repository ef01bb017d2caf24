"""Admin console domain: configure sites, services, counters, priority categories, users and
devices (with pairing) without touching the database by hand.

No Flask here: every function takes a session inside a unit of work, the acting principal and
``now``. Writes are for admins; supervisors may read their own sites (and the points under
them); clerks and devices get 403. Every change is audited (``service._audit``) with the
before and after values (never a password or a token).

Validation is done here, all of it before anything is written, and reported per field
(:class:`FieldErrors`) so the console can show each message next to its input.

Device pairing (``/pair``):

1. the new device makes a random secret and calls :func:`start_pairing` with it: it gets a
   short code (6 letters/digits from an alphabet without look-alikes) that expires in
   ``PAIRING_TTL``; only the secret's hash is stored;
2. an admin types the code in the console: :func:`claim_pairing` creates the device (site,
   kind, name, printer) and links it to the code;
3. the device polls :func:`collect_pairing` with code + secret; once claimed it receives its
   device token, exactly once (the token is made at that moment and only its hash kept).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from printers.uri import PolicyError, UriPolicy, check_policy
from server.core import auth, field_words
from server.core.audit import audit
from server.core.auth import Principal
from server.core.catalogs import catalogs
from server.core.errors import AppError, not_found
from server.core.events import emit
from server.core.lookups import get_site
from server.features import audit_log, devices
from server.features.counters import replace_profile
from server.features.dossiers import province_of
from server.features.queues import emit_queue_stats
from server.features.sites import site_view
from server.models import (
    DEVICE_KINDS,
    ROLES,
    SITE_KINDS,
    ApiToken,
    Counter,
    Device,
    PairingCode,
    PrinterState,
    PriorityCategory,
    Procedure,
    Service,
    Site,
    User,
    UserSite,
)
from server.rules import fields as rules
from server.rules.fields import UNAMBIGUOUS_ALPHABET
from server.rules.opening_hours import validate_opening_hours

PAIRING_TTL = dt.timedelta(minutes=10)
# After the admin claims a code, the device has this long to collect its token.
COLLECT_TTL = dt.timedelta(minutes=10)
PAIRING_ALPHABET = UNAMBIGUOUS_ALPHABET  # no 0/O, 1/I
PAIRING_LENGTH = 6
# Unclaimed, unexpired codes at once, province-wide: a last brake on the table's size. Who may
# ask how often is the per-address rate limit of POST /pairing (api/limits.py).
MAX_PENDING_CODES = 5000
# Device last-seen is written at most this often (it is a write on a read path).
LAST_SEEN_EVERY = dt.timedelta(seconds=60)

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
FULL_NAME_MAX = 200


class FieldErrors(AppError):
    """Validation failed on named fields; ``fields`` maps a field to its (vi, en) message."""

    def __init__(self, fields: dict[str, tuple[str, str]]) -> None:
        self.fields = fields
        # The catalogs' "validation_error" ("Invalid data: {detail}") with each language's list.
        super().__init__("validation_error", **{
            f"detail_{lang}": "; ".join(f"{k}: {v}" for k, v in self.field_messages(lang).items())
            for lang in ("vi", "en")})

    def field_messages(self, lang: str) -> dict[str, str]:
        return {k: (en if lang == "en" else vi) for k, (vi, en) in self.fields.items()}


def field_message(key: str, **params: Any) -> tuple[str, str]:
    """A field's message (the catalogs' "admin.fields" entry ``key``), Vietnamese and
    English, its placeholders filled: what :class:`FieldErrors` carries per field."""
    return (catalogs.say("admin.fields", key, "vi", **params),
            catalogs.say("admin.fields", key, "en", **params))


class _Check:
    """Collects field errors; :meth:`done` raises them all at once."""

    def __init__(self) -> None:
        self.errors: dict[str, tuple[str, str]] = {}

    def add(self, field: str, key: str, **params: Any) -> None:
        if field not in self.errors:
            self.errors[field] = field_message(key, **params)

    def text(self, data: dict[str, Any], field: str, n: int, required: bool = True) -> str | None:
        value = data.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(field, "required")
            return None
        if not isinstance(value, str):
            self.add(field, "required")
            return None
        value = value.strip()
        if len(value) > n:
            self.add(field, "too_long", n=n)
        return value

    def pattern(
        self, data: dict[str, Any], field: str, rx: re.Pattern[str], key: str,
        required: bool = True,
    ) -> str | None:
        value = data.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(field, "required")
            return None
        if not isinstance(value, str) or not rx.match(value.strip()):
            self.add(field, key)
            return None
        return value.strip()

    def rule(
        self, data: dict[str, Any], field: str, check: Any, required: bool = True, **kw: Any
    ) -> Any:
        """``check`` is a rule of server/rules/fields.py; blank counts as not given."""
        value = data.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(field, "required")
            return None
        try:
            return check(value, **kw)
        except rules.FieldProblem as exc:
            self.errors.setdefault(field, (field_words.sentence(exc, "vi"),
                                           field_words.sentence(exc, "en")))
            return None

    def done(self) -> None:
        if self.errors:
            raise FieldErrors(self.errors)


# --- permissions --------------------------------------------------------------------------


def require_admin(p: Principal) -> None:
    auth.require(p.role in ("admin", "system"))


def can_read(session: Session, p: Principal, site_id: int) -> bool:
    """Admins read everything; supervisors their own sites (read-only)."""
    return p.role in ("admin", "system", "supervisor") and auth.in_scope(session, p, site_id)


def site_for_read(session: Session, p: Principal, code: str) -> Site:
    auth.require(p.role in ("admin", "system", "supervisor"))
    site = get_site(session, code)
    auth.require(can_read(session, p, site.id))
    return site


def site_for_write(session: Session, p: Principal, code: str) -> Site:
    require_admin(p)
    return get_site(session, code)


# --- sites --------------------------------------------------------------------------------


def _hours_view(hours: Any) -> dict[str, list[list[str]]] | None:
    return dict(hours) if isinstance(hours, dict) else None


def site_admin_view(site: Site, parent_code: str | None) -> dict[str, Any]:
    """What everyone sees of a site, with the contact details and hours the console edits."""
    return {
        **site_view(site, parent_code),
        "address": site.address,
        "phone": site.phone,
        "opening_hours": _hours_view(site.opening_hours),
        "booking": site.booking,
    }


def list_sites(session: Session, p: Principal) -> list[dict[str, Any]]:
    """Every site the caller may read, parents before children (a tree in document order)."""
    auth.require(p.role in ("admin", "system", "supervisor"))
    sites = session.scalars(select(Site).order_by(Site.id)).all()
    codes = {s.id: s.code for s in sites}
    children: dict[int | None, list[Site]] = {}
    for s in sites:
        children.setdefault(s.parent_id if s.parent_id in codes else None, []).append(s)
    out: list[dict[str, Any]] = []

    def walk(parent: int | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda x: (x.name_vi, x.id)):
            if can_read(session, p, s.id):
                out.append({**site_admin_view(s, codes.get(s.parent_id)), "depth": depth})
            walk(s.id, depth + 1)

    walk(None, 0)
    return out


def _site_fields(
    session: Session, data: dict[str, Any], site: Site | None
) -> dict[str, Any]:
    c = _Check()
    fields: dict[str, Any] = {}
    if site is None:
        code = c.rule(data, "code", rules.site_code)
        if code and session.scalar(select(Site.id).where(Site.code == code)) is not None:
            c.add("code", "code_taken")
        fields["code"] = code
    fields["name_vi"] = c.rule(data, "name_vi", rules.name)
    fields["name_en"] = c.rule(data, "name_en", rules.name)
    kind = data.get("kind", site.kind if site else None)
    if kind not in SITE_KINDS:
        c.add("kind", "kind")
    fields["kind"] = kind
    parent_code = data.get("parent") or None
    parent: Site | None = None
    if parent_code is not None:
        parent = session.scalar(select(Site).where(Site.code == parent_code))
        if parent is None:
            c.add("parent", "parent_unknown")
    if kind in SITE_KINDS and "parent" not in c.errors:
        ok = {
            "province": parent is None,
            "centre": parent is not None and parent.kind == "province",
            "point": parent is not None and parent.kind in ("province", "centre"),
        }[kind]
        if not ok:
            c.add("parent", "parent_rule")
        elif site is not None and parent is not None:
            cur: Site | None = parent
            while cur is not None:
                if cur.id == site.id:
                    c.add("parent", "parent_cycle")
                    break
                cur = cur.parent
    fields["parent_id"] = parent.id if parent else None
    fields["timezone"] = c.rule(data, "timezone", rules.timezone)
    fields["agency_code"] = c.rule(data, "agency_code", rules.agency_code, required=False)
    fields["address"] = c.rule(data, "address", rules.address, required=False)
    fields["phone"] = c.rule(data, "phone", rules.phone, required=False)
    try:
        fields["opening_hours"] = validate_opening_hours(data.get("opening_hours"))
    except ValueError:
        c.add("opening_hours", "hours")
    if "interleave_priority" in data or site is None:
        for key, rule in (("interleave_priority", rules.interleave_priority),
                          ("interleave_normal", rules.interleave_normal)):
            held = site is not None and data.get(key) == getattr(site, key)
            fields[key] = c.rule(data, key, rule, held=held)
    if data.get("call_starts_service") is not None:
        fields["call_starts_service"] = bool(data["call_starts_service"])
    elif site is None:
        fields["call_starts_service"] = True  # new sites: the call starts the service
    if data.get("booking") is not None:  # appointments; {} = the defaults, absent = kept
        fields["booking"] = c.rule(data, "booking", rules.booking_settings, required=False)
    c.done()
    return fields


def _site_snapshot(site: Site) -> dict[str, Any]:
    return {
        "code": site.code,
        "name_vi": site.name_vi,
        "name_en": site.name_en,
        "kind": site.kind,
        "parent_id": site.parent_id,
        "timezone": site.timezone,
        "agency_code": site.agency_code,
        "address": site.address,
        "phone": site.phone,
        "opening_hours": _hours_view(site.opening_hours),
        "interleave_priority": site.interleave_priority,
        "interleave_normal": site.interleave_normal,
        "call_starts_service": site.call_starts_service,
        "booking": site.booking,
    }


def _parent_code(session: Session, site: Site) -> str | None:
    if site.parent_id is None:
        return None
    return session.scalar(select(Site.code).where(Site.id == site.parent_id))


def create_site(
    session: Session, p: Principal, data: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    require_admin(p)
    fields = _site_fields(session, data, None)
    site = Site(**fields)
    session.add(site)
    session.flush()
    audit(session, p, now, site.id, "site.create", "site", site.code, None, _site_snapshot(site))
    return site_admin_view(site, _parent_code(session, site))


def update_site(
    session: Session, p: Principal, code: str, data: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    site = site_for_write(session, p, code)
    fields = _site_fields(session, data, site)
    before = _site_snapshot(site)
    for k, v in fields.items():
        setattr(site, k, v)
    session.flush()
    after = _site_snapshot(site)
    if before != after:
        audit(session, p, now, site.id, "site.update", "site", site.code, before, after)
    return site_admin_view(site, _parent_code(session, site))


# --- services -----------------------------------------------------------------------------


def service_admin_view(svc: Service) -> dict[str, Any]:
    return {
        "id": svc.id,
        "code": svc.code,
        "name": {"vi": svc.name_vi, "en": svc.name_en},
        "prefix": svc.prefix,
        "sla_target_minutes": svc.sla_target_minutes,
        "daily_cap": svc.daily_cap,
        "last_ticket_time": svc.last_ticket_time,
        "display_colour": svc.display_colour,
        "active": svc.active,
        "sort_order": svc.sort_order,
        "online_share": svc.online_share,
    }


def _service_snapshot(svc: Service) -> dict[str, Any]:
    v = service_admin_view(svc)
    v.pop("id")
    v["name_vi"], v["name_en"] = svc.name_vi, svc.name_en
    v.pop("name")
    return v


def list_services(session: Session, p: Principal, site_code: str) -> list[dict[str, Any]]:
    site = site_for_read(session, p, site_code)
    rows = session.scalars(
        select(Service).where(Service.site_id == site.id).order_by(Service.sort_order, Service.id)
    ).all()
    # Linked procedures: the province catalog's procedures of this field (service code).

    linked: dict[str, list[str]] = {}
    for code, svc_code in session.execute(
        select(Procedure.code, Procedure.service_code)
        .where(Procedure.site_id == province_of(session, site).id, Procedure.active.is_(True))
        .order_by(Procedure.code)
    ):
        linked.setdefault(svc_code, []).append(code)
    return [{**service_admin_view(s), "procedures": linked.get(s.code, [])} for s in rows]


def save_service(
    session: Session,
    p: Principal,
    site_code: str,
    data: dict[str, Any],
    now: dt.datetime,
    code: str | None = None,
) -> dict[str, Any]:
    """Create (``code`` None: taken from ``data``) or update a service of a site."""
    site = site_for_write(session, p, site_code)
    svc: Service | None = None
    if code is not None:
        svc = session.scalar(
            select(Service).where(Service.site_id == site.id, Service.code == code)
        )
        if svc is None:
            raise not_found("service")
    c = _Check()
    fields: dict[str, Any] = {}
    if svc is None:
        new_code = c.rule(data, "code", rules.service_code)
        if new_code and session.scalar(
            select(Service.id).where(Service.site_id == site.id, Service.code == new_code)
        ) is not None:
            c.add("code", "code_taken")
        fields["code"] = new_code
    fields["name_vi"] = c.rule(data, "name_vi", rules.name)
    fields["name_en"] = c.rule(data, "name_en", rules.name)

    def held(key: str) -> bool:  # the value stored now may stay even if a new one could not
        return svc is not None and data.get(key) == getattr(svc, key)

    prefix = c.rule(data, "prefix", rules.prefix, held=held("prefix"))
    if prefix:
        clash = session.scalar(
            select(Service.id).where(Service.site_id == site.id, Service.prefix == prefix)
        )
        if clash is not None and (svc is None or clash != svc.id):
            c.add("prefix", "prefix_taken")
    fields["prefix"] = prefix
    fields["sla_target_minutes"] = c.rule(
        data, "sla_target_minutes", rules.sla_minutes, held=held("sla_target_minutes")
    )
    fields["daily_cap"] = c.rule(
        data, "daily_cap", rules.daily_cap, required=False, held=held("daily_cap")
    )
    fields["last_ticket_time"] = c.rule(
        data, "last_ticket_time", rules.clock_time, required=False
    )
    fields["display_colour"] = c.rule(data, "display_colour", rules.colour, required=False)
    if data.get("online_share") is not None:  # appointments; absent = kept (NULL: 50 %)
        fields["online_share"] = c.rule(data, "online_share", rules.online_share)
    active = data.get("active", True if svc is None else svc.active)
    fields["active"] = bool(active)
    c.done()
    if svc is None:
        count = session.scalar(select(func.count(Service.id)).where(Service.site_id == site.id))
        svc = Service(site_id=site.id, sort_order=int(count or 0), default_service_minutes=8.0)
        session.add(svc)
        before = None
    else:
        before = _service_snapshot(svc)
    for k, v in fields.items():
        setattr(svc, k, v)
    session.flush()
    after = _service_snapshot(svc)
    if before != after:
        action = "service.create" if before is None else "service.update"
        audit(session, p, now, site.id, action, "service", svc.id, before, after)
        emit(session, site.id, "config.changed", {"site": site.code, "service": svc.code})
    return service_admin_view(svc)


# --- counters -----------------------------------------------------------------------------


def counter_admin_view(counter: Counter) -> dict[str, Any]:
    return {
        "id": counter.id,
        "number": counter.number,
        "name": counter.name,
        "status": counter.status,
        "printer_uri": counter.printer_uri,
        "services": [
            {"code": line.service.code, "weight": line.weight} for line in counter.profile
        ],
    }


def list_counters(session: Session, p: Principal, site_code: str) -> list[dict[str, Any]]:
    site = site_for_read(session, p, site_code)
    rows = session.scalars(
        select(Counter).where(Counter.site_id == site.id).order_by(Counter.number)
    ).all()
    return [counter_admin_view(c) for c in rows]


def _printer_uri(
    c: _Check, data: dict[str, Any], policy: UriPolicy, field: str = "printer_uri"
) -> str | None:
    """The printer URI of ``data`` if ``policy`` allows it (the scheme in any letter case:
    ``File://`` is ``file://``), else a field error naming the rule."""
    uri = c.text(data, field, 300, required=False)
    if uri is None:
        return None
    try:
        check_policy(uri, policy)
    except PolicyError as exc:
        if exc.code == "printer_file_not_allowed":
            c.add(field, "printer_file", rule=exc.code)
        else:
            c.add(field, "printer_rule", rule=exc.code, why=exc.reason[:160])
        return None
    except ValueError as exc:
        c.add(field, "printer", why=str(exc)[:120])
        return None
    return uri


#: What the web may set when the caller gives no policy: no file://, no loopback or
#: link-local tcp:// (the API passes the one built from the settings).
WEB_PRINTERS = UriPolicy()


def save_counter(
    session: Session,
    p: Principal,
    site_code: str,
    data: dict[str, Any],
    now: dt.datetime,
    counter_id: int | None = None,
    printers: UriPolicy = WEB_PRINTERS,
) -> dict[str, Any]:
    site = site_for_write(session, p, site_code)
    counter: Counter | None = None
    if counter_id is not None:
        counter = session.get(Counter, counter_id)
        if counter is None or counter.site_id != site.id:
            raise not_found("counter")
    c = _Check()
    number = c.rule(data, "number", rules.counter_number,
                    held=counter is not None and data.get("number") == counter.number)
    if number is not None:
        clash = session.scalar(
            select(Counter.id).where(Counter.site_id == site.id, Counter.number == number)
        )
        if clash is not None and (counter is None or clash != counter.id):
            c.add("number", "number_taken")
    name = c.rule(data, "name", rules.counter_name, required=False)
    printer = _printer_uri(c, data, printers)
    lines = data.get("services") or []
    held_weights = {
        (line.service_id, line.weight) for line in (counter.profile if counter else [])
    }
    services = {
        s.code: s for s in session.scalars(select(Service).where(Service.site_id == site.id))
    }
    profile: list[tuple[Service, float]] = []
    if not isinstance(lines, list):
        c.add("services", "required")
        lines = []
    seen: set[str] = set()
    for line in lines:
        code = line.get("code") if isinstance(line, dict) else None
        weight = line.get("weight", 1.0) if isinstance(line, dict) else None
        if not isinstance(code, str) or code not in services:
            c.add("services", "profile_service", code=code)
            continue
        if code in seen:
            c.add("services", "profile_dup")
            continue
        seen.add(code)
        try:
            w = rules.weight(weight, held=(services[code].id, weight) in held_weights)
        except rules.FieldProblem as exc:
            c.errors.setdefault("services", (field_words.sentence(exc, "vi"),
                                             field_words.sentence(exc, "en")))
            continue
        profile.append((services[code], w))
    c.done()
    if counter is None:
        counter = Counter(site_id=site.id, status="closed")
        session.add(counter)
        before = None
    else:
        before = counter_admin_view(counter)
        before.pop("id")
        before.pop("status")
    touched = {line.service_id for line in counter.profile} | {svc.id for svc, _ in profile}
    counter.number = number  # type: ignore[assignment]
    counter.name = name
    counter.printer_uri = printer
    session.flush()
    replace_profile(session, counter, profile)
    session.refresh(counter)
    after = counter_admin_view(counter)
    after.pop("id")
    after.pop("status")
    if before != after:
        action = "counter.create" if before is None else "counter.update"
        audit(session, p, now, site.id, action, "counter", counter.id, before, after)
        emit(
            session, site.id, "counter.changed",
            {"counter_id": counter.id, "number": counter.number, "status": counter.status,
             "services": after["services"]},
        )
        if touched and counter.status != "closed":  # open counters per service changed
            emit_queue_stats(session, site.id, touched, now)
    return counter_admin_view(counter)


# --- priority categories ------------------------------------------------------------------


def list_priorities(session: Session, p: Principal) -> list[dict[str, Any]]:
    auth.require(p.role in ("admin", "system", "supervisor"))
    rows = session.scalars(
        select(PriorityCategory).order_by(PriorityCategory.sort_order, PriorityCategory.id)
    ).all()
    return [
        {"code": r.code, "name": {"vi": r.name_vi, "en": r.name_en}, "active": r.active,
         "sort_order": r.sort_order}
        for r in rows
    ]


def save_priority(
    session: Session, p: Principal, data: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    """Create or update (by code) a priority category. Categories are install-wide."""
    require_admin(p)
    c = _Check()
    code = c.rule(data, "code", rules.category_code)
    name_vi = c.rule(data, "name_vi", rules.name)
    name_en = c.rule(data, "name_en", rules.name)
    held_order = session.scalar(
        select(PriorityCategory.sort_order).where(PriorityCategory.code == code)
    ) if code else None
    order = c.rule(data, "sort_order", rules.sort_order, required=False,
                   held=held_order is not None and data.get("sort_order") == held_order)
    c.done()
    row = session.scalar(select(PriorityCategory).where(PriorityCategory.code == code))
    before = None
    if row is None:
        count = session.scalar(select(func.count(PriorityCategory.id)))
        row = PriorityCategory(code=code, sort_order=int(count or 0))
        session.add(row)
    else:
        before = {"name_vi": row.name_vi, "name_en": row.name_en, "active": row.active,
                  "sort_order": row.sort_order}
    row.name_vi, row.name_en = name_vi or "", name_en or ""
    row.active = bool(data.get("active", True))
    if order is not None:
        row.sort_order = order
    session.flush()
    after = {"name_vi": row.name_vi, "name_en": row.name_en, "active": row.active,
             "sort_order": row.sort_order}
    if before != after:
        action = "priority.create" if before is None else "priority.update"
        audit(session, p, now, None, action, "priority", row.code, before, after)
    return {"code": row.code, "name": {"vi": row.name_vi, "en": row.name_en},
            "active": row.active, "sort_order": row.sort_order}


def set_interleave(
    session: Session, p: Principal, site_code: str, priority: Any, normal: Any,
    now: dt.datetime,
) -> dict[str, Any]:
    site = site_for_write(session, p, site_code)
    c = _Check()
    pr = c.rule({"priority": priority}, "priority", rules.interleave_priority,
                held=priority == site.interleave_priority)
    no = c.rule({"normal": normal}, "normal", rules.interleave_normal,
                held=normal == site.interleave_normal)
    c.done()
    before = {"priority": site.interleave_priority, "normal": site.interleave_normal}
    site.interleave_priority, site.interleave_normal = pr, no  # type: ignore[assignment]
    after = {"priority": pr, "normal": no}
    if before != after:
        audit(session, p, now, site.id, "site.interleave", "site", site.code, before, after)
    return after


# --- users --------------------------------------------------------------------------------


def user_view(session: Session, user: User) -> dict[str, Any]:
    codes = list(
        session.scalars(
            select(Site.code)
            .join(UserSite, UserSite.site_id == Site.id)
            .where(UserSite.user_id == user.id)
            .order_by(Site.code)
        )
    )
    return {
        "id": user.id,
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role,
        "active": user.active,
        "sites": codes,
    }


def list_users(session: Session, p: Principal) -> list[dict[str, Any]]:
    require_admin(p)
    users = session.scalars(select(User).order_by(User.username)).all()
    return [user_view(session, u) for u in users]


def new_password() -> str:
    """A generated password, shown once: 12 characters from the unambiguous alphabet."""
    alphabet = PAIRING_ALPHABET + PAIRING_ALPHABET.lower().replace("l", "")
    return "".join(secrets.choice(alphabet) for _ in range(12))


def _active_admins(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count(User.id)).where(User.role == "admin", User.active.is_(True))
        )
        or 0
    )


def save_user(
    session: Session,
    p: Principal,
    data: dict[str, Any],
    now: dt.datetime,
    user_id: int | None = None,
) -> dict[str, Any]:
    """Create (returns ``password`` once) or update a user: name, role, sites, active."""
    require_admin(p)
    user: User | None = None
    if user_id is not None:
        user = session.get(User, user_id)
        if user is None:
            raise not_found("user")
    c = _Check()
    username = None
    if user is None:
        username = c.pattern(data, "username", USERNAME, "username")
        if username and session.scalar(select(User.id).where(User.username == username)):
            c.add("username", "username_taken")
    full_name = c.text(data, "full_name", FULL_NAME_MAX, required=False)
    role = data.get("role", user.role if user else None)
    if role not in ROLES:
        c.add("role", "role")
    active = bool(data.get("active", True if user is None else user.active))
    codes = data.get("sites")
    sites: list[Site] | None = None
    if codes is not None:
        if not isinstance(codes, list) or not all(isinstance(x, str) for x in codes):
            c.add("sites", "sites_required")
        else:
            sites = []
            for code in codes:
                s = session.scalar(select(Site).where(Site.code == code))
                if s is None:
                    c.add("sites", "site_unknown", code=code)
                else:
                    sites.append(s)
    effective_sites = sites if sites is not None else (user.sites if user else [])
    if role in ("clerk", "supervisor") and not effective_sites:
        c.add("sites", "sites_required")
    if user is not None and user.role == "admin" and user.active and (
        role != "admin" or not active
    ) and _active_admins(session) <= 1:
        c.add("role" if role != "admin" else "active", "last_admin")
    if user is not None and user.id == p.user_id and not active:
        c.add("active", "self")
    c.done()
    password = None
    if user is None:
        password = new_password()
        user = User(
            username=username, role=role, created_at=now,
            password_hash=auth.hash_password(password),
        )
        session.add(user)
        session.flush()
        before = None
    else:
        before = user_view(session, user)
        before.pop("id")
    disabled = user.active and not active and before is not None
    user.full_name = full_name
    user.role = role  # type: ignore[assignment]
    user.active = active
    if disabled:
        end_user_access(session, p, user, now)
    if sites is not None:
        user.sites = sites
    session.flush()
    view = user_view(session, user)
    after = {k: v for k, v in view.items() if k != "id"}
    if before != after:
        action = "user.create" if before is None else "user.update"
        audit(session, p, now, None, action, "user", user.id, before, after)
    if password is not None:
        view["password"] = password
    return view


def reset_password(session: Session, p: Principal, user_id: int, now: dt.datetime) -> dict:
    """A new generated password (returned once; the user's sessions end)."""
    require_admin(p)
    user = session.get(User, user_id)
    if user is None:
        raise not_found("user")
    password = new_password()
    user.password_hash = auth.hash_password(password)
    audit(session, p, now, None, "user.reset_password", "user", user.id,
           None, {"password": "reset"})
    _emit_revoked(session, "user.revoked", {"user_id": user.id}, _user_site(session, user))
    return {**user_view(session, user), "password": password}


def _user_site(session: Session, user: User) -> int | None:
    """A site to number the user's revocation event on (any will do: every node's hub acts on
    it whatever the site); an admin without sites: the first site."""
    site_id = session.scalar(
        select(UserSite.site_id).where(UserSite.user_id == user.id).order_by(UserSite.site_id)
    )
    return site_id if site_id is not None else session.scalar(select(func.min(Site.id)))


def _emit_revoked(
    session: Session, kind: str, data: dict[str, Any], site_id: int | None
) -> None:
    """The hub closes the sockets of a revoked user or token (realtime.Hub.publish on this
    node; the revoked-access sweep on the others, REVOKE_SWEEP_SECONDS)."""
    if site_id is not None:
        emit(session, site_id, kind, data)


def end_user_access(session: Session, p: Principal, user: User, now: dt.datetime) -> None:
    """A disabled user: their tokens are revoked and their sockets closed."""
    for tok in session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ):
        tok.revoked_at = now
        audit(session, p, now, tok.site_id, "token.revoke", "token", tok.id,
              {"revoked_at": None}, {"revoked_at": now.isoformat()})
    _emit_revoked(session, "user.revoked", {"user_id": user.id}, _user_site(session, user))


# --- staff API tokens ---------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def token_view(tok: ApiToken, site_code: str, username: str | None) -> dict[str, Any]:
    return {
        "id": tok.id,
        "name": tok.name,
        "role": tok.role,
        "site": site_code,
        "counter_id": tok.counter_id,
        "owner": username,
        "created_at": tok.created_at.isoformat(),
        "expires_at": _iso(tok.expires_at),
        "last_used_at": _iso(tok.last_used_at),
        "revoked_at": _iso(tok.revoked_at),
    }


def list_tokens(
    session: Session, p: Principal | None, site_code: str | None = None
) -> list[dict[str, Any]]:
    """Staff API tokens (never their secret), newest first; ``p`` None: the CLI."""
    if p is not None:
        require_admin(p)
    q = (
        select(ApiToken, Site.code, User.username)
        .join(Site, Site.id == ApiToken.site_id)
        .outerjoin(User, User.id == ApiToken.user_id)
        .order_by(ApiToken.id.desc())
    )
    if site_code is not None:
        q = q.where(ApiToken.site_id == get_site(session, site_code).id)
    return [token_view(t, code, name) for t, code, name in session.execute(q).all()]


def revoke_token(
    session: Session, p: Principal, token_id: int, now: dt.datetime
) -> dict[str, Any]:
    """The token stops working at once and its sockets are closed (``token.revoked``)."""
    if p.kind != "system":
        require_admin(p)
    tok = session.get(ApiToken, token_id) if 1 <= token_id <= 2**63 - 1 else None
    if tok is None:
        raise not_found("token")
    if tok.revoked_at is None:
        tok.revoked_at = now
        audit(session, p, now, tok.site_id, "token.revoke", "token", tok.id,
              {"revoked_at": None}, {"revoked_at": now.isoformat()})
        _emit_revoked(session, "token.revoked", {"token_id": tok.id}, tok.site_id)
    owner = session.get(User, tok.user_id) if tok.user_id else None
    site = session.get(Site, tok.site_id)
    return token_view(tok, site.code if site else "", owner.username if owner else None)


def lapsed_access(
    session: Session, users: dict[int, str | None], token_ids: set[int], now: dt.datetime
) -> tuple[set[int], set[int]]:
    """Of the users (id -> password stamp at sign-in, None for a token's owner) and tokens
    behind open sockets: those no longer allowed (disabled, password reset, revoked,
    expired)."""
    bad_users: set[int] = set()
    if users:
        for uid, active, pw in session.execute(
            select(User.id, User.active, User.password_hash).where(User.id.in_(users))
        ):
            stamp = users[uid]
            if not active or (stamp is not None and not pw.endswith(stamp)):
                bad_users.add(uid)
        bad_users |= set(users) - set(
            session.scalars(select(User.id).where(User.id.in_(users)))
        )
    bad_tokens: set[int] = set()
    if token_ids:
        for tok in session.scalars(select(ApiToken).where(ApiToken.id.in_(token_ids))):
            if not auth.token_usable(session, tok, now):
                bad_tokens.add(tok.id)
        bad_tokens |= token_ids - set(
            session.scalars(select(ApiToken.id).where(ApiToken.id.in_(token_ids)))
        )
    return bad_users, bad_tokens


# --- devices ------------------------------------------------------------------------------


def device_view(device: Device, site_code: str, printer: PrinterState | None) -> dict[str, Any]:
    return {
        "id": device.id,
        "site": site_code,
        "kind": device.kind,
        "name": device.name,
        "printer_uri": device.printer_uri,
        "printer_status": printer.status if printer else None,
        "printer_detail": printer.detail if printer else None,
        "created_at": device.created_at.isoformat(),
        "last_seen_at": device.last_seen_at.isoformat() if device.last_seen_at else None,
        "revoked_at": device.revoked_at.isoformat() if device.revoked_at else None,
    }


def list_devices(session: Session, p: Principal, site_code: str) -> list[dict[str, Any]]:
    site = site_for_read(session, p, site_code)
    rows = session.execute(
        select(Device, PrinterState)
        .outerjoin(PrinterState, PrinterState.uri == Device.printer_uri)
        .where(Device.site_id == site.id)
        .order_by(Device.kind, Device.name)
    ).all()
    return [device_view(d, site.code, ps) for d, ps in rows]


def revoke_device(session: Session, p: Principal, device_id: int, now: dt.datetime) -> dict:
    """The device's token stops working at once (the API checks it on every request) and its
    live connections are closed (the ``device.revoked`` event, see realtime.Hub)."""
    require_admin(p)
    device = session.get(Device, device_id) if 1 <= device_id <= 2**31 - 1 else None
    if device is None:
        raise not_found("device")
    site_code = device.site.code
    if device.revoked_at is None:
        device.revoked_at = now
        audit(session, p, now, device.site_id, "device.revoke", "device", device.id,
               {"revoked_at": None}, {"revoked_at": now.isoformat()})
        emit(session, device.site_id, "device.revoked",
              {"device_id": device.id, "kind": device.kind})
    return device_view(device, site_code, None)


def device_presence(session: Session, device_id: int, now: dt.datetime) -> tuple[bool, bool]:
    """(still allowed, seen within ``LAST_SEEN_EVERY``) for a connected device."""
    row = session.execute(
        select(Device.revoked_at, Device.last_seen_at).where(Device.id == device_id)
    ).first()
    if row is None or row[0] is not None:
        return False, True
    return True, row[1] is not None and now - row[1] < LAST_SEEN_EVERY


def revoked_among(session: Session, device_ids: set[int]) -> list[int]:
    return sorted(
        session.scalars(
            select(Device.id).where(Device.id.in_(device_ids), Device.revoked_at.is_not(None))
        )
    )


def touch_device(session: Session, device_id: int, now: dt.datetime) -> None:
    """Record that a device was seen (at most every ``LAST_SEEN_EVERY``)."""
    device = session.get(Device, device_id)
    if device is not None and (
        device.last_seen_at is None or now - device.last_seen_at >= LAST_SEEN_EVERY
    ):
        device.last_seen_at = now


# --- pairing ------------------------------------------------------------------------------


def _new_code() -> str:
    return "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(PAIRING_LENGTH))


def normalise_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").upper()


def start_pairing(session: Session, secret: str, now: dt.datetime) -> dict[str, Any]:
    """A new pairing code for a device that holds ``secret`` (public: no principal)."""
    if not isinstance(secret, str) or not 32 <= len(secret) <= 128:
        raise AppError("validation_error", detail="secret: 32 to 128 characters")
    # Codes unique over the table: expired, never-claimed codes older than a day are dropped.
    session.execute(
        delete(PairingCode).where(
            PairingCode.claimed_at.is_(None), PairingCode.expires_at < now - dt.timedelta(days=1)
        )
    )
    pending = session.scalar(
        select(func.count(PairingCode.id)).where(
            PairingCode.claimed_at.is_(None), PairingCode.expires_at > now
        )
    )
    if int(pending or 0) >= MAX_PENDING_CODES:  # a public endpoint: a brake on flooding it
        raise AppError("pairing_busy")
    for _ in range(20):
        code = _new_code()
        if session.scalar(select(PairingCode.id).where(PairingCode.code == code)) is None:
            break
    else:  # pragma: no cover - 887M codes
        raise AppError("internal_error")
    row = PairingCode(
        code=code, secret_hash=auth.hash_token(secret), created_at=now,
        expires_at=now + PAIRING_TTL,
    )
    session.add(row)
    session.flush()
    return {"code": code, "expires_at": row.expires_at.isoformat(),
            "ttl_seconds": int(PAIRING_TTL.total_seconds())}


def claim_pairing(
    session: Session, p: Principal, data: dict[str, Any], now: dt.datetime,
    printers: UriPolicy = WEB_PRINTERS,
) -> dict[str, Any]:
    """The admin typed the code shown on a device: create that device (kiosk or display)."""
    require_admin(p)
    c = _Check()
    raw = data.get("code")
    code = normalise_code(raw) if isinstance(raw, str) else ""
    if len(code) != PAIRING_LENGTH:
        c.add("code", "pairing_code")
    site_code = data.get("site")
    site = (
        session.scalar(select(Site).where(Site.code == site_code))
        if isinstance(site_code, str) else None
    )
    if site is None:
        c.add("site", "site_unknown", code=site_code)
    kind = data.get("kind")
    if kind not in DEVICE_KINDS:
        c.add("kind", "kind")
    name = c.text(data, "name", 100)
    if site is not None and name and session.scalar(
        select(Device.id).where(Device.site_id == site.id, Device.name == name)
    ) is not None:
        c.add("name", "name_taken")
    printer = _printer_uri(c, data, printers)
    c.done()
    row = session.scalar(select(PairingCode).where(PairingCode.code == code).with_for_update())
    if row is None:
        raise AppError("pairing_unknown")
    if row.claimed_at is not None:
        raise AppError("pairing_used")
    if row.expires_at <= now:
        raise AppError("pairing_expired")
    assert site is not None
    # The real token is made when the device collects it; until then nobody can use this one.
    device = devices.new_device(site.id, kind, name, now, printer_uri=printer)
    session.add(device)
    session.flush()
    row.claimed_at, row.claimed_by, row.device_id = now, p.actor, device.id
    audit(session, p, now, site.id, "device.pair", "device", device.id, None,
           {"kind": kind, "name": name, "printer_uri": printer, "pairing_code": code})
    return device_view(device, site.code, None)


def collect_pairing(
    session: Session, code: str, secret: str, now: dt.datetime
) -> dict[str, Any]:
    """The device asks whether its code was claimed. ``{"status": "pending"}`` until then;
    once claimed, the device token (exactly once)."""
    code = normalise_code(code)
    row = session.scalar(select(PairingCode).where(PairingCode.code == code).with_for_update())
    if row is None or not isinstance(secret, str) or not secrets.compare_digest(
        row.secret_hash, auth.hash_token(secret)
    ):
        raise AppError("pairing_unknown")
    if row.collected_at is not None:
        raise AppError("pairing_used")
    if row.claimed_at is None:
        if row.expires_at <= now:
            raise AppError("pairing_expired")
        return {"status": "pending", "expires_at": row.expires_at.isoformat()}
    if now - row.claimed_at > COLLECT_TTL:
        raise AppError("pairing_expired")
    device = session.get(Device, row.device_id)
    if device is None or device.revoked_at is not None:
        raise AppError("pairing_unknown")
    token = auth.new_token("dev")
    device.token_hash = auth.hash_token(token)
    device.last_seen_at = now
    row.collected_at = now
    site = device.site
    audit(session, auth.Principal("device", device.id, device.kind, device.site_id), now,
           device.site_id, "device.collect_token", "device", device.id, None,
           {"pairing_code": row.code})
    return {
        "status": "paired",
        "token": token,
        "kind": device.kind,
        "name": device.name,
        "site": {"code": site.code, "name": {"vi": site.name_vi, "en": site.name_en}},
        "page": "/kiosk" if device.kind == "kiosk" else "/display",
    }


# --- audit --------------------------------------------------------------------------------


def list_audit(
    session: Session, p: Principal, site_code: str | None, limit: int = 100
) -> list[dict[str, Any]]:

    require_admin(p)
    site_ids = [get_site(session, site_code).id] if site_code else None
    fields = ("at", "actor", "action", "entity", "entity_id", "before", "after", "who", "what",
              "target", "changes")
    return [
        {k: r[k] for k in fields}
        for r in audit_log.entries(session, site_ids, max(1, min(limit, 500)))
    ]
