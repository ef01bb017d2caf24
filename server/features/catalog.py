"""Admin console: a province's procedure catalog and its holidays.

A centre or reception point uses its province's catalog and holidays, so every function here
takes any site code and acts on that site's province. Reads: admins, and supervisors in
scope of the site asked about; writes: admins. Every change is audited.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core.audit import audit
from server.core.auth import Principal
from server.core.cells import unquote_cell
from server.core.errors import not_found
from server.features import procedures
from server.features.admin import FieldErrors, field_message, site_for_read, site_for_write
from server.features.dossiers import procedure_view, province_of
from server.models import Holiday, Procedure, Site

HOLIDAY_COLUMNS = ("day", "name_vi", "name_en")
MAX_HOLIDAYS = 500


def _province(session: Session, p: Principal, code: str, write: bool) -> Site:
    site = site_for_write(session, p, code) if write else site_for_read(session, p, code)
    return province_of(session, site)


# --- procedures ---------------------------------------------------------------------------


def list_catalog(session: Session, p: Principal, site_code: str) -> dict[str, Any]:
    """Every procedure of the province (retired ones too), for the console."""
    province = _province(session, p, site_code, write=False)
    rows = session.scalars(
        select(Procedure)
        .where(Procedure.site_id == province.id)
        .order_by(Procedure.service_code, Procedure.code)
    ).all()
    return {"province": province.code, "procedures": [procedure_view(r) for r in rows]}


def import_catalog(
    session: Session, p: Principal, site_code: str, text: str, now: dt.datetime,
    dry_run: bool = False,
) -> dict[str, Any]:
    """CSV import through ``procedures.import_csv``: all or nothing, errors name the line and
    the column. ``dry_run`` checks and counts, and writes nothing."""
    province = _province(session, p, site_code, write=True)
    try:
        rows = procedures.parse_csv(text)
    except procedures.CatalogError as exc:
        detail = "; ".join(exc.errors[:10]) + (" ..." if len(exc.errors) > 10 else "")
        raise FieldErrors({"csv": field_message("csv", detail=detail)}) from None
    if dry_run:
        existing = set(session.scalars(
            select(Procedure.code).where(Procedure.site_id == province.id)))
        codes = [r["code"] for r in rows]
        return {"province": province.code, "dry_run": True,
                "created": sum(c not in existing for c in codes),
                "updated": sum(c in existing for c in codes), "codes": codes}
    before = {
        r.code: procedure_view(r)
        for r in session.scalars(select(Procedure).where(Procedure.site_id == province.id))
    }
    result = procedures.import_csv(session, province, text)
    audit(session, p, now, province.id, "procedures.import", "procedures", province.code,
           {"procedures": [before[c] for c in result.codes if c in before]},
           {"created": result.created, "updated": result.updated, "codes": result.codes})
    return {"province": province.code, "dry_run": False, "created": result.created,
            "updated": result.updated, "codes": result.codes}


def export_catalog(session: Session, p: Principal, site_code: str) -> tuple[str, str]:
    province = _province(session, p, site_code, write=False)
    return province.code, procedures.export_csv(session, province)


# --- holidays -----------------------------------------------------------------------------


def _holiday_view(h: Holiday) -> dict[str, Any]:
    return {"day": h.day.isoformat(), "name": {"vi": h.name_vi, "en": h.name_en}}


def list_holidays(session: Session, p: Principal, site_code: str) -> dict[str, Any]:
    province = _province(session, p, site_code, write=False)
    rows = session.scalars(
        select(Holiday).where(Holiday.site_id == province.id).order_by(Holiday.day)
    ).all()
    return {"province": province.code, "holidays": [_holiday_view(h) for h in rows]}


def parse_holidays_csv(text: str) -> list[tuple[dt.date, str, str]]:
    """``day,name_vi,name_en`` rows (day as YYYY-MM-DD); every problem is reported with its
    line, nothing is returned when there is any."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    errors: list[str] = []
    if header[:1] != ["day"] or "name_vi" not in header:
        raise ValueError("line 1: the header must be day,name_vi,name_en")
    reader.fieldnames = header
    rows: list[tuple[dt.date, str, str]] = []
    seen: dict[dt.date, int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(f"line {line}: more values than columns")
            continue
        raw = (row.get("day") or "").strip()
        vi = unquote_cell((row.get("name_vi") or "").strip())
        en = unquote_cell((row.get("name_en") or "").strip()) or vi
        if not raw and not vi:
            continue
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            errors.append(f"line {line}, day: a date like 2026-09-02 expected, got {raw!r}")
            continue
        if not vi:
            errors.append(f"line {line}, name_vi: required")
        elif len(vi) > 200 or len(en) > 200:
            errors.append(f"line {line}, name_vi: at most 200 characters")
        elif day in seen:
            errors.append(f"line {line}, day: {day} already on line {seen[day]}")
        else:
            seen[day] = line
            rows.append((day, vi, en))
    if len(rows) > MAX_HOLIDAYS:
        errors.append(f"at most {MAX_HOLIDAYS} holidays per file")
    if errors:
        raise ValueError("; ".join(errors[:10]))
    return rows


def import_holidays(
    session: Session, p: Principal, site_code: str, text: str, now: dt.datetime
) -> dict[str, Any]:
    province = _province(session, p, site_code, write=True)
    try:
        rows = parse_holidays_csv(text)
    except ValueError as exc:
        raise FieldErrors({"csv": field_message("csv", detail=exc)}) from None
    before = {
        h.day.isoformat(): [h.name_vi, h.name_en]
        for h in session.scalars(select(Holiday).where(Holiday.site_id == province.id))
        if h.day in {r[0] for r in rows}
    }
    procedures.upsert_holidays(session, province, rows)
    audit(session, p, now, province.id, "holidays.import", "holidays", province.code,
           before or None, {d.isoformat(): [vi, en] for d, vi, en in rows})
    return list_holidays(session, p, site_code)


def add_holiday(
    session: Session, p: Principal, site_code: str, data: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    province = _province(session, p, site_code, write=True)
    fields: dict[str, tuple[str, str]] = {}
    try:
        day = dt.date.fromisoformat(str(data.get("day") or ""))
    except ValueError:
        fields["day"] = field_message("date")
    name_vi = str(data.get("name_vi") or "").strip()
    name_en = str(data.get("name_en") or "").strip() or name_vi
    if not name_vi:
        fields["name_vi"] = field_message("required")
    elif len(name_vi) > 200 or len(name_en) > 200:
        fields["name_vi"] = field_message("too_long", n=200)
    if fields:
        raise FieldErrors(fields)
    existing = session.scalar(
        select(Holiday).where(Holiday.site_id == province.id, Holiday.day == day)
    )
    before = [existing.name_vi, existing.name_en] if existing else None
    procedures.upsert_holidays(session, province, [(day, name_vi, name_en)])
    audit(session, p, now, province.id, "holiday.save", "holiday", day.isoformat(),
           {"names": before} if before else None, {"names": [name_vi, name_en]})
    return list_holidays(session, p, site_code)


def delete_holiday(
    session: Session, p: Principal, site_code: str, day: str, now: dt.datetime
) -> dict[str, Any]:
    province = _province(session, p, site_code, write=True)
    try:
        when = dt.date.fromisoformat(day)
    except ValueError:
        raise not_found("holiday") from None
    row = session.scalar(
        select(Holiday).where(Holiday.site_id == province.id, Holiday.day == when)
    )
    if row is None:
        raise not_found("holiday")
    audit(session, p, now, province.id, "holiday.delete", "holiday", day,
           {"names": [row.name_vi, row.name_en]}, None)
    session.delete(row)
    session.flush()
    return list_holidays(session, p, site_code)
