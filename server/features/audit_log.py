"""Reading the audit log: the one reader behind the supervisors' ``GET /sites/{site}/audit``
and the admin console's ``GET /admin/audit`` (audit rows are written by ``core/audit.py``).

Each entry comes in two forms: as stored (``actor``, ``action``, ``before``, ``after``, for
tools) and as a person reads it, in both languages: ``who`` (the person's name, a device's
name: never ``token:19``), ``what`` (the action in words), ``target`` (the counter, service or
user it changed) and ``changes`` (one line per field that changed, before → after, values in
words). Both screens print these; neither translates a code of its own."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core import formats
from server.core.catalogs import DEFAULT, LANGS, catalogs
from server.models import ApiToken, AuditLog, Counter, Device, Service, User

# Every word of this reader is the catalogs' "audit" entries: ``action_<action>`` for each
# action the code audits (core/audit.py callers; tests/integration/test_audit_log.py fails when
# one is missing: it would show as its code), ``field_<key>`` for the keys of the stored
# before/after objects, ``value_<code>`` for the codes among their values (statuses, roles),
# ``actor_<kind>`` for who acted when no person did.
AREA = "audit"


def words(kind: str, code: str) -> dict[str, str] | None:
    """The catalogs' ``<kind>_<code>`` entry in both languages; None when there is none."""
    return catalogs.entry(AREA, f"{kind}_{code}")


def _words_or_code(kind: str, code: str) -> dict[str, str]:
    return words(kind, code) or _names(code, code)


