"""``motcua site|service|counter add``: a province built from the command line works."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner
from sqlalchemy import select

from server.cli import main
from server.core import migrate
from server.core.auth import Principal
from server.core.db import Database
from server.features import counters, tickets
from server.models import Counter, Site

SYSTEM = Principal("system", None, "system", None)


def run(url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args), env={"MOTCUA_DATABASE_URL": url})
    assert result.exit_code == code, result.output
    return result.output


def test_build_a_province_from_the_cli(db_url: str) -> None:
    migrate.upgrade(db_url)
    run(db_url, "site", "add", "TINH", "--name-vi", "Tỉnh", "--name-en", "Province",
        "--kind", "province")
    run(db_url, "site", "add", "XA01", "--name-vi", "Xã Một", "--name-en", "Commune One",
        "--parent", "TINH")
    run(db_url, "service", "add", "--site", "XA01", "land", "--prefix", "a",
        "--name-vi", "Đất đai", "--name-en", "Land", "--sla", "25")
    run(db_url, "service", "add", "--site", "XA01", "civil", "--prefix", "B",
        "--name-vi", "Hộ tịch", "--name-en", "Civil status")
    out = run(db_url, "counter", "add", "--site", "XA01", "1", "--service", "land",
              "--service", "civil:0.5")
    assert "token create --role clerk --site XA01 --counter" in out
    # Running a command again updates instead of duplicating.
    run(db_url, "site", "add", "XA01", "--name-vi", "Xã 1", "--name-en", "Commune 1",
        "--parent", "TINH")
    # Clear errors, nothing half-written.
    assert "unknown time zone" in run(db_url, "site", "add", "X", "--name-vi", "x", "--name-en",
                                      "x", "--timezone", "Mars/Base", code=1)
    assert "no service 'nope' at XA01" in run(db_url, "counter", "add", "--site", "XA01", "2",
                                              "--service", "nope", code=1)
    assert "no site with code 'NOPE'" in run(db_url, "site", "add", "Y", "--name-vi", "y",
                                             "--name-en", "y", "--parent", "NOPE", code=1)
    db = Database(db_url)
    try:
        with db.write() as s:
            sites = {x.code: x for x in s.scalars(select(Site))}
            assert set(sites) == {"TINH", "XA01"}
            assert sites["XA01"].parent_id == sites["TINH"].id
            assert sites["XA01"].name_vi == "Xã 1"
            counter = s.scalar(select(Counter).where(Counter.site_id == sites["XA01"].id))
            assert counter is not None and counter.status == "closed"
            assert {(line.service.code, line.weight) for line in counter.profile} == {
                ("land", 1.0), ("civil", 0.5)}
            counter_id = counter.id
        now = dt.datetime.now(dt.UTC)
        with db.write() as s:
            t = tickets.issue_ticket(s, SYSTEM, "XA01", "land", None, "vi", None, now, "")[0]
            assert t["number"] == "A001"
            counters.set_counter_status(s, SYSTEM, counter_id, "open", now)
        with db.write() as s:
            called = tickets.call_next(s, SYSTEM, counter_id, now, "")
            assert called is not None and called["number"] == "A001"
    finally:
        db.dispose()
