"""Site configuration as one file: export and import, JSON or YAML.

The document (``format: motcua-site-config``, ``version: 1``)::

    site: {code, name {vi,en}, kind, parent, timezone, agency_code, address, phone,
           opening_hours, interleave {priority, normal}, dossier_cutoff,
           ticker {vi, en} | null,                        # the lobby displays' ticker line
           booking {slot_minutes, ...}}                   # appointments (absent: defaults)
    services: [{code, name, prefix, sla_target_minutes, default_service_minutes, active,
                sort_order, daily_cap, last_ticket_time, display_colour,
                online_share}]                            # appointments (absent: 0.5)
    counters: [{number, name, printer_uri, profile: [{service, weight, site?}]}]
    devices: [{name, kind, printer_uri, counter}]             # kiosks and displays, no token
    children: [ {site, services, counters, devices, children}, ... ]   # points / centres
    priority_categories: [{code, name, active, sort_order}]  # shared by every site
    procedures: [...]; holidays: [{day, name}]               # province documents only

Import validates EVERYTHING first and changes nothing on an error; each error names the field
path and the line (``services[2].sla_target_minutes: must be a positive integer (line 41)``).
It upserts by codes (sites by code, services by site+code, counters by site+number, procedure
by province+code, holidays by province+day), so importing the same file twice changes nothing
the second time. Nothing absent from the file is deleted (tickets and history refer to it).
Every changed row is audited with before -> after. A new centre from a template: export site
A, change ``site.code`` and names, import.

Devices carry no token or secret: an imported device that did not exist is created with an
unusable token, and the kiosk or TV is given a real one with ``motcua device add`` (same site,
kind and name: it keeps the device and prints a new token). A revoked device is not exported,
and importing a file never brings one back (its printer and counter are left alone). A file
without ``ticker`` or ``devices`` leaves them as they are (files exported before they existed).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from printers.uri import PolicyError, UriPolicy, check_policy
from server.core import auth, field_words
from server.core.audit import audit
from server.core.auth import Principal
from server.core.errors import AppError
from server.core.events import emit
from server.core.inputs import InputProblem, check_tree
from server.features import devices, notifications
from server.features.counters import replace_profile
from server.models import (
    DEVICE_KINDS,
    SITE_KINDS,
    Counter,
    CounterService,
    Device,
    Holiday,
    PriorityCategory,
    Procedure,
    Service,
    Site,
)
from server.rules import fields
from server.rules.opening_hours import validate_opening_hours

FORMAT = "motcua-site-config"
VERSION = 1
MAX_ERRORS = 20


class ConfigError(Exception):
    """The file was refused; ``errors`` are "path: problem (line N)" strings."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors

    def app_error(self) -> AppError:
        shown = self.errors[:MAX_ERRORS]
        more = len(self.errors) - len(shown)
        detail = "; ".join(shown) + (f"; … (+{more})" if more > 0 else "")
        return AppError("config_invalid", detail=detail)


# --- parsing with line numbers ----------------------------------------------------------------


def _line_map(text: str) -> dict[str, int]:
    """Field path -> 1-based line, from YAML's node tree (JSON is YAML too)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                sub = f"{path}[{i}]"
                lines[sub] = item.start_mark.line + 1
                walk(item, sub)

    if root is not None:
        lines[""] = root.start_mark.line + 1
        walk(root, "")
    return lines


def _refuse_anchors(text: str) -> None:
    """A configuration file never needs YAML anchors or aliases (``&a`` / ``*a``), and aliases
    of aliases expand exponentially (a 400-byte "billion laughs" file): refused while reading
    the event stream, before anything is built."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                mark = event.start_mark
                raise ConfigError(
                    [f"YAML anchors and aliases (&name, *name) are not allowed "
                     f"(line {mark.line + 1})"]
                )
    except yaml.YAMLError:
        return  # the loader below reports the syntax error with its line


def parse(text: str, fmt: str | None = None) -> tuple[Any, dict[str, int]]:
    """Read a JSON or YAML document (``fmt`` None: JSON if it starts with ``{``). Returns the
    data and the path -> line map. Syntax errors raise ConfigError with the line; so do YAML
    anchors and aliases, a NUL character, nesting deeper than 32 and 64-bit overflows."""
    if fmt is None:
        fmt = "json" if text.lstrip().startswith("{") else "yaml"
    if fmt == "yaml":
        _refuse_anchors(text)
    if fmt == "json":
        try:
            data = json.loads(text)
        except RecursionError:
            raise ConfigError(["document: nested too deeply"]) from None
        except json.JSONDecodeError as exc:
            raise ConfigError([f"not valid JSON: {exc.msg} (line {exc.lineno})"]) from None
    elif fmt == "yaml":
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "syntax error"
            raise ConfigError([f"not valid YAML: {problem}{where}"]) from None
    else:
        raise ConfigError([f"unknown format {fmt!r} (json or yaml)"])
    try:
        check_tree(data, "document")
    except InputProblem as exc:
        raise ConfigError([f"{exc.params.get('where', 'document')}: {exc.code}"]) from None
    return data, _line_map(text)


def dump(doc: dict[str, Any], fmt: str = "json") -> str:
    if fmt == "yaml":
        return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


# --- export -------------------------------------------------------------------------------------


def _names(vi: str, en: str) -> dict[str, str]:
    return {"vi": vi, "en": en}


