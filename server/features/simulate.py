"""``motcua simulate``: a day of a site, discrete-event, on a throwaway SQLite database, driving
the REAL engine (``server.features``: tickets.issue_ticket, call_next, ticket_action,
counters.set_counter_profile) with a simulated clock. Used to compare staffing policies and to
measure the wait estimate against the actual wait.

The model (every number here is an assumption, stated so it can be argued with):
- Opening hours 08:00-17:00 local with a lunch break 11:30-13:30 (no arrivals then; clerks
  finish the queue they have). Arrivals follow an hourly profile with a morning peak
  (``ARRIVAL_PROFILE``); ``--per-day N`` draws exactly N arrival times from it.
- Service mix per field (``MIX``); ~10 % priority tickets (a random priority category).
- Service times per field: lognormal with the mean and coefficient of variation in
  ``SERVICE_TIMES`` (land ~12 min, civil ~6, business ~10, construction ~15, other ~5); a
  service we do not know uses its configured typical minutes with CV 0.6.
- 3 % of called citizens are absent: the clerk recalls after 1 min and marks the no-show after
  2 min. Present citizens reach the counter in 0.5 min.
- Counters are staffed all day by one clerk each and call the next ticket as soon as they are
  free (and whenever a ticket arrives while they are idle).

Policies:
- ``fixed``: each counter serves one service; counters are split between services by their
  share of the work (arrivals x mean service time, largest remainder, at least one each).
- ``routing``: our routing with the demo's work profiles (counter i gets the profile of demo
  counter ((i - 1) mod 8) + 1 when there are more than 8; with fewer, a service none of the
  open counters serves is added at weight 0.5 to the one with the fewest services).
- ``advice``: ``routing``, and every 30 simulated minutes the supervisor applies the moves the
  advice (``server.advice``) suggests, through ``counter_feature.set_counter_profile``.

Appointments (``--booked-share S``): a share S of the day's citizens (the same citizens, the same
seed) book ahead instead of walking in, the day before, in a random order (first registered,
first served), through the real booking functions (``features.bookings``: hold, confirm with the
one-time code, cancel, check-in, the no-show sweep). Each books the slot that holds the time
they meant to come, else the nearest slot with a free place (the capacity is the booking
rule's, ``rules.appointments``); with none free they walk in. Then, relative to their slot's
start (``BOOKED_ARRIVAL``): most come a little early, some a few minutes late, a few too late
for the window (a walk-in ticket), a few too early (they come back when the window opens).
Besides them, ``EXTRA_NO_SHOWS`` and ``EXTRA_CANCELLED`` of the bookings are made by people who
never come (no-shows, found by the sweep) or cancel (their place comes back after the
quarantine). Booked citizens check in at the kiosk (the booking's QR, its code or the ID card)
and are placed by the placement rule. The result compares the same day without bookings:
booked citizens called within 10 minutes of their slot (``rules.kpis``), the walk-ins' P90 wait
against the same citizens' and everyone's P90 wait on the day without bookings.
"""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import math
import random
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from server.core import migrate
from server.core.auth import Principal
from server.core.db import Database
from server.core.errors import AppError
from server.features import advice as advice_service
from server.features import bookings, queues, reports, seed, tickets
from server.features import counters as counter_feature
from server.models import Counter, CounterService, Device, Service, Site, Ticket, User
from server.rules import appointments as appt_rules
from server.rules import eta as eta_mod
from server.rules import kpis as kpis_rules
from server.rules.calendar import zone

POLICIES = ("fixed", "routing", "advice")
BASE_URL = "http://simulated.invalid"
SIM_DAY = dt.date(2026, 3, 4)  # a Wednesday; any date would do
ADVICE_EVERY = dt.timedelta(minutes=30)

# local hour -> relative arrival intensity (a morning peak). 11:xx covers 11:00-11:30 only,
# 13:xx covers 13:30-14:00 only when there is a lunch break.
ARRIVAL_PROFILE: dict[int, float] = {
    8: 1.3, 9: 1.6, 10: 1.3, 11: 0.9, 12: 0.8, 13: 0.7, 14: 0.9, 15: 0.7, 16: 0.5,
}
OPEN = dt.time(8, 0)
CLOSE = dt.time(17, 0)
LUNCH = (dt.time(11, 30), dt.time(13, 30))
PRIORITY_SHARE = 0.10
NO_SHOW_SHARE = 0.03
WALK_MIN = 0.5
MIX: dict[str, float] = {
    "land": 0.28, "civil": 0.34, "business": 0.15, "construction": 0.08, "other": 0.15,
}
# field -> (mean minutes, coefficient of variation) of a lognormal
SERVICE_TIMES: dict[str, tuple[float, float]] = {
    "land": (12.0, 0.6),
    "civil": (6.0, 0.5),
    "business": (10.0, 0.6),
    "construction": (15.0, 0.6),
    "other": (5.0, 0.7),
}
DEFAULT_CV = 0.6


@dataclass(frozen=True)
class Arrival:
    at: dt.datetime  # UTC
    service: str
    priority: str | None
    citizen: int = -1  # the citizen's index in the day's arrivals (the same with bookings)
    booking: Booked | None = None  # a booked citizen checking in (else a walk-in)


# How booked citizens arrive, relative to their slot's start: (share, kind, minutes from, to).
# An assumption to argue with: most come a little early, some a few minutes late, a few later
# in the check-in window, a few too late for it (they get a walk-in ticket), a few too early
# (they are told to come back when the window opens, and do).
BOOKED_ARRIVAL: tuple[tuple[float, str, float, float], ...] = (
    (0.58, "early", -25.0, 0.0),
    (0.27, "few_min_late", 0.0, 8.0),
    (0.07, "late_in_window", 8.0, 15.0),
    (0.05, "too_late", 16.0, 45.0),
    (0.03, "too_early", -50.0, -31.0),
)
# Bookings besides the citizens who come, as a share of those: never come (no-shows) and
# cancel the evening before or that morning (their place is held back for the quarantine).
EXTRA_NO_SHOWS = 0.08
EXTRA_CANCELLED = 0.05
BOOKING_DAY_BEFORE = dt.time(9, 0)  # bookings are made from this local time the day before
CHECK_IN_WAYS = (("token", 0.6), ("code", 0.3), ("id_number", 0.1))  # QR, typed code, ID card
SWEEP_EVERY = dt.timedelta(minutes=5)
MOBILE_PREFIXES = ("090", "091", "093", "094", "096", "097", "098")  # the booked phone numbers


