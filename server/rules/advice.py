"""Staffing advice from queueing theory (Erlang C). Pure: no database, no Flask.

For each service we know (from the last 30-60 minutes, see ``server/advice_inputs.py``) its
arrival rate, its mean service time, its SLA target and how many tickets wait now. Erlang C
(M/M/c) then says how many counters the service needs so that a ticket has at least
``level`` (default 80 %) chance of being called within the target, and what the P90 wait is
with the counters it has. From the gap between need and supply we suggest concrete moves
("Counter 5 also serves Land first (Business kept, second): Land P90 wait 38 -> about 12 min"),
each with a machine-applicable action the supervisor UI sends to
``PUT /api/v1/counters/{id}/profile``. A move adds the target at the top weight and keeps the
counter's former services at ``KEEP_WEIGHT`` (see ``moved_profile``): the capacities below
are computed from the shares of that new profile; when a move is "material" is set out next to
``HYSTERESIS``. The rules give figures and names; the words (verdicts, suggestions, the
summary) are put together from the catalogs by ``server/features/advice.py``.

Modelling choices (documented because they change the numbers):
- A counter serving several services gives each its share of its weights (as the ETA does):
  ``capacity = sum(weight / total weight of the counter)``. A fractional capacity ``c`` is
  modelled as ``n = ceil(c)`` servers each working at ``c / n`` of full speed.
- A backlog (tickets already waiting) is spread over the look-back window and added to the
  arrival rate, so a long queue asks for counters even when arrivals have slowed down.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LEVEL = 0.80  # P(wait <= SLA target) the advice aims for
P90 = 0.90
MAX_SUGGESTIONS = 6


# --- Erlang C ---------------------------------------------------------------------------


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of M/M/c/c (iterative, numerically stable)."""
    if servers < 0 or load < 0:
        raise ValueError("servers and load must be >= 0")
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arrival waits (M/M/c), ``load`` = arrival rate x service time.
    1.0 when the system is overloaded (load >= servers)."""
    if load <= 0:
        return 0.0
    if servers <= 0 or load >= servers:
        return 1.0
    b = erlang_b(servers, load)
    rho = load / servers
    return b / (1.0 - rho * (1.0 - b))


@dataclass(frozen=True)
class Queue:
    """An M/M/c queue: ``rate`` arrivals per minute, ``service_min`` mean minutes per ticket,
    ``capacity`` counters (may be fractional, see the module docstring)."""

    rate: float
    service_min: float
    capacity: float

    def _servers(self) -> tuple[int, float]:
        n = max(math.ceil(self.capacity - 1e-9), 0)
        if n == 0:
            return 0, math.inf
        return n, self.service_min * n / self.capacity  # slower servers when shared

    @property
    def stable(self) -> bool:
        return self.rate <= 0 or (
            self.capacity > 0 and self.rate * self.service_min < self.capacity - 1e-9
        )

    def p_wait(self) -> float:
        if self.rate <= 0:
            return 0.0
        n, s = self._servers()
        if not self.stable:
            return 1.0
        return erlang_c(n, self.rate * s)

    def service_level(self, target_min: float) -> float:
        """P(wait <= target)."""
        if self.rate <= 0:
            return 1.0
        if not self.stable:
            return 0.0
        n, s = self._servers()
        a = self.rate * s
        return 1.0 - erlang_c(n, a) * math.exp(-(n - a) * target_min / s)

    def mean_wait(self) -> float | None:
        """Average wait in minutes; None when overloaded (it grows without bound)."""
        if self.rate <= 0:
            return 0.0
        if not self.stable:
            return None
        n, s = self._servers()
        a = self.rate * s
        return erlang_c(n, a) * s / (n - a)

    def wait_quantile(self, q: float = P90) -> float | None:
        """The wait ``q`` of tickets stay under (minutes); None when overloaded."""
        if self.rate <= 0:
            return 0.0
        if not self.stable:
            return None
        n, s = self._servers()
        a = self.rate * s
        c = erlang_c(n, a)
        tail = 1.0 - q
        if c <= tail:
            return 0.0
        return s / (n - a) * math.log(c / tail)


def counters_needed(
    rate: float, service_min: float, target_min: float, level: float = DEFAULT_LEVEL
) -> int:
    """Fewest whole counters so that P(wait <= target) >= level."""
    if rate <= 0:
        return 0
    n = max(math.floor(rate * service_min) + 1, 1)
    while Queue(rate, service_min, n).service_level(target_min) < level:
        n += 1
        if n > 1000:  # absurd input; the caller shows it as "far too few counters"
            break
    return n


# --- the advice -------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceLoad:
    code: str
    name_vi: str
    name_en: str
    sla_min: float
    rate_per_min: float  # arrivals per minute over the window
    service_min: float  # mean service time (minutes)
    waiting: int = 0  # tickets waiting now
    window_min: float = 60.0  # the look-back window the rate came from

    @property
    def effective_rate(self) -> float:
        """Arrivals plus the current backlog spread over the window."""
        return self.rate_per_min + self.waiting / max(self.window_min, 1.0)


@dataclass(frozen=True)
class CounterState:
    id: int
    number: int
    status: str  # open | paused | closed | unattended (open, nobody at it: no capacity)
    profile: Mapping[str, float]  # service code -> weight (this site's services only)
    # lines for other sites' services (site code, service code, weight): not part of this
    # site's capacity, but kept when a move rewrites the profile
    foreign: tuple[tuple[str, str, float], ...] = ()


def shares(profile: Mapping[str, float]) -> dict[str, float]:
    total = sum(w for w in profile.values() if w > 0)
    if total <= 0:
        return {}
    return {code: w / total for code, w in profile.items() if w > 0}


def capacities(counters: Sequence[CounterState]) -> dict[str, float]:
    cap: dict[str, float] = {}
    for c in counters:
        if c.status != "open":
            continue
        for code, share in shares(c.profile).items():
            cap[code] = cap.get(code, 0.0) + share
    return cap


@dataclass
class ServiceAdvice:
    code: str
    name_vi: str
    name_en: str
    sla_min: float
    rate_per_hour: float
    service_min: float
    waiting: int
    capacity: float
    needed: int
    service_level: float  # predicted P(wait <= SLA) with the current counters
    p90_min: float | None  # predicted P90 wait; None = overloaded
    state: str  # ok | short | overloaded | idle

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.code,
            "name": {"vi": self.name_vi, "en": self.name_en},
            "sla_target_minutes": self.sla_min,
            "arrivals_per_hour": round(self.rate_per_hour, 1),
            "service_minutes": round(self.service_min, 1),
            "waiting": self.waiting,
            "capacity": round(self.capacity, 2),
            "counters_needed": self.needed,
            "service_level": round(self.service_level, 3),
            "p90_wait_minutes": None if self.p90_min is None else round(self.p90_min, 1),
            "state": self.state,
        }


def number(x: float, lang: str) -> str:
    """One decimal at most, Vietnamese decimal comma in Vietnamese ("1,9"), "12" for 12.0."""
    text = f"{round(x, 1):g}"
    return text.replace(".", ",") if lang == "vi" else text


def percent(share: float, lang: str) -> str:
    return f"{number(round(share * 100), lang)} %"


@dataclass
class Suggestion:
    kind: str  # move | open
    counter_id: int
    counter_number: int
    to_service: str
    from_services: list[str]
    before_p90: float | None
    after_p90: float | None
    # What the words of a suggestion need (features/advice.py words it): the target's name
    # and the names of the services the counter keeps (a code when unknown), in both
    # languages; whether it keeps other sites' services too.
    to_name: dict[str, str] = field(default_factory=dict)
    kept_names: list[dict[str, str]] = field(default_factory=list)
    keeps_other_sites: bool = False
    action: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "counter_id": self.counter_id,
            "counter": self.counter_number,
            "to_service": self.to_service,
            "from_services": self.from_services,
            "p90_before_minutes": None if self.before_p90 is None else round(self.before_p90, 1),
            "p90_after_minutes": None if self.after_p90 is None else round(self.after_p90, 1),
            "action": self.action,
        }


@dataclass
class Advice:
    services: list[ServiceAdvice]
    suggestions: list[Suggestion]
    level: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "services": [s.as_dict() for s in self.services],
            "suggestions": [s.as_dict() for s in self.suggestions],
        }

    def lacking(self) -> list[ServiceAdvice]:
        """The services that miss the level (the summary names them)."""
        return [s for s in self.services if s.state in ("short", "overloaded")]


def _queue(load: ServiceLoad, capacity: float) -> Queue:
    return Queue(load.effective_rate, load.service_min, capacity)


def _meets(load: ServiceLoad, capacity: float, level: float) -> bool:
    return _queue(load, capacity).service_level(load.sla_min) >= level


def _assess(load: ServiceLoad, capacity: float, level: float) -> ServiceAdvice:
    q = _queue(load, capacity)
    rate = load.effective_rate
    needed = counters_needed(rate, load.service_min, load.sla_min, level)
    sl = q.service_level(load.sla_min)
    if rate <= 0 and load.waiting == 0:
        state = "idle"
    elif not q.stable:
        state = "overloaded"
    elif sl < level:
        state = "short"
    else:
        state = "ok"
    return ServiceAdvice(
        code=load.code,
        name_vi=load.name_vi,
        name_en=load.name_en,
        sla_min=load.sla_min,
        rate_per_hour=load.rate_per_min * 60.0,
        service_min=load.service_min,
        waiting=load.waiting,
        capacity=capacity,
        needed=needed,
        service_level=sl,
        p90_min=q.wait_quantile(P90),
        state=state,
    )


# A move no longer hands the counter over to one service: the target comes first (the top
# weight) and the counter's former services stay in its profile at KEEP_WEIGHT of that
# weight, so the counter still takes them when the target's line is empty or their tickets
# have waited much longer (routing ranks waited / SLA x weight). Replacing the whole profile
# removed the cross-training routing relies on and, on a busy day, lowered the service level
# below plain routing.
KEEP_WEIGHT = 0.5
# Suggest a move only when it changes something material, with a margin either side of the
# level so that the simulator (and a supervisor) does not flip a counter back and forth every
# half hour on noise: the target must miss the level by HYSTERESIS, each service that gives up
# share must still meet the level plus HYSTERESIS afterwards, and the target's share must grow
# by at least MIN_SHARE_GAIN of a counter.
HYSTERESIS = 0.05
MIN_SHARE_GAIN = 0.25
# ... and the site as a whole must be predicted to call this much more of its tickets within
# their targets (a share of its arrivals): a move into a line that stays overloaded whatever
# we do only takes time from lines where it still counts.
MIN_SITE_GAIN = 0.02
# ... and the rates must come from at least this many minutes of the day (see ``advise``).
MIN_WINDOW_FOR_MOVES = 45.0


def moved_profile(profile: Mapping[str, float], target: str) -> dict[str, float]:
    """The profile after a move to ``target``: the target at weight 1, every former service
    kept at no more than ``KEEP_WEIGHT`` (weights are relative to the counter's top weight)."""
    top = max((w for w in profile.values() if w > 0), default=1.0)
    out = {target: 1.0}
    for code, w in profile.items():
        if code != target and w > 0:
            out[code] = round(min(w / top, KEEP_WEIGHT), 3)
    return out


def _within_target(loads: Sequence[ServiceLoad], caps: Mapping[str, float]) -> float:
    """Predicted tickets per minute called within their target (the site's service level
    times its arrivals): what the moves are meant to raise."""
    return sum(
        x.effective_rate * _queue(x, caps.get(x.code, 0.0)).service_level(x.sla_min)
        for x in loads
    )


def _caps_after(
    caps: Mapping[str, float], before: Mapping[str, float], after: Mapping[str, float]
) -> dict[str, float]:
    out = dict(caps)
    for code, share in shares(before).items():
        out[code] = out.get(code, 0.0) - share
    for code, share in shares(after).items():
        out[code] = out.get(code, 0.0) + share
    return out


def _donors_fine(
    caps: Mapping[str, float],
    new_caps: Mapping[str, float],
    loads: Mapping[str, ServiceLoad],
    level: float,
) -> bool:
    """Every service that loses share and has tickets (waiting or arriving) met the level
    before the move (a short service is never made worse) and still meets it with a margin
    after (so the move is not undone at the next look)."""
    for code, cap in caps.items():
        left = new_caps.get(code, 0.0)
        if left >= cap - 1e-9:
            continue
        load = loads.get(code)
        if load is None or (load.waiting == 0 and load.effective_rate <= 0):
            continue
        if left <= 1e-9:
            return False  # never take the last counter of a service people are waiting for
        if not _meets(load, cap, level):
            return False
        if not _meets(load, left, min(level + HYSTERESIS, 0.999)):
            return False
    return True


def advise(
    loads: Sequence[ServiceLoad],
    counters: Sequence[CounterState],
    level: float = DEFAULT_LEVEL,
    max_suggestions: int = MAX_SUGGESTIONS,
) -> Advice:
    """Assess every service and propose moves (greedy: the worst service first, the counter
    that gives it the most share, then the best predicted site service level), then openings
    of closed or paused counters."""
    by_code = {x.code: x for x in loads}
    caps = capacities(counters)
    assessed = [_assess(x, caps.get(x.code, 0.0), level) for x in loads]
    profiles = {c.id: dict(c.profile) for c in counters}
    foreign = {c.id: c.foreign for c in counters}
    status = {c.id: c.status for c in counters}
    numbers = {c.id: c.number for c in counters}
    moved: set[int] = set()
    suggestions: list[Suggestion] = []
    trigger = max(level - HYSTERESIS, 0.0)
    material = MIN_SITE_GAIN * sum(x.effective_rate for x in loads)

    def deficit_order(margin: float) -> list[ServiceLoad]:
        # Only where people wait now: a short service with an empty line needs no move yet
        # (and a few tickets in a short window are noise, not a trend).
        short = [
            x for x in loads if x.waiting > 0 and not _meets(x, caps.get(x.code, 0.0), margin)
        ]
        # worst first: lowest predicted service level, then the most waiting
        return sorted(
            short,
            key=lambda x: (
                _queue(x, caps.get(x.code, 0.0)).service_level(x.sla_min),
                -x.waiting,
                x.code,
            ),
        )

    # Moves wait for enough history: in the first minutes of the day a handful of tickets
    # spread over the services says little, and a counter moved on it stays moved.
    settled = all(x.window_min >= MIN_WINDOW_FOR_MOVES for x in loads)
    while settled and len(suggestions) < max_suggestions:
        made = False
        for target in deficit_order(trigger):
            before_cap = caps.get(target.code, 0.0)
            base = _within_target(loads, caps)
            best: tuple[tuple[float, float, int], int, dict[str, float], dict[str, float]] | None
            best = None
            for cid in sorted(profiles):
                if cid in moved or status[cid] != "open":
                    continue
                prof = profiles[cid]
                new_prof = moved_profile(prof, target.code)
                gain = shares(new_prof).get(target.code, 0.0) - shares(prof).get(
                    target.code, 0.0
                )
                if gain < MIN_SHARE_GAIN - 1e-9:
                    continue
                new_caps = _caps_after(caps, prof, new_prof)
                if not _donors_fine(caps, new_caps, by_code, level):
                    continue
                value = _within_target(loads, new_caps)
                if value - base < material:
                    # The site as a whole would not call more tickets in time. This also holds
                    # back moves into a line that stays overloaded whatever we do: on the busy
                    # day those took time from short-service lines where it still counted.
                    continue
                key = (gain, value, -cid)
                if best is None or key > best[0]:
                    best = (key, cid, new_prof, new_caps)
            if best is None:
                continue
            _key, cid, new_prof, new_caps = best
            from_codes = sorted(c for c in profiles[cid] if c != target.code)
            before = _queue(target, before_cap).wait_quantile(P90)
            profiles[cid] = new_prof
            caps = new_caps
            moved.add(cid)
            after = _queue(target, caps[target.code]).wait_quantile(P90)
            suggestions.append(
                _suggest_move(numbers[cid], cid, target, from_codes, by_code, before, after,
                              new_prof, foreign[cid])
            )
            made = True
            break
        if not made:
            break

    # Still short: suggest opening counters that are not open (they need a clerk first).
    for target in deficit_order(trigger):
        if len(suggestions) >= max_suggestions:
            break
        for cid in sorted(profiles):
            # an unattended counter is open already: it needs a clerk (the dashboard's alert)
            if status[cid] in ("open", "unattended") or cid in moved:
                continue
            before_cap = caps.get(target.code, 0.0)
            before = _queue(target, before_cap).wait_quantile(P90)
            new_prof = moved_profile(profiles[cid], target.code)
            for code, share in shares(new_prof).items():
                caps[code] = caps.get(code, 0.0) + share
            after = _queue(target, caps[target.code]).wait_quantile(P90)
            moved.add(cid)
            suggestions.append(
                _suggest_open(numbers[cid], cid, target, before, after, new_prof, foreign[cid])
            )
            break
    return Advice(assessed, suggestions, level)


def _profile_lines(
    profile: Mapping[str, float], foreign: Sequence[tuple[str, str, float]]
) -> list[dict[str, Any]]:
    """The ``services`` body of ``PUT /counters/{id}/profile``: this site's lines (target
    first) then the lines for other sites' services the counter had, demoted the same way."""
    lines: list[dict[str, Any]] = [
        {"code": code, "weight": w}
        for code, w in sorted(profile.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    for site, code, w in foreign:
        lines.append({"code": code, "weight": round(min(w, KEEP_WEIGHT), 3), "site": site})
    return lines


def _names(load: ServiceLoad) -> dict[str, str]:
    return {"vi": load.name_vi, "en": load.name_en}


def _suggest_move(
    number: int,
    cid: int,
    target: ServiceLoad,
    from_codes: list[str],
    loads: Mapping[str, ServiceLoad],
    before: float | None,
    after: float | None,
    profile: Mapping[str, float],
    foreign: Sequence[tuple[str, str, float]] = (),
) -> Suggestion:
    kept = []
    for code in from_codes:
        x = loads.get(code)
        kept.append(_names(x) if x else {"vi": code, "en": code})
    return Suggestion(
        kind="move",
        counter_id=cid,
        counter_number=number,
        to_service=target.code,
        from_services=from_codes,
        before_p90=before,
        after_p90=after,
        to_name=_names(target),
        kept_names=kept,
        keeps_other_sites=bool(foreign),
        action={
            "kind": "profile",
            "counter_id": cid,
            "method": "PUT",
            "path": f"/api/v1/counters/{cid}/profile",
            "services": _profile_lines(profile, foreign),
        },
    )


def _suggest_open(
    number: int,
    cid: int,
    target: ServiceLoad,
    before: float | None,
    after: float | None,
    profile: Mapping[str, float],
    foreign: Sequence[tuple[str, str, float]] = (),
) -> Suggestion:
    return Suggestion(
        kind="open",
        counter_id=cid,
        counter_number=number,
        to_service=target.code,
        from_services=[],
        before_p90=before,
        after_p90=after,
        to_name=_names(target),
        action={
            "kind": "open",
            "counter_id": cid,
            "method": "POST",
            "path": f"/api/v1/counters/{cid}/open",
            "then": {
                "kind": "profile",
                "method": "PUT",
                "path": f"/api/v1/counters/{cid}/profile",
                "services": _profile_lines(profile, foreign),
            },
        },
    )
