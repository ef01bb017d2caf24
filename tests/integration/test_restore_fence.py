"""A backup restored after further work hands out nothing twice (SQLite and PostgreSQL).

Tickets and dossiers are issued through the API, the database is backed up, more work follows
(every slip number, ticket id and dossier code handed out is recorded: the citizens hold
them), the backup is restored with ``motcua backup restore`` (which fences), and more work
follows: no number, id or code of the lost hours comes back. The supervisor sees from when the
data came back and where numbers continue; the tracking link of a lost ticket says plainly
that the system does not know it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select, text

from server.cli import main
from server.core import migrate
from server.core.db import Database
from server.features import procedures
from server.models import Dossier, RestoreFence, Service, ServiceDay, Site, TicketApplicant
from server.rules.calendar import business_day
from tests.conftest import Api, World

SERVICES = ("land", "civil", "business")


@dataclass
class Handed:
    """What was handed out to citizens and staff in one stretch of work."""

    labels: list[tuple[str, str, str]] = field(default_factory=list)  # (service, day, label)
    ticket_ids: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    dossier_codes: list[str] = field(default_factory=list)
    dossier_ids: list[int] = field(default_factory=list)
    dossier_tokens: list[str] = field(default_factory=list)

    def keys(self) -> dict[str, set[Any]]:
        return {
            "numbers": set(self.labels),
            "ticket ids": set(self.ticket_ids),
            "dossier codes": set(self.dossier_codes),
            "dossier ids": set(self.dossier_ids),
        }


def work(db: Database, api: Api, tickets: int, dossiers: int, tag: str) -> Handed:
    out = Handed()
    today = business_day(dt.datetime.now(dt.UTC), "Asia/Ho_Chi_Minh").isoformat()

    def issue(service: str) -> dict[str, Any]:
        t = api.issue(service)
        out.labels.append((service, today, t["number"]))
        out.ticket_ids.append(t["id"])
        out.tokens.append(t["token"])
        return t

    for i in range(tickets):
        issue(SERVICES[i % 3])
    for j in range(dossiers):
        issue("civil")
        called = api.call_next(2)
        assert called is not None
        r = api.call("POST", f"/api/v1/tickets/{called['id']}/dossiers", "clerk", json={
            "procedure": "HT-KH",
            "applicant": {"name": f"Công dân {tag}{j}",
                          "id_number": f"0340{j:02d}00{len(tag):04d}"},
        })
        assert r.status_code == 201, r.get_json()
        code = r.get_json()["code"]
        out.dossier_codes.append(code)
        out.dossier_tokens.append(r.get_json()["token"])
        with db.read() as s:  # the row's id: the API names a dossier by its code
            out.dossier_ids.append(s.scalar(select(Dossier.id).where(Dossier.code == code)))
        assert api.act(called["id"], "start").status_code == 200
        assert api.act(called["id"], "finish").status_code == 200
    return out


def cli(url: str, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"MOTCUA_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    return result.output


def test_nothing_is_handed_out_twice_after_a_restore(
    db: Database, world: World, api: Api, tmp_path: Path
) -> None:
    with db.write() as s:
        procedures.seed_catalog(s, s.scalar(select(Site).where(Site.code == "PROV")))
        # A capped service keeps issuing after the jump: the cap counts tickets, not numbers.
        s.get(Service, world.services["civil"]).daily_cap = 60

    before = work(db, api, 6, 2, "a")
    cli(db.url, "backup", "create", str(tmp_path / "motcua.backup"))
    lost = work(db, api, 21, 5, "b")  # handed out, then lost with the restore
    db.engine.dispose()  # the nodes are stopped for a restore
    out = cli(db.url, "backup", "restore", "--yes", str(tmp_path / "motcua.backup"))
    assert "Restore fence" in out and "tickets continue from" in out
    after = work(db, api, 21, 5, "c")

    earlier = {k: v | lost.keys()[k] for k, v in before.keys().items()}
    reused = {k: sorted(v & earlier[k]) for k, v in after.keys().items()}
    counts = {k: len(v) for k, v in reused.items()}
    print(f"\nhanded out after the backup: {len(lost.labels)} numbers, {len(lost.ticket_ids)} "
          f"ticket ids, {len(lost.dossier_codes)} dossier codes; after the restore "
          f"{len(after.labels)} numbers, ...; handed out twice: {counts}")
    assert counts == {"numbers": 0, "ticket ids": 0, "dossier codes": 0, "dossier ids": 0}, (
        reused)
    # Without the fence, these collided: the first ticket after the restore took the number
    # the first lost ticket had printed.
    assert lost.labels[0] != after.labels[0]
    land = [label for svc, _day, label in after.labels if svc == "land"]
    assert land[0] == "A201", land  # 2 land tickets in the backup: 2 + 100 -> 200

    with db.read() as s:
        fence = s.scalar(select(RestoreFence))
        assert fence is not None and fence.kind == "backup" and fence.number_margin == 100
        civil_day = s.scalar(select(ServiceDay).where(
            ServiceDay.service_id == world.services["civil"]))
        assert civil_day is not None and civil_day.skipped > 0
        if db.url.startswith("sqlite"):
            seq = dict(s.execute(text("SELECT name, seq FROM sqlite_sequence")).all())
            assert seq["tickets"] >= 1_000_000

    # The supervisor sees from when the data came back and where the numbers continue.
    board = api.call("GET", "/api/v1/sites/HT/dashboard", "supervisor").get_json()
    notice = board["restore"]
    assert notice is not None
    assert notice["text"]["vi"].startswith("Khôi phục từ bản sao lưu lúc ")
    assert "số thứ tự tiếp tục từ A201" in notice["text"]["vi"]
    assert notice["text"]["en"].startswith("Restored from ")
    assert board["alerts"][0]["kind"] == "restored"

    # A lost ticket's tracking link: not known, said plainly in both languages; not a 500.
    page = api.client.get(f"/t/{lost.tokens[-1]}")  # type: ignore[attr-defined]
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "Hệ thống không có số thứ tự này" in html and "Quý khách" in html
    assert "This number is not known to the system" in html
    assert "bạn" not in html.lower()
    # A lost dossier receipt's link: the same, for dossiers.
    with db.read() as s:
        assert s.scalar(select(Dossier).where(Dossier.code == lost.dossier_codes[0])) is None
    page = api.client.get(f"/d/{lost.dossier_tokens[0]}")  # type: ignore[attr-defined]
    html = page.get_data(as_text=True)
    assert page.status_code == 404 and "Hệ thống không có hồ sơ này" in html
    assert "This dossier is not known to the system" in html and "Quý khách" in html
    assert api.client.get(  # type: ignore[attr-defined]
        f"/d/{after.dossier_tokens[0]}").status_code == 200
    # A ticket issued after the restore is tracked as usual.
    assert api.client.get(f"/t/{after.tokens[0]}").status_code == 200  # type: ignore[attr-defined]


def test_fence_by_hand_after_a_pitr_uses_the_smaller_margins(db: Database, world: World,
                                                             api: Api) -> None:
    for _ in range(3):
        api.issue("land")
    out = cli(db.url, "backup", "fence", "--pitr")
    assert "(pitr)" in out and "HT/land A021" in out  # 3 + 10 -> 20: the next is A021
    assert api.issue("land")["number"] == "A021"
    with db.read() as s:
        fence = s.scalar(select(RestoreFence))
        assert fence is not None and fence.kind == "pitr" and fence.id_margin == 10_000
    # Any unknown link explains the recent restore, politely.
    page = api.client.get("/t/" + "x" * 40)  # type: ignore[attr-defined]
    assert page.status_code == 404 and "Quý khách" in page.get_data(as_text=True)


def test_verify_restores_a_file_into_a_scratch_copy_and_prints_both_counts(
    db: Database, world: World, api: Api, tmp_path: Path
) -> None:
    for _ in range(4):
        api.issue("land")
    cli(db.url, "backup", "create", str(tmp_path / "b"))
    api.issue("civil")  # the live database moves on after the backup
    out = cli(db.url, "backup", "verify", str(tmp_path / "b"))
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:-1]}
    assert rows["tickets"] == ["5", "4", "1"]  # live, restored, missing
    assert rows["alembic_version"] == ["1", "1", "0"]
    assert out.strip().endswith("(rows the live database gained since the backup show as missing)")
    with db.read() as s:  # the live database is untouched, and no scratch database is left
        assert len(s.execute(text("SELECT id FROM tickets")).all()) == 5
        if db.url.startswith("postgresql"):
            left = s.execute(text(
                "SELECT datname FROM pg_database WHERE datname LIKE 'motcua_verify_%'")).all()
            assert left == []
    broken = tmp_path / "broken"
    broken.write_bytes((tmp_path / "b").read_bytes()[:4096])
    result = CliRunner().invoke(main, ["backup", "verify", str(broken)],
                                env={"MOTCUA_DATABASE_URL": db.url})
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "Error: " in result.output and "Traceback" not in result.output


def test_a_backup_from_before_fences_says_what_to_run(tmp_path: Path) -> None:
    """An older backup (schema 0009) restores, then the command stops and says how to fence:
    upgrade the schema, then ``motcua backup fence``, before the nodes start."""
    old = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    migrate.upgrade(old, "0009")
    cli(old, "backup", "create", str(tmp_path / "old.backup"))
    live = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    migrate.upgrade(live)
    result = CliRunner().invoke(main, ["backup", "restore", "--yes", str(tmp_path / "old.backup")],
                                env={"MOTCUA_DATABASE_URL": live})
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Schema revision of the restored data: 0009" in result.output
    assert "run `motcua init-db`, then `motcua backup fence`" in result.output
    migrate.upgrade(live)
    assert "Restore fence 1 (backup)" in cli(live, "backup", "fence")


def test_the_fence_purges_earlier_days_id_card_scans(db: Database, world: World, api: Api,
                                                     clock: Any) -> None:
    """Scans are purged at a service's first number of the day; a fenced day starts at 101,
    so the fence purges them itself."""
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    clock.set(yesterday)
    t = api.issue("land")
    with db.write() as s:
        s.add(TicketApplicant(ticket_id=t["id"], id_number="034012345678", name="Công dân"))
    clock.fixed = None
    out = cli(db.url, "backup", "fence", "--json")
    assert '"purged_applicants": 1' in out
    with db.read() as s:
        assert s.scalar(select(TicketApplicant)) is None
