"""Domain events: the one place they are created (``emit``), their numbering by site just
before commit, and the catalogue of event types. ``Database.write`` publishes them after the
commit, never on rollback."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core.db import insert_for
from server.models import (
    SiteSeq,
)


@dataclass
class Event:
    """A domain event, published after commit to the realtime hub. ``seq`` is the site's
    event sequence number, drawn inside the same transaction just before it commits."""

    site_id: int
    seq: int
    type: str
    data: dict[str, Any] = field(default_factory=dict)


def reserve_seqs(session: Session, site_id: int, count: int) -> int:
    """Take ``count`` numbers from the site's sequence; returns the last one. The row lock
    (PostgreSQL) is held until commit, so numbers follow commit order at a site."""
    stmt = (
        insert_for(session, SiteSeq)
        .values(site_id=site_id, seq=count)
        .on_conflict_do_update(index_elements=[SiteSeq.site_id], set_={"seq": SiteSeq.seq + count})
        .returning(SiteSeq.seq)
    )
    return int(session.execute(stmt).scalar_one())


def _number_events(session: Session) -> None:
    """Run by ``Database.write`` just before commit: one sequence update per site."""
    events: list[Event] = session.info.get("events", [])
    by_site: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        if e.seq == 0:
            by_site[e.site_id].append(e)
    for site_id, site_events in by_site.items():
        last = reserve_seqs(session, site_id, len(site_events))
        for i, e in enumerate(site_events):
            e.seq = last - len(site_events) + 1 + i


def current_seq(session: Session, site_id: int) -> int:
    return int(session.scalar(select(SiteSeq.seq).where(SiteSeq.site_id == site_id)) or 0)


def emit(session: Session, site_id: int, type_: str, data: dict[str, Any]) -> Event:
    """The one place events are created. They leave only after the commit. The event is
    returned for a caller that refreshes its data once numbered (``before_commit`` hooks
    added after this call run after the numbering)."""
    event = Event(site_id, 0, type_, data)
    session.info.setdefault("events", []).append(event)
    hooks = session.info.setdefault("before_commit", [])
    if _number_events not in hooks:
        hooks.append(_number_events)
    return event


def first_seq(session: Session, site_id: int) -> int | None:
    """The first number this unit of work drew at ``site_id`` (None before the numbering)."""
    seqs = [e.seq for e in session.info.get("events", []) if e.site_id == site_id and e.seq]
    return min(seqs) if seqs else None
