"""What a request may carry, through the real app on SQLite and PostgreSQL: NUL characters,
deep nesting, 64-bit overflows and oversized bodies get a 4xx in the documented error shape
(never a 500), YAML aliases are refused, exports cannot carry spreadsheet formulas, every
response carries the security headers, /metrics keeps its method label bounded, tracking
tokens stay out of the logs, and the placeholder secret key cannot run in production."""

from __future__ import annotations

import csv
import io
import json
import logging
from typing import Any

import pytest

from server.core.lookups import MAX_ID
from tests.conftest import Api, World


def _error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:300])
    body = r.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert body["error"]["message"] and "Traceback" not in r.get_data(as_text=True)
    return body["error"]


# --- NUL, nesting, huge numbers, size --------------------------------------------------------


def test_a_nul_anywhere_is_a_400_not_a_database_error(api: Api, world: World) -> None:
    uid_path = "/api/v1/admin/users"
    _error(api.call("POST", uid_path, "admin",
                    json={"username": "x\u0000y", "role": "clerk", "password": "pw-12345678",
                          "sites": ["HT"]}), 400, "nul_character")
    _error(api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
                    json={"service": "la\u0000nd"}), 400, "nul_character")
    _error(api.call("GET", "/api/v1/sites/HT/services?lang=%00", "kiosk"), 400,
           "nul_character")
    _error(api.call("GET", "/api/v1/sites/H%00T/services", "kiosk"), 400, "nul_character")
    _error(api.call("GET", "/api/v1/track/ab%00cd"), 400, "nul_character")
    _error(api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
                    json={"service": "land", "x\u0000": 1}), 400, "nul_character")
    # The sign-in form too (a page: plain text, still a 400).
    r = api.client.post("/login", data={"username": "a\x00b", "password": "x"})
    assert r.status_code == 400 and "NUL" in r.get_data(as_text=True)


def test_deep_json_is_refused_before_it_reaches_a_view(api: Api) -> None:
    for depth in (40, 100_000):
        text = "[" * depth + "]" * depth
        _error(api.call("POST", "/api/v1/sites/HT/tickets", "kiosk", data=text), 400,
               "json_too_deep")
    nested: Any = "land"
    for _ in range(40):
        nested = {"a": nested}
    _error(api.call("POST", "/api/v1/admin/sites/HT/counters", "admin",
                    json={"number": 5, "name": nested}), 400, "json_too_deep")


def test_ids_beyond_64_bits_are_a_4xx(api: Api) -> None:
    huge = 2**63
    _error(api.call("PUT", f"/api/v1/admin/users/{huge}", "admin",
                    json={"role": "clerk"}), 404, "route_not_found")
    _error(api.call("POST", f"/api/v1/tickets/{10**30}/start", "clerk"), 404,
           "route_not_found")
    _error(api.call("POST", "/api/v1/admin/sites/HT/counters", "admin",
                    json={"number": huge, "services": []}), 422, "number_out_of_range")
    _error(api.call("POST", "/api/v1/admin/sites/HT/counters", "admin",
                    json={"number": -(2**64), "services": []}), 422, "number_out_of_range")
    # Path ids stop at the keys' range (the database's integer, core.lookups.MAX_ID): the
    # largest is still a number the routes take (and simply not found), one more is no route.
    r = api.call("POST", f"/api/v1/tickets/{MAX_ID}/start", "clerk")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    _error(api.call("POST", f"/api/v1/tickets/{MAX_ID + 1}/start", "clerk"), 404,
           "route_not_found")


def test_a_10_mb_body_is_413_before_it_is_read(api: Api, monkeypatch: Any) -> None:
    from server.api import http

    parsed: list[int] = []
    real = http.json.loads

    def counting(raw: Any, *a: Any, **k: Any) -> Any:
        if len(raw) > 1_000_000:
            parsed.append(len(raw))
        return real(raw, *a, **k)

    monkeypatch.setattr(http.json, "loads", counting)
    big = b'{"service": "land", "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    err = _error(api.call("POST", "/api/v1/sites/HT/tickets?lang=en", "kiosk", data=big), 413,
                 "body_too_large")
    assert "1000000" in err["message"]
    assert parsed == []  # refused on its Content-Length, never parsed
    # The configuration import takes a whole site's file: it has its own, larger limit.
    r = api.call("POST", "/api/v1/config/import", "admin",
                 data=b'{"format": "x", "pad": "' + b"y" * 2_000_000 + b'"}')
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "config_invalid"


def test_a_yaml_alias_bomb_is_refused(api: Api) -> None:
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for n in range(ord("b"), ord("j")):
        prev = chr(n - 1)
        bomb += f"{chr(n)}: &{chr(n)} [{', '.join(['*' + prev] * 9)}]\n"
    assert len(bomb.encode()) < 800
    r = api.call("POST", "/api/v1/config/import?lang=en", "admin", data=bomb,
                 headers={"Content-Type": "application/yaml"})
    err = _error(r, 422, "config_invalid")
    assert "anchors and aliases" in err["message"]


# --- exports --------------------------------------------------------------------------------