@dataclass(frozen=True)
class Booked:
    """A booking the simulation made: how its citizen will check in."""

    ref: str
    slot_start: dt.datetime
    way: str  # token | code | id_number
    value: str


@dataclass
class TicketRecord:
    """What the system promised at issue, and what happened."""

    id: int
    service: str
    priority: bool
    issued_at: dt.datetime
    eta_min: int | None
    naive_min: float | None
    ahead: int
    naive_ahead_min: float | None = None  # the same formula with the places ahead, not own
    minutes: float = 0.0  # mean service time the system used
    capacity: float = 0.0  # weighted open counters serving the service
    idle_serving: int = 0  # idle open counters serving the service at issue
    called_at: dt.datetime | None = None
    citizen: int = -1
    slot_start: dt.datetime | None = None  # an appointment: its slot's start
    late: bool = False  # a booked citizen too late for the window (a walk-in ticket)

    @property
    def wait_min(self) -> float | None:
        if self.called_at is None:
            return None
        return (self.called_at - self.issued_at).total_seconds() / 60.0


@dataclass
class SimResult:
    site: str
    policy: str
    seed: int
    counters: int
    tickets: int
    summary: dict[str, Any]
    by_service: dict[str, dict[str, Any]]
    eta: dict[str, Any]
    advice_moves: list[dict[str, Any]] = field(default_factory=list)
    runtime_s: float = 0.0
    records: list[TicketRecord] = field(default_factory=list)
    appointments: dict[str, Any] | None = None  # with --booked-share: see ``booking_figures``

    def as_dict(self) -> dict[str, Any]:
        out = self._as_dict()
        if self.appointments is not None:
            out["appointments"] = self.appointments
        return out

    def _as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "date": SIM_DAY.isoformat(),
            "policy": self.policy,
            "seed": self.seed,
            "counters": self.counters,
            "tickets": self.tickets,
            "awt_min": self.summary["awt_min"],
            "p90_min": self.summary["p90_wait_min"],
            "service_level": self.summary["service_level"],
            "served": self.summary["served"],
            "no_shows": self.summary["no_shows"],
            "by_service": self.by_service,
            "eta": self.eta,
            "advice_moves": self.advice_moves,
            "runtime_s": round(self.runtime_s, 2),
        }


# --- arrivals -------------------------------------------------------------------------------


def _local(day: dt.date, t: dt.time, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, t, tzinfo=zone(tz))


def opening_segments(day: dt.date, tz: str, lunch: bool) -> list[tuple[dt.datetime, dt.datetime]]:
    """The periods tickets are issued in, as (start, end) in UTC, cut at hour boundaries."""
    out = []
    start = _local(day, OPEN, tz)
    end = _local(day, CLOSE, tz)
    t = start
    while t < end:
        nxt = min(t.replace(minute=0) + dt.timedelta(hours=1), end)
        out.append((t, nxt))
        t = nxt
    if lunch:
        l0, l1 = _local(day, LUNCH[0], tz), _local(day, LUNCH[1], tz)
        cut = []
        for a, b in out:
            if b <= l0 or a >= l1:
                cut.append((a, b))
            else:
                if a < l0:
                    cut.append((a, l0))
                if b > l1:
                    cut.append((l1, b))
        out = cut
    return [(a.astimezone(dt.UTC), b.astimezone(dt.UTC)) for a, b in out]


def generate_arrivals(
    rng: random.Random,
    per_day: int,
    mix: dict[str, float],
    tz: str,
    lunch: bool = True,
    day: dt.date = SIM_DAY,
) -> list[Arrival]:
    """Exactly ``per_day`` arrivals drawn from the hourly profile and the service mix."""
    segments = opening_segments(day, tz, lunch)
    weights = []
    for a, b in segments:
        hour = a.astimezone(zone(tz)).hour
        weights.append(ARRIVAL_PROFILE.get(hour, 0.5) * (b - a).total_seconds())
    codes = list(mix)
    shares = [mix[c] for c in codes]
    priorities = ["elderly", "disabled", "pregnant_infant"]
    out = []
    for _ in range(per_day):
        a, b = rng.choices(segments, weights=weights)[0]
        at = a + (b - a) * rng.random()
        code = rng.choices(codes, weights=shares)[0]
        prio = rng.choice(priorities) if rng.random() < PRIORITY_SHARE else None
        out.append(Arrival(at, code, prio))
    out.sort(key=lambda x: x.at)
    return out


def read_arrivals(path: Path, tz: str, day: dt.date = SIM_DAY) -> list[Arrival]:
    """CSV with a header ``time,service,priority``: local time HH:MM[:SS], a service code,
    and a priority category code (or empty / 0 / no for a normal ticket; 1 / yes for
    ``elderly``)."""
    out = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        for i, row in enumerate(csv.DictReader(f), start=2):
            try:
                t = dt.time.fromisoformat(row["time"].strip())
                code = row["service"].strip()
            except (KeyError, ValueError, AttributeError):
                raise ValueError(f"{path}:{i}: need time HH:MM[:SS] and service") from None
            raw = (row.get("priority") or "").strip().lower()
            prio: str | None
            if raw in ("", "0", "no", "false"):
                prio = None
            elif raw in ("1", "yes", "true"):
                prio = "elderly"
            else:
                prio = raw
            at = _local(day, t, tz).astimezone(dt.UTC)
            out.append(Arrival(at, code, prio))
    out.sort(key=lambda x: x.at)
    return out


# --- service times --------------------------------------------------------------------------


def lognormal_minutes(rng: random.Random, mean: float, cv: float) -> float:
    sigma2 = math.log(1.0 + cv * cv)
    mu = math.log(mean) - sigma2 / 2.0
    return rng.lognormvariate(mu, math.sqrt(sigma2))


# --- the throwaway database -----------------------------------------------------------------