def entries(
    session: Session,
    site_ids: Collection[int] | None,
    limit: int,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """At most ``limit`` audit entries of the sites ``site_ids`` (every site when None), newest
    first; ``before``: only entries older than the entry of that id (the next page). Each
    entry: id, site_id, at (ISO 8601 UTC, as the API writes every time), actor, action,
    entity, entity_id, before, after, and in words: who, what, target, changes (see the
    module's docstring). Permissions are the caller's."""
    q = select(AuditLog)
    if site_ids is not None:
        q = q.where(AuditLog.site_id.in_(list(site_ids)))
    if before is not None:
        q = q.where(AuditLog.id < before)
    rows = list(session.scalars(q.order_by(AuditLog.id.desc()).limit(limit)))
    who = _who(session, {r.actor for r in rows})
    targets = _targets(session, rows)
    return [
        {
            "id": r.id,
            "site_id": r.site_id,
            "at": formats.iso(r.at),
            "actor": r.actor,
            "action": r.action,
            "entity": r.entity,
            "entity_id": r.entity_id,
            "before": r.before,
            "after": r.after,
            "who": who.get(r.actor) or _names(r.actor, r.actor),
            "what": _words_or_code("action", r.action),
            "target": targets.get((r.entity, r.entity_id)),
            "changes": changes(r.before, r.after),
        }
        for r in rows
    ]


def _names(vi: str, en: str) -> dict[str, str]:
    return {"vi": vi, "en": en}


def _who(session: Session, actors: set[str]) -> dict[str, dict[str, Any]]:
    """``user:3`` / ``token:5`` / ``device:2`` -> ``{"username", "name", "vi", "en"}``: a
    user-bound token names its user, a device its name, the system itself."""
    out: dict[str, dict[str, Any]] = {}
    ids: dict[str, dict[str, int]] = {"user": {}, "token": {}, "device": {}}
    for a in actors:
        kind, _, ident = a.partition(":")
        actor = words("actor", kind) if not ident else None
        if actor is not None:
            out[a] = {"username": None, "name": actor[DEFAULT], **actor}
        elif kind in ids and ident.isdigit():
            ids[kind][a] = int(ident)
    if ids["token"]:
        for tok in session.scalars(
            select(ApiToken).where(ApiToken.id.in_(ids["token"].values()))
        ):
            for a in [a for a, tid in ids["token"].items() if tid == tok.id]:
                if tok.user_id is not None:
                    ids["user"][a] = tok.user_id
                else:
                    label = tok.name or f"#{tok.id}"
                    said = catalogs.both(AREA, "token", name=label,
                                         role=_words_or_code("value", tok.role))
                    # A sentence starts with a capital, also when it starts with the role.
                    out[a] = {"username": None, "name": label,
                              **{lang: t[:1].upper() + t[1:] for lang, t in said.items()}}
    if ids["user"]:
        users = {u.id: u for u in session.scalars(
            select(User).where(User.id.in_(set(ids["user"].values()))))}
        for a, uid in ids["user"].items():
            u = users.get(uid)
            if u is not None:
                name = u.full_name or u.username
                out[a] = {"username": u.username, "name": name, **_names(name, name)}
    if ids["device"]:
        devices = {d.id: d for d in session.scalars(
            select(Device).where(Device.id.in_(ids["device"].values())))}
        for a, did in ids["device"].items():
            d = devices.get(did)
            if d is not None:
                kind = _words_or_code("actor", d.kind)
                out[a] = {"username": None, "name": d.name,
                          **{lang: f"{kind[lang]} {d.name}" for lang in LANGS}}
    return out


def _targets(session: Session, rows: list[AuditLog]) -> dict[tuple[str, str], dict[str, str]]:
    """What each entry changed, by name: "Quầy 3", a service's name, a user's name."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    wanted: dict[str, set[int]] = {"counter": set(), "service": set(), "user": set()}
    for r in rows:
        if r.entity in wanted and r.entity_id and r.entity_id.isdigit():
            wanted[r.entity].add(int(r.entity_id))
        elif r.entity == "service" and r.entity_id:  # a move names its service by code
            out[(r.entity, r.entity_id)] = _names(r.entity_id, r.entity_id)
    if wanted["counter"]:
        for cid, number in session.execute(
            select(Counter.id, Counter.number).where(Counter.id.in_(wanted["counter"]))
        ):
            out[("counter", str(cid))] = catalogs.both(AREA, "counter", number=number)
    if wanted["service"]:
        for sid, vi, en in session.execute(
            select(Service.id, Service.name_vi, Service.name_en)
            .where(Service.id.in_(wanted["service"]))
        ):
            out[("service", str(sid))] = _names(vi, en)
    if wanted["user"]:
        for uid, username, full in session.execute(
            select(User.id, User.username, User.full_name).where(User.id.in_(wanted["user"]))
        ):
            out[("user", str(uid))] = _names(full or username, full or username)
    return out


def _text(value: Any, lang: str) -> str:
    """A stored value in words: lists joined, a counter's service lines as "land ×1", yes/no,
    the known codes (statuses, roles) translated, nothing as "–"."""
    vi = lang == "vi"
    if value is None or value == "" or value == []:
        return "–"
    if isinstance(value, bool):
        return catalogs.text(AREA, "yes" if value else "no", lang)
    if isinstance(value, str):
        known = words("value", value)
        return known[lang] if known else value
    if isinstance(value, int | float):
        return f"{value:g}".replace(".", ",") if vi else f"{value:g}"
    if isinstance(value, list):
        return ", ".join(_text(v, lang) for v in value)
    if isinstance(value, dict):
        if "code" in value and "weight" in value:
            where = f"@{value['site']}" if value.get("site") else ""
            return f"{value['code']}{where} ×{_text(value['weight'], lang)}"
        if set(value) <= {"vi", "en"}:
            return str(value.get(lang) or value.get("vi") or "–")
        return "; ".join(f"{_label(k, lang)}: {_text(v, lang)}" for k, v in value.items())
    return str(value)


def _label(key: str, lang: str) -> str:
    names = words("field", key)
    return names[lang] if names else key


def changes(before: Any, after: Any) -> list[dict[str, Any]]:
    """One line per field that differs between ``before`` and ``after``, in words:
    ``{"field", "label": {vi, en}, "before": {vi, en}, "after": {vi, en}}``."""
    b = before if isinstance(before, dict) else ({} if before is None else {"value": before})
    a = after if isinstance(after, dict) else ({} if after is None else {"value": after})
    out = []
    for key in list(dict.fromkeys([*b, *a])):
        if b.get(key) == a.get(key) and key != "tickets":
            continue
        out.append({
            "field": key,
            "label": {"vi": _label(key, "vi"), "en": _label(key, "en")},
            "before": {"vi": _text(b.get(key), "vi"), "en": _text(b.get(key), "en")},
            "after": {"vi": _text(a.get(key), "vi"), "en": _text(a.get(key), "en")},
        })
    return out
