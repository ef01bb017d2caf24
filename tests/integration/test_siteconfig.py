"""Site configuration as one file: export, import, validation with lines and paths."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

from server.cli import main
from server.core.lookups import get_site
from server.features import procedures, siteconfig
from server.models import AuditLog, Counter, Service, Site
from tests.conftest import Api, Clock, World

API = "/api/v1"


def export(api: Api, site: str = "HT", fmt: str = "json", role: str = "admin") -> Any:
    r = api.call("GET", f"{API}/sites/{site}/config?format={fmt}", role)
    assert r.status_code == 200, r.get_data(as_text=True)
    text = r.get_data(as_text=True)
    return json.loads(text) if fmt == "json" else text


def do_import(
    api: Api, text: str, ctype: str = "application/json", dry_run: bool = False, role: str = "admin"
) -> Any:
    q = "?dry_run=1" if dry_run else ""
    return api.call(
        "POST",
        f"{API}/config/import{q}",
        role,
        data=text.encode("utf-8"),
        headers={"Content-Type": ctype},
    )


def state(world: World) -> dict[str, Any]:
    """Everything an import could touch, to prove a refused one touched nothing."""
    with world.db.read() as s:
        docs = {
            code: siteconfig.export_site(s, siteconfig_principal(), code)
            for code in s.scalars(select(Site.code))
        }
        audits = s.scalar(select(func.count()).select_from(AuditLog))
        return {"docs": docs, "audits": audits}


def siteconfig_principal() -> Any:
    from server.cli.ops import CLI

    return CLI


@pytest.fixture
def configured(world: World, clock: Clock) -> None:
    clock.set(dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC))
    with world.db.write() as s:
        ht = get_site(s, "HT")
        ht.opening_hours = {
            "0": [["07:30", "11:30"], ["13:30", "17:00"]],
            "5": [["07:30", "11:30"]],
        }
        ht.address = "1 Trần Phú, Thanh Hoá"
        ht.phone = "0237 3 852 000"
        land = s.scalar(select(Service).where(Service.site_id == ht.id, Service.code == "land"))
        land.daily_cap = 80
        land.last_ticket_time = "16:00"
        land.display_colour = "#1f6feb"
        c1 = s.scalar(select(Counter).where(Counter.site_id == ht.id, Counter.number == 1))
        c1.name = "Quầy đất đai"
        c1.printer_uri = "tcp://10.0.0.21:9100"
        prov = get_site(s, "PROV")
        procedures.seed_catalog(s, prov)


# --- round trip ---------------------------------------------------------------------------------


def test_export_then_import_changes_nothing_and_exports_the_same(
    api: Api, world: World, configured: None
) -> None:
    doc = export(api)
    assert doc["format"] == "motcua-site-config" and doc["site"]["code"] == "HT"
    assert doc["site"]["opening_hours"]["0"] == [["07:30", "11:30"], ["13:30", "17:00"]]
    land = next(s for s in doc["services"] if s["code"] == "land")
    assert (land["daily_cap"], land["last_ticket_time"], land["display_colour"]) == (
        80,
        "16:00",
        "#1f6feb",
    )
    assert doc["counters"][0]["printer_uri"] == "tcp://10.0.0.21:9100"
    assert [c["site"]["code"] for c in doc["children"]] == ["HT-P1"]
    assert "procedures" not in doc  # a centre's file has no catalog

    before = state(world)
    r = do_import(api, json.dumps(doc, ensure_ascii=False))
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert (out["created"], out["updated"], out["changes"]) == (0, 0, [])
    assert state(world) == before, "importing the exported file changes nothing"
    assert export(api) == doc


def test_yaml_round_trip(api: Api, world: World, configured: None) -> None:
    text = export(api, fmt="yaml")
    # Quoted where YAML 1.1 would read a number (16:00 is 960 unquoted).
    assert "opening_hours:" in text and "'16:00'" in text
    doc = yaml.safe_load(text)
    assert doc == export(api)
    r = do_import(api, text, "application/yaml")
    assert r.status_code == 200 and r.get_json()["updated"] == 0, r.get_json()


def test_province_export_carries_procedures_and_holidays(
    api: Api, world: World, configured: None
) -> None:
    doc = export(api, "PROV")
    assert doc["site"]["kind"] == "province"
    assert len(doc["procedures"]) >= 5 and len(doc["holidays"]) >= 10
    assert {c["site"]["code"] for c in doc["children"]} == {"HT", "OTHER"}
    r = do_import(api, json.dumps(doc, ensure_ascii=False))
    assert r.status_code == 200 and r.get_json()["changes"] == [], r.get_json()
    # Change one holiday name and one procedure: exactly those rows update, audited.
    doc["holidays"][0]["name"]["en"] = "Renamed"
    doc["procedures"][0]["processing_days"] += 1
    r = do_import(api, json.dumps(doc, ensure_ascii=False))
    assert r.get_json()["updated"] == 2, r.get_json()
    assert export(api, "PROV") == doc


def test_new_centre_from_a_template(api: Api, world: World, configured: None) -> None:
    doc = export(api)
    new = copy.deepcopy(doc)
    new["site"].update(code="NS", name={"vi": "Phường Nam Sơn", "en": "Nam Son Ward"})
    new["site"]["agency_code"] = "H56.30"
    new["children"][0]["site"]["code"] = "NS-P1"
    r = do_import(api, json.dumps(new, ensure_ascii=False))
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert out["site"] == "NS" and out["created"] > 0 and out["updated"] == 0
    assert export(api, "NS") == new
    assert export(api) == doc, "the template site is untouched"
    with world.db.read() as s:
        audit = s.scalar(
            select(AuditLog).where(
                AuditLog.action == "config.create_service", AuditLog.entity_id == "NS/land"
            )
        )
        assert audit.after["daily_cap"] == 80 and audit.actor.startswith("token:")
    # A ticket can be issued at the new centre by staff (no kiosk there yet).
    r = api.call("POST", f"{API}/sites/NS/tickets", "admin", json={"service": "civil"})
    assert r.status_code in (201, 409), r.get_json()  # 409 only when outside its opening hours


def test_a_change_is_audited_before_and_after(api: Api, world: World, configured: None) -> None:
    doc = export(api)
    land = next(s for s in doc["services"] if s["code"] == "land")
    land["daily_cap"] = 120
    doc["site"]["phone"] = None
    r = do_import(api, json.dumps(doc, ensure_ascii=False))
    assert r.get_json()["updated"] == 2
    with world.db.read() as s:
        rows = s.scalars(
            select(AuditLog).where(AuditLog.action.like("config.update_%")).order_by(AuditLog.id)
        ).all()
        by_entity = {(a.entity, a.entity_id): (a.before, a.after) for a in rows}
    assert by_entity[("service", "HT/land")] == ({"daily_cap": 80}, {"daily_cap": 120})
    assert by_entity[("site", "HT")] == ({"phone": "0237 3 852 000"}, {"phone": None})


def test_dry_run_reports_and_changes_nothing(api: Api, world: World, configured: None) -> None:
    doc = export(api)
    doc["services"][0]["sla_target_minutes"] = 45
    doc["site"]["code"] = "DRY"
    before = state(world)
    r = do_import(api, json.dumps(doc), dry_run=True)
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert out["dry_run"] is True and out["created"] > 0
    assert "create site DRY" in out["changes"]
    assert state(world) == before


# --- broken files change nothing and name the error -----------------------------------------------


def _json_lines(doc: dict[str, Any]) -> tuple[str, list[str]]:
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    return text, text.splitlines()


def _line_of(lines: list[str], needle: str, start: int = 0) -> int:
    for i in range(start, len(lines)):
        if needle in lines[i]:
            return i + 1
    raise AssertionError(needle)


def refused(api: Api, world: World, text: str, ctype: str = "application/json") -> str:
    before = state(world)
    r = do_import(api, text + "", ctype)
    assert r.status_code == 422, r.get_json()
    err = r.get_json()["error"]
    assert err["code"] == "config_invalid"
    assert state(world) == before, "a refused file must change nothing"
    r_en = api.call(
        "POST",
        f"{API}/config/import?lang=en",
        "admin",
        data=text.encode(),
        headers={"Content-Type": ctype},
    )
    return r_en.get_json()["error"]["message"]


def test_a_bad_value_names_path_and_line(api: Api, world: World, configured: None) -> None:
    doc = export(api)
    # A valid change early in the file must not be applied either.
    doc["site"]["phone"] = "999"
    doc["services"][2]["sla_target_minutes"] = 0
    text, lines = _json_lines(doc)
    third = _line_of(lines, '"code": "business"')
    line = _line_of(lines, '"sla_target_minutes"', third)
    msg = refused(api, world, text)
    assert msg == (
        "The configuration file is invalid; nothing was changed: "
        f"services[2].sla_target_minutes: must be a positive integer (line {line})"
    )


BREAKAGES = {
    "duplicate prefix": (
        lambda d: d["services"][1].update(prefix="A"),
        "services[1].prefix: duplicate prefix 'A' (also services[0])",
    ),
    "bad opening hours": (
        lambda d: d["site"].update(opening_hours={"0": [["11:30", "07:30"]]}),
        "site.opening_hours.0[0]: opening 11:30 must be before closing 07:30",
    ),
    "weekday 7": (
        lambda d: d["site"].update(opening_hours={"7": []}),
        "site.opening_hours.7: weekday must be 0 (Monday) to 6 (Sunday)",
    ),
    "unknown field": (
        lambda d: d["services"][0].update(colour="#fff"),
        "services[0].colour: unknown field",
    ),
    "profile of an unknown service": (
        lambda d: d["counters"][0]["profile"].append({"service": "marriage", "weight": 1.0}),
        "counters[0].profile[1].service: no service 'marriage' in this site's services",
    ),
    "bad time zone": (
        lambda d: d["site"].update(timezone="Mars/Olympus"),
        "site.timezone: must be an IANA time zone such as Asia/Ho_Chi_Minh",
    ),
    "bad colour": (
        lambda d: d["services"][0].update(display_colour="blue"),
        'services[0].display_colour: must be a colour "#rrggbb"',
    ),
    "bad last ticket time": (
        lambda d: d["services"][0].update(last_ticket_time="25:00"),
        "services[0].last_ticket_time: must be a time HH:MM (00:00-23:59)",
    ),
    "cap zero": (
        lambda d: d["services"][0].update(daily_cap=0),
        "services[0].daily_cap: must be a positive integer",
    ),
    "bad printer": (
        lambda d: d["counters"][0].update(printer_uri="lp0"),
        "counters[0].printer_uri:",
    ),
    "child claims another parent": (
        lambda d: d["children"][0]["site"].update(parent="OTHER"),
        "children[0].site.parent: must be 'HT' (the enclosing site) or left out",
    ),
    "missing name": (
        lambda d: d["services"][1].pop("name"),
        "services[1].name: must be a mapping (key: value)",
    ),
    "wrong version": (lambda d: d.update(version=2), "version: must be 1"),
}


@pytest.mark.parametrize("kind", list(BREAKAGES))
def test_broken_files_change_nothing_and_name_the_error(
    api: Api, world: World, configured: None, kind: str
) -> None:
    doc = export(api)
    doc["site"]["name"]["en"] = "Changed too"  # a good change that must not land
    breaks, expected = BREAKAGES[kind]
    breaks(doc)
    msg = refused(api, world, json.dumps(doc, ensure_ascii=False, indent=2))
    assert expected in msg, msg
    assert "(line " in msg, msg


def test_several_errors_are_all_listed(api: Api, world: World, configured: None) -> None:
    doc = export(api)
    doc["services"][0]["daily_cap"] = -5
    doc["services"][1]["prefix"] = "toolong"
    doc["counters"][1]["number"] = 1
    msg = refused(api, world, json.dumps(doc, indent=2))
    assert "services[0].daily_cap" in msg
    assert "services[1].prefix" in msg
    assert "counters[1].number: duplicate counter 1" in msg


def test_syntax_errors_name_the_line(api: Api, world: World, configured: None) -> None:
    _, lines = _json_lines(export(api))
    broken = "\n".join([*lines[:10], lines[10] + ",", *lines[10:]])  # a comma too many on line 11
    msg = refused(api, world, broken)
    assert "not valid JSON" in msg and "(line 11)" in msg, msg

    ytext = export(api, fmt="yaml")
    ylines = ytext.splitlines()
    ylines.insert(5, "  bad: [unclosed")
    msg = refused(api, world, "\n".join(ylines), "application/yaml")
    assert "not valid YAML" in msg and "(line " in msg, msg


def test_yaml_unquoted_time_is_explained(api: Api, world: World, configured: None) -> None:
    text = export(api, fmt="yaml").replace("last_ticket_time: '16:00'", "last_ticket_time: 16:00")
    msg = refused(api, world, text, "application/yaml")
    line = next(i + 1 for i, x in enumerate(text.splitlines()) if "last_ticket_time: 16:00" in x)
    assert 'services[0].last_ticket_time: must be a time "HH:MM" in quotes' in msg
    assert f"(line {line})" in msg


def test_prefix_taken_by_a_service_not_in_the_file(
    api: Api, world: World, configured: None
) -> None:
    doc = export(api)
    doc["services"] = [s for s in doc["services"] if s["code"] != "land"]
    doc["services"][0]["prefix"] = "A"  # land keeps A in the database
    for c in doc["counters"]:
        c["profile"] = [x for x in c["profile"] if x["service"] != "land"]
    msg = refused(api, world, json.dumps(doc, indent=2))
    assert "prefix 'A' is used by service 'land' of HT, which is not in the file" in msg


# --- who may ------------------------------------------------------------------------------------


def test_roles(api: Api, world: World, configured: None) -> None:
    text = json.dumps(export(api))
    assert do_import(api, text, role="supervisor").status_code == 403
    assert do_import(api, text, role="clerk").status_code == 403
    assert do_import(api, text, role="kiosk").status_code == 403
    assert api.call("POST", f"{API}/config/import", None, data=text).status_code == 401
    assert export(api, role="supervisor")["site"]["code"] == "HT"  # read-only for supervisors
    assert api.call("GET", f"{API}/sites/HT/config", "clerk").status_code == 403
    assert api.call("GET", f"{API}/sites/OTHER/config", "supervisor").status_code == 403
    assert api.call("GET", f"{API}/sites/NOPE/config", "admin").status_code == 404


# --- command line -------------------------------------------------------------------------------


def test_cli_export_import_and_close_day(
    db_url: str, world: World, configured: None, tmp_path: Path
) -> None:
    env = {"MOTCUA_DATABASE_URL": db_url}
    runner = CliRunner()
    out = tmp_path / "ht.yaml"
    r = runner.invoke(main, ["config", "export", "--site", "HT", str(out)], env=env)
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert doc["site"]["code"] == "HT"

    doc["site"]["code"] = "HT9"
    doc["children"][0]["site"]["code"] = "HT9-P1"
    new = tmp_path / "ht9.yaml"
    new.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    r = runner.invoke(main, ["config", "import", "--dry-run", str(new)], env=env)
    assert r.exit_code == 0 and "dry run: nothing changed" in r.output, r.output
    with world.db.read() as s:
        assert s.scalar(select(Site).where(Site.code == "HT9")) is None
    r = runner.invoke(main, ["config", "import", str(new)], env=env)
    assert r.exit_code == 0, r.output
    with world.db.read() as s:
        assert s.scalar(select(Site).where(Site.code == "HT9")) is not None
        audit = s.scalar(select(AuditLog).where(AuditLog.entity_id == "HT9"))
        assert audit.actor == "cli"

    doc["services"][0]["sla_target_minutes"] = "soon"
    new.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    r = runner.invoke(main, ["config", "import", str(new)], env=env)
    assert r.exit_code != 0
    assert "services[0].sla_target_minutes: must be a positive integer (line " in r.output

    r = runner.invoke(main, ["close-day", "--site", "HT", "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["site"] == "HT"


def test_a_file_without_parent_keeps_the_site_in_its_province(
    api: Api, world: World, configured: None
) -> None:
    doc = export(api)
    del doc["site"]["parent"]
    doc["site"]["address"] = "2 Lê Lợi"
    r = do_import(api, json.dumps(doc, ensure_ascii=False))
    assert r.get_json()["updated"] == 1, r.get_json()
    assert export(api)["site"]["parent"] == "PROV"
    doc["site"]["parent"] = "NOWHERE"
    msg = refused(api, world, json.dumps(doc, indent=2))
    assert "site.parent: no site 'NOWHERE' in the database (line " in msg