CATALOG = (
    "code,name_vi,name_en,service,processing_days,documents_vi,documents_en,fee_note_vi,"
    "fee_note_en,active\n"
    'KH-01,"=HYPERLINK(""http://evil.example"",""Xem"")",+Marriage,civil,3,@SUM(A1),'
    "-1+2,\"=1+1\",,yes\n"
)


def test_procedure_exports_cannot_carry_formulas_and_still_round_trip(
    api: Api, world: World
) -> None:
    base = "/api/v1/admin/sites/HT/procedures"
    r = api.call("POST", f"{base}/import", "admin", json={"csv": CATALOG})
    assert r.status_code == 200, r.get_json()
    text = api.call("GET", f"{base}.csv", "admin").get_data(as_text=True).lstrip("\ufeff")
    [row] = list(csv.DictReader(io.StringIO(text)))
    for key in ("name_vi", "name_en", "documents_vi", "documents_en", "fee_note_vi"):
        assert row[key].startswith("'"), (key, row[key])
    assert row["code"] == "KH-01" and row["processing_days"] == "3"
    before = api.call("GET", base, "admin").get_json()
    r = api.call("POST", f"{base}/import", "admin", json={"csv": text})
    assert r.status_code == 200, r.get_json()
    assert api.call("GET", base, "admin").get_json() == before  # the quote is not kept


def test_kpi_exports_cannot_carry_formulas() -> None:
    from openpyxl import load_workbook

    from server.features import reports

    empty = {m: 0 for m in reports.METRICS}
    report = {"site": "=cmd|' /C calc'!A0", "from": "2026-11-23", "to": "2026-11-23",
              "timezone": "Asia/Ho_Chi_Minh", "totals": dict(empty),
              "by_service": [{**empty, "service": "+land"}], "by_counter": [],
              "by_clerk": [{**empty, "username": "@clerk", "clerk_id": 1}], "by_hour": [],
              "by_day": [], "by_slot": [{**empty, "service": "-land", "slot": "09:00"}]}
    rows = list(csv.reader(io.StringIO(reports.to_csv(report))))
    keys = [r[1] for r in rows[1:]]
    assert keys == ["'=cmd|' /C calc'!A0", "'+land", "'@clerk", "'-land 09:00"]
    wb = load_workbook(io.BytesIO(reports.to_xlsx(report)))
    cells = [c for ws in wb for row in ws.iter_rows() for c in row]
    assert not [c.value for c in cells if c.data_type == "f"]
    assert wb["about"]["B1"].value == "'=cmd|' /C calc'!A0"


# --- headers, metrics, logs -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/admin/", "/api/v1/sites/HT/services", "/nope",
                                  "/api/v1/openapi.json"])
def test_every_response_carries_the_security_headers(api: Api, path: str) -> None:
    r = api.call("GET", path, "admin")
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "object-src 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "same-origin"


def test_pages_with_a_secret_in_their_address_keep_no_referrer(api: Api) -> None:
    t = api.issue()
    r = api.client.get(t["track_url"].replace("http://motcua.test", ""))
    assert r.status_code == 200
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_metrics_do_not_take_any_method_as_a_label(api: Api) -> None:
    for method in ("BREW", "PROPFIND", "X" * 40):
        api.client.open("/api/v1/sites", method=method)
    api.client.get("/api/v1/sites")
    text = api.client.get("/metrics").get_data(as_text=True)
    assert 'method="other"' in text and 'method="GET"' in text
    assert "BREW" not in text and "PROPFIND" not in text and "X" * 40 not in text


def test_tracking_tokens_stay_out_of_the_access_log(api: Api, caplog: Any) -> None:
    t = api.issue()
    token = t["track_url"].rsplit("/", 1)[-1]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="motcua.access"):
        for path in (f"/t/{token}", f"/api/v1/track/{token}", f"/d/{token}",
                     f"/api/v1/dossier-track/{token}", f"/kiosk?token={token}&lang=vi"):
            api.client.get(path)
    lines = [json.dumps(vars(r), default=str) for r in caplog.records
             if r.name == "motcua.access"]
    assert len(lines) == 5
    assert not [line for line in lines if token in line]
    paths = [r.path for r in caplog.records if r.name == "motcua.access"]
    assert paths[:4] == ["/t/***", "/api/v1/track/***", "/d/***", "/api/v1/dossier-track/***"]
    assert caplog.records[-1].query == "token=***&lang=vi"


# --- the secret key -------------------------------------------------------------------------


def test_the_placeholder_secret_key_cannot_run_in_production(db: Any, caplog: Any) -> None:
    from server.app import create_app
    from server.config import Settings

    placeholder = "CHANGE-ME-64-hex-characters"
    with pytest.raises(RuntimeError, match="placeholder"):
        create_app(Settings(database_url=db.url, secret_key=placeholder, env="production",
                            print_worker=False, outbox_worker=False), db=db)
    with caplog.at_level(logging.WARNING, logger="motcua"):
        app = create_app(Settings(database_url=db.url, secret_key=placeholder,
                                  print_worker=False, outbox_worker=False), db=db)
    app.extensions["motcua_printing"].stop()
    assert any("placeholder" in r.getMessage() for r in caplog.records)
    app = create_app(Settings(database_url=db.url, secret_key="a" * 64, env="production",
                              print_worker=False, outbox_worker=False), db=db)
    app.extensions["motcua_printing"].stop()
