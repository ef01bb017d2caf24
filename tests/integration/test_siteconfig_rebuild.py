"""The configuration file carries everything needed to rebuild a centre: besides sites,
services, counters (with their printers) and the catalog, the lobby ticker and the devices
with their printers and rating-tablet counters, never a token. Importing it restores them, in
the same database and into an empty one."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from server.cli.ops import CLI
from server.core import migrate
from server.core.db import Database
from server.core.lookups import get_site
from server.features import seed, siteconfig
from server.models import Counter, Device
from tests.conftest import Api, Clock, World


def _configure(world: World, now: dt.datetime) -> None:
    with world.db.write() as s:
        ht = get_site(s, "HT")
        ht.ticker_vi, ht.ticker_en = "Giờ làm việc: 7:30–17:00", "Open 7:30–17:00"
        c1 = s.scalar(select(Counter).where(Counter.site_id == ht.id, Counter.number == 1))
        c1.printer_uri = "tcp://10.0.0.21:9100"
        kiosk = s.scalar(select(Device).where(Device.name == "kiosk-1"))
        kiosk.printer_uri = "tcp://10.0.0.31:9100"
        seed.add_device(s, ht, "kiosk", "tablet-3", None, now,
                        counter=s.scalar(select(Counter).where(Counter.site_id == ht.id,
                                                               Counter.number == 3)))
        gone = s.scalar(select(Device).where(Device.name == "display-1"))
        gone.revoked_at = now


def _export(db: Database, code: str) -> dict[str, Any]:
    with db.read() as s:
        return siteconfig.export_site(s, CLI, code)


def _import(db: Database, doc: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    with db.write() as s:
        return siteconfig.import_config(s, CLI, json.dumps(doc, ensure_ascii=False), now)


def _site(doc: dict[str, Any], code: str) -> dict[str, Any]:
    if doc["site"]["code"] == code:
        return doc
    return next(_site(c, code) for c in doc["children"] if _contains(c, code))


def _contains(doc: dict[str, Any], code: str) -> bool:
    return doc["site"]["code"] == code or any(_contains(c, code) for c in doc["children"])


def test_ticker_and_devices_are_exported_without_tokens(world: World, clock: Clock) -> None:
    _configure(world, clock())
    doc = _export(world.db, "HT")
    assert doc["site"]["ticker"] == {"vi": "Giờ làm việc: 7:30–17:00", "en": "Open 7:30–17:00"}
    assert doc["counters"][0]["printer_uri"] == "tcp://10.0.0.21:9100"
    assert doc["devices"] == [  # the revoked display is left out
        {"name": "kiosk-1", "kind": "kiosk", "printer_uri": "tcp://10.0.0.31:9100",
         "counter": None},
        {"name": "tablet-3", "kind": "kiosk", "printer_uri": None, "counter": 3},
    ]
    text = json.dumps(doc)
    with world.db.read() as s:
        for token_hash in s.scalars(select(Device.token_hash)):
            assert token_hash not in text
    assert "token" not in text
    for token in world.tokens.values():
        assert token not in text


def test_a_template_leaves_this_centres_machines_out(world: World, clock: Clock) -> None:
    """A template for another centre (``?template=1``, ``--template``) carries the structure
    but not the devices and printers, which belong to this centre; imported under new codes it
    makes the new centre without them, and this centre keeps its own."""
    _configure(world, clock())
    with world.db.read() as s:
        doc = siteconfig.export_site(s, CLI, "HT", template=True)
    assert "devices" not in json.dumps(doc)
    assert [c["printer_uri"] for c in doc["counters"]] == [None] * len(doc["counters"])
    assert doc["site"]["ticker"]["vi"] == "Giờ làm việc: 7:30–17:00"
    copy = json.loads(json.dumps(doc).replace('"HT"', '"HT9"'))
    _import(world.db, copy, clock())
    with world.db.read() as s:
        new = get_site(s, "HT9")
        assert s.scalars(select(Device).where(Device.site_id == new.id)).all() == []
        assert {c.printer_uri for c in s.scalars(
            select(Counter).where(Counter.site_id == new.id))} == {None}
        assert s.scalar(select(Device.printer_uri).where(Device.name == "kiosk-1")) == (
            "tcp://10.0.0.31:9100")


def test_the_api_exports_a_template_on_request(api: Api, world: World, clock: Clock) -> None:
    _configure(world, clock())
    whole = api.call("GET", "/api/v1/sites/HT/config?format=json", "admin")
    assert whole.status_code == 200 and '"devices"' in whole.get_data(as_text=True)
    template = api.call("GET", "/api/v1/sites/HT/config?format=json&template=1", "admin")
    assert template.status_code == 200
    assert '"devices"' not in template.get_data(as_text=True)
    assert "10.0.0.21" not in template.get_data(as_text=True)  # counter 1's printer
    bad = api.call("GET", "/api/v1/sites/HT/config?template=yes", "admin")
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "validation_error"


def test_import_restores_ticker_devices_and_printers(world: World, clock: Clock) -> None:
    now = clock()
    _configure(world, now)
    doc = _export(world.db, "HT")
    with world.db.write() as s:
        ht = get_site(s, "HT")
        ht.ticker_vi = ht.ticker_en = None
        for d in s.scalars(select(Device).where(Device.site_id == ht.id)):
            d.printer_uri, d.counter_id = "tcp://10.9.9.9:9100", None
        s.scalar(select(Counter).where(Counter.site_id == ht.id, Counter.number == 1)
                 ).printer_uri = None
        hashes = dict(s.execute(select(Device.name, Device.token_hash)).all())
    out = _import(world.db, doc, now)
    assert any(c.startswith("update device HT/kiosk-1: printer_uri") for c in out["changes"])
    assert "update site HT: ticker_vi None -> 'Giờ làm việc: 7:30–17:00', ticker_en None -> " \
        "'Open 7:30–17:00'" in out["changes"]
    assert _export(world.db, "HT") == doc
    with world.db.read() as s:
        # Working devices keep their tokens; the revoked one stays revoked.
        assert dict(s.execute(select(Device.name, Device.token_hash)).all()) == hashes
        assert s.scalar(select(Device.revoked_at).where(Device.name == "display-1")) is not None
    again = _import(world.db, doc, now)
    assert (again["created"], again["updated"]) == (0, 0)


def test_a_province_rebuilt_in_an_empty_database(world: World, clock: Clock,
                                                 tmp_path: Path) -> None:
    now = clock()
    _configure(world, now)
    doc = _export(world.db, "PROV")
    url = f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}"
    migrate.upgrade(url)
    fresh = Database(url)
    try:
        out = _import(fresh, doc, now)
        assert out["created"] > 0
        assert _export(fresh, "PROV") == doc
        ht = _site(doc, "HT")
        assert ht["site"]["ticker"]["en"] == "Open 7:30–17:00"
        with fresh.read() as s:
            tablet = s.scalar(select(Device).where(Device.name == "tablet-3"))
            assert s.get(Counter, tablet.counter_id).number == 3
            rebuilt_hash = tablet.token_hash
        with world.db.read() as s:
            original_hash = s.scalar(select(Device.token_hash).where(Device.name == "tablet-3"))
        # A rebuilt device has no known token until `motcua device add` gives it one.
        assert rebuilt_hash != original_hash
        with fresh.read() as s:
            assert s.scalar(select(Device).where(Device.name == "display-1")) is None
    finally:
        fresh.dispose()


def test_a_device_entry_is_checked(world: World, clock: Clock) -> None:
    doc = _export(world.db, "HT")
    doc["devices"] = [
        {"name": "k", "kind": "toaster"},
        {"name": "d", "kind": "display", "counter": 1},
        {"name": "t", "kind": "kiosk", "counter": 99},
        {"name": "p", "kind": "kiosk", "printer_uri": "tcp://127.0.0.1:9100"},
    ]
    doc["site"]["ticker"] = {"vi": "x" * 301}
    with world.db.write() as s:
        try:
            siteconfig.import_config(s, CLI, json.dumps(doc), clock())
        except Exception as exc:  # AppError config_invalid, every problem named
            detail = str(getattr(exc, "params", {}).get("detail", exc))
        else:
            raise AssertionError("the file was accepted")
    for part in ("devices[0].kind", "devices[1].counter", "devices[2].counter: no counter 99",
                 "devices[3].printer_uri: not allowed", "site.ticker.vi: at most 300"):
        assert part in detail, detail
