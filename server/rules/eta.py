"""Estimated wait. One place for it: the kiosk, the ticket, the tracking page and the services
list all use this.

The estimate for a ticket with ``ahead`` tickets before it in the call order (the priority
interleave is already in ``ahead``, see ``routing.calls_before``):
- 0 when an open counter serving the service is idle for each ticket up to this one;
- otherwise ``(ahead - idle + 0.5) / rate``: the tickets ahead, plus on average half a service
  for the counter that frees up first, at the rate the service's counters call its tickets.
- ``rate`` (tickets per minute) is the larger of what the counters' work profiles promise
  (each open counter gives its share of its weights, over the recent mean service time) and
  what the service's counters actually called over the last half hour. Routing moves a counter
  to whichever of its services is most urgent, so a busy service gets more than its static
  share; the observed rate catches that, the static one covers a quiet start of the day.

A ticket placed ahead of its arrival (a booked citizen who checked in before the slot enters
the line as if arrived at the slot's start, ``rules/appointments.py``) is called after the
tickets ahead of it now AND the walk-ins who arrive before its slot starts (they are placed
ahead of it): with ``until`` minutes to its placement and walk-ins arriving at ``arrivals`` a
minute, it is called at the ``t`` that solves ``t = base + arrivals x min(t, until) / rate``
(``base``: the estimate above). A walk-in's ``ahead`` counts only the tickets placed before
now (a booking placed later is behind it). One rule, in ``_minutes_at``.

Measured with ``motcua simulate --eta-report`` (see the README): the mean absolute error is
well under the naive ``position x mean service time / open counters``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

HALF_SERVICE = 0.5  # mean residual of the service the next free counter is finishing
RANGE_LOW = 0.7  # the range shown: [0.7 x estimate, 1.4 x estimate + 2 min]
RANGE_HIGH = 1.4
RANGE_PAD_MIN = 2.0


def capacity(counter_shares: Iterable[float]) -> float:
    """Counters serving a service, each counted by its share of its own work profile."""
    return sum(max(s, 0.0) for s in counter_shares)


def mean_service_minutes(recent: Sequence[float], default: float, min_samples: int = 5) -> float:
    """Mean of recent service times, blended with the configured default until there are
    enough samples so one quick ticket does not promise a short wait."""
    if not recent:
        return default
    k = len(recent)
    observed = sum(recent) / k
    if k >= min_samples:
        return observed
    return (observed * k + default * (min_samples - k)) / min_samples


def call_rate(
    serving_capacity: float, service_minutes: float, observed_per_min: float = 0.0
) -> float:
    """Tickets per minute the service's counters call: the larger of the static share and the
    observed recent rate. 0 when no open counter serves the service."""
    if serving_capacity <= 0:
        return 0.0
    static = serving_capacity / max(service_minutes, 0.1)
    return max(static, observed_per_min)


def estimate_exact(
    ahead: int,
    service_minutes: float,
    serving_capacity: float,
    idle: int = 0,
    observed_per_min: float = 0.0,
    until: float = 0.0,
    arrivals: float = 0.0,
) -> float | None:
    """Minutes until this ticket is called (unrounded); None when no open counter serves it.
    ``until``: minutes from now to the instant the ticket is placed at (a booking checked in
    before its slot), ``arrivals``: walk-ins per minute (they go ahead of it until then)."""
    rate = call_rate(serving_capacity, service_minutes, observed_per_min)
    if rate <= 0:
        return None
    return _minutes_at(ahead, idle, rate, until, arrivals)


def _minutes_at(
    ahead: int, idle: int, rate: float, until: float = 0.0, arrivals: float = 0.0
) -> float:
    if ahead < idle:  # an idle counter takes it at once
        return 0.0
    base = (max(ahead - idle, 0) + HALF_SERVICE) / rate
    if until <= 0 or arrivals <= 0:
        return base
    # Walk-ins arriving before it is called (and before its placement) go ahead of it:
    # t = base + arrivals * min(t, until) / rate.
    load = arrivals / rate
    if load < 1:
        t = base / (1 - load)
        if t <= until:
            return t
    return base + load * until


def _whole(minutes: float) -> int:
    return math.ceil(minutes - 1e-9)


def estimate_minutes(
    ahead: int,
    service_minutes: float,
    serving_capacity: float,
    idle: int = 0,
    observed_per_min: float = 0.0,
    until: float = 0.0,
    arrivals: float = 0.0,
) -> int | None:
    """Whole minutes until this ticket is called; None when no open counter serves it."""
    x = estimate_exact(ahead, service_minutes, serving_capacity, idle, observed_per_min,
                       until, arrivals)
    return None if x is None else _whole(x)


def estimate_minutes_first(
    places: int,
    service_minutes: float,
    serving_capacity: float,
    idle: int = 0,
    observed_per_min: float = 0.0,
    until: Sequence[float] = (),
    arrivals: float = 0.0,
) -> list[int | None]:
    """``estimate_minutes`` for ``ahead`` = 0 .. places-1 (the estimates a line's screen
    shows at each place), the rate worked out once. ``until[i]``: minutes to the placement of
    the ticket at place ``i`` when it is placed later than now (missing or 0: placed already)."""
    rate = call_rate(serving_capacity, service_minutes, observed_per_min)
    if rate <= 0:
        return [None] * places
    return [
        _whole(_minutes_at(ahead, idle, rate, until[ahead] if ahead < len(until) else 0.0,
                           arrivals))
        for ahead in range(places)
    ]


def estimate_range(minutes: int | None) -> tuple[int, int] | None:
    """The range to show for an estimate ("10-15 min"), wide enough to hold most actual waits
    in the simulator's days (its coverage is reported by ``--eta-report``)."""
    if minutes is None:
        return None
    if minutes <= 0:
        return (0, 0)
    low = math.floor(minutes * RANGE_LOW)
    high = math.ceil(minutes * RANGE_HIGH + RANGE_PAD_MIN)
    return (low, max(high, low + 1))


def estimate_ranges(minutes: Sequence[int | None]) -> list[tuple[int, int] | None]:
    """``estimate_range`` of each estimate of a line (a screen's places): worked out once per
    distinct value, as a line's estimates repeat in runs."""
    ranges: dict[int | None, tuple[int, int] | None] = {}
    out = []
    for m in minutes:
        if m not in ranges:
            ranges[m] = estimate_range(m)
        out.append(ranges[m])
    return out