def _site_doc(
    session: Session, site: Site, top: bool = True, hardware: bool = True
) -> dict[str, Any]:
    """A site's part of the file. Children leave ``parent`` out: it is the enclosing site.
    Without ``hardware`` (a template for another centre) the devices are left out and the
    counters have no printer: those are this centre's machines."""
    parent = session.get(Site, site.parent_id) if site.parent_id else None
    services = session.scalars(
        select(Service).where(Service.site_id == site.id).order_by(Service.sort_order, Service.id)
    ).all()
    counters = session.scalars(
        select(Counter).where(Counter.site_id == site.id).order_by(Counter.number)
    ).all()
    children = session.scalars(
        select(Site).where(Site.parent_id == site.id).order_by(Site.code)
    ).all()
    numbers = {c.id: c.number for c in counters}
    doc: dict[str, Any] = {
        "site": {
            "code": site.code,
            "name": _names(site.name_vi, site.name_en),
            "kind": site.kind,
            "parent": parent.code if parent else None,
            "timezone": site.timezone,
            "agency_code": site.agency_code,
            "address": site.address,
            "phone": site.phone,
            "opening_hours": site.opening_hours,
            "interleave": {
                "priority": site.interleave_priority,
                "normal": site.interleave_normal,
            },
            "dossier_cutoff": site.dossier_cutoff,
            "ticker": (
                {"vi": site.ticker_vi, "en": site.ticker_en}
                if site.ticker_vi or site.ticker_en else None
            ),
            # Appointment settings; left out at the defaults.
            **({"booking": site.booking} if site.booking else {}),
        },
        "services": [
            {
                "code": sv.code,
                "name": _names(sv.name_vi, sv.name_en),
                "prefix": sv.prefix,
                "sla_target_minutes": sv.sla_target_minutes,
                "default_service_minutes": sv.default_service_minutes,
                "active": sv.active,
                "sort_order": sv.sort_order,
                "daily_cap": sv.daily_cap,
                "last_ticket_time": sv.last_ticket_time,
                "display_colour": sv.display_colour,
                # People ahead for the "near" message; left out at the default (3).
                **({"notify_ahead": sv.notify_ahead} if sv.notify_ahead is not None else {}),
                # The share of a slot offered for booking; left out at the default (0.5).
                **({"online_share": sv.online_share} if sv.online_share is not None else {}),
            }
            for sv in services
        ],
        "counters": [
            {
                "number": c.number,
                "name": c.name,
                "printer_uri": c.printer_uri if hardware else None,
                "profile": [_profile_line(line, site) for line in c.profile],
            }
            for c in counters
        ],
        **({"devices": [
            {
                "name": d.name,
                "kind": d.kind,
                "printer_uri": d.printer_uri,
                "counter": numbers.get(d.counter_id) if d.counter_id else None,
            }
            for d in session.scalars(
                select(Device)
                .where(Device.site_id == site.id, Device.revoked_at.is_(None))
                .order_by(Device.name)
            )
        ]} if hardware else {}),
        "children": [_site_doc(session, child, top=False, hardware=hardware)
                     for child in children],
    }
    # Message channels (credentials shown as "***": an import of "***" keeps the stored one).
    channels = notifications.site_channels(session, site.id)
    if channels:
        doc["channels"] = channels
    if not top:
        del doc["site"]["parent"]
    if site.kind == "province":
        doc["procedures"] = [
            {
                "code": pr.code,
                "name": _names(pr.name_vi, pr.name_en),
                "service_code": pr.service_code,
                "processing_days": pr.processing_days,
                "documents": pr.documents,
                "fee_note": (
                    _names(pr.fee_note_vi or "", pr.fee_note_en or "")
                    if pr.fee_note_vi or pr.fee_note_en
                    else None
                ),
                "active": pr.active,
            }
            for pr in session.scalars(
                select(Procedure).where(Procedure.site_id == site.id).order_by(Procedure.code)
            )
        ]
        doc["holidays"] = [
            {"day": h.day.isoformat(), "name": _names(h.name_vi, h.name_en)}
            for h in session.scalars(
                select(Holiday).where(Holiday.site_id == site.id).order_by(Holiday.day)
            )
        ]
    return doc


def _profile_line(line: CounterService, site: Site) -> dict[str, Any]:
    out: dict[str, Any] = {"service": line.service.code, "weight": line.weight}
    if line.service.site_id != site.id:
        out["site"] = line.service.site.code
    return out


def export_site(
    session: Session, p: Principal, site_code: str, template: bool = False
) -> dict[str, Any]:
    """The whole configuration of a site and the sites under it. Admins; supervisors of the
    site (read-only). ``template``: for another centre, without this one's devices and
    printers (a file without ``devices`` leaves a site's devices as they are)."""
    site = session.scalar(select(Site).where(Site.code == site_code))
    if site is None:
        raise AppError("not_found", what="site")
    auth.require(p.role in ("admin", "supervisor", "system") and auth.in_scope(session, p, site.id))
    cats = session.scalars(
        select(PriorityCategory).order_by(PriorityCategory.sort_order, PriorityCategory.id)
    ).all()
    return {
        "format": FORMAT,
        "version": VERSION,
        **_site_doc(session, site, hardware=not template),
        "priority_categories": [
            {
                "code": c.code,
                "name": _names(c.name_vi, c.name_en),
                "active": c.active,
                "sort_order": c.sort_order,
            }
            for c in cats
        ],
    }


# --- validation ---------------------------------------------------------------------------------


