"""Who is called next: a pure function of a counter's work profile and the waiting heads.

Policy (see ARCHITECTURE.md, "Routing"):
- inside a service, FIFO within each class (priority / normal);
- between the classes of a service, an interleave: ``priority`` priority calls, then ``normal``
  normal calls, repeating; a class with nobody waiting is skipped (so priority is never starved
  and normal tickets are never starved by a stream of priority ones);
- across the services of a counter, the service whose oldest waiting ticket has waited longest
  relative to the service's SLA target, scaled by the counter's weight for that service.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PRIORITY = "priority"
NORMAL = "normal"


@dataclass(frozen=True)
class Interleave:
    priority: int = 1
    normal: int = 2

    def __post_init__(self) -> None:
        if self.priority < 1 or self.normal < 0:
            raise ValueError("interleave needs priority >= 1 and normal >= 0")


@dataclass(frozen=True)
class ClassState:
    """The run of calls in a service today: which class was called last, how many in a row."""

    last_class: str | None = None
    run_length: int = 0

    def after(self, klass: str) -> ClassState:
        if klass == self.last_class:
            return ClassState(klass, self.run_length + 1)
        return ClassState(klass, 1)


@dataclass(frozen=True)
class Head:
    ticket_id: int
    queue_pos: int
    issued_at: dt.datetime


@dataclass(frozen=True)
class ServiceQueue:
    service_id: int
    weight: float
    sla_minutes: float
    state: ClassState
    priority_head: Head | None
    normal_head: Head | None


@dataclass(frozen=True)
class Choice:
    service_id: int
    ticket_id: int
    klass: str


def class_to_call(
    state: ClassState, has_priority: bool, has_normal: bool, ratio: Interleave
) -> str | None:
    if not has_priority and not has_normal:
        return None
    if not has_priority:
        return NORMAL
    if not has_normal:
        return PRIORITY
    if ratio.normal == 0:
        return PRIORITY
    if state.last_class == PRIORITY:
        return PRIORITY if state.run_length < ratio.priority else NORMAL
    if state.last_class == NORMAL:
        return NORMAL if state.run_length < ratio.normal else PRIORITY
    return PRIORITY  # first call of the day for this service


def urgency(queue: ServiceQueue, now: dt.datetime) -> tuple[float, dt.datetime] | None:
    heads = [h for h in (queue.priority_head, queue.normal_head) if h is not None]
    if not heads:
        return None
    oldest = min(h.issued_at for h in heads)
    waited = max((now - oldest).total_seconds(), 0.0)
    return waited / (queue.sla_minutes * 60.0) * queue.weight, oldest


def choose(queues: Iterable[ServiceQueue], now: dt.datetime, ratio: Interleave) -> Choice | None:
    """Pick the ticket a counter should call now, or None if nobody waits for it."""
    ranked: list[tuple[tuple[float, float, int], ServiceQueue]] = []
    for q in queues:
        u = urgency(q, now)
        if u is not None:
            score, oldest = u
            # Highest score; ties go to the earliest-waiting ticket, then the lower service id.
            ranked.append(((score, -oldest.timestamp(), -q.service_id), q))
    if not ranked:
        return None
    q = max(ranked, key=lambda r: r[0])[1]
    klass = class_to_call(q.state, q.priority_head is not None, q.normal_head is not None, ratio)
    head = q.priority_head if klass == PRIORITY else q.normal_head
    assert head is not None and klass is not None
    return Choice(q.service_id, head.ticket_id, klass)


def call_order(
    priority_ids: Sequence[int], normal_ids: Sequence[int], state: ClassState, ratio: Interleave
) -> list[int]:
    """The order a single service's waiting tickets will be called in if nobody else arrives.

    Works a run at a time (list slices), so a long queue costs little: it runs on every
    change of a waiting line to tell each tracking page its place."""
    p, n = list(priority_ids), list(normal_ids)
    i = j = 0
    out: list[int] = []
    while i < len(p) and j < len(n):
        klass = class_to_call(state, True, True, ratio)
        run = state.run_length if state.last_class == klass else 0
        if klass == PRIORITY:
            take = len(p) - i if ratio.normal == 0 else max(ratio.priority - run, 1)
            take = min(take, len(p) - i)
            out.extend(p[i : i + take])
            i += take
        else:
            take = min(max(ratio.normal - run, 1), len(n) - j)
            out.extend(n[j : j + take])
            j += take
        state = ClassState(klass, run + take)
    out.extend(p[i:])
    out.extend(n[j:])
    return out


def calls_before(
    target: int,
    priority_ids: Sequence[int],
    normal_ids: Sequence[int],
    state: ClassState,
    ratio: Interleave,
) -> int:
    """How many tickets of the service will be called before ``target``."""
    order = call_order(priority_ids, normal_ids, state, ratio)
    return order.index(target)


def calls_before_place(
    klass: str, index: int, other_waiting: int, state: ClassState, ratio: Interleave
) -> int:
    """How many tickets of the service will be called before the ``index``-th (from 0, in
    queue order) waiting ticket of class ``klass``, with ``other_waiting`` tickets of the
    other class waiting: the same answer as ``calls_before`` on the whole line, from counts
    alone (constant time whatever the length of the line).

    The interleave is a first run (what ``state`` leaves of the current run) and then full
    runs alternating; the other class contributes its calls scheduled before the run that
    holds the target, or all its tickets if it runs out first."""
    if other_waiting <= 0:
        return index
    if ratio.normal == 0:  # every priority ticket first
        return index if klass == PRIORITY else index + other_waiting
    first = class_to_call(state, True, True, ratio)
    run = state.run_length if state.last_class == first else 0
    full = {PRIORITY: ratio.priority, NORMAL: ratio.normal}
    first_take = max(full[first] - run, 1)  # type: ignore[index]
    other = NORMAL if klass == PRIORITY else PRIORITY
    if first == klass:
        if index < first_take:
            other_before = 0
        else:
            other_before = ((index - first_take) // full[klass] + 1) * full[other]
    else:
        other_before = first_take + (index // full[klass]) * full[other]
    return index + min(other_before, other_waiting)
