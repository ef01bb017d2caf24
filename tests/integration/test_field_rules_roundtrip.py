"""The field rules hold on the real code paths (SQLite): whatever the admin console accepts
exports and imports unchanged, and whatever a configuration file imports the console saves
again unchanged. Plus the two drifts that started it: a console code ``Land.A`` refused by the
import, and an imported prefix ``A1`` with SLA 5000 that the console refused to save."""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from server.core.auth import Principal
from server.core.db import Database
from server.core.errors import AppError
from server.features import admin, siteconfig
from server.models import Counter, Service, Site
from server.rules import fields

ADMIN = Principal(kind="cli", id=None, role="system", site_id=None)
NOW = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
SETTINGS = settings(
    max_examples=40, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_serial = itertools.count(1)


@pytest.fixture
def database(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "rules.sqlite3"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    with db.write() as s:
        admin.create_site(s, ADMIN, {"code": "PROV", "name_vi": "Tỉnh", "name_en": "Province",
                                     "kind": "province", "timezone": "Asia/Ho_Chi_Minh",
                                     "interleave_priority": 1, "interleave_normal": 2}, NOW)
    yield db
    db.dispose()


# --- values from the rules' domains, and their edges --------------------------------------

TEXT = st.characters(categories=["L", "N", "P", "Zs"], exclude_characters="\x85\xa0\u3000")


def text(n: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(TEXT, min_size=1, max_size=n).map(str.strip).filter(bool),
        st.sampled_from(["x" * n, "Đất đai – Hộ tịch", "a"]),
    )


def optional_text(n: int) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), text(n))


def ints(bounds: tuple[int, int, int], held: bool) -> st.SearchStrategy[int]:
    lo, hi_new, hi_held = bounds
    hi = hi_held if held else hi_new
    return st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, min(lo + 1, hi)]))


def weights(held: bool) -> st.SearchStrategy[float]:
    lo, hi = fields.WEIGHT
    if held:
        return st.one_of(
            st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False),
            st.sampled_from([1e-6, 0.05, 1000.0]),
        )
    return st.one_of(st.floats(lo, hi), st.sampled_from([lo, hi, 1.0]))


CODES = st.one_of(
    st.from_regex(fields.CODE, fullmatch=True),
    st.sampled_from(["Land.A", "x" * 32, "a", "A-_.9", "land"]),
)
TIMEZONES = st.sampled_from(["Asia/Ho_Chi_Minh", "UTC", "Asia/Bangkok", "Etc/GMT-7"])
TIMES = st.one_of(st.none(), st.from_regex(fields.HHMM, fullmatch=True),
                  st.sampled_from(["00:00", "23:59"]))
COLOURS = st.one_of(st.none(), st.from_regex(fields.COLOUR, fullmatch=True))


def unique(code: str) -> str:
    """A generated code made unique in this database (still within the code rule)."""
    return f"{next(_serial)}{code}"[: fields.CODE_MAX]


@st.composite
def site_values(draw: st.DrawFn, held: bool) -> dict[str, Any]:
    return {
        "code": unique(draw(CODES)),
        "name_vi": draw(text(fields.NAME_MAX)),
        "name_en": draw(text(fields.NAME_MAX)),
        "kind": "centre",
        "parent": "PROV",
        "timezone": draw(TIMEZONES),
        "agency_code": draw(optional_text(fields.AGENCY_CODE_MAX)),
        "address": draw(optional_text(fields.ADDRESS_MAX)),
        "phone": draw(optional_text(fields.PHONE_MAX)),
        "opening_hours": draw(st.sampled_from([None, {"0": [["07:30", "11:30"]]}])),
        "interleave_priority": draw(ints(fields.INTERLEAVE_PRIORITY, held)),
        "interleave_normal": draw(ints(fields.INTERLEAVE_NORMAL, held)),
    }