@dataclass
class Checker:
    """Collects every problem of a document with its path and line."""

    lines: dict[str, int]
    errors: list[str] = field(default_factory=list)
    # Which printers this caller may set (the web: no file://, no loopback tcp://).
    printers: UriPolicy = field(default_factory=UriPolicy)

    def err(self, path: str, problem: str) -> None:
        line = self._line(path)
        self.errors.append(f"{path or 'document'}: {problem}" + (f" (line {line})" if line else ""))

    def _line(self, path: str) -> int | None:
        p = path
        while True:
            if p in self.lines:
                return self.lines[p]
            if not p:
                return None
            cut = max(p.rfind("."), p.rfind("["))
            p = p[:cut] if cut > 0 else ""

    # typed field readers: return the value or None after recording the error
    def mapping(self, obj: Any, path: str, required: bool = True) -> dict[str, Any] | None:
        if obj is None and not required:
            return None
        if not isinstance(obj, dict):
            self.err(path, "must be a mapping (key: value)")
            return None
        return obj

    def keys(self, obj: dict[str, Any], path: str, allowed: set[str]) -> None:
        for k in obj:
            if k not in allowed:
                self.err(f"{path}.{k}" if path else str(k), "unknown field")

    def printer_uri(self, obj: dict[str, Any], path: str) -> str | None:
        """``obj``'s optional ``printer_uri``, checked against the printers this caller may
        set (a counter's receipt printer, a device's slip printer)."""
        uri = self.text(obj, "printer_uri", path, 300, required=False)
        if uri is not None:
            try:
                check_policy(uri, self.printers)
            except PolicyError as exc:
                self.err(f"{path}.printer_uri", f"not allowed ({exc.code}): {exc.reason}")
            except ValueError as exc:
                self.err(f"{path}.printer_uri", str(exc))
        return uri

    def text(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        max_len: int,
        required: bool = True,
        pattern: re.Pattern[str] | None = None,
        hint: str = "",
    ) -> str | None:
        where = f"{path}.{key}" if path else key
        v = obj.get(key)
        if v is None:
            if required:
                self.err(where, "required")
            return None
        if not isinstance(v, str) or not v.strip():
            self.err(where, "must be a non-empty text")
            return None
        if len(v) > max_len:
            self.err(where, f"at most {max_len} characters")
            return None
        if pattern is not None and not pattern.match(v):
            self.err(where, hint or f"must match {pattern.pattern}")
            return None
        return v

    def integer(
        self, obj: dict[str, Any], key: str, path: str, minimum: int, required: bool = True
    ) -> int | None:
        where = f"{path}.{key}"
        v = obj.get(key)
        if v is None:
            if required:
                self.err(where, "required")
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            self.err(where, f"must be {kind}")
            return None
        return v

    def rule(
        self, obj: dict[str, Any], key: str, path: str, check: Any, required: bool = True,
        **kw: Any,
    ) -> Any:
        """``check`` is a rule of server/rules/fields.py (a file holds exported data: the rules'
        ``held`` ranges apply where they have one)."""
        where = f"{path}.{key}" if path else key
        v = obj.get(key)
        if v is None:
            if required:
                self.err(where, "required")
            return None
        try:
            return check(v, **kw)
        except fields.FieldProblem as exc:
            self.err(where, field_words.say(exc, "en"))
            return None

    def boolean(self, obj: dict[str, Any], key: str, path: str, default: bool) -> bool:
        v = obj.get(key, default)
        if not isinstance(v, bool):
            self.err(f"{path}.{key}", "must be true or false")
            return default
        return v

    def names(self, obj: dict[str, Any], key: str, path: str, max_len: int | None = None) -> Any:
        """Names {vi, en}: the names rule, or plain text of ``max_len`` (catalog texts)."""
        where = f"{path}.{key}"
        m = self.mapping(obj.get(key), where)
        if m is None:
            return None
        self.keys(m, where, {"vi", "en"})
        if max_len is None:
            vi = self.rule(m, "vi", where, fields.name)
            en = self.rule(m, "en", where, fields.name)
        else:
            vi = self.text(m, "vi", where, max_len)
            en = self.text(m, "en", where, max_len)
        return (vi, en) if vi and en else None

    def hhmm(self, obj: dict[str, Any], key: str, path: str) -> str | None:
        where = f"{path}.{key}"
        v = obj.get(key)
        if v is None:
            return None
        if isinstance(v, int) and not isinstance(v, bool):
            self.err(where, 'must be a time "HH:MM" in quotes (unquoted YAML 07:30 is a number)')
            return None
        try:
            return fields.clock_time(v)
        except fields.FieldProblem as exc:
            self.err(where, field_words.say(exc, "en"))
            return None

    def items(self, obj: dict[str, Any], key: str, path: str) -> Iterator[tuple[str, dict]]:
        where = f"{path}.{key}" if path else key
        v = obj.get(key)
        if v is None:
            return
        if not isinstance(v, list):
            self.err(where, "must be a list")
            return
        for i, item in enumerate(v):
            sub = f"{where}[{i}]"
            if not isinstance(item, dict):
                self.err(sub, "must be a mapping (key: value)")
                continue
            yield sub, item


SITE_KEYS = {
    "code",
    "name",
    "kind",
    "parent",
    "timezone",
    "agency_code",
    "address",
    "phone",
    "opening_hours",
    "interleave",
    "dossier_cutoff",
    "ticker",
    "booking",
}
SERVICE_KEYS = {
    "code",
    "name",
    "prefix",
    "sla_target_minutes",
    "default_service_minutes",
    "active",
    "sort_order",
    "daily_cap",
    "last_ticket_time",
    "display_colour",
    "notify_ahead",
    "online_share",
}
CHANNEL_KEYS = {"channel", "enabled", "config", "templates"}
COUNTER_KEYS = {"number", "name", "printer_uri", "profile"}
DEVICE_KEYS = {"name", "kind", "printer_uri", "counter"}
TICKER_MAX = 300  # sites.ticker_vi / ticker_en
DOC_KEYS = {"site", "services", "counters", "devices", "children", "procedures", "holidays",
            "channels"}
TOP_KEYS = DOC_KEYS | {"format", "version", "priority_categories"}


