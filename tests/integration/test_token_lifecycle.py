"""Staff API tokens: expiry, last use (at most once a minute), list and revoke through the API
and the CLI; a counter-bound clerk token's reach (tickets of its counter's services, the
applicant only of the ticket at its counter)."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner
from sqlalchemy import select

from server.cli import main
from server.features import seed
from server.models import ApiToken, Site
from tests.conftest import Api, Clock

APPLICANT = {"id_number": "038090001234", "name": "Nguyễn Văn Thử", "address": "12 Lê Lợi"}


def _new_token(api: Api, clock: Clock, days: int | None, name: str) -> str:
    with api.world.db.write() as s:
        site = s.scalar(select(Site).where(Site.code == "HT"))
        expires = clock() + dt.timedelta(days=days) if days else None
        return seed.create_token(s, "supervisor", site, clock(), name=name, expires_at=expires)


def _row(api: Api, name: str) -> ApiToken:
    with api.world.db.read() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.name == name))
        assert row is not None
        s.expunge(row)
        return row


def test_token_expires_and_records_its_last_use_once_a_minute(api: Api, clock: Clock) -> None:
    clock.set(dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC))
    tok = _new_token(api, clock, 1, "ops-laptop")
    t0 = clock()
    assert api.call("GET", "/api/v1/sites/HT/counters", token=tok).status_code == 200
    assert _row(api, "ops-laptop").last_used_at == t0
    clock.advance(seconds=30)
    assert api.call("GET", "/api/v1/sites/HT/counters", token=tok).status_code == 200
    assert _row(api, "ops-laptop").last_used_at == t0  # not one write per request
    clock.advance(days=1)
    r = api.call("GET", "/api/v1/sites/HT/counters", token=tok)
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"


def test_admin_lists_and_revokes_tokens(api: Api, clock: Clock) -> None:
    tok = _new_token(api, clock, 30, "wall-script")
    listed = api.call("GET", "/api/v1/admin/tokens?site=HT", "admin")
    assert listed.status_code == 200
    mine = next(t for t in listed.get_json() if t["name"] == "wall-script")
    assert mine["owner"] is None and mine["expires_at"] and mine["revoked_at"] is None
    assert "token_hash" not in mine and tok not in listed.get_data(as_text=True)
    assert api.call("GET", "/api/v1/admin/tokens", "supervisor").status_code == 403
    url = f"/api/v1/admin/tokens/{mine['id']}/revoke"
    assert api.call("POST", url, "supervisor").status_code == 403
    r = api.call("POST", url, "admin")
    assert r.status_code == 200 and r.get_json()["revoked_at"]
    assert api.call("GET", "/api/v1/sites/HT/counters", token=tok).status_code == 401
    assert api.call("POST", "/api/v1/admin/tokens/999999/revoke", "admin").status_code == 404


def test_cli_token_create_with_expiry_list_and_revoke(api: Api) -> None:
    env = {"MOTCUA_DATABASE_URL": api.world.db.url}
    cli = CliRunner()
    out = cli.invoke(main, ["token", "create", "--role", "clerk", "--site", "HT", "--name",
                            "printer-bot", "--expires-days", "7"], env=env,
                     catch_exceptions=False).output
    assert "valid until" in out
    tok = out.strip().splitlines()[-1]
    assert api.call("GET", "/api/v1/sites/HT/counters", token=tok).status_code == 200
    listing = cli.invoke(main, ["token", "list", "--site", "HT"], env=env,
                         catch_exceptions=False).output
    line = next(x for x in listing.splitlines() if "printer-bot" in x)
    assert "(cli)" in line and "active" in line
    token_id = int(line.split()[0])
    r = cli.invoke(main, ["token", "revoke", str(token_id)], env=env, catch_exceptions=False)
    assert r.exit_code == 0 and "revoked" in r.output
    assert api.call("GET", "/api/v1/sites/HT/counters", token=tok).status_code == 401
    listing = cli.invoke(main, ["token", "list"], env=env, catch_exceptions=False).output
    assert "revoked" in next(x for x in listing.splitlines() if "printer-bot" in x)
    assert cli.invoke(main, ["token", "revoke", "987654"], env=env).exit_code != 0


def test_counter_bound_clerk_reaches_its_counter_only(api: Api) -> None:
    # clerk_c1 is bound to counter 1, which calls from "land" only.
    civil = api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
                     json={"service": "civil", "applicant": APPLICANT}).get_json()
    land = api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
                    json={"service": "land", "applicant": APPLICANT}).get_json()
    # Another service's ticket: no applicant to read, no cancelling it.
    r = api.call("GET", f"/api/v1/tickets/{civil['id']}", "clerk_c1")
    assert r.status_code == 200 and r.get_json().get("applicant") is None
    assert api.act(civil["id"], "cancel", "clerk_c1").status_code == 403
    # A waiting ticket of its own service: it may act, but sees no applicant until called.
    r = api.call("GET", f"/api/v1/tickets/{land['id']}", "clerk_c1")
    assert r.get_json().get("applicant") is None
    called = api.call_next(1, "clerk_c1")
    assert called is not None and called["id"] == land["id"]
    assert called["applicant"]["name"] == APPLICANT["name"]
    r = api.call("GET", f"/api/v1/tickets/{land['id']}", "clerk_c1")
    assert r.get_json()["applicant"]["id_number"] == APPLICANT["id_number"]
    # A clerk token not bound to a counter (and supervisors) keep their site-wide reach.
    r = api.call("GET", f"/api/v1/tickets/{civil['id']}", "clerk")
    assert r.get_json()["applicant"]["name"] == APPLICANT["name"]
    assert api.act(civil["id"], "cancel", "clerk").status_code == 200