def _copy_site(source_url: str, dst: Any, code: str) -> Site:
    """Copy a site's services and counters (with their profiles) from the configured
    database into the throwaway one. Users, devices and history are not copied."""
    src = Database(source_url)
    try:
        if not migrate.has_schema(src.engine):
            raise LookupError(f"no site {code!r}: the configured database has no schema")
        with src.read() as s:
            site = s.scalar(select(Site).where(Site.code == code))
            if site is None:
                raise LookupError(f"no site {code!r} in the configured database")
            site_fields = {
                k: getattr(site, k)
                for k in ("name_vi", "name_en", "kind", "timezone", "agency_code",
                          "interleave_priority", "interleave_normal")
            }
            services = [
                {k: getattr(sv, k) for k in ("code", "name_vi", "name_en", "prefix",
                                             "sla_target_minutes", "default_service_minutes",
                                             "active", "sort_order")}
                for sv in s.scalars(select(Service).where(Service.site_id == site.id))
            ]
            counters = []
            for c in s.scalars(
                select(Counter).where(Counter.site_id == site.id).order_by(Counter.number)
            ):
                counters.append(
                    (c.number, [(ln.service.code, ln.weight) for ln in c.profile
                                if ln.service.site_id == site.id])
                )
    finally:
        src.dispose()
    new = seed.upsert_site(dst, code, parent_id=None, **site_fields)
    by_code = {}
    for row in services:
        c = row.pop("code")
        by_code[c] = seed.upsert_service(dst, new, c, **row)
    for number, lines in counters:
        seed.upsert_counter(dst, new, number, [(by_code[c], w) for c, w in lines], "open")
    return new


@dataclass
class World:
    db: Database
    site_id: int
    site_code: str
    tz: str
    counters: list[int]  # ids of the simulated counters, by number
    clerks: dict[int, Principal]  # counter id -> its clerk
    kiosk: Principal
    supervisor: Principal
    services: dict[str, Service]


def build_world(
    folder: Path,
    site_code: str,
    n_counters: int | None,
    source_url: str | None,
    now: dt.datetime,
) -> World:
    url = f"sqlite:///{folder / 'sim.sqlite3'}"
    migrate.upgrade(url)
    db = Database(url)
    with db.write() as s:
        seed.ensure_priorities(s)
        if site_code == "HACTHANH":
            seed.seed_demo(s, now)
            site = s.scalar(select(Site).where(Site.code == site_code))
        else:
            if source_url is None:
                raise LookupError(site_code)
            site = _copy_site(source_url, s, site_code)
        assert site is not None
        existing = list(
            s.scalars(select(Counter).where(Counter.site_id == site.id).order_by(Counter.number))
        )
        n = n_counters or len(existing)
        if not existing:
            raise LookupError(f"{site_code} has no counters")
        # More counters than configured: repeat the configured profiles in order.
        for i in range(len(existing), n):
            model = existing[i % len(existing)]
            lines = [(ln.service, ln.weight) for ln in model.profile]
            c = seed.upsert_counter(s, site, i + 1, lines, "open")
            existing.append(c)
        for i, c in enumerate(existing):
            c.status = "open" if i < n else "closed"
        # Fewer counters than configured: a service none of them serves goes, at weight 0.5,
        # to the open counter with the fewest services (else its tickets would never be called).
        services_all = list(s.scalars(select(Service).where(Service.site_id == site.id,
                                                            Service.active.is_(True))))
        opened = existing[:n]
        for sv in services_all:
            if not any(ln.service_id == sv.id for c in opened for ln in c.profile):
                target = min(opened, key=lambda c: (len(c.profile), c.number))
                counter_feature.replace_profile(
                    s, target, [(ln.service, ln.weight) for ln in target.profile] + [(sv, 0.5)]
                )
        counters = [c.id for c in existing[:n]]
        clerks = {}
        for i, cid in enumerate(counters):
            user = User(username=f"sim-clerk-{i + 1}", role="clerk", created_at=now,
                        password_hash="!", sites=[site])  # no password: cannot sign in
            s.add(user)
            s.flush()
            clerks[cid] = Principal("token", cid, "clerk", site.id, cid, user.id)
        kiosk = s.scalar(select(Device).where(Device.site_id == site.id, Device.kind == "kiosk"))
        if kiosk is None:
            seed.add_device(s, site, "kiosk", "sim-kiosk", None, now)
            kiosk = s.scalar(select(Device).where(Device.site_id == site.id))
        assert kiosk is not None
        services = {
            sv.code: sv for sv in s.scalars(select(Service).where(Service.site_id == site.id))
        }
        s.expunge_all()
        return World(
            db=db,
            site_id=site.id,
            site_code=site.code,
            tz=site.timezone,
            counters=counters,
            clerks=clerks,
            kiosk=Principal("device", kiosk.id, "kiosk", site.id),
            supervisor=Principal("token", 0, "supervisor", site.id),
            services=services,
        )


def fixed_split(counters: int, work: dict[str, float]) -> list[str]:
    """Counters per service by share of the work, at least one each (largest remainder)."""
    codes = [c for c in work if work[c] > 0]
    if counters < len(codes):
        codes = sorted(codes, key=lambda c: -work[c])[:counters]
    total = sum(work[c] for c in codes)
    exact = {c: counters * work[c] / total for c in codes}
    alloc = {c: max(1, math.floor(exact[c])) for c in codes}
    while sum(alloc.values()) > counters:
        c = max((c for c in codes if alloc[c] > 1), key=lambda c: alloc[c] - exact[c])
        alloc[c] -= 1
    while sum(alloc.values()) < counters:
        c = max(codes, key=lambda c: exact[c] - alloc[c])
        alloc[c] += 1
    out: list[str] = []
    for c in sorted(codes, key=lambda c: -work[c]):
        out.extend([c] * alloc[c])
    return out


def _set_profiles(world: World, plan: Iterable[tuple[int, str]], now: dt.datetime) -> None:
    with world.db.write() as s:
        for cid, code in plan:
            counter_feature.set_counter_profile(
                s, world.supervisor, cid, [(code, 1.0, None)], now
            )


# --- appointments ---------------------------------------------------------------------------

BOOKING_REACH = dt.timedelta(hours=2)  # a citizen takes a slot at most this far from their time