@st.composite
def service_values(draw: st.DrawFn, held: bool) -> list[dict[str, Any]]:
    prefixes = st.from_regex(fields.PREFIX_HELD if held else fields.PREFIX, fullmatch=True)
    n = draw(st.integers(1, 3))
    codes = draw(st.lists(CODES, min_size=n, max_size=n, unique=True))
    pfx = draw(st.lists(prefixes, min_size=n, max_size=n, unique=True))
    return [
        {
            "code": c,
            "name_vi": draw(text(fields.NAME_MAX)),
            "name_en": draw(text(fields.NAME_MAX)),
            "prefix": p,
            "sla_target_minutes": draw(ints(fields.SLA_MINUTES, held)),
            "daily_cap": draw(st.one_of(st.none(), ints(fields.DAILY_CAP, held))),
            "last_ticket_time": draw(TIMES),
            "display_colour": draw(COLOURS),
            "active": draw(st.booleans()),
        }
        for c, p in zip(codes, pfx, strict=True)
    ]


@st.composite
def counter_values(draw: st.DrawFn, services: list[str], held: bool) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(services), unique=True, max_size=len(services)))
    return {
        "number": draw(ints(fields.COUNTER_NUMBER, held)),
        "name": draw(optional_text(fields.COUNTER_NAME_MAX)),
        "printer_uri": None,
        "services": [{"code": c, "weight": draw(weights(held))} for c in chosen],
    }


@st.composite
def configurations(draw: st.DrawFn, held: bool) -> tuple[dict, list[dict], dict]:
    services = draw(service_values(held))
    counter = draw(counter_values([s["code"] for s in services], held))
    return draw(site_values(held)), services, counter


def export(db: Database, code: str) -> dict[str, Any]:
    with db.read() as s:
        return siteconfig.export_site(s, ADMIN, code)


def import_text(db: Database, text: str, fmt: str) -> dict[str, Any]:
    with db.write() as s:
        return siteconfig.import_config(s, ADMIN, text, NOW, fmt=fmt)


def _service_doc(v: dict[str, Any]) -> dict[str, Any]:
    return {"code": v["code"], "name": {"vi": v["name_vi"], "en": v["name_en"]},
            "prefix": v["prefix"], "sla_target_minutes": v["sla_target_minutes"],
            "default_service_minutes": 8.0, "active": v["active"], "sort_order": 0,
            "daily_cap": v["daily_cap"], "last_ticket_time": v["last_ticket_time"],
            "display_colour": v["display_colour"]}


# --- console -> file -> import: unchanged ---------------------------------------------------


@SETTINGS
@given(config=configurations(held=False), fmt=st.sampled_from(["json", "yaml"]))
def test_what_the_console_saves_exports_and_imports_unchanged(
    database: Database, config: tuple[dict, list[dict], dict], fmt: str
) -> None:
    site, services, counter = config
    with database.write() as s:
        admin.create_site(s, ADMIN, site, NOW)
        for sv in services:
            admin.save_service(s, ADMIN, site["code"], sv, NOW)
        admin.save_counter(s, ADMIN, site["code"], counter, NOW)
    doc = export(database, site["code"])
    out = import_text(database, siteconfig.dump(doc, fmt), fmt)
    assert (out["created"], out["updated"], out["changes"]) == (0, 0, []), out
    assert export(database, site["code"]) == doc
    # The file holds exactly what the console was given (text trimmed, colours lower-cased).
    got = {x["code"]: x for x in doc["services"]}
    for sv in services:
        want = _service_doc(sv)
        want["display_colour"] = sv["display_colour"] and sv["display_colour"].lower()
        assert {k: v for k, v in got[sv["code"]].items() if k != "sort_order"} == {
            k: v for k, v in want.items() if k != "sort_order"}
    [c] = doc["counters"]
    assert (c["number"], c["name"]) == (counter["number"], counter["name"])
    assert sorted((x["service"], x["weight"]) for x in c["profile"]) == sorted(
        (x["code"], x["weight"]) for x in counter["services"])


# --- file -> import -> console saves unchanged ---------------------------------------------