@dataclass
class SitePlan:
    """One site of the document, validated and normalised."""

    path: str
    site: dict[str, Any]
    services: list[dict[str, Any]]
    counters: list[dict[str, Any]]
    procedures: list[dict[str, Any]] | None
    holidays: list[dict[str, Any]] | None
    parent_code: str | None
    # None: the file says nothing about them (left as they are).
    devices: list[dict[str, Any]] | None = None
    channels: list[dict[str, Any]] | None = None
    # The top site's file has no "parent" key: an existing site keeps its place in the tree
    # (a new one becomes a root). An explicit null makes it a root.
    keep_parent: bool = False
    children: list[SitePlan] = field(default_factory=list)


def _check_site_doc(
    c: Checker, doc: dict[str, Any], path: str, parent_code: str | None, top: bool
) -> SitePlan | None:
    c.keys(doc, path, (TOP_KEYS if top else DOC_KEYS))
    sp = f"{path}.site" if path else "site"
    s = c.mapping(doc.get("site"), sp)
    if s is None:
        return None
    c.keys(s, sp, SITE_KEYS)
    code = c.rule(s, "code", sp, fields.site_code)
    names = c.names(s, "name", sp)
    kind = s.get("kind", "centre")
    if kind not in SITE_KINDS:
        c.err(f"{sp}.kind", f"must be one of {', '.join(SITE_KINDS)}")
    declared_parent = s.get("parent")
    if not top and declared_parent not in (None, parent_code):
        c.err(f"{sp}.parent", f"must be {parent_code!r} (the enclosing site) or left out")
    if top and declared_parent is not None and not isinstance(declared_parent, str):
        c.err(f"{sp}.parent", "must be a site code")
    tz = fields.DEFAULT_TIMEZONE
    if "timezone" in s:
        tz = c.rule(s, "timezone", sp, fields.timezone)
    agency = c.rule(s, "agency_code", sp, fields.agency_code, required=False)
    address = c.rule(s, "address", sp, fields.address, required=False)
    phone = c.rule(s, "phone", sp, fields.phone, required=False)
    hours = None
    try:
        hours = validate_opening_hours(s.get("opening_hours"))
    except ValueError as exc:
        # "1[0]: ..." names a weekday's interval: point the path (and line) at it.
        m = re.match(r"^'?(\d)'?(\[\d+\])?: (.*)$", str(exc))
        if m:
            c.err(f"{sp}.opening_hours.{m.group(1)}{m.group(2) or ''}", m.group(3))
        else:
            c.err(f"{sp}.opening_hours", str(exc))
    inter = c.mapping(s.get("interleave", {"priority": 1, "normal": 2}), f"{sp}.interleave")
    pri = nor = None
    if inter is not None:
        c.keys(inter, f"{sp}.interleave", {"priority", "normal"})
        pri = c.rule(inter, "priority", f"{sp}.interleave", fields.interleave_priority, held=True)
        nor = c.rule(inter, "normal", f"{sp}.interleave", fields.interleave_normal, held=True)
    cutoff = c.hhmm(s, "dossier_cutoff", sp)
    ticker: Any = _KEEP
    if "ticker" in s:
        ticker = _check_ticker(c, s.get("ticker"), f"{sp}.ticker")
    site = {
        "code": code,
        "name": names,
        "kind": kind,
        "timezone": tz,
        "agency_code": agency,
        "address": address,
        "phone": phone,
        "opening_hours": hours,
        "interleave": (pri, nor),
        "dossier_cutoff": cutoff,
        "ticker": ticker,
        "booking": c.rule(s, "booking", sp, fields.booking_settings, required=False),
    }
    parent = parent_code if not top else declared_parent

    services: list[dict[str, Any]] = []
    seen_codes: dict[str, str] = {}
    seen_prefix: dict[str, str] = {}
    for ip, item in c.items(doc, "services", path):
        c.keys(item, ip, SERVICE_KEYS)
        scode = c.rule(item, "code", ip, fields.service_code)
        if scode is not None:
            if scode in seen_codes:
                c.err(f"{ip}.code", f"duplicate service code {scode!r} (also {seen_codes[scode]})")
            seen_codes[scode] = ip
        prefix = c.rule(item, "prefix", ip, fields.prefix, held=True)
        if prefix is not None:
            if prefix in seen_prefix:
                c.err(f"{ip}.prefix", f"duplicate prefix {prefix!r} (also {seen_prefix[prefix]})")
            seen_prefix[prefix] = ip
        colour = c.rule(item, "display_colour", ip, fields.colour, required=False)
        services.append(
            {
                "path": ip,
                "code": scode,
                "name": c.names(item, "name", ip),
                "prefix": prefix,
                "sla_target_minutes": c.rule(
                    item, "sla_target_minutes", ip, fields.sla_minutes, held=True
                ),
                "default_service_minutes": c.rule(
                    {"default_service_minutes": 8.0, **item}, "default_service_minutes", ip,
                    fields.service_minutes,
                ) or 8.0,
                "active": c.boolean(item, "active", ip, True),
                "sort_order": c.rule(
                    item, "sort_order", ip, fields.sort_order, required=False, held=True
                ) or 0,
                "daily_cap": c.rule(
                    item, "daily_cap", ip, fields.daily_cap, required=False, held=True
                ),
                "last_ticket_time": c.hhmm(item, "last_ticket_time", ip),
                "display_colour": colour,
                "notify_ahead": _notify_ahead(c, item, ip),
                "online_share": c.rule(item, "online_share", ip, fields.online_share,
                                       required=False),
            }
        )

    counters: list[dict[str, Any]] = []
    seen_numbers: dict[int, str] = {}
    for ip, item in c.items(doc, "counters", path):
        c.keys(item, ip, COUNTER_KEYS)
        number = c.rule(item, "number", ip, fields.counter_number, held=True)
        if number is not None:
            if number in seen_numbers:
                c.err(f"{ip}.number", f"duplicate counter {number} (also {seen_numbers[number]})")
            seen_numbers[number] = ip
        uri = c.printer_uri(item, ip)
        profile = []
        seen_lines: set[tuple[str | None, str]] = set()
        for lp, line in c.items(item, "profile", ip):
            c.keys(line, lp, {"service", "weight", "site"})
            svc = c.text(line, "service", lp, 32)
            other = c.text(line, "site", lp, 32, required=False)
            weight = c.rule(
                {"weight": 1.0, **line}, "weight", lp, fields.weight, held=True
            ) or 1.0
            if svc is not None:
                if (other, svc) in seen_lines:
                    c.err(f"{lp}.service", f"service {svc!r} is twice in this profile")
                seen_lines.add((other, svc))
                if (other is None or other == code) and svc not in seen_codes:
                    c.err(f"{lp}.service", f"no service {svc!r} in this site's services")
                    svc = None
            profile.append({"path": lp, "service": svc, "site": other, "weight": weight})
        counters.append(
            {
                "path": ip,
                "number": number,
                "name": c.rule(item, "name", ip, fields.counter_name, required=False),
                "printer_uri": uri,
                "profile": profile,
            }
        )

    procedures = holidays = None
    if "procedures" in doc or "holidays" in doc:
        if kind != "province":
            c.err(
                f"{path}.procedures" if path else "procedures",
                "procedures and holidays belong to a site of kind province",
            )
        procedures = _check_procedures(c, doc, path)
        holidays = _check_holidays(c, doc, path)

    device_plan = _check_devices(c, doc, path, set(seen_numbers)) if "devices" in doc else None
    plan = SitePlan(path, site, services, counters, procedures, holidays, parent, device_plan)
    plan.keep_parent = top and "parent" not in s
    if "channels" in doc:
        plan.channels = _check_channels(c, doc, path)
    for ip, child in c.items(doc, "children", path):
        sub = _check_site_doc(c, child, ip, code, top=False)
        if sub is not None:
            if sub.site["kind"] == "province":
                c.err(f"{ip}.site.kind", "a province cannot be under another site")
            plan.children.append(sub)
    return plan