@dataclass(frozen=True)
class BookerPlan:
    """A citizen who books: how they will arrive relative to their slot's start."""

    citizen: int
    kind: str  # early | late | too_late | too_early (``BOOKED_ARRIVAL``)
    offset_min: float  # minutes from the slot's start to their arrival at the kiosk


def plan_bookers(rng: random.Random, arrivals: list[Arrival], share: float) -> list[BookerPlan]:
    """Which of the day's citizens book ahead (each with probability ``share``, drawn in the
    order of the day) and how each will arrive (``BOOKED_ARRIVAL``)."""
    weights = [w for w, *_rest in BOOKED_ARRIVAL]
    out = []
    for a in arrivals:
        if rng.random() >= share:
            continue
        _w, kind, lo, hi = rng.choices(BOOKED_ARRIVAL, weights=weights)[0]
        out.append(BookerPlan(a.citizen, kind, lo + (hi - lo) * rng.random()))
    return out


def slot_preference(
    starts: list[dt.datetime], slot: dt.timedelta, intended: dt.datetime
) -> list[dt.datetime]:
    """The slots a citizen who meant to come at ``intended`` tries, in order: the slot holding
    that time, then the others by distance from it, none further than ``BOOKING_REACH``."""
    def holds(st: dt.datetime) -> bool:
        return st <= intended < st + slot

    near = [st for st in starts if holds(st) or abs(st - intended) <= BOOKING_REACH]
    return sorted(near, key=lambda st: (not holds(st), abs(st - intended), st))


#: Refusals of a hold that send the citizen to the next slot (any other is a fault).
SLOT_REFUSALS = {"booking_slot_full", "booking_slot_past", "booking_no_such_slot",
                 "booking_day_closed"}


def book_ahead(
    world: World, arrivals: list[Arrival], share: float, seed_: int, day: dt.date = SIM_DAY
) -> tuple[list[Arrival], list[tuple[dt.datetime, str]]]:
    """The bookings of the day, made the day before through the booking functions (hold, then
    confirm with the one-time code), in a random order: the arrivals with the booked citizens'
    check-ins in place of their walk-ins, and the cancellations to come (when, page token)."""
    rng = random.Random(seed_ * 31337 + 5)  # the arrivals' own draws stay as they were
    plans = {p.citizen: p for p in plan_bookers(rng, arrivals, share)}
    with world.db.read() as s:
        site = s.get(Site, world.site_id)
        assert site is not None
        settings = appt_rules.BookingSettings.from_stored(site.booking)
        hours = site.opening_hours
        last = {code: appt_rules.parse_last_ticket_time(sv.last_ticket_time)
                for code, sv in world.services.items()}
    starts = {
        code: [sl.start for sl in appt_rules.day_slots(hours, (), day, world.tz,
                                                       settings.slot_minutes, last[code])]
        for code in world.services
    }
    # Who asks for a place: the citizens who will come, and others who will not (no-shows)
    # or will cancel, each at the time of a citizen of the day (the same demand's shape).
    asks: list[tuple[str, Arrival]] = [("come", arrivals[c]) for c in sorted(plans)]
    for kind, extra in (("no_show", EXTRA_NO_SHOWS), ("cancel", EXTRA_CANCELLED)):
        asks += [(kind, rng.choice(arrivals)) for _ in range(round(len(plans) * extra))]
    rng.shuffle(asks)
    now = _local(day - dt.timedelta(days=1), BOOKING_DAY_BEFORE, world.tz).astimezone(dt.UTC)
    booked: dict[int, Booked] = {}
    cancels: list[tuple[dt.datetime, str]] = []
    for kind, a in asks:
        now += dt.timedelta(seconds=20)
        id_number = f"{rng.randrange(10**11, 10**12):012d}"
        phone = f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**7):07d}"
        for start in slot_preference(starts[a.service], settings.slot, a.at):
            try:
                with world.db.write() as s:
                    booking, otp = bookings.hold(s, world.site_code, a.service, start,
                                                 id_number, phone, "vi", now)
                    ref = booking.ref
            except AppError as exc:
                if exc.code == "booking_not_offered":  # no online places: they walk in
                    break
                if exc.code not in SLOT_REFUSALS:
                    raise
                continue
            with world.db.write() as s:  # the code the SMS carried, typed back at once
                confirmed = bookings.confirm(s, ref, otp, now, base_url=BASE_URL)
            assert confirmed is not None
            if kind == "cancel":  # the evening before, or that morning before the slot
                at = start - dt.timedelta(minutes=30 + 15 * 60 * rng.random())
                cancels.append((max(at, now + dt.timedelta(minutes=1)), confirmed["token"]))
            elif kind == "come":
                way = rng.choices([w for w, _ in CHECK_IN_WAYS],
                                  weights=[x for _, x in CHECK_IN_WAYS])[0]
                value = id_number if way == "id_number" else confirmed[way]
                booked[a.citizen] = Booked(ref, start, way, value)
            break
    out = []
    for a in arrivals:
        b = booked.get(a.citizen)
        if b is None:  # a walk-in, or no place free near their time: they walk in
            out.append(a)
            continue
        at = b.slot_start + dt.timedelta(minutes=plans[a.citizen].offset_min)
        out.append(replace(a, at=at, booking=b))
    out.sort(key=lambda x: x.at)
    return out, cancels


def _check_in(session: Any, world: World, booked: Booked, now: dt.datetime) -> dict[str, Any]:
    """A booked citizen at the kiosk: the QR scanned, the code typed or the ID card read."""
    view, _ticket = bookings.check_in(session, world.kiosk, world.site_code,
                                      {booked.way: booked.value}, now, BASE_URL)
    return view


