"""Dossier codes under concurrent intake at several counters, with real threads, on SQLite
and PostgreSQL: unique, gap-free per (agency, day), even with refused intakes (bad ID numbers)
and idempotent double clicks mixed in."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter as Tally
from typing import Any

from sqlalchemy import select

from server.core import lookups
from server.core.auth import Principal
from server.core.db import Database, retrying
from server.core.errors import AppError
from server.features import dossiers, procedures, tickets
from server.models import Dossier, DossierDay, Site
from tests.conftest import build_world

COUNTERS = {n: [("civil", 1.0)] for n in range(1, 7)}
PER_COUNTER = 12
BASE = "http://motcua.test"
NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # Monday 09:00 local


def test_codes_are_unique_and_gap_free_under_concurrent_intake(db: Database) -> None:
    world = build_world(db, NOW, counters=COUNTERS)
    with db.write() as s:
        province = s.scalar(select(Site).where(Site.code == "PROV"))
        procedures.seed_catalog(s, province)
        site_id = lookups.get_site(s, "HT").id
    kiosk = Principal("device", 1, "kiosk", site_id)
    ticket_of: dict[int, int] = {}
    for number, cid in sorted(world.counters.items()):
        if number < 1:
            continue
        clerk = Principal("token", 100 + number, "clerk", site_id, counter_id=cid)
        with db.write() as s:
            tickets.issue_ticket(s, kiosk, "HT", "civil", None, "vi", None, NOW, BASE)
        with db.write() as s:
            t = tickets.call_next(s, clerk, cid, NOW, BASE)
            assert t is not None
            ticket_of[number] = t["id"]

    start = threading.Barrier(len(ticket_of))
    made: list[str] = []
    refused: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def counter_thread(number: int) -> None:
        cid = world.counters[number]
        clerk = Principal("token", 100 + number, "clerk", site_id, counter_id=cid)
        try:
            start.wait()
            for i in range(PER_COUNTER):
                bad = i % 5 == 4  # every fifth: a mistyped ID number, refused
                key = f"c{number}-{i}" if i % 3 == 0 else None
                data = {
                    "procedure": "HT-KH" if i % 2 else "CT-BS",
                    "applicant": {"name": f"Công dân {number}-{i}",
                                  "id_number": "12345" if bad else f"0340{number:02d}{i:06d}"},
                }

                def unit(data: dict[str, Any] = data, key: str | None = key
                         ) -> tuple[dict[str, Any], bool]:
                    with db.write() as s:
                        return dossiers.intake(s, clerk, ticket_of[number], data, key, NOW, BASE)

                try:
                    view, created = retrying(unit)
                    if key is not None:  # a double click: the same dossier again
                        again, created_again = retrying(unit)
                        assert again["code"] == view["code"] and not created_again
                except AppError as exc:
                    assert exc.code == "bad_id_number"
                    with lock:
                        refused.append(number)
                    continue
                if created:
                    with lock:
                        made.append(view["code"])
        except BaseException as exc:  # surfaced below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=counter_thread, args=(n,)) for n in ticket_of]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    assert all(not th.is_alive() for th in threads)

    with db.read() as s:
        stored = [c for c in s.scalars(select(Dossier.code))]
        last = s.scalar(select(DossierDay.last_number))
    assert len(refused) == len(ticket_of) * 2
    assert sorted(stored) == sorted(made), "every created dossier was reported once"
    assert Tally(stored).most_common(1)[0][1] == 1, "codes are unique"
    numbers = sorted(int(c.rsplit("-", 1)[1]) for c in stored)
    assert numbers == list(range(1, len(stored) + 1)), "gap-free: refused intakes took no number"
    assert last == len(stored)
    assert all(c.startswith("H56.27-261123-") for c in stored)
    # Each idempotency key made exactly one dossier.
    with db.read() as s:
        keys = [k for k in s.scalars(select(Dossier.idempotency_key)) if k is not None]
    assert len(keys) == len(set(keys))


def test_a_double_click_racing_itself_makes_one_dossier(db: Database) -> None:
    world = build_world(db, NOW, counters={2: [("civil", 1.0)]})
    with db.write() as s:
        province = s.scalar(select(Site).where(Site.code == "PROV"))
        procedures.seed_catalog(s, province)
        site_id = lookups.get_site(s, "HT").id
    cid = world.counters[2]
    clerk = Principal("token", 7, "clerk", site_id, counter_id=cid)
    with db.write() as s:
        tickets.issue_ticket(s, Principal("device", 1, "kiosk", site_id), "HT", "civil", None,
                             "vi", None, NOW, BASE)
    with db.write() as s:
        ticket_id = tickets.call_next(s, clerk, cid, NOW, BASE)["id"]
    data = {"procedure": "HT-KH", "applicant": {"name": "Phạm Thị Dung",
                                                "id_number": "034090001234"}}
    rounds, clicks = 8, 3
    results: list[tuple[str, str, bool]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    for r in range(rounds):
        start = threading.Barrier(clicks)

        def click(key: str = f"double-{r}", start: threading.Barrier = start) -> None:
            def unit() -> tuple[dict[str, Any], bool]:
                with db.write() as s:
                    return dossiers.intake(s, clerk, ticket_id, data, key, NOW, BASE)

            try:
                start.wait()
                view, created = retrying(unit)
                with lock:
                    results.append((key, view["code"], created))
            except BaseException as exc:
                with lock:
                    errors.append(exc)

        threads = [threading.Thread(target=click) for _ in range(clicks)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
    assert not errors, errors
    assert len(results) == rounds * clicks
    by_key: dict[str, set[str]] = {}
    for key, code, _ in results:
        by_key.setdefault(key, set()).add(code)
    assert all(len(codes) == 1 for codes in by_key.values()), by_key
    assert sum(created for *_, created in results) == rounds
    with db.read() as s:
        stored = sorted(s.scalars(select(Dossier.code)))
    assert [int(c[-4:]) for c in stored] == list(range(1, rounds + 1))