_KEEP = object()  # a field the file leaves out: the database keeps its value


def _notify_ahead(c: Checker, item: dict[str, Any], path: str) -> int | None:
    value = item.get("notify_ahead")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 50:
        c.err(f"{path}.notify_ahead", "must be a whole number from 0 to 50 (or null: 3)")
        return None
    return value


def _check_channels(c: Checker, doc: dict[str, Any], path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for ip, item in c.items(doc, "channels", path):
        c.keys(item, ip, CHANNEL_KEYS)
        name = item.get("channel")
        if name not in notifications.CONFIGURABLE:
            c.err(f"{ip}.channel", "must be one of " + ", ".join(notifications.CONFIGURABLE))
            continue
        if name in seen:
            c.err(f"{ip}.channel", f"channel {name!r} is twice in this site")
        seen.add(name)
        config = c.mapping(item.get("config", {}), f"{ip}.config") or {}
        templates = c.mapping(item.get("templates", {}), f"{ip}.templates") or {}
        for kind, texts in templates.items():
            if not isinstance(texts, dict) or not all(
                    k in ("vi", "en") and isinstance(v, str) for k, v in texts.items()):
                c.err(f"{ip}.templates.{kind}", 'must be {"vi": "…", "en": "…"}')
        out.append({"path": ip, "channel": name, "enabled": c.boolean(item, "enabled", ip, True),
                    "config": config, "templates": templates})
    return out


def _check_ticker(c: Checker, value: Any, path: str) -> tuple[str | None, str | None]:
    """The ticker {vi, en} (either may be empty), or null: no ticker."""
    if value is None:
        return (None, None)
    m = c.mapping(value, path)
    if m is None:
        return (None, None)
    c.keys(m, path, {"vi", "en"})
    out = []
    for lang in ("vi", "en"):
        text = m.get(lang)
        if text is not None and not isinstance(text, str):
            c.err(f"{path}.{lang}", "must be a text")
            text = None
        elif text is not None and len(text) > TICKER_MAX:
            c.err(f"{path}.{lang}", f"at most {TICKER_MAX} characters")
            text = None
        out.append(text.strip() or None if text else None)
    return (out[0], out[1])


def _check_devices(
    c: Checker, doc: dict[str, Any], path: str, counters: set[int]
) -> list[dict[str, Any]]:
    out = []
    seen: dict[str, str] = {}
    for ip, item in c.items(doc, "devices", path):
        c.keys(item, ip, DEVICE_KEYS)
        name = c.text(item, "name", ip, 100)
        if name is not None:
            if name in seen:
                c.err(f"{ip}.name", f"duplicate device {name!r} (also {seen[name]})")
            seen[name] = ip
        kind = item.get("kind")
        if kind not in DEVICE_KINDS:
            c.err(f"{ip}.kind", f"must be one of {', '.join(DEVICE_KINDS)}")
        uri = c.printer_uri(item, ip)
        counter = item.get("counter")
        if counter is not None:
            if kind != "kiosk":
                c.err(f"{ip}.counter", "only a kiosk (a counter's rating tablet) has a counter")
            elif counter not in counters:
                c.err(f"{ip}.counter", f"no counter {counter!r} in this site's counters")
        out.append({"path": ip, "name": name, "kind": kind, "printer_uri": uri,
                    "counter": counter})
    return out


def _check_procedures(c: Checker, doc: dict[str, Any], path: str) -> list[dict[str, Any]]:
    out = []
    seen: dict[str, str] = {}
    keys = {"code", "name", "service_code", "processing_days", "documents", "fee_note", "active"}
    for ip, item in c.items(doc, "procedures", path):
        c.keys(item, ip, keys)
        code = c.text(item, "code", ip, 64)
        if code is not None:
            if code in seen:
                c.err(f"{ip}.code", f"duplicate procedure code {code!r} (also {seen[code]})")
            seen[code] = ip
        docs = item.get("documents", [])
        if not isinstance(docs, list):
            c.err(f"{ip}.documents", "must be a list of {vi, en}")
            docs = []
        norm_docs = []
        for j, d in enumerate(docs):
            dp = f"{ip}.documents[{j}]"
            if not isinstance(d, dict):
                c.err(dp, "must be a mapping {vi, en}")
                continue
            c.keys(d, dp, {"vi", "en"})
            vi, en = c.text(d, "vi", dp, 400), c.text(d, "en", dp, 400)
            if vi and en:
                norm_docs.append({"vi": vi, "en": en})
        fee = None
        if item.get("fee_note") is not None:
            fee = c.names(item, "fee_note", ip, 400)
        out.append(
            {
                "code": code,
                "name": c.names(item, "name", ip, 400),
                "service_code": c.rule(item, "service_code", ip, fields.service_code),
                "processing_days": c.integer(item, "processing_days", ip, 0),
                "documents": norm_docs,
                "fee_note": fee,
                "active": c.boolean(item, "active", ip, True),
            }
        )
    return out


def _check_holidays(c: Checker, doc: dict[str, Any], path: str) -> list[dict[str, Any]]:
    out = []
    seen: dict[dt.date, str] = {}
    for ip, item in c.items(doc, "holidays", path):
        c.keys(item, ip, {"day", "name"})
        raw = item.get("day")
        day = None
        if isinstance(raw, dt.date):  # YAML reads 2026-09-02 as a date
            day = raw
        elif isinstance(raw, str):
            try:
                day = dt.date.fromisoformat(raw)
            except ValueError:
                day = None
        if day is None:
            c.err(f"{ip}.day", "must be a date YYYY-MM-DD")
        elif day in seen:
            c.err(f"{ip}.day", f"duplicate holiday {day} (also {seen[day]})")
        else:
            seen[day] = ip
        out.append({"day": day, "name": c.names(item, "name", ip)})
    return out


def _check_categories(c: Checker, doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    seen: set[str] = set()
    for ip, item in c.items(doc, "priority_categories", ""):
        c.keys(item, ip, {"code", "name", "active", "sort_order"})
        code = c.rule(item, "code", ip, fields.category_code)
        if code in seen:
            c.err(f"{ip}.code", f"duplicate category {code!r}")
        if code:
            seen.add(code)
        out.append(
            {
                "code": code,
                "name": c.names(item, "name", ip),
                "active": c.boolean(item, "active", ip, True),
                "sort_order": c.rule(
                    item, "sort_order", ip, fields.sort_order, required=False, held=True
                ) or 0,
            }
        )
    return out


def _walk(plan: SitePlan) -> Iterator[SitePlan]:
    yield plan
    for child in plan.children:
        yield from _walk(child)


def _check_against_db(c: Checker, session: Session, root: SitePlan) -> None:
    """What only the database can tell: parents that exist, site codes not used twice,
    prefixes not taken by a service the file leaves alone, cross-site profile lines."""
    plans = list(_walk(root))
    codes: dict[str, str] = {}
    for pl in plans:
        code = pl.site["code"]
        if code in codes:
            c.err(
                f"{pl.path}.site.code" if pl.path else "site.code",
                f"site {code!r} appears twice in the file (also {codes[code]})",
            )
        codes[code] = pl.path or "site"
    if (
        root.parent_code is not None
        and root.parent_code not in codes
        and session.scalar(select(Site.id).where(Site.code == root.parent_code)) is None
    ):
        c.err("site.parent", f"no site {root.parent_code!r} in the database")
    for pl in plans:
        existing = session.scalar(select(Site).where(Site.code == pl.site["code"]))
        if existing is None:
            continue
        file_codes = {s["code"] for s in pl.services}
        for other in session.scalars(select(Service).where(Service.site_id == existing.id)):
            if other.code in file_codes:
                continue
            for s in pl.services:
                if s["prefix"] == other.prefix:
                    c.err(
                        f"{s['path']}.prefix",
                        f"prefix {other.prefix!r} is used by service {other.code!r} of "
                        f"{pl.site['code']}, which is not in the file",
                    )
    for pl in plans:
        for ct in pl.counters:
            for line in ct["profile"]:
                other = line["site"]
                if other is None or other == pl.site["code"] or line["service"] is None:
                    continue
                in_file = next((x for x in plans if x.site["code"] == other), None)
                if in_file is not None:
                    ok = any(s["code"] == line["service"] for s in in_file.services)
                else:
                    ok = (
                        session.scalar(
                            select(Service.id)
                            .join(Site, Site.id == Service.site_id)
                            .where(Site.code == other, Service.code == line["service"])
                        )
                        is not None
                    )
                if not ok:
                    c.err(
                        f"{line['path']}.service",
                        f"no service {line['service']!r} at site {other!r}",
                    )


def validate(
    session: Session, data: Any, lines: dict[str, int], printers: UriPolicy | None = None
) -> tuple[SitePlan, list[dict]]:
    """Check the whole document; raises ConfigError listing every problem. ``printers``:
    which printer URIs this caller may set (default: what the web may)."""
    c = Checker(lines, printers=printers or UriPolicy())
    if not isinstance(data, dict):
        raise ConfigError(["document: must be a mapping with format, version, site, ..."])
    if data.get("format") != FORMAT:
        c.err("format", f"must be {FORMAT!r}")
    if data.get("version") != VERSION:
        c.err("version", f"must be {VERSION}")
    plan = _check_site_doc(c, data, "", None, top=True)
    cats = _check_categories(c, data)
    if plan is not None and not c.errors:
        _check_against_db(c, session, plan)
    if c.errors or plan is None:
        raise ConfigError(c.errors or ["site: required"])
    return plan, cats


# --- apply --------------------------------------------------------------------------------------


@dataclass
class Applier:
    session: Session
    p: Principal
    now: dt.datetime
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    changes: list[str] = field(default_factory=list)

    def set(self, row: Any, entity: str, key: str, site_id: int | None, values: dict) -> None:
        """Upsert ``values`` on ``row`` (None: a new row was added) and audit the difference."""

        is_new = getattr(row, "id", None) is None and entity != "counter_profile"
        before = {k: _plain(getattr(row, k)) for k in values} if not is_new else None
        for k, v in values.items():
            setattr(row, k, v)
        after = {k: _plain(v) for k, v in values.items()}
        if is_new:
            self.session.flush()
            self.created += 1
            self.changes.append(f"create {entity} {key}")
            where = site_id or getattr(row, "site_id", None)
            if entity == "site":
                where = row.id
            audit(
                self.session,
                self.p,
                self.now,
                where,
                f"config.create_{entity}",
                entity,
                key,
                None,
                after,
            )
            return
        diff_before = {k: v for k, v in (before or {}).items() if v != after[k]}
        if not diff_before:
            self.unchanged += 1
            return
        diff_after = {k: after[k] for k in diff_before}
        self.updated += 1
        self.changes.append(
            f"update {entity} {key}: "
            + ", ".join(f"{k} {diff_before[k]!r} -> {diff_after[k]!r}" for k in diff_before)
        )
        audit(
            self.session,
            self.p,
            self.now,
            site_id,
            f"config.update_{entity}",
            entity,
            key,
            diff_before,
            diff_after,
        )


def _plain(v: Any) -> Any:
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def _apply_site(a: Applier, pl: SitePlan, parent: Site | None) -> Site:
    s = a.session
    spec = pl.site
    site = s.scalar(select(Site).where(Site.code == spec["code"]))
    if site is None:
        site = Site(code=spec["code"])
        s.add(site)
    pri, nor = spec["interleave"]
    a.set(
        site,
        "site",
        spec["code"],
        site.id,
        {
            "name_vi": spec["name"][0],
            "name_en": spec["name"][1],
            "kind": spec["kind"],
            "parent_id": (site.parent_id if pl.keep_parent else (parent.id if parent else None)),
            "timezone": spec["timezone"],
            "agency_code": spec["agency_code"],
            "address": spec["address"],
            "phone": spec["phone"],
            "opening_hours": spec["opening_hours"],
            "interleave_priority": pri,
            "interleave_normal": nor,
            "dossier_cutoff": spec["dossier_cutoff"],
            "booking": spec["booking"],
            **(
                {"ticker_vi": spec["ticker"][0], "ticker_en": spec["ticker"][1]}
                if spec["ticker"] is not _KEEP else {}
            ),
        },
    )
    existing = {sv.code: sv for sv in s.scalars(select(Service).where(Service.site_id == site.id))}
    for spec_s in pl.services:
        sv = existing.get(spec_s["code"])
        if sv is None:
            sv = Service(site_id=site.id, code=spec_s["code"])
            s.add(sv)
            existing[sv.code] = sv
        a.set(
            sv,
            "service",
            f"{site.code}/{spec_s['code']}",
            site.id,
            {
                "name_vi": spec_s["name"][0],
                "name_en": spec_s["name"][1],
                "prefix": spec_s["prefix"],
                "sla_target_minutes": spec_s["sla_target_minutes"],
                "default_service_minutes": spec_s["default_service_minutes"],
                "active": spec_s["active"],
                "sort_order": spec_s["sort_order"],
                "daily_cap": spec_s["daily_cap"],
                "last_ticket_time": spec_s["last_ticket_time"],
                "display_colour": spec_s["display_colour"],
                "notify_ahead": spec_s["notify_ahead"],
                "online_share": spec_s["online_share"],
            },
        )
    for spec_c in pl.channels or []:
        try:
            notifications.import_channel(a.session, site.id, spec_c["channel"],
                                         spec_c["enabled"], spec_c["config"],
                                         spec_c["templates"], a.now)
        except AppError as exc:
            raise ConfigError([f"{spec_c['path']}: {exc.message('en')}"]) from exc
        a.changes.append(f"set channel {spec_c['channel']} of {site.code}")
    if pl.procedures is not None:
        _apply_procedures(a, site, pl.procedures)
    if pl.holidays is not None:
        _apply_holidays(a, site, pl.holidays)
    for child in pl.children:
        _apply_site(a, child, site)
    return site


def _apply_counters(a: Applier, pl: SitePlan) -> None:
    """After every site and service exists (profiles may point at a child's services)."""
    s = a.session
    site = s.scalar(select(Site).where(Site.code == pl.site["code"]))
    assert site is not None
    existing = {c.number: c for c in s.scalars(select(Counter).where(Counter.site_id == site.id))}
    for spec in pl.counters:
        counter = existing.get(spec["number"])
        if counter is None:
            counter = Counter(site_id=site.id, number=spec["number"], status="closed")
            s.add(counter)
        a.set(
            counter,
            "counter",
            f"{site.code}/{spec['number']}",
            site.id,
            {
                "name": spec["name"],
                "printer_uri": spec["printer_uri"],
            },
        )
        want = []
        for line in spec["profile"]:
            code = line["site"] or site.code
            svc = s.scalar(
                select(Service)
                .join(Site, Site.id == Service.site_id)
                .where(Site.code == code, Service.code == line["service"])
            )
            assert svc is not None  # checked by validate
            want.append((svc, line["weight"]))
        have = [(x.service_id, x.weight) for x in counter.profile]
        if have != [(svc.id, w) for svc, w in want]:

            before = {
                "services": [{"code": x.service.code, "weight": x.weight} for x in counter.profile]
            }
            replace_profile(s, counter, want)
            after = {"services": [{"code": svc.code, "weight": w} for svc, w in want]}
            a.changes.append(f"update counter {site.code}/{counter.number}: profile")
            audit(
                s,
                a.p,
                a.now,
                site.id,
                "config.counter_profile",
                "counter",
                counter.id,
                before,
                after,
            )
    if pl.devices is not None:
        _apply_devices(a, site, pl.devices)
    for child in pl.children:
        _apply_counters(a, child)


def _apply_devices(a: Applier, site: Site, rows: list[dict[str, Any]]) -> None:
    """Devices by name: a new one gets an unusable token (``motcua device add`` gives the real
    one); a revoked one is left as it is."""
    s = a.session
    counters = {
        number: counter_id for number, counter_id in s.execute(
            select(Counter.number, Counter.id).where(Counter.site_id == site.id)
        )
    }
    existing = {d.name: d for d in s.scalars(select(Device).where(Device.site_id == site.id))}
    for spec in rows:
        device = existing.get(spec["name"])
        if device is not None and device.revoked_at is not None:
            a.unchanged += 1
            a.changes.append(f"skip device {site.code}/{spec['name']}: revoked")
            continue
        if device is None:
            device = devices.new_device(site.id, spec["kind"], spec["name"], a.now)
            s.add(device)
        a.set(
            device,
            "device",
            f"{site.code}/{spec['name']}",
            site.id,
            {
                "kind": spec["kind"],
                "printer_uri": spec["printer_uri"],
                "counter_id": counters.get(spec["counter"]) if spec["counter"] else None,
            },
        )


def _apply_procedures(a: Applier, province: Site, rows: list[dict[str, Any]]) -> None:
    s = a.session
    existing = {
        pr.code: pr for pr in s.scalars(select(Procedure).where(Procedure.site_id == province.id))
    }
    for spec in rows:
        pr = existing.get(spec["code"])
        if pr is None:
            pr = Procedure(site_id=province.id, code=spec["code"])
            s.add(pr)
        fee = spec["fee_note"]
        a.set(
            pr,
            "procedure",
            f"{province.code}/{spec['code']}",
            province.id,
            {
                "name_vi": spec["name"][0],
                "name_en": spec["name"][1],
                "service_code": spec["service_code"],
                "processing_days": spec["processing_days"],
                "documents": spec["documents"],
                "fee_note_vi": fee[0] if fee else None,
                "fee_note_en": fee[1] if fee else None,
                "active": spec["active"],
            },
        )


def _apply_holidays(a: Applier, province: Site, rows: list[dict[str, Any]]) -> None:
    s = a.session
    existing = {h.day: h for h in s.scalars(select(Holiday).where(Holiday.site_id == province.id))}
    for spec in rows:
        h = existing.get(spec["day"])
        if h is None:
            h = Holiday(site_id=province.id, day=spec["day"])
            s.add(h)
        a.set(
            h,
            "holiday",
            f"{province.code}/{spec['day']}",
            province.id,
            {
                "name_vi": spec["name"][0],
                "name_en": spec["name"][1],
            },
        )


def _apply_categories(a: Applier, cats: list[dict[str, Any]]) -> None:
    s = a.session
    existing = {c.code: c for c in s.scalars(select(PriorityCategory))}
    for spec in cats:
        cat = existing.get(spec["code"])
        if cat is None:
            cat = PriorityCategory(code=spec["code"])
            s.add(cat)
        a.set(
            cat,
            "priority_category",
            spec["code"],
            None,
            {
                "name_vi": spec["name"][0],
                "name_en": spec["name"][1],
                "active": spec["active"],
                "sort_order": spec["sort_order"],
            },
        )


def import_config(
    session: Session,
    p: Principal,
    text: str,
    now: dt.datetime,
    fmt: str | None = None,
    dry_run: bool = False,
    printers: UriPolicy | None = None,
) -> dict[str, Any]:
    """Validate the whole file, then upsert it in this unit of work (admins only). An error
    raises ``AppError("config_invalid")`` before anything is written. ``dry_run`` applies
    inside a savepoint and rolls it back, reporting what would change."""
    auth.require(p.role in ("admin", "system"))
    try:
        data, lines = parse(text, fmt)
        plan, cats = validate(session, data, lines, printers)
    except ConfigError as exc:
        raise exc.app_error() from None
    a = Applier(session, p, now)
    savepoint = session.begin_nested() if dry_run else None
    parent = None
    if plan.parent_code is not None:
        parent = session.scalar(select(Site).where(Site.code == plan.parent_code))
    site = _apply_site(a, plan, parent)
    session.flush()
    _apply_counters(a, plan)
    _apply_categories(a, cats)
    session.flush()
    result = {
        "site": site.code,
        "dry_run": dry_run,
        "created": a.created,
        "updated": a.updated,
        "unchanged": a.unchanged,
        "changes": a.changes,
    }
    if savepoint is not None:
        savepoint.rollback()
    elif a.changes:

        for pl in _walk(plan):
            row = session.scalar(select(Site).where(Site.code == pl.site["code"]))
            if row is not None:
                emit(session, row.id, "config.changed", {"site": row.code})
    return result
