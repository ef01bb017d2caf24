"""Shared fixtures: real databases (SQLite file, PostgreSQL), a controllable clock, a small
site built through the same seed helpers the demo uses.

PostgreSQL: ``MOTCUA_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``
as the maintenance database). A fresh database is created for the run and dropped after.
Without a server the PostgreSQL tests skip with a message, except under ``CI=true`` where they
fail: CI must never pass by skipping them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from server.core import migrate
from server.core.db import Database
from server.features import seed
from server.models import Base
from tests.support import scratch_database

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_URL = os.environ.get(
    "MOTCUA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("MOTCUA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Request-rate limits are off in tests (they issue tickets far faster than a kiosk), for the
# app fixture and for the servers the tests start (they inherit this environment); the tests
# of the limits turn them on (tests/integration/test_rate_limits.py).
os.environ.setdefault("MOTCUA_RATE_LIMITS", "0")
# Backup commands write the backup-age marker into the backup folder (default ./backups): the
# tests' backups go to a folder of the run, never into the checkout.
os.environ.setdefault("MOTCUA_BACKUP_DIR", tempfile.mkdtemp(prefix="motcua-test-backups-"))
# ``motcua demo`` without its day of history: the tests that load the demo start from an empty
# day (tests/integration/test_demo_history.py turns it on).
os.environ.setdefault("MOTCUA_DEMO_HISTORY", "0")


def needs(what: str, why: str, how: str = "") -> None:
    """A test cannot run here because ``what`` is missing. On a laptop it skips with the
    reason and the fix; under ``CI=true`` (where ``.ci/run`` installs and starts everything) it
    fails, so CI never passes by skipping."""
    msg = f"{what} not available ({why}){'; ' + how if how else ''}"
    if CI:
        pytest.fail(f"{msg}: under CI=true this test must run, not skip", pytrace=False)
    pytest.skip(msg)


@pytest.fixture
def vietnamese_font() -> None:
    from printers.vietnamese import find_font

    if find_font() is None:
        needs("a TrueType font with Vietnamese glyphs", "no DejaVu Sans or Noto found",
              "apt-get install fonts-dejavu-core")


# --- clock --------------------------------------------------------------------------------


class Clock:
    """A settable clock; ``None`` means real time."""

    def __init__(self) -> None:
        self.fixed: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        return self.fixed or dt.datetime.now(dt.UTC)

    def set(self, when: dt.datetime) -> None:
        self.fixed = when

    def advance(self, **delta: float) -> dt.datetime:
        self.fixed = self() + dt.timedelta(**delta)
        return self.fixed


@pytest.fixture
def clock() -> Clock:
    return Clock()


# --- databases ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The run's PostgreSQL database, built at head (tests truncate it between them)."""
    with scratch_pg("motcua_test") as url:
        migrate.upgrade(url)
        yield url


@contextlib.contextmanager
def scratch_pg(prefix: str = "motcua_empty") -> Iterator[str]:
    """A PostgreSQL database of its own, without a schema, dropped on leaving."""
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
        admin.dispose()
    except Exception as exc:
        needs(
            "PostgreSQL", f"{make_url(PG_ADMIN_URL).render_as_string()}: {type(exc).__name__}"
        )
    with scratch_database(PG_ADMIN_URL, prefix) as url:
        yield url


@pytest.fixture
def empty_pg() -> Iterator[str]:
    """A PostgreSQL database of its own, without a schema (dropped after the test)."""
    with scratch_pg() as url:
        yield url


@pytest.fixture
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of the dialect the test is parametrized with (indirect: "sqlite" or
    "postgres")."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'past.sqlite3'}"
    return str(request.getfixturevalue("empty_pg"))


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except Exception as exc:
        needs("Redis", f"{REDIS_URL}: {type(exc).__name__}")
    return REDIS_URL


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "motcua.sqlite3"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


# --- a small site -------------------------------------------------------------------------


@dataclass
class World:
    db: Database
    site: str = "HT"
    tokens: dict[str, str] = field(default_factory=dict)
    counters: dict[int, int] = field(default_factory=dict)  # number -> id
    services: dict[str, int] = field(default_factory=dict)  # code -> id


