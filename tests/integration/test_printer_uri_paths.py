"""Who may set which printer, on every path that stores one (through the real server's API
and the real CLI): the web never sets file:// (in any letter case) nor a loopback or
link-local tcp:// address; the command line sets file:// only inside the spool folder; an
operator-listed network is accepted; a URI stored before the policy fails at send time."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from server.cli import main
from server.config import Settings
from server.core.db import Database
from server.features import printing
from server.models import Counter, Device, PairingCode, PrintJob
from tests.conftest import Api, World

FILE_CASES = ["file", "File", "FILE", "fIlE", "FiLe"]
BAD_TCP = ["tcp://127.0.0.1:6379", "tcp://[::1]:9100", "tcp://169.254.10.20:9100",
           "TCP://127.0.0.1:5432", "tcp://0.0.0.0:9100"]


def _file_uri(case: str, path: Path) -> str:
    return f"{case}://{path}"


def _counters(world: World) -> dict[int, str | None]:
    with world.db.read() as s:
        return {c.number: c.printer_uri for c in s.scalars(select(Counter))}


def _devices(world: World) -> set[str]:
    with world.db.read() as s:
        return {d.name for d in s.scalars(select(Device))}


def _claim_code(world: World) -> str:
    code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6))
    with world.db.write() as s:
        now = dt.datetime.now(dt.UTC)
        s.add(PairingCode(code=code, secret_hash="x" * 64, created_at=now,
                          expires_at=now + dt.timedelta(minutes=10)))
    return code


def _web_paths(api: Api, world: World, uri: str) -> list[tuple[str, Any]]:
    """Every API call that stores a printer, with ``uri``; (name, response)."""
    cid = world.counters[1]
    out = [
        ("counter create", api.call("POST", "/api/v1/admin/sites/HT/counters?lang=en", "admin",
                                    json={"number": 77, "printer_uri": uri, "services": []})),
        ("counter edit", api.call("PUT", f"/api/v1/admin/sites/HT/counters/{cid}?lang=en",
                                  "admin", json={"number": 1, "printer_uri": uri,
                                                 "services": [{"code": "land", "weight": 1}]})),
        ("pairing claim", api.call("POST", "/api/v1/admin/pairing/claim?lang=en", "admin",
                                   json={"code": _claim_code(world), "site": "HT",
                                         "kind": "kiosk", "name": "k-new", "printer_uri": uri})),
    ]
    doc = api.call("GET", "/api/v1/sites/HT/config?format=json", "admin").get_json()
    doc["counters"][0]["printer_uri"] = uri
    out.append(("config import", api.call("POST", "/api/v1/config/import?lang=en", "admin",
                                          json=doc)))
    return out


@pytest.mark.parametrize("case", FILE_CASES)
def test_the_web_never_sets_a_file_printer_in_any_letter_case(
    api: Api, world: World, tmp_path: Path, case: str
) -> None:
    before = (_counters(world), _devices(world))
    for name, r in _web_paths(api, world, _file_uri(case, tmp_path / "x.sh")):
        assert r.status_code == 422, (name, r.get_json())
        assert "printer_file_not_allowed" in r.get_data(as_text=True), name
    assert (_counters(world), _devices(world)) == before
    assert not (tmp_path / "x.sh").exists()


@pytest.mark.parametrize("uri", BAD_TCP)
def test_the_web_never_points_a_printer_at_the_servers_own_services(
    api: Api, world: World, uri: str
) -> None:
    before = (_counters(world), _devices(world))
    for name, r in _web_paths(api, world, uri):
        assert r.status_code == 422, (name, r.get_json())
        assert "printer_address_not_allowed" in r.get_data(as_text=True), name
    assert (_counters(world), _devices(world)) == before


def _app_with(db: Database, clock: Any, **settings: Any) -> Any:
    from server.app import create_app

    return create_app(Settings(database_url=db.url, print_worker=False,
                               outbox_worker=False, **settings), db=db,
                      clock=clock)


def test_only_the_networks_the_operator_lists_when_a_list_is_set(
    db: Database, world: World, clock: Any
) -> None:
    app = _app_with(db, clock, printer_networks="10.20.0.0/16, 127.0.0.0/8")
    try:
        api = Api(app.test_client(), world)
        r = api.call("POST", "/api/v1/admin/sites/HT/counters", "admin",
                     json={"number": 78, "printer_uri": "tcp://10.20.3.4:9100", "services": []})
        assert r.status_code == 201, r.get_json()
        r = api.call("POST", "/api/v1/admin/sites/HT/counters", "admin",
                     json={"number": 79, "printer_uri": "tcp://127.0.0.1:9100", "services": []})
        assert r.status_code == 201, r.get_json()  # listed: e.g. a fake printer on loopback
        r = api.call("POST", "/api/v1/admin/sites/HT/counters?lang=en", "admin",
                     json={"number": 80, "printer_uri": "tcp://192.168.1.50:9100",
                           "services": []})
        assert r.status_code == 422
        assert "printer_address_not_allowed" in r.get_data(as_text=True)
        assert _counters(world)[78] == "tcp://10.20.3.4:9100" and 80 not in _counters(world)
    finally:
        app.extensions["motcua_printing"].stop()


def test_usb_serial_and_lan_printers_stay_settable_from_the_web(
    db: Database, world: World, clock: Any
) -> None:
    app = _app_with(db, clock)
    try:
        api = Api(app.test_client(), world)
        for n, uri in enumerate(["usb://04b8:0202", "serial:///dev/ttyUSB0?baudrate=19200",
                                 "tcp://192.168.1.50:9100"], start=81):
            r = api.call("POST", "/api/v1/admin/sites/HT/counters", "admin",
                         json={"number": n, "printer_uri": uri, "services": []})
            assert r.status_code == 201, (uri, r.get_json())
    finally:
        app.extensions["motcua_printing"].stop()


# --- the command line -----------------------------------------------------------------------


def _cli(db_url: str, cwd: Path, *args: str) -> Any:
    env = {"MOTCUA_DATABASE_URL": db_url, "MOTCUA_PRINTER_SPOOL_DIR": str(cwd / "spool")}
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture
def demo(tmp_path: Path) -> str:
    db_url = f"sqlite:///{tmp_path / 'motcua.sqlite3'}"
    r = CliRunner().invoke(main, ["demo"], env={"MOTCUA_DATABASE_URL": db_url})
    assert r.exit_code == 0, r.output
    return db_url


def _printers(db_url: str) -> dict[str, str | None]:
    db = Database(db_url)
    with db.read() as s:
        out = {f"device:{d.name}": d.printer_uri for d in s.scalars(select(Device))}
        out.update({f"counter:{c.site_id}:{c.number}": c.printer_uri
                    for c in s.scalars(select(Counter))})
    db.dispose()
    return out


@pytest.mark.parametrize("case", FILE_CASES)
def test_the_cli_sets_file_printers_only_inside_the_spool_folder(
    demo: str, tmp_path: Path, case: str
) -> None:
    before = _printers(demo)
    outside = _file_uri(case, tmp_path / "elsewhere" / "x.bin")
    for args in (
        ["printer", "set", "--site", "HACTHANH", "--device", "kiosk-1", "--uri", outside],
        ["printer", "set", "--site", "HACTHANH", "--counter", "3", "--uri", outside],
        ["device", "add", "--site", "HACTHANH", "--kind", "kiosk", "--name", "k9",
         "--printer", outside],
    ):
        r = _cli(demo, tmp_path, *args)
        assert r.exit_code != 0 and "printer_file_outside_spool" in r.output, (args, r.output)
    doc_path = tmp_path / "ht.json"
    assert _cli(demo, tmp_path, "config", "export", "--site", "HACTHANH",
                str(doc_path)).exit_code == 0
    import json

    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    # The file carries the devices too: a device's printer outside the spool is refused alike.
    devices = doc.pop("devices")
    kiosk = next(d for d in devices if d["name"] == "kiosk-1")
    doc["devices"] = [{**kiosk, "printer_uri": outside}]
    doc_path.write_text(json.dumps(doc), encoding="utf-8")
    r = _cli(demo, tmp_path, "config", "import", str(doc_path))
    assert r.exit_code != 0 and "printer_file_outside_spool" in r.output, r.output
    # Without devices the file leaves them as they are; a counter's printer outside: refused.
    del doc["devices"]
    doc["counters"][0]["printer_uri"] = outside
    doc_path.write_text(json.dumps(doc), encoding="utf-8")
    r = _cli(demo, tmp_path, "config", "import", str(doc_path))
    assert r.exit_code != 0 and "printer_file_outside_spool" in r.output, r.output
    assert _printers(demo) == before
    # Inside the spool folder the command line may.
    inside = _file_uri(case, tmp_path / "spool" / "kiosk-1.bin")
    r = _cli(demo, tmp_path, "printer", "set", "--site", "HACTHANH", "--device", "kiosk-1",
             "--uri", inside)
    assert r.exit_code == 0, r.output
    doc["counters"][0]["printer_uri"] = inside
    doc_path.write_text(json.dumps(doc), encoding="utf-8")
    r = _cli(demo, tmp_path, "config", "import", str(doc_path))
    assert r.exit_code == 0, r.output
    assert _printers(demo)["device:kiosk-1"] == inside


def test_the_cli_refuses_loopback_unless_listed(demo: str, tmp_path: Path) -> None:
    args = ["printer", "set", "--site", "HACTHANH", "--counter", "3", "--uri",
            "tcp://127.0.0.1:6379"]
    r = _cli(demo, tmp_path, *args)
    assert r.exit_code != 0 and "printer_address_not_allowed" in r.output
    r = CliRunner().invoke(main, args, env={"MOTCUA_DATABASE_URL": demo,
                                            "MOTCUA_PRINTER_NETWORKS": "127.0.0.0/8"})
    assert r.exit_code == 0, r.output


def test_the_demo_kiosks_print_inside_the_default_spool_folder(demo: str, tmp_path: Path
                                                               ) -> None:
    """``motcua demo`` points its kiosks at ./printed/, which is the default spool folder (the
    database's folder, where the server runs): the default policy allows them."""
    settings = Settings(database_url=demo)
    assert settings.spool_dir() == (tmp_path / "printed").resolve()
    policy = printing.printer_policy(settings, "cli")
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)  # the server runs in the demo's folder
    try:
        for name, uri in _printers(demo).items():
            if uri and uri.lower().startswith("file:"):
                printing.checked_uri(uri, policy)  # raises if refused
                assert name.startswith("device:kiosk-")
    finally:
        os.chdir(cwd)


# --- send time ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["File", "FILE"])
def test_a_stored_file_printer_is_refused_when_the_job_is_sent(
    app: Any, world: World, api: Api, tmp_path: Path, case: str
) -> None:
    """A URI written before this policy (or straight into the database) never reaches the
    file: the job fails with the rule's reason, like any other print failure."""
    target = tmp_path / "victim.sh"
    with world.db.write() as s:
        for kiosk in s.scalars(select(Device).where(Device.kind == "kiosk")):
            kiosk.printer_uri = _file_uri(case, target)
    ticket = api.issue()
    assert ticket["print"]["status"] == "queued"
    spool = app.extensions["motcua_printing"].spool
    spool.max_attempts = 1
    spool.run_once()
    assert not target.exists()
    with world.db.read() as s:
        job = s.scalars(select(PrintJob)).one()
        assert job.status == "failed"
        assert "printer_file_outside_spool" in job.last_error or "inside" in job.last_error