def booking_figures(booked: SimResult, base: SimResult, share: float) -> dict[str, Any]:
    """The day with bookings beside the same day without: the report's appointment figures
    (``rules.kpis``: punctuality is the share of appointments called within
    ``PUNCTUAL_MIN`` minutes of their slot), how late after their slot the booked citizens were
    called, and the walk-ins' waits beside the same citizens' and everyone's on the day
    without bookings."""
    t = booked.summary
    appts = [r for r in booked.records if r.slot_start is not None]
    lateness = [
        (r.called_at - r.slot_start).total_seconds() / 60.0
        for r in appts if r.called_at is not None and r.slot_start is not None
    ]
    bookers = {r.citizen for r in booked.records if r.slot_start is not None or r.late}
    walk = [w for r in booked.records if r.citizen not in bookers and (w := r.wait_min) is not None]
    same = [w for r in base.records if r.citizen not in bookers and (w := r.wait_min) is not None]
    punctual = sum(
        1 for r in appts
        if kpis_rules.on_time(kpis_rules.late_seconds(r.slot_start, r.called_at))
    )
    # Those present by their slot's start: what placement alone decides (a citizen who checks
    # in 12 minutes after the slot cannot be called within 10 minutes of it).
    present = [r for r in appts if r.slot_start is not None and r.issued_at <= r.slot_start]
    present_punctual = sum(
        1 for r in present
        if kpis_rules.on_time(kpis_rules.late_seconds(r.slot_start, r.called_at))
    )

    def mean(xs: list[float]) -> float | None:
        return round(sum(xs) / len(xs), 2) if xs else None

    def q90(xs: list[float]) -> float | None:
        v = reports.p90(xs)
        return None if v is None else round(v, 2)

    return {
        "booked_share": share,
        "bookings": t["bookings"],
        "checked_in": t["bookings_checked_in"],
        "no_shows": t["bookings_no_show"],
        "cancelled": t["bookings_cancelled"],
        "appointments": t["appointments"],
        "late_walk_ins": sum(1 for r in booked.records if r.late),
        "online_share_used": t["online_share_used"],
        "punctuality": t["punctuality"],
        "punctual": punctual,
        "present_by_slot": len(present),
        "punctuality_present_by_slot": round(present_punctual / len(present), 4)
        if present else None,
        "called_after_slot_p90_min": q90(lateness),
        # the estimate given at check-in (placed at the slot) against the actual wait
        "appointments_eta_mae_min": eta_accuracy(appts)["mae_min"],
        "appointments_eta_in_range": eta_accuracy(appts)["range_coverage"],
        "walk_ins": len(walk),
        "walkin_awt_min": mean(walk),
        "walkin_p90_min": q90(walk),
        "without_same_awt_min": mean(same),
        "without_same_p90_min": q90(same),
        "without_all_awt_min": base.summary["awt_min"],
        "without_all_p90_min": base.summary["p90_wait_min"],
    }


# --- the run --------------------------------------------------------------------------------


def _mean_minutes(world: World, code: str) -> tuple[float, float]:
    if code in SERVICE_TIMES:
        return SERVICE_TIMES[code]
    sv = world.services.get(code)
    return (sv.default_service_minutes if sv else 8.0), DEFAULT_CV


