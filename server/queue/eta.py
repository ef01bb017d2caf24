"""Estimated wait. One place for it: the kiosk, the ticket, the tracking page and the services
list all use this."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


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


def estimate_minutes(ahead: int, service_minutes: float, serving_capacity: float) -> int | None:
    """Minutes until this ticket is called; None when no open counter serves the service."""
    if serving_capacity <= 0:
        return None
    if ahead <= 0:
        return 0
    return math.ceil(ahead * (service_minutes / serving_capacity))
