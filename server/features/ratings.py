"""Citizen satisfaction: one rating per served ticket, from the tracking page or from a
tablet facing the citizen at the counter. Stored against the ticket, its counter, its clerk and
its service, for the reports. No Flask here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.core import auth
from server.core.auth import Principal
from server.core.errors import AppError
from server.core.events import emit
from server.core.formats import iso
from server.core.lookups import get_counter
from server.features.tickets import resolve_tracking
from server.models import RATING_SCORES, Rating, Ticket
from server.rules.states import Status

RATING_WINDOW = dt.timedelta(hours=2)
TABLET_WINDOW = dt.timedelta(minutes=10)


def _rate(session: Session, ticket: Ticket, score: str, source: str, now: dt.datetime
          ) -> dict[str, Any]:
    if score not in RATING_SCORES:
        raise AppError("validation_error", detail="score: " + " | ".join(RATING_SCORES))
    if ticket.status != Status.DONE or ticket.finished_at is None:
        raise AppError("rating_closed")
    if not ticket.finished_at <= now <= ticket.finished_at + RATING_WINDOW:
        raise AppError("rating_closed")
    if session.scalar(select(Rating.id).where(Rating.ticket_id == ticket.id)) is not None:
        raise AppError("already_rated")
    rating = Rating(
        ticket_id=ticket.id,
        site_id=ticket.site_id,
        service_id=ticket.service_id,
        counter_id=ticket.counter_id,
        clerk_user_id=ticket.clerk_id,
        score=score,
        source=source,
        created_at=now,
    )
    try:
        with session.begin_nested():  # a concurrent second rating hits the unique key
            session.add(rating)
            session.flush()
    except IntegrityError:
        raise AppError("already_rated") from None
    emit(
        session,
        ticket.site_id,
        "rating.added",
        {"service_id": ticket.service_id, "counter_id": ticket.counter_id, "score": score},
    )
    return {
        "number": ticket.label,
        "score": score,
        "source": source,
        "created_at": iso(now),
    }


def rate_ticket(
    session: Session, token: str, score: str, source: str, now: dt.datetime
) -> dict[str, Any]:
    """Rate the visit a tracking token stands for (transfers followed to the last ticket):
    only once it is finished, once, within 2 hours. Public: the token is the credential."""
    if not token or len(token) > 64:
        raise AppError("not_found", what="ticket")
    ticket = resolve_tracking(session, token)
    return _rate(session, ticket, score, source, now)


def rate_at_counter(
    session: Session, p: Principal, counter_id: int, score: str, now: dt.datetime
) -> dict[str, Any]:
    """The citizen-facing tablet at a counter rates the ticket finished there most recently,
    within the last 10 minutes. Callers: the kiosk device bound to that counter (its tablet),
    clerks of the site (bound to a counter: that one), supervisors, admins."""
    counter = get_counter(session, counter_id)
    if p.role == "kiosk":
        auth.require(auth.is_counter_tablet(session, p, counter))
    else:
        auth.require(auth.can_operate_counter(session, p, counter))
    ticket = session.scalar(
        select(Ticket)
        .where(
            Ticket.counter_id == counter.id,
            Ticket.status == Status.DONE,
            Ticket.finished_at >= now - TABLET_WINDOW,
            Ticket.finished_at <= now,
        )
        .order_by(Ticket.finished_at.desc(), Ticket.id.desc())
        .limit(1)
    )
    if ticket is None:
        raise AppError("nothing_to_rate")
    return _rate(session, ticket, score, "tablet", now)