def run(
    site_code: str = "HACTHANH",
    per_day: int | None = 230,
    arrivals_file: Path | None = None,
    counters: int | None = None,
    policy: str = "routing",
    seed_: int = 1,
    source_url: str | None = None,
    lunch: bool = True,
    booked_share: float = 0.0,
    online_share: float | None = None,
) -> SimResult:
    """A simulated day. With ``booked_share``, also the same day without bookings (same seed,
    same citizens): ``SimResult.appointments`` compares them (``booking_figures``).
    ``online_share``: every service's share of a slot's capacity offered for booking (the
    admin setting; default: the site's own, else 50 %)."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}")
    if not 0 <= booked_share < 1:
        raise ValueError("booked share must be at least 0 and below 1")
    if online_share is not None and not 0 <= online_share <= 1:
        raise ValueError("online share must be between 0 and 1")
    args = (site_code, per_day, arrivals_file, counters, policy, seed_, source_url, lunch,
            online_share)
    if not booked_share:
        return _day(*args, 0.0)
    result = _day(*args, booked_share)
    base = _day(*args, 0.0)
    result.appointments = booking_figures(result, base, booked_share)
    result.runtime_s += base.runtime_s
    return result


def _day(
    site_code: str,
    per_day: int | None,
    arrivals_file: Path | None,
    counters: int | None,
    policy: str,
    seed_: int,
    source_url: str | None,
    lunch: bool,
    online_share: float | None,
    booked_share: float,
) -> SimResult:
    started = time.perf_counter()
    rng = random.Random(seed_)
    svc_rng = random.Random(seed_ * 7919 + 1)  # service times independent of the arrivals
    with tempfile.TemporaryDirectory(prefix="motcua-sim-") as tmp:
        t_open = _local(SIM_DAY, OPEN, "Asia/Ho_Chi_Minh").astimezone(dt.UTC)
        world = build_world(Path(tmp), site_code, counters, source_url,
                            t_open - dt.timedelta(hours=1))
        if online_share is not None:
            with world.db.write() as s:
                for sv in s.scalars(select(Service).where(Service.site_id == world.site_id)):
                    sv.online_share = online_share
        try:
            return _run(world, rng, svc_rng, per_day, arrivals_file, policy, seed_, lunch,
                        started, booked_share)
        finally:
            world.db.dispose()


def _run(
    world: World,
    rng: random.Random,
    svc_rng: random.Random,
    per_day: int | None,
    arrivals_file: Path | None,
    policy: str,
    seed_: int,
    lunch: bool,
    started: float,
    booked_share: float = 0.0,
) -> SimResult:
    known = set(world.services)
    if arrivals_file is not None:
        arrivals = read_arrivals(arrivals_file, world.tz)
        unknown = {a.service for a in arrivals} - known
        if unknown:
            raise ValueError(f"unknown services in {arrivals_file}: {', '.join(sorted(unknown))}")
    else:
        mix = {c: w for c, w in MIX.items() if c in known}
        if not mix:  # another site's fields: an even mix
            mix = {c: 1.0 for c in known}
        arrivals = generate_arrivals(rng, per_day or 230, mix, world.tz, lunch)
    if not arrivals:
        raise ValueError("no arrivals")
    arrivals = [replace(a, citizen=i) for i, a in enumerate(arrivals)]
    cancels: list[tuple[dt.datetime, str]] = []
    if booked_share:
        arrivals, cancels = book_ahead(world, arrivals, booked_share, seed_)
    records, moves = _drive(world, arrivals, policy, seed_, svc_rng, cancels=cancels)
    with world.db.read() as s:
        site = s.get(Site, world.site_id)
        assert site is not None
        report = reports.kpis(s, site, SIM_DAY, SIM_DAY)
    by_service = {
        row["service"]: {
            "tickets": row["issued"],
            "awt_min": row["awt_min"],
            "p90_min": row["p90_wait_min"],
            "service_level": row["service_level"],
            "sla_target_minutes": row["sla_target_minutes"],
        }
        for row in report["by_service"]
        if row["issued"]
    }
    return SimResult(
        site=world.site_code,
        policy=policy,
        seed=seed_,
        counters=len(world.counters),
        tickets=len(arrivals),
        summary=report["totals"],
        by_service=by_service,
        eta=eta_accuracy(records.values()),
        advice_moves=moves,
        runtime_s=time.perf_counter() - started,
        records=list(records.values()),
    )


def _drive(
    world: World,
    arrivals: list[Arrival],
    policy: str,
    seed_: int,
    svc_rng: random.Random,
    until: dt.datetime | None = None,
    cancels: Iterable[tuple[dt.datetime, str]] = (),
) -> tuple[dict[int, TicketRecord], list[dict[str, Any]]]:
    """The day's events through the real engine: arrivals at the kiosk (a booked citizen
    checks in there), counters calling as soon as they are free, starts, finishes, absences
    (and the advice's moves; cancelled bookings and the no-show sweep). With ``until``,
    nothing after that instant happens (the demo's history stops at "now": what is at a
    counter then stays there), and an arrival the site refuses (closed, capped) is skipped as
    a real kiosk would be refused."""
    t0 = arrivals[0].at - dt.timedelta(minutes=1)

    if policy == "fixed":
        work: dict[str, float] = {}
        for a in arrivals:
            work[a.service] = work.get(a.service, 0.0) + _mean_minutes(world, a.service)[0]
        split = fixed_split(len(world.counters), work)
        _set_profiles(world, zip(world.counters, split, strict=True), t0)

    # Events: (time, order, kind, payload). kind: arrive | free | absent | advise
    heap: list[tuple[dt.datetime, int, str, Any]] = []
    order = 0

    def push(at: dt.datetime, kind: str, payload: Any = None) -> None:
        nonlocal order
        order += 1
        heapq.heappush(heap, (at, order, kind, payload))

    for a in arrivals:
        push(a.at, "arrive", a)
    for at, token in cancels:
        push(at, "cancel", token)
    booked = any(a.booking is not None for a in arrivals)
    settings = appt_rules.BookingSettings()
    if booked:
        with world.db.read() as s:
            site = s.get(Site, world.site_id)
            assert site is not None
            settings = appt_rules.BookingSettings.from_stored(site.booking)
        t = t0
        while t < arrivals[-1].at + dt.timedelta(hours=1):
            push(t, "sweep")
            t += SWEEP_EVERY
    if policy == "advice":
        t = t0 + ADVICE_EVERY
        while t < arrivals[-1].at + dt.timedelta(hours=2):
            push(t, "advise")
            t += ADVICE_EVERY
    idle: set[int] = set(world.counters)
    pick = random.Random(seed_ * 104729 + 3)  # which idle counter presses "next" first

    def serves() -> dict[int, dict[str, float]]:
        """Each simulated counter's profile now: service code -> weight."""
        with world.db.read() as s:
            out: dict[int, dict[str, float]] = {cid: {} for cid in world.counters}
            for cid, code, weight in s.execute(
                select(CounterService.counter_id, Service.code, CounterService.weight)
                .join(Service, Service.id == CounterService.service_id)
                .where(CounterService.counter_id.in_(world.counters))
            ):
                out[cid][code] = float(weight)
            return out

    # Service times of finished tickets (finish time, minutes), for the naive formula's mean:
    # the same recent mean the system uses (queues.RECENT_SERVICE_WINDOW).
    done: dict[str, list[tuple[dt.datetime, float]]] = {}

    profiles = serves()
    records: dict[int, TicketRecord] = {}
    moves: list[dict[str, Any]] = []
    site_view_code = world.site_code

    def call(cid: int, now: dt.datetime) -> None:
        with world.db.write() as s:
            view = tickets.call_next(s, world.clerks[cid], cid, now, BASE_URL)
        if view is None:
            idle.add(cid)
            return
        idle.discard(cid)
        rec = records.get(view["id"])
        if rec is not None and rec.called_at is None:
            rec.called_at = now
        if svc_rng.random() < NO_SHOW_SHARE:
            push(now + dt.timedelta(minutes=1), "recall", (cid, view["id"]))
            push(now + dt.timedelta(minutes=2), "absent", (cid, view["id"]))
            return
        mean, cv = _mean_minutes(world, view["service"])
        start = now + dt.timedelta(minutes=WALK_MIN)
        minutes = lognormal_minutes(svc_rng, mean, cv)
        push(start, "start", (cid, view["id"]))
        push(start + dt.timedelta(minutes=minutes), "finish",
             (cid, view["id"], view["service"], minutes))

    def act(cid: int, tid: int, action: str, now: dt.datetime) -> None:
        with world.db.write() as s:
            tickets.ticket_action(s, world.clerks[cid], tid, action, now, BASE_URL)

    while heap:
        now, _, kind, payload = heapq.heappop(heap)
        if until is not None and now > until:
            break
        if kind == "arrive":
            a: Arrival = payload
            try:
                with world.db.write() as s:
                    if a.booking is None:
                        view, _created = tickets.issue_ticket(
                            s, world.kiosk, site_view_code, a.service, a.priority, "vi", None,
                            now, BASE_URL,
                        )
                    else:
                        view = _check_in(s, world, a.booking, now)
            except AppError as exc:
                if a.booking is not None and exc.code == "too_early":
                    # "come back from HH:MM": the citizen waits and checks in then
                    opens, _closes = appt_rules.checkin_window(a.booking.slot_start, settings)
                    push(max(opens, now) + dt.timedelta(seconds=30), "arrive", a)
                    continue
                if until is None:
                    raise
                continue
            recent = [
                m for f, m in done.get(a.service, [])
                if f >= now - queues.RECENT_SERVICE_WINDOW
            ]
            minutes = eta_mod.mean_service_minutes(
                recent, world.services[a.service].default_service_minutes
            )
            serving = [prof for prof in profiles.values() if a.service in prof]
            capacity = sum(prof[a.service] / sum(prof.values()) for prof in serving)
            naive = naive_ahead = None
            if serving:
                naive = (view["ahead"] + 1) * minutes / len(serving)
                naive_ahead = view["ahead"] * minutes / len(serving)
            idle_serving = sum(1 for cid in idle if a.service in profiles[cid])
            records[view["id"]] = TicketRecord(
                view["id"], a.service, a.priority is not None, now, view["eta_minutes"], naive,
                view["ahead"], naive_ahead, minutes, capacity, idle_serving,
                citizen=a.citizen,
                slot_start=a.booking.slot_start
                if a.booking is not None and view.get("appointment") else None,
                late=a.booking is not None and bool(view.get("late")),
            )
            # Only an idle counter that serves this service can take the new ticket.
            ready = sorted(cid for cid in idle if a.service in profiles[cid])
            if ready:
                call(pick.choice(ready), now)
        elif kind == "cancel":
            with world.db.write() as s:
                bookings.cancel(s, payload, now)
        elif kind == "sweep":
            with world.db.write() as s:
                bookings.sweep(s, now, [world.site_id])
        elif kind == "recall":
            cid, tid = payload
            act(cid, tid, "recall", now)
        elif kind == "absent":
            cid, tid = payload
            act(cid, tid, "no_show", now)
            call(cid, now)
        elif kind == "start":
            cid, tid = payload
            act(cid, tid, "start", now)
        elif kind == "finish":
            cid, tid, code, minutes = payload
            act(cid, tid, "finish", now)
            done.setdefault(code, []).append((now, minutes))
            call(cid, now)
        elif kind == "advise":
            with world.db.read() as s:
                site = s.get(Site, world.site_id)
                assert site is not None
                adv = advice_service.compute(s, site, now)
            applied = [x for x in adv.suggestions if x.kind == "move"]
            if applied:
                with world.db.write() as s:
                    for x in applied:
                        counter_feature.set_counter_profile(
                            s, world.supervisor, x.counter_id,
                            [(ln["code"], ln["weight"], None) for ln in x.action["services"]], now,
                        )
                for x in applied:
                    moves.append({"at": now.astimezone(zone(world.tz)).strftime("%H:%M"),
                                  "counter_id": x.counter_id, "to": x.to_service,
                                  "from": x.from_services,
                                  "services": x.action["services"]})
                profiles = serves()
                for cid in sorted(idle):
                    call(cid, now)

    return records, moves


def eta_accuracy(records: Iterable[TicketRecord]) -> dict[str, Any]:
    """Mean and P90 absolute error of the estimate given at issue, and of the naive formula
    (position x mean service time / open counters), against the actual wait."""
    err, naive, naive_ahead = [], [], []
    inside = 0
    for r in records:
        w = r.wait_min
        if w is None or r.eta_min is None:
            continue
        err.append(abs(r.eta_min - w))
        band = eta_mod.estimate_range(r.eta_min)
        if band is not None and band[0] - 0.5 <= w <= band[1] + 0.5:  # shown in whole minutes
            inside += 1
        if r.naive_min is not None:
            naive.append(abs(r.naive_min - w))
        if r.naive_ahead_min is not None:
            naive_ahead.append(abs(r.naive_ahead_min - w))

    def stats(xs: list[float]) -> tuple[float | None, float | None]:
        if not xs:
            return None, None
        return round(sum(xs) / len(xs), 2), round(reports.p90(xs) or 0.0, 2)

    mae, p90e = stats(err)
    nmae, np90 = stats(naive)
    return {
        "n": len(err),
        "mae_min": mae,
        "p90_abs_err_min": p90e,
        "naive_mae_min": nmae,
        "naive_p90_abs_err_min": np90,
        "naive_ahead_mae_min": stats(naive_ahead)[0],
        "naive_ahead_p90_abs_err_min": stats(naive_ahead)[1],
        "range_coverage": round(inside / len(err), 3) if err else None,
    }


def _fmt(x: float | None, unit: str = "") -> str:
    return "-" if x is None else f"{x:.1f}{unit}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def text_report(r: SimResult, eta_report: bool = False) -> list[str]:
    d = r.as_dict()
    lines = [
        f"{r.site}, policy {r.policy}, seed {r.seed}: {r.counters} counters, {r.tickets} "
        f"tickets on {d['date']} (simulated in {d['runtime_s']} s)",
        f"  all services   awt {_fmt(d['awt_min'], ' min')}, P90 {_fmt(d['p90_min'], ' min')}, "
        f"service level {_pct(d['service_level'])} (served {d['served']}, "
        f"no-shows {d['no_shows']})",
    ]
    for code, row in r.by_service.items():
        lines.append(
            f"  {code:<14} awt {_fmt(row['awt_min'], ' min')}, P90 {_fmt(row['p90_min'], ' min')}, "
            f"within {row['sla_target_minutes']} min: {_pct(row['service_level'])} "
            f"({row['tickets']} tickets)"
        )
    if r.advice_moves:
        lines.append("  advice applied: " + "; ".join(
            f"{m['at']} counter #{m['counter_id']} -> {m['to']}" for m in r.advice_moves))
    ap = r.appointments
    if ap is not None:
        lines.append(
            f"  bookings ({100 * ap['booked_share']:.0f} % of the citizens book): "
            f"{ap['bookings']} booked, {ap['checked_in']} checked in "
            f"({ap['late_walk_ins']} too late: walk-in tickets), {ap['no_shows']} no-shows, "
            f"{ap['cancelled']} cancelled; {ap['appointments']} appointments, "
            f"{_pct(ap['online_share_used'])} of the tickets"
        )
        lines.append(
            f"  booked citizens called within {kpis_rules.PUNCTUAL_MIN} min of their slot: "
            f"{_pct(ap['punctuality'])} (P90 {_fmt(ap['called_after_slot_p90_min'], ' min')} "
            f"after the slot's start); of those present by the slot's start "
            f"({ap['present_by_slot']}): {_pct(ap['punctuality_present_by_slot'])}; their "
            f"wait estimate at check-in: MAE {_fmt(ap['appointments_eta_mae_min'], ' min')}, "
            f"actual wait inside the shown range {_pct(ap['appointments_eta_in_range'])}"
        )
        lines.append(
            f"  walk-ins ({ap['walk_ins']}): awt {_fmt(ap['walkin_awt_min'], ' min')}, P90 "
            f"{_fmt(ap['walkin_p90_min'], ' min')}; the same citizens without bookings: awt "
            f"{_fmt(ap['without_same_awt_min'], ' min')}, P90 "
            f"{_fmt(ap['without_same_p90_min'], ' min')}; everyone without bookings: P90 "
            f"{_fmt(ap['without_all_p90_min'], ' min')}"
        )
    if eta_report:
        e = r.eta
        lines.append(
            f"  ETA at issue ({e['n']} tickets): MAE {_fmt(e['mae_min'], ' min')}, P90 abs error "
            f"{_fmt(e['p90_abs_err_min'], ' min')}; naive position x mean / open counters: MAE "
            f"{_fmt(e['naive_mae_min'], ' min')}, P90 {_fmt(e['naive_p90_abs_err_min'], ' min')};"
            f" actual wait inside the shown range: {_pct(e['range_coverage'])}"
        )
    return lines


__all__ = ["POLICIES", "SimResult", "generate_arrivals", "read_arrivals", "run", "text_report"]


# --- the demo's history ---------------------------------------------------------------------

HISTORY_MIN = dt.timedelta(minutes=60)  # less of today than this: the last working day instead
HISTORY_BOOKED_SHARE = 0.2  # the demo's citizens who booked their slot ahead
HISTORY_DAYS_BACK = 10


@dataclass
class History:
    day: dt.date
    until: dt.datetime  # UTC: the history stops here (now, or the day's close)
    issued: int
    served: int


def _demo_world(db: Database, site_code: str) -> World:
    """The demo site as it is: its open counters, each worked by its demo clerk (``canbo<n>``,
    so the history names real accounts), its first kiosk."""
    with db.read() as s:
        site = s.scalar(select(Site).where(Site.code == site_code))
        if site is None:
            raise LookupError(site_code)
        counters = list(s.scalars(
            select(Counter).where(Counter.site_id == site.id, Counter.status == "open")
            .order_by(Counter.number)))
        if not counters:
            raise LookupError(f"{site_code} has no open counters")
        users = {u.username: u.id for u in s.scalars(
            select(User).where(User.username.in_([f"canbo{c.number}" for c in counters])))}
        clerks = {
            c.id: Principal("user", users[f"canbo{c.number}"], "clerk", site.id, c.id,
                            users[f"canbo{c.number}"])
            if f"canbo{c.number}" in users else Principal("token", c.id, "clerk", site.id, c.id)
            for c in counters
        }
        kiosk = s.scalar(select(Device).where(Device.site_id == site.id, Device.kind == "kiosk")
                         .order_by(Device.id))
        if kiosk is None:
            raise LookupError(f"{site_code} has no kiosk")
        services = {sv.code: sv for sv in s.scalars(select(Service).where(
            Service.site_id == site.id, Service.active.is_(True)))}
        s.expunge_all()
        return World(db=db, site_id=site.id, site_code=site.code, tz=site.timezone,
                     counters=[c.id for c in counters], clerks=clerks,
                     kiosk=Principal("device", kiosk.id, "kiosk", site.id),
                     supervisor=Principal("token", 0, "supervisor", site.id),
                     services=services)


def demo_history(
    db: Database, site_code: str, now: dt.datetime, per_day: int = 230, seed_: int = 1,
    booked_share: float = HISTORY_BOOKED_SHARE,
) -> History | None:
    """A working day of the demo site up to ``now``, lived through the real engine (the same
    loop as ``motcua simulate``): citizens take tickets at its kiosk, its demo clerks call,
    serve and finish them, so reports, charts and advice have a morning to read from the first
    minute. Today's day when at least an hour of it has passed (the rest of the day has not
    happened), else the last working day before it, whole. None when the site already has
    tickets that day (the demo loaded twice adds no second history). ``HISTORY_BOOKED_SHARE``
    of its citizens booked a slot the day before and check in at the kiosk, so the
    supervisor's reports show bookings too (those of the rest of today stay confirmed)."""
    world = _demo_world(db, site_code)
    tz = zone(world.tz)
    today = now.astimezone(tz).date()
    mix = {c: w for c, w in MIX.items() if c in world.services} or {
        c: 1.0 for c in world.services}
    for back in range(HISTORY_DAYS_BACK + 1):
        day = today - dt.timedelta(days=back)
        if back and day.weekday() >= 5:
            continue
        end = min(now, _local(day, CLOSE, world.tz).astimezone(dt.UTC))
        segments = [(a, min(b, end)) for a, b in opening_segments(day, world.tz, True) if a < end]
        if sum(((b - a) for a, b in segments), dt.timedelta()) < HISTORY_MIN:
            continue
        with db.read() as s:
            if s.scalar(select(Ticket.id).where(Ticket.site_id == world.site_id,
                                                Ticket.business_day == day).limit(1)):
                return None
        rng = random.Random(seed_)
        day_arrivals = [replace(a, citizen=i) for i, a in enumerate(
            generate_arrivals(rng, per_day, mix, world.tz, True, day))]
        if not [a for a in day_arrivals if a.at <= end]:
            continue
        cancels: list[tuple[dt.datetime, str]] = []
        if booked_share:
            day_arrivals, cancels = book_ahead(world, day_arrivals, booked_share, seed_, day)
        arrivals = [a for a in day_arrivals if a.at <= end]
        _drive(world, arrivals, "routing", seed_, random.Random(seed_ * 7919 + 1), until=end,
               cancels=cancels)
        with db.read() as s:
            issued = s.scalar(select(func.count()).select_from(Ticket).where(
                Ticket.site_id == world.site_id, Ticket.business_day == day)) or 0
            served = s.scalar(select(func.count()).select_from(Ticket).where(
                Ticket.site_id == world.site_id, Ticket.business_day == day,
                Ticket.status == "done")) or 0
        if issued:  # else the site was closed that day (a holiday): one day further back
            return History(day, end, int(issued), int(served))
    return None