@SETTINGS
@given(config=configurations(held=True), fmt=st.sampled_from(["json", "yaml"]))
def test_what_a_file_imports_the_console_saves_unchanged(
    database: Database, config: tuple[dict, list[dict], dict], fmt: str
) -> None:
    site, services, counter = config
    doc = {
        "format": siteconfig.FORMAT, "version": siteconfig.VERSION,
        "site": {"code": site["code"], "name": {"vi": site["name_vi"], "en": site["name_en"]},
                 "kind": "centre", "parent": "PROV", "timezone": site["timezone"],
                 "agency_code": site["agency_code"], "address": site["address"],
                 "phone": site["phone"], "opening_hours": site["opening_hours"],
                 "interleave": {"priority": site["interleave_priority"],
                                "normal": site["interleave_normal"]},
                 "dossier_cutoff": None},
        "services": [_service_doc(v) for v in services],
        "counters": [{"number": counter["number"], "name": counter["name"], "printer_uri": None,
                      "profile": [{"service": x["code"], "weight": x["weight"]}
                                  for x in counter["services"]]}],
        "children": [],
    }
    import_text(database, siteconfig.dump(doc, fmt), fmt)
    before = export(database, site["code"])
    with database.write() as s:
        admin.update_site(s, ADMIN, site["code"], site, NOW)
        for sv in services:
            admin.save_service(s, ADMIN, site["code"], sv, NOW, code=sv["code"])
        cid = s.scalar(select(Counter.id).join(Site, Site.id == Counter.site_id).where(
            Site.code == site["code"], Counter.number == counter["number"]))
        admin.save_counter(s, ADMIN, site["code"], counter, NOW, counter_id=cid)
    assert export(database, site["code"]) == before


# --- the two drifts -------------------------------------------------------------------------


def _centre(db: Database, code: str = "NS") -> None:
    with db.write() as s:
        admin.create_site(s, ADMIN, {"code": code, "name_vi": "Mới", "name_en": "New",
                                     "kind": "centre", "parent": "PROV",
                                     "timezone": "Asia/Ho_Chi_Minh",
                                     "interleave_priority": 1, "interleave_normal": 2}, NOW)


def test_a_console_service_code_with_capitals_and_dots_imports_again(
    database: Database,
) -> None:
    _centre(database)
    with database.write() as s:
        admin.save_service(s, ADMIN, "NS", {"code": "Land.A", "name_vi": "Đất", "name_en": "Land",
                                            "prefix": "A", "sla_target_minutes": 20}, NOW)
    doc = export(database, "NS")
    assert doc["services"][0]["code"] == "Land.A"
    for fmt in ("json", "yaml"):
        out = import_text(database, siteconfig.dump(doc, fmt), fmt)
        assert out["changes"] == [], out
    doc["site"]["code"] = "NS2"  # a new centre from the same file
    assert import_text(database, siteconfig.dump(doc), "json")["created"] >= 2


def test_an_imported_digit_prefix_and_long_sla_can_be_saved_in_the_console(
    database: Database,
) -> None:
    _centre(database)
    doc = export(database, "NS")
    doc["services"] = [{"code": "land", "name": {"vi": "Đất", "en": "Land"}, "prefix": "A1",
                        "sla_target_minutes": 5000}]
    import_text(database, siteconfig.dump(doc), "json")
    body = {"name_vi": "Đất đai", "name_en": "Land", "prefix": "A1", "sla_target_minutes": 5000}
    with database.write() as s:
        out = admin.save_service(s, ADMIN, "NS", body, NOW, code="land")
    assert (out["name"]["vi"], out["prefix"], out["sla_target_minutes"]) == (
        "Đất đai", "A1", 5000)
    # Held values stay; a NEW value must meet the rule, and the message names it.
    for key, value, words in (("prefix", "B2", "capital letters"),
                              ("sla_target_minutes", 5001, "from 1 to 600")):
        with pytest.raises(admin.FieldErrors) as exc, database.write() as s:
            admin.save_service(s, ADMIN, "NS", {**body, key: value}, NOW, code="land")
        assert words in exc.value.field_messages("en")[key]
    with database.read() as s:
        svc = s.scalar(select(Service).where(Service.code == "land"))
        assert (svc.prefix, svc.sla_target_minutes) == ("A1", 5000)


def test_a_file_still_refuses_what_no_path_could_store(database: Database) -> None:
    _centre(database)
    doc = export(database, "NS")
    doc["services"] = [{"code": "land!", "name": {"vi": "Đất", "en": "Land"}, "prefix": "a",
                        "sla_target_minutes": 0}]
    with pytest.raises(AppError) as exc:
        import_text(database, siteconfig.dump(doc), "json")
    detail = exc.value.message("en")
    assert "services[0].code: must be 1-32 letters without accents, digits or . _ -" in detail
    assert "services[0].prefix: must be 1-4 capital letters A-Z" in detail
    assert "services[0].sla_target_minutes: must be a positive integer" in detail