def build_world(
    database: Database,
    now: dt.datetime,
    counters: dict[int, list[tuple[str, float]]] | None = None,
    interleave: tuple[int, int] = (1, 2),
) -> World:
    """Site HT (Asia/Ho_Chi_Minh) with services land/A, civil/B, business/C, counters, an
    other site OTHER, and a token for every role."""
    counters = counters or {
        1: [("land", 1.0)],
        2: [("civil", 1.0)],
        3: [("business", 1.0), ("land", 0.5)],
    }
    w = World(database)
    with database.write() as s:
        seed.ensure_priorities(s)
        province = seed.upsert_site(s, "PROV", name_vi="Tỉnh", name_en="Province", kind="province")
        site = seed.upsert_site(
            s,
            "HT",
            name_vi="Phường Hạc Thành",
            name_en="Hac Thanh Ward",
            kind="centre",
            parent_id=province.id,
            timezone="Asia/Ho_Chi_Minh",
            agency_code="H56.27",
            interleave_priority=interleave[0],
            interleave_normal=interleave[1],
        )
        point = seed.upsert_site(
            s,
            "HT-P1",
            name_vi="Điểm bổ sung",
            name_en="Extra point",
            kind="point",
            parent_id=site.id,
        )
        other = seed.upsert_site(
            s,
            "OTHER",
            name_vi="Nơi khác",
            name_en="Elsewhere",
            kind="centre",
            parent_id=province.id,
        )
        services = {}
        for i, (code, prefix, vi, en) in enumerate(
            [
                ("land", "A", "Đất đai", "Land"),
                ("civil", "B", "Hộ tịch", "Civil status"),
                ("business", "C", "Kinh doanh", "Business"),
            ]
        ):
            services[code] = seed.upsert_service(
                s,
                site,
                code,
                prefix=prefix,
                name_vi=vi,
                name_en=en,
                sla_target_minutes=20,
                default_service_minutes=6.0,
                active=True,
                sort_order=i,
            )
            w.services[code] = services[code].id
        other_svc = seed.upsert_service(
            s, other, "land", prefix="A", name_vi="Đất đai", name_en="Land", sla_target_minutes=20
        )
        seed.upsert_service(
            s, point, "land", prefix="A", name_vi="Đất đai", name_en="Land", sla_target_minutes=20
        )
        for number, lines in counters.items():
            c = seed.upsert_counter(s, site, number, [(services[c], wt) for c, wt in lines], "open")
            w.counters[number] = c.id
        other_counter = seed.upsert_counter(s, other, 1, [(other_svc, 1.0)], "open")
        w.counters[-1] = other_counter.id
        w.tokens["kiosk"] = seed.add_device(s, site, "kiosk", "kiosk-1", None, now)
        w.tokens["display"] = seed.add_device(s, site, "display", "display-1", None, now)
        w.tokens["other_kiosk"] = seed.add_device(s, other, "kiosk", "kiosk-x", None, now)
        w.tokens["clerk"] = seed.create_token(s, "clerk", site, now)
        first = s.get(seed.Counter, w.counters[min(counters)])
        w.tokens["clerk_c1"] = seed.create_token(s, "clerk", site, now, counter=first)
        w.tokens["supervisor"] = seed.create_token(s, "supervisor", site, now)
        w.tokens["province_supervisor"] = seed.create_token(s, "supervisor", province, now)
        w.tokens["other_clerk"] = seed.create_token(s, "clerk", other, now)
        w.tokens["admin"] = seed.create_token(s, "admin", province, now)
    return w


@pytest.fixture
def world(db: Database, clock: Clock) -> World:
    return build_world(db, clock())


# --- the app ------------------------------------------------------------------------------

BASE_URL = "http://motcua.test"


class Api:
    """A thin JSON client over Flask's test client, with bearer tokens by role name."""

    def __init__(self, client: object, world: World) -> None:
        self.client = client
        self.world = world

    def call(
        self,
        method: str,
        path: str,
        role: str | None = None,
        json: object = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        data: str | bytes | None = None,
    ) -> object:
        h = dict(headers or {})
        tok = token if token is not None else (self.world.tokens[role] if role else None)
        if tok is not None:
            h["Authorization"] = f"Bearer {tok}"
        kwargs: dict[str, object] = {"headers": h}
        if data is not None:
            kwargs["data"] = data
            h.setdefault("Content-Type", "application/json")
        elif json is not None:
            kwargs["json"] = json
        return getattr(self.client, method.lower())(path, **kwargs)

    def issue(
        self,
        service: str = "land",
        priority: str | None = None,
        key: str | None = None,
        role: str = "kiosk",
        site: str = "HT",
    ) -> dict:
        headers = {"Idempotency-Key": key} if key else None
        r = self.call(
            "POST",
            f"/api/v1/sites/{site}/tickets",
            role,
            json={"service": service, "priority": priority},
            headers=headers,
        )
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def call_next(self, counter: int, role: str = "clerk") -> dict | None:
        cid = self.world.counters[counter]
        r = self.call("POST", f"/api/v1/counters/{cid}/call-next", role)
        if r.status_code == 204:
            return None
        assert r.status_code == 200, r.get_json()
        return r.get_json()["ticket"]

    def act(self, ticket_id: int, action: str, role: str = "clerk", json: object = None) -> object:
        return self.call("POST", f"/api/v1/tickets/{ticket_id}/{action}", role, json=json)


@pytest.fixture
def app_settings() -> dict[str, object]:
    """Extra Settings for the ``app`` fixture; a test module overrides this fixture (e.g. to
    list the loopback network its fake printer listens on)."""
    return {}


@pytest.fixture
def app(db: Database, clock: Clock, world: World, app_settings: dict[str, object]
        ) -> Iterator[object]:
    from server.app import create_app
    from server.config import Settings

    application = create_app(
        Settings(database_url=db.url, public_base_url=BASE_URL, print_worker=False,
                 **{"rate_limits": False, "outbox_worker": False,
                    **app_settings}),  # type: ignore[arg-type]
        db=db,
        clock=clock,
    )
    application.testing = True
    yield application
    application.extensions["motcua_printing"].stop()
    application.extensions["motcua_outbox"].stop()


@pytest.fixture
def api(app: object, world: World) -> Api:
    return Api(app.test_client(), world)  # type: ignore[attr-defined]


# --- signed-in people (counter, supervisor and admin pages) ----------------------------------

STAFF_PASSWORD = "motcua-test-pw"


@pytest.fixture
def staff(db: Database, world: World, clock: Clock) -> dict[str, int]:
    """Users (password ``STAFF_PASSWORD``): clerk ``clerk.ht`` and supervisor ``sup.ht`` of HT,
    ``clerk.other`` of OTHER, ``sup.prov`` of the province and ``admin`` (province). Returns
    username -> user id."""
    with db.write() as s:
        from server.core.lookups import get_site

        sites = {c: get_site(s, c) for c in ("PROV", "HT", "OTHER")}
        users = {
            "clerk.ht": ("clerk", "HT"),
            "sup.ht": ("supervisor", "HT"),
            "clerk.other": ("clerk", "OTHER"),
            "sup.prov": ("supervisor", "PROV"),
            "admin": ("admin", "PROV"),
        }
        return {
            name: seed.upsert_user(s, name, STAFF_PASSWORD, role, [sites[code]], clock()).id
            for name, (role, code) in users.items()
        }


def sign_in(client: object, username: str, password: str = STAFF_PASSWORD) -> str:
    """Sign ``client`` (a Flask test client) in through the form; returns the CSRF token the
    pages would put in ``X-CSRF-Token``."""
    import re

    page = client.get("/login")  # type: ignore[attr-defined]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    r = client.post(  # type: ignore[attr-defined]
        "/login", data={"username": username, "password": password, "csrf_token": csrf}
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    with client.session_transaction() as sess:  # type: ignore[attr-defined]
        return str(sess["csrf"])
